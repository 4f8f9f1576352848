package data

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

func approxEq(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestStatsFederatedEqualsCentral: sums over a (skewed) split, combined with
// Add or through Vector sums, give the statistics of the whole data set.
func TestStatsFederatedEqualsCentral(t *testing.T) {
	for _, load := range []func(string) (*Dataset, error){BreastCancer, Digits, Diabetes} {
		d, err := load(testdataDir)
		if err != nil {
			t.Fatal(err)
		}
		whole := SiteStats(&d.All)
		parts, err := QuantitySkew(d.All.Rows, 4, 0.5, 1, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		var sum Stats
		vec := make([]float64, StatsVectorLen(d.All.Cols))
		for _, p := range parts {
			b := Gather(&d.All, p)
			s := SiteStats(&b)
			sum = sum.Add(s)
			for i, v := range s.Vector() {
				vec[i] += v
			}
		}
		fromVec, err := StatsFromVector(vec)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []Stats{sum, fromVec} {
			if got.Count != whole.Count || got.Features() != whole.Features() {
				t.Fatalf("count %d features %d, want %d %d", got.Count, got.Features(), whole.Count, whole.Features())
			}
			for j := range whole.Sum {
				if !approxEq(got.Sum[j], whole.Sum[j], 1e-12) || !approxEq(got.SumSq[j], whole.SumSq[j], 1e-12) {
					t.Fatalf("feature %d: sums %v %v, want %v %v", j, got.Sum[j], got.SumSq[j], whole.Sum[j], whole.SumSq[j])
				}
			}
		}
		// Standardise each site with the federated standardizer: the
		// union has mean ~0 and variance ~1 (0 for constant features).
		z, err := NewStandardizer(sum, 0)
		if err != nil {
			t.Fatal(err)
		}
		var after Stats
		for _, p := range parts {
			b := Gather(&d.All, p)
			z.Transform(&b)
			after = after.Add(SiteStats(&b))
		}
		mean, vr := after.Mean(), after.Variance()
		wv := whole.Variance()
		for j := range mean {
			wantVar := 1.0
			if wv[j] == 0 {
				wantVar = 0
			}
			if math.Abs(mean[j]) > 1e-9 || math.Abs(vr[j]-wantVar) > 1e-9 {
				t.Errorf("%q: feature %d: mean %v var %v after standardisation", d.Features[0], j, mean[j], vr[j])
			}
		}
	}
}

func TestStatsSmall(t *testing.T) {
	b := federated.Batch{X: []float64{1, 5, 2, 5, 3, 5, 6, 5}, Y: make([]float64, 4), Rows: 4, Cols: 2}
	s := SiteStats(&b)
	if s.Count != 4 || s.Sum[0] != 12 || s.SumSq[0] != 50 || s.Sum[1] != 20 || s.SumSq[1] != 100 {
		t.Fatalf("stats %+v", s)
	}
	if m, v := s.Mean(), s.Variance(); m[0] != 3 || v[0] != 3.5 || m[1] != 5 || v[1] != 0 {
		t.Fatalf("mean %v var %v", m, v)
	}
	z, err := NewStandardizer(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if z.Std[1] != 1 || z.Std[0] != math.Sqrt(3.5) {
		t.Fatalf("std %v", z.Std)
	}
	z.Transform(&b)
	if b.X[1] != 0 || b.X[0] != -2/math.Sqrt(3.5) {
		t.Fatalf("transformed %v", b.X)
	}
	// A larger floor treats the first feature as constant too.
	if z, _ := NewStandardizer(s, 1); z.Std[0] != 1 {
		t.Fatalf("std %v with floor 1", z.Std)
	}
	// Add does not alias its inputs; the zero value is the identity.
	sum := Stats{}.Add(s)
	sum.Sum[0] = 99
	if s.Sum[0] != 12 {
		t.Fatal("Add aliased its argument")
	}
	if got := s.Add(Stats{}); got.Count != 4 || got.Sum[0] != 12 {
		t.Fatalf("s + 0 = %+v", got)
	}
}

func TestStatsErrors(t *testing.T) {
	for _, v := range [][]float64{nil, {1, 2}, {1, math.NaN(), 0}, {-3, 1, 1}, {1, math.Inf(1), 1}} {
		if _, err := StatsFromVector(v); !errors.Is(err, ErrStats) {
			t.Errorf("StatsFromVector(%v): err = %v", v, err)
		}
	}
	s, err := StatsFromVector([]float64{2.9999, 1, 2})
	if err != nil || s.Count != 3 || s.Sum[0] != 1 || s.SumSq[0] != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := NewStandardizer(Stats{Sum: []float64{1}, SumSq: []float64{1}}, 0); !errors.Is(err, ErrStats) {
		t.Errorf("no rows: err = %v", err)
	}
	if _, err := NewStandardizer(Stats{Count: 1, Sum: []float64{1}}, 0); !errors.Is(err, ErrStats) {
		t.Errorf("lengths: err = %v", err)
	}
	mustPanic(t, "Add", func() {
		Stats{Count: 1, Sum: []float64{1}, SumSq: []float64{1}}.Add(Stats{Count: 1, Sum: []float64{1, 2}, SumSq: []float64{1, 2}})
	})
	z := &Standardizer{Mean: []float64{0}, Std: []float64{1}}
	mustPanic(t, "Transform", func() { z.Transform(&federated.Batch{X: []float64{1, 2}, Y: []float64{0}, Rows: 1, Cols: 2}) })
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}
