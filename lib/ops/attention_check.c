/* Argument checks shared by the public SE, ECA and CBAM wrappers. */
#include "attention_check.h"

rlkd_status rlkd_check_attention_input(const rlkd_context *ctx, const char *op,
                                       const rlkd_tensor *x,
                                       rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, "x", x, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "x", x, 4));
    *g = (rlkd_attention_geom){
        .n = (int)x->shape[0],
        .c = (int)x->shape[1],
        .h = (int)x->shape[2],
        .w = (int)x->shape[3],
    };
    return RLKD_OK;
}

/* The MLP's tensors in the order w1, b1, w2, b2 (or their gradients), each
 * shaped for g. The biases are optional; the weights only when
 * `weights_optional`. */
static rlkd_status check_mlp_tensors(const rlkd_context *ctx, const char *op,
                                     const char *const names[4],
                                     const rlkd_tensor *const tensors[4],
                                     int weights_optional,
                                     const rlkd_attention_geom *g)
{
    const int64_t shapes[4][2] = {
        {g->hidden, g->c}, {g->hidden, 0}, {g->c, g->hidden}, {g->c, 0}};
    for (int i = 0; i < 4; i++) {
        int is_weight = i % 2 == 0;
        RLKD_TRY(rlkd_check_f32_shaped(
            ctx, op, names[i], tensors[i], !is_weight || weights_optional,
            is_weight ? 2 : 1, shapes[i]));
    }
    return RLKD_OK;
}

rlkd_status rlkd_check_attention_mlp(const rlkd_context *ctx, const char *op,
                                     const rlkd_tensor *w1,
                                     const rlkd_tensor *b1,
                                     const rlkd_tensor *w2,
                                     const rlkd_tensor *b2,
                                     rlkd_attention_geom *g)
{
    RLKD_TRY(rlkd_check_tensor(ctx, op, "w1", w1, RLKD_DTYPE_F32));
    RLKD_TRY(rlkd_expect_ndim(op, "w1", w1, 2));
    /* tensors have no empty dimensions, so hidden >= 1 */
    g->hidden = (int)w1->shape[0];
    static const char *const names[4] = {"w1", "b1", "w2", "b2"};
    const rlkd_tensor *const tensors[4] = {w1, b1, w2, b2};
    return check_mlp_tensors(ctx, op, names, tensors, 0, g);
}

rlkd_status rlkd_check_attention_mlp_grads(const rlkd_context *ctx,
                                           const char *op,
                                           const rlkd_tensor *dw1,
                                           const rlkd_tensor *db1,
                                           const rlkd_tensor *dw2,
                                           const rlkd_tensor *db2,
                                           const rlkd_attention_geom *g)
{
    static const char *const names[4] = {"dw1", "db1", "dw2", "db2"};
    const rlkd_tensor *const tensors[4] = {dw1, db1, dw2, db2};
    return check_mlp_tensors(ctx, op, names, tensors, 1, g);
}

rlkd_status rlkd_check_odd_kernel(const char *op, const char *name,
                                  const rlkd_tensor *t, int dim, int *kernel)
{
    int64_t size = t->shape[dim];
    if (size % 2 == 0) {
        char got[96];
        rlkd_format_shape(got, sizeof got, t);
        return rlkd_fail(RLKD_ERR_SHAPE,
                         "%s: %s has shape %s; its kernel size %lld must be "
                         "odd", op, name, got, (long long)size);
    }
    *kernel = (int)size;
    return RLKD_OK;
}
