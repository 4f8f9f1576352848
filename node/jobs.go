package node

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/engine/report"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
)

// The states of a job: queued → running → finished, failed or cancelled.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateFinished  = "finished"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Errors of the jobs service.
var (
	// ErrNotSubmitter is a researcher acting on a job another submitted.
	ErrNotSubmitter = errors.New("node: not the job's submitter")
	// ErrJobEnded is a request that needs a queued or running job.
	ErrJobEnded = errors.New("node: job already ended")
	// ErrNotFinished is a request for the result of a job that has none.
	ErrNotFinished = errors.New("node: job has no result")
	// ErrJobExists is a job submitted twice (same file, seed and sites).
	ErrJobExists = errors.New("node: job already submitted")
	// ErrJobsClosed is a request made after the jobs service shut down.
	ErrJobsClosed = errors.New("node: jobs service shut down")
)

// The files of a job folder, DIR/jobs/ID.
const (
	jobsDir         = "jobs"
	jobInfoFile     = "info.json"
	jobFileName     = "job.toml"
	jobSigFile      = "job.sig"
	jobReadme       = "README.txt"
	jobModelFile    = "model.json"
	jobMetricsFile  = "metrics.csv"
	jobPlotFile     = "training.png"
	jobReceiptsDir  = "receipts"
	jobCheckpoint   = "checkpoint"
	jobVerifierFile = "log.vkey"
)

// JobsConfig configures the jobs service of an aggregator node.
type JobsConfig struct {
	// Aggregator runs the jobs. Its AggregatorConfig.Progress must pass
	// every report to Jobs.Progress.
	Aggregator *engine.Aggregator
	// Store is the aggregator's job states (engine.OpenStore).
	Store *engine.Store
	// Dir holds DIR/jobs: one folder per job with its info.json, its job
	// file and signature, and its result files once it finished.
	Dir string
	// Roster returns the sites to propose a job to now.
	Roster func() []engine.Peer
	// Ledger is the aggregator's ledger; a finished job's receipts are
	// proofs of its entries. Nil writes no receipts.
	Ledger *ledger.Log
	// Log receives the service's log lines (nil: discarded).
	Log *slog.Logger
}

// JobInfo is what the node tells a researcher about a job.
type JobInfo struct {
	ID         engine.JobID
	Name       string
	State      string // StateQueued, StateRunning, ...
	Researcher string // the submitter's did:key
	Rounds     int
	Round      int    // the last round committed
	Error      string // why the job failed or was cancelled
	Submitted  time.Time
	Finished   time.Time // zero until the job ends
	Mode       string
	Sites      []string // the names of the sites it was proposed to
}

// RoundMetrics are one committed round's figures.
type RoundMetrics struct {
	Round        int
	Attempt      int
	Contributors []string // site names
	TrainLoss    float64
	// TestLoss, Accuracy and AUC evaluate the round's model on the sites'
	// held-out rows; NaN if the job ended before they were known.
	TestLoss  float64
	Accuracy  float64
	AUC       float64
	Epsilon   float64 // NaN without record-level DP
	Duration  time.Duration
	ModelHash [32]byte
}

// Event is one step of a job: a phase of the engine's progress, a
// committed round, or a change of state.
type Event struct {
	// Job is the job as it was when the event happened.
	Job JobInfo
	// Phase is the engine's phase ("proposal", "statistics", "mhe keys",
	// "train", "evaluate", "committed", "retry") or the job's new state.
	Phase  string
	Round  int
	Rounds int
	Done   int
	Of     int
	// Metrics are set for phase "committed" and for StateFinished (the
	// last round). A round is reported once its model has been evaluated:
	// when the next round has aggregated, or when the job ends.
	Metrics *RoundMetrics
	// Err is the failed attempt's error for phase "retry".
	Err string
}

// jobRecord is a job's info.json.
type jobRecord struct {
	Seq        int           `json:"seq"`
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	State      string        `json:"state"`
	Researcher string        `json:"researcher"`
	Rounds     int           `json:"rounds"`
	Round      int           `json:"round"`
	Error      string        `json:"error,omitempty"`
	Submitted  time.Time     `json:"submitted"`
	Started    time.Time     `json:"started,omitzero"`
	Finished   time.Time     `json:"finished,omitzero"`
	Mode       string        `json:"mode"`
	Seeded     bool          `json:"seeded"`
	Roster     []rosterEntry `json:"roster"`
	// LedgerStart is the ledger's size when the job first ran: its
	// entries are at or after it.
	LedgerStart *uint64  `json:"ledger_start,omitempty"`
	Files       []string `json:"files,omitempty"`
}

// rosterEntry is one site a job was proposed to.
type rosterEntry struct {
	Name string `json:"name"`
	DID  string `json:"did"`
}

// seqEvent is an event and its position in the job's stream.
type seqEvent struct {
	seq int
	ev  Event
}

// job is the service's state of one job.
type job struct {
	id  engine.JobID
	rec jobRecord
	// prepared is the proposal fixed at submission (nil after a restart).
	prepared *engine.Prepared
	// resume is set for a job that was running when the node stopped.
	resume bool
	// pending is the last round committed, not yet reported: its test
	// metrics are known once the next round has aggregated them. emitted
	// is the last round reported.
	pending *engine.RoundRecord
	emitted int
	events  []seqEvent
	nextSeq int
	changed chan struct{} // closed and replaced on each event
	// While the job runs: its context's cancel function, closed when the
	// run has ended and its state is settled, and who cancelled it.
	cancel      context.CancelFunc
	stopped     chan struct{}
	cancelledBy string
}

func (jb *job) ended() bool {
	switch jb.rec.State {
	case StateFinished, StateFailed, StateCancelled:
		return true
	}
	return false
}

func (jb *job) info() JobInfo {
	r := &jb.rec
	in := JobInfo{ID: jb.id, Name: r.Name, State: r.State, Researcher: r.Researcher, Rounds: r.Rounds, Round: r.Round,
		Error: r.Error, Submitted: r.Submitted, Finished: r.Finished, Mode: r.Mode}
	for _, s := range r.Roster {
		in.Sites = append(in.Sites, s.Name)
	}
	return in
}

// Jobs is an aggregator node's job service: researchers submit signed jobs,
// which run one at a time in submission order; they watch them, fetch
// their results and cancel them. A job's state survives a restart of the
// node: a running job resumes at the round after its last committed one.
type Jobs struct {
	cfg    JobsConfig
	log    *slog.Logger
	dir    string
	wake   chan struct{}
	closed chan struct{}
	ctx    context.Context
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		jobs  map[engine.JobID]*job
		order []*job // by submission
		queue []*job
		seq   int
	}
}

// NewJobs opens the jobs service on cfg.Dir, queues again the jobs that
// were queued or running when the node stopped, and starts running them.
// The returned shutdown function interrupts the running job (the engine
// keeps it resumable at its last committed round) and waits for it.
func NewJobs(cfg JobsConfig) (*Jobs, func(), error) {
	switch {
	case cfg.Aggregator == nil:
		return nil, nil, errors.New("node: jobs: no aggregator")
	case cfg.Store == nil:
		return nil, nil, errors.New("node: jobs: no job store")
	case cfg.Dir == "":
		return nil, nil, errors.New("node: jobs: no folder")
	case cfg.Roster == nil:
		return nil, nil, errors.New("node: jobs: no roster")
	}
	j := &Jobs{cfg: cfg, log: cfg.Log, dir: filepath.Join(cfg.Dir, jobsDir), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	j.mu.jobs = map[engine.JobID]*job{}
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("node: jobs: %w", err)
	}
	if err := j.load(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.ctx = ctx
	j.wg.Add(1)
	go j.work()
	j.signal()
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			close(j.closed)
			cancel()
			j.wg.Wait()
		})
	}
	return j, shutdown, nil
}

// load reads the job folders.
func (j *Jobs) load() error {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return fmt.Errorf("node: jobs: %w", err)
	}
	var jobs []*job
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(j.dir, e.Name(), jobInfoFile))
		if errors.Is(err, os.ErrNotExist) {
			j.log.Warn("job folder without info.json, ignored", "dir", e.Name())
			continue
		}
		if err != nil {
			return fmt.Errorf("node: jobs: %w", err)
		}
		jb := &job{changed: make(chan struct{})}
		if err := json.Unmarshal(b, &jb.rec); err != nil {
			return fmt.Errorf("node: jobs: %s/%s: %w", e.Name(), jobInfoFile, err)
		}
		if jb.id, err = ParseJobID(jb.rec.ID); err != nil || jb.rec.ID != e.Name() {
			return fmt.Errorf("node: jobs: %s/%s holds job %q", e.Name(), jobInfoFile, jb.rec.ID)
		}
		jobs = append(jobs, jb)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].rec.Seq < jobs[b].rec.Seq })
	for _, jb := range jobs {
		j.mu.jobs[jb.id] = jb
		j.mu.order = append(j.mu.order, jb)
		j.mu.seq = max(j.mu.seq, jb.rec.Seq)
		if jb.rec.State == StateRunning {
			jb.resume = true
			// Replay the rounds it has committed.
			if st, err := j.cfg.Store.Load(jb.id); err == nil && len(st.History) > 0 {
				n := len(st.History)
				for i := range st.History[:n-1] {
					j.committedLocked(jb, &st.History[i])
				}
				jb.pending = &st.History[n-1]
			}
		}
		j.emitLocked(jb, Event{Phase: jb.rec.State, Round: jb.rec.Round, Rounds: jb.rec.Rounds, Err: jb.rec.Error})
		if !jb.ended() {
			j.mu.queue = append(j.mu.queue, jb)
		}
	}
	return nil
}

// ParseJobID parses a job ID: 32 lowercase hex digits.
func ParseJobID(s string) (engine.JobID, error) {
	var id engine.JobID
	if len(s) != 2*len(id) || strings.ToLower(s) != s {
		return id, fmt.Errorf("%w: job ID %.40q: want 32 lowercase hex digits", ErrInvalid, s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: job ID %.40q: want 32 lowercase hex digits", ErrInvalid, s)
	}
	return id, nil
}

// Submit checks a researcher's signed job file, fixes its proposal to the
// sites of the roster and queues it.
func (j *Jobs) Submit(ctx context.Context, by Caller, jobFile, sig []byte) (JobInfo, error) {
	if len(jobFile) == 0 {
		return JobInfo{}, fmt.Errorf("%w: empty job file", ErrInvalid)
	}
	if len(jobFile) > engine.MaxJobFile {
		return JobInfo{}, fmt.Errorf("%w: job file of %d bytes (at most %d)", ErrInvalid, len(jobFile), engine.MaxJobFile)
	}
	if !engine.VerifyJob(by.Key, jobFile, sig) {
		return JobInfo{}, fmt.Errorf("%w: the job file's signature does not verify with the key of %s", ErrInvalid, by.DID)
	}
	roster := j.cfg.Roster()
	p, err := j.cfg.Aggregator.Prepare(jobFile, roster, &engine.Submitter{Key: slices.Clone(by.Key), Signature: slices.Clone(sig)})
	if err != nil {
		return JobInfo{}, err
	}
	now := time.Now().UTC()
	rec := jobRecord{ID: p.ID.String(), Name: p.Job.Name, State: StateQueued, Researcher: by.DID, Rounds: p.Job.Rounds,
		Submitted: now, Mode: string(p.Job.Privacy), Seeded: p.Job.Seed != 0, Roster: []rosterEntry{}}
	for _, s := range roster {
		rec.Roster = append(rec.Roster, rosterEntry{Name: s.Name, DID: identity.DID(s.Key)})
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	select {
	case <-j.closed:
		return JobInfo{}, ErrJobsClosed
	default:
	}
	if old := j.mu.jobs[p.ID]; old != nil {
		return JobInfo{}, fmt.Errorf("%w: job %v (%s, %s), with the same file, seed and sites", ErrJobExists, p.ID, old.rec.Name, old.rec.State)
	}
	rec.Seq = j.mu.seq + 1
	dir := j.jobDir(p.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return JobInfo{}, fmt.Errorf("node: jobs: %w", err)
	}
	if err := createJobFile(filepath.Join(dir, jobFileName), jobFile); err != nil {
		return JobInfo{}, err
	}
	if err := createJobFile(filepath.Join(dir, jobSigFile), sig); err != nil {
		return JobInfo{}, err
	}
	jb := &job{id: p.ID, rec: rec, prepared: p, changed: make(chan struct{})}
	if err := j.persist(jb); err != nil {
		return JobInfo{}, err
	}
	j.mu.seq = rec.Seq
	j.mu.jobs[p.ID] = jb
	j.mu.order = append(j.mu.order, jb)
	j.mu.queue = append(j.mu.queue, jb)
	j.emitLocked(jb, Event{Phase: StateQueued, Rounds: rec.Rounds})
	j.log.Info("job queued", "job", p.ID, "name", rec.Name, "researcher", by.DID, "sites", len(roster))
	j.signal()
	return jb.info(), nil
}

// List returns every job, newest first.
func (j *Jobs) List() []JobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]JobInfo, 0, len(j.mu.order))
	for i := len(j.mu.order) - 1; i >= 0; i-- {
		out = append(out, j.mu.order[i].info())
	}
	return out
}

// Get returns a job's info.
func (j *Jobs) Get(id engine.JobID) (JobInfo, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.mu.jobs[id]
	if jb == nil {
		return JobInfo{}, fmt.Errorf("%w: %v", ErrNoJob, id)
	}
	return jb.info(), nil
}

// Watch calls fn with the job's events so far, then with each new one
// until the job ends (it returns nil after the last event) or ctx ends. An
// error from fn ends the watch with that error.
func (j *Jobs) Watch(ctx context.Context, id engine.JobID, fn func(Event) error) error {
	next := 0
	for {
		j.mu.Lock()
		jb := j.mu.jobs[id]
		if jb == nil {
			j.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrNoJob, id)
		}
		i := sort.Search(len(jb.events), func(k int) bool { return jb.events[k].seq >= next })
		batch := slices.Clone(jb.events[i:])
		ended, changed := jb.ended(), jb.changed
		j.mu.Unlock()
		for _, e := range batch {
			if err := fn(e.ev); err != nil {
				return err
			}
			next = e.seq + 1
		}
		if ended {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-j.closed:
			return ErrJobsClosed
		}
	}
}

// ResultFiles returns the paths of a finished job's result files, in order:
// README.txt, model.json, metrics.csv, training.png, then its ledger
// receipts.
func (j *Jobs) ResultFiles(id engine.JobID) ([]string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.mu.jobs[id]
	if jb == nil {
		return nil, fmt.Errorf("%w: %v", ErrNoJob, id)
	}
	if jb.rec.State != StateFinished {
		return nil, fmt.Errorf("%w: job %v is %s", ErrNotFinished, id, jb.rec.State)
	}
	out := make([]string, len(jb.rec.Files))
	for i, f := range jb.rec.Files {
		out[i] = filepath.Join(j.jobDir(id), filepath.FromSlash(f))
	}
	return out, nil
}

// Cancel stops a queued or running job; only its submitter may. A running
// job is interrupted, then aborted: its sites forget it and the ledger
// records it as ended with "cancelled by DID".
func (j *Jobs) Cancel(ctx context.Context, by Caller, id engine.JobID) (JobInfo, error) {
	j.mu.Lock()
	jb := j.mu.jobs[id]
	if jb == nil {
		j.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: %v", ErrNoJob, id)
	}
	if jb.rec.Researcher != by.DID {
		j.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: job %v was submitted by %s; %s may not cancel it", ErrNotSubmitter, id, jb.rec.Researcher, by.DID)
	}
	if jb.ended() {
		j.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: job %v is already %s", ErrJobEnded, id, jb.rec.State)
	}
	reason := "cancelled by " + by.DID
	if jb.cancel == nil && jb.cancelledBy != "" {
		j.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: job %v is being cancelled", ErrJobEnded, id)
	}
	if jb.cancel == nil { // waiting in the queue
		jb.cancelledBy = by.DID
		j.mu.queue = slices.DeleteFunc(j.mu.queue, func(q *job) bool { return q == jb })
		resumable := jb.resume
		j.mu.Unlock()
		if resumable { // it ran before a restart: its sites still hold it
			j.abort(id, reason)
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		j.endLocked(jb, StateCancelled, reason, nil)
		j.log.Info("job cancelled", "job", id, "by", by.DID)
		return jb.info(), nil
	}
	if jb.cancelledBy == "" {
		jb.cancelledBy = by.DID
	}
	jb.cancel()
	stopped := jb.stopped
	j.mu.Unlock()
	select {
	case <-stopped:
	case <-ctx.Done():
		return JobInfo{}, ctx.Err()
	case <-j.closed:
		return JobInfo{}, ErrJobsClosed
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if jb.rec.State != StateCancelled {
		return JobInfo{}, fmt.Errorf("%w: job %v %s before it could be cancelled", ErrJobEnded, id, jb.rec.State)
	}
	return jb.info(), nil
}

// abort tells the engine a job ended: its state records reason, its sites
// forget it and the ledger records it.
func (j *Jobs) abort(id engine.JobID, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := j.cfg.Aggregator.Abort(ctx, id, reason)
	if err != nil && !errors.Is(err, engine.ErrFinished) && !errors.Is(err, engine.ErrNoJob) {
		j.log.Error("cannot abort job", "job", id, "err", err)
	}
}

// Progress routes the engine's progress reports to the jobs' watchers.
// The node sets it as the aggregator's AggregatorConfig.Progress.
func (j *Jobs) Progress(p engine.Progress) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.mu.jobs[p.Job]
	if jb == nil {
		return
	}
	ev := Event{Phase: p.Phase, Round: p.Round, Rounds: p.Rounds, Done: p.Done, Of: p.Of}
	if p.Err != nil {
		ev.Err = p.Err.Error()
	}
	if p.Phase == "committed" {
		if p.Record == nil {
			return
		}
		// The engine has just filled in the test metrics of the previous
		// round's model: report that round now.
		jb.rec.Round = p.Record.Round
		if err := j.persist(jb); err != nil {
			j.log.Error("cannot save job info", "job", p.Job, "err", err)
		}
		if jb.pending != nil {
			j.committedLocked(jb, jb.pending)
		}
		jb.pending = p.Record
		return
	}
	j.emitLocked(jb, ev)
}

// committedLocked reports a committed round, once.
func (j *Jobs) committedLocked(jb *job, r *engine.RoundRecord) {
	if r.Round <= jb.emitted {
		return
	}
	m := jb.metrics(r)
	j.emitLocked(jb, Event{Phase: "committed", Round: r.Round, Rounds: jb.rec.Rounds, Metrics: &m})
	jb.emitted = r.Round
}

// metrics copies a round record, naming its contributors.
func (jb *job) metrics(r *engine.RoundRecord) RoundMetrics {
	m := RoundMetrics{Round: r.Round, Attempt: int(r.Attempt), Contributors: []string{}, TrainLoss: r.TrainLoss,
		TestLoss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN(), Epsilon: r.Epsilon, Duration: r.Duration, ModelHash: r.ModelHash}
	if r.Test.N > 0 {
		m.TestLoss, m.Accuracy, m.AUC = r.Test.Loss, r.Test.Accuracy, r.Test.AUC
	}
	for _, c := range r.Contributors {
		name := fmt.Sprintf("site %d", c)
		if int(c) < len(jb.rec.Roster) {
			name = jb.rec.Roster[c].Name
		}
		m.Contributors = append(m.Contributors, name)
	}
	return m
}

// emitLocked appends an event to the job's stream and wakes its watchers.
func (j *Jobs) emitLocked(jb *job, ev Event) {
	ev.Job = jb.info()
	jb.events = append(jb.events, seqEvent{seq: jb.nextSeq, ev: ev})
	jb.nextSeq++
	close(jb.changed)
	jb.changed = make(chan struct{})
}

// endLocked moves a job to its final state, keeping of its events only the
// state changes and the rounds.
func (j *Jobs) endLocked(jb *job, state, reason string, last *RoundMetrics) {
	jb.rec.State, jb.rec.Error, jb.rec.Finished = state, reason, time.Now().UTC()
	if err := j.persist(jb); err != nil {
		j.log.Error("cannot save job info", "job", jb.id, "err", err)
	}
	jb.events = slices.DeleteFunc(jb.events, func(e seqEvent) bool {
		switch e.ev.Phase {
		case "committed", "retry", StateQueued, StateRunning:
			return false
		}
		return true
	})
	j.emitLocked(jb, Event{Phase: state, Round: jb.rec.Round, Rounds: jb.rec.Rounds, Metrics: last, Err: reason})
}

// signal wakes the worker.
func (j *Jobs) signal() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// work runs the queued jobs one at a time until shutdown.
func (j *Jobs) work() {
	defer j.wg.Done()
	for {
		jb, ctx := j.next()
		if jb == nil {
			return
		}
		res, err := j.execute(ctx, jb)
		j.settle(ctx, jb, res, err)
	}
}

// next takes the first queued job and marks it running, or returns nil at
// shutdown.
func (j *Jobs) next() (*job, context.Context) {
	for {
		if j.ctx.Err() != nil {
			return nil, nil
		}
		j.mu.Lock()
		if len(j.mu.queue) > 0 {
			jb := j.mu.queue[0]
			j.mu.queue = j.mu.queue[1:]
			ctx, cancel := context.WithCancel(j.ctx)
			jb.cancel, jb.stopped = cancel, make(chan struct{})
			if jb.rec.State == StateQueued {
				jb.rec.State, jb.rec.Started = StateRunning, time.Now().UTC()
			}
			if jb.rec.LedgerStart == nil && j.cfg.Ledger != nil {
				size := j.cfg.Ledger.Size()
				jb.rec.LedgerStart = &size
			}
			if err := j.persist(jb); err != nil {
				j.log.Error("cannot save job info", "job", jb.id, "err", err)
			}
			j.emitLocked(jb, Event{Phase: StateRunning, Round: jb.rec.Round, Rounds: jb.rec.Rounds})
			j.mu.Unlock()
			j.log.Info("job running", "job", jb.id, "resume", jb.resume)
			return jb, ctx
		}
		j.mu.Unlock()
		select {
		case <-j.wake:
		case <-j.ctx.Done():
		}
	}
}

// errFinishedUnwritten is a job the engine finished before the node could
// write its result.
var errFinishedUnwritten = errors.New("finished before its result was written")

// execute runs a job: it resumes one that ran before a restart, else
// proposes it.
func (j *Jobs) execute(ctx context.Context, jb *job) (*engine.Result, error) {
	if jb.resume {
		st, err := j.cfg.Store.Load(jb.id)
		switch {
		case err == nil && st.Err != "":
			return nil, fmt.Errorf("the job was interrupted and cannot resume: %s", st.Err)
		case err == nil:
			res, err := j.cfg.Aggregator.Resume(ctx, jb.id)
			if errors.Is(err, engine.ErrFinished) {
				return nil, errFinishedUnwritten
			}
			return res, err
		case !errors.Is(err, engine.ErrNoJob):
			return nil, err
		}
		// Never proposed: propose it now.
	}
	p := jb.prepared
	if p == nil {
		var err error
		if p, err = j.reprepare(jb); err != nil {
			return nil, err
		}
	}
	return j.cfg.Aggregator.RunPrepared(ctx, p)
}

// reprepare fixes the proposal of a job queued before a restart again,
// from its saved file, signature and roster. It fails for a job whose
// file sets no seed: the seed the aggregator drew is not kept.
func (j *Jobs) reprepare(jb *job) (*engine.Prepared, error) {
	dir := j.jobDir(jb.id)
	jobFile, err := os.ReadFile(filepath.Join(dir, jobFileName))
	if err != nil {
		return nil, fmt.Errorf("node: jobs: %w", err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, jobSigFile))
	if err != nil {
		return nil, fmt.Errorf("node: jobs: %w", err)
	}
	key, err := identity.ParseDID(jb.rec.Researcher)
	if err != nil {
		return nil, fmt.Errorf("node: jobs: researcher: %w", err)
	}
	roster := make([]engine.Peer, len(jb.rec.Roster))
	for i, s := range jb.rec.Roster {
		k, err := identity.ParseDID(s.DID)
		if err != nil {
			return nil, fmt.Errorf("node: jobs: roster[%d]: %w", i, err)
		}
		roster[i] = engine.Peer{Name: s.Name, Key: k}
	}
	p, err := j.cfg.Aggregator.Prepare(jobFile, roster, &engine.Submitter{Key: key, Signature: sig})
	if err != nil {
		return nil, err
	}
	if p.ID != jb.id {
		if !jb.rec.Seeded {
			return nil, errors.New("the node restarted before the job was proposed, and its file sets no seed: " +
				"the seed the aggregator drew is lost, so the job cannot be proposed as submitted; submit it again")
		}
		return nil, fmt.Errorf("the job's saved proposal gives job %v, not %v", p.ID, jb.id)
	}
	return p, nil
}

// settle records how a run ended.
func (j *Jobs) settle(ctx context.Context, jb *job, res *engine.Result, err error) {
	var files []string
	var last *RoundMetrics
	if errors.Is(err, errFinishedUnwritten) {
		res, err = j.resultFromState(jb)
	}
	if err == nil {
		if files, err = j.writeResult(context.WithoutCancel(ctx), jb, res); err != nil {
			err = fmt.Errorf("the job finished but its result could not be written: %w", err)
		}
		if n := len(res.Rounds); n > 0 {
			m := jb.metrics(&res.Rounds[n-1])
			last = &m
		}
	}
	j.mu.Lock()
	by := jb.cancelledBy
	shutdown := err != nil && ctx.Err() != nil && by == "" && j.ctx.Err() != nil
	j.mu.Unlock()
	if err != nil && ctx.Err() != nil && by != "" {
		j.abort(jb.id, "cancelled by "+by)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	defer close(jb.stopped)
	jb.cancel()
	jb.cancel = nil
	if !shutdown {
		// Report the rounds not reported yet, with their final metrics.
		if res != nil {
			for i := range res.Rounds {
				j.committedLocked(jb, &res.Rounds[i])
			}
		} else if jb.pending != nil {
			j.committedLocked(jb, jb.pending)
		}
		jb.pending = nil
	}
	switch {
	case shutdown:
		// Interrupted: it stays running on disk and resumes at the next start.
		jb.resume = true
		j.log.Info("job interrupted by shutdown", "job", jb.id, "round", jb.rec.Round)
	case err == nil:
		jb.rec.Files = files
		j.endLocked(jb, StateFinished, "", last)
		j.log.Info("job finished", "job", jb.id)
	case ctx.Err() != nil && by != "":
		j.endLocked(jb, StateCancelled, "cancelled by "+by, nil)
		j.log.Info("job cancelled", "job", jb.id, "by", by)
	default:
		j.endLocked(jb, StateFailed, err.Error(), nil)
		j.log.Warn("job failed", "job", jb.id, "err", err)
	}
}

// resultFromState rebuilds the result of a job the engine finished but
// whose result the node had not written when it stopped.
func (j *Jobs) resultFromState(jb *job) (*engine.Result, error) {
	st, err := j.cfg.Store.Load(jb.id)
	if err != nil {
		return nil, err
	}
	var p engine.Proposal
	if err := p.UnmarshalBinary(st.Proposal); err != nil {
		return nil, err
	}
	job, err := engine.ParseJob(bytes.NewReader(p.JobFile))
	if err != nil {
		return nil, err
	}
	mdl, err := job.Model.New(len(st.Standardizer)/2, job.Dataset.Classes)
	if err != nil {
		return nil, err
	}
	res := &engine.Result{ID: jb.id, Job: job, Model: mdl, Params: st.Model, Rounds: st.History}
	for i, d := range st.Decisions {
		sr := engine.SiteResult{Accepted: d.Accept, Reason: d.Reason, TrainRows: int(d.TrainRows), TestRows: int(d.TestRows), Epsilon: math.NaN()}
		if i < len(p.Roster) {
			sr.Peer = p.Roster[i]
		}
		for _, h := range st.History {
			if slices.Contains(h.Contributors, uint32(i)) {
				sr.Rounds++
			}
		}
		res.Sites = append(res.Sites, sr)
	}
	return res, nil
}

func (j *Jobs) jobDir(id engine.JobID) string { return filepath.Join(j.dir, id.String()) }

// persist writes the job's info.json atomically.
func (j *Jobs) persist(jb *job) error {
	b, err := json.MarshalIndent(&jb.rec, "", "  ")
	if err != nil {
		return err
	}
	return saveJobFile(filepath.Join(j.jobDir(jb.id), jobInfoFile), append(b, '\n'))
}

// createJobFile writes a new file and syncs it.
func createJobFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("node: jobs: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("node: jobs: %w", werr)
	}
	return nil
}

// saveJobFile replaces path with b (see writeAtomic).
func saveJobFile(path string, b []byte) error {
	if err := writeAtomic(filepath.Dir(path), filepath.Base(path), b); err != nil {
		return fmt.Errorf("node: jobs: %w", err)
	}
	return nil
}

// resultModel is a result's model.json (the shape of cohort demo's).
type resultModel struct {
	Model    string       `json:"model"`
	Job      string       `json:"job"`
	Name     string       `json:"name"`
	Rounds   int          `json:"rounds"`
	Params   []float64    `json:"params"`
	Loss     *float64     `json:"loss"`
	Accuracy *float64     `json:"accuracy"`
	AUC      *float64     `json:"auc"`
	Sites    []resultSite `json:"sites"`
}

// resultSite is one site in model.json.
type resultSite struct {
	Name    string   `json:"name"`
	Rows    int      `json:"train_rows"`
	Rounds  int      `json:"rounds"`
	Epsilon *float64 `json:"epsilon"`
}

// finite returns nil for NaN and infinities, which JSON cannot carry.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// writeResult writes a finished job's result folder and returns its files,
// relative to the job folder, slash-separated, in order.
func (j *Jobs) writeResult(ctx context.Context, jb *job, res *engine.Result) ([]string, error) {
	dir := j.jobDir(jb.id)
	var files []string
	write := func(name string, b []byte) error {
		if err := saveJobFile(filepath.Join(dir, filepath.FromSlash(name)), b); err != nil {
			return err
		}
		files = append(files, name)
		return nil
	}
	rounds := ReportRounds(res.Rounds)

	m := resultModel{Model: res.Model.Name(), Job: res.ID.String(), Name: res.Job.Name, Rounds: len(res.Rounds),
		Params: res.Params, Sites: []resultSite{}}
	if n := len(rounds); n > 0 {
		last := rounds[n-1]
		m.Loss, m.Accuracy, m.AUC = finite(last.Loss), finite(last.Accuracy), finite(last.AUC)
	}
	for _, s := range res.Sites {
		m.Sites = append(m.Sites, resultSite{Name: s.Peer.Name, Rows: s.TrainRows, Rounds: s.Rounds, Epsilon: finite(s.Epsilon)})
	}
	modelJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}

	var csvBuf bytes.Buffer
	cw := csv.NewWriter(&csvBuf)
	_ = cw.Write([]string{"round", "attempt", "contributors", "train_loss", "test_loss", "accuracy", "auc", "epsilon", "duration_ms"})
	for i, r := range res.Rounds {
		rr := rounds[i]
		_ = cw.Write([]string{strconv.Itoa(r.Round), strconv.FormatUint(uint64(r.Attempt), 10), strconv.Itoa(len(r.Contributors)),
			csvFloat(rr.TrainLoss), csvFloat(rr.Loss), csvFloat(rr.Accuracy), csvFloat(rr.AUC), csvFloat(rr.Epsilon),
			strconv.FormatFloat(float64(r.Duration)/float64(time.Millisecond), 'f', 3, 64)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}

	var png bytes.Buffer
	title := fmt.Sprintf("%s: %d sites, %s", res.Job.Name, len(res.Sites), res.Job.Privacy)
	if err := report.PlotPNG(&png, title, rounds); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}

	receipts, vkey, err := j.receipts(ctx, jb, res)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if err := write(jobReadme, []byte(j.readme(jb, res, receipts, vkey))); err != nil {
		return nil, err
	}
	if err := write(jobModelFile, append(modelJSON, '\n')); err != nil {
		return nil, err
	}
	if err := write(jobMetricsFile, csvBuf.Bytes()); err != nil {
		return nil, err
	}
	if err := write(jobPlotFile, png.Bytes()); err != nil {
		return nil, err
	}
	if len(receipts) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, jobReceiptsDir), 0o700); err != nil {
			return nil, fmt.Errorf("node: jobs: %w", err)
		}
		if err := write(jobReceiptsDir+"/"+jobVerifierFile, []byte(vkey+"\n")); err != nil {
			return nil, err
		}
	}
	for _, r := range receipts {
		if err := write(jobReceiptsDir+"/"+r.name, r.data); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// receipt is one file of receipts/.
type receipt struct {
	name string
	data []byte
}

// receipts returns the job's checkpoint and one tlog-proof per ledger entry
// of the job, and the ledger's verifier key.
func (j *Jobs) receipts(ctx context.Context, jb *job, res *engine.Result) ([]receipt, string, error) {
	l := j.cfg.Ledger
	if l == nil {
		return nil, "", nil
	}
	cp := res.Checkpoint
	if cp == nil {
		var err error
		if cp, err = l.Checkpoint(ctx); err != nil {
			return nil, "", err
		}
	}
	out := []receipt{{name: jobCheckpoint, data: cp}}
	start := uint64(0)
	if jb.rec.LedgerStart != nil {
		start = *jb.rec.LedgerStart
	}
	want := ledger.JobID(jb.id)
	type found struct {
		index uint64
		typ   ledger.Type
	}
	var entries []found
	end := l.Size()
	if start > end {
		start = end
	}
	err := l.Entries(start, end, func(i uint64, b []byte) error {
		var e ledger.Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return err
		}
		var id ledger.JobID
		switch e.Type {
		case ledger.TypeJobProposed, ledger.TypeSiteDecided, ledger.TypeRoundCommitted, ledger.TypeJobFinished:
		default:
			return nil
		}
		ev, err := e.Event()
		if err != nil {
			return err
		}
		switch v := ev.(type) {
		case *ledger.JobProposed:
			id = v.Job
		case *ledger.SiteDecided:
			id = v.Job
		case *ledger.RoundCommitted:
			id = v.Job
		case *ledger.JobFinished:
			id = v.Job
		}
		if id == want {
			entries = append(entries, found{i, e.Type})
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	for _, e := range entries {
		p, err := l.Prove(ctx, e.index)
		if err != nil {
			return nil, "", fmt.Errorf("entry %d: %w", e.index, err)
		}
		out = append(out, receipt{name: fmt.Sprintf("%06d-%s.proof", e.index, e.typ), data: p})
	}
	return out, l.VerifierKey(), nil
}

// readme is a result's README.txt.
func (j *Jobs) readme(jb *job, res *engine.Result, receipts []receipt, vkey string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cohort job %v (%s), submitted by %s\n", jb.id, res.Job.Name, jb.rec.Researcher)
	fmt.Fprintf(&b, "%d rounds of %s over %d sites, privacy mode %s\n\n", len(res.Rounds), res.Job.Model.Kind, len(res.Sites), res.Job.Privacy)
	b.WriteString("model.json     the trained model's parameters and its final metrics\n")
	b.WriteString("metrics.csv    one row per round: round, attempt, contributors, losses, accuracy, AUC, ε, duration\n")
	b.WriteString("training.png   the training curves\n")
	if len(receipts) == 0 {
		b.WriteString("\nThis aggregator keeps no ledger: there are no receipts.\n")
		return b.String()
	}
	b.WriteString("receipts/      the aggregator's ledger entries for this job, each with its proof\n\n")
	b.WriteString("receipts/checkpoint is the aggregator's signed ledger checkpoint after the job, cosigned by\n" +
		"the sites that witnessed it. Each receipts/NNNNNN-TYPE.proof is a C2SP tlog-proof of ledger entry\n" +
		"NNNNNN: the entry, its Merkle inclusion proof and the signed checkpoint it is proven against.\n" +
		"Check one offline with\n\n")
	example := receipts[len(receipts)-1].name
	fmt.Fprintf(&b, "    cohort ledger verify --proof receipts/%s --vkey receipts/%s\n\n", example, jobVerifierFile)
	fmt.Fprintf(&b, "receipts/%s holds the ledger's verifier key:\n\n    %s\n\n", jobVerifierFile, vkey)
	b.WriteString("Its name is the log's origin, cohort/ followed by the aggregator's did:key: check that it is\n" +
		"the node you submitted the job to.\n")
	return b.String()
}

// ReportRounds converts the engine's round records for the report
// package: NaN where a metric is unknown.
func ReportRounds(rs []engine.RoundRecord) []report.Round {
	out := make([]report.Round, len(rs))
	for i, r := range rs {
		out[i] = report.Round{Round: r.Round, Contributors: len(r.Contributors), TrainLoss: r.TrainLoss,
			Loss: math.NaN(), Accuracy: math.NaN(), AUC: math.NaN(), Epsilon: r.Epsilon, Duration: r.Duration}
		if r.Test.N > 0 {
			out[i].Loss, out[i].Accuracy, out[i].AUC = r.Test.Loss, r.Test.Accuracy, r.Test.AUC
		}
	}
	return out
}

// csvFloat formats a metric for metrics.csv: empty when unknown.
func csvFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
