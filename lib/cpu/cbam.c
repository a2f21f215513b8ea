/* STUB: replaced by the real implementation */
#include "cpu.h"

rlkd_status rlkd_cpu_cbam_forward(rlkd_context *ctx, float *y, const float *x,
                                  const float *w1, const float *b1,
                                  const float *w2, const float *b2,
                                  const float *ws, const float *bs,
                                  const rlkd_attention_geom *g)
{
    (void)ctx;
    (void)y;
    (void)x;
    (void)w1;
    (void)b1;
    (void)w2;
    (void)b2;
    (void)ws;
    (void)bs;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

rlkd_status rlkd_cpu_cbam_backward(rlkd_context *ctx, float *dx, float *dw1,
                                   float *db1, float *dw2, float *db2,
                                   float *dws, float *dbs, const float *dy,
                                   const float *x, const float *w1,
                                   const float *b1, const float *w2,
                                   const float *b2, const float *ws,
                                   const float *bs,
                                   const rlkd_attention_geom *g)
{
    (void)ctx;
    (void)dx;
    (void)dw1;
    (void)db1;
    (void)dw2;
    (void)db2;
    (void)dws;
    (void)dbs;
    (void)dy;
    (void)x;
    (void)w1;
    (void)b1;
    (void)w2;
    (void)b2;
    (void)ws;
    (void)bs;
    (void)g;
    return rlkd_fail(RLKD_ERR_UNSUPPORTED, "stub");
}

