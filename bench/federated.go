package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/model"
	"github.com/cohort-mpc/cohort/federated/train"
)

// FederatedOptions configure the federated suite.
type FederatedOptions struct {
	// DataDir holds the shipped datasets (default testdata/datasets, the
	// repository's copy).
	DataDir string
	// Seeds is how many seeds each scenario's median is taken over (0: 5).
	Seeds int
}

func federatedSuite() Suite {
	return Suite{
		Name: "federated",
		Doc:  "federated learning on the shipped datasets (plain in-process aggregation): accuracy, AUC, local epoch time",
		Run:  runFederated,
	}
}

// scenario is one federated job on a shipped dataset.
type scenario struct {
	name   string
	load   func(dir string) (*data.Dataset, error)
	sites  int
	alpha  float64
	model  func(d *data.Dataset) (federated.Model, error)
	rounds int
	local  train.LocalConfig
	dpEps  float64 // record-level ε per site (0: no DP)
	dpClip float64
}

func scenarios() []scenario {
	return []scenario{
		{
			name: "breast-cancer-logreg-fedavg", load: data.BreastCancer, sites: 3, alpha: 0.5, rounds: 20,
			model: func(d *data.Dataset) (federated.Model, error) { return model.NewLogReg(len(d.Features)) },
			local: train.LocalConfig{Optimizer: train.SGD, Epochs: 1, BatchSize: 16, LearningRate: 0.1},
		},
		{
			name: "digits-mlp-fedavg", load: data.Digits, sites: 5, alpha: 0.5, rounds: 20,
			model: func(d *data.Dataset) (federated.Model, error) {
				return model.NewMLP(len(d.Features), []int{32}, d.Classes)
			},
			local: train.LocalConfig{Optimizer: train.Adam, Epochs: 2, BatchSize: 32, LearningRate: 0.005},
		},
		{
			name: "breast-cancer-logreg-dp3", load: data.BreastCancer, sites: 3, alpha: 0.5, rounds: 20,
			model: func(d *data.Dataset) (federated.Model, error) { return model.NewLogReg(len(d.Features)) },
			local: train.LocalConfig{Optimizer: train.SGD, Epochs: 1, BatchSize: 32, LearningRate: 0.5},
			dpEps: 3, dpClip: 1,
		},
	}
}

func runFederated(ctx context.Context, opt Options, emit func(Result)) error {
	dir := opt.Federated.DataDir
	if dir == "" {
		dir = "testdata/datasets"
	}
	seeds := opt.Federated.Seeds
	if seeds == 0 {
		seeds = 5
		if opt.Quick {
			seeds = 1
		}
	}
	for _, sc := range scenarios() {
		if opt.Quick {
			sc.rounds = 3
		}
		var acc, auc []float64
		var note string
		for s := range seeds {
			if err := ctx.Err(); err != nil {
				return err
			}
			m, n, err := runScenario(ctx, sc, dir, uint64(s+1))
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			acc, auc, note = append(acc, m.Accuracy), append(auc, m.AUC), n
		}
		r := Result{Suite: "federated", Case: sc.name, Metric: "accuracy", Value: median(acc), Unit: "",
			Note: fmt.Sprintf("median of %d seeds %v; %s", seeds, round3(acc), note)}
		emit(r)
		if !isNaNAll(auc) {
			r.Metric, r.Value, r.Note = "auc", median(auc), fmt.Sprintf("median of %d seeds %v", seeds, round3(auc))
			emit(r)
		}
	}
	return epochTimes(ctx, dir, opt, emit)
}

// runScenario trains one scenario with one seed and returns the final test
// metrics.
func runScenario(ctx context.Context, sc scenario, dir string, seed uint64) (train.Metrics, string, error) {
	ds, err := sc.load(dir)
	if err != nil {
		return train.Metrics{}, "", err
	}
	rng := rand.New(rand.NewPCG(seed, 17))
	trainSet, testSet, err := ds.Split(0.25, rng)
	if err != nil {
		return train.Metrics{}, "", err
	}
	parts, err := data.LabelSkew(trainSet.All.Y, sc.sites, sc.alpha, 20, rng)
	if err != nil {
		return train.Metrics{}, "", err
	}
	siteSets := trainSet.Partition(parts)
	// Standardise from the sites' summed statistics, as a federated job does.
	var stats data.Stats
	for _, s := range siteSets {
		stats = stats.Add(data.SiteStats(&s.All))
	}
	z, err := data.NewStandardizer(stats, data.DefaultVarianceFloor)
	if err != nil {
		return train.Metrics{}, "", err
	}
	sites := make([]*federated.Batch, len(siteSets))
	for i, s := range siteSets {
		z.Transform(&s.All)
		sites[i] = &s.All
	}
	z.Transform(&testSet.All)
	m, err := sc.model(ds)
	if err != nil {
		return train.Metrics{}, "", err
	}
	cfg := train.SimConfig{Rounds: sc.rounds, Local: sc.local, Seed: seed, Eval: train.EvalConfig{}}
	note := fmt.Sprintf("%s, %d sites (label skew α=%g), %d rounds", m.Name(), sc.sites, sc.alpha, sc.rounds)
	if sc.dpEps > 0 {
		rows := make([]int, len(sites))
		for i, s := range sites {
			rows[i] = s.Rows
		}
		f, z, err := train.DPSGD(sc.local, train.DPSGDConfig{Epsilon: sc.dpEps, Delta: 1e-5, Clip: sc.dpClip, Rounds: sc.rounds}, rows)
		if err != nil {
			return train.Metrics{}, "", err
		}
		cfg.LocalFunc = f
		note += fmt.Sprintf(", DP-SGD ε=%g δ=1e-5 per site (noise multiplier %.3g, clip %g)", sc.dpEps, z, sc.dpClip)
	}
	res, err := train.Simulate(ctx, m, sites, &testSet.All, cfg)
	if err != nil {
		return train.Metrics{}, "", err
	}
	return res.Test.Metrics(), note, nil
}

// epochTimes measures one local epoch of each model on its dataset, with the
// gorgonia and hand-written MLP side by side.
func epochTimes(ctx context.Context, dir string, opt Options, emit func(Result)) error {
	bc, err := data.BreastCancer(dir)
	if err != nil {
		return err
	}
	dg, err := data.Digits(dir)
	if err != nil {
		return err
	}
	db, err := data.Diabetes(dir)
	if err != nil {
		return err
	}
	type job struct {
		name string
		m    func() (federated.Model, error)
		b    *federated.Batch
	}
	jobs := []job{
		{"epoch-logreg", func() (federated.Model, error) { return model.NewLogReg(30) }, &bc.All},
		{"epoch-softmax", func() (federated.Model, error) { return model.NewSoftmaxReg(64, 10) }, &dg.All},
		{"epoch-linreg", func() (federated.Model, error) { return model.NewLinReg(10) }, &db.All},
		{"epoch-mlp", func() (federated.Model, error) { return model.NewMLP(64, []int{32}, 10) }, &dg.All},
		{"epoch-mlp-gorgonia", func() (federated.Model, error) { return model.NewMLPGorgonia(64, []int{32}, 10) }, &dg.All},
	}
	var fns []timed
	var models []federated.Model
	for _, j := range jobs {
		m, err := j.m()
		if err != nil {
			return err
		}
		models = append(models, m)
		params := make([]float64, m.NumParams())
		m.Init(params, rand.New(rand.NewPCG(1, 1)))
		b := j.b
		cfg := train.LocalConfig{Optimizer: train.SGD, Epochs: 1, BatchSize: 32, LearningRate: 1e-4}
		fns = append(fns, func() {
			if _, err := train.Train(ctx, m, params, b, cfg, rand.New(rand.NewPCG(2, 2))); err != nil {
				panic(err) // the configuration is fixed and valid
			}
		})
	}
	reps := opt.reps()
	d, err := medians(ctx, reps, fns...)
	if err != nil {
		return err
	}
	for i, j := range jobs {
		r := Result{Suite: "federated", Case: j.name, N: j.b.Rows, Metric: "time", Value: d[i].Seconds(), Unit: "s",
			Note: fmt.Sprintf("%s, one epoch of mini-batch SGD (batch 32)", models[i].Name())}
		if j.name == "epoch-mlp" {
			r.Limit, r.Ratio = d[i+1].Seconds(), d[i+1].Seconds()/d[i].Seconds()
			r.Note += "; limit: the gorgonia MLP; ratio: gorgonia/hand-written"
		}
		emit(r)
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func round3(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int(x*1000+0.5)) / 1000
	}
	return out
}

func isNaNAll(v []float64) bool {
	for _, x := range v {
		if x == x {
			return false
		}
	}
	return true
}
