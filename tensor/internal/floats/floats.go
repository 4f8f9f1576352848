// Package floats provides float32 and float64 vector helpers for federated
// aggregation and differential privacy: weighted sums, sums of squares and
// scaling.
//
// Every function has a fully specified operation order so that results are
// reproducible bit for bit across runs, chunkings and (future) SIMD paths.
// Products are always written with an explicit conversion such as
// float32(w*v): the Go specification allows an implementation to fuse
// x*y + z into a single fused multiply-add (amd64 with GOAMD64=v3 and arm64
// do so), and an explicit conversion forces the product to be rounded
// first, which prevents the fusion and keeps the documented order exact.
//
// The functions operate on caller-allocated slices, do not allocate and
// start no goroutines.
package floats

import "fmt"

// blockLen is the number of dst elements processed per block by the
// weighted sums: 512 elements is 2 KiB (float32) or 4 KiB (float64) of
// accumulator, which stays in L1 while every input vector streams over it.
const blockLen = 512

func checkWeighted(nw, nvs int) {
	if nw != nvs {
		panic(fmt.Sprintf("floats: len(w) = %d != len(vs) = %d", nw, nvs))
	}
}

// WeightedSumF32 sets dst[j] = Σ_i w[i]·vs[i][j], computed as
// (…((w[0]·vs[0][j] + w[1]·vs[1][j]) + w[2]·vs[2][j]) + …) with every product
// and every sum rounded to float32 (no fused multiply-add). If vs is empty,
// dst is zeroed.
//
// dst may be the same slice as any vs[i] (partially overlapping slices are
// not supported): dst is processed in blocks, and each block is accumulated
// in a local buffer and written exactly once after all of vs has been read
// for it.
//
// It panics if len(w) != len(vs) or len(vs[i]) != len(dst) for some i.
func WeightedSumF32(dst []float32, w []float32, vs [][]float32) {
	checkWeighted(len(w), len(vs))
	for i, v := range vs {
		if len(v) != len(dst) {
			panic(fmt.Sprintf("floats: len(vs[%d]) = %d != len(dst) = %d", i, len(v), len(dst)))
		}
	}
	if len(vs) == 0 {
		clear(dst)
		return
	}
	var buf [blockLen]float32
	for lo := 0; lo < len(dst); lo += blockLen {
		hi := min(lo+blockLen, len(dst))
		acc := buf[:hi-lo]
		w0, v0 := w[0], vs[0][lo:hi]
		v0 = v0[:len(acc)]
		for j := range acc {
			acc[j] = float32(w0 * v0[j])
		}
		i := 1
		// Four inputs per pass: the additions stay in the order i = 1, 2, 3,
		// 4, while the accumulator is loaded and stored once per pass.
		for ; i+4 <= len(vs); i += 4 {
			wa, wb, wc, wd := w[i], w[i+1], w[i+2], w[i+3]
			va := vs[i][lo:hi][:len(acc)]
			vb := vs[i+1][lo:hi][:len(acc)]
			vc := vs[i+2][lo:hi][:len(acc)]
			vd := vs[i+3][lo:hi][:len(acc)]
			for j := range acc {
				s := acc[j] + float32(wa*va[j])
				s += float32(wb * vb[j])
				s += float32(wc * vc[j])
				s += float32(wd * vd[j])
				acc[j] = s
			}
		}
		for ; i < len(vs); i++ {
			wi, vi := w[i], vs[i][lo:hi][:len(acc)]
			for j := range acc {
				acc[j] += float32(wi * vi[j])
			}
		}
		copy(dst[lo:hi], acc)
	}
}

// WeightedSumF64 is the float64 version of WeightedSumF32, with the same
// operation order, aliasing rules and panics.
func WeightedSumF64(dst []float64, w []float64, vs [][]float64) {
	checkWeighted(len(w), len(vs))
	for i, v := range vs {
		if len(v) != len(dst) {
			panic(fmt.Sprintf("floats: len(vs[%d]) = %d != len(dst) = %d", i, len(v), len(dst)))
		}
	}
	if len(vs) == 0 {
		clear(dst)
		return
	}
	var buf [blockLen]float64
	for lo := 0; lo < len(dst); lo += blockLen {
		hi := min(lo+blockLen, len(dst))
		acc := buf[:hi-lo]
		w0, v0 := w[0], vs[0][lo:hi]
		v0 = v0[:len(acc)]
		for j := range acc {
			acc[j] = float64(w0 * v0[j])
		}
		i := 1
		for ; i+4 <= len(vs); i += 4 {
			wa, wb, wc, wd := w[i], w[i+1], w[i+2], w[i+3]
			va := vs[i][lo:hi][:len(acc)]
			vb := vs[i+1][lo:hi][:len(acc)]
			vc := vs[i+2][lo:hi][:len(acc)]
			vd := vs[i+3][lo:hi][:len(acc)]
			for j := range acc {
				s := acc[j] + float64(wa*va[j])
				s += float64(wb * vb[j])
				s += float64(wc * vc[j])
				s += float64(wd * vd[j])
				acc[j] = s
			}
		}
		for ; i < len(vs); i++ {
			wi, vi := w[i], vs[i][lo:hi][:len(acc)]
			for j := range acc {
				acc[j] += float64(wi * vi[j])
			}
		}
		copy(dst[lo:hi], acc)
	}
}

// SumSquaresF32 returns Σ_j a[j]², accumulated in float64. Element j is
// widened to float64, squared (exactly, since a float32 has a 24-bit
// significand) and added to partial sum p[j%8]; the partials start at +0 and
// are combined as ((p0+p1)+(p2+p3)) + ((p4+p5)+(p6+p7)). This fixed order
// lets an 8-lane SIMD implementation match the result bit for bit.
func SumSquaresF32(a []float32) float64 {
	var p0, p1, p2, p3, p4, p5, p6, p7 float64
	n := len(a) &^ 7
	for j := 0; j < n; j += 8 {
		b := a[j : j+8 : j+8]
		x0, x1, x2, x3 := float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])
		x4, x5, x6, x7 := float64(b[4]), float64(b[5]), float64(b[6]), float64(b[7])
		p0 += float64(x0 * x0)
		p1 += float64(x1 * x1)
		p2 += float64(x2 * x2)
		p3 += float64(x3 * x3)
		p4 += float64(x4 * x4)
		p5 += float64(x5 * x5)
		p6 += float64(x6 * x6)
		p7 += float64(x7 * x7)
	}
	var p [8]float64
	for j := n; j < len(a); j++ {
		x := float64(a[j])
		p[j-n] = float64(x * x)
	}
	return combine8(p0+p[0], p1+p[1], p2+p[2], p3+p[3], p4+p[4], p5+p[5], p6+p[6], p7+p[7])
}

// SumSquaresF64 returns Σ_j a[j]² with the same partial-sum order as
// SumSquaresF32: element j's square, rounded to float64, is added to partial
// p[j%8], and the partials are combined as
// ((p0+p1)+(p2+p3)) + ((p4+p5)+(p6+p7)).
func SumSquaresF64(a []float64) float64 {
	var p0, p1, p2, p3, p4, p5, p6, p7 float64
	n := len(a) &^ 7
	for j := 0; j < n; j += 8 {
		b := a[j : j+8 : j+8]
		p0 += float64(b[0] * b[0])
		p1 += float64(b[1] * b[1])
		p2 += float64(b[2] * b[2])
		p3 += float64(b[3] * b[3])
		p4 += float64(b[4] * b[4])
		p5 += float64(b[5] * b[5])
		p6 += float64(b[6] * b[6])
		p7 += float64(b[7] * b[7])
	}
	var p [8]float64
	for j := n; j < len(a); j++ {
		p[j-n] = float64(a[j] * a[j])
	}
	return combine8(p0+p[0], p1+p[1], p2+p[2], p3+p[3], p4+p[4], p5+p[5], p6+p[6], p7+p[7])
}

// combine8 adds eight partial sums in the documented tree order.
func combine8(p0, p1, p2, p3, p4, p5, p6, p7 float64) float64 {
	return ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))
}

// ScaleF32 sets dst[j] = s·a[j]. dst may alias a. It panics if
// len(a) != len(dst).
func ScaleF32(dst, a []float32, s float32) {
	if len(a) != len(dst) {
		panic(fmt.Sprintf("floats: len(a) = %d != len(dst) = %d", len(a), len(dst)))
	}
	a = a[:len(dst)]
	for j := range dst {
		dst[j] = s * a[j]
	}
}

// ScaleF64 sets dst[j] = s·a[j]. dst may alias a. It panics if
// len(a) != len(dst).
func ScaleF64(dst, a []float64, s float64) {
	if len(a) != len(dst) {
		panic(fmt.Sprintf("floats: len(a) = %d != len(dst) = %d", len(a), len(dst)))
	}
	a = a[:len(dst)]
	for j := range dst {
		dst[j] = s * a[j]
	}
}
