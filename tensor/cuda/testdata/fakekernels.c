/*
 * fakekernels.c: a fake libcuda.so.1 that runs the real cohort kernels.
 *
 * It is the driver package's fake (../driver/testdata/fakecuda.c: host
 * memory, per-thread current context, checked device pointers) with two
 * entry points replaced:
 *
 *   - cuModuleGetFunction resolves the cohort kernel names (after the fake's
 *     own check that the "PTX" image has an ".entry NAME" line) to the
 *     kernels of ../kernels/ (the .cu files), compiled here as C through
 *     ../kernels/emu/cuda_emu.h;
 *   - cuLaunchKernel unpacks the void** parameter array per the kernel's
 *     signature (kernels/README.md), checks every device range the kernel
 *     will touch against the live allocations, and runs the grid one thread
 *     after another (EMU_LAUNCH).
 *
 * fake_kernel_launches, exported for the tests, returns how many cohort
 * kernels have run to completion in this copy of the library: a test tells
 * an operation that ran on the "device" from one that fell back to the CPU
 * by it.
 *
 * Build: cc -O2 -std=c11 -ffp-contract=off -shared -fPIC -Wl,-Bsymbolic -o libfakekernels.so fakekernels.c
 *
 * -Bsymbolic binds the calls to the kernels to this copy of the library:
 * several copies may be loaded with RTLD_GLOBAL, and a kernel of another copy
 * would read that copy's (unset) launch coordinates.
 */

#define _POSIX_C_SOURCE 200809L /* strdup, posix_memalign under -std=c11 */

/* The fake's versions of the two entry points get internal linkage: they
 * are called only from the replacements below. */
#define cuModuleGetFunction fake_base_module_get_function
#define cuLaunchKernel fake_base_launch_kernel
struct function;
struct module;
struct stream;
static int fake_base_module_get_function(struct function **f, struct module *m, const char *name);
static int fake_base_launch_kernel(struct function *f, unsigned int gx, unsigned int gy, unsigned int gz,
                                   unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
                                   struct stream *s, void **params, void **extra);
#include "../driver/testdata/fakecuda.c"
#undef cuModuleGetFunction
#undef cuLaunchKernel

#include "../kernels/aesctr.cu"
#include "../kernels/modq.cu"
#include "../kernels/quant.cu"
#include "../kernels/ring.cu"

enum {
	K_FIRST = 100,
	K_AES_EXPAND_U32 = K_FIRST,
	K_AES_EXPAND_ADD_U32,
	K_AES_EXPAND_SUB_U32,
	K_AES_EXPAND_U64,
	K_AES_EXPAND_ADD_U64,
	K_AES_EXPAND_SUB_U64,
	K_ADD_U32,
	K_SUB_U32,
	K_NEG_U32,
	K_ADD_SCALAR_U32,
	K_SUM_U32,
	K_ADD_U64,
	K_SUB_U64,
	K_NEG_U64,
	K_ADD_SCALAR_U64,
	K_SUM_U64,
	K_MOD_ADD,
	K_MOD_SUB,
	K_MOD_MUL,
	K_MOD_MUL_SCALAR,
	K_QUANT_F32_U32,
	K_QUANT_F64_U32,
	K_QUANT_F32_U64,
	K_QUANT_F64_U64,
	K_DEQUANT_U32_F32,
	K_DEQUANT_U32_F64,
	K_DEQUANT_U64_F32,
	K_DEQUANT_U64_F64,
	K_AES_ACCUMULATE_U32,
	K_AES_ACCUMULATE_U64,
	K_AES_EXPAND_KEYS,
	/* Kernels added later go here, before K_END, with their names below. */
	K_END
};

static const char *const kernel_names[K_END - K_FIRST] = {
	"cohort_aesctr_expand_u32", "cohort_aesctr_expand_add_u32", "cohort_aesctr_expand_sub_u32",
	"cohort_aesctr_expand_u64", "cohort_aesctr_expand_add_u64", "cohort_aesctr_expand_sub_u64",
	"cohort_add_u32",           "cohort_sub_u32",               "cohort_neg_u32",
	"cohort_add_scalar_u32",    "cohort_sum_u32",               "cohort_add_u64",
	"cohort_sub_u64",           "cohort_neg_u64",               "cohort_add_scalar_u64",
	"cohort_sum_u64",           "cohort_mod_add",               "cohort_mod_sub",
	"cohort_mod_mul",           "cohort_mod_mul_scalar",        "cohort_quantize_f32_u32",
	"cohort_quantize_f64_u32",  "cohort_quantize_f32_u64",      "cohort_quantize_f64_u64",
	"cohort_dequantize_u32_f32", "cohort_dequantize_u32_f64",   "cohort_dequantize_u64_f32",
	"cohort_dequantize_u64_f64", "cohort_aesctr_accumulate_u32", "cohort_aesctr_accumulate_u64",
	"cohort_aes128_expand_keys",
	/* Names of kernels added later. */
};

CUresult cuModuleGetFunction(struct function **f, struct module *m, const char *name) {
	CUresult r = fake_base_module_get_function(f, m, name);
	if (r != CUDA_SUCCESS) return r;
	for (int k = K_FIRST; k < K_END; k++)
		if (strcmp(name, kernel_names[k - K_FIRST]) == 0) (*f)->kernel = k;
	return CUDA_SUCCESS;
}

/* Parameter readers: params[i] points to the value of parameter i. */
#define P_PTR(i) ((void *)(uintptr_t) * (CUdeviceptr *)params[i])
#define P_U32(i) (*(uint32_t *)params[i])
#define P_U64(i) (*(uint64_t *)params[i])
#define P_F64(i) (*(double *)params[i])

static pthread_mutex_t launches_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t launches;

/* fake_kernel_launches returns the number of cohort kernels run so far. */
uint64_t fake_kernel_launches(void) {
	pthread_mutex_lock(&launches_mu);
	uint64_t n = launches;
	pthread_mutex_unlock(&launches_mu);
	return n;
}

static CUresult launch_kernel(struct function *f, unsigned int gx, unsigned int bx, void **params);

/* in_range reports whether n elements of size bytes at p lie in one live
 * allocation (n = 0 always does). */
static int in_range(const void *p, uint64_t n, size_t size) {
	if (n == 0) return 1;
	if (n > (uint64_t)SIZE_MAX / size) return 0;
	return valid_range((CUdeviceptr)(uintptr_t)p, (size_t)(n * size));
}

CUresult cuLaunchKernel(struct function *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shared, struct stream *s, void **params,
                        void **extra) {
	if (f == NULL || f->kernel < K_FIRST)
		return fake_base_launch_kernel(f, gx, gy, gz, bx, by, bz, shared, s, params, extra);
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (gx == 0 || gy != 1 || gz != 1 || bx == 0 || by != 1 || bz != 1 || bx > 1024 || extra != NULL ||
	    params == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = launch_kernel(f, gx, bx, params);
	if (r == CUDA_SUCCESS) {
		pthread_mutex_lock(&launches_mu);
		launches++;
		pthread_mutex_unlock(&launches_mu);
	}
	return r;
}

/* launch_kernel checks the device ranges the cohort kernel f will touch and
 * runs it over gx blocks of bx threads. */
static CUresult launch_kernel(struct function *f, unsigned int gx, unsigned int bx, void **params) {
	switch (f->kernel) {
#define AES(K, T, fn)                                                                                      \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		uint64_t n = P_U64(1);                                                                     \
		cohort_aes128_key key;                                                                     \
		memcpy(&key, params[2], sizeof key);                                                       \
		uint64_t hi = P_U64(3), lo = P_U64(4);                                                     \
		if (!in_range(dst, n, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;                         \
		EMU_LAUNCH(gx, bx, fn(dst, n, key, hi, lo));                                               \
		return CUDA_SUCCESS;                                                                       \
	}
		AES(K_AES_EXPAND_U32, uint32_t, cohort_aesctr_expand_u32)
		AES(K_AES_EXPAND_ADD_U32, uint32_t, cohort_aesctr_expand_add_u32)
		AES(K_AES_EXPAND_SUB_U32, uint32_t, cohort_aesctr_expand_sub_u32)
		AES(K_AES_EXPAND_U64, uint64_t, cohort_aesctr_expand_u64)
		AES(K_AES_EXPAND_ADD_U64, uint64_t, cohort_aesctr_expand_add_u64)
		AES(K_AES_EXPAND_SUB_U64, uint64_t, cohort_aesctr_expand_sub_u64)
#define BINARY(K, T, fn)                                                                                   \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		const T *a = P_PTR(1), *b = P_PTR(2);                                                      \
		uint64_t n = P_U64(3);                                                                     \
		if (!in_range(dst, n, sizeof(T)) || !in_range(a, n, sizeof(T)) || !in_range(b, n, sizeof(T))) \
			return CUDA_ERROR_INVALID_VALUE;                                                   \
		EMU_LAUNCH(gx, bx, fn(dst, a, b, n));                                                      \
		return CUDA_SUCCESS;                                                                       \
	}
		BINARY(K_ADD_U32, uint32_t, cohort_add_u32)
		BINARY(K_SUB_U32, uint32_t, cohort_sub_u32)
		BINARY(K_ADD_U64, uint64_t, cohort_add_u64)
		BINARY(K_SUB_U64, uint64_t, cohort_sub_u64)
#define UNARY(K, T, fn)                                                                                    \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		const T *a = P_PTR(1);                                                                     \
		uint64_t n = P_U64(2);                                                                     \
		if (!in_range(dst, n, sizeof(T)) || !in_range(a, n, sizeof(T))) return CUDA_ERROR_INVALID_VALUE; \
		EMU_LAUNCH(gx, bx, fn(dst, a, n));                                                         \
		return CUDA_SUCCESS;                                                                       \
	}
		UNARY(K_NEG_U32, uint32_t, cohort_neg_u32)
		UNARY(K_NEG_U64, uint64_t, cohort_neg_u64)
#define SCALAR(K, T, fn, P_T)                                                                              \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		const T *a = P_PTR(1);                                                                     \
		T sc = P_T(2);                                                                             \
		uint64_t n = P_U64(3);                                                                     \
		if (!in_range(dst, n, sizeof(T)) || !in_range(a, n, sizeof(T))) return CUDA_ERROR_INVALID_VALUE; \
		EMU_LAUNCH(gx, bx, fn(dst, a, sc, n));                                                     \
		return CUDA_SUCCESS;                                                                       \
	}
		SCALAR(K_ADD_SCALAR_U32, uint32_t, cohort_add_scalar_u32, P_U32)
		SCALAR(K_ADD_SCALAR_U64, uint64_t, cohort_add_scalar_u64, P_U64)
#define SUM(K, T, fn)                                                                                      \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		const T *const *vs = P_PTR(1);                                                             \
		int nvec = (int)P_U32(2);                                                                  \
		uint64_t n = P_U64(3);                                                                     \
		if (nvec < 0 || !in_range(dst, n, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;             \
		if (n > 0 && !in_range(vs, (uint64_t)nvec, sizeof *vs)) return CUDA_ERROR_INVALID_VALUE;   \
		for (int k = 0; n > 0 && k < nvec; k++)                                                    \
			if (!in_range(vs[k], n, sizeof(T))) return CUDA_ERROR_INVALID_VALUE;               \
		EMU_LAUNCH(gx, bx, fn(dst, vs, nvec, n));                                                  \
		return CUDA_SUCCESS;                                                                       \
	}
		SUM(K_SUM_U32, uint32_t, cohort_sum_u32)
		SUM(K_SUM_U64, uint64_t, cohort_sum_u64)
	case K_MOD_ADD:
	case K_MOD_SUB:
	case K_MOD_MUL: {
		uint64_t *dst = P_PTR(0);
		const uint64_t *a = P_PTR(1), *b = P_PTR(2);
		uint64_t n = P_U64(3), q = P_U64(4);
		if (!in_range(dst, n, 8) || !in_range(a, n, 8) || !in_range(b, n, 8)) return CUDA_ERROR_INVALID_VALUE;
		if (f->kernel == K_MOD_ADD)
			EMU_LAUNCH(gx, bx, cohort_mod_add(dst, a, b, n, q));
		else if (f->kernel == K_MOD_SUB)
			EMU_LAUNCH(gx, bx, cohort_mod_sub(dst, a, b, n, q));
		else {
			uint64_t mu = P_U64(5);
			uint32_t k = P_U32(6);
			EMU_LAUNCH(gx, bx, cohort_mod_mul(dst, a, b, n, q, mu, k));
		}
		return CUDA_SUCCESS;
	}
	case K_MOD_MUL_SCALAR: {
		uint64_t *dst = P_PTR(0);
		const uint64_t *a = P_PTR(1);
		uint64_t n = P_U64(2), q = P_U64(3), sc = P_U64(4), sp = P_U64(5);
		if (!in_range(dst, n, 8) || !in_range(a, n, 8)) return CUDA_ERROR_INVALID_VALUE;
		EMU_LAUNCH(gx, bx, cohort_mod_mul_scalar(dst, a, n, q, sc, sp));
		return CUDA_SUCCESS;
	}
#define QUANT(K, W, F, fn)                                                                                 \
	case K: {                                                                                          \
		W *dst = P_PTR(0);                                                                         \
		const F *src = P_PTR(1);                                                                   \
		uint64_t n = P_U64(2);                                                                     \
		cohort_aes128_key key;                                                                     \
		memcpy(&key, params[3], sizeof key);                                                       \
		uint64_t hi = P_U64(4), lo = P_U64(5);                                                     \
		double qlo = P_F64(6), scale = P_F64(7), qmax = P_F64(8);                                  \
		if (!in_range(dst, n, sizeof(W)) || !in_range(src, n, sizeof(F))) return CUDA_ERROR_INVALID_VALUE; \
		EMU_LAUNCH(gx, bx, fn(dst, src, n, key, hi, lo, qlo, scale, qmax));                        \
		return CUDA_SUCCESS;                                                                       \
	}
		QUANT(K_QUANT_F32_U32, uint32_t, float, cohort_quantize_f32_u32)
		QUANT(K_QUANT_F64_U32, uint32_t, double, cohort_quantize_f64_u32)
		QUANT(K_QUANT_F32_U64, uint64_t, float, cohort_quantize_f32_u64)
		QUANT(K_QUANT_F64_U64, uint64_t, double, cohort_quantize_f64_u64)
#define DEQUANT(K, F, W, fn)                                                                               \
	case K: {                                                                                          \
		F *dst = P_PTR(0);                                                                         \
		const W *sum = P_PTR(1);                                                                   \
		uint64_t n = P_U64(2);                                                                     \
		double step = P_F64(3), offset = P_F64(4);                                                 \
		if (!in_range(dst, n, sizeof(F)) || !in_range(sum, n, sizeof(W))) return CUDA_ERROR_INVALID_VALUE; \
		EMU_LAUNCH(gx, bx, fn(dst, sum, n, step, offset));                                         \
		return CUDA_SUCCESS;                                                                       \
	}
		DEQUANT(K_DEQUANT_U32_F32, float, uint32_t, cohort_dequantize_u32_f32)
		DEQUANT(K_DEQUANT_U32_F64, double, uint32_t, cohort_dequantize_u32_f64)
		DEQUANT(K_DEQUANT_U64_F32, float, uint64_t, cohort_dequantize_u64_f32)
		DEQUANT(K_DEQUANT_U64_F64, double, uint64_t, cohort_dequantize_u64_f64)

		/* Kernels added later: their cases go here. */
#define ACCUMULATE(K, T, fn)                                                                               \
	case K: {                                                                                          \
		T *dst = P_PTR(0);                                                                         \
		uint64_t n = P_U64(1);                                                                     \
		const cohort_aes128_key *keys = P_PTR(2);                                                  \
		uint32_t nadd = P_U32(3), nkeys = P_U32(4);                                                \
		if (nadd > nkeys || !in_range(dst, n, sizeof(T)) ||                                        \
		    (n > 0 && !in_range(keys, nkeys, sizeof *keys)))                                       \
			return CUDA_ERROR_INVALID_VALUE;                                                   \
		EMU_LAUNCH(gx, bx, fn(dst, n, keys, nadd, nkeys));                                         \
		return CUDA_SUCCESS;                                                                       \
	}
		ACCUMULATE(K_AES_ACCUMULATE_U32, uint32_t, cohort_aesctr_accumulate_u32)
		ACCUMULATE(K_AES_ACCUMULATE_U64, uint64_t, cohort_aesctr_accumulate_u64)
	case K_AES_EXPAND_KEYS: {
		cohort_aes128_key *out = P_PTR(0);
		const uint8_t *raw = P_PTR(1);
		uint32_t nkeys = P_U32(2);
		if (!in_range(out, nkeys, sizeof *out) || !in_range(raw, nkeys, 16)) return CUDA_ERROR_INVALID_VALUE;
		EMU_LAUNCH(gx, bx, cohort_aes128_expand_keys(out, raw, nkeys));
		return CUDA_SUCCESS;
	}
	}
	return CUDA_ERROR_NOT_SUPPORTED;
}
