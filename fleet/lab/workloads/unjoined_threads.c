/* unjoined_threads (comm onvifd): every tick a joinable thread "onvif_req" handles a request and
 * returns, and nobody calls pthread_join(). glibc keeps the stack of an unjoined thread mapped
 * until it is joined, so stack mappings grow while Threads stays at 2 (main + "onvif_disc").
 *
 * Env: LAB_INTERVAL_MS (1000), LAB_MAX (900) requests, then flat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lab.h"

static void *request(void *arg) {
    (void)arg;
    char reply[4096];
    memset(reply, 'x', sizeof reply);
    pthread_setname_np(pthread_self(), "onvif_req");
    return (void *)(long)reply[100]; /* exits: its stack stays mapped, never joined */
}

static void *discovery(void *arg) {
    (void)arg;
    for (;;)
        nap(1000);
    return NULL;
}

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 900);
    pthread_t d;
    if (pthread_create(&d, NULL, discovery, NULL) == 0)
        pthread_setname_np(d, "onvif_disc");
    for (long n = 0;; n++) {
        if (n < max) {
            pthread_t t;
            pthread_create(&t, NULL, request, NULL); /* the bug: no pthread_join, not detached */
        }
        nap(interval);
    }
}
