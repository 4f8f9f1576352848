package data

import (
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/federated"
)

// Stats are one site's (or several sites' combined) sufficient statistics
// for standardisation: the row count and, per feature, the sum and the sum of
// squares. They combine by addition, so the total over all sites can be
// computed by secure aggregation of Vector.
type Stats struct {
	// Count is the number of rows.
	Count int
	// Sum and SumSq hold, per feature, the sum of the values and of their
	// squares.
	Sum, SumSq []float64
}

// SiteStats computes the statistics of the rows of b.
func SiteStats(b *federated.Batch) Stats {
	s := Stats{Count: b.Rows, Sum: make([]float64, b.Cols), SumSq: make([]float64, b.Cols)}
	for r := range b.Rows {
		for j, v := range b.X[r*b.Cols : (r+1)*b.Cols] {
			s.Sum[j] += v
			s.SumSq[j] += v * v
		}
	}
	return s
}

// Features is the number of features s covers.
func (s Stats) Features() int { return len(s.Sum) }

// Add returns the combined statistics of s and o. The zero Stats is the
// identity, so totals can be accumulated from a zero value. It panics if both
// are non-zero and cover different numbers of features.
func (s Stats) Add(o Stats) Stats {
	if s.Count == 0 && s.Sum == nil {
		return o.clone()
	}
	if o.Count == 0 && o.Sum == nil {
		return s.clone()
	}
	if len(s.Sum) != len(o.Sum) || len(s.SumSq) != len(o.SumSq) {
		panic(fmt.Sprintf("data: Stats.Add: %d features and %d", len(s.Sum), len(o.Sum)))
	}
	out := Stats{Count: s.Count + o.Count, Sum: make([]float64, len(s.Sum)), SumSq: make([]float64, len(s.SumSq))}
	for j := range s.Sum {
		out.Sum[j] = s.Sum[j] + o.Sum[j]
		out.SumSq[j] = s.SumSq[j] + o.SumSq[j]
	}
	return out
}

func (s Stats) clone() Stats {
	return Stats{Count: s.Count, Sum: append([]float64(nil), s.Sum...), SumSq: append([]float64(nil), s.SumSq...)}
}

// StatsVectorLen is the length of Stats.Vector for the given number of
// features: 1 + 2*features.
func StatsVectorLen(features int) int { return 1 + 2*features }

// Vector encodes s as one flat vector, [Count, Sum..., SumSq...], so that the
// element-wise sum of the sites' vectors (as secure aggregation computes it)
// is the Vector of the combined Stats.
func (s Stats) Vector() []float64 {
	v := make([]float64, 0, StatsVectorLen(len(s.Sum)))
	v = append(v, float64(s.Count))
	v = append(v, s.Sum...)
	return append(v, s.SumSq...)
}

// StatsFromVector decodes a vector made by Vector (or a sum of such vectors).
// The count is rounded to the nearest integer, to absorb fixed-point rounding
// in aggregation. It returns an error wrapping ErrStats if the length is not
// 1 + 2k, a value is not finite, or the count is negative.
func StatsFromVector(v []float64) (Stats, error) {
	if len(v) == 0 || len(v)%2 != 1 {
		return Stats{}, fmt.Errorf("%w: vector length %d is not 1+2k", ErrStats, len(v))
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Stats{}, fmt.Errorf("%w: element %d is %v", ErrStats, i, x)
		}
	}
	n := math.Round(v[0])
	if n < 0 || n > math.MaxInt32 {
		return Stats{}, fmt.Errorf("%w: count %v", ErrStats, v[0])
	}
	k := (len(v) - 1) / 2
	return Stats{
		Count: int(n),
		Sum:   append([]float64(nil), v[1:1+k]...),
		SumSq: append([]float64(nil), v[1+k:]...),
	}, nil
}

// Mean returns the per-feature means. It panics if Count is 0.
func (s Stats) Mean() []float64 {
	if s.Count == 0 {
		panic("data: Stats.Mean of zero rows")
	}
	m := make([]float64, len(s.Sum))
	for j, v := range s.Sum {
		m[j] = v / float64(s.Count)
	}
	return m
}

// Variance returns the per-feature population variances (dividing by Count),
// clamped at 0 against rounding. It panics if Count is 0.
func (s Stats) Variance() []float64 {
	if s.Count == 0 {
		panic("data: Stats.Variance of zero rows")
	}
	n := float64(s.Count)
	v := make([]float64, len(s.Sum))
	for j := range s.Sum {
		v[j] = max((s.SumSq[j]-s.Sum[j]*s.Sum[j]/n)/n, 0)
	}
	return v
}

// DefaultVarianceFloor is the relative variance floor NewStandardizer uses
// when given floor <= 0.
const DefaultVarianceFloor = 1e-10

// Standardizer maps each feature x to (x - Mean) / Std.
type Standardizer struct {
	// Mean and Std hold, per feature, the value subtracted and the divisor.
	Mean, Std []float64
}

// NewStandardizer builds the standardizer of the (combined) statistics s. A
// feature whose variance is at most floor*(1+mean²) is treated as constant:
// its Std is 1, so it standardises to x - mean (0 for the constant itself),
// rather than being blown up by a near-zero divisor. floor <= 0 means
// DefaultVarianceFloor. It returns an error wrapping ErrStats if s has no
// rows or inconsistent lengths.
func NewStandardizer(s Stats, floor float64) (*Standardizer, error) {
	if s.Count <= 0 {
		return nil, fmt.Errorf("%w: no rows", ErrStats)
	}
	if len(s.Sum) != len(s.SumSq) {
		return nil, fmt.Errorf("%w: %d sums and %d sums of squares", ErrStats, len(s.Sum), len(s.SumSq))
	}
	if floor <= 0 {
		floor = DefaultVarianceFloor
	}
	mean, vr := s.Mean(), s.Variance()
	std := make([]float64, len(vr))
	for j, v := range vr {
		if v <= floor*(1+mean[j]*mean[j]) {
			std[j] = 1
		} else {
			std[j] = math.Sqrt(v)
		}
	}
	return &Standardizer{Mean: mean, Std: std}, nil
}

// Transform standardises b's features in place. It panics if b.Cols !=
// len(z.Mean).
func (z *Standardizer) Transform(b *federated.Batch) {
	if b.Cols != len(z.Mean) {
		panic(fmt.Sprintf("data: Standardizer.Transform: batch has %d features, standardizer %d", b.Cols, len(z.Mean)))
	}
	for r := range b.Rows {
		row := b.X[r*b.Cols : (r+1)*b.Cols]
		for j := range row {
			row[j] = (row[j] - z.Mean[j]) / z.Std[j]
		}
	}
}
