/*
 * The rlkd command's --config files (cli/flags.c): a JSON object of flags,
 * each checked as the command line's value would be. The first input byte
 * chooses the subcommand (its value mod 12), the rest is the file, parsed
 * as `rlkd <subcommand> --config FILE` parses it.
 */
#include "fuzz.h"

#include "cli.h"

typedef struct config_call {
    unsigned command;
    const char *path;
} config_call;

static void parse(void *arg)
{
    const config_call *call = arg;
    char *argv[] = {"rlkd", "fuzz", "--config", (char *)call->path, NULL};
    session_begin("fuzz");
    flags_parse(call->command, 4, argv, 2);
    release_all();
    flags_free();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    if (!path[0])
        fuzz_path(path, "config.json");
    if (size < 1)
        return 0;
    config_call call = {1u << (data[0] % 12), path};
    fuzz_write_file(path, data + 1, size - 1);
    const int code = fuzz_cli_call(parse, &call);
    if (code != 0 && code != 1 && code != 2)
        fuzz_abort("rlkd exited %d on a --config file", code);
    return 0;
}
