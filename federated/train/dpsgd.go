package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/dp"
)

// DPSGDConfig configures record-level differential privacy at a site:
// DP-SGD with Poisson sampling, per-example clipping and Gaussian noise.
type DPSGDConfig struct {
	// Epsilon and Delta are the budget the whole job may spend at one site.
	Epsilon, Delta float64
	// Clip is the per-example gradient norm bound C.
	Clip float64
	// Rounds is the number of rounds the job runs; the noise is calibrated
	// so that Rounds rounds spend Epsilon.
	Rounds int
	// Ledger, if not nil, is charged with each round's ε under Dataset
	// before the round trains; a round the cap cannot afford is refused. It
	// is one site's ledger: give each site its own DPSGD function, or leave
	// it nil when a simulation shares one function across sites.
	Ledger  dp.Ledger
	Dataset string
}

// DPSGD returns a LocalFunc that trains with DP-SGD: every step samples each
// row with probability BatchSize/rows, clips each example's gradient to
// Clip, adds Gaussian noise of std z·Clip to the sum, and takes an SGD step
// of LearningRate/BatchSize times it. z is the smallest noise multiplier for
// which the RDP accountant (Balle et al. conversion) keeps Rounds rounds of
// the smallest site within (Epsilon, Delta); it is returned too. Noise comes
// from the rng Simulate passes (seeded for reproducible experiments; a site
// must use a cryptographic source, dp.CryptoSource).
func DPSGD(local LocalConfig, cfg DPSGDConfig, siteRows []int) (LocalFunc, float64, error) {
	if local.BatchSize < 1 || local.Epochs < 1 || cfg.Rounds < 1 || !(cfg.Clip > 0) || len(siteRows) == 0 {
		return nil, 0, fmt.Errorf("%w: DP-SGD needs a batch size, epochs, rounds, a positive clip and sites", ErrConfig)
	}
	minRows, maxSteps := siteRows[0], 0
	for _, n := range siteRows {
		if n < 1 {
			return nil, 0, fmt.Errorf("%w: a site has no rows", ErrNoData)
		}
		minRows = min(minRows, n)
		maxSteps = max(maxSteps, local.Epochs*((n+local.BatchSize-1)/local.BatchSize))
	}
	q := min(1, float64(local.BatchSize)/float64(minRows))
	z, err := dp.NoiseMultiplier(cfg.Epsilon, q, cfg.Rounds*maxSteps, cfg.Delta)
	if err != nil {
		return nil, 0, err
	}
	// ε after r rounds, so each round charges the ledger its increment.
	spent := func(r int) (float64, error) {
		if r == 0 {
			return 0, nil
		}
		eps, _, err := dp.Epsilon(q, z, r*maxSteps, cfg.Delta)
		return eps, err
	}
	rounds := map[*federated.Batch]int{} // rounds trained so far, by site
	f := func(ctx context.Context, m federated.Model, params []float64, b *federated.Batch, rng *rand.Rand) (Update, error) {
		round := rounds[b]
		if round >= cfg.Rounds {
			return Update{}, fmt.Errorf("%w: DP-SGD was calibrated for %d rounds", ErrConfig, cfg.Rounds)
		}
		if cfg.Ledger != nil {
			before, err := spent(round)
			if err != nil {
				return Update{}, err
			}
			after, err := spent(round + 1)
			if err != nil {
				return Update{}, err
			}
			if err := cfg.Ledger.Charge(cfg.Dataset, after-before); err != nil {
				return Update{}, err
			}
		}
		rounds[b] = round + 1
		p := m.NumParams()
		w := slices.Clone(params)
		rate := float64(local.BatchSize) / float64(b.Rows)
		steps := local.Epochs * ((b.Rows + local.BatchSize - 1) / local.BatchSize)
		var idx []int
		var g []float64
		sum := make([]float64, p)
		scale := local.LearningRate / float64(local.BatchSize)
		for range steps {
			if err := ctx.Err(); err != nil {
				return Update{}, err
			}
			idx = idx[:0]
			for i := range b.Rows {
				if rng.Float64() < rate {
					idx = append(idx, i)
				}
			}
			batch := federated.Batch{Cols: b.Cols}
			for _, i := range idx {
				batch.X = append(batch.X, b.Row(i)...)
				batch.Y = append(batch.Y, b.Y[i])
			}
			batch.Rows = len(idx)
			g = slices.Grow(g[:0], len(idx)*p)[:len(idx)*p]
			if len(idx) > 0 {
				m.ExampleGrads(w, &batch, g)
			}
			// Noise is added even to an empty sample, as the analysis assumes.
			dp.NoisyClippedSum(sum, g, cfg.Clip, z, rng)
			for j := range w {
				w[j] -= scale * sum[j]
			}
		}
		delta := make([]float64, p)
		for j := range delta {
			delta[j] = w[j] - params[j]
		}
		return Update{Delta: delta, Samples: b.Rows, Loss: m.Loss(w, b, nil)}, nil
	}
	return f, z, nil
}
