/* capmangle MODE: the login pipe of the lab's "bignum" and "procflood" devices (issue 22): the
 * real capture, edited on its way out the way a hostile or broken device would print it. A device
 * knows each capture's token (its shell reads the script), so it can print anything behind it.
 *
 *   bignum     every MemAvailable line gets a 20-digit value, and before the end marker comes a
 *              process whose stat has a 20-digit thread count and start time
 *   procflood  before the end marker come 100,000 processes that exist only in the capture
 *
 * The token is read from each capture's first line ("@@fleet-XXXXXXXXXXXXXXXX v 5"), so kept
 * shells (several captures in one stream) work; stdout is flushed at every end marker, else stdio's
 * pipe buffering would hold the end of a kept shell's capture back. Records follow the section the
 * capture is in: NUL-terminated after "a" (grep -z), newline-terminated lines after "g". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD 100000
#define BIG "99999999999999999999"

static void record(int nul, const char *fmt, long pid, const char *threads, const char *start)
{
    printf(fmt, pid, pid, threads, start);
    if (nul)
        putchar('\0');
}

static void inject(const char *mode, int nul)
{
    const char *fmt = "%ld/stat:%ld (fake) S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 %s 0 %s 4096 10 0\n";
    if (strcmp(mode, "procflood") == 0) {
        for (long pid = 100000; pid < 100000 + FLOOD; pid++)
            record(nul, fmt, pid, "1", "100");
    } else {
        record(nul, fmt, 99999L, BIG, BIG);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "bignum";
    char *line = NULL, end[64] = "", section[64] = "";
    size_t cap = 0, elen = 0;
    ssize_t n;
    int nul = 1;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (strncmp(line, "@@fleet-", 8) == 0 && n > 28 && strncmp(line + 24, " v ", 3) == 0) {
            snprintf(end, sizeof end, "%.24s end\n", line);
            snprintf(section, sizeof section, "%.24s g\n", line);
            elen = strlen(end);
        }
        if (section[0] && strcmp(line, section) == 0)
            nul = 0;
        char *mem = memmem(line, (size_t)n, "MemAvailable:", 13);
        if (strcmp(mode, "bignum") == 0 && mem != NULL) {
            fwrite(line, 1, (size_t)(mem - line) + 13, stdout);
            fputs("   " BIG " kB\n", stdout);
            continue;
        }
        if (elen && (size_t)n >= elen && memcmp(line + n - elen, end, elen) == 0) {
            fwrite(line, 1, (size_t)n - elen, stdout);
            inject(mode, nul);
            fputs(end, stdout);
            fflush(stdout);
            nul = 1;
            continue;
        }
        fwrite(line, 1, (size_t)n, stdout);
    }
    fflush(stdout);
    return 0;
}
