/* sawtooth (comm motiond): not a leak. Every tick a LAB_CHUNK_KB (256) frame buffer is
 * allocated and written; after LAB_PEAK (14) buffers all are freed and the cycle restarts, so
 * VmRSS climbs and drops every LAB_PEAK * LAB_INTERVAL_MS (3.22 s by default: not a divisor of
 * round sampling intervals, so periodic samples do not alias onto one phase). The mmap threshold
 * is pinned so every buffer is its own anonymous mapping, returned to the kernel by free().
 *
 * Env: LAB_INTERVAL_MS (230), LAB_CHUNK_KB (256), LAB_PEAK (14).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lab.h"

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 230), peak = envl("LAB_PEAK", 14);
    size_t chunk = (size_t)envl("LAB_CHUNK_KB", 256) * 1024;
    if (peak < 1 || peak > 4096)
        peak = 14;
    /* glibc raises its mmap threshold after freeing an mmapped chunk (dynamic threshold);
     * setting it explicitly turns that off, so free() really unmaps. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    char **frames = calloc((size_t)peak, sizeof *frames);
    for (long n = 0;; n++) {
        long slot = n % peak;
        if (slot == 0 && n > 0)
            for (long i = 0; i < peak; i++) {
                free(frames[i]);
                frames[i] = NULL;
            }
        frames[slot] = malloc(chunk);
        if (frames[slot])
            memset(frames[slot], (int)n, chunk);
        nap(interval);
    }
}
