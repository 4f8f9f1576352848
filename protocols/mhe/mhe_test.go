package mhe

import (
	"math"
	mrand "math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v6/multiparty"
)

// testRand returns a deterministic reader for seed.
func testRand(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return mrand.NewChaCha8(s)
}

func mustParams(tb testing.TB, pr Preset) *Params {
	tb.Helper()
	p, err := NewParams(pr)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// job is a set-up job: parties, the collective key and its encryptor.
type job struct {
	p       *Params
	seed    JobSeed
	parties []*Party
	pk      *PublicKey
	enc     *Encryptor
	n, t    int
}

func setupJob(tb testing.TB, p *Params, n, t int, seed uint64) *job {
	tb.Helper()
	j := &job{p: p, n: n, t: t}
	j.seed[0] = byte(seed)
	ka, err := NewKeyAggregator(p, j.seed, n)
	if err != nil {
		tb.Fatal(err)
	}
	shares := make([][]*ThresholdShare, n)
	for i := range n {
		pt, err := NewParty(p, j.seed, uint32(i), n, t, testRand(seed*1000+uint64(i)))
		if err != nil {
			tb.Fatal(err)
		}
		j.parties = append(j.parties, pt)
		s, err := pt.KeyGenShare()
		if err != nil {
			tb.Fatal(err)
		}
		if err := ka.Add(s); err != nil {
			tb.Fatal(err)
		}
		if shares[i], err = pt.ThresholdShares(); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		for k := range n {
			if err := j.parties[k].AddThresholdShare(shares[i][k]); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if j.pk, err = ka.PublicKey(); err != nil {
		tb.Fatal(err)
	}
	if j.enc, err = NewEncryptor(p, j.pk); err != nil {
		tb.Fatal(err)
	}
	return j
}

func randVec(r *mrand.Rand, d int) []float64 {
	v := make([]float64, d)
	for i := range v {
		v[i] = 2*r.Float64() - 1
	}
	return v
}

// runRound encrypts one random vector per party, sums them, releases the
// sum with the given active set and returns the decrypted values and the
// plaintext sum.
func (j *job) runRound(tb testing.TB, round uint64, d int, active []uint32) (got, want []float64) {
	tb.Helper()
	r := mrand.New(mrand.NewPCG(round, uint64(d)))
	want = make([]float64, d)
	sum, err := NewSum(j.p, round, d)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range j.n {
		x := randVec(r, d)
		for k := range x {
			want[k] += x[k]
		}
		v, err := j.enc.Encrypt(round, uint32(i), x, 1, testRand(round*7919+uint64(i)))
		if err != nil {
			tb.Fatal(err)
		}
		if err := sum.Add(v, 1); err != nil {
			tb.Fatal(err)
		}
	}
	agg, err := sum.Result()
	if err != nil {
		tb.Fatal(err)
	}
	recv, err := NewReceiver(j.p, testRand(round+99))
	if err != nil {
		tb.Fatal(err)
	}
	req := &ReleaseRequest{Job: j.seed, Round: round, Active: active, Receiver: recv.PublicKey(), Aggregate: agg}
	rel, err := NewRelease(j.p, req, j.n, j.t)
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range active {
		s, err := j.parties[a].ReleaseShare(req)
		if err != nil {
			tb.Fatal(err)
		}
		if err := rel.Add(s); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := rel.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	if got, err = recv.Decrypt(out); err != nil {
		tb.Fatal(err)
	}
	return got, want
}

func maxErr(got, want []float64) (abs, rel float64) {
	for i := range got {
		e := math.Abs(got[i] - want[i])
		abs = max(abs, e)
		if w := math.Abs(want[i]); w > 1e-3 {
			rel = max(rel, e/w)
		}
	}
	return
}

func TestCorrectness(t *testing.T) {
	cases := []struct {
		preset Preset
		n, t   int
		d      int
		active []uint32
		long   bool
	}{
		{PresetSmall, 2, 2, 1000, []uint32{0, 1}, false},
		{PresetSmall, 3, 2, 20000, []uint32{0, 2}, false},
		{PresetSmall, 3, 3, 1, []uint32{0, 1, 2}, false},
		{PresetSmall, 10, 10, 8193, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{PresetSmall, 10, 4, 5000, []uint32{1, 4, 7, 9}, false},
		{PresetLarge, 3, 2, 1 << 16, []uint32{1, 2}, false},
		{PresetLarge, 10, 7, 1 << 16, []uint32{0, 2, 3, 5, 6, 8, 9}, true},
	}
	for _, c := range cases {
		if c.long && testing.Short() {
			continue
		}
		p := mustParams(t, c.preset)
		j := setupJob(t, p, c.n, c.t, uint64(c.n*100+c.t))
		got, want := j.runRound(t, 3, c.d, c.active)
		a, _ := maxErr(got, want)
		if bound := 7 * p.ReleaseErrorStd(c.t); a > bound {
			t.Errorf("%s N=%d t=%d d=%d: max abs error %.3g above 7σ = %.3g", c.preset, c.n, c.t, c.d, a, bound)
		}
	}
}

// TestPrecision releases the sum of 10 parties' values in [-1, 1] with the
// preset flooding and asserts a maximum absolute error of 1e-4 (2^20 values;
// 2^16 under -short).
func TestPrecision(t *testing.T) {
	d := 1 << 20
	if testing.Short() {
		d = 1 << 16
	}
	p := mustParams(t, PresetLarge)
	j := setupJob(t, p, 10, 10, 7)
	got, want := j.runRound(t, 1, d, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	a, r := maxErr(got, want)
	var ss float64
	for i := range got {
		ss += (got[i] - want[i]) * (got[i] - want[i])
	}
	std := math.Sqrt(ss / float64(d))
	t.Logf("d=%d: max abs %.3g, max rel (|want|>1e-3) %.3g, std %.3g (predicted %.3g)", d, a, r, std, p.ReleaseErrorStd(10))
	if a > 1e-4 {
		t.Fatalf("max abs error %.3g above 1e-4", a)
	}
	if std > 1.2*p.ReleaseErrorStd(10) || std < 0.8*p.ReleaseErrorStd(10) {
		t.Fatalf("error std %.3g far from the predicted %.3g", std, p.ReleaseErrorStd(10))
	}
}

func abs(x float64) float64  { return math.Abs(x) }
func sqrt(x float64) float64 { return math.Sqrt(x) }
func log2(x float64) float64 { return math.Log2(x) }

type multipartyShare = multiparty.PublicKeySwitchShare

func newRand(seed uint64) *mrand.Rand { return mrand.New(mrand.NewPCG(seed, 1)) }
