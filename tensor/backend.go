package tensor

// Seed is the 32-byte secret a mask stream or a rounding stream is derived
// from. Treat it as key material.
type Seed [32]byte

// Backend is a set of vector kernels. Implementations must give bit-identical
// results for the same inputs: the CPU backend's SIMD and generic paths do, and
// a GPU backend must match them. The one latitude is the payload and sign of
// a NaN produced by the float helpers from several NaN inputs (NaN appears in
// the same places).
//
// Unless a method says otherwise, dst may alias any input, all slices of an
// element-wise operation must have the same length (the method panics
// otherwise), and a Backend is safe for concurrent use.
type Backend interface {
	// Name describes the backend and the kernels it chose, e.g. "cpu/avx2+vaes".
	Name() string

	RingBackend
	MaskBackend
	ModBackend
	FixedPointBackend
	FloatBackend
}

// RingBackend is arithmetic over the rings Z/2^32 and Z/2^64.
type RingBackend interface {
	AddU32(dst, a, b []uint32)              // dst = a + b
	SubU32(dst, a, b []uint32)              // dst = a - b
	NegU32(dst, a []uint32)                 // dst = -a
	AddScalarU32(dst, a []uint32, s uint32) // dst = a + s
	// SumU32 sets dst to the sum of vs (zero when vs is empty) in one
	// cache-blocked pass over dst.
	SumU32(dst []uint32, vs ...[]uint32)

	AddU64(dst, a, b []uint64)
	SubU64(dst, a, b []uint64)
	NegU64(dst, a []uint64)
	AddScalarU64(dst, a []uint64, s uint64)
	SumU64(dst []uint64, vs ...[]uint64)
}

// MaskBackend expands seeds into AES-CTR mask streams and combines them with
// vectors in one fused pass. Word i of the stream of a seed is the same for
// every backend (docs/wire/mask-stream.md).
type MaskBackend interface {
	ExpandU32(dst []uint32, seed *Seed)    // dst = mask
	ExpandAddU32(dst []uint32, seed *Seed) // dst += mask
	ExpandSubU32(dst []uint32, seed *Seed) // dst -= mask
	ExpandU64(dst []uint64, seed *Seed)
	ExpandAddU64(dst []uint64, seed *Seed)
	ExpandSubU64(dst []uint64, seed *Seed)
}

// ModBackend is arithmetic modulo m.Q(). Inputs must be reduced (in [0, q));
// results are reduced. Every operation runs in time independent of the values.
type ModBackend interface {
	ModAdd(m *Modulus, dst, a, b []uint64)
	ModSub(m *Modulus, dst, a, b []uint64)
	ModMul(m *Modulus, dst, a, b []uint64)
	ModMulScalar(m *Modulus, dst, a []uint64, s uint64)
}

// FixedPointBackend quantises floats into a ring and back. The U32 methods
// need fp.RingBits() == 32 and the U64 methods 64; a mismatch panics.
//
// Quantisation clips each value to [fp.Lo(), fp.Hi()] (NaN becomes Lo), maps
// it onto the integers 0..2^Bits-1 and rounds stochastically, up with
// probability equal to the fractional part, using the rounding stream of seed:
// the same seed and input always give the same output.
type FixedPointBackend interface {
	QuantizeF32U32(fp *FixedPoint, dst []uint32, src []float32, seed *Seed)
	QuantizeF64U32(fp *FixedPoint, dst []uint32, src []float64, seed *Seed)
	QuantizeF32U64(fp *FixedPoint, dst []uint64, src []float32, seed *Seed)
	QuantizeF64U64(fp *FixedPoint, dst []uint64, src []float64, seed *Seed)

	// Dequantize maps a sum of n quantised vectors back to the sum of the
	// clipped floats, undoing the n offsets. n must be in [1, fp.MaxSummands()].
	DequantizeU32F32(fp *FixedPoint, dst []float32, sum []uint32, n int) error
	DequantizeU32F64(fp *FixedPoint, dst []float64, sum []uint32, n int) error
	DequantizeU64F32(fp *FixedPoint, dst []float32, sum []uint64, n int) error
	DequantizeU64F64(fp *FixedPoint, dst []float64, sum []uint64, n int) error
}

// FloatBackend holds the float helpers used by aggregation and clipping.
type FloatBackend interface {
	// WeightedSumF32 sets dst[j] = Σ_i w[i]·vs[i][j], summing in order of i.
	// It panics if len(w) != len(vs).
	WeightedSumF32(dst []float32, w []float32, vs ...[]float32)
	WeightedSumF64(dst []float64, w []float64, vs ...[]float64)
	// L2Norm returns the Euclidean norm, accumulated in float64.
	L2NormF32(a []float32) float64
	L2NormF64(a []float64) float64
	// ClipToNorm sets dst = a·min(1, maxNorm/‖a‖) and returns ‖a‖ before
	// clipping, so ‖dst‖ ≤ maxNorm always holds. A vector whose norm is not
	// finite (it holds an Inf or a NaN) is replaced by zeros, keeping that
	// bound, and its norm is returned so the caller can see why.
	ClipToNormF32(dst, a []float32, maxNorm float64) float64
	ClipToNormF64(dst, a []float64, maxNorm float64) float64
}
