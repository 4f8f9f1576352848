package floats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The tests in this file run Native against Generic and require identical
// bits, except that where both results are NaN their payloads may differ
// (see the package documentation); TestNativeNaNPayload checks that they
// agree when the inputs carry a single NaN payload. With the purego tag (or
// without AVX2) Native is Generic and the comparison is trivial.

func nativeUnderTest(t testing.TB) (gen, nat Kernels) {
	nat, ok := Native()
	if !ok {
		t.Logf("Native() is %q: no SIMD kernels in this build or on this CPU", nat.Name)
	}
	return Generic(), nat
}

// Lengths: every length up to 1024 and a few large ones around the block
// sizes of both implementations.
func nativeLengths(short bool) []int {
	var ns []int
	for n := 0; n <= 1024; n++ {
		ns = append(ns, n)
	}
	ns = append(ns, 1535, 1536, 1537, 4099, 12345)
	if !short {
		ns = append(ns, 1<<16+3, 100003)
	}
	return ns
}

// special32 returns an edge value: zeros, ones, infinities, NaNs with
// different payloads and signs, subnormals, the extremes and values whose
// products overflow or underflow.
func special32(rng *rand.Rand) float32 {
	switch rng.IntN(16) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return 1
	case 3:
		return -1
	case 4:
		return float32(math.Inf(1))
	case 5:
		return float32(math.Inf(-1))
	case 6:
		// Quiet NaN, random sign and payload.
		return math.Float32frombits(0x7fc00000 | rng.Uint32()&0x803fffff)
	case 7:
		// Signalling NaN (non-zero payload, quiet bit clear): becomes quiet.
		return math.Float32frombits(0x7f800001 | rng.Uint32()&0x803fffff)
	case 8:
		return math.Float32frombits(rng.Uint32() & 0x807fffff) // subnormal or 0
	case 9:
		return math.MaxFloat32 * float32(1-2*rng.IntN(2))
	case 10:
		return math.SmallestNonzeroFloat32
	case 11:
		return float32(rng.NormFloat64() * 1e30) // products overflow
	case 12:
		return float32(rng.NormFloat64() * 1e-30) // products underflow
	}
	return rand32(rng)
}

func special64(rng *rand.Rand) float64 {
	switch rng.IntN(16) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return 1
	case 3:
		return -1
	case 4:
		return math.Inf(1)
	case 5:
		return math.Inf(-1)
	case 6:
		return math.Float64frombits(0x7ff8000000000000 | rng.Uint64()&0x8007ffffffffffff)
	case 7:
		return math.Float64frombits(0x7ff0000000000001 | rng.Uint64()&0x8007ffffffffffff)
	case 8:
		return math.Float64frombits(rng.Uint64() & 0x800fffffffffffff)
	case 9:
		return math.MaxFloat64 * float64(1-2*rng.IntN(2))
	case 10:
		return math.SmallestNonzeroFloat64
	case 11:
		return rng.NormFloat64() * 1e200
	case 12:
		return rng.NormFloat64() * 1e-200
	}
	return rand64(rng)
}

// fill32 fills a with random values, with specials at rate 1/special (none
// if special is 0).
func fill32(rng *rand.Rand, a []float32, special int) {
	for j := range a {
		if special > 0 && rng.IntN(special) == 0 {
			a[j] = special32(rng)
		} else {
			a[j] = rand32(rng)
		}
	}
}

func fill64(rng *rand.Rand, a []float64, special int) {
	for j := range a {
		if special > 0 && rng.IntN(special) == 0 {
			a[j] = special64(rng)
		} else {
			a[j] = rand64(rng)
		}
	}
}

func exact32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range want {
		if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
			t.Fatalf("%s: [%d] = %v (%#x), want %v (%#x)", what, j, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]))
		}
	}
}

func exact64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for j := range want {
		if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
			t.Fatalf("%s: [%d] = %v (%#x), want %v (%#x)", what, j, got[j], math.Float64bits(got[j]), want[j], math.Float64bits(want[j]))
		}
	}
}

func TestNativeWeightedSum(t *testing.T) {
	gen, nat := nativeUnderTest(t)
	rng := rand.New(rand.NewPCG(21, 22))
	counts := []int{1, 2, 3, 4, 5, 7, 16}
	for idx, n := range nativeLengths(testing.Short()) {
		k := counts[idx%len(counts)]
		special := []int{0, 3, 50}[idx%3]
		// float32
		w := make([]float32, k)
		vs := make([][]float32, k)
		fill32(rng, w, special)
		for i := range vs {
			vs[i] = make([]float32, n)
			fill32(rng, vs[i], special)
		}
		want := make([]float32, n)
		gen.WeightedSumF32(want, w, vs)
		got := make([]float32, n)
		nat.WeightedSumF32(got, w, vs)
		check32(t, fmt.Sprintf("F32 k=%d n=%d", k, n), got, want)
		a := rng.IntN(k)
		vv := clone32(vs)
		nat.WeightedSumF32(vv[a], w, vv)
		check32(t, fmt.Sprintf("F32 k=%d n=%d dst=vs[%d]", k, n, a), vv[a], want)
		// float64
		w64 := make([]float64, k)
		vs64 := make([][]float64, k)
		fill64(rng, w64, special)
		for i := range vs64 {
			vs64[i] = make([]float64, n)
			fill64(rng, vs64[i], special)
		}
		want64 := make([]float64, n)
		gen.WeightedSumF64(want64, w64, vs64)
		got64 := make([]float64, n)
		nat.WeightedSumF64(got64, w64, vs64)
		check64(t, fmt.Sprintf("F64 k=%d n=%d", k, n), got64, want64)
		vv64 := clone64(vs64)
		nat.WeightedSumF64(vv64[a], w64, vv64)
		check64(t, fmt.Sprintf("F64 k=%d n=%d dst=vs[%d]", k, n, a), vv64[a], want64)
	}
}

// TestNativeWeightedSumEdges uses inputs made only of edge values, the
// largest finite ones included, so that sums overflow to ±Inf and Inf-Inf
// gives NaN.
func TestNativeWeightedSumEdges(t *testing.T) {
	gen, nat := nativeUnderTest(t)
	rng := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{1, 7, 8, 9, 31, 96, 97, 200, 1000} {
		for _, k := range []int{1, 2, 6} {
			w := make([]float32, k)
			vs := make([][]float32, k)
			w64 := make([]float64, k)
			vs64 := make([][]float64, k)
			for i := range k {
				w[i] = []float32{1, 2, math.MaxFloat32, -1}[rng.IntN(4)]
				w64[i] = []float64{1, 2, math.MaxFloat64, -1}[rng.IntN(4)]
				vs[i] = make([]float32, n)
				vs64[i] = make([]float64, n)
				for j := range n {
					vs[i][j] = special32(rng)
					vs64[i][j] = special64(rng)
				}
			}
			want, got := make([]float32, n), make([]float32, n)
			gen.WeightedSumF32(want, w, vs)
			nat.WeightedSumF32(got, w, vs)
			check32(t, fmt.Sprintf("F32 edges k=%d n=%d", k, n), got, want)
			want64, got64 := make([]float64, n), make([]float64, n)
			gen.WeightedSumF64(want64, w64, vs64)
			nat.WeightedSumF64(got64, w64, vs64)
			check64(t, fmt.Sprintf("F64 edges k=%d n=%d", k, n), got64, want64)
		}
	}
}

func TestNativeSumSquares(t *testing.T) {
	gen, nat := nativeUnderTest(t)
	rng := rand.New(rand.NewPCG(25, 26))
	for idx, n := range nativeLengths(testing.Short()) {
		special := []int{0, 3, 200}[idx%3]
		a := make([]float32, n)
		fill32(rng, a, special)
		got, want := nat.SumSquaresF32(a), gen.SumSquaresF32(a)
		if !same64(got, want) {
			t.Fatalf("SumSquaresF32 n=%d: got %v (%#x), want %v (%#x)", n, got, math.Float64bits(got), want, math.Float64bits(want))
		}
		b := make([]float64, n)
		fill64(rng, b, special)
		got, want = nat.SumSquaresF64(b), gen.SumSquaresF64(b)
		if !same64(got, want) {
			t.Fatalf("SumSquaresF64 n=%d: got %v (%#x), want %v (%#x)", n, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
	// A NaN at every position, so that each lane's partial and the tail
	// carry the NaN payload to the result; and two NaNs with different
	// payloads, where the payload that survives depends on the order.
	for n := 1; n <= 40; n++ {
		for pos := 0; pos < n; pos++ {
			a := make([]float32, n)
			b := make([]float64, n)
			fill32(rng, a, 0)
			fill64(rng, b, 0)
			a[pos] = math.Float32frombits(0x7fc00000 | rng.Uint32()&0x803fffff)
			b[pos] = math.Float64frombits(0x7ff8000000000000 | rng.Uint64()&0x8007ffffffffffff)
			q := rng.IntN(n)
			if q != pos {
				a[q] = math.Float32frombits(0x7f800001 | rng.Uint32()&0x803fffff)
				b[q] = math.Float64frombits(0x7ff0000000000001 | rng.Uint64()&0x8007ffffffffffff)
			}
			if g, w := nat.SumSquaresF32(a), gen.SumSquaresF32(a); !same64(g, w) {
				t.Fatalf("SumSquaresF32 NaN n=%d pos=%d q=%d: got %#x, want %#x", n, pos, q, math.Float64bits(g), math.Float64bits(w))
			}
			if g, w := nat.SumSquaresF64(b), gen.SumSquaresF64(b); !same64(g, w) {
				t.Fatalf("SumSquaresF64 NaN n=%d pos=%d q=%d: got %#x, want %#x", n, pos, q, math.Float64bits(g), math.Float64bits(w))
			}
		}
	}
	// Overflow: float64 squares of huge values reach +Inf.
	b := []float64{math.MaxFloat64, 1, 2, 3, 4, 5, 6, 7, 1e300}
	if g, w := nat.SumSquaresF64(b), gen.SumSquaresF64(b); !math.IsInf(g, 1) || g != w {
		t.Fatalf("SumSquaresF64 overflow: got %v, want %v", g, w)
	}
}

func TestNativeScale(t *testing.T) {
	gen, nat := nativeUnderTest(t)
	rng := rand.New(rand.NewPCG(27, 28))
	for idx, n := range nativeLengths(testing.Short()) {
		special := []int{0, 3, 50}[idx%3]
		s32 := []float32{special32(rng), rand32(rng)}[idx%2]
		s64 := []float64{special64(rng), rand64(rng)}[idx%2]
		a := make([]float32, n)
		fill32(rng, a, special)
		want, got := make([]float32, n), make([]float32, n)
		gen.ScaleF32(want, a, s32)
		nat.ScaleF32(got, a, s32)
		check32(t, fmt.Sprintf("ScaleF32 n=%d s=%v", n, s32), got, want)
		nat.ScaleF32(a, a, s32)
		check32(t, fmt.Sprintf("ScaleF32 aliased n=%d s=%v", n, s32), a, want)
		b := make([]float64, n)
		fill64(rng, b, special)
		want64, got64 := make([]float64, n), make([]float64, n)
		gen.ScaleF64(want64, b, s64)
		nat.ScaleF64(got64, b, s64)
		check64(t, fmt.Sprintf("ScaleF64 n=%d s=%v", n, s64), got64, want64)
		nat.ScaleF64(b, b, s64)
		check64(t, fmt.Sprintf("ScaleF64 aliased n=%d s=%v", n, s64), b, want64)
	}
}

// TestNativeNaNPayload gives every kernel inputs whose NaNs all carry one
// payload (quiet or signalling) and no infinities, so that no operation
// creates a new NaN: then the NaN results must agree bit for bit too.
func TestNativeNaNPayload(t *testing.T) {
	gen, nat := nativeUnderTest(t)
	rng := rand.New(rand.NewPCG(29, 30))
	for _, nan32 := range []uint32{0x7fc00000, 0xffc12345, 0x7f800123} {
		nan64 := uint64(nan32&0x80000000)<<32 | 0x7ff<<52 | uint64(nan32&0x7fffff)<<29
		for n := 0; n <= 300; n++ {
			k := 1 + n%6
			w := make([]float32, k)
			vs := make([][]float32, k)
			w64 := make([]float64, k)
			vs64 := make([][]float64, k)
			fill32(rng, w, 0)
			fill64(rng, w64, 0)
			for i := range k {
				vs[i] = make([]float32, n)
				vs64[i] = make([]float64, n)
				fill32(rng, vs[i], 0)
				fill64(rng, vs64[i], 0)
				for j := range n {
					if rng.IntN(4) == 0 {
						vs[i][j] = math.Float32frombits(nan32)
						vs64[i][j] = math.Float64frombits(nan64)
					}
				}
			}
			if n%5 == 0 {
				w[k-1], w64[k-1] = math.Float32frombits(nan32), math.Float64frombits(nan64)
			}
			want, got := make([]float32, n), make([]float32, n)
			gen.WeightedSumF32(want, w, vs)
			nat.WeightedSumF32(got, w, vs)
			exact32(t, fmt.Sprintf("WeightedSumF32 NaN %#x n=%d", nan32, n), got, want)
			want64, got64 := make([]float64, n), make([]float64, n)
			gen.WeightedSumF64(want64, w64, vs64)
			nat.WeightedSumF64(got64, w64, vs64)
			exact64(t, fmt.Sprintf("WeightedSumF64 NaN %#x n=%d", nan64, n), got64, want64)

			gen.ScaleF32(want, vs[0], w[k-1])
			nat.ScaleF32(got, vs[0], w[k-1])
			exact32(t, fmt.Sprintf("ScaleF32 NaN %#x n=%d", nan32, n), got, want)
			gen.ScaleF64(want64, vs64[0], w64[k-1])
			nat.ScaleF64(got64, vs64[0], w64[k-1])
			exact64(t, fmt.Sprintf("ScaleF64 NaN %#x n=%d", nan64, n), got64, want64)

			if g, w := nat.SumSquaresF32(vs[0]), gen.SumSquaresF32(vs[0]); math.Float64bits(g) != math.Float64bits(w) {
				t.Fatalf("SumSquaresF32 NaN %#x n=%d: got %#x, want %#x", nan32, n, math.Float64bits(g), math.Float64bits(w))
			}
			if g, w := nat.SumSquaresF64(vs64[0]), gen.SumSquaresF64(vs64[0]); math.Float64bits(g) != math.Float64bits(w) {
				t.Fatalf("SumSquaresF64 NaN %#x n=%d: got %#x, want %#x", nan64, n, math.Float64bits(g), math.Float64bits(w))
			}
		}
	}
}
