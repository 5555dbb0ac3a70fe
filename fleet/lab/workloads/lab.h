/* Shared by the lab's workloads: settings from the environment and a sleep that survives signals. */
#ifndef FLEET_LAB_H
#define FLEET_LAB_H

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* LAB_* settings: the lab passes rates and caps as environment variables. */
static long envl(const char *key, long dflt) {
    const char *v = getenv(key);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* Sleep ms milliseconds, resuming after a signal interrupts nanosleep. */
static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

#endif
