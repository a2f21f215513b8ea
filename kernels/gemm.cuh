/*
 * The tiled GEMM core of the native convolution and linear layers
 * (conv2d.cu, linear.cu): C[g] = A[g] B[g] for each group g, where A and B
 * are gathered straight from the tensors (implicit GEMM: no im2col buffer)
 * and C is scattered straight into the output tensor.
 *
 * Operands. Each operand is a view (rlkd_gemm_view) of a tensor as a matrix
 * with one "channel" index and one "pixel" index; one of them is the GEMM's
 * reduction index k and the other its row (A) or column (B) index. The
 * pixel index runs over images x a grid of positions, the channel index
 * over channels x kernel taps; element (channel c, tap (i, j), image, grid
 * position (gh, gw)) is
 *   data[image, c, gh * row_step + row0 + tap_h0 + i * tap_h_step,
 *                  gw * col_step + col0 + tap_w0 + j * tap_w_step]
 * and 0 outside height x width. So one view type is the im2col matrix of
 * a convolution's input, forward or for the filter gradient, the gradient
 * gathered by the data gradient, and a plain row-major matrix (one tap, a
 * grid as wide as the rows). A view is "pointwise" when it has one tap at
 * offset 0 and its grid is the tensor's plane: elements are then read
 * without bounds or tap arithmetic (1x1 stride-1 unpadded convolutions,
 * matrices).
 *
 * Tiles. A block computes a BM x BN tile of C, 8 x 8 outputs per thread
 * (BM * BN / 64 threads), going over k BK at a time through two shared
 * buffers: the next tile's global loads are in flight while the current
 * one is multiplied, one barrier per tile. Global loads run along the
 * pixel index, which is the contiguous one in memory: a warp reads 32
 * consecutive pixels, or 8 consecutive pixels of 4 rows where pixels are
 * the reduction index (32-byte sectors either way). Shared tiles are
 * k-major ([BK][BM]), padded so that those stores and the reads of the
 * multiply are free of bank conflicts (4 floats for the FP32 path's
 * 16-byte reads, 8 for the tensor-core fragments' 4-row pattern).
 *
 * BK = 8. FP32 path (RLKD_MATH_FP32): each thread an 8 x 8 register tile
 * from two 4-wide strips of A and of B (16-byte shared reads). TF32 path
 * (RLKD_MATH_TF32): each warp a 64 x 32 tile of m16n8k8 tensor-core
 * products, 16 per tile of k; operands are rounded to TF32 once, when
 * they are stored to shared memory. The 256-thread tile is held to 128
 * registers (two blocks an SM); the smaller tiles may take up to 168
 * (12 warps an SM), which they use rather than spill.
 *
 * Split-K. Where the output alone gives too few threads to fill the GPU
 * (small batches, filter gradients of small layers) the reduction is cut
 * into splits whose partial sums go to a scratch buffer, then added in
 * split order by a second kernel: the same bits on every run.
 */
#ifndef RLKD_GEMM_CUH
#define RLKD_GEMM_CUH

#include "cuda.h"
#include "mma.cuh"
#include "reduce.cuh"

/* Loops over registers are unrolled on the GPU (the emulator's compiler
 * knows no such pragma). */
#ifdef RLKD_CUDA_EMULATED
#define RLKD_UNROLL
#else
#define RLKD_UNROLL _Pragma("unroll")
#endif

/* ---- division by a run-time constant ---- */

/* x / divisor for 0 <= x < 2^31 by a multiply and a shift (the
 * round-up method of Granlund and Montgomery, as in CUTLASS's
 * FastDivmod): index arithmetic on every element stays cheap. */
typedef struct rlkd_fastdiv {
    unsigned mul;
    int shift;
    int divisor;
} rlkd_fastdiv;

/* divisor >= 1; a view's unused divisors (0 taps) are made 1. */
static inline rlkd_fastdiv rlkd_fastdiv_of(int divisor)
{
    if (divisor < 1)
        divisor = 1;
    int log2_up = 0;
    while (((int64_t)1 << log2_up) < divisor)
        log2_up++;
    rlkd_fastdiv f;
    f.shift = 31 + log2_up;
    f.mul = (unsigned)((((uint64_t)1 << f.shift) + (uint64_t)divisor - 1) /
                       (uint64_t)divisor);
    f.divisor = divisor;
    return f;
}

static __device__ __forceinline__ int rlkd_div(const rlkd_fastdiv &f, int x)
{
    return (int)(((uint64_t)(unsigned)x * f.mul) >> f.shift);
}

/* ---- operands and output ---- */

enum { RLKD_GEMM_BK = 8 }; /* the reduction's step: a tile's depth */

/* A tensor seen as a matrix (see the top of this file). All offsets are in
 * floats; the pointer is the first group's. */
typedef struct rlkd_gemm_view {
    const float *data;
    int group_stride, image_stride, channel_stride;
    int height, width;        /* bounds of a general view's positions */
    int channels;             /* per group */
    rlkd_fastdiv taps;        /* taps per channel */
    rlkd_fastdiv taps_w;      /* taps per kernel row */
    int tap_h0, tap_h_step, tap_w0, tap_w_step;
    int pixels;               /* images x grid positions */
    rlkd_fastdiv grid;        /* positions per image */
    rlkd_fastdiv grid_w;      /* positions per grid row */
    int row_step, row0, col_step, col0;
} rlkd_gemm_view;

/* Where C goes: element (g, m, n) at
 *   data + g * group_stride + m * row_stride + position(n)
 * with n = (image, grid row, grid column) placed like a view's pixel,
 * plus the bias of row g * rows + m or of column n, written or (for
 * parameter gradients) added. Partial sums of split s go to
 * data + s * split_stride. */
typedef struct rlkd_gemm_out {
    float *data;
    int split_stride, group_stride, row_stride;
    int image_stride, width;
    rlkd_fastdiv grid, grid_w;
    int row_step, row0, col_step, col0;
    const float *row_bias, *col_bias; /* or NULL */
    int accumulate;
} rlkd_gemm_out;

typedef struct rlkd_gemm_problem {
    int m, n, k, groups;
    int splits, k_per_split;  /* filled by rlkd_gemm_run */
    rlkd_gemm_view a;         /* m x k */
    rlkd_gemm_view b;         /* k x n */
    rlkd_gemm_out out;        /* m x n */
} rlkd_gemm_problem;

/* A view of a row-major matrix [groups][rows][cols] (row stride ld) whose
 * pixels are its columns: element (channel r, pixel c) is data[r * ld + c]. */
static inline rlkd_gemm_view rlkd_matrix_view(const float *data, int rows,
                                              int cols, int ld,
                                              int group_stride)
{
    rlkd_gemm_view v = {};
    v.data = data;
    v.group_stride = group_stride;
    v.channel_stride = ld;
    v.height = 1;
    v.width = cols;
    v.channels = rows;
    v.taps = rlkd_fastdiv_of(1);
    v.taps_w = rlkd_fastdiv_of(1);
    v.pixels = cols;
    v.grid = rlkd_fastdiv_of(cols);
    v.grid_w = rlkd_fastdiv_of(cols);
    v.row_step = 1;
    v.col_step = 1;
    return v;
}

/* Output into a row-major matrix [groups][rows][cols] (row stride ld). */
static inline rlkd_gemm_out rlkd_matrix_out(float *data, int cols, int ld,
                                            int group_stride, int accumulate)
{
    rlkd_gemm_out o = {};
    o.data = data;
    o.group_stride = group_stride;
    o.row_stride = ld;
    o.grid = rlkd_fastdiv_of(cols);
    o.grid_w = rlkd_fastdiv_of(cols);
    o.col_step = 1;
    o.accumulate = accumulate;
    return o;
}

/* Whether a view's elements can be read without bounds or tap arithmetic:
 * one tap at offset 0 and a grid that is the whole plane, unstrided. */
static inline int rlkd_view_is_pointwise(const rlkd_gemm_view *v)
{
    return v->taps.divisor == 1 && v->tap_h0 == 0 && v->tap_w0 == 0 &&
           v->row0 == 0 && v->col0 == 0 && v->row_step == 1 &&
           v->col_step == 1 && v->grid_w.divisor == v->width &&
           v->grid.divisor == v->height * v->width;
}

/* ---- gathering ---- */

/* Marks an index past its view's end: in a general view its row, whose sum
 * with any other stays negative since real rows and tap offsets are below
 * 2^29 (checked by the callers); in a pointwise view its offset (real ones
 * are not negative), so that a pointwise index is one register. */
enum { RLKD_GATHER_OUTSIDE = -(1 << 30) };

/* One channel-and-tap or one pixel of a view: its part of the element's
 * offset and of its row and column (16 bytes: one shared-memory read). */
struct alignas(16) rlkd_gather_index {
    int offset, row, col;
};

template <bool GENERAL>
static __device__ __forceinline__ rlkd_gather_index
rlkd_view_tap(const rlkd_gemm_view &v, int t)
{
    rlkd_gather_index at = {GENERAL ? 0 : RLKD_GATHER_OUTSIDE,
                            RLKD_GATHER_OUTSIDE, 0};
    if (t >= v.channels * v.taps.divisor)
        return at;
    if (!GENERAL) {
        at.offset = t * v.channel_stride;
        return at;
    }
    const int c = rlkd_div(v.taps, t), tap = t - c * v.taps.divisor;
    const int i = rlkd_div(v.taps_w, tap), j = tap - i * v.taps_w.divisor;
    at.row = v.tap_h0 + i * v.tap_h_step;
    at.col = v.tap_w0 + j * v.tap_w_step;
    at.offset = c * v.channel_stride + at.row * v.width + at.col;
    return at;
}

template <bool GENERAL>
static __device__ __forceinline__ rlkd_gather_index
rlkd_view_pixel(const rlkd_gemm_view &v, int p)
{
    rlkd_gather_index at = {GENERAL ? 0 : RLKD_GATHER_OUTSIDE,
                            RLKD_GATHER_OUTSIDE, 0};
    if (p >= v.pixels)
        return at;
    const int image = rlkd_div(v.grid, p), q = p - image * v.grid.divisor;
    if (!GENERAL) {
        at.offset = image * v.image_stride + q;
        return at;
    }
    const int gh = rlkd_div(v.grid_w, q), gw = q - gh * v.grid_w.divisor;
    at.row = gh * v.row_step + v.row0;
    at.col = gw * v.col_step + v.col0;
    at.offset = image * v.image_stride + at.row * v.width + at.col;
    return at;
}

template <bool GENERAL>
static __device__ __forceinline__ float
rlkd_view_load(const rlkd_gemm_view &v, int group_offset,
               rlkd_gather_index tap, rlkd_gather_index pixel)
{
    const bool inside =
        GENERAL ? (unsigned)(pixel.row + tap.row) < (unsigned)v.height &&
                      (unsigned)(pixel.col + tap.col) < (unsigned)v.width
                : (pixel.offset | tap.offset) >= 0;
    return inside ? __ldg(v.data + (group_offset + pixel.offset + tap.offset))
                  : 0.0f;
}

/* Four floats, 16-byte aligned: one shared-memory read of the FP32 path. */
struct alignas(16) rlkd_quad {
    float v[4];
};

/*
 * One operand's share of a BK x BMN shared tile (k-major), per thread:
 * the tile index that stays fixed for the whole block (a row of A or a
 * column of B) is worked out once, the k index at every tile. Lanes run
 * along the pixel index: with pixels along k, 8 lanes take 8 consecutive
 * k of 4 rows; else 32 lanes take 32 consecutive columns of one k.
 * The fixed indices wait in a shared table, read once per tile, rather
 * than in registers: that keeps the kernels within 128 registers.
 */
template <int BMN, int BK, int THREADS, bool GENERAL, bool PIXELS_ALONG_K,
          bool TF32>
struct rlkd_tile_loader {
    static constexpr int WARPS = THREADS / 32;
    static constexpr int FIXED = PIXELS_ALONG_K ? BMN * 8 / THREADS : BMN / 32;
    static constexpr int MOVING = PIXELS_ALONG_K ? BK / 8 : BK / WARPS;
    static constexpr int LDQ = (BMN + (TF32 ? 8 : 4)) / 4;
    static_assert(FIXED * MOVING * THREADS == BMN * BK,
                  "the threads cover the tile once");

    int group_offset;
    const rlkd_gather_index *table; /* [BMN], shared */
    float staged[MOVING][FIXED];

    static __device__ __forceinline__ int k_of(int i)
    {
        return PIXELS_ALONG_K ? (int)threadIdx.x % 8 + 8 * i
                              : (int)threadIdx.x / 32 + WARPS * i;
    }
    static __device__ __forceinline__ int mn_of(int j)
    {
        return PIXELS_ALONG_K ? (int)threadIdx.x / 8 + THREADS / 8 * j
                              : (int)threadIdx.x % 32 + 32 * j;
    }
    static __device__ __forceinline__ rlkd_gather_index
    fixed_index(const rlkd_gemm_view &v, int mn)
    {
        return PIXELS_ALONG_K ? rlkd_view_tap<GENERAL>(v, mn)
                              : rlkd_view_pixel<GENERAL>(v, mn);
    }

    /* The block's fixed indices from mn0 on, into a table of BMN that the
     * whole block fills: a barrier must follow before the first fetch. */
    __device__ __forceinline__ void init(const rlkd_gemm_view &v, int group,
                                         int mn0,
                                         rlkd_gather_index *shared_table)
    {
        group_offset = group * v.group_stride;
        table = shared_table;
        for (int mn = threadIdx.x; mn < BMN; mn += THREADS)
            shared_table[mn] = fixed_index(v, mn0 + mn);
    }

    /* Global -> registers for the tile starting at k0. */
    __device__ __forceinline__ void fetch(const rlkd_gemm_view &v, int k0)
    {
        rlkd_gather_index moving[MOVING];
        RLKD_UNROLL
        for (int i = 0; i < MOVING; i++)
            moving[i] = PIXELS_ALONG_K
                            ? rlkd_view_pixel<GENERAL>(v, k0 + k_of(i))
                            : rlkd_view_tap<GENERAL>(v, k0 + k_of(i));
        RLKD_UNROLL
        for (int j = 0; j < FIXED; j++) {
            const rlkd_gather_index at = table[mn_of(j)];
            RLKD_UNROLL
            for (int i = 0; i < MOVING; i++)
                staged[i][j] =
                    PIXELS_ALONG_K
                        ? rlkd_view_load<GENERAL>(v, group_offset, at,
                                                  moving[i])
                        : rlkd_view_load<GENERAL>(v, group_offset, moving[i],
                                                  at);
        }
    }

    /* Registers -> a shared tile. */
    __device__ __forceinline__ void stash(rlkd_quad (*tile)[LDQ]) const
    {
        RLKD_UNROLL
        for (int i = 0; i < MOVING; i++)
            RLKD_UNROLL
            for (int j = 0; j < FIXED; j++) {
                const int mn = mn_of(j);
                tile[k_of(i)][mn / 4].v[mn % 4] =
                    TF32 ? __uint_as_float(rlkd_to_tf32(staged[i][j]))
                         : staged[i][j];
            }
    }
};

/* ---- the output ---- */

static __device__ __forceinline__ int rlkd_out_position(const rlkd_gemm_out &o,
                                                        int n)
{
    const int image = rlkd_div(o.grid, n), q = n - image * o.grid.divisor;
    const int gh = rlkd_div(o.grid_w, q), gw = q - gh * o.grid_w.divisor;
    return image * o.image_stride + (gh * o.row_step + o.row0) * o.width +
           gw * o.col_step + o.col0;
}

/* Stores C's (g, m, n) = sum at `at` (its row and position added to the
 * group's pointer). */
static __device__ __forceinline__ void rlkd_out_put(const rlkd_gemm_out &o,
                                                    float *at, int bias_row,
                                                    int n, float sum)
{
    if (o.row_bias)
        sum += __ldg(o.row_bias + bias_row);
    if (o.col_bias)
        sum += __ldg(o.col_bias + n);
    *at = o.accumulate ? *at + sum : sum;
}

/* ---- the kernels ---- */

/* Which of C's elements thread threadIdx.x holds: acc[i][j] is row
 * row(i), column col(j) of the block's tile. FP32: thread (ty, tx) the rows
 * ty*4 + [0,4) and BM/2 + ty*4 + [0,4), the columns likewise (two 4-wide
 * strips each: 16-byte shared reads without conflicts). TF32: warp
 * (wm, wn) a 64 x 32 tile, 4 x 4 m16n8 fragments whose c0..c3 lane
 * (g, t) = (lane / 4, lane % 4) holds at (g, 2t), (g, 2t+1), (g+8, 2t),
 * (g+8, 2t+1): acc[2mi + half][2ni + e]. */
template <int BM, int BN, bool TF32> struct rlkd_gemm_layout {
    static __device__ __forceinline__ int row(int i)
    {
        if constexpr (TF32)
            return (int)threadIdx.x / 32 / (BN / 32) * 64 + i / 2 * 16 +
                   i % 2 * 8 + (int)threadIdx.x % 32 / 4;
        else
            return (int)threadIdx.x / (BN / 8) * 4 + i % 4 + i / 4 * (BM / 2);
    }
    static __device__ __forceinline__ int col(int j)
    {
        if constexpr (TF32)
            return (int)threadIdx.x / 32 % (BN / 32) * 32 + j / 2 * 8 +
                   (int)threadIdx.x % 4 * 2 + j % 2;
        else
            return (int)threadIdx.x % (BN / 8) * 4 + j % 4 + j / 4 * (BN / 2);
    }
};

/* acc += the product of one shared A tile [BK][BM] and B tile [BK][BN]. */
template <int BM, int BN, int LDA, int LDB, bool TF32>
static __device__ __forceinline__ void
rlkd_gemm_tile_product(float (&acc)[8][8], const rlkd_quad (*as)[LDA],
                       const rlkd_quad (*bs)[LDB])
{
    typedef rlkd_gemm_layout<BM, BN, TF32> layout;
    if constexpr (TF32) {
        /* One k8 step. Lane (g, t) reads A's rows and B's columns g (+8)
         * of each fragment at k t and t + 4; the warp's tile starts at
         * (row(0) - g, col(0) - 2t). */
        const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
        const int a_row = layout::row(0), b_col = layout::col(0) - 2 * t + g;
        uint32_t b[4][2];
        RLKD_UNROLL
        for (int ni = 0; ni < 4; ni++) {
            const int col = b_col + ni * 8;
            b[ni][0] = __float_as_uint(bs[t][col / 4].v[col % 4]);
            b[ni][1] = __float_as_uint(bs[t + 4][col / 4].v[col % 4]);
        }
        /* A's fragments one m16 row at a time: fewer live registers. */
        RLKD_UNROLL
        for (int mi = 0; mi < 4; mi++) {
            const int row = a_row + mi * 16, row8 = row + 8;
            const uint32_t a[4] = {
                __float_as_uint(as[t][row / 4].v[row % 4]),
                __float_as_uint(as[t][row8 / 4].v[row8 % 4]),
                __float_as_uint(as[t + 4][row / 4].v[row % 4]),
                __float_as_uint(as[t + 4][row8 / 4].v[row8 % 4])};
            RLKD_UNROLL
            for (int ni = 0; ni < 4; ni++) {
                float c[4] = {acc[2 * mi][2 * ni], acc[2 * mi][2 * ni + 1],
                              acc[2 * mi + 1][2 * ni],
                              acc[2 * mi + 1][2 * ni + 1]};
                rlkd_mma_m16n8k8_tf32(c, a, b[ni], c);
                acc[2 * mi][2 * ni] = c[0];
                acc[2 * mi][2 * ni + 1] = c[1];
                acc[2 * mi + 1][2 * ni] = c[2];
                acc[2 * mi + 1][2 * ni + 1] = c[3];
            }
        }
    } else {
        const int ty = layout::row(0) / 4, tx = layout::col(0) / 4;
        RLKD_UNROLL
        for (int k = 0; k < RLKD_GEMM_BK; k++) {
            const rlkd_quad a_lo = as[k][ty], a_hi = as[k][ty + BM / 8];
            const rlkd_quad b_lo = bs[k][tx], b_hi = bs[k][tx + BN / 8];
            RLKD_UNROLL
            for (int i = 0; i < 8; i++)
                RLKD_UNROLL
                for (int j = 0; j < 8; j++)
                    acc[i][j] += (i < 4 ? a_lo.v[i] : a_hi.v[i - 4]) *
                                 (j < 4 ? b_lo.v[j] : b_hi.v[j - 4]);
        }
    }
}

/* Blocks an SM that __launch_bounds__ asks registers for (see the top). */
constexpr int rlkd_gemm_min_blocks(int threads)
{
    return threads == 256 ? 2 : 384 / threads;
}

template <int BM, int BN, bool TF32, bool A_GENERAL, bool A_PIXELS_ALONG_K,
          bool B_GENERAL, bool B_PIXELS_ALONG_K>
__global__ void __launch_bounds__(BM * BN / 64,
                                  rlkd_gemm_min_blocks(BM * BN / 64))
rlkd_gemm_kernel(const rlkd_gemm_problem p)
{
    constexpr int THREADS = BM * BN / 64, BK = RLKD_GEMM_BK;
    typedef rlkd_tile_loader<BM, BK, THREADS, A_GENERAL, A_PIXELS_ALONG_K, TF32>
        a_loader_t;
    typedef rlkd_tile_loader<BN, BK, THREADS, B_GENERAL, B_PIXELS_ALONG_K, TF32>
        b_loader_t;
    typedef rlkd_gemm_layout<BM, BN, TF32> layout;
    __shared__ rlkd_quad a_tiles[2][BK][a_loader_t::LDQ];
    __shared__ rlkd_quad b_tiles[2][BK][b_loader_t::LDQ];
    __shared__ rlkd_gather_index a_table[BM], b_table[BN];

    const int group = blockIdx.z / p.splits, split = blockIdx.z % p.splits;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    /* k_per_split is a multiple of BK: a split's last tile reaches past
     * its end only at k, where the views end. */
    const int k_begin = split * p.k_per_split;
    const int k_end =
        p.k - k_begin < p.k_per_split ? p.k : k_begin + p.k_per_split;
    const int tiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;

    a_loader_t a_loader;
    b_loader_t b_loader;
    a_loader.init(p.a, group, m0, a_table);
    b_loader.init(p.b, group, n0, b_table);
    __syncthreads();

    float acc[8][8];
    RLKD_UNROLL
    for (int i = 0; i < 8; i++)
        RLKD_UNROLL
        for (int j = 0; j < 8; j++)
            acc[i][j] = 0.0f;

    if (tiles > 0) {
        a_loader.fetch(p.a, k_begin);
        b_loader.fetch(p.b, k_begin);
        a_loader.stash(a_tiles[0]);
        b_loader.stash(b_tiles[0]);
    }
    __syncthreads();
    for (int tile = 0; tile < tiles; tile++) {
        const int cur = tile & 1;
        if (tile + 1 < tiles) {
            a_loader.fetch(p.a, k_begin + (tile + 1) * BK);
            b_loader.fetch(p.b, k_begin + (tile + 1) * BK);
        }
        rlkd_gemm_tile_product<BM, BN, a_loader_t::LDQ, b_loader_t::LDQ,
                               TF32>(acc, a_tiles[cur], b_tiles[cur]);
        if (tile + 1 < tiles) {
            a_loader.stash(a_tiles[cur ^ 1]);
            b_loader.stash(b_tiles[cur ^ 1]);
        }
        __syncthreads();
    }

    float *out = p.out.data + split * p.out.split_stride +
                 group * p.out.group_stride;
    int position[8];
    RLKD_UNROLL
    for (int j = 0; j < 8; j++) {
        const int n = n0 + layout::col(j);
        position[j] = n < p.n ? rlkd_out_position(p.out, n) : -1;
    }
    RLKD_UNROLL
    for (int i = 0; i < 8; i++) {
        const int m = m0 + layout::row(i);
        if (m >= p.m)
            continue;
        RLKD_UNROLL
        for (int j = 0; j < 8; j++)
            if (position[j] >= 0)
                rlkd_out_put(p.out, out + m * p.out.row_stride + position[j],
                             group * p.m + m, n0 + layout::col(j), acc[i][j]);
    }
}

/* out = the sum of the splits' partial C's [splits][groups][m][n], in
 * split order. */
static __global__ void rlkd_gemm_reduce_kernel(const float *partials,
                                               int splits, int m, int n,
                                               int groups,
                                               const rlkd_gemm_out out)
{
    const int per_group = m * n, count = groups * per_group;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < count;
         e += gridDim.x * blockDim.x) {
        float sum = 0.0f;
        for (int s = 0; s < splits; s++)
            sum += __ldg(partials + (size_t)s * count + e);
        const int group = e / per_group, r = e - group * per_group;
        const int row = r / n, col = r - row * n;
        rlkd_out_put(out,
                     out.data + group * out.group_stride +
                         row * out.row_stride + rlkd_out_position(out, col),
                     group * m + row, col, sum);
    }
}

/* dbias[c] += the sum of dy[image, c, :] over images and positions (`plane`
 * floats each), one block per channel, in a fixed order. */
static __global__ void rlkd_bias_grad_kernel(float *dbias, const float *dy,
                                             int images, int channels,
                                             rlkd_fastdiv plane)
{
    const int c = blockIdx.x, count = images * plane.divisor;
    float sum = 0.0f;
    for (int r = threadIdx.x; r < count; r += blockDim.x) {
        const int image = rlkd_div(plane, r);
        sum += __ldg(dy + ((size_t)image * channels + c) * plane.divisor +
                     (r - image * plane.divisor));
    }
    sum = rlkd_block_sum(sum);
    if (threadIdx.x == 0)
        dbias[c] += sum;
}

/* ---- launching ---- */

/* An H100/H200 has 132 SMs, each holding 384 to 512 threads of these
 * kernels: below about that many threads the GPU idles. */
enum { RLKD_GEMM_FULL_WAVE_THREADS = 132 * 512 };
/* Splits are kept at least this long (16 FP32 tiles), at most this many,
 * and their partial sums within this many bytes. */
enum { RLKD_GEMM_MIN_SPLIT_K = 128, RLKD_GEMM_MAX_SPLITS = 256 };
static const size_t rlkd_gemm_max_partial_bytes = (size_t)64 << 20;

template <int BM, int BN, bool A_GENERAL, bool A_PIXELS_ALONG_K,
          bool B_GENERAL, bool B_PIXELS_ALONG_K>
static rlkd_status rlkd_gemm_launch(rlkd_context *ctx,
                                    const rlkd_gemm_problem *p)
{
    const dim3 grid((unsigned)((p->n + BN - 1) / BN),
                    (unsigned)((p->m + BM - 1) / BM),
                    (unsigned)(p->groups * p->splits));
    if (ctx->math == RLKD_MATH_TF32)
        RLKD_LAUNCH(grid, BM * BN / 64, 0, ctx,
                    rlkd_gemm_kernel<BM, BN, true, A_GENERAL, A_PIXELS_ALONG_K,
                                     B_GENERAL, B_PIXELS_ALONG_K>)(*p);
    else
        RLKD_LAUNCH(grid, BM * BN / 64, 0, ctx,
                    rlkd_gemm_kernel<BM, BN, false, A_GENERAL,
                                     A_PIXELS_ALONG_K, B_GENERAL,
                                     B_PIXELS_ALONG_K>)(*p);
    return rlkd_cuda_launched("rlkd_gemm_kernel");
}

/*
 * Runs C = A B for every group on the context's stream, in its math mode.
 * The tile is 128 or 64 in each dimension (64 where the matrix has no
 * more), and the reduction is split while the blocks have fewer threads
 * than a full GPU and the splits stay long. `op` names the caller in
 * messages. Views where A_GENERAL / B_GENERAL is false must be pointwise.
 */
template <bool A_GENERAL, bool A_PIXELS_ALONG_K, bool B_GENERAL,
          bool B_PIXELS_ALONG_K>
static rlkd_status rlkd_gemm_run(rlkd_context *ctx, rlkd_gemm_problem p,
                                 const char *op)
{
    const int bm = p.m > 64 ? 128 : 64, bn = p.n > 64 ? 128 : 64;
    const int64_t tiles_m = (p.m + bm - 1) / bm, tiles_n = (p.n + bn - 1) / bn;
    if (tiles_m > 65535 || p.groups > 65535)
        return rlkd_fail(RLKD_ERR_UNSUPPORTED,
                         "%s: a GEMM of %d x %d in %d groups is beyond the "
                         "native kernels' grid", op, p.m, p.n, p.groups);
    const int64_t threads = tiles_m * tiles_n * p.groups * (bm * bn / 64);
    const int64_t out_bytes = (int64_t)p.groups * p.m * p.n * 4;
    int64_t splits = (RLKD_GEMM_FULL_WAVE_THREADS + threads - 1) / threads;
    if (splits > p.k / RLKD_GEMM_MIN_SPLIT_K)
        splits = p.k / RLKD_GEMM_MIN_SPLIT_K;
    if (splits > RLKD_GEMM_MAX_SPLITS)
        splits = RLKD_GEMM_MAX_SPLITS;
    if (splits > (int64_t)(rlkd_gemm_max_partial_bytes / out_bytes))
        splits = (int64_t)(rlkd_gemm_max_partial_bytes / out_bytes);
    if (splits > 65535 / p.groups)
        splits = 65535 / p.groups;
    if (splits < 1)
        splits = 1;
    const int64_t per_split = (p.k + splits - 1) / splits;
    p.k_per_split = (int)((per_split + RLKD_GEMM_BK - 1) / RLKD_GEMM_BK *
                          RLKD_GEMM_BK);
    if (p.k_per_split < RLKD_GEMM_BK)
        p.k_per_split = RLKD_GEMM_BK;
    p.splits = (int)((p.k + p.k_per_split - 1) / p.k_per_split);
    if (p.splits < 1)
        p.splits = 1;

    const rlkd_gemm_out final_out = p.out;
    float *partials = NULL;
    if (p.splits > 1) {
        RLKD_TRY(rlkd_cuda_alloc(ctx, (void **)&partials,
                                 (size_t)p.splits * (size_t)out_bytes));
        p.out = rlkd_matrix_out(partials, p.n, p.n, p.m * p.n, 0);
        p.out.split_stride = p.groups * p.m * p.n;
    }
    rlkd_status status;
    if (bm == 128 && bn == 128)
        status = rlkd_gemm_launch<128, 128, A_GENERAL, A_PIXELS_ALONG_K,
                                  B_GENERAL, B_PIXELS_ALONG_K>(ctx, &p);
    else if (bm == 128)
        status = rlkd_gemm_launch<128, 64, A_GENERAL, A_PIXELS_ALONG_K,
                                  B_GENERAL, B_PIXELS_ALONG_K>(ctx, &p);
    else if (bn == 128)
        status = rlkd_gemm_launch<64, 128, A_GENERAL, A_PIXELS_ALONG_K,
                                  B_GENERAL, B_PIXELS_ALONG_K>(ctx, &p);
    else
        status = rlkd_gemm_launch<64, 64, A_GENERAL, A_PIXELS_ALONG_K,
                                  B_GENERAL, B_PIXELS_ALONG_K>(ctx, &p);
    if (status == RLKD_OK && partials) {
        RLKD_LAUNCH(rlkd_cuda_blocks((size_t)p.groups * p.m * p.n),
                    RLKD_CUDA_BLOCK, 0, ctx,
                    rlkd_gemm_reduce_kernel)(partials, p.splits, p.m, p.n,
                                             p.groups, final_out);
        status = rlkd_cuda_launched("rlkd_gemm_reduce_kernel");
    }
    rlkd_cuda_release(ctx, partials);
    return status;
}

/* dbias += dy summed over images and positions, per channel. */
static inline rlkd_status rlkd_bias_grad(rlkd_context *ctx, float *dbias,
                                         const float *dy, int images,
                                         int channels, int plane)
{
    RLKD_LAUNCH(channels, RLKD_CUDA_BLOCK, 0, ctx,
                rlkd_bias_grad_kernel)(dbias, dy, images, channels,
                                       rlkd_fastdiv_of(plane));
    return rlkd_cuda_launched("rlkd_bias_grad_kernel");
}

#endif
