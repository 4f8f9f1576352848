package train

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// TestFedAvgOnSums: FedAvg applied to Σ n_k·Δ_k and Σ n_k gives the
// sample-weighted mean of the sites' local models.
func TestFedAvgOnSums(t *testing.T) {
	rng := newRand(20)
	const p = 17
	global := make([]float64, p)
	for i := range global {
		global[i] = rng.NormFloat64()
	}
	ns := []int{5, 120, 33, 1}
	locals := make([][]float64, len(ns))
	sum := make([]float64, p)
	var weights float64
	for k, n := range ns {
		locals[k] = make([]float64, p)
		u := Update{Delta: make([]float64, p), Samples: n}
		for i := range locals[k] {
			locals[k][i] = global[i] + rng.NormFloat64()
			u.Delta[i] = locals[k][i] - global[i]
		}
		wd, w := u.Weighted()
		for i := range wd {
			sum[i] += wd[i]
		}
		weights += w
	}
	for _, s := range []Strategy{FedAvg{}, FedProx{Mu: 0.1}} {
		g := slices.Clone(global)
		s.Apply(g, sum, weights)
		for i := range g {
			var want float64
			for k, n := range ns {
				want += float64(n) * locals[k][i]
			}
			want /= weights
			if !near(g[i], want, 1e-12) {
				t.Errorf("%s: w[%d] = %v, want weighted mean %v", s.Name(), i, g[i], want)
			}
		}
	}
}

func TestFedProxAdjustsLocal(t *testing.T) {
	var s Strategy = FedProx{Mu: 0.25}
	a, ok := s.(LocalAdjuster)
	if !ok {
		t.Fatal("FedProx is not a LocalAdjuster")
	}
	if got := a.AdjustLocal(LocalConfig{Epochs: 2}); got.ProxMu != 0.25 || got.Epochs != 2 {
		t.Errorf("AdjustLocal = %+v", got)
	}
}

// TestFedAvgM checks two rounds of server momentum by hand:
// v1 = d1, w1 = w0 + η·d1; v2 = β·d1 + d2, w2 = w1 + η·v2.
func TestFedAvgM(t *testing.T) {
	s, err := NewFedAvgM(0.5, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	w := []float64{1, 2}
	s.Apply(w, []float64{4, -2}, 2) // d1 = (2, -1)
	if !slices.Equal(w, []float64{2, 1.5}) {
		t.Fatalf("round 1: %v", w)
	}
	s.Apply(w, []float64{3, 3}, 3) // d2 = (1, 1); v2 = (2.8, 0.1)
	if !near(w[0], 3.4, 1e-15) || !near(w[1], 1.55, 1e-15) {
		t.Fatalf("round 2: %v, want [3.4 1.55]", w)
	}
}

// TestServerOpt checks two rounds of FedAdam, FedYogi and FedAdagrad
// against values computed by hand (in an independent script) from Reddi et
// al. 2021, Algorithm 2, with η=1, β1=0.9, β2=0.99, τ=0.1, v₋₁ = τ².
// Round 1 averages to d = (0.5, −0.1) (Yogi's second coordinate has
// v = d², sign 0), round 2 to d = (0.01, 0.2) (Yogi's signs +1 and −1).
func TestServerOpt(t *testing.T) {
	cfg := ServerOptConfig{LR: 1, Beta1: 0.9, Beta2: 0.99, Tau: 0.1}
	for _, tc := range []struct {
		name   string
		newOpt func(ServerOptConfig) (*ServerOpt, error)
		r1, r2 [2]float64
	}{
		{"fedadam", NewFedAdam, [2]float64{1.2365684845125091, -1.05}, [2]float64{1.4547831216201268, -0.9954064261328529}},
		{"fedyogi", NewFedYogi, [2]float64{1.2360679774997896, -1.05}, [2]float64{1.4532551027022933, -0.9955392675239684}},
		{"fedadagrad", NewFedAdagrad, [2]float64{1.0819803902718557, -1.0414213562373096}, [2]float64{1.1573902263374294, -1.0095325818960796}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.newOpt(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Name(); len(got) < len(tc.name) || got[:len(tc.name)] != tc.name {
				t.Errorf("Name = %q", got)
			}
			w := []float64{1, -1}
			s.Apply(w, []float64{2, -0.4}, 4)
			for i := range w {
				if !near(w[i], tc.r1[i], 1e-13) {
					t.Errorf("round 1: w[%d] = %.17g, want %.17g", i, w[i], tc.r1[i])
				}
			}
			s.Apply(w, []float64{0.04, 0.8}, 4)
			for i := range w {
				if !near(w[i], tc.r2[i], 1e-13) {
					t.Errorf("round 2: w[%d] = %.17g, want %.17g", i, w[i], tc.r2[i])
				}
			}
		})
	}
}

func TestServerOptDefaultsAndErrors(t *testing.T) {
	s, err := NewFedAdam(ServerOptConfig{LR: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.Beta1 != 0.9 || c.Beta2 != 0.99 || c.Tau != 1e-3 {
		t.Errorf("defaults %+v", c)
	}
	for _, c := range []ServerOptConfig{{}, {LR: -1}, {LR: 1, Beta1: 1}, {LR: 1, Beta2: -0.5}, {LR: 1, Tau: -1}, {LR: math.NaN()}} {
		if _, err := NewFedYogi(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range [][2]float64{{0, 0.9}, {1, 1}, {1, -0.1}} {
		if _, err := NewFedAvgM(c[0], c[1]); !errors.Is(err, ErrConfig) {
			t.Errorf("fedavgm %v: %v", c, err)
		}
	}
}

// TestStrategiesNoWeights: with no contributions the model is unchanged.
func TestStrategiesNoWeights(t *testing.T) {
	m, _ := NewFedAvgM(1, 0.9)
	a, _ := NewFedAdam(ServerOptConfig{LR: 1})
	for _, s := range []Strategy{FedAvg{}, FedProx{}, m, a} {
		w := []float64{1, 2, 3}
		s.Apply(w, []float64{5, 5, 5}, 0)
		if !slices.Equal(w, []float64{1, 2, 3}) {
			t.Errorf("%s changed the model: %v", s.Name(), w)
		}
	}
}

func TestStrategiesPanicOnLength(t *testing.T) {
	m, _ := NewFedAvgM(1, 0.9)
	a, _ := NewFedYogi(ServerOptConfig{LR: 1})
	for _, s := range []Strategy{FedAvg{}, m, a} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on mismatched lengths", s.Name())
				}
			}()
			s.Apply(make([]float64, 3), make([]float64, 2), 1)
		}()
	}
	// A stateful strategy also refuses a later call of another length.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic on a changed length")
			}
		}()
		a.Apply(make([]float64, 2), make([]float64, 2), 1)
		a.Apply(make([]float64, 3), make([]float64, 3), 1)
	}()
}

func BenchmarkServerOptApply(b *testing.B) {
	const p = 1 << 16
	sum := make([]float64, p)
	for i := range sum {
		sum[i] = float64(i%7) - 3
	}
	for _, name := range []string{"fedavg", "fedadam", "fedyogi"} {
		b.Run(name, func(b *testing.B) {
			var s Strategy = FedAvg{}
			switch name {
			case "fedadam":
				s, _ = NewFedAdam(ServerOptConfig{LR: 0.01})
			case "fedyogi":
				s, _ = NewFedYogi(ServerOptConfig{LR: 0.01})
			}
			w := make([]float64, p)
			b.SetBytes(p * 8)
			for b.Loop() {
				s.Apply(w, sum, 10)
			}
		})
	}
}
