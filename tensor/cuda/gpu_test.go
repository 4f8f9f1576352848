package cuda

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// TestGPUMatchesCPU runs the comparisons of TestFakeMatchesCPU on device 0
// of the real driver with the embedded PTX. It skips where CUDA is
// unavailable (no driver, no device, no PTX embedded) unless
// COHORT_REQUIRE_GPU=1, where that fails it.
func TestGPUMatchesCPU(t *testing.T) {
	b := newGPU(t, tensor.CPUConfig{Workers: 1})
	t.Logf("backend %s", b.Name())
	compareWithCPU(t, b)
}

// TestGPULarge runs kernels over vectors of more than 2^31 bytes (so every
// byte offset and element count past 32 bits is exercised) on a real
// device, against the CPU backend: the host-slice path (AddU32,
// ExpandAddU32, QuantizeF32U32) and a 64-bit accumulator with inputs and
// masks. It needs about 20 GiB of host memory and 9 GiB of device memory.
func TestGPULarge(t *testing.T) {
	g := newGPU(t, tensor.CPUConfig{})
	cpu, cpuStop, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cpuStop()
	r := rand.New(rand.NewPCG(31, 31))
	fill32 := func(n int) []uint32 {
		v := make([]uint32, n)
		for i := range v {
			v[i] = r.Uint32()
		}
		return v
	}
	var seed tensor.Seed
	for i := range seed {
		seed[i] = byte(i * 7)
	}

	const n32 = 1<<29 + 3 // 2 GiB + 12 bytes of uint32
	x, y := fill32(n32), fill32(n32)
	got, want := make([]uint32, n32), make([]uint32, n32)
	g.AddU32(got, x, y)
	cpu.AddU32(want, x, y)
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("AddU32 over %d words: word %d = %#x, want %#x", n32, i, got[i], want[i])
	}
	copy(got, x)
	copy(want, x)
	g.ExpandAddU32(got, &seed)
	cpu.ExpandAddU32(want, &seed)
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("ExpandAddU32 over %d words: word %d = %#x, want %#x", n32, i, got[i], want[i])
	}
	fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000})
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, n32)
	for i := range src {
		src[i] = float32(r.Float64()*2.2 - 1.1)
	}
	g.QuantizeF32U32(fp, got, src, &seed)
	cpu.QuantizeF32U32(fp, want, src, &seed)
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("QuantizeF32U32 over %d values: word %d = %#x, want %#x", n32, i, got[i], want[i])
	}
	x, y, got, want, src = nil, nil, nil, nil, nil

	const n64 = 1<<28 + 1 // 2 GiB + 8 bytes of uint64
	acc, err := g.NewAccumulator(64, n64)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if _, ok := acc.(*Accumulator); !ok {
		t.Fatalf("a 2 GiB accumulator is %T (%s), want a device one", acc, acc.Name())
	}
	host := tensor.NewHostAccumulator(cpu, 64, n64, "")
	v := make([]uint64, n64)
	for range 2 {
		for i := range v {
			v[i] = r.Uint64()
		}
		if err := errors.Join(acc.AddU64(v), host.AddU64(v)); err != nil {
			t.Fatal(err)
		}
	}
	seeds := make([]tensor.Seed, 5)
	for i := range seeds {
		seeds[i] = seed
		seeds[i][0] = byte(i)
	}
	if err := errors.Join(acc.AddMasks(seeds[:3], seeds[3:]), host.AddMasks(seeds[:3], seeds[3:])); err != nil {
		t.Fatal(err)
	}
	got64, want64 := v, make([]uint64, n64)
	if err := errors.Join(acc.ReadU64(got64), host.ReadU64(want64)); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got64, want64); i >= 0 {
		t.Fatalf("accumulator over %d words: word %d = %#x, want %#x", n64, i, got64[i], want64[i])
	}
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff[T comparable](a, b []T) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// newGPU returns a backend on device 0 of the real driver with the embedded
// PTX, its CPU half configured by cpu, shut down when t ends. It skips t
// where CUDA is unavailable, unless COHORT_REQUIRE_GPU=1, where that fails
// it.
func newGPU(t *testing.T, cpu tensor.CPUConfig) *Backend {
	t.Helper()
	b, stop, err := New(Config{CPU: cpu})
	if err != nil {
		if driver.RequireGPU() {
			t.Fatalf("GPU required: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b
}
