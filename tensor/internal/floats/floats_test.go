package floats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// kernelSets returns the kernel sets under test: Generic, and Native when it
// differs (it is Generic with the purego tag or without AVX2).
func kernelSets() []Kernels {
	if n, ok := Native(); ok {
		return []Kernels{Generic(), n}
	}
	return []Kernels{Generic()}
}

// Straightforward references with the documented operation order.

func refWeightedSumF32(n int, w []float32, vs [][]float32) []float32 {
	out := make([]float32, n)
	for j := range out {
		if len(vs) == 0 {
			continue
		}
		s := float32(w[0] * vs[0][j])
		for i := 1; i < len(vs); i++ {
			s = s + float32(w[i]*vs[i][j])
		}
		out[j] = s
	}
	return out
}

func refWeightedSumF64(n int, w []float64, vs [][]float64) []float64 {
	out := make([]float64, n)
	for j := range out {
		if len(vs) == 0 {
			continue
		}
		s := float64(w[0] * vs[0][j])
		for i := 1; i < len(vs); i++ {
			s = s + float64(w[i]*vs[i][j])
		}
		out[j] = s
	}
	return out
}

func refSumSquaresF32(a []float32) float64 {
	var p [8]float64
	for j, v := range a {
		x := float64(v)
		p[j%8] = p[j%8] + float64(x*x)
	}
	return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
}

func refSumSquaresF64(a []float64) float64 {
	var p [8]float64
	for j, v := range a {
		p[j%8] = p[j%8] + float64(v*v)
	}
	return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
}

// Bit-exact comparisons; any two NaNs compare equal.

func same32(x, y float32) bool {
	return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
}

func same64(x, y float64) bool {
	return math.Float64bits(x) == math.Float64bits(y) || (x != x && y != y)
}

// Random values of widely varying magnitude and sign, so that rounding and
// cancellation occur; no NaN or Inf (tested separately).
func rand32(rng *rand.Rand) float32 {
	switch rng.IntN(16) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return 1
	}
	return float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20))
}

func rand64(rng *rand.Rand) float64 {
	switch rng.IntN(16) {
	case 0:
		return 0
	case 1:
		return math.Copysign(0, -1)
	case 2:
		return 1
	}
	return rng.NormFloat64() * math.Ldexp(1, rng.IntN(80)-40)
}

func vecs32(rng *rand.Rand, k, n int) ([]float32, [][]float32) {
	w := make([]float32, k)
	vs := make([][]float32, k)
	for i := range vs {
		w[i] = rand32(rng)
		vs[i] = make([]float32, n)
		for j := range vs[i] {
			vs[i][j] = rand32(rng)
		}
	}
	return w, vs
}

func vecs64(rng *rand.Rand, k, n int) ([]float64, [][]float64) {
	w := make([]float64, k)
	vs := make([][]float64, k)
	for i := range vs {
		w[i] = rand64(rng)
		vs[i] = make([]float64, n)
		for j := range vs[i] {
			vs[i][j] = rand64(rng)
		}
	}
	return w, vs
}

func clone32(vs [][]float32) [][]float32 {
	out := make([][]float32, len(vs))
	for i := range vs {
		out[i] = append([]float32(nil), vs[i]...)
	}
	return out
}

func clone64(vs [][]float64) [][]float64 {
	out := make([][]float64, len(vs))
	for i := range vs {
		out[i] = append([]float64(nil), vs[i]...)
	}
	return out
}

func check32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range want {
		if !same32(got[j], want[j]) {
			t.Fatalf("%s: [%d] = %v (%#x), want %v (%#x)", what, j, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]))
		}
	}
}

func check64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for j := range want {
		if !same64(got[j], want[j]) {
			t.Fatalf("%s: [%d] = %v (%#x), want %v (%#x)", what, j, got[j], math.Float64bits(got[j]), want[j], math.Float64bits(want[j]))
		}
	}
}

var vecCounts = []int{0, 1, 2, 3, 4, 5, 6, 9, 16}

// TestWeightedSum compares both weighted sums with the reference for every
// length 0..1024, several vector counts, and dst separate from or aliasing
// one of the inputs.
func TestWeightedSum(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for n := 0; n <= 1024; n++ {
				k := vecCounts[n%len(vecCounts)]
				testWeightedSum32(t, ks, rng, k, n)
				testWeightedSum64(t, ks, rng, k, n)
			}
			for _, k := range vecCounts {
				for _, n := range []int{511, 512, 513, 1536, 5000, 20003} {
					testWeightedSum32(t, ks, rng, k, n)
					testWeightedSum64(t, ks, rng, k, n)
				}
			}
		})
	}
}

func testWeightedSum32(t *testing.T, ks Kernels, rng *rand.Rand, k, n int) {
	t.Helper()
	w, vs := vecs32(rng, k, n)
	want := refWeightedSumF32(n, w, vs)
	dst := make([]float32, n)
	for j := range dst {
		dst[j] = 42 // must be overwritten, also when k == 0
	}
	ks.WeightedSumF32(dst, w, vs)
	check32(t, fmt.Sprintf("F32 k=%d n=%d", k, n), dst, want)
	for _, a := range []int{0, k / 2, k - 1} {
		if a < 0 || a >= k {
			continue
		}
		vv := clone32(vs)
		ks.WeightedSumF32(vv[a], w, vv)
		check32(t, fmt.Sprintf("F32 k=%d n=%d dst=vs[%d]", k, n, a), vv[a], want)
		for i := range vv {
			if i != a {
				check32(t, "input modified", vv[i], vs[i])
			}
		}
	}
	if k >= 2 {
		// The same slice appearing twice in vs, and as dst.
		vv := clone32(vs)
		vv[k-1] = vv[0]
		vs2 := clone32(vv)
		want2 := refWeightedSumF32(n, w, vs2)
		ks.WeightedSumF32(vv[0], w, vv)
		check32(t, fmt.Sprintf("F32 k=%d n=%d repeated", k, n), vv[0], want2)
	}
}

func testWeightedSum64(t *testing.T, ks Kernels, rng *rand.Rand, k, n int) {
	t.Helper()
	w, vs := vecs64(rng, k, n)
	want := refWeightedSumF64(n, w, vs)
	dst := make([]float64, n)
	for j := range dst {
		dst[j] = 42
	}
	ks.WeightedSumF64(dst, w, vs)
	check64(t, fmt.Sprintf("F64 k=%d n=%d", k, n), dst, want)
	for _, a := range []int{0, k / 2, k - 1} {
		if a < 0 || a >= k {
			continue
		}
		vv := clone64(vs)
		ks.WeightedSumF64(vv[a], w, vv)
		check64(t, fmt.Sprintf("F64 k=%d n=%d dst=vs[%d]", k, n, a), vv[a], want)
		for i := range vv {
			if i != a {
				check64(t, "input modified", vv[i], vs[i])
			}
		}
	}
	if k >= 2 {
		vv := clone64(vs)
		vv[k-1] = vv[0]
		vs2 := clone64(vv)
		want2 := refWeightedSumF64(n, w, vs2)
		ks.WeightedSumF64(vv[0], w, vv)
		check64(t, fmt.Sprintf("F64 k=%d n=%d repeated", k, n), vv[0], want2)
	}
}

// TestWeightedSumOrder pins the summation order on values where another
// order (or a fused multiply-add) gives a different result.
func TestWeightedSumOrder(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			// (1e8 + 1) + (-1e8) = 0 in float32 but 1e8 + (1 + -1e8) = 0 too; use
			// (2^24 + 1) - 2^24: in order, 2^24 + 1 rounds to 2^24, so the sum is 0.
			w := []float32{1, 1, 1}
			vs := [][]float32{{1 << 24}, {1}, {-(1 << 24)}}
			dst := make([]float32, 1)
			ks.WeightedSumF32(dst, w, vs)
			if dst[0] != 0 {
				t.Fatalf("F32 order: got %v, want 0", dst[0])
			}
			// FMA check: w·v with w = v = 1 + 2^-12 has product 1 + 2^-11 + 2^-24,
			// which rounds to 1 + 2^-11 in float32 (ties to even); a fused
			// -(1+2^-11) + w·v would keep 2^-24. Try every position p of that product
			// among k inputs (all others zero) so each unrolled lane is covered,
			// in vectors of 13 elements so that both the SIMD part and the
			// tail of a native kernel are.
			const l = 13
			x := float32(1 + 1.0/4096)
			y := 1 + math.Ldexp(1, -27) // the same in float64
			d32, d64 := make([]float32, l), make([]float64, l)
			for k := 2; k <= 10; k++ {
				for p := 1; p < k; p++ {
					w32, w64 := make([]float32, k), make([]float64, k)
					vs32, vs64 := make([][]float32, k), make([][]float64, k)
					for i := range k {
						w32[i], w64[i] = 1, 1
						vs32[i], vs64[i] = make([]float32, l), make([]float64, l)
					}
					w32[p], w64[p] = x, y
					for j := range l {
						vs32[p-1][j], vs64[p-1][j] = -(1 + 1.0/2048), -(1 + math.Ldexp(1, -26))
						vs32[p][j], vs64[p][j] = x, y
					}
					ks.WeightedSumF32(d32, w32, vs32)
					ks.WeightedSumF64(d64, w64, vs64)
					for j := range l {
						if d32[j] != 0 {
							t.Fatalf("F32 fused k=%d p=%d: [%d] = %v, want 0", k, p, j, d32[j])
						}
						if d64[j] != 0 {
							t.Fatalf("F64 fused k=%d p=%d: [%d] = %v, want 0", k, p, j, d64[j])
						}
					}
				}
			}
		})
	}
}

func TestWeightedSumSpecial(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			inf32 := float32(math.Inf(1))
			nan32 := float32(math.NaN())
			w := []float32{1, 2, 0, 1}
			vs := [][]float32{
				{nan32, 1, inf32, 1, 1, inf32},
				{1, 1, 1, -inf32, 1, inf32},
				{1, inf32, 1, 1, nan32, 1},
				{1, 1, 1, 1, 1, -inf32},
			}
			dst := make([]float32, 6)
			ks.WeightedSumF32(dst, w, vs)
			want := refWeightedSumF32(6, w, vs)
			check32(t, "F32 special", dst, want)
			// NaN, 0·Inf = NaN, Inf, -Inf, 0·NaN = NaN, Inf + Inf - Inf = NaN.
			for j, wantNaN := range []bool{true, true, false, false, true, true} {
				if (dst[j] != dst[j]) != wantNaN {
					t.Errorf("F32 special [%d] = %v, NaN expected: %v", j, dst[j], wantNaN)
				}
			}
			if !math.IsInf(float64(dst[2]), 1) || !math.IsInf(float64(dst[3]), -1) {
				t.Errorf("F32 Inf not propagated: %v", dst)
			}

			w64 := []float64{1, 2, 0, 1}
			vs64 := make([][]float64, len(vs))
			for i := range vs {
				for _, v := range vs[i] {
					vs64[i] = append(vs64[i], float64(v))
				}
			}
			d64 := make([]float64, 6)
			ks.WeightedSumF64(d64, w64, vs64)
			check64(t, "F64 special", d64, refWeightedSumF64(6, w64, vs64))
			if d64[0] == d64[0] || !math.IsInf(d64[2], 1) || !math.IsInf(d64[3], -1) {
				t.Errorf("F64 special values not propagated: %v", d64)
			}
		})
	}
}

func TestSumSquares(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			for n := 0; n <= 1024; n++ {
				a32 := make([]float32, n)
				a64 := make([]float64, n)
				for j := range a32 {
					a32[j] = rand32(rng)
					a64[j] = rand64(rng)
				}
				if got, want := ks.SumSquaresF32(a32), refSumSquaresF32(a32); !same64(got, want) {
					t.Fatalf("SumSquaresF32 n=%d: got %v, want %v", n, got, want)
				}
				if got, want := ks.SumSquaresF64(a64), refSumSquaresF64(a64); !same64(got, want) {
					t.Fatalf("SumSquaresF64 n=%d: got %v, want %v", n, got, want)
				}
			}
			if ks.SumSquaresF32(nil) != 0 || ks.SumSquaresF64(nil) != 0 || math.Signbit(ks.SumSquaresF64([]float64{math.Copysign(0, -1)})) {
				t.Fatal("empty or -0 input: want +0")
			}
			// Order: squares 2^54, 1, 1, 1, 1, 1, 1, 1 in lanes 0..7 combine as
			// ((2^54+1)+(1+1)) + ((1+1)+(1+1)) = 2^54 + 4, while a sequential sum
			// rounds every 1 away and gives 2^54.
			a := []float64{1 << 27, 1, 1, 1, 1, 1, 1, 1}
			if got, want := ks.SumSquaresF64(a), float64(1<<54+4); got != want {
				t.Fatalf("F64 order: got %v, want %v", got, want)
			}
			if got, want := ks.SumSquaresF32([]float32{1 << 27, 1, 1, 1, 1, 1, 1, 1}), float64(1<<54+4); got != want {
				t.Fatalf("F32 order: got %v, want %v", got, want)
			}
		})
	}
}

func TestSumSquaresSpecial(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			nan, inf := math.NaN(), math.Inf(1)
			for n := 1; n <= 17; n++ {
				for pos := 0; pos < n; pos++ {
					a := make([]float64, n)
					b := make([]float32, n)
					for j := range a {
						a[j], b[j] = 1, 1
					}
					a[pos], b[pos] = nan, float32(nan)
					if r := ks.SumSquaresF64(a); r == r {
						t.Fatalf("F64 NaN n=%d pos=%d: %v", n, pos, r)
					}
					if r := ks.SumSquaresF32(b); r == r {
						t.Fatalf("F32 NaN n=%d pos=%d: %v", n, pos, r)
					}
					a[pos], b[pos] = -inf, float32(-inf)
					if r := ks.SumSquaresF64(a); !math.IsInf(r, 1) {
						t.Fatalf("F64 Inf n=%d pos=%d: %v", n, pos, r)
					}
					if r := ks.SumSquaresF32(b); !math.IsInf(r, 1) {
						t.Fatalf("F32 Inf n=%d pos=%d: %v", n, pos, r)
					}
				}
			}
			// float32 squares never overflow in float64.
			if r := ks.SumSquaresF32([]float32{math.MaxFloat32}); r != float64(math.MaxFloat32)*math.MaxFloat32 {
				t.Fatalf("F32 max: %v", r)
			}
		})
	}
}

func TestScale(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			for n := 0; n <= 1024; n++ {
				s32 := rand32(rng)
				s64 := rand64(rng)
				a32 := make([]float32, n)
				a64 := make([]float64, n)
				for j := range a32 {
					a32[j] = rand32(rng)
					a64[j] = rand64(rng)
				}
				if n > 2 {
					a32[n/2], a64[n/2] = float32(math.NaN()), math.NaN()
					a32[n/3], a64[n/3] = float32(math.Inf(-1)), math.Inf(-1)
				}
				want32 := make([]float32, n)
				want64 := make([]float64, n)
				for j := range a32 {
					want32[j] = s32 * a32[j]
					want64[j] = s64 * a64[j]
				}
				d32 := make([]float32, n)
				d64 := make([]float64, n)
				ks.ScaleF32(d32, a32, s32)
				ks.ScaleF64(d64, a64, s64)
				check32(t, "ScaleF32", d32, want32)
				check64(t, "ScaleF64", d64, want64)
				ks.ScaleF32(a32, a32, s32)
				ks.ScaleF64(a64, a64, s64)
				check32(t, "ScaleF32 aliased", a32, want32)
				check64(t, "ScaleF64 aliased", a64, want64)
			}
		})
	}
}

// TestScaleSumSquaresProperty checks SumSquares(s·a) ≈ s²·SumSquares(a).
// The only rounding in float32 is s·a[j] (relative error ≤ 2^-24, so the
// square is off by ≤ 2^-23 relative); the float64 sums of non-negative terms
// add a relative error of at most about n·2^-53.
func TestScaleSumSquaresProperty(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			for n := 1; n <= 1024; n += 7 {
				a32 := make([]float32, n)
				a64 := make([]float64, n)
				for j := range a32 {
					a32[j] = float32(rng.NormFloat64())
					a64[j] = rng.NormFloat64()
				}
				s := 0.25 + 4*rng.Float64()
				d32 := make([]float32, n)
				d64 := make([]float64, n)
				ks.ScaleF32(d32, a32, float32(s))
				ks.ScaleF64(d64, a64, s)
				s32 := float64(float32(s))
				got, want := ks.SumSquaresF32(d32), s32*s32*ks.SumSquaresF32(a32)
				if rel := math.Abs(got-want) / want; rel > 0x1p-22 {
					t.Fatalf("F32 n=%d: rel err %g", n, rel)
				}
				got, want = ks.SumSquaresF64(d64), s*s*ks.SumSquaresF64(a64)
				if rel := math.Abs(got-want) / want; rel > float64(n+8)*0x1p-51 {
					t.Fatalf("F64 n=%d: rel err %g", n, rel)
				}
			}
		})
	}
}

func TestPanics(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			v3, v4 := make([]float32, 3), make([]float32, 4)
			d3, d4 := make([]float64, 3), make([]float64, 4)
			cases := map[string]func(){
				"WeightedSumF32 w":   func() { ks.WeightedSumF32(v3, []float32{1}, [][]float32{v3, v3}) },
				"WeightedSumF32 len": func() { ks.WeightedSumF32(v3, []float32{1, 1}, [][]float32{v3, v4}) },
				"WeightedSumF64 w":   func() { ks.WeightedSumF64(d3, []float64{1, 1}, [][]float64{d3}) },
				"WeightedSumF64 len": func() { ks.WeightedSumF64(d3, []float64{1}, [][]float64{d4}) },
				"ScaleF32":           func() { ks.ScaleF32(v3, v4, 1) },
				"ScaleF64":           func() { ks.ScaleF64(d4, d3, 1) },
			}
			for name, f := range cases {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("%s: no panic", name)
						}
					}()
					f()
				}()
			}
		})
	}
}

func TestNoAllocs(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.Name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 10))
			w, vs := vecs32(rng, 6, 2000)
			w64, vs64 := vecs64(rng, 6, 2000)
			allocs := testing.AllocsPerRun(10, func() {
				ks.WeightedSumF32(vs[0], w, vs)
				ks.WeightedSumF64(vs64[1], w64, vs64)
				ks.WeightedSumF32(vs[5], w, vs) // accumulated in a stack buffer
				ks.WeightedSumF64(vs64[5], w64, vs64)
				ks.ScaleF32(vs[2], vs[2], 0.5)
				ks.ScaleF64(vs64[2], vs64[2], 0.5)
				_ = ks.SumSquaresF32(vs[3]) + ks.SumSquaresF64(vs64[3])
			})
			if allocs != 0 {
				t.Fatalf("allocations: %v", allocs)
			}
		})
	}
}
