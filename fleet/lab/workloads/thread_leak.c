/* thread_leak (comm AiApp): the seed's bug. Every tick a worker thread named "rtsp_worker" is
 * created and never exits, so Threads and the count of 8 MiB stack mappings (each above a
 * one-page guard) grow together, and /proc/PID/task/x/comm repeats the same name.
 *
 * Env: LAB_INTERVAL_MS (1000) between threads, LAB_MAX (600) threads at most, then flat:
 * pid_max on small machines is 32768, shared by every lab device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "lab.h"

static void *worker(void *arg) {
    (void)arg;
    volatile char session[2048]; /* touch a little stack, like a real session would */
    for (unsigned i = 0; i < sizeof session; i += 512)
        session[i] = 1;
    for (;;)
        pause(); /* the bug: waits for a client that never comes, never returns */
    return NULL;
}

static void *helper(void *arg) {
    (void)arg;
    for (;;)
        nap(1000);
    return NULL;
}

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 600);
    const char *helpers[] = {"isp_ctrl", "venc_poll"};
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, helper, NULL) == 0)
            pthread_setname_np(t, helpers[i]);
    }
    for (long n = 0;; n++) {
        if (n < max) {
            pthread_t t;
            if (pthread_create(&t, NULL, worker, NULL) == 0)
                pthread_setname_np(t, "rtsp_worker");
        }
        nap(interval);
    }
}
