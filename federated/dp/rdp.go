package dp

import (
	"fmt"
	"math"
)

// defaultOrders are the Rényi orders the accountant minimises over: 1.1 to
// 10.9 in steps of 0.1 and the integers 12 to 63, as in TF Privacy and Opacus,
// plus 1.01, 1.05, 1.25, 1.75 and 64, 80, 96, 128, 256 (the orders of TF
// Privacy's tests), which help very small and very large ε. Never written.
var defaultOrders = func() []float64 {
	o := []float64{1.01, 1.05}
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
		if x == 2 || x == 7 {
			o = append(o, 1+float64(x)/10+0.05) // 1.25, 1.75
		}
	}
	for a := 12; a <= 64; a++ {
		o = append(o, float64(a))
	}
	return append(o, 80, 96, 128, 256)
}()

// DefaultOrders returns a copy of the Rényi orders used when an [Accountant]
// is made without its own.
func DefaultOrders() []float64 { return append([]float64(nil), defaultOrders...) }

// RDP returns the Rényi-DP ε(α) of steps compositions of the Gaussian
// mechanism with noise multiplier sigma (noise standard deviation over L2
// sensitivity) on a Poisson subsample with rate q, at order alpha > 1.
//
// Integer orders use the exact binomial expansion of Mironov, Talwar and
// Zhang (2019, Section 3.3); fractional orders use their two-sided series
// (Section 3.3, the bound for fractional α). Both are summed in log space.
// If the fractional series cannot be evaluated stably, the value at the next
// integer order is returned, which is larger (RDP grows with α) and so still
// a valid bound. It returns an error wrapping [ErrParam] for q outside [0, 1],
// sigma < 0, steps < 0 or alpha ≤ 1.
func RDP(q, sigma float64, steps int, alpha float64) (float64, error) {
	if err := checkMech(q, sigma, steps); err != nil {
		return 0, err
	}
	if !(alpha > 1) {
		return 0, fmt.Errorf("%w: order %v must be > 1", ErrParam, alpha)
	}
	return float64(steps) * rdpStep(q, sigma, alpha), nil
}

func checkMech(q, sigma float64, steps int) error {
	switch {
	case !(q >= 0 && q <= 1):
		return fmt.Errorf("%w: sample rate %v not in [0, 1]", ErrParam, q)
	case !(sigma >= 0) || math.IsInf(sigma, 0):
		return fmt.Errorf("%w: noise multiplier %v must be finite and >= 0", ErrParam, sigma)
	case steps < 0:
		return fmt.Errorf("%w: steps %d must be >= 0", ErrParam, steps)
	}
	return nil
}

// rdpStep is the RDP of one step at order alpha > 1.
func rdpStep(q, sigma, alpha float64) float64 {
	switch {
	case q == 0:
		return 0
	case sigma == 0 || math.IsInf(alpha, 1):
		return math.Inf(1)
	case q == 1:
		return alpha / (2 * sigma * sigma)
	}
	if alpha == math.Floor(alpha) {
		return logAInt(q, sigma, alpha) / (alpha - 1)
	}
	la, ok := logAFrac(q, sigma, alpha)
	if !ok {
		c := math.Ceil(alpha)
		return logAInt(q, sigma, c) / (c - 1)
	}
	return la / (alpha - 1)
}

// logAInt is log A_α for integer α:
// A_α = Σ_{i=0}^{α} C(α,i) q^i (1−q)^{α−i} exp((i²−i)/(2σ²)).
func logAInt(q, sigma, alpha float64) float64 {
	n := int(alpha)
	lq, l1q := math.Log(q), math.Log1p(-q)
	s2 := 2 * sigma * sigma
	acc := math.Inf(-1)
	for i := 0; i <= n; i++ {
		fi := float64(i)
		t := logBinom(alpha, fi) + fi*lq + (alpha-fi)*l1q + (fi*fi-fi)/s2
		acc = logAdd(acc, t)
	}
	return acc
}

// logAFrac is log A_α for fractional α by the two series of Mironov et al.
// (2019), A = A0 + A1 with
//
//	A0 = Σ_i C(α,i) q^i (1−q)^{α−i} exp((i²−i)/(2σ²)) · ½ erfc((i−z0)/(√2σ))
//	A1 = Σ_i C(α,i) q^{α−i} (1−q)^i exp(((α−i)²−(α−i))/(2σ²)) · ½ erfc((z0−(α−i))/(√2σ))
//
// where z0 = σ² log(1/q − 1) + ½, summed until both terms fall below e^−30.
// ok is false if a partial sum went negative in floating point.
func logAFrac(q, sigma, alpha float64) (float64, bool) {
	a0, a1 := math.Inf(-1), math.Inf(-1)
	lq, l1q := math.Log(q), math.Log1p(-q)
	z0 := sigma*sigma*math.Log(1/q-1) + 0.5
	s2 := 2 * sigma * sigma
	rt := math.Sqrt2 * sigma
	for i := 0; i < 100000; i++ {
		fi := float64(i)
		j := alpha - fi
		lc, sign := logAbsBinom(alpha, fi)
		t0 := lc + fi*lq + j*l1q
		t1 := lc + j*lq + fi*l1q
		e0 := math.Log(0.5) + logErfc((fi-z0)/rt)
		e1 := math.Log(0.5) + logErfc((z0-j)/rt)
		s0 := t0 + (fi*fi-fi)/s2 + e0
		s1 := t1 + (j*j-j)/s2 + e1
		if sign > 0 {
			a0, a1 = logAdd(a0, s0), logAdd(a1, s1)
		} else {
			var ok0, ok1 bool
			a0, ok0 = logSub(a0, s0)
			a1, ok1 = logSub(a1, s1)
			if !ok0 || !ok1 {
				return 0, false
			}
		}
		if math.Max(s0, s1) < -30 {
			r := logAdd(a0, a1)
			return r, !math.IsNaN(r) && !math.IsInf(r, 0)
		}
	}
	return 0, false
}

// logBinom is log C(n, k) for 0 ≤ k ≤ n.
func logBinom(n, k float64) float64 {
	a, _ := math.Lgamma(n + 1)
	b, _ := math.Lgamma(k + 1)
	c, _ := math.Lgamma(n - k + 1)
	return a - b - c
}

// logAbsBinom is log |C(α, k)| and its sign, for real α and integer k ≥ 0.
func logAbsBinom(alpha, k float64) (float64, int) {
	a, sa := math.Lgamma(alpha + 1)
	b, _ := math.Lgamma(k + 1)
	c, sc := math.Lgamma(alpha - k + 1)
	return a - b - c, sa * sc
}

// logAdd is log(e^x + e^y).
func logAdd(x, y float64) float64 {
	a, b := math.Max(x, y), math.Min(x, y)
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// logSub is log(e^x − e^y); ok is false when y > x.
func logSub(x, y float64) (float64, bool) {
	switch {
	case math.IsInf(y, -1):
		return x, true
	case y > x:
		return 0, false
	case x == y:
		return math.Inf(-1), true
	}
	return x + math.Log(-math.Expm1(y-x)), true
}

// logErfc is log(erfc(x)), with the asymptotic series where erfc underflows.
func logErfc(x float64) float64 {
	if x < 20 {
		return math.Log(math.Erfc(x))
	}
	x2 := x * x
	// erfc(x) = e^{−x²}/(x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸) …)
	s := 1 - 1/(2*x2) + 3/(4*x2*x2) - 15/(8*x2*x2*x2) + 105/(16*x2*x2*x2*x2)
	return -x2 - math.Log(x) - 0.5*math.Log(math.Pi) + math.Log(s)
}

// BalleEpsilon converts an RDP guarantee rdp at order alpha > 1 to the ε of
// an (ε, δ) guarantee by Balle et al. (2020, Theorem 21):
//
//	ε = rdp + log((α−1)/α) − (log δ + log α)/(α−1),
//
// clamped at 0.
func BalleEpsilon(rdp, alpha, delta float64) float64 {
	e := rdp + math.Log1p(-1/alpha) - (math.Log(delta)+math.Log(alpha))/(alpha-1)
	return math.Max(e, 0)
}

// Accountant composes subsampled Gaussian mechanisms in RDP at a fixed set of
// orders and converts the total to (ε, δ). The zero value is not usable; make
// one with [NewAccountant]. It is not safe for concurrent use.
type Accountant struct {
	orders []float64
	rdp    []float64
}

// NewAccountant returns an accountant over the given orders (each > 1), or
// over [DefaultOrders] when none are given.
func NewAccountant(orders ...float64) (*Accountant, error) {
	if len(orders) == 0 {
		orders = defaultOrders
	}
	for _, a := range orders {
		if !(a > 1) {
			return nil, fmt.Errorf("%w: order %v must be > 1", ErrParam, a)
		}
	}
	return &Accountant{orders: append([]float64(nil), orders...), rdp: make([]float64, len(orders))}, nil
}

// Compose adds steps runs of the Gaussian mechanism with noise multiplier
// sigma on a Poisson subsample of rate q. Invalid arguments leave the
// accountant unchanged and return an error wrapping [ErrParam].
func (a *Accountant) Compose(q, sigma float64, steps int) error {
	if err := checkMech(q, sigma, steps); err != nil {
		return err
	}
	if steps == 0 {
		return nil
	}
	for i, o := range a.orders {
		a.rdp[i] += float64(steps) * rdpStep(q, sigma, o)
	}
	return nil
}

// Orders returns a copy of the accountant's orders.
func (a *Accountant) Orders() []float64 { return append([]float64(nil), a.orders...) }

// RDP returns a copy of the composed RDP ε at each of the orders.
func (a *Accountant) RDP() []float64 { return append([]float64(nil), a.rdp...) }

// Epsilon returns the smallest ε over the orders for which the composition so
// far is (ε, δ)-DP by [BalleEpsilon], and the order that gives it. delta
// must be in (0, 1). If every order gives an infinite ε (no noise), it returns
// +Inf and order 0; if nothing with q > 0 was composed, 0 and order 0.
func (a *Accountant) Epsilon(delta float64) (eps, order float64, err error) {
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("%w: delta %v not in (0, 1)", ErrParam, delta)
	}
	zero := true
	for _, r := range a.rdp {
		zero = zero && r == 0
	}
	if zero { // nothing released (or q = 0): the outputs do not depend on the data
		return 0, 0, nil
	}
	eps = math.Inf(1)
	for i, o := range a.orders {
		e := BalleEpsilon(a.rdp[i], o, delta)
		if e < eps { // NaN never wins
			eps, order = e, o
		}
	}
	return eps, order, nil
}

// Epsilon returns the (ε, δ) guarantee, minimised over [DefaultOrders], of
// steps steps of DP-SGD with Poisson sample rate q and noise multiplier
// sigma, and the best order.
func Epsilon(q, sigma float64, steps int, delta float64) (eps, order float64, err error) {
	a, _ := NewAccountant()
	if err := a.Compose(q, sigma, steps); err != nil {
		return 0, 0, err
	}
	return a.Epsilon(delta)
}

// NoiseMultiplier returns the smallest noise multiplier, to a relative
// precision of 1e-4 and rounded up, for which steps steps of the subsampled
// Gaussian mechanism with rate q are (targetEps, delta)-DP by [Epsilon]. It
// returns an error wrapping [ErrUnreachable] if even a multiplier of 10⁴ does
// not suffice, and [ErrParam] for invalid arguments.
func NoiseMultiplier(targetEps, q float64, steps int, delta float64) (float64, error) {
	if !(targetEps > 0) || math.IsInf(targetEps, 1) {
		return 0, fmt.Errorf("%w: target epsilon %v must be finite and > 0", ErrParam, targetEps)
	}
	if err := checkMech(q, 1, steps); err != nil {
		return 0, err
	}
	if !(delta > 0 && delta < 1) {
		return 0, fmt.Errorf("%w: delta %v not in (0, 1)", ErrParam, delta)
	}
	eps := func(s float64) float64 {
		e, _, _ := Epsilon(q, s, steps, delta)
		return e
	}
	if q == 0 || steps == 0 {
		return 0, nil
	}
	lo, hi := 0.0, 1.0
	for eps(hi) > targetEps {
		lo, hi = hi, 2*hi
		if hi > 1e4 {
			return 0, fmt.Errorf("%w: epsilon %v with q=%v, %d steps, delta=%v", ErrUnreachable, targetEps, q, steps, delta)
		}
	}
	for hi-lo > 1e-4*hi {
		mid := (lo + hi) / 2
		if eps(mid) > targetEps {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}
