package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
)

// Optimizer selects the local optimiser.
type Optimizer int

const (
	// SGD is mini-batch stochastic gradient descent, with optional heavy-ball
	// momentum (LocalConfig.Momentum).
	SGD Optimizer = iota
	// Adam is Kingma and Ba's Adam with bias correction.
	Adam
)

// String returns "sgd" or "adam".
func (o Optimizer) String() string {
	switch o {
	case SGD:
		return "sgd"
	case Adam:
		return "adam"
	}
	return fmt.Sprintf("Optimizer(%d)", int(o))
}

// LocalConfig configures local training at one site.
type LocalConfig struct {
	// Optimizer is SGD (the zero value) or Adam.
	Optimizer Optimizer
	// Epochs is the number of passes over the site's rows (≥ 1).
	Epochs int
	// BatchSize is the number of rows per step; 0 or ≥ Rows means full batch.
	BatchSize int
	// LearningRate is the step size (> 0).
	LearningRate float64
	// Momentum is SGD's heavy-ball momentum in [0, 1); ignored by Adam.
	Momentum float64
	// Beta1, Beta2 and Epsilon are Adam's parameters; zero means the
	// defaults 0.9, 0.999 and 1e-8.
	Beta1, Beta2, Epsilon float64
	// L2 adds L2/2·‖w‖² to the loss (weight decay on the loss, so Adam sees
	// it through its gradient).
	L2 float64
	// ProxMu adds FedProx's proximal term μ/2·‖w − w_global‖² to the loss.
	ProxMu float64
}

func (c *LocalConfig) validate() error {
	switch {
	case c.Optimizer != SGD && c.Optimizer != Adam:
		return fmt.Errorf("%w: unknown optimizer %d", ErrConfig, int(c.Optimizer))
	case c.Epochs < 1:
		return fmt.Errorf("%w: epochs %d < 1", ErrConfig, c.Epochs)
	case c.BatchSize < 0:
		return fmt.Errorf("%w: batch size %d < 0", ErrConfig, c.BatchSize)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("%w: learning rate %v", ErrConfig, c.LearningRate)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("%w: momentum %v outside [0, 1)", ErrConfig, c.Momentum)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) || !(c.Epsilon >= 0):
		return fmt.Errorf("%w: adam parameters β1=%v β2=%v ε=%v", ErrConfig, c.Beta1, c.Beta2, c.Epsilon)
	case !(c.L2 >= 0) || math.IsInf(c.L2, 0):
		return fmt.Errorf("%w: L2 %v", ErrConfig, c.L2)
	case !(c.ProxMu >= 0) || math.IsInf(c.ProxMu, 0):
		return fmt.Errorf("%w: proximal μ %v", ErrConfig, c.ProxMu)
	}
	return nil
}

// Update is the result of local training at one site.
type Update struct {
	// Delta is w_local − w_global.
	Delta []float64
	// Samples is the number of rows the site trained on (n_k).
	Samples int
	// Loss is the mean data loss (without the L2 and proximal terms) over
	// the mini-batches of the last epoch, weighted by batch size, each
	// measured at the parameters before its step.
	Loss float64
}

// Weighted returns n_k·Δ_k and n_k, the two values a site contributes to
// the (secure) sum that every Strategy consumes.
func (u *Update) Weighted() ([]float64, float64) {
	n := float64(u.Samples)
	out := make([]float64, len(u.Delta))
	for i, d := range u.Delta {
		out[i] = n * d
	}
	return out, n
}

// Train runs local training of m at one site, starting from the global
// parameters params (which it does not modify), over data, and returns the
// update Δ = w_local − w_global with the sample count and mean loss. Rows are
// shuffled each epoch with rng, so a seeded rng gives a reproducible update.
// It returns an error wrapping ErrConfig, ErrNoData or ErrDiverged, or the
// context's error if ctx is done between steps.
func Train(ctx context.Context, m federated.Model, params []float64, data *federated.Batch, cfg LocalConfig, rng *rand.Rand) (Update, error) {
	if err := cfg.validate(); err != nil {
		return Update{}, err
	}
	p := m.NumParams()
	if len(params) != p {
		return Update{}, fmt.Errorf("%w: %d parameters for model %s with %d", ErrConfig, len(params), m.Name(), p)
	}
	if data == nil || data.Rows == 0 {
		return Update{}, fmt.Errorf("%w: empty training set", ErrNoData)
	}
	if len(data.X) < data.Rows*data.Cols || len(data.Y) < data.Rows {
		return Update{}, fmt.Errorf("%w: batch of %d×%d with %d values and %d targets", ErrShape, data.Rows, data.Cols, len(data.X), len(data.Y))
	}
	if rng == nil {
		return Update{}, fmt.Errorf("%w: nil rng", ErrConfig)
	}
	n := data.Rows
	bs := cfg.BatchSize
	if bs == 0 || bs > n {
		bs = n
	}
	beta1, beta2, eps := cfg.Beta1, cfg.Beta2, cfg.Epsilon
	if beta1 == 0 {
		beta1 = 0.9
	}
	if beta2 == 0 {
		beta2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}

	w := append([]float64(nil), params...)
	g := make([]float64, p)
	var mom, vel []float64
	if cfg.Optimizer == Adam || cfg.Momentum > 0 {
		mom = make([]float64, p)
	}
	if cfg.Optimizer == Adam {
		vel = make([]float64, p)
	}
	// One batch covering every row needs no shuffle: its mean gradient does
	// not depend on the order.
	shuffle := bs < n
	var perm []int
	var scratch federated.Batch
	if shuffle {
		perm = make([]int, n)
		for i := range perm {
			perm[i] = i
		}
		scratch = federated.Batch{X: make([]float64, bs*data.Cols), Y: make([]float64, bs), Cols: data.Cols}
	}
	step := 0
	var lossSum float64
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		if shuffle {
			rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		}
		lossSum = 0
		for lo := 0; lo < n; lo += bs {
			if err := ctx.Err(); err != nil {
				return Update{}, fmt.Errorf("train: %w", err)
			}
			hi := min(lo+bs, n)
			b := data
			if shuffle {
				rows := hi - lo
				for r := 0; r < rows; r++ {
					src := perm[lo+r]
					copy(scratch.X[r*data.Cols:(r+1)*data.Cols], data.Row(src))
					scratch.Y[r] = data.Y[src]
				}
				scratch.Rows = rows
				scratch.X = scratch.X[:rows*data.Cols]
				scratch.Y = scratch.Y[:rows]
				b = &scratch
			}
			loss := m.Loss(w, b, g)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return Update{}, fmt.Errorf("%w: loss %v at epoch %d, step %d", ErrDiverged, loss, epoch, step)
			}
			lossSum += loss * float64(hi-lo)
			if cfg.L2 > 0 {
				for i := range g {
					g[i] += cfg.L2 * w[i]
				}
			}
			if cfg.ProxMu > 0 {
				for i := range g {
					g[i] += cfg.ProxMu * (w[i] - params[i])
				}
			}
			step++
			switch {
			case cfg.Optimizer == Adam:
				c1 := 1 - math.Pow(beta1, float64(step))
				c2 := 1 - math.Pow(beta2, float64(step))
				lr := cfg.LearningRate
				for i, gi := range g {
					mom[i] = beta1*mom[i] + (1-beta1)*gi
					vel[i] = beta2*vel[i] + (1-beta2)*gi*gi
					w[i] -= lr * (mom[i] / c1) / (math.Sqrt(vel[i]/c2) + eps)
				}
			case mom != nil:
				for i, gi := range g {
					mom[i] = cfg.Momentum*mom[i] + gi
					w[i] -= cfg.LearningRate * mom[i]
				}
			default:
				for i, gi := range g {
					w[i] -= cfg.LearningRate * gi
				}
			}
			if shuffle {
				scratch.X = scratch.X[:cap(scratch.X)]
				scratch.Y = scratch.Y[:cap(scratch.Y)]
			}
		}
	}
	for i := range w {
		w[i] -= params[i]
		if math.IsNaN(w[i]) || math.IsInf(w[i], 0) {
			return Update{}, fmt.Errorf("%w: non-finite parameter %d", ErrDiverged, i)
		}
	}
	return Update{Delta: w, Samples: n, Loss: lossSum / float64(n)}, nil
}
