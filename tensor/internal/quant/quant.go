// Package quant implements the element-wise kernels that convert between
// floating-point vectors and the fixed-point integers used by the secret
// sharing layer: quantisation with unbiased stochastic rounding, and
// dequantisation of (sums of) quantised vectors.
//
// Every kernel exists as portable Go (Generic, always compiled) and, on
// amd64 without the purego build tag, as AVX2+FMA assembly (Native). The two
// produce bit-identical results for all inputs, including NaN, ±Inf,
// subnormal and out-of-range values.
//
// # Quantisation
//
// With Params p and, for element i, x = src[i] and r = rnd[i], the result is
// the one computed by this reference code (IEEE-754 binary64 arithmetic,
// round to nearest even, every operation rounded individually):
//
//	v := (float64(x) - p.Lo) * p.Scale
//	if !(v > 0) { v = 0 }                 // negatives and NaN go to 0
//	if v > p.Max { v = p.Max }            // +Inf and values above Hi go to Max
//	f := math.Floor(v)
//	u := float64(int32(r))*0x1p-32 + 0.5  // uniform in [0,1), resolution 2^-32
//	if u < v-f { f++ }                    // P(round up) = frac(v) up to 2^-32
//	dst[i] = uint32(f)                    // or uint64(f)
//
// The generic code implements it without data-dependent branches or memory
// indexing (the inputs are private values).
//
// The Go specification lets an implementation fuse x*y + z, even across
// statements, into a fused multiply-add that skips the rounding of the
// product; the compiler does so on arm64, ppc64le, s390x, riscv64 and on
// amd64 with GOAMD64=v3. That would change results (and break the equality
// with the assembly), so the generic code writes every product as
// float64(x*y), which forces the rounding: (x-Lo)*Scale could otherwise be
// fused with the later v-f, and float64(src[i])*step with + offset. The
// product int32(r)*0x1p-32 is exact, so fusing it could not change u, but it
// is written the same way.
//
// # Dequantisation
//
//	dst[i] = float32(float64(float64(src[i])*step) + offset)  // or float64
//
// where float64(src[i]) is exact for uint32 and correctly rounded for uint64.
//
// # Aliasing
//
// dst may alias an input exactly (same first element) when the element sizes
// match, e.g. dst []uint32 over the memory of src []float32 or of rnd;
// any other overlap gives unspecified results.
package quant

// Params are the precomputed quantisation parameters: Lo is the lower clip
// bound, Max = 2^p - 1 is the largest output, and Scale = Max/(Hi-Lo) where
// Hi is the upper clip bound.
//
// Max must lie in [0, MaxU32] for the kernels with uint32 outputs and in
// [0, MaxU64] for those with uint64 outputs; the kernels panic otherwise.
type Params struct{ Lo, Scale, Max float64 }

// Largest permitted Params.Max for uint32 and for uint64 outputs.
const (
	MaxU32 = 1<<32 - 1
	MaxU64 = 1<<52 - 1
)

// Kernels is a set of quantisation kernels. All functions panic if the
// slice lengths differ (len(dst) == len(src) == len(rnd) is required), and
// the quantisation functions panic if p.Max is out of range (see Params).
type Kernels struct {
	// Name identifies the implementation ("generic" or "avx2").
	Name string

	// Quantisation of float32/float64 inputs to uint32/uint64 outputs,
	// with one random word of rnd per element.
	F32U32 func(dst []uint32, src []float32, rnd []uint32, p *Params)
	F64U32 func(dst []uint32, src []float64, rnd []uint32, p *Params)
	F32U64 func(dst []uint64, src []float32, rnd []uint32, p *Params)
	F64U64 func(dst []uint64, src []float64, rnd []uint32, p *Params)

	// Dequantisation: dst[i] = float(float64(src[i])*step + offset),
	// the product and the sum each rounded to float64. For a sum of n
	// quantised vectors the caller passes step = (Hi-Lo)/Max and
	// offset = n*Lo.
	U32F32 func(dst []float32, src []uint32, step, offset float64)
	U32F64 func(dst []float64, src []uint32, step, offset float64)
	U64F32 func(dst []float32, src []uint64, step, offset float64)
	U64F64 func(dst []float64, src []uint64, step, offset float64)
}

// Generic returns the portable Go kernels.
func Generic() Kernels {
	return Kernels{
		Name:   "generic",
		F32U32: genericF32U32,
		F64U32: genericF64U32,
		F32U64: genericF32U64,
		F64U64: genericF64U64,
		U32F32: genericU32F32,
		U32F64: genericU32F64,
		U64F32: genericU64F32,
		U64F64: genericU64F64,
	}
}

func checkLen(dst, src, rnd int) {
	if dst != src || dst != rnd {
		panic("quant: slice lengths differ")
	}
}

func checkMax(max, limit float64) {
	if !(max >= 0 && max <= limit) {
		panic("quant: Params.Max out of range")
	}
}

// checkQuant validates the arguments of a quantisation kernel.
func checkQuant(dst, src, rnd int, p *Params, limit float64) {
	checkLen(dst, src, rnd)
	checkMax(p.Max, limit)
}
