package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cohort-mpc/cohort/federated"
)

// TrainTest splits the rows of b at random into a training and a test batch
// (copies), with round(testFraction*Rows) test rows, kept in [1, Rows-1] when
// 0 < testFraction < 1 and Rows >= 2. Rows keep their relative order. It
// returns an error wrapping ErrPartition if testFraction is not in [0, 1].
func TrainTest(b *federated.Batch, testFraction float64, rng *rand.Rand) (train, test federated.Batch, err error) {
	if !(testFraction >= 0 && testFraction <= 1) {
		return train, test, fmt.Errorf("%w: test fraction %v not in [0,1]", ErrPartition, testFraction)
	}
	perm := rng.Perm(b.Rows)
	nt := testCount(b.Rows, testFraction)
	tr, te := perm[nt:], perm[:nt]
	slices.Sort(tr)
	slices.Sort(te)
	return Gather(b, tr), Gather(b, te), nil
}

// StratifiedTrainTest is TrainTest for classification: b.Y holds class
// indices, and each class is split separately (round(testFraction*n_c) of
// its n_c rows go to the test set, at least one and at most n_c-1 when the
// class has two rows or more), so both sets keep the class mix. It returns an
// error wrapping ErrPartition if testFraction is not in [0, 1] or a label is
// not a class index.
func StratifiedTrainTest(b *federated.Batch, testFraction float64, rng *rand.Rand) (train, test federated.Batch, err error) {
	if !(testFraction >= 0 && testFraction <= 1) {
		return train, test, fmt.Errorf("%w: test fraction %v not in [0,1]", ErrPartition, testFraction)
	}
	var byClass [][]int
	for i, v := range b.Y[:b.Rows] {
		k := int(v)
		if float64(k) != v || k < 0 || k > 1<<20 {
			return train, test, fmt.Errorf("%w: label %v of row %d is not a class index", ErrPartition, v, i)
		}
		for len(byClass) <= k {
			byClass = append(byClass, nil)
		}
		byClass[k] = append(byClass[k], i)
	}
	var tr, te []int
	for _, rows := range byClass {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		nt := testCount(len(rows), testFraction)
		te = append(te, rows[:nt]...)
		tr = append(tr, rows[nt:]...)
	}
	slices.Sort(tr)
	slices.Sort(te)
	return Gather(b, tr), Gather(b, te), nil
}

func testCount(n int, frac float64) int {
	nt := int(math.Round(frac * float64(n)))
	if frac > 0 && frac < 1 && n >= 2 {
		nt = min(max(nt, 1), n-1)
	}
	return nt
}

// Split splits d into training and test datasets with StratifiedTrainTest if
// d is a classification dataset (Classes > 0), TrainTest otherwise.
func (d *Dataset) Split(testFraction float64, rng *rand.Rand) (train, test *Dataset, err error) {
	split := TrainTest
	if d.Classes > 0 {
		split = StratifiedTrainTest
	}
	tr, te, err := split(&d.All, testFraction, rng)
	if err != nil {
		return nil, nil, err
	}
	mk := func(b federated.Batch) *Dataset {
		return &Dataset{Features: d.Features, Classes: d.Classes, ClassNames: d.ClassNames, All: b}
	}
	return mk(tr), mk(te), nil
}
