package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cohort-mpc/cohort/ledger"
)

// LedgerOptions configure the ledger suite.
type LedgerOptions struct {
	// Dir is where the ledgers are written (default: a temporary folder in
	// os.TempDir); it should be on the disk a node would use.
	Dir string
	// Entries is the size of the log the proof and verify cases use (0:
	// 10^6; 10^4 with Quick).
	Entries int
	// Appends is how many 1 KiB entries the append case writes (0: 200,000;
	// 5,000 with Quick).
	Appends int
}

func ledgerSuite() Suite {
	return Suite{Name: "ledger", Doc: "ledger appends (group commit, fsync), inclusion and consistency proofs, verification of an export", Run: runLedger}
}

func runLedger(ctx context.Context, opt Options, emit func(Result)) error {
	lo := opt.Ledger
	if lo.Entries == 0 {
		lo.Entries = 1_000_000
		if opt.Quick {
			lo.Entries = 10_000
		}
	}
	if lo.Appends == 0 {
		lo.Appends = 200_000
		if opt.Quick {
			lo.Appends = 5_000
		}
	}
	dir, err := os.MkdirTemp(lo.Dir, "cohort-bench-ledger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	if err := benchAppend(ctx, filepath.Join(dir, "append"), key, lo.Appends, emit); err != nil {
		return err
	}
	l, err := fillLedger(ctx, filepath.Join(dir, "proofs"), key, lo.Entries, 200)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := benchProofs(ctx, l, opt, emit); err != nil {
		return err
	}
	return benchVerify(ctx, l, filepath.Join(dir, "export"), emit)
}

// benchAppend measures appends of 1 KiB entries with many in flight, so
// that group commit batches them, against the same disk's rate of plain
// 1 KiB record writes with one fsync per batch of the same size.
func benchAppend(ctx context.Context, dir string, key ed25519.PrivateKey, n int, emit func(Result)) error {
	l, err := ledger.Open(dir, key, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	body := make([]byte, 1024-ledger.EntryHeaderSize)
	const inflight = 8192
	fs := make([]*ledger.Future, 0, inflight)
	wait := func() error {
		for _, f := range fs {
			if _, err := f.Wait(ctx); err != nil {
				return err
			}
		}
		fs = fs[:0]
		return nil
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		fs = append(fs, l.Add(ctx, ledger.TypeNote, body))
		if len(fs) == inflight {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	if err := wait(); err != nil {
		return err
	}
	d := time.Since(start)
	got := float64(n) / d.Seconds()

	// The limit: the same bytes appended to a plain file, fsync every 8192
	// records (the batch the ledger forms at most).
	f, err := os.Create(filepath.Join(filepath.Dir(dir), "raw"))
	if err != nil {
		return err
	}
	defer f.Close()
	rec := make([]byte, 1024)
	buf := make([]byte, 0, inflight*len(rec))
	start = time.Now()
	for i := 0; i < n; i += inflight {
		buf = buf[:0]
		for j := i; j < min(n, i+inflight); j++ {
			buf = append(buf, rec...)
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	raw := float64(n) / time.Since(start).Seconds()
	emit(Result{Suite: "ledger", Case: "append", N: n, Metric: "throughput", Value: got, Unit: "entries/s", Limit: raw, Ratio: got / raw,
		Note: "1 KiB entries, group commit, Pebble with fsync; limit: 1 KiB records to a plain file, fsync per 8192"})
	return nil
}

// fillLedger writes n entries of about size bytes, as fast as it can.
func fillLedger(ctx context.Context, dir string, key ed25519.PrivateKey, n, size int) (*ledger.Log, error) {
	l, err := ledger.Open(dir, key, nil)
	if err != nil {
		return nil, err
	}
	body := make([]byte, size-ledger.EntryHeaderSize)
	fs := make([]*ledger.Future, 0, 8192)
	for i := 0; i < n; i++ {
		body[0], body[1], body[2] = byte(i), byte(i>>8), byte(i>>16)
		fs = append(fs, l.Add(ctx, ledger.TypeNote, slices.Clone(body)))
		if len(fs) == cap(fs) || i == n-1 {
			for _, f := range fs {
				if _, err := f.Wait(ctx); err != nil {
					l.Close()
					return nil, err
				}
			}
			fs = fs[:0]
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// benchProofs times inclusion and consistency proofs at random positions
// of the full log, against one Pebble point read (a proof reads at most
// eight and takes the rest from memory).
func benchProofs(ctx context.Context, l *ledger.Log, opt Options, emit func(Result)) error {
	size := l.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	samples := 20_000
	if opt.Quick {
		samples = 1000
	}
	p50 := func(fn func() error) (float64, float64, error) {
		ds := make([]time.Duration, samples)
		for i := range ds {
			if i%1024 == 0 && ctx.Err() != nil {
				return 0, 0, ctx.Err()
			}
			start := time.Now()
			if err := fn(); err != nil {
				return 0, 0, err
			}
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds[len(ds)/2].Seconds(), ds[len(ds)*99/100].Seconds(), nil
	}
	get, _, err := p50(func() error {
		_, err := l.Entry(rng.Uint64N(size))
		return err
	})
	if err != nil {
		return err
	}
	_, root := l.Root()
	incl, incl99, err := p50(func() error {
		_, err := l.InclusionProof(rng.Uint64N(size), size)
		return err
	})
	if err != nil {
		return err
	}
	cons, cons99, err := p50(func() error {
		_, err := l.ConsistencyProof(1+rng.Uint64N(size-1), size)
		return err
	})
	if err != nil {
		return err
	}
	// Spot-check that what was timed verifies.
	i := rng.Uint64N(size)
	p, err := l.InclusionProof(i, size)
	if err != nil {
		return err
	}
	e, err := l.Entry(i)
	if err != nil {
		return err
	}
	if err := ledger.VerifyInclusion(e, i, size, p, root); err != nil {
		return err
	}
	note := fmt.Sprintf("p50 over %d random proofs at %d entries; limit: one Pebble point read (p50)", samples, size)
	emit(Result{Suite: "ledger", Case: "inclusion-proof", N: int(size), Metric: "time", Value: incl, Unit: "s", Limit: get, Ratio: incl / get, Note: note})
	emit(Result{Suite: "ledger", Case: "inclusion-proof", N: int(size), Metric: "time-p99", Value: incl99, Unit: "s"})
	emit(Result{Suite: "ledger", Case: "consistency-proof", N: int(size), Metric: "time", Value: cons, Unit: "s", Limit: get, Ratio: cons / get, Note: note})
	emit(Result{Suite: "ledger", Case: "consistency-proof", N: int(size), Metric: "time-p99", Value: cons99, Unit: "s"})
	return nil
}

// sha256Rate is the single-core SHA-256 rate over buf, in bytes per second.
func sha256Rate(buf []byte) float64 {
	start := time.Now()
	sha256.Sum256(buf)
	return float64(len(buf)) / time.Since(start).Seconds()
}
