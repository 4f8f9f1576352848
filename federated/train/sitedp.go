package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/dp"
)

// SiteDPConfig configures site-level differential privacy (DP-FedAvg,
// McMahan et al. 2018): each site's update is clipped to norm Clip and the
// sum of the Sites updates carries Gaussian noise of std NoiseMultiplier·Clip.
type SiteDPConfig struct {
	Clip            float64
	NoiseMultiplier float64
	// Sites is the number of sites that add to each round's sum; each adds
	// its share of the noise, variance (NoiseMultiplier·Clip)²/Sites, so that
	// no one site (nor the aggregator) ever holds the full noise.
	Sites int
}

// SiteDP wraps a LocalFunc with DP-FedAvg's site side: it clips the update
// Δ to Clip, adds the site's share of the noise, and reports a weight of 1
// so every site counts equally (weighting by sample count would let one
// site's influence exceed Clip). The accountant for the job is that of the
// Gaussian mechanism with the site sampling rate: dp.Epsilon(sitesPerRound/
// allSites, NoiseMultiplier, rounds, δ). In secure-aggregation mode the
// engine adds the noise in the ring instead (dp.AddDiscreteGaussian with
// dp.ShareVariance) after quantising.
func SiteDP(inner LocalFunc, cfg SiteDPConfig) (LocalFunc, error) {
	if !(cfg.Clip > 0) || cfg.NoiseMultiplier < 0 || cfg.Sites < 1 || inner == nil {
		return nil, fmt.Errorf("%w: site-level DP needs a local step, a positive clip, a noise multiplier ≥ 0 and sites ≥ 1", ErrConfig)
	}
	std := cfg.NoiseMultiplier * cfg.Clip / math.Sqrt(float64(cfg.Sites))
	return func(ctx context.Context, m federated.Model, params []float64, b *federated.Batch, rng *rand.Rand) (Update, error) {
		u, err := inner(ctx, m, params, b, rng)
		if err != nil {
			return Update{}, err
		}
		dp.ClipUpdate(u.Delta, cfg.Clip)
		dp.AddGaussian(u.Delta, std, rng)
		u.Samples = 1
		return u, nil
	}, nil
}
