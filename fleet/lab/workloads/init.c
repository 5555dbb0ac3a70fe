/* init: PID 1 of a lab device's pid namespace.
 *
 * Not a workload. It runs the device's boot script and then reaps every child, including the
 * orphans (dropbear sessions, respawned daemons) that the kernel reparents to PID 1: a shell
 * that execs `sleep` as PID 1 would leave them as zombies in every capture. The namespace ends
 * when this process dies (the lab SIGKILLs `unshare --kill-child`, which SIGKILLs us).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: init PROGRAM [ARG...]\n");
        return 2;
    }
    pid_t boot = fork();
    if (boot == 0) {
        execv(argv[1], argv + 1);
        perror("init: exec boot script");
        _exit(127);
    }
    for (;;) {
        if (wait(NULL) == -1 && errno == ECHILD)
            pause(); /* nothing left to reap; stay alive so the namespace stays up */
    }
}
