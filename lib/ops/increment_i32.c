/* rlkd_increment_i32: the library's own counters, on their device. */
#include "../core/internal.h"

rlkd_status rlkd_increment_i32(rlkd_tensor *t)
{
    static const char op[] = "rlkd_increment_i32";
    if (!t)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    RLKD_TRY(rlkd_check_tensor(t->ctx, op, "t", t, RLKD_DTYPE_I32));
    return RLKD_DISPATCH(t->ctx, increment_i32, rlkd_i32(t), (size_t)t->numel);
}
