/* hostile (installed as /opt/hostile): a leaking process whose every name is an attack on the
 * report. It re-executes itself with argv (so /proc/PID/cmdline) holding a <script> that would
 * retitle the page, renames itself (comm) to markup with quotes and invalid UTF-8, and every tick
 * starts a thread that never exits, named in turn with markup, with escape codes and invalid
 * UTF-8, and with CR/LF and a mail header; and maps once more a file whose name is an <svg onload>
 * with a newline, an escape code and invalid UTF-8 (unlinked at once: no litter in the host's
 * /tmp). A correct report shows all of it as text: a thread_leak on comm "<script>x'\"\xff".
 *
 * Markers a browser test looks for: element ids pwn1..pwn4 and the title PWNED must never appear.
 *
 * Env: LAB_INTERVAL_MS (1000) between threads/mappings, LAB_MAX (300) of each, then flat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include "lab.h"

/* Both at most 15 bytes: the kernel's comm limit (TASK_COMM_LEN 16 with the NUL). */
static const char COMM[] = "<script>x'\"\xff";
static const char *const THREADS[] = {
    "<i id=pwn1>x</i",
    "\"'><u id=pwn2>",
    "\x1b[31m\xff\xfe\x07<b>",
    "x\r\nBcc: e@x.y",
};
static const char FILE_NAME[] = "\"><svg onload=document.title='PWNED' id=pwn3>\x1b[0m\xff\xfe\nx.bin";

static void *worker(void *arg) {
    (void)arg;
    for (;;)
        pause(); /* never exits: a thread leak */
    return NULL;
}

int main(int argc, char **argv) {
    (void)argc;
    if (!getenv("LAB_HOSTILE_ARGV")) {
        /* Once: run again with hostile arguments, so cmdline carries them. */
        char *args[] = {"<script>document.title='PWNED'</script>", "\"'><img src=x onerror=alert(1) id=pwn4>",
                        "\x1b]0;title\x07\xff\xfe\r\n", NULL};
        setenv("LAB_HOSTILE_ARGV", "1", 1);
        execv("/proc/self/exe", args);
        perror("execv"); /* keep going with plain argv rather than not at all */
    }
    (void)argv;
    prctl(PR_SET_NAME, COMM, 0, 0, 0);
    long interval = envl("LAB_INTERVAL_MS", 1000), max = envl("LAB_MAX", 300);

    char path[256];
    snprintf(path, sizeof path, "/tmp/%s.%d", FILE_NAME, (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        unlink(path);
        if (ftruncate(fd, 4096) != 0) {
            close(fd);
            fd = -1;
        }
    }
    for (long n = 0;; n++) {
        if (n < max) {
            pthread_t t;
            if (pthread_create(&t, NULL, worker, NULL) == 0)
                pthread_setname_np(t, THREADS[n % 4]);
            if (fd >= 0)
                mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0); /* one more mapping of the file */
        }
        nap(interval);
    }
}
