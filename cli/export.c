/*
 * rlkd export: ONNX and TorchScript through the Python package, by running
 * `PYTHON -m rlkd.export NET --onnx OUT --torchscript OUT`.
 *
 * PYTHON is $RLKD_PYTHON, else /usr/bin/python3 when it exists (Debian's,
 * which has python3-torch), else python3 from PATH. Run from a source tree
 * (the binary lies below a folder with bindings/python/rlkd), the tree's
 * package comes first on PYTHONPATH and, unless RLKD_LIBRARY is set, the
 * package loads the very librlkd this program runs on; an installed rlkd
 * uses the installed package (`make python`).
 */
#define _GNU_SOURCE /* dladdr: which librlkd this program loaded */
#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* How many folders above the binary a source tree may start. */
#define TREE_LEVELS 4
/* The end of Python's stderr kept for the error line (more than a read). */
#define STDERR_KEPT 8192

static const char *python(void)
{
    const char *chosen = getenv("RLKD_PYTHON");
    if (chosen && *chosen)
        return chosen;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
                                                 : "python3";
}

/* The source tree's bindings/python when this binary lies in one, else
 * NULL; `out` holds it. */
static const char *tree_package(char *out, size_t size)
{
    char exe[PATH_MAX];
    const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0)
        return NULL;
    exe[length] = '\0';
    for (int level = 0; level < TREE_LEVELS; level++) {
        char *slash = strrchr(exe, '/');
        if (!slash || slash == exe)
            return NULL;
        *slash = '\0';
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/bindings/python/rlkd/export.py",
                 exe);
        if (access(probe, R_OK) == 0) {
            snprintf(out, size, "%s/bindings/python", exe);
            return out;
        }
    }
    return NULL;
}

/* Points the child's Python at the source tree's package and library. */
static void use_source_tree(void)
{
    char package[PATH_MAX + 64];
    if (!tree_package(package, sizeof package))
        return;
    const char *old = getenv("PYTHONPATH");
    char path[2 * PATH_MAX + 128];
    snprintf(path, sizeof path, "%s%s%s", package, old && *old ? ":" : "",
             old && *old ? old : "");
    if (setenv("PYTHONPATH", path, 1) != 0)
        fail("cannot set PYTHONPATH: %s", strerror(errno));
    Dl_info info;
    if (!getenv("RLKD_LIBRARY") &&
        dladdr((void *)rlkd_version_string, &info) && info.dli_fname &&
        strchr(info.dli_fname, '/') &&
        setenv("RLKD_LIBRARY", info.dli_fname, 1) != 0)
        fail("cannot set RLKD_LIBRARY: %s", strerror(errno));
}

/* The last non-empty line of text (changed in place). */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    const char *newline = strrchr(text, '\n');
    return newline ? newline + 1 : text;
}

/* Runs argv with its stderr captured into tail[STDERR_KEPT] (the end of
 * it); returns the exit status, or 127 when it could not start. */
static int run_captured(char *const *argv, char *tail)
{
    int pipe_ends[2];
    if (pipe(pipe_ends) != 0)
        fail("cannot run %s: %s", argv[0], strerror(errno));
    fflush(stdout);
    const pid_t child = fork();
    if (child < 0)
        fail("cannot run %s: %s", argv[0], strerror(errno));
    if (child == 0) {
        close(pipe_ends[0]);
        dup2(pipe_ends[1], STDERR_FILENO);
        close(pipe_ends[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipe_ends[1]);
    size_t kept = 0;
    char chunk[4096];
    for (;;) {
        const ssize_t got = read(pipe_ends[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        /* Keep the last STDERR_KEPT - 1 bytes (a chunk is smaller). */
        const size_t n = (size_t)got;
        if (kept + n > STDERR_KEPT - 1) {
            const size_t drop = kept + n - (STDERR_KEPT - 1);
            memmove(tail, tail + drop, kept - drop);
            kept -= drop;
        }
        memcpy(tail + kept, chunk, n);
        kept += n;
    }
    tail[kept] = '\0';
    close(pipe_ends[0]);
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            fail("cannot wait for %s: %s", argv[0], strerror(errno));
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    snprintf(tail, STDERR_KEPT, "killed by signal %d",
             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 1;
}

void command_export(void)
{
    const char *net_path = flag_text("init");
    const char *onnx = flag_text("onnx"), *torchscript = flag_text("torchscript");
    if (!onnx && !torchscript)
        usage_error("nothing to write: give --onnx FILE and/or --torchscript "
                    "FILE (see rlkd export --help)");
    /* Reading the network here gives a missing or corrupt file its own
     * error, and the report its costs. */
    rlkd_net *net = net_load(net_path, "init");

    use_source_tree();
    const char *interpreter = python();
    char opset[32];
    snprintf(opset, sizeof opset, "%lld", flag_int("opset"));
    char *argv[12];
    int argc = 0;
    argv[argc++] = (char *)interpreter;
    argv[argc++] = "-m";
    argv[argc++] = "rlkd.export";
    argv[argc++] = (char *)net_path;
    if (onnx) {
        argv[argc++] = "--onnx";
        argv[argc++] = (char *)onnx;
        argv[argc++] = "--opset";
        argv[argc++] = opset;
    }
    if (torchscript) {
        argv[argc++] = "--torchscript";
        argv[argc++] = (char *)torchscript;
    }
    argv[argc] = NULL;
    char *tail = malloc(STDERR_KEPT);
    if (!tail)
        fail("out of memory");
    own(OWN_MEMORY, tail);
    const int code = run_captured(argv, tail);
    if (code != 0) {
        const char *why = last_line(tail);
        if (code == 127)
            fail("%s (set RLKD_PYTHON to a Python with PyTorch)", why);
        if (strstr(why, "No module named 'torch'"))
            fail("%s has no PyTorch (Debian: apt-get install python3-torch; "
                 "or set RLKD_PYTHON to a Python that has it)", interpreter);
        if (strstr(why, "No module named 'rlkd'"))
            fail("%s cannot import the rlkd package (run `make python`, or "
                 "run rlkd from its source tree)", interpreter);
        fail("%s -m rlkd.export failed: %s", interpreter,
             *why ? why : "no message");
    }
    /* Warnings of a successful export (e.g. PyTorch's tracer). */
    if (*tail && !session_quiet())
        fputs(tail, stderr);

    result r;
    result_init(&r, session_command(), net_label());
    result_costs(&r, net);
    if (onnx)
        result_text(&r, "onnx", onnx);
    if (torchscript)
        result_text(&r, "torchscript", torchscript);
    result_text(&r, "python", interpreter);
    result_finish(&r);
}
