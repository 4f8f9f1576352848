package tensor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// backends returns the CPU backends every test compares: generic and native
// kernels, on one worker and on several, so both kernel paths and the
// chunking are exercised against each other.
func backends(t *testing.T) []*CPU {
	t.Helper()
	var out []*CPU
	for _, cfg := range []CPUConfig{
		{Workers: 1, Generic: true},
		{Workers: 1},
		{Workers: 3},
		{Workers: 2, Generic: true},
	} {
		c, stop, err := NewCPU(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		out = append(out, c)
	}
	return out
}

// testLengths covers every short length, lengths around the chunk size, and
// one that spans several chunks with a ragged end.
func testLengths(t *testing.T) []int {
	var n []int
	for i := 0; i <= 70; i++ {
		n = append(n, i)
	}
	n = append(n, 127, 128, 129, 1000, 1023, 1024, 4097)
	if !testing.Short() {
		n = append(n, grain64-1, grain64+3, grain32+5, 3*grain32+17)
	}
	return n
}

func randU32s(r *rand.Rand, n int) []uint32 {
	v := make([]uint32, n)
	edges := []uint32{0, 1, 2, math.MaxUint32, math.MaxUint32 - 1, 1 << 31}
	for i := range v {
		if r.IntN(8) == 0 {
			v[i] = edges[r.IntN(len(edges))]
		} else {
			v[i] = r.Uint32()
		}
	}
	return v
}

func randU64s(r *rand.Rand, n int) []uint64 {
	v := make([]uint64, n)
	edges := []uint64{0, 1, 2, math.MaxUint64, math.MaxUint64 - 1, 1 << 63}
	for i := range v {
		if r.IntN(8) == 0 {
			v[i] = edges[r.IntN(len(edges))]
		} else {
			v[i] = r.Uint64()
		}
	}
	return v
}

// eq fails the test at the first element where got and want differ.
func eq[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d of %d is %v, want %v", what, i, len(got), got[i], want[i])
		}
	}
}

func TestRingU32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, b := range backends(t) {
		for _, n := range testLengths(t) {
			a, c := randU32s(r, n), randU32s(r, n)
			s := r.Uint32()
			add, sub, neg, adds := make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n)
			for i := range n {
				add[i], sub[i], neg[i], adds[i] = a[i]+c[i], a[i]-c[i], -a[i], a[i]+s
			}
			what := fmt.Sprintf("%s n=%d", b.Name(), n)
			dst := make([]uint32, n)
			b.AddU32(dst, a, c)
			eq(t, "AddU32 "+what, dst, add)
			b.SubU32(dst, a, c)
			eq(t, "SubU32 "+what, dst, sub)
			b.NegU32(dst, a)
			eq(t, "NegU32 "+what, dst, neg)
			b.AddScalarU32(dst, a, s)
			eq(t, "AddScalarU32 "+what, dst, adds)
			// dst aliasing an input
			x := slices.Clone(a)
			b.AddU32(x, x, c)
			eq(t, "AddU32 dst=a "+what, x, add)
			x = slices.Clone(c)
			b.SubU32(x, a, x)
			eq(t, "SubU32 dst=b "+what, x, sub)
			x = slices.Clone(a)
			b.NegU32(x, x)
			eq(t, "NegU32 dst=a "+what, x, neg)
		}
	}
}

func TestRingU64(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, b := range backends(t) {
		for _, n := range testLengths(t) {
			a, c := randU64s(r, n), randU64s(r, n)
			s := r.Uint64()
			add, sub, neg, adds := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
			for i := range n {
				add[i], sub[i], neg[i], adds[i] = a[i]+c[i], a[i]-c[i], -a[i], a[i]+s
			}
			what := fmt.Sprintf("%s n=%d", b.Name(), n)
			dst := make([]uint64, n)
			b.AddU64(dst, a, c)
			eq(t, "AddU64 "+what, dst, add)
			b.SubU64(dst, a, c)
			eq(t, "SubU64 "+what, dst, sub)
			b.NegU64(dst, a)
			eq(t, "NegU64 "+what, dst, neg)
			b.AddScalarU64(dst, a, s)
			eq(t, "AddScalarU64 "+what, dst, adds)
			x := slices.Clone(c)
			b.AddU64(x, a, x)
			eq(t, "AddU64 dst=b "+what, x, add)
		}
	}
}

func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, b := range backends(t) {
		for _, n := range []int{0, 1, 7, 100, 1025, grain32 + 9} {
			for _, k := range []int{0, 1, 2, 3, 17, 64} {
				vs32, vs64 := make([][]uint32, k), make([][]uint64, k)
				want32, want64 := make([]uint32, n), make([]uint64, n)
				for i := range k {
					vs32[i], vs64[i] = randU32s(r, n), randU64s(r, n)
					for j := range n {
						want32[j] += vs32[i][j]
						want64[j] += vs64[i][j]
					}
				}
				what := fmt.Sprintf("%s n=%d k=%d", b.Name(), n, k)
				dst32, dst64 := randU32s(r, n), randU64s(r, n)
				b.SumU32(dst32, vs32...)
				eq(t, "SumU32 "+what, dst32, want32)
				b.SumU64(dst64, vs64...)
				eq(t, "SumU64 "+what, dst64, want64)
				if k > 0 {
					// dst aliasing the last input
					i := k - 1
					b.SumU32(vs32[i], vs32...)
					eq(t, "SumU32 dst=vs[last] "+what, vs32[i], want32)
					b.SumU64(vs64[i], vs64...)
					eq(t, "SumU64 dst=vs[last] "+what, vs64[i], want64)
				}
			}
		}
	}
}

// refStream is an independent implementation of the mask-stream contract:
// HKDF-SHA256 to an AES-128 key, the standard library's CTR mode from a zero
// counter, bytes read as little-endian words.
func refStream(t *testing.T, seed *Seed, label string, nbytes int) []byte {
	t.Helper()
	key, err := hkdf.Key(sha256.New, seed[:], nil, label, 16)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, nbytes)
	cipher.NewCTR(block, make([]byte, 16)).XORKeyStream(out, out)
	return out
}

func TestMaskStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, b := range backends(t) {
		for _, n := range testLengths(t) {
			var seed Seed
			for i := range seed {
				seed[i] = byte(r.Uint32())
			}
			ks := refStream(t, &seed, "cohort/tensor/mask/v1", 8*n)
			m32, m64 := make([]uint32, n), make([]uint64, n)
			for i := range n {
				m32[i] = binary.LittleEndian.Uint32(ks[4*i:])
				m64[i] = binary.LittleEndian.Uint64(ks[8*i:])
			}
			what := fmt.Sprintf("%s n=%d", b.Name(), n)
			got32, got64 := randU32s(r, n), randU64s(r, n)
			b.ExpandU32(got32, &seed)
			eq(t, "ExpandU32 "+what, got32, m32)
			b.ExpandU64(got64, &seed)
			eq(t, "ExpandU64 "+what, got64, m64)

			x32, x64 := randU32s(r, n), randU64s(r, n)
			want32, want64 := slices.Clone(x32), slices.Clone(x64)
			for i := range n {
				want32[i] += m32[i]
				want64[i] += m64[i]
			}
			orig32, orig64 := slices.Clone(x32), slices.Clone(x64)
			b.ExpandAddU32(x32, &seed)
			eq(t, "ExpandAddU32 "+what, x32, want32)
			b.ExpandAddU64(x64, &seed)
			eq(t, "ExpandAddU64 "+what, x64, want64)
			b.ExpandSubU32(x32, &seed)
			eq(t, "ExpandSubU32 undoes ExpandAddU32 "+what, x32, orig32)
			b.ExpandSubU64(x64, &seed)
			eq(t, "ExpandSubU64 undoes ExpandAddU64 "+what, x64, orig64)
		}
	}
}

// TestMaskCancels is secure aggregation in miniature: party i adds the masks
// of the pairs (i, j>i) and subtracts those of (j<i, i); the masked vectors sum
// to the plain sum exactly.
func TestMaskCancels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const parties, n = 5, 3001
	for _, b := range backends(t) {
		seeds := make([][]Seed, parties)
		for i := range seeds {
			seeds[i] = make([]Seed, parties)
		}
		for i := range parties {
			for j := i + 1; j < parties; j++ {
				for k := range seeds[i][j] {
					seeds[i][j][k] = byte(r.Uint32())
				}
				seeds[j][i] = seeds[i][j]
			}
		}
		plain := make([]uint32, n)
		masked := make([][]uint32, parties)
		for i := range parties {
			x := randU32s(r, n)
			b.AddU32(plain, plain, x)
			for j := range parties {
				switch {
				case j > i:
					b.ExpandAddU32(x, &seeds[i][j])
				case j < i:
					b.ExpandSubU32(x, &seeds[i][j])
				}
			}
			masked[i] = x
		}
		sum := make([]uint32, n)
		b.SumU32(sum, masked...)
		eq(t, "sum of masked vectors "+b.Name(), sum, plain)
	}
}

func TestModQ(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, q := range []uint64{2, 3, 12289, 1<<31 - 1, 1<<61 - 1, 1<<62 - 57} {
		m, err := NewModulus(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range backends(t) {
			n := 2*grain64 + 11
			if testing.Short() {
				n = 1001
			}
			a, c := make([]uint64, n), make([]uint64, n)
			for i := range n {
				a[i], c[i] = r.Uint64N(q), r.Uint64N(q)
			}
			a[0], c[0], a[1], c[1] = q-1, q-1, 0, q-1
			s := r.Uint64N(q)
			dst := make([]uint64, n)
			for _, op := range []struct {
				name string
				run  func()
				want func(i int) uint64
			}{
				{"ModAdd", func() { b.ModAdd(m, dst, a, c) }, func(i int) uint64 { return m.Add(a[i], c[i]) }},
				{"ModSub", func() { b.ModSub(m, dst, a, c) }, func(i int) uint64 { return m.Sub(a[i], c[i]) }},
				{"ModMul", func() { b.ModMul(m, dst, a, c) }, func(i int) uint64 { return m.Mul(a[i], c[i]) }},
				{"ModMulScalar", func() { b.ModMulScalar(m, dst, a, s) }, func(i int) uint64 { return m.Mul(a[i], s) }},
			} {
				op.run()
				for i := range n {
					if w := op.want(i); dst[i] != w {
						t.Fatalf("%s q=%d %s: element %d = %d, want %d", op.name, q, b.Name(), i, dst[i], w)
					}
				}
			}
		}
	}
	// The scalar operations against plain 128-bit arithmetic for a small q.
	m, _ := NewModulus(1<<62 - 57)
	for range 1000 {
		a, c := r.Uint64N(m.Q()), r.Uint64N(m.Q())
		if got, want := m.Add(a, c), (a+c)%m.Q(); got != want {
			t.Fatalf("Add(%d, %d) = %d, want %d", a, c, got, want)
		}
	}
	if _, err := NewModulus(1 << 62); !errors.Is(err, ErrModulus) {
		t.Fatalf("NewModulus(2^62) error = %v, want ErrModulus", err)
	}
	if _, err := NewModulus(1); !errors.Is(err, ErrModulus) {
		t.Fatalf("NewModulus(1) error = %v, want ErrModulus", err)
	}
}

func TestNewFixedPoint(t *testing.T) {
	for _, tc := range []struct {
		lit     FixedPointLiteral
		wantErr string // "" for success
		bits    int
	}{
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1, Bits: 31}, "", 31},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 2, Bits: 31}, "", 31},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 3, Bits: 31}, "at most 2 fit", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000, Bits: 24}, "at most 256 fit", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000}, "", 22},
		{FixedPointLiteral{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 1000}, "", 52},
		{FixedPointLiteral{RingBits: 64, Lo: 0, Hi: 1, MaxSummands: 1 << 20, Bits: 44}, "at most 1048576 fit", 44},
		{FixedPointLiteral{RingBits: 64, Lo: 0, Hi: 1, MaxSummands: 1<<20 + 1, Bits: 44}, "at most 1048576 fit", 0},
		{FixedPointLiteral{RingBits: 16, Lo: -1, Hi: 1, MaxSummands: 2}, "RingBits is 16", 0},
		{FixedPointLiteral{RingBits: 32, Lo: 1, Hi: 1, MaxSummands: 2}, "Lo < Hi", 0},
		{FixedPointLiteral{RingBits: 32, Lo: math.NaN(), Hi: 1, MaxSummands: 2}, "must be finite", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: math.Inf(1), MaxSummands: 2}, "must be finite", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 0}, "MaxSummands is 0", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 2, Bits: 32}, "Bits is 32", 0},
		{FixedPointLiteral{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 2, Bits: 53}, "Bits is 53", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1 << 33}, "even at 1 bit per value (at most 4294967295 fit)", 0},
		{FixedPointLiteral{RingBits: 32, Lo: -math.MaxFloat64, Hi: math.MaxFloat64, MaxSummands: 2}, "too wide", 0},
	} {
		fp, err := NewFixedPoint(tc.lit)
		switch {
		case tc.bits != 0 && err == nil:
			if fp.Bits() != tc.bits {
				t.Errorf("NewFixedPoint(%+v).Bits() = %d, want %d", tc.lit, fp.Bits(), tc.bits)
			}
			if uint64(fp.MaxSummands()) > MaxSummands(fp.RingBits(), fp.Bits()) {
				t.Errorf("NewFixedPoint(%+v) accepted more summands than fit", tc.lit)
			}
		case tc.bits != 0 || tc.wantErr == "":
			t.Errorf("NewFixedPoint(%+v) = %v, want success", tc.lit, err)
		case err == nil:
			t.Errorf("NewFixedPoint(%+v) succeeded, want error containing %q", tc.lit, tc.wantErr)
		case !errors.Is(err, ErrFixedPoint) || !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("NewFixedPoint(%+v) error = %q, want ErrFixedPoint containing %q", tc.lit, err, tc.wantErr)
		}
	}
}

// refQuantize is the quantisation rule written out once more, independently
// of the kernels: clip, scale, floor, and round up when the rounding word,
// read as a uniform value in [0, 1), is below the fractional part.
func refQuantize(x float64, r uint32, fp *FixedPoint) uint64 {
	levels := math.Exp2(float64(fp.Bits())) - 1
	v := (x - fp.Lo()) * (levels / (fp.Hi() - fp.Lo()))
	if !(v > 0) {
		v = 0
	}
	v = math.Min(v, levels)
	f := math.Floor(v)
	if float64(int32(r))*0x1p-32+0.5 < v-f {
		f++
	}
	return uint64(f)
}

func TestQuantize(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	fp32, err := NewFixedPoint(FixedPointLiteral{RingBits: 32, Lo: -2, Hi: 3, MaxSummands: 100})
	if err != nil {
		t.Fatal(err)
	}
	fp64, err := NewFixedPoint(FixedPointLiteral{RingBits: 64, Lo: -2, Hi: 3, MaxSummands: 100})
	if err != nil {
		t.Fatal(err)
	}
	specials := []float64{0, -2, 3, -2.5, 3.5, math.Inf(1), math.Inf(-1), math.NaN(), 1e-40, math.Copysign(0, -1)}
	for _, b := range backends(t) {
		for _, n := range testLengths(t) {
			var seed Seed
			seed[0], seed[31] = byte(n), 7
			ks := refStream(t, &seed, "cohort/tensor/rounding/v1", 4*n)
			f32, f64 := make([]float32, n), make([]float64, n)
			for i := range n {
				f64[i] = r.NormFloat64() * 2
				if r.IntN(10) == 0 {
					f64[i] = specials[r.IntN(len(specials))]
				}
				f32[i] = float32(f64[i])
			}
			what := fmt.Sprintf("%s n=%d", b.Name(), n)
			q32a, q32b := make([]uint32, n), make([]uint32, n)
			q64a, q64b := make([]uint64, n), make([]uint64, n)
			b.QuantizeF32U32(fp32, q32a, f32, &seed)
			b.QuantizeF64U32(fp32, q32b, f64, &seed)
			b.QuantizeF32U64(fp64, q64a, f32, &seed)
			b.QuantizeF64U64(fp64, q64b, f64, &seed)
			for i := range n {
				rw := binary.LittleEndian.Uint32(ks[4*i:])
				if w := refQuantize(float64(f32[i]), rw, fp32); uint64(q32a[i]) != w {
					t.Fatalf("QuantizeF32U32 %s: element %d (%g) = %d, want %d", what, i, f32[i], q32a[i], w)
				}
				if w := refQuantize(f64[i], rw, fp32); uint64(q32b[i]) != w {
					t.Fatalf("QuantizeF64U32 %s: element %d (%g) = %d, want %d", what, i, f64[i], q32b[i], w)
				}
				if w := refQuantize(float64(f32[i]), rw, fp64); q64a[i] != w {
					t.Fatalf("QuantizeF32U64 %s: element %d (%g) = %d, want %d", what, i, f32[i], q64a[i], w)
				}
				if w := refQuantize(f64[i], rw, fp64); q64b[i] != w {
					t.Fatalf("QuantizeF64U64 %s: element %d (%g) = %d, want %d", what, i, f64[i], q64b[i], w)
				}
			}
		}
	}
}

// TestQuantizedSum checks the codec end to end: the dequantised sum of n
// quantised vectors is within n steps of the sum of the clipped inputs, and
// a sum at the largest allowed n does not wrap.
func TestQuantizedSum(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	b := backends(t)[1]
	for _, lit := range []FixedPointLiteral{
		{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 50},
		{RingBits: 32, Lo: 0, Hi: 10, MaxSummands: 256, Bits: 24},
		{RingBits: 64, Lo: -4, Hi: 1, MaxSummands: 50},
	} {
		fp, err := NewFixedPoint(lit)
		if err != nil {
			t.Fatal(err)
		}
		const dim = 999
		k := fp.MaxSummands()
		want := make([]float64, dim)
		sum32, sum64 := make([]uint32, dim), make([]uint64, dim)
		for p := range k {
			x := make([]float64, dim)
			for i := range x {
				// Mostly at the top of the range, so the ring nearly fills.
				x[i] = lit.Hi + 0.1 - r.Float64()*(lit.Hi-lit.Lo)*0.2
				want[i] += math.Max(lit.Lo, math.Min(lit.Hi, x[i]))
			}
			seed := Seed{byte(p), byte(p >> 8), 1}
			if lit.RingBits == 32 {
				q := make([]uint32, dim)
				b.QuantizeF64U32(fp, q, x, &seed)
				b.AddU32(sum32, sum32, q)
			} else {
				q := make([]uint64, dim)
				b.QuantizeF64U64(fp, q, x, &seed)
				b.AddU64(sum64, sum64, q)
			}
		}
		got := make([]float64, dim)
		if lit.RingBits == 32 {
			err = b.DequantizeU32F64(fp, got, sum32, k)
		} else {
			err = b.DequantizeU64F64(fp, got, sum64, k)
		}
		if err != nil {
			t.Fatal(err)
		}
		tol := float64(k)*fp.Step() + 1e-9*float64(k)*(math.Abs(lit.Lo)+math.Abs(lit.Hi))
		for i := range dim {
			if math.Abs(got[i]-want[i]) > tol {
				t.Fatalf("%+v: element %d: dequantised sum %g, clipped sum %g, tolerance %g", lit, i, got[i], want[i], tol)
			}
		}
		if lit.RingBits == 32 {
			if err := b.DequantizeU32F64(fp, got, sum32, k+1); !errors.Is(err, ErrFixedPoint) {
				t.Fatalf("dequantising %d > MaxSummands: error %v, want ErrFixedPoint", k+1, err)
			}
			if err := b.DequantizeU32F32(fp, make([]float32, dim), sum32, 0); !errors.Is(err, ErrFixedPoint) {
				t.Fatalf("dequantising 0 summands: error %v, want ErrFixedPoint", err)
			}
		}
	}
}

func TestQuantizeDeterministic(t *testing.T) {
	bs := backends(t)
	fp, err := NewFixedPoint(FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 10})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 5000)
	for i := range x {
		x[i] = float32(i%200)/100 - 1 + 1e-3
	}
	seedA, seedB := Seed{1}, Seed{2}
	a1, a2, bq := make([]uint32, len(x)), make([]uint32, len(x)), make([]uint32, len(x))
	bs[0].QuantizeF32U32(fp, a1, x, &seedA)
	bs[2].QuantizeF32U32(fp, a2, x, &seedA)
	bs[1].QuantizeF32U32(fp, bq, x, &seedB)
	eq(t, "same seed, different backends", a2, a1)
	if slices.Equal(a1, bq) {
		t.Fatal("different seeds gave the same rounding")
	}
}

func TestFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	bs := backends(t)
	for _, n := range []int{0, 1, 17, 1000, grain32 + 3} {
		vs32, vs64 := make([][]float32, 5), make([][]float64, 5)
		w32, w64 := make([]float32, 5), make([]float64, 5)
		for i := range vs32 {
			vs32[i], vs64[i] = make([]float32, n), make([]float64, n)
			for j := range n {
				vs64[i][j] = r.NormFloat64()
				vs32[i][j] = float32(vs64[i][j])
			}
			w64[i] = r.Float64()
			w32[i] = float32(w64[i])
		}
		var ref32 []float32
		var ref64 []float64
		var refNorm float64
		for k, b := range bs {
			d32, d64 := make([]float32, n), make([]float64, n)
			b.WeightedSumF32(d32, w32, vs32...)
			b.WeightedSumF64(d64, w64, vs64...)
			for j := range n {
				var s32 float32
				var s64 float64
				for i := range vs32 {
					s32 += float32(w32[i] * vs32[i][j])
					s64 += float64(w64[i] * vs64[i][j])
				}
				if d32[j] != s32 || d64[j] != s64 {
					t.Fatalf("WeightedSum %s n=%d element %d: %g %g, want %g %g", b.Name(), n, j, d32[j], d64[j], s32, s64)
				}
			}
			norm := b.L2NormF32(d32)
			if k == 0 {
				ref32, ref64, refNorm = d32, d64, norm
			} else if norm != refNorm {
				t.Fatalf("L2NormF32 %s n=%d = %v, first backend gave %v", b.Name(), n, norm, refNorm)
			}
			var ss float64
			for _, v := range d32 {
				ss += float64(v) * float64(v)
			}
			if math.Abs(norm-math.Sqrt(ss)) > 1e-12*math.Sqrt(ss)+1e-300 {
				t.Fatalf("L2NormF32 n=%d = %v, want %v", n, norm, math.Sqrt(ss))
			}
			eq(t, "WeightedSumF32 across backends", d32, ref32)
			eq(t, "WeightedSumF64 across backends", d64, ref64)

			c32, c64 := make([]float32, n), make([]float64, n)
			for _, maxNorm := range []float64{1e-3, 1, 1e9} {
				got := b.ClipToNormF32(c32, d32, maxNorm)
				if got != norm {
					t.Fatalf("ClipToNormF32 returned %v, want the norm %v", got, norm)
				}
				if after := b.L2NormF32(c32); after > maxNorm {
					t.Fatalf("ClipToNormF32(%g) %s n=%d left norm %v", maxNorm, b.Name(), n, after)
				} else if norm <= maxNorm {
					eq(t, "ClipToNormF32 below the bound", c32, d32)
				} else if after < maxNorm*(1-1e-5) {
					t.Fatalf("ClipToNormF32(%g) shrank the vector too far: %v", maxNorm, after)
				}
				b.ClipToNormF64(c64, d64, maxNorm)
				if after := b.L2NormF64(c64); after > maxNorm {
					t.Fatalf("ClipToNormF64(%g) %s n=%d left norm %v", maxNorm, b.Name(), n, after)
				}
			}
			if n > 0 {
				bad := slices.Clone(d32)
				bad[n/2] = float32(math.NaN())
				if got := b.ClipToNormF32(c32, bad, 1); !math.IsNaN(got) {
					t.Fatalf("ClipToNormF32 of a NaN vector returned norm %v", got)
				}
				eq(t, "ClipToNormF32 of a NaN vector", c32, make([]float32, n))
				bad64 := slices.Clone(d64)
				bad64[0] = math.Inf(-1)
				b.ClipToNormF64(c64, bad64, 1)
				eq(t, "ClipToNormF64 of an Inf vector", c64, make([]float64, n))
			}
		}
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	b := backends(t)[1]
	fp32, _ := NewFixedPoint(FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 2})
	m, _ := NewModulus(97)
	for name, f := range map[string]func(){
		"AddU32":           func() { b.AddU32(make([]uint32, 3), make([]uint32, 3), make([]uint32, 2)) },
		"NegU64":           func() { b.NegU64(make([]uint64, 3), make([]uint64, 4)) },
		"SumU32":           func() { b.SumU32(make([]uint32, 3), make([]uint32, 3), make([]uint32, 1)) },
		"ModMul":           func() { b.ModMul(m, make([]uint64, 1), make([]uint64, 2), make([]uint64, 1)) },
		"QuantizeF32U32":   func() { b.QuantizeF32U32(fp32, make([]uint32, 3), make([]float32, 2), &Seed{}) },
		"Quantize ring":    func() { b.QuantizeF32U64(fp32, make([]uint64, 2), make([]float32, 2), &Seed{}) },
		"WeightedSumF32":   func() { b.WeightedSumF32(make([]float32, 2), []float32{1}, make([]float32, 2), make([]float32, 2)) },
		"ClipToNormF32":    func() { b.ClipToNormF32(make([]float32, 2), make([]float32, 3), 1) },
		"ClipToNorm bound": func() { b.ClipToNormF64(make([]float64, 2), make([]float64, 2), 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic on bad arguments", name)
				}
			}()
			f()
		}()
	}
}

func TestNewCPU(t *testing.T) {
	if _, _, err := NewCPU(CPUConfig{Workers: -1}); err == nil || !strings.Contains(err.Error(), "Workers is -1") {
		t.Fatalf("NewCPU(Workers: -1) error = %v", err)
	}
	c, stop, err := NewCPU(CPUConfig{Generic: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Name(), "workers=2") || !strings.Contains(c.Name(), "generic") {
		t.Errorf("Name() = %q, want the worker count and generic kernels named", c.Name())
	}
	stop()
	stop() // a second call is harmless
}

// TestConcurrentUse runs operations large enough to be split into chunks from
// many goroutines at once on one backend, as a simulation of many parties
// does, and checks each result against the same operation run alone.
func TestConcurrentUse(t *testing.T) {
	c, stop, err := NewCPU(CPUConfig{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	const goroutines = 12
	n := 3*grain32 + 7
	if testing.Short() {
		n = grain32 + 7
	}
	r := rand.New(rand.NewPCG(19, 20))
	inputs := make([][]uint32, goroutines)
	want := make([][]uint32, goroutines)
	norms := make([]float64, goroutines)
	floatsIn := make([][]float32, goroutines)
	for g := range goroutines {
		inputs[g] = randU32s(r, n)
		floatsIn[g] = make([]float32, n)
		for i := range floatsIn[g] {
			floatsIn[g][i] = float32(r.NormFloat64())
		}
	}
	for g := range goroutines {
		want[g] = slices.Clone(inputs[g])
		c.ExpandAddU32(want[g], &Seed{byte(g)})
		c.SumU32(want[g], want[g], inputs[0], inputs[1])
		norms[g] = c.L2NormF32(floatsIn[g])
	}
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			got := slices.Clone(inputs[g])
			c.ExpandAddU32(got, &Seed{byte(g)})
			c.SumU32(got, got, inputs[0], inputs[1])
			if !slices.Equal(got, want[g]) {
				errs <- fmt.Errorf("goroutine %d: masked sum differs from the same operations run alone", g)
				return
			}
			if norm := c.L2NormF32(floatsIn[g]); norm != norms[g] {
				errs <- fmt.Errorf("goroutine %d: L2NormF32 = %v, alone %v", g, norm, norms[g])
				return
			}
			errs <- nil
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
