package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/protocols/mhe"
	"github.com/cohort-mpc/cohort/protocols/sealed"
	"github.com/cohort-mpc/cohort/protocols/secagg"
)

// The aggregator's side of each privacy mode, and the two primitives every
// phase is built from: broadcast (send each site its message) and collect
// (gather one message kind from a set of sites until all have answered, the
// phase's deadline passes, or too few are left to matter).

// broadcast sends each site in sites the message mk returns for it, in
// parallel, and returns the sites it reached.
func (r *run) broadcast(ctx context.Context, round, attempt uint32, sites []uint32, mk func(site uint32) (*Message, error)) []uint32 {
	var (
		mu  sync.Mutex
		ok  []uint32
		wg  sync.WaitGroup
		sem = make(chan struct{}, 64)
	)
	for _, s := range sites {
		m, err := mk(s)
		if err != nil {
			r.a.log.Warn("cannot build message", "site", r.roster[s].Name, "err", err)
			continue
		}
		if m == nil {
			continue
		}
		m.Job, m.Round, m.Attempt = r.st.ID, round, attempt
		c := r.a.conn(r.roster[s].Key)
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.Send(ctx, m); err != nil {
				r.a.log.Debug("send failed", "site", r.roster[s].Name, "kind", m.Kind, "err", err)
				return
			}
			mu.Lock()
			ok = append(ok, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(ok)
	return ok
}

// collect gathers messages of kind for (round, attempt) from the sites in
// want, calling fn for each, until every one has answered or failed or d
// passes. A site whose message fn refuses, that aborts, or whose connection
// breaks is out of the phase. It returns the sites whose message fn took,
// in increasing order.
func (r *run) collect(ctx context.Context, round, attempt uint32, kind Kind, want []uint32, d time.Duration, phase string,
	fn func(site uint32, body []byte) error) ([]uint32, error) {
	pending := make(map[uint32]bool, len(want))
	for _, s := range want {
		pending[s] = true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var got []uint32
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			for s := range pending {
				r.a.log.Info("site missed the deadline", "site", r.roster[s].Name, "phase", phase, "round", round)
			}
			pending = nil
		case in := <-r.a.inbox:
			s, ok := r.index[in.key]
			if !ok || !pending[s] {
				continue
			}
			if in.err != nil {
				r.a.log.Info("site disconnected", "site", r.roster[s].Name, "phase", phase, "err", in.err)
				delete(pending, s)
				continue
			}
			m := in.msg
			if m.Job != r.st.ID || m.Round != round || m.Attempt != attempt {
				continue // stale: an earlier attempt or job
			}
			switch m.Kind {
			case KindAbort:
				reason, _ := decodeReason(m.Body)
				r.a.log.Warn("site aborted", "site", r.roster[s].Name, "phase", phase, "reason", reason)
				delete(pending, s)
			case KindGone:
				r.a.log.Warn("site no longer holds the job; leaving it out of the job's further rounds", "site", r.roster[s].Name, "phase", phase)
				delete(pending, s)
				r.left[s] = true
			case kind:
				delete(pending, s)
				if err := fn(s, m.Body); err != nil {
					r.a.log.Warn("refused a message", "site", r.roster[s].Name, "kind", kind, "err", err)
					continue
				}
				got = append(got, s)
				r.progress(Progress{Round: int(round), Phase: phase, Done: len(got), Of: len(want)})
			}
		}
	}
	slices.Sort(got)
	return got, nil
}

// aggregate runs one attempt of a round with its members and returns the
// sum of the real parts, the sums of the integer parts and the roster
// indices of the contributors.
func (r *run) aggregate(ctx context.Context, round, attempt uint32, purpose Purpose, members []uint32) ([]float64, []float64, []uint32, error) {
	job := r.job
	st := &RoundStart{Purpose: purpose, Members: members, Scale: r.scale(members)}
	r.lastScale = st.Scale
	var l layout
	if purpose == PurposeStats {
		l = layout{counts: 1 + 2*r.features()}
		if featureCount(job.Dataset.Schema) == 0 {
			return nil, nil, nil, errors.New("engine: the job's schema names no features")
		}
	} else {
		st.Model, st.Standardizer = r.st.Model, r.st.Standardizer
		l = trainLayout(r.model.NumParams(), r.model.Outputs(), job.Dataset.Classes == 0, purpose)
	}
	body, err := st.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	start := func(uint32) (*Message, error) { return &Message{Kind: KindRoundStart, Body: body}, nil }
	phase := "train"
	if purpose == PurposeStats {
		phase = "statistics"
	} else if purpose == PurposeEval {
		phase = "evaluate"
	}
	switch {
	case job.Privacy == Plain:
		return r.plainRound(ctx, round, attempt, members, l, start, phase)
	case job.Privacy == MHE && purpose != PurposeStats:
		return r.mheRound(ctx, round, attempt, members, l, st.Scale, start, phase)
	default:
		return r.secaggRound(ctx, round, attempt, purpose, members, l, start, phase)
	}
}

func (r *run) plainRound(ctx context.Context, round, attempt uint32, members []uint32, l layout,
	start func(uint32) (*Message, error), phase string) ([]float64, []float64, []uint32, error) {
	sent := r.broadcast(ctx, round, attempt, members, start)
	vecs := map[uint32][]float64{}
	got, err := r.collect(ctx, round, attempt, KindPlainVector, sent, r.job.Deadlines.Train, phase, func(s uint32, b []byte) error {
		v, err := decodeFloats(b, "plain vector", l.len())
		if err != nil {
			return err
		}
		vecs[s] = v
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	// Sum in roster order, not arrival order, so a run is reproducible.
	sum := make([]float64, l.len())
	for _, s := range got {
		for i, x := range vecs[s] {
			sum[i] += x
		}
	}
	return sum[:l.real], sum[l.real:], got, nil
}

func (r *run) secaggRound(ctx context.Context, round, attempt uint32, purpose Purpose, members []uint32, l layout,
	start func(uint32) (*Message, error), phase string) ([]float64, []float64, []uint32, error) {
	job := r.job
	p, err := secaggParams(job, len(members), l.len(), purpose)
	if err != nil {
		return nil, nil, nil, err
	}
	keys := make([]ed25519.PublicKey, len(members))
	party := make(map[uint32]uint32, len(members)) // roster index → party index
	for i, m := range members {
		keys[i] = r.roster[m].Key
		party[m] = uint32(i)
	}
	srv, err := secagg.NewServer(p, secaggRoundID(r.st.ID, round, attempt), keys, r.a.cfg.Backend)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err := srv.Close(); err != nil {
			r.a.log.Warn("releasing the secure sum", "err", err)
		}
	}()
	// sender checks that a message names the party index of the site that sent it.
	sender := func(site, claimed uint32) error {
		if party[site] != claimed {
			return fmt.Errorf("%w: site %q sent a message as party %d", ErrMalformed, r.roster[site].Name, claimed)
		}
		return nil
	}
	toSites := func(parties []uint32) []uint32 {
		out := make([]uint32, len(parties))
		for i, p := range parties {
			out[i] = members[p]
		}
		return out
	}
	rec := job.Deadlines.Recovery

	sent := r.broadcast(ctx, round, attempt, members, start)
	alive, err := r.collect(ctx, round, attempt, KindSAAdvertise, sent, job.Deadlines.Train, phase, func(s uint32, b []byte) error {
		var m secagg.AdvertiseKeys
		if err := m.UnmarshalBinary(b); err != nil {
			return err
		}
		if err := sender(s, m.Sender); err != nil {
			return err
		}
		return srv.AddAdvertiseKeys(&m)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	kl, err := srv.KeyList()
	if err != nil {
		return nil, nil, nil, err
	}
	klb, err := kl.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	sent = r.broadcast(ctx, round, attempt, alive, func(uint32) (*Message, error) { return &Message{Kind: KindSAKeyList, Body: klb}, nil })
	alive, err = r.collect(ctx, round, attempt, KindSAShareKeys, sent, rec, "share keys", func(s uint32, b []byte) error {
		var m secagg.ShareKeys
		if err := m.UnmarshalBinary(b); err != nil {
			return err
		}
		if err := sender(s, m.Sender); err != nil {
			return err
		}
		return srv.AddShareKeys(&m)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	bundles, err := srv.ShareBundles()
	if err != nil {
		return nil, nil, nil, err
	}
	sent = r.broadcast(ctx, round, attempt, alive, func(s uint32) (*Message, error) {
		bd, ok := bundles[party[s]]
		if !ok {
			return nil, nil
		}
		return marshalMessage(KindSABundle, bd)
	})
	_, err = r.collect(ctx, round, attempt, KindSAMasked, sent, rec, "masked input", func(s uint32, b []byte) error {
		var m secagg.MaskedInput
		if err := m.UnmarshalBinary(b); err != nil {
			return err
		}
		if err := sender(s, m.Sender); err != nil {
			return err
		}
		return srv.AddMaskedInput(&m)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	sl, err := srv.SurvivorList()
	if err != nil {
		return nil, nil, nil, err
	}
	slb, err := sl.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	sent = r.broadcast(ctx, round, attempt, toSites(sl.Survivors), func(uint32) (*Message, error) {
		return &Message{Kind: KindSASurvivors, Body: slb}, nil
	})
	_, err = r.collect(ctx, round, attempt, KindSAConsistency, sent, rec, "consistency", func(s uint32, b []byte) error {
		var m secagg.ConsistencySig
		if err := m.UnmarshalBinary(b); err != nil {
			return err
		}
		if err := sender(s, m.Sender); err != nil {
			return err
		}
		return srv.AddConsistencySig(&m)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	ur, err := srv.UnmaskRequest()
	if err != nil {
		return nil, nil, nil, err
	}
	urb, err := ur.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	signers := make([]uint32, len(ur.Signatures))
	for i, s := range ur.Signatures {
		signers[i] = s.Sender
	}
	sent = r.broadcast(ctx, round, attempt, toSites(signers), func(uint32) (*Message, error) {
		return &Message{Kind: KindSAUnmaskReq, Body: urb}, nil
	})
	_, err = r.collect(ctx, round, attempt, KindSAUnmask, sent, rec, "unmask", func(s uint32, b []byte) error {
		var m secagg.UnmaskShares
		if err := m.UnmarshalBinary(b); err != nil {
			return err
		}
		if err := sender(s, m.Sender); err != nil {
			return err
		}
		return srv.AddUnmaskShares(&m)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	res, err := srv.Finish()
	if err != nil {
		return nil, nil, nil, err
	}
	for _, pe := range res.Misbehaved {
		r.a.log.Warn("site excluded for misbehaving", "site", r.roster[members[pe.Party]].Name, "err", pe)
	}
	real, ints, err := ringSums(r.a.cfg.Backend, p.FixedPoint(), res, l.real)
	if err != nil {
		return nil, nil, nil, err
	}
	return real, ints, toSites(res.Contributors), nil
}

func marshalMessage(k Kind, v binaryMarshaler) (*Message, error) {
	b, err := v.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Message{Kind: k, Body: b}, nil
}

// mheSetup runs the multiparty key generation with every site that
// accepted: each sends its key-generation share and, sealed for each other
// party, a Shamir share of its secret; the aggregator relays the sealed
// shares and, once every party holds its shares, sends out the collective
// public key. A party that drops out is left out and setup starts again.
func (r *run) mheSetup(ctx context.Context) error {
	job := r.job
	params, err := mhe.NewParams(job.MHE.Preset)
	if err != nil {
		return err
	}
	parties := r.accepted()
	for try := 0; try < r.a.cfg.MaxAttempts; try++ {
		parties = r.waitConnected(ctx, parties, job.Deadlines.Setup)
		n := len(parties)
		t := job.MHE.Threshold
		if t == 0 {
			t = n/2 + 1
		}
		if n < job.Sites.Quorum || t > n {
			return fmt.Errorf("%w: %d sites for the mhe keys, quorum %d, threshold %d", ErrQuorum, n, job.Sites.Quorum, t)
		}
		r.st.Attempts++
		if err := r.save(); err != nil {
			return err
		}
		attempt := r.st.Attempts
		body := mheSetupBody{Parties: parties, T: uint32(t)}
		for _, p := range parties {
			body.Keys = append(body.Keys, r.st.Decisions[p].Sealing)
		}
		sb := body.marshal()
		index := map[uint32]int{}
		for i, p := range parties {
			index[p] = i
		}
		ka, err := mhe.NewKeyAggregator(params, mheJobSeed(r.st.ID), n)
		if err != nil {
			return err
		}
		boxes := make([][][]byte, n) // by recipient party index
		sent := r.broadcast(ctx, 0, attempt, parties, func(uint32) (*Message, error) { return &Message{Kind: KindMHESetup, Body: sb}, nil })
		got, err := r.collect(ctx, 0, attempt, KindMHEKeyGen, sent, job.Deadlines.Setup, "mhe keys", func(s uint32, b []byte) error {
			lists, err := unmarshalByteLists(b, "mhe keygen", mhe.MaxParties+1)
			if err != nil {
				return err
			}
			if len(lists) != n {
				return fmt.Errorf("%w: mhe keygen with %d entries, want %d", ErrMalformed, len(lists), n)
			}
			var kg mhe.KeyGenShare
			if err := kg.UnmarshalBinary(lists[0]); err != nil {
				return err
			}
			if int(kg.Party) != index[s] {
				return fmt.Errorf("%w: key share of party %d from party %d", ErrMalformed, kg.Party, index[s])
			}
			if err := ka.Add(&kg); err != nil {
				return err
			}
			seen := map[int]bool{}
			for _, raw := range lists[1:] {
				to, err := boxRecipient(raw, uint32(s), parties)
				if err != nil {
					return err
				}
				if to == index[s] || seen[to] {
					return fmt.Errorf("%w: sealed shares repeat or address the sender", ErrMalformed)
				}
				seen[to] = true
				boxes[to] = append(boxes[to], raw)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(got) < n {
			parties = got
			continue
		}
		sent = r.broadcast(ctx, 0, attempt, parties, func(s uint32) (*Message, error) {
			return &Message{Kind: KindMHEShares, Body: marshalByteLists(boxes[index[s]]...)}, nil
		})
		got, err = r.collect(ctx, 0, attempt, KindMHEReady, sent, job.Deadlines.Setup, "mhe shares", func(uint32, []byte) error { return nil })
		if err != nil {
			return err
		}
		if len(got) < n {
			parties = got
			continue
		}
		pk, err := ka.PublicKey()
		if err != nil {
			return err
		}
		pkb, err := params.MarshalPublicKey(pk)
		if err != nil {
			return err
		}
		if reached := r.broadcast(ctx, 0, attempt, parties, func(uint32) (*Message, error) {
			return &Message{Kind: KindMHEPublicKey, Body: pkb}, nil
		}); len(reached) < n {
			parties = reached
			continue
		}
		r.st.MHEParties, r.st.MHET, r.st.MHEKey = parties, uint32(t), pkb
		return nil
	}
	return fmt.Errorf("engine: mhe key setup failed %d times", r.a.cfg.MaxAttempts)
}

// boxRecipient decodes a sealed box enough to route it: it must come from
// the sending site (by roster index) and go to another party.
func boxRecipient(raw []byte, from uint32, parties []uint32) (int, error) {
	var b sealed.Box
	if err := b.UnmarshalBinary(raw); err != nil {
		return 0, err
	}
	if b.From != from {
		return 0, fmt.Errorf("%w: sealed share claims sender %d, sent by %d", ErrMalformed, b.From, from)
	}
	i, ok := slices.BinarySearch(parties, b.To)
	if !ok {
		return 0, fmt.Errorf("%w: sealed share for %d, not an mhe party", ErrMalformed, b.To)
	}
	return i, nil
}

func (r *run) mheRound(ctx context.Context, round, attempt uint32, members []uint32, l layout, scale uint32,
	start func(uint32) (*Message, error), phase string) ([]float64, []float64, []uint32, error) {
	job := r.job
	params, err := mhe.NewParams(job.MHE.Preset)
	if err != nil {
		return nil, nil, nil, err
	}
	index := map[uint32]int{}
	for i, p := range r.st.MHEParties {
		index[p] = i
	}
	var in []uint32
	for _, m := range members {
		if _, ok := index[m]; ok {
			in = append(in, m)
		}
	}
	sum, err := mhe.NewSum(params, mheRound(round, attempt), l.len())
	if err != nil {
		return nil, nil, nil, err
	}
	sent := r.broadcast(ctx, round, attempt, in, start)
	got, err := r.collect(ctx, round, attempt, KindMHEVector, sent, job.Deadlines.Train, phase, func(s uint32, b []byte) error {
		v, err := params.UnmarshalVector(b)
		if err != nil {
			return err
		}
		if int(v.Party) != index[s] {
			return fmt.Errorf("%w: vector of party %d from party %d", ErrMalformed, v.Party, index[s])
		}
		return sum.Add(v, 1)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if len(got) < job.Sites.Quorum {
		return nil, nil, nil, fmt.Errorf("%w: %d sites contributed, the quorum is %d", ErrQuorum, len(got), job.Sites.Quorum)
	}
	// Release to a fresh key of the aggregator's, by exactly t connected
	// parties, contributors first.
	t := int(r.st.MHET)
	var active []uint32
	for _, s := range append(slices.Clone(got), r.st.MHEParties...) {
		if len(active) < t && !slices.Contains(active, s) && r.a.conn(r.roster[s].Key) != nil {
			active = append(active, s)
		}
	}
	if len(active) < t {
		return nil, nil, nil, fmt.Errorf("%w: %d mhe parties connected, the threshold is %d", ErrQuorum, len(active), t)
	}
	slices.Sort(active)
	activeIdx := make([]uint32, t)
	for i, s := range active {
		activeIdx[i] = uint32(index[s])
	}
	recv, err := mhe.NewReceiver(params, stream(&r.a.seed, labelAgg, r.st.ID, round, attempt))
	if err != nil {
		return nil, nil, nil, err
	}
	agg, err := sum.Result()
	if err != nil {
		return nil, nil, nil, err
	}
	req := &mhe.ReleaseRequest{Job: mheJobSeed(r.st.ID), Round: mheRound(round, attempt), Active: activeIdx, Receiver: recv.PublicKey(), Aggregate: agg}
	rel, err := mhe.NewRelease(params, req, len(r.st.MHEParties), t)
	if err != nil {
		return nil, nil, nil, err
	}
	rb, err := params.MarshalReleaseRequest(req)
	if err != nil {
		return nil, nil, nil, err
	}
	sent = r.broadcast(ctx, round, attempt, active, func(uint32) (*Message, error) { return &Message{Kind: KindMHEReleaseReq, Body: rb}, nil })
	if _, err := r.collect(ctx, round, attempt, KindMHERelease, sent, job.Deadlines.Recovery, "release", func(s uint32, b []byte) error {
		var sh mhe.ReleaseShare
		if err := sh.UnmarshalBinary(b); err != nil {
			return err
		}
		if int(sh.Party) != index[s] {
			return fmt.Errorf("%w: release share of party %d from party %d", ErrMalformed, sh.Party, index[s])
		}
		return rel.Add(&sh)
	}); err != nil {
		return nil, nil, nil, err
	}
	out, err := rel.Finish()
	if err != nil {
		return nil, nil, nil, err
	}
	vals, err := recv.Decrypt(out)
	if err != nil {
		return nil, nil, nil, err
	}
	real, ints := mheUnslot(vals[:l.len()], l.real, scale)
	return real, ints, got, nil
}
