package dp

import (
	"fmt"
	"math"
)

// AdaptiveClip is adaptive clipping for DP-FedAvg (Andrew, Thakkar, McMahan
// and Ramaswamy 2021): the clip norm follows the Quantile-th quantile of the
// participants' update norms, learnt from a noisy count of the updates that
// were not clipped.
//
// Each round, every participant reports [AdaptiveClip.Indicator] of its
// update's norm (through the same aggregate as its update); the server calls
// [AdaptiveClip.Update] with the sum. Fields may be set directly.
type AdaptiveClip struct {
	// Clip is the current clip norm C (> 0).
	Clip float64
	// Quantile is the target fraction γ of unclipped updates, in [0, 1].
	Quantile float64
	// LearningRate is η_C of the geometric update C ← C·exp(−η_C(b̄ − γ)).
	LearningRate float64
	// CountNoise is σ_b, the standard deviation of the Gaussian noise on the
	// count of unclipped updates (0: no noise, not private).
	CountNoise float64
}

// Indicator returns 1 if an update of L2 norm n is not clipped by the current
// clip norm (n ≤ C), 0 otherwise.
func (a *AdaptiveClip) Indicator(n float64) float64 {
	if n <= a.Clip {
		return 1
	}
	return 0
}

// Update moves the clip norm given the sum of the participants' indicators
// and their number m > 0: it adds N(0, σ_b²) to the sum (drawn from src,
// which may be nil when CountNoise is 0), takes b̄ = noisy sum / m and sets
// C ← C·exp(−η_C (b̄ − γ)). It returns the new clip norm, or an error
// wrapping [ErrParam] for m ≤ 0 or a state outside the documented ranges.
func (a *AdaptiveClip) Update(sum float64, m int, src Source) (float64, error) {
	switch {
	case m <= 0:
		return a.Clip, fmt.Errorf("%w: %d participants", ErrParam, m)
	case !(a.Clip > 0) || math.IsInf(a.Clip, 1):
		return a.Clip, fmt.Errorf("%w: clip norm %v", ErrParam, a.Clip)
	case !(a.Quantile >= 0 && a.Quantile <= 1):
		return a.Clip, fmt.Errorf("%w: quantile %v not in [0, 1]", ErrParam, a.Quantile)
	case !(a.LearningRate >= 0) || !(a.CountNoise >= 0):
		return a.Clip, fmt.Errorf("%w: learning rate %v, count noise %v", ErrParam, a.LearningRate, a.CountNoise)
	}
	if a.CountNoise > 0 {
		sum += a.CountNoise * src.NormFloat64()
	}
	b := sum / float64(m)
	a.Clip *= math.Exp(-a.LearningRate * (b - a.Quantile))
	return a.Clip, nil
}

// UpdateNoiseMultiplier returns the noise multiplier z_Δ for the clipped
// updates when the count of unclipped updates is released with noise
// multiplier zb = σ_b (sensitivity ½ after centring, as in Andrew et al. 2021,
// Section 3), so that the two releases together are as private as one
// Gaussian mechanism with multiplier z: z_Δ = (z⁻² − (2σ_b)⁻²)^(−½). It
// returns an error wrapping [ErrParam] unless 0 < z < 2σ_b.
func UpdateNoiseMultiplier(z, sigmaB float64) (float64, error) {
	if !(z > 0) || !(z < 2*sigmaB) || math.IsInf(sigmaB, 1) {
		return 0, fmt.Errorf("%w: need 0 < z < 2·sigma_b, have z=%v, sigma_b=%v", ErrParam, z, sigmaB)
	}
	return math.Pow(1/(z*z)-1/(4*sigmaB*sigmaB), -0.5), nil
}
