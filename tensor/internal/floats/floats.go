// Package floats provides float32 and float64 vector helpers for federated
// aggregation and differential privacy: weighted sums, sums of squares and
// scaling.
//
// Every function has a fully specified operation order so that results are
// reproducible bit for bit across runs, chunkings and SIMD paths.
// Products are always written with an explicit conversion such as
// float32(w*v): the Go specification allows an implementation to fuse
// x*y + z into a single fused multiply-add (amd64 with GOAMD64=v3 and arm64
// do so), and an explicit conversion forces the product to be rounded
// first, which prevents the fusion and keeps the documented order exact.
//
// Every kernel exists as portable Go ([Generic], always compiled) and, on
// amd64 without the purego build tag, as AVX2 assembly ([Native]) that
// follows the same operation order. Nothing uses a fused multiply-add. The
// two give bit-identical results with one exception: where the result is
// NaN, its payload and sign may differ if two different NaNs met in one
// operation (different NaN inputs, or a NaN created by 0·Inf or Inf-Inf
// meeting a NaN input). x86 then returns the NaN of the first operand, and
// the Go compiler treats float + and · as commutative and picks the operand
// order per call site, so even two portable loops can disagree there; it
// cannot be pinned without a canonicalising step on every element. The set
// of NaN results is always the same, and with a single NaN payload in the
// inputs the payloads agree as well.
//
// The kernels operate on caller-allocated slices, do not allocate and
// start no goroutines.
package floats

import "fmt"

// Kernels is a set of float kernels. The zero value is not usable; obtain
// one from [Generic] or [Native]. Every set computes bit-identical results.
type Kernels struct {
	// Name identifies the implementation: "generic" or "avx2".
	Name string

	// WeightedSumF32 sets dst[j] = Σ_i w[i]·vs[i][j], computed as
	// (…((w[0]·vs[0][j] + w[1]·vs[1][j]) + w[2]·vs[2][j]) + …) with every
	// product and every sum rounded to float32 (no fused multiply-add). If
	// vs is empty, dst is zeroed.
	//
	// dst may be the same slice as any vs[i], and vs may hold the same
	// slice several times; partially overlapping slices are not supported.
	// Each element of dst is written only after every input has been read
	// for it.
	//
	// It panics if len(w) != len(vs) or len(vs[i]) != len(dst) for some i.
	WeightedSumF32 func(dst []float32, w []float32, vs [][]float32)
	// WeightedSumF64 is the float64 version of WeightedSumF32, with the
	// same operation order, aliasing rules and panics.
	WeightedSumF64 func(dst []float64, w []float64, vs [][]float64)

	// SumSquaresF32 returns Σ_j a[j]², accumulated in float64. Element j is
	// widened to float64, squared (exactly, since a float32 has a 24-bit
	// significand) and added to partial sum p[j%8]; the partials start at
	// +0 and are combined as ((p0+p1)+(p2+p3)) + ((p4+p5)+(p6+p7)). This
	// fixed order lets an 8-lane SIMD implementation match the result bit
	// for bit.
	SumSquaresF32 func(a []float32) float64
	// SumSquaresF64 returns Σ_j a[j]² with the same partial-sum order as
	// SumSquaresF32: element j's square, rounded to float64, is added to
	// partial p[j%8], and the partials are combined as
	// ((p0+p1)+(p2+p3)) + ((p4+p5)+(p6+p7)).
	SumSquaresF64 func(a []float64) float64

	// ScaleF32 sets dst[j] = s·a[j]. dst may alias a exactly. It panics if
	// len(a) != len(dst).
	ScaleF32 func(dst, a []float32, s float32)
	// ScaleF64 sets dst[j] = s·a[j]. dst may alias a exactly. It panics if
	// len(a) != len(dst).
	ScaleF64 func(dst, a []float64, s float64)
}

// Generic returns the portable Go kernels.
func Generic() Kernels {
	return Kernels{
		Name:           "generic",
		WeightedSumF32: weightedSumGeneric[float32],
		WeightedSumF64: weightedSumGeneric[float64],
		SumSquaresF32:  sumSquaresF32Generic,
		SumSquaresF64:  sumSquaresF64Generic,
		ScaleF32:       scaleF32Generic,
		ScaleF64:       scaleF64Generic,
	}
}

// checkWeighted panics unless len(w) == len(vs) and every len(vs[i]) is n.
func checkWeighted[T float32 | float64](n int, w []T, vs [][]T) {
	if len(w) != len(vs) {
		panic(fmt.Sprintf("floats: len(w) = %d != len(vs) = %d", len(w), len(vs)))
	}
	for i, v := range vs {
		if len(v) != n {
			panic(fmt.Sprintf("floats: len(vs[%d]) = %d != len(dst) = %d", i, len(v), n))
		}
	}
}

// wsBlockBytes is the size of the dst block a weighted sum works on at a
// time. Both implementations make passes over a block, each reading
// wsPassInputs inputs and adding their products into the block's partial
// sums, which stay in L1 while the inputs stream past. Reading only a few
// long runs at once lets the hardware prefetcher keep up when the inputs
// come from memory.
const wsBlockBytes = 32768

// wsPassInputs is the number of inputs one pass over a block reads.
const wsPassInputs = 4

// wsNeedsBuffer reports whether dst is the same slice as an input read after
// the first pass over a block, so that the partial sums cannot be kept in
// dst (the inputs of the first pass are read before dst is written).
func wsNeedsBuffer[T float32 | float64](dst []T, vs [][]T) bool {
	if len(dst) == 0 || len(vs) <= wsPassInputs {
		return false
	}
	for _, v := range vs[wsPassInputs:] {
		if &v[0] == &dst[0] {
			return true
		}
	}
	return false
}

// checkScale panics unless len(a) == len(dst).
func checkScale(ndst, na int) {
	if na != ndst {
		panic(fmt.Sprintf("floats: len(a) = %d != len(dst) = %d", na, ndst))
	}
}

// combine8 adds eight partial sums in the documented tree order.
func combine8(p0, p1, p2, p3, p4, p5, p6, p7 float64) float64 {
	return ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))
}
