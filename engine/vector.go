package engine

import (
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/train"
)

// What a site contributes to a round's aggregate, and how it is laid out.
//
// A training round's vector has two parts. The real part, d+1 values:
// w·Δ (the weighted model update) and w·min(loss, LossCap)/LossCap, where
// w = TrainRows/Scale ≤ 1 (or 1/Scale·Scale = 1 with site-level DP, whose
// updates are weighted equally). The count part: the evaluation counts of
// the global model the site received, on the site's held-out rows
// (train.Counts.Vector with EvalBins score bins): rows, loss sum, confusion
// matrix and score histograms. Counts are integers, except the loss sum,
// which is carried as round(LossSum·2^8).
//
// In secagg mode the real part is quantised with the round's fixed-point
// encoding and the integer part rides in the same ring as plain integers,
// so the sums of counts are exact. In mhe mode every value is a real slot:
// counts are divided by Scale (the loss sum by Scale·LossCap·2^8) so that
// sums stay within the ciphertext's range, and rounded after release. In
// plain mode the vector is sent as it is.
//
// The statistics round (PurposeStats) carries data.Stats.Vector as
// fixed-point integers, round(x·2^StatsFracBits), in a 64-bit ring.
const (
	// LossCap bounds the per-row loss carried in a round's aggregate.
	LossCap = 16.0
	// EvalBins is the number of score-histogram bins for the AUC.
	EvalBins = 100
	// StatsFracBits is the fraction bits of the statistics round.
	StatsFracBits = 16
	lossFracBits  = 8
)

// layout describes a round's vector.
type layout struct {
	params int // d, 0 for an eval round
	real   int // params+1 for a training round, 0 otherwise
	counts int // length of train.Counts.Vector
}

func trainLayout(params, outputs int, regression bool, purpose Purpose) layout {
	c := train.NewCounts(outputs, evalConfig(regression))
	l := layout{counts: len(c.Vector())}
	if purpose == PurposeTrain {
		l.params, l.real = params, params+1
	}
	return l
}

func (l layout) len() int { return l.real + l.counts }

func evalConfig(regression bool) train.EvalConfig {
	return train.EvalConfig{Regression: regression, Bins: EvalBins}
}

// realPart returns w·Δ and the weighted, capped loss.
func realPart(u *train.Update, w float64) []float64 {
	v := make([]float64, len(u.Delta)+1)
	for i, x := range u.Delta {
		v[i] = w * x
	}
	v[len(u.Delta)] = w * min(math.Max(u.Loss, 0), LossCap) / LossCap
	return v
}

// countInts returns the counts as integers (loss sum in 2^-8 units).
func countInts(c *train.Counts) []int64 {
	v := c.Vector()
	out := make([]int64, len(v))
	for i, x := range v {
		if i == 1 {
			x = math.Min(x, LossCap*float64(c.N)) * (1 << lossFracBits)
		}
		out[i] = int64(math.Round(x))
	}
	return out
}

// countsFromSums turns summed count integers back into counts of shape like.
func countsFromSums(like train.Counts, sums []float64) (train.Counts, error) {
	v := make([]float64, len(sums))
	copy(v, sums)
	if len(v) > 1 {
		v[1] /= 1 << lossFracBits
	}
	c := train.NewCounts(outputsOf(like), train.EvalConfig{Regression: like.Classes == 0, Bins: len(like.Pos)})
	if err := c.SetVector(v); err != nil {
		return train.Counts{}, err
	}
	return c, nil
}

func outputsOf(c train.Counts) int {
	if c.Classes <= 2 {
		return 1
	}
	return c.Classes
}

// statsInts encodes site statistics as fixed-point integers.
func statsInts(s data.Stats) []int64 {
	v := s.Vector()
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(math.Round(x * (1 << StatsFracBits)))
	}
	return out
}

func statsFromSums(sums []float64) (data.Stats, error) {
	v := make([]float64, len(sums))
	for i, x := range sums {
		v[i] = x / (1 << StatsFracBits)
	}
	s, err := data.StatsFromVector(v)
	if err != nil {
		return data.Stats{}, fmt.Errorf("engine: statistics round: %w", err)
	}
	return s, nil
}

// featureCount is the number of features a schema gives each row.
func featureCount(s data.Schema) int {
	if s.Features != nil {
		return len(s.Features)
	}
	n := 0
	for _, c := range s.Columns {
		if c.Name != s.Label {
			n++
		}
	}
	return n
}
