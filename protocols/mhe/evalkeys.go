package mhe

// Evaluation keys: collective relinearisation and Galois (rotation) keys for
// computing on ciphertexts, under their own parameter family
// (ComputeParams: several Q moduli and one P modulus for key switching).
//
// Key generation for evaluation keys uses each party's full secret key
// s_i: all N parties must take part, as in Lattigo's multiparty package
// (RelinearizationKeyGenProtocol, GaloisKeyGenProtocol). The t-out-of-N
// thresholdizer applies to decryption only; it does not make these keys
// generatable by t parties.
//
// Shares are computed here, mirroring Lattigo's GenShare methods, with the
// package's own samplers so that all randomness comes from the party's
// io.Reader; aggregation and the final keys use Lattigo's own code.

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// ComputePreset names a parameter set for computing on ciphertexts. Build
// its parameters with NewComputeParams.
type ComputePreset string

// PresetCompute: conjugate-invariant ring with N = 2^14 (16384 real slots),
// Q = 55 + 4×45 bits (four multiplicative levels at scale Δ = 2^45), one
// 61-bit P modulus for key switching, uniform ternary secret, σ = 3.2.
// log QP ≈ 296 ≤ 438 (HE standard, 128-bit, ternary secret, N = 2^14).
// Pinned by testdata/mhe/compute_presets.json.
const PresetCompute ComputePreset = "compute"

// ComputePresets lists the named presets for computing on ciphertexts.
func ComputePresets() []ComputePreset { return []ComputePreset{PresetCompute} }

// MaxGaloisElements bounds the number of Galois keys of one job.
const MaxGaloisElements = 64

// ComputeLiteral is an unchecked parameter set for computing on
// ciphertexts; NewComputeParamsFromLiteral validates it.
type ComputeLiteral struct {
	Name string
	// CKKS is the Lattigo literal. It must use ring.ConjugateInvariant, at
	// least two Q moduli, at least one P modulus and a uniform ternary
	// secret.
	CKKS ckks.ParametersLiteral
}

// Literal returns the preset's literal, or ErrParams for an unknown name.
func (p ComputePreset) Literal() (ComputeLiteral, error) {
	switch p {
	case PresetCompute:
		return ComputeLiteral{Name: string(p), CKKS: ckks.ParametersLiteral{
			LogN:            14,
			LogQ:            []int{55, 45, 45, 45, 45},
			LogP:            []int{61},
			Xs:              ring.Ternary{P: 2.0 / 3.0},
			Xe:              rlwe.DefaultXe,
			RingType:        ring.ConjugateInvariant,
			LogDefaultScale: 45,
		}}, nil
	default:
		return ComputeLiteral{}, fmt.Errorf("%w: unknown compute preset %q", ErrParams, string(p))
	}
}

// ComputeParams are validated, immutable parameters for computing on
// ciphertexts. They are safe for concurrent use.
type ComputeParams struct {
	name string
	ckks ckks.Parameters
	fp   [8]byte
}

// NewComputeParams returns the parameters of a compute preset.
func NewComputeParams(p ComputePreset) (*ComputeParams, error) {
	l, err := p.Literal()
	if err != nil {
		return nil, err
	}
	return NewComputeParamsFromLiteral(l)
}

// NewComputeParamsFromLiteral validates l: conjugate-invariant ring, at
// least two Q moduli, at least one P modulus (key switching uses the RNS
// gadget without base-2 decomposition), uniform ternary secret, log QP
// within the HE standard's 128-bit bound for the ring degree, and a scale
// of 20 to 60 bits.
func NewComputeParamsFromLiteral(l ComputeLiteral) (*ComputeParams, error) {
	if l.Name == "" || len(l.Name) > 64 {
		return nil, fmt.Errorf("%w: name must have 1 to 64 bytes", ErrParams)
	}
	c := l.CKKS
	if c.RingType != ring.ConjugateInvariant {
		return nil, fmt.Errorf("%w: ring must be conjugate invariant", ErrParams)
	}
	if t, ok := c.Xs.(ring.Ternary); !ok || t.H != 0 || math.Abs(t.P-2.0/3.0) > 1e-12 {
		return nil, fmt.Errorf("%w: the secret must be uniform ternary (P = 2/3)", ErrParams)
	}
	bound, ok := heStandard128[c.LogN]
	if !ok {
		return nil, fmt.Errorf("%w: log N = %d outside 10..15", ErrParams, c.LogN)
	}
	if c.LogDefaultScale < 20 || c.LogDefaultScale > 60 {
		return nil, fmt.Errorf("%w: log scale %d outside 20..60", ErrParams, c.LogDefaultScale)
	}
	cp, err := ckks.NewParametersFromLiteral(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParams, err)
	}
	if cp.QCount() < 2 {
		return nil, fmt.Errorf("%w: computing needs at least two Q moduli, have %d", ErrParams, cp.QCount())
	}
	if cp.PCount() < 1 {
		return nil, fmt.Errorf("%w: key switching needs a P modulus", ErrParams)
	}
	if _, ok := cp.Xe().(ring.DiscreteGaussian); !ok {
		return nil, fmt.Errorf("%w: the error must be a discrete Gaussian", ErrParams)
	}
	if lqp := cp.LogQP(); lqp > float64(bound) {
		return nil, fmt.Errorf("%w: log QP = %.1f above the 128-bit bound %d for log N = %d", ErrParams, lqp, bound, c.LogN)
	}
	p := &ComputeParams{name: l.Name, ckks: cp}
	h := sha256.New()
	h.Write([]byte("cohort/mhe/compute-params/v1\x00"))
	h.Write([]byte(l.Name))
	var b [8]byte
	put := func(v uint64) {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	put(uint64(c.LogN))
	put(uint64(cp.RingType()))
	put(uint64(c.LogDefaultScale))
	put(math.Float64bits(cp.Xe().(ring.DiscreteGaussian).Sigma))
	put(uint64(cp.QCount()))
	for _, q := range cp.Q() {
		put(q)
	}
	put(uint64(cp.PCount()))
	for _, q := range cp.P() {
		put(q)
	}
	copy(p.fp[:], h.Sum(nil))
	return p, nil
}

// Name is the preset or literal name.
func (p *ComputeParams) Name() string { return p.name }

// LogN is log2 of the ring degree N.
func (p *ComputeParams) LogN() int { return p.ckks.LogN() }

// N is the ring degree.
func (p *ComputeParams) N() int { return p.ckks.N() }

// Slots is the number of real values one ciphertext carries (N, with the
// conjugate-invariant ring).
func (p *ComputeParams) Slots() int { return p.ckks.MaxSlots() }

// Q returns the ciphertext moduli (a copy).
func (p *ComputeParams) Q() []uint64 { return p.ckks.Q() }

// P returns the key-switching moduli (a copy).
func (p *ComputeParams) P() []uint64 { return p.ckks.P() }

// MaxLevel is the level of a fresh ciphertext: the number of
// multiplications (rescalings) it supports.
func (p *ComputeParams) MaxLevel() int { return p.ckks.MaxLevel() }

// LogQP is log2 of the whole modulus QP.
func (p *ComputeParams) LogQP() float64 { return p.ckks.LogQP() }

// MaxLogQP is the HE standard's 128-bit bound on log QP for this ring degree
// with a ternary secret.
func (p *ComputeParams) MaxLogQP() int { return heStandard128[p.LogN()] }

// LogScale is log2 of the default encoding scale Δ.
func (p *ComputeParams) LogScale() int { return p.ckks.LogDefaultScale() }

// Fingerprint identifies the parameters on the wire: the first 8 bytes of a
// SHA-256 over the name, ring, moduli, scale and noise.
func (p *ComputeParams) Fingerprint() [8]byte { return p.fp }

// ID returns the parameters' identity as carried in every message (Q is the
// first modulus of the chain; the fingerprint covers all of them).
func (p *ComputeParams) ID() ParamsID {
	return ParamsID{Fingerprint: p.fp, LogN: p.LogN(), LogScale: p.LogScale(), Q: p.ckks.Q()[0]}
}

// CKKS returns the Lattigo parameters (a value; Lattigo parameters are
// immutable).
func (p *ComputeParams) CKKS() ckks.Parameters { return p.ckks }

// GaloisElement returns the Galois element of a rotation of the slots by k
// positions to the left (negative k rotates right).
func (p *ComputeParams) GaloisElement(k int) uint64 { return p.ckks.GaloisElement(k) }

// GaloisElements returns the Galois elements of the rotations ks.
func (p *ComputeParams) GaloisElements(ks []int) []uint64 {
	out := make([]uint64, len(ks))
	for i, k := range ks {
		out[i] = p.GaloisElement(k)
	}
	return out
}

// checkGaloisElement accepts an odd element other than 1 below the ring's
// 2N-th (here 4N-th) root order.
func (p *ComputeParams) checkGaloisElement(g uint64) error {
	if g&1 == 0 || g <= 1 || g >= p.ckks.RingQ().NthRoot() {
		return fmt.Errorf("%w: Galois element %d is not an odd element of 3..%d", ErrParams, g, p.ckks.RingQ().NthRoot()-1)
	}
	return nil
}

// ---- messages ----

// ComputeKeyShare is a party's share of the collective public key under
// ComputeParams: e_i − a·s_i over QP, a from the job seed.
type ComputeKeyShare struct {
	Params ParamsID
	Job    JobSeed
	Party  uint32
	Share  multiparty.PublicKeyGenShare
}

// RelinKeyShare is a share of the two-round relinearisation key protocol.
// Round 1: a party's (−u_i·a + s_i·w + e_0, s_i·a + e_1), or with Party =
// AggregatorParty their sum, which the aggregator sends back to every
// party. Round 2: a party's s_i·h_0 + (u_i − s_i)·h_1 + e_2 for the summed
// round-1 share (h_0, h_1).
type RelinKeyShare struct {
	Params ParamsID
	Job    JobSeed
	Party  uint32
	Round  uint8 // 1 or 2
	Share  multiparty.RelinearizationKeyGenShare
}

// GaloisKeyShare is a party's share of the Galois key for
// Share.GaloisElement: s_i·w − a·σ⁻¹(s_i) + e.
type GaloisKeyShare struct {
	Params ParamsID
	Job    JobSeed
	Party  uint32
	Share  multiparty.GaloisKeyGenShare
}

// ---- common reference polynomials ----

// crsFor keys a CRS for one of the compute protocols from the job seed.
func crsFor(label string, job JobSeed, galEl uint64) *sampling.KeyedPRNG {
	h := sha256.New()
	h.Write([]byte("cohort/mhe/crs/compute/v1\x00"))
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(job[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], galEl)
	h.Write(b[:])
	prng, err := sampling.NewKeyedPRNG(h.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is valid
	}
	return prng
}

func (p *ComputeParams) pkCRP(job JobSeed) multiparty.PublicKeyGenCRP {
	return multiparty.NewPublicKeyGenProtocol(p.ckks).SampleCRP(crsFor("pk", job, 0))
}

func (p *ComputeParams) rlkCRP(job JobSeed) multiparty.RelinearizationKeyGenCRP {
	return multiparty.NewRelinearizationKeyGenProtocol(p.ckks).SampleCRP(crsFor("rlk", job, 0))
}

func (p *ComputeParams) galCRP(job JobSeed, galEl uint64) multiparty.GaloisKeyGenCRP {
	return multiparty.NewGaloisKeyGenProtocol(p.ckks).SampleCRP(crsFor("gal", job, galEl))
}

// ---- sampling over QP ----

// sampleSmallQP reads a small-norm polynomial from s over Q, extends it to
// P and puts it in NTT form.
func (p *ComputeParams) sampleSmallQP(s ring.Sampler, out ringqp.Poly) {
	rqp := p.ckks.RingQP()
	s.Read(out.Q)
	rqp.ExtendBasisSmallNormAndCenter(out.Q, p.ckks.MaxLevelP(), out.Q, out.P)
	rqp.NTT(out, out)
}

// genSecret samples a uniform ternary secret key over QP (NTT, Montgomery
// form), as Lattigo's key generator does.
func (p *ComputeParams) genSecret(prng sampling.PRNG) *rlwe.SecretKey {
	sk := rlwe.NewSecretKey(p.ckks)
	p.sampleSmallQP(mustSampler(prng, p.ckks.RingQ(), p.ckks.Xs()), sk.Value)
	p.ckks.RingQP().MForm(sk.Value, sk.Value)
	return sk
}

// ---- party ----

// ComputeParty is one party's side of evaluation-key generation: its secret
// key s_i under ComputeParams (independent of its aggregation key) and the
// state between the rounds of the relinearisation protocol. It does no I/O;
// randomness comes from the io.Reader it is given (32 bytes per step). Not
// safe for concurrent use.
//
// Steps, each once: PublicKeyShare, RelinShareRound1, then (after the
// aggregator sums round 1) RelinShareRound2, and GaloisShares for the job's
// Galois elements. Every party of the job must take part in every step.
type ComputeParty struct {
	params *ComputeParams
	job    JobSeed
	id     uint32
	n      int
	rand   io.Reader

	sk       *rlwe.SecretKey
	eph      *rlwe.SecretKey // u_i, between the relinearisation rounds
	pkDone   bool
	rlk1Done bool
	rlk2Done bool
	galDone  map[uint64]bool
}

// NewComputeParty prepares party id (0 ≤ id < n) of a job with n parties and
// samples its secret key from rand.
func NewComputeParty(p *ComputeParams, job JobSeed, id uint32, n int, rand io.Reader) (*ComputeParty, error) {
	if err := checkNT(n, 1); err != nil {
		return nil, err
	}
	if int(id) >= n {
		return nil, fmt.Errorf("%w: party %d out of range for n = %d", ErrParams, id, n)
	}
	prng, _, err := newPRNG(rand)
	if err != nil {
		return nil, err
	}
	return &ComputeParty{params: p, job: job, id: id, n: n, rand: rand, sk: p.genSecret(prng), galDone: map[uint64]bool{}}, nil
}

// ID is the party's index.
func (pt *ComputeParty) ID() uint32 { return pt.id }

// PublicKeyShare returns the party's share of the collective public key
// under ComputeParams.
func (pt *ComputeParty) PublicKeyShare() (*ComputeKeyShare, error) {
	if pt.pkDone {
		return nil, fmt.Errorf("%w: PublicKeyShare called twice", ErrStep)
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	p := pt.params
	crp := p.pkCRP(pt.job)
	s := &ComputeKeyShare{Params: p.ID(), Job: pt.job, Party: pt.id, Share: multiparty.NewPublicKeyGenProtocol(p.ckks).AllocateShare()}
	rqp := p.ckks.RingQP()
	p.sampleSmallQP(mustSampler(prng, p.ckks.RingQ(), p.ckks.Xe()), s.Share.Value)
	rqp.MForm(s.Share.Value, s.Share.Value)
	rqp.MulCoeffsMontgomeryThenSub(pt.sk.Value, crp.Value, s.Share.Value)
	pt.pkDone = true
	return s, nil
}

// RelinShareRound1 returns the party's first-round share of the
// relinearisation key and keeps its ephemeral secret u_i for round 2.
func (pt *ComputeParty) RelinShareRound1() (*RelinKeyShare, error) {
	if pt.rlk1Done {
		return nil, fmt.Errorf("%w: RelinShareRound1 called twice", ErrStep)
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	p := pt.params
	params := p.ckks
	crp := p.rlkCRP(pt.job)
	eph, r1, _ := multiparty.NewRelinearizationKeyGenProtocol(params).AllocateShare()
	out := &r1.GadgetCiphertext

	levelQ, levelP := out.LevelQ(), out.LevelP()
	rqp := params.RingQP().AtLevel(levelQ, levelP)
	rq := rqp.RingQ
	xe := mustSampler(prng, params.RingQ(), params.Xe())
	xs := mustSampler(prng, params.RingQ(), params.Xs())

	// w = P·s (coefficients out of Montgomery form, as the share is not in
	// Montgomery form).
	buf := rq.NewPoly()
	rq.MulScalarBigint(pt.sk.Value.Q, rqp.RingP.ModulusAtLevel[levelP], buf)
	rq.IMForm(buf, buf)

	// u_i: ternary over Q extended to P, NTT, Montgomery form.
	p.sampleSmallQP(xs, eph.Value)
	rqp.MForm(eph.Value, eph.Value)

	rows, cols := out.BaseRNSDecompositionVectorSize(), out.BaseTwoDecompositionVectorSize()
	for j := 0; j < slices.Max(cols); j++ {
		for i := range rows {
			if j >= cols[i] {
				continue
			}
			h := out.Value[i][j]
			p.sampleSmallQP(xe, h[0])
			addGadgetRow(rq, buf, h[0].Q, i, levelQ, levelP)
			rqp.MulCoeffsMontgomeryThenSub(eph.Value, crp.Value[i][j], h[0])
			p.sampleSmallQP(xe, h[1])
			rqp.MulCoeffsMontgomeryThenAdd(pt.sk.Value, crp.Value[i][j], h[1])
		}
		rq.MulScalar(buf, 1<<out.BaseTwoDecomposition, buf)
	}
	pt.eph = eph
	pt.rlk1Done = true
	return &RelinKeyShare{Params: p.ID(), Job: pt.job, Party: pt.id, Round: 1, Share: r1}, nil
}

// addGadgetRow adds row i of the RNS gadget applied to w (the moduli
// i·(levelP+1) … i·(levelP+1)+levelP of Q) into h.
func addGadgetRow(rq *ring.Ring, w, h ring.Poly, i, levelQ, levelP int) {
	for k := 0; k <= levelP; k++ {
		idx := i*(levelP+1) + k
		if idx > levelQ {
			break
		}
		q := rq.SubRings[idx].Modulus
		hw, ww := h.Coeffs[idx], w.Coeffs[idx]
		for x := range hw {
			hw[x] = ring.CRed(hw[x]+ww[x], q)
		}
	}
}

// RelinShareRound2 returns the party's second-round share for the summed
// first-round share agg (Party = AggregatorParty) the aggregator sent.
func (pt *ComputeParty) RelinShareRound2(agg *RelinKeyShare) (*RelinKeyShare, error) {
	const step = "RelinKeyShare"
	if !pt.rlk1Done {
		return nil, fmt.Errorf("%w: RelinShareRound2 before RelinShareRound1", ErrStep)
	}
	if pt.rlk2Done {
		return nil, fmt.Errorf("%w: RelinShareRound2 called twice", ErrStep)
	}
	if agg == nil {
		return nil, fmt.Errorf("%w: nil round-1 aggregate", ErrParams)
	}
	if agg.Party != AggregatorParty {
		return nil, bad(agg.Party, step, "round-2 input must be the aggregator's round-1 sum")
	}
	if err := pt.params.checkRelinShare(agg, pt.job, 1); err != nil {
		return nil, err
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	p := pt.params
	params := p.ckks
	_, _, r2 := multiparty.NewRelinearizationKeyGenProtocol(params).AllocateShare()
	out := &r2.GadgetCiphertext
	rqp := params.RingQP().AtLevel(out.LevelQ(), out.LevelP())
	xe := mustSampler(prng, params.RingQ(), params.Xe())
	diff := rqp.NewPoly()
	rqp.Sub(pt.eph.Value, pt.sk.Value, diff)
	e := params.RingQP().NewPoly()
	in := agg.Share.Value
	for i := range out.Value {
		for j := range out.Value[i] {
			o := out.Value[i][j][0]
			rqp.MulCoeffsMontgomery(in[i][j][0], pt.sk.Value, o)
			p.sampleSmallQP(xe, e)
			rqp.Add(o, e, o)
			rqp.MulCoeffsMontgomeryThenAdd(diff, in[i][j][1], o)
		}
	}
	pt.eph = nil
	pt.rlk2Done = true
	return &RelinKeyShare{Params: p.ID(), Job: pt.job, Party: pt.id, Round: 2, Share: r2}, nil
}

// GaloisShares returns the party's shares of the Galois keys for galEls
// (distinct, each at most once per party over the job; use
// ComputeParams.GaloisElements for rotations).
func (pt *ComputeParty) GaloisShares(galEls []uint64) ([]*GaloisKeyShare, error) {
	p := pt.params
	if len(galEls) == 0 || len(galEls) > MaxGaloisElements {
		return nil, fmt.Errorf("%w: %d Galois elements, want 1..%d", ErrParams, len(galEls), MaxGaloisElements)
	}
	seen := map[uint64]bool{}
	for _, g := range galEls {
		if err := p.checkGaloisElement(g); err != nil {
			return nil, err
		}
		if seen[g] || pt.galDone[g] {
			return nil, fmt.Errorf("%w: Galois share for element %d requested twice", ErrStep, g)
		}
		seen[g] = true
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	params := p.ckks
	gkg := multiparty.NewGaloisKeyGenProtocol(params)
	xe := mustSampler(prng, params.RingQ(), params.Xe())
	out := make([]*GaloisKeyShare, len(galEls))
	for gi, g := range galEls {
		crp := p.galCRP(pt.job, g)
		share := gkg.AllocateShare()
		share.GaloisElement = g
		m := &share.GadgetCiphertext
		levelQ, levelP := m.LevelQ(), m.LevelP()
		rqp := params.RingQP().AtLevel(levelQ, levelP)
		rq := rqp.RingQ

		// σ⁻¹(s): the key switches from σ(s) back to s after the
		// automorphism.
		inv := ring.ModExp(g, rq.NthRoot()-1, rq.NthRoot())
		skOut := rqp.NewPoly()
		rq.AutomorphismNTT(pt.sk.Value.Q, inv, skOut.Q)
		rqp.RingP.AutomorphismNTT(pt.sk.Value.P, inv, skOut.P)

		buf := rq.NewPoly()
		rq.MulScalarBigint(pt.sk.Value.Q, rqp.RingP.ModulusAtLevel[levelP], buf)
		rows, cols := m.BaseRNSDecompositionVectorSize(), m.BaseTwoDecompositionVectorSize()
		for j := 0; j < slices.Max(cols); j++ {
			for i := range rows {
				if j >= cols[i] {
					continue
				}
				mij := m.Value[i][j][0]
				p.sampleSmallQP(xe, mij)
				rqp.MForm(mij, mij)
				addGadgetRow(rq, buf, mij.Q, i, levelQ, levelP)
				rqp.MulCoeffsMontgomeryThenSub(crp.Value[i][j], skOut, mij)
			}
			rq.MulScalar(buf, 1<<m.BaseTwoDecomposition, buf)
		}
		out[gi] = &GaloisKeyShare{Params: p.ID(), Job: pt.job, Party: pt.id, Share: share}
	}
	for _, g := range galEls {
		pt.galDone[g] = true
	}
	return out, nil
}

// ---- shape checks ----

// checkQP checks that pol has the full QP shape of p with canonical
// coefficients.
func (p *ComputeParams) checkQP(pol ringqp.Poly) error {
	if err := checkRows(pol.Q, p.ckks.Q(), p.N()); err != nil {
		return err
	}
	return checkRows(pol.P, p.ckks.P(), p.N())
}

func checkRows(pol ring.Poly, moduli []uint64, n int) error {
	if len(pol.Coeffs) != len(moduli) {
		return fmt.Errorf("%w: polynomial with %d moduli, want %d", ErrParams, len(pol.Coeffs), len(moduli))
	}
	for i, row := range pol.Coeffs {
		if len(row) != n {
			return fmt.Errorf("%w: polynomial of degree %d, want %d", ErrParams, len(row), n)
		}
		q := moduli[i]
		for _, c := range row {
			if c >= q {
				return fmt.Errorf("%w: coefficient not below its modulus", ErrMalformed)
			}
		}
	}
	return nil
}

// gadgetRows is the number of rows of the RNS gadget of p.
func (p *ComputeParams) gadgetRows() int {
	return (p.ckks.QCount() + p.ckks.PCount() - 1) / p.ckks.PCount()
}

// checkGadget checks that g is a full-level gadget ciphertext of p of the
// given degree with no base-2 decomposition.
func (p *ComputeParams) checkGadget(g *rlwe.GadgetCiphertext, degree int) error {
	if g.BaseTwoDecomposition != 0 {
		return fmt.Errorf("%w: base-2 decomposition is not used", ErrParams)
	}
	if len(g.Value) != p.gadgetRows() {
		return fmt.Errorf("%w: gadget of %d rows, want %d", ErrParams, len(g.Value), p.gadgetRows())
	}
	for _, row := range g.Value {
		if len(row) != 1 {
			return fmt.Errorf("%w: gadget row of %d entries, want 1", ErrParams, len(row))
		}
		if len(row[0]) != degree+1 {
			return fmt.Errorf("%w: gadget entry of degree %d, want %d", ErrParams, len(row[0])-1, degree)
		}
		for _, pol := range row[0] {
			if err := p.checkQP(pol); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRelinShare checks a relinearisation share's parameters, job, round
// and shape, naming s.Party on failure.
func (p *ComputeParams) checkRelinShare(s *RelinKeyShare, job JobSeed, round uint8) error {
	const step = "RelinKeyShare"
	if s.Params != p.ID() {
		return bad(s.Party, step, "share made under other parameters")
	}
	if s.Job != job {
		return bad(s.Party, step, "share for another job")
	}
	if s.Round != round {
		return bad(s.Party, step, "round-%d share, want round %d", s.Round, round)
	}
	if err := p.checkGadget(&s.Share.GadgetCiphertext, 2-int(round)); err != nil {
		return &PartyError{Party: s.Party, Step: step, Err: err}
	}
	return nil
}

// ---- aggregator ----

// EvalKeyAggregator collects the parties' shares into the collective
// public key, relinearisation key and Galois keys of a job under
// ComputeParams. It is the aggregator's side; not safe for concurrent use.
//
// Steps: AddPublicKeyShare × N then PublicKey; AddRelinShare (round 1) × N,
// RelinRound1 (send it to every party), AddRelinShare (round 2) × N, then
// RelinearizationKey; AddGaloisShare × N per element, then GaloisKeys or
// EvaluationKeySet.
type EvalKeyAggregator struct {
	params *ComputeParams
	job    JobSeed
	n      int
	galEls []uint64

	pk   *collector[multiparty.PublicKeyGenShare]
	rlk1 *collector[multiparty.RelinearizationKeyGenShare]
	rlk2 *collector[multiparty.RelinearizationKeyGenShare]
	gal  map[uint64]*collector[multiparty.GaloisKeyGenShare]
}

// collector sums one share per party.
type collector[S any] struct {
	sum   *S
	got   []bool
	count int
}

func newCollector[S any](n int) *collector[S] { return &collector[S]{got: make([]bool, n)} }

// add checks the party index and duplicates, then sums polys(s) into the
// running sum (the first share is copied).
func (c *collector[S]) add(rqp *ringqp.Ring, party uint32, step string, s *S, clone func(*S) *S, polys func(*S) []ringqp.Poly) error {
	if int(party) >= len(c.got) {
		return bad(party, step, "party out of range for n = %d", len(c.got))
	}
	if c.got[party] {
		return bad(party, step, "second share")
	}
	if c.sum == nil {
		c.sum = clone(s)
	} else {
		dst, src := polys(c.sum), polys(s)
		for i := range dst {
			rqp.Add(dst[i], src[i], dst[i])
		}
	}
	c.got[party] = true
	c.count++
	return nil
}

func (c *collector[S]) complete(what string) error {
	if c.count < len(c.got) {
		return fmt.Errorf("%w: %s has %d of %d shares; missing parties %v", ErrTooFewShares, what, c.count, len(c.got), missing(c.got))
	}
	return nil
}

// NewEvalKeyAggregator prepares to collect the shares of n parties for job,
// with Galois keys for galEls (may be empty: no rotations).
func NewEvalKeyAggregator(p *ComputeParams, job JobSeed, n int, galEls []uint64) (*EvalKeyAggregator, error) {
	if err := checkNT(n, 1); err != nil {
		return nil, err
	}
	if len(galEls) > MaxGaloisElements {
		return nil, fmt.Errorf("%w: %d Galois elements, at most %d", ErrParams, len(galEls), MaxGaloisElements)
	}
	a := &EvalKeyAggregator{params: p, job: job, n: n, gal: map[uint64]*collector[multiparty.GaloisKeyGenShare]{},
		pk: newCollector[multiparty.PublicKeyGenShare](n), rlk1: newCollector[multiparty.RelinearizationKeyGenShare](n),
		rlk2: newCollector[multiparty.RelinearizationKeyGenShare](n)}
	for _, g := range galEls {
		if err := p.checkGaloisElement(g); err != nil {
			return nil, err
		}
		if a.gal[g] != nil {
			return nil, fmt.Errorf("%w: Galois element %d listed twice", ErrParams, g)
		}
		a.gal[g] = newCollector[multiparty.GaloisKeyGenShare](n)
		a.galEls = append(a.galEls, g)
	}
	return a, nil
}

func gadgetPolys(g *rlwe.GadgetCiphertext) []ringqp.Poly {
	var out []ringqp.Poly
	for _, row := range g.Value {
		for _, v := range row {
			out = append(out, v...)
		}
	}
	return out
}

func cloneGadget(g *rlwe.GadgetCiphertext) rlwe.GadgetCiphertext { return *g.CopyNew() }

// AddPublicKeyShare adds one party's share of the collective public key.
func (a *EvalKeyAggregator) AddPublicKeyShare(s *ComputeKeyShare) error {
	const step = "ComputeKeyShare"
	p := a.params
	if s.Params != p.ID() {
		return bad(s.Party, step, "share made under other parameters")
	}
	if s.Job != a.job {
		return bad(s.Party, step, "share for another job")
	}
	if err := p.checkQP(s.Share.Value); err != nil {
		return &PartyError{Party: s.Party, Step: step, Err: err}
	}
	return a.pk.add(p.ckks.RingQP(), s.Party, step, &s.Share,
		func(x *multiparty.PublicKeyGenShare) *multiparty.PublicKeyGenShare {
			return &multiparty.PublicKeyGenShare{Value: *x.Value.CopyNew()}
		},
		func(x *multiparty.PublicKeyGenShare) []ringqp.Poly { return []ringqp.Poly{x.Value} })
}

// PublicKey returns the collective public key under ComputeParams once
// every party's share is in.
func (a *EvalKeyAggregator) PublicKey() (*PublicKey, error) {
	if err := a.pk.complete("public key generation"); err != nil {
		return nil, err
	}
	pk := rlwe.NewPublicKey(a.params.ckks)
	multiparty.NewPublicKeyGenProtocol(a.params.ckks).GenPublicKey(*a.pk.sum, a.params.pkCRP(a.job), pk)
	return &PublicKey{Key: pk}, nil
}

// AddRelinShare adds one party's relinearisation share of round 1 or, once
// every round-1 share is in, of round 2.
func (a *EvalKeyAggregator) AddRelinShare(s *RelinKeyShare) error {
	const step = "RelinKeyShare"
	var c *collector[multiparty.RelinearizationKeyGenShare]
	switch s.Round {
	case 1:
		c = a.rlk1
	case 2:
		if a.rlk1.count < a.n {
			return fmt.Errorf("%w: round-2 relinearisation share from party %d before round 1 is complete", ErrStep, s.Party)
		}
		c = a.rlk2
	default:
		return bad(s.Party, step, "round %d", s.Round)
	}
	if s.Party == AggregatorParty {
		return bad(s.Party, step, "share of the aggregator")
	}
	if err := a.params.checkRelinShare(s, a.job, s.Round); err != nil {
		return err
	}
	return c.add(a.params.ckks.RingQP(), s.Party, step, &s.Share,
		func(x *multiparty.RelinearizationKeyGenShare) *multiparty.RelinearizationKeyGenShare {
			return &multiparty.RelinearizationKeyGenShare{GadgetCiphertext: cloneGadget(&x.GadgetCiphertext)}
		},
		func(x *multiparty.RelinearizationKeyGenShare) []ringqp.Poly { return gadgetPolys(&x.GadgetCiphertext) })
}

// RelinRound1 returns the sum of the round-1 shares (Party =
// AggregatorParty), which every party needs for round 2.
func (a *EvalKeyAggregator) RelinRound1() (*RelinKeyShare, error) {
	if err := a.rlk1.complete("relinearisation round 1"); err != nil {
		return nil, err
	}
	return &RelinKeyShare{Params: a.params.ID(), Job: a.job, Party: AggregatorParty, Round: 1,
		Share: multiparty.RelinearizationKeyGenShare{GadgetCiphertext: cloneGadget(&a.rlk1.sum.GadgetCiphertext)}}, nil
}

// RelinearizationKey returns the collective relinearisation key once every
// round-2 share is in.
func (a *EvalKeyAggregator) RelinearizationKey() (*rlwe.RelinearizationKey, error) {
	if err := a.rlk1.complete("relinearisation round 1"); err != nil {
		return nil, err
	}
	if err := a.rlk2.complete("relinearisation round 2"); err != nil {
		return nil, err
	}
	rlk := rlwe.NewRelinearizationKey(a.params.ckks)
	multiparty.NewRelinearizationKeyGenProtocol(a.params.ckks).GenRelinearizationKey(*a.rlk1.sum, *a.rlk2.sum, rlk)
	return rlk, nil
}

// AddGaloisShare adds one party's share of the Galois key for
// s.Share.GaloisElement, which must be one of the job's elements.
func (a *EvalKeyAggregator) AddGaloisShare(s *GaloisKeyShare) error {
	const step = "GaloisKeyShare"
	p := a.params
	if s.Params != p.ID() {
		return bad(s.Party, step, "share made under other parameters")
	}
	if s.Job != a.job {
		return bad(s.Party, step, "share for another job")
	}
	c := a.gal[s.Share.GaloisElement]
	if c == nil {
		return bad(s.Party, step, "Galois element %d not requested", s.Share.GaloisElement)
	}
	if err := p.checkGadget(&s.Share.GadgetCiphertext, 0); err != nil {
		return &PartyError{Party: s.Party, Step: step, Err: err}
	}
	return c.add(p.ckks.RingQP(), s.Party, step, &s.Share,
		func(x *multiparty.GaloisKeyGenShare) *multiparty.GaloisKeyGenShare {
			return &multiparty.GaloisKeyGenShare{GaloisElement: x.GaloisElement,
				EvaluationKeyGenShare: multiparty.EvaluationKeyGenShare{GadgetCiphertext: cloneGadget(&x.GadgetCiphertext)}}
		},
		func(x *multiparty.GaloisKeyGenShare) []ringqp.Poly { return gadgetPolys(&x.GadgetCiphertext) })
}

// GaloisKeys returns the collective Galois keys, in the order of the
// elements given to NewEvalKeyAggregator, once every share is in.
func (a *EvalKeyAggregator) GaloisKeys() ([]*rlwe.GaloisKey, error) {
	for _, g := range a.galEls {
		if err := a.gal[g].complete(fmt.Sprintf("Galois key %d", g)); err != nil {
			return nil, err
		}
	}
	gkg := multiparty.NewGaloisKeyGenProtocol(a.params.ckks)
	out := make([]*rlwe.GaloisKey, len(a.galEls))
	for i, g := range a.galEls {
		gk := rlwe.NewGaloisKey(a.params.ckks)
		if err := gkg.GenGaloisKey(*a.gal[g].sum, a.params.galCRP(a.job, g), gk); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrParams, err)
		}
		out[i] = gk
	}
	return out, nil
}

// EvaluationKeySet returns the relinearisation key and the Galois keys as a
// set for Lattigo's evaluators (ckks.NewEvaluator).
func (a *EvalKeyAggregator) EvaluationKeySet() (*rlwe.MemEvaluationKeySet, error) {
	rlk, err := a.RelinearizationKey()
	if err != nil {
		return nil, err
	}
	gks, err := a.GaloisKeys()
	if err != nil {
		return nil, err
	}
	return rlwe.NewMemEvaluationKeySet(rlk, gks...), nil
}
