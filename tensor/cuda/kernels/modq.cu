/*
 * modq.cu: element-wise arithmetic modulo q, 2 <= q < 2^62 (ModBackend).
 *
 * Inputs must be reduced (in [0, q)); results are reduced. No kernel branches
 * on or indexes memory with the values: conditional subtractions are
 * selects on a comparison. dst may alias any input exactly.
 *
 *   cohort_mod_add(dst, a, b, n, q)             dst = a + b mod q
 *   cohort_mod_sub(dst, a, b, n, q)             dst = a - b mod q
 *   cohort_mod_mul(dst, a, b, n, q, mu, k)      dst = a·b mod q
 *   cohort_mod_mul_scalar(dst, a, n, q, s, sp)  dst = a·s mod q
 *
 * The host precomputes the constants (they depend only on the public q and
 * scalar):
 *
 *   k  = bit length of q (2^(k-1) <= q < 2^k, 2 <= k <= 62)
 *   mu = floor(2^(2k) / q)                        Barrett constant, < 2^63
 *   s in [0, q), sp = floor(s·2^64 / q)           Shoup constant, < 2^64
 *
 * ModMul is classical Barrett reduction (HAC 14.42): for x = a·b < 2^(2k),
 * qhat = floor(floor(x / 2^(k-1))·mu / 2^(k+1)) is within 2 of floor(x/q),
 * so r = x - qhat·q (computed mod 2^64) is in [0, 3q) and two conditional
 * subtractions reduce it. ModMulScalar is Shoup's method: qhat =
 * floor(a·sp / 2^64) is within 1 of floor(a·s/q), r in [0, 2q), one
 * subtraction. Both match tensor/internal/modq, and results mod q are unique
 * anyway.
 */
#include "common.cuh"

/* cohort_csub returns r - q if r >= q and r otherwise, without a branch. */
static __device__ __forceinline__ uint64_t cohort_csub(uint64_t r, uint64_t q)
{
	uint64_t t = r - q;
	return t + (q & (0 - cohort_lt_u64(r, q)));
}

COHORT_KERNEL cohort_mod_add(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = cohort_csub(a[i] + b[i], q); /* a + b < 2q < 2^63 */
}

COHORT_KERNEL cohort_mod_sub(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads()) {
		uint64_t x = a[i], y = b[i];
		dst[i] = x - y + (q & (0 - cohort_lt_u64(x, y)));
	}
}

COHORT_KERNEL cohort_mod_mul(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q, uint64_t mu,
                             uint32_t k)
{
	/* 1 <= k-1 <= 61 and 3 <= k+1 <= 63: no shift count is 0 or 64. */
	uint32_t sh1 = k - 1, sh2 = k + 1;
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads()) {
		uint64_t x = a[i], y = b[i];
		uint64_t hi = __umul64hi(x, y), lo = x * y;
		uint64_t q1 = lo >> sh1 | hi << (64 - sh1);
		uint64_t ph = __umul64hi(q1, mu), pl = q1 * mu;
		uint64_t qh = pl >> sh2 | ph << (64 - sh2);
		uint64_t r = lo - qh * q; /* exact: r < 3q < 2^64 */
		dst[i] = cohort_csub(cohort_csub(r, q), q);
	}
}

COHORT_KERNEL cohort_mod_mul_scalar(uint64_t* dst, const uint64_t* a, uint64_t n, uint64_t q, uint64_t s, uint64_t sp)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads()) {
		uint64_t x = a[i];
		uint64_t qh = __umul64hi(x, sp);
		dst[i] = cohort_csub(x * s - qh * q, q);
	}
}
