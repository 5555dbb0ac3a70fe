/* fd_leak (comm uploader): every tick a socket is opened for an upload and never closed, and
 * every fourth tick a file too, so /proc/PID/fd keeps growing.
 *
 * Env: LAB_INTERVAL_MS (1000), LAB_MAX (800) descriptors (stays below a 1024 RLIMIT_NOFILE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include "lab.h"

int main(void) {
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 800);
    long opened = 0;
    for (long n = 0;; n++) {
        if (opened < max) {
            /* the bug: the error path of the upload returns without close() */
            if (socket(AF_UNIX, SOCK_DGRAM, 0) >= 0)
                opened++;
            if (n % 4 == 3 && opened < max && open("/proc/self/stat", O_RDONLY) >= 0)
                opened++;
        }
        nap(interval);
    }
}
