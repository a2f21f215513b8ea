/*
 * Saved architectures (lib/nets/architecture.c), structure-aware: the
 * input is the "rlkd_architecture" metadata string of an otherwise valid
 * checkpoint of the every-kind network, so every input reaches the
 * architecture's parser and builder. A network that loads must run; the
 * saved architecture is also compared with the every-kind network's, as
 * rlkd_trainer_resume does. As the file's tensors must match the
 * architecture for it to load, the text is also built alone (with room
 * for any small network), and a network built must run too.
 */
#include "fuzz.h"

#include "nets/architecture.h"
#include "nets/checkpoint.h"

#include <stdlib.h>

/* Networks whose nodes hold at most this many values per image are run
 * forward (a valid architecture may ask for any amount of activations). */
#define RUN_VALUES_LIMIT (1 << 20)
/* The tensor values an architecture built alone may hold. */
#define BUILD_VALUES_LIMIT (1 << 16)

static void run_forward(rlkd_net *net)
{
    int nodes;
    fuzz_expect(rlkd_net_node_count(net, &nodes), 0, "node count");
    int64_t c, h, w, values = 0;
    /* Down to node 0, the input, whose shape the input tensor takes. */
    for (int node = nodes - 1; node >= 0; node--) {
        fuzz_expect(rlkd_net_node_shape(net, node, &c, &h, &w), 0,
                    "node shape");
        values += c * h * w;
        if (values > RUN_VALUES_LIMIT)
            return;
    }
    rlkd_tensor *input;
    const int64_t shape[4] = {1, c, h, w};
    fuzz_expect(rlkd_tensor_create(fuzz_context(), RLKD_DTYPE_F32, 4, shape,
                                   &input),
                0, "rlkd_tensor_create");
    fuzz_expect(rlkd_net_forward(net, input, 0, NULL), 0,
                "rlkd_net_forward of a network read from an architecture");
    rlkd_tensor_destroy(input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    static fuzz_checkpoint reference;
    static rlkd_net *net;
    if (!net) {
        fuzz_path(path, "input.safetensors");
        net = fuzz_every_kind_net();
        fuzz_checkpoint_of(net, &reference);
    }
    char *text = fuzz_text(data, size);
    fuzz_checkpoint_write(&reference, "rlkd_architecture", text, path);
    rlkd_net *built = NULL;
    fuzz_expect(rlkd_architecture_build(fuzz_context(), text,
                                        BUILD_VALUES_LIMIT, &built),
                FUZZ_ALLOW(RLKD_ERR_FORMAT), "rlkd_architecture_build");
    free(text);
    if (built)
        run_forward(built);
    rlkd_net_destroy(built);
    rlkd_net *loaded = NULL;
    const rlkd_status status = rlkd_net_load(fuzz_context(), path, &loaded);
    fuzz_expect(status,
                FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_SHAPE),
                "rlkd_net_load");
    if (loaded)
        run_forward(loaded);
    rlkd_net_destroy(loaded);
    rlkd_checkpoint_file file;
    rlkd_status check = rlkd_checkpoint_open(path, &file);
    if (check == RLKD_OK)
        check = rlkd_checkpoint_check_architecture(&file, net);
    rlkd_checkpoint_close(&file);
    fuzz_expect(check, FUZZ_ALLOW(RLKD_ERR_FORMAT),
                "rlkd_checkpoint_check_architecture");
    return 0;
}
