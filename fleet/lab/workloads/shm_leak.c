/* shm_leak (comm vencd): every tick a SYSV shared-memory segment (key 0x5553fc00 + n, a nod to
 * the seed's /SYSV5553fc99) is created, attached and written, and never detached, so maps gains
 * one "/SYSVxxxxxxxx (deleted)" mapping per tick. Segments live in the device's IPC namespace
 * and vanish with it.
 *
 * Env: LAB_INTERVAL_MS (1000), LAB_CHUNK_KB (32) per segment, LAB_MAX (1800) segments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include "lab.h"

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 1800);
    size_t size = (size_t)envl("LAB_CHUNK_KB", 32) * 1024;
    for (long n = 0;; n++) {
        if (n < max) {
            int id = shmget((key_t)(0x5553fc00 + n), size, IPC_CREAT | 0600);
            if (id >= 0) {
                void *frame = shmat(id, NULL, 0); /* the bug: no shmdt() after the frame is sent */
                if (frame != (void *)-1)
                    memset(frame, 0x5a, size);
            }
        }
        nap(interval);
    }
}
