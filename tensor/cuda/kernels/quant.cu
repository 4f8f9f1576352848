/*
 * quant.cu: quantisation of floats into Z/2^32 or Z/2^64 with stochastic
 * rounding, and dequantisation of sums (FixedPointBackend).
 *
 * The arithmetic is the reference of tensor/internal/quant, operation for
 * operation in IEEE-754 binary64 rounded to nearest even, each operation
 * through a __d*_rn intrinsic so that none is contracted into an FMA
 * (`make ptx` passes --fmad=false too). For element i with x = src[i] and
 * r = word i of the rounding stream:
 *
 *   v = (double(x) - lo) * scale
 *   v = 0 if !(v > 0); v = max if v > max      (NaN becomes 0, i.e. Lo)
 *   f = floor(v)                               (as (v + 2^52) - 2^52, corrected)
 *   u = double(int32(r)) * 2^-32 + 0.5         (uniform in [0, 1))
 *   dst[i] = f + (u < v - f)
 *
 * with the comparisons done on bit patterns of non-negative doubles, like the
 * Go code, so there is no data-dependent branch.
 *
 * The rounding words come from the AES-CTR stream of the rounding key
 * (label cohort/tensor/rounding/v1): element i uses uint32 word i of the
 * stream, whatever the output width. The kernels take the expanded key and
 * the counter of the block holding the word of src[0] (0 for a whole vector,
 * w/4 for a chunk starting at element w, a multiple of 4), and each thread
 * handles one keystream block: elements 4j..4j+3.
 *
 *   cohort_quantize_f32_u32(dst, src, n, key, ctr_hi, ctr_lo, lo, scale, max)
 *   cohort_quantize_f64_u32, cohort_quantize_f32_u64, cohort_quantize_f64_u64
 *
 * lo, scale and max are the fixed-point parameters Lo, (2^Bits-1)/(Hi-Lo)
 * and 2^Bits-1 (max <= 2^32-1 for the u32 kernels, <= 2^52-1 for the u64
 * ones; the host checks). dst may alias src exactly when the element sizes
 * match (f32 to u32, f64 to u64).
 *
 * Dequantisation, one thread per element:
 *
 *   dst[i] = float((double(sum[i]) * step) + offset)     (or double)
 *
 *   cohort_dequantize_u32_f32(dst, sum, n, step, offset)
 *   cohort_dequantize_u32_f64, cohort_dequantize_u64_f32, cohort_dequantize_u64_f64
 *
 * where double(sum[i]) is exact for uint32 and correctly rounded for uint64,
 * step = (Hi-Lo)/(2^Bits-1) and offset = n·Lo for a sum of n vectors.
 */
#include "aes128.cuh"

#define COHORT_BITS_POS_INF 0x7FF0000000000000ull
#define COHORT_TWO52 4503599627370496.0 /* 2^52 */
#define COHORT_TWO_M32 2.3283064365386962890625e-10 /* 2^-32 */

/* cohort_quantize_one quantises x (already converted to double, which is
 * exact from float) with rounding word r; mb is the bit pattern of max. */
static __device__ __forceinline__ uint64_t cohort_quantize_one(double x, uint32_t r, double lo, double scale,
                                                               uint64_t mb)
{
	double v = __dmul_rn(__dsub_rn(x, lo), scale);

	/* v = 0 unless v > 0: v > 0 iff its pattern is in [1, bits(+Inf)]. */
	uint64_t vb = cohort_f64_bits(v);
	vb &= 0 - cohort_lt_u64(vb - 1, COHORT_BITS_POS_INF);

	/* v = max if v > max: both are now non-negative and not NaN. */
	vb ^= (vb ^ mb) & (0 - cohort_lt_u64(mb, vb));
	v = cohort_f64_from_bits(vb);

	/* f = floor(v) for 0 <= v < 2^52: round to an integer by adding and
	 * subtracting 2^52, then step down if that rounded up. */
	double f = __dsub_rn(__dadd_rn(v, COHORT_TWO52), COHORT_TWO52);
	f = __dsub_rn(f, (double)(int64_t)cohort_lt_u64(vb, cohort_f64_bits(f)));

	/* d = v - f and u are exact; round up iff u < d. */
	double d = __dsub_rn(v, f);
	double u = __dadd_rn(__dmul_rn((double)(int32_t)r, COHORT_TWO_M32), 0.5);
	uint64_t up = cohort_lt_u64(cohort_f64_bits(u), cohort_f64_bits(d));

	return (uint64_t)(int64_t)f + up;
}

COHORT_KERNEL cohort_quantize_f32_u32(uint32_t* dst, const float* src, uint64_t n,
                                      const __grid_constant__ cohort_aes128_key key, uint64_t ctr_hi, uint64_t ctr_lo,
                                      double lo, double scale, double max)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t mb = cohort_f64_bits(max), blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, &key, ctr_hi, ctr_lo, j, r);
		uint64_t m = n - 4 * j;
		for (int k = 0; k < 4; k++)
			if ((uint64_t)k < m)
				dst[4 * j + k] = (uint32_t)cohort_quantize_one((double)src[4 * j + k], r[k], lo, scale, mb);
	}
}

COHORT_KERNEL cohort_quantize_f64_u32(uint32_t* dst, const double* src, uint64_t n,
                                      const __grid_constant__ cohort_aes128_key key, uint64_t ctr_hi, uint64_t ctr_lo,
                                      double lo, double scale, double max)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t mb = cohort_f64_bits(max), blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, &key, ctr_hi, ctr_lo, j, r);
		uint64_t m = n - 4 * j;
		for (int k = 0; k < 4; k++)
			if ((uint64_t)k < m)
				dst[4 * j + k] = (uint32_t)cohort_quantize_one(src[4 * j + k], r[k], lo, scale, mb);
	}
}

COHORT_KERNEL cohort_quantize_f32_u64(uint64_t* dst, const float* src, uint64_t n,
                                      const __grid_constant__ cohort_aes128_key key, uint64_t ctr_hi, uint64_t ctr_lo,
                                      double lo, double scale, double max)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t mb = cohort_f64_bits(max), blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, &key, ctr_hi, ctr_lo, j, r);
		uint64_t m = n - 4 * j;
		for (int k = 0; k < 4; k++)
			if ((uint64_t)k < m)
				dst[4 * j + k] = cohort_quantize_one((double)src[4 * j + k], r[k], lo, scale, mb);
	}
}

COHORT_KERNEL cohort_quantize_f64_u64(uint64_t* dst, const double* src, uint64_t n,
                                      const __grid_constant__ cohort_aes128_key key, uint64_t ctr_hi, uint64_t ctr_lo,
                                      double lo, double scale, double max)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t mb = cohort_f64_bits(max), blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, &key, ctr_hi, ctr_lo, j, r);
		uint64_t m = n - 4 * j;
		for (int k = 0; k < 4; k++)
			if ((uint64_t)k < m)
				dst[4 * j + k] = cohort_quantize_one(src[4 * j + k], r[k], lo, scale, mb);
	}
}

/* cohort_u64_to_f64 returns double(x) correctly rounded, as the Go code
 * computes it: hi - (2^84 + 2^52) is exact and the final sum is the only
 * rounding. */
static __device__ __forceinline__ double cohort_u64_to_f64(uint64_t x)
{
	double hi = __dsub_rn(cohort_f64_from_bits(x >> 32 | 0x4530000000000000ull),
	                      19342813118337666422669312.0 /* 2^84 + 2^52 */);
	double lo = cohort_f64_from_bits((x & 0xFFFFFFFFull) | 0x4330000000000000ull);
	return __dadd_rn(hi, lo);
}

COHORT_KERNEL cohort_dequantize_u32_f32(float* dst, const uint32_t* sum, uint64_t n, double step, double offset)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = __double2float_rn(__dadd_rn(__dmul_rn((double)sum[i], step), offset));
}

COHORT_KERNEL cohort_dequantize_u32_f64(double* dst, const uint32_t* sum, uint64_t n, double step, double offset)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = __dadd_rn(__dmul_rn((double)sum[i], step), offset);
}

COHORT_KERNEL cohort_dequantize_u64_f32(float* dst, const uint64_t* sum, uint64_t n, double step, double offset)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = __double2float_rn(__dadd_rn(__dmul_rn(cohort_u64_to_f64(sum[i]), step), offset));
}

COHORT_KERNEL cohort_dequantize_u64_f64(double* dst, const uint64_t* sum, uint64_t n, double step, double offset)
{
	for (uint64_t i = cohort_tid(); i < n; i += cohort_nthreads())
		dst[i] = __dadd_rn(__dmul_rn(cohort_u64_to_f64(sum[i]), step), offset);
}
