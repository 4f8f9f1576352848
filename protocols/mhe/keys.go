package mhe

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/cohort-mpc/cohort/protocols"
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
	"github.com/tuneinsight/lattigo/v6/utils/structs"
)

// JobSeed is the public seed of a job. The common reference string (the
// uniform polynomial of the collective public key) is derived from it, so
// every party and the aggregator agree on it without a message.
type JobSeed [32]byte

// AggregatorParty is the party index that names the aggregator in errors and
// in vectors it makes (sums, switched results).
const AggregatorParty = protocols.Server

// MaxParties bounds the number of parties of a job.
const MaxParties = 1 << 12

// PublicKey is an RLWE public key: the collective key of a job, or a
// receiver's key for a release.
type PublicKey struct {
	Key *rlwe.PublicKey
}

// KeyGenShare is a party's share of the collective public key.
type KeyGenShare struct {
	Params ParamsID
	Job    JobSeed
	Party  uint32
	Share  multiparty.PublicKeyGenShare
}

// ThresholdShare is party From's Shamir share of its secret key for party To.
// It is secret: the engine must deliver it over a private, authenticated
// channel.
type ThresholdShare struct {
	Params   ParamsID
	Job      JobSeed
	From, To uint32
	Share    multiparty.ShamirSecretShare
}

// newPRNG keys a Lattigo PRNG with 32 bytes read from rand.
func newPRNG(rand io.Reader) (*sampling.KeyedPRNG, [32]byte, error) {
	var key [32]byte
	if _, err := io.ReadFull(rand, key[:]); err != nil {
		return nil, key, fmt.Errorf("mhe: reading randomness: %w", err)
	}
	prng, err := sampling.NewKeyedPRNG(key[:])
	return prng, key, err
}

// subPRNG derives the i-th independent stream of a master key, so that work
// split across goroutines is reproducible from one seed.
func subPRNG(key *[32]byte, label byte, i int) *sampling.KeyedPRNG {
	var k [41]byte
	copy(k[:], key[:])
	k[32] = label
	binary.BigEndian.PutUint64(k[33:], uint64(i))
	prng, err := sampling.NewKeyedPRNG(k[:])
	if err != nil {
		panic(err) // blake2b accepts any key of at most 64 bytes
	}
	return prng
}

func mustSampler(prng sampling.PRNG, r *ring.Ring, d ring.DistributionParameters) ring.Sampler {
	s, err := ring.NewSampler(prng, r, d, false)
	if err != nil {
		panic(err) // the distributions are validated by NewParamsFromLiteral
	}
	return s
}

// crp derives the common reference polynomial of the collective public key
// from the job seed.
func (p *Params) crp(job JobSeed) multiparty.PublicKeyGenCRP {
	key := append([]byte("cohort/mhe/crs/v1\x00"), job[:]...)
	prng, err := sampling.NewKeyedPRNG(key)
	if err != nil {
		panic(err)
	}
	return multiparty.NewPublicKeyGenProtocol(p.ckks).SampleCRP(prng)
}

// genSecret samples a uniform ternary secret key (NTT, Montgomery form).
func (p *Params) genSecret(prng sampling.PRNG) *rlwe.SecretKey {
	rq := p.ckks.RingQ()
	sk := rlwe.NewSecretKey(p.ckks)
	mustSampler(prng, rq, p.ckks.Xs()).Read(sk.Value.Q)
	rq.NTT(sk.Value.Q, sk.Value.Q)
	rq.MForm(sk.Value.Q, sk.Value.Q)
	return sk
}

// genPKShare writes e − a·s into out (NTT form; a and out in Montgomery
// form as Lattigo's PublicKeyGenProtocol does).
func (p *Params) genPKShare(prng sampling.PRNG, sk *rlwe.SecretKey, a ring.Poly, out ring.Poly) {
	rq := p.ckks.RingQ()
	mustSampler(prng, rq, p.ckks.Xe()).Read(out)
	rq.NTT(out, out)
	rq.MForm(out, out)
	rq.MulCoeffsMontgomeryThenSub(sk.Value.Q, a, out)
}

// Party is one data owner's side of a job: its secret key, its share of the
// collective key, and its threshold share. It does no I/O; randomness comes
// from the io.Reader it is given. A Party is not safe for concurrent use.
//
// Steps: KeyGenShare and ThresholdShares (in any order, once each), then
// AddThresholdShare for every party's share (its own included), then
// ReleaseShare at most once per aggregate.
type Party struct {
	params *Params
	job    JobSeed
	id     uint32
	n, t   int
	rand   io.Reader

	sk       *rlwe.SecretKey
	ckgDone  bool
	shDone   bool
	tsk      *multiparty.ShamirSecretShare
	got      []bool
	gotCount int
	released map[[32]byte]bool // aggregate hashes this party has shared
}

// NewParty prepares party id (0 ≤ id < n) of a job with n parties of which
// any t can release a result. It samples the party's secret key from rand.
func NewParty(p *Params, job JobSeed, id uint32, n, t int, rand io.Reader) (*Party, error) {
	if err := checkNT(n, t); err != nil {
		return nil, err
	}
	if int(id) >= n {
		return nil, fmt.Errorf("%w: party %d out of range for n = %d", ErrParams, id, n)
	}
	prng, _, err := newPRNG(rand)
	if err != nil {
		return nil, err
	}
	return &Party{params: p, job: job, id: id, n: n, t: t, rand: rand, sk: p.genSecret(prng),
		got: make([]bool, n), released: map[[32]byte]bool{}}, nil
}

func checkNT(n, t int) error {
	if n < 1 || n > MaxParties {
		return fmt.Errorf("%w: n = %d outside 1..%d", ErrParams, n, MaxParties)
	}
	if t < 1 || t > n {
		return fmt.Errorf("%w: threshold t = %d outside 1..n = %d", ErrParams, t, n)
	}
	return nil
}

// ID is the party's index.
func (pt *Party) ID() uint32 { return pt.id }

// KeyGenShare returns the party's share of the collective public key:
// e_i − a·s_i with a derived from the job seed.
func (pt *Party) KeyGenShare() (*KeyGenShare, error) {
	if pt.ckgDone {
		return nil, fmt.Errorf("%w: KeyGenShare called twice", ErrStep)
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	crp := pt.params.crp(pt.job)
	s := &KeyGenShare{Params: pt.params.ID(), Job: pt.job, Party: pt.id, Share: multiparty.NewPublicKeyGenProtocol(pt.params.ckks).AllocateShare()}
	pt.params.genPKShare(prng, pt.sk, crp.Value.Q, s.Share.Value.Q)
	pt.ckgDone = true
	return s, nil
}

// shamirPoint is the public evaluation point of party id.
func shamirPoint(id uint32) multiparty.ShamirPublicPoint {
	return multiparty.ShamirPublicPoint(uint64(id) + 1)
}

// ThresholdShares returns the party's Shamir shares of its secret key, one
// for each party by index (its own included), for a polynomial of degree
// t−1 with uniform coefficients from rand. Each share is secret to its
// recipient.
func (pt *Party) ThresholdShares() ([]*ThresholdShare, error) {
	if pt.shDone {
		return nil, fmt.Errorf("%w: ThresholdShares called twice", ErrStep)
	}
	prng, _, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}
	rqp := pt.params.ckks.RingQP()
	coeffs := make([]ringqp.Poly, pt.t)
	coeffs[0] = *pt.sk.Value.CopyNew()
	us := ringqp.NewUniformSampler(prng, *rqp)
	for i := 1; i < pt.t; i++ {
		coeffs[i] = rqp.NewPoly()
		us.Read(coeffs[i])
	}
	poly := multiparty.ShamirPolynomial{Value: structs.Vector[ringqp.Poly](coeffs)}
	thr := multiparty.NewThresholdizer(pt.params.ckks)
	out := make([]*ThresholdShare, pt.n)
	for j := range out {
		s := &ThresholdShare{Params: pt.params.ID(), Job: pt.job, From: pt.id, To: uint32(j), Share: thr.AllocateThresholdSecretShare()}
		thr.GenShamirSecretShare(shamirPoint(uint32(j)), poly, &s.Share)
		out[j] = s
	}
	pt.shDone = true
	return out, nil
}

// AddThresholdShare adds party s.From's share for this party. Once every
// party's share is in, the party can release.
func (pt *Party) AddThresholdShare(s *ThresholdShare) error {
	const step = "ThresholdShare"
	if s.Params != pt.params.ID() {
		return bad(s.From, step, "share made under other parameters")
	}
	if s.Job != pt.job {
		return bad(s.From, step, "share for another job")
	}
	if int(s.From) >= pt.n {
		return bad(s.From, step, "sender out of range for n = %d", pt.n)
	}
	if s.To != pt.id {
		return bad(s.From, step, "share for party %d delivered to party %d", s.To, pt.id)
	}
	if pt.got[s.From] {
		return bad(s.From, step, "second share")
	}
	if err := pt.params.checkPolyQP(s.Share.Poly); err != nil {
		return &PartyError{Party: s.From, Step: step, Err: err}
	}
	if pt.tsk == nil {
		c := s.Share.CopyNew()
		pt.tsk = &multiparty.ShamirSecretShare{Poly: *c}
	} else {
		pt.params.ckks.RingQP().Add(pt.tsk.Poly, s.Share.Poly, pt.tsk.Poly)
	}
	pt.got[s.From] = true
	pt.gotCount++
	return nil
}

// Ready reports whether the party holds every threshold share.
func (pt *Party) Ready() bool { return pt.gotCount == pt.n }

// KeyAggregator collects the parties' key generation shares into the
// collective public key. It is the aggregator's side of setup.
type KeyAggregator struct {
	params *Params
	job    JobSeed
	n      int
	sum    multiparty.PublicKeyGenShare
	got    []bool
	count  int
}

// NewKeyAggregator prepares to collect n shares for job.
func NewKeyAggregator(p *Params, job JobSeed, n int) (*KeyAggregator, error) {
	if err := checkNT(n, 1); err != nil {
		return nil, err
	}
	return &KeyAggregator{params: p, job: job, n: n, got: make([]bool, n),
		sum: multiparty.NewPublicKeyGenProtocol(p.ckks).AllocateShare()}, nil
}

// Add adds one party's share.
func (k *KeyAggregator) Add(s *KeyGenShare) error {
	const step = "KeyGenShare"
	if s.Params != k.params.ID() {
		return bad(s.Party, step, "share made under other parameters")
	}
	if s.Job != k.job {
		return bad(s.Party, step, "share for another job")
	}
	if int(s.Party) >= k.n {
		return bad(s.Party, step, "party out of range for n = %d", k.n)
	}
	if k.got[s.Party] {
		return bad(s.Party, step, "second share")
	}
	if err := k.params.checkPolyQP(s.Share.Value); err != nil {
		return &PartyError{Party: s.Party, Step: step, Err: err}
	}
	k.params.ckks.RingQ().Add(k.sum.Value.Q, s.Share.Value.Q, k.sum.Value.Q)
	k.got[s.Party] = true
	k.count++
	return nil
}

// PublicKey returns the collective public key once every party's share is
// in, and ErrTooFewShares naming the missing parties otherwise.
func (k *KeyAggregator) PublicKey() (*PublicKey, error) {
	if k.count < k.n {
		return nil, fmt.Errorf("%w: key generation has %d of %d shares; missing parties %v", ErrTooFewShares, k.count, k.n, missing(k.got))
	}
	pk := rlwe.NewPublicKey(k.params.ckks)
	multiparty.NewPublicKeyGenProtocol(k.params.ckks).GenPublicKey(k.sum, k.params.crp(k.job), pk)
	return &PublicKey{Key: pk}, nil
}

func missing(got []bool) []uint32 {
	var m []uint32
	for i, g := range got {
		if !g {
			m = append(m, uint32(i))
			if len(m) == 16 {
				break
			}
		}
	}
	return m
}

// Receiver is the party a result is released to: it holds a fresh key
// pair and decrypts what the parties switched to its public key.
type Receiver struct {
	params *Params
	sk     *rlwe.SecretKey
	pk     *PublicKey
}

// NewReceiver samples a receiver key pair from rand.
func NewReceiver(p *Params, rand io.Reader) (*Receiver, error) {
	prng, _, err := newPRNG(rand)
	if err != nil {
		return nil, err
	}
	sk := p.genSecret(prng)
	pk := rlwe.NewPublicKey(p.ckks)
	ringqp.NewUniformSampler(prng, *p.ckks.RingQP()).Read(pk.Value[1])
	p.genPKShare(prng, sk, pk.Value[1].Q, pk.Value[0].Q)
	return &Receiver{params: p, sk: sk, pk: &PublicKey{Key: pk}}, nil
}

// PublicKey is the key the parties switch a release to.
func (r *Receiver) PublicKey() *PublicKey { return r.pk }

// parallel runs f(w, i) for i in [0, n) on min(n, GOMAXPROCS) goroutines; w
// is the worker's index, so f can use per-worker state made by mk.
func parallel[S any](n int, mk func() S, f func(s S, i int)) {
	w := min(n, runtime.GOMAXPROCS(0))
	if w <= 1 {
		if n > 0 {
			s := mk()
			for i := range n {
				f(s, i)
			}
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := mk()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(s, i)
			}
		}()
	}
	wg.Wait()
}

// sortedUnique reports whether ids is strictly increasing.
func sortedUnique(ids []uint32) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return false
		}
	}
	return true
}
