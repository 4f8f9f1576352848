package dp

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s = %.8g, want %.8g (±%g relative)", what, got, want, rel)
	}
}

// Reference RDP values from TF Privacy's rdp_accountant_test.py
// (test_compute_rdp_scalar and test_compute_rdp_sequence), which that project
// checks against a multi-precision integration of the Rényi divergence.
func TestRDPReference(t *testing.T) {
	r, err := RDP(0.1, 2, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "RDP(q=.1, σ=2, 10 steps, α=5)", r, 0.07737, 1e-4)
	for i, o := range []float64{1.5, 2.5, 5, 50, 100} {
		want := []float64{0.00065, 0.001085, 0.00218075, 0.023846, 167.416307}[i]
		r, _ := RDP(0.01, 2.5, 50, o)
		if math.Abs(r-want) > 1e-5 {
			t.Errorf("RDP(q=.01, σ=2.5, 50 steps, α=%v) = %v, want %v", o, r, want)
		}
	}
	// Edge cases: no sampling, no data, no noise.
	if r, _ := RDP(1, 10, 1, 20); r != 0.1 {
		t.Errorf("q=1: %v, want α/(2σ²) = 0.1", r)
	}
	if r, _ := RDP(0, 10, 1, 20); r != 0 {
		t.Errorf("q=0: %v, want 0", r)
	}
	if r, _ := RDP(0.5, 0, 1, 2); !math.IsInf(r, 1) {
		t.Errorf("σ=0: %v, want +Inf", r)
	}
}

// logAQuad is log A_α = log E_{z~N(0,σ²)}[((1−q) + q·e^{(2z−1)/(2σ²)})^α] by
// the trapezoid rule on a wide grid: an independent check of both series.
func logAQuad(q, sigma, alpha float64) float64 {
	lo, hi := -20*sigma-5, 20*sigma+5
	n := 400000
	h := (hi - lo) / float64(n)
	var s float64
	for i := 0; i <= n; i++ {
		z := lo + float64(i)*h
		w := 1.0
		if i == 0 || i == n {
			w = 0.5
		}
		ratio := (1 - q) + q*math.Exp((2*z-1)/(2*sigma*sigma))
		s += w * math.Exp(-z*z/(2*sigma*sigma)+alpha*math.Log(ratio))
	}
	return math.Log(s * h / (sigma * math.Sqrt(2*math.Pi)))
}

func TestRDPAgainstQuadrature(t *testing.T) {
	for _, c := range []struct{ q, sigma, alpha float64 }{
		{0.01, 1.1, 8.1}, {0.01, 1.1, 8}, {0.1, 2, 2.5}, {0.05, 0.8, 3.3}, {0.3, 3, 12}, {0.004, 1.1, 1.5},
	} {
		la := logAQuad(c.q, c.sigma, c.alpha)
		got := rdpStep(c.q, c.sigma, c.alpha) * (c.alpha - 1)
		near(t, "log A", got, la, 1e-5)
	}
}

// classicEpsilon is the older conversion ε = min_α rdp(α) − log δ/(α−1)
// (Mironov 2017, Proposition 3) that TF Privacy's reference tests use.
func classicEpsilon(orders, rdp []float64, delta float64) (float64, float64) {
	best, order := math.Inf(1), 0.0
	for i, o := range orders {
		if e := rdp[i] - math.Log(delta)/(o-1); e < best {
			best, order = e, o
		}
	}
	return best, order
}

// Composition checked against TF Privacy's get_privacy_spent tests, which use
// the classic conversion: the RDP sums are the same and must give their ε.
func TestCompositionReference(t *testing.T) {
	var ints []float64
	for a := 2; a <= 32; a++ {
		ints = append(ints, float64(a))
	}
	acc, _ := NewAccountant(ints...)
	acc.Compose(0.01, 4, 10000)
	e, o := classicEpsilon(acc.Orders(), acc.RDP(), 1e-5)
	near(t, "classic ε (q=.01, σ=4, 10⁴ steps)", e, 1.258575, 1e-6)
	if o != 20 {
		t.Errorf("order %v, want 20", o)
	}
	balle, _, _ := acc.Epsilon(1e-5)
	if !(balle < e) {
		t.Errorf("Balle ε %v not below classic %v", balle, e)
	}

	tfOrders := []float64{1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256}
	acc, _ = NewAccountant(tfOrders...)
	acc.Compose(0.01, 4, 10000)
	acc.Compose(0.1, 2, 100)
	e, o = classicEpsilon(acc.Orders(), acc.RDP(), 1e-5)
	near(t, "classic ε of a composition", e, 3.276237, 1e-6)
	if o != 8 {
		t.Errorf("order %v, want 8", o)
	}

	acc, _ = NewAccountant(tfOrders...)
	acc.Compose(1e-4, 0.4, 40000)
	acc.Compose(0.1, 2, 100)
	e, o = classicEpsilon(acc.Orders(), acc.RDP(), 1e-5)
	near(t, "classic ε of a low-noise composition", e, 8.509656, 1e-6)
	if o != 2.5 {
		t.Errorf("order %v, want 2.5", o)
	}
}

// The MNIST DP-SGD setting of the TF Privacy tutorial and Opacus examples:
// noise 1.1, q = 256/60000, 60 epochs = ceil(60·60000/256) = 14063 steps,
// δ = 1e-5. TF Privacy's tutorial reports ε ≈ 3 with the classic conversion
// over its default orders; the Balle et al. conversion, which TF Privacy's
// current dp_accounting and Opacus use, gives ≈ 2.60 at order 8.1.
func TestEpsilonMNIST(t *testing.T) {
	q, steps := 256.0/60000, 14063
	eps, order, err := Epsilon(q, 1.1, steps, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "ε", eps, 2.5967, 0.01)
	if order != 8.1 {
		t.Errorf("best order %v, want 8.1", order)
	}
	acc, _ := NewAccountant()
	acc.Compose(q, 1.1, steps)
	classic, _ := classicEpsilon(acc.Orders(), acc.RDP(), 1e-5)
	near(t, "classic ε", classic, 3.0, 0.03)
	// More noise or fewer steps never costs more.
	e2, _, _ := Epsilon(q, 1.3, steps, 1e-5)
	e3, _, _ := Epsilon(q, 1.1, steps/2, 1e-5)
	if !(e2 < eps && e3 < eps) {
		t.Errorf("ε not monotone: %v, %v vs %v", e2, e3, eps)
	}
}

func TestNoiseMultiplier(t *testing.T) {
	q, steps := 256.0/60000, 14063
	for _, target := range []float64{0.5, 3, 8} {
		z, err := NoiseMultiplier(target, q, steps, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		e, _, _ := Epsilon(q, z, steps, 1e-5)
		if e > target {
			t.Errorf("target %v: z=%v gives ε=%v above it", target, z, e)
		}
		e, _, _ = Epsilon(q, z*0.999, steps, 1e-5)
		if e <= target {
			t.Errorf("target %v: z=%v not minimal (0.999z gives %v)", target, z, e)
		}
	}
	if _, err := NoiseMultiplier(1e-9, 1, 1000000, 1e-10); !errors.Is(err, ErrUnreachable) {
		t.Errorf("unreachable target: %v", err)
	}
	if z, err := NoiseMultiplier(1, 0, 10, 1e-5); z != 0 || err != nil {
		t.Errorf("q=0: %v, %v", z, err)
	}
}

func TestParamErrors(t *testing.T) {
	bad := []error{}
	_, err := RDP(1.5, 1, 1, 2)
	bad = append(bad, err)
	_, err = RDP(0.5, -1, 1, 2)
	bad = append(bad, err)
	_, err = RDP(0.5, 1, -1, 2)
	bad = append(bad, err)
	_, err = RDP(0.5, 1, 1, 1)
	bad = append(bad, err)
	_, err = NewAccountant(0.5)
	bad = append(bad, err)
	_, _, err = Epsilon(0.1, 1, 1, 1)
	bad = append(bad, err)
	_, _, err = Epsilon(math.NaN(), 1, 1, 1e-5)
	bad = append(bad, err)
	_, err = NoiseMultiplier(0, 0.1, 1, 1e-5)
	bad = append(bad, err)
	_, err = UpdateNoiseMultiplier(2, 1)
	bad = append(bad, err)
	for i, err := range bad {
		if !errors.Is(err, ErrParam) {
			t.Errorf("case %d: %v, want ErrParam", i, err)
		}
	}
	acc, _ := NewAccountant()
	if err := acc.Compose(2, 1, 1); err == nil {
		t.Error("bad compose accepted")
	}
	if e, _, _ := acc.Epsilon(1e-5); e != 0 {
		t.Errorf("nothing composed: ε %v", e)
	}
}

func TestClip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for p := 1; p <= 64; p++ {
		g := make([]float64, 7*p)
		for i := range g {
			g[i] = rng.NormFloat64() * 3
		}
		orig := append([]float64(nil), g...)
		want := 0
		for i := 0; i < 7; i++ {
			if norm(orig[i*p:(i+1)*p]) > 2 {
				want++
			}
		}
		if n := ClipExamples(g, p, 2); n != want {
			t.Fatalf("p=%d: %d clipped, want %d", p, n, want)
		}
		for i := 0; i < 7; i++ {
			r, o := g[i*p:(i+1)*p], orig[i*p:(i+1)*p]
			no := norm(o)
			if nr := norm(r); nr > 2*(1+1e-12) || (no <= 2 && nr != no) {
				t.Fatalf("row norm %v from %v", nr, no)
			}
			// Direction is kept.
			for j := range r {
				if math.Abs(r[j]*no-o[j]*math.Min(no, 2)) > 1e-9*no {
					t.Fatalf("direction changed")
				}
			}
		}
	}
	big := []float64{1e200, 1e200}
	if n := ClipUpdate(big, 1); math.IsInf(n, 0) || math.Abs(norm(big)-1) > 1e-12 {
		t.Errorf("overflowing norm: %v → %v", n, big)
	}
	for _, f := range []func(){
		func() { ClipExamples(make([]float64, 5), 2, 1) },
		func() { ClipUpdate([]float64{1}, 0) },
		func() { AddGaussian([]float64{1}, -1, rng) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

func TestNoisyClippedSum(t *testing.T) {
	const p, rows, c, z = 3, 10, 1.0, 2.0
	g := make([]float64, p*rows)
	for i := range g {
		g[i] = 10 // every row clipped to (1,1,1)/√3
	}
	n := 20000
	var sum, sumsq float64
	for k := 0; k < n; k++ {
		rng := rand.New(rand.NewPCG(uint64(k), 7))
		gg := append([]float64(nil), g...)
		dst := make([]float64, p)
		if cl := NoisyClippedSum(dst, gg, c, z, rng); cl != rows {
			t.Fatalf("clipped %d", cl)
		}
		x := dst[0] - rows/math.Sqrt(3)
		sum += x
		sumsq += x * x
	}
	mean, variance := sum/float64(n), sumsq/float64(n)
	if math.Abs(mean) > 5*z*c/math.Sqrt(float64(n)) {
		t.Errorf("noise mean %v", mean)
	}
	near(t, "noise variance", variance, z*z*c*c, 0.05)
	// Same seed, same result.
	a, b := make([]float64, p), make([]float64, p)
	NoisyClippedSum(a, append([]float64(nil), g...), c, z, rand.New(rand.NewPCG(1, 1)))
	NoisyClippedSum(b, append([]float64(nil), g...), c, z, rand.New(rand.NewPCG(1, 1)))
	if a[0] != b[0] || a[2] != b[2] {
		t.Error("seeded noise not reproducible")
	}
	// The crypto source works and differs between calls.
	x, y := CryptoSource().Uint64(), CryptoSource().Uint64()
	if x == y {
		t.Error("crypto sources repeat")
	}
}

func TestLedger(t *testing.T) {
	var l Ledger = NewMemoryLedger(3)
	for i := 0; i < 3; i++ {
		if err := l.Charge("breast-cancer", 1); err != nil {
			t.Fatal(err)
		}
	}
	err := l.Charge("breast-cancer", 0.5)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("over-cap charge: %v", err)
	}
	for _, s := range []string{`"breast-cancer"`, "spent epsilon 3 ", "cap 3", "0.5"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if s, _ := l.Spent("breast-cancer"); s != 3 {
		t.Errorf("refused charge recorded: spent %v", s)
	}
	if err := l.Charge("digits", 2.5); err != nil {
		t.Errorf("other dataset: %v", err)
	}
	m := NewMemoryLedger(math.Inf(1))
	m.SetCap("x", 1)
	if m.Charge("y", 1e9) != nil || m.Charge("x", 1.5) == nil {
		t.Error("per-dataset cap not applied")
	}
	if c, _ := m.Cap("x"); c != 1 {
		t.Errorf("cap %v", c)
	}
	if !errors.Is(m.Charge("x", -1), ErrParam) || !errors.Is(m.Charge("x", math.NaN()), ErrParam) {
		t.Error("bad charge accepted")
	}
}

func TestAdaptiveClip(t *testing.T) {
	// Norms uniform on [0, 10]: the 0.7 quantile is 7.
	rng := rand.New(rand.NewPCG(3, 4))
	a := AdaptiveClip{Clip: 0.5, Quantile: 0.7, LearningRate: 0.2, CountNoise: 2}
	const m = 100
	var last []float64
	for round := 0; round < 400; round++ {
		var sum float64
		for i := 0; i < m; i++ {
			sum += a.Indicator(10 * rng.Float64())
		}
		c, err := a.Update(sum, m, rng)
		if err != nil {
			t.Fatal(err)
		}
		if round >= 300 {
			last = append(last, c)
		}
	}
	var mean float64
	for _, c := range last {
		mean += c / float64(len(last))
	}
	near(t, "clip norm", mean, 7, 0.1)
	if _, err := a.Update(1, 0, rng); !errors.Is(err, ErrParam) {
		t.Errorf("m=0: %v", err)
	}
	z, err := UpdateNoiseMultiplier(1, 5)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "z_Δ", z, 1/math.Sqrt(1-1.0/100), 1e-12)
}

func TestDiscreteGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s2 := range []float64{0.25, 1, 10, 1e4, 1e8} {
		const n = 40000
		var sum, sumsq float64
		for i := 0; i < n; i++ {
			x := float64(DiscreteGaussian(rng, s2))
			sum += x
			sumsq += x * x
		}
		mean, v := sum/n, sumsq/n
		if math.Abs(mean) > 5*math.Sqrt(s2/n) {
			t.Errorf("σ²=%v: mean %v", s2, mean)
		}
		want := s2
		if s2 == 0.25 {
			// Variance of N_Z(0, 1/4): Σ x² e^{−2x²} / Σ e^{−2x²}.
			var num, den float64
			for x := -10.0; x <= 10; x++ {
				num += x * x * math.Exp(-2*x*x)
				den += math.Exp(-2 * x * x)
			}
			want = num / den
		}
		// Relative standard error of the sample variance is √(2/n) ≈ 0.7%.
		near(t, "variance", v, want, 0.04)
	}
	// Small σ²: exact probabilities of 0 and ±1 for σ² = 1.
	counts := map[int64]int{}
	const n = 100000
	for i := 0; i < n; i++ {
		counts[DiscreteGaussian(rng, 1)]++
	}
	var z float64
	for x := -12.0; x <= 12; x++ {
		z += math.Exp(-x * x / 2)
	}
	for x := int64(-2); x <= 2; x++ {
		p := math.Exp(-float64(x*x)/2) / z
		if got := float64(counts[x]) / n; math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/n) {
			t.Errorf("P(%d) = %v, want %v", x, got, p)
		}
	}
	if DiscreteGaussian(rng, 0) != 0 {
		t.Error("σ²=0 not 0")
	}
}

// Sites add noise of variance σ²/n in the ring; the wrapped sum carries σ².
func TestDiscreteGaussianShares(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const sites, sigma2, length = 10, 400.0, 20000
	sum32 := make([]uint32, length)
	sum64 := make([]uint64, length)
	for s := 0; s < sites; s++ {
		share32 := make([]uint32, length)
		share64 := make([]uint64, length)
		AddDiscreteGaussian(share32, ShareVariance(sigma2, sites), rng)
		AddDiscreteGaussian(share64, ShareVariance(sigma2, sites), rng)
		for i := range sum32 {
			sum32[i] += share32[i]
			sum64[i] += share64[i]
		}
	}
	for name, get := range map[string]func(int) float64{
		"u32": func(i int) float64 { return float64(int32(sum32[i])) },
		"u64": func(i int) float64 { return float64(int64(sum64[i])) },
	} {
		var sum, sumsq float64
		for i := 0; i < length; i++ {
			x := get(i)
			sum += x
			sumsq += x * x
		}
		if m := sum / length; math.Abs(m) > 5*math.Sqrt(sigma2/length) {
			t.Errorf("%s: mean %v", name, m)
		}
		near(t, name+" summed variance", sumsq/length, sigma2, 0.05)
	}
}

func BenchmarkEpsilon(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Epsilon(256.0/60000, 1.1, 14063, 1e-5)
	}
}

func BenchmarkNoisyClippedSum(b *testing.B) {
	const p, rows = 1000, 64
	g := make([]float64, p*rows)
	dst := make([]float64, p)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	b.SetBytes(8 * p * rows)
	for i := 0; i < b.N; i++ {
		NoisyClippedSum(dst, g, 1, 1.1, rng)
	}
}

func BenchmarkAddDiscreteGaussian(b *testing.B) {
	v := make([]uint32, 4096)
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(4 * 4096)
	for i := 0; i < b.N; i++ {
		AddDiscreteGaussian(v, 1e6, rng)
	}
}

// RDP grows with the order, and the fractional series must agree with that
// over a grid of settings (a broken series shows as a dip or a jump).
func TestRDPMonotoneInOrder(t *testing.T) {
	for _, q := range []float64{1e-6, 1e-3, 0.01, 0.1, 0.5, 0.9} {
		for _, sigma := range []float64{0.3, 0.7, 1.1, 3, 20} {
			prev := 0.0
			for _, o := range defaultOrders {
				r := rdpStep(q, sigma, o)
				if math.IsNaN(r) || r < prev*(1-1e-9) {
					t.Fatalf("q=%v σ=%v: RDP(%v) = %v after %v", q, sigma, o, r, prev)
				}
				prev = r
			}
		}
	}
}
