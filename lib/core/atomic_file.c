/*
 * Files the library writes (checkpoints, trainer and search states, the
 * search's policy and log) appear whole or not at all: the content goes to
 * a new temporary file beside the target, which is flushed to disk and then
 * renamed over the target, and the directory entry is flushed too. A crash
 * or a kill at any moment leaves the old file or the new one, never a mix;
 * a failed write (a full disk, a file size limit) leaves the old file and
 * no temporary one.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest single write(); Linux moves at most ~2 GiB per call. */
#define IO_CHUNK_BYTES ((size_t)1 << 30)

/* Names tried before giving up when earlier ones exist (a killed save's
 * leftovers whose pid came round again). */
#define TEMP_NAME_TRIES 100

rlkd_status rlkd_file_write_all(int fd, const void *data, size_t size,
                                const char *path)
{
    const char *p = data;
    while (size > 0) {
        const ssize_t written =
            write(fd, p, size < IO_CHUNK_BYTES ? size : IO_CHUNK_BYTES);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return rlkd_fail_io(errno, "cannot write %s", path);
        /* A full disk may take part of a write and refuse the rest: the
         * next write() reports why. */
        p += written;
        size -= (size_t)written;
    }
    return RLKD_OK;
}

/* Flushes path's directory, so that the rename survives a power loss. Some
 * file systems cannot sync a directory (EINVAL) and a directory may be
 * unreadable; the rename has happened then, and only its durability is
 * left to the system. */
static rlkd_status sync_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        const size_t length = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(length + 1);
        if (!dir)
            return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(dir, path, length);
        dir[length] = '\0';
    }
    const char *name = dir ? dir : ".";
    rlkd_status status = RLKD_OK;
    const int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            status = rlkd_fail_io(errno, "cannot flush the directory %s", name);
        close(fd);
    }
    free(dir);
    return status;
}

/* Creates a new temporary file "<path>.tmp.<pid>.<n>" (*temp: free() it). */
static rlkd_status create_temp(const char *path, char **temp, int *fd)
{
    /* Tells apart saves within this process; the pid tells processes apart. */
    static atomic_uint serial;
    const size_t size = strlen(path) + 64;
    char *name = malloc(size);
    if (!name)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < TEMP_NAME_TRIES; i++) {
        snprintf(name, size, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&serial, 1u));
        *fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) {
            *temp = name;
            return RLKD_OK;
        }
        if (errno != EEXIST)
            break;
    }
    const rlkd_status status =
        rlkd_fail_io(errno, "cannot create the temporary file %s", name);
    free(name);
    return status;
}

rlkd_status rlkd_file_write_atomic(const char *path, rlkd_file_writer writer,
                                   void *user)
{
    /* "" would put the temporary file in the working directory. */
    if (!path[0])
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "the path is empty");
    char *temp = NULL;
    int fd = -1;
    RLKD_TRY(create_temp(path, &temp, &fd));
    rlkd_status status = writer(fd, temp, user);
    if (status == RLKD_OK && fsync(fd) != 0)
        status = rlkd_fail_io(errno, "cannot flush %s", temp);
    /* close() reports errors some file systems (NFS) defer to it. */
    if (close(fd) != 0 && status == RLKD_OK)
        status = rlkd_fail_io(errno, "cannot close %s", temp);
    if (status == RLKD_OK && rename(temp, path) != 0)
        status = rlkd_fail_io(errno,
                              "cannot rename the temporary file onto %s",
                              path);
    if (status != RLKD_OK)
        unlink(temp);
    free(temp);
    return status == RLKD_OK ? sync_directory(path) : status;
}

typedef struct text_job {
    const char *text;
    size_t length;
} text_job;

static rlkd_status write_text(int fd, const char *temp, void *user)
{
    const text_job *job = user;
    return rlkd_file_write_all(fd, job->text, job->length, temp);
}

rlkd_status rlkd_file_write_text_atomic(const char *path, const char *text,
                                        size_t length)
{
    text_job job = {text, length};
    return rlkd_file_write_atomic(path, write_text, &job);
}
