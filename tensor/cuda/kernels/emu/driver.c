/*
 * driver.c: runs the cohort CUDA kernels on the CPU through cuda_emu.h, one
 * exported function per kernel. Each takes host arrays in place of device
 * buffers, the kernel's scalar arguments, and the launch geometry (grid
 * blocks of block threads), and runs the launch sequentially (EMU_LAUNCH).
 *
 * Build (what kernels_test.go does):
 *
 *   cc -O2 -std=c11 -ffp-contract=off -shared -fPIC -o libcohortemu.so emu/driver.c
 *
 * The AES kernels take the expanded key as a pointer to its 44 words and
 * pass it to the kernel by value, as cuLaunchKernel does. The sum kernels
 * take the nvec input vectors as one array of nvec·n words (vector k at
 * flat + k·n) and build the array of pointers the kernel reads.
 */
#include <stdlib.h>

#include "../aesctr.cu"
#include "../modq.cu"
#include "../quant.cu"
#include "../ring.cu"

#define EMU_EXPORT __attribute__((visibility("default")))

/* emu_key copies the 44 words at w into a key struct. */
static cohort_aes128_key emu_key(const uint32_t* w)
{
	cohort_aes128_key k;
	memcpy(k.w, w, sizeof k.w);
	return k;
}

/* AES-CTR mask expansion. */

EMU_EXPORT void emu_aesctr_expand_u32(uint32_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi, uint64_t ctr_lo,
                                      uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_u32(dst, n, k, ctr_hi, ctr_lo));
}

EMU_EXPORT void emu_aesctr_expand_add_u32(uint32_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                          uint64_t ctr_lo, uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_add_u32(dst, n, k, ctr_hi, ctr_lo));
}

EMU_EXPORT void emu_aesctr_expand_sub_u32(uint32_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                          uint64_t ctr_lo, uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_sub_u32(dst, n, k, ctr_hi, ctr_lo));
}

EMU_EXPORT void emu_aesctr_expand_u64(uint64_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi, uint64_t ctr_lo,
                                      uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_u64(dst, n, k, ctr_hi, ctr_lo));
}

EMU_EXPORT void emu_aesctr_expand_add_u64(uint64_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                          uint64_t ctr_lo, uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_add_u64(dst, n, k, ctr_hi, ctr_lo));
}

EMU_EXPORT void emu_aesctr_expand_sub_u64(uint64_t* dst, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                          uint64_t ctr_lo, uint32_t grid, uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_aesctr_expand_sub_u64(dst, n, k, ctr_hi, ctr_lo));
}

/* Many-key accumulation: keys holds nkeys expanded keys of 44 words each. */

EMU_EXPORT void emu_aesctr_accumulate_u32(uint32_t* dst, uint64_t n, const uint32_t* keys, uint32_t nadd,
                                          uint32_t nkeys, uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_aesctr_accumulate_u32(dst, n, (const cohort_aes128_key*)keys, nadd, nkeys));
}

EMU_EXPORT void emu_aesctr_accumulate_u64(uint64_t* dst, uint64_t n, const uint32_t* keys, uint32_t nadd,
                                          uint32_t nkeys, uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_aesctr_accumulate_u64(dst, n, (const cohort_aes128_key*)keys, nadd, nkeys));
}

EMU_EXPORT void emu_aes128_expand_keys(uint32_t* out, const uint8_t* raw, uint32_t nkeys, uint32_t grid,
                                       uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_aes128_expand_keys((cohort_aes128_key*)out, raw, nkeys));
}

/* Ring arithmetic. */

EMU_EXPORT void emu_add_u32(uint32_t* dst, const uint32_t* a, const uint32_t* b, uint64_t n, uint32_t grid,
                            uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_add_u32(dst, a, b, n));
}

EMU_EXPORT void emu_sub_u32(uint32_t* dst, const uint32_t* a, const uint32_t* b, uint64_t n, uint32_t grid,
                            uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_sub_u32(dst, a, b, n));
}

EMU_EXPORT void emu_neg_u32(uint32_t* dst, const uint32_t* a, uint64_t n, uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_neg_u32(dst, a, n));
}

EMU_EXPORT void emu_add_scalar_u32(uint32_t* dst, const uint32_t* a, uint32_t s, uint64_t n, uint32_t grid,
                                   uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_add_scalar_u32(dst, a, s, n));
}

/* emu_sum_u32 returns -1 if it cannot allocate the pointer array, else 0. */
EMU_EXPORT int emu_sum_u32(uint32_t* dst, const uint32_t* flat, int32_t nvec, uint64_t n, uint32_t grid,
                           uint32_t block)
{
	const uint32_t** vs = (const uint32_t**)malloc(sizeof *vs * (nvec > 0 ? (size_t)nvec : 1));
	if (vs == NULL)
		return -1;
	for (int32_t k = 0; k < nvec; k++)
		vs[k] = flat + (uint64_t)k * n;
	EMU_LAUNCH(grid, block, cohort_sum_u32(dst, vs, nvec, n));
	free(vs);
	return 0;
}

EMU_EXPORT void emu_add_u64(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint32_t grid,
                            uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_add_u64(dst, a, b, n));
}

EMU_EXPORT void emu_sub_u64(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint32_t grid,
                            uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_sub_u64(dst, a, b, n));
}

EMU_EXPORT void emu_neg_u64(uint64_t* dst, const uint64_t* a, uint64_t n, uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_neg_u64(dst, a, n));
}

EMU_EXPORT void emu_add_scalar_u64(uint64_t* dst, const uint64_t* a, uint64_t s, uint64_t n, uint32_t grid,
                                   uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_add_scalar_u64(dst, a, s, n));
}

EMU_EXPORT int emu_sum_u64(uint64_t* dst, const uint64_t* flat, int32_t nvec, uint64_t n, uint32_t grid,
                           uint32_t block)
{
	const uint64_t** vs = (const uint64_t**)malloc(sizeof *vs * (nvec > 0 ? (size_t)nvec : 1));
	if (vs == NULL)
		return -1;
	for (int32_t k = 0; k < nvec; k++)
		vs[k] = flat + (uint64_t)k * n;
	EMU_LAUNCH(grid, block, cohort_sum_u64(dst, vs, nvec, n));
	free(vs);
	return 0;
}

/* Arithmetic modulo q. */

EMU_EXPORT void emu_mod_add(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q,
                            uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_mod_add(dst, a, b, n, q));
}

EMU_EXPORT void emu_mod_sub(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q,
                            uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_mod_sub(dst, a, b, n, q));
}

EMU_EXPORT void emu_mod_mul(uint64_t* dst, const uint64_t* a, const uint64_t* b, uint64_t n, uint64_t q, uint64_t mu,
                            uint32_t k, uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_mod_mul(dst, a, b, n, q, mu, k));
}

EMU_EXPORT void emu_mod_mul_scalar(uint64_t* dst, const uint64_t* a, uint64_t n, uint64_t q, uint64_t s, uint64_t sp,
                                   uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_mod_mul_scalar(dst, a, n, q, s, sp));
}

/* Quantisation and dequantisation. */

EMU_EXPORT void emu_quantize_f32_u32(uint32_t* dst, const float* src, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                     uint64_t ctr_lo, double lo, double scale, double max, uint32_t grid,
                                     uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_quantize_f32_u32(dst, src, n, k, ctr_hi, ctr_lo, lo, scale, max));
}

EMU_EXPORT void emu_quantize_f64_u32(uint32_t* dst, const double* src, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                     uint64_t ctr_lo, double lo, double scale, double max, uint32_t grid,
                                     uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_quantize_f64_u32(dst, src, n, k, ctr_hi, ctr_lo, lo, scale, max));
}

EMU_EXPORT void emu_quantize_f32_u64(uint64_t* dst, const float* src, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                     uint64_t ctr_lo, double lo, double scale, double max, uint32_t grid,
                                     uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_quantize_f32_u64(dst, src, n, k, ctr_hi, ctr_lo, lo, scale, max));
}

EMU_EXPORT void emu_quantize_f64_u64(uint64_t* dst, const double* src, uint64_t n, const uint32_t* w, uint64_t ctr_hi,
                                     uint64_t ctr_lo, double lo, double scale, double max, uint32_t grid,
                                     uint32_t block)
{
	cohort_aes128_key k = emu_key(w);
	EMU_LAUNCH(grid, block, cohort_quantize_f64_u64(dst, src, n, k, ctr_hi, ctr_lo, lo, scale, max));
}

EMU_EXPORT void emu_dequantize_u32_f32(float* dst, const uint32_t* sum, uint64_t n, double step, double offset,
                                       uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_dequantize_u32_f32(dst, sum, n, step, offset));
}

EMU_EXPORT void emu_dequantize_u32_f64(double* dst, const uint32_t* sum, uint64_t n, double step, double offset,
                                       uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_dequantize_u32_f64(dst, sum, n, step, offset));
}

EMU_EXPORT void emu_dequantize_u64_f32(float* dst, const uint64_t* sum, uint64_t n, double step, double offset,
                                       uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_dequantize_u64_f32(dst, sum, n, step, offset));
}

EMU_EXPORT void emu_dequantize_u64_f64(double* dst, const uint64_t* sum, uint64_t n, double step, double offset,
                                       uint32_t grid, uint32_t block)
{
	EMU_LAUNCH(grid, block, cohort_dequantize_u64_f64(dst, sum, n, step, offset));
}
