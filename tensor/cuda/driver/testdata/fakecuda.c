/*
 * fakecuda.c: a stand-in for libcuda.so.1 that the driver package's tests
 * load on machines without a GPU. It implements, with host memory, the subset
 * of the CUDA driver API that the binding uses, and is strict where the real
 * driver is strict and where a binding bug would show:
 *
 *   - every call that needs a context fails with CUDA_ERROR_INVALID_CONTEXT
 *     unless a context is current on the calling OS thread (the current
 *     context is thread-local, as in the real driver);
 *   - device pointers are checked against the live allocations: copies,
 *     memsets and launches that touch memory outside them, and frees of
 *     unknown pointers, fail with CUDA_ERROR_INVALID_VALUE;
 *   - allocations over 1 TiB fail with CUDA_ERROR_OUT_OF_MEMORY, and so does
 *     any allocation that would take the bytes of the live allocations past
 *     FAKE_CUDA_MEM_LIMIT (a decimal byte count) when that environment
 *     variable is set. It is read with getenv at every cuMemAlloc_v2, so a
 *     test may set and unset it (t.Setenv) after the library is loaded; a
 *     value that is not a decimal number means no limit.
 *
 * Modules: a "PTX" image loads when it contains ".entry "; otherwise
 * cuModuleLoadDataEx fails with CUDA_ERROR_INVALID_PTX and writes a message
 * into the JIT error log buffer. cuModuleGetFunction finds the names that
 * follow ".entry " in the image; two of them can be launched:
 *
 *   add_u32(uint32 *dst, const uint32 *a, const uint32 *b, uint32 n)
 *       dst[i] = a[i] + b[i] for i < n covered by gridDim.x * blockDim.x;
 *   store_args(uint64 *out, uint32 a, uint64 b, float c, double d)
 *       out[0] = a, out[1] = b, out[2] = bits(c), out[3] = bits(d).
 *
 * Streams run everything synchronously. An event records a per-stream
 * sequence number; the elapsed time between two events is 0.5 ms per step.
 *
 * Built with -DFAKECUDA_NO_DEVICE, cuInit fails with CUDA_ERROR_NO_DEVICE.
 *
 * Exported entry points never call each other: the tests load several copies
 * of this library with RTLD_GLOBAL, and such a call could bind to the copy
 * loaded first, whose thread-local current context is not set.
 *
 * Build: cc -shared -fPIC -o libfakecuda.so fakecuda.c
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_SUPPORTED = 801,
};

enum {
	CU_JIT_ERROR_LOG_BUFFER = 5,
	CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

enum {
	ATTR_MULTIPROCESSOR_COUNT = 16,
	ATTR_COMPUTE_CAPABILITY_MAJOR = 75,
	ATTR_COMPUTE_CAPABILITY_MINOR = 76,
};

#define FAKE_TOTAL_MEM (80ULL << 30)
#define FAKE_MAX_ALLOC (1ULL << 40)

struct ctx {
	int refs;
};

struct alloc {
	unsigned char *p;
	size_t n;
	struct alloc *next;
};

struct module {
	char *image;
};

enum { KERNEL_ADD_U32 = 1, KERNEL_STORE_ARGS = 2, KERNEL_OTHER = 3 };

struct function {
	int kernel;
};

struct stream {
	long long seq;
};

struct event {
	int recorded;
	long long seq;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static struct ctx primary;
static struct alloc *allocs;
static size_t live_bytes; /* sum of the sizes of allocs, under mu */
static struct stream null_stream;
static __thread struct ctx *current;

static int in_ctx(void) { return current != NULL; }

/* mem_limit returns the device memory limit of FAKE_CUDA_MEM_LIMIT, or
 * SIZE_MAX when it is unset or not a decimal number. */
static size_t mem_limit(void) {
	const char *v = getenv("FAKE_CUDA_MEM_LIMIT");
	if (v == NULL || *v < '0' || *v > '9') return SIZE_MAX;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > SIZE_MAX) return SIZE_MAX;
	return (size_t)n;
}

/* valid_range reports whether [p, p+n) lies inside one live allocation. */
static int valid_range(CUdeviceptr p, size_t n) {
	int ok = 0;
	pthread_mutex_lock(&mu);
	for (struct alloc *a = allocs; a != NULL; a = a->next) {
		uintptr_t lo = (uintptr_t)a->p, hi = lo + a->n;
		if (p >= lo && p <= hi && n <= hi - p) {
			ok = 1;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return ok;
}

CUresult cuInit(unsigned int flags) {
	if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
#ifdef FAKECUDA_NO_DEVICE
	return CUDA_ERROR_NO_DEVICE;
#else
	pthread_mutex_lock(&mu);
	initialized = 1;
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
#endif
}

static int is_init(void) {
	pthread_mutex_lock(&mu);
	int ok = initialized;
	pthread_mutex_unlock(&mu);
	return ok;
}

CUresult cuDriverGetVersion(int *v) {
	if (v == NULL) return CUDA_ERROR_INVALID_VALUE;
	*v = 12040;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *n) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (n == NULL) return CUDA_ERROR_INVALID_VALUE;
	*n = 1;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d == NULL) return CUDA_ERROR_INVALID_VALUE;
	if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (name == NULL || len <= 0) return CUDA_ERROR_INVALID_VALUE;
	strncpy(name, "fake", (size_t)len);
	name[len - 1] = 0;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (v == NULL) return CUDA_ERROR_INVALID_VALUE;
	switch (attr) {
	case ATTR_MULTIPROCESSOR_COUNT: *v = 132; return CUDA_SUCCESS;
	case ATTR_COMPUTE_CAPABILITY_MAJOR: *v = 9; return CUDA_SUCCESS;
	case ATTR_COMPUTE_CAPABILITY_MINOR: *v = 0; return CUDA_SUCCESS;
	}
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (bytes == NULL) return CUDA_ERROR_INVALID_VALUE;
	*bytes = FAKE_TOTAL_MEM;
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(struct ctx **c, CUdevice d) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	if (c == NULL) return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&mu);
	primary.refs++;
	pthread_mutex_unlock(&mu);
	*c = &primary;
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
	CUresult r = CUDA_SUCCESS;
	pthread_mutex_lock(&mu);
	if (primary.refs == 0) r = CUDA_ERROR_INVALID_CONTEXT;
	else primary.refs--;
	pthread_mutex_unlock(&mu);
	return r;
}

CUresult cuCtxSetCurrent(struct ctx *c) {
	if (!is_init()) return CUDA_ERROR_NOT_INITIALIZED;
	if (c != NULL && c != &primary) return CUDA_ERROR_INVALID_CONTEXT;
	current = c;
	return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	return CUDA_SUCCESS;
}

/* has_entry reports whether image declares ".entry NAME" (NAME followed by a
 * character that cannot continue an identifier). */
static int has_entry(const char *image, const char *name) {
	size_t n = strlen(name);
	for (const char *p = strstr(image, ".entry "); p != NULL; p = strstr(p + 1, ".entry ")) {
		const char *q = p + strlen(".entry ");
		while (*q == ' ' || *q == '\t') q++;
		if (strncmp(q, name, n) == 0) {
			char c = q[n];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$'))
				return 1;
		}
	}
	return 0;
}

CUresult cuModuleLoadDataEx(struct module **m, const void *image, unsigned int nopts, int *opts, void **vals) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (m == NULL || image == NULL || (nopts > 0 && (opts == NULL || vals == NULL))) return CUDA_ERROR_INVALID_VALUE;
	const char *text = image;
	if (strstr(text, ".entry ") == NULL) {
		const char *msg = "fakecuda: ptx has no .entry directive";
		char *buf = NULL;
		size_t size = 0;
		int size_at = -1;
		for (unsigned int i = 0; i < nopts; i++) {
			if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) buf = vals[i];
			if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) {
				size = (size_t)(uintptr_t)vals[i];
				size_at = (int)i;
			}
		}
		if (buf != NULL && size > 0) {
			size_t n = strlen(msg);
			if (n > size - 1) n = size - 1;
			memcpy(buf, msg, n);
			buf[n] = 0;
			vals[size_at] = (void *)(uintptr_t)(n + 1);
		}
		return CUDA_ERROR_INVALID_PTX;
	}
	struct module *mod = calloc(1, sizeof *mod);
	if (mod == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
	mod->image = strdup(text);
	if (mod->image == NULL) {
		free(mod);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*m = mod;
	return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(struct function **f, struct module *m, const char *name) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (f == NULL || m == NULL || name == NULL) return CUDA_ERROR_INVALID_VALUE;
	if (!has_entry(m->image, name)) return CUDA_ERROR_NOT_FOUND;
	struct function *fn = calloc(1, sizeof *fn);
	if (fn == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
	if (strcmp(name, "add_u32") == 0) fn->kernel = KERNEL_ADD_U32;
	else if (strcmp(name, "store_args") == 0) fn->kernel = KERNEL_STORE_ARGS;
	else fn->kernel = KERNEL_OTHER;
	*f = fn; /* leaked: functions live as long as their module */
	return CUDA_SUCCESS;
}

CUresult cuModuleUnload(struct module *m) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (m == NULL) return CUDA_ERROR_INVALID_HANDLE;
	free(m->image);
	free(m);
	return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (p == NULL || n == 0) return CUDA_ERROR_INVALID_VALUE;
	if (n > FAKE_MAX_ALLOC) return CUDA_ERROR_OUT_OF_MEMORY;
	/* Reserve n bytes under the limit before allocating them. */
	size_t limit = mem_limit();
	pthread_mutex_lock(&mu);
	int fits = n <= limit && live_bytes <= limit - n;
	if (fits) live_bytes += n;
	pthread_mutex_unlock(&mu);
	if (!fits) return CUDA_ERROR_OUT_OF_MEMORY;
	struct alloc *a = malloc(sizeof *a);
	if (a != NULL) a->p = malloc(n);
	if (a == NULL || a->p == NULL) {
		free(a);
		pthread_mutex_lock(&mu);
		live_bytes -= n;
		pthread_mutex_unlock(&mu);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memset(a->p, 0xA5, n); /* fresh device memory is garbage, not zeros */
	a->n = n;
	pthread_mutex_lock(&mu);
	a->next = allocs;
	allocs = a;
	pthread_mutex_unlock(&mu);
	*p = (CUdeviceptr)(uintptr_t)a->p;
	return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	struct alloc *found = NULL;
	pthread_mutex_lock(&mu);
	for (struct alloc **a = &allocs; *a != NULL; a = &(*a)->next) {
		if ((CUdeviceptr)(uintptr_t)(*a)->p == p) {
			found = *a;
			*a = found->next;
			live_bytes -= found->n;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	if (found == NULL) return CUDA_ERROR_INVALID_VALUE;
	free(found->p);
	free(found);
	return CUDA_SUCCESS;
}

CUresult cuMemAllocHost_v2(void **p, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (p == NULL || n == 0) return CUDA_ERROR_INVALID_VALUE;
	if (n > FAKE_MAX_ALLOC) return CUDA_ERROR_OUT_OF_MEMORY;
	void *q = NULL;
	if (posix_memalign(&q, 4096, n) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
	memset(q, 0x5A, n);
	*p = q;
	return CUDA_SUCCESS;
}

CUresult cuMemFreeHost(void *p) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (p == NULL) return CUDA_ERROR_INVALID_VALUE;
	free(p);
	return CUDA_SUCCESS;
}

static CUresult htod(CUdeviceptr dst, const void *src, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (!valid_range(dst, n) || (src == NULL && n > 0)) return CUDA_ERROR_INVALID_VALUE;
	memcpy((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { return htod(dst, src, n); }

static CUresult dtoh(void *dst, CUdeviceptr src, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (!valid_range(src, n) || (dst == NULL && n > 0)) return CUDA_ERROR_INVALID_VALUE;
	memcpy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { return dtoh(dst, src, n); }

static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (!valid_range(dst, n) || !valid_range(src, n)) return CUDA_ERROR_INVALID_VALUE;
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return dtod(dst, src, n); }

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, struct stream *s) {
	(void)s;
	return htod(dst, src, n);
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, struct stream *s) {
	(void)s;
	return dtoh(dst, src, n);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, struct stream *s) {
	(void)s;
	return dtod(dst, src, n);
}

static CUresult memset8(CUdeviceptr dst, unsigned char v, size_t n) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (!valid_range(dst, n)) return CUDA_ERROR_INVALID_VALUE;
	memset((void *)(uintptr_t)dst, v, n);
	return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) { return memset8(dst, v, n); }

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, struct stream *s) {
	(void)s;
	return memset8(dst, v, n);
}

CUresult cuStreamCreate(struct stream **s, unsigned int flags) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (s == NULL || flags > 1) return CUDA_ERROR_INVALID_VALUE;
	*s = calloc(1, sizeof **s);
	return *s == NULL ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(struct stream *s) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (s == NULL) return CUDA_ERROR_INVALID_HANDLE;
	free(s);
	return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(struct stream *s) {
	(void)s;
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	return CUDA_SUCCESS;
}

CUresult cuEventCreate(struct event **e, unsigned int flags) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (e == NULL || flags != 0) return CUDA_ERROR_INVALID_VALUE;
	*e = calloc(1, sizeof **e);
	return *e == NULL ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

CUresult cuEventRecord(struct event *e, struct stream *s) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (e == NULL) return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&mu);
	if (s == NULL) s = &null_stream;
	e->seq = ++s->seq;
	e->recorded = 1;
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(struct event *e) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (e == NULL) return CUDA_ERROR_INVALID_HANDLE;
	return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime(float *ms, struct event *start, struct event *end) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (ms == NULL) return CUDA_ERROR_INVALID_VALUE;
	if (start == NULL || end == NULL || !start->recorded || !end->recorded) return CUDA_ERROR_INVALID_HANDLE;
	*ms = (float)(end->seq - start->seq) * 0.5f;
	return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(struct event *e) {
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (e == NULL) return CUDA_ERROR_INVALID_HANDLE;
	free(e);
	return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(struct function *f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shared, struct stream *s, void **params,
                        void **extra) {
	(void)s;
	(void)shared;
	if (!in_ctx()) return CUDA_ERROR_INVALID_CONTEXT;
	if (f == NULL) return CUDA_ERROR_INVALID_HANDLE;
	if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx * by * bz > 1024 || extra != NULL)
		return CUDA_ERROR_INVALID_VALUE;
	switch (f->kernel) {
	case KERNEL_ADD_U32: {
		if (params == NULL) return CUDA_ERROR_INVALID_VALUE;
		CUdeviceptr dst = *(CUdeviceptr *)params[0];
		CUdeviceptr a = *(CUdeviceptr *)params[1];
		CUdeviceptr b = *(CUdeviceptr *)params[2];
		uint32_t n = *(uint32_t *)params[3];
		uint64_t covered = (uint64_t)gx * bx;
		uint64_t m = n < covered ? n : covered;
		if (!valid_range(dst, m * 4) || !valid_range(a, m * 4) || !valid_range(b, m * 4))
			return CUDA_ERROR_INVALID_VALUE;
		uint32_t *d = (uint32_t *)(uintptr_t)dst;
		const uint32_t *x = (const uint32_t *)(uintptr_t)a, *y = (const uint32_t *)(uintptr_t)b;
		for (uint64_t i = 0; i < m; i++) d[i] = x[i] + y[i];
		return CUDA_SUCCESS;
	}
	case KERNEL_STORE_ARGS: {
		if (params == NULL) return CUDA_ERROR_INVALID_VALUE;
		CUdeviceptr out = *(CUdeviceptr *)params[0];
		if (!valid_range(out, 32)) return CUDA_ERROR_INVALID_VALUE;
		uint64_t *o = (uint64_t *)(uintptr_t)out;
		uint32_t fc;
		uint64_t fd;
		memcpy(&fc, params[3], 4);
		memcpy(&fd, params[4], 8);
		o[0] = *(uint32_t *)params[1];
		o[1] = *(uint64_t *)params[2];
		o[2] = fc;
		o[3] = fd;
		return CUDA_SUCCESS;
	}
	}
	return CUDA_ERROR_NOT_SUPPORTED;
}

static const struct {
	CUresult code;
	const char *name, *msg;
} errors[] = {
	{CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
	{CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
	{CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
	{CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
	{CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
	{CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
	{CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
	{CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
	{CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
	{CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
	{CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
};

CUresult cuGetErrorName(CUresult code, const char **s) {
	if (s == NULL) return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		if (errors[i].code == code) {
			*s = errors[i].name;
			return CUDA_SUCCESS;
		}
	}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult code, const char **s) {
	if (s == NULL) return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		if (errors[i].code == code) {
			*s = errors[i].msg;
			return CUDA_SUCCESS;
		}
	}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}
