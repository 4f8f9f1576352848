// Package ring implements element-wise vector kernels over the rings
// Z/2^32 and Z/2^64 (uint32 and uint64 with wrap-around arithmetic).
//
// A pure-Go implementation is always compiled and is returned by [Generic].
// On amd64 (without the purego build tag) [Native] returns AVX2 kernels when
// the CPU supports them. Both sets compute bit-identical results.
//
// All kernels work on caller-allocated slices and start no goroutines.
// Unless stated otherwise every kernel panics if the input lengths differ
// from len(dst) or if dst partially overlaps an input; dst may alias an
// input exactly (same first element and length).
//
// The kernels are constant-time with respect to the element values: they
// neither branch on nor index memory by the data, only by lengths.
package ring

import "unsafe"

// Kernels is a set of ring kernels. The zero value is not usable; obtain
// one from [Generic] or [Native].
type Kernels struct {
	// Name identifies the implementation, e.g. "generic" or "avx2".
	Name string

	// AddU32 sets dst[i] = a[i] + b[i] mod 2^32.
	// It panics if len(a) != len(dst) or len(b) != len(dst).
	AddU32 func(dst, a, b []uint32)
	// SubU32 sets dst[i] = a[i] - b[i] mod 2^32.
	// It panics if len(a) != len(dst) or len(b) != len(dst).
	SubU32 func(dst, a, b []uint32)
	// NegU32 sets dst[i] = -a[i] mod 2^32.
	// It panics if len(a) != len(dst).
	NegU32 func(dst, a []uint32)
	// AddScalarU32 sets dst[i] = a[i] + s mod 2^32.
	// It panics if len(a) != len(dst).
	AddScalarU32 func(dst, a []uint32, s uint32)
	// SumU32 sets dst[i] = Σ_j vs[j][i] mod 2^32; with len(vs) == 0 it
	// zeroes dst. dst may alias any vs[j] exactly, and vs may contain the
	// same slice several times. It panics if len(vs[j]) != len(dst).
	SumU32 func(dst []uint32, vs [][]uint32)

	// AddU64 sets dst[i] = a[i] + b[i] mod 2^64.
	// It panics if len(a) != len(dst) or len(b) != len(dst).
	AddU64 func(dst, a, b []uint64)
	// SubU64 sets dst[i] = a[i] - b[i] mod 2^64.
	// It panics if len(a) != len(dst) or len(b) != len(dst).
	SubU64 func(dst, a, b []uint64)
	// NegU64 sets dst[i] = -a[i] mod 2^64.
	// It panics if len(a) != len(dst).
	NegU64 func(dst, a []uint64)
	// AddScalarU64 sets dst[i] = a[i] + s mod 2^64.
	// It panics if len(a) != len(dst).
	AddScalarU64 func(dst, a []uint64, s uint64)
	// SumU64 sets dst[i] = Σ_j vs[j][i] mod 2^64; with len(vs) == 0 it
	// zeroes dst. dst may alias any vs[j] exactly, and vs may contain the
	// same slice several times. It panics if len(vs[j]) != len(dst).
	SumU64 func(dst []uint64, vs [][]uint64)
}

// ntMinBytes is the dst size from which the native streaming kernels use
// non-temporal stores (when dst does not overlap an input). With an 8 MiB
// dst the working set (≥ 24 MiB) no longer stays in a typical last-level
// cache, and skipping the read-for-ownership of dst's lines measured 1.3-1.5x
// faster on AMD Zen 5 (32 MiB L3); below ~4 MiB regular stores are as fast
// or faster and leave dst cached for the next kernel.
const ntMinBytes = 8 << 20

// StreamMinBytes is the size of an operation's dst from which a caller that
// splits it into chunks should run the chunks on Streaming() kernels: the
// size from which Native() itself streams.
const StreamMinBytes = ntMinBytes

// word is the set of element types the kernels operate on.
type word interface{ ~uint32 | ~uint64 }

// sumBlockBytes is the size of the cache block Sum accumulates at a time.
// The accumulator stays in L1 (32 KiB of a 48 KiB L1 data cache) while the
// inputs stream past it. Aggregation reads its inputs from memory, and there
// longer runs per input let the hardware prefetcher keep up: with `cohort
// bench tensor` (Sum of 64 vectors of 2^20 words, one core) 32 KiB blocks
// reached 0.75-0.77 of copy() bandwidth against 0.72 for 16 KiB and
// 0.62-0.65 for 8 KiB. Inputs already in cache run ~10% slower than with
// 8 KiB blocks, which matters less.
const sumBlockBytes = 32768

// maxBlockWords is the accumulator length for the smallest element type.
const maxBlockWords = sumBlockBytes / 4

// blockWords returns the number of T elements in one Sum cache block.
func blockWords[T word]() int {
	var z T
	return sumBlockBytes / int(unsafe.Sizeof(z))
}

// Length and overlap checks shared by both implementations.

func checkUnary[T word](dst, a []T) {
	if len(a) != len(dst) {
		panic("ring: length mismatch")
	}
	if inexactOverlap(dst, a) {
		panic("ring: dst partially overlaps an input")
	}
}

func checkBinary[T word](dst, a, b []T) {
	if len(a) != len(dst) || len(b) != len(dst) {
		panic("ring: length mismatch")
	}
	if inexactOverlap(dst, a) || inexactOverlap(dst, b) {
		panic("ring: dst partially overlaps an input")
	}
}

// checkSum validates the arguments of Sum and reports whether dst aliases
// any of the inputs.
func checkSum[T word](dst []T, vs [][]T) (aliased bool) {
	for _, v := range vs {
		if len(v) != len(dst) {
			panic("ring: length mismatch")
		}
		if anyOverlap(dst, v) {
			if unsafe.SliceData(dst) != unsafe.SliceData(v) {
				panic("ring: dst partially overlaps an input")
			}
			aliased = true
		}
	}
	return aliased
}

// span returns the address range [lo, hi) of x's elements.
func span[T word](x []T) (lo, hi uintptr) {
	if len(x) == 0 {
		return 0, 0
	}
	var z T
	lo = uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	return lo, lo + uintptr(len(x))*unsafe.Sizeof(z)
}

// anyOverlap reports whether x and y share any element.
func anyOverlap[T word](x, y []T) bool {
	xl, xh := span(x)
	yl, yh := span(y)
	return xl < yh && yl < xh
}

// inexactOverlap reports whether x and y share an element without starting
// at the same address. x and y are assumed to have equal lengths.
func inexactOverlap[T word](x, y []T) bool {
	if !anyOverlap(x, y) {
		return false
	}
	return unsafe.SliceData(x) != unsafe.SliceData(y)
}
