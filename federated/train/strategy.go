package train

import (
	"fmt"
	"math"
)

// Strategy updates the global model from the sum of the participants'
// weighted updates, Σ_k n_k·Δ_k, and the sum of their weights, Σ_k n_k: the
// only values secure aggregation reveals. Strategies with server state
// (momentum, moments) keep it in the receiver, so one value serves one job.
type Strategy interface {
	// Name identifies the strategy, e.g. "fedavg".
	Name() string
	// Apply updates global in place from the average update
	// sumWeightedDelta/sumWeights. It leaves global unchanged when
	// sumWeights ≤ 0 (nobody contributed). It panics if
	// len(sumWeightedDelta) != len(global), or if the length differs from
	// the one of an earlier call on a stateful strategy.
	Apply(global []float64, sumWeightedDelta []float64, sumWeights float64)
}

// LocalAdjuster is implemented by strategies that change how sites train
// (FedProx sets the proximal μ); Simulate applies it to the local config.
type LocalAdjuster interface {
	// AdjustLocal returns cfg as the strategy needs it.
	AdjustLocal(cfg LocalConfig) LocalConfig
}

func checkLens(global, sum []float64) {
	if len(global) != len(sum) {
		panic(fmt.Sprintf("train: %d parameters but a sum of %d", len(global), len(sum)))
	}
}

// FedAvg is federated averaging (McMahan et al. 2017) weighted by sample
// count: w ← w + Σ n_k·Δ_k / Σ n_k.
type FedAvg struct{}

// Name returns "fedavg".
func (FedAvg) Name() string { return "fedavg" }

// Apply implements Strategy.
func (FedAvg) Apply(global, sumWeightedDelta []float64, sumWeights float64) {
	checkLens(global, sumWeightedDelta)
	if !(sumWeights > 0) {
		return
	}
	inv := 1 / sumWeights
	for i, s := range sumWeightedDelta {
		global[i] += s * inv
	}
}

// FedProx is FedProx (Li et al. 2020): FedAvg aggregation, with the proximal
// term Mu/2·‖w − w_global‖² added to every site's local loss.
type FedProx struct {
	// Mu is the proximal coefficient μ ≥ 0.
	Mu float64
}

// Name returns "fedprox(μ=…)".
func (s FedProx) Name() string { return fmt.Sprintf("fedprox(mu=%g)", s.Mu) }

// Apply implements Strategy (as FedAvg).
func (FedProx) Apply(global, sumWeightedDelta []float64, sumWeights float64) {
	FedAvg{}.Apply(global, sumWeightedDelta, sumWeights)
}

// AdjustLocal sets cfg.ProxMu to Mu.
func (s FedProx) AdjustLocal(cfg LocalConfig) LocalConfig {
	cfg.ProxMu = s.Mu
	return cfg
}

// FedAvgM is FedAvg with server momentum (Hsu et al. 2019):
// v ← β·v + Δ̄, w ← w + η·v, where Δ̄ is the weighted average update.
type FedAvgM struct {
	lr, beta float64
	v        []float64
}

// NewFedAvgM returns FedAvgM with server learning rate lr > 0 and momentum
// beta in [0, 1).
func NewFedAvgM(lr, beta float64) (*FedAvgM, error) {
	if !(lr > 0) || math.IsInf(lr, 0) || !(beta >= 0 && beta < 1) {
		return nil, fmt.Errorf("%w: fedavgm lr=%v momentum=%v", ErrConfig, lr, beta)
	}
	return &FedAvgM{lr: lr, beta: beta}, nil
}

// Name returns "fedavgm(…)".
func (s *FedAvgM) Name() string { return fmt.Sprintf("fedavgm(lr=%g,momentum=%g)", s.lr, s.beta) }

// Apply implements Strategy.
func (s *FedAvgM) Apply(global, sumWeightedDelta []float64, sumWeights float64) {
	checkLens(global, sumWeightedDelta)
	if !(sumWeights > 0) {
		return
	}
	if s.v == nil {
		s.v = make([]float64, len(global))
	}
	checkLens(global, s.v)
	inv := 1 / sumWeights
	for i, sum := range sumWeightedDelta {
		s.v[i] = s.beta*s.v[i] + sum*inv
		global[i] += s.lr * s.v[i]
	}
}

// ServerOptConfig configures the adaptive server optimisers of Reddi et al.
// 2021 ("Adaptive Federated Optimization", Algorithm 2).
type ServerOptConfig struct {
	// LR is the server learning rate η > 0.
	LR float64
	// Beta1 is the first-moment decay β1 in [0, 1); 0 means 0.9.
	Beta1 float64
	// Beta2 is the second-moment decay β2 in [0, 1) (FedAdam, FedYogi);
	// 0 means 0.99.
	Beta2 float64
	// Tau is the adaptivity τ > 0; 0 means 1e-3.
	Tau float64
}

type serverKind int

const (
	kindAdam serverKind = iota
	kindYogi
	kindAdagrad
)

// ServerOpt is one of FedAdam, FedYogi and FedAdagrad. With Δ̄ the weighted
// average update, each round computes
//
//	m ← β1·m + (1−β1)·Δ̄
//	v ← v + Δ̄²                              (FedAdagrad)
//	v ← β2·v + (1−β2)·Δ̄²                    (FedAdam)
//	v ← v − (1−β2)·Δ̄²·sign(v − Δ̄²)          (FedYogi)
//	w ← w + η·m / (√v + τ)
//
// with m starting at 0 and v at τ² (the paper's v₋₁ ≥ τ²), and no bias
// correction, as in the paper.
type ServerOpt struct {
	kind serverKind
	cfg  ServerOptConfig
	m, v []float64
}

func newServerOpt(kind serverKind, c ServerOptConfig) (*ServerOpt, error) {
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.99
	}
	if c.Tau == 0 {
		c.Tau = 1e-3
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) || !(c.Beta1 >= 0 && c.Beta1 < 1) ||
		!(c.Beta2 >= 0 && c.Beta2 < 1) || !(c.Tau > 0) || math.IsInf(c.Tau, 0) {
		return nil, fmt.Errorf("%w: server optimiser %+v", ErrConfig, c)
	}
	return &ServerOpt{kind: kind, cfg: c}, nil
}

// NewFedAdam returns FedAdam; zero fields of c other than LR take defaults.
func NewFedAdam(c ServerOptConfig) (*ServerOpt, error) { return newServerOpt(kindAdam, c) }

// NewFedYogi returns FedYogi; zero fields of c other than LR take defaults.
func NewFedYogi(c ServerOptConfig) (*ServerOpt, error) { return newServerOpt(kindYogi, c) }

// NewFedAdagrad returns FedAdagrad (Beta2 is unused); zero fields of c
// other than LR take defaults.
func NewFedAdagrad(c ServerOptConfig) (*ServerOpt, error) { return newServerOpt(kindAdagrad, c) }

// Name returns "fedadam(…)", "fedyogi(…)" or "fedadagrad(…)".
func (s *ServerOpt) Name() string {
	c := s.cfg
	switch s.kind {
	case kindYogi:
		return fmt.Sprintf("fedyogi(lr=%g,b1=%g,b2=%g,tau=%g)", c.LR, c.Beta1, c.Beta2, c.Tau)
	case kindAdagrad:
		return fmt.Sprintf("fedadagrad(lr=%g,b1=%g,tau=%g)", c.LR, c.Beta1, c.Tau)
	}
	return fmt.Sprintf("fedadam(lr=%g,b1=%g,b2=%g,tau=%g)", c.LR, c.Beta1, c.Beta2, c.Tau)
}

// Config returns the configuration with defaults filled in.
func (s *ServerOpt) Config() ServerOptConfig { return s.cfg }

// Apply implements Strategy.
func (s *ServerOpt) Apply(global, sumWeightedDelta []float64, sumWeights float64) {
	checkLens(global, sumWeightedDelta)
	if !(sumWeights > 0) {
		return
	}
	c := s.cfg
	if s.m == nil {
		s.m = make([]float64, len(global))
		s.v = make([]float64, len(global))
		for i := range s.v {
			s.v[i] = c.Tau * c.Tau
		}
	}
	checkLens(global, s.m)
	inv := 1 / sumWeights
	for i, sum := range sumWeightedDelta {
		d := sum * inv
		d2 := d * d
		s.m[i] = c.Beta1*s.m[i] + (1-c.Beta1)*d
		switch s.kind {
		case kindAdam:
			s.v[i] = c.Beta2*s.v[i] + (1-c.Beta2)*d2
		case kindYogi:
			diff := s.v[i] - d2
			sign := 0.0
			if diff > 0 {
				sign = 1
			} else if diff < 0 {
				sign = -1
			}
			s.v[i] -= (1 - c.Beta2) * d2 * sign
		case kindAdagrad:
			s.v[i] += d2
		}
		global[i] += c.LR * s.m[i] / (math.Sqrt(s.v[i]) + c.Tau)
	}
}
