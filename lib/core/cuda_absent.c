/* Linked instead of kernels/ in a build without CUDA (make CUDA=0): the
 * CUDA entry points exist and answer RLKD_ERR_UNSUPPORTED. */
#include "internal.h"

const rlkd_backend *rlkd_cuda_backend(void)
{
    return NULL;
}
