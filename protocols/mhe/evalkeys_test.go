package mhe

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
)

func mustComputeParams(tb testing.TB) *ComputeParams {
	tb.Helper()
	p, err := NewComputeParams(PresetCompute)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// smallComputeParams is a test-only literal (N = 2^12, log QP ≈ 104 ≤ 109)
// that keeps wire samples and fuzz inputs small.
func smallComputeParams(tb testing.TB) *ComputeParams {
	tb.Helper()
	p, err := NewComputeParamsFromLiteral(ComputeLiteral{Name: "test-small", CKKS: ckks.ParametersLiteral{
		LogN: 12, LogQ: []int{36, 30}, LogP: []int{38}, Xs: ring.Ternary{P: 2.0 / 3.0}, Xe: rlwe.DefaultXe,
		RingType: ring.ConjugateInvariant, LogDefaultScale: 30}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// roundTrip encodes m and decodes it into out.
func roundTrip(tb testing.TB, m interface{ MarshalBinary() ([]byte, error) }, out interface{ UnmarshalBinary([]byte) error }) {
	tb.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if err := out.UnmarshalBinary(b); err != nil {
		tb.Fatal(err)
	}
}

// computeJob is a job whose evaluation keys were generated collectively;
// every share crossed the wire.
type computeJob struct {
	p       *ComputeParams
	parties []*ComputeParty
	agg     *EvalKeyAggregator
	pk      *PublicKey
	evk     *rlwe.MemEvaluationKeySet
	galEls  []uint64
}

func setupComputeJob(tb testing.TB, p *ComputeParams, n int, rots []int, seed uint64) *computeJob {
	tb.Helper()
	var job JobSeed
	job[0] = byte(seed)
	j := &computeJob{p: p, galEls: p.GaloisElements(rots)}
	var err error
	if j.agg, err = NewEvalKeyAggregator(p, job, n, j.galEls); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		pt, err := NewComputeParty(p, job, uint32(i), n, testRand(seed*100+uint64(i)))
		if err != nil {
			tb.Fatal(err)
		}
		j.parties = append(j.parties, pt)
	}
	for _, pt := range j.parties {
		s, err := pt.PublicKeyShare()
		if err != nil {
			tb.Fatal(err)
		}
		var got ComputeKeyShare
		roundTrip(tb, s, &got)
		if err := j.agg.AddPublicKeyShare(&got); err != nil {
			tb.Fatal(err)
		}
		r1, err := pt.RelinShareRound1()
		if err != nil {
			tb.Fatal(err)
		}
		var g1 RelinKeyShare
		roundTrip(tb, r1, &g1)
		if err := j.agg.AddRelinShare(&g1); err != nil {
			tb.Fatal(err)
		}
		if len(j.galEls) > 0 {
			gs, err := pt.GaloisShares(j.galEls)
			if err != nil {
				tb.Fatal(err)
			}
			for _, s := range gs {
				var g GaloisKeyShare
				roundTrip(tb, s, &g)
				if err := j.agg.AddGaloisShare(&g); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	sum1, err := j.agg.RelinRound1()
	if err != nil {
		tb.Fatal(err)
	}
	var bcast RelinKeyShare
	roundTrip(tb, sum1, &bcast)
	for _, pt := range j.parties {
		r2, err := pt.RelinShareRound2(&bcast)
		if err != nil {
			tb.Fatal(err)
		}
		var g2 RelinKeyShare
		roundTrip(tb, r2, &g2)
		if err := j.agg.AddRelinShare(&g2); err != nil {
			tb.Fatal(err)
		}
	}
	if j.pk, err = j.agg.PublicKey(); err != nil {
		tb.Fatal(err)
	}
	if j.evk, err = j.agg.EvaluationKeySet(); err != nil {
		tb.Fatal(err)
	}
	return j
}

// collectiveSecret is Σ s_i, reconstructed for tests only.
func (j *computeJob) collectiveSecret() *rlwe.SecretKey {
	sk := rlwe.NewSecretKey(j.p.ckks)
	for _, pt := range j.parties {
		j.p.ckks.RingQP().Add(sk.Value, pt.sk.Value, sk.Value)
	}
	return sk
}

func (j *computeJob) encrypt(tb testing.TB, vals []float64) *rlwe.Ciphertext {
	tb.Helper()
	params := j.p.ckks
	pt := ckks.NewPlaintext(params, params.MaxLevel())
	if err := ckks.NewEncoder(params).Encode(vals, pt); err != nil {
		tb.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(params, j.pk.Key).EncryptNew(pt)
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

func (j *computeJob) decrypt(tb testing.TB, sk *rlwe.SecretKey, ct *rlwe.Ciphertext) []float64 {
	tb.Helper()
	params := j.p.ckks
	out := make([]float64, j.p.Slots())
	if err := ckks.NewEncoder(params).Decode(rlwe.NewDecryptor(params, sk).DecryptNew(ct), out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// computePrecision is the bound the end-to-end test asserts on the maximum
// absolute error over all 2^14 slots, for inputs in [-1, 1] (scale 2^45;
// measured: about 4.5e-9, 2^-27.7, for x·y and for rotations).
const computePrecision = 1e-7

// TestEvalKeysCompute generates the collective public, relinearisation and
// rotation keys with N = 3 parties, then multiplies two encrypted vectors,
// relinearises, rescales and rotates, and decrypts with Σ s_i.
func TestEvalKeysCompute(t *testing.T) {
	p := mustComputeParams(t)
	rots := []int{1, -3, 1000}
	j := setupComputeJob(t, p, 3, rots, 1)
	slots := p.Slots()
	r := newRand(7)
	x, y := randVec(r, slots), randVec(r, slots)
	ctx, cty := j.encrypt(t, x), j.encrypt(t, y)

	eval := ckks.NewEvaluator(p.ckks, j.evk)
	prod, err := eval.MulRelinNew(ctx, cty)
	if err != nil {
		t.Fatal(err)
	}
	if prod.Degree() != 1 {
		t.Fatalf("product of degree %d after relinearisation", prod.Degree())
	}
	if err := eval.Rescale(prod, prod); err != nil {
		t.Fatal(err)
	}
	sk := j.collectiveSecret()
	check := func(name string, got []float64, want func(i int) float64) {
		t.Helper()
		worst := 0.0
		for i, g := range got {
			worst = max(worst, math.Abs(g-want(i)))
		}
		t.Logf("%s: max abs error %.3g (log2 %.1f)", name, worst, math.Log2(worst))
		if !(worst <= computePrecision) {
			t.Fatalf("%s: max abs error %.3g above %.0g", name, worst, computePrecision)
		}
	}
	check("x·y", j.decrypt(t, sk, prod), func(i int) float64 { return x[i] * y[i] })
	for _, k := range rots {
		rx, err := eval.RotateNew(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		check("rot(x)", j.decrypt(t, sk, rx), func(i int) float64 { return x[((i+k)%slots+slots)%slots] })
	}
	rp, err := eval.RotateNew(prod, rots[0])
	if err != nil {
		t.Fatal(err)
	}
	check("rot(x·y)", j.decrypt(t, sk, rp), func(i int) float64 {
		i = (i + rots[0]) % slots
		return x[i] * y[i]
	})
	// Inner product by rotate-and-sum over the first 8 slots needs
	// rotations by 1, 2, 4.
	if testing.Short() {
		return
	}
	j2 := setupComputeJob(t, p, 3, []int{1, 2, 4}, 2)
	a, b := randVec(r, slots), randVec(r, slots)
	ev2 := ckks.NewEvaluator(p.ckks, j2.evk)
	acc, err := ev2.MulRelinNew(j2.encrypt(t, a), j2.encrypt(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev2.Rescale(acc, acc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 2, 4} {
		rk, err := ev2.RotateNew(acc, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := ev2.Add(acc, rk, acc); err != nil {
			t.Fatal(err)
		}
	}
	check("Σ8 a·b", j2.decrypt(t, j2.collectiveSecret(), acc), func(i int) float64 {
		s := 0.0
		for k := range 8 {
			s += a[(i+k)%slots] * b[(i+k)%slots]
		}
		return s
	})
}

// TestEvalKeysWrongSecret checks that the keys are bound to the collective
// secret: decrypting with the sum of only two of three parties' keys fails.
func TestEvalKeysWrongSecret(t *testing.T) {
	p := smallComputeParams(t)
	j := setupComputeJob(t, p, 3, []int{1}, 3)
	x := randVec(newRand(1), p.Slots())
	ct := j.encrypt(t, x)
	sk := rlwe.NewSecretKey(p.ckks)
	for _, pt := range j.parties[:2] {
		p.ckks.RingQP().Add(sk.Value, pt.sk.Value, sk.Value)
	}
	got := j.decrypt(t, sk, ct)
	if math.Abs(got[0]-x[0]) < 1e-2 && math.Abs(got[1]-x[1]) < 1e-2 {
		t.Fatal("decrypted without every party's key")
	}
	got = j.decrypt(t, j.collectiveSecret(), ct)
	if math.Abs(got[0]-x[0]) > 1e-4 {
		t.Fatalf("small params: error %g", math.Abs(got[0]-x[0]))
	}
}

func TestEvalKeysFailures(t *testing.T) {
	p := smallComputeParams(t)
	var job, otherJob JobSeed
	otherJob[0] = 1
	g := p.GaloisElements([]int{1})
	const n = 3
	agg, err := NewEvalKeyAggregator(p, job, n, g)
	if err != nil {
		t.Fatal(err)
	}
	parties := make([]*ComputeParty, n)
	for i := range parties {
		if parties[i], err = NewComputeParty(p, job, uint32(i), n, testRand(uint64(40+i))); err != nil {
			t.Fatal(err)
		}
	}
	// Missing shares name the missing parties.
	if _, err := agg.RelinRound1(); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("RelinRound1 with no shares: %v", err)
	}
	r1 := make([]*RelinKeyShare, n)
	for i, pt := range parties {
		if r1[i], err = pt.RelinShareRound1(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := parties[0].RelinShareRound1(); !errors.Is(err, ErrStep) {
		t.Fatalf("second round 1: %v", err)
	}
	if err := agg.AddRelinShare(r1[0]); err != nil {
		t.Fatal(err)
	}
	if err := agg.AddRelinShare(r1[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := agg.RelinRound1(); !errors.Is(err, ErrTooFewShares) || !strings.Contains(err.Error(), "missing parties [1]") {
		t.Fatalf("RelinRound1 without party 1: %v", err)
	}
	if _, err := agg.RelinearizationKey(); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("RelinearizationKey early: %v", err)
	}
	// Duplicate.
	partyErr(t, agg.AddRelinShare(r1[0]), 0, ErrBadMessage)
	// Round 2 before round 1 is complete.
	early := &RelinKeyShare{Params: p.ID(), Job: job, Party: 1, Round: 2, Share: r1[1].Share}
	if err := agg.AddRelinShare(early); !errors.Is(err, ErrStep) || !strings.Contains(err.Error(), "party 1") {
		t.Fatalf("early round 2: %v", err)
	}
	// Wrong job, wrong parameters, wrong round number, out of range.
	wj := *r1[1]
	wj.Job = otherJob
	partyErr(t, agg.AddRelinShare(&wj), 1, ErrBadMessage)
	large := mustComputeParams(t)
	wp := *r1[1]
	wp.Params = large.ID()
	partyErr(t, agg.AddRelinShare(&wp), 1, ErrBadMessage)
	wr := *r1[1]
	wr.Round = 3
	partyErr(t, agg.AddRelinShare(&wr), 1, ErrBadMessage)
	oor := *r1[1]
	oor.Party = n
	partyErr(t, agg.AddRelinShare(&oor), n, ErrBadMessage)
	// A coefficient above its modulus.
	bc := RelinKeyShare{Params: p.ID(), Job: job, Party: 1, Round: 1}
	roundTrip(t, r1[1], &bc)
	bc.Share.Value[0][0][1].P.Coeffs[0][5] = p.P()[0]
	partyErr(t, agg.AddRelinShare(&bc), 1, ErrMalformed)
	// Shape from other parameters.
	lp, err := NewComputeParty(large, job, 1, n, testRand(9))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := lp.RelinShareRound1()
	if err != nil {
		t.Fatal(err)
	}
	ls.Params = p.ID()
	partyErr(t, agg.AddRelinShare(ls), 1, ErrParams)
	if err := agg.AddRelinShare(r1[1]); err != nil {
		t.Fatal(err)
	}
	sum1, err := agg.RelinRound1()
	if err != nil {
		t.Fatal(err)
	}
	// Round 2 needs the aggregator's sum, not a party's share.
	partyErr(t, errOnly(parties[0].RelinShareRound2(r1[1])), 1, ErrBadMessage)
	if _, err := parties[0].RelinShareRound2(sum1); err != nil {
		t.Fatal(err)
	}
	if _, err := parties[0].RelinShareRound2(sum1); !errors.Is(err, ErrStep) {
		t.Fatalf("second round 2: %v", err)
	}
	fresh, _ := NewComputeParty(p, job, 0, n, testRand(1))
	if _, err := fresh.RelinShareRound2(sum1); !errors.Is(err, ErrStep) {
		t.Fatalf("round 2 before round 1: %v", err)
	}

	// Galois: element not requested, duplicate element, invalid element.
	gs, err := parties[2].GaloisShares(p.GaloisElements([]int{2}))
	if err != nil {
		t.Fatal(err)
	}
	partyErr(t, agg.AddGaloisShare(gs[0]), 2, ErrBadMessage)
	if _, err := parties[2].GaloisShares(p.GaloisElements([]int{2})); !errors.Is(err, ErrStep) {
		t.Fatalf("second Galois share: %v", err)
	}
	if _, err := parties[2].GaloisShares([]uint64{4}); !errors.Is(err, ErrParams) {
		t.Fatalf("even Galois element: %v", err)
	}
	gs, err = parties[2].GaloisShares(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := agg.AddGaloisShare(gs[0]); err != nil {
		t.Fatal(err)
	}
	partyErr(t, agg.AddGaloisShare(gs[0]), 2, ErrBadMessage)
	if _, err := agg.GaloisKeys(); !errors.Is(err, ErrTooFewShares) || !strings.Contains(err.Error(), "missing parties [0 1]") {
		t.Fatalf("GaloisKeys early: %v", err)
	}
	// Public key: wrong job, missing.
	pks, err := parties[0].PublicKeyShare()
	if err != nil {
		t.Fatal(err)
	}
	pks.Job = otherJob
	partyErr(t, agg.AddPublicKeyShare(pks), 0, ErrBadMessage)
	if _, err := agg.PublicKey(); !errors.Is(err, ErrTooFewShares) {
		t.Fatalf("PublicKey early: %v", err)
	}
	// Aggregator construction.
	if _, err := NewEvalKeyAggregator(p, job, n, []uint64{g[0], g[0]}); !errors.Is(err, ErrParams) {
		t.Fatalf("duplicate element: %v", err)
	}
}

func errOnly[T any](_ T, err error) error { return err }

func TestComputeParamsValidation(t *testing.T) {
	l, err := PresetCompute.Literal()
	if err != nil {
		t.Fatal(err)
	}
	bad := func(name string, f func(*ComputeLiteral)) {
		t.Helper()
		c := l
		c.CKKS.LogQ = append([]int(nil), l.CKKS.LogQ...)
		f(&c)
		if _, err := NewComputeParamsFromLiteral(c); !errors.Is(err, ErrParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad("standard ring", func(c *ComputeLiteral) { c.CKKS.RingType = ring.Standard })
	bad("no P", func(c *ComputeLiteral) { c.CKKS.LogP = nil })
	bad("one Q", func(c *ComputeLiteral) { c.CKKS.LogQ = []int{55} })
	bad("above bound", func(c *ComputeLiteral) { c.CKKS.LogQ = append(c.CKKS.LogQ, 60, 60, 60) })
	bad("sparse secret", func(c *ComputeLiteral) { c.CKKS.Xs = ring.Ternary{H: 64} })
	bad("no name", func(c *ComputeLiteral) { c.Name = "" })
	if _, err := NewComputeParams("nope"); !errors.Is(err, ErrParams) {
		t.Errorf("unknown preset: %v", err)
	}
}

// computeGolden is what testdata/mhe/compute_presets.json pins.
type computeGolden struct {
	Name        string   `json:"name"`
	LogN        int      `json:"logN"`
	Slots       int      `json:"slots"`
	Ring        string   `json:"ring"`
	Q           []uint64 `json:"q"`
	P           []uint64 `json:"p"`
	LogQP       float64  `json:"logQP"`
	MaxLogQP    int      `json:"maxLogQP128"`
	LogScale    int      `json:"logScale"`
	MaxLevel    int      `json:"maxLevel"`
	XeSigma     float64  `json:"xeSigma"`
	Fingerprint string   `json:"fingerprint"`
}

// TestGoldenComputePresets pins every compute preset (run with -update
// after a deliberate change).
func TestGoldenComputePresets(t *testing.T) {
	var got []computeGolden
	for _, pr := range ComputePresets() {
		p, err := NewComputeParams(pr)
		if err != nil {
			t.Fatal(err)
		}
		fp := p.Fingerprint()
		got = append(got, computeGolden{Name: p.Name(), LogN: p.LogN(), Slots: p.Slots(), Ring: p.ckks.RingType().String(),
			Q: p.Q(), P: p.P(), LogQP: float64(int(p.LogQP()*1000)) / 1000, MaxLogQP: p.MaxLogQP(), LogScale: p.LogScale(),
			MaxLevel: p.MaxLevel(), XeSigma: p.ckks.Xe().(ring.DiscreteGaussian).Sigma, Fingerprint: hex.EncodeToString(fp[:])})
		if p.LogQP() > float64(p.MaxLogQP()) {
			t.Fatalf("%s: log QP above the 128-bit bound", pr)
		}
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const path = "../../testdata/mhe/compute_presets.json"
	golden.Check(t, path, b, true)
}

// ---- wire ----

type evkSamples struct {
	cks, r1, r1sum, r2, gal []byte
}

var (
	evkOnce sync.Once
	evkS    *evkSamples
)

func evalKeySamples(tb testing.TB) *evkSamples {
	evkOnce.Do(func() {
		p := smallComputeParams(tb)
		var job JobSeed
		agg, _ := NewEvalKeyAggregator(p, job, 1, nil)
		pt, _ := NewComputeParty(p, job, 0, 1, testRand(5))
		s := &evkSamples{}
		cks, _ := pt.PublicKeyShare()
		r1, _ := pt.RelinShareRound1()
		_ = agg.AddRelinShare(r1)
		sum, _ := agg.RelinRound1()
		r2, _ := pt.RelinShareRound2(sum)
		gs, _ := pt.GaloisShares(p.GaloisElements([]int{1}))
		s.cks, _ = cks.MarshalBinary()
		s.r1, _ = r1.MarshalBinary()
		s.r1sum, _ = sum.MarshalBinary()
		s.r2, _ = r2.MarshalBinary()
		if len(gs) == 1 {
			s.gal, _ = gs[0].MarshalBinary()
		}
		evkS = s
	})
	if evkS == nil || len(evkS.gal) == 0 || len(evkS.r2) == 0 {
		tb.Fatal("could not build evaluation-key wire samples")
	}
	return evkS
}

type binaryMessage interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

var evkDecoders = map[string]func() binaryMessage{
	"ComputeKeyShare": func() binaryMessage { return &ComputeKeyShare{} },
	"RelinKeyShare":   func() binaryMessage { return &RelinKeyShare{} },
	"GaloisKeyShare":  func() binaryMessage { return &GaloisKeyShare{} },
}

func TestEvalKeyWireRoundTrip(t *testing.T) {
	s := evalKeySamples(t)
	for name, b := range map[string][]byte{"ComputeKeyShare": s.cks, "RelinKeyShare": s.r1, "RelinKeyShare ": s.r1sum,
		"RelinKeyShare  ": s.r2, "GaloisKeyShare": s.gal} {
		m := evkDecoders[strings.TrimSpace(name)]()
		if err := m.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("%s: round trip differs (%v)", name, err)
		}
		// Truncation, a trailing byte, another type.
		for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte(nil), b...), 0), b[:wireHeaderSize+10]} {
			if err := evkDecoders[strings.TrimSpace(name)]().UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: bad input decoded: %v", name, err)
			}
		}
	}
	if err := (&GaloisKeyShare{}).UnmarshalBinary(s.r1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("type confusion: %v", err)
	}
	// A decoded share feeds the steps.
	p := smallComputeParams(t)
	var rs RelinKeyShare
	if err := rs.UnmarshalBinary(s.r1sum); err != nil {
		t.Fatal(err)
	}
	if rs.Party != AggregatorParty || rs.Round != 1 || rs.Params != p.ID() {
		t.Fatalf("decoded round-1 sum: party %d round %d", rs.Party, rs.Round)
	}
}

func evkFuzz(f *testing.F, name string) {
	s := evalKeySamples(f)
	for _, b := range [][]byte{s.cks, s.r1, s.r1sum, s.r2, s.gal} {
		f.Add(b)
		f.Add(b[:wireHeaderSize+60])
	}
	f.Add([]byte{})
	f.Add([]byte{wireVersion, wireTypeRelinKeyShare})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := evkDecoders[name]()
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not wrap ErrMalformed naming %s", err, name)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded but does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("not canonical")
		}
	})
}

func FuzzUnmarshalComputeKeyShare(f *testing.F) { evkFuzz(f, "ComputeKeyShare") }
func FuzzUnmarshalRelinKeyShare(f *testing.F)   { evkFuzz(f, "RelinKeyShare") }
func FuzzUnmarshalGaloisKeyShare(f *testing.F)  { evkFuzz(f, "GaloisKeyShare") }
