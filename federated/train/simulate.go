package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
)

// LocalFunc trains at one site and returns its update; Simulate calls it in
// place of Train when set (for example for DP-SGD).
type LocalFunc func(ctx context.Context, m federated.Model, params []float64, data *federated.Batch, rng *rand.Rand) (Update, error)

// SimConfig configures Simulate.
type SimConfig struct {
	// Rounds is the number of federated rounds (≥ 1).
	Rounds int
	// Local configures every site's training.
	Local LocalConfig
	// Strategy updates the global model; nil means FedAvg. A stateful
	// strategy carries its state across calls, so pass a fresh one per run.
	Strategy Strategy
	// Seed seeds the initial parameters and every site's shuffling.
	Seed uint64
	// Init, if not nil, is the initial global model (len NumParams);
	// otherwise the model's Init draws it.
	Init []float64
	// Eval configures the evaluation on the test set after every round.
	Eval EvalConfig
	// LocalFunc, if not nil, replaces Train (and Local) at the sites.
	LocalFunc LocalFunc
}

// RoundMetrics are the results of one round.
type RoundMetrics struct {
	// Round counts from 1.
	Round int
	// TrainLoss is the sample-weighted mean of the sites' local losses.
	TrainLoss float64
	// Test are the metrics of the global model on the test set after the
	// round (zero N without a test set).
	Test Metrics
}

// SimResult is the outcome of Simulate.
type SimResult struct {
	// Params is the final global model.
	Params []float64
	// Rounds has one entry per round.
	Rounds []RoundMetrics
	// Test are the final test counts, as sums.
	Test Counts
}

// Simulate runs rounds of federated training in process: every site trains
// from the global model, contributes n_k·Δ_k and n_k, the contributions are
// summed in plain, and the strategy updates the global model from the sums.
// After each round the global model is evaluated on test (which may be nil).
// Sites run one after another; the result depends only on the inputs and
// cfg.Seed.
func Simulate(ctx context.Context, m federated.Model, sites []*federated.Batch, test *federated.Batch, cfg SimConfig) (*SimResult, error) {
	if cfg.Rounds < 1 {
		return nil, fmt.Errorf("%w: %d rounds", ErrConfig, cfg.Rounds)
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("%w: no sites", ErrNoData)
	}
	strategy := cfg.Strategy
	if strategy == nil {
		strategy = FedAvg{}
	}
	local := cfg.Local
	if a, ok := strategy.(LocalAdjuster); ok {
		local = a.AdjustLocal(local)
	}
	trainFn := cfg.LocalFunc
	if trainFn == nil {
		if err := local.validate(); err != nil {
			return nil, err
		}
		trainFn = func(ctx context.Context, m federated.Model, params []float64, data *federated.Batch, rng *rand.Rand) (Update, error) {
			return Train(ctx, m, params, data, local, rng)
		}
	}
	p := m.NumParams()
	global := make([]float64, p)
	if cfg.Init != nil {
		if len(cfg.Init) != p {
			return nil, fmt.Errorf("%w: %d initial parameters for model %s with %d", ErrConfig, len(cfg.Init), m.Name(), p)
		}
		copy(global, cfg.Init)
	} else {
		m.Init(global, rand.New(rand.NewPCG(cfg.Seed, math.MaxUint64)))
	}

	res := &SimResult{Rounds: make([]RoundMetrics, 0, cfg.Rounds)}
	sum := make([]float64, p)
	for r := 1; r <= cfg.Rounds; r++ {
		clear(sum)
		var weights, lossSum float64
		for k, site := range sites {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(r)<<32|uint64(k)))
			u, err := trainFn(ctx, m, global, site, rng)
			if err != nil {
				return nil, fmt.Errorf("round %d, site %d: %w", r, k, err)
			}
			if len(u.Delta) != p {
				return nil, fmt.Errorf("%w: round %d, site %d sent %d values for %d parameters", ErrShape, r, k, len(u.Delta), p)
			}
			wd, w := u.Weighted()
			for i, v := range wd {
				sum[i] += v
			}
			weights += w
			lossSum += w * u.Loss
		}
		strategy.Apply(global, sum, weights)
		rm := RoundMetrics{Round: r, TrainLoss: lossSum / weights}
		if test != nil {
			c, err := Evaluate(m, global, test, cfg.Eval)
			if err != nil {
				return nil, fmt.Errorf("round %d: %w", r, err)
			}
			rm.Test = c.Metrics()
			res.Test = c
		}
		res.Rounds = append(res.Rounds, rm)
	}
	res.Params = global
	return res, nil
}
