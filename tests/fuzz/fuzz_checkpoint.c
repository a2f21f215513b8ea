/*
 * safetensors checkpoints as rlkd reads them (lib/nets/checkpoint.c): the
 * header length, the header JSON (names, dtypes, shapes, data_offsets,
 * __metadata__), the data, and the saved architecture and masks. The input
 * is the whole file: rlkd_net_load rebuilds a network from it, and
 * rlkd_net_load_weights loads it into the every-kind network (the seeds
 * are saves of that network).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    static rlkd_net *net;
    if (!net) {
        fuzz_path(path, "input.safetensors");
        net = fuzz_every_kind_net();
    }
    fuzz_write_file(path, data, size);
    const unsigned bad_file = FUZZ_ALLOW(RLKD_ERR_FORMAT) |
                              FUZZ_ALLOW(RLKD_ERR_SHAPE) |
                              FUZZ_ALLOW(RLKD_ERR_IO);
    rlkd_net *loaded = NULL;
    const rlkd_status status = rlkd_net_load(fuzz_context(), path, &loaded);
    fuzz_expect(status, bad_file, "rlkd_net_load");
    if ((status == RLKD_OK) != (loaded != NULL))
        fuzz_abort("rlkd_net_load returned %s with *out %p",
                   rlkd_status_string(status), (void *)loaded);
    rlkd_net_destroy(loaded);
    fuzz_expect(rlkd_net_load_weights(net, path), bad_file,
                "rlkd_net_load_weights");
    return 0;
}
