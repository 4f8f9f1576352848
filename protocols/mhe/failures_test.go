package mhe

import (
	"errors"
	"strings"
	"testing"
)

// partyErr asserts that err is a *PartyError naming party and wrapping
// target.
func partyErr(t *testing.T, err error, party uint32, target error) {
	t.Helper()
	var pe *PartyError
	if !errors.As(err, &pe) || pe.Party != party || !errors.Is(err, target) {
		t.Fatalf("want a *PartyError naming party %d wrapping %v, got %v", party, target, err)
	}
}

// releaseFixture is a job with N = 5, t = 3, one aggregate and a request.
type releaseFixture struct {
	j    *job
	req  *ReleaseRequest
	recv *Receiver
}

func newReleaseFixture(t testing.TB, round uint64) *releaseFixture {
	p := mustParams(t, PresetSmall)
	j := setupJob(t, p, 5, 3, 11)
	sum, _ := NewSum(p, round, 100)
	for i := range j.n {
		x := make([]float64, 100)
		x[0] = float64(i)
		v, err := j.enc.Encrypt(round, uint32(i), x, 1, testRand(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sum.Add(v, 1); err != nil {
			t.Fatal(err)
		}
	}
	agg, _ := sum.Result()
	recv, _ := NewReceiver(p, testRand(5))
	return &releaseFixture{j: j, recv: recv,
		req: &ReleaseRequest{Job: j.seed, Round: round, Active: []uint32{0, 2, 4}, Receiver: recv.PublicKey(), Aggregate: agg}}
}

func TestThresholdExactlyT(t *testing.T) {
	f := newReleaseFixture(t, 1)
	p := f.j.p
	rel, err := NewRelease(p, f.req, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	shares := map[uint32]*ReleaseShare{}
	for _, a := range f.req.Active {
		if shares[a], err = f.j.parties[a].ReleaseShare(f.req); err != nil {
			t.Fatal(err)
		}
	}
	// t−1 shares: a clean failure naming the missing party.
	for _, a := range f.req.Active[:2] {
		if err := rel.Add(shares[a]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rel.Finish(); !errors.Is(err, ErrTooFewShares) || !strings.Contains(err.Error(), "missing parties [4]") {
		t.Fatalf("Finish with t-1 shares: %v", err)
	}
	if err := rel.Add(shares[4]); err != nil {
		t.Fatal(err)
	}
	out, err := rel.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.recv.Decrypt(out)
	if d := got[0] - 10; d > 1e-4 || d < -1e-4 || got[1] > 1e-4 || got[1] < -1e-4 {
		t.Fatalf("released %v %v, want 10 0", got[0], got[1])
	}
	// An active set of t−1 parties is refused up front, by the aggregator
	// and by a party.
	short := *f.req
	short.Active = []uint32{1, 3}
	if _, err := NewRelease(p, &short, 5, 3); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("NewRelease with t-1 active: %v", err)
	}
	if _, err := f.j.parties[1].ReleaseShare(&short); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("ReleaseShare with t-1 active: %v", err)
	}
}

func TestReleaseFailures(t *testing.T) {
	f := newReleaseFixture(t, 2)
	p := f.j.p
	rel, err := NewRelease(p, f.req, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	good, err := f.j.parties[2].ReleaseShare(f.req)
	if err != nil {
		t.Fatal(err)
	}
	// A second share of the same aggregate is refused by the party, even
	// for another active set.
	other := *f.req
	other.Active = []uint32{1, 2, 3}
	if _, err := f.j.parties[2].ReleaseShare(&other); !errors.Is(err, ErrStep) {
		t.Fatalf("second share: %v", err)
	}
	// A party outside the active set refuses.
	if _, err := f.j.parties[1].ReleaseShare(f.req); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("inactive party: %v", err)
	}
	// A share for another ciphertext (another request) names its party.
	f2 := newReleaseFixture(t, 2)
	f2.req.Aggregate.Cts[0].Value[0].Coeffs[0][0] ^= 1
	wrong, err := f.j.parties[4].ReleaseShare(f2.req)
	if err != nil {
		t.Fatal(err)
	}
	partyErr(t, rel.Add(wrong), 4, ErrBadMessage)
	// Wrong round.
	bad := *good
	bad.Round++
	partyErr(t, rel.Add(&bad), 2, ErrBadMessage)
	// Wrong parameters.
	bad = *good
	bad.Params.Fingerprint[0] ^= 1
	partyErr(t, rel.Add(&bad), 2, ErrBadMessage)
	// Wrong number of ciphertext shares.
	bad = *good
	bad.Shares = append(bad.Shares, bad.Shares[0])
	partyErr(t, rel.Add(&bad), 2, ErrBadMessage)
	// Malformed polynomial (coefficient not below Q).
	bad = *good
	bad.Shares = cloneShares(good)
	bad.Shares[0].Value[1].Coeffs[0][5] = p.Q()
	partyErr(t, rel.Add(&bad), 2, ErrMalformed)
	// Not in the active set.
	bad = *good
	bad.Party = 1
	partyErr(t, rel.Add(&bad), 1, ErrBadMessage)
	// Malformed bytes.
	b, err := good.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var dec ReleaseShare
	if err := dec.UnmarshalBinary(b[:len(b)-1]); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ReleaseShare") {
		t.Fatalf("truncated share: %v", err)
	}
	// The good share still goes in, once.
	if err := rel.Add(good); err != nil {
		t.Fatal(err)
	}
	partyErr(t, rel.Add(good), 2, ErrBadMessage)
}

func cloneShares(s *ReleaseShare) []multipartyShare {
	out := make([]multipartyShare, len(s.Shares))
	for i := range s.Shares {
		out[i].Element = *s.Shares[i].Element.CopyNew()
	}
	return out
}

func TestSetupAndSumFailures(t *testing.T) {
	p := mustParams(t, PresetSmall)
	var seed JobSeed
	ka, _ := NewKeyAggregator(p, seed, 3)
	pt, _ := NewParty(p, seed, 1, 3, 2, testRand(1))
	s, _ := pt.KeyGenShare()
	if err := ka.Add(s); err != nil {
		t.Fatal(err)
	}
	partyErr(t, ka.Add(s), 1, ErrBadMessage)
	if _, err := ka.PublicKey(); !errors.Is(err, ErrTooFewShares) || !strings.Contains(err.Error(), "[0 2]") {
		t.Fatalf("PublicKey with missing shares: %v", err)
	}
	other := *s
	other.Job[0] = 1
	other.Party = 2
	partyErr(t, ka.Add(&other), 2, ErrBadMessage)
	if _, err := pt.KeyGenShare(); !errors.Is(err, ErrStep) {
		t.Fatalf("second KeyGenShare: %v", err)
	}
	if _, err := NewParty(p, seed, 3, 3, 2, testRand(1)); !errors.Is(err, ErrParams) {
		t.Fatalf("party out of range: %v", err)
	}
	if _, err := NewParty(p, seed, 0, 3, 4, testRand(1)); !errors.Is(err, ErrParams) {
		t.Fatalf("t > n: %v", err)
	}
	ts, _ := pt.ThresholdShares()
	partyErr(t, pt.AddThresholdShare(ts[0]), 1, ErrBadMessage) // addressed to party 0

	j := setupJob(t, p, 2, 2, 3)
	sum, _ := NewSum(p, 5, 10)
	v, _ := j.enc.Encrypt(4, 1, make([]float64, 10), 1, testRand(1))
	partyErr(t, sum.Add(v, 1), 1, ErrBadMessage) // wrong round
	v, _ = j.enc.Encrypt(5, 1, make([]float64, 11), 1, testRand(1))
	partyErr(t, sum.Add(v, 1), 1, ErrBadMessage) // wrong length
	v, _ = j.enc.Encrypt(5, 1, make([]float64, 10), 1, testRand(1))
	if err := sum.Add(v, 1); err != nil {
		t.Fatal(err)
	}
	partyErr(t, sum.Add(v, 1), 1, ErrBadMessage) // duplicate
}

// TestWeightedSum checks party-side real weights and aggregator-side integer
// weights.
func TestWeightedSum(t *testing.T) {
	p := mustParams(t, PresetSmall)
	j := setupJob(t, p, 3, 2, 4)
	x := [][]float64{{1, -0.5, 0.25}, {0.5, 0.5, 0.5}, {-1, 0, 1}}
	sum, _ := NewSum(p, 1, 3)
	weights := []float64{0.5, 2, 1}
	ints := []int64{1, 1, -3}
	want := make([]float64, 3)
	for i := range 3 {
		v, err := j.enc.Encrypt(1, uint32(i), x[i], weights[i], testRand(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sum.Add(v, ints[i]); err != nil {
			t.Fatal(err)
		}
		for k := range want {
			want[k] += float64(ints[i]) * weights[i] * x[i][k]
		}
	}
	agg, _ := sum.Result()
	recv, _ := NewReceiver(p, testRand(9))
	req := &ReleaseRequest{Job: j.seed, Round: 1, Active: []uint32{0, 1}, Receiver: recv.PublicKey(), Aggregate: agg}
	rel, _ := NewRelease(p, req, 3, 2)
	for _, a := range req.Active {
		s, err := j.parties[a].ReleaseShare(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := rel.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	out, err := rel.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := recv.Decrypt(out)
	if a, _ := maxErr(got, want); a > 1e-4 {
		t.Fatalf("weighted sum %v, want %v", got, want)
	}
}

// TestAggregateNoise measures the key-dependent noise B of an aggregate of
// 10 fresh encryptions (decrypting with the collective secret, before any
// flooding) and checks the bound the package doc states: standard deviation
// ≤ 2^13, so its variance is ≤ σ_f²/2^30.
func TestAggregateNoise(t *testing.T) {
	p := mustParams(t, PresetLarge)
	j := setupJob(t, p, 10, 10, 8)
	d := p.Slots()
	sum, _ := NewSum(p, 1, d)
	zero := make([]float64, d)
	for i := range 10 {
		v, _ := j.enc.Encrypt(1, uint32(i), zero, 1, testRand(uint64(i)))
		if err := sum.Add(v, 1); err != nil {
			t.Fatal(err)
		}
	}
	agg, _ := sum.Result()
	rq := p.ckks.RingQ()
	s := rq.NewPoly()
	for _, pt := range j.parties {
		rq.Add(s, pt.sk.Value.Q, s)
	}
	m := rq.NewPoly()
	rq.MulCoeffsMontgomery(agg.Cts[0].Value[1], s, m)
	rq.Add(m, agg.Cts[0].Value[0], m)
	rq.INTT(m, m)
	q := p.Q()
	var maxAbs, ss float64
	for _, c := range m.Coeffs[0] {
		x := float64(c)
		if c > q/2 {
			x = -float64(q - c)
		}
		maxAbs = max(maxAbs, abs(x))
		ss += x * x
	}
	std := sqrt(ss / float64(len(m.Coeffs[0])))
	t.Logf("aggregate noise of 10 encryptions: std 2^%.1f, max 2^%.1f", log2(std), log2(maxAbs))
	if maxAbs > 1<<16 || std > 1<<13 {
		t.Fatalf("aggregate noise above the documented bound")
	}
}
