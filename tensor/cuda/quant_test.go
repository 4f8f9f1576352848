package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
)

// newFakeAt returns a backend on the fake driver built at lib, with
// placeholder PTX naming every kernel the backend looks up (so that the
// tests do not depend on the embedded PTX being regenerated).
func newFakeAt(t *testing.T, lib string) *Backend {
	t.Helper()
	return newFakeWith(t, Config{Library: lib, PTX: placeholderPTX()})
}

// genericCPU returns the reference CPU backend.
func genericCPU(t *testing.T) *tensor.CPU {
	t.Helper()
	cpu, stop, err := tensor.NewCPU(tensor.CPUConfig{Generic: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return cpu
}

// quantFixedPoints returns the fixed-point parameter sets the quantisation
// methods are tested with, for Z/2^32 and Z/2^64.
func quantFixedPoints(t *testing.T) []*tensor.FixedPoint {
	t.Helper()
	lits := []tensor.FixedPointLiteral{
		{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000},
		{RingBits: 32, Lo: -3.25, Hi: 1e3, MaxSummands: 2, Bits: 31},
		{RingBits: 32, Lo: 0, Hi: 1e-30, MaxSummands: 100, Bits: 1},
		{RingBits: 32, Lo: -0.1, Hi: 0.1, MaxSummands: 1 << 16, Bits: 8},
		{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 1000},
		{RingBits: 64, Lo: -1e6, Hi: 5e5, MaxSummands: 1, Bits: 52},
		{RingBits: 64, Lo: -2, Hi: -1, MaxSummands: 1 << 20, Bits: 20},
	}
	fps := make([]*tensor.FixedPoint, len(lits))
	for i, lit := range lits {
		fp, err := tensor.NewFixedPoint(lit)
		if err != nil {
			t.Fatalf("%+v: %v", lit, err)
		}
		fps[i] = fp
	}
	return fps
}

// specialFloats are inputs every quantiser must handle: NaN, infinities,
// zeros of both signs, subnormals and the extremes of both float types.
var specialFloats = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 5e-324, -5e-324,
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
	math.MaxFloat64, -math.MaxFloat64, 1e300, -1e300}

// quantInputs returns n values around [fp.Lo(), fp.Hi()], a tenth of them
// special values, the bounds or values just outside them; the first ones
// are every special value in turn, so that small sizes see them too.
func quantInputs(r *rand.Rand, fp *tensor.FixedPoint, n int) []float64 {
	lo, hi := fp.Lo(), fp.Hi()
	edges := append([]float64{lo, hi, math.Nextafter(lo, math.Inf(-1)), math.Nextafter(hi, math.Inf(1)),
		float64(float32(lo)), float64(float32(hi))}, specialFloats...)
	s := make([]float64, n)
	for i := range s {
		switch {
		case i < len(edges) && n > 2*len(edges):
			s[i] = edges[i]
		case r.IntN(10) == 0:
			s[i] = edges[r.IntN(len(edges))]
		default:
			w := hi - lo
			s[i] = lo - w/8 + r.Float64()*w*1.25
		}
	}
	return s
}

var quantSizes = []int{0, 1, 3, 255, 256, 257, 4097, 65537}

func poisoned[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestFakeQuant checks quantisation and dequantisation on the fake driver
// against the generic CPU backend (one build of the fake for all three).
func TestFakeQuant(t *testing.T) {
	g := newFakeAt(t, fakeLibrary(t))
	cpu := genericCPU(t)
	t.Run("Quantize", func(t *testing.T) { testQuantize(t, g, cpu) })
	t.Run("Dequantize", func(t *testing.T) { testDequantize(t, g, cpu) })
	t.Run("Refusals", func(t *testing.T) { testQuantRefusals(t, g, cpu) })
}

// TestGPUQuant runs the comparisons of TestFakeQuant on device 0 of the real
// driver with the embedded PTX. It skips where CUDA is unavailable unless
// COHORT_REQUIRE_GPU=1, where that fails it.
func TestGPUQuant(t *testing.T) {
	g := newGPU(t, tensor.CPUConfig{Workers: 1})
	t.Logf("backend %s", g.Name())
	cpu := genericCPU(t)
	t.Run("Quantize", func(t *testing.T) { testQuantize(t, g, cpu) })
	t.Run("Dequantize", func(t *testing.T) { testDequantize(t, g, cpu) })
	t.Run("Refusals", func(t *testing.T) { testQuantRefusals(t, g, cpu) })
}

// testQuantize checks every quantisation method bit for bit against cpu on
// fresh random inputs with special values, outputs poisoned.
func testQuantize(t *testing.T, g *Backend, cpu *tensor.CPU) {
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	sizes := quantSizes
	if testing.Short() {
		sizes = sizes[:len(sizes)-1]
	}
	for _, fp := range quantFixedPoints(t) {
		for _, n := range sizes {
			name := fmt.Sprintf("%+v n=%d", fp.Literal(), n)
			f64 := quantInputs(r, fp, n)
			f32 := make([]float32, n)
			for i, x := range f64 {
				f32[i] = float32(x)
			}
			var s tensor.Seed
			for i := range s {
				s[i] = byte(r.Uint32())
			}
			if fp.RingBits() == 32 {
				got, want := poisoned(n, uint32(0xdeadbeef)), poisoned(n, uint32(0xdeadbeef))
				g.QuantizeF32U32(fp, got, f32, &s)
				cpu.QuantizeF32U32(fp, want, f32, &s)
				checkSame(t, "QuantizeF32U32 "+name, got, want)
				got, want = poisoned(n, uint32(0xdeadbeef)), poisoned(n, uint32(0xdeadbeef))
				g.QuantizeF64U32(fp, got, f64, &s)
				cpu.QuantizeF64U32(fp, want, f64, &s)
				checkSame(t, "QuantizeF64U32 "+name, got, want)
			} else {
				got, want := poisoned(n, uint64(0xdeadbeefdeadbeef)), poisoned(n, uint64(0xdeadbeefdeadbeef))
				g.QuantizeF32U64(fp, got, f32, &s)
				cpu.QuantizeF32U64(fp, want, f32, &s)
				checkSame(t, "QuantizeF32U64 "+name, got, want)
				got, want = poisoned(n, uint64(0xdeadbeefdeadbeef)), poisoned(n, uint64(0xdeadbeefdeadbeef))
				g.QuantizeF64U64(fp, got, f64, &s)
				cpu.QuantizeF64U64(fp, want, f64, &s)
				checkSame(t, "QuantizeF64U64 "+name, got, want)
			}
		}
	}
}

// testDequantize checks every dequantisation method bit for bit against
// cpu on random sums with the extreme words, for counts 1, MaxSummands and a
// random one, outputs poisoned.
func testDequantize(t *testing.T, g *Backend, cpu *tensor.CPU) {
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	sizes := quantSizes
	if testing.Short() {
		sizes = sizes[:len(sizes)-1]
	}
	const poison = -1.5
	for _, fp := range quantFixedPoints(t) {
		for _, count := range []int{1, fp.MaxSummands(), 1 + r.IntN(fp.MaxSummands())} {
			for _, n := range sizes {
				name := fmt.Sprintf("%+v count=%d n=%d", fp.Literal(), count, n)
				got32, want32 := poisoned(n, float32(poison)), poisoned(n, float32(poison))
				got64, want64 := poisoned(n, float64(poison)), poisoned(n, float64(poison))
				if fp.RingBits() == 32 {
					sum := make([]uint32, n)
					for i := range sum {
						sum[i] = r.Uint32()
					}
					if n > 2 {
						sum[0], sum[1] = 0, math.MaxUint32
					}
					mustDequantize(t, "DequantizeU32F32 "+name, g.DequantizeU32F32(fp, got32, sum, count),
						cpu.DequantizeU32F32(fp, want32, sum, count))
					mustDequantize(t, "DequantizeU32F64 "+name, g.DequantizeU32F64(fp, got64, sum, count),
						cpu.DequantizeU32F64(fp, want64, sum, count))
				} else {
					sum := make([]uint64, n)
					for i := range sum {
						sum[i] = r.Uint64() >> r.IntN(64)
					}
					if n > 2 {
						sum[0], sum[1] = 0, math.MaxUint64
					}
					mustDequantize(t, "DequantizeU64F32 "+name, g.DequantizeU64F32(fp, got32, sum, count),
						cpu.DequantizeU64F32(fp, want32, sum, count))
					mustDequantize(t, "DequantizeU64F64 "+name, g.DequantizeU64F64(fp, got64, sum, count),
						cpu.DequantizeU64F64(fp, want64, sum, count))
				}
				checkSame(t, "to float32 "+name, f32Bits(got32), f32Bits(want32))
				checkSame(t, "to float64 "+name, f64Bits(got64), f64Bits(want64))
			}
		}
	}
}

// mustDequantize fails t unless both dequantisations succeeded.
func mustDequantize(t *testing.T, op string, got, want error) {
	t.Helper()
	if got != nil || want != nil {
		t.Fatalf("%s: %v (CPU: %v)", op, got, want)
	}
}

// checkSame reports the first element where got and want differ.
func checkSame[T comparable](t *testing.T, op string, got, want []T) {
	t.Helper()
	if i := diff(got, want); i >= 0 {
		t.Errorf("%s: element %d is %#v, CPU %#v", op, i, got[i], want[i])
	}
}

func f32Bits(s []float32) []uint32 {
	out := make([]uint32, len(s))
	for i, x := range s {
		out[i] = math.Float32bits(x)
	}
	return out
}

func f64Bits(s []float64) []uint64 {
	out := make([]uint64, len(s))
	for i, x := range s {
		out[i] = math.Float64bits(x)
	}
	return out
}

// panicOf returns what f panics with, or nil.
func panicOf(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// testQuantRefusals checks that g refuses what cpu refuses, with the same
// panic or error.
func testQuantRefusals(t *testing.T, g *Backend, cpu *tensor.CPU) {
	fp32, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 10})
	if err != nil {
		t.Fatal(err)
	}
	fp64, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 10})
	if err != nil {
		t.Fatal(err)
	}
	seed := &tensor.Seed{7}
	panics := []struct {
		name string
		run  func(b tensor.Backend)
	}{
		{"QuantizeF32U32 with 64-bit parameters", func(b tensor.Backend) {
			b.QuantizeF32U32(fp64, make([]uint32, 4), make([]float32, 4), seed)
		}},
		{"QuantizeF64U32 with 64-bit parameters", func(b tensor.Backend) {
			b.QuantizeF64U32(fp64, make([]uint32, 4), make([]float64, 4), seed)
		}},
		{"QuantizeF32U64 with 32-bit parameters", func(b tensor.Backend) {
			b.QuantizeF32U64(fp32, make([]uint64, 4), make([]float32, 4), seed)
		}},
		{"QuantizeF64U64 with 32-bit parameters", func(b tensor.Backend) {
			b.QuantizeF64U64(fp32, make([]uint64, 0), make([]float64, 0), seed)
		}},
		{"QuantizeF32U32 lengths 3, 4", func(b tensor.Backend) {
			b.QuantizeF32U32(fp32, make([]uint32, 3), make([]float32, 4), seed)
		}},
		{"QuantizeF64U64 lengths 5, 0", func(b tensor.Backend) {
			b.QuantizeF64U64(fp64, make([]uint64, 5), nil, seed)
		}},
		{"DequantizeU32F32 with 64-bit parameters", func(b tensor.Backend) {
			_ = b.DequantizeU32F32(fp64, make([]float32, 4), make([]uint32, 4), 1)
		}},
		{"DequantizeU64F64 with 32-bit parameters", func(b tensor.Backend) {
			_ = b.DequantizeU64F64(fp32, make([]float64, 4), make([]uint64, 4), 1)
		}},
		{"DequantizeU32F64 lengths 2, 3", func(b tensor.Backend) {
			_ = b.DequantizeU32F64(fp32, make([]float64, 2), make([]uint32, 3), 1)
		}},
		{"DequantizeU64F32 lengths 3, 2", func(b tensor.Backend) {
			_ = b.DequantizeU64F32(fp64, make([]float32, 3), make([]uint64, 2), 1)
		}},
	}
	for _, c := range panics {
		got, want := panicOf(func() { c.run(g) }), panicOf(func() { c.run(cpu) })
		if want == nil {
			t.Fatalf("%s: the CPU backend does not panic", c.name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: panic %v, CPU %v", c.name, got, want)
		}
	}

	for _, n := range []int{-1, 0, 11, math.MaxInt} {
		errs := []struct {
			name string
			run  func(b tensor.Backend) error
		}{
			{"DequantizeU32F32", func(b tensor.Backend) error {
				return b.DequantizeU32F32(fp32, make([]float32, 4), make([]uint32, 4), n)
			}},
			{"DequantizeU32F64", func(b tensor.Backend) error {
				return b.DequantizeU32F64(fp32, make([]float64, 0), nil, n)
			}},
			{"DequantizeU64F32", func(b tensor.Backend) error {
				return b.DequantizeU64F32(fp64, make([]float32, 4), make([]uint64, 4), n)
			}},
			{"DequantizeU64F64 with lengths 1, 2", func(b tensor.Backend) error {
				return b.DequantizeU64F64(fp64, make([]float64, 1), make([]uint64, 2), n)
			}},
		}
		for _, c := range errs {
			got, want := c.run(g), c.run(cpu)
			if !errors.Is(got, tensor.ErrFixedPoint) || want == nil || got.Error() != want.Error() {
				t.Errorf("%s count %d: %v, want the CPU's error %v", c.name, n, got, want)
			}
		}
	}
}
