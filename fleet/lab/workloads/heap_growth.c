/* heap_growth (comm recorder): every tick LAB_CHUNK_KB (32) of malloc'd memory is written and
 * kept. Chunks stay below glibc's mmap threshold, so [heap] grows through brk and VmRSS follows.
 *
 * Env: LAB_INTERVAL_MS (1000), LAB_CHUNK_KB (32), LAB_MAX (2048) chunks (64 MiB), then flat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lab.h"

struct segment {
    struct segment *next;
    char data[];
};

static void *flusher(void *arg) {
    (void)arg;
    for (;;)
        nap(1000);
    return NULL;
}

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 2048);
    size_t chunk = (size_t)envl("LAB_CHUNK_KB", 32) * 1024;
    struct segment *index = NULL; /* the bug: an index of recorded segments that is never pruned */
    pthread_t t;
    if (pthread_create(&t, NULL, flusher, NULL) == 0)
        pthread_setname_np(t, "rec_flush");
    for (long n = 0;; n++) {
        if (n < max) {
            struct segment *s = malloc(sizeof *s + chunk);
            if (s) {
                memset(s->data, (int)n, chunk);
                s->next = index;
                index = s;
            }
        }
        nap(interval);
    }
}
