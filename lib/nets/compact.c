/*
 * Physical compaction (rlkd_net_prune_compact): the network the masks
 * describe, built layer by layer with the kept channel counts and its
 * tensors sliced out of the masked network's.
 *
 * Every tensor is a [rows][column groups][inner] block: a convolution's
 * weight is [out][in][k*k], a linear layer's [out][channels][h*w] (its
 * input is flattened), an SE fc1 weight [hidden][channels][1]; the slice
 * keeps the rows and column groups of the kept channels.
 */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

/* Which rows and column groups of a tensor stay (NULL: all of them). */
typedef struct slicing {
    int rows, groups, inner;           /* the source's shape */
    const int *row_index, *group_index;
    int kept_rows, kept_groups;
} slicing;

static void slice(float *dst, const float *src, const slicing *s)
{
    for (int r = 0; r < s->kept_rows; r++) {
        const int row = s->row_index ? s->row_index[r] : r;
        for (int g = 0; g < s->kept_groups; g++) {
            const int group = s->group_index ? s->group_index[g] : g;
            memcpy(dst + ((size_t)r * s->kept_groups + g) * s->inner,
                   src + ((size_t)row * s->groups + group) * s->inner,
                   (size_t)s->inner * sizeof *dst);
        }
    }
}

/* Copies src into dst through a slicing (F32), or whole (I32 buffers). */
static rlkd_status copy_sliced(rlkd_tensor *dst, const rlkd_tensor *src,
                               const slicing *s)
{
    if (rlkd_tensor_dtype(src) == RLKD_DTYPE_I32) {
        int32_t value[1];
        RLKD_TRY(rlkd_tensor_read_i32(src, value, 1));
        return rlkd_tensor_write_i32(dst, value, 1);
    }
    float *from = malloc((size_t)src->numel * sizeof *from);
    float *to = malloc((size_t)dst->numel * sizeof *to);
    rlkd_status status =
        from && to ? rlkd_tensor_read(src, from, (size_t)src->numel)
                   : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                               "rlkd_net_prune_compact: out of host memory");
    if (status == RLKD_OK) {
        slice(to, from, s);
        status = rlkd_tensor_write(dst, to, (size_t)dst->numel);
    }
    free(from);
    free(to);
    return status;
}

/* The slicing of tensor k of layer l (parameters, then buffers), given the
 * kept channels of its input (in) and output (out). */
static slicing slicing_of(const rlkd_net *net, const rlkd_layer *l, int k,
                          const rlkd_tensor *t, const int *in, int kept_in,
                          const int *out, int kept_out)
{
    const int64_t rows = rlkd_tensor_dim(t, 0);
    const int64_t per_row = t->numel / rows;
    int in_c, in_h, in_w;
    rlkd_net_node_dims(net, l->inputs[0], &in_c, &in_h, &in_w);
    /* default: every entry */
    slicing s = {(int)rows, 1, (int)per_row, NULL, NULL, (int)rows, 1};
    switch (l->spec.kind) {
    case RLKD_LAYER_CONV2D:
        s.row_index = out;
        s.kept_rows = kept_out;
        if (k == 0 && l->spec.groups == 1) { /* weight [out][in][k*k] */
            s = (slicing){(int)rows, in_c, (int)(per_row / in_c), out, in,
                          kept_out, kept_in};
        }
        break;
    case RLKD_LAYER_BATCHNORM2D: /* num_batches_tracked (I32) is copied */
        s.row_index = out;
        s.kept_rows = kept_out;
        break;
    case RLKD_LAYER_LINEAR:
        if (k == 0) /* weight [out][channels][h*w] */
            s = (slicing){(int)rows, in_c, in_h * in_w, NULL, in, (int)rows,
                          kept_in};
        break;
    case RLKD_LAYER_SE:
    case RLKD_LAYER_CBAM:
        if (k == 0) { /* fc1.weight [hidden][channels] */
            s = (slicing){(int)rows, in_c, 1, NULL, in, (int)rows, kept_in};
        } else if (k == 2 || k == 3) { /* fc2.weight, fc2.bias: [channels] */
            s.row_index = out;
            s.kept_rows = kept_out;
        }
        break;
    default: /* ECA (never masked), no parameters */
        break;
    }
    return s;
}

/* Appends layer i of net to small with its kept channel counts. */
static rlkd_status append_compacted(rlkd_net *small, const rlkd_net *net,
                                    int i, int kept_in, int kept_out)
{
    const rlkd_layer *l = &net->layers[i];
    rlkd_layer_spec spec = l->spec;
    int in_c, in_h, in_w;
    rlkd_net_node_dims(net, l->inputs[0], &in_c, &in_h, &in_w);
    if (spec.kind == RLKD_LAYER_CONV2D) {
        if (spec.groups > 1) /* depthwise: groups follow the channels */
            spec.groups = kept_in;
        spec.out_channels = kept_out;
    } else if (spec.kind == RLKD_LAYER_SE || spec.kind == RLKD_LAYER_CBAM) {
        /* the MLP keeps its width: its weights are sliced, not resized */
        spec.hidden = spec.hidden ? spec.hidden
                      : in_c / spec.reduction > 1 ? in_c / spec.reduction
                                                  : 1;
    }
    int node;
    return rlkd_net_append(small, &node, l->name, l->inputs, l->input_count,
                           &spec, 0);
}

/* Copies layer i's tensors from net into small, sliced. */
static rlkd_status copy_layer(rlkd_net *small, const rlkd_net *net, int i,
                              const int *in, int kept_in, const int *out,
                              int kept_out)
{
    const rlkd_layer *from = &net->layers[i], *to = &small->layers[i];
    const int count = from->param_count + from->buffer_count;
    for (int k = 0; k < count; k++) {
        const int is_param = k < from->param_count;
        const rlkd_tensor *src =
            is_param ? net->params[from->param_first + k].value
                     : net->buffers[from->buffer_first + k -
                                    from->param_count].value;
        rlkd_tensor *dst =
            is_param ? small->params[to->param_first + k].value
                     : small->buffers[to->buffer_first + k -
                                      from->param_count].value;
        const slicing s =
            slicing_of(net, from, k, src, in, kept_in, out, kept_out);
        RLKD_TRY(copy_sliced(dst, src, &s));
    }
    return RLKD_OK;
}

static rlkd_status build(rlkd_net *small, rlkd_net *net, int *in, int *out)
{
    for (int i = 0; i < net->layer_count; i++) {
        const rlkd_layer *l = &net->layers[i];
        const int kept_in = rlkd_prune_kept_index(net, l->inputs[0], in);
        const int kept_out = rlkd_prune_kept_index(net, i + 1, out);
        RLKD_TRY(append_compacted(small, net, i, kept_in, kept_out));
        RLKD_TRY(copy_layer(small, net, i, in, kept_in, out, kept_out));
    }
    return RLKD_OK;
}

rlkd_status rlkd_net_prune_compact(rlkd_net *net, rlkd_net **out)
{
    static const char op[] = "rlkd_net_prune_compact";
    struct rlkd_prune_state *st;
    RLKD_TRY(rlkd_net_check_out(out, op, "out"));
    *out = NULL;
    RLKD_TRY(rlkd_prune_state_of(net, op, &st));
    int widest = net->in_c;
    for (int i = 0; i < net->layer_count; i++)
        if (net->layers[i].out_c > widest)
            widest = net->layers[i].out_c;
    int *in = malloc((size_t)widest * sizeof *in);
    int *kept = malloc((size_t)widest * sizeof *kept);
    rlkd_net *small = NULL;
    rlkd_status status =
        in && kept ? rlkd_net_create(net->ctx, net->in_c, net->in_h,
                                     net->in_w, &small)
                   : rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                               "%s: out of host memory", op);
    if (status == RLKD_OK)
        status = build(small, net, in, kept);
    free(in);
    free(kept);
    if (status != RLKD_OK) {
        rlkd_net_destroy(small);
        return status;
    }
    *out = small;
    return RLKD_OK;
}
