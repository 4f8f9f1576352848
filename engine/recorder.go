package engine

import (
	"context"
	"sync"

	"github.com/cohort-mpc/cohort/ledger"
)

// Recorder receives the events of a job that an auditor cares about. The
// ledger package implements it; every method is called by the aggregator
// in order, and an error stops the job (nothing happens that is not
// recorded).
type Recorder interface {
	JobProposed(ctx context.Context, e *JobProposed) error
	SiteDecided(ctx context.Context, e *SiteDecided) error
	RoundCommitted(ctx context.Context, e *RoundCommitted) error
	JobFinished(ctx context.Context, e *JobFinished) error
}

// The events are the ledger's entry types, so that a *ledger.Log is a
// Recorder.
type (
	// JobProposed records a proposal: the job, the hash of its file, its
	// seed, mode and roster.
	JobProposed = ledger.JobProposed
	// SiteDecided records a site's decision on a proposal. A site that did
	// not answer before the deadline is recorded as refusing with that
	// reason.
	SiteDecided = ledger.SiteDecided
	// RoundCommitted records a completed round: the hash of the new global
	// model, who contributed, and the record-level ε each contributor has
	// spent in this job so far (NaN without record-level DP).
	RoundCommitted = ledger.RoundCommitted
	// JobFinished records the end of a job: its final model's hash and
	// metrics, or the reason it failed.
	JobFinished = ledger.JobFinished
)

var _ Recorder = (*ledger.Log)(nil)

func parties(ps []Peer) []ledger.Party {
	out := make([]ledger.Party, len(ps))
	for i, p := range ps {
		out[i] = ledger.Party(p)
	}
	return out
}

// MemoryRecorder keeps the events in memory, for tests and simulations.
type MemoryRecorder struct {
	mu struct {
		sync.Mutex
		proposed []JobProposed
		decided  []SiteDecided
		rounds   []RoundCommitted
		finished []JobFinished
	}
}

// JobProposed implements Recorder.
func (r *MemoryRecorder) JobProposed(_ context.Context, e *JobProposed) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.proposed = append(r.mu.proposed, *e)
	return nil
}

// SiteDecided implements Recorder.
func (r *MemoryRecorder) SiteDecided(_ context.Context, e *SiteDecided) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.decided = append(r.mu.decided, *e)
	return nil
}

// RoundCommitted implements Recorder.
func (r *MemoryRecorder) RoundCommitted(_ context.Context, e *RoundCommitted) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.rounds = append(r.mu.rounds, *e)
	return nil
}

// JobFinished implements Recorder.
func (r *MemoryRecorder) JobFinished(_ context.Context, e *JobFinished) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.finished = append(r.mu.finished, *e)
	return nil
}

// Events returns copies of what was recorded so far.
func (r *MemoryRecorder) Events() ([]JobProposed, []SiteDecided, []RoundCommitted, []JobFinished) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]JobProposed(nil), r.mu.proposed...), append([]SiteDecided(nil), r.mu.decided...),
		append([]RoundCommitted(nil), r.mu.rounds...), append([]JobFinished(nil), r.mu.finished...)
}

// Tee returns a Recorder that records each event with every one of rs in
// turn, stopping at the first error.
func Tee(rs ...Recorder) Recorder { return tee(rs) }

type tee []Recorder

// each calls f with every recorder in turn, stopping at the first error.
func (t tee) each(f func(Recorder) error) error {
	for _, r := range t {
		if err := f(r); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) JobProposed(ctx context.Context, e *JobProposed) error {
	return t.each(func(r Recorder) error { return r.JobProposed(ctx, e) })
}

func (t tee) SiteDecided(ctx context.Context, e *SiteDecided) error {
	return t.each(func(r Recorder) error { return r.SiteDecided(ctx, e) })
}

func (t tee) RoundCommitted(ctx context.Context, e *RoundCommitted) error {
	return t.each(func(r Recorder) error { return r.RoundCommitted(ctx, e) })
}

func (t tee) JobFinished(ctx context.Context, e *JobFinished) error {
	return t.each(func(r Recorder) error { return r.JobFinished(ctx, e) })
}
