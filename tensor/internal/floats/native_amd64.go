//go:build amd64 && !purego

package floats

import "golang.org/x/sys/cpu"

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
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	m := len(dst) &^ 7
	if m > 0 {
		if wsNeedsBuffer(dst, vs) {
			wsBufferedF32AVX2(dst[:m], w, vs)
		} else {
			wsBlocksF32AVX2(dst[:m], w, vs, nil)
		}
	}
	// Element by element: dst[j] is written after every vs[i][j] is read.
	for j := m; j < len(dst); j++ {
		s := float32(w[0] * vs[0][j])
		for i := 1; i < len(vs); i++ {
			s += float32(w[i] * vs[i][j])
		}
		dst[j] = s
	}
}

func weightedSumF64Native(dst []float64, w []float64, vs [][]float64) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	m := len(dst) &^ 3
	if m > 0 {
		if wsNeedsBuffer(dst, vs) {
			wsBufferedF64AVX2(dst[:m], w, vs)
		} else {
			wsBlocksF64AVX2(dst[:m], w, vs, nil)
		}
	}
	for j := m; j < len(dst); j++ {
		s := float64(w[0] * vs[0][j])
		for i := 1; i < len(vs); i++ {
			s += float64(w[i] * vs[i][j])
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

// wsBufferedF32AVX2 runs wsBlocksF32AVX2 with a stack buffer.
// It is not inlined, so that the buffer is on the stack only when needed.
//
//go:noinline
func wsBufferedF32AVX2(dst []float32, w []float32, vs [][]float32) {
	var buf [wsBlockBytes / 4]float32
	wsBlocksF32AVX2(dst, w, vs, buf[:])
}

// wsBlocksF32AVX2 is wsBlocksF32Generic with the passes in assembly;
// len(dst) must be a multiple of the lanes of one YMM register.
func wsBlocksF32AVX2(dst []float32, w []float32, vs [][]float32, buf []float32) {
	const blk = wsBlockBytes / 4
	for lo := 0; lo < len(dst); lo += blk {
		out := dst[lo:min(lo+blk, len(dst))]
		acc := out
		if buf != nil {
			acc = buf[:len(out)]
		}
		i := min(len(vs), wsPassInputs)
		if i == len(vs) {
			wsFirstF32AVX2(out, w, vs, lo)
			continue
		}
		wsFirstF32AVX2(acc, w[:i], vs[:i], lo)
		for ; len(vs)-i > wsPassInputs; i += wsPassInputs {
			wsNextF32AVX2(acc, acc, w[i:i+wsPassInputs], vs[i:i+wsPassInputs], lo)
		}
		wsNextF32AVX2(out, acc, w[i:], vs[i:], lo)
	}
}

// wsBufferedF64AVX2 runs wsBlocksF64AVX2 with a stack buffer.
// It is not inlined, so that the buffer is on the stack only when needed.
//
//go:noinline
func wsBufferedF64AVX2(dst []float64, w []float64, vs [][]float64) {
	var buf [wsBlockBytes / 8]float64
	wsBlocksF64AVX2(dst, w, vs, buf[:])
}

// wsBlocksF64AVX2 is wsBlocksF64Generic with the passes in assembly;
// len(dst) must be a multiple of the lanes of one YMM register.
func wsBlocksF64AVX2(dst []float64, w []float64, vs [][]float64, buf []float64) {
	const blk = wsBlockBytes / 8
	for lo := 0; lo < len(dst); lo += blk {
		out := dst[lo:min(lo+blk, len(dst))]
		acc := out
		if buf != nil {
			acc = buf[:len(out)]
		}
		i := min(len(vs), wsPassInputs)
		if i == len(vs) {
			wsFirstF64AVX2(out, w, vs, lo)
			continue
		}
		wsFirstF64AVX2(acc, w[:i], vs[:i], lo)
		for ; len(vs)-i > wsPassInputs; i += wsPassInputs {
			wsNextF64AVX2(acc, acc, w[i:i+wsPassInputs], vs[i:i+wsPassInputs], lo)
		}
		wsNextF64AVX2(out, acc, w[i:], vs[i:], lo)
	}
}
