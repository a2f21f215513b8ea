/*
 * What the benchmark programs share: ending on a failed call with the
 * library's message, and a monotonic clock. Each program defines
 * BENCH_NAME, its name in messages, before including this.
 */
#ifndef RLKD_BENCH_H
#define RLKD_BENCH_H

#include <rlkd.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void check(rlkd_status status, const char *what)
{
    if (status != RLKD_OK) {
        fprintf(stderr, BENCH_NAME ": %s: %s: %s\n", what,
                rlkd_status_string(status), rlkd_last_error());
        exit(1);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
