/*
 * Faults while saving: the network, trainer and search savers
 * (rlkd_net_save, rlkd_trainer_save, rlkd_search_save), the search's policy
 * file and episode log. A path that cannot be written, a full disk (write
 * and fsync failing, injected below), a file size limit (RLIMIT_FSIZE, in a
 * child process), leftover temporary files of a killed save, and a log cut
 * short by a kill: each is an error with a message naming the file, or is
 * repaired, and never a crash; the file saved before is byte for byte as
 * it was, and no temporary file stays.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "testlib.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a disk that fills up: write() and fsync() of chosen files ---- */

/* Files whose path holds `marker` take `budget` more bytes, then every
 * write fails with ENOSPC (the one that crosses it is cut short, as on a
 * real disk); with fail_fsync their fsync fails with EIO (an error that a
 * file system reports only when it flushes). */
static struct {
    const char *marker; /* NULL: no faults */
    long long budget;
    int fail_fsync;
} disk;

static int faulty(int fd)
{
    if (!disk.marker)
        return 0;
    char link[64], path[TEST_PATH_BYTES];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    return strstr(path, disk.marker) != NULL;
}

/* The library's write() and fsync() calls come here (the program's
 * definitions come first in the dynamic symbol lookup). */
__attribute__((visibility("default"))) ssize_t write(int fd, const void *data,
                                                     size_t size)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "write");
    if (faulty(fd)) {
        if (disk.budget <= 0) {
            errno = ENOSPC;
            return -1;
        }
        if ((long long)size > disk.budget)
            size = (size_t)disk.budget;
        const ssize_t written = real(fd, data, size);
        if (written > 0)
            disk.budget -= written;
        return written;
    }
    return real(fd, data, size);
}

__attribute__((visibility("default"))) int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    if (faulty(fd) && disk.fail_fsync) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

/* ---- files ---- */

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)length + 1);
    if (bytes && fread(bytes, 1, (size_t)length, f) != (size_t)length) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *size = (size_t)length;
    return bytes;
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0)
        test_fatal(path);
}

/* Whether path holds exactly `size` bytes `bytes`. */
static int same_file(const char *path, const unsigned char *bytes, size_t size)
{
    size_t got;
    unsigned char *now = read_file(path, &got);
    const int same = now && got == size && memcmp(now, bytes, size) == 0;
    free(now);
    return same;
}

/* Entries of the scratch directory whose name holds ".tmp.". */
static int temp_files(void)
{
    DIR *dir = opendir(test_temp_dir());
    int count = 0;
    for (struct dirent *d = dir ? readdir(dir) : NULL; d; d = readdir(dir))
        count += strstr(d->d_name, ".tmp.") != NULL;
    if (dir)
        closedir(dir);
    return count;
}

/* ---- what is saved: a network, a trainer, a search ---- */

static rlkd_net *net;
static rlkd_trainer *trainer;
static rlkd_search *search;
static int64_t search_episodes; /* run so far */

static rlkd_net *make_net(void)
{
    rlkd_net *n;
    int conv, bn, relu, gap;
    test_must(rlkd_net_create(test_ctx, 3, 8, 8, &n), "rlkd_net_create");
    test_must(rlkd_net_add_conv2d(n, &conv, "conv", 0, 32, 3, 1, 1, 1, 1, 0),
              "conv2d");
    test_must(rlkd_net_add_batchnorm2d(n, &bn, "bn", conv, 1e-5f, 0.1f),
              "batchnorm2d");
    test_must(rlkd_net_add_relu(n, &relu, NULL, bn), "relu");
    test_must(rlkd_net_add_global_avgpool(n, &gap, NULL, relu),
              "global_avgpool");
    test_must(rlkd_net_add_linear(n, NULL, "fc", gap, 10, 1), "linear");
    return n;
}

/* The toy search's score (its cost: test_hundred_macs_per_channel),
 * highest at half of each layer. */
static rlkd_status toy_score(void *user, const int *keep, const double *ratios,
                             int count, double *score, double *accuracy)
{
    (void)user;
    (void)keep;
    (void)accuracy;
    *score = 1.0;
    for (int i = 0; i < count; i++)
        *score -= (ratios[i] - 0.5) * (ratios[i] - 0.5);
    return RLKD_OK;
}

#define TOY_LAYERS 4

static rlkd_search_options toy_options(void)
{
    rlkd_search_options o;
    rlkd_search_options_init(&o);
    o.episodes = 12;
    o.warmup_episodes = 2;
    o.hidden1 = o.hidden2 = 16;
    o.batch_size = 4;
    o.macs_fraction = 0.6;
    o.seed = 5;
    return o;
}

static rlkd_search *make_search(const rlkd_search_options *o)
{
    rlkd_search_layer layers[TOY_LAYERS];
    for (int i = 0; i < TOY_LAYERS; i++) {
        rlkd_search_layer_init(&layers[i]);
        layers[i].channels = 32;
        layers[i].in_channels = 32;
        layers[i].kernel = 3;
        layers[i].macs = 100 * 32;
        layers[i].params = layers[i].macs;
    }
    rlkd_search *s;
    test_must(rlkd_search_create(layers, TOY_LAYERS,
                                 test_hundred_macs_per_channel, toy_score,
                                 NULL, o, &s),
              "rlkd_search_create");
    return s;
}

static rlkd_status save_net(const char *path)
{
    return rlkd_net_save(net, path);
}

static rlkd_status save_trainer(const char *path)
{
    return rlkd_trainer_save(trainer, path);
}

static rlkd_status save_search(const char *path)
{
    return rlkd_search_save(search, path);
}

/* Changes what the next save writes. */
static void change_net(void)
{
    static float value;
    value += 0.25f;
    rlkd_tensor *bias;
    test_must(rlkd_net_param(net, 1, NULL, &bias, NULL), "rlkd_net_param");
    float values[32];
    for (int i = 0; i < 32; i++)
        values[i] = value;
    test_must(rlkd_tensor_write(bias, values, 32), "rlkd_tensor_write");
}

static void change_search(void)
{
    test_must(rlkd_search_run(search, ++search_episodes), "rlkd_search_run");
}

typedef struct subject {
    const char *name;
    rlkd_status (*save)(const char *path);
    void (*change)(void);
} subject;

static const subject subjects[] = {
    {"net", save_net, change_net},
    {"trainer", save_trainer, change_net}, /* the trainer's network */
    {"search", save_search, change_search},
};
#define SUBJECTS (int)(sizeof subjects / sizeof subjects[0])

/* A save of the subject at "<dir>/<name>.<what>", its bytes in *bytes. */
static void saved(const subject *s, const char *what, char *path,
                  unsigned char **bytes, size_t *size)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", s->name, what);
    test_temp_path(path, name);
    test_must(s->save(path), "a first save");
    *bytes = read_file(path, size);
    if (!*bytes)
        test_fatal(path);
}

/* ---- cases ---- */

/* A parent that is a regular file or does not exist, a directory at the
 * path, an empty path: RLKD_ERR_IO (an empty path: INVALID_ARGUMENT)
 * naming the path, nothing left behind. */
static void unwritable_paths(void)
{
    char plain[TEST_PATH_BYTES], path[TEST_PATH_BYTES + 64];
    test_temp_path(plain, "plain_file");
    write_file(plain, "x", 1);
    for (int i = 0; i < SUBJECTS; i++) {
        const subject *s = &subjects[i];
        snprintf(path, sizeof path, "%s/%s.state", plain, s->name);
        CHECK_FAILS(s->save(path), RLKD_ERR_IO, path);
        CHECK_MSG(strstr(rlkd_last_error(), "Not a directory"), "%s: %s",
                  s->name, rlkd_last_error());
        test_temp_path(path, "missing_dir/state");
        CHECK_FAILS(s->save(path), RLKD_ERR_IO, path);
        CHECK_MSG(strstr(rlkd_last_error(), "No such file or directory"),
                  "%s: %s", s->name, rlkd_last_error());
        /* The temporary file is written; the rename fails and it goes. */
        char dir_name[64];
        snprintf(dir_name, sizeof dir_name, "%s_is_a_directory", s->name);
        test_temp_path(path, dir_name);
        CHECK(mkdir(path, 0700) == 0);
        CHECK_FAILS(s->save(path), RLKD_ERR_IO, path);
        CHECK_MSG(strstr(rlkd_last_error(), "rename"), "%s: %s", s->name,
                  rlkd_last_error());
        CHECK_FAILS(s->save(""), RLKD_ERR_INVALID_ARGUMENT, "empty");
    }
    CHECK_MSG(temp_files() == 0, "%d temporary files left", temp_files());
}

/* A full disk at every point of a save: the first byte, halfway, the last
 * byte, and the flush. */
static void disk_full(void)
{
    for (int i = 0; i < SUBJECTS; i++) {
        const subject *s = &subjects[i];
        char path[TEST_PATH_BYTES];
        unsigned char *before;
        size_t size;
        saved(s, "full_disk", path, &before, &size);
        s->change();
        const long long budgets[] = {0, (long long)size / 2,
                                     (long long)size - 1, (long long)size};
        for (int b = 0; b < 4; b++) {
            disk.marker = "full_disk";
            disk.budget = budgets[b];
            disk.fail_fsync = b == 3; /* all of it written, the flush fails */
            const rlkd_status status = s->save(path);
            disk.marker = NULL;
            CHECK_MSG(status == RLKD_ERR_IO &&
                          strstr(rlkd_last_error(), path) &&
                          strstr(rlkd_last_error(),
                                 b == 3 ? "Input/output error"
                                        : "No space left on device"),
                      "%s, disk full after %lld bytes: %s (%s)", s->name,
                      budgets[b], rlkd_status_string(status),
                      rlkd_last_error());
            CHECK_MSG(same_file(path, before, size),
                      "%s: the saved file changed (disk full after %lld "
                      "bytes)", s->name, budgets[b]);
            CHECK_MSG(temp_files() == 0, "%s: %d temporary files left",
                      s->name, temp_files());
        }
        /* Space again: the save goes through. */
        CHECK_OK(s->save(path));
        CHECK(!same_file(path, before, size));
        free(before);
    }
}

/* A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with
 * EFBIG) below the size of the file, in a child process. */
static void size_limit(void)
{
    for (int i = 0; i < SUBJECTS; i++) {
        const subject *s = &subjects[i];
        char path[TEST_PATH_BYTES];
        unsigned char *before;
        size_t size;
        saved(s, "size_limit", path, &before, &size);
        fflush(stdout);
        const pid_t child = fork();
        if (child == 0) {
            s->change();
            const struct rlimit limit = {size / 2, size / 2};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0)
                _exit(2);
            const rlkd_status status = s->save(path);
            const int ok = status == RLKD_ERR_IO &&
                           strstr(rlkd_last_error(), path) &&
                           strstr(rlkd_last_error(), "File too large");
            if (!ok)
                fprintf(stderr, "%s: %s (%s)\n", s->name,
                        rlkd_status_string(status), rlkd_last_error());
            _exit(ok ? 0 : 1);
        }
        int wait_status = 0;
        CHECK(child > 0 && waitpid(child, &wait_status, 0) == child);
        CHECK_MSG(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0,
                  "%s: the save under a %zu-byte file size limit did not "
                  "fail as it should (wait status %d)", s->name, size / 2,
                  wait_status);
        CHECK_MSG(same_file(path, before, size),
                  "%s: the saved file changed", s->name);
        CHECK_MSG(temp_files() == 0, "%s: %d temporary files left", s->name,
                  temp_files());
        free(before);
    }
}

/* Temporary files a killed save left, part-written, under the names this
 * process would pick: the save takes another name, leaves them alone, and
 * the file loads. */
static void leftover_temp_files(void)
{
    char path[TEST_PATH_BYTES], temp[TEST_PATH_BYTES + 64];
    test_temp_path(path, "leftovers.safetensors");
    /* Fewer than the names a save tries, more than this program's saves
     * before it take. */
    enum { LEFT = 60 };
    for (int k = 0; k < LEFT; k++) {
        snprintf(temp, sizeof temp, "%s.tmp.%ld.%d", path, (long)getpid(), k);
        write_file(temp, "\x10\0\0\0\0\0\0\0{\"a\":", 13);
    }
    CHECK_OK(rlkd_net_save(net, path));
    rlkd_net *loaded = NULL;
    CHECK_OK(rlkd_net_load(test_ctx, path, &loaded));
    rlkd_net_destroy(loaded);
    CHECK_MSG(temp_files() == LEFT, "%d temporary files, expected the %d "
              "left before", temp_files(), LEFT);
    for (int k = 0; k < LEFT; k++) {
        snprintf(temp, sizeof temp, "%s.tmp.%ld.%d", path, (long)getpid(), k);
        CHECK(same_file(temp, (const unsigned char *)"\x10\0\0\0\0\0\0\0{\"a\":",
                        13));
        unlink(temp);
    }
}

/* A full disk while the search appends to its episode log: the line is
 * taken back, the log stays whole lines. */
static void log_disk_full(void)
{
    char log[TEST_PATH_BYTES];
    test_temp_path(log, "full_disk_episodes.jsonl");
    rlkd_search_options o = toy_options();
    o.log_path = log;
    rlkd_search *s = make_search(&o);
    CHECK_OK(rlkd_search_run(s, 3));
    size_t size;
    unsigned char *before = read_file(log, &size);
    CHECK(before && size > 0);
    /* Nothing written, then part of a line. */
    const long long budgets[] = {0, 20};
    for (int b = 0; b < 2 && before; b++) {
        disk.marker = "full_disk_episodes";
        disk.budget = budgets[b];
        const rlkd_status status = rlkd_search_run(s, 12);
        disk.marker = NULL;
        CHECK_MSG(status == RLKD_ERR_IO &&
                      strstr(rlkd_last_error(), "No space left on device") &&
                      strstr(rlkd_last_error(), log),
                  "%s (%s)", rlkd_status_string(status), rlkd_last_error());
        CHECK_MSG(same_file(log, before, size),
                  "the log changed (disk full after %lld bytes)", budgets[b]);
    }
    rlkd_search_destroy(s);
    free(before);
}

/* A kill between a log append and the next save, or in the middle of an
 * append: the resumed search's log holds the saved episodes' whole lines
 * and its policy file the saved best, whatever the files held after. */
static void resume_repairs_log_and_policy(void)
{
    char state[TEST_PATH_BYTES], log[TEST_PATH_BYTES],
        policy[TEST_PATH_BYTES];
    test_temp_path(state, "repair.state");
    test_temp_path(log, "repair.jsonl");
    test_temp_path(policy, "repair_policy.json");
    rlkd_search_options o = toy_options();
    o.log_path = log;
    o.policy_path = policy;
    o.state_path = state;
    o.save_every = 4;
    rlkd_search *s = make_search(&o);
    CHECK_OK(rlkd_search_run(s, 4));
    rlkd_search_destroy(s);
    size_t log_size, policy_size;
    unsigned char *log_saved = read_file(log, &log_size);
    unsigned char *policy_saved = read_file(policy, &policy_size);
    CHECK(log_saved && policy_saved);
    if (!log_saved || !policy_saved)
        return;

    /* Torn: a whole later line, then half a line without its newline. */
    FILE *f = fopen(log, "ab");
    fputs("{\"episode\":4}\n{\"episode\":5,\"warm", f);
    fclose(f);
    write_file(policy, "{\"layers\":[]", 12);
    s = make_search(&o);
    CHECK_OK(rlkd_search_resume(s, state));
    CHECK_MSG(same_file(log, log_saved, log_size),
              "the resumed log is not the saved episodes' lines");
    CHECK_MSG(same_file(policy, policy_saved, policy_size),
              "the resumed policy file is not the saved best");
    rlkd_search_destroy(s);

    /* Lines lost, the last one torn (a power cut before the log reached
     * the disk): the whole lines stay, the torn one goes. */
    const unsigned char *second =
        (const unsigned char *)memchr(log_saved, '\n', log_size) + 1;
    const size_t first_line = (size_t)(second - log_saved);
    write_file(log, log_saved, first_line + 5);
    s = make_search(&o);
    CHECK_OK(rlkd_search_resume(s, state));
    CHECK_MSG(same_file(log, log_saved, first_line),
              "a torn last line stayed in the log");
    /* The search goes on appending whole lines. */
    CHECK_OK(rlkd_search_run(s, 5));
    size_t size;
    unsigned char *now = read_file(log, &size);
    CHECK(now && size > first_line && now[size - 1] == '\n' &&
          memcmp(now, log_saved, first_line) == 0 &&
          memchr(now + first_line, '\n', size - first_line) == now + size - 1);
    free(now);
    rlkd_search_destroy(s);
    free(log_saved);
    free(policy_saved);
}

int main(void)
{
    test_main_begin();
    net = make_net();
    rlkd_trainer_options options;
    rlkd_trainer_options_init(&options);
    options.optimizer.momentum = 0.9f;
    test_must(rlkd_trainer_create(net, NULL, &options, &trainer),
              "rlkd_trainer_create");
    const rlkd_search_options o = toy_options();
    search = make_search(&o);
    change_search();

    test_run("leftover_temp_files", leftover_temp_files);
    test_run("unwritable_paths", unwritable_paths);
    test_run("disk_full", disk_full);
    test_run("size_limit", size_limit);
    test_run("log_disk_full", log_disk_full);
    test_run("resume_repairs_log_and_policy", resume_repairs_log_and_policy);

    rlkd_search_destroy(search);
    rlkd_trainer_destroy(trainer);
    rlkd_net_destroy(net);
    test_main_end();
    return test_finish();
}
