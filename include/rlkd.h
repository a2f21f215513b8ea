/**
 * @file
 * rlkd.h - the whole public API of rlkd, and its reference manual.
 *
 * rlkd compresses convolutional networks by reinforcement-learning channel
 * pruning and knowledge distillation. This header is the only public one;
 * everything not declared here is private and may change at any time.
 *
 * ABI promise
 * -----------
 *  - Within one major version, a program built against an older header runs
 *    against a newer library: functions are only added, enum values are only
 *    appended, and signatures never change (new behaviour gets a new name,
 *    e.g. `_v2`).
 *  - Handles are opaque. Public structs that may grow carry their size first.
 *  - No public type changes with build flags: a build without CUDA exports
 *    the same symbols, and its CUDA calls answer RLKD_ERR_UNSUPPORTED.
 *
 * Conventions
 * -----------
 *  - Every fallible call returns an rlkd_status (RLKD_OK == 0) and writes its
 *    results through out-pointers. On failure, rlkd_last_error() gives this
 *    thread's detailed message. The library never exits, aborts or prints.
 *  - Argument order: context, outputs, inputs, then sizes and settings.
 *  - Tensors are float32 (labels int32), row-major, NCHW for images.
 *  - Ops never allocate their outputs: the caller creates output tensors of
 *    the right shape, and a wrong shape is an RLKD_ERR_SHAPE.
 *  - Backward: parameter gradients ACCUMULATE (+=) into their tensors, so a
 *    trainer zeroes them once per step; activation gradients (dx) are
 *    WRITTEN (=). Any gradient output may be NULL when it is not wanted.
 *  - All tensors passed to one call must live on the call's context device.
 *  - Outputs must not share memory with inputs, except where an op says
 *    "may be x" (in place).
 *  - Scalars such as dloss, alpha or a learning rate must be finite.
 *  - A context is not thread-safe: use one context per thread, or serialise.
 */
#ifndef RLKD_H
#define RLKD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define RLKD_API
#elif defined(__GNUC__)
#define RLKD_API __attribute__((visibility("default")))
#else
#define RLKD_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define RLKD_VERSION_MAJOR 0
#define RLKD_VERSION_MINOR 1
#define RLKD_VERSION_PATCH 0
#define RLKD_VERSION_NUMBER \
    (RLKD_VERSION_MAJOR * 10000 + RLKD_VERSION_MINOR * 100 + RLKD_VERSION_PATCH)

/** The library's version as major*10000 + minor*100 + patch (run time). */
RLKD_API unsigned rlkd_version_number(void);
/** The library's version as "MAJOR.MINOR.PATCH"; static storage. */
RLKD_API const char *rlkd_version_string(void);

/** Features compiled into this build, as a bit set of rlkd_feature. */
typedef enum rlkd_feature {
    RLKD_FEATURE_OPENMP = 1u << 0, /**< CPU ops run on several threads */
    RLKD_FEATURE_BLAS   = 1u << 1, /**< CPU GEMMs go through a BLAS */
    RLKD_FEATURE_CUDA   = 1u << 2, /**< the CUDA backend is compiled in */
    RLKD_FEATURE_NVJPEG = 1u << 3, /**< the loader decodes on the GPU (rlkd_loader_options.decode_device) */
    RLKD_FEATURE_CUDNN  = 1u << 4, /**< the cuDNN/cuBLAS engine is compiled in (RLKD_ENGINE_CUDNN; the libraries are opened when a context first picks it) */
    RLKD_FEATURE_NCCL   = 1u << 5  /**< communicators have the NCCL backend (RLKD_COMM_NCCL) */
} rlkd_feature;

/** The rlkd_feature bits of this build. */
RLKD_API unsigned rlkd_build_features(void);

/* ------------------------------------------------------------------------ */
/* Status and errors                                                         */
/* ------------------------------------------------------------------------ */

/** Result of every fallible call. Values are fixed; new ones are appended. */
typedef enum rlkd_status {
    RLKD_OK = 0,
    RLKD_ERR_INVALID_ARGUMENT = 1, /**< NULL pointer, negative size, bad value */
    RLKD_ERR_SHAPE = 2,            /**< tensor shapes do not fit together */
    RLKD_ERR_OUT_OF_MEMORY = 3,    /**< host or device allocation failed */
    RLKD_ERR_UNSUPPORTED = 4,      /**< not available in this build/backend */
    RLKD_ERR_NO_DEVICE = 5,        /**< the requested device does not exist */
    RLKD_ERR_DEVICE_MISMATCH = 6,  /**< tensors from another context/device */
    RLKD_ERR_IO = 7,               /**< a file could not be read or written */
    RLKD_ERR_FORMAT = 8,           /**< a file or buffer is malformed */
    RLKD_ERR_DEVICE = 9,           /**< the device runtime reported an error */
    RLKD_ERR_INTERNAL = 10,        /**< a bug in rlkd; please report it */
    RLKD_ERR_NUMERIC = 11          /**< a loss or value became NaN or Inf */
} rlkd_status;

/** A short constant name of a status, e.g. "RLKD_ERR_SHAPE". Never NULL. */
RLKD_API const char *rlkd_status_string(rlkd_status status);

/**
 * The detailed message of this thread's last failed call (what, where, which
 * value), or "" when no call on this thread has failed. Thread-local storage
 * owned by the library, valid until this thread's next failing call.
 */
RLKD_API const char *rlkd_last_error(void);

/* ------------------------------------------------------------------------ */
/* Context: device, stream, engine, threads, random numbers                  */
/* ------------------------------------------------------------------------ */

typedef enum rlkd_device {
    RLKD_DEVICE_CPU = 0,
    RLKD_DEVICE_CUDA = 1
} rlkd_device;

typedef struct rlkd_context rlkd_context;

/**
 * Creates a context on a device. `device_index` is 0 for the CPU and the
 * CUDA ordinal for RLKD_DEVICE_CUDA. Answers RLKD_ERR_NO_DEVICE when there is
 * no such GPU and RLKD_ERR_UNSUPPORTED when this build has no CUDA.
 * The seed starts at 0 and the thread count at the OpenMP default.
 * Ownership: *out belongs to the caller; free it with rlkd_context_destroy.
 */
RLKD_API rlkd_status rlkd_context_create(rlkd_context **out, rlkd_device kind,
                                         int device_index);
/**
 * Frees a context. Accepts NULL. Destroy its tensors first; only DLPack
 * exports (rlkd_tensor_to_dlpack) may outlive it, and they keep what they
 * need of it until their deleters have run.
 */
RLKD_API void rlkd_context_destroy(rlkd_context *ctx);

RLKD_API rlkd_status rlkd_context_device(const rlkd_context *ctx,
                                         rlkd_device *kind, int *device_index);

/**
 * Seeds the context's counter-based random stream and rewinds it. Dropout,
 * random fills and everything above that draws random numbers take them from
 * here, so one seed gives the same bits run after run, whatever the number
 * of threads.
 */
RLKD_API rlkd_status rlkd_context_set_seed(rlkd_context *ctx, uint64_t seed);
RLKD_API rlkd_status rlkd_context_get_seed(const rlkd_context *ctx,
                                           uint64_t *seed);

/** Threads for CPU ops (>= 1); also set for the BLAS. */
RLKD_API rlkd_status rlkd_context_set_num_threads(rlkd_context *ctx,
                                                  int num_threads);
RLKD_API rlkd_status rlkd_context_get_num_threads(const rlkd_context *ctx,
                                                  int *num_threads);

/**
 * The arithmetic of a CUDA context's native convolutions and linear layers.
 * RLKD_MATH_FP32 (the default) multiplies in float32, so results agree with
 * the CPU backend's to float rounding. RLKD_MATH_TF32 multiplies on the
 * tensor cores (sm_80 and newer) with TF32 inputs (10-bit mantissa) and
 * float32 sums: several times the throughput, relative errors near 1e-3,
 * as PyTorch's allow_tf32. A CPU context accepts both and computes in
 * float32; an unknown value is RLKD_ERR_INVALID_ARGUMENT.
 */
typedef enum rlkd_math {
    RLKD_MATH_FP32 = 0,
    RLKD_MATH_TF32 = 1
} rlkd_math;

RLKD_API rlkd_status rlkd_context_set_math(rlkd_context *ctx, rlkd_math math);
RLKD_API rlkd_status rlkd_context_get_math(const rlkd_context *ctx,
                                           rlkd_math *math);

/**
 * Runs the context's CUDA work on a caller-owned `cudaStream_t` (passed as
 * void*; NULL means the legacy default stream). The caller keeps ownership
 * and must keep the stream alive while the context uses it.
 * On a CPU context: RLKD_ERR_UNSUPPORTED.
 */
RLKD_API rlkd_status rlkd_context_set_cuda_stream(rlkd_context *ctx,
                                                  void *stream);

/**
 * What runs a context's convolutions (rlkd_conv2d_forward, _backward) and
 * linear layers (rlkd_linear_forward, _backward). Every other op has one
 * implementation per backend.
 */
typedef enum rlkd_engine {
    /** rlkd's own code: the CPU backend's, or the CUDA backend's kernels */
    RLKD_ENGINE_NATIVE = 0,
    /** CUDA only: convolutions on cuDNN, linear layers on cuBLAS, both in
     * full float32 (never TF32), so results agree with the CPU's to float
     * rounding */
    RLKD_ENGINE_CUDNN = 1
} rlkd_engine;

/**
 * Chooses the context's engine; it applies to the calls made after it, on
 * the same stream. A new context starts with the engine the environment
 * variable RLKD_CONV_ENGINE names: "native" (also when it is unset or
 * empty) or "cudnn" (a CPU context still starts native); any other value
 * makes rlkd_context_create fail with RLKD_ERR_INVALID_ARGUMENT, and "cudnn"
 * makes a CUDA context's creation fail where RLKD_ENGINE_CUDNN would.
 * RLKD_ENGINE_CUDNN answers RLKD_ERR_UNSUPPORTED on a CPU context and in a
 * build without cuDNN and cuBLAS; an unknown engine is
 * RLKD_ERR_INVALID_ARGUMENT. cuDNN's and cuBLAS's handles are made on the
 * first call that needs them and released with the context.
 */
RLKD_API rlkd_status rlkd_context_set_engine(rlkd_context *ctx,
                                             rlkd_engine engine);
RLKD_API rlkd_status rlkd_context_get_engine(const rlkd_context *ctx,
                                             rlkd_engine *engine);

/** Waits until all work queued on the context has finished. */
RLKD_API rlkd_status rlkd_context_synchronize(rlkd_context *ctx);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

#define RLKD_MAX_DIMS 4

typedef enum rlkd_dtype {
    RLKD_DTYPE_F32 = 0, /**< float32: activations, weights, gradients */
    RLKD_DTYPE_I32 = 1  /**< int32: class labels */
} rlkd_dtype;

typedef struct rlkd_tensor rlkd_tensor;

/**
 * Creates a tensor of 1 to RLKD_MAX_DIMS dimensions on the context's device,
 * filled with zeros. Every dimension must be >= 1, and the element count at
 * most 2^31 - 1 (8 GiB of float32), so that every size fits an int.
 * Ownership: *out belongs to the caller (rlkd_tensor_destroy), and the
 * tensor's memory belongs to the tensor.
 */
RLKD_API rlkd_status rlkd_tensor_create(rlkd_context *ctx, rlkd_dtype dtype,
                                        int ndim, const int64_t *shape,
                                        rlkd_tensor **out);

/**
 * Wraps memory the caller owns (host memory on a CPU context, device memory
 * on a CUDA context) as a tensor without copying. The caller keeps ownership
 * and must keep `data` alive and suitably aligned (4 bytes) while the tensor
 * exists; rlkd_tensor_destroy does not free it.
 */
RLKD_API rlkd_status rlkd_tensor_wrap(rlkd_context *ctx, rlkd_dtype dtype,
                                      int ndim, const int64_t *shape,
                                      void *data, rlkd_tensor **out);

/**
 * Frees a tensor handle. Accepts NULL. Its memory (if the tensor owns it, or
 * the DLPack deleter of an imported tensor) is released now, or, while
 * DLPack exports of the tensor are alive, when the last of them is deleted.
 */
RLKD_API void rlkd_tensor_destroy(rlkd_tensor *t);

/** Copies `count` floats from host memory in; count must equal numel. */
RLKD_API rlkd_status rlkd_tensor_write(rlkd_tensor *t, const float *src,
                                       size_t count);
/** Copies `count` floats out to host memory; count must equal numel. */
RLKD_API rlkd_status rlkd_tensor_read(const rlkd_tensor *t, float *dst,
                                      size_t count);
/** As rlkd_tensor_write, for RLKD_DTYPE_I32 tensors. */
RLKD_API rlkd_status rlkd_tensor_write_i32(rlkd_tensor *t, const int32_t *src,
                                           size_t count);
/** As rlkd_tensor_read, for RLKD_DTYPE_I32 tensors. */
RLKD_API rlkd_status rlkd_tensor_read_i32(const rlkd_tensor *t, int32_t *dst,
                                          size_t count);

/** Sets every element of an F32 tensor to `value` (not NaN; infinities are allowed). */
RLKD_API rlkd_status rlkd_tensor_fill(rlkd_tensor *t, float value);
/** Fills an F32 tensor with uniform numbers in [low, high), from the context's stream. */
RLKD_API rlkd_status rlkd_tensor_fill_uniform(rlkd_tensor *t, float low,
                                              float high);
/** Fills an F32 tensor with normal numbers, from the context's stream. */
RLKD_API rlkd_status rlkd_tensor_fill_normal(rlkd_tensor *t, float mean,
                                             float stddev);

/** Number of dimensions (1..4), or 0 for NULL. */
RLKD_API int rlkd_tensor_ndim(const rlkd_tensor *t);
/** Size of dimension `dim` (negative counts from the end), or -1 if out of range. */
RLKD_API int64_t rlkd_tensor_dim(const rlkd_tensor *t, int dim);
/** Copies the shape into shape[0..ndim-1]; `capacity` is the array's length. */
RLKD_API rlkd_status rlkd_tensor_shape(const rlkd_tensor *t, int64_t *shape,
                                       int capacity);
/** Number of elements, or 0 for NULL. */
RLKD_API int64_t rlkd_tensor_numel(const rlkd_tensor *t);
/** The element type; RLKD_DTYPE_F32 for NULL (check the handle first). */
RLKD_API rlkd_dtype rlkd_tensor_dtype(const rlkd_tensor *t);
/** The data pointer (device memory on a CUDA context). Owned by the tensor. */
RLKD_API void *rlkd_tensor_data(const rlkd_tensor *t);
/** The context the tensor was created on. */
RLKD_API rlkd_context *rlkd_tensor_context(const rlkd_tensor *t);
/**
 * Gives the tensor a new shape with the same number of elements (a view of
 * the same memory, e.g. [N,C,1,1] -> [N,C]).
 */
RLKD_API rlkd_status rlkd_tensor_reshape(rlkd_tensor *t, int ndim,
                                         const int64_t *shape);

/* DLPack (https://github.com/dmlc/dlpack, version 0.6, the legacy
 * DLManagedTensor with a deleter): zero-copy exchange of tensors with
 * PyTorch, NumPy, CuPy, JAX and others. rlkd.h needs no DLPack header; a
 * caller that fills or reads the struct includes <dlpack/dlpack.h>. */
struct DLManagedTensor;

/**
 * Imports a DLPack tensor as an rlkd tensor without copying: the new tensor
 * reads and writes src's memory (dl_tensor.data + byte_offset).
 *
 * Accepted: dtype float32 (kDLFloat, 32 bits, 1 lane) -> RLKD_DTYPE_F32 or
 * int32 (kDLInt, 32, 1) -> RLKD_DTYPE_I32; ndim 1..RLKD_MAX_DIMS (a 0-d
 * scalar is refused: reshape it to [1] first), every shape entry >= 1 and
 * the element count within rlkd_tensor_create's limit; strides NULL or
 * compact row-major (a dimension of size 1 may have any stride); data +
 * byte_offset non-NULL and 4-byte aligned. The device must be the
 * context's: a CPU context takes kDLCPU, kDLCUDAHost and kDLCUDAManaged
 * (host-addressable; device_id is not looked at), a CUDA context takes
 * kDLCUDA whose device_id is the context's device index.
 *
 * Statuses: RLKD_ERR_DEVICE_MISMATCH for a device the context cannot use,
 * RLKD_ERR_UNSUPPORTED for another dtype or non-compact strides (make the
 * tensor contiguous float32/int32 first), RLKD_ERR_INVALID_ARGUMENT for NULL
 * arguments, ndim, shape and data; the message names the field.
 *
 * Ownership: on success the tensor owns src; rlkd_tensor_destroy calls
 * src->deleter(src) (when non-NULL) once the memory is no longer used - at
 * once, or when the last DLPack export of the tensor is deleted; on a CUDA
 * context after the context's stream has finished its work. Until then the
 * caller must not call the deleter. On failure *out is NULL and src stays
 * the caller's (its deleter is not called).
 * On CUDA the producer's writes must be complete (or ordered before the
 * context's stream) before rlkd uses the tensor.
 */
RLKD_API rlkd_status rlkd_tensor_from_dlpack(rlkd_context *ctx,
                                             struct DLManagedTensor *src,
                                             rlkd_tensor **out);

/**
 * Exports a tensor's memory as a new DLPack tensor without copying: data is
 * rlkd_tensor_data(t) (byte_offset 0), the shape a copy of t's own (a later
 * rlkd_tensor_reshape of t does not change it), strides NULL (compact
 * row-major), dtype float32 or int32, device kDLCPU (device_id 0) on a CPU
 * context or kDLCUDA with the context's device index on a CUDA one. Works
 * for created, wrapped and imported tensors alike.
 *
 * Ownership: *out belongs to the caller, who hands it to a consumer or calls
 * (*out)->deleter(*out) exactly once, from any thread. Until then the export
 * keeps the tensor's memory and its context alive, even after
 * rlkd_tensor_destroy(t) and rlkd_context_destroy: the memory is released by
 * whichever of the handle and the exports goes last, and the context when it
 * has been destroyed and no export holds it. (For a wrapped tensor the
 * memory is the caller's: keep it alive until the deleter has run.) Both
 * sides write the same memory; on CUDA, rlkd_context_synchronize before a
 * consumer on another stream reads it.
 * On failure *out is NULL.
 */
RLKD_API rlkd_status rlkd_tensor_to_dlpack(rlkd_tensor *t,
                                           struct DLManagedTensor **out);

/* ------------------------------------------------------------------------ */
/* L1 ops                                                                    */
/*                                                                           */
/* Shapes: x [N,C,H,W]. Every op checks its arguments and shapes first and   */
/* touches no output when it fails.                                          */
/* ------------------------------------------------------------------------ */

/**
 * Output height or width of a convolution or pooling window:
 * floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1, or
 * RLKD_ERR_INVALID_ARGUMENT / RLKD_ERR_SHAPE when that is < 1.
 */
RLKD_API rlkd_status rlkd_window_output_size(int64_t *out, int64_t in,
                                             int kernel, int stride, int pad,
                                             int dilation);

/**
 * 2-D convolution (cross-correlation, as in every framework).
 * y [N,Cout,Ho,Wo] = conv(x [N,Cin,H,W], w [Cout,Cin/groups,Kh,Kw]) + bias [Cout].
 * `bias` may be NULL. Cin and Cout must be multiples of `groups`
 * (groups == Cin == Cout is depthwise).
 */
RLKD_API rlkd_status rlkd_conv2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                         const rlkd_tensor *x,
                                         const rlkd_tensor *w,
                                         const rlkd_tensor *bias,
                                         int stride_h, int stride_w,
                                         int pad_h, int pad_w,
                                         int dilation_h, int dilation_w,
                                         int groups);
/**
 * dy [N,Cout,Ho,Wo] as y; dx as x, dw as w, dbias [Cout]. dx written; dw,
 * dbias accumulated. Any of the three may be NULL.
 */
RLKD_API rlkd_status rlkd_conv2d_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                          rlkd_tensor *dw, rlkd_tensor *dbias,
                                          const rlkd_tensor *dy,
                                          const rlkd_tensor *x,
                                          const rlkd_tensor *w,
                                          int stride_h, int stride_w,
                                          int pad_h, int pad_w,
                                          int dilation_h, int dilation_w,
                                          int groups);

/**
 * Batch normalisation over (N,H,W) per channel.
 * training != 0: normalises with the batch mean and biased variance, writes
 *   save_mean [C] and save_invstd [C] = 1/sqrt(var + eps) for backward, and
 *   updates running_mean/running_var in place with
 *   r = (1 - momentum) * r + momentum * batch (running_var takes the unbiased
 *   variance), as PyTorch does. save_mean/save_invstd may be NULL, and so
 *   may running_mean/running_var together (no running statistics kept).
 * training == 0: normalises with running_mean/running_var (required, left
 *   unchanged); save_mean/save_invstd, if given, receive the running mean
 *   and 1/sqrt(running_var + eps).
 * gamma [C] and beta [C] are the affine weight and bias; momentum in [0,1],
 * eps > 0. Training needs N*H*W >= 2 (the unbiased variance).
 */
RLKD_API rlkd_status rlkd_batchnorm2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                              rlkd_tensor *save_mean,
                                              rlkd_tensor *save_invstd,
                                              rlkd_tensor *running_mean,
                                              rlkd_tensor *running_var,
                                              const rlkd_tensor *x,
                                              const rlkd_tensor *gamma,
                                              const rlkd_tensor *beta,
                                              int training, float momentum,
                                              float eps);
/**
 * Backward of batchnorm2d. training != 0: through the batch statistics held
 * in save_mean/save_invstd (from a training forward). training == 0: the
 * statistics are constants (frozen BN), pass the inference save_* tensors.
 * dx written; dgamma, dbeta accumulated.
 */
RLKD_API rlkd_status rlkd_batchnorm2d_backward(rlkd_context *ctx,
                                               rlkd_tensor *dx,
                                               rlkd_tensor *dgamma,
                                               rlkd_tensor *dbeta,
                                               const rlkd_tensor *dy,
                                               const rlkd_tensor *x,
                                               const rlkd_tensor *gamma,
                                               const rlkd_tensor *save_mean,
                                               const rlkd_tensor *save_invstd,
                                               int training);

/** y = max(x, 0), any shape. y may be x (in place). */
RLKD_API rlkd_status rlkd_relu_forward(rlkd_context *ctx, rlkd_tensor *y,
                                       const rlkd_tensor *x);
/** dx = dy where y > 0, else 0. Takes the forward OUTPUT y; dx may be dy. */
RLKD_API rlkd_status rlkd_relu_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                        const rlkd_tensor *dy,
                                        const rlkd_tensor *y);

/**
 * Pooling windows (max and average) use floor mode and need
 * 0 <= pad <= kernel/2 on each axis, as PyTorch.
 *
 * Max pooling; padded positions never win. Ties go to the first position in
 * row-major window order. Backward recomputes the argmax from x.
 */
RLKD_API rlkd_status rlkd_maxpool2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                            const rlkd_tensor *x,
                                            int kernel_h, int kernel_w,
                                            int stride_h, int stride_w,
                                            int pad_h, int pad_w);
RLKD_API rlkd_status rlkd_maxpool2d_backward(rlkd_context *ctx,
                                             rlkd_tensor *dx,
                                             const rlkd_tensor *dy,
                                             const rlkd_tensor *x,
                                             int kernel_h, int kernel_w,
                                             int stride_h, int stride_w,
                                             int pad_h, int pad_w);

/**
 * Average pooling. count_include_pad != 0 divides by the whole window,
 * otherwise by the number of positions inside the input.
 */
RLKD_API rlkd_status rlkd_avgpool2d_forward(rlkd_context *ctx, rlkd_tensor *y,
                                            const rlkd_tensor *x,
                                            int kernel_h, int kernel_w,
                                            int stride_h, int stride_w,
                                            int pad_h, int pad_w,
                                            int count_include_pad);
RLKD_API rlkd_status rlkd_avgpool2d_backward(rlkd_context *ctx,
                                             rlkd_tensor *dx,
                                             const rlkd_tensor *dy,
                                             int kernel_h, int kernel_w,
                                             int stride_h, int stride_w,
                                             int pad_h, int pad_w,
                                             int count_include_pad);

/** y [N,C] or [N,C,1,1] = mean over H,W of x [N,C,H,W]. */
RLKD_API rlkd_status rlkd_global_avgpool_forward(rlkd_context *ctx,
                                                 rlkd_tensor *y,
                                                 const rlkd_tensor *x);
RLKD_API rlkd_status rlkd_global_avgpool_backward(rlkd_context *ctx,
                                                  rlkd_tensor *dx,
                                                  const rlkd_tensor *dy);

/**
 * Fully connected: y [N,out] = x [N,in] w[out,in]^T + bias [out].
 * x may have any shape whose first dimension is N (it is flattened).
 * `bias` may be NULL.
 */
RLKD_API rlkd_status rlkd_linear_forward(rlkd_context *ctx, rlkd_tensor *y,
                                         const rlkd_tensor *x,
                                         const rlkd_tensor *w,
                                         const rlkd_tensor *bias);
/**
 * dy [N,out]; dx has x's shape, dw w's, dbias [out]. dx written; dw, dbias
 * accumulated. Any of the three may be NULL.
 */
RLKD_API rlkd_status rlkd_linear_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                          rlkd_tensor *dw, rlkd_tensor *dbias,
                                          const rlkd_tensor *dy,
                                          const rlkd_tensor *x,
                                          const rlkd_tensor *w);

/** y = a + b, same shapes. y may be a or b. */
RLKD_API rlkd_status rlkd_add_forward(rlkd_context *ctx, rlkd_tensor *y,
                                      const rlkd_tensor *a,
                                      const rlkd_tensor *b);
/** da = dy, db = dy (written). Either may be NULL. */
RLKD_API rlkd_status rlkd_add_backward(rlkd_context *ctx, rlkd_tensor *da,
                                       rlkd_tensor *db, const rlkd_tensor *dy);

/**
 * Concatenates `count` 4-D tensors [N,Ci,H,W] along channels into
 * y [N,sum Ci,H,W].
 */
RLKD_API rlkd_status rlkd_concat_forward(rlkd_context *ctx, rlkd_tensor *y,
                                         const rlkd_tensor *const *inputs,
                                         int count);
/**
 * Splits dy [N,C,H,W] back into dxs[i] [N,channels[i],H,W] (written), where
 * the channels[i] (>= 1) add up to C. A NULL entry of dxs skips its input.
 */
RLKD_API rlkd_status rlkd_concat_backward(rlkd_context *ctx,
                                          rlkd_tensor *const *dxs,
                                          const rlkd_tensor *dy,
                                          const int64_t *channels, int count);

/**
 * Inverted dropout with drop probability p in [0,1): y may be x; mask must
 * not alias either. Each element is kept
 * with probability 1-p and scaled by 1/(1-p). `mask` (same shape as x)
 * receives the scale applied to each element (0 or 1/(1-p)) for backward.
 * The draw comes from the context's seeded stream, so it is reproducible.
 * training == 0 (or p == 0): y = x and mask = 1.
 */
RLKD_API rlkd_status rlkd_dropout_forward(rlkd_context *ctx, rlkd_tensor *y,
                                          rlkd_tensor *mask,
                                          const rlkd_tensor *x, float p,
                                          int training);
/** dx = dy * mask (written). dx may be dy. */
RLKD_API rlkd_status rlkd_dropout_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                           const rlkd_tensor *dy,
                                           const rlkd_tensor *mask);

/**
 * Softmax cross-entropy, mean over the batch, with label smoothing eps in
 * [0,1): the target is (1-eps) on the label plus eps/K on every class.
 * loss: a 1-element tensor. logits [N,K]; labels [N] int32 in [0,K).
 * dlogits [N,K] (may be NULL) receives d loss / d logits.
 */
RLKD_API rlkd_status rlkd_softmax_cross_entropy_forward(
    rlkd_context *ctx, rlkd_tensor *loss, rlkd_tensor *dlogits,
    const rlkd_tensor *logits, const rlkd_tensor *labels,
    float label_smoothing);
/** d loss / d logits alone (written), times the scalar `dloss`. */
RLKD_API rlkd_status rlkd_softmax_cross_entropy_backward(
    rlkd_context *ctx, rlkd_tensor *dlogits, const rlkd_tensor *logits,
    const rlkd_tensor *labels, float label_smoothing, float dloss);

/**
 * Hinton distillation loss, mean over the batch:
 *   alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)
 * loss: 1 element; student, teacher [N,K]; labels [N] int32 (may be NULL
 * when alpha == 1). dstudent [N,K] (may be NULL) receives d loss / d student
 * in the same call; the teacher gets no gradient. alpha in [0,1], T > 0.
 */
RLKD_API rlkd_status rlkd_kd_loss_forward(rlkd_context *ctx, rlkd_tensor *loss,
                                          rlkd_tensor *dstudent,
                                          const rlkd_tensor *student,
                                          const rlkd_tensor *teacher,
                                          const rlkd_tensor *labels,
                                          float alpha, float temperature);
/** d loss / d student alone (written), times the scalar `dloss`. */
RLKD_API rlkd_status rlkd_kd_loss_backward(rlkd_context *ctx,
                                           rlkd_tensor *dstudent,
                                           const rlkd_tensor *student,
                                           const rlkd_tensor *teacher,
                                           const rlkd_tensor *labels,
                                           float alpha, float temperature,
                                           float dloss);

/**
 * Squeeze-and-excitation: s = sigmoid(w2 relu(w1 gap(x) + b1) + b2),
 * y = x * s per channel. w1 [C/r,C], b1 [C/r], w2 [C,C/r], b2 [C]
 * (the hidden width is read from w1; biases may be NULL).
 * Backward recomputes the squeeze from x; dx written, parameter grads
 * accumulated.
 */
RLKD_API rlkd_status rlkd_se_forward(rlkd_context *ctx, rlkd_tensor *y,
                                     const rlkd_tensor *x,
                                     const rlkd_tensor *w1,
                                     const rlkd_tensor *b1,
                                     const rlkd_tensor *w2,
                                     const rlkd_tensor *b2);
RLKD_API rlkd_status rlkd_se_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                      rlkd_tensor *dw1, rlkd_tensor *db1,
                                      rlkd_tensor *dw2, rlkd_tensor *db2,
                                      const rlkd_tensor *dy,
                                      const rlkd_tensor *x,
                                      const rlkd_tensor *w1,
                                      const rlkd_tensor *b1,
                                      const rlkd_tensor *w2,
                                      const rlkd_tensor *b2);

/**
 * ECA kernel size for C channels: t = |log2(C)/gamma + b/gamma| rounded
 * (truncated, then made odd by adding one when even), as in the ECA paper
 * with gamma 2, b 1: C=64 -> 3, C=256 -> 5, C=2048 -> 7. Returns -1 when
 * channels < 1 or gamma < 1 (it cannot fail otherwise).
 */
RLKD_API int rlkd_eca_kernel_size(int channels, int gamma, int b);

/**
 * Efficient channel attention: s = sigmoid(conv1d(gap(x), w)) across
 * channels (zero padding (k-1)/2, no bias), y = x * s. w [k] or [1,1,k]
 * (PyTorch's Conv1d weight), k odd; dw has w's shape.
 */
RLKD_API rlkd_status rlkd_eca_forward(rlkd_context *ctx, rlkd_tensor *y,
                                      const rlkd_tensor *x,
                                      const rlkd_tensor *w);
RLKD_API rlkd_status rlkd_eca_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                       rlkd_tensor *dw, const rlkd_tensor *dy,
                                       const rlkd_tensor *x,
                                       const rlkd_tensor *w);

/**
 * CBAM: channel attention then spatial attention.
 *   mc = sigmoid(mlp(avgpool(x)) + mlp(maxpool(x))), mlp(v) = w2 relu(w1 v + b1) + b2
 *   x1 = x * mc
 *   ms = sigmoid(conv2d([mean_c(x1), max_c(x1)], ws) + bs), ws [1,2,k,k], k odd,
 *        zero padding (k-1)/2 (k = 7 in the paper), bs [1]
 *   y  = x1 * ms
 * w1 [C/r,C], b1 [C/r], w2 [C,C/r], b2 [C], bs [1]; biases may be NULL.
 * Backward recomputes the attention maps from x; max ties (the spatial max
 * pool and the channel max) go to the first index.
 */
RLKD_API rlkd_status rlkd_cbam_forward(rlkd_context *ctx, rlkd_tensor *y,
                                       const rlkd_tensor *x,
                                       const rlkd_tensor *w1,
                                       const rlkd_tensor *b1,
                                       const rlkd_tensor *w2,
                                       const rlkd_tensor *b2,
                                       const rlkd_tensor *ws,
                                       const rlkd_tensor *bs);
RLKD_API rlkd_status rlkd_cbam_backward(rlkd_context *ctx, rlkd_tensor *dx,
                                        rlkd_tensor *dw1, rlkd_tensor *db1,
                                        rlkd_tensor *dw2, rlkd_tensor *db2,
                                        rlkd_tensor *dws, rlkd_tensor *dbs,
                                        const rlkd_tensor *dy,
                                        const rlkd_tensor *x,
                                        const rlkd_tensor *w1,
                                        const rlkd_tensor *b1,
                                        const rlkd_tensor *w2,
                                        const rlkd_tensor *b2,
                                        const rlkd_tensor *ws,
                                        const rlkd_tensor *bs);

/**
 * Attention transfer (Zagoruyko and Komodakis 2017), as in their code:
 *   a(F) = normalize_L2(mean_c(F^2) as a vector of H*W) per sample
 *   loss = mean over N*H*W of (a(student) - a(teacher))^2
 * student [N,Cs,H,W] and teacher [N,Ct,H,W] share N, H, W; channel counts may
 * differ. As F.normalize, the norm is floored at 1e-12, so an all-zero map
 * stays zero. dstudent (may be NULL) receives d loss / d student.
 */
RLKD_API rlkd_status rlkd_attention_transfer_loss_forward(
    rlkd_context *ctx, rlkd_tensor *loss, rlkd_tensor *dstudent,
    const rlkd_tensor *student, const rlkd_tensor *teacher);
/** d loss / d student alone (written), times the scalar `dloss`. */
RLKD_API rlkd_status rlkd_attention_transfer_loss_backward(
    rlkd_context *ctx, rlkd_tensor *dstudent, const rlkd_tensor *student,
    const rlkd_tensor *teacher, float dloss);

/**
 * y = x * mask[c] per channel: mask [C] of 0/1 (any float is allowed and
 * scales). y may be x. Pruning uses it to switch channels off.
 */
RLKD_API rlkd_status rlkd_channel_mask_forward(rlkd_context *ctx,
                                               rlkd_tensor *y,
                                               const rlkd_tensor *x,
                                               const rlkd_tensor *mask);
/** dx = dy * mask[c] (written); dx may be dy. */
RLKD_API rlkd_status rlkd_channel_mask_backward(rlkd_context *ctx,
                                                rlkd_tensor *dx,
                                                const rlkd_tensor *dy,
                                                const rlkd_tensor *mask);

/**
 * SGD step in place, as torch.optim.SGD (dampening 0):
 *   g = grad + weight_decay * param
 *   momentum > 0: buf = momentum * buf + g; g = nesterov ? g + momentum * buf : buf
 *   param -= lr * g
 * momentum_buf (same shape, zero at the start) may be NULL when momentum == 0.
 */
RLKD_API rlkd_status rlkd_sgd_step(rlkd_context *ctx, rlkd_tensor *param,
                                   rlkd_tensor *momentum_buf,
                                   const rlkd_tensor *grad, float lr,
                                   float momentum, float weight_decay,
                                   int nesterov);

/**
 * Adam step in place, as torch.optim.Adam (decoupled == 0: weight decay is
 * added to the gradient) or torch.optim.AdamW (decoupled != 0:
 * param *= 1 - lr * weight_decay). m and v (zero at the start) are the
 * moment estimates; `step` is this step's 1-based count for bias correction.
 */
RLKD_API rlkd_status rlkd_adam_step(rlkd_context *ctx, rlkd_tensor *param,
                                    rlkd_tensor *m, rlkd_tensor *v,
                                    const rlkd_tensor *grad, float lr,
                                    float beta1, float beta2, float eps,
                                    float weight_decay, int decoupled,
                                    int64_t step);

/* ------------------------------------------------------------------------ */
/* L2 networks: a graph of layers, the model zoo, checkpoints, costs         */
/*                                                                           */
/* A network is a list of nodes in topological order. Node 0 is the input   */
/* [N, C, H, W] (C, H, W fixed when the network is created, N free); every  */
/* layer added reads earlier nodes and makes one new node, whose index the  */
/* builder call returns. The network's output is the last node added.       */
/* Parameters and buffers are named as torchvision names them: a layer's    */
/* name is a prefix ("features.0", "layer1.0.conv1") and its tensors are    */
/* "<prefix>.weight", "<prefix>.bias", "<prefix>.running_mean", ...        */
/* ------------------------------------------------------------------------ */

typedef struct rlkd_net rlkd_net;

/**
 * Creates an empty network on ctx for inputs [N, channels, height, width].
 * Ownership: *out belongs to the caller (rlkd_net_destroy); the network
 * keeps ctx and must be destroyed before it.
 */
RLKD_API rlkd_status rlkd_net_create(rlkd_context *ctx, int channels,
                                     int height, int width, rlkd_net **out);
/** Frees a network with its parameters and activations. Accepts NULL. */
RLKD_API void rlkd_net_destroy(rlkd_net *net);

/*
 * Builder calls. Each appends a layer reading node `input` (an index
 * returned earlier, 0 for the input) and writes the new node's index to
 * *node (which may be NULL). `name` is the layer's unique name prefix; it is
 * required for layers with parameters or buffers, and may be NULL for the
 * others, which are then named "<kind>#<node>" ('#' is reserved for these
 * generated names). Names and the tensor names made from them are unique. New parameters are initialised as torchvision does: conv weights
 * Kaiming-normal (fan_out, ReLU gain), linear weights and biases
 * U(-1/sqrt(in), 1/sqrt(in)), batch-norm weight 1 and bias 0, running mean 0
 * and variance 1; attention weights as their papers' code (PyTorch defaults).
 * A failed call leaves the network unchanged.
 */

/** Square-kernel convolution; bias != 0 adds "<name>.bias". */
RLKD_API rlkd_status rlkd_net_add_conv2d(rlkd_net *net, int *node,
                                         const char *name, int input,
                                         int out_channels, int kernel,
                                         int stride, int padding,
                                         int dilation, int groups, int bias);
/** Batch norm with "<name>.weight/.bias/.running_mean/.running_var/
 * .num_batches_tracked" (PyTorch's defaults are eps 1e-5, momentum 0.1). */
RLKD_API rlkd_status rlkd_net_add_batchnorm2d(rlkd_net *net, int *node,
                                              const char *name, int input,
                                              float eps, float momentum);
RLKD_API rlkd_status rlkd_net_add_relu(rlkd_net *net, int *node,
                                       const char *name, int input);
RLKD_API rlkd_status rlkd_net_add_maxpool2d(rlkd_net *net, int *node,
                                            const char *name, int input,
                                            int kernel, int stride,
                                            int padding);
RLKD_API rlkd_status rlkd_net_add_avgpool2d(rlkd_net *net, int *node,
                                            const char *name, int input,
                                            int kernel, int stride,
                                            int padding,
                                            int count_include_pad);
/** Mean over H and W: [N, C, 1, 1]. */
RLKD_API rlkd_status rlkd_net_add_global_avgpool(rlkd_net *net, int *node,
                                                 const char *name, int input);
/** Fully connected on the flattened input: [N, out_features] (its node's
 * shape reads out_features x 1 x 1). */
RLKD_API rlkd_status rlkd_net_add_linear(rlkd_net *net, int *node,
                                         const char *name, int input,
                                         int out_features, int bias);
/** Dropout with drop probability p in [0,1); identity in inference. */
RLKD_API rlkd_status rlkd_net_add_dropout(rlkd_net *net, int *node,
                                          const char *name, int input,
                                          float p);
/** Elementwise sum of two nodes of the same shape (a residual add). */
RLKD_API rlkd_status rlkd_net_add_add(rlkd_net *net, int *node,
                                      const char *name, int input_a,
                                      int input_b);
/** Channel concatenation of `count` nodes sharing H and W. */
RLKD_API rlkd_status rlkd_net_add_concat(rlkd_net *net, int *node,
                                         const char *name, const int *inputs,
                                         int count);
/** Squeeze-excitation with hidden width max(1, C / reduction):
 * "<name>.fc1.weight/.bias" [hidden, C], "<name>.fc2.weight/.bias" [C, hidden]. */
RLKD_API rlkd_status rlkd_net_add_se(rlkd_net *net, int *node,
                                     const char *name, int input,
                                     int reduction);
/** ECA with a 1-D kernel of `kernel` taps (0: rlkd_eca_kernel_size(C, 2, 1)):
 * "<name>.conv.weight" [1, 1, kernel], as the ECA-Net code's Conv1d. */
RLKD_API rlkd_status rlkd_net_add_eca(rlkd_net *net, int *node,
                                      const char *name, int input,
                                      int kernel);
/** CBAM with MLP reduction `reduction` and a spatial kernel (7 in the
 * paper): "<name>.fc1.*", "<name>.fc2.*" as SE, "<name>.spatial.weight"
 * [1, 2, k, k] and "<name>.spatial.bias" [1]. */
RLKD_API rlkd_status rlkd_net_add_cbam(rlkd_net *net, int *node,
                                       const char *name, int input,
                                       int reduction, int kernel);

/** Number of nodes, the input included; the output is node count - 1. */
RLKD_API rlkd_status rlkd_net_node_count(const rlkd_net *net, int *count);
/** The shape [C, H, W] of a node's output (batch excluded). */
RLKD_API rlkd_status rlkd_net_node_shape(const rlkd_net *net, int node,
                                         int64_t *channels, int64_t *height,
                                         int64_t *width);

/**
 * Forward pass. input [N, C, H, W] on the network's context; training != 0
 * uses batch statistics for batch norm (and updates running statistics) and
 * applies dropout, and keeps what backward needs. *output (may be NULL)
 * receives the output node's tensor: [N, K] after a linear layer, else
 * [N, C, H, W]; owned by the network, valid until its next forward or
 * destroy. Every node after a linear layer is 2-D [N, C] in the same way.
 */
RLKD_API rlkd_status rlkd_net_forward(rlkd_net *net, const rlkd_tensor *input,
                                      int training, rlkd_tensor **output);
/**
 * Backward pass from doutput (the output's shape) after a training forward:
 * parameter gradients ACCUMULATE; dinput (may be NULL) is written.
 */
RLKD_API rlkd_status rlkd_net_backward(rlkd_net *net,
                                       const rlkd_tensor *doutput,
                                       rlkd_tensor *dinput);
/** Sets every parameter gradient to zero. */
RLKD_API rlkd_status rlkd_net_zero_grad(rlkd_net *net);

/** Parameters (trained) in creation order: count, then each by index with
 * its name and its gradient. Names and tensors are owned by the network. */
RLKD_API rlkd_status rlkd_net_param_count(const rlkd_net *net, int *count);
RLKD_API rlkd_status rlkd_net_param(const rlkd_net *net, int index,
                                    const char **name, rlkd_tensor **value,
                                    rlkd_tensor **grad);
/** Buffers (running statistics; num_batches_tracked is an I32 tensor). */
RLKD_API rlkd_status rlkd_net_buffer_count(const rlkd_net *net, int *count);
RLKD_API rlkd_status rlkd_net_buffer(const rlkd_net *net, int index,
                                     const char **name, rlkd_tensor **value);
/** A parameter or buffer by name; RLKD_ERR_INVALID_ARGUMENT if none. */
RLKD_API rlkd_status rlkd_net_find(const rlkd_net *net, const char *name,
                                   rlkd_tensor **value);

/** One layer's cost, as rlkd_net_layer_cost fills it. */
typedef struct rlkd_layer_cost {
    size_t struct_size;   /**< set by rlkd_layer_cost_init */
    const char *name;     /**< the layer's name prefix, owned by the network */
    const char *kind;     /**< "conv2d", "linear", "batchnorm2d", ... */
    int node;             /**< the node the layer makes */
    int64_t out_channels, out_height, out_width;
    int64_t params;       /**< trained parameters */
    int64_t macs;         /**< multiply-accumulates per image; FLOPs = 2 x MACs */
} rlkd_layer_cost;

RLKD_API void rlkd_layer_cost_init(rlkd_layer_cost *cost);
/** Number of layers (nodes other than the input). */
RLKD_API rlkd_status rlkd_net_layer_count(const rlkd_net *net, int *count);
/** The cost of layer `index` (0-based, layer i makes node i + 1). */
RLKD_API rlkd_status rlkd_net_layer_cost(const rlkd_net *net, int index,
                                         rlkd_layer_cost *cost);
/**
 * Totals per image: trained parameters, and multiply-accumulates of the
 * convolutions, linear layers and attention modules (their MLPs and
 * convolutions). Batch norm, ReLU, pooling and adds are not counted, as in
 * torchvision's published counts. FLOPs = 2 x MACs. Either pointer may be
 * NULL.
 */
RLKD_API rlkd_status rlkd_net_cost(const rlkd_net *net, int64_t *params,
                                   int64_t *macs);

/** Attention placed in zoo networks. */
typedef enum rlkd_attention {
    RLKD_ATTENTION_NONE = 0,
    RLKD_ATTENTION_SE = 1,
    RLKD_ATTENTION_ECA = 2,
    RLKD_ATTENTION_CBAM = 3
} rlkd_attention;

/** Options of rlkd_zoo_create; fill with rlkd_zoo_options_init. */
typedef struct rlkd_zoo_options {
    size_t struct_size;      /**< set by rlkd_zoo_options_init */
    int num_classes;         /**< default 1000 */
    int in_channels;         /**< default 3 */
    int in_height, in_width; /**< default 224 x 224 */
    rlkd_attention attention; /**< default none */
    int attention_reduction; /**< SE/CBAM MLP reduction, default 16 */
    float width_multiplier;  /**< VGG channel widths, default 1 */
    int densenet_depth;      /**< "densenet_bc": depth L, default 100 */
    int densenet_growth;     /**< "densenet_bc": growth k, default 12 */
} rlkd_zoo_options;

RLKD_API void rlkd_zoo_options_init(rlkd_zoo_options *options);

/**
 * Builds a zoo network by name (see rlkd_zoo_name for the list):
 * "vgg11_bn" ... "vgg19_bn" (torchvision's ImageNet form),
 * "vgg11_cifar" ... "vgg19_cifar", "resnet18" ... "resnet101",
 * "resnet20" ... "resnet110" (CIFAR), "densenet121", "densenet169",
 * "densenet201", "densenet_bc", and the small-image variants "vgg_small",
 * "resnet_small", "densenet_small" for 28x28 inputs. Weights are freshly
 * initialised from the context's seed. options may be NULL (defaults).
 */
RLKD_API rlkd_status rlkd_zoo_create(rlkd_context *ctx, const char *name,
                                     const rlkd_zoo_options *options,
                                     rlkd_net **out);
/** The index-th zoo name, or NULL past the end. Static storage. */
RLKD_API const char *rlkd_zoo_name(int index);

/**
 * Saves parameters and buffers to a safetensors file, with the network's
 * architecture (its layer list) in the header's __metadata__, atomically:
 * the file appears whole or not at all.
 */
RLKD_API rlkd_status rlkd_net_save(const rlkd_net *net, const char *path);
/**
 * Loads weights by name into an existing network. Every tensor of the
 * network must be in the file with its shape, and every tensor of the file
 * must belong to the network; F32 and F64/F16/BF16 data are accepted for
 * float tensors, I64 and I32 for integer buffers. On any error (I/O,
 * corrupt or truncated file, unknown or missing name, shape mismatch) the
 * network is left untouched.
 */
RLKD_API rlkd_status rlkd_net_load_weights(rlkd_net *net, const char *path);
/** Rebuilds a network saved by rlkd_net_save (architecture and weights). */
RLKD_API rlkd_status rlkd_net_load(rlkd_context *ctx, const char *path,
                                   rlkd_net **out);

/* ------------------------------------------------------------------------ */
/* L2 pruning: channel groups, masks, criteria                               */
/* ------------------------------------------------------------------------ */

/*
 * A network's channels fall into groups that must be kept or removed
 * together, derived from its graph: the output channels of a convolution,
 * with everything that passes them on unchanged (batch norm, ReLU, pooling,
 * dropout, SE, a depthwise convolution); the outputs of every convolution
 * that meets at a residual add (the residual stream is one group); and
 * every channel a DenseNet concatenation passes on to its later consumers.
 * Each group has a 0/1 mask. A masked-off channel is set to exactly zero at
 * every convolution and batch-norm output that carries it, forward, and its
 * gradient there is zeroed, backward: the masked network computes what the
 * network without those channels computes, and costs count what the masks
 * keep. Groups are derived at the first pruning call and again after the
 * network gains a layer (which clears the masks).
 */

/** How the channels of a group are ranked (higher scores are kept). */
typedef enum rlkd_prune_criterion {
    RLKD_PRUNE_L1 = 0,      /**< L1 norm of the channel's filters */
    RLKD_PRUNE_L2 = 1,      /**< L2 norm of the channel's filters */
    RLKD_PRUNE_FPGM = 2,    /**< summed distance of the channel's filter to
                                 the others (FPGM: near the geometric median
                                 is redundant) */
    RLKD_PRUNE_BN_SCALE = 3 /**< |gamma| of the batch norms over the channel
                                 (network slimming) */
} rlkd_prune_criterion;

/** One channel group, as rlkd_net_prune_group fills it. */
typedef struct rlkd_prune_group {
    size_t struct_size;  /**< set by rlkd_prune_group_init */
    const char *name;    /**< its first producing layer, owned by the net */
    int channels;        /**< channels in the group */
    int kept;            /**< channels its mask keeps */
    int producers;       /**< convolutions that make them (> 1: a residual
                              stream) */
    int prunable;        /**< may be masked: by default every group with one
                              producer; a residual stream on request */
    const char *refusal; /**< why it can never be pruned, or NULL: the
                              input, the output, a grouped convolution, or
                              an attention module that mixes channels (ECA's
                              1-D convolution, CBAM's channel pooling), which
                              no smaller network reproduces exactly */
} rlkd_prune_group;

RLKD_API void rlkd_prune_group_init(rlkd_prune_group *group);
/** Number of channel groups. */
RLKD_API rlkd_status rlkd_net_prune_group_count(rlkd_net *net, int *count);
RLKD_API rlkd_status rlkd_net_prune_group(rlkd_net *net, int index,
                                          rlkd_prune_group *group);
/** Makes a group prunable or not; a group with a refusal cannot be made
 * prunable (the refusal is the message). Making it not prunable keeps all
 * its channels. */
RLKD_API rlkd_status rlkd_net_prune_set_prunable(rlkd_net *net, int index,
                                                 int prunable);
/**
 * Sets a prunable group's mask: keep[c] != 0 keeps channel c; count must be
 * the group's channel count, and at least one channel must stay. On error
 * the mask is unchanged.
 */
RLKD_API rlkd_status rlkd_net_prune_set_mask(rlkd_net *net, int index,
                                             const uint8_t *keep, int count);
/** Reads a group's mask (1 kept, 0 removed) into keep[count]. */
RLKD_API rlkd_status rlkd_net_prune_get_mask(rlkd_net *net, int index,
                                             uint8_t *keep, int count);
/** A group's channel scores under a criterion, into scores[count]. */
RLKD_API rlkd_status rlkd_net_prune_scores(rlkd_net *net, int index,
                                           rlkd_prune_criterion criterion,
                                           float *scores, int count);
/** Keeps the `keep` best channels of a prunable group by a criterion (ties
 * go to the lower index), 1 <= keep <= channels. */
RLKD_API rlkd_status rlkd_net_prune_keep(rlkd_net *net, int index, int keep,
                                         rlkd_prune_criterion criterion);
/** Keeps every channel of every group. */
RLKD_API rlkd_status rlkd_net_prune_clear(rlkd_net *net);
/**
 * Uniform pruning, the baseline: every prunable group keeps the same
 * fraction of its channels (rounded, at least one) by `criterion`, the
 * largest fraction whose masked MACs are at most `macs_fraction` (in
 * (0, 1]) of the network's without masks. *kept_fraction (may be NULL)
 * receives that fraction. Fails, changing nothing, when even one channel
 * per group exceeds the budget (the message gives the least reachable).
 */
RLKD_API rlkd_status rlkd_net_prune_uniform(rlkd_net *net,
                                            double macs_fraction,
                                            rlkd_prune_criterion criterion,
                                            double *kept_fraction);
/**
 * One step of soft filter pruning (SFP, He et al. 2018): in every prunable
 * group, the channels that keeping `keep_fraction` by `criterion` would
 * remove get zero filters (their producers' weights and biases) and zero
 * scale and shift in every batch norm over them, so that the network
 * computes what the masked one would. The masks do not change: the
 * channels keep training and may recover. The trainer's sfp_keep_fraction
 * calls it after every epoch.
 */
RLKD_API rlkd_status rlkd_net_prune_soft(rlkd_net *net, double keep_fraction,
                                         rlkd_prune_criterion criterion);
/**
 * Network slimming (Liu et al. 2017), after training with the trainer's
 * bn_l1: channels are removed in order of their BN scale (the sum of |gamma|
 * over the batch norms that normalise them), across all prunable groups at
 * once, each group keeping at least its best channel, until the masked MACs
 * are at most `macs_fraction` of the network's without masks. *threshold
 * (may be NULL) receives the scale below which channels went. Fails,
 * changing nothing, when the budget cannot be met.
 */
RLKD_API rlkd_status rlkd_net_prune_slimming(rlkd_net *net,
                                             double macs_fraction,
                                             double *threshold);
/**
 * Builds the smaller network the masks describe (physical compaction):
 * every removed channel is taken out of the layers that make and read it
 * and their weights and statistics are sliced to match, on the same
 * context. It computes what the masked network computes, in inference and
 * in training mode, its costs are the masked costs, it has no masks, and
 * rlkd_net_save writes it as an ordinary checkpoint (SE keeps its MLP
 * width, saved in the architecture). The masked network is unchanged.
 */
RLKD_API rlkd_status rlkd_net_prune_compact(rlkd_net *net, rlkd_net **out);

/* ------------------------------------------------------------------------ */
/* L3 training: data sets, batches and augmentation, optimisers, schedules,  */
/* a trainer with knowledge distillation, evaluation                         */
/* ------------------------------------------------------------------------ */

/**
 * An image data set with int32 class labels in [0, classes): in memory,
 * `count` images of [channels, height, width] 8-bit pixels (CHW order), or
 * file-backed (rlkd_dataset_open_folder, _open_list): paths and labels,
 * decoded by the loader. split and subset work on both (a file-backed
 * part keeps the class names, not the bad-file report); set_item and
 * get_item on in-memory data sets only (RLKD_ERR_UNSUPPORTED otherwise).
 */
typedef struct rlkd_dataset rlkd_dataset;

/**
 * Reads an IDX image file ([N, H, W] unsigned bytes, as MNIST and
 * Fashion-MNIST) and its IDX label file, each plain or gzip (detected from
 * the content). Corrupt, truncated or mismatched files (different counts)
 * give RLKD_ERR_FORMAT or RLKD_ERR_IO with the file and the problem.
 * classes = 1 + the largest label. Ownership: *out is the caller's.
 */
RLKD_API rlkd_status rlkd_dataset_load_idx(const char *images_path,
                                           const char *labels_path,
                                           rlkd_dataset **out);
/**
 * Reads CIFAR binary files: CIFAR-10 records are
 * `<1 label byte><3072 pixel bytes>`, CIFAR-100 records
 * `<coarse byte><fine byte><3072 pixel bytes>`.
 * cifar100 selects the format; coarse_labels picks CIFAR-100's 20 coarse
 * classes instead of the 100 fine ones. The files are concatenated in order
 * (e.g. the five CIFAR-10 training batches).
 */
RLKD_API rlkd_status rlkd_dataset_load_cifar(const char *const *paths,
                                             int path_count, int cifar100,
                                             int coarse_labels,
                                             rlkd_dataset **out);
/** An empty (zeroed) data set to fill with rlkd_dataset_set_item. */
RLKD_API rlkd_status rlkd_dataset_create(int64_t count, int channels,
                                         int height, int width, int classes,
                                         rlkd_dataset **out);
RLKD_API void rlkd_dataset_destroy(rlkd_dataset *dataset);
/** Copies one image (channels*height*width bytes, CHW) and its label in. */
RLKD_API rlkd_status rlkd_dataset_set_item(rlkd_dataset *dataset,
                                           int64_t index,
                                           const uint8_t *pixels,
                                           int32_t label);
/** Copies one image and its label out (either pointer may be NULL). */
RLKD_API rlkd_status rlkd_dataset_get_item(const rlkd_dataset *dataset,
                                           int64_t index, uint8_t *pixels,
                                           int32_t *label);
/** Size and shape; any pointer may be NULL. */
RLKD_API rlkd_status rlkd_dataset_info(const rlkd_dataset *dataset,
                                       int64_t *count, int *channels,
                                       int *height, int *width, int *classes);
/**
 * Splits off a validation set of `validation_count` images chosen by a
 * seeded permutation; the rest (in their original order) is *train. The
 * RL reward measures accuracy on such a split, never on the test set.
 * Both results are new data sets owned by the caller.
 */
RLKD_API rlkd_status rlkd_dataset_split(const rlkd_dataset *dataset,
                                        int64_t validation_count,
                                        uint64_t seed, rlkd_dataset **train,
                                        rlkd_dataset **validation);
/** A new data set of images [first, first + count). */
RLKD_API rlkd_status rlkd_dataset_subset(const rlkd_dataset *dataset,
                                         int64_t first, int64_t count,
                                         rlkd_dataset **out);

/** What rlkd_dataset_open_folder / _open_list do with a bad file. */
typedef enum rlkd_bad_files {
    RLKD_BAD_FILES_SKIP = 0, /**< leave it out (or substitute it) and report it */
    RLKD_BAD_FILES_FAIL = 1  /**< fail with RLKD_ERR_IO / RLKD_ERR_FORMAT naming it */
} rlkd_bad_files;

/** How much of every file rlkd_dataset_open_folder / _open_list read. */
typedef enum rlkd_verify {
    RLKD_VERIFY_NONE = 0,   /**< list only: bad files surface when loaded */
    RLKD_VERIFY_HEADER = 1, /**< read each file, check its signature and header */
    RLKD_VERIFY_DECODE = 2  /**< decode every file completely (slow, thorough) */
} rlkd_verify;

/** Options of the file-backed data sets; fill with rlkd_folder_options_init. */
typedef struct rlkd_folder_options {
    size_t struct_size;       /**< set by rlkd_folder_options_init */
    rlkd_bad_files bad_files; /**< default RLKD_BAD_FILES_SKIP */
    rlkd_verify verify;       /**< default RLKD_VERIFY_HEADER */
} rlkd_folder_options;

RLKD_API void rlkd_folder_options_init(rlkd_folder_options *options);

/**
 * A file-backed data set of JPEG and PNG images in the ImageFolder layout:
 * `root/<class>/<file>.jpg|.jpeg|.png` (extensions in any case; other
 * files are ignored, and so are sub-folders of a class folder, which
 * torchvision would walk). Classes are the sub-folders of root in byte
 * order of their names (as torchvision's ImageFolder sorts them), files in
 * byte order within a class. Only paths and labels are kept; the loader
 * decodes pixels (libjpeg-turbo, libpng) to RGB as PIL's convert("RGB"):
 * grayscale, palette and CMYK (or YCCK) images are converted, an alpha
 * channel is dropped, 16-bit samples keep their high byte (16-bit grey is
 * clipped at 255, as PIL does). rlkd_dataset_info answers channels 3, height and width
 * 0 (the images' sizes vary: the loader's crop_size fixes the batches').
 *
 * Bad files: an empty class folder (it keeps its class index), a file that
 * cannot be read, and, as options->verify asks, a file whose signature,
 * header or data is broken. With RLKD_BAD_FILES_FAIL the first one fails
 * the call (RLKD_ERR_IO or RLKD_ERR_FORMAT with its path); with
 * RLKD_BAD_FILES_SKIP bad files are left out and listed for
 * rlkd_dataset_bad_file. A root with no class folder, or no good image at
 * all, is RLKD_ERR_FORMAT. options may be NULL (the defaults). Ownership:
 * *out is the caller's.
 */
RLKD_API rlkd_status rlkd_dataset_open_folder(const char *root,
                                              const rlkd_folder_options *options,
                                              rlkd_dataset **out);
/**
 * A file-backed data set from a list file of `relative/path label` lines
 * (the label, an integer >= 0, is the last field; the path may contain
 * spaces; blank lines are skipped). Paths are relative to root (NULL: as
 * written). classes = 1 + the largest label. Bad files as
 * rlkd_dataset_open_folder; a malformed line is RLKD_ERR_FORMAT naming the
 * list file and the line.
 */
RLKD_API rlkd_status rlkd_dataset_open_list(const char *list_path,
                                            const char *root,
                                            const rlkd_folder_options *options,
                                            rlkd_dataset **out);
/** The number of bad files the open reported (0 for in-memory data sets). */
RLKD_API rlkd_status rlkd_dataset_bad_file_count(const rlkd_dataset *dataset,
                                                 int64_t *count);
/**
 * Bad file `index` in [0, count), in the order found: its path and why it
 * is bad (e.g. "empty class folder", "not a JPEG or PNG file",
 * libjpeg-turbo's message). The strings belong to the data set and live as
 * long as it; either out pointer may be NULL.
 */
RLKD_API rlkd_status rlkd_dataset_bad_file(const rlkd_dataset *dataset,
                                           int64_t index, const char **path,
                                           const char **reason);
/** The name of class `label` of a folder data set (*name NULL for other
 * data sets); owned by the data set. */
RLKD_API rlkd_status rlkd_dataset_class_name(const rlkd_dataset *dataset,
                                             int label, const char **name);

/** How a loader batches and augments; fill with rlkd_loader_options_init. */
typedef struct rlkd_loader_options {
    size_t struct_size;  /**< set by rlkd_loader_options_init */
    int batch_size;      /**< default 64 */
    int shuffle;         /**< reshuffle every epoch; default 1 */
    int drop_last;       /**< skip a last, smaller batch; default 0 */
    uint64_t seed;       /**< shuffling and augmentation; default 0 */
    int crop_padding;    /**< random crop after zero padding by this; default 0 (off) */
    int horizontal_flip; /**< flip with probability 1/2; default 0 */
    float mean[4];       /**< per channel, after scaling pixels to [0,1]; default 0 */
    float std[4];        /**< per channel; default 1 */
    /* Appended for file-backed data sets (rlkd_dataset_open_folder); an
     * older caller's smaller struct_size gets these defaults. */
    int crop_size;       /**< side of the square output images; default 224 */
    int random_resized_crop; /**< 1: training transform, 0: evaluation; default 0 */
    int resize_size;     /**< evaluation: the shorter side before the centre crop; default 256 */
    float scale_min;     /**< RandomResizedCrop's area fraction, low; default 0.08 */
    float scale_max;     /**< ... and high; default 1 */
    float ratio_min;     /**< RandomResizedCrop's aspect ratio w/h, low; default 3/4 */
    float ratio_max;     /**< ... and high; default 4/3 */
    int workers;         /**< decoding threads; 0: decode in the calling thread; default 0 */
    int prefetch;        /**< batches decoded ahead (with workers); default 2 */
    /* Appended for decoding on the GPU; an older caller's smaller
     * struct_size gets the default. */
    rlkd_device decode_device; /**< file-backed sets: where images are decoded and transformed; RLKD_DEVICE_CUDA: nvJPEG on ctx's GPU (see rlkd_loader_create); default RLKD_DEVICE_CPU */
} rlkd_loader_options;

RLKD_API void rlkd_loader_options_init(rlkd_loader_options *options);

/**
 * Batches of a data set as tensors on ctx. Every random choice (order,
 * crop, flip) is a function of (seed, epoch, image), so an epoch is the
 * same whatever came before it, and a resumed run sees the same batches.
 * Each image is cropped, then flipped, then normalised (padding counts as
 * pixel 0). A new loader stands at epoch 0, batch 0. The loader keeps
 * `dataset` and ctx, which must outlive it. More than 4 channels are
 * allowed only without normalisation.
 *
 * Over a file-backed data set (rlkd_dataset_open_folder) batches are
 * [n, 3, crop_size, crop_size]. Training (random_resized_crop 1):
 * torchvision's RandomResizedCrop (10 attempts at an area in
 * [scale_min, scale_max] of the image and a log-uniform ratio in
 * [ratio_min, ratio_max], then a centre crop of the clamped ratio), the
 * crop resized to crop_size, then horizontal_flip. Evaluation (0): the
 * shorter side resized to resize_size (the longer one to
 * int(resize_size * long / short)), then a centre crop of crop_size
 * (offsets rounded half to even, as Python's round; zeros beyond a smaller
 * image). Resizing is PIL's antialiased bilinear resize (Image.resize with
 * BILINEAR, which torchvision's Resize and RandomResizedCrop call on PIL
 * images), in its fixed-point arithmetic, so the batches equal
 * torchvision's ImageFolder with those transforms, ToTensor and Normalize
 * bit for bit; then normalised with mean and std. crop_padding must be 0. With `workers` threads, images of
 * the next `prefetch` batches are decoded while the caller trains; the
 * batches are bit-identical whatever `workers` is. A file that fails to
 * decode: with RLKD_BAD_FILES_FAIL rlkd_loader_next fails with its path
 * (the batch is consumed); with SKIP the next image of the data set (in
 * its order, wrapping) that decodes takes its place, with its own label.
 *
 * decode_device RLKD_DEVICE_CUDA moves decoding and transforms to the GPU:
 * it needs a file-backed data set, a CUDA context (the batches' device)
 * and a build with nvJPEG (RLKD_FEATURE_NVJPEG; else
 * RLKD_ERR_UNSUPPORTED). The workers read the files, and read each JPEG
 * through with libjpeg (no inverse DCT), so bad files are found, skipped
 * or failed exactly as on the CPU, unless the data set was opened with
 * RLKD_VERIFY_DECODE (every file decoded then: a JPEG changed since is
 * taken as nvJPEG decodes it); nvJPEG decodes the batch's JPEGs on the
 * GPU (the hardware decoder where the GPU has one), and kernels resample,
 * flip and normalise with the CPU path's windows, flips and fixed-point
 * weights into the batch tensor. PNG, CMYK, YCCK and RGB JPEGs, and JPEGs
 * nvJPEG refuses, are decoded on the host and uploaded: those images are
 * the CPU path's bit for bit. nvJPEG's inverse DCT and chroma upsampling
 * differ slightly from libjpeg-turbo's, so a JPEG's values differ from the
 * CPU path's by a few levels of 255 (docs/training.md states the bounds
 * tests/gpu holds them to); batches are still identical for any number of
 * workers.
 */
typedef struct rlkd_loader rlkd_loader;

RLKD_API rlkd_status rlkd_loader_create(rlkd_context *ctx,
                                        const rlkd_dataset *dataset,
                                        const rlkd_loader_options *options,
                                        rlkd_loader **out);
RLKD_API void rlkd_loader_destroy(rlkd_loader *loader);
/** Starts epoch `epoch` (0-based) at batch `first_batch` (0 normally). */
RLKD_API rlkd_status rlkd_loader_start_epoch(rlkd_loader *loader,
                                             int64_t epoch,
                                             int64_t first_batch);
/** Batches per epoch. */
RLKD_API rlkd_status rlkd_loader_batch_count(const rlkd_loader *loader,
                                             int64_t *count);
/**
 * The next batch of the epoch: *images [n, C, H, W] float32 and *labels [n]
 * int32, owned by the loader and valid until its next call; both NULL when
 * the epoch is over. The next batch of the same size overwrites them.
 */
RLKD_API rlkd_status rlkd_loader_next(rlkd_loader *loader,
                                      rlkd_tensor **images,
                                      rlkd_tensor **labels);

typedef enum rlkd_optimizer_kind {
    RLKD_OPTIMIZER_SGD = 0,   /**< momentum, Nesterov, weight decay */
    RLKD_OPTIMIZER_ADAM = 1,  /**< weight decay added to the gradient */
    RLKD_OPTIMIZER_ADAMW = 2  /**< decoupled weight decay */
} rlkd_optimizer_kind;

typedef struct rlkd_optimizer_options {
    size_t struct_size;     /**< set by rlkd_optimizer_options_init */
    rlkd_optimizer_kind kind; /**< default SGD */
    float momentum;         /**< SGD; default 0.9 */
    int nesterov;           /**< SGD; default 0 */
    float weight_decay;     /**< default 5e-4 */
    int no_decay_bn_bias;   /**< exempt every batch-norm parameter and every "*.bias" from weight decay; default 0 */
    float beta1, beta2, eps; /**< Adam; defaults 0.9, 0.999, 1e-8 */
} rlkd_optimizer_options;

RLKD_API void rlkd_optimizer_options_init(rlkd_optimizer_options *options);

/** An optimiser over every parameter of a network (state zeroed, on the
 * network's context; options NULL: the defaults). The network must outlive
 * it; a step fails with RLKD_ERR_SHAPE, changing nothing, if the network's
 * parameters changed since. */
typedef struct rlkd_optimizer rlkd_optimizer;

RLKD_API rlkd_status rlkd_optimizer_create(rlkd_net *net,
                                           const rlkd_optimizer_options *options,
                                           rlkd_optimizer **out);
RLKD_API void rlkd_optimizer_destroy(rlkd_optimizer *optimizer);
/** One update of every parameter from its gradient, with learning rate lr. */
RLKD_API rlkd_status rlkd_optimizer_step(rlkd_optimizer *optimizer, float lr);
/** Updates taken so far (Adam's bias correction counts them). */
RLKD_API rlkd_status rlkd_optimizer_step_count(const rlkd_optimizer *optimizer,
                                               int64_t *steps);

typedef enum rlkd_schedule_kind {
    RLKD_SCHEDULE_CONSTANT = 0,
    RLKD_SCHEDULE_STEP = 1,      /**< x gamma every step_epochs */
    RLKD_SCHEDULE_MULTISTEP = 2, /**< x gamma at each milestone epoch */
    RLKD_SCHEDULE_COSINE = 3     /**< cosine from base_lr to final_lr over total_epochs */
} rlkd_schedule_kind;

/** A learning-rate schedule; fill with rlkd_schedule_init. */
typedef struct rlkd_schedule {
    size_t struct_size;     /**< set by rlkd_schedule_init */
    rlkd_schedule_kind kind; /**< default cosine */
    float base_lr;          /**< default 0.1 */
    float final_lr;         /**< cosine's floor; default 0 */
    float gamma;            /**< step and multistep factor; default 0.1 */
    int step_epochs;        /**< step: period in epochs; default 30 */
    int milestones[8];      /**< multistep: epochs >= 0, increasing; each applies from its epoch on */
    int milestone_count;    /**< default 0 */
    float warmup_epochs;    /**< W: for epoch < W, lr = lr(W) * epoch / W (from 0); the schedule is not shifted; default 0 */
    int total_epochs;       /**< cosine: length, final_lr after it; default 100 */
} rlkd_schedule;

RLKD_API void rlkd_schedule_init(rlkd_schedule *schedule);
/** The learning rate at a fractional epoch (epoch + step / steps_per_epoch).
 * A rate beyond float's range gives RLKD_ERR_NUMERIC. */
RLKD_API rlkd_status rlkd_schedule_lr(const rlkd_schedule *schedule,
                                      double epoch, float *lr);

/**
 * What a progress callback receives: after step `step` of a training epoch
 * (evaluating 0), and once more after the epoch's validation (evaluating 1:
 * the same report of the epoch's last step, with loss and accuracy the
 * validation's mean cross-entropy and top-1). An epoch resumed part-way
 * counts its running means from the resumed step.
 */
typedef struct rlkd_progress {
    size_t struct_size;
    int evaluating;          /**< 0 training, 1 evaluating */
    int64_t epoch, epochs;   /**< 0-based epoch of `epochs` */
    int64_t step, steps;     /**< 0-based step of this epoch's `steps` */
    double loss;             /**< running mean of this epoch */
    double accuracy;         /**< running top-1 of this epoch, in [0,1] */
    double images_per_second;
    double eta_seconds;      /**< to the end of the run */
    float lr;
} rlkd_progress;

typedef void (*rlkd_progress_fn)(const rlkd_progress *progress, void *user);

/** How a trainer trains; fill with rlkd_trainer_options_init. */
typedef struct rlkd_trainer_options {
    size_t struct_size;               /**< set by rlkd_trainer_options_init */
    int epochs;                       /**< default 10 */
    rlkd_optimizer_options optimizer; /**< rlkd_optimizer_options_init's */
    rlkd_schedule schedule;           /**< rlkd_schedule_init's, total_epochs = epochs
                                           (used as given: set it again when
                                           changing epochs) */
    float label_smoothing;            /**< without a teacher; default 0 */
    float kd_alpha;                   /**< with a teacher; default 0.9 */
    float kd_temperature;             /**< default 4 */
    float at_beta;                    /**< attention-transfer weight; default 0 (off) */
    int at_pairs[8][2];               /**< (student node, teacher node) pairs: layer
                                           nodes [N,C,H,W] of one H and W */
    int at_pair_count;                /**< default 0 */
    const char *checkpoint_path;      /**< saved after every epoch; NULL: none (copied) */
    rlkd_progress_fn progress;        /**< called every progress_every steps; NULL: none */
    void *progress_user;
    int progress_every;               /**< default 20 */
    float sfp_keep_fraction;          /**< soft filter pruning: after every epoch,
                                           rlkd_net_prune_soft(student, this,
                                           RLKD_PRUNE_L2); 0 (default): off */
    float bn_l1;                      /**< network slimming's sparsity: this times
                                           sign(gamma) joins every batch norm's
                                           scale gradient; 0 (default): off */
} rlkd_trainer_options;

RLKD_API void rlkd_trainer_options_init(rlkd_trainer_options *options);

/**
 * Trains `student` (with an optimiser and a schedule of its own) by
 * cross-entropy, or, when `teacher` is not NULL, by distillation: the
 * teacher runs in inference mode on the same batch and the loss is
 * rlkd_kd_loss (kd_alpha, kd_temperature) plus at_beta times the attention-
 * transfer loss of each node pair. Both networks must live on one context
 * and outlive the trainer, and both end in class scores [N, K] (a linear
 * layer) of one K for one input shape. options may be NULL (the defaults);
 * they are checked whole and copied.
 */
typedef struct rlkd_trainer rlkd_trainer;

RLKD_API rlkd_status rlkd_trainer_create(rlkd_net *student, rlkd_net *teacher,
                                         const rlkd_trainer_options *options,
                                         rlkd_trainer **out);
RLKD_API void rlkd_trainer_destroy(rlkd_trainer *trainer);
/**
 * One step for a caller who owns the loop: forward, loss, backward and an
 * optimiser update at the schedule's learning rate for the trainer's
 * position (which the step advances; steps_per_epoch positions it within
 * an epoch; it must exceed the current step). *loss (attention transfer
 * included) and *correct (top-1 hits in the batch) may be NULL.
 * A NaN or Inf loss fails with RLKD_ERR_NUMERIC before any update of the
 * parameters, the optimiser or the position (the training forward has
 * already moved batch-norm running statistics and the random stream).
 * Data-parallel (rlkd_trainer_set_comm): every rank passes the whole batch,
 * the same on every rank, and *loss and *correct are the whole batch's.
 */
RLKD_API rlkd_status rlkd_trainer_step(rlkd_trainer *trainer,
                                       const rlkd_tensor *images,
                                       const rlkd_tensor *labels,
                                       int64_t steps_per_epoch, float *loss,
                                       int64_t *correct);
/**
 * The whole run: from the trainer's position to options.epochs, each epoch
 * over `train` (then an evaluation on `validation`, if given), with a
 * checkpoint after every epoch when options.checkpoint_path is set. A NaN
 * or Inf loss stops it with RLKD_ERR_NUMERIC, keeping the last good
 * checkpoint.
 */
RLKD_API rlkd_status rlkd_trainer_fit(rlkd_trainer *trainer,
                                      rlkd_loader *train,
                                      rlkd_loader *validation);
/** Where the trainer stands: the next epoch and step within it. */
RLKD_API rlkd_status rlkd_trainer_position(const rlkd_trainer *trainer,
                                           int64_t *epoch, int64_t *step);
/**
 * Saves everything a resumed run needs, atomically, in one safetensors
 * file: the student's tensors (so rlkd_net_load_weights and rlkd_net_load
 * read it as a network checkpoint), the optimiser's state under the
 * reserved prefix "optimizer_state.", and the position, the context's
 * random stream and the options in the metadata.
 */
RLKD_API rlkd_status rlkd_trainer_save(const rlkd_trainer *trainer,
                                       const char *path);
/**
 * Loads a file of rlkd_trainer_save into this trainer (same architecture):
 * the run then continues exactly as an uninterrupted run would, bit for bit
 * on the CPU. It restores the student's tensors, the optimiser's state and
 * step count, the position, and the context's seed and stream position; the
 * trainer keeps its own options (so a run may be extended to more epochs).
 * The whole file is checked first (architecture, names, shapes, optimiser
 * state of this trainer's kind, trainer metadata: RLKD_ERR_FORMAT for a
 * plain network checkpoint); on failure nothing changes.
 */
RLKD_API rlkd_status rlkd_trainer_resume(rlkd_trainer *trainer,
                                         const char *path);

/**
 * Evaluates a network in inference mode over a loader's epoch 0: top-1 and
 * top-5 accuracy in [0,1] and the mean cross-entropy; any output may be
 * NULL. The output must be class scores [N, K]; with fewer than 5 classes
 * top-5 counts all K. Tied scores rank the lower class first.
 */
RLKD_API rlkd_status rlkd_evaluate(rlkd_net *net, rlkd_loader *loader,
                                   double *top1, double *top5, double *loss);

/** The tensor of node `node` from the last forward (owned by the network,
 * valid until its next forward; node 0 is the input that forward read). */
RLKD_API rlkd_status rlkd_net_node_value(const rlkd_net *net, int node,
                                         rlkd_tensor **value);
/**
 * Backward with extra gradients injected at inner nodes (for losses on
 * intermediate features, such as attention transfer): grads[i] (node
 * nodes[i]'s shape, nodes[i] in 0..node count - 1) is added to that node's
 * gradient. count may be 0 (then it is rlkd_net_backward).
 */
RLKD_API rlkd_status rlkd_net_backward_nodes(rlkd_net *net,
                                             const rlkd_tensor *doutput,
                                             rlkd_tensor *dinput,
                                             const int *nodes,
                                             const rlkd_tensor *const *grads,
                                             int count);

/* ------------------------------------------------------------------------ */
/* L4 search: the RL pruning controller (DDPG on the host, AMC's and rlkd's  */
/* rewards) and the whole compression pipeline                               */
/*                                                                           */
/* A search walks the prunable layers in order, one step per layer: the     */
/* agent sees the layer's state and picks the fraction of its channels to   */
/* keep; the "action wall" clips that fraction so the episode always ends   */
/* within one rounding step under the MACs target; at the episode's end the */
/* environment scores the policy and the reward trains the agent. The       */
/* environment is an rlkd_net with its data (rlkd_search_create_net) or the */
/* caller's own, through two callbacks (rlkd_search_create).                */
/* ------------------------------------------------------------------------ */

/** What the episode's score becomes as a reward. */
typedef enum rlkd_search_reward {
    RLKD_REWARD_SCORE = 0,          /**< the score itself (AMC's accuracy
                                         reward, resource-constrained mode) */
    RLKD_REWARD_ERROR_LOG_MACS = 1  /**< -(1 - score) * ln(MACs) (AMC's
                                         FLOPs-aware reward) */
} rlkd_search_reward;

/** One prunable layer as the agent sees it (its state features). */
typedef struct rlkd_search_layer {
    size_t struct_size;    /**< set by rlkd_search_layer_init */
    const char *name;      /**< for logs and policies (copied); may be NULL */
    int channels;          /**< prunable output channels, >= 1 */
    int in_channels;       /**< of the layer that makes them */
    int kernel, stride;    /**< of that layer (1 and 1 for a linear layer) */
    int kind;              /**< 0 convolution, 1 linear, 2 other (e.g. a
                                residual stream) */
    int64_t params;        /**< of the producing layers, unpruned */
    int64_t macs;          /**< of the producing layers, unpruned */
} rlkd_search_layer;

RLKD_API void rlkd_search_layer_init(rlkd_search_layer *layer);

/**
 * The MACs per image of a policy: keep[i] channels kept of layer i (count
 * layers). Must not increase when a keep count decreases.
 */
typedef rlkd_status (*rlkd_search_cost_fn)(void *user, const int *keep,
                                           int count, int64_t *macs);
/**
 * Scores a policy (higher is better; an accuracy in [0,1] for the built-in
 * rewards' scale): keep[i] channels of layer i, ratios[i] = keep[i] /
 * channels. *accuracy starts as NaN; set it to report an accuracy in logs
 * when the score is something else. A failure stops the search with that
 * status.
 */
typedef rlkd_status (*rlkd_search_score_fn)(void *user, const int *keep,
                                            const double *ratios, int count,
                                            double *score, double *accuracy);

/** What a search's progress callback receives after every episode. */
typedef struct rlkd_search_episode {
    size_t struct_size;
    int64_t episode, episodes; /**< 0-based episode of `episodes` */
    int warmup;                /**< 1: random actions (warm-up) */
    int layers;
    const int *keep;           /**< [layers], valid during the call */
    const double *ratios;      /**< [layers] */
    int64_t macs, macs_before; /**< this policy's and the unpruned MACs */
    double score, accuracy, reward; /**< accuracy NaN if not reported */
    double best_reward;        /**< best so far, this episode included */
    double sigma;              /**< exploration noise of this episode */
    double seconds;            /**< this episode's wall time */
} rlkd_search_episode;

typedef void (*rlkd_search_progress_fn)(const rlkd_search_episode *episode,
                                        void *user);

/** How a search runs; fill with rlkd_search_options_init (AMC's defaults). */
typedef struct rlkd_search_options {
    size_t struct_size;      /**< set by rlkd_search_options_init */
    double macs_fraction;    /**< target: at most this fraction of the
                                  unpruned MACs; default 0.4 */
    double lbound, rbound;   /**< preserve ratios in [lbound, rbound];
                                  default 0.2, 1 */
    int round_to;            /**< channels kept in multiples of this (a layer
                                  with fewer channels keeps all or one
                                  multiple); default 8 */
    int fill_budget;         /**< 1: a lower wall too, so that every episode
                                  ends within one rounding step of the
                                  target (not under it by more); 0: AMC's
                                  upper wall only; default 1 */
    int episodes;            /**< warm-up included; default 400 */
    int warmup_episodes;     /**< uniform random actions; default 100 */
    int hidden1, hidden2;    /**< actor and critic widths; default 300, 300 */
    float actor_lr, critic_lr; /**< Adam; default 1e-4, 1e-3 */
    float tau;               /**< soft target update; default 0.01 */
    float discount;          /**< default 1 */
    int buffer_size;         /**< replay transitions; default 2000 */
    int batch_size;          /**< default 64 */
    float sigma, sigma_decay; /**< truncated-normal exploration after the
                                  warm-up: sigma * decay^(episode - warmup);
                                  default 0.5, 0.95 */
    float baseline_alpha;    /**< moving-average reward baseline:
                                  b += (1 - alpha) * (mean batch reward - b);
                                  default 0.5 (AMC's) */
    rlkd_search_reward reward; /**< default RLKD_REWARD_SCORE */
    int reward_scaling;      /**< rlkd: rewards (minus the baseline) are
                                  divided by a running scale (the moving
                                  average of |reward - baseline|), and the
                                  state carries that scale, so the agent
                                  knows the size of the rewards it is
                                  learning; default 0 (AMC) */
    uint64_t seed;           /**< agent weights, exploration, sampling;
                                  default 0 */
    const char *log_path;    /**< JSON line per episode appended here (the
                                  file is cut back to the whole lines of the
                                  episodes of the state a search resumes
                                  from); NULL: none */
    const char *state_path;  /**< whole search state saved here every
                                  save_every episodes and at the end; NULL:
                                  none */
    int save_every;          /**< default 10 */
    const char *policy_path; /**< the best policy, as JSON, rewritten at
                                  every improvement and on resume; NULL:
                                  none */
    rlkd_search_progress_fn progress; /**< after every episode; NULL: none */
    void *progress_user;
} rlkd_search_options;

RLKD_API void rlkd_search_options_init(rlkd_search_options *options);

typedef struct rlkd_search rlkd_search;

/**
 * A search over the caller's environment: `layers` (count of them, copied)
 * describe the prunable layers in the order the agent decides them; `cost`
 * gives a policy's MACs and `score` its score; `user` is passed to both.
 * options NULL: the defaults; they are checked whole and copied (paths
 * too). Fails with RLKD_ERR_INVALID_ARGUMENT when even the smallest policy
 * exceeds the target.
 */
RLKD_API rlkd_status rlkd_search_create(const rlkd_search_layer *layers,
                                        int count, rlkd_search_cost_fn cost,
                                        rlkd_search_score_fn score, void *user,
                                        const rlkd_search_options *options,
                                        rlkd_search **out);
RLKD_API void rlkd_search_destroy(rlkd_search *search);

/** How the built-in network environment scores a policy. */
typedef struct rlkd_net_env_options {
    size_t struct_size;      /**< set by rlkd_net_env_options_init */
    rlkd_prune_criterion criterion; /**< channels kept within a layer;
                                  default RLKD_PRUNE_L1 */
    int recalibrate_batches; /**< rlkd: batches of the recalibration loader
                                  through the masked network in training
                                  mode, batch-norm statistics as a
                                  cumulative average, before scoring (then
                                  restored); default 0 (AMC: none) */
    double teacher_weight;   /**< rlkd: score = (1 - w) * top-1 + w * the
                                  fraction of images on which the student's
                                  top-1 class is the teacher's; needs a
                                  teacher; default 0 (AMC: top-1 only) */
    int64_t max_images;      /**< images of the validation loader scored per
                                  episode (whole batches, from its epoch 0);
                                  0: all; default 0 */
} rlkd_net_env_options;

RLKD_API void rlkd_net_env_options_init(rlkd_net_env_options *options);

/**
 * A search over a network's prunable channel groups (rlkd_net_prune_group
 * with prunable set, in index order), each a layer of the search, scored
 * on `validation` (a split of the training set, never the test set) with
 * masks chosen by env->criterion; costs are the network's masked MACs.
 * `teacher` (may be NULL) and `recalibration` (may be NULL: the
 * recalibration reads `validation`) serve env's options. The network's
 * masks are cleared for the search and left cleared after each episode;
 * its weights and batch-norm statistics are unchanged. All networks and
 * loaders must outlive the search. env NULL: the defaults (AMC's).
 */
RLKD_API rlkd_status rlkd_search_create_net(rlkd_net *net, rlkd_net *teacher,
                                            rlkd_loader *validation,
                                            rlkd_loader *recalibration,
                                            const rlkd_net_env_options *env,
                                            const rlkd_search_options *options,
                                            rlkd_search **out);

/**
 * Runs episodes until `episodes` have run in all (at most options.episodes;
 * a search stopped early continues where it stopped), saving the state as
 * options say. A failed episode changes nothing of the agent or the best
 * policy; the search can be run again.
 */
RLKD_API rlkd_status rlkd_search_run(rlkd_search *search, int64_t episodes);

/** Episodes run so far. */
RLKD_API rlkd_status rlkd_search_episode_count(const rlkd_search *search,
                                               int64_t *episodes);

/**
 * The best policy so far (highest reward; the earlier episode on a tie):
 * keep[count] channel counts (count = the layer count), and its reward,
 * score and MACs; any pointer but search may be NULL. RLKD_ERR_INVALID_ARGUMENT
 * before the first episode.
 */
RLKD_API rlkd_status rlkd_search_best(const rlkd_search *search, int *keep,
                                      int count, double *reward, double *score,
                                      int64_t *macs);

/**
 * A network search only: sets the network's masks to the best policy (by
 * the environment's criterion), for fine-tuning and compaction.
 */
RLKD_API rlkd_status rlkd_search_apply_best(rlkd_search *search);

/**
 * Saves the whole search (agent, replay buffer, best policy, episode count,
 * baseline, random stream) atomically in a safetensors file, and
 * rlkd_search_resume loads one into a search made with the same layers and
 * options: it then continues exactly as an uninterrupted search would, bit
 * for bit on the CPU. The file is checked whole first (RLKD_ERR_FORMAT for
 * another search's or a corrupt file); on failure nothing changes. Resuming
 * also brings the search's log and policy files back to the saved state.
 */
RLKD_API rlkd_status rlkd_search_save(const rlkd_search *search,
                                      const char *path);
RLKD_API rlkd_status rlkd_search_resume(rlkd_search *search, const char *path);

/** The compression methods of rlkd_compress. */
typedef enum rlkd_compress_method {
    RLKD_METHOD_RLKD = 0,    /**< RL search with the rlkd reward (BN
                                  recalibration, teacher agreement, reward
                                  scaling), fine-tuning with distillation */
    RLKD_METHOD_AMC = 1,     /**< RL search with AMC's reward, fine-tuning
                                  without a teacher */
    RLKD_METHOD_UNIFORM = 2, /**< one kept fraction for every layer */
    RLKD_METHOD_SFP = 3      /**< soft filter pruning through the fine-tuning */
} rlkd_compress_method;

/** Stages of rlkd_compress, as its progress callback sees them. */
typedef enum rlkd_compress_stage {
    RLKD_STAGE_DISTILL = 0,
    RLKD_STAGE_SEARCH = 1,
    RLKD_STAGE_FINETUNE = 2,
    RLKD_STAGE_COMPACT = 3,
    RLKD_STAGE_EVALUATE = 4
} rlkd_compress_stage;

typedef void (*rlkd_compress_stage_fn)(rlkd_compress_stage stage, int starting,
                                       void *user);

/** How rlkd_compress runs; fill with rlkd_compress_options_init. */
typedef struct rlkd_compress_options {
    size_t struct_size;         /**< set by rlkd_compress_options_init */
    rlkd_compress_method method; /**< default RLKD_METHOD_RLKD */
    int distill_epochs;         /**< first train the student from the teacher
                                     for this many epochs (0: the student
                                     comes trained); default 0 */
    int finetune_epochs;        /**< with the masks; default 4 */
    float distill_lr, finetune_lr; /**< cosine peaks; default 0.05, 0.01 */
    rlkd_trainer_options train; /**< optimiser, KD and progress settings of
                                     both trainings (epochs, schedule and
                                     pruning fields are set per stage) */
    rlkd_search_options search; /**< macs_fraction is the pipeline's target */
    rlkd_net_env_options env;   /**< RLKD_METHOD_RLKD: set to rlkd's own
                                     unless rlkd_defaults is 0 */
    int rlkd_defaults;          /**< 1: for RLKD_METHOD_RLKD use
                                     recalibrate_batches 20, teacher_weight
                                     0.5 and reward_scaling 1 (the ablation
                                     sets 0 and chooses); default 1 */
    rlkd_prune_criterion criterion; /**< uniform/SFP/search; default L1 */
    rlkd_compress_stage_fn stage; /**< stage starts and ends; NULL: none */
    void *stage_user;
    /* Appended for data-parallel runs; an older caller's smaller
     * struct_size gets these defaults. */
    struct rlkd_comm *comm;     /**< NULL: one process (default). Else
                                     rlkd_compress is a collective call over
                                     comm, every rank passing the same
                                     networks, data and options: the
                                     trainings are data-parallel
                                     (rlkd_trainer_set_comm), the search
                                     runs over it (rlkd_search_set_comm),
                                     and every rank ends with the same
                                     network and report */
    const struct rlkd_parallel_options *parallel; /**< the trainings'
                                     data-parallel options; NULL: the
                                     defaults */
} rlkd_compress_options;

RLKD_API void rlkd_compress_options_init(rlkd_compress_options *options);

/** What rlkd_compress measured. */
typedef struct rlkd_compress_report {
    size_t struct_size;          /**< set by the caller: sizeof */
    double student_top1;         /**< the unpruned (distilled) student on test */
    double top1, top5;           /**< the compacted network on test */
    int64_t params_before, macs_before;
    int64_t params, macs;        /**< FLOPs = 2 x MACs */
    double search_reward;        /**< best reward (RL methods), else NaN */
    double kept_fraction;        /**< uniform and SFP: the fraction every
                                      layer keeps; RL methods: NaN */
    int64_t episodes;            /**< search episodes run */
    double seconds[5];           /**< per stage (rlkd_compress_stage order) */
} rlkd_compress_report;

/**
 * The pipeline in one call: (distil the student from the teacher) ->
 * prune it to options->search.macs_fraction of its MACs by the method
 * (for RL methods: search on `validation`, apply the best policy) ->
 * fine-tune with the masks (with distillation when there is a teacher and
 * the method is not AMC) -> compact -> evaluate on `test`. The student is
 * trained in place and left with the masks; *compacted (may be NULL)
 * receives the compacted network (the caller's, rlkd_net_destroy). teacher
 * may be NULL except for RLKD_METHOD_RLKD and distill_epochs > 0; `test`
 * may be NULL (no evaluation). report->struct_size must be set. With
 * options->comm, every rank runs it together (see the field).
 */
RLKD_API rlkd_status rlkd_compress(rlkd_net *student, rlkd_net *teacher,
                                   rlkd_loader *train, rlkd_loader *validation,
                                   rlkd_loader *test,
                                   const rlkd_compress_options *options,
                                   rlkd_net **compacted,
                                   rlkd_compress_report *report);

/* ------------------------------------------------------------------------ */
/* Several processes: a communicator, data-parallel training, parallel search */
/*                                                                           */
/* One process per GPU (or several processes on CPUs), on one machine or on */
/* several, as torchrun starts them: every process knows its rank in        */
/* [0, world_size) and a rendezvous they all share, and makes its own       */
/* context and communicator. Collective calls (every call on a              */
/* communicator, rlkd_trainer_set_comm, rlkd_search_set_comm, and what a    */
/* trainer or a search with a communicator runs) must be made by every rank */
/* in the same order with the same sizes. docs/distributed.md tells how to  */
/* launch, and what is synchronised and what is not.                        */
/* ------------------------------------------------------------------------ */

/** A group of processes that sum and share tensors. */
typedef struct rlkd_comm rlkd_comm;

/** How a communicator moves data. */
typedef enum rlkd_comm_backend {
    RLKD_COMM_AUTO = 0, /**< NCCL on a CUDA context in a build with NCCL,
                             else CPU */
    RLKD_COMM_CPU = 1,  /**< TCP sockets between the processes, sums on the
                             host; any context (device tensors are copied
                             through host memory) */
    RLKD_COMM_NCCL = 2  /**< NCCL between the GPUs, on the context's stream
                             (CUDA contexts, one GPU per rank; builds with
                             CUDA and NCCL only) */
} rlkd_comm_backend;

/** What an all-reduce makes of the ranks' tensors. */
typedef enum rlkd_reduce_op {
    RLKD_REDUCE_SUM = 0, /**< the sum over the ranks */
    RLKD_REDUCE_MEAN = 1 /**< the sum divided by world_size (F32 only) */
} rlkd_reduce_op;

/** Who this process is and how it meets the others; fill with
 * rlkd_comm_options_init (and rlkd_comm_options_from_env). */
typedef struct rlkd_comm_options {
    size_t struct_size;      /**< set by rlkd_comm_options_init */
    int rank;                /**< this process, in [0, world_size); default 0 */
    int world_size;          /**< processes in all; default 1 */
    int local_rank;          /**< this process among those of its machine:
                                  the GPU it should use (not read by
                                  rlkd_comm_create); default 0 */
    const char *rendezvous;  /**< where the processes meet: a file path that
                                  rank 0 writes and every rank reads (on a
                                  file system all machines share; give each
                                  run its own: rank 0 replaces it, and
                                  removes it once every rank has arrived),
                                  or "HOST:PORT" on which rank 0 listens;
                                  may be NULL when world_size is 1; read
                                  by rlkd_comm_create only */
    rlkd_comm_backend backend; /**< default RLKD_COMM_AUTO */
    int timeout_ms;          /**< the longest wait for the other ranks, in
                                  the rendezvous and in every collective
                                  call (> 0); default 600000 (10 minutes) */
} rlkd_comm_options;

RLKD_API void rlkd_comm_options_init(rlkd_comm_options *options);

/**
 * Sets options from the environment, as torchrun's variables:
 * RLKD_RANK and RLKD_WORLD_SIZE (required), RLKD_LOCAL_RANK (default: the
 * rank), RLKD_RENDEZVOUS (required when the world size is above 1; the
 * options then point at the environment's string), and optionally
 * RLKD_COMM_BACKEND ("auto", "cpu" or "nccl") and RLKD_COMM_TIMEOUT_MS.
 * Other fields keep their values. A missing or malformed variable is
 * RLKD_ERR_INVALID_ARGUMENT naming it; options are then unchanged.
 */
RLKD_API rlkd_status rlkd_comm_options_from_env(rlkd_comm_options *options);

/**
 * Joins the group: every rank calls it with its own rank and the same
 * world size and rendezvous, and it returns when all have arrived (or
 * fails with RLKD_ERR_IO after timeout_ms). Tensors of the communicator's
 * calls live on ctx, which must outlive it. RLKD_COMM_NCCL without NCCL in
 * the build, or on a CPU context, is RLKD_ERR_UNSUPPORTED.
 * Ownership: *out is the caller's (rlkd_comm_destroy).
 */
RLKD_API rlkd_status rlkd_comm_create(rlkd_context *ctx,
                                      const rlkd_comm_options *options,
                                      rlkd_comm **out);
/** Leaves the group and frees the communicator. Accepts NULL. */
RLKD_API void rlkd_comm_destroy(rlkd_comm *comm);

/** This process's rank, or -1 for NULL. */
RLKD_API int rlkd_comm_rank(const rlkd_comm *comm);
/** The number of ranks, or -1 for NULL. */
RLKD_API int rlkd_comm_world_size(const rlkd_comm *comm);
/** The backend in use (RLKD_COMM_CPU or RLKD_COMM_NCCL; RLKD_COMM_AUTO for
 * NULL). */
RLKD_API rlkd_comm_backend rlkd_comm_backend_of(const rlkd_comm *comm);

/**
 * Sums a tensor over the ranks, in place: every rank ends with the same
 * bits. F32 takes both ops; I32 only RLKD_REDUCE_SUM. Every rank passes a
 * tensor of the same dtype and element count. On the CPU backend the sum
 * runs in rank order (rank 0 + rank 1 + ...), so it does not depend on
 * timing. A failure (a rank that called something else, exited or did not
 * come within the timeout: RLKD_ERR_IO, or RLKD_ERR_INVALID_ARGUMENT for
 * different calls) leaves the communicator failed: every later call on it
 * fails, and it can only be destroyed.
 */
RLKD_API rlkd_status rlkd_comm_all_reduce(rlkd_comm *comm, rlkd_tensor *tensor,
                                          rlkd_reduce_op op);
/** Copies rank `root`'s tensor into every rank's (same dtype and element
 * count everywhere). Failures as rlkd_comm_all_reduce. */
RLKD_API rlkd_status rlkd_comm_broadcast(rlkd_comm *comm, rlkd_tensor *tensor,
                                         int root);
/** Returns when every rank has called it. Failures as rlkd_comm_all_reduce. */
RLKD_API rlkd_status rlkd_comm_barrier(rlkd_comm *comm);

/** How a trainer runs data-parallel; fill with rlkd_parallel_options_init. */
typedef struct rlkd_parallel_options {
    size_t struct_size;   /**< set by rlkd_parallel_options_init */
    int sync_batchnorm;   /**< 1: batch norm in training normalises with the
                               statistics of the whole batch over all ranks
                               (synchronised BN: the same as one process on
                               the whole batch); 0: with each rank's own
                               rows, the running statistics then averaged
                               over the ranks after every step; default 0 */
    size_t bucket_bytes;  /**< gradients are summed in groups of about this
                               many bytes (fewer, larger messages); default
                               16 MiB */
} rlkd_parallel_options;

RLKD_API void rlkd_parallel_options_init(rlkd_parallel_options *options);

/**
 * Makes the trainer data-parallel over comm (a collective call): the
 * student's (and teacher's) parameters and buffers, the optimiser's state,
 * the position and the context's random stream (its seed and draws so far)
 * are copied from rank 0 to every rank, after a check that every rank has
 * the same networks (RLKD_ERR_INVALID_ARGUMENT on every rank otherwise).
 * From then on every rank is given the same batches (the same loader, seed
 * and data set on every rank) and computes on its rows [r*B/W, (r+1)*B/W)
 * of each, with the dropout masks one process would draw for those rows;
 * the loss gradient is scaled so that the
 * gradients, summed over the ranks, are those of the whole batch; the
 * loss and the hits are summed; the trainer's validation is split over the
 * ranks the same way; only rank 0 writes checkpoints (rlkd_trainer_save on
 * another rank writes nothing and returns rank 0's status). A batch must
 * have at least world_size images. comm NULL makes the trainer a single
 * process again. comm must outlive the trainer (or its next
 * rlkd_trainer_set_comm); options NULL: the defaults.
 */
RLKD_API rlkd_status rlkd_trainer_set_comm(rlkd_trainer *trainer,
                                           rlkd_comm *comm,
                                           const rlkd_parallel_options *options);

/**
 * Runs the search over comm (a collective call; every rank made the same
 * search, checked): rank 0's agent chooses every policy and sends it to
 * the others, every rank scores it (the built-in network environment
 * scores its share of the validation batches, batch b on rank b mod W, and
 * the hit counts are summed, so the score is exactly the one process's),
 * and rank 0's score counts. The best policy is then the same on every
 * rank and the same as one process's with the same seed. Only rank 0
 * writes the log, policy and state files (rlkd_search_save on another rank
 * writes nothing). A caller's score callback runs on every rank and may
 * use the communicator itself. comm NULL: one process again; comm must
 * outlive the search (or its next rlkd_search_set_comm).
 */
RLKD_API rlkd_status rlkd_search_set_comm(rlkd_search *search,
                                          rlkd_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* RLKD_H */
