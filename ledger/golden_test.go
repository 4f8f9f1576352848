package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/internal/golden"
)

var goldenDir = filepath.Join("testdata", "wire")

// checkGolden compares b with testdata/wire/name (hex for binary formats, as is
// for text formats); -update rewrites it.
func checkGolden(t *testing.T, name string, b []byte, text bool) {
	t.Helper()
	golden.Check(t, filepath.Join(goldenDir, name), b, text)
}

// TestGoldenEntries pins the encoding of one entry of every type
// (docs/wire/ledger.md) and checks the header against the spec by hand.
func TestGoldenEntries(t *testing.T) {
	when := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, ev := range sampleEvents() {
		body, err := ev.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Index: uint64(i), Type: ev.EntryType(), Time: when, Prev: [32]byte{0xaa, byte(i)}, Body: body}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "entry-"+ev.EntryType().String()+".hex", b, false)
		if b[0] != 1 || b[1] != byte(ev.EntryType()) || binary.BigEndian.Uint64(b[2:]) != uint64(i) ||
			int64(binary.BigEndian.Uint64(b[10:])) != when.UnixNano() || b[18] != 0xaa || b[19] != byte(i) || !bytes.Equal(b[50:], body) {
			t.Fatalf("%v: header does not follow docs/wire/ledger.md: %x", ev.EntryType(), b[:50])
		}
	}
}

// TestGoldenNotes pins a signed checkpoint, a cosignature's form, a
// tlog-proof and a tlog-witness request made by a fixed key over a fixed
// log (Ed25519 signatures are deterministic; cosignatures carry the time
// and are checked by shape only).
func TestGoldenNotes(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(1))
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, noteN(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "checkpoint.txt", cp, true)
	lines := strings.Split(string(cp), "\n")
	if lines[0] != l.Origin() || lines[1] != "5" || lines[3] != "" || !strings.HasPrefix(lines[4], "— "+l.Origin()+" ") {
		t.Fatalf("checkpoint does not follow C2SP tlog-checkpoint:\n%s", cp)
	}
	p, err := l.Prove(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "proof-2.txt", p, true)
	if !strings.HasPrefix(string(p), "c2sp.org/tlog-proof@v1\nextra ") {
		t.Fatalf("proof does not start as C2SP tlog-proof says:\n%s", p)
	}
	proof, _ := l.ConsistencyProof(2, 5)
	req, err := (&AddCheckpointRequest{Old: 2, Proof: proof, Checkpoint: cp}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "add-checkpoint.txt", req, true)
	checkGolden(t, "log.vkey", []byte(l.VerifierKey()+"\n"), true)
	checkGolden(t, "witness.vkey", []byte(l.WitnessKey()+"\n"), true)
}
