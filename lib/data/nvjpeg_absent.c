/* Linked instead of kernels/image_decode.cu in a build without nvJPEG (make
 * CUDA=0 or NVJPEG=0): the loader refuses decode_device RLKD_DEVICE_CUDA
 * (rlkd_nvjpeg_available), so the decoder's calls are never reached. */
#include "data_internal.h"

int rlkd_nvjpeg_available(void)
{
    return 0;
}

rlkd_status rlkd_image_decoder_create(rlkd_context *ctx, const char *op,
                                      int batch, int side,
                                      const float *level_values,
                                      rlkd_image_decoder **out)
{
    (void)ctx, (void)batch, (void)side, (void)level_values;
    *out = NULL;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no nvJPEG in this build", op);
}

void rlkd_image_decoder_destroy(rlkd_image_decoder *decoder)
{
    (void)decoder;
}

rlkd_status rlkd_image_decoder_run(rlkd_image_decoder *decoder, const char *op,
                                   float *dst, rlkd_device_image *images,
                                   int n)
{
    (void)decoder, (void)dst, (void)images, (void)n;
    return rlkd_fail(RLKD_ERR_INTERNAL, "%s: no nvJPEG in this build", op);
}
