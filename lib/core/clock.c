/* The library's one wall clock, for progress reports and stage timings. */
#include "internal.h"

#include <time.h>

double rlkd_seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
