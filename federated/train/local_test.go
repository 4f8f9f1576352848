package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// TestTrainSGDSteps checks full-batch SGD with L2 and the proximal term
// against the update written out by hand, step by step.
func TestTrainSGDSteps(t *testing.T) {
	rng := newRand(1)
	m := linReg{d: 3}
	data := linearData(rng, 40, []float64{1, -2, 0.5}, 0.3, 0.1)
	w0 := []float64{0.2, -0.1, 0.05, 0.4}
	cfg := LocalConfig{Epochs: 3, LearningRate: 0.1, L2: 0.05, ProxMu: 0.7}
	u, err := Train(context.Background(), m, w0, data, cfg, newRand(2))
	if err != nil {
		t.Fatal(err)
	}
	w := slices.Clone(w0)
	g := make([]float64, len(w))
	var last float64
	for step := 0; step < 3; step++ {
		last = m.Loss(w, data, g)
		for i := range w {
			w[i] -= 0.1 * (g[i] + 0.05*w[i] + 0.7*(w[i]-w0[i]))
		}
	}
	for i := range w {
		if want := w[i] - w0[i]; !near(u.Delta[i], want, 1e-12) {
			t.Errorf("Δ[%d] = %v, want %v", i, u.Delta[i], want)
		}
	}
	if u.Samples != 40 || !near(u.Loss, last, 1e-12) {
		t.Errorf("samples %d loss %v, want 40 and %v", u.Samples, u.Loss, last)
	}
	if !slices.Equal(w0, []float64{0.2, -0.1, 0.05, 0.4}) {
		t.Errorf("Train modified the global parameters: %v", w0)
	}
}

// TestTrainMomentum checks heavy-ball SGD over two full-batch steps.
func TestTrainMomentum(t *testing.T) {
	m := linReg{d: 2}
	data := linearData(newRand(3), 20, []float64{1, 1}, 0, 0.1)
	w0 := []float64{0, 0, 0}
	u, err := Train(context.Background(), m, w0, data, LocalConfig{Epochs: 2, LearningRate: 0.2, Momentum: 0.5}, newRand(0))
	if err != nil {
		t.Fatal(err)
	}
	g0, g1 := make([]float64, 3), make([]float64, 3)
	m.Loss(w0, data, g0)
	w1 := []float64{-0.2 * g0[0], -0.2 * g0[1], -0.2 * g0[2]}
	m.Loss(w1, data, g1)
	for i := range w1 {
		want := w1[i] - 0.2*(0.5*g0[i]+g1[i])
		if !near(u.Delta[i], want, 1e-12) {
			t.Errorf("Δ[%d] = %v, want %v", i, u.Delta[i], want)
		}
	}
}

// TestTrainAdamFirstStep: Adam's first bias-corrected step is
// −lr·g/(|g|+ε), about −lr·sign(g).
func TestTrainAdamFirstStep(t *testing.T) {
	m := linReg{d: 4}
	data := linearData(newRand(4), 30, []float64{1, -1, 2, 0}, 1, 0.1)
	w0 := make([]float64, 5)
	u, err := Train(context.Background(), m, w0, data, LocalConfig{Optimizer: Adam, Epochs: 1, LearningRate: 0.01}, newRand(0))
	if err != nil {
		t.Fatal(err)
	}
	g := make([]float64, 5)
	m.Loss(w0, data, g)
	for i := range g {
		if want := -0.01 * g[i] / (math.Abs(g[i]) + 1e-8); !near(u.Delta[i], want, 1e-12) {
			t.Errorf("Δ[%d] = %v, want %v", i, u.Delta[i], want)
		}
	}
}

// TestTrainConverges fits a linear model with mini-batch SGD and Adam.
func TestTrainConverges(t *testing.T) {
	wTrue := []float64{2, -3, 0.5}
	data := linearData(newRand(5), 300, wTrue, 1, 0.01)
	m := linReg{d: 3}
	for name, cfg := range map[string]LocalConfig{
		"sgd":          {Epochs: 30, BatchSize: 16, LearningRate: 0.05},
		"sgd-momentum": {Epochs: 30, BatchSize: 16, LearningRate: 0.02, Momentum: 0.9},
		"adam":         {Optimizer: Adam, Epochs: 60, BatchSize: 32, LearningRate: 0.05},
	} {
		t.Run(name, func(t *testing.T) {
			w0 := make([]float64, 4)
			u, err := Train(context.Background(), m, w0, data, cfg, newRand(6))
			if err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(wTrue), 1)
			for i := range want {
				if math.Abs(u.Delta[i]-want[i]) > 0.02 {
					t.Errorf("w[%d] = %v, want %v", i, u.Delta[i], want[i])
				}
			}
			if u.Loss > 0.001 {
				t.Errorf("final loss %v", u.Loss)
			}
		})
	}
}

// TestTrainSeeded: the same rng seed gives the same update; another seed
// shuffles differently.
func TestTrainSeeded(t *testing.T) {
	data := linearData(newRand(7), 100, []float64{1, 2}, 0, 0.5)
	m := linReg{d: 2}
	cfg := LocalConfig{Epochs: 2, BatchSize: 7, LearningRate: 0.05}
	w0 := []float64{0.1, 0.2, 0.3}
	a, err := Train(context.Background(), m, w0, data, cfg, newRand(8))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(context.Background(), m, w0, data, cfg, newRand(8))
	c, _ := Train(context.Background(), m, w0, data, cfg, newRand(9))
	if !slices.Equal(a.Delta, b.Delta) || a.Loss != b.Loss {
		t.Error("same seed, different updates")
	}
	if slices.Equal(a.Delta, c.Delta) {
		t.Error("different seeds, same update")
	}
}

// TestTrainProx: a large μ keeps the local model near the global one.
func TestTrainProx(t *testing.T) {
	data := linearData(newRand(10), 100, []float64{3, -3}, 2, 0.1)
	m := linReg{d: 2}
	norm := func(mu float64) float64 {
		u, err := Train(context.Background(), m, make([]float64, 3), data, LocalConfig{Epochs: 20, BatchSize: 10, LearningRate: 0.05, ProxMu: mu}, newRand(11))
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, d := range u.Delta {
			s += d * d
		}
		return math.Sqrt(s)
	}
	free, prox := norm(0), norm(5)
	// With μ = 5 the optimum of loss + μ/2‖w‖² shrinks w by about 1/(1+μ).
	if !(prox < free/4) {
		t.Errorf("‖Δ‖ = %v with μ=5, %v without", prox, free)
	}
}

func TestTrainErrors(t *testing.T) {
	m := linReg{d: 2}
	data := linearData(newRand(12), 10, []float64{1, 1}, 0, 0)
	w0 := make([]float64, 3)
	ok := LocalConfig{Epochs: 1, LearningRate: 0.1}
	bad := []LocalConfig{
		{Epochs: 0, LearningRate: 0.1},
		{Epochs: 1, LearningRate: 0},
		{Epochs: 1, LearningRate: math.NaN()},
		{Epochs: 1, LearningRate: 0.1, BatchSize: -1},
		{Epochs: 1, LearningRate: 0.1, Momentum: 1},
		{Epochs: 1, LearningRate: 0.1, L2: -1},
		{Epochs: 1, LearningRate: 0.1, ProxMu: math.Inf(1)},
		{Epochs: 1, LearningRate: 0.1, Optimizer: Adam, Beta1: 1},
		{Epochs: 1, LearningRate: 0.1, Optimizer: 7},
	}
	for i, cfg := range bad {
		if _, err := Train(context.Background(), m, w0, data, cfg, newRand(0)); !errors.Is(err, ErrConfig) {
			t.Errorf("config %d: err %v, want ErrConfig", i, err)
		}
	}
	if _, err := Train(context.Background(), m, make([]float64, 2), data, ok, newRand(0)); !errors.Is(err, ErrConfig) {
		t.Errorf("wrong params length: %v", err)
	}
	if _, err := Train(context.Background(), m, w0, data, ok, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil rng: %v", err)
	}
	if _, err := Train(context.Background(), m, w0, &federated.Batch{Cols: 2}, ok, newRand(0)); !errors.Is(err, ErrNoData) {
		t.Errorf("empty data: %v", err)
	}
	if _, err := Train(context.Background(), m, w0, nil, ok, newRand(0)); !errors.Is(err, ErrNoData) {
		t.Errorf("nil data: %v", err)
	}
	short := &federated.Batch{X: make([]float64, 3), Y: make([]float64, 2), Rows: 2, Cols: 2}
	if _, err := Train(context.Background(), m, w0, short, ok, newRand(0)); !errors.Is(err, ErrShape) {
		t.Errorf("short data: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, m, w0, data, ok, newRand(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Train(context.Background(), m, w0, data, LocalConfig{Epochs: 200, LearningRate: 100}, newRand(0)); !errors.Is(err, ErrDiverged) {
		t.Errorf("divergent: %v", err)
	}
}

func TestUpdateWeighted(t *testing.T) {
	u := Update{Delta: []float64{1, -2, 0.5}, Samples: 4}
	wd, w := u.Weighted()
	if w != 4 || !slices.Equal(wd, []float64{4, -8, 2}) {
		t.Errorf("Weighted = %v, %v", wd, w)
	}
}

func BenchmarkTrainLogReg(b *testing.B) {
	const n, d = 1000, 30
	w := make([]float64, d)
	for i := range w {
		w[i] = float64(i%5) - 2
	}
	data := logisticData(newRand(1), n, w, 0.5)
	m := logReg{linReg{d: d}}
	w0 := make([]float64, d+1)
	for _, tc := range []struct {
		name string
		cfg  LocalConfig
	}{
		{"sgd-b32", LocalConfig{Epochs: 1, BatchSize: 32, LearningRate: 0.1}},
		{"adam-b32", LocalConfig{Optimizer: Adam, Epochs: 1, BatchSize: 32, LearningRate: 0.01}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(n * d * 8))
			rng := newRand(2)
			for b.Loop() {
				if _, err := Train(context.Background(), m, w0, data, tc.cfg, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
