//go:build amd64 && !purego

package ring

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Native returns the fastest kernels for this machine and whether they are
// SIMD kernels: the AVX2 kernels and true when the CPU supports AVX2,
// otherwise Generic() and false. Their element-wise operations switch to
// non-temporal stores for a dst of ntMinBytes or more.
func Native() (Kernels, bool) {
	if !cpu.X86.HasAVX2 {
		return Generic(), false
	}
	return nativeKernels("avx2", ntMinBytes), true
}

// Streaming returns kernels like Native's whose element-wise operations use
// non-temporal stores whatever the length of dst (still only where dst does
// not overlap an input). It is for callers that split one operation on a
// vector far larger than the cache into chunks: each chunk is small, but
// caching what it writes would only evict what the next chunk reads. Without
// AVX2 it returns Generic().
func Streaming() Kernels {
	if !cpu.X86.HasAVX2 {
		return Generic()
	}
	return nativeKernels("avx2-stream", 0)
}

// nativeKernels returns the AVX2 kernels that use non-temporal stores for a
// dst of at least minNT bytes.
func nativeKernels(name string, minNT int) Kernels {
	return Kernels{
		Name: name,
		AddU32: func(dst, a, b []uint32) {
			binaryNative(dst, a, b, minNT, addU32AVX2, addU32AVX2NT, addGeneric[uint32])
		},
		SubU32: func(dst, a, b []uint32) {
			binaryNative(dst, a, b, minNT, subU32AVX2, subU32AVX2NT, subGeneric[uint32])
		},
		NegU32: func(dst, a []uint32) {
			unaryNative(dst, a, 0, minNT,
				func(d, x *uint32, n int, _ uint32) { negU32AVX2(d, x, n) },
				func(d, x *uint32, n int, _ uint32) { negU32AVX2NT(d, x, n) },
				func(d, x []uint32, _ uint32) { negGeneric(d, x) })
		},
		AddScalarU32: func(dst, a []uint32, s uint32) {
			unaryNative(dst, a, s, minNT, addScalarU32AVX2, addScalarU32AVX2NT, addScalarGeneric[uint32])
		},
		SumU32: sumU32Native,
		AddU64: func(dst, a, b []uint64) {
			binaryNative(dst, a, b, minNT, addU64AVX2, addU64AVX2NT, addGeneric[uint64])
		},
		SubU64: func(dst, a, b []uint64) {
			binaryNative(dst, a, b, minNT, subU64AVX2, subU64AVX2NT, subGeneric[uint64])
		},
		NegU64: func(dst, a []uint64) {
			unaryNative(dst, a, 0, minNT,
				func(d, x *uint64, n int, _ uint64) { negU64AVX2(d, x, n) },
				func(d, x *uint64, n int, _ uint64) { negU64AVX2NT(d, x, n) },
				func(d, x []uint64, _ uint64) { negGeneric(d, x) })
		},
		AddScalarU64: func(dst, a []uint64, s uint64) {
			unaryNative(dst, a, s, minNT, addScalarU64AVX2, addScalarU64AVX2NT, addScalarGeneric[uint64])
		},
		SumU64: sumU64Native,
	}
}

// lanes returns the number of T elements in one YMM register.
func lanes[T word]() int {
	var z T
	return 32 / int(unsafe.Sizeof(z))
}

// alignHead returns how many leading elements of x to skip so that the rest
// starts 32-byte aligned (at most len(x)).
func alignHead[T word](x []T) int {
	var z T
	p := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	h := int((32-p&31)&31) / int(unsafe.Sizeof(z))
	return min(h, len(x))
}

// useNT reports whether a kernel writing dst from inputs a and b should use
// non-temporal stores: dst is at least minNT bytes and overlaps neither input.
func useNT[T word](dst, a, b []T, minNT int) bool {
	var z T
	return len(dst) > 0 && len(dst)*int(unsafe.Sizeof(z)) >= minNT && !anyOverlap(dst, a) && !anyOverlap(dst, b)
}

// binaryNative runs the asm kernel k (or knt, its non-temporal variant) on
// the whole vectors of dst = a op b and the portable kernel gen on the rest.
func binaryNative[T word](dst, a, b []T, minNT int, k, knt func(dst, a, b *T, n int), gen func(dst, a, b []T)) {
	checkBinary(dst, a, b)
	n, l := len(dst), lanes[T]()
	i := 0
	if useNT(dst, a, b, minNT) {
		i = alignHead(dst)
		gen(dst[:i], a[:i], b[:i])
		if m := (n - i) &^ (l - 1); m > 0 {
			knt(&dst[i], &a[i], &b[i], m)
			i += m
		}
	} else if m := n &^ (l - 1); m > 0 {
		k(&dst[0], &a[0], &b[0], m)
		i = m
	}
	if i < n {
		gen(dst[i:], a[i:], b[i:])
	}
}

// unaryNative is binaryNative for dst = op(a) (s is the scalar operand, if
// the operation has one).
func unaryNative[T word](dst, a []T, s T, minNT int, k, knt func(dst, a *T, n int, s T), gen func(dst, a []T, s T)) {
	checkUnary(dst, a)
	n, l := len(dst), lanes[T]()
	i := 0
	if useNT(dst, a, nil, minNT) {
		i = alignHead(dst)
		gen(dst[:i], a[:i], s)
		if m := (n - i) &^ (l - 1); m > 0 {
			knt(&dst[i], &a[i], m, s)
			i += m
		}
	} else if m := n &^ (l - 1); m > 0 {
		k(&dst[0], &a[0], m, s)
		i = m
	}
	if i < n {
		gen(dst[i:], a[i:], s)
	}
}

// sumNative computes the whole-vector prefix of dst with sumBlocked and the
// asm passes, and the remaining (fewer than one vector of) elements in Go.
func sumNative[T word](dst []T, vs [][]T) {
	aliased := checkSum(dst, vs)
	switch len(vs) {
	case 0:
		clear(dst)
		return
	case 1:
		copy(dst, vs[0])
		return
	}
	n := len(dst)
	m := n &^ (lanes[T]() - 1)
	if m > 0 {
		sumBlocked(dst, vs, m, aliased, true)
	}
	for i := m; i < n; i++ {
		var s T
		for _, v := range vs {
			s += v[i]
		}
		dst[i] = s
	}
}

func sumU32Native(dst []uint32, vs [][]uint32) { sumNative(dst, vs) }

func sumU64Native(dst []uint64, vs [][]uint64) { sumNative(dst, vs) }

// sumPassSIMD is sumPass with the AVX2 kernels; len(out) must be a multiple
// of the vector width and positive.
func sumPassSIMD[T word](out []T, in [5][]T, k int) {
	n := len(out)
	var z T
	if unsafe.Sizeof(z) == 4 {
		p := func(x []T) *uint32 { return (*uint32)(unsafe.Pointer(&x[0])) }
		switch k {
		case 2:
			sum2U32AVX2(p(out), p(in[0]), p(in[1]), n)
		case 3:
			sum3U32AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), n)
		case 4:
			sum4U32AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), p(in[3]), n)
		case 5:
			sum5U32AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), p(in[3]), p(in[4]), n)
		default:
			panic("ring: internal error: bad pass width")
		}
		return
	}
	p := func(x []T) *uint64 { return (*uint64)(unsafe.Pointer(&x[0])) }
	switch k {
	case 2:
		sum2U64AVX2(p(out), p(in[0]), p(in[1]), n)
	case 3:
		sum3U64AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), n)
	case 4:
		sum4U64AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), p(in[3]), n)
	case 5:
		sum5U64AVX2(p(out), p(in[0]), p(in[1]), p(in[2]), p(in[3]), p(in[4]), n)
	default:
		panic("ring: internal error: bad pass width")
	}
}
