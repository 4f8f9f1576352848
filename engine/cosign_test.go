package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/cohort-mpc/cohort/ledger"
)

// entryTypes counts a ledger's entries by type.
func entryTypes(t *testing.T, l *ledger.Log) map[ledger.Type]int {
	t.Helper()
	n := map[ledger.Type]int{}
	if err := l.Entries(0, l.Size(), func(_ uint64, b []byte) error {
		var e ledger.Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return err
		}
		n[e.Type]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWitnessing runs jobs with an aggregator whose ledger records them and
// three sites whose ledgers witness it: each job's final checkpoint carries
// the three sites' cosignatures, also after an aggregator restart (the
// witnesses answer with a conflict and the aggregator retries with a
// consistency proof); a rewritten aggregator ledger is refused by every
// witness with an alarm entry.
func TestWitnessing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	aggKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa0}, 32))
	aggPub := aggKey.Public().(ed25519.PublicKey)
	aggLog, err := ledger.Open(filepath.Join(dir, "agg"), aggKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = aggLog.Close() }()
	siteLogs := make([]*ledger.Log, 3)
	defer func() {
		for _, l := range siteLogs {
			if l != nil {
				_ = l.Close()
			}
		}
	}()
	job := demoJob("secagg", 2, "")
	cfg := SimConfig{JobFile: job, Sites: 3, Seed: 1, Backend: testBackend(t), AggregatorKey: aggPub,
		Witness: func(i int, key ed25519.PrivateKey) (Witness, error) {
			l, err := ledger.Open(filepath.Join(dir, "site", string(rune('a'+i))), key, nil)
			siteLogs[i] = l
			return l, err
		}}
	sim, err := NewSimulation(cfg)
	if err != nil {
		t.Fatal(err)
	}
	witnesses := make([]note.Verifier, 3)
	for i, p := range sim.Peers {
		if witnesses[i], err = ledger.WitnessVerifier(ledger.WitnessKey(p.Key)); err != nil {
			t.Fatal(err)
		}
	}
	cosigned := func(res *Result, want int) ledger.Checkpoint {
		t.Helper()
		c, n, err := ledger.OpenCheckpoint(res.Checkpoint, ledger.LogVerifier(aggPub), witnesses...)
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Sigs) != 1+want {
			t.Fatalf("checkpoint at %d has %d signatures, want the log's and %d cosignatures:\n%s", c.Size, len(n.Sigs), want, res.Checkpoint)
		}
		return c
	}

	// First job: the witnesses have seen nothing yet.
	res, err := runSim(t, ctx, sim, sim.Net, job, AggregatorConfig{Recorder: aggLog, Checkpoints: aggLog, Seed: [32]byte{1}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	c1 := cosigned(res, 3)
	got := entryTypes(t, aggLog)
	if got[ledger.TypeJobProposed] != 1 || got[ledger.TypeSiteDecided] != 3 || got[ledger.TypeRoundCommitted] < 2 ||
		got[ledger.TypeJobFinished] != 1 || got[ledger.TypeCheckpointCosigned] != 3 {
		t.Fatalf("aggregator ledger after one job: %v", got)
	}
	if c1.Size != aggLog.Size()-3 {
		t.Fatalf("checkpoint at %d, ledger at %d with 3 cosignature entries after it", c1.Size, aggLog.Size())
	}
	for i, l := range siteLogs {
		if n := entryTypes(t, l)[ledger.TypeWitnessed]; n != 1 {
			t.Fatalf("site %d witnessed %d checkpoints", i, n)
		}
	}

	// Second job by a new aggregator process: it does not know what the
	// witnesses saw, gets conflicts, and proves consistency from there.
	res, err = runSim(t, ctx, sim, sim.Net, job, AggregatorConfig{Recorder: aggLog, Checkpoints: aggLog, Seed: [32]byte{2}})
	if err != nil {
		t.Fatal(err)
	}
	c2 := cosigned(res, 3)
	if c2.Size <= c1.Size {
		t.Fatalf("second checkpoint at %d after %d", c2.Size, c1.Size)
	}
	for i, l := range siteLogs {
		signed, ok, err := l.Witnessed(aggLog.Origin())
		if err != nil || !ok {
			t.Fatalf("site %d: %v %v", i, ok, err)
		}
		if c, _, err := ledger.OpenCheckpoint(signed, ledger.LogVerifier(aggPub)); err != nil || c != c2 {
			t.Fatalf("site %d witnessed %+v, want %+v (%v)", i, c, c2, err)
		}
	}

	// A rewritten history: a new ledger under the same key, grown past
	// what the witnesses saw. Every witness refuses it and records an alarm;
	// the job itself still completes.
	forged, err := ledger.Open(filepath.Join(dir, "forged"), aggKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = forged.Close() }()
	for forged.Size() < c2.Size+5 {
		if _, err := forged.Append(ctx, &ledger.Note{Data: []byte("rewritten")}); err != nil {
			t.Fatal(err)
		}
	}
	res, err = runSim(t, ctx, sim, sim.Net, job, AggregatorConfig{Recorder: forged, Checkpoints: forged, Seed: [32]byte{3}})
	if err != nil {
		t.Fatal(err)
	}
	cosigned(res, 0)
	for i, l := range siteLogs {
		if n := entryTypes(t, l)[ledger.TypeWitnessAlarm]; n != 1 {
			t.Fatalf("site %d recorded %d alarms", i, n)
		}
		signed, _, _ := l.Witnessed(aggLog.Origin())
		if c, _, _ := ledger.OpenCheckpoint(signed, ledger.LogVerifier(aggPub)); c != c2 {
			t.Fatalf("site %d moved its witnessed checkpoint to the forged log: %+v", i, c)
		}
	}
}

func TestCosignReplyRoundTrip(t *testing.T) {
	for _, r := range []CosignReply{
		{Status: Cosigned, Cosignature: []byte("— w abc\n")},
		{Status: CosignConflict, Latest: 1234},
		{Status: CosignRefused, Reason: "no"},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got CosignReply
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) || got.Status != r.Status || got.Latest != r.Latest || got.Reason != r.Reason ||
			!bytes.Equal(got.Cosignature, r.Cosignature) {
			t.Fatalf("%+v → %+v", r, got)
		}
	}
	var r CosignReply
	if err := r.UnmarshalBinary([]byte{bodyVersion, 9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown status: %v", err)
	}
}
