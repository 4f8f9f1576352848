package engine

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/protocols/mhe"
	"github.com/cohort-mpc/cohort/protocols/sealed"
	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
)

// The site's side of each privacy mode's steps.

func (s *Site) secaggStart(j *siteJob, m *Message, real []float64, ints []int64) ([]*Message, error) {
	cur := j.cur
	st := cur.start
	p, err := secaggParams(j.job, len(st.Members), len(real)+len(ints), st.Purpose)
	if err != nil {
		return nil, err
	}
	roster := make([]ed25519.PublicKey, len(st.Members))
	for i, x := range st.Members {
		if int(x) >= len(j.roster) {
			return nil, fmt.Errorf("%w: round member %d is not on the roster", ErrMalformed, x)
		}
		roster[i] = j.roster[x].Key
	}
	// Rounding randomness comes from the training stream, so a retried
	// attempt quantises to the same values and sums to the same result.
	var seed tensor.Seed
	tr := stream(&s.seed, labelTrain, j.id, m.Round, 1)
	tr.Read(seed[:])
	cur.q32, cur.q64 = ringVector(s.cfg.Backend, p.FixedPoint(), p.RingBits(), real, ints, &seed)
	if sd := j.job.SiteDP; sd != nil && st.Purpose == PurposeTrain && sd.NoiseMultiplier > 0 {
		addRingNoise(cur.q32, cur.q64, len(real), p.FixedPoint(), sd.NoiseMultiplier, sd.Clip, len(st.Members), rand.New(tr))
	}
	c, err := secagg.NewClient(p, secaggRoundID(j.id, m.Round, m.Attempt), cur.me, s.cfg.Signer, roster, s.cfg.Backend,
		stream(&s.seed, labelProtocol, j.id, m.Round, m.Attempt))
	if err != nil {
		return nil, err
	}
	cur.client = c
	adv, err := c.AdvertiseKeys()
	if err != nil {
		return nil, err
	}
	return marshalReply(KindSAAdvertise, adv)
}

type binaryMarshaler interface{ MarshalBinary() ([]byte, error) }

func marshalReply(k Kind, v binaryMarshaler) ([]*Message, error) {
	b, err := v.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return []*Message{{Kind: k, Body: b}}, nil
}

func (s *Site) secaggStep(j *siteJob, m *Message) ([]*Message, error) {
	cur := j.cur
	if cur == nil || cur.client == nil || cur.round != m.Round || cur.attempt != m.Attempt {
		return nil, fmt.Errorf("engine: %v for round %d attempt %d, which this site is not in", m.Kind, m.Round, m.Attempt)
	}
	c := cur.client
	switch m.Kind {
	case KindSAKeyList:
		var in secagg.KeyList
		if err := in.UnmarshalBinary(m.Body); err != nil {
			return nil, err
		}
		out, err := c.ShareKeys(&in)
		if err != nil {
			return nil, err
		}
		return marshalReply(KindSAShareKeys, out)
	case KindSABundle:
		var in secagg.ShareBundle
		if err := in.UnmarshalBinary(m.Body); err != nil {
			return nil, err
		}
		out, err := c.MaskedInputQuantized(&in, cur.q32, cur.q64)
		if err != nil {
			return nil, err
		}
		cur.q32, cur.q64 = nil, nil
		return marshalReply(KindSAMasked, out)
	case KindSASurvivors:
		var in secagg.SurvivorList
		if err := in.UnmarshalBinary(m.Body); err != nil {
			return nil, err
		}
		out, err := c.ConsistencyCheck(&in)
		if err != nil {
			return nil, err
		}
		return marshalReply(KindSAConsistency, out)
	case KindSAUnmaskReq:
		var in secagg.UnmaskRequest
		if err := in.UnmarshalBinary(m.Body); err != nil {
			return nil, err
		}
		out, err := c.Unmask(&in)
		if err != nil {
			return nil, err
		}
		cur.client = nil // the round is over for this site
		return marshalReply(KindSAUnmask, out)
	}
	return nil, fmt.Errorf("engine: unexpected %v", m.Kind)
}

// mheSetup makes the site's key-generation share and seals a Shamir share of
// its secret for every other party.
func (s *Site) mheSetup(j *siteJob, m *Message) ([]*Message, error) {
	if j.sealKey == nil {
		return nil, fmt.Errorf("engine: mhe setup for a job that is not in mhe mode")
	}
	var b mheSetupBody
	if err := b.unmarshal(m.Body); err != nil {
		return nil, err
	}
	anns, err := verifyAnnouncements(&b, j.roster, j.id)
	if err != nil {
		return nil, err
	}
	me := -1
	for i, x := range b.Parties {
		if x == j.me {
			me = i
		}
	}
	if me < 0 {
		return nil, fmt.Errorf("engine: mhe setup: this site is not among the parties")
	}
	r := stream(&s.seed, labelProtocol, j.id, 0, m.Attempt)
	party, err := mhe.NewParty(j.mheParams, mheJobSeed(j.id), uint32(me), len(b.Parties), int(b.T), r)
	if err != nil {
		return nil, err
	}
	kg, err := party.KeyGenShare()
	if err != nil {
		return nil, err
	}
	kgb, err := kg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	shares, err := party.ThresholdShares()
	if err != nil {
		return nil, err
	}
	lists := [][]byte{kgb}
	for i, sh := range shares {
		if i == me {
			if err := party.AddThresholdShare(sh); err != nil {
				return nil, err
			}
			continue
		}
		pt, err := sh.MarshalBinary()
		if err != nil {
			return nil, err
		}
		box, err := j.sealKey.Seal(r, anns[i], pt)
		if err != nil {
			return nil, err
		}
		bb, err := box.MarshalBinary()
		if err != nil {
			return nil, err
		}
		lists = append(lists, bb)
	}
	j.party, j.mheParties, j.mheAnn, j.enc = party, b.Parties, anns, nil
	return []*Message{{Kind: KindMHEKeyGen, Body: marshalByteLists(lists...)}}, nil
}

// mheShares opens the threshold shares the other parties sealed for this one.
func (s *Site) mheShares(j *siteJob, m *Message) ([]*Message, error) {
	if j.party == nil {
		return nil, fmt.Errorf("engine: mhe shares before setup")
	}
	boxes, err := unmarshalByteLists(m.Body, "mhe shares", mhe.MaxParties)
	if err != nil {
		return nil, err
	}
	for _, raw := range boxes {
		var box sealed.Box
		if err := box.UnmarshalBinary(raw); err != nil {
			return nil, err
		}
		if box.To != j.mheAnn[j.party.ID()].Party {
			return nil, fmt.Errorf("%w: sealed share from %d to %d", ErrMalformed, box.From, box.To)
		}
		from := -1
		for i, a := range j.mheAnn {
			if a.Party == box.From {
				from = i
			}
		}
		if from < 0 {
			return nil, fmt.Errorf("%w: sealed share from %d, not an mhe party", ErrMalformed, box.From)
		}
		pt, err := j.sealKey.Open(j.mheAnn[from], &box)
		if err != nil {
			return nil, err
		}
		var sh mhe.ThresholdShare
		if err := sh.UnmarshalBinary(pt); err != nil {
			return nil, err
		}
		if sh.From != uint32(from) || sh.To != j.party.ID() {
			return nil, fmt.Errorf("%w: sealed share from party %d holds a share from %d to %d", ErrMalformed, from, sh.From, sh.To)
		}
		if err := j.party.AddThresholdShare(&sh); err != nil {
			return nil, err
		}
	}
	if !j.party.Ready() {
		return nil, fmt.Errorf("engine: mhe setup: threshold shares missing")
	}
	return []*Message{{Kind: KindMHEReady}}, nil
}

func (s *Site) mhePublicKey(j *siteJob, m *Message) ([]*Message, error) {
	if j.party == nil || !j.party.Ready() {
		return nil, fmt.Errorf("engine: mhe public key before the threshold shares")
	}
	pk, err := j.mheParams.UnmarshalPublicKey(m.Body)
	if err != nil {
		return nil, err
	}
	enc, err := mhe.NewEncryptor(j.mheParams, pk)
	if err != nil {
		return nil, err
	}
	j.enc = enc
	return nil, nil
}

func (s *Site) mheEncrypt(j *siteJob, m *Message, real []float64, ints []int64) ([]*Message, error) {
	if j.enc == nil {
		return nil, fmt.Errorf("engine: mhe round before the collective key")
	}
	me := -1
	for i, x := range j.mheParties {
		if x == j.me {
			me = i
		}
	}
	v, err := j.enc.Encrypt(mheRound(m.Round, m.Attempt), uint32(me), mheSlots(real, ints, j.cur.start.Scale), 1,
		stream(&s.seed, labelProtocol, j.id, m.Round, m.Attempt))
	if err != nil {
		return nil, err
	}
	b, err := j.mheParams.MarshalVector(v)
	if err != nil {
		return nil, err
	}
	return []*Message{{Kind: KindMHEVector, Body: b}}, nil
}

func (s *Site) mheRelease(j *siteJob, m *Message) ([]*Message, error) {
	if j.party == nil || !j.party.Ready() {
		return nil, fmt.Errorf("engine: mhe release before setup")
	}
	req, err := j.mheParams.UnmarshalReleaseRequest(m.Body)
	if err != nil {
		return nil, err
	}
	if req.Job != mheJobSeed(j.id) || req.Round != mheRound(m.Round, m.Attempt) {
		return nil, fmt.Errorf("%w: release request for another job or round", ErrMalformed)
	}
	share, err := j.party.ReleaseShare(req)
	if err != nil {
		return nil, err
	}
	return marshalReply(KindMHERelease, share)
}
