package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVerifyOptionsAndReport(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 10_000)
	dir := f.export(t)
	size, root := f.log.Root()

	t.Run("pinned by origin, progress", func(t *testing.T) {
		var calls [][2]uint64
		rep, err := verifyDir(dir, VerifyOptions{Origin: f.log.Origin(), Progress: func(done, total uint64) {
			calls = append(calls, [2]uint64{done, total})
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := [][2]uint64{{0, size}, {4096, size}, {8192, size}, {size, size}}
		if !rep.Pinned || !slices.Equal(calls, want) {
			t.Fatalf("pinned %v, progress %v, want %v", rep.Pinned, calls, want)
		}
	})

	t.Run("report text", func(t *testing.T) {
		rep, err := Verify(ctx, f.log.Source(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rep.Elapsed = 1234 * time.Millisecond
		want := "origin        " + f.log.Origin() + " (trusted on first use: not pinned)\n" +
			"entries       10009: note 10001, job-proposed 1, site-decided 1, round-committed 1, job-finished 1, budget-spent 1, checkpoint-cosigned 1, anchor-published 1, witness-alarm 1\n" +
			"root          " + hex.EncodeToString(root[:]) + "\n" +
			"signed        the latest checkpoint covers every entry\n" +
			"checkpoints   3, each signed and agreeing with the tree\n" +
			"cosignatures  " + WitnessName(f.witness.PublicKey()) + " ×1\n" +
			"anchors       1, checked against the log only, not on chain\n" +
			"ALARM         entry 5005: refused a checkpoint of cohort/y: fork\n" +
			"checked in    1.234s\n"
		if got := rep.String(); got != want {
			t.Fatalf("report:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("anchors on chain", func(t *testing.T) {
		calls := 0
		rep, err := Verify(ctx, f.log.Source(), VerifyOptions{Anchors: anchorChain{calls: &calls}})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 1 || rep.Anchors != 1 || rep.AnchorsOnChain != 1 || !strings.Contains(rep.String(), "\nanchors       1, checked on chain\n") {
			t.Fatalf("%d calls, report %+v", calls, rep)
		}
	})

	t.Run("unsigned tail", func(t *testing.T) {
		g := newFixture(t, 100)
		for i := range 3 {
			if _, err := g.log.Append(ctx, noteN(i)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Verify(ctx, g.log.Source(), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != 112 || rep.Signed != 109 || !strings.Contains(rep.String(), "covers 109 entries; 3 after it are not signed yet") {
			t.Fatalf("report %+v", rep)
		}
	})

	t.Run("given checkpoints", func(t *testing.T) {
		// A consistent one, cosigned by a witness the options trust; the
		// witness's signature is counted only on kept checkpoints.
		other := openTest(t, filepath.Join(t.TempDir(), "other"), testKey(15))
		cp, _ := f.log.LatestCheckpoint()
		sig, err := other.AddCheckpoint(ctx, f.log.PublicKey(), &AddCheckpointRequest{Checkpoint: cp})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := verifyDir(dir, VerifyOptions{Checkpoints: [][]byte{append(cp, sig...)}, Witnesses: []string{other.WitnessKey()}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Cosignatures) != 1 || !slices.Equal(rep.Checkpoints, []uint64{f.alarm + 1, f.cosized, size}) {
			t.Fatalf("report %+v", rep)
		}
		// One of another log is not this log's.
		ocp, _ := other.Checkpoint(ctx)
		_, err = verifyDir(dir, VerifyOptions{Checkpoints: [][]byte{ocp}})
		wantFailure(t, err, -1, "given checkpoint 1 at 1: signature: ledger: signature: checkpoint: note has no verifiable signatures")
	})

	t.Run("the witness's ledger", func(t *testing.T) {
		// It holds a witnessed entry, checked against the log's key and
		// its own cosignature.
		if _, err := f.witness.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(ctx, f.witness.Source(), VerifyOptions{LogKey: f.witness.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Types[TypeWitnessed] != 1 || rep.Size != 1 {
			t.Fatalf("report %+v", rep)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		n := 0
		_, err := verifyDirCtx(cctx, dir, VerifyOptions{Progress: func(done, total uint64) {
			if n++; n == 2 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled verify: %v", err)
		}
	})

	t.Run("no checkpoint", func(t *testing.T) {
		l := openTest(t, filepath.Join(t.TempDir(), "l"), testKey(16))
		if _, err := l.Append(ctx, noteN(1)); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(ctx, l.Source(), VerifyOptions{})
		wantFailure(t, err, -1, "the ledger keeps no signed checkpoint")
	})
}

func verifyDirCtx(ctx context.Context, dir string, opts VerifyOptions) (*Report, error) {
	src, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return Verify(ctx, src, opts)
}

func TestVerifyErrorText(t *testing.T) {
	e := &VerifyError{Entry: 1234, Check: "prev hash", Want: "ab12…", Got: "9f00…"}
	if got := e.Error(); got != "ledger: verify: entry 1234: prev hash: want ab12…, got 9f00…" {
		t.Fatalf("%q", got)
	}
	e = &VerifyError{Entry: -1, Where: "kept checkpoint at 7", Check: "root (two signed checkpoints disagree: a fork)", Want: "a", Got: "b", Err: ErrFork}
	if got := e.Error(); got != "ledger: verify: kept checkpoint at 7: root (two signed checkpoints disagree: a fork): want a, got b: "+ErrFork.Error() {
		t.Fatalf("%q", got)
	}
	if !errors.Is(e, ErrFork) || !errors.Is(e, ErrVerify) || errors.Is(e, ErrSignature) {
		t.Fatal("Unwrap")
	}
}

// BenchmarkVerifyExport1M verifies an export of 10^6 entries of 200-byte
// bodies (`cohort ledger verify --export`).
func BenchmarkVerifyExport1M(b *testing.B) {
	l := benchLedger(b, 1_000_000)
	dir := filepath.Join(b.TempDir(), "x")
	if _, err := l.Export(context.Background(), dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		src, err := OpenDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		if rep, err := Verify(context.Background(), src, VerifyOptions{}); err != nil || rep.Size != 1_000_000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLive1M verifies a live ledger of 10^6 entries of 200-byte
// bodies (`cohort ledger verify --dir`).
func BenchmarkVerifyLive1M(b *testing.B) {
	l := benchLedger(b, 1_000_000)
	for b.Loop() {
		if rep, err := Verify(context.Background(), l.Source(), VerifyOptions{}); err != nil || rep.Size != 1_000_000 {
			b.Fatal(err)
		}
	}
}
