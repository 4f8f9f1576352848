// Package modq implements constant-time arithmetic on vectors of integers
// modulo an arbitrary modulus q with 2 ≤ q < 2^62.
//
// # Reduction method
//
// Products are reduced with classical Barrett reduction (Menezes et al.,
// Handbook of Applied Cryptography, Algorithm 14.42, with base b = 2). Let
// k = bitlen(q), so 2^(k-1) ≤ q < 2^k and k ≤ 62, and precompute
// μ = ⌊2^(2k)/q⌋, which satisfies 2^k < μ ≤ 2^(k+1) ≤ 2^63. For a product
// x = a·b with a, b < q we have x < 2^(2k) ≤ 2^124 and compute
//
//	q̂ = ⌊⌊x / 2^(k-1)⌋ · μ / 2^(k+1)⌋,   r = x − q̂·q.
//
// Here ⌊x / 2^(k-1)⌋ < 2^(k+1) ≤ 2^63, so the product with μ is below 2^126 and
// fits one bits.Mul64. HAC Fact 14.43 gives ⌊x/q⌋ − 2 ≤ q̂ ≤ ⌊x/q⌋, hence
// 0 ≤ r < 3q < 2^64: r is exact when computed modulo 2^64 from the low words,
// and two masked conditional subtractions of q bring it into [0, q).
//
// Reduction of a full 64-bit word (Reduce) and the precomputation of Shoup's
// constant use a 128-bit Barrett constant m = ⌊2^128/q⌋ = 2^128/q − e with
// 0 ≤ e < 1. For x < 2^126 the estimate q̂ = ⌊x·m/2^128⌋ (dropping at most the
// lowest 64-bit word of the 256-bit product) is off from ⌊x/q⌋ by less than
// x·e/2^128 + 2^-64 < 1, so ⌊x/q⌋ − 1 ≤ q̂ ≤ ⌊x/q⌋ and r = x − q̂·q lies in
// [0, 2q); one masked conditional subtraction finishes.
//
// Multiplication by a fixed scalar s (MulScalar) uses Shoup's method with
// s' = ⌊s·2^64/q⌋: q̂ = ⌊a·s'/2^64⌋ is within 1 of ⌊a·s/q⌋ because
// a·s/q − a·s'/2^64 < a/2^64 < 1, so again r = a·s − q̂·q ∈ [0, 2q).
//
// # Constant time
//
// No function branches on or indexes memory with the values it processes;
// only the public modulus (and the public vector lengths) influence control
// flow. Conditional subtractions are computed from the borrow of
// bits.Sub64 turned into an all-ones or all-zero mask. bits.Mul64, bits.Add64
// and bits.Sub64 compile to single constant-time instructions on amd64 and
// arm64 (MUL/MULQ, ADC, SBB). Integer division is used only in New, on the
// public modulus.
//
// # Input ranges
//
// Unless documented otherwise, inputs must be in [0, q); results are then in
// [0, q). Out-of-range inputs never cause a panic but give unspecified
// results. Reduce accepts any uint64.
package modq

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxModulus is the exclusive upper bound on the modulus: New accepts
// 2 ≤ q < MaxModulus.
const MaxModulus = 1 << 62

// ErrModulus reports a modulus outside [2, 2^62). New wraps it with the
// offending value.
var ErrModulus = errors.New("modq: invalid modulus")

// Modulus holds a validated modulus q with 2 ≤ q < 2^62 and the precomputed
// constants for Barrett reduction. It is immutable and safe for concurrent
// use; copy it freely. The zero value is invalid: obtain one from New.
type Modulus struct {
	q      uint64
	mu     uint64 // ⌊2^(2k)/q⌋, k = bitlen(q)
	sh1    uint   // k − 1
	sh2    uint   // k + 1
	mHi    uint64 // high word of ⌊2^128/q⌋
	mLo    uint64 // low word of ⌊2^128/q⌋
	bitLen uint   // k
}

// New validates q and precomputes its reduction constants. It returns an
// error wrapping ErrModulus unless 2 ≤ q < 2^62.
func New(q uint64) (Modulus, error) {
	if q < 2 || q >= MaxModulus {
		return Modulus{}, fmt.Errorf("%w: q = %d, want 2 ≤ q < 2^62", ErrModulus, q)
	}
	k := uint(bits.Len64(q))
	// μ = ⌊2^(2k)/q⌋. 2k ≤ 124, so 2^(2k) = hi·2^64 + lo with at most one
	// non-zero word; hi < q because 2^(2k) < q·2^64 (q ≥ 2^(k-1), 2k < k−1+64).
	var hi, lo uint64
	if 2*k >= 64 {
		hi = 1 << (2*k - 64)
	} else {
		lo = 1 << (2 * k)
	}
	mu, _ := bits.Div64(hi, lo, q)
	// m = ⌊2^128/q⌋ by long division of the words (1, 0, 0) by q (q > 1).
	mHi, rem := bits.Div64(1, 0, q)
	mLo, _ := bits.Div64(rem, 0, q)
	return Modulus{
		q:      q,
		mu:     mu,
		sh1:    k - 1,
		sh2:    k + 1,
		mHi:    mHi,
		mLo:    mLo,
		bitLen: k,
	}, nil
}

// MustNew is like New but panics if q is invalid. It is intended for
// package-level constants and tests with known-good moduli.
func MustNew(q uint64) Modulus {
	m, err := New(q)
	if err != nil {
		panic(err)
	}
	return m
}

// Q returns the modulus q (0 for the invalid zero Modulus).
func (m Modulus) Q() uint64 { return m.q }

// BitLen returns the bit length of q.
func (m Modulus) BitLen() int { return int(m.bitLen) }

// csub returns r − q if r ≥ q and r otherwise, without branching.
func csub(r, q uint64) uint64 {
	t, borrow := bits.Sub64(r, q, 0)
	return t + (q & -borrow)
}

// Add returns (a + b) mod q for a, b in [0, q).
func (m Modulus) Add(a, b uint64) uint64 {
	return csub(a+b, m.q) // a + b < 2q < 2^63: no overflow
}

// Sub returns (a − b) mod q for a, b in [0, q).
func (m Modulus) Sub(a, b uint64) uint64 {
	d, borrow := bits.Sub64(a, b, 0)
	return d + (m.q & -borrow)
}

// Neg returns (−a) mod q for a in [0, q).
func (m Modulus) Neg(a uint64) uint64 {
	return m.Sub(0, a)
}

// Mul returns a·b mod q for a, b in [0, q), using Barrett reduction.
func (m Modulus) Mul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return m.reduceProduct(hi, lo)
}

// reduceProduct reduces x = hi·2^64 + lo < 2^(2k) modulo q (see the package
// documentation for the bound).
func (m Modulus) reduceProduct(hi, lo uint64) uint64 {
	// q1 = ⌊x / 2^(k-1)⌋ < 2^63; 1 ≤ k−1 ≤ 61.
	// The shift counts are masked to 63 (a no-op for these ranges) so that
	// the compiler emits plain shifts.
	q1 := lo>>(m.sh1&63) | hi<<((64-m.sh1)&63)
	// q̂ = ⌊q1·μ / 2^(k+1)⌋; 3 ≤ k+1 ≤ 63.
	ph, pl := bits.Mul64(q1, m.mu)
	qh := pl>>(m.sh2&63) | ph<<((64-m.sh2)&63)
	r := lo - qh*m.q // exact: r < 3q < 2^64
	r = csub(r, m.q)
	return csub(r, m.q)
}

// Reduce returns a mod q for any a.
func (m Modulus) Reduce(a uint64) uint64 {
	// q̂ = ⌊a·m / 2^128⌋ without the low word of a·mLo.
	h, l := bits.Mul64(a, m.mHi)
	c, _ := bits.Mul64(a, m.mLo)
	_, carry := bits.Add64(l, c, 0)
	qh := h + carry
	return csub(a-qh*m.q, m.q) // a − q̂·q ∈ [0, 2q)
}

// ShoupScalar is a scalar s in [0, q) together with Shoup's precomputed
// constant ⌊s·2^64/q⌋, for fast repeated multiplication by s. The zero value
// represents s = 0 for any modulus.
type ShoupScalar struct {
	s, sp uint64
}

// Shoup reduces s modulo q and precomputes Shoup's constant for it. It runs
// in constant time in s.
func (m Modulus) Shoup(s uint64) ShoupScalar {
	s = m.Reduce(s)
	// x = s·2^64 < 2^126. With x = (s, 0), ⌊x·m/2^128⌋ = s·mHi + ⌊s·mLo/2^64⌋
	// exactly (taken mod 2^64; the true quotient is below 2^64).
	c, _ := bits.Mul64(s, m.mLo)
	qh := s*m.mHi + c
	r := -(qh * m.q) // x − q̂·q mod 2^64, in [0, 2q)
	_, borrow := bits.Sub64(r, m.q, 0)
	qh += 1 - borrow // r ≥ q: q̂ was one too small
	return ShoupScalar{s: s, sp: qh}
}

// Value returns the scalar s.
func (s ShoupScalar) Value() uint64 { return s.s }

// MulShoup returns a·s mod q for a in [0, q), where s was prepared by
// m.Shoup.
func (m Modulus) MulShoup(a uint64, s ShoupScalar) uint64 {
	qh, _ := bits.Mul64(a, s.sp)
	return csub(a*s.s-qh*m.q, m.q)
}

func checkLen2(dst, a []uint64) {
	if len(dst) != len(a) {
		panic(fmt.Sprintf("modq: length mismatch: len(dst) = %d, len(a) = %d", len(dst), len(a)))
	}
}

func checkLen3(dst, a, b []uint64) {
	if len(dst) != len(a) || len(dst) != len(b) {
		panic(fmt.Sprintf("modq: length mismatch: len(dst) = %d, len(a) = %d, len(b) = %d", len(dst), len(a), len(b)))
	}
}

// Add sets dst[i] = (a[i] + b[i]) mod q for a[i], b[i] in [0, q). dst may
// alias a or b (exactly; partially overlapping slices are not supported).
// It panics if len(a) != len(dst) or len(b) != len(dst).
func Add(m Modulus, dst, a, b []uint64) {
	checkLen3(dst, a, b)
	q := m.q
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		s := a[i] + b[i]
		t, borrow := bits.Sub64(s, q, 0)
		dst[i] = t + (q & -borrow)
	}
}

// Sub sets dst[i] = (a[i] − b[i]) mod q for a[i], b[i] in [0, q). dst may
// alias a or b. It panics if len(a) != len(dst) or len(b) != len(dst).
func Sub(m Modulus, dst, a, b []uint64) {
	checkLen3(dst, a, b)
	q := m.q
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		d, borrow := bits.Sub64(a[i], b[i], 0)
		dst[i] = d + (q & -borrow)
	}
}

// Neg sets dst[i] = (−a[i]) mod q for a[i] in [0, q). dst may alias a. It
// panics if len(a) != len(dst).
func Neg(m Modulus, dst, a []uint64) {
	checkLen2(dst, a)
	q := m.q
	a = a[:len(dst)]
	for i := range dst {
		d, borrow := bits.Sub64(0, a[i], 0)
		dst[i] = d + (q & -borrow)
	}
}

// Mul sets dst[i] = a[i]·b[i] mod q for a[i], b[i] in [0, q), using Barrett
// reduction. dst may alias a or b. It panics if len(a) != len(dst) or
// len(b) != len(dst).
func Mul(m Modulus, dst, a, b []uint64) {
	checkLen3(dst, a, b)
	q, mu, sh1, sh2 := m.q, m.mu, m.sh1&63, m.sh2&63
	rsh1, rsh2 := (64-m.sh1)&63, (64-m.sh2)&63
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		hi, lo := bits.Mul64(a[i], b[i])
		q1 := lo>>sh1 | hi<<rsh1
		ph, pl := bits.Mul64(q1, mu)
		qh := pl>>sh2 | ph<<rsh2
		r := lo - qh*q
		t, borrow := bits.Sub64(r, q, 0)
		r = t + (q & -borrow)
		t, borrow = bits.Sub64(r, q, 0)
		dst[i] = t + (q & -borrow)
	}
}

// MulScalar sets dst[i] = a[i]·s mod q for a[i] in [0, q), using Shoup's
// method. Any s is accepted (it is reduced modulo q first). dst may alias a.
// It panics if len(a) != len(dst).
func MulScalar(m Modulus, dst, a []uint64, s uint64) {
	checkLen2(dst, a)
	MulShoupVec(m, dst, a, m.Shoup(s))
}

// MulShoupVec sets dst[i] = a[i]·s mod q for a[i] in [0, q) with a scalar
// prepared by m.Shoup, so that chunked callers precompute it once. dst may
// alias a. It panics if len(a) != len(dst).
func MulShoupVec(m Modulus, dst, a []uint64, s ShoupScalar) {
	checkLen2(dst, a)
	q, sv, sp := m.q, s.s, s.sp
	a = a[:len(dst)]
	for i := range dst {
		x := a[i]
		qh, _ := bits.Mul64(x, sp)
		r := x*sv - qh*q
		t, borrow := bits.Sub64(r, q, 0)
		dst[i] = t + (q & -borrow)
	}
}

// Reduce sets dst[i] = a[i] mod q for any a[i]. dst may alias a. It panics
// if len(a) != len(dst).
func Reduce(m Modulus, dst, a []uint64) {
	checkLen2(dst, a)
	q, mHi, mLo := m.q, m.mHi, m.mLo
	a = a[:len(dst)]
	for i := range dst {
		x := a[i]
		h, l := bits.Mul64(x, mHi)
		c, _ := bits.Mul64(x, mLo)
		_, carry := bits.Add64(l, c, 0)
		r := x - (h+carry)*q
		t, borrow := bits.Sub64(r, q, 0)
		dst[i] = t + (q & -borrow)
	}
}
