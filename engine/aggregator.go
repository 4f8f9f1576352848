package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/train"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/tensor"
)

// Errors of a job run.
var (
	// ErrQuorum ends a round, and after its retries the job, when fewer
	// sites than the quorum contributed.
	ErrQuorum = errors.New("engine: below quorum")
	// ErrRefused ends a job that too few sites accepted.
	ErrRefused = errors.New("engine: proposal refused")
	// ErrFinished is returned by Resume for a job that already ended.
	ErrFinished = errors.New("engine: job already finished")
)

// DefaultMaxAttempts is how many times a round is tried before the job
// fails.
const DefaultMaxAttempts = 3

// AggregatorConfig configures an aggregator.
type AggregatorConfig struct {
	// Self is the aggregator's identity (its name shows in logs).
	Self Peer
	// Backend runs the SecAgg+ unmasking and the dequantisation.
	Backend tensor.Backend
	// Store persists each job's state after every round; nil runs jobs
	// that cannot be resumed.
	Store *Store
	// Recorder receives the auditable events; nil records nothing.
	Recorder Recorder
	// Checkpoints, if not nil, is the aggregator's ledger: at the end of
	// each job it signs a checkpoint and asks the job's sites to witness
	// (cosign) it. Usually the same *ledger.Log as Recorder.
	Checkpoints Checkpointer
	// Seed keys the aggregator's random choices (job seeds, site sampling
	// where the job has no seed, release keys). Zero draws one.
	Seed [32]byte
	// Progress, if not nil, is called as phases progress (from the
	// goroutine running the job).
	Progress func(Progress)
	// MaxAttempts per round (default DefaultMaxAttempts).
	MaxAttempts int
	// Reconnect is how long a round waits for a sampled site that is not
	// connected, once the job has run a round in this process (default
	// 2 s: two of a site's longest redial backoffs). The first round after
	// a start or resume waits up to the job's setup deadline.
	Reconnect time.Duration
	// Log receives the aggregator's log lines (nil: discarded).
	Log *slog.Logger
}

// Progress reports how far a job has got.
type Progress struct {
	Job    JobID
	Round  int    // 0 for setup, Rounds+1 for the final evaluation
	Rounds int    // the job's number of training rounds
	Phase  string // "proposal", "statistics", "mhe keys", "train", "evaluate", "committed", "retry"
	Done   int    // sites that completed the phase so far
	Of     int    // sites expected
	Record *RoundRecord
	Err    error // the failed attempt's error for Phase "retry"
}

// Result is the outcome of a job.
type Result struct {
	ID      JobID
	Job     *Job
	Model   federated.Model
	Params  []float64
	Rounds  []RoundRecord
	Sites   []SiteResult
	Elapsed time.Duration
	// Checkpoint is the aggregator's ledger checkpoint after the job, with
	// the cosignatures of the sites that witnessed it (nil without
	// AggregatorConfig.Checkpoints).
	Checkpoint []byte
}

// SiteResult is one site's part in a job.
type SiteResult struct {
	Peer      Peer
	Accepted  bool
	Reason    string
	TrainRows int
	TestRows  int
	Rounds    int     // rounds it contributed to
	Epsilon   float64 // record-level ε spent in the job; NaN without
}

// Aggregator runs jobs: it proposes them to their sites, drives the privacy
// mode's protocol each round, updates the model and persists the job. Sites
// connect to it through a Listener. It runs one job at a time.
type Aggregator struct {
	cfg   AggregatorConfig
	ln    Listener
	seed  [32]byte
	log   *slog.Logger
	inbox chan inbound
	done  chan struct{}
	wg    sync.WaitGroup

	mu struct {
		sync.Mutex
		conns     map[string]Conn   // by peer key
		witnessed map[string]uint64 // by peer key: the size it last cosigned
	}
}

// witnessedSize is the size of the aggregator's ledger that the site with
// key last cosigned in this process (0 if unknown: the site's reply says).
func (a *Aggregator) witnessedSize(key ed25519.PublicKey) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.witnessed[string(key)]
}

func (a *Aggregator) setWitnessed(key ed25519.PublicKey, size uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mu.witnessed == nil {
		a.mu.witnessed = make(map[string]uint64)
	}
	a.mu.witnessed[string(key)] = size
}

type inbound struct {
	key string
	msg *Message
	err error
}

// NewAggregator starts accepting site connections on ln. The returned
// shutdown function stops accepting, closes every connection and waits for
// the aggregator's goroutines; call it after the last Run or Resume
// returns.
func NewAggregator(cfg AggregatorConfig, ln Listener) (*Aggregator, func(), error) {
	if cfg.Backend == nil {
		return nil, nil, errors.New("engine: aggregator needs a tensor backend")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Reconnect <= 0 {
		cfg.Reconnect = 2 * time.Second
	}
	a := &Aggregator{cfg: cfg, ln: ln, seed: cfg.Seed, log: cfg.Log, inbox: make(chan inbound, 1<<12), done: make(chan struct{})}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.seed == [32]byte{} {
		if _, err := crand.Read(a.seed[:]); err != nil {
			return nil, nil, err
		}
	}
	a.mu.conns = map[string]Conn{}
	ctx, cancel := context.WithCancel(context.Background())
	a.wg.Add(1)
	go a.accept(ctx)
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			close(a.done)
			cancel()
			ln.Close()
			a.mu.Lock()
			for _, c := range a.mu.conns {
				c.Close()
			}
			a.mu.Unlock()
			a.wg.Wait()
		})
	}
	return a, shutdown, nil
}

func (a *Aggregator) accept(ctx context.Context) {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept(ctx)
		if err != nil {
			return
		}
		key := string(c.Peer().Key)
		a.mu.Lock()
		if old := a.mu.conns[key]; old != nil {
			old.Close() // a site that reconnects replaces its old connection
		}
		a.mu.conns[key] = c
		a.mu.Unlock()
		a.log.Debug("site connected", "site", c.Peer().Name)
		a.wg.Add(1)
		go a.read(ctx, key, c)
	}
}

func (a *Aggregator) read(ctx context.Context, key string, c Conn) {
	defer a.wg.Done()
	for {
		m, err := c.Recv(ctx)
		select {
		case a.inbox <- inbound{key: key, msg: m, err: err}:
		case <-a.done:
			return
		}
		if err != nil {
			a.mu.Lock()
			if a.mu.conns[key] == c {
				delete(a.mu.conns, key)
			}
			a.mu.Unlock()
			c.Close()
			return
		}
	}
}

func (a *Aggregator) conn(key []byte) Conn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mu.conns[string(key)]
}

// run is one job's state while it runs.
type run struct {
	a        *Aggregator
	st       *JobState
	job      *Job
	roster   []Peer
	index    map[string]uint32 // roster index by key
	model    federated.Model
	strategy train.Strategy
	seed     uint64
	start    time.Time
	dpZ      map[uint32]float64
	// warm is set once a round has waited for its sites in this process.
	warm bool
	// absent holds the sites a wait gave up on and that have not been
	// seen connected since (see waitConnected).
	absent map[uint32]bool
	// left holds the sites that answered KindGone: they no longer hold
	// the job (a site that restarted lost its state) and take no further
	// part in it.
	left map[uint32]bool
	// lastScale is the weight divisor of the last aggregate (see scale).
	lastScale uint32
}

// Submitter is who submitted a job: a researcher's key and its SignJob
// signature of the job file. Sites check the signature and give the key to
// their policy.
type Submitter struct {
	Key       ed25519.PublicKey
	Signature []byte
}

// Prepared is a job ready to be proposed: its ID is fixed (it hashes the
// proposal, seed included) before anything is sent.
type Prepared struct {
	ID   JobID
	Job  *Job
	body []byte
}

// Prepare checks a job file and its roster and fixes the job's proposal.
// by may be nil for a job nobody signed (simulations).
func (a *Aggregator) Prepare(jobFile []byte, roster []Peer, by *Submitter) (*Prepared, error) {
	job, err := ParseJob(bytes.NewReader(jobFile))
	if err != nil {
		return nil, err
	}
	if len(roster) < job.Sites.Quorum {
		return nil, fmt.Errorf("%w: %d sites on the roster, the job's quorum is %d", ErrRefused, len(roster), job.Sites.Quorum)
	}
	seed := job.Seed
	if seed == 0 {
		seed = rand.New(stream(&a.seed, labelAgg, JobID{}, 0, uint32(time.Now().UnixNano()))).Uint64() | 1
	}
	p := &Proposal{JobFile: jobFile, Seed: seed, Roster: roster}
	if by != nil {
		if !VerifyJob(by.Key, jobFile, by.Signature) {
			return nil, fmt.Errorf("%w: the submitter's signature of the job file does not verify", ErrRefused)
		}
		p.Researcher, p.Signature = by.Key, by.Signature
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Prepared{ID: ProposalID(body), Job: job, body: body}, nil
}

// Run proposes a job to the sites of roster and runs it to the end. The
// job file is sent to the sites as it is; each decides by its own policy.
func (a *Aggregator) Run(ctx context.Context, jobFile []byte, roster []Peer) (*Result, error) {
	p, err := a.Prepare(jobFile, roster, nil)
	if err != nil {
		return nil, err
	}
	return a.RunPrepared(ctx, p)
}

// RunPrepared proposes a prepared job and runs it to the end.
func (a *Aggregator) RunPrepared(ctx context.Context, p *Prepared) (*Result, error) {
	r, err := a.newRun(&JobState{ID: p.ID, Proposal: p.body})
	if err != nil {
		return nil, err
	}
	if err := r.propose(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, err // interrupted: nothing is decided, the job can be proposed again
		}
		return nil, r.fail(ctx, err)
	}
	return r.drive(ctx)
}

// Abort ends a job that is not running (never started here, or
// interrupted): its state records reason as its error, so it is never
// resumed, its sites are told to forget it, and the ledger records it as
// finished with that error. It fails with ErrFinished for a job that
// already ended.
func (a *Aggregator) Abort(ctx context.Context, id JobID, reason string) error {
	if a.cfg.Store == nil {
		return errors.New("engine: abort needs a store")
	}
	st, err := a.cfg.Store.Load(id)
	if err != nil {
		return err
	}
	if st.Err != "" {
		return fmt.Errorf("%w: %v: %s", ErrFinished, id, st.Err)
	}
	r, err := a.newRun(st)
	if err != nil {
		return err
	}
	if int(st.Next) > r.job.Rounds+1 {
		return fmt.Errorf("%w: %v", ErrFinished, id)
	}
	_ = r.fail(ctx, errors.New(reason))
	return nil
}

// Resume continues a job from its persisted state at the round after the
// last one completed. Its sites must still hold the job (they keep it in
// memory across reconnections); they are given until the job's setup
// deadline to reconnect.
func (a *Aggregator) Resume(ctx context.Context, id JobID) (*Result, error) {
	if a.cfg.Store == nil {
		return nil, errors.New("engine: resume needs a store")
	}
	st, err := a.cfg.Store.Load(id)
	if err != nil {
		return nil, err
	}
	if st.Err != "" || st.Decisions == nil {
		return nil, fmt.Errorf("%w: %v: %s", ErrFinished, id, st.Err)
	}
	r, err := a.newRun(st)
	if err != nil {
		return nil, err
	}
	if int(st.Next) > r.job.Rounds+1 {
		return nil, fmt.Errorf("%w: %v", ErrFinished, id)
	}
	a.log.Info("resuming job", "job", id, "round", st.Next)
	return r.drive(ctx)
}

func (a *Aggregator) newRun(st *JobState) (*run, error) {
	var p Proposal
	if err := p.UnmarshalBinary(st.Proposal); err != nil {
		return nil, err
	}
	job, err := ParseJob(bytes.NewReader(p.JobFile))
	if err != nil {
		return nil, err
	}
	r := &run{a: a, st: st, job: job, roster: p.Roster, index: map[string]uint32{}, seed: p.Seed, start: time.Now(), dpZ: map[uint32]float64{}, absent: map[uint32]bool{}, left: map[uint32]bool{}}
	for i, s := range p.Roster {
		r.index[string(s.Key)] = uint32(i)
	}
	return r, nil
}

func (r *run) progress(p Progress) {
	if r.a.cfg.Progress != nil {
		p.Job, p.Rounds = r.st.ID, r.job.Rounds
		r.a.cfg.Progress(p)
	}
}

func (r *run) save() error {
	if r.a.cfg.Store == nil {
		return nil
	}
	return r.a.cfg.Store.Save(r.st)
}

// fail records the job's failure and tells the sites.
func (r *run) fail(ctx context.Context, err error) error {
	r.st.Err = err.Error()
	if serr := r.save(); serr != nil {
		r.a.log.Error("cannot save failed job", "job", r.st.ID, "err", serr)
	}
	for i, d := range r.st.Decisions {
		if d.Accept {
			if c := r.a.conn(r.roster[i].Key); c != nil {
				c.Send(ctx, &Message{Job: r.st.ID, Kind: KindAbort, Body: reasonBody(err)})
			}
		}
	}
	if rec := r.a.cfg.Recorder; rec != nil {
		if rerr := rec.JobFinished(ctx, &JobFinished{Job: ledger.JobID(r.st.ID), Rounds: len(r.st.History), Err: err.Error(),
			Loss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN(), Time: time.Now()}); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// propose sends the proposal to every site as it connects and collects the
// decisions until all have answered or the decision deadline passes.
func (r *run) propose(ctx context.Context) error {
	a := r.a
	if rec := a.cfg.Recorder; rec != nil {
		var p Proposal
		_ = p.UnmarshalBinary(r.st.Proposal)
		if err := rec.JobProposed(ctx, &JobProposed{Job: ledger.JobID(r.st.ID), Name: r.job.Name, FileHash: sha256.Sum256(p.JobFile),
			Seed: r.seed, Mode: string(r.job.Privacy), Roster: parties(r.roster), Time: time.Now()}); err != nil {
			return err
		}
	}
	decisions := make([]*Decision, len(r.roster))
	sent := make([]bool, len(r.roster))
	deadline := time.NewTimer(r.job.Deadlines.Decision)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	answered := 0
	msg := &Message{Job: r.st.ID, Kind: KindProposal, Body: r.st.Proposal}
	for answered < len(r.roster) {
		for i, s := range r.roster {
			if !sent[i] {
				if c := a.conn(s.Key); c != nil {
					sent[i] = c.Send(ctx, msg) == nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			answered = len(r.roster)
		case <-tick.C:
		case in := <-a.inbox:
			i, ok := r.index[in.key]
			if !ok || decisions[i] != nil {
				continue
			}
			if in.err != nil {
				sent[i] = false
				continue
			}
			if in.msg.Job != r.st.ID || in.msg.Kind != KindDecision {
				continue
			}
			d := new(Decision)
			if err := d.UnmarshalBinary(in.msg.Body); err != nil {
				d = &Decision{Reason: "malformed decision: " + err.Error()}
			} else if !VerifyDecision(r.roster[i].Key, r.st.ID, d) {
				d = &Decision{Reason: "the decision does not carry the site's signature"}
			}
			decisions[i] = d
			answered++
			r.progress(Progress{Phase: "proposal", Done: answered, Of: len(r.roster)})
		}
	}
	r.st.Decisions = make([]Decision, len(r.roster))
	accepted := 0
	for i, d := range decisions {
		if d == nil {
			d = &Decision{Reason: "no answer before the decision deadline"}
		}
		if d.Accept && (d.TrainRows == 0 || r.job.Privacy == MHE && len(d.Sealing) == 0) {
			d = &Decision{Reason: "accepted without rows or without a sealing key"}
		}
		r.st.Decisions[i] = *d
		if d.Accept {
			accepted++
		}
		if rec := a.cfg.Recorder; rec != nil {
			if err := rec.SiteDecided(ctx, &SiteDecided{Job: ledger.JobID(r.st.ID), Site: ledger.Party(r.roster[i]), Accept: d.Accept, Reason: d.Reason,
				Rows: int(d.TrainRows), Time: time.Now()}); err != nil {
				return err
			}
		}
	}
	if accepted < r.job.Sites.Quorum {
		reasons := ""
		for i, d := range r.st.Decisions {
			if !d.Accept {
				reasons += fmt.Sprintf("; %s: %s", r.roster[i].Name, d.Reason)
			}
		}
		return fmt.Errorf("%w: %d of %d sites accepted, the quorum is %d%s", ErrRefused, accepted, len(r.roster), r.job.Sites.Quorum, reasons)
	}
	return r.save()
}

func (r *run) accepted() []uint32 {
	var out []uint32
	for i, d := range r.st.Decisions {
		if d.Accept {
			out = append(out, uint32(i))
		}
	}
	return out
}

// waitConnected waits until every site in sites is connected or d passes,
// and returns those connected, in the order of sites. A site that is still
// missing when d passes is marked absent: later waits do not wait for it
// (it takes part again as soon as it is connected at the start of a
// round), so a site that died costs one wait, not one per round.
func (r *run) waitConnected(ctx context.Context, sites []uint32, d time.Duration) []uint32 {
	end := time.Now().Add(d)
	for {
		var up []uint32
		waiting := false
		for _, s := range sites {
			switch {
			case r.a.conn(r.roster[s].Key) != nil:
				up = append(up, s)
				delete(r.absent, s)
			case !r.absent[s]:
				waiting = true
			}
		}
		if !waiting || ctx.Err() != nil {
			return up
		}
		if time.Now().After(end) {
			for _, s := range sites {
				if r.a.conn(r.roster[s].Key) == nil {
					r.absent[s] = true
					r.a.log.Info("site absent: not waiting for it until it reconnects", "job", r.st.ID, "site", r.roster[s].Name)
				}
			}
			return up
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// drive runs the job from its state to the end.
func (r *run) drive(ctx context.Context) (*Result, error) {
	job := r.job
	mdl, err := job.Model.New(r.features(), job.Dataset.Classes)
	if err != nil {
		return nil, r.fail(ctx, err)
	}
	r.model = mdl
	if r.strategy, err = job.Strategy.New(job.Local); err != nil {
		return nil, r.fail(ctx, err)
	}
	if len(r.st.Strategy) > 0 {
		ss, ok := r.strategy.(train.StatefulStrategy)
		if !ok {
			return nil, r.fail(ctx, fmt.Errorf("engine: saved strategy state for stateless %s", r.strategy.Name()))
		}
		if err := ss.UnmarshalState(r.st.Strategy); err != nil {
			return nil, r.fail(ctx, err)
		}
	}
	if r.st.Next == 0 {
		if err := r.setup(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, err // interrupted: Resume starts the setup again
			}
			return nil, r.fail(ctx, err)
		}
	}
	if len(r.st.Model) != mdl.NumParams() {
		return nil, r.fail(ctx, fmt.Errorf("%w: saved model of %d values, want %d", ErrMalformed, len(r.st.Model), mdl.NumParams()))
	}
	for int(r.st.Next) <= job.Rounds+1 {
		if err := r.round(ctx, r.st.Next); err != nil {
			if ctx.Err() != nil {
				return nil, err // interrupted: the state stays resumable
			}
			return nil, r.fail(ctx, err)
		}
	}
	return r.finish(ctx)
}

func (r *run) features() int {
	if f := featureCount(r.job.Dataset.Schema); f > 0 {
		return f
	}
	return len(r.st.Standardizer) / 2
}

// setup runs round 0: the statistics for standardisation, the mhe keys,
// and the initial model.
func (r *run) setup(ctx context.Context) error {
	job := r.job
	_, ints, _, err := r.attempts(ctx, 0, PurposeStats)
	if err != nil {
		return fmt.Errorf("engine: statistics round: %w", err)
	}
	stats, err := statsFromSums(ints)
	if err != nil {
		return err
	}
	z, err := data.NewStandardizer(stats, data.DefaultVarianceFloor)
	if err != nil {
		return fmt.Errorf("engine: standardisation: %w", err)
	}
	r.st.Standardizer = append(slices.Clone(z.Mean), z.Std...)
	if job.Privacy == MHE {
		if err := r.mheSetup(ctx); err != nil {
			return err
		}
	}
	r.st.Model = make([]float64, r.model.NumParams())
	r.model.Init(r.st.Model, rand.New(rand.NewPCG(r.seed, math.MaxUint64)))
	r.st.Next = 1
	return r.save()
}

// attempts runs a round until an attempt succeeds or MaxAttempts fail.
func (r *run) attempts(ctx context.Context, round uint32, purpose Purpose) (real, ints []float64, contributors []uint32, err error) {
	for try := 0; try < r.a.cfg.MaxAttempts; try++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		r.st.Attempts++
		if err := r.save(); err != nil { // never reuse an attempt number
			return nil, nil, nil, err
		}
		wait := r.job.Deadlines.Setup
		if r.warm {
			wait = min(wait, r.a.cfg.Reconnect)
		}
		sampled := slices.DeleteFunc(r.sample(round), func(s uint32) bool { return r.left[s] })
		members := r.waitConnected(ctx, sampled, wait)
		r.warm = true
		if len(members) < r.job.Sites.Quorum {
			err = fmt.Errorf("%w: %d of the round's sites are connected, the quorum is %d", ErrQuorum, len(members), r.job.Sites.Quorum)
		} else {
			real, ints, contributors, err = r.aggregate(ctx, round, r.st.Attempts, purpose, members)
			if err == nil && len(contributors) < r.job.Sites.Quorum {
				err = fmt.Errorf("%w: %d sites contributed, the quorum is %d", ErrQuorum, len(contributors), r.job.Sites.Quorum)
			}
		}
		if err == nil {
			return real, ints, contributors, nil
		}
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		r.a.log.Warn("round attempt failed", "job", r.st.ID, "round", round, "attempt", r.st.Attempts, "err", err)
		r.progress(Progress{Round: int(round), Phase: "retry", Err: err})
	}
	return nil, nil, nil, fmt.Errorf("round %d failed %d times, last: %w", round, r.a.cfg.MaxAttempts, err)
}

// sample picks a round's sites among those that accepted: all of them for
// setup and the final evaluation, else Sites.PerRound of them, drawn from
// the job's seed and the round number.
func (r *run) sample(round uint32) []uint32 {
	acc := r.accepted()
	if round == 0 || int(round) > r.job.Rounds {
		return acc
	}
	n := r.job.Sites.PerRound(len(acc))
	if n >= len(acc) {
		return acc
	}
	rng := rand.New(rand.NewPCG(r.seed, uint64(round)))
	perm := rng.Perm(len(acc))[:n]
	out := make([]uint32, n)
	for i, p := range perm {
		out[i] = acc[p]
	}
	slices.Sort(out)
	return out
}

// scale is the public weight divisor of a round: the most rows any member
// trains or evaluates on.
func (r *run) scale(members []uint32) uint32 {
	s := uint32(1)
	for _, m := range members {
		d := r.st.Decisions[m]
		s = max(s, d.TrainRows, d.TestRows)
	}
	return s
}

// round runs one training round (or the final evaluation) and commits it.
func (r *run) round(ctx context.Context, round uint32) error {
	job := r.job
	purpose := PurposeTrain
	if int(round) > job.Rounds {
		purpose = PurposeEval
	}
	began := time.Now()
	real, ints, contributors, err := r.attempts(ctx, round, purpose)
	if err != nil {
		return err
	}
	// The counts evaluate the model the sites received: the previous round's.
	like := train.NewCounts(r.model.Outputs(), evalConfig(job.Dataset.Classes == 0))
	counts, err := countsFromSums(like, ints)
	if err != nil {
		return err
	}
	if round > 1 {
		r.st.History[round-2].Test = counts.Metrics()
	}
	if purpose == PurposeEval {
		r.st.Next++
		return r.save()
	}
	d := r.model.NumParams()
	var sumW float64
	for _, c := range contributors {
		sumW += float64(r.st.Decisions[c].TrainRows)
	}
	mul := float64(r.lastScale)
	if job.SiteDP != nil {
		sumW, mul = float64(len(contributors)), 1
	}
	weighted := make([]float64, d)
	for i := range weighted {
		weighted[i] = mul * real[i]
	}
	r.strategy.Apply(r.st.Model, weighted, sumW)
	if ss, ok := r.strategy.(train.StatefulStrategy); ok {
		if r.st.Strategy, err = ss.MarshalState(); err != nil {
			return err
		}
	}
	rec := RoundRecord{Round: int(round), Attempt: r.st.Attempts, Contributors: contributors,
		TrainLoss: mul * LossCap * real[d] / sumW, Epsilon: math.NaN(), Duration: time.Since(began),
		ModelHash: hashFloats(r.st.Model)}
	eps := make([]float64, len(contributors))
	peers := make([]Peer, len(contributors))
	for i, c := range contributors {
		peers[i] = r.roster[c]
		eps[i] = r.epsilon(c, round)
		if !math.IsNaN(eps[i]) && (math.IsNaN(rec.Epsilon) || eps[i] > rec.Epsilon) {
			rec.Epsilon = eps[i]
		}
	}
	rec.Test = train.Metrics{Loss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN()}
	r.st.History = append(r.st.History, rec)
	r.st.Next++
	if err := r.save(); err != nil {
		return err
	}
	if rc := r.a.cfg.Recorder; rc != nil {
		if err := rc.RoundCommitted(ctx, &RoundCommitted{Job: ledger.JobID(r.st.ID), Round: int(round), Attempt: int(rec.Attempt),
			ModelHash: rec.ModelHash, Contributors: parties(peers), Epsilon: eps, Time: time.Now()}); err != nil {
			return err
		}
	}
	r.progress(Progress{Round: int(round), Phase: "committed", Record: &r.st.History[len(r.st.History)-1]})
	return nil
}

// epsilon is the record-level ε site c has spent in this job after round.
func (r *run) epsilon(c uint32, round uint32) float64 {
	if r.job.RecordDP == nil {
		return math.NaN()
	}
	rows := int(r.st.Decisions[c].TrainRows)
	z, ok := r.dpZ[c]
	if !ok {
		_, zz, err := train.DPSGD(r.job.Local, train.DPSGDConfig{Epsilon: r.job.RecordDP.Epsilon, Delta: r.job.RecordDP.Delta,
			Clip: r.job.RecordDP.Clip, Rounds: r.job.Rounds}, []int{rows})
		if err != nil {
			return math.NaN()
		}
		z, r.dpZ[c] = zz, zz
	}
	n := 0
	for _, h := range r.st.History {
		if slices.Contains(h.Contributors, c) {
			n++
		}
	}
	if int(round) > len(r.st.History) { // the round being committed
		n++
	}
	eps, err := recordEpsilon(r.job, rows, z, n)
	if err != nil {
		return math.NaN()
	}
	return eps
}

func (r *run) finish(ctx context.Context) (*Result, error) {
	body := encodeFloats(r.st.Model)
	for _, s := range r.accepted() {
		if c := r.a.conn(r.roster[s].Key); c != nil {
			c.Send(ctx, &Message{Job: r.st.ID, Kind: KindFinish, Round: r.st.Next, Body: body})
		}
	}
	res := &Result{ID: r.st.ID, Job: r.job, Model: r.model, Params: slices.Clone(r.st.Model), Rounds: slices.Clone(r.st.History), Elapsed: time.Since(r.start)}
	for i, d := range r.st.Decisions {
		sr := SiteResult{Peer: r.roster[i], Accepted: d.Accept, Reason: d.Reason, TrainRows: int(d.TrainRows), TestRows: int(d.TestRows), Epsilon: math.NaN()}
		for _, h := range r.st.History {
			if slices.Contains(h.Contributors, uint32(i)) {
				sr.Rounds++
			}
		}
		if r.job.RecordDP != nil && sr.Rounds > 0 {
			sr.Epsilon = r.epsilon(uint32(i), 0)
		}
		res.Sites = append(res.Sites, sr)
	}
	r.st.Next = uint32(r.job.Rounds + 2)
	if err := r.save(); err != nil {
		return nil, err
	}
	if rc := r.a.cfg.Recorder; rc != nil {
		last := train.Metrics{Loss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN()}
		if n := len(r.st.History); n > 0 {
			last = r.st.History[n-1].Test
		}
		if err := rc.JobFinished(ctx, &JobFinished{Job: ledger.JobID(r.st.ID), Rounds: len(r.st.History), ModelHash: hashFloats(r.st.Model),
			Loss: last.Loss, Accuracy: last.Accuracy, AUC: last.AUC, Time: time.Now()}); err != nil {
			return nil, err
		}
	}
	if r.a.cfg.Checkpoints != nil {
		cp, err := r.cosign(ctx)
		if err != nil {
			return nil, fmt.Errorf("engine: witnessing the ledger: %w", err)
		}
		res.Checkpoint = cp
	}
	return res, nil
}
