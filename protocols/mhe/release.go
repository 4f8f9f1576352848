package mhe

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
)

// ReleaseRequest asks the parties in Active (exactly t of them, in
// increasing order) to switch Aggregate from the job's collective key to
// Receiver's key. The aggregator sends the same request to each of them.
type ReleaseRequest struct {
	Job       JobSeed
	Round     uint64
	Active    []uint32
	Receiver  *PublicKey
	Aggregate *Vector
}

// ReleaseShare is one active party's public-key-switching share: for each
// ciphertext (c0, c1) of the aggregate, (s_i·c1 + u·pk0 + e0 + e_flood,
// u·pk1 + e1) where s_i is the party's additive share of the collective
// secret for this active set and pk the receiver's key. Request binds it to
// one request (job, round, active set, receiver, aggregate ciphertexts).
type ReleaseShare struct {
	Params  ParamsID
	Round   uint64
	Party   uint32
	Request [32]byte
	Shares  []multiparty.PublicKeySwitchShare
}

// AggregateHash is SHA-256 over the aggregate's wire encoding, under a
// domain label: the identity of a ciphertext.
func (p *Params) AggregateHash(v *Vector) ([32]byte, error) {
	b, err := p.marshalVector(v)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte("cohort/mhe/aggregate/v1\x00"))
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// requestID binds a request: parameters, job, round, active set, receiver
// key and the aggregate's hash. It also returns the aggregate's hash.
func (p *Params) requestID(r *ReleaseRequest) (id, agg [32]byte, err error) {
	if r.Aggregate == nil || r.Receiver == nil || r.Receiver.Key == nil {
		return id, agg, fmt.Errorf("%w: request without aggregate or receiver key", ErrParams)
	}
	if agg, err = p.AggregateHash(r.Aggregate); err != nil {
		return id, agg, err
	}
	pk, err := p.marshalPublicKey(r.Receiver)
	if err != nil {
		return id, agg, err
	}
	h := sha256.New()
	h.Write([]byte("cohort/mhe/release/v1\x00"))
	h.Write(p.fp[:])
	h.Write(r.Job[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.Round)
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(len(r.Active)))
	h.Write(b[:])
	for _, a := range r.Active {
		binary.BigEndian.PutUint32(b[:4], a)
		h.Write(b[:4])
	}
	h.Write(pk)
	h.Write(agg[:])
	h.Sum(id[:0])
	return id, agg, nil
}

// checkActive validates an active set for n parties and threshold t.
func checkActive(active []uint32, n, t int) error {
	if len(active) != t {
		return fmt.Errorf("%w: %d active parties, the threshold is %d", ErrTooFewShares, len(active), t)
	}
	if !sortedUnique(active) {
		return fmt.Errorf("%w: active set not strictly increasing", ErrParams)
	}
	if int(active[len(active)-1]) >= n {
		return fmt.Errorf("%w: active party %d out of range for n = %d", ErrParams, active[len(active)-1], n)
	}
	return nil
}

type ksWorker struct {
	m, u, tmp ring.Poly
}

// ReleaseShare returns the party's share for req. It refuses (ErrStep) a
// second share for the same aggregate ciphertexts, even for another active
// set or receiver: Lattigo's SECURITY.md and Mouchet et al. 2024 show that
// shares of one ciphertext under different active sets leak the secret
// share. The shares of the ciphertexts are made in parallel on all cores.
func (pt *Party) ReleaseShare(req *ReleaseRequest) (*ReleaseShare, error) {
	const step = "ReleaseRequest"
	if !pt.Ready() {
		return nil, fmt.Errorf("%w: release before all %d threshold shares arrived (%d)", ErrStep, pt.n, pt.gotCount)
	}
	if req.Job != pt.job {
		return nil, bad(AggregatorParty, step, "request for another job")
	}
	if err := checkActive(req.Active, pt.n, pt.t); err != nil {
		return nil, &PartyError{Party: AggregatorParty, Step: step, Err: err}
	}
	me := -1
	for i, a := range req.Active {
		if a == pt.id {
			me = i
		}
	}
	if me < 0 {
		return nil, bad(AggregatorParty, step, "party %d is not in the active set", pt.id)
	}
	if req.Aggregate == nil || req.Aggregate.Round != req.Round || req.Aggregate.Party != AggregatorParty {
		return nil, bad(AggregatorParty, step, "aggregate missing, for another round or not the aggregator's")
	}
	if err := pt.params.checkVector(req.Aggregate); err != nil {
		return nil, &PartyError{Party: AggregatorParty, Step: step, Err: err}
	}
	if req.Receiver == nil || req.Receiver.Key == nil {
		return nil, bad(AggregatorParty, step, "no receiver key")
	}
	if err := pt.params.checkPublicKey(req.Receiver); err != nil {
		return nil, &PartyError{Party: AggregatorParty, Step: step, Err: err}
	}
	id, agg, err := pt.params.requestID(req)
	if err != nil {
		return nil, &PartyError{Party: AggregatorParty, Step: step, Err: err}
	}
	if pt.released[agg] {
		return nil, fmt.Errorf("%w: party %d already released a share of this aggregate", ErrStep, pt.id)
	}
	_, key, err := newPRNG(pt.rand)
	if err != nil {
		return nil, err
	}

	p := pt.params
	all := make([]multiparty.ShamirPublicPoint, pt.n)
	for i := range all {
		all[i] = shamirPoint(uint32(i))
	}
	active := make([]multiparty.ShamirPublicPoint, len(req.Active))
	for i, a := range req.Active {
		active[i] = shamirPoint(a)
	}
	own := shamirPoint(pt.id)
	cmb := multiparty.NewCombiner(p.ckks, own, all, pt.t)
	add := rlwe.NewSecretKey(p.ckks)
	if err := cmb.GenAdditiveShare(active, own, *pt.tsk, add); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParams, err)
	}

	rq := p.ckks.RingQ()
	pk := req.Receiver.Key
	cts := req.Aggregate.Cts
	out := &ReleaseShare{Params: p.ID(), Round: req.Round, Party: pt.id, Request: id, Shares: make([]multiparty.PublicKeySwitchShare, len(cts))}
	for i := range out.Shares {
		out.Shares[i] = multiparty.PublicKeySwitchShare{Element: *rlwe.NewElement(p.ckks, 1, 0)}
	}
	parallel(len(cts), func() *ksWorker {
		return &ksWorker{m: rq.NewPoly(), u: rq.NewPoly(), tmp: rq.NewPoly()}
	}, func(w *ksWorker, i int) {
		prng := subPRNG(&key, 'K', i)
		// The flooding noise goes into the coefficient-domain "message" of
		// a fresh encryption of zero under the receiver's key.
		mustSampler(prng, rq, p.flood).Read(w.m)
		sh := &rlwe.Ciphertext{Element: out.Shares[i].Element}
		p.encryptPk(prng, pk, w.m, w.u, w.tmp, sh)
		rq.MulCoeffsMontgomeryThenAdd(cts[i].Value[1], add.Value.Q, sh.Value[0])
	})
	pt.released[agg] = true
	return out, nil
}

// Release is the aggregator's side of a release: it checks and sums the
// active parties' shares and, once all t are in, returns the aggregate
// switched to the receiver's key. Not safe for concurrent use; each Add
// runs over the ciphertexts on all cores.
type Release struct {
	params *Params
	req    *ReleaseRequest
	id     [32]byte
	acc    *Vector
	got    map[uint32]bool
}

// NewRelease prepares to collect the shares of req for a job of n parties
// with threshold t.
func NewRelease(p *Params, req *ReleaseRequest, n, t int) (*Release, error) {
	if err := checkNT(n, t); err != nil {
		return nil, err
	}
	if err := checkActive(req.Active, n, t); err != nil {
		return nil, err
	}
	if req.Aggregate == nil || req.Aggregate.Round != req.Round {
		return nil, fmt.Errorf("%w: aggregate missing or for another round", ErrParams)
	}
	if err := p.checkVector(req.Aggregate); err != nil {
		return nil, err
	}
	if req.Receiver == nil || req.Receiver.Key == nil {
		return nil, fmt.Errorf("%w: no receiver key", ErrParams)
	}
	if err := p.checkPublicKey(req.Receiver); err != nil {
		return nil, err
	}
	id, _, err := p.requestID(req)
	if err != nil {
		return nil, err
	}
	r := &Release{params: p, req: req, id: id, got: map[uint32]bool{}}
	r.acc = p.newVector(req.Round, AggregatorParty, req.Aggregate.Length)
	for i, c := range req.Aggregate.Cts {
		r.acc.Cts[i].Value[0].Copy(c.Value[0])
	}
	return r, nil
}

// ID is the request identifier every share must carry.
func (r *Release) ID() [32]byte { return r.id }

// Add checks and adds one share. A share from a party outside the active
// set, a second share, a share for another request (another ciphertext,
// round, receiver or active set) or of the wrong shape is refused with a
// *PartyError naming s.Party; the release can still finish without it only
// if enough shares remain, which with exactly t active parties it cannot.
func (r *Release) Add(s *ReleaseShare) error {
	const step = "ReleaseShare"
	in := false
	for _, a := range r.req.Active {
		in = in || a == s.Party
	}
	switch {
	case s.Params != r.params.ID():
		return bad(s.Party, step, "share made under other parameters")
	case !in:
		return bad(s.Party, step, "party is not in the active set %v", r.req.Active)
	case r.got[s.Party]:
		return bad(s.Party, step, "second share")
	case s.Round != r.req.Round:
		return bad(s.Party, step, "share for round %d, the release is for round %d", s.Round, r.req.Round)
	case s.Request != r.id:
		return bad(s.Party, step, "share for another request (ciphertext, receiver or active set)")
	case len(s.Shares) != len(r.acc.Cts):
		return bad(s.Party, step, "%d ciphertext shares, want %d", len(s.Shares), len(r.acc.Cts))
	}
	for i := range s.Shares {
		if err := r.params.checkElement(&s.Shares[i].Element); err != nil {
			return &PartyError{Party: s.Party, Step: step, Err: fmt.Errorf("share %d: %w", i, err)}
		}
	}
	rq := r.params.ckks.RingQ()
	parallel(len(s.Shares), func() struct{} { return struct{}{} }, func(_ struct{}, i int) {
		a := r.acc.Cts[i]
		rq.Add(a.Value[0], s.Shares[i].Value[0], a.Value[0])
		rq.Add(a.Value[1], s.Shares[i].Value[1], a.Value[1])
	})
	r.got[s.Party] = true
	return nil
}

// Finish returns the aggregate under the receiver's key once all t active
// parties' shares are in, and ErrTooFewShares naming the missing parties
// otherwise.
func (r *Release) Finish() (*Vector, error) {
	if len(r.got) < len(r.req.Active) {
		var miss []uint32
		for _, a := range r.req.Active {
			if !r.got[a] {
				miss = append(miss, a)
			}
		}
		return nil, fmt.Errorf("%w: %d of %d decryption shares; missing parties %v", ErrTooFewShares, len(r.got), len(r.req.Active), miss)
	}
	return r.acc, nil
}

type decWorker struct {
	enc *ckks.Encoder
	pt  *rlwe.Plaintext
	buf []float64
}

// Decrypt decrypts and decodes a vector switched to this receiver's key,
// on all cores.
func (r *Receiver) Decrypt(v *Vector) ([]float64, error) {
	p := r.params
	if err := p.checkVector(v); err != nil {
		return nil, err
	}
	out := make([]float64, v.Length)
	rq := p.ckks.RingQ()
	slots := p.Slots()
	parallel(len(v.Cts), func() *decWorker {
		return &decWorker{enc: ckks.NewEncoder(p.ckks, 53), pt: ckks.NewPlaintext(p.ckks, 0), buf: make([]float64, slots)}
	}, func(w *decWorker, i int) {
		c := v.Cts[i]
		w.pt.IsNTT = true
		rq.MulCoeffsMontgomery(c.Value[1], r.sk.Value.Q, w.pt.Value)
		rq.Add(w.pt.Value, c.Value[0], w.pt.Value)
		if err := w.enc.Decode(w.pt, w.buf); err != nil {
			panic(err)
		}
		copy(out[i*slots:min((i+1)*slots, len(out))], w.buf)
	})
	return out, nil
}
