/*
 * common.cuh: definitions shared by the cohort CUDA kernels.
 *
 * Every kernel is written in a subset of CUDA C that also compiles as C11
 * (and C++) with a host compiler through emu/cuda_emu.h, so that its logic
 * can be checked on the CPU against the Go backend (see README.md):
 *
 *   - one thread per element, or per AES block of 4 uint32 / 2 uint64 words,
 *     in a grid-stride loop; any launch geometry gives the same result;
 *   - no warp intrinsics; shared memory and __syncthreads only for the AES
 *     table each block fills at its start (aes128.cuh);
 *   - tables in __constant__ memory; device helpers static __device__
 *     __forceinline__;
 *   - floating-point operations through the __d*_rn intrinsics, which the
 *     compiler never contracts into fused multiply-adds.
 *
 * Lengths are uint64_t: vectors may exceed 2^32 elements. No kernel assumes
 * that its output does not alias its inputs, except where documented.
 */
#ifndef COHORT_COMMON_CUH
#define COHORT_COMMON_CUH

#ifdef __CUDACC__
#include <stdint.h>
#define COHORT_KERNEL_LINKAGE extern "C"
#else
#include "emu/cuda_emu.h"
#endif

/* COHORT_KERNEL declares a kernel with an unmangled name (cuModuleGetFunction
 * looks kernels up by that name). */
#define COHORT_KERNEL COHORT_KERNEL_LINKAGE __global__ void

/* cohort_tid returns the index of the calling thread in the grid. */
static __device__ __forceinline__ uint64_t cohort_tid(void)
{
	return (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
}

/* cohort_nthreads returns the number of threads in the grid: the stride of
 * a grid-stride loop. */
static __device__ __forceinline__ uint64_t cohort_nthreads(void)
{
	return (uint64_t)gridDim.x * blockDim.x;
}

/* How a fused kernel combines a computed word w with the destination. The
 * argument is a constant at every call site, so the selection is resolved at
 * compile time. */
enum {
	COHORT_OP_STORE = 0, /* dst = w */
	COHORT_OP_ADD = 1,   /* dst += w */
	COHORT_OP_SUB = 2    /* dst -= w */
};

static __device__ __forceinline__ uint32_t cohort_apply_u32(uint32_t d, uint32_t w, int op)
{
	return op == COHORT_OP_STORE ? w : op == COHORT_OP_ADD ? d + w : d - w;
}

static __device__ __forceinline__ uint64_t cohort_apply_u64(uint64_t d, uint64_t w, int op)
{
	return op == COHORT_OP_STORE ? w : op == COHORT_OP_ADD ? d + w : d - w;
}

/* cohort_bswap32 reverses the byte order of x. */
static __device__ __forceinline__ uint32_t cohort_bswap32(uint32_t x)
{
	return x >> 24 | (x >> 8 & 0xff00u) | (x << 8 & 0xff0000u) | x << 24;
}

/* Bit casts between double and uint64_t. */
static __device__ __forceinline__ uint64_t cohort_f64_bits(double x)
{
	return (uint64_t)__double_as_longlong(x);
}

static __device__ __forceinline__ double cohort_f64_from_bits(uint64_t b)
{
	return __longlong_as_double((long long)b);
}

/* cohort_lt_u64 returns 1 if a < b and 0 otherwise, without a branch (the
 * comparison compiles to a predicate and a select). */
static __device__ __forceinline__ uint64_t cohort_lt_u64(uint64_t a, uint64_t b)
{
	return (uint64_t)(a < b);
}

#endif /* COHORT_COMMON_CUH */
