/*
 * ring.cu: element-wise arithmetic in Z/2^32 and Z/2^64 (RingBackend).
 *
 * One thread per element in a grid-stride loop. dst may alias any input
 * exactly: each thread reads an element's inputs before writing it.
 *
 *   cohort_add_u32(dst, a, b, n)         dst = a + b
 *   cohort_sub_u32(dst, a, b, n)         dst = a - b
 *   cohort_neg_u32(dst, a, n)            dst = -a
 *   cohort_add_scalar_u32(dst, a, s, n)  dst = a + s
 *   cohort_sum_u32(dst, vs, nvec, n)     dst = vs[0] + ... + vs[nvec-1] (0 if nvec = 0)
 *   and the _u64 variants.
 *
 * The sum kernels take a device array of nvec device pointers and add one
 * column across all vectors per thread, in order of the vectors (the order
 * does not change the result in a ring).
 */
#include "common.cuh"

COHORT_KERNEL cohort_add_u32(uint32_t* dst, const uint32_t* a, const uint32_t* b, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] + b[i];
}

COHORT_KERNEL cohort_sub_u32(uint32_t* dst, const uint32_t* a, const uint32_t* b, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] - b[i];
}

COHORT_KERNEL cohort_neg_u32(uint32_t* dst, const uint32_t* a, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = 0u - a[i];
}

COHORT_KERNEL cohort_add_scalar_u32(uint32_t* dst, const uint32_t* a, uint32_t s, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] + s;
}

COHORT_KERNEL cohort_sum_u32(uint32_t* dst, const uint32_t* const* vs, int nvec, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads()) {
		uint32_t s = 0;
		for (int k = 0; k < nvec; k++)
			s += vs[k][i];
		dst[i] = s;
	}
}

COHORT_KERNEL cohort_add_u64(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] + b[i];
}

COHORT_KERNEL cohort_sub_u64(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] - b[i];
}

COHORT_KERNEL cohort_neg_u64(uint64_t* dst, const uint64_t* a, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = 0u - a[i];
}

COHORT_KERNEL cohort_add_scalar_u64(uint64_t* dst, const uint64_t* a, uint64_t s, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = a[i] + s;
}

COHORT_KERNEL cohort_sum_u64(uint64_t* dst, const uint64_t* const* vs, int nvec, uint64_t n)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads()) {
		uint64_t s = 0;
		for (int k = 0; k < nvec; k++)
			s += vs[k][i];
		dst[i] = s;
	}
}
