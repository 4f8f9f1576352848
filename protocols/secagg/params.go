package secagg

import (
	"errors"
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/tensor"
)

// ErrParams is returned, wrapped with the field at fault, for parameters
// that NewParams or ChooseKT refuse.
var ErrParams = errors.New("secagg: invalid parameters")

const (
	// maxParamsN bounds N so that party indices fit uint32 with room to spare
	// and a round's graph and key list stay a reasonable size.
	maxParamsN = 1 << 24
	// maxParamsDim is the largest vector length, MaxDim of the wire format
	// (wire.go), repeated here so that this file stands alone.
	maxParamsDim = 1 << 28
)

// ParamsLiteral is an unchecked description of a SecAgg+ round. Turn it into
// usable parameters with NewParams; pick K and T with ChooseKT or set them
// explicitly.
type ParamsLiteral struct {
	// N is the number of parties, 2..2^24. They are numbered 0..N-1.
	N int
	// K is the number of neighbours of each party: an even number in
	// 2..N-2 (a circulant graph), or N-1 (the complete graph, any parity).
	K int
	// T is the Shamir threshold, 1 <= T <= K: a party's secrets are
	// recovered from T of its neighbours' shares. ChooseKT always gives
	// T > K/2; a smaller T is accepted but lets a malicious server that
	// shows different neighbours different survivor lists collect both
	// kinds of shares of one party, so use it only against an honest server.
	T int
	// RingBits is the ring of the masked sum: 32 (Z/2^32) or 64 (Z/2^64).
	RingBits int
	// Dim is the length of each party's vector, 1..2^28.
	Dim int
	// Lo and Hi are the clipping range of the fixed-point encoding.
	Lo, Hi float64
	// Bits is the number of bits per quantised value; 0 picks the largest
	// that a sum of N values allows in the ring (tensor.NewFixedPoint).
	Bits int
}

// Params are validated, immutable parameters of a SecAgg+ round.
type Params struct {
	lit ParamsLiteral // Bits resolved
	fp  *tensor.FixedPoint
}

// NewParams validates lit and builds its fixed-point encoding with
// MaxSummands = N, so the sum of all parties' quantised inputs cannot wrap
// the ring. Every error wraps ErrParams and names the field at fault.
func NewParams(lit ParamsLiteral) (*Params, error) {
	if lit.N < 2 || lit.N > maxParamsN {
		return nil, fmt.Errorf("%w: N is %d, want 2..%d", ErrParams, lit.N, maxParamsN)
	}
	if lit.K != lit.N-1 && (lit.K < 2 || lit.K > lit.N-2 || lit.K%2 != 0) {
		return nil, fmt.Errorf("%w: K is %d, want an even degree in 2..N-2 or N-1 = %d (complete graph)", ErrParams, lit.K, lit.N-1)
	}
	if lit.T < 1 || lit.T > lit.K {
		return nil, fmt.Errorf("%w: T is %d, want 1..K = %d", ErrParams, lit.T, lit.K)
	}
	if lit.RingBits != 32 && lit.RingBits != 64 {
		return nil, fmt.Errorf("%w: RingBits is %d, want 32 or 64", ErrParams, lit.RingBits)
	}
	if lit.Dim < 1 || lit.Dim > maxParamsDim {
		return nil, fmt.Errorf("%w: Dim is %d, want 1..%d", ErrParams, lit.Dim, maxParamsDim)
	}
	fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{
		RingBits: lit.RingBits, Lo: lit.Lo, Hi: lit.Hi, MaxSummands: lit.N, Bits: lit.Bits,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: fixed point (Lo, Hi, Bits with N summands): %w", ErrParams, err)
	}
	lit.Bits = fp.Bits()
	return &Params{lit: lit, fp: fp}, nil
}

// N returns the number of parties.
func (p *Params) N() int { return p.lit.N }

// K returns the number of neighbours of each party.
func (p *Params) K() int { return p.lit.K }

// T returns the Shamir threshold.
func (p *Params) T() int { return p.lit.T }

// RingBits returns 32 or 64.
func (p *Params) RingBits() int { return p.lit.RingBits }

// Dim returns the vector length.
func (p *Params) Dim() int { return p.lit.Dim }

// FixedPoint returns the fixed-point encoding of the inputs (MaxSummands = N).
func (p *Params) FixedPoint() *tensor.FixedPoint { return p.fp }

// Literal returns the parameters as a literal, with Bits set to the value in
// use (never 0), so NewParams(p.Literal()) gives equal parameters.
func (p *Params) Literal() ParamsLiteral { return p.lit }

const (
	// CorrectnessBits is η: ChooseKT keeps the probability that some party's
	// secrets cannot be reconstructed below 2^-η.
	CorrectnessBits = 20
	// SecurityBits is σ: ChooseKT keeps the probability that the adversary
	// learns both secrets of an honest party, or that the honest survivors'
	// graph disconnects, below 2^-σ.
	SecurityBits = 40
	// chooseMaxDegree bounds ChooseKT's search over circulant degrees.
	chooseMaxDegree = 4096
)

// ChooseKT picks the neighbour degree k and threshold t for n parties, an
// expected dropout rate and an assumed corruption rate (fractions in [0,1)),
// from the SecAgg+ analysis (Bell et al., CCS 2020), or returns an error
// (wrapping ErrParams) saying why none fits.
//
// Model: each party drops out independently with probability δ = dropout,
// and is corrupted (colludes with the server) independently with
// probability γ = corruption. A union bound over the n parties gives the
// three conditions, with η = CorrectnessBits = 20 and σ = SecurityBits = 40:
//
//   - Correctness: a party's secret is reconstructed when at least t of its
//     k neighbours survive:
//     n · P[Binom(k, 1-δ) < t] ≤ 2^-η.
//   - Security: honest neighbours reveal only one kind of share of a party,
//     so an adversary with c corrupted neighbours of an honest party gets
//     both of its secrets only if 2t ≤ k + c:
//     n · P[Binom(k, γ) ≥ 2t - k] ≤ 2^-σ, and t > k/2 always.
//   - Graph privacy: with ρ = δ + γ removed, the honest survivors'
//     subgraph of the circulant can disconnect only if some k/2 consecutive
//     positions of the cycle are all removed:
//     n · ρ^(k/2) ≤ 2^-σ.
//
// The binomial tails are summed term by term in log space (float64, lgamma;
// checked against 320-bit sums in the tests).
// ChooseKT returns the smallest even k in 2..n-2 (and at most 4096) for which
// some t meets all three; if none does, the complete graph k = n-1, for which
// the graph condition holds trivially, if some t meets the other two. The
// feasible thresholds of that k form a range [tlo, thi] (security gives the
// lower end, correctness the upper) and t is its middle,
// t = ⌈(tlo + thi)/2⌉: both failure probabilities then keep a margin when
// the actual rates exceed the assumed ones, and the tie goes to security,
// since a correctness failure only aborts a round while a security failure
// leaks an input.
//
// Errors: n < 3 or n > 2^24, rates outside [0,1), δ + γ ≥ 1, and
// 2δ + γ ≥ 1 (a threshold must be below the expected survivors (1-δ)k yet
// above the adversary's reach (1+γ)k/2, so no k meets the targets; the tests
// check this exhaustively for small n), and inputs for which no k fits.
func ChooseKT(n int, dropout, corruption float64) (k, t int, err error) {
	return chooseKT(n, dropout, corruption, true)
}

func chooseKT(n int, dropout, corruption float64, failFast bool) (k, t int, err error) {
	if n < 3 || n > maxParamsN {
		return 0, 0, fmt.Errorf("%w: ChooseKT: n is %d, want 3..%d", ErrParams, n, maxParamsN)
	}
	if !(dropout >= 0 && dropout < 1) {
		return 0, 0, fmt.Errorf("%w: ChooseKT: dropout rate is %g, want a fraction in [0, 1)", ErrParams, dropout)
	}
	if !(corruption >= 0 && corruption < 1) {
		return 0, 0, fmt.Errorf("%w: ChooseKT: corruption rate is %g, want a fraction in [0, 1)", ErrParams, corruption)
	}
	rho := dropout + corruption
	if rho >= 1 {
		return 0, 0, fmt.Errorf("%w: ChooseKT: dropout + corruption = %g, want < 1: no party is expected to be honest and survive", ErrParams, rho)
	}
	if failFast && 2*dropout+corruption >= 1 {
		return 0, 0, fmt.Errorf("%w: ChooseKT: 2·dropout + corruption = %g, want < 1: no threshold is both reachable by the survivors and out of the adversary's reach", ErrParams, 2*dropout+corruption)
	}
	b := newTailBounds(n, dropout, corruption)
	lnRho := math.Log(rho)
	for k := 2; k < n-1 && k <= chooseMaxDegree; k += 2 {
		if !(b.lnN+float64(k/2)*lnRho <= b.lnSec) { // graph condition
			continue
		}
		if lo, hi := b.thresholds(k); lo <= hi {
			return k, (lo + hi + 1) / 2, nil
		}
	}
	if n-2 > chooseMaxDegree {
		return 0, 0, fmt.Errorf("%w: ChooseKT: n = %d, dropout %g, corruption %g need a neighbour degree above %d",
			ErrParams, n, dropout, corruption, chooseMaxDegree)
	}
	k = n - 1
	lo, hi := b.thresholds(k)
	if lo <= hi {
		return k, (lo + hi + 1) / 2, nil
	}
	return 0, 0, fmt.Errorf("%w: ChooseKT: n = %d, dropout %g, corruption %g: even the complete graph (k = %d) fails: "+
		"correctness (n·P[Binom(k, 1-δ) < t] ≤ 2^-%d) needs t ≤ %d, security (n·P[Binom(k, γ) ≥ 2t-k] ≤ 2^-%d) needs t ≥ %d, and t > k/2",
		ErrParams, n, dropout, corruption, k, CorrectnessBits, hi, SecurityBits, lo)
}

// tailBounds evaluates ChooseKT's correctness and security conditions.
type tailBounds struct {
	lnN, lnCorr, lnSec float64 // ln n, ln 2^-η, ln 2^-σ
	// ln of the probabilities of the two binomials: survival (1-δ, δ) and
	// corruption (γ, 1-γ).
	lnSurv, lnDrop, lnBad, lnGood float64
	lnFact                        lnFact // grown as larger k are tried
}

func newTailBounds(n int, dropout, corruption float64) *tailBounds {
	return &tailBounds{
		lnN:    math.Log(float64(n)),
		lnCorr: -CorrectnessBits * math.Ln2,
		lnSec:  -SecurityBits * math.Ln2,
		lnSurv: math.Log1p(-dropout), lnDrop: math.Log(dropout),
		lnBad: math.Log(corruption), lnGood: math.Log1p(-corruption),
	}
}

// thresholds returns, for degree k, the smallest t > k/2 meeting the
// security condition (k+1 if none) and the largest t > k/2 meeting the
// correctness condition (k/2 if none); the feasible thresholds are lo..hi.
func (b *tailBounds) thresholds(k int) (lo, hi int) {
	tMin := k/2 + 1
	b.lnFact = logFactorials(b.lnFact, k)
	surv := b.lnFact.binomLogPMF(k, b.lnSurv, b.lnDrop)
	bad := b.lnFact.binomLogPMF(k, b.lnBad, b.lnGood)

	// Correctness: ln P[survivors < t] grows with t.
	hi = tMin - 1
	lower := math.Inf(-1) // ln P[survivors < t] for t = 0
	for t := 1; t <= k; t++ {
		lower = logAddExp(lower, surv[t-1])
		if t >= tMin && b.lnN+lower <= b.lnCorr {
			hi = t
		}
	}
	// Security: ln P[corrupted >= 2t-k] shrinks as t grows.
	upper := make([]float64, k+2) // upper[s] = ln P[corrupted >= s]
	upper[k+1] = math.Inf(-1)
	for s := k; s >= 0; s-- {
		upper[s] = logAddExp(upper[s+1], bad[s])
	}
	lo = k + 1
	for t := k; t >= tMin; t-- {
		if !(b.lnN+upper[2*t-k] <= b.lnSec) {
			break
		}
		lo = t
	}
	return lo, hi
}

// binomLogPMF returns ln P[X = i], i = 0..k, for X ~ Binom(k, p), given
// lnP = ln p and lnQ = ln(1-p) (either may be -Inf).
func binomLogPMF(k int, lnP, lnQ float64) []float64 {
	return logFactorials(nil, k).binomLogPMF(k, lnP, lnQ)
}

// lnFact is a table of ln i!, i = 0..len-1.
type lnFact []float64

// logFactorials extends f to hold ln i! for i = 0..k.
func logFactorials(f lnFact, k int) lnFact {
	for i := len(f); i <= k; i++ {
		v, _ := math.Lgamma(float64(i + 1))
		f = append(f, v)
	}
	return f
}

func (f lnFact) binomLogPMF(k int, lnP, lnQ float64) []float64 {
	pmf := make([]float64, k+1)
	for i := range pmf {
		pmf[i] = f[k] - f[i] - f[k-i] + timesLog(i, lnP) + timesLog(k-i, lnQ)
	}
	return pmf
}

// timesLog returns i·lnP, taking 0·(-Inf) as 0 (p^0 = 1 even for p = 0).
func timesLog(i int, lnP float64) float64 {
	if i == 0 {
		return 0
	}
	return float64(i) * lnP
}

// logAddExp returns ln(e^a + e^b).
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
