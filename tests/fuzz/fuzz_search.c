/*
 * Search states (rlkd_search_resume, lib/search/search.c): a safetensors
 * file of the agent's tensors, the replay buffer and the best policy, with
 * the search's counters and running values as text and its fingerprint in
 * the metadata. The input is the whole file, resumed into a fresh search
 * of fuzz_search_create (the seeds are its saves); a state that resumes
 * must run its next episode.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    if (!path[0])
        fuzz_path(path, "input.state");
    fuzz_write_file(path, data, size);
    rlkd_search *search = fuzz_search_create();
    const rlkd_status status = rlkd_search_resume(search, path);
    fuzz_expect(status,
                FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_SHAPE) |
                    FUZZ_ALLOW(RLKD_ERR_IO),
                "rlkd_search_resume");
    int64_t episodes = -1;
    fuzz_expect(rlkd_search_episode_count(search, &episodes), 0,
                "rlkd_search_episode_count");
    /* Finite weights may still overflow the critic's loss: the agent then
     * refuses the update with RLKD_ERR_NUMERIC. */
    if (status == RLKD_OK && episodes < 12)
        fuzz_expect(rlkd_search_run(search, episodes + 1),
                    FUZZ_ALLOW(RLKD_ERR_NUMERIC),
                    "rlkd_search_run after a resume");
    rlkd_search_destroy(search);
    return 0;
}
