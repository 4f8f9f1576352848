/*
 * cuda_emu.h: the subset of CUDA that the cohort kernels use, mapped onto
 * plain C11 (or C++) so that the kernel sources compile with an ordinary host
 * compiler and run on the CPU.
 *
 * common.cuh includes this header when __CUDACC__ is not defined. A launch is
 * emulated by EMU_LAUNCH, which runs every (block, thread) pair of the grid
 * one after another on the calling thread, setting blockIdx, threadIdx,
 * blockDim and gridDim before each call. That is a valid schedule for the
 * kernels' contract (no warp intrinsics; shared memory only for the AES
 * table each block fills before a barrier; otherwise every thread only reads
 * its inputs and writes its own outputs), so the
 * emulation checks the per-element logic and the launch indexing, not
 * concurrency, occupancy or speed.
 *
 * Compile with -ffp-contract=off: the kernels' float arithmetic must not be
 * fused into FMAs (on the device the kernels use the __d*_rn intrinsics,
 * which are never fused, and `make ptx` passes --fmad=false as well).
 */
#ifndef COHORT_CUDA_EMU_H
#define COHORT_CUDA_EMU_H

#include <stdint.h>
#include <string.h>

/* The launch coordinates. They are thread-local so that several host threads
 * may run emulated launches at the same time. */
typedef struct {
	unsigned int x, y, z;
} cohort_emu_dim3;

#ifdef __cplusplus
#define COHORT_EMU_THREAD_LOCAL thread_local
#else
#define COHORT_EMU_THREAD_LOCAL _Thread_local
#endif

static COHORT_EMU_THREAD_LOCAL cohort_emu_dim3 blockIdx, blockDim, threadIdx, gridDim;

/* Function and variable qualifiers. A kernel is a plain function, a
 * __constant__ table a static const array. */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __constant__
#define __grid_constant__
/* Shared memory: one copy per host thread, reused by each emulated block
 * (the blocks run one after another); a barrier is a no-op, since the
 * threads of a block run in order and the kernels only fill shared memory
 * before their first barrier (see cohort_aes_table_load). */
#define __shared__ static COHORT_EMU_THREAD_LOCAL
#define __syncthreads() ((void)0)
#define COHORT_KERNEL_LINKAGE

/* Loads through the read-only data cache. */
#define __ldg(p) (*(p))

/* High 64 bits of the 128-bit product of a and b. */
static inline uint64_t __umul64hi(uint64_t a, uint64_t b)
{
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

/* Bit casts. */
static inline long long __double_as_longlong(double x)
{
	long long r;
	memcpy(&r, &x, sizeof r);
	return r;
}

static inline double __longlong_as_double(long long x)
{
	double r;
	memcpy(&r, &x, sizeof r);
	return r;
}

/* IEEE-754 binary64 operations rounded to nearest even, never contracted
 * (with -ffp-contract=off), and the correctly rounded float64 to float32
 * conversion. */
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __double2float_rn(double a) { return (float)a; }

/* EMU_LAUNCH runs call once for every thread of a grid of grid blocks of
 * block threads, sequentially. */
#define EMU_LAUNCH(grid, block, call)                                          \
	do {                                                                   \
		gridDim.x = (grid);                                            \
		gridDim.y = gridDim.z = 1;                                     \
		blockDim.x = (block);                                          \
		blockDim.y = blockDim.z = 1;                                   \
		blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;       \
		for (blockIdx.x = 0; blockIdx.x < gridDim.x; blockIdx.x++)     \
			for (threadIdx.x = 0; threadIdx.x < blockDim.x;        \
			     threadIdx.x++) {                                  \
				call;                                          \
			}                                                      \
	} while (0)

#endif /* COHORT_CUDA_EMU_H */
