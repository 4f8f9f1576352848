package train

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"testing"
)

// stateCase builds a stateful strategy of one kind and configuration.
type stateCase struct {
	name  string
	build func() (StatefulStrategy, error)
}

// new returns a fresh strategy of the case.
func (c stateCase) new(t testing.TB) StatefulStrategy {
	t.Helper()
	s, err := c.build()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stateCases() []stateCase {
	cfg := ServerOptConfig{LR: 0.05, Beta1: 0.8, Beta2: 0.95, Tau: 0.01}
	return []stateCase{
		{"fedavgm", func() (StatefulStrategy, error) { return NewFedAvgM(0.7, 0.9) }},
		{"fedadam", func() (StatefulStrategy, error) { return NewFedAdam(cfg) }},
		{"fedyogi", func() (StatefulStrategy, error) { return NewFedYogi(cfg) }},
		{"fedadagrad", func() (StatefulStrategy, error) { return NewFedAdagrad(cfg) }},
	}
}

// stateRound returns the sums of round r, distinct for every round.
func stateRound(r, p int) ([]float64, float64) {
	rng := newRand(uint64(100 + r))
	sum := make([]float64, p)
	for i := range sum {
		sum[i] = rng.NormFloat64() * float64(1+i%3)
	}
	return sum, float64(3 + r)
}

func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestStateResume: a strategy restored from state saved after k rounds
// computes bit for bit the models of the strategy it was saved from, for
// k = 0 (state before the first Apply) and later rounds.
func TestStateResume(t *testing.T) {
	const p = 9
	for _, tc := range stateCases() {
		for _, k := range []int{0, 1, 4} {
			orig := tc.new(t)
			w := make([]float64, p)
			for i := range w {
				w[i] = float64(i) - 4
			}
			for r := range k {
				sum, n := stateRound(r, p)
				orig.Apply(w, sum, n)
			}
			b, err := orig.MarshalState()
			if err != nil {
				t.Fatalf("%s after %d rounds: %v", tc.name, k, err)
			}
			// Restore into a fresh strategy and into one with other state.
			fresh, used := tc.new(t), tc.new(t)
			sum, n := stateRound(99, p)
			used.Apply(make([]float64, p), sum, n)
			for _, rest := range []StatefulStrategy{fresh, used} {
				if err := rest.UnmarshalState(b); err != nil {
					t.Fatalf("%s after %d rounds: %v", tc.name, k, err)
				}
				if b2, err := rest.MarshalState(); err != nil || !bytes.Equal(b2, b) {
					t.Errorf("%s after %d rounds: re-encoded state differs (%v)", tc.name, k, err)
				}
			}
			w1, w2, w3 := slices.Clone(w), slices.Clone(w), slices.Clone(w)
			for r := k; r < k+3; r++ {
				sum, n := stateRound(r, p)
				orig.Apply(w1, sum, n)
				fresh.Apply(w2, sum, n)
				used.Apply(w3, sum, n)
			}
			if sameBits(w1, w) {
				t.Fatalf("%s: the rounds after the restore did not change the model", tc.name)
			}
			if !sameBits(w1, w2) || !sameBits(w1, w3) {
				t.Errorf("%s after %d rounds: resumed models differ:\n%v\n%v\n%v", tc.name, k, w1, w2, w3)
			}
		}
	}
}

// TestStateEncoding pins the encoding of FedAvgM's state byte for byte.
func TestStateEncoding(t *testing.T) {
	s, err := NewFedAvgM(0.5, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	const head = "01" + "07" + "666564617667 6d" + "3fe0000000000000" + "3fd0000000000000"
	for _, tc := range []struct {
		apply bool
		want  string
	}{
		{false, head + "00"},
		// v = (2, −0.5) after one round.
		{true, head + "01" + "00000002" + "4000000000000000" + "bfe0000000000000"},
	} {
		if tc.apply {
			s.Apply([]float64{0, 0}, []float64{4, -1}, 2)
		}
		want, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(tc.want), []byte(" "), nil)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("state %x, want %x", got, want)
		}
	}
}

// TestStateZeroLength: state after an Apply on zero parameters (non-nil
// empty vectors) is distinct from the state before any Apply, and both
// round-trip.
func TestStateZeroLength(t *testing.T) {
	s, _ := NewFedYogi(ServerOptConfig{LR: 1})
	empty, _ := s.MarshalState()
	s.Apply(nil, nil, 1)
	zero, err := s.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(empty, zero) {
		t.Fatal("zero-length state encodes as no state")
	}
	r, _ := NewFedYogi(ServerOptConfig{LR: 1})
	if err := r.UnmarshalState(zero); err != nil {
		t.Fatal(err)
	}
	if r.m == nil || r.v == nil || len(r.m) != 0 || len(r.v) != 0 {
		t.Errorf("restored m=%#v v=%#v, want empty non-nil", r.m, r.v)
	}
	if err := r.UnmarshalState(empty); err != nil {
		t.Fatal(err)
	}
	if r.m != nil || r.v != nil {
		t.Errorf("restored m=%#v v=%#v, want nil", r.m, r.v)
	}
}

// TestStateRefused: state of another kind, configuration or shape, or
// malformed bytes, is refused with ErrState and leaves the state unchanged.
func TestStateRefused(t *testing.T) {
	const p = 3
	sum, n := stateRound(0, p)
	states := map[string][]byte{}
	for _, tc := range stateCases() {
		s := tc.new(t)
		s.Apply(make([]float64, p), sum, n)
		b, err := s.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		states[tc.name] = b
	}
	// Every kind refuses every other kind's state.
	for _, tc := range stateCases() {
		for name, b := range states {
			if name == tc.name {
				continue
			}
			if err := tc.new(t).UnmarshalState(b); !errors.Is(err, ErrState) {
				t.Errorf("%s state into %s: %v", name, tc.name, err)
			}
		}
	}

	cfg := ServerOptConfig{LR: 0.05, Beta1: 0.8, Beta2: 0.95, Tau: 0.01}
	other := func(f func(*ServerOptConfig)) ServerOptConfig { c := cfg; f(&c); return c }
	m1, _ := NewFedAvgM(0.7, 0.5)
	m2, _ := NewFedAvgM(0.6, 0.9)
	a1, _ := NewFedAdam(other(func(c *ServerOptConfig) { c.LR = 0.1 }))
	a2, _ := NewFedAdam(other(func(c *ServerOptConfig) { c.Beta1 = 0.9 }))
	a3, _ := NewFedAdam(other(func(c *ServerOptConfig) { c.Beta2 = 0 })) // default 0.99
	a4, _ := NewFedAdam(other(func(c *ServerOptConfig) { c.Tau = 0.02 }))
	y1, _ := NewFedYogi(other(func(c *ServerOptConfig) { c.Beta2 = 0.9 }))
	g1, _ := NewFedAdagrad(other(func(c *ServerOptConfig) { c.Tau = 0.001 }))
	for _, tc := range []struct {
		kind string
		s    StatefulStrategy
	}{
		{"fedavgm", m1}, {"fedavgm", m2},
		{"fedadam", a1}, {"fedadam", a2}, {"fedadam", a3}, {"fedadam", a4},
		{"fedyogi", y1}, {"fedadagrad", g1},
	} {
		if err := tc.s.UnmarshalState(states[tc.kind]); !errors.Is(err, ErrState) {
			t.Errorf("%s state into %s: %v", tc.kind, tc.s.Name(), err)
		}
	}
	// FedAdagrad does not use β2, so it does not have to match.
	g2, _ := NewFedAdagrad(other(func(c *ServerOptConfig) { c.Beta2 = 0.5 }))
	if err := g2.UnmarshalState(states["fedadagrad"]); err != nil {
		t.Errorf("fedadagrad with another β2: %v", err)
	}

	// Malformed bytes.
	good := states["fedadam"]
	head := 2 + len("fedadam") + 4*8
	bad := map[string][]byte{
		"empty":          nil,
		"one byte":       good[:1],
		"version":        append([]byte{2}, good[1:]...),
		"kind length":    append([]byte{1, 200}, good[2:]...),
		"truncated conf": good[:head-3],
		"no flag":        good[:head],
		"flag":           slices.Concat(good[:head], []byte{2}, good[head+1:]),
		"no length":      good[:head+3],
		"short":          good[:len(good)-1],
		"long":           append(slices.Clone(good), 0),
		"length":         slices.Concat(good[:head+1], []byte{0, 0, 0, p + 1}, good[head+5:]),
		"huge length":    slices.Concat(good[:head+1], []byte{0xff, 0xff, 0xff, 0xff}, good[head+5:]),
		"empty tail":     slices.Concat(good[:head], []byte{0}, good[head+1:]),
	}
	for name, b := range bad {
		s := stateCases()[1].new(t)
		s.Apply(make([]float64, p), sum, n)
		if err := s.UnmarshalState(b); !errors.Is(err, ErrState) {
			t.Errorf("%s: %v", name, err)
		}
		if got, _ := s.MarshalState(); !bytes.Equal(got, good) {
			t.Errorf("%s: a refused state changed the strategy", name)
		}
	}
}

// FuzzUnmarshalState: decoding never panics, and state that decodes
// re-encodes to the same bytes.
func FuzzUnmarshalState(f *testing.F) {
	for _, tc := range stateCases() {
		s := tc.new(f)
		b, _ := s.MarshalState()
		f.Add(b)
		s.Apply(make([]float64, 2), []float64{1, -3}, 2)
		b, _ = s.MarshalState()
		f.Add(b)
	}
	cases := stateCases()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tc := range cases {
			s := tc.new(t)
			if err := s.UnmarshalState(b); err != nil {
				if !errors.Is(err, ErrState) {
					t.Fatalf("%s: error %v does not wrap ErrState", tc.name, err)
				}
				continue
			}
			got, err := s.MarshalState()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("%s: re-encoded %x, decoded %x", tc.name, got, b)
			}
		}
	})
}
