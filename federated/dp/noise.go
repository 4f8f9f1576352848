package dp

import (
	crand "crypto/rand"
	"fmt"
	"math"
	"math/rand/v2"
)

// Source is the randomness the noise functions draw from. A *rand.Rand is
// one: seeded for tests and simulations, or from [CryptoSource] in
// production.
type Source interface {
	Uint64() uint64
	NormFloat64() float64
}

// CryptoSource returns a generator seeded from the operating system's
// cryptographic randomness (a ChaCha8 stream, itself a CSPRNG). It is not
// safe for concurrent use: give each goroutine its own.
func CryptoSource() *rand.Rand {
	var seed [32]byte
	crand.Read(seed[:]) // never fails since Go 1.24
	return rand.New(rand.NewChaCha8(seed))
}

// norm is the L2 norm of v, scaled to avoid overflow.
func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	if math.IsInf(s, 1) {
		var m float64
		for _, x := range v {
			m = math.Max(m, math.Abs(x))
		}
		s = 0
		for _, x := range v {
			s += (x / m) * (x / m)
		}
		return m * math.Sqrt(s)
	}
	return math.Sqrt(s)
}

// ClipUpdate scales v in place so that its L2 norm is at most c (DP-FedAvg
// update clipping, and one example's gradient in DP-SGD) and returns the norm
// it had. It panics if c is not positive.
func ClipUpdate(v []float64, c float64) float64 {
	if !(c > 0) {
		panic(fmt.Sprintf("dp: clip norm %v must be > 0", c))
	}
	n := norm(v)
	if n > c {
		f := c / n
		for i := range v {
			v[i] *= f
		}
	}
	return n
}

// ClipExamples clips each of the len(g)/p rows of g (per-example gradients,
// row-major, p values each) in place to L2 norm at most c, and returns how
// many rows were scaled down. It panics if p ≤ 0, len(g) is not a multiple of
// p, or c is not positive.
func ClipExamples(g []float64, p int, c float64) int {
	if p <= 0 || len(g)%p != 0 {
		panic(fmt.Sprintf("dp: %d gradient values are not rows of %d", len(g), p))
	}
	clipped := 0
	for i := 0; i < len(g); i += p {
		if ClipUpdate(g[i:i+p], c) > c {
			clipped++
		}
	}
	return clipped
}

// AddGaussian adds independent N(0, std²) noise to each element of dst. It
// panics if std is negative or NaN.
//
// The noise is floating-point Gaussian noise; its low-order bits are not
// hardened against the attack of Mironov (2012) on floating-point Laplace
// noise, which is of concern when the noisy values themselves are released
// exactly. Use [AddDiscreteGaussian] for noise in the integer ring.
func AddGaussian(dst []float64, std float64, src Source) {
	if !(std >= 0) {
		panic(fmt.Sprintf("dp: noise standard deviation %v must be >= 0", std))
	}
	if std == 0 {
		return
	}
	for i := range dst {
		dst[i] += std * src.NormFloat64()
	}
}

// NoisyClippedSum is the DP-SGD step on a batch: it clips each of the
// per-example gradients in g (rows of len(dst) values, modified in place) to
// L2 norm c, sets dst to their sum plus N(0, (z·c)²) noise in every
// coordinate, and returns how many rows were clipped. Divide dst by the
// expected batch size (q·n for Poisson sampling) to get the noisy mean
// gradient. It panics if len(dst) is 0 or does not divide len(g), c ≤ 0, or
// z < 0.
func NoisyClippedSum(dst, g []float64, c, z float64, src Source) int {
	p := len(dst)
	clipped := ClipExamples(g, p, c)
	clear(dst)
	for i := 0; i < len(g); i += p {
		row := g[i : i+p]
		for j, x := range row {
			dst[j] += x
		}
	}
	AddGaussian(dst, z*c, src)
	return clipped
}
