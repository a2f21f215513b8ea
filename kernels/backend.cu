/* The CUDA backend's table. Entries left out stay NULL: those ops answer
 * RLKD_ERR_UNSUPPORTED on a CUDA context until their kernels land. */
#include "cuda.h"

/* Assigned field by field: C++ has no partial designated initialisers
 * without -Wmissing-field-initializers complaining. */
static rlkd_backend make_cuda_backend(void)
{
    rlkd_backend b = {};
    b.name = "cuda";
    b.context_init = rlkd_cuda_context_init;
    b.context_release = rlkd_cuda_context_release;
    b.alloc = rlkd_cuda_alloc;
    b.release = rlkd_cuda_release;
    b.copy_from_host = rlkd_cuda_copy_from_host;
    b.copy_to_host = rlkd_cuda_copy_to_host;
    b.copy = rlkd_cuda_copy;
    b.synchronize = rlkd_cuda_synchronize;
    b.fill = rlkd_cuda_fill;
    b.fill_random = rlkd_cuda_fill_random;
    b.relu_forward = rlkd_cuda_relu_forward;
    b.relu_backward = rlkd_cuda_relu_backward;
    return b;
}

static const rlkd_backend cuda_backend = make_cuda_backend();

extern "C" const rlkd_backend *rlkd_cuda_backend(void)
{
    return &cuda_backend;
}
