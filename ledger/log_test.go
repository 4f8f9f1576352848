package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func fixedClock() func() time.Time {
	t := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	return func() time.Time { return t }
}

func openTest(t testing.TB, dir string, key ed25519.PrivateKey) *Log {
	t.Helper()
	l, err := Open(dir, key, &Options{Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func noteN(i int) *Note { return &Note{Data: []byte(fmt.Sprintf("entry %d", i))} }

// TestTreeMatchesReference appends entries one batch at a time and checks
// every root, inclusion and consistency proof against the reference tree of
// transparency-dev/merkle, and the hash chain.
func TestTreeMatchesReference(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(1))
	ref := testonly.New(rfc6962.DefaultHasher)
	var prev [32]byte
	for i := 0; i < 300; i++ {
		idx, err := l.Append(ctx, noteN(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(i) {
			t.Fatalf("index %d, want %d", idx, i)
		}
		raw, err := l.Entry(idx)
		if err != nil {
			t.Fatal(err)
		}
		var e Entry
		if err := e.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		if e.Prev != prev || e.Index != idx || e.Type != TypeNote || !bytes.Equal(e.Body, noteN(i).Data) {
			t.Fatalf("entry %d: %+v", i, e)
		}
		prev = LeafHash(raw)
		ref.AppendData(raw)
		size, root := l.Root()
		if size != uint64(i+1) || !bytes.Equal(root[:], ref.Hash()) {
			t.Fatalf("size %d root %x, want %d %x", size, root, i+1, ref.Hash())
		}
	}
	for _, size := range []uint64{1, 2, 3, 7, 8, 9, 255, 256, 257, 300} {
		root, err := l.RootAt(size)
		if err != nil || !bytes.Equal(root[:], ref.HashAt(size)) {
			t.Fatalf("RootAt(%d) = %x, %v", size, root, err)
		}
		for _, idx := range []uint64{0, size / 2, size - 1} {
			p, err := l.InclusionProof(idx, size)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(idx, size)
			if !equalProofs(p, want) {
				t.Fatalf("inclusion(%d, %d) differs from the reference", idx, size)
			}
			raw, _ := l.Entry(idx)
			if err := VerifyInclusion(raw, idx, size, p, root); err != nil {
				t.Fatal(err)
			}
		}
		for _, s1 := range []uint64{0, 1, size / 3, size - 1, size} {
			p, err := l.ConsistencyProof(s1, size)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.ConsistencyProof(s1, size)
			if !equalProofs(p, want) {
				t.Fatalf("consistency(%d, %d) differs from the reference", s1, size)
			}
			if s1 > 0 {
				r1, _ := l.RootAt(s1)
				if err := VerifyConsistency(s1, size, p, r1, root); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := l.InclusionProof(300, 300); !errors.Is(err, ErrRange) {
		t.Fatalf("inclusion past the end: %v", err)
	}
	if _, err := l.ConsistencyProof(2, 301); !errors.Is(err, ErrRange) {
		t.Fatalf("consistency past the end: %v", err)
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestConcurrentAddsReopen adds from many goroutines (so batches form),
// reopens, and checks that everything acknowledged is there, in a tree that
// matches a rebuild from the entries, and that the upper-node cache reloads.
func TestConcurrentAddsReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, testKey(2), &Options{MaxBatch: 64})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 700
	var wg sync.WaitGroup
	seen := make([]bool, writers*each)
	var mu sync.Mutex
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fs := make([]*Future, each)
			for i := range fs {
				fs[i] = l.AddEvent(ctx, noteN(w*each+i))
			}
			for _, f := range fs {
				idx, err := f.Wait(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[idx] {
					t.Errorf("index %d given twice", idx)
				}
				seen[idx] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	size, root := l.Root()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir, testKey(2))
	size2, root2 := l2.Root()
	if size2 != size || root2 != root || size != writers*each {
		t.Fatalf("reopened at %d %x, closed at %d %x", size2, root2, size, root)
	}
	ref := testonly.New(rfc6962.DefaultHasher)
	if err := l2.Entries(0, size, func(i uint64, e []byte) error {
		ref.AppendData(e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref.Hash(), root2[:]) {
		t.Fatal("root does not match a rebuild from the entries")
	}
	// Proofs after reopening use the reloaded upper levels.
	p, err := l2.InclusionProof(1234, size)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := l2.Entry(1234)
	if err := VerifyInclusion(raw, 1234, size, p, root2); err != nil {
		t.Fatal(err)
	}
	// And appends go on from there.
	if idx, err := l2.Append(ctx, noteN(-1)); err != nil || idx != size {
		t.Fatalf("append after reopen: %d, %v", idx, err)
	}
}

func TestOpenRefusesOtherKeyAndReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, testKey(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, noteN(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	if _, err := Open(dir, testKey(4), nil); err == nil {
		t.Fatal("opened another node's ledger")
	}
	ro, err := Open(dir, nil, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Origin() != Origin(testKey(3).Public().(ed25519.PublicKey)) || ro.Size() != 1 {
		t.Fatalf("read-only: %s %d", ro.Origin(), ro.Size())
	}
	if _, err := ro.Append(ctx, noteN(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to read-only: %v", err)
	}
	if _, err := Open(t.TempDir(), nil, &Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of an empty directory")
	}
}

func TestAddRejects(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(5))
	if _, err := l.Add(ctx, TypeNote, make([]byte, MaxBodySize+1)).Wait(ctx); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
	if _, err := l.Add(ctx, Type(99), nil).Wait(ctx); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown type: %v", err)
	}
	if idx, err := l.Add(ctx, TypeNote, make([]byte, MaxBodySize)).Wait(ctx); err != nil || idx != 0 {
		t.Fatalf("largest body: %d %v", idx, err)
	}
	raw, _ := l.Entry(0)
	if len(raw) != MaxEntrySize {
		t.Fatalf("largest entry is %d bytes", len(raw))
	}
	_ = l.Close()
	if _, err := l.Append(ctx, noteN(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestRecorderEvents(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(6))
	job := JobID{1, 2, 3}
	site := Party{Name: "h1", Key: testKey(7).Public().(ed25519.PublicKey)}
	evs := []Event{
		&JobProposed{Job: job, Name: "bc", FileHash: [32]byte{9}, Seed: 42, Mode: "secagg", Roster: []Party{site}},
		&SiteDecided{Job: job, Site: site, Accept: true, Rows: 120},
		&RoundCommitted{Job: job, Round: 1, Attempt: 2, ModelHash: [32]byte{8}, Contributors: []Party{site}, Epsilon: []float64{math.NaN()}},
		&JobFinished{Job: job, Rounds: 3, Loss: 0.1, Accuracy: 0.9, AUC: 0.99},
		&BudgetSpent{Job: job, Dataset: "bc", Epsilon: 1, Delta: 1e-5, Total: 2},
	}
	if err := l.JobProposed(ctx, evs[0].(*JobProposed)); err != nil {
		t.Fatal(err)
	}
	if err := l.SiteDecided(ctx, evs[1].(*SiteDecided)); err != nil {
		t.Fatal(err)
	}
	if err := l.RoundCommitted(ctx, evs[2].(*RoundCommitted)); err != nil {
		t.Fatal(err)
	}
	if err := l.JobFinished(ctx, evs[3].(*JobFinished)); err != nil {
		t.Fatal(err)
	}
	if err := l.BudgetSpent(ctx, evs[4].(*BudgetSpent)); err != nil {
		t.Fatal(err)
	}
	for i, want := range evs {
		raw, _ := l.Entry(uint64(i))
		var e Entry
		if err := e.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		got, err := e.Event()
		if err != nil {
			t.Fatal(err)
		}
		wb, _ := want.MarshalBinary()
		gb, _ := got.MarshalBinary()
		if got.EntryType() != want.EntryType() || !bytes.Equal(wb, gb) {
			t.Fatalf("entry %d: %v %x, want %v %x", i, got.EntryType(), gb, want.EntryType(), wb)
		}
	}
}

// TestKeysManySeeds signs and verifies checkpoints and cosignatures with
// many keys (base64 key data often holds '+', which once broke the signer
// key).
func TestKeysManySeeds(t *testing.T) {
	for seed := 0; seed < 64; seed++ {
		k := testKey(byte(seed))
		pub := k.Public().(ed25519.PublicKey)
		signed, err := note.Sign(&note.Note{Text: Checkpoint{Origin: Origin(pub), Size: 1}.Text()}, logSigner(k))
		if err != nil {
			t.Fatal(err)
		}
		wv, err := WitnessVerifier(WitnessKey(pub))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := note.Sign(&note.Note{Text: Checkpoint{Origin: Origin(pub), Size: 1}.Text()}, cosigner(k))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := OpenCheckpoint(signed, LogVerifier(pub)); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if _, err := note.Open(cs, note.VerifierList(wv)); err != nil {
			t.Fatalf("seed %d: cosignature: %v", seed, err)
		}
		if got, err := OriginKey(Origin(pub)); err != nil || !got.Equal(pub) {
			t.Fatalf("seed %d: origin key %v", seed, err)
		}
	}
}

// TestWitnessRefusesAProofForAFirstCheckpoint: a witness that has seen
// nothing of a log takes its first checkpoint as it is, and a request that
// nevertheless carries a proof is malformed.
func TestWitnessRefusesAProofForAFirstCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(30))
	w := openTest(t, t.TempDir(), testKey(31))
	if _, err := l.Append(ctx, noteN(0)); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &AddCheckpointRequest{Proof: [][]byte{make([]byte, 32)}, Checkpoint: cp}
	if _, err := w.AddCheckpoint(ctx, l.PublicKey(), req); !errors.Is(err, ErrMalformed) {
		t.Fatalf("first checkpoint with a proof: %v", err)
	}
	req.Proof = nil
	if _, err := w.AddCheckpoint(ctx, l.PublicKey(), req); err != nil {
		t.Fatal(err)
	}
}
