//go:build amd64 && !purego

package ring

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Native returns the fastest kernels for this machine and whether they are
// SIMD kernels: the AVX2 kernels and true when the CPU supports AVX2,
// otherwise Generic() and false.
func Native() (Kernels, bool) {
	if !cpu.X86.HasAVX2 {
		return Generic(), false
	}
	return Kernels{
		Name:         "avx2",
		AddU32:       addU32Native,
		SubU32:       subU32Native,
		NegU32:       negU32Native,
		AddScalarU32: addScalarU32Native,
		SumU32:       sumU32Native,
		AddU64:       addU64Native,
		SubU64:       subU64Native,
		NegU64:       negU64Native,
		AddScalarU64: addScalarU64Native,
		SumU64:       sumU64Native,
	}, true
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
// non-temporal stores.
func useNT[T word](dst, a, b []T) bool {
	var z T
	return len(dst)*int(unsafe.Sizeof(z)) >= ntMinBytes && !anyOverlap(dst, a) && !anyOverlap(dst, b)
}

// binaryNative runs the asm kernel k (or knt, its non-temporal variant) on
// the whole vectors of dst = a op b and the portable kernel gen on the rest.
func binaryNative[T word](dst, a, b []T, k, knt func(dst, a, b *T, n int), gen func(dst, a, b []T)) {
	checkBinary(dst, a, b)
	n, l := len(dst), lanes[T]()
	i := 0
	if useNT(dst, a, b) {
		i = alignHead(dst)
		gen(dst[:i], a[:i], b[:i])
		m := (n - i) &^ (l - 1)
		knt(&dst[i], &a[i], &b[i], m)
		i += m
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
func unaryNative[T word](dst, a []T, s T, k, knt func(dst, a *T, n int, s T), gen func(dst, a []T, s T)) {
	checkUnary(dst, a)
	n, l := len(dst), lanes[T]()
	i := 0
	if useNT(dst, a, nil) {
		i = alignHead(dst)
		gen(dst[:i], a[:i], s)
		m := (n - i) &^ (l - 1)
		knt(&dst[i], &a[i], m, s)
		i += m
	} else if m := n &^ (l - 1); m > 0 {
		k(&dst[0], &a[0], m, s)
		i = m
	}
	if i < n {
		gen(dst[i:], a[i:], s)
	}
}

func addU32Native(dst, a, b []uint32) {
	binaryNative(dst, a, b, addU32AVX2, addU32AVX2NT, addGeneric[uint32])
}

func subU32Native(dst, a, b []uint32) {
	binaryNative(dst, a, b, subU32AVX2, subU32AVX2NT, subGeneric[uint32])
}

func addU64Native(dst, a, b []uint64) {
	binaryNative(dst, a, b, addU64AVX2, addU64AVX2NT, addGeneric[uint64])
}

func subU64Native(dst, a, b []uint64) {
	binaryNative(dst, a, b, subU64AVX2, subU64AVX2NT, subGeneric[uint64])
}

func addScalarU32Native(dst, a []uint32, s uint32) {
	unaryNative(dst, a, s, addScalarU32AVX2, addScalarU32AVX2NT, addScalarGeneric[uint32])
}

func addScalarU64Native(dst, a []uint64, s uint64) {
	unaryNative(dst, a, s, addScalarU64AVX2, addScalarU64AVX2NT, addScalarGeneric[uint64])
}

func negU32Native(dst, a []uint32) {
	unaryNative(dst, a, 0,
		func(d, x *uint32, n int, _ uint32) { negU32AVX2(d, x, n) },
		func(d, x *uint32, n int, _ uint32) { negU32AVX2NT(d, x, n) },
		func(d, x []uint32, _ uint32) { negGeneric(d, x) })
}

func negU64Native(dst, a []uint64) {
	unaryNative(dst, a, 0,
		func(d, x *uint64, n int, _ uint64) { negU64AVX2(d, x, n) },
		func(d, x *uint64, n int, _ uint64) { negU64AVX2NT(d, x, n) },
		func(d, x []uint64, _ uint64) { negGeneric(d, x) })
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
