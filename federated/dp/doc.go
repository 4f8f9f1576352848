// Package dp holds the differential-privacy machinery of federated training.
//
// Record level (one example's influence on a site's model): per-example
// clipping and Gaussian noise for DP-SGD ([ClipExamples], [NoisyClippedSum]),
// an RDP accountant for the Poisson-subsampled Gaussian mechanism (Mironov,
// Talwar and Zhang 2019) with the (ε, δ) conversion of Balle et al. 2020
// ([Accountant], [Epsilon]), the noise multiplier that meets a target ε
// ([NoiseMultiplier]), and a per-site budget ledger ([Ledger]).
//
// Site level (one site's influence on the global model): DP-FedAvg update
// clipping ([ClipUpdate]), adaptive clipping to a quantile of the update norms
// (Andrew et al. 2021, [AdaptiveClip]), and discrete Gaussian noise in the
// integer ring (Canonne, Kamath and Steinke 2020; Kairouz, Liu and Steinke
// 2021, [DiscreteGaussian], [AddDiscreteGaussian]) so that each site adds a
// share of the noise and the securely aggregated sum carries the total.
//
// Nothing here starts goroutines; a [Source] (such as a *rand.Rand) is not
// safe for concurrent use, so give each goroutine its own.
package dp

import "errors"

// Errors returned by this package, wrapped with details.
var (
	// ErrParam reports an argument outside its domain (a sample rate not in
	// [0, 1], a negative noise multiplier, a δ not in (0, 1), ...).
	ErrParam = errors.New("dp: invalid parameter")
	// ErrBudget reports a charge that would take a dataset's spent ε over
	// its cap.
	ErrBudget = errors.New("dp: privacy budget exceeded")
	// ErrUnreachable reports a target ε that no noise multiplier in range
	// can meet.
	ErrUnreachable = errors.New("dp: target epsilon unreachable")
)
