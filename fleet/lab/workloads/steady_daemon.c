/* steady_daemon (comm netmgr): not a leak. LAB_THREADS (3) long-lived worker threads
 * ("netlink", "dhcpc", "ntp_sync", ...) that allocate and free the same buffer every tick: busy
 * but flat, the baseline every device has.
 *
 * Env: LAB_INTERVAL_MS (1000), LAB_THREADS (3), LAB_CHUNK_KB (16).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lab.h"

static long interval;
static size_t chunk;

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        char *buf = malloc(chunk);
        if (buf) {
            memset(buf, 0, chunk);
            free(buf);
        }
        nap(interval);
    }
    return NULL;
}

int main(void) {
    static const char *names[] = {"netlink", "dhcpc", "ntp_sync", "arp_mon", "wifi_scan"};
    interval = envl("LAB_INTERVAL_MS", 1000);
    chunk = (size_t)envl("LAB_CHUNK_KB", 16) * 1024;
    long threads = envl("LAB_THREADS", 3);
    for (long i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) == 0)
            pthread_setname_np(t, names[i % 5]);
    }
    for (;;)
        nap(1000);
}
