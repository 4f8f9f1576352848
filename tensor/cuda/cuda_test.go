package cuda

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/cudatest"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

func TestNewMissingLibrary(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	_, _, err := New(Config{Library: lib})
	if !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("New with a missing library: %v, want an error wrapping driver.ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), lib) {
		t.Errorf("New with a missing library: %q does not name the library %s", err, lib)
	}
}

// TestSelect checks the three kinds on this machine: auto falls back to the
// CPU backend exactly when New fails, with New's error as the fallback; and
// Choose, which Select builds on, returns no backend then.
func TestSelect(t *testing.T) {
	b, stop, fallback, err := Select("cpu", tensor.CPUConfig{Workers: 1})
	if err != nil {
		t.Fatalf("Select(cpu): %v", err)
	}
	if _, ok := b.(*tensor.CPU); !ok || fallback != nil {
		t.Errorf("Select(cpu) = %T, fallback %v; want *tensor.CPU and none", b, fallback)
	}
	stop()
	if g, stop, fallback, err := Choose("cpu", tensor.CPUConfig{}); g != nil || fallback != nil || err != nil {
		t.Errorf("Choose(cpu) = %v, %v, %v; want nothing", g, fallback, err)
	} else {
		stop()
	}
	for _, f := range []func() error{
		func() error { _, _, _, err := Select("gpu", tensor.CPUConfig{}); return err },
		func() error { _, _, _, err := Choose("gpu", tensor.CPUConfig{}); return err },
	} {
		if err := f(); !errors.Is(err, ErrBackendKind) {
			t.Errorf("kind gpu: %v, want ErrBackendKind", err)
		}
	}

	g, gstop, newErr := New(Config{CPU: tensor.CPUConfig{Workers: 1}})
	if newErr == nil {
		t.Logf("CUDA available here: %s", g.Name())
		if err := gstop(); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"cuda", "auto"} {
		b, stop, fallback, err := Select(kind, tensor.CPUConfig{Workers: 1})
		switch {
		case newErr == nil:
			if err != nil {
				t.Fatalf("Select(%s): %v, New succeeded", kind, err)
			}
			if _, ok := b.(*Backend); !ok || fallback != nil {
				t.Errorf("Select(%s) = %T, fallback %v; want *cuda.Backend and none", kind, b, fallback)
			}
			stop()
		case kind == "cuda":
			if err == nil || err.Error() != newErr.Error() {
				t.Errorf("Select(cuda): %v, want New's error %v", err, newErr)
			}
		default:
			if err != nil {
				t.Fatalf("Select(auto): %v, want the CPU backend", err)
			}
			if _, ok := b.(*tensor.CPU); !ok {
				t.Errorf("Select(auto) = %T, want *tensor.CPU", b)
			}
			if fallback == nil || fallback.Error() != newErr.Error() {
				t.Errorf("Select(auto) fallback %v, want New's error %v", fallback, newErr)
			}
			stop()
			if g, stop, fb, err := Choose(kind, tensor.CPUConfig{}); g != nil || err != nil || fb == nil {
				t.Errorf("Choose(auto) = %v, %v, %v; want no backend and a fallback", g, fb, err)
			} else {
				stop()
			}
		}
	}
}

// placeholderPTX returns modules the fake driver loads: each names its
// family's kernels after ".entry ".
func placeholderPTX() map[string][]byte {
	ptx := map[string][]byte{}
	for family, names := range kernelNames() {
		var s strings.Builder
		for _, n := range names {
			s.WriteString(".entry " + n + "\n")
		}
		ptx[family] = []byte(s.String())
	}
	return ptx
}

// fakeLib is the fake libcuda of the package's tests, built once
// (cudatest.FakeLibrary: testdata/fakekernels.c, the driver's fake running
// the real kernels on the CPU) by the first test that needs it.
var fakeLib struct {
	once sync.Once
	path string
	skip string // why there is none
}

// fakeLibrary returns the path of the fake libcuda, building it on first
// use; it skips t where there is no C compiler.
func fakeLibrary(t *testing.T) string {
	t.Helper()
	fakeLib.once.Do(func() {
		// A throwaway T-like runner: build into a folder that outlives
		// the first test (removed by TestMain).
		dir, err := os.MkdirTemp("", "cohort-fakecuda-")
		if err != nil {
			fakeLib.skip = err.Error()
			return
		}
		fakeDir = dir
		fakeLib.path, fakeLib.skip = cudatest.BuildFakeLibrary(dir)
	})
	if fakeLib.path == "" {
		t.Skip(fakeLib.skip)
	}
	return fakeLib.path
}

// fakeDir is the folder of the fake library, removed after the tests.
var fakeDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeDir != "" {
		os.RemoveAll(fakeDir)
	}
	os.Exit(code)
}

// newFake returns a backend on the fake driver.
func newFake(t *testing.T) *Backend {
	t.Helper()
	// The embedded PTX: the fake checks that it declares every kernel.
	return newFakeWith(t, Config{Library: fakeLibrary(t)})
}

// newFakeWith returns a backend made with cfg (a CPU half of one worker),
// shut down when t ends.
func newFakeWith(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.CPU = tensor.CPUConfig{Workers: 1}
	b, stop, err := New(cfg)
	if err != nil {
		t.Fatalf("New on the fake driver: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}

func TestFakeName(t *testing.T) {
	b := newFake(t)
	if !strings.HasPrefix(b.Name(), "cuda/") || !strings.Contains(b.Name(), "(sm_") {
		t.Errorf("Name() = %q, want cuda/DEVICE (sm_XY)", b.Name())
	}
}

// TestNoPTX checks the error of a build without generated PTX.
func TestNoPTX(t *testing.T) {
	_, err := ptxFrom(fstest.MapFS{"ptx/README.md": {Data: []byte("run make ptx")}}, &Config{}, "aesctr")
	const want = "no PTX for aesctr embedded: run make ptx on a machine with nvcc"
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("ptxFrom without aesctr.ptx: %v, want ErrUnavailable with %q", err, want)
	}
	p, err := ptxFrom(fstest.MapFS{}, &Config{PTX: map[string][]byte{"aesctr": []byte("x")}}, "aesctr")
	if err != nil || string(p) != "x" {
		t.Fatalf("ptxFrom with Config.PTX: %q, %v", p, err)
	}
}

func TestFakeBadPTX(t *testing.T) {
	ptx := placeholderPTX()
	ptx["modq"] = []byte("not ptx")
	if _, _, err := New(Config{Library: fakeLibrary(t), PTX: ptx}); err == nil || !strings.Contains(err.Error(), "modq") {
		t.Fatalf("New with unloadable modq PTX: %v, want an error naming modq", err)
	}
}

func TestFakeMatchesCPU(t *testing.T) {
	compareWithCPU(t, newFake(t))
}

func TestFakeLengthMismatchPanics(t *testing.T) {
	b := newFake(t)
	defer func() {
		if recover() == nil {
			t.Error("AddU32 with lengths 2, 2, 3 did not panic")
		}
	}()
	b.AddU32(make([]uint32, 2), make([]uint32, 2), make([]uint32, 3))
}

// compareWithCPU checks every method that runs on the device (and the ones
// delegated to the CPU) bit for bit against the generic CPU backend on
// random inputs, outputs poisoned.
func compareWithCPU(t *testing.T, g *Backend) {
	cpu, stop, err := tensor.NewCPU(tensor.CPUConfig{Generic: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	sizes := []int{0, 1, 5, 257, 65537}

	u32 := func(n int) []uint32 {
		v := make([]uint32, n)
		for i := range v {
			v[i] = rng.Uint32()
		}
		return v
	}
	u64 := func(n int) []uint64 {
		v := make([]uint64, n)
		for i := range v {
			v[i] = rng.Uint64()
		}
		return v
	}
	poison32 := func(n int) []uint32 {
		v := make([]uint32, n)
		for i := range v {
			v[i] = 0xdeadbeef
		}
		return v
	}
	poison64 := func(n int) []uint64 {
		v := make([]uint64, n)
		for i := range v {
			v[i] = 0xdeadbeefdeadbeef
		}
		return v
	}
	check32 := func(op string, n int, run func(b tensor.Backend, dst []uint32)) {
		t.Helper()
		got, want := poison32(n), poison32(n)
		run(g, got)
		run(cpu, want)
		if i := diff(got, want); i >= 0 {
			t.Errorf("%s n=%d: element %d is %#x, CPU %#x", op, n, i, got[i], want[i])
		}
	}
	check64 := func(op string, n int, run func(b tensor.Backend, dst []uint64)) {
		t.Helper()
		got, want := poison64(n), poison64(n)
		run(g, got)
		run(cpu, want)
		if i := diff(got, want); i >= 0 {
			t.Errorf("%s n=%d: element %d is %#x, CPU %#x", op, n, i, got[i], want[i])
		}
	}

	for _, n := range sizes {
		a32, b32, s32 := u32(n), u32(n), rng.Uint32()
		check32("AddU32", n, func(b tensor.Backend, d []uint32) { b.AddU32(d, a32, b32) })
		check32("SubU32", n, func(b tensor.Backend, d []uint32) { b.SubU32(d, a32, b32) })
		check32("NegU32", n, func(b tensor.Backend, d []uint32) { b.NegU32(d, a32) })
		check32("AddScalarU32", n, func(b tensor.Backend, d []uint32) { b.AddScalarU32(d, a32, s32) })
		check32("AddU32 in place", n, func(b tensor.Backend, d []uint32) { copy(d, a32); b.AddU32(d, d, b32) })
		check32("ExpandU32", n, func(b tensor.Backend, d []uint32) { b.ExpandU32(d, &tensor.Seed{1}) })
		check32("ExpandAddU32", n, func(b tensor.Backend, d []uint32) { copy(d, a32); b.ExpandAddU32(d, &tensor.Seed{2}) })
		check32("ExpandSubU32", n, func(b tensor.Backend, d []uint32) { copy(d, a32); b.ExpandSubU32(d, &tensor.Seed{3}) })
		for _, k := range []int{0, 1, 3} {
			vs := make([][]uint32, k)
			for i := range vs {
				vs[i] = u32(n)
			}
			check32("SumU32", n, func(b tensor.Backend, d []uint32) { b.SumU32(d, vs...) })
		}

		a64, b64, s64 := u64(n), u64(n), rng.Uint64()
		check64("AddU64", n, func(b tensor.Backend, d []uint64) { b.AddU64(d, a64, b64) })
		check64("SubU64", n, func(b tensor.Backend, d []uint64) { b.SubU64(d, a64, b64) })
		check64("NegU64", n, func(b tensor.Backend, d []uint64) { b.NegU64(d, a64) })
		check64("AddScalarU64", n, func(b tensor.Backend, d []uint64) { b.AddScalarU64(d, a64, s64) })
		check64("SubU64 in place", n, func(b tensor.Backend, d []uint64) { copy(d, b64); b.SubU64(d, a64, d) })
		check64("ExpandU64", n, func(b tensor.Backend, d []uint64) { b.ExpandU64(d, &tensor.Seed{4}) })
		check64("ExpandAddU64", n, func(b tensor.Backend, d []uint64) { copy(d, a64); b.ExpandAddU64(d, &tensor.Seed{5}) })
		check64("ExpandSubU64", n, func(b tensor.Backend, d []uint64) { copy(d, a64); b.ExpandSubU64(d, &tensor.Seed{6}) })
		for _, k := range []int{0, 1, 3} {
			vs := make([][]uint64, k)
			for i := range vs {
				vs[i] = u64(n)
			}
			check64("SumU64", n, func(b tensor.Backend, d []uint64) { b.SumU64(d, vs...) })
		}

		for _, q := range []uint64{2, 3, 12289, 1<<32 + 15, 1<<61 - 1, 1<<62 - 57, 1<<62 - 1} {
			m, err := tensor.NewModulus(q)
			if err != nil {
				t.Fatal(err)
			}
			ra, rb := u64(n), u64(n)
			for i := range ra {
				ra[i], rb[i] = m.Reduce(ra[i]), m.Reduce(rb[i])
			}
			if n > 1 {
				ra[0], rb[0], ra[1], rb[1] = q-1, q-1, 0, q-1
			}
			s := m.Reduce(rng.Uint64())
			check64("ModAdd", n, func(b tensor.Backend, d []uint64) { b.ModAdd(m, d, ra, rb) })
			check64("ModSub", n, func(b tensor.Backend, d []uint64) { b.ModSub(m, d, ra, rb) })
			check64("ModMul", n, func(b tensor.Backend, d []uint64) { b.ModMul(m, d, ra, rb) })
			check64("ModMulScalar", n, func(b tensor.Backend, d []uint64) { b.ModMulScalar(m, d, ra, s) })
			check64("ModMulScalar q-1", n, func(b tensor.Backend, d []uint64) { b.ModMulScalar(m, d, ra, q-1) })
		}
	}
}

// diff returns the first index where got and want differ, or -1.
func diff[T comparable](got, want []T) int {
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return i
		}
	}
	if !slices.Equal(got, want) {
		return 0
	}
	return -1
}
