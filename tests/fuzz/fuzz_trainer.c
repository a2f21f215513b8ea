/*
 * Trainer states (rlkd_trainer_resume, lib/train/trainer.c): a network
 * checkpoint with the optimiser's moments under "optimizer_state." and the
 * position, the random stream and the options in the metadata. The input
 * is the whole file, resumed into a fresh trainer (SGD with momentum, the default) of
 * fuzz_every_kind_net (the seeds are its saves); a state that resumes must
 * train its next step.
 */
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    if (!path[0])
        fuzz_path(path, "input.trainer");
    fuzz_write_file(path, data, size);
    rlkd_trainer *trainer = fuzz_trainer_create();
    const rlkd_status status = rlkd_trainer_resume(trainer, path);
    fuzz_expect(status,
                FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_SHAPE) |
                    FUZZ_ALLOW(RLKD_ERR_IO),
                "rlkd_trainer_resume");
    /* Finite saved weights may still overflow the loss: the trainer then
     * refuses the step with RLKD_ERR_NUMERIC. */
    if (status == RLKD_OK)
        fuzz_expect(fuzz_trainer_step(trainer), FUZZ_ALLOW(RLKD_ERR_NUMERIC),
                    "rlkd_trainer_step after a resume");
    fuzz_trainer_destroy(trainer);
    return 0;
}
