/*
 * Replays a fuzz target's inputs without libFuzzer, so that `make test`
 * and `make test-sanitize` run every seed and every regression (each crash
 * fuzzing found, tests/fuzz/regressions/<name>/) through the normal build.
 * Built once per target with FUZZ_NAME ("checkpoint") and FUZZ_DIR (the
 * absolute tests/fuzz folder). Without arguments it replays
 * FUZZ_DIR/corpus/FUZZ_NAME and FUZZ_DIR/regressions/FUZZ_NAME; arguments
 * are files or folders to replay instead. Prints "PASS fuzz_<name>: <file>"
 * per input; a finding aborts (the sanitizers say why).
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replayed;

static void replay_file(const char *path)
{
    size_t size;
    uint8_t *data = fuzz_read_file(path, &size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    const size_t dir = strlen(FUZZ_DIR "/");
    printf("PASS fuzz_%s: %s\n", FUZZ_NAME,
           strncmp(path, FUZZ_DIR "/", dir) == 0 ? path + dir : path);
    fflush(stdout);
    replayed++;
}

static int is_visible(const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

/* A folder's files in name order (hidden ones aside). */
static void replay_folder(const char *path)
{
    struct dirent **entries;
    const int count = scandir(path, &entries, is_visible, alphasort);
    if (count < 0)
        fuzz_abort("cannot read the folder %s", path);
    for (int i = 0; i < count; i++) {
        char file[FUZZ_PATH_BYTES * 2];
        snprintf(file, sizeof file, "%s/%s", path, entries[i]->d_name);
        replay_file(file);
        free(entries[i]);
    }
    free(entries);
}

static void replay(const char *path, int must_exist)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        if (must_exist)
            fuzz_abort("%s does not exist", path);
        return;
    }
    if (S_ISDIR(info.st_mode))
        replay_folder(path);
    else
        replay_file(path);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay(argv[i], 1);
    } else {
        replay(FUZZ_DIR "/corpus/" FUZZ_NAME, 1);
        replay(FUZZ_DIR "/regressions/" FUZZ_NAME, 0);
    }
    if (replayed == 0) {
        printf("FAIL fuzz_%s: no input to replay\n", FUZZ_NAME);
        return 1;
    }
    return 0;
}
