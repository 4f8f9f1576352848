package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// This file holds what the crash tests share: the entries they add, a
// clock that fixes the batches the committer forms, and the check of a
// ledger reopened after a crash.

// crashKey is the key of the ledgers the crash tests make.
func crashKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xc7}, 32))
}

// crashBody is the body of the i-th entry a crash test adds; lengths vary.
func crashBody(i int) []byte {
	b := fmt.Appendf(nil, "entry %d of the crash test|", i)
	return append(b, bytes.Repeat([]byte{byte(i)}, i%61)...)
}

// crashTime is the time stamped by the c-th commit of a batchClock.
func crashTime(c int64) time.Time {
	return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(time.Duration(c) * time.Second)
}

// isWAL reports whether a file system operation is on a write-ahead log.
func isWAL(op errorfs.Op) bool { return strings.HasSuffix(op.Path, ".log") }

// opName names a kind of file system operation.
func opName(k errorfs.OpKind) string {
	names := map[errorfs.OpKind]string{
		errorfs.OpCreate: "create", errorfs.OpLink: "link", errorfs.OpOpen: "open", errorfs.OpOpenDir: "open dir",
		errorfs.OpRemove: "remove", errorfs.OpRemoveAll: "remove all", errorfs.OpRename: "rename",
		errorfs.OpReuseForWrite: "reuse", errorfs.OpMkdirAll: "mkdir", errorfs.OpLock: "lock", errorfs.OpList: "list",
		errorfs.OpFilePreallocate: "preallocate", errorfs.OpStat: "stat", errorfs.OpGetDiskUsage: "disk usage",
		errorfs.OpFileClose: "close", errorfs.OpFileRead: "read", errorfs.OpFileReadAt: "read at",
		errorfs.OpFileWrite: "write", errorfs.OpFileWriteAt: "write at", errorfs.OpFileStat: "stat file",
		errorfs.OpFileSync: "sync", errorfs.OpFileSyncData: "sync data", errorfs.OpFileSyncTo: "sync to",
		errorfs.OpFileFlush: "flush",
	}
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("op %d", int(k))
}

// isWALData reports whether a file system operation writes or syncs a
// write-ahead log's data, as a commit does.
func isWALData(op errorfs.Op) bool {
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFileFlush:
		return isWAL(op)
	}
	return false
}

// survive runs f and reports whether it panicked with Pebble's Fatalf (a
// pebbleFatal) or with an injected error (Pebble panics on some errors,
// such as one moving a marker file): there the process would have ended,
// which a crash test treats as the crash. Any other panic goes on.
func survive(f func()) (died bool) {
	defer func() {
		if r := recover(); r != nil {
			err, _ := r.(error)
			if _, ok := r.(pebbleFatal); !ok && !errors.Is(err, errorfs.ErrInjected) {
				panic(r)
			}
			died = true
		}
	}()
	f()
	return false
}

// crashLedger is what a test submitted to a ledger and saw acknowledged,
// against which the ledger is checked after a crash.
type crashLedger struct {
	// body is the body submitted as entry i (all are TypeNote).
	body func(i int) []byte
	// submitted bounds the size: the entries submitted, -1 if unknown.
	submitted int
	// acked is the number of entries acknowledged, a prefix of them.
	acked int
	// ends, if not nil, lists the sizes a crash may leave: 0 and the size
	// after each batch submitted, ascending.
	ends []int
	// stamps, if not nil, holds the time each submitted entry's batch
	// stamps it with.
	stamps []time.Time
	// checkpoints are the acknowledged checkpoints by size; a nil note
	// means only that one of that size was acknowledged.
	checkpoints map[uint64][]byte
}

func (w *crashLedger) clone() *crashLedger {
	c := *w
	c.ends = slices.Clone(w.ends)
	c.stamps = slices.Clone(w.stamps)
	c.checkpoints = maps.Clone(w.checkpoints)
	return &c
}

// check checks a ledger reopened after a crash: it holds at least the
// acknowledged entries and at most those submitted, ending on a batch
// boundary; each entry is the one submitted at its index, stamped by its
// batch and chained to the one before; the root, proofs and kept
// checkpoints agree with a reference tree rebuilt from the entries; the
// acknowledged checkpoints are kept; the ledger verifies; and appends
// continue at its size.
func (w *crashLedger) check(l *Log) error {
	ctx := context.Background()
	size := int(l.Size())
	switch {
	case size < w.acked:
		return fmt.Errorf("reopened with %d entries; %d were acknowledged", size, w.acked)
	case w.submitted >= 0 && size > w.submitted:
		return fmt.Errorf("reopened with %d entries; only %d were submitted", size, w.submitted)
	case w.ends != nil && !slices.Contains(w.ends, size):
		return fmt.Errorf("reopened with %d entries, inside a batch: the batches end at %v", size, w.ends)
	}
	ref := testonly.New(rfc6962.DefaultHasher)
	var prev [32]byte
	raw := make([][]byte, 0, size+3)
	if err := l.Entries(0, uint64(size), func(i uint64, b []byte) error {
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Index != i || e.Type != TypeNote || !bytes.Equal(e.Body, w.body(int(i))) || e.Prev != prev {
			return fmt.Errorf("entry %d is {index %d, %v, prev %x, %q}; want {index %d, note, prev %x, %q}",
				i, e.Index, e.Type, e.Prev[:4], e.Body, i, prev[:4], w.body(int(i)))
		}
		if w.stamps != nil && !e.Time.Equal(w.stamps[i]) {
			return fmt.Errorf("entry %d is stamped %v, not %v: it was not committed in the batch it was submitted in", i, e.Time, w.stamps[i])
		}
		prev = LeafHash(b)
		ref.AppendData(b)
		raw = append(raw, bytes.Clone(b))
		return nil
	}); err != nil {
		return err
	}
	if err := checkTree(l, ref, raw); err != nil {
		return err
	}

	// The acknowledged checkpoints are kept; every kept one (acknowledged
	// or not) is signed by the log and agrees with the tree.
	for s, want := range w.checkpoints {
		got, err := l.CheckpointAt(s)
		if err != nil {
			return fmt.Errorf("the checkpoint acknowledged at size %d: %w", s, err)
		}
		if want != nil && !bytes.Equal(got, want) {
			return fmt.Errorf("the checkpoint acknowledged at size %d is kept as\n%s\nnot\n%s", s, got, want)
		}
	}
	sizes, err := l.Checkpoints()
	if err != nil {
		return err
	}
	for _, s := range sizes {
		signed, err := l.CheckpointAt(s)
		if err != nil {
			return err
		}
		c, _, err := OpenCheckpoint(signed, LogVerifier(l.PublicKey()))
		if err != nil {
			return fmt.Errorf("kept checkpoint at %d: %w", s, err)
		}
		if c.Size != s || c.Size > uint64(size) || !bytes.Equal(c.Root[:], ref.HashAt(c.Size)) {
			return fmt.Errorf("kept checkpoint at %d is of size %d root %x; the tree has %d entries, root %x at that size",
				s, c.Size, c.Root[:4], size, ref.HashAt(min(c.Size, uint64(size)))[:4])
		}
		p, err := l.ConsistencyProof(c.Size, uint64(size))
		if err != nil {
			return err
		}
		if err := VerifyConsistency(c.Size, uint64(size), p, c.Root, [32]byte(ref.Hash())); err != nil {
			return fmt.Errorf("kept checkpoint at %d: %w", s, err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		return fmt.Errorf("checkpoint after the crash: %w", err)
	}
	if _, err := Verify(ctx, l.Source(), VerifyOptions{}); err != nil {
		return fmt.Errorf("verify after the crash: %w", err)
	}

	// Appends continue at the size.
	fs := make([]*Future, 3)
	for j := range fs {
		fs[j] = l.Add(ctx, TypeNote, w.body(size+j))
	}
	for j, f := range fs {
		if i, err := f.Wait(ctx); err != nil || int(i) != size+j {
			return fmt.Errorf("append %d after the crash: index %d, %v; want index %d", j, i, err, size+j)
		}
	}
	for j := range fs {
		b, err := l.Entry(uint64(size + j))
		if err != nil {
			return err
		}
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return err
		}
		if e.Index != uint64(size+j) || e.Prev != prev || !bytes.Equal(e.Body, w.body(size+j)) {
			return fmt.Errorf("entry %d appended after the crash is {index %d, prev %x, %q}", size+j, e.Index, e.Prev[:4], e.Body)
		}
		prev = LeafHash(b)
		ref.AppendData(b)
		raw = append(raw, bytes.Clone(b))
	}
	return checkTree(l, ref, raw)
}

// checkTree checks the ledger's root, its roots at smaller sizes, and
// inclusion and consistency proofs against ref, the reference tree of its
// entries raw.
func checkTree(l *Log, ref *testonly.Tree, raw [][]byte) error {
	size, root := l.Root()
	if size != ref.Size() || !bytes.Equal(root[:], ref.Hash()) {
		return fmt.Errorf("root %x at size %d; the entries rebuild to %x at size %d", root[:4], size, ref.Hash()[:4], ref.Size())
	}
	for _, s := range []uint64{1, size / 3, size / 2, size - 1, size} {
		if s == 0 || s > size {
			continue
		}
		r, err := l.RootAt(s)
		if err != nil || !bytes.Equal(r[:], ref.HashAt(s)) {
			return fmt.Errorf("root at %d is %x (%v), want %x", s, r[:4], err, ref.HashAt(s)[:4])
		}
		for _, i := range []uint64{0, s / 2, s - 1} {
			p, err := l.InclusionProof(i, s)
			if err != nil {
				return err
			}
			if err := VerifyInclusion(raw[i], i, s, p, r); err != nil {
				return err
			}
		}
		p, err := l.ConsistencyProof(s, size)
		if err != nil {
			return err
		}
		if err := VerifyConsistency(s, size, p, r, root); err != nil {
			return err
		}
	}
	return nil
}
