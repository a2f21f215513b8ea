/* Status names and the thread-local message behind rlkd_last_error(). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define RLKD_ERROR_CAPACITY 1024

static _Thread_local char last_error[RLKD_ERROR_CAPACITY];

rlkd_status rlkd_fail(rlkd_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
    return status;
}

rlkd_status rlkd_fail_io(int error, const char *fmt, ...)
{
    char reason[128], what[sizeof last_error];
    if (strerror_r(error, reason, sizeof reason) != 0)
        snprintf(reason, sizeof reason, "error %d", error);
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof what, fmt, args);
    va_end(args);
    return rlkd_fail(RLKD_ERR_IO, "%s: %s", what, reason);
}

const char *rlkd_last_error(void)
{
    return last_error;
}

const char *rlkd_status_string(rlkd_status status)
{
    switch (status) {
    case RLKD_OK: return "RLKD_OK";
    case RLKD_ERR_INVALID_ARGUMENT: return "RLKD_ERR_INVALID_ARGUMENT";
    case RLKD_ERR_SHAPE: return "RLKD_ERR_SHAPE";
    case RLKD_ERR_OUT_OF_MEMORY: return "RLKD_ERR_OUT_OF_MEMORY";
    case RLKD_ERR_UNSUPPORTED: return "RLKD_ERR_UNSUPPORTED";
    case RLKD_ERR_NO_DEVICE: return "RLKD_ERR_NO_DEVICE";
    case RLKD_ERR_DEVICE_MISMATCH: return "RLKD_ERR_DEVICE_MISMATCH";
    case RLKD_ERR_IO: return "RLKD_ERR_IO";
    case RLKD_ERR_FORMAT: return "RLKD_ERR_FORMAT";
    case RLKD_ERR_DEVICE: return "RLKD_ERR_DEVICE";
    case RLKD_ERR_INTERNAL: return "RLKD_ERR_INTERNAL";
    case RLKD_ERR_NUMERIC: return "RLKD_ERR_NUMERIC";
    }
    return "RLKD_ERR_UNKNOWN";
}
