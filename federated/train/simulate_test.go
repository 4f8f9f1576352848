package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

// simData returns three label-skewed sites and a test set drawn from one
// logistic model with 5 features.
func simData(seed uint64) ([]*federated.Batch, *federated.Batch) {
	rng := newRand(seed)
	w := []float64{2, -1.5, 1, 0, 3}
	all := logisticData(rng, 900, w, -0.5)
	// Label skew: site 0 gets mostly positives, site 2 mostly negatives.
	var groups [3][]int
	for i, y := range all.Y {
		k := rng.IntN(3)
		if rng.Float64() < 0.6 {
			k = 0
			if y == 0 {
				k = 2
			}
		}
		groups[k] = append(groups[k], i)
	}
	sites := make([]*federated.Batch, 3)
	for k, rows := range groups {
		b := &federated.Batch{Cols: all.Cols, Rows: len(rows)}
		for _, i := range rows {
			b.X = append(b.X, all.Row(i)...)
			b.Y = append(b.Y, all.Y[i])
		}
		sites[k] = b
	}
	return sites, logisticData(rng, 2000, w, -0.5)
}

// TestSimulateConverges: FedAvg (and the other strategies) on the tiny
// logistic model reach the accuracy and AUC of the true model.
func TestSimulateConverges(t *testing.T) {
	sites, test := simData(40)
	m := logReg{linReg{d: 5}}
	// The Bayes-optimal model's test metrics are the ceiling.
	best, err := Evaluate(m, []float64{2, -1.5, 1, 0, 3, -0.5}, test, EvalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ceiling := best.Metrics()
	avgm, _ := NewFedAvgM(1, 0.5)
	adam, _ := NewFedAdam(ServerOptConfig{LR: 0.1, Tau: 1e-2})
	yogi, _ := NewFedYogi(ServerOptConfig{LR: 0.1, Tau: 1e-2})
	adagrad, _ := NewFedAdagrad(ServerOptConfig{LR: 0.5, Tau: 1e-2})
	for _, s := range []Strategy{FedAvg{}, FedProx{Mu: 0.01}, avgm, adam, yogi, adagrad} {
		t.Run(s.Name(), func(t *testing.T) {
			res, err := Simulate(context.Background(), m, sites, test, SimConfig{
				Rounds:   20,
				Local:    LocalConfig{Epochs: 1, BatchSize: 32, LearningRate: 0.1},
				Strategy: s,
				Seed:     41,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rounds) != 20 || res.Rounds[19].Round != 20 || len(res.Params) != 6 {
				t.Fatalf("result shape: %d rounds, %d params", len(res.Rounds), len(res.Params))
			}
			first, last := res.Rounds[0], res.Rounds[19]
			if !(last.TrainLoss < first.TrainLoss) {
				t.Errorf("train loss %v → %v", first.TrainLoss, last.TrainLoss)
			}
			if last.Test.Accuracy < ceiling.Accuracy-0.02 || last.Test.AUC < ceiling.AUC-0.01 {
				t.Errorf("test accuracy %.4f AUC %.4f; true model %.4f, %.4f", last.Test.Accuracy, last.Test.AUC, ceiling.Accuracy, ceiling.AUC)
			}
			if res.Test.N != 2000 || res.Test.Metrics() != last.Test {
				t.Errorf("final counts %+v", res.Test.Metrics())
			}
		})
	}
}

// TestSimulateDeterministic: the same seed gives the same run.
func TestSimulateDeterministic(t *testing.T) {
	sites, test := simData(40)
	m := logReg{linReg{d: 5}}
	cfg := SimConfig{Rounds: 3, Local: LocalConfig{Epochs: 2, BatchSize: 10, LearningRate: 0.05}, Seed: 7}
	a, err := Simulate(context.Background(), m, sites, test, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Simulate(context.Background(), m, sites, test, cfg)
	cfg.Seed = 8
	c, _ := Simulate(context.Background(), m, sites, test, cfg)
	if !slices.Equal(a.Params, b.Params) || !slices.Equal(a.Rounds, b.Rounds) {
		t.Error("same seed, different runs")
	}
	if slices.Equal(a.Params, c.Params) {
		t.Error("different seeds, same run")
	}
}

// TestSimulateIsGradientDescent: one site, one full-batch SGD epoch per
// round and FedAvg is plain gradient descent from Init.
func TestSimulateIsGradientDescent(t *testing.T) {
	m := linReg{d: 2}
	data := linearData(newRand(43), 50, []float64{1, -1}, 0.5, 0.1)
	init := []float64{0.3, 0.2, 0.1}
	res, err := Simulate(context.Background(), m, []*federated.Batch{data}, nil, SimConfig{
		Rounds: 4, Local: LocalConfig{Epochs: 1, LearningRate: 0.3}, Init: init,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := slices.Clone(init)
	g := make([]float64, 3)
	for r := 0; r < 4; r++ {
		loss := m.Loss(w, data, g)
		if !near(res.Rounds[r].TrainLoss, loss, 1e-12) || res.Rounds[r].Test.N != 0 {
			t.Errorf("round %d: loss %v, want %v", r+1, res.Rounds[r].TrainLoss, loss)
		}
		for i := range w {
			w[i] -= 0.3 * g[i]
		}
	}
	for i := range w {
		if !near(res.Params[i], w[i], 1e-12) {
			t.Errorf("w[%d] = %v, want %v", i, res.Params[i], w[i])
		}
	}
	if !slices.Equal(init, []float64{0.3, 0.2, 0.1}) {
		t.Error("Simulate modified Init")
	}
}

// TestSimulateLocalFunc: a custom local trainer replaces Train, and its
// updates are weighted by their sample counts.
func TestSimulateLocalFunc(t *testing.T) {
	sites, _ := simData(44)
	m := logReg{linReg{d: 5}}
	calls := 0
	res, err := Simulate(context.Background(), m, sites, nil, SimConfig{
		Rounds: 2, Init: make([]float64, 6),
		LocalFunc: func(_ context.Context, _ federated.Model, params []float64, data *federated.Batch, _ *rand.Rand) (Update, error) {
			calls++
			d := make([]float64, len(params))
			d[0] = float64(calls)
			return Update{Delta: d, Samples: data.Rows, Loss: 1}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(sites[0].Rows + sites[1].Rows + sites[2].Rows)
	want := 0.0
	for r := 0; r < 2; r++ {
		for k := range sites {
			want += float64(3*r+k+1) * float64(sites[k].Rows) / n
		}
	}
	if calls != 6 || !near(res.Params[0], want, 1e-12) || res.Params[1] != 0 {
		t.Errorf("calls %d, w[0] = %v, want %v", calls, res.Params[0], want)
	}
}

func TestSimulateErrors(t *testing.T) {
	sites, test := simData(45)
	m := logReg{linReg{d: 5}}
	ok := LocalConfig{Epochs: 1, LearningRate: 0.1}
	ctx := context.Background()
	if _, err := Simulate(ctx, m, sites, test, SimConfig{Rounds: 0, Local: ok}); !errors.Is(err, ErrConfig) {
		t.Errorf("no rounds: %v", err)
	}
	if _, err := Simulate(ctx, m, nil, test, SimConfig{Rounds: 1, Local: ok}); !errors.Is(err, ErrNoData) {
		t.Errorf("no sites: %v", err)
	}
	if _, err := Simulate(ctx, m, sites, test, SimConfig{Rounds: 1}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad local config: %v", err)
	}
	if _, err := Simulate(ctx, m, sites, test, SimConfig{Rounds: 1, Local: ok, Init: []float64{1}}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad init: %v", err)
	}
	empty := append(slices.Clone(sites), &federated.Batch{Cols: 5})
	if _, err := Simulate(ctx, m, empty, test, SimConfig{Rounds: 1, Local: ok}); !errors.Is(err, ErrNoData) {
		t.Errorf("empty site: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Simulate(cctx, m, sites, test, SimConfig{Rounds: 1, Local: ok}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
