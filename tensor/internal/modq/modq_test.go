package modq

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"testing"
)

const (
	mersenne61 = 1<<61 - 1
	prime62    = 1<<62 - 57 // largest prime below 2^62
)

// testModuli returns a deterministic list of moduli covering every bit size
// 2..62 with primes, odd and even non-primes, powers of two and their
// neighbours, and the named special values.
func testModuli(rng *rand.Rand) []uint64 {
	qs := []uint64{2, 3, 4, 5, 7, 8, 9, mersenne61, prime62, MaxModulus - 1, MaxModulus - 2, 1<<32 - 5, 1<<32 + 15}
	for k := 2; k <= 62; k++ {
		lo := uint64(1) << (k - 1)
		span := lo // values in [2^(k-1), 2^k)
		qs = append(qs, lo, lo+span-1)
		if k > 2 {
			qs = append(qs, lo+1)
		}
		for range 2 {
			r := lo + rng.Uint64N(span)
			qs = append(qs, r|1, r&^1) // odd and even
			// A random prime of k bits, if the search stays within k bits.
			p := new(big.Int).SetUint64(r)
			for !p.ProbablyPrime(20) {
				p.Add(p, big.NewInt(1))
			}
			if p.BitLen() == k {
				qs = append(qs, p.Uint64())
			}
		}
	}
	return qs
}

func bigMod(x *big.Int, q uint64) uint64 {
	return new(big.Int).Mod(x, new(big.Int).SetUint64(q)).Uint64()
}

func u(x uint64) *big.Int { return new(big.Int).SetUint64(x) }

// Exact (variable-time) references built on bits.Div64; they are themselves
// checked against math/big in TestReferences.
func refMul(q, a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi%q, lo, q)
	return r
}

func refAdd(q, a, b uint64) uint64 { return (a + b) % q }

func refSub(q, a, b uint64) uint64 { return (a + q - b) % q }

func edgeValues(q uint64) []uint64 {
	vs := []uint64{0, 1, q - 1, q / 2, (q + 1) / 2, q - 2}
	if q == 2 {
		vs = []uint64{0, 1}
	}
	return vs
}

func TestNewErrors(t *testing.T) {
	for _, q := range []uint64{0, 1, MaxModulus, MaxModulus + 1, 1 << 63, math.MaxUint64} {
		m, err := New(q)
		if !errors.Is(err, ErrModulus) {
			t.Errorf("New(%d): err = %v, want ErrModulus", q, err)
		}
		if m.Q() != 0 {
			t.Errorf("New(%d) returned non-zero Modulus", q)
		}
	}
	if _, err := New(2); err != nil {
		t.Fatalf("New(2): %v", err)
	}
	if _, err := New(MaxModulus - 1); err != nil {
		t.Fatalf("New(2^62-1): %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustNew(1) did not panic")
			}
		}()
		MustNew(1)
	}()
}

func TestSpecialModuli(t *testing.T) {
	if !u(prime62).ProbablyPrime(40) || !u(mersenne61).ProbablyPrime(40) {
		t.Fatal("named constants are not prime")
	}
	for q := uint64(prime62 + 1); q < MaxModulus; q++ {
		if u(q).ProbablyPrime(40) {
			t.Fatalf("%d is prime and above prime62", q)
		}
	}
}

func TestReferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, q := range testModuli(rng)[:40] {
		for range 50 {
			a, b := rng.Uint64N(q), rng.Uint64N(q)
			want := bigMod(new(big.Int).Mul(u(a), u(b)), q)
			if got := refMul(q, a, b); got != want {
				t.Fatalf("refMul q=%d", q)
			}
		}
	}
}

// TestScalar checks every scalar operation against math/big for all test
// moduli on edge values and random inputs.
func TestScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, q := range testModuli(rng) {
		m, err := New(q)
		if err != nil {
			t.Fatal(err)
		}
		if m.Q() != q || m.BitLen() != bits.Len64(q) {
			t.Fatalf("Q/BitLen mismatch for %d", q)
		}
		vals := edgeValues(q)
		for range 40 {
			vals = append(vals, rng.Uint64N(q))
		}
		for _, a := range vals {
			for _, b := range vals {
				ba, bb := u(a), u(b)
				if got, want := m.Add(a, b), bigMod(new(big.Int).Add(ba, bb), q); got != want {
					t.Fatalf("q=%d Add(%d,%d) = %d, want %d", q, a, b, got, want)
				}
				if got, want := m.Sub(a, b), bigMod(new(big.Int).Sub(ba, bb), q); got != want {
					t.Fatalf("q=%d Sub(%d,%d) = %d, want %d", q, a, b, got, want)
				}
				if got, want := m.Mul(a, b), bigMod(new(big.Int).Mul(ba, bb), q); got != want {
					t.Fatalf("q=%d Mul(%d,%d) = %d, want %d", q, a, b, got, want)
				}
				if got, want := m.MulShoup(a, m.Shoup(b)), bigMod(new(big.Int).Mul(ba, bb), q); got != want {
					t.Fatalf("q=%d MulShoup(%d,%d) = %d, want %d", q, a, b, got, want)
				}
			}
			if got, want := m.Neg(a), bigMod(new(big.Int).Neg(u(a)), q); got != want {
				t.Fatalf("q=%d Neg(%d) = %d, want %d", q, a, got, want)
			}
		}
		// Reduce and Shoup accept any uint64.
		red := []uint64{0, 1, q - 1, q, q + 1, 2*q - 1, 2 * q, 1 << 62, 1 << 63, math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 / q * q, math.MaxUint64/q*q - 1}
		for range 40 {
			red = append(red, rng.Uint64())
		}
		for _, a := range red {
			want := bigMod(u(a), q)
			if got := m.Reduce(a); got != want {
				t.Fatalf("q=%d Reduce(%d) = %d, want %d", q, a, got, want)
			}
			s := m.Shoup(a)
			if s.Value() != want {
				t.Fatalf("q=%d Shoup(%d).Value() = %d, want %d", q, a, s.Value(), want)
			}
			wantSp := new(big.Int).Lsh(u(want), 64)
			wantSp.Quo(wantSp, u(q))
			if s.sp != wantSp.Uint64() {
				t.Fatalf("q=%d Shoup(%d) constant = %d, want %d", q, a, s.sp, wantSp)
			}
		}
	}
}

type vecCase struct {
	name string
	run  func(m Modulus, dst, a, b []uint64)
	ref  func(q, a, b uint64) uint64
	// anyA: a may be any uint64 (Reduce); unary: b unused.
	anyA, unary bool
}

func vecCases(rng *rand.Rand) []vecCase {
	s := uint64(0)
	return []vecCase{
		{name: "Add", run: Add, ref: refAdd},
		{name: "Sub", run: Sub, ref: refSub},
		{name: "Mul", run: Mul, ref: refMul},
		{name: "Neg", unary: true, run: func(m Modulus, dst, a, _ []uint64) { Neg(m, dst, a) },
			ref: func(q, a, _ uint64) uint64 { return (q - a) % q }},
		{name: "Reduce", unary: true, anyA: true, run: func(m Modulus, dst, a, _ []uint64) { Reduce(m, dst, a) },
			ref: func(q, a, _ uint64) uint64 { return a % q }},
		// MulScalar: the scalar is chosen per call by the harness via s.
		{name: "MulScalar", unary: true, run: func(m Modulus, dst, a, _ []uint64) {
			s = rng.Uint64()
			MulScalar(m, dst, a, s)
		}, ref: func(q, a, _ uint64) uint64 { return refMul(q, a, s%q) }},
	}
}

func fill(rng *rand.Rand, q uint64, v []uint64, any bool) {
	edges := edgeValues(q)
	for i := range v {
		switch r := rng.IntN(8); {
		case any && r == 0:
			v[i] = rng.Uint64()
		case any && r == 1:
			v[i] = math.MaxUint64 - rng.Uint64N(4)
		case r < 5:
			v[i] = rng.Uint64N(q)
		default:
			v[i] = edges[rng.IntN(len(edges))]
		}
	}
}

// checkVec runs c on fresh inputs of length n, once with a separate dst and
// once with dst aliasing a and (for binary ops) b, and compares each element
// with the reference.
func checkVec(t *testing.T, rng *rand.Rand, m Modulus, c vecCase, n int) {
	t.Helper()
	q := m.Q()
	a := make([]uint64, n)
	b := make([]uint64, n)
	fill(rng, q, a, c.anyA)
	fill(rng, q, b, false)
	want := make([]uint64, n)
	check := func(how string, got []uint64) {
		t.Helper()
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s q=%d n=%d %s: [%d] a=%d b=%d got %d want %d", c.name, q, n, how, i, a[i], b[i], got[i], want[i])
			}
		}
	}
	ref := func(x, y []uint64) {
		for i := range want {
			want[i] = c.ref(q, x[i], y[i])
		}
	}
	dst := make([]uint64, n)
	c.run(m, dst, a, b)
	ref(a, b) // MulScalar: ref uses the scalar of the run just made
	check("separate", dst)

	aa := append([]uint64(nil), a...)
	c.run(m, aa, aa, b)
	ref(a, b)
	check("dst=a", aa)

	if !c.unary {
		bb := append([]uint64(nil), b...)
		c.run(m, bb, a, bb)
		check("dst=b", bb)

		ab := append([]uint64(nil), a...)
		c.run(m, ab, ab, ab)
		ref(a, a)
		check("dst=a=b", ab)
	}
}

// TestVectorAllLengths runs every vector op on every length 0..1024 for a few
// representative moduli.
func TestVectorAllLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, q := range []uint64{2, prime62, mersenne61} {
		m := MustNew(q)
		for _, c := range vecCases(rng) {
			for n := 0; n <= 1024; n++ {
				checkVec(t, rng, m, c, n)
			}
		}
	}
}

// TestVectorAllModuli runs every vector op on sampled lengths for every test
// modulus.
func TestVectorAllModuli(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	lengths := []int{0, 1, 2, 3, 7, 8, 9, 31, 64, 100, 257}
	for _, q := range testModuli(rng) {
		m := MustNew(q)
		for _, c := range vecCases(rng) {
			for _, n := range lengths {
				checkVec(t, rng, m, c, n)
			}
		}
	}
}

func TestVectorPanics(t *testing.T) {
	m := MustNew(prime62)
	x3, x4 := make([]uint64, 3), make([]uint64, 4)
	cases := map[string]func(){
		"Add a":       func() { Add(m, x3, x4, x3) },
		"Add b":       func() { Add(m, x3, x3, x4) },
		"Sub":         func() { Sub(m, x4, x3, x3) },
		"Mul":         func() { Mul(m, x3, x3, x4) },
		"Neg":         func() { Neg(m, x3, x4) },
		"MulScalar":   func() { MulScalar(m, x3, x4, 1) },
		"MulShoupVec": func() { MulShoupVec(m, x3, x4, m.Shoup(1)) },
		"Reduce":      func() { Reduce(m, x4, x3) },
	}
	for name, f := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on length mismatch", name)
				}
			}()
			f()
		}()
	}
}

func TestNoAllocs(t *testing.T) {
	m := MustNew(prime62)
	a := make([]uint64, 1000)
	b := make([]uint64, 1000)
	allocs := testing.AllocsPerRun(10, func() {
		Add(m, a, a, b)
		Sub(m, a, a, b)
		Mul(m, a, a, b)
		MulScalar(m, a, a, 12345)
		Reduce(m, a, b)
	})
	if allocs != 0 {
		t.Fatalf("vector ops allocate: %v allocs/run", allocs)
	}
}

var sink uint64

func benchVec(b *testing.B, n int, f func(m Modulus, dst, x, y []uint64)) {
	rng := rand.New(rand.NewPCG(9, 10))
	m := MustNew(prime62)
	x := make([]uint64, n)
	y := make([]uint64, n)
	fill(rng, m.Q(), x, false)
	fill(rng, m.Q(), y, false)
	dst := make([]uint64, n)
	b.SetBytes(int64(8 * n))
	b.ResetTimer()
	for b.Loop() {
		f(m, dst, x, y)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "elems/s")
}

func BenchmarkMul(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) { benchVec(b, n, Mul) })
	}
}

func BenchmarkMulScalar(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			benchVec(b, n, func(m Modulus, dst, x, _ []uint64) { MulScalar(m, dst, x, prime62-3) })
		})
	}
}

func BenchmarkAdd(b *testing.B) {
	b.Run(sizeName(1<<16), func(b *testing.B) { benchVec(b, 1<<16, Add) })
}

func BenchmarkReduce(b *testing.B) {
	b.Run(sizeName(1<<16), func(b *testing.B) {
		benchVec(b, 1<<16, func(m Modulus, dst, x, _ []uint64) { Reduce(m, dst, x) })
	})
}

func BenchmarkScalarMul(b *testing.B) {
	m := MustNew(prime62)
	x, y := uint64(prime62-5), uint64(123456789)
	for b.Loop() {
		x = m.Mul(x, y)
	}
	sink = x
}

func sizeName(n int) string {
	return fmt.Sprintf("n=2^%d", bits.Len(uint(n))-1)
}
