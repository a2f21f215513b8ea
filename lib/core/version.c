/* Version and build features. */
#include "internal.h"
#include "../comm/comm_internal.h"

#define RLKD_STR2(x) #x
#define RLKD_STR(x) RLKD_STR2(x)

unsigned rlkd_version_number(void)
{
    return RLKD_VERSION_NUMBER;
}

const char *rlkd_version_string(void)
{
    return RLKD_STR(RLKD_VERSION_MAJOR) "." RLKD_STR(RLKD_VERSION_MINOR) "."
        RLKD_STR(RLKD_VERSION_PATCH);
}

unsigned rlkd_build_features(void)
{
    unsigned features = RLKD_FEATURE_BLAS;
#ifdef _OPENMP
    features |= RLKD_FEATURE_OPENMP;
#endif
    if (rlkd_cuda_backend())
        features |= RLKD_FEATURE_CUDA;
    if (rlkd_nvjpeg_available())
        features |= RLKD_FEATURE_NVJPEG;
    if (rlkd_engines_available())
        features |= RLKD_FEATURE_CUDNN;
    if (rlkd_nccl_available())
        features |= RLKD_FEATURE_NCCL;
    return features;
}
