package dp

import (
	"fmt"
	"math"
	"math/bits"
)

// uniformN returns a uniform integer in [0, n), n > 0, by Lemire's method.
func uniformN(src Source, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// bernoulli returns true with probability p (p rounded to a multiple of 2^-53).
func bernoulli(src Source, p float64) bool {
	return float64(src.Uint64()>>11) < p*(1<<53)
}

// bernoulliExpNeg returns true with probability exp(−γ), γ ≥ 0, using only
// Bernoulli trials with rational-looking probabilities (Canonne, Kamath and
// Steinke 2020, Algorithm 1): no exp is evaluated.
func bernoulliExpNeg(src Source, gamma float64) bool {
	for gamma > 1 {
		if !bernoulliExpNeg(src, 1) {
			return false
		}
		gamma--
	}
	k := 1.0
	for bernoulli(src, gamma/k) {
		k++
	}
	return int64(k)%2 == 1
}

// discreteLaplace samples P(x) ∝ exp(−|x|/t) on the integers, t ≥ 1
// (Canonne, Kamath and Steinke 2020, Algorithm 2).
func discreteLaplace(src Source, t uint64) int64 {
	ft := float64(t)
	for {
		u := uniformN(src, t)
		if !bernoulliExpNeg(src, float64(u)/ft) {
			continue
		}
		var v uint64
		for bernoulliExpNeg(src, 1) {
			v++
		}
		x := u + t*v
		neg := src.Uint64()&1 == 1
		if neg && x == 0 {
			continue
		}
		if neg {
			return -int64(x)
		}
		return int64(x)
	}
}

// DiscreteGaussian samples the discrete Gaussian N_Z(0, sigma2): the integer
// x with probability proportional to exp(−x²/(2·sigma2)), by the rejection
// sampler of Canonne, Kamath and Steinke (2020, Algorithm 3) from a discrete
// Laplace proposal. Its variance is at most sigma2 (and within a relative
// 10⁻¹² of it once sigma2 ≥ 4). sigma2 = 0 gives 0.
//
// The sampler draws only uniform integers and Bernoulli trials; the
// acceptance exponents are computed in float64, so probabilities are exact up
// to float64 rounding. It runs in expected constant time but its running time
// depends on the sample, so do not run it where timing is observable by the
// parties the noise protects against. It panics if sigma2 is negative, NaN,
// or above 2^100.
func DiscreteGaussian(src Source, sigma2 float64) int64 {
	if !(sigma2 >= 0 && sigma2 <= 0x1p100) {
		panic(fmt.Sprintf("dp: discrete Gaussian variance %v out of range", sigma2))
	}
	if sigma2 == 0 {
		return 0
	}
	sigma := math.Sqrt(sigma2)
	t := uint64(math.Floor(sigma)) + 1
	shift := sigma2 / float64(t)
	for {
		y := discreteLaplace(src, t)
		d := math.Abs(float64(y)) - shift
		if bernoulliExpNeg(src, d*d/(2*sigma2)) {
			return y
		}
	}
}

// Ring is an unsigned integer type whose arithmetic wraps: the ring
// Z/2^w in which securely aggregated vectors live.
type Ring interface{ ~uint32 | ~uint64 }

// AddDiscreteGaussian adds independent discrete Gaussian noise
// N_Z(0, sigma2) to each element of dst, modulo 2^w (w the width of T).
//
// For site-level DP under secure aggregation (Kairouz, Liu and Steinke 2021)
// each of n sites adds noise of variance [ShareVariance](σ², n) to its
// quantised update; the aggregate then carries the sum of n independent
// discrete Gaussians, whose variance is σ² and whose distribution is close
// to N_Z(0, σ²) (their Theorem 1 bounds the difference). Panics as
// [DiscreteGaussian] does.
func AddDiscreteGaussian[T Ring](dst []T, sigma2 float64, src Source) {
	if !(sigma2 >= 0 && sigma2 <= 0x1p100) {
		panic(fmt.Sprintf("dp: discrete Gaussian variance %v out of range", sigma2))
	}
	if sigma2 == 0 {
		return
	}
	for i := range dst {
		dst[i] += T(DiscreteGaussian(src, sigma2))
	}
}

// ShareVariance is the variance each of sites sites adds so that the sum of
// their independent noises has variance sigma2 in total. It panics if sites
// is not positive.
func ShareVariance(sigma2 float64, sites int) float64 {
	if sites <= 0 {
		panic(fmt.Sprintf("dp: %d sites", sites))
	}
	return sigma2 / float64(sites)
}
