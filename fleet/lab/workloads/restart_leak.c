/* restart_leak (comm streamer): leaks LAB_CHUNK_KB (128) of heap every tick and crashes
 * (SIGABRT) after LAB_LIFETIME_S (12) seconds; the device's `respawn` shell loop starts it
 * again. Each life looks short and small: only (pid, start time) across samples shows the same
 * leak coming back. Core dumps are disabled so no core file lands anywhere.
 *
 * Env: LAB_INTERVAL_MS (500), LAB_CHUNK_KB (128), LAB_LIFETIME_S (12).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include "lab.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 500), lifetime = envl("LAB_LIFETIME_S", 12);
    size_t chunk = (size_t)envl("LAB_CHUNK_KB", 128) * 1024;
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024); /* keep the leak on [heap] */
    double start = now();
    while (now() - start < (double)lifetime) {
        char *packet = malloc(chunk); /* the bug: a retransmit queue never drained */
        if (packet)
            memset(packet, 7, chunk);
        nap(interval);
    }
    prctl(PR_SET_DUMPABLE, 0); /* crash without writing a core file */
    abort();
}
