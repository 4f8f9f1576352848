package cuda

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

func randSeeds(r *rand.Rand, n int) []tensor.Seed {
	s := make([]tensor.Seed, n)
	for i := range s {
		for j := range s[i] {
			s[i][j] = byte(r.Uint32())
		}
	}
	return s
}

// TestAccumulatorMatchesHost runs the same inputs and masks through the
// device accumulator and the CPU backend's host accumulator: more inputs
// than staging buffers (so each is reused), and mask lists longer than one
// accumulate launch takes.
func TestAccumulatorMatchesHost(t *testing.T) {
	g := newFake(t)
	cpu, stop, err := tensor.NewCPU(tensor.CPUConfig{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ n, inputs, add, sub int }{
		{0, 2, 1, 1}, {1, 1, 0, 1}, {5, 7, keysPerLaunch + 3, 2}, {1001, 7, 3, 4}, {65537, 4, 2, 1}, {33, 3, 0, 0},
	} {
		for _, bits := range []int{32, 64} {
			t.Run(fmt.Sprintf("n=%d inputs=%d masks=%d+%d Z/2^%d", c.n, c.inputs, c.add, c.sub, bits), func(t *testing.T) {
				add, sub := randSeeds(r, c.add), randSeeds(r, c.sub)
				acc, err := g.NewAccumulator(bits, c.n)
				if err != nil {
					t.Fatal(err)
				}
				a, ok := acc.(*Accumulator)
				if !ok {
					t.Fatalf("NewAccumulator = %T (%s), want a device accumulator", acc, acc.Name())
				}
				defer a.Close()
				host := tensor.NewHostAccumulator(cpu, bits, c.n, "")
				for range c.inputs {
					v32, v64 := make([]uint32, c.n), make([]uint64, c.n)
					for j := range c.n {
						v32[j], v64[j] = r.Uint32(), r.Uint64()
					}
					if bits == 32 {
						err = errors.Join(a.AddU32(v32), host.AddU32(v32))
						clear(v32) // the accumulator must have taken its copy
					} else {
						err = errors.Join(a.AddU64(v64), host.AddU64(v64))
						clear(v64)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := errors.Join(a.AddMasks(add, sub), host.AddMasks(add, sub)); err != nil {
					t.Fatal(err)
				}
				if bits == 32 {
					got, want := slices.Repeat([]uint32{0xa5a5a5a5}, c.n), make([]uint32, c.n)
					if err := errors.Join(a.ReadU32(got), host.ReadU32(want)); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatal("the device sum differs from the host sum")
					}
				} else {
					got, want := slices.Repeat([]uint64{0xa5a5a5a5a5a5a5a5}, c.n), make([]uint64, c.n)
					if err := errors.Join(a.ReadU64(got), host.ReadU64(want)); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatal("the device sum differs from the host sum")
					}
				}
				st := a.Stats()
				if st.Inputs != c.inputs || st.UploadBytes != int64(c.inputs*c.n*bits/8) || st.Keys != c.add+c.sub {
					t.Errorf("Stats = %+v, want %d inputs of %d bytes and %d keys", st, c.inputs, c.n*bits/8, c.add+c.sub)
				}
				if c.n > 0 && st.Upload <= 0 {
					t.Errorf("Stats.Upload = %v, want the uploads' event time", st.Upload)
				}
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
				if err := a.AddMasks(add, sub); c.add+c.sub > 0 && !errors.Is(err, driver.ErrClosed) {
					t.Errorf("AddMasks after Close: %v, want ErrClosed", err)
				}
			})
		}
	}
}

// TestAccumulatorClosed checks the errors of a closed accumulator.
func TestAccumulatorClosed(t *testing.T) {
	g := newFake(t)
	acc, err := g.NewAccumulator(32, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := acc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := acc.AddU32(make([]uint32, 8)); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("AddU32 after Close: %v, want ErrClosed", err)
	}
	if err := acc.ReadU32(make([]uint32, 8)); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("ReadU32 after Close: %v, want ErrClosed", err)
	}
	if _, err := g.NewAccumulator(16, 8); err == nil {
		t.Error("NewAccumulator(16 bits) succeeded")
	}
}

// TestAccumulatorOutOfMemory checks that an accumulator the device has no
// memory for is a host accumulator on the CPU backend that says why, and
// gives the same sum.
func TestAccumulatorOutOfMemory(t *testing.T) {
	g := newFake(t)
	t.Setenv("FAKE_CUDA_MEM_LIMIT", "65536")
	small, err := g.NewAccumulator(32, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if _, ok := small.(*Accumulator); !ok {
		t.Fatalf("a 4 KB accumulator under a 64 KiB limit is %T (%s), want a device one", small, small.Name())
	}
	acc, err := g.NewAccumulator(64, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if _, ok := acc.(*tensor.HostAccumulator); !ok || !strings.Contains(acc.Name(), "fallback from cuda/") ||
		!strings.Contains(acc.Name(), "CUDA_ERROR_OUT_OF_MEMORY") {
		t.Fatalf("a 40 KB accumulator (three staging buffers more) under a 64 KiB limit is %T named %q, want a host fallback naming the error", acc, acc.Name())
	}
	r := rand.New(rand.NewPCG(9, 9))
	v := make([]uint64, 5000)
	for i := range v {
		v[i] = r.Uint64()
	}
	seeds := randSeeds(r, 2)
	if err := errors.Join(acc.AddU64(v), acc.AddMasks(seeds[:1], seeds[1:])); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(v)
	g.cpu.ExpandAddU64(want, &seeds[0])
	g.cpu.ExpandSubU64(want, &seeds[1])
	got := make([]uint64, 5000)
	if err := acc.ReadU64(got); err != nil || !slices.Equal(got, want) {
		t.Fatalf("fallback sum wrong (err %v)", err)
	}
}
