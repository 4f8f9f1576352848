package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// maxResample bounds how often LabelSkew redraws a partition whose smallest
// site is below the requested minimum.
const maxResample = 1000

// IID partitions rows 0..n-1 uniformly at random into sites parts whose sizes
// differ by at most one. Every row is in exactly one part; each part is
// sorted. It returns an error wrapping ErrPartition if sites < 1 or n < sites.
func IID(n, sites int, rng *rand.Rand) ([][]int, error) {
	if sites < 1 || n < sites {
		return nil, fmt.Errorf("%w: %d rows into %d sites", ErrPartition, n, sites)
	}
	perm := rng.Perm(n)
	parts := make([][]int, sites)
	lo := 0
	for k := range sites {
		hi := lo + n/sites
		if k < n%sites {
			hi++
		}
		parts[k] = perm[lo:hi:hi]
		slices.Sort(parts[k])
		lo = hi
	}
	return parts, nil
}

// LabelSkew partitions the rows of a classification dataset with labels y
// (class indices 0, 1, ...) into sites parts with label skew: for each class,
// the site proportions are drawn from a symmetric Dirichlet(alpha) and that
// class's rows are shuffled and dealt out in those proportions (Hsu et al.
// 2019; Li et al. 2022). Small alpha (0.1) gives sites dominated by few
// classes, large alpha (100) nearly the global mix. The draw is repeated until
// every site has at least minSize rows; after 1000 attempts it gives up with
// ErrPartition. Every row is in exactly one part; each part is sorted.
func LabelSkew(y []float64, sites int, alpha float64, minSize int, rng *rand.Rand) ([][]int, error) {
	if sites < 1 || !(alpha > 0) || math.IsInf(alpha, 0) || minSize < 0 || minSize*sites > len(y) {
		return nil, fmt.Errorf("%w: %d rows into %d sites of at least %d, alpha %v", ErrPartition, len(y), sites, minSize, alpha)
	}
	var byClass [][]int
	for i, v := range y {
		k := int(v)
		if float64(k) != v || k < 0 || k > 1<<20 {
			return nil, fmt.Errorf("%w: label %v of row %d is not a class index", ErrPartition, v, i)
		}
		for len(byClass) <= k {
			byClass = append(byClass, nil)
		}
		byClass[k] = append(byClass[k], i)
	}
	p := make([]float64, sites)
	for range maxResample {
		parts := make([][]int, sites)
		for _, rows := range byClass {
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			dirichlet(p, alpha, rng)
			deal(parts, rows, p)
		}
		if minLen(parts) >= minSize {
			for _, part := range parts {
				slices.Sort(part)
			}
			return parts, nil
		}
	}
	return nil, fmt.Errorf("%w: no label-skewed split of %d rows into %d sites of at least %d rows in %d draws (alpha %v)", ErrPartition, len(y), sites, minSize, maxResample, alpha)
}

// QuantitySkew partitions rows 0..n-1 into sites parts of skewed sizes: each
// site first gets minSize rows, and the rest are split in proportions drawn
// from a symmetric Dirichlet(alpha). Rows are assigned at random, so the
// label mix of each site is IID. Every row is in exactly one part; each part
// is sorted. It returns an error wrapping ErrPartition if sites < 1,
// alpha <= 0, or n < sites*minSize.
func QuantitySkew(n, sites int, alpha float64, minSize int, rng *rand.Rand) ([][]int, error) {
	if sites < 1 || !(alpha > 0) || math.IsInf(alpha, 0) || minSize < 0 || n < minSize*sites {
		return nil, fmt.Errorf("%w: %d rows into %d sites of at least %d, alpha %v", ErrPartition, n, sites, minSize, alpha)
	}
	perm := rng.Perm(n)
	p := make([]float64, sites)
	dirichlet(p, alpha, rng)
	parts := make([][]int, sites)
	for k := range parts {
		parts[k] = append(parts[k], perm[k*minSize:(k+1)*minSize]...)
	}
	deal(parts, perm[sites*minSize:], p)
	for _, part := range parts {
		slices.Sort(part)
	}
	return parts, nil
}

func minLen(parts [][]int) int {
	m := math.MaxInt
	for _, p := range parts {
		m = min(m, len(p))
	}
	return m
}

// deal appends rows to parts, consecutive runs in proportions p (which sum
// to 1): part k gets rows[round(n*P_{k-1}) : round(n*P_k)] where P is the
// cumulative sum, so every row goes to exactly one part.
func deal(parts [][]int, rows []int, p []float64) {
	n := len(rows)
	lo, cum := 0, 0.0
	for k := range parts {
		cum += p[k]
		hi := int(math.Round(cum * float64(n)))
		if k == len(parts)-1 || hi > n {
			hi = n
		}
		hi = max(hi, lo)
		parts[k] = append(parts[k], rows[lo:hi]...)
		lo = hi
	}
}

// dirichlet sets p to a draw from the symmetric Dirichlet(alpha) over len(p)
// categories, computed from log-Gamma draws so that small alpha does not
// underflow.
func dirichlet(p []float64, alpha float64, rng *rand.Rand) {
	m := math.Inf(-1)
	for i := range p {
		p[i] = logGamma(alpha, rng)
		m = max(m, p[i])
	}
	sum := 0.0
	for i := range p {
		p[i] = math.Exp(p[i] - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}

// logGamma returns the logarithm of a draw from Gamma(shape, 1), by
// Marsaglia and Tsang (2000); for shape < 1 it uses
// Gamma(a) = Gamma(a+1) * U^(1/a), in log space.
func logGamma(shape float64, rng *rand.Rand) float64 {
	boost := 0.0
	if shape < 1 {
		boost = math.Log(1-rng.Float64()) / shape
		shape++
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return math.Log(d*v) + boost
		}
	}
}
