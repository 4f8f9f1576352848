package data

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

// rowKeys identifies rows by their contents (the test batch has unique rows).
func rowKeys(b *federated.Batch) []float64 {
	k := make([]float64, b.Rows)
	for i := range b.Rows {
		k[i] = b.X[i*b.Cols]
	}
	return k
}

func testBatch(n int) federated.Batch {
	b := federated.Batch{X: make([]float64, 2*n), Y: make([]float64, n), Rows: n, Cols: 2}
	for i := range n {
		b.X[2*i], b.X[2*i+1] = float64(i), float64(-i)
		b.Y[i] = float64(i % 3)
		if i%10 == 0 {
			b.Y[i] = 3 // a rarer class
		}
	}
	return b
}

func TestTrainTest(t *testing.T) {
	for si, split := range []func(*federated.Batch, float64, *rand.Rand) (federated.Batch, federated.Batch, error){TrainTest, StratifiedTrainTest} {
		for _, n := range []int{0, 1, 2, 3, 10, 101} {
			for _, frac := range []float64{0, 0.01, 0.2, 0.5, 0.99, 1} {
				b := testBatch(n)
				tr, te, err := split(&b, frac, rand.New(rand.NewPCG(uint64(n), 1)))
				if err != nil {
					t.Fatal(err)
				}
				if tr.Rows+te.Rows != n || tr.Cols != 2 || te.Cols != 2 {
					t.Fatalf("n %d frac %v: %d + %d rows", n, frac, tr.Rows, te.Rows)
				}
				all := append(rowKeys(&tr), rowKeys(&te)...)
				slices.Sort(all)
				for i, v := range all {
					if v != float64(i) {
						t.Fatalf("n %d frac %v: rows %v", n, frac, all)
					}
				}
				for _, p := range []federated.Batch{tr, te} {
					for i := range p.Rows {
						r := int(p.X[2*i])
						if p.X[2*i+1] != -float64(r) || p.Y[i] != b.Y[r] {
							t.Fatal("row contents scrambled")
						}
					}
					if !slices.IsSorted(rowKeys(&p)) {
						t.Fatal("rows reordered")
					}
				}
				if si == 0 && 0 < frac && frac < 1 && n >= 2 && (tr.Rows == 0 || te.Rows == 0) {
					t.Fatalf("n %d frac %v: empty side", n, frac)
				}
			}
		}
	}
	b := testBatch(1000)
	tr, te, _ := TrainTest(&b, 0.2, rand.New(rand.NewPCG(1, 2)))
	if te.Rows != 200 || tr.Rows != 800 {
		t.Fatalf("%d/%d", tr.Rows, te.Rows)
	}
	_, te2, _ := TrainTest(&b, 0.2, rand.New(rand.NewPCG(1, 2)))
	_, te3, _ := TrainTest(&b, 0.2, rand.New(rand.NewPCG(1, 3)))
	if !slices.Equal(te.X, te2.X) || slices.Equal(te.X, te3.X) {
		t.Fatal("split is not determined by its seed")
	}
	for _, frac := range []float64{-0.1, 1.1, math.NaN()} {
		if _, _, err := TrainTest(&b, frac, rand.New(rand.NewPCG(1, 2))); !errors.Is(err, ErrPartition) {
			t.Errorf("frac %v: err = %v", frac, err)
		}
		if _, _, err := StratifiedTrainTest(&b, frac, rand.New(rand.NewPCG(1, 2))); !errors.Is(err, ErrPartition) {
			t.Errorf("frac %v: err = %v", frac, err)
		}
	}
	b.Y[5] = 0.5
	if _, _, err := StratifiedTrainTest(&b, 0.2, rand.New(rand.NewPCG(1, 2))); !errors.Is(err, ErrPartition) {
		t.Errorf("non-class label: err = %v", err)
	}
}

func TestStratifiedSplitKeepsClassMix(t *testing.T) {
	d, err := BreastCancer(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(5) {
		tr, te, err := d.Split(0.25, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		ct, cs := ClassCounts(tr.All.Y, 2), ClassCounts(te.All.Y, 2)
		// round(0.25*212) = 53, round(0.25*357) = 89.
		if cs[0] != 53 || cs[1] != 89 || ct[0] != 159 || ct[1] != 268 {
			t.Fatalf("train %v test %v", ct, cs)
		}
		if tr.Classes != 2 || te.ClassNames[1] != "benign" || len(te.Features) != 30 {
			t.Fatal("metadata lost")
		}
	}
	r, err := Diabetes(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := r.Split(0.2, rand.New(rand.NewPCG(1, 1)))
	if err != nil || te.All.Rows != 88 || tr.All.Rows != 354 {
		t.Fatalf("regression split: %v", err)
	}
}

func TestSubsetPartition(t *testing.T) {
	d, err := BreastCancer(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := LabelSkew(d.All.Y, 3, 0.5, 20, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	sites := d.Partition(parts)
	n := 0
	for k, s := range sites {
		n += s.All.Rows
		for j, i := range parts[k] {
			if !slices.Equal(s.All.Row(j), d.All.Row(i)) || s.All.Y[j] != d.All.Y[i] {
				t.Fatal("site row differs")
			}
		}
		if s.Classes != 2 {
			t.Fatal("metadata lost")
		}
	}
	if n != 569 {
		t.Fatalf("%d rows in sites", n)
	}
	// Gather copies.
	s := d.Subset([]int{0})
	s.All.X[0] = -1
	if d.All.X[0] == -1 {
		t.Fatal("Subset aliases")
	}
	mustPanic(t, "Gather", func() { Gather(&d.All, []int{569}) })
}
