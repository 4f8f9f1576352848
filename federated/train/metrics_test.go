package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

func TestAUCKnown(t *testing.T) {
	for _, tc := range []struct {
		name           string
		scores, labels []float64
		want           float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []float64{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []float64{1, 0, 1, 0}, 0.5},
		// Pairs (pos, neg): (0.35 vs 0.1 ✓, 0.35 vs 0.4 ✗, 0.8 ✓✓) → 3/4.
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}, 0.75},
		// One tie between a positive and a negative counts ½: (1 + 0.5 + 1 + 1)/4.
		{"tie", []float64{0.2, 0.6, 0.6, 0.9}, []float64{0, 0, 1, 1}, 0.875},
	} {
		if got := AUC(tc.scores, tc.labels); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("%s: AUC = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := AUC([]float64{0.1, 0.2}, []float64{1, 1}); !math.IsNaN(got) {
		t.Errorf("one class: AUC = %v, want NaN", got)
	}
	// A random ranking of many rows is near ½.
	rng := newRand(30)
	scores, labels := make([]float64, 20000), make([]float64, 20000)
	for i := range scores {
		scores[i] = rng.Float64()
		labels[i] = float64(rng.IntN(2))
	}
	if got := AUC(scores, labels); math.Abs(got-0.5) > 0.015 {
		t.Errorf("random: AUC = %v, want about 0.5", got)
	}
}

// TestHistogramAUC: the AUC of summed per-site histograms equals the rank
// AUC of the union when scores fall on bin centres, and is close otherwise.
func TestHistogramAUC(t *testing.T) {
	const bins = 50
	rng := newRand(31)
	var allS, allY []float64
	pos, neg := make([]int64, bins), make([]int64, bins)
	var exactS []float64
	for site := 0; site < 3; site++ {
		sp, sn := make([]int64, bins), make([]int64, bins)
		for i := 0; i < 200+100*site; i++ {
			y := float64(rng.IntN(2))
			s := min(max(0.5+0.2*(y-0.5)+0.25*rng.NormFloat64(), 0), 1)
			b := ScoreBin(s, bins)
			if y == 1 {
				sp[b]++
			} else {
				sn[b]++
			}
			allS = append(allS, s)
			allY = append(allY, y)
			exactS = append(exactS, (float64(b)+0.5)/bins)
		}
		for b := range sp {
			pos[b] += sp[b]
			neg[b] += sn[b]
		}
	}
	got := HistogramAUC(pos, neg)
	if want := AUC(exactS, allY); math.Abs(got-want) > 1e-12 {
		t.Errorf("histogram AUC %v, rank AUC of binned scores %v", got, want)
	}
	if want := AUC(allS, allY); math.Abs(got-want) > 0.01 {
		t.Errorf("histogram AUC %v, exact %v", got, want)
	}
	if got := HistogramAUC([]int64{0, 3}, []int64{2, 0}); got != 1 {
		t.Errorf("perfect histogram: %v", got)
	}
	if got := HistogramAUC([]int64{3, 0}, []int64{0, 2}); got != 0 {
		t.Errorf("inverted histogram: %v", got)
	}
	if got := HistogramAUC([]int64{0, 0}, []int64{1, 2}); !math.IsNaN(got) {
		t.Errorf("no positives: %v", got)
	}
}

func TestScoreBin(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want int
	}{{0, 0}, {-1, 0}, {math.NaN(), 0}, {0.0999, 0}, {0.1, 1}, {0.95, 9}, {1, 9}, {7, 9}} {
		if got := ScoreBin(tc.s, 10); got != tc.want {
			t.Errorf("ScoreBin(%v) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestConfusionAndAccuracy(t *testing.T) {
	scores := []float64{0.9, 0.6, 0.4, 0.1, 0.5, 0.2, 0.7}
	labels := []float64{1, 0, 1, 0, 1, 0, 1}
	want := BinaryCounts{TP: 3, FP: 1, TN: 2, FN: 1}
	if got := Confusion(scores, labels, 0.5); got != want {
		t.Errorf("Confusion = %+v, want %+v", got, want)
	}
	if got := Accuracy(scores, 1, labels); got != 5.0/7 {
		t.Errorf("binary accuracy %v", got)
	}
	out := []float64{0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.3, 0.4, 0.3}
	if got := Accuracy(out, 3, []float64{0, 1, 1}); got != 2.0/3 {
		t.Errorf("multiclass accuracy %v", got)
	}
}

// TestEvaluateCounts: Evaluate's counts for a binary model match the counts
// computed directly, and summing per-site counts (Add, or Vector sums)
// equals evaluating the union.
func TestEvaluateCounts(t *testing.T) {
	m := logReg{linReg{d: 3}}
	params := []float64{1.5, -1, 0.5, 0.2}
	rng := newRand(32)
	all := logisticData(rng, 300, []float64{1, -1, 1}, 0)
	sites := []*federated.Batch{}
	for _, r := range [][2]int{{0, 50}, {50, 170}, {170, 300}} {
		b := all.Slice(r[0], r[1])
		sites = append(sites, &b)
	}
	whole, err := Evaluate(m, params, all, EvalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, all.Rows)
	m.Predict(params, all, out)
	if got, want := whole.Binary(), Confusion(out, all.Y, 0.5); got != want {
		t.Errorf("Evaluate confusion %+v, direct %+v", got, want)
	}
	met := whole.Metrics()
	if met.N != 300 || met.Accuracy != Accuracy(out, 1, all.Y) || !near(met.Loss, m.Loss(params, all, nil), 1e-12) {
		t.Errorf("metrics %+v", met)
	}
	if auc := AUC(out, all.Y); math.Abs(met.AUC-auc) > 0.005 {
		t.Errorf("histogram AUC %v, exact %v", met.AUC, auc)
	}

	fed, err := EvaluateSites(m, params, sites, EvalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, len(whole.Vector()))
	for _, s := range sites {
		c, _ := Evaluate(m, params, s, EvalConfig{})
		for i, v := range c.Vector() {
			vec[i] += v
		}
	}
	viaVec := NewCounts(1, EvalConfig{})
	if err := viaVec.SetVector(vec); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Counts{"Add": fed, "Vector": viaVec} {
		if c.N != whole.N || !slices.Equal(c.Confusion, whole.Confusion) || !slices.Equal(c.Pos, whole.Pos) ||
			!slices.Equal(c.Neg, whole.Neg) || !near(c.LossSum, whole.LossSum, 1e-12) {
			t.Errorf("%s: federated counts differ from the union's", name)
		}
	}
	if err := viaVec.SetVector(vec[1:]); !errors.Is(err, ErrShape) {
		t.Errorf("short vector: %v", err)
	}
	other := NewCounts(3, EvalConfig{})
	if err := fed.Add(other); !errors.Is(err, ErrShape) {
		t.Errorf("mismatched add: %v", err)
	}
}

// fixedModel predicts fixed outputs, for exact multiclass counts.
type fixedModel struct {
	out []float64
	k   int
}

func (f fixedModel) Name() string                                              { return "fixed" }
func (f fixedModel) NumParams() int                                            { return 0 }
func (f fixedModel) Init([]float64, *rand.Rand)                                {}
func (f fixedModel) Loss(_ []float64, b *federated.Batch, _ []float64) float64 { return 0.5 }
func (f fixedModel) ExampleGrads([]float64, *federated.Batch, []float64)       {}
func (f fixedModel) Outputs() int                                              { return f.k }
func (f fixedModel) Predict(_ []float64, b *federated.Batch, out []float64)    { copy(out, f.out) }

func TestEvaluateMulticlassAndRegression(t *testing.T) {
	m := fixedModel{k: 3, out: []float64{
		0.8, 0.1, 0.1, // → 0
		0.1, 0.7, 0.2, // → 1
		0.3, 0.3, 0.4, // → 2
		0.5, 0.4, 0.1, // → 0
	}}
	b := &federated.Batch{X: make([]float64, 4), Y: []float64{0, 2, 2, 1}, Rows: 4, Cols: 1}
	c, err := Evaluate(m, nil, b, EvalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 0, 0, 1, 0, 0, 0, 1, 1}
	if !slices.Equal(c.Confusion, want) || c.Pos != nil {
		t.Errorf("confusion %v, want %v", c.Confusion, want)
	}
	if met := c.Metrics(); met.Accuracy != 0.5 || met.Loss != 0.5 || !math.IsNaN(met.AUC) {
		t.Errorf("metrics %+v", met)
	}
	b.Y[0] = 3
	if _, err := Evaluate(m, nil, b, EvalConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("label out of range: %v", err)
	}
	b.Y[0] = 0.5
	if _, err := Evaluate(m, nil, b, EvalConfig{}); !errors.Is(err, ErrConfig) {
		t.Errorf("fractional label: %v", err)
	}

	r := linReg{d: 1}
	rb := linearData(newRand(33), 10, []float64{1}, 0, 1)
	rc, err := Evaluate(r, []float64{1, 0}, rb, EvalConfig{Regression: true})
	if err != nil {
		t.Fatal(err)
	}
	if met := rc.Metrics(); rc.Classes != 0 || met.N != 10 || !math.IsNaN(met.Accuracy) || !near(met.Loss, r.Loss([]float64{1, 0}, rb, nil), 1e-12) {
		t.Errorf("regression metrics %+v", met)
	}
	var total Counts
	for i := 0; i < 2; i++ {
		if err := total.Add(rc); err != nil {
			t.Fatal(err)
		}
	}
	if total.N != 20 || !near(total.LossSum, 2*rc.LossSum, 1e-15) {
		t.Errorf("regression sums %+v", total)
	}
}

func BenchmarkAUC(b *testing.B) {
	const n = 10000
	rng := newRand(1)
	scores, labels := make([]float64, n), make([]float64, n)
	for i := range scores {
		scores[i] = rng.Float64()
		labels[i] = float64(rng.IntN(2))
	}
	b.SetBytes(n * 16)
	for b.Loop() {
		AUC(scores, labels)
	}
}
