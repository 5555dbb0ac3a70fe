/* trickle: copy stdin to stdout one byte every 2 ms. The login pipe of the lab's "slow" device:
 * a device that answers, but byte by byte (a saturated CPU, a flaky serial-over-IP link). */
#include <unistd.h>

int main(void)
{
    char c;
    while (read(0, &c, 1) == 1) {
        if (write(1, &c, 1) != 1)
            return 1;
        usleep(2000);
    }
    return 0;
}
