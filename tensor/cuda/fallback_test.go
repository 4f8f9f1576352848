//go:build linux && (amd64 || arm64)

package cuda

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ebitengine/purego"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// launchCounter returns fake_kernel_launches of the fake library at lib: the
// number of kernels it has run.
func launchCounter(t *testing.T, lib string) func() uint64 {
	t.Helper()
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatalf("dlopen %s: %v", lib, err)
	}
	t.Cleanup(func() {
		if err := purego.Dlclose(h); err != nil {
			t.Errorf("dlclose: %v", err)
		}
	})
	var launches func() uint64
	purego.RegisterLibFunc(&launches, h, "fake_kernel_launches")
	return launches
}

// fallbackOps are operations run in TestFakeOutOfMemoryFallback: each
// draws its inputs from in, runs on b over n elements and returns its result
// as words.
var fallbackOps = []struct {
	name string
	run  func(t *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64
}{
	{"AddU32", func(_ *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		x, y, dst := words32(in, n), words32(in, n), poisoned(n, uint32(0xdeadbeef))
		b.AddU32(dst, x, y)
		return widen(dst)
	}},
	{"ExpandAddU32", func(_ *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		dst := words32(in, 4*n) // one device buffer: 4n words to need as much memory as AddU32
		var seed tensor.Seed
		for i := range seed {
			seed[i] = byte(in.Uint32())
		}
		b.ExpandAddU32(dst, &seed)
		return widen(dst)
	}},
	{"SumU64", func(_ *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		vs := [][]uint64{words64(in, n), words64(in, n), words64(in, n)}
		dst := poisoned(n, uint64(0xdeadbeefdeadbeef))
		b.SumU64(dst, vs...)
		return dst
	}},
	{"ModMulScalar", func(t *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		m, err := tensor.NewModulus(1<<61 - 1)
		if err != nil {
			t.Fatal(err)
		}
		a := words64(in, n)
		for i := range a {
			a[i] = m.Reduce(a[i])
		}
		dst := poisoned(n, uint64(0xdeadbeefdeadbeef))
		b.ModMulScalar(m, dst, a, m.Reduce(in.Uint64()))
		return dst
	}},
	{"QuantizeF64U32", func(t *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 100})
		if err != nil {
			t.Fatal(err)
		}
		src := make([]float64, n)
		for i := range src {
			src[i] = in.Float64()*2.5 - 1.25
		}
		seed := &tensor.Seed{byte(in.Uint32()), byte(in.Uint32())}
		dst := poisoned(n, uint32(0xdeadbeef))
		b.QuantizeF64U32(fp, dst, src, seed)
		return widen(dst)
	}},
	{"DequantizeU64F64", func(t *testing.T, b tensor.Backend, n int, in *rand.Rand) []uint64 {
		fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 64, Lo: -4, Hi: 4, MaxSummands: 1000})
		if err != nil {
			t.Fatal(err)
		}
		sum := words64(in, n)
		for i := range sum {
			sum[i] >>= 20
		}
		dst := poisoned(n, -1.5)
		if err := b.DequantizeU64F64(fp, dst, sum, 1000); err != nil {
			t.Fatalf("DequantizeU64F64: %v", err)
		}
		return f64Bits(dst)
	}},
}

func words32(r *rand.Rand, n int) []uint32 {
	v := make([]uint32, n)
	for i := range v {
		v[i] = r.Uint32()
	}
	return v
}

func words64(r *rand.Rand, n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		v[i] = r.Uint64()
	}
	return v
}

func widen(s []uint32) []uint64 {
	out := make([]uint64, len(s))
	for i, x := range s {
		out[i] = uint64(x)
	}
	return out
}

// TestFakeOutOfMemoryFallback limits the fake's device memory
// (FAKE_CUDA_MEM_LIMIT, which the fake reads at every allocation) and checks
// that operations too large for it run on the CPU backend with the same
// result, while small ones still run on the device, and that the large ones
// run on the device again once the limit is lifted: the fake counts the
// kernels it runs.
func TestFakeOutOfMemoryFallback(t *testing.T) {
	lib := fakeLibrary(t)
	g := newFakeAt(t, lib)
	launches := launchCounter(t, lib)
	cpu := genericCPU(t)
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))

	// With 64 KiB of device memory, every operation above fits at 1000
	// elements (at most 32 KiB) and none at 8192 (at least 96 KiB).
	const limit, small, large = 64 << 10, 1000, 8 << 10

	// check runs op at size n on the fake and on the CPU with the same
	// inputs, and checks that the results agree and whether a kernel ran.
	check := func(t *testing.T, i, n int, onDevice bool) {
		t.Helper()
		op := fallbackOps[i]
		inSeed := r.Uint64()
		before := launches()
		got := op.run(t, g, n, rand.New(rand.NewPCG(inSeed, 0)))
		ran := launches() - before
		want := op.run(t, cpu, n, rand.New(rand.NewPCG(inSeed, 0)))
		checkSame(t, op.name+" n="+strconv.Itoa(n), got, want)
		switch {
		case onDevice && ran != 1:
			t.Errorf("%s n=%d: %d kernels ran, want 1 (on the device)", op.name, n, ran)
		case !onDevice && ran != 0:
			t.Errorf("%s n=%d: %d kernels ran, want 0 (on the CPU)", op.name, n, ran)
		}
	}
	t.Run("limited", func(t *testing.T) {
		t.Setenv("FAKE_CUDA_MEM_LIMIT", strconv.Itoa(limit))
		for i := range fallbackOps {
			check(t, i, small, true)
			check(t, i, large, false)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		for i := range fallbackOps {
			check(t, i, large, true)
		}
	})
}

// TestFakeDriverFailurePanics checks that a driver failure other than out
// of memory (here: the context is closed) panics rather than falling back.
func TestFakeDriverFailurePanics(t *testing.T) {
	b, stop, err := New(Config{Library: fakeLibrary(t), PTX: placeholderPTX(), CPU: tensor.CPUConfig{Workers: 1}})
	if err != nil {
		t.Fatalf("New on the fake driver: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 10})
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(){
		"AddU32": func() { b.AddU32(make([]uint32, 4), make([]uint32, 4), make([]uint32, 4)) },
		"QuantizeF32U64": func() {
			b.QuantizeF32U64(fp, make([]uint64, 4), make([]float32, 4), &tensor.Seed{})
		},
		"DequantizeU64F32": func() { _ = b.DequantizeU64F32(fp, make([]float32, 4), make([]uint64, 4), 2) },
	} {
		p := panicOf(run)
		err, ok := p.(error)
		if !ok || !errors.Is(err, driver.ErrClosed) {
			t.Errorf("%s on a closed backend: panic %v, want an error wrapping driver.ErrClosed", name, p)
		}
	}
}
