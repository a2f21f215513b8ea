/*
 * An LD_PRELOAD library for tests/check_kill_resume.sh: every write() and
 * fsync() on a file whose name holds ".tmp." (the temporary files that
 * saves write before renaming them into place) first sleeps
 * $SLOW_SAVE_MS milliseconds. Saves then take long enough that a kill at a
 * random moment often lands in the middle of one, leaving a part-written
 * temporary file behind.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void pause_if_temporary(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    const char *ms = getenv("SLOW_SAVE_MS");
    if (!strstr(path, ".tmp.") || !ms)
        return;
    const long delay = strtol(ms, NULL, 10);
    const struct timespec t = {delay / 1000, (delay % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

ssize_t write(int fd, const void *data, size_t size)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "write");
    pause_if_temporary(fd);
    return real(fd, data, size);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    pause_if_temporary(fd);
    return real(fd);
}
