package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/cohort-mpc/cohort/federated/train"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/protocols/mhe"
	"github.com/cohort-mpc/cohort/protocols/sealed"
	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
)

// Policy decides a site's answer to a proposal. The node package implements
// real policies (allowed researchers, privacy modes, minimum sites, ε caps).
type Policy interface {
	// Decide returns nil to accept, or an error whose text is the reason for
	// the refusal (it is sent to the aggregator).
	Decide(ctx context.Context, p *Proposed) error
}

// Proposed is what a site's policy sees of a proposal.
type Proposed struct {
	ID         JobID
	Job        *Job
	JobFile    []byte
	Aggregator Peer
	Roster     []Peer
	// Researcher is the key that signed the job file (the site checked
	// the signature), or nil for a job nobody signed.
	Researcher ed25519.PublicKey
	// Data is what the site would compute on.
	Data SiteData
}

// DataSource finds a site's rows for a job. The node package's dataset
// registry implements it.
type DataSource interface {
	// SiteData returns the rows job names (by job.Dataset.Name), or an
	// error whose text is the reason to refuse the job.
	SiteData(ctx context.Context, job *Job) (SiteData, error)
}

// SiteRecorder receives what a site must be able to prove it did: each
// decision on a proposal and each charge to a dataset's privacy budget.
// *ledger.Log implements it. An error refuses the proposal or fails the
// round: nothing happens that is not recorded.
type SiteRecorder interface {
	SiteDecided(ctx context.Context, e *SiteDecided) error
	BudgetSpent(ctx context.Context, e *BudgetSpent) error
}

// BudgetSpent records a charge to a dataset's record-level privacy budget.
type BudgetSpent = ledger.BudgetSpent

var _ SiteRecorder = (*ledger.Log)(nil)

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, p *Proposed) error

// Decide calls f.
func (f PolicyFunc) Decide(ctx context.Context, p *Proposed) error { return f(ctx, p) }

// AcceptAll is the Policy of simulations: it accepts every proposal.
var AcceptAll Policy = PolicyFunc(func(context.Context, *Proposed) error { return nil })

// SiteData is a site's rows: what it trains on and what it evaluates on.
// Only the row counts ever leave the site.
type SiteData struct {
	// Dataset names the data in the site's DP ledger.
	Dataset string
	// Train and Test are the site's rows, unstandardised.
	Train, Test *federated.Batch
}

// SiteConfig configures a site.
type SiteConfig struct {
	// Self is the site's identity; Key must match Signer.
	Self   Peer
	Signer ed25519.PrivateKey
	// Data is what the site computes on, unless Datasets is set.
	Data SiteData
	// Datasets, if not nil, finds the rows of each job by the dataset
	// name the job gives; Data is then unused.
	Datasets DataSource
	// Recorder, if not nil, records the site's decisions and privacy
	// budget charges (the node's own ledger).
	Recorder SiteRecorder
	// Policy decides proposals (nil refuses every proposal).
	Policy Policy
	// Ledger records the ε the site spends (nil: an in-memory ledger with
	// no cap beyond each job's own budget).
	Ledger dp.Ledger
	// Backend runs the SecAgg+ masking.
	Backend tensor.Backend
	// Seed keys every random choice the site makes. The zero value draws
	// one from crypto/rand; a fixed seed reproduces a simulation exactly.
	Seed [32]byte
	// Witness, if not nil, is the site's ledger, with which it witnesses
	// (cosigns) its aggregators' ledgers at the end of each job.
	Witness Witness
	// Log receives the site's log lines (nil: discarded).
	Log *slog.Logger
}

// errGone is the error of a message for a job the site does not hold; the
// site answers it with KindGone.
var errGone = errors.New("engine: no such job here")

// checkData checks a site's rows and gives it an empty test batch if it
// has none.
func checkData(d SiteData) (SiteData, error) {
	if d.Train == nil || d.Train.Rows == 0 {
		return d, errors.New("no training rows")
	}
	if d.Test == nil {
		d.Test = &federated.Batch{Cols: d.Train.Cols}
	}
	if d.Test.Cols != d.Train.Cols {
		return d, fmt.Errorf("%d test columns, %d training columns", d.Test.Cols, d.Train.Cols)
	}
	return d, nil
}

// Site is a data owner's side of the engine: it answers the proposals and
// tasks an aggregator sends over a Conn, computing on its own rows and
// sending only masked, encrypted or (in plain mode) clear aggregates.
// A Site is safe for concurrent use; it keeps each job's state across
// reconnections, so an aggregator that restarts finds its sites where it
// left them.
type Site struct {
	cfg  SiteConfig
	seed [32]byte
	log  *slog.Logger

	mu struct {
		sync.Mutex
		jobs map[JobID]*siteJob // accepted jobs not yet finished
		done map[JobID][]float64
	}
}

// NewSite checks cfg and returns a site.
func NewSite(cfg SiteConfig) (*Site, error) {
	if len(cfg.Signer) != ed25519.PrivateKeySize || !bytes.Equal(cfg.Signer.Public().(ed25519.PublicKey), cfg.Self.Key) {
		return nil, fmt.Errorf("engine: site %q: the signer does not match its key", cfg.Self.Name)
	}
	if cfg.Datasets == nil {
		d, err := checkData(cfg.Data)
		if err != nil {
			return nil, fmt.Errorf("engine: site %q: %w", cfg.Self.Name, err)
		}
		cfg.Data = d
	}
	if cfg.Backend == nil {
		return nil, fmt.Errorf("engine: site %q: no tensor backend", cfg.Self.Name)
	}
	if cfg.Ledger == nil {
		cfg.Ledger = dp.NewMemoryLedger(math.Inf(1))
	}
	s := &Site{cfg: cfg, seed: cfg.Seed, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.seed == [32]byte{} {
		if _, err := crand.Read(s.seed[:]); err != nil {
			return nil, err
		}
	}
	s.mu.jobs = map[JobID]*siteJob{}
	s.mu.done = map[JobID][]float64{}
	return s, nil
}

// FinalModel returns the final model of a finished job this site took part
// in, as the aggregator sent it.
func (s *Site) FinalModel(id JobID) ([]float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mu.done[id]
	return m, ok
}

// Run keeps the site connected to the aggregator at addr: it dials, serves
// until the connection ends, and dials again with exponential backoff
// (from 10 ms to 1 s) until ctx is done. It returns ctx's error.
func (s *Site) Run(ctx context.Context, t Transport, addr string) error {
	backoff := 10 * time.Millisecond
	for {
		conn, err := t.Dial(ctx, addr, s.cfg.Self)
		if err == nil {
			backoff = 10 * time.Millisecond
			err = s.Serve(ctx, conn)
			conn.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Debug("connection to aggregator ended", "addr", addr, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Serve answers the messages that arrive on conn until it closes or ctx is
// done. A message the site cannot act on is answered with KindAbort and a
// reason; bytes that do not decode never stop the site.
func (s *Site) Serve(ctx context.Context, conn Conn) error {
	for {
		m, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		reply, err := s.handle(ctx, conn.Peer(), m)
		switch {
		case errors.Is(err, errGone):
			s.log.Info("a message for a job this site does not hold", "kind", m.Kind, "job", m.Job, "round", m.Round)
			reply = nil
			if m.Kind != KindAbort && m.Kind != KindFinish {
				reply = []*Message{{Kind: KindGone}}
			}
		case err != nil:
			s.log.Warn("refused a message", "kind", m.Kind, "job", m.Job, "round", m.Round, "err", err)
			reply = []*Message{{Kind: KindAbort, Body: reasonBody(err)}}
			if m.Kind == KindProposal {
				reply = nil // a proposal that does not decode has no job to abort
			}
		}
		for _, r := range reply {
			r.Job, r.Round, r.Attempt = m.Job, m.Round, m.Attempt
			if err := conn.Send(ctx, r); err != nil {
				return err
			}
		}
	}
}

func reasonBody(err error) []byte {
	b := []byte(err.Error())
	if len(b) > MaxName {
		b = b[:MaxName]
	}
	return b
}

// siteJob is a site's state for one accepted job.
type siteJob struct {
	id      JobID
	job     *Job
	roster  []Peer
	me      uint32
	agg     Peer
	model   federated.Model
	classes int
	data    SiteData // the rows the job computes on

	// Standardised copies of the site's rows, made on the first training
	// round from the federated statistics.
	zHash       [32]byte
	train, test *federated.Batch

	trained    map[uint32][32]byte // round → hash of the global model trained on
	updates    map[uint32]train.Update
	attempts   map[uint32]uint32 // round → last attempt taken part in
	dpRounds   int               // rounds trained with record-level DP
	dpCharged  map[uint32]bool
	dpZ        float64
	dpLocal    train.LocalFunc // DP-SGD, calibrated once per job
	cur        *siteRound
	sealKey    *sealed.Key
	sealAnn    *sealed.Announcement
	mheParams  *mhe.Params
	mheParties []uint32 // roster indices of the mhe parties, increasing
	mheAnn     []*sealed.Announcement
	party      *mhe.Party
	enc        *mhe.Encryptor
}

// siteRound is the state of the round attempt in progress.
type siteRound struct {
	round, attempt uint32
	start          *RoundStart
	me             uint32 // party index within start.Members
	client         *secagg.Client
	q32            []uint32
	q64            []uint64
}

func (s *Site) handle(ctx context.Context, agg Peer, m *Message) ([]*Message, error) {
	switch m.Kind {
	case KindProposal:
		return s.propose(ctx, agg, m)
	case KindCheckpoint:
		return s.witness(ctx, agg, m)
	}
	s.mu.Lock()
	j := s.mu.jobs[m.Job]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("%w: site %q: unknown job %v", errGone, s.cfg.Self.Name, m.Job)
	}
	if !bytes.Equal(agg.Key, j.agg.Key) {
		return nil, fmt.Errorf("engine: job %v: message from %q, who is not its aggregator", m.Job, agg.Name)
	}
	switch m.Kind {
	case KindRoundStart:
		return s.roundStart(ctx, j, m)
	case KindAbort:
		reason, _ := decodeReason(m.Body)
		s.log.Info("job aborted by the aggregator", "job", m.Job, "reason", reason)
		s.forget(j.id, nil)
		return nil, nil
	case KindFinish:
		final, err := decodeFloats(m.Body, "final model", j.model.NumParams())
		if err != nil {
			return nil, err
		}
		s.forget(j.id, final)
		s.log.Info("job finished", "job", m.Job, "name", j.job.Name)
		return nil, nil
	case KindMHESetup:
		return s.mheSetup(j, m)
	case KindMHEShares:
		return s.mheShares(j, m)
	case KindMHEPublicKey:
		return s.mhePublicKey(j, m)
	case KindMHEReleaseReq:
		return s.mheRelease(j, m)
	case KindSAKeyList, KindSABundle, KindSASurvivors, KindSAUnmaskReq:
		return s.secaggStep(j, m)
	}
	return nil, fmt.Errorf("engine: job %v: a site does not accept %v messages", m.Job, m.Kind)
}

func (s *Site) forget(id JobID, final []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.jobs, id)
	if final != nil {
		s.mu.done[id] = final
	}
}

func (s *Site) propose(ctx context.Context, agg Peer, m *Message) ([]*Message, error) {
	var p Proposal
	if err := p.UnmarshalBinary(m.Body); err != nil {
		return nil, err
	}
	if ProposalID(m.Body) != m.Job {
		return nil, fmt.Errorf("%w: proposal: job ID does not match its body", ErrMalformed)
	}
	// A resumed aggregator proposes its job again: the site keeps the
	// state, and its decision, of the job it already accepted.
	s.mu.Lock()
	old := s.mu.jobs[m.Job]
	s.mu.Unlock()
	if old != nil && bytes.Equal(old.agg.Key, agg.Key) {
		d := Decision{Accept: true, TrainRows: uint32(old.data.Train.Rows), TestRows: uint32(old.data.Test.Rows)}
		d.Sealing, _ = marshalOrNil(old.sealAnn)
		if err := SignDecision(s.cfg.Signer, m.Job, &d); err != nil {
			return nil, err
		}
		body, err := d.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return []*Message{{Kind: KindDecision, Body: body}}, nil
	}
	var data SiteData
	decide := func() (*siteJob, error) {
		if p.Researcher != nil && !VerifyJob(p.Researcher, p.JobFile, p.Signature) {
			return nil, errors.New("the researcher's signature of the job file does not verify")
		}
		job, err := ParseJob(bytes.NewReader(p.JobFile))
		if err != nil {
			return nil, err
		}
		me := -1
		for i, r := range p.Roster {
			if bytes.Equal(r.Key, s.cfg.Self.Key) {
				me = i
			}
		}
		if me < 0 {
			return nil, fmt.Errorf("site %q is not on the job's roster", s.cfg.Self.Name)
		}
		data = s.cfg.Data
		if s.cfg.Datasets != nil {
			if data, err = s.cfg.Datasets.SiteData(ctx, job); err != nil {
				return nil, err
			}
			if data, err = checkData(data); err != nil {
				return nil, fmt.Errorf("dataset %q: %w", job.Dataset.Name, err)
			}
		}
		j, err := s.newJob(m.Job, job, p.Roster, uint32(me), agg, data)
		if err != nil {
			return nil, err
		}
		pol := s.cfg.Policy
		if pol == nil {
			return nil, errors.New("the site has no policy")
		}
		if err := pol.Decide(ctx, &Proposed{ID: m.Job, Job: job, JobFile: p.JobFile, Aggregator: agg, Roster: p.Roster,
			Researcher: p.Researcher, Data: data}); err != nil {
			return nil, err
		}
		return j, nil
	}
	var d Decision
	j, err := decide()
	if data.Train != nil {
		d.TrainRows = uint32(data.Train.Rows)
	}
	if data.Test != nil {
		d.TestRows = uint32(data.Test.Rows)
	}
	if err != nil {
		d.Reason = err.Error()
		if len(d.Reason) > MaxName {
			d.Reason = d.Reason[:MaxName]
		}
	} else {
		d.Accept = true
		if j.job.Privacy == MHE {
			r := stream(&s.seed, labelSetup, j.id, 0, 0)
			j.sealKey, j.sealAnn, err = sealed.NewKey(r, s.cfg.Signer, j.me, j.id[:])
			if err != nil {
				return nil, err
			}
			if d.Sealing, err = j.sealAnn.MarshalBinary(); err != nil {
				return nil, err
			}
		}
	}
	if rec := s.cfg.Recorder; rec != nil {
		// The decision is on the site's own ledger before the aggregator
		// hears of it; a site that cannot record it refuses.
		e := &SiteDecided{Job: ledger.JobID(m.Job), Site: ledger.Party(s.cfg.Self), Accept: d.Accept, Reason: d.Reason, Rows: int(d.TrainRows)}
		if err := rec.SiteDecided(ctx, e); err != nil {
			s.log.Error("could not record a decision; refusing", "job", m.Job, "err", err)
			d = Decision{Reason: "the site could not record its decision"}
		}
	}
	if err := SignDecision(s.cfg.Signer, m.Job, &d); err != nil {
		return nil, err
	}
	if d.Accept {
		s.log.Info("accepted a job", "job", m.Job, "name", j.job.Name, "aggregator", agg.Name, "dataset", j.data.Dataset,
			"mode", j.job.Privacy, "rounds", j.job.Rounds, "rows", d.TrainRows)
	} else {
		s.log.Info("refused a job", "job", m.Job, "aggregator", agg.Name, "reason", d.Reason)
	}
	if d.Accept {
		s.mu.Lock()
		s.mu.jobs[j.id] = j
		s.mu.Unlock()
	}
	body, err := d.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return []*Message{{Kind: KindDecision, Body: body}}, nil
}

func marshalOrNil(a *sealed.Announcement) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	return a.MarshalBinary()
}

func (s *Site) newJob(id JobID, job *Job, roster []Peer, me uint32, agg Peer, data SiteData) (*siteJob, error) {
	classes := job.Dataset.Classes
	if classes < 0 {
		return nil, fmt.Errorf("dataset.columns: the label's categories must be declared for a federated job")
	}
	mdl, err := job.Model.New(data.Train.Cols, classes)
	if err != nil {
		return nil, fmt.Errorf("the site's %d features do not fit the job's model: %w", data.Train.Cols, err)
	}
	if want := featureCount(job.Dataset.Schema); want != 0 && want != data.Train.Cols {
		return nil, fmt.Errorf("the job wants %d features, the site's data has %d", want, data.Train.Cols)
	}
	j := &siteJob{id: id, job: job, roster: roster, me: me, agg: agg, model: mdl, classes: classes, data: data,
		trained: map[uint32][32]byte{}, updates: map[uint32]train.Update{}, attempts: map[uint32]uint32{}, dpCharged: map[uint32]bool{}}
	if job.Privacy == MHE {
		if j.mheParams, err = mhe.NewParams(job.MHE.Preset); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func hashFloats(v []float64) [32]byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return sha256.Sum256(b)
}

func (s *Site) roundStart(ctx context.Context, j *siteJob, m *Message) ([]*Message, error) {
	var st RoundStart
	if err := st.UnmarshalBinary(m.Body); err != nil {
		return nil, err
	}
	// Attempts only move forward, so protocol secrets are never reused.
	if last, ok := j.attempts[m.Round]; ok && m.Attempt <= last {
		return nil, fmt.Errorf("engine: round %d attempt %d: already took part in attempt %d", m.Round, m.Attempt, last)
	}
	me := -1
	for i, x := range st.Members {
		if x == j.me {
			me = i
		}
	}
	if me < 0 {
		return nil, fmt.Errorf("engine: round %d: this site is not among the round's members", m.Round)
	}
	j.attempts[m.Round] = m.Attempt
	j.cur = &siteRound{round: m.Round, attempt: m.Attempt, start: &st, me: uint32(me)}

	var ints []int64
	var real []float64
	switch st.Purpose {
	case PurposeStats:
		if m.Round != 0 {
			return nil, fmt.Errorf("engine: statistics in round %d, want round 0", m.Round)
		}
		ints = statsInts(data.SiteStats(j.data.Train))
	case PurposeTrain, PurposeEval:
		if m.Round == 0 {
			return nil, fmt.Errorf("engine: %v purpose in round 0", st.Purpose)
		}
		if len(st.Model) != j.model.NumParams() {
			return nil, fmt.Errorf("engine: round %d: global model of %d values, want %d", m.Round, len(st.Model), j.model.NumParams())
		}
		if err := j.standardise(j.data, st.Standardizer); err != nil {
			return nil, err
		}
		counts, err := train.Evaluate(j.model, st.Model, j.test, evalConfig(j.classes == 0))
		if err != nil {
			return nil, err
		}
		ints = countInts(&counts)
		if st.Purpose == PurposeTrain {
			u, err := s.train(ctx, j, m.Round, &st)
			if err != nil {
				return nil, err
			}
			w := float64(u.Samples) / float64(st.Scale)
			if j.job.SiteDP != nil {
				w = 1
			}
			if w > 1 {
				return nil, fmt.Errorf("engine: round %d: scale %d is below the site's %d rows", m.Round, st.Scale, u.Samples)
			}
			real = realPart(&u, w)
		}
	}
	switch {
	case j.job.Privacy == Plain:
		v := append(real, make([]float64, len(ints))...)
		for i, x := range ints {
			v[len(real)+i] = float64(x)
		}
		return []*Message{{Kind: KindPlainVector, Body: encodeFloats(v)}}, nil
	case j.job.Privacy == MHE && st.Purpose != PurposeStats:
		return s.mheEncrypt(j, m, real, ints)
	default:
		return s.secaggStart(j, m, real, ints)
	}
}

// standardise makes the standardised copies of the site's rows.
func (j *siteJob) standardise(d SiteData, z []float64) error {
	f := d.Train.Cols
	if len(z) != 2*f {
		return fmt.Errorf("engine: standardiser of %d values, want %d", len(z), 2*f)
	}
	h := hashFloats(z)
	if j.train != nil && h == j.zHash {
		return nil
	}
	if j.train != nil {
		return errors.New("engine: the standardiser changed during the job")
	}
	for i, s := range z[f:] {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("engine: standardiser: feature %d has scale %v", i, s)
		}
	}
	std := &data.Standardizer{Mean: z[:f], Std: z[f:]}
	tr := clone(d.Train)
	te := clone(d.Test)
	std.Transform(tr)
	std.Transform(te)
	j.train, j.test, j.zHash = tr, te, h
	return nil
}

func clone(b *federated.Batch) *federated.Batch {
	return &federated.Batch{X: append([]float64(nil), b.X...), Y: append([]float64(nil), b.Y...), Rows: b.Rows, Cols: b.Cols}
}

// train runs local training for a round, with DP as the job asks. A round
// is trained once per global model: a retried attempt with the same model
// reuses the update (same noise, so no new ε is spent); a different model
// for a round already trained is refused.
func (s *Site) train(ctx context.Context, j *siteJob, round uint32, st *RoundStart) (train.Update, error) {
	h := hashFloats(st.Model)
	if prev, ok := j.trained[round]; ok {
		if prev != h {
			return train.Update{}, fmt.Errorf("engine: round %d was already trained on a different global model", round)
		}
		return j.updates[round], nil
	}
	rng := rand.New(stream(&s.seed, labelTrain, j.id, round, 0))
	job := j.job
	var local train.LocalFunc = func(ctx context.Context, m federated.Model, p []float64, b *federated.Batch, rng *rand.Rand) (train.Update, error) {
		return train.Train(ctx, m, p, b, job.Local, rng)
	}
	if job.RecordDP != nil {
		if j.dpLocal == nil { // calibrate once per job: the noise search is slow
			f, z, err := train.DPSGD(job.Local, train.DPSGDConfig{Epsilon: job.RecordDP.Epsilon, Delta: job.RecordDP.Delta,
				Clip: job.RecordDP.Clip, Rounds: job.Rounds}, []int{j.train.Rows})
			if err != nil {
				return train.Update{}, err
			}
			j.dpLocal, j.dpZ = f, z
		}
		z := j.dpZ
		if j.dpRounds >= job.Rounds {
			return train.Update{}, fmt.Errorf("engine: record-level DP was calibrated for %d rounds, all spent", job.Rounds)
		}
		before, err := recordEpsilon(job, j.train.Rows, z, j.dpRounds)
		if err != nil {
			return train.Update{}, err
		}
		after, err := recordEpsilon(job, j.train.Rows, z, j.dpRounds+1)
		if err != nil {
			return train.Update{}, err
		}
		dataset := j.data.Dataset
		if dataset == "" {
			dataset = job.Dataset.Name
		}
		if err := s.cfg.Ledger.Charge(dataset, after-before); err != nil {
			return train.Update{}, err
		}
		if rec := s.cfg.Recorder; rec != nil {
			// Charged before the update leaves the site, and recorded
			// before it does: a charge is never lost, at worst counted
			// for an update that was not sent.
			total, err := s.cfg.Ledger.Spent(dataset)
			if err != nil {
				return train.Update{}, err
			}
			if err := rec.BudgetSpent(ctx, &BudgetSpent{Job: ledger.JobID(j.id), Dataset: dataset, Epsilon: after - before,
				Delta: job.RecordDP.Delta, Total: total}); err != nil {
				return train.Update{}, fmt.Errorf("engine: recording the ε spent: %w", err)
			}
		}
		j.dpRounds++
		local = j.dpLocal
	}
	if job.SiteDP != nil {
		z := job.SiteDP.NoiseMultiplier
		if job.Privacy == SecAgg {
			z = 0 // added in the ring after quantising, see secaggStart
		}
		f, err := train.SiteDP(local, train.SiteDPConfig{Clip: job.SiteDP.Clip, NoiseMultiplier: z, Sites: len(st.Members)})
		if err != nil {
			return train.Update{}, err
		}
		local = f
	}
	u, err := local(ctx, j.model, st.Model, j.train, rng)
	if err != nil {
		return train.Update{}, err
	}
	j.trained[round], j.updates[round] = h, u
	delete(j.updates, round-1)
	return u, nil
}

// recordEpsilon is the ε of r rounds of DP-SGD at a site of rows rows with
// noise multiplier z, as train.DPSGD accounts it.
func recordEpsilon(job *Job, rows int, z float64, r int) (float64, error) {
	if r == 0 {
		return 0, nil
	}
	b := job.Local.BatchSize
	q := min(1, float64(b)/float64(rows))
	steps := job.Local.Epochs * ((rows + b - 1) / b)
	eps, _, err := dp.Epsilon(q, z, r*steps, job.RecordDP.Delta)
	return eps, err
}
