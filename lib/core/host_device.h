/* Marks a function shared by lib/cpu and kernels/ as callable on both the
 * host and the GPU (plain C outside nvcc). */
#ifndef RLKD_HOST_DEVICE_H
#define RLKD_HOST_DEVICE_H

#ifdef __CUDACC__
#define RLKD_HOST_DEVICE __host__ __device__
#else
#define RLKD_HOST_DEVICE
#endif

#endif
