package data

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkExactlyOnce fails unless parts cover 0..n-1, each row once, with each
// part sorted.
func checkExactlyOnce(t *testing.T, parts [][]int, n int) {
	t.Helper()
	seen := make([]int, n)
	for _, p := range parts {
		if !slices.IsSorted(p) {
			t.Fatalf("part not sorted")
		}
		for _, i := range p {
			if i < 0 || i >= n {
				t.Fatalf("row %d out of range", i)
			}
			seen[i]++
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("row %d assigned %d times", i, c)
		}
	}
}

func TestIID(t *testing.T) {
	for _, n := range []int{1, 7, 100, 569} {
		for sites := 1; sites <= min(n, 6); sites++ {
			parts, err := IID(n, sites, rand.New(rand.NewPCG(uint64(n), uint64(sites))))
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, parts, n)
			for _, p := range parts {
				if len(p) < n/sites || len(p) > n/sites+1 {
					t.Fatalf("n %d sites %d: part of %d", n, sites, len(p))
				}
			}
		}
	}
	a, _ := IID(100, 3, rand.New(rand.NewPCG(5, 5)))
	b, _ := IID(100, 3, rand.New(rand.NewPCG(5, 5)))
	c, _ := IID(100, 3, rand.New(rand.NewPCG(5, 6)))
	if !slices.EqualFunc(a, b, slices.Equal) || slices.EqualFunc(a, c, slices.Equal) {
		t.Fatal("IID is not determined by its seed")
	}
	for _, bad := range [][2]int{{5, 0}, {2, 3}} {
		if _, err := IID(bad[0], bad[1], rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrPartition) {
			t.Errorf("IID(%d, %d): err = %v", bad[0], bad[1], err)
		}
	}
}

// labelSkewTV is the mean total-variation distance between each site's label
// distribution and the global one, averaged over seeds.
func labelSkewTV(t *testing.T, y []float64, classes, sites int, alpha float64) float64 {
	t.Helper()
	global := ClassCounts(y, classes)
	total := 0.0
	const seeds = 10
	for seed := range uint64(seeds) {
		parts, err := LabelSkew(y, sites, alpha, 1, rand.New(rand.NewPCG(seed, 42)))
		if err != nil {
			t.Fatal(err)
		}
		checkExactlyOnce(t, parts, len(y))
		for _, p := range parts {
			if len(p) < 1 {
				t.Fatal("empty site despite minSize 1")
			}
			local := make([]float64, len(p))
			for i, r := range p {
				local[i] = y[r]
			}
			lc := ClassCounts(local, classes)
			tv := 0.0
			for k := range classes {
				tv += math.Abs(float64(lc[k])/float64(len(p)) - float64(global[k])/float64(len(y)))
			}
			total += tv / 2
		}
	}
	return total / float64(seeds*sites)
}

func TestLabelSkew(t *testing.T) {
	d, err := Digits(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	skewed := labelSkewTV(t, d.All.Y, 10, 5, 0.1)
	mild := labelSkewTV(t, d.All.Y, 10, 5, 100)
	t.Logf("digits, 5 sites: mean TV distance to the global label mix %.3f at alpha 0.1, %.3f at alpha 100", skewed, mild)
	if skewed < 0.5 || mild > 0.05 {
		t.Fatalf("TV distance %.3f at alpha 0.1 (want > 0.5), %.3f at alpha 100 (want < 0.05)", skewed, mild)
	}
	bc, err := BreastCancer(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	skewed = labelSkewTV(t, bc.All.Y, 2, 3, 0.1)
	mild = labelSkewTV(t, bc.All.Y, 2, 3, 100)
	t.Logf("breast cancer, 3 sites: %.3f at alpha 0.1, %.3f at alpha 100", skewed, mild)
	if skewed < 0.2 || mild > 0.05 {
		t.Fatalf("TV distance %.3f at alpha 0.1, %.3f at alpha 100", skewed, mild)
	}

	// minSize is honoured, and the draw is determined by the seed.
	a, err := LabelSkew(bc.All.Y, 3, 0.5, 40, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, a, 569)
	if minLen(a) < 40 {
		t.Fatalf("site of %d rows, want >= 40", minLen(a))
	}
	b, _ := LabelSkew(bc.All.Y, 3, 0.5, 40, rand.New(rand.NewPCG(9, 9)))
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("LabelSkew is not determined by its seed")
	}
	// The caller's labels are not reordered.
	if ClassCounts(bc.All.Y, 2)[0] != 212 || bc.All.Y[0] != 0 {
		t.Fatal("labels changed")
	}

	for _, c := range []struct {
		y       []float64
		sites   int
		alpha   float64
		minSize int
	}{
		{[]float64{0, 1}, 0, 1, 0},
		{[]float64{0, 1}, 2, 0, 0},
		{[]float64{0, 1}, 2, math.Inf(1), 0},
		{[]float64{0, 1}, 2, 1, 2},
		{[]float64{0, 0.5}, 2, 1, 0},
		{[]float64{0, -1}, 2, 1, 0},
		{bc.All.Y, 3, 0.01, 180}, // cannot be met
	} {
		if _, err := LabelSkew(c.y, c.sites, c.alpha, c.minSize, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrPartition) {
			t.Errorf("LabelSkew(%v, %d, %v, %d): err = %v", c.y, c.sites, c.alpha, c.minSize, err)
		}
	}
}

func TestQuantitySkew(t *testing.T) {
	// Coefficient of variation of site sizes, averaged over seeds.
	cv := func(alpha float64) float64 {
		total := 0.0
		for seed := range uint64(20) {
			parts, err := QuantitySkew(1000, 5, alpha, 10, rand.New(rand.NewPCG(seed, 7)))
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, parts, 1000)
			if minLen(parts) < 10 {
				t.Fatalf("site of %d rows, want >= 10", minLen(parts))
			}
			sd := 0.0
			for _, p := range parts {
				sd += (float64(len(p)) - 200) * (float64(len(p)) - 200)
			}
			total += math.Sqrt(sd/5) / 200
		}
		return total / 20
	}
	skewed, mild := cv(0.1), cv(1000)
	t.Logf("coefficient of variation of site sizes: %.3f at alpha 0.1, %.3f at alpha 1000", skewed, mild)
	if skewed < 0.8 || mild > 0.1 {
		t.Fatalf("size CV %.3f at alpha 0.1 (want > 0.8), %.3f at alpha 1000 (want < 0.1)", skewed, mild)
	}
	for _, c := range [][3]int{{10, 0, 0}, {10, 3, 4}, {10, 2, -1}} {
		if _, err := QuantitySkew(c[0], c[1], 1, c[2], rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrPartition) {
			t.Errorf("QuantitySkew(%v): err = %v", c, err)
		}
	}
	if _, err := QuantitySkew(10, 2, 0, 0, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrPartition) {
		t.Errorf("alpha 0: err = %v", err)
	}
}

// TestDirichlet checks the sampler's mean and variance: for a symmetric
// Dirichlet(a) over k categories, E p_i = 1/k and
// Var p_i = (k-1) / (k^2 (k a + 1)).
func TestDirichlet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const k, n = 4, 20000
	for _, a := range []float64{0.05, 0.5, 1, 7} {
		p := make([]float64, k)
		var m, m2 float64
		for range n {
			dirichlet(p, a, rng)
			s := 0.0
			for _, v := range p {
				if !(v >= 0) {
					t.Fatalf("alpha %v: component %v", a, v)
				}
				s += v
			}
			if math.Abs(s-1) > 1e-12 {
				t.Fatalf("alpha %v: sum %v", a, s)
			}
			m += p[0]
			m2 += p[0] * p[0]
		}
		mean := m / n
		vr := m2/n - mean*mean
		want := float64(k-1) / (k * k * (k*a + 1))
		if math.Abs(mean-0.25) > 0.01 || math.Abs(vr-want) > 0.05*want {
			t.Errorf("alpha %v: mean %.4f var %.5f, want 0.25 %.5f", a, mean, vr, want)
		}
	}
}
