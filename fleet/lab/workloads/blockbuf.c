/* blockbuf: copy stdin to stdout in whole 4 KiB blocks, the rest only at end of input: what stdio
 * does on a pipe. The login pipe of the lab's "buffered" device: a firmware wrapper that sends
 * every command's output through a logger, so the end of it only comes when the command ends. */
#include <unistd.h>

#define BLOCK 4096

static int put(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, buf, n);
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(void)
{
    char buf[BLOCK];
    size_t have = 0;
    ssize_t r;
    while ((r = read(0, buf + have, BLOCK - have)) > 0) {
        have += (size_t)r;
        if (have == BLOCK) {
            if (put(buf, BLOCK) != 0)
                return 1;
            have = 0;
        }
    }
    return put(buf, have) != 0;
}
