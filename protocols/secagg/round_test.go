package secagg

import (
	"crypto/ed25519"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
)

// testRand is a deterministic io.Reader for reproducible rounds.
type testRand struct{ r *rand.ChaCha8 }

func newTestRand(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return &testRand{rand.NewChaCha8(s)}
}

func (t *testRand) Read(p []byte) (int, error) { return t.r.Read(p) }

// fixture is a roster of identities, a backend and the round's parameters.
type fixture struct {
	p       *Params
	round   RoundID
	keys    []ed25519.PrivateKey
	roster  []ed25519.PublicKey
	backend tensor.Backend
	server  tensor.Backend // the server's backend when not nil (else backend)
}

func newFixture(t testing.TB, lit ParamsLiteral) *fixture {
	t.Helper()
	p, err := NewParams(lit)
	if err != nil {
		t.Fatal(err)
	}
	b, stop, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	f := &fixture{p: p, backend: b, round: RoundID{byte(lit.N), 7}}
	r := newTestRand(uint64(lit.N))
	for range lit.N {
		seed := make([]byte, ed25519.SeedSize)
		io.ReadFull(r, seed)
		k := ed25519.NewKeyFromSeed(seed)
		f.keys = append(f.keys, k)
		f.roster = append(f.roster, k.Public().(ed25519.PublicKey))
	}
	return f
}

// wire sends m through its binary encoding, as the network would.
func wire[T any, PT interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](t testing.TB, m *T) *T {
	t.Helper()
	b, err := PT(m).MarshalBinary()
	if err != nil {
		t.Fatalf("%T.MarshalBinary: %v", m, err)
	}
	out := new(T)
	if err := PT(out).UnmarshalBinary(b); err != nil {
		t.Fatalf("%T.UnmarshalBinary: %v", m, err)
	}
	return out
}

// drops says which parties go silent before sending the message of each
// step (1..5).
type drops map[int][]uint32

func (d drops) at(step int, p uint32) bool { return slices.Contains(d[step], p) }

// runRound runs a whole round in process with the given ring inputs and
// dropouts, and returns the server's result (or the error that ended the
// round) and the inputs the contributors had.
func (f *fixture) runRound(t testing.TB, inputs32 [][]uint32, inputs64 [][]uint64, d drops) (*Result, error) {
	t.Helper()
	n := f.p.N()
	sb := f.backend
	if f.server != nil {
		sb = f.server
	}
	srv, err := NewServer(f.p, f.round, f.roster, sb)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	clients := make([]*Client, n)
	for i := range n {
		c, err := NewClient(f.p, f.round, uint32(i), f.keys[i], f.roster, f.backend, newTestRand(uint64(1000+i)))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	alive := func(step int) []uint32 {
		var out []uint32
		for i := range n {
			gone := false
			for s := 1; s <= step; s++ {
				gone = gone || d.at(s, uint32(i))
			}
			if !gone {
				out = append(out, uint32(i))
			}
		}
		return out
	}
	for _, i := range alive(1) {
		m, err := clients[i].AdvertiseKeys()
		if err != nil {
			t.Fatalf("party %d: %v", i, err)
		}
		if err := srv.AddAdvertiseKeys(wire(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	kl, err := srv.KeyList()
	if err != nil {
		return nil, err
	}
	kl = wire(t, kl)
	for _, i := range alive(2) {
		m, err := clients[i].ShareKeys(kl)
		if err != nil {
			return nil, fmt.Errorf("party %d: %w", i, err)
		}
		if err := srv.AddShareKeys(wire(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	bundles, err := srv.ShareBundles()
	if err != nil {
		return nil, err
	}
	for _, i := range alive(3) {
		var m *MaskedInput
		if inputs32 != nil {
			m, err = clients[i].MaskedInputQuantized(wire(t, bundles[i]), slices.Clone(inputs32[i]), nil)
		} else {
			m, err = clients[i].MaskedInputQuantized(wire(t, bundles[i]), nil, slices.Clone(inputs64[i]))
		}
		if err != nil {
			return nil, fmt.Errorf("party %d: %w", i, err)
		}
		// A backend failure ends the round at SurvivorList.
		if err := srv.AddMaskedInput(wire(t, m)); err != nil && !errors.Is(err, ErrBackend) {
			t.Fatal(err)
		}
	}
	sl, err := srv.SurvivorList()
	if err != nil {
		return nil, err
	}
	for _, i := range sl.Survivors {
		if d.at(4, i) {
			continue
		}
		m, err := clients[i].ConsistencyCheck(wire(t, sl))
		if err != nil {
			return nil, fmt.Errorf("party %d: %w", i, err)
		}
		if err := srv.AddConsistencySig(wire(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	req, err := srv.UnmaskRequest()
	if err != nil {
		return nil, err
	}
	for _, sig := range req.Signatures {
		i := sig.Sender
		if d.at(5, i) {
			continue
		}
		m, err := clients[i].Unmask(wire(t, req))
		if err != nil {
			return nil, fmt.Errorf("party %d: %w", i, err)
		}
		if err := srv.AddUnmaskShares(wire(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	return srv.Finish()
}

func randInputs32(n, d int, seed uint64) [][]uint32 {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([][]uint32, n)
	for i := range out {
		out[i] = make([]uint32, d)
		for j := range out[i] {
			out[i][j] = r.Uint32()
		}
	}
	return out
}

// checkSum asserts that res is the exact ring sum of the contributors'
// inputs and that the contributors are the expected parties.
func checkSum(t *testing.T, res *Result, inputs [][]uint32, contributors []uint32) {
	t.Helper()
	if !slices.Equal(res.Contributors, contributors) {
		t.Fatalf("contributors %v, want %v", res.Contributors, contributors)
	}
	want := make([]uint32, len(inputs[0]))
	for _, p := range contributors {
		for j, v := range inputs[p] {
			want[j] += v
		}
	}
	for j := range want {
		if res.Sum32[j] != want[j] {
			t.Fatalf("sum word %d = %d, want %d (the plain ring sum of the contributors' inputs)", j, res.Sum32[j], want[j])
		}
	}
}

func TestRoundNoDropouts(t *testing.T) {
	for _, tc := range []struct{ n, k, thr, d int }{
		{2, 1, 1, 1}, {3, 2, 2, 7}, {10, 4, 3, 1000}, {10, 9, 5, 33},
	} {
		t.Run(fmt.Sprintf("n=%d,k=%d,t=%d,d=%d", tc.n, tc.k, tc.thr, tc.d), func(t *testing.T) {
			f := newFixture(t, ParamsLiteral{N: tc.n, K: tc.k, T: tc.thr, RingBits: 32, Dim: tc.d, Lo: -1, Hi: 1})
			in := randInputs32(tc.n, tc.d, 1)
			res, err := f.runRound(t, in, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			all := make([]uint32, tc.n)
			for i := range all {
				all[i] = uint32(i)
			}
			checkSum(t, res, in, all)
		})
	}
}

func TestRoundDropoutsEachStep(t *testing.T) {
	const n, k, thr, d = 10, 6, 3, 257
	for step := 1; step <= 5; step++ {
		t.Run(fmt.Sprintf("step%d", step), func(t *testing.T) {
			f := newFixture(t, ParamsLiteral{N: n, K: k, T: thr, RingBits: 32, Dim: d, Lo: -1, Hi: 1})
			in := randInputs32(n, d, uint64(step))
			dropped := []uint32{2, 5}
			res, err := f.runRound(t, in, nil, drops{step: dropped})
			if err != nil {
				t.Fatal(err)
			}
			var want []uint32
			for i := range uint32(n) {
				// Parties that drop after sending their input still count.
				if step >= 4 || !slices.Contains(dropped, i) {
					want = append(want, i)
				}
			}
			checkSum(t, res, in, want)
		})
	}
}

func TestRoundTooManyDropouts(t *testing.T) {
	const n, k, thr = 6, 4, 3
	f := newFixture(t, ParamsLiteral{N: n, K: k, T: thr, RingBits: 32, Dim: 16, Lo: -1, Hi: 1})
	// Four of six gone before step 3: the survivors cannot have T shares.
	_, err := f.runRound(t, randInputs32(n, 16, 9), nil, drops{3: {0, 1, 2, 3}})
	if !errors.Is(err, ErrTooFewSurvivors) {
		t.Fatalf("round with too many dropouts: %v, want ErrTooFewSurvivors", err)
	}
}

func TestRound64(t *testing.T) {
	const n, k, thr, d = 7, 4, 3, 100
	f := newFixture(t, ParamsLiteral{N: n, K: k, T: thr, RingBits: 64, Dim: d, Lo: -1, Hi: 1})
	r := rand.New(rand.NewPCG(5, 5))
	in := make([][]uint64, n)
	for i := range in {
		in[i] = make([]uint64, d)
		for j := range in[i] {
			in[i][j] = r.Uint64()
		}
	}
	res, err := f.runRound(t, nil, in, drops{3: {4}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint64, d)
	for i := range n {
		if i == 4 {
			continue
		}
		for j := range want {
			want[j] += in[i][j]
		}
	}
	if !slices.Equal(res.Sum64, want) {
		t.Fatal("64-bit sum differs from the plain ring sum")
	}
}
