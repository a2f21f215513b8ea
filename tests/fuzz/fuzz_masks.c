/*
 * Pruning masks stored in a checkpoint (lib/nets/prune.c), structure-aware:
 * the input is the "rlkd_prune_masks" metadata string of an otherwise
 * valid checkpoint of fuzz_masked_net. A network that loads must run
 * forward, masked and compacted.
 */
#include "fuzz.h"

#include "nets/checkpoint.h"

#include <stdlib.h>

static void run_forward(rlkd_net *net, const rlkd_tensor *input)
{
    fuzz_expect(rlkd_net_forward(net, input, 0, NULL), 0,
                "rlkd_net_forward of a loaded network");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    static fuzz_checkpoint reference;
    static rlkd_tensor *input;
    if (!input) {
        fuzz_path(path, "input.safetensors");
        rlkd_net *net = fuzz_masked_net();
        fuzz_checkpoint_of(net, &reference);
        rlkd_net_destroy(net);
        const int64_t shape[4] = {1, 3, 6, 6};
        fuzz_expect(rlkd_tensor_create(fuzz_context(), RLKD_DTYPE_F32, 4,
                                       shape, &input),
                    0, "rlkd_tensor_create");
    }
    char *text = fuzz_text(data, size);
    fuzz_checkpoint_write(&reference, RLKD_PRUNE_MASKS_KEY, text, path);
    free(text);
    rlkd_net *loaded = NULL;
    fuzz_expect(rlkd_net_load(fuzz_context(), path, &loaded),
                FUZZ_ALLOW(RLKD_ERR_FORMAT), "rlkd_net_load");
    if (!loaded)
        return 0;
    run_forward(loaded, input);
    rlkd_net *compact = NULL;
    fuzz_expect(rlkd_net_prune_compact(loaded, &compact), 0,
                "rlkd_net_prune_compact of a loaded network");
    run_forward(compact, input);
    rlkd_net_destroy(compact);
    rlkd_net_destroy(loaded);
    return 0;
}
