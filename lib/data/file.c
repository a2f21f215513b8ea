/*
 * Reading data set files through zlib, which passes plain files through and
 * inflates gzip ones, so every reader takes either.
 */
#include "data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gzread takes an unsigned int length; read in pieces well below that. */
#define READ_CHUNK_BYTES ((size_t)1 << 30)
/* The first allocation of a growing read; it doubles from there. */
#define INITIAL_GROWING_BYTES ((size_t)1 << 20)

rlkd_status rlkd_data_open(const char *op, const char *path, gzFile *out)
{
    errno = 0;
    gzFile file = gzopen(path, "rb");
    if (!file)
        return errno ? rlkd_fail_io(errno, "%s: %s", op, path)
                     : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                 "%s: %s: out of memory opening the file", op,
                                 path);
    *out = file;
    return RLKD_OK;
}

/* The reason of a stream error; zlib prefixes its message with the path,
 * which the caller's message names already. */
static const char *zlib_reason(gzFile file, const char *path, int *error)
{
    const char *message = gzerror(file, error);
    size_t path_length = strlen(path);
    if (strncmp(message, path, path_length) == 0 &&
        strncmp(message + path_length, ": ", 2) == 0)
        return message + path_length + 2;
    return message;
}

rlkd_status rlkd_data_read(gzFile file, const char *op, const char *path,
                           void *dst, size_t want, size_t *got)
{
    uint8_t *bytes = dst;
    size_t done = 0;
    while (done < want) {
        size_t chunk = want - done < READ_CHUNK_BYTES ? want - done
                                                      : READ_CHUNK_BYTES;
        int n = gzread(file, bytes + done, (unsigned)chunk);
        if (n > 0)
            done += (size_t)n;
        if (n <= 0 || (size_t)n < chunk)
            break;
    }
    int error;
    const char *reason = zlib_reason(file, path, &error);
    switch (error) {
    case Z_OK:
        break;
    case Z_ERRNO:
        return rlkd_fail_io(errno, "%s: %s", op, path);
    case Z_MEM_ERROR:
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: %s: out of memory inflating the file", op, path);
    case Z_BUF_ERROR:
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: the gzip stream is cut short (%s)", op,
                         path, reason);
    default:
        return rlkd_fail(RLKD_ERR_FORMAT, "%s: %s: corrupt gzip data (%s)", op,
                         path, reason);
    }
    *got = done;
    return RLKD_OK;
}

rlkd_status rlkd_data_read_growing(gzFile file, const char *op,
                                   const char *path, size_t limit,
                                   uint8_t **data, size_t *size)
{
    uint8_t *buffer = NULL;
    size_t capacity = 0, used = 0;
    for (;;) {
        if (used == capacity) {
            if (capacity == limit)
                break;
            size_t grown = capacity == 0          ? INITIAL_GROWING_BYTES
                           : capacity <= limit / 2 ? 2 * capacity
                                                   : limit;
            if (grown > limit)
                grown = limit;
            uint8_t *bigger = realloc(buffer, grown);
            if (!bigger) {
                free(buffer);
                return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                                 "%s: %s: out of memory for %zu bytes", op,
                                 path, grown);
            }
            buffer = bigger;
            capacity = grown;
        }
        size_t got;
        rlkd_status status = rlkd_data_read(file, op, path, buffer + used,
                                            capacity - used, &got);
        if (status != RLKD_OK) {
            free(buffer);
            return status;
        }
        used += got;
        if (used < capacity)
            break; /* the end of the file */
    }
    *data = buffer;
    *size = used;
    return RLKD_OK;
}
