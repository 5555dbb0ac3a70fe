/* warmup_plateau (comm webui): not a leak. For LAB_WARMUP_S (4) seconds after start it fills a
 * cache (LAB_CHUNK_KB (256) per tick, heap) and grows a pool of "http_worker" threads up to
 * LAB_THREADS (4); then memory and threads stay flat for good. A ranking that flags it only
 * looked at the first samples.
 *
 * Env: LAB_INTERVAL_MS (250), LAB_WARMUP_S, LAB_CHUNK_KB, LAB_THREADS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lab.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    (void)arg;
    for (;;)
        nap(1000);
    return NULL;
}

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 250), warmup = envl("LAB_WARMUP_S", 4);
    long threads = envl("LAB_THREADS", 4);
    size_t chunk = (size_t)envl("LAB_CHUNK_KB", 256) * 1024;
    double start = now();
    long ticks = 0, workers = 0;
    while (now() - start < (double)warmup) {
        char *page = malloc(chunk); /* the page cache: filled once, kept for the whole run */
        if (page)
            memset(page, 1, chunk);
        long per_worker = (warmup * 1000 / interval) / (threads > 0 ? threads : 1);
        if (workers < threads && ticks % (per_worker > 0 ? per_worker : 1) == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, worker, NULL) == 0) {
                pthread_setname_np(t, "http_worker");
                workers++;
            }
        }
        ticks++;
        nap(interval);
    }
    for (;;)
        nap(1000);
}
