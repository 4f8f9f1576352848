/*
 * aesctr.cu: AES-128-CTR mask expansion fused with store, add or subtract
 * into uint32 and uint64 vectors (docs/wire/mask-stream.md).
 *
 * Every kernel takes dst and its length n in words, the expanded key (passed
 * by value) and the block counter of dst[0] as a 128-bit integer
 * ctr_hi·2^64 + ctr_lo; for a whole stream it is 0, for a chunk starting at
 * word w it is w/4 (uint32) or w/2 (uint64). Thread t handles keystream block
 * ctr + j for j = t, t + stride, ...: uint32 words 4j..4j+3 or uint64 words
 * 2j, 2j+1 of dst, the last block possibly partial.
 *
 *   cohort_aesctr_expand_u32       dst[i]  = word_i
 *   cohort_aesctr_expand_add_u32   dst[i] += word_i  (mod 2^32)
 *   cohort_aesctr_expand_sub_u32   dst[i] -= word_i  (mod 2^32)
 *   cohort_aesctr_expand_u64, cohort_aesctr_expand_add_u64,
 *   cohort_aesctr_expand_sub_u64   the same on uint64 words (mod 2^64)
 *
 * Launch with any geometry; (n/4 + 1) or (n/2 + 1) threads at most do work.
 */
#include "aes128.cuh"

static __device__ __forceinline__ void cohort_aesctr_u32(uint32_t* dst, uint64_t n, const cohort_aes128_key* key,
                                                         uint64_t ctr_hi, uint64_t ctr_lo, int op)
{
	uint64_t blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(key, ctr_hi, ctr_lo, j, r);
		uint32_t* d = dst + 4 * j;
		uint64_t m = n - 4 * j; /* words left, at least 1 */
		/* Constant indices keep r in registers. */
		d[0] = cohort_apply_u32(d[0], r[0], op);
		if (m > 1)
			d[1] = cohort_apply_u32(d[1], r[1], op);
		if (m > 2)
			d[2] = cohort_apply_u32(d[2], r[2], op);
		if (m > 3)
			d[3] = cohort_apply_u32(d[3], r[3], op);
	}
}

static __device__ __forceinline__ void cohort_aesctr_u64(uint64_t* dst, uint64_t n, const cohort_aes128_key* key,
                                                         uint64_t ctr_hi, uint64_t ctr_lo, int op)
{
	uint64_t blocks = n / 2 + (n % 2 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(key, ctr_hi, ctr_lo, j, r);
		uint64_t* d = dst + 2 * j;
		d[0] = cohort_apply_u64(d[0], (uint64_t)r[1] << 32 | r[0], op);
		if (n - 2 * j >= 2)
			d[1] = cohort_apply_u64(d[1], (uint64_t)r[3] << 32 | r[2], op);
	}
}

COHORT_KERNEL cohort_aesctr_expand_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                       uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u32(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_STORE);
}

COHORT_KERNEL cohort_aesctr_expand_add_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u32(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_ADD);
}

COHORT_KERNEL cohort_aesctr_expand_sub_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u32(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_SUB);
}

COHORT_KERNEL cohort_aesctr_expand_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                       uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u64(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_STORE);
}

COHORT_KERNEL cohort_aesctr_expand_add_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u64(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_ADD);
}

COHORT_KERNEL cohort_aesctr_expand_sub_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	cohort_aesctr_u64(dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_SUB);
}
