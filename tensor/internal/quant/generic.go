package quant

import (
	"math"
	"math/bits"
)

const (
	bitsPosInf = 0x7FF0000000000000 // math.Float64bits(+Inf)
	two52      = 0x1p52
)

// quantGeneric quantises src into dst; its loop body is the reference
// semantics written without data-dependent branches. Comparisons between
// floats that are known to be non-negative and not NaN are done on their bit
// patterns (for such values the unsigned integer order of the patterns is the
// numeric order) with the constant-time borrow of bits.Sub64.
//
// It is a generic function (instantiated with distinct GC shapes, hence
// fully specialised) rather than a per-element helper so that the body is
// compiled inline in each loop.
func quantGeneric[D uint32 | uint64, S float32 | float64](dst []D, src []S, rnd []uint32, p *Params, limit float64) {
	checkQuant(len(dst), len(src), len(rnd), p, limit)
	lo, scale, mb := p.Lo, p.Scale, math.Float64bits(p.Max)
	src, rnd = src[:len(dst)], rnd[:len(dst)]
	for i := range dst {
		// The conversion rounds the product (no fusion with the later v - f).
		v := float64(float64(float64(src[i])-lo) * scale)

		// if !(v > 0) { v = 0 }: v > 0 iff its pattern is in [1, bits(+Inf)].
		vb := math.Float64bits(v)
		_, pos := bits.Sub64(vb-1, bitsPosInf, 0) // 1 iff vb-1 < bits(+Inf)
		vb &= -pos

		// if v > Max { v = Max }: both are now non-negative and not NaN.
		_, gt := bits.Sub64(mb, vb, 0) // 1 iff Max < v
		vb ^= (vb ^ mb) & -gt
		v = math.Float64frombits(vb)

		// f := math.Floor(v) for 0 <= v < 2^52: round to an integer by adding
		// and subtracting 2^52 (exact apart from the intended rounding), then
		// step down if that rounded up.
		f := float64(v+two52) - two52
		_, above := bits.Sub64(vb, math.Float64bits(f), 0) // 1 iff v < f
		f -= float64(int64(above))

		// d := v - f is exact and in [0, 1). u is exact as well: the product
		// is a multiple of 2^-32 in [-1/2, 1/2), so neither it nor the sum
		// rounds.
		d := v - f
		u := float64(float64(int32(rnd[i]))*0x1p-32) + 0.5
		_, up := bits.Sub64(math.Float64bits(u), math.Float64bits(d), 0) // 1 iff u < d

		// 0 <= f <= Max and f + up <= ceil(Max): the conversions are exact.
		dst[i] = D(uint64(int64(f)) + up)
	}
}

func genericF32U32(dst []uint32, src []float32, rnd []uint32, p *Params) {
	quantGeneric(dst, src, rnd, p, MaxU32)
}

func genericF64U32(dst []uint32, src []float64, rnd []uint32, p *Params) {
	quantGeneric(dst, src, rnd, p, MaxU32)
}

func genericF32U64(dst []uint64, src []float32, rnd []uint32, p *Params) {
	quantGeneric(dst, src, rnd, p, MaxU64)
}

func genericF64U64(dst []uint64, src []float64, rnd []uint32, p *Params) {
	quantGeneric(dst, src, rnd, p, MaxU64)
}

// u64ToF64 returns float64(x), correctly rounded, without the branch on the
// top bit that the compiler emits for uint64 conversions on some
// architectures: hi - (2^84 + 2^52) is exact and the final sum is the only
// rounding.
func u64ToF64(x uint64) float64 {
	hi := math.Float64frombits(x>>32|0x4530000000000000) - (0x1p84 + 0x1p52)
	lo := math.Float64frombits(x&0xFFFFFFFF | 0x4330000000000000)
	return hi + lo
}

// The explicit float64 conversions of the products forbid fusing them with
// the addition of offset into an FMA.

func genericU32F32(dst []float32, src []uint32, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float32(float64(float64(src[i])*step) + offset)
	}
}

func genericU32F64(dst []float64, src []uint32, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float64(float64(src[i])*step) + offset
	}
}

func genericU64F32(dst []float32, src []uint64, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float32(float64(u64ToF64(src[i])*step) + offset)
	}
}

func genericU64F64(dst []float64, src []uint64, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float64(u64ToF64(src[i])*step) + offset
	}
}
