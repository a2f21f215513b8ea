/* How a batch of images goes over the threads: see cpu.h. */
#include "cpu.h"

rlkd_cpu_batch_split rlkd_cpu_batch_split_of(const rlkd_context *ctx, int n,
                                             int image_columns,
                                             size_t image_floats,
                                             int target_columns,
                                             size_t max_floats)
{
    rlkd_cpu_batch_split s = n >= ctx->num_threads
                                 ? (rlkd_cpu_batch_split){ctx->num_threads,
                                                          1, 1}
                                 : (rlkd_cpu_batch_split){1,
                                                          ctx->num_threads, 1};
    const int block_images = (n + s.blocks - 1) / s.blocks;
    s.chunk = (target_columns + image_columns - 1) / image_columns;
    if ((size_t)s.chunk * image_floats > max_floats)
        s.chunk = (int)(max_floats / image_floats);
    if (s.chunk > block_images)
        s.chunk = block_images;
    if (s.chunk < 1)
        s.chunk = 1;
    return s;
}

int rlkd_cpu_block_start(int b, rlkd_cpu_batch_split s, int n)
{
    return (int)((int64_t)n * b / s.blocks);
}
