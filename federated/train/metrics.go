package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/cohort-mpc/cohort/federated"
)

// DefaultBins is the number of score-histogram bins Evaluate uses for the
// AUC of a binary model when EvalConfig.Bins is 0.
const DefaultBins = 1000

// AUC returns the area under the ROC curve of binary scores against labels
// (1 positive, anything else negative), computed from ranks (the
// Mann–Whitney statistic), ties counting one half. It is NaN when either
// class is absent. It panics if len(scores) != len(labels).
func AUC(scores, labels []float64) float64 {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("train: AUC of %d scores and %d labels", len(scores), len(labels)))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		sa, sb := scores[a], scores[b]
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	// Walk groups of tied scores; each positive beats the negatives below
	// its group and ties with half of those inside it.
	var pos, neg, below, wins float64
	for lo := 0; lo < len(idx); {
		hi := lo
		var p, n float64
		for hi < len(idx) && scores[idx[hi]] == scores[idx[lo]] {
			if labels[idx[hi]] == 1 {
				p++
			} else {
				n++
			}
			hi++
		}
		wins += p * (below + n/2)
		below += n
		pos += p
		neg += n
		lo = hi
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return wins / (pos * neg)
}

// ScoreBin returns the bin of a score in [0, 1] among bins equal bins;
// scores outside are clamped and NaN falls in bin 0. It panics if bins < 1.
func ScoreBin(score float64, bins int) int {
	if bins < 1 {
		panic("train: ScoreBin with no bins")
	}
	if !(score > 0) {
		return 0
	}
	b := int(score * float64(bins))
	return min(b, bins-1)
}

// HistogramAUC returns the AUC from per-bin counts of positive and negative
// scores (bins in increasing score order), scores within a bin counting as
// tied. Because it needs only counts, the histograms of several sites can be
// summed first. It is NaN when either class is absent, and panics if
// len(pos) != len(neg).
func HistogramAUC(pos, neg []int64) float64 {
	if len(pos) != len(neg) {
		panic(fmt.Sprintf("train: histogram of %d positive and %d negative bins", len(pos), len(neg)))
	}
	var p, n, below, wins float64
	for i := range pos {
		bp, bn := float64(pos[i]), float64(neg[i])
		wins += bp * (below + bn/2)
		below += bn
		p += bp
		n += bn
	}
	if p == 0 || n == 0 {
		return math.NaN()
	}
	return wins / (p * n)
}

// BinaryCounts are the confusion counts of a binary classifier.
type BinaryCounts struct {
	TP, FP, TN, FN int64
}

// Confusion counts binary predictions: a score ≥ threshold predicts class 1;
// a label of 1 is positive, anything else negative. It panics if
// len(scores) != len(labels).
func Confusion(scores, labels []float64, threshold float64) BinaryCounts {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("train: confusion of %d scores and %d labels", len(scores), len(labels)))
	}
	var c BinaryCounts
	for i, s := range scores {
		switch pred, pos := s >= threshold, labels[i] == 1; {
		case pred && pos:
			c.TP++
		case pred:
			c.FP++
		case pos:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Accuracy returns the fraction of rows whose predicted class equals the
// label: out holds outputs values per row, as Model.Predict writes them (one
// probability of class 1 thresholded at 0.5 when outputs is 1, the argmax
// otherwise). It is NaN for no rows and panics if
// len(out) != outputs·len(labels).
func Accuracy(out []float64, outputs int, labels []float64) float64 {
	if outputs < 1 || len(out) != outputs*len(labels) {
		panic(fmt.Sprintf("train: accuracy of %d outputs (%d per row) and %d labels", len(out), outputs, len(labels)))
	}
	if len(labels) == 0 {
		return math.NaN()
	}
	correct := 0
	for i, y := range labels {
		if float64(predictClass(out[i*outputs:(i+1)*outputs])) == y {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

func predictClass(o []float64) int {
	if len(o) == 1 {
		if o[0] >= 0.5 {
			return 1
		}
		return 0
	}
	best := 0
	for k := 1; k < len(o); k++ {
		if o[k] > o[best] {
			best = k
		}
	}
	return best
}

// EvalConfig configures Evaluate.
type EvalConfig struct {
	// Regression marks a one-output model as a regression: only the loss is
	// counted. Otherwise one output means binary classification.
	Regression bool
	// Bins is the number of score-histogram bins for a binary model's AUC;
	// 0 means DefaultBins.
	Bins int
}

// Counts are a site's evaluation results as sums, so that the counts of
// several sites combine by addition (Add) — in plain or secure aggregation
// (Vector, SetVector) — into federated metrics.
type Counts struct {
	// Classes is 0 for a regression, 2 for a binary classifier and the
	// number of classes otherwise.
	Classes int
	// N is the number of rows.
	N int64
	// LossSum is the sum of the per-row losses.
	LossSum float64
	// Confusion is Classes×Classes, row-major: Confusion[t*Classes+p] rows
	// of true class t predicted as p.
	Confusion []int64
	// Pos and Neg are histograms of the scores of positive and negative rows
	// of a binary classifier (nil otherwise), for the AUC.
	Pos, Neg []int64
}

// NewCounts returns zero counts of the shape Evaluate produces for a model
// with the given number of outputs.
func NewCounts(outputs int, cfg EvalConfig) Counts {
	switch {
	case outputs == 1 && cfg.Regression:
		return Counts{}
	case outputs == 1:
		bins := cfg.Bins
		if bins <= 0 {
			bins = DefaultBins
		}
		return Counts{Classes: 2, Confusion: make([]int64, 4), Pos: make([]int64, bins), Neg: make([]int64, bins)}
	}
	return Counts{Classes: outputs, Confusion: make([]int64, outputs*outputs)}
}

// Evaluate returns the counts of m with params over b. Labels of a
// classifier must be class indices (0 or 1 for a binary model).
func Evaluate(m federated.Model, params []float64, b *federated.Batch, cfg EvalConfig) (Counts, error) {
	k := m.Outputs()
	if k < 1 || (cfg.Regression && k != 1) {
		return Counts{}, fmt.Errorf("%w: %d outputs (regression %v)", ErrConfig, k, cfg.Regression)
	}
	if len(params) != m.NumParams() {
		return Counts{}, fmt.Errorf("%w: %d parameters for model %s with %d", ErrConfig, len(params), m.Name(), m.NumParams())
	}
	c := NewCounts(k, cfg)
	if b == nil || b.Rows == 0 {
		return c, nil
	}
	if len(b.X) < b.Rows*b.Cols || len(b.Y) < b.Rows {
		return Counts{}, fmt.Errorf("%w: batch of %d×%d with %d values and %d targets", ErrShape, b.Rows, b.Cols, len(b.X), len(b.Y))
	}
	c.N = int64(b.Rows)
	c.LossSum = m.Loss(params, b, nil) * float64(b.Rows)
	if c.Classes == 0 {
		return c, nil
	}
	out := make([]float64, b.Rows*k)
	m.Predict(params, b, out)
	for i := 0; i < b.Rows; i++ {
		y := b.Y[i]
		t := int(y)
		if float64(t) != y || t < 0 || t >= c.Classes {
			return Counts{}, fmt.Errorf("%w: label %v of row %d is not a class of %d", ErrConfig, y, i, c.Classes)
		}
		o := out[i*k : (i+1)*k]
		c.Confusion[t*c.Classes+predictClass(o)]++
		if c.Pos != nil {
			bin := ScoreBin(o[0], len(c.Pos))
			if t == 1 {
				c.Pos[bin]++
			} else {
				c.Neg[bin]++
			}
		}
	}
	return c, nil
}

// Add adds o into c. Zero counts (Classes 0, no rows, no slices) take o's
// shape; otherwise the shapes must match, or it returns an error wrapping
// ErrShape and leaves c unchanged.
func (c *Counts) Add(o Counts) error {
	if c.Classes == 0 && c.N == 0 && c.Confusion == nil && c.Pos == nil {
		lossSum := c.LossSum
		*c = Counts{Classes: o.Classes, N: o.N, LossSum: lossSum + o.LossSum,
			Confusion: slices.Clone(o.Confusion), Pos: slices.Clone(o.Pos), Neg: slices.Clone(o.Neg)}
		return nil
	}
	if c.Classes != o.Classes || len(c.Confusion) != len(o.Confusion) || len(c.Pos) != len(o.Pos) || len(c.Neg) != len(o.Neg) {
		return fmt.Errorf("%w: counts of %d classes and %d bins, and of %d classes and %d bins", ErrShape, c.Classes, len(c.Pos), o.Classes, len(o.Pos))
	}
	c.N += o.N
	c.LossSum += o.LossSum
	for i, v := range o.Confusion {
		c.Confusion[i] += v
	}
	for i := range o.Pos {
		c.Pos[i] += o.Pos[i]
		c.Neg[i] += o.Neg[i]
	}
	return nil
}

// Vector returns the counts as one vector for a (secure) sum:
// N, LossSum, Confusion, Pos, Neg. The sum of several sites' vectors, given
// to SetVector of counts of the same shape, equals their Add.
func (c *Counts) Vector() []float64 {
	v := make([]float64, 0, 2+len(c.Confusion)+len(c.Pos)+len(c.Neg))
	v = append(v, float64(c.N), c.LossSum)
	for _, s := range [][]int64{c.Confusion, c.Pos, c.Neg} {
		for _, x := range s {
			v = append(v, float64(x))
		}
	}
	return v
}

// SetVector sets c from a vector laid out as Vector lays out counts of c's
// shape. Counts are rounded to the nearest integer (a fixed-point sum may
// carry tiny errors). It returns an error wrapping ErrShape if the length
// does not fit.
func (c *Counts) SetVector(v []float64) error {
	if len(v) != 2+len(c.Confusion)+len(c.Pos)+len(c.Neg) {
		return fmt.Errorf("%w: vector of %d for counts of %d classes and %d bins", ErrShape, len(v), c.Classes, len(c.Pos))
	}
	c.N = int64(math.Round(v[0]))
	c.LossSum = v[1]
	v = v[2:]
	for _, s := range [][]int64{c.Confusion, c.Pos, c.Neg} {
		for i := range s {
			s[i] = int64(math.Round(v[i]))
		}
		v = v[len(s):]
	}
	return nil
}

// Binary returns the confusion counts of a binary classifier (class 1
// positive); it is zero for other counts.
func (c *Counts) Binary() BinaryCounts {
	if c.Classes != 2 || len(c.Confusion) != 4 {
		return BinaryCounts{}
	}
	return BinaryCounts{TN: c.Confusion[0], FP: c.Confusion[1], FN: c.Confusion[2], TP: c.Confusion[3]}
}

// Metrics are evaluation results.
type Metrics struct {
	// N is the number of rows evaluated.
	N int64
	// Loss is the mean loss.
	Loss float64
	// Accuracy is the fraction of rows classified correctly (NaN for a
	// regression or no rows).
	Accuracy float64
	// AUC is the binary AUC from the score histogram (NaN unless binary
	// with both classes present).
	AUC float64
}

// Metrics returns the metrics the counts give.
func (c *Counts) Metrics() Metrics {
	m := Metrics{N: c.N, Loss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN()}
	if c.N == 0 {
		return m
	}
	m.Loss = c.LossSum / float64(c.N)
	if c.Classes > 0 {
		var correct int64
		for k := 0; k < c.Classes; k++ {
			correct += c.Confusion[k*c.Classes+k]
		}
		m.Accuracy = float64(correct) / float64(c.N)
	}
	if c.Pos != nil {
		m.AUC = HistogramAUC(c.Pos, c.Neg)
	}
	return m
}

// EvaluateSites evaluates m on every site's batch and returns the sum of
// their counts, as a federated evaluation with plain aggregation would.
func EvaluateSites(m federated.Model, params []float64, sites []*federated.Batch, cfg EvalConfig) (Counts, error) {
	var total Counts
	for k, b := range sites {
		c, err := Evaluate(m, params, b, cfg)
		if err != nil {
			return Counts{}, fmt.Errorf("site %d: %w", k, err)
		}
		if err := total.Add(c); err != nil {
			return Counts{}, err
		}
	}
	return total, nil
}
