package floats

import (
	"math/rand/v2"
	"testing"
)

var sink float64

// benchSets runs f as a sub-benchmark for Generic and, where it differs, for
// Native.
func benchSets(b *testing.B, f func(b *testing.B, ks Kernels)) {
	for _, ks := range kernelSets() {
		b.Run(ks.Name, func(b *testing.B) { f(b, ks) })
	}
}

func BenchmarkWeightedSumF32(b *testing.B) {
	const k, n = 16, 1 << 20
	rng := rand.New(rand.NewPCG(11, 12))
	w, vs := vecs32(rng, k, n)
	dst := make([]float32, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(int64(4 * n * (k + 1))) // inputs read plus dst written
		for b.Loop() {
			ks.WeightedSumF32(dst, w, vs)
		}
	})
}

func BenchmarkWeightedSumF64(b *testing.B) {
	const k, n = 16, 1 << 19
	rng := rand.New(rand.NewPCG(11, 12))
	w, vs := vecs64(rng, k, n)
	dst := make([]float64, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(int64(8 * n * (k + 1)))
		for b.Loop() {
			ks.WeightedSumF64(dst, w, vs)
		}
	})
}

// BenchmarkWeightedSumF32Chunk is WeightedSumF32 on one tensor.CPU chunk
// (256 KiB per vector): 4 MiB of inputs, in the L3 cache after the first
// round.
func BenchmarkWeightedSumF32Chunk(b *testing.B) {
	const k, n = 16, 1 << 16
	rng := rand.New(rand.NewPCG(11, 12))
	w, vs := vecs32(rng, k, n)
	dst := make([]float32, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(int64(4 * n * (k + 1)))
		for b.Loop() {
			ks.WeightedSumF32(dst, w, vs)
		}
	})
}

// BenchmarkWeightedSumF32Cached is WeightedSumF32 on a chunk that fits in
// the cache, as one worker of tensor.CPU sees it for a smaller vector.
func BenchmarkWeightedSumF32Cached(b *testing.B) {
	const k, n = 16, 1 << 12
	rng := rand.New(rand.NewPCG(11, 12))
	w, vs := vecs32(rng, k, n)
	dst := make([]float32, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(int64(4 * n * (k + 1)))
		for b.Loop() {
			ks.WeightedSumF32(dst, w, vs)
		}
	})
}

func BenchmarkSumSquaresF32(b *testing.B) {
	const n = 1 << 24
	a := make([]float32, n)
	rng := rand.New(rand.NewPCG(13, 14))
	for j := range a {
		a[j] = float32(rng.NormFloat64())
	}
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(4 * n)
		for b.Loop() {
			sink = ks.SumSquaresF32(a)
		}
	})
}

// BenchmarkSumSquaresF32Cached measures the compute rate on an L1-resident
// vector.
func BenchmarkSumSquaresF32Cached(b *testing.B) {
	const n = 1 << 12
	a := make([]float32, n)
	rng := rand.New(rand.NewPCG(13, 14))
	for j := range a {
		a[j] = float32(rng.NormFloat64())
	}
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(4 * n)
		for b.Loop() {
			sink = ks.SumSquaresF32(a)
		}
	})
}

func BenchmarkSumSquaresF64(b *testing.B) {
	const n = 1 << 23
	a := make([]float64, n)
	rng := rand.New(rand.NewPCG(13, 14))
	for j := range a {
		a[j] = rng.NormFloat64()
	}
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(8 * n)
		for b.Loop() {
			sink = ks.SumSquaresF64(a)
		}
	})
}

func BenchmarkScaleF32(b *testing.B) {
	const n = 1 << 20
	a := make([]float32, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(4 * n)
		for b.Loop() {
			ks.ScaleF32(a, a, 0.999)
		}
	})
}

func BenchmarkScaleF64(b *testing.B) {
	const n = 1 << 19
	a := make([]float64, n)
	benchSets(b, func(b *testing.B, ks Kernels) {
		b.SetBytes(8 * n)
		for b.Loop() {
			ks.ScaleF64(a, a, 0.999)
		}
	})
}
