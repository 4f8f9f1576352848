package ledger

import "context"

// The methods below make a *Log the engine's Recorder: each event is
// appended and durable before the engine goes on.

// JobProposed records a proposal.
func (l *Log) JobProposed(ctx context.Context, e *JobProposed) error { return l.record(ctx, e) }

// SiteDecided records a site's decision.
func (l *Log) SiteDecided(ctx context.Context, e *SiteDecided) error { return l.record(ctx, e) }

// RoundCommitted records a committed round.
func (l *Log) RoundCommitted(ctx context.Context, e *RoundCommitted) error { return l.record(ctx, e) }

// JobFinished records the end of a job.
func (l *Log) JobFinished(ctx context.Context, e *JobFinished) error { return l.record(ctx, e) }

// BudgetSpent records privacy budget spent on a dataset.
func (l *Log) BudgetSpent(ctx context.Context, e *BudgetSpent) error { return l.record(ctx, e) }

func (l *Log) record(ctx context.Context, ev Event) error {
	_, err := l.Append(ctx, ev)
	return err
}
