package tensor

import (
	"fmt"
	"math"
	"runtime"

	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
	"github.com/cohort-mpc/cohort/tensor/internal/floats"
	"github.com/cohort-mpc/cohort/tensor/internal/modq"
	"github.com/cohort-mpc/cohort/tensor/internal/quant"
	"github.com/cohort-mpc/cohort/tensor/internal/ring"
)

// grainBytes is the size of the chunks that operations are split into: large
// enough that handing one to another core costs little, small enough that a
// few megabytes already spread over every core.
const grainBytes = 256 << 10

const (
	grain32 = grainBytes / 4
	grain64 = grainBytes / 8
	// rndBlock is how many rounding words quantisation draws at a time into a
	// stack buffer that stays in L1. It is a multiple of 4 so that every
	// block starts on an AES block boundary.
	rndBlock = 2048
)

// CPUConfig configures a CPU backend.
type CPUConfig struct {
	// Workers is how many goroutines one large operation is split across,
	// the caller's included. Zero means runtime.GOMAXPROCS(0); one runs
	// everything on the calling goroutine and starts none.
	Workers int
	// Generic selects the portable Go kernels even where SIMD kernels are
	// available: for tests and for measuring what the SIMD kernels gain.
	Generic bool
}

// CPU is the CPU Backend. Its kernels are chosen once, by NewCPU.
type CPU struct {
	name string
	ring ring.Kernels
	// ringStream writes with non-temporal stores at every length: for the
	// chunks of an element-wise operation too large for the cache.
	ringStream ring.Kernels
	aes        aesctr.Kernels
	quant      quant.Kernels
	floats     floats.Kernels
	pool       *pool
}

var _ Backend = (*CPU)(nil)

// NewCPU returns a CPU backend using the best kernels this processor supports
// (or the generic ones if cfg.Generic is set) and starts its worker pool of
// cfg.Workers-1 goroutines. After each task a worker polls for more for up to
// 200 µs, yielding its processor, before it parks, so back-to-back operations
// do not pay a thread wake-up each (see pool.go). Call shutdown once every
// operation on the backend has returned; the backend must not be used
// afterwards.
func NewCPU(cfg CPUConfig) (cpu *CPU, shutdown func(), err error) {
	if cfg.Workers < 0 {
		return nil, nil, fmt.Errorf("tensor: CPUConfig.Workers is %d, want 0 (all cores) or more", cfg.Workers)
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	c := &CPU{}
	if cfg.Generic {
		c.ring, c.aes, c.quant, c.floats = ring.Generic(), aesctr.Generic(), quant.Generic(), floats.Generic()
		c.ringStream = c.ring
	} else {
		c.ring, _ = ring.Native()
		c.ringStream = ring.Streaming()
		c.aes, _ = aesctr.Native()
		c.quant, _ = quant.Native()
		c.floats, _ = floats.Native()
	}
	c.name = fmt.Sprintf("cpu(workers=%d ring=%s mask=%s quant=%s floats=%s)", workers, c.ring.Name, c.aes.Name, c.quant.Name, c.floats.Name)
	c.pool, shutdown = newPool(workers)
	return c, shutdown, nil
}

// Name describes the kernels the backend chose and its number of workers.
func (c *CPU) Name() string { return c.name }

// ringFor returns the ring kernels for an element-wise operation writing
// dstBytes bytes: the streaming ones when dst is larger than the cache can
// usefully hold, so that writing it does not evict the inputs still to come.
func (c *CPU) ringFor(dstBytes int) *ring.Kernels {
	if dstBytes >= ring.StreamMinBytes {
		return &c.ringStream
	}
	return &c.ring
}

func lengthPanic(op string, lens ...int) {
	panic(fmt.Sprintf("tensor: %s: vector lengths differ: %v", op, lens))
}

// each2 runs fn over matching chunks of dst and a.
func each2[D, A any](p *pool, grain int, dst []D, a []A, op string, fn func(dst []D, a []A)) {
	if len(a) != len(dst) {
		lengthPanic(op, len(dst), len(a))
	}
	p.run(len(dst), grain, func(_, lo, hi int) { fn(dst[lo:hi], a[lo:hi]) })
}

// each3 runs fn over matching chunks of dst, a and b.
func each3[T any](p *pool, grain int, dst, a, b []T, op string, fn func(dst, a, b []T)) {
	if len(a) != len(dst) || len(b) != len(dst) {
		lengthPanic(op, len(dst), len(a), len(b))
	}
	p.run(len(dst), grain, func(_, lo, hi int) { fn(dst[lo:hi], a[lo:hi], b[lo:hi]) })
}

// eachN runs fn over matching chunks of dst and every vector of vs.
func eachN[T any](p *pool, grain int, dst []T, vs [][]T, op string, fn func(dst []T, vs [][]T)) {
	for _, v := range vs {
		if len(v) != len(dst) {
			lens := []int{len(dst)}
			for _, v := range vs {
				lens = append(lens, len(v))
			}
			lengthPanic(op, lens...)
		}
	}
	p.run(len(dst), grain, func(_, lo, hi int) {
		sub := make([][]T, len(vs))
		for i, v := range vs {
			sub[i] = v[lo:hi]
		}
		fn(dst[lo:hi], sub)
	})
}

// AddU32 sets dst = a + b in Z/2^32.
func (c *CPU) AddU32(dst, a, b []uint32) {
	each3(c.pool, grain32, dst, a, b, "AddU32", c.ringFor(4*len(dst)).AddU32)
}

// SubU32 sets dst = a - b in Z/2^32.
func (c *CPU) SubU32(dst, a, b []uint32) {
	each3(c.pool, grain32, dst, a, b, "SubU32", c.ringFor(4*len(dst)).SubU32)
}

// NegU32 sets dst = -a in Z/2^32.
func (c *CPU) NegU32(dst, a []uint32) {
	each2(c.pool, grain32, dst, a, "NegU32", c.ringFor(4*len(dst)).NegU32)
}

// AddScalarU32 sets dst = a + s in Z/2^32.
func (c *CPU) AddScalarU32(dst, a []uint32, s uint32) {
	k := c.ringFor(4 * len(dst))
	each2(c.pool, grain32, dst, a, "AddScalarU32", func(dst, a []uint32) { k.AddScalarU32(dst, a, s) })
}

// SumU32 sets dst to the sum of vs in Z/2^32.
func (c *CPU) SumU32(dst []uint32, vs ...[]uint32) {
	eachN(c.pool, grain32, dst, vs, "SumU32", c.ring.SumU32)
}

// AddU64 sets dst = a + b in Z/2^64.
func (c *CPU) AddU64(dst, a, b []uint64) {
	each3(c.pool, grain64, dst, a, b, "AddU64", c.ringFor(8*len(dst)).AddU64)
}

// SubU64 sets dst = a - b in Z/2^64.
func (c *CPU) SubU64(dst, a, b []uint64) {
	each3(c.pool, grain64, dst, a, b, "SubU64", c.ringFor(8*len(dst)).SubU64)
}

// NegU64 sets dst = -a in Z/2^64.
func (c *CPU) NegU64(dst, a []uint64) {
	each2(c.pool, grain64, dst, a, "NegU64", c.ringFor(8*len(dst)).NegU64)
}

// AddScalarU64 sets dst = a + s in Z/2^64.
func (c *CPU) AddScalarU64(dst, a []uint64, s uint64) {
	k := c.ringFor(8 * len(dst))
	each2(c.pool, grain64, dst, a, "AddScalarU64", func(dst, a []uint64) { k.AddScalarU64(dst, a, s) })
}

// SumU64 sets dst to the sum of vs in Z/2^64.
func (c *CPU) SumU64(dst []uint64, vs ...[]uint64) {
	eachN(c.pool, grain64, dst, vs, "SumU64", c.ring.SumU64)
}

// schedule derives the AES key of seed for label and expands it.
func (c *CPU) schedule(seed *Seed, label string) *aesctr.Schedule {
	key := aesctr.DeriveKey((*[32]byte)(seed), label)
	s := new(aesctr.Schedule)
	c.aes.Init(s, &key)
	clear(key[:])
	return s
}

// mask runs a fused mask kernel over dst in chunks; wordsPerBlock is how many
// words one 16-byte AES block holds, so chunk [lo, hi) starts at counter
// lo/wordsPerBlock.
func mask[W uint32 | uint64](c *CPU, dst []W, seed *Seed, grain, wordsPerBlock int, fn func([]W, *aesctr.Schedule, uint64)) {
	s := c.schedule(seed, aesctr.LabelMask)
	defer s.Reset()
	c.pool.run(len(dst), grain, func(_, lo, hi int) { fn(dst[lo:hi], s, uint64(lo/wordsPerBlock)) })
}

// ExpandU32 sets dst to the mask stream of seed.
func (c *CPU) ExpandU32(dst []uint32, seed *Seed) { mask(c, dst, seed, grain32, 4, c.aes.Expand32) }

// ExpandAddU32 adds the mask stream of seed to dst.
func (c *CPU) ExpandAddU32(dst []uint32, seed *Seed) {
	mask(c, dst, seed, grain32, 4, c.aes.ExpandAdd32)
}

// ExpandSubU32 subtracts the mask stream of seed from dst.
func (c *CPU) ExpandSubU32(dst []uint32, seed *Seed) {
	mask(c, dst, seed, grain32, 4, c.aes.ExpandSub32)
}

// ExpandU64 sets dst to the mask stream of seed.
func (c *CPU) ExpandU64(dst []uint64, seed *Seed) { mask(c, dst, seed, grain64, 2, c.aes.Expand64) }

// ExpandAddU64 adds the mask stream of seed to dst.
func (c *CPU) ExpandAddU64(dst []uint64, seed *Seed) {
	mask(c, dst, seed, grain64, 2, c.aes.ExpandAdd64)
}

// ExpandSubU64 subtracts the mask stream of seed from dst.
func (c *CPU) ExpandSubU64(dst []uint64, seed *Seed) {
	mask(c, dst, seed, grain64, 2, c.aes.ExpandSub64)
}

// ModAdd sets dst = a + b mod m.Q().
func (c *CPU) ModAdd(m *Modulus, dst, a, b []uint64) {
	each3(c.pool, grain64, dst, a, b, "ModAdd", func(dst, a, b []uint64) { modq.Add(m.m, dst, a, b) })
}

// ModSub sets dst = a - b mod m.Q().
func (c *CPU) ModSub(m *Modulus, dst, a, b []uint64) {
	each3(c.pool, grain64, dst, a, b, "ModSub", func(dst, a, b []uint64) { modq.Sub(m.m, dst, a, b) })
}

// ModMul sets dst = a·b mod m.Q().
func (c *CPU) ModMul(m *Modulus, dst, a, b []uint64) {
	each3(c.pool, grain64, dst, a, b, "ModMul", func(dst, a, b []uint64) { modq.Mul(m.m, dst, a, b) })
}

// ModMulScalar sets dst = a·s mod m.Q(); s must be in [0, m.Q()).
func (c *CPU) ModMulScalar(m *Modulus, dst, a []uint64, s uint64) {
	each2(c.pool, grain64, dst, a, "ModMulScalar", func(dst, a []uint64) { modq.MulScalar(m.m, dst, a, s) })
}

// quantize runs a quantisation kernel in chunks, drawing the rounding words
// of element i from word i of seed's rounding stream.
func quantize[W uint32 | uint64, F float32 | float64](c *CPU, fp *FixedPoint, dst []W, src []F, seed *Seed, grain int,
	fn func([]W, []F, []uint32, *quant.Params)) {
	if len(src) != len(dst) {
		lengthPanic("Quantize", len(dst), len(src))
	}
	s := c.schedule(seed, aesctr.LabelRounding)
	defer s.Reset()
	c.pool.run(len(dst), grain, func(_, lo, hi int) {
		var rnd [rndBlock]uint32
		for off := lo; off < hi; off += rndBlock {
			m := min(rndBlock, hi-off)
			c.aes.Expand32(rnd[:m], s, uint64(off/4))
			fn(dst[off:off+m], src[off:off+m], rnd[:m], &fp.params)
		}
		clear(rnd[:])
	})
}

// QuantizeF32U32 quantises src into Z/2^32.
func (c *CPU) QuantizeF32U32(fp *FixedPoint, dst []uint32, src []float32, seed *Seed) {
	fp.checkRing(32)
	quantize(c, fp, dst, src, seed, grain32, c.quant.F32U32)
}

// QuantizeF64U32 quantises src into Z/2^32.
func (c *CPU) QuantizeF64U32(fp *FixedPoint, dst []uint32, src []float64, seed *Seed) {
	fp.checkRing(32)
	quantize(c, fp, dst, src, seed, grain32, c.quant.F64U32)
}

// QuantizeF32U64 quantises src into Z/2^64.
func (c *CPU) QuantizeF32U64(fp *FixedPoint, dst []uint64, src []float32, seed *Seed) {
	fp.checkRing(64)
	quantize(c, fp, dst, src, seed, grain64, c.quant.F32U64)
}

// QuantizeF64U64 quantises src into Z/2^64.
func (c *CPU) QuantizeF64U64(fp *FixedPoint, dst []uint64, src []float64, seed *Seed) {
	fp.checkRing(64)
	quantize(c, fp, dst, src, seed, grain64, c.quant.F64U64)
}

// dequantize runs a dequantisation kernel in chunks.
func dequantize[F float32 | float64, W uint32 | uint64](c *CPU, fp *FixedPoint, ringBits int, dst []F, sum []W, n, grain int,
	fn func([]F, []W, float64, float64)) error {
	fp.checkRing(ringBits)
	step, offset, err := fp.dequantParams(n)
	if err != nil {
		return err
	}
	each2(c.pool, grain, dst, sum, "Dequantize", func(dst []F, sum []W) { fn(dst, sum, step, offset) })
	return nil
}

// DequantizeU32F32 maps a sum of n quantised vectors back to float32.
func (c *CPU) DequantizeU32F32(fp *FixedPoint, dst []float32, sum []uint32, n int) error {
	return dequantize(c, fp, 32, dst, sum, n, grain32, c.quant.U32F32)
}

// DequantizeU32F64 maps a sum of n quantised vectors back to float64.
func (c *CPU) DequantizeU32F64(fp *FixedPoint, dst []float64, sum []uint32, n int) error {
	return dequantize(c, fp, 32, dst, sum, n, grain64, c.quant.U32F64)
}

// DequantizeU64F32 maps a sum of n quantised vectors back to float32.
func (c *CPU) DequantizeU64F32(fp *FixedPoint, dst []float32, sum []uint64, n int) error {
	return dequantize(c, fp, 64, dst, sum, n, grain64, c.quant.U64F32)
}

// DequantizeU64F64 maps a sum of n quantised vectors back to float64.
func (c *CPU) DequantizeU64F64(fp *FixedPoint, dst []float64, sum []uint64, n int) error {
	return dequantize(c, fp, 64, dst, sum, n, grain64, c.quant.U64F64)
}

// WeightedSumF32 sets dst[j] = Σ_i w[i]·vs[i][j].
func (c *CPU) WeightedSumF32(dst []float32, w []float32, vs ...[]float32) {
	if len(w) != len(vs) {
		panic(fmt.Sprintf("tensor: WeightedSumF32: %d weights for %d vectors", len(w), len(vs)))
	}
	eachN(c.pool, grain32, dst, vs, "WeightedSumF32", func(dst []float32, vs [][]float32) { c.floats.WeightedSumF32(dst, w, vs) })
}

// WeightedSumF64 sets dst[j] = Σ_i w[i]·vs[i][j].
func (c *CPU) WeightedSumF64(dst []float64, w []float64, vs ...[]float64) {
	if len(w) != len(vs) {
		panic(fmt.Sprintf("tensor: WeightedSumF64: %d weights for %d vectors", len(w), len(vs)))
	}
	eachN(c.pool, grain64, dst, vs, "WeightedSumF64", func(dst []float64, vs [][]float64) { c.floats.WeightedSumF64(dst, w, vs) })
}

// sumSquares adds up per-chunk sums of squares in chunk order, so the result
// does not depend on the number of workers.
func sumSquares[F float32 | float64](p *pool, grain int, a []F, fn func([]F) float64) float64 {
	chunks := (len(a) + grain - 1) / grain
	partial := make([]float64, chunks)
	p.run(len(a), grain, func(c, lo, hi int) { partial[c] = fn(a[lo:hi]) })
	var s float64
	for _, v := range partial {
		s += v
	}
	return s
}

// L2NormF32 returns ‖a‖, accumulated in float64.
func (c *CPU) L2NormF32(a []float32) float64 {
	return math.Sqrt(sumSquares(c.pool, grain32, a, c.floats.SumSquaresF32))
}

// L2NormF64 returns ‖a‖.
func (c *CPU) L2NormF64(a []float64) float64 {
	return math.Sqrt(sumSquares(c.pool, grain64, a, c.floats.SumSquaresF64))
}

// Shrink factors applied to the clipping scale so that rounding in the norm
// and in the scaled elements cannot push ‖dst‖ above maxNorm: each element of
// a float32 result is rounded by at most 2^-24 relative, float64 by 2^-53, and
// the float64 norm of up to 2^30 elements is off by far less than either
// margin.
const (
	clipMarginF32 = 1 - 0x1p-20
	clipMarginF64 = 1 - 0x1p-30
)

func checkMaxNorm(op string, maxNorm float64) {
	if !(maxNorm > 0) || math.IsInf(maxNorm, 0) {
		panic(fmt.Sprintf("tensor: %s: maxNorm is %g, want a finite positive norm", op, maxNorm))
	}
}

// ClipToNormF32 sets dst to a scaled down to norm at most maxNorm and returns
// ‖a‖. It panics if maxNorm is not finite and positive.
func (c *CPU) ClipToNormF32(dst, a []float32, maxNorm float64) float64 {
	checkMaxNorm("ClipToNormF32", maxNorm)
	if len(a) != len(dst) {
		lengthPanic("ClipToNormF32", len(dst), len(a))
	}
	norm := c.L2NormF32(a)
	switch {
	case math.IsNaN(norm) || math.IsInf(norm, 0):
		clear(dst)
	case norm > maxNorm:
		s := float32(maxNorm / norm * clipMarginF32)
		each2(c.pool, grain32, dst, a, "ClipToNormF32", func(dst, a []float32) { c.floats.ScaleF32(dst, a, s) })
	default:
		copy(dst, a)
	}
	return norm
}

// ClipToNormF64 sets dst to a scaled down to norm at most maxNorm and returns
// ‖a‖. It panics if maxNorm is not finite and positive.
func (c *CPU) ClipToNormF64(dst, a []float64, maxNorm float64) float64 {
	checkMaxNorm("ClipToNormF64", maxNorm)
	if len(a) != len(dst) {
		lengthPanic("ClipToNormF64", len(dst), len(a))
	}
	norm := c.L2NormF64(a)
	switch {
	case math.IsNaN(norm) || math.IsInf(norm, 0):
		clear(dst)
	case norm > maxNorm:
		s := maxNorm / norm * clipMarginF64
		each2(c.pool, grain64, dst, a, "ClipToNormF64", func(dst, a []float64) { c.floats.ScaleF64(dst, a, s) })
	default:
		copy(dst, a)
	}
	return norm
}
