/*
 * The files `rlkd plot` reads (cli/charts.c) and the SVG charts it draws
 * of them (cli/plot.c): a search's policy JSON, a results JSON-lines file
 * or a search's episode log. The first input byte chooses which (its
 * value mod 3), the rest is the file.
 */
#include "fuzz.h"

#include "cli.h"

typedef struct plot_call {
    const char *flag, *path, *out;
} plot_call;

static void plot(void *arg)
{
    const plot_call *call = arg;
    char *argv[] = {"rlkd", "plot", (char *)call->flag, (char *)call->path,
                    "--out", (char *)call->out, NULL};
    session_begin("plot");
    flags_parse(CMD_PLOT, 6, argv, 2);
    command_plot();
    release_all();
    flags_free();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const flags[3] = {"--policy", "--results",
                                         "--search-log"};
    static char path[FUZZ_PATH_BYTES], out[FUZZ_PATH_BYTES];
    if (!path[0]) {
        fuzz_path(path, "input.json");
        fuzz_path(out, "charts");
    }
    if (size < 1)
        return 0;
    plot_call call = {flags[data[0] % 3], path, out};
    fuzz_write_file(path, data + 1, size - 1);
    const int code = fuzz_cli_call(plot, &call);
    if (code != 0 && code != 1 && code != 2)
        fuzz_abort("rlkd plot exited %d", code);
    return 0;
}
