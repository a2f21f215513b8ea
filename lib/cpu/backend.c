/* The CPU backend's table. */
#include "cpu.h"

static rlkd_status copy_host(rlkd_context *ctx, void *dst, const void *src,
                             size_t bytes)
{
    return rlkd_cpu_copy(ctx, dst, src, bytes);
}

static const rlkd_backend cpu_backend = {
    .name = "cpu",
    .context_release = rlkd_cpu_context_release,
    .alloc = rlkd_cpu_alloc,
    .release = rlkd_cpu_release,
    .copy_from_host = copy_host,
    .copy_to_host = copy_host,
    .copy = rlkd_cpu_copy,
    .fill = rlkd_cpu_fill,
    .fill_random = rlkd_cpu_fill_random,
    .add = rlkd_cpu_add,
    .increment_i32 = rlkd_cpu_increment_i32,
    .relu_forward = rlkd_cpu_relu_forward,
    .relu_backward = rlkd_cpu_relu_backward,
    .dropout_forward = rlkd_cpu_dropout_forward,
    .dropout_backward = rlkd_cpu_dropout_backward,
    .channel_mask = rlkd_cpu_channel_mask,
    .conv2d_forward = rlkd_cpu_conv2d_forward,
    .conv2d_backward = rlkd_cpu_conv2d_backward,
    .linear_forward = rlkd_cpu_linear_forward,
    .linear_backward = rlkd_cpu_linear_backward,
    .batchnorm2d_forward = rlkd_cpu_batchnorm2d_forward,
    .batchnorm2d_backward = rlkd_cpu_batchnorm2d_backward,
    .maxpool2d_forward = rlkd_cpu_maxpool2d_forward,
    .maxpool2d_backward = rlkd_cpu_maxpool2d_backward,
    .avgpool2d_forward = rlkd_cpu_avgpool2d_forward,
    .avgpool2d_backward = rlkd_cpu_avgpool2d_backward,
    .global_avgpool_forward = rlkd_cpu_global_avgpool_forward,
    .global_avgpool_backward = rlkd_cpu_global_avgpool_backward,
    .concat_forward = rlkd_cpu_concat_forward,
    .concat_backward = rlkd_cpu_concat_backward,
    .softmax_cross_entropy = rlkd_cpu_softmax_cross_entropy,
    .kd_loss = rlkd_cpu_kd_loss,
    .attention_transfer_loss = rlkd_cpu_attention_transfer_loss,
    .se_forward = rlkd_cpu_se_forward,
    .se_backward = rlkd_cpu_se_backward,
    .eca_forward = rlkd_cpu_eca_forward,
    .eca_backward = rlkd_cpu_eca_backward,
    .cbam_forward = rlkd_cpu_cbam_forward,
    .cbam_backward = rlkd_cpu_cbam_backward,
    .sgd_step = rlkd_cpu_sgd_step,
    .adam_step = rlkd_cpu_adam_step,
};

const rlkd_backend *rlkd_cpu_backend(void)
{
    return &cpu_backend;
}
