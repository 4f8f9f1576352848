package secagg

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
)

func validLiteral() ParamsLiteral {
	return ParamsLiteral{N: 50, K: 6, T: 4, RingBits: 32, Dim: 1000, Lo: -1, Hi: 1}
}

func TestNewParams(t *testing.T) {
	lit := validLiteral()
	p, err := NewParams(lit)
	if err != nil {
		t.Fatal(err)
	}
	if p.N() != 50 || p.K() != 6 || p.T() != 4 || p.RingBits() != 32 || p.Dim() != 1000 {
		t.Fatalf("accessors: N=%d K=%d T=%d RingBits=%d Dim=%d", p.N(), p.K(), p.T(), p.RingBits(), p.Dim())
	}
	fp := p.FixedPoint()
	if fp.MaxSummands() != 50 || fp.RingBits() != 32 || fp.Lo() != -1 || fp.Hi() != 1 {
		t.Fatalf("fixed point %+v", fp.Literal())
	}
	// Bits = 0 picks the largest that 50 summands allow in Z/2^32: 26.
	if fp.Bits() != 26 || tensor.MaxSummands(32, 27) >= 50 {
		t.Fatalf("Bits = %d, want 26", fp.Bits())
	}
	got := p.Literal()
	lit.Bits = 26
	if got != lit {
		t.Fatalf("Literal() = %+v, want %+v", got, lit)
	}
	q, err := NewParams(got)
	if err != nil || q.Literal() != got {
		t.Fatalf("NewParams(Literal()) = %+v, %v", q, err)
	}
	// Boundaries that must be accepted.
	for _, l := range []ParamsLiteral{
		{N: 2, K: 1, T: 1, RingBits: 64, Dim: 1, Lo: 0, Hi: 1},
		{N: 3, K: 2, T: 2, RingBits: 32, Dim: 1 << 28, Lo: 0, Hi: 1, Bits: 1},
		{N: 4, K: 2, T: 1, RingBits: 32, Dim: 1, Lo: 0, Hi: 1},
		{N: 10, K: 9, T: 5, RingBits: 64, Dim: 1, Lo: 0, Hi: 1, Bits: 52},
		{N: 10, K: 8, T: 8, RingBits: 32, Dim: 1, Lo: 0, Hi: 1},
		{N: 1000, K: 86, T: 57, RingBits: 32, Dim: 1, Lo: -5, Hi: 5},
	} {
		if _, err := NewParams(l); err != nil {
			t.Errorf("NewParams(%+v): %v", l, err)
		}
	}
}

// TestNewParamsErrors checks that each bad field is refused with an error
// wrapping ErrParams that names it.
func TestNewParamsErrors(t *testing.T) {
	cases := []struct {
		field string
		edit  func(*ParamsLiteral)
	}{
		{"N is", func(l *ParamsLiteral) { l.N, l.K, l.T = 1, 0, 1 }},
		{"N is", func(l *ParamsLiteral) { l.N = -3 }},
		{"N is", func(l *ParamsLiteral) { l.N = 1<<24 + 1 }},
		{"K is", func(l *ParamsLiteral) { l.K = 0 }},
		{"K is", func(l *ParamsLiteral) { l.K = 5 }},  // odd, not N-1
		{"K is", func(l *ParamsLiteral) { l.K = 47 }}, // odd, below N-1
		{"K is", func(l *ParamsLiteral) { l.K = 50 }},
		{"K is", func(l *ParamsLiteral) { l.K = -2 }},
		{"T is", func(l *ParamsLiteral) { l.T = 0 }},
		{"T is", func(l *ParamsLiteral) { l.T = 7 }},
		{"RingBits is", func(l *ParamsLiteral) { l.RingBits = 16 }},
		{"RingBits is", func(l *ParamsLiteral) { l.RingBits = 0 }},
		{"Dim is", func(l *ParamsLiteral) { l.Dim = 0 }},
		{"Dim is", func(l *ParamsLiteral) { l.Dim = 1<<28 + 1 }},
		{"[Lo, Hi]", func(l *ParamsLiteral) { l.Lo, l.Hi = 1, 1 }},
		{"[Lo, Hi]", func(l *ParamsLiteral) { l.Lo = math.NaN() }},
		{"[Lo, Hi]", func(l *ParamsLiteral) { l.Hi = math.Inf(1) }},
		{"Bits is", func(l *ParamsLiteral) { l.Bits = 32 }},
		{"Bits is", func(l *ParamsLiteral) { l.Bits = -1 }},
		{"MaxSummands=50", func(l *ParamsLiteral) { l.Bits = 27 }}, // 50 values of 27 bits wrap Z/2^32
	}
	for _, c := range cases {
		lit := validLiteral()
		c.edit(&lit)
		p, err := NewParams(lit)
		if err == nil {
			t.Errorf("NewParams(%+v) = %+v, want an error naming %q", lit, p, c.field)
			continue
		}
		if !errors.Is(err, ErrParams) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("NewParams(%+v): %v, want ErrParams naming %q", lit, err, c.field)
		}
		if c.field == "[Lo, Hi]" || c.field == "Bits is" || strings.HasPrefix(c.field, "MaxSummands") {
			if !errors.Is(err, tensor.ErrFixedPoint) {
				t.Errorf("NewParams(%+v): %v, want it to wrap tensor.ErrFixedPoint too", lit, err)
			}
		}
	}
}

// refPrec is the precision of the reference computations: far beyond
// float64, so they decide every bound the float64 search decides.
const refPrec = 320

func bigF(x float64) *big.Float { return new(big.Float).SetPrec(refPrec).SetFloat64(x) }

// refPMF returns P[Binom(k, p) = i], i = 0..k, in high precision; p is exact.
func refPMF(k int, p *big.Float) []*big.Float {
	q := new(big.Float).SetPrec(refPrec).Sub(bigF(1), p)
	powP, powQ := make([]*big.Float, k+1), make([]*big.Float, k+1)
	powP[0], powQ[0] = bigF(1), bigF(1)
	for i := 1; i <= k; i++ {
		powP[i] = new(big.Float).SetPrec(refPrec).Mul(powP[i-1], p)
		powQ[i] = new(big.Float).SetPrec(refPrec).Mul(powQ[i-1], q)
	}
	pmf := make([]*big.Float, k+1)
	binom := big.NewInt(1) // C(k, i)
	for i := range pmf {
		c := new(big.Float).SetPrec(refPrec).SetInt(binom)
		pmf[i] = c.Mul(c, powP[i]).Mul(c, powQ[k-i])
		binom.Mul(binom, big.NewInt(int64(k-i)))
		binom.Quo(binom, big.NewInt(int64(i+1)))
	}
	return pmf
}

// exactTail returns P[Binom(k, p) in [lo, hi]] in high precision.
func exactTail(k int, p *big.Float, lo, hi int) *big.Float {
	sum := bigF(0)
	pmf := refPMF(k, p)
	for i := max(lo, 0); i <= min(hi, k); i++ {
		sum.Add(sum, pmf[i])
	}
	return sum
}

// TestBinomialTails checks the log-space tails against exact sums.
func TestBinomialTails(t *testing.T) {
	// Known values: P[Binom(10, 1/2) <= 2] = (1 + 10 + 45)/1024, and
	// P[Binom(20, 0.1) >= 5] = 0.0431745... (tables).
	if got, _ := exactTail(20, bigF(0.1), 5, 20).Float64(); math.Abs(got-0.04317450) > 1e-8 {
		t.Fatalf("reference P[Binom(20, 0.1) >= 5] = %v", got)
	}
	pmf := binomLogPMF(10, math.Log(0.5), math.Log(0.5))
	lower := math.Inf(-1)
	for i := range 3 {
		lower = logAddExp(lower, pmf[i])
	}
	if got := math.Exp(lower); math.Abs(got-56.0/1024) > 1e-15 {
		t.Fatalf("P[Binom(10, 1/2) <= 2] = %v, want %v", got, 56.0/1024)
	}
	cases := []struct {
		k      int
		p      float64
		lo, hi int
	}{
		{20, 0.1, 5, 20}, {49, 0.05, 21, 49}, {49, 0.9, 0, 29}, {100, 0.5, 0, 10}, {86, 0.05, 28, 86},
		{86, 0.9, 0, 56}, {300, 0.3, 200, 300}, {1000, 0.01, 100, 1000}, {6, 0.999, 0, 1}, {40, 0, 0, 0}, {40, 0, 1, 40},
	}
	for _, c := range cases {
		pmf := binomLogPMF(c.k, math.Log(c.p), math.Log1p(-c.p))
		got := math.Inf(-1)
		for i := c.lo; i <= c.hi; i++ {
			got = logAddExp(got, pmf[i])
		}
		want, _ := exactTail(c.k, bigF(c.p), c.lo, c.hi).Float64()
		if want == 0 {
			if !math.IsInf(got, -1) {
				t.Errorf("P[Binom(%d, %g) in [%d, %d]] = e^%g, want 0", c.k, c.p, c.lo, c.hi, got)
			}
			continue
		}
		if rel := math.Abs(math.Exp(got)/want - 1); rel > 1e-10 || math.IsNaN(rel) {
			t.Errorf("P[Binom(%d, %g) in [%d, %d]] = %g, want %g (relative error %g)", c.k, c.p, c.lo, c.hi, math.Exp(got), want, rel)
		}
	}
}

// referenceKT is ChooseKT's rule evaluated in 320-bit floating point,
// summing probabilities directly rather than in log space: an independent
// check of the float64 search.
func referenceKT(n int, dropout, corruption float64) (k, t int, ok bool) {
	nF := bigF(float64(n))
	corrBound, secBound := bigF(math.Ldexp(1, -CorrectnessBits)), bigF(math.Ldexp(1, -SecurityBits))
	delta, gamma := bigF(dropout), bigF(corruption)
	surv := new(big.Float).SetPrec(refPrec).Sub(bigF(1), delta)
	rho := new(big.Float).SetPrec(refPrec).Add(delta, gamma)
	mulN := func(x *big.Float) *big.Float { return new(big.Float).SetPrec(refPrec).Mul(nF, x) }
	feasible := func(k int) (int, int) {
		lo, hi := k+1, k/2
		survPMF, badPMF := refPMF(k, surv), refPMF(k, gamma)
		below := make([]*big.Float, k+2) // below[t] = P[survivors < t]
		below[0] = bigF(0)
		for i := 0; i <= k; i++ {
			below[i+1] = new(big.Float).SetPrec(refPrec).Add(below[i], survPMF[i])
		}
		above := make([]*big.Float, k+2) // above[s] = P[corrupted >= s]
		above[k+1] = bigF(0)
		for s := k; s >= 0; s-- {
			above[s] = new(big.Float).SetPrec(refPrec).Add(above[s+1], badPMF[s])
		}
		for t := k/2 + 1; t <= k; t++ {
			if mulN(below[t]).Cmp(corrBound) <= 0 {
				hi = t
			}
			if mulN(above[2*t-k]).Cmp(secBound) <= 0 && lo > k {
				lo = t
			}
		}
		return lo, hi
	}
	for k := 2; k < n-1; k += 2 {
		pow := bigF(1)
		for range k / 2 {
			pow.Mul(pow, rho)
		}
		if mulN(pow).Cmp(secBound) > 0 {
			continue
		}
		if lo, hi := feasible(k); lo <= hi {
			return k, (lo + hi + 1) / 2, true
		}
	}
	if lo, hi := feasible(n - 1); lo <= hi {
		return n - 1, (lo + hi + 1) / 2, true
	}
	return 0, 0, false
}

// TestChooseKT checks ChooseKT against the exact evaluation of its formulas
// and pins the results.
func TestChooseKT(t *testing.T) {
	cases := []struct {
		n                 int
		dropout, corrupt  float64
		k, t              int // 0, 0: no parameters fit
		skipExactIfShort  bool
		wantErrSubstrings string
	}{
		{n: 50, dropout: 0.1, corrupt: 0.05, wantErrSubstrings: "complete graph (k = 49)"},
		{n: 1000, dropout: 0.1, corrupt: 0.05, k: 86, t: 57},
		{n: 100, dropout: 0.1, corrupt: 0.05, k: 78, t: 52},
		{n: 1000, dropout: 0.05, corrupt: 0.01, k: 42, t: 28},
		{n: 200, dropout: 0.02, corrupt: 0, k: 18, t: 11},
		{n: 3, dropout: 0, corrupt: 0, k: 2, t: 2},
		{n: 10, dropout: 0, corrupt: 0, k: 2, t: 2},
		{n: 20, dropout: 0.01, corrupt: 0.01, wantErrSubstrings: "complete graph (k = 19)"},
		{n: 20, dropout: 0.01, corrupt: 0, k: 14, t: 9},
		{n: 10, dropout: 0.01, corrupt: 0, k: 9, t: 5}, // the complete graph, odd degree,
		{n: 5, dropout: 0.1, corrupt: 0, wantErrSubstrings: "complete graph (k = 4)"},
		{n: 1000, dropout: 0.3, corrupt: 0.1, k: 770, t: 461, skipExactIfShort: true},
	}
	for _, c := range cases {
		k, tt, err := ChooseKT(c.n, c.dropout, c.corrupt)
		t.Logf("ChooseKT(n=%d, dropout=%g, corruption=%g) = k %d, t %d, err %v", c.n, c.dropout, c.corrupt, k, tt, err)
		if c.wantErrSubstrings != "" {
			if err == nil || !errors.Is(err, ErrParams) || !strings.Contains(err.Error(), c.wantErrSubstrings) {
				t.Errorf("ChooseKT(%d, %g, %g) = %d, %d, %v; want an error mentioning %q", c.n, c.dropout, c.corrupt, k, tt, err, c.wantErrSubstrings)
			}
		} else if err != nil || k != c.k || tt != c.t {
			t.Errorf("ChooseKT(%d, %g, %g) = %d, %d, %v; want %d, %d", c.n, c.dropout, c.corrupt, k, tt, err, c.k, c.t)
		}
		if err == nil {
			if _, perr := NewParams(ParamsLiteral{N: c.n, K: k, T: tt, RingBits: 32, Dim: 1, Lo: 0, Hi: 1}); perr != nil {
				t.Errorf("ChooseKT's result is refused by NewParams: %v", perr)
			}
		}
		if c.skipExactIfShort && testing.Short() {
			continue
		}
		rk, rt, ok := referenceKT(c.n, c.dropout, c.corrupt)
		if ok != (err == nil) || rk != k || rt != tt {
			t.Errorf("ChooseKT(%d, %g, %g) = %d, %d, %v; exact evaluation gives %d, %d, ok %v", c.n, c.dropout, c.corrupt, k, tt, err, rk, rt, ok)
		}
	}
}

// TestChooseKTBounds spells out, for n = 1000, δ = 0.1, γ = 0.05, the margins
// of the chosen (k, t) and why k-2 fails.
func TestChooseKTBounds(t *testing.T) {
	const n, dropout, corrupt = 1000, 0.1, 0.05
	k, tt, err := ChooseKT(n, dropout, corrupt)
	if err != nil {
		t.Fatal(err)
	}
	b := newTailBounds(n, dropout, corrupt)
	lo, hi := b.thresholds(k)
	corr, _ := exactTail(k, new(big.Float).SetPrec(refPrec).Sub(bigF(1), bigF(dropout)), 0, tt-1).Float64()
	sec, _ := exactTail(k, bigF(corrupt), 2*tt-k, k).Float64()
	corr, sec = n*corr, n*sec
	graph := n * math.Pow(dropout+corrupt, float64(k/2))
	t.Logf("n=%d δ=%g γ=%g: k=%d, feasible t in [%d, %d], t=%d; n·P[fail]=%.3g (≤ 2^-20 = %.3g), n·P[leak]=%.3g, n·ρ^(k/2)=%.3g (≤ 2^-40 = %.3g)",
		n, dropout, corrupt, k, lo, hi, tt, corr, math.Ldexp(1, -20), sec, graph, math.Ldexp(1, -40))
	if corr > math.Ldexp(1, -20) || sec > math.Ldexp(1, -40) || graph > math.Ldexp(1, -40) || 2*tt <= k {
		t.Fatal("chosen parameters violate a bound")
	}
	if lo2, hi2 := b.thresholds(k - 2); lo2 <= hi2 {
		t.Fatalf("k-2 = %d is feasible too: t in [%d, %d]", k-2, lo2, hi2)
	}
}

func TestChooseKTErrors(t *testing.T) {
	cases := []struct {
		n       int
		d, g    float64
		mention string
	}{
		{2, 0, 0, "n is 2"},
		{0, 0, 0, "n is 0"},
		{-1, 0.1, 0.1, "n is -1"},
		{1<<24 + 1, 0.1, 0.1, "n is"},
		{100, -0.1, 0, "dropout rate"},
		{100, 1, 0, "dropout rate"},
		{100, math.NaN(), 0, "dropout rate"},
		{100, 0, 1, "corruption rate"},
		{100, 0, math.Inf(1), "corruption rate"},
		{100, 0.5, 0.5, "dropout + corruption"},
		{100, 0.3, 0.7, "dropout + corruption"},
		{100, 0.5, 0, "2·dropout + corruption"},
		{100, 0.3, 0.4, "2·dropout + corruption"},
		{10, 0.1, 0.1, "even the complete graph"},
		{100000, 0.3, 0.39, "above 4096"},
	}
	for _, c := range cases {
		k, tt, err := ChooseKT(c.n, c.d, c.g)
		if err == nil || !errors.Is(err, ErrParams) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ChooseKT(%d, %g, %g) = %d, %d, %v; want ErrParams mentioning %q", c.n, c.d, c.g, k, tt, err, c.mention)
		}
	}
}

// TestChooseKTFailFast checks the claim behind refusing 2δ+γ ≥ 1 up front:
// the full search finds nothing for such rates, over a grid of small n.
func TestChooseKTFailFast(t *testing.T) {
	ns := []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 30, 50, 80, 120}
	if testing.Short() {
		ns = ns[:8]
	}
	tried := 0
	for _, n := range ns {
		for i := 0; i < 40; i++ {
			for j := 0; i+j < 40; j++ {
				d, g := float64(i)/40, float64(j)/40
				if 2*d+g < 1 {
					continue
				}
				tried++
				if k, tt, err := chooseKT(n, d, g, false); err == nil {
					t.Errorf("n=%d δ=%g γ=%g: full search finds k=%d t=%d, but ChooseKT refuses 2δ+γ ≥ 1", n, d, g, k, tt)
				}
			}
		}
	}
	t.Logf("%d (n, δ, γ) with 2δ+γ ≥ 1 searched, none feasible", tried)
}

func BenchmarkChooseKT(b *testing.B) {
	for range b.N {
		if _, _, err := ChooseKT(1000, 0.1, 0.05); err != nil {
			b.Fatal(err)
		}
	}
}
