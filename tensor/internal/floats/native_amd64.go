//go:build amd64 && !purego

package floats

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
		Name:           "avx2",
		WeightedSumF32: weightedSumF32Native,
		WeightedSumF64: weightedSumF64Native,
		SumSquaresF32:  sumSquaresF32Native,
		SumSquaresF64:  sumSquaresF64Native,
		ScaleF32:       scaleF32Native,
		ScaleF64:       scaleF64Native,
	}, true
}

// The assembly handles the longest prefix that fills whole YMM registers
// (8 float32 or 4 float64); Go finishes the rest in the same order.

func weightedSumF32Native(dst []float32, w []float32, vs [][]float32) {
	weightedSumNative(dst, w, vs, 8)
}

func weightedSumF64Native(dst []float64, w []float64, vs [][]float64) {
	weightedSumNative(dst, w, vs, 4)
}

// wsPass runs one pass of a weighted sum over a block (the first when acc is
// nil), in assembly when asm is set, else in Go. The casts are exact: F is
// float32 when its size is 4 and float64 otherwise. Direct calls keep the
// stack buffer of wsBuffered on the stack, which calls through function
// values or type-parameter methods would not.
func wsPass[F float32 | float64](asm bool, out, acc, w []F, vs [][]F, off int) {
	if !asm {
		wsPassGeneric(out, acc, w, vs, off)
		return
	}
	var z F
	if unsafe.Sizeof(z) == 4 {
		o, a, ww, v := as[float32](out), as[float32](acc), as[float32](w), *(*[][]float32)(unsafe.Pointer(&vs))
		if acc == nil {
			wsFirstF32AVX2(o, ww, v, off)
		} else {
			wsNextF32AVX2(o, a, ww, v, off)
		}
		return
	}
	o, a, ww, v := as[float64](out), as[float64](acc), as[float64](w), *(*[][]float64)(unsafe.Pointer(&vs))
	if acc == nil {
		wsFirstF64AVX2(o, ww, v, off)
	} else {
		wsNextF64AVX2(o, a, ww, v, off)
	}
}

// as reinterprets s as a slice of T, a type of the same size.
func as[T, F float32 | float64](s []F) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// weightedSumNative runs the assembly passes over the longest prefix of dst
// that fills whole registers of lanes elements, and finishes the rest in Go.
func weightedSumNative[F float32 | float64](dst, w []F, vs [][]F, lanes int) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	m := len(dst) &^ (lanes - 1)
	if m > 0 {
		wsRun(dst[:m], w, vs, true)
	}
	// Element by element: dst[j] is written after every vs[i][j] is read.
	for j := m; j < len(dst); j++ {
		s := F(w[0] * vs[0][j])
		for i := 1; i < len(vs); i++ {
			s += F(w[i] * vs[i][j])
		}
		dst[j] = s
	}
}

func sumSquaresF32Native(a []float32) float64 {
	var p, t [8]float64
	n := len(a) &^ 7
	if n > 0 {
		sumSquaresF32AVX2(a[:n], &p)
	}
	for j := n; j < len(a); j++ {
		x := float64(a[j])
		t[j-n] = float64(x * x)
	}
	return combine8(p[0]+t[0], p[1]+t[1], p[2]+t[2], p[3]+t[3], p[4]+t[4], p[5]+t[5], p[6]+t[6], p[7]+t[7])
}

func sumSquaresF64Native(a []float64) float64 {
	var p, t [8]float64
	n := len(a) &^ 7
	if n > 0 {
		sumSquaresF64AVX2(a[:n], &p)
	}
	for j := n; j < len(a); j++ {
		t[j-n] = float64(a[j] * a[j])
	}
	return combine8(p[0]+t[0], p[1]+t[1], p[2]+t[2], p[3]+t[3], p[4]+t[4], p[5]+t[5], p[6]+t[6], p[7]+t[7])
}

func scaleF32Native(dst, a []float32, s float32) {
	checkScale(len(dst), len(a))
	m := len(dst) &^ 7
	if m > 0 {
		scaleF32AVX2(dst[:m], a[:m], s)
	}
	a = a[:len(dst)]
	for j := m; j < len(dst); j++ {
		dst[j] = s * a[j]
	}
}

func scaleF64Native(dst, a []float64, s float64) {
	checkScale(len(dst), len(a))
	m := len(dst) &^ 3
	if m > 0 {
		scaleF64AVX2(dst[:m], a[:m], s)
	}
	a = a[:len(dst)]
	for j := m; j < len(dst); j++ {
		dst[j] = s * a[j]
	}
}
