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
 *
 * The accumulate kernels add and subtract the whole streams (from counter 0)
 * of many keys in one pass over dst, which is read and written once:
 *
 *   cohort_aesctr_accumulate_u32   dst[i] += Σ_{s<nadd} word_i(keys[s])
 *                                            − Σ_{nadd≤s<nkeys} word_i(keys[s])
 *   cohort_aesctr_accumulate_u64   the same on uint64 words
 *
 * keys is a device array of nkeys expanded keys. Which keys are added and
 * which subtracted is not secret; the words are.
 *
 *   cohort_aes128_expand_keys      out[s] = the key expansion of the 16 bytes
 *                                  at raw + 16·s, for s < nkeys
 *
 * expands keys on the device, with the same conflict-free table lookups as
 * the encryption (so in constant time), one thread per key.
 */
#include "aes128.cuh"

static __device__ __forceinline__ void cohort_aesctr_u32(const uint32_t* t, uint32_t* dst, uint64_t n,
                                                         const cohort_aes128_key* key, uint64_t ctr_hi,
                                                         uint64_t ctr_lo, int op)
{
	uint64_t blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, key, ctr_hi, ctr_lo, j, r);
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

static __device__ __forceinline__ void cohort_aesctr_u64(const uint32_t* t, uint64_t* dst, uint64_t n,
                                                         const cohort_aes128_key* key, uint64_t ctr_hi,
                                                         uint64_t ctr_lo, int op)
{
	uint64_t blocks = n / 2 + (n % 2 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t r[4];
		cohort_aes128_words32(t, key, ctr_hi, ctr_lo, j, r);
		uint64_t* d = dst + 2 * j;
		d[0] = cohort_apply_u64(d[0], (uint64_t)r[1] << 32 | r[0], op);
		if (n - 2 * j >= 2)
			d[1] = cohort_apply_u64(d[1], (uint64_t)r[3] << 32 | r[2], op);
	}
}

COHORT_KERNEL cohort_aesctr_expand_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                       uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u32(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_STORE);
}

COHORT_KERNEL cohort_aesctr_expand_add_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u32(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_ADD);
}

COHORT_KERNEL cohort_aesctr_expand_sub_u32(uint32_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u32(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_SUB);
}

COHORT_KERNEL cohort_aesctr_expand_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                       uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u64(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_STORE);
}

COHORT_KERNEL cohort_aesctr_expand_add_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u64(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_ADD);
}

COHORT_KERNEL cohort_aesctr_expand_sub_u64(uint64_t* dst, uint64_t n, const __grid_constant__ cohort_aes128_key key,
                                           uint64_t ctr_hi, uint64_t ctr_lo)
{
	COHORT_AES_SHARED_TABLE(sh);
	cohort_aesctr_u64(cohort_aes_table_load(sh), dst, n, &key, ctr_hi, ctr_lo, COHORT_OP_SUB);
}

/* cohort_sign_mask32 is 0 for s < nadd (add) and all ones otherwise
 * (subtract): w ^ m - m is w or -w, without a branch. */
static __device__ __forceinline__ uint32_t cohort_sign_mask32(uint32_t s, uint32_t nadd)
{
	return (uint32_t)0 - (uint32_t)(s >= nadd);
}

COHORT_KERNEL cohort_aesctr_accumulate_u32(uint32_t* dst, uint64_t n, const cohort_aes128_key* keys, uint32_t nadd,
                                           uint32_t nkeys)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t blocks = n / 4 + (n % 4 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
		for (uint32_t s = 0; s < nkeys; s++) {
			uint32_t r[4], m = cohort_sign_mask32(s, nadd);
			cohort_aes128_words32(t, &keys[s], 0, 0, j, r);
			a0 += (r[0] ^ m) - m;
			a1 += (r[1] ^ m) - m;
			a2 += (r[2] ^ m) - m;
			a3 += (r[3] ^ m) - m;
		}
		uint32_t* d = dst + 4 * j;
		uint64_t left = n - 4 * j; /* words left, at least 1 */
		d[0] += a0;
		if (left > 1)
			d[1] += a1;
		if (left > 2)
			d[2] += a2;
		if (left > 3)
			d[3] += a3;
	}
}

COHORT_KERNEL cohort_aesctr_accumulate_u64(uint64_t* dst, uint64_t n, const cohort_aes128_key* keys, uint32_t nadd,
                                           uint32_t nkeys)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	uint64_t blocks = n / 2 + (n % 2 != 0);
	for (uint64_t j = cohort_tid(); j < blocks; j += cohort_nthreads()) {
		uint64_t a0 = 0, a1 = 0;
		for (uint32_t s = 0; s < nkeys; s++) {
			uint32_t r[4];
			uint64_t m = (uint64_t)0 - (uint64_t)(s >= nadd);
			cohort_aes128_words32(t, &keys[s], 0, 0, j, r);
			a0 += (((uint64_t)r[1] << 32 | r[0]) ^ m) - m;
			a1 += (((uint64_t)r[3] << 32 | r[2]) ^ m) - m;
		}
		uint64_t* d = dst + 2 * j;
		d[0] += a0;
		if (n - 2 * j >= 2)
			d[1] += a1;
	}
}

COHORT_KERNEL cohort_aes128_expand_keys(cohort_aes128_key* out, const uint8_t* raw, uint32_t nkeys)
{
	COHORT_AES_SHARED_TABLE(sh);
	const uint32_t* t = cohort_aes_table_load(sh);
	for (uint64_t s = cohort_tid(); s < nkeys; s += cohort_nthreads())
		cohort_aes128_expand(t, raw + 16 * s, &out[s]);
}
