package tensor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestHostAccumulator checks the host accumulator against the backend's own
// operations applied one by one.
func TestHostAccumulator(t *testing.T) {
	b, stop, err := NewCPU(CPUConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	r := rand.New(rand.NewPCG(1, 2))
	seeds := func(n int) []Seed {
		s := make([]Seed, n)
		for i := range s {
			for j := range s[i] {
				s[i][j] = byte(r.Uint32())
			}
		}
		return s
	}
	for _, n := range []int{0, 1, 5, 1000, 4099} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			add, sub := seeds(3), seeds(2)
			in32 := [][]uint32{make([]uint32, n), make([]uint32, n)}
			in64 := [][]uint64{make([]uint64, n), make([]uint64, n)}
			for i := range in32 {
				for j := range n {
					in32[i][j], in64[i][j] = r.Uint32(), r.Uint64()
				}
			}
			want32, want64 := make([]uint32, n), make([]uint64, n)
			for i := range in32 {
				b.AddU32(want32, want32, in32[i])
				b.AddU64(want64, want64, in64[i])
			}
			for i := range add {
				b.ExpandAddU32(want32, &add[i])
				b.ExpandAddU64(want64, &add[i])
			}
			for i := range sub {
				b.ExpandSubU32(want32, &sub[i])
				b.ExpandSubU64(want64, &sub[i])
			}

			a32, err := NewAccumulator(b, 32, n)
			if err != nil {
				t.Fatal(err)
			}
			a64, err := NewAccumulator(b, 64, n)
			if err != nil {
				t.Fatal(err)
			}
			if a32.Len() != n || a32.RingBits() != 32 || a64.RingBits() != 64 || a32.Name() != b.Name() {
				t.Fatalf("Len %d RingBits %d/%d Name %q", a32.Len(), a32.RingBits(), a64.RingBits(), a32.Name())
			}
			for i := range in32 {
				if err := a32.AddU32(in32[i]); err != nil {
					t.Fatal(err)
				}
				if err := a64.AddU64(in64[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := a32.AddMasks(add, sub); err != nil {
				t.Fatal(err)
			}
			if err := a64.AddMasks(add, sub); err != nil {
				t.Fatal(err)
			}
			got32, got64 := make([]uint32, n), make([]uint64, n)
			if err := a32.ReadU32(got32); err != nil {
				t.Fatal(err)
			}
			if err := a64.ReadU64(got64); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got32, want32) || !slices.Equal(got64, want64) {
				t.Fatal("the accumulated sums differ from the backend's operations")
			}
			if err := a32.Close(); err != nil {
				t.Fatal(err)
			}
			if err := a32.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestAccumulatorErrors(t *testing.T) {
	b, stop, err := NewCPU(CPUConfig{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := NewAccumulator(b, 16, 3); err == nil || !strings.Contains(err.Error(), "Z/2^16") {
		t.Errorf("NewAccumulator(16 bits): %v, want an error naming the ring", err)
	}
	if _, err := NewAccumulator(b, 32, -1); err == nil {
		t.Error("NewAccumulator(-1 words) succeeded")
	}
	if a := NewHostAccumulator(b, 64, 1, "fallback: why"); a.Name() != b.Name()+" (fallback: why)" {
		t.Errorf("Name with a note = %q", a.Name())
	}
	a, err := NewAccumulator(b, 32, 4)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"AddU64 on Z/2^32":  func() { a.AddU64(make([]uint64, 4)) },
		"AddU32 short":      func() { a.AddU32(make([]uint32, 3)) },
		"ReadU32 long":      func() { a.ReadU32(make([]uint32, 5)) },
		"ReadU64 on Z/2^32": func() { a.ReadU64(make([]uint64, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
