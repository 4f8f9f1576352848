package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
)

func sampleEvents() []Event {
	k := testKey(1).Public().(ed25519.PublicKey)
	p := Party{Name: "h", Key: k}
	return []Event{
		&Note{Data: []byte("hello")},
		&JobProposed{Job: JobID{1}, Name: "j", FileHash: [32]byte{2}, Seed: 3, Mode: "mhe", Roster: []Party{p, p}},
		&SiteDecided{Job: JobID{1}, Site: p, Accept: false, Reason: "policy", Rows: 0},
		&RoundCommitted{Job: JobID{1}, Round: 2, Attempt: 1, ModelHash: [32]byte{4}, Contributors: []Party{p}, Epsilon: []float64{0.5}},
		&JobFinished{Job: JobID{1}, Rounds: 2, Err: "quorum"},
		&BudgetSpent{Job: JobID{1}, Dataset: "bc", Epsilon: 1, Delta: 1e-5, Total: 3},
		&CheckpointCosigned{Size: 9, Root: [32]byte{5}, Witness: "w+12345678+AAAA", Signature: "— w AAAA\n"},
		&AnchorPublished{Origin: "cohort/x", Size: 9, Root: [32]byte{6}, Chain: "eip155", ChainID: 1337, Tx: [32]byte{7}, Block: 3, BlockHash: [32]byte{8}, Confirmations: 1},
		&Witnessed{Origin: "cohort/y", Size: 4, Root: [32]byte{9}, Checkpoint: []byte("cp\n"), Cosignature: "— w x\n"},
		&WitnessAlarm{Origin: "cohort/y", Reason: "fork", Trusted: []byte("a"), Refused: []byte("b"), Proof: [][32]byte{{1}}},
	}
}

// FuzzEntry: an entry that decodes re-encodes to the same bytes, and so
// does its body as its type.
func FuzzEntry(f *testing.F) {
	for i, ev := range sampleEvents() {
		body, _ := ev.MarshalBinary()
		b, _ := (&Entry{Index: uint64(i), Type: ev.EntryType(), Prev: [32]byte{byte(i)}, Body: body}).MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := e.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("entry %x re-encodes to %x (%v)", b, out, err)
		}
		ev, err := e.Event()
		if err != nil {
			return
		}
		body, err := ev.MarshalBinary()
		if err != nil || !bytes.Equal(body, e.Body) {
			t.Fatalf("%v body %x re-encodes to %x (%v)", e.Type, e.Body, body, err)
		}
	})
}

func TestEventsRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		b, err := ev.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEvent(ev.EntryType(), b)
		if err != nil {
			t.Fatalf("%v: %v", ev.EntryType(), err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatalf("%v: %x → %x", ev.EntryType(), b, b2)
		}
		// Every strict prefix of a body with fixed fields is refused.
		if ev.EntryType() != TypeNote {
			for i := 0; i < len(b); i++ {
				if _, err := DecodeEvent(ev.EntryType(), b[:i]); err == nil {
					t.Fatalf("%v: prefix of %d bytes accepted", ev.EntryType(), i)
				}
			}
			if _, err := DecodeEvent(ev.EntryType(), append(b, 0)); err == nil {
				t.Fatalf("%v: trailing byte accepted", ev.EntryType())
			}
		}
	}
}

func FuzzAddCheckpointRequest(f *testing.F) {
	f.Add([]byte("old 0\n\ncohort/x\n1\nAAAA\n\n— x y\n"))
	r := &AddCheckpointRequest{Old: 3, Proof: [][]byte{make([]byte, 32), bytes.Repeat([]byte{0xfb}, 32)}, Checkpoint: []byte("a\n")}
	b, _ := r.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r AddCheckpointRequest
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("request %q re-encodes to %q (%v)", b, out, err)
		}
	})
}

// FuzzProofAndCheckpoint feeds bytes to the tlog-proof and checkpoint
// parsers: no panic, and whatever verifies is what the log signed.
func FuzzProofAndCheckpoint(f *testing.F) {
	ctx := context.Background()
	l, err := Open(f.TempDir(), testKey(3), &Options{Now: fixedClock()})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, noteN(i)); err != nil {
			f.Fatal(err)
		}
	}
	p, err := l.Prove(ctx, 3)
	if err != nil {
		f.Fatal(err)
	}
	cp, _ := l.LatestCheckpoint()
	f.Add(p)
	f.Add(cp)
	_, root := l.Root()
	v := l.verifier
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, c, err := VerifyProof(b, v); err == nil {
			raw, _ := l.Entry(e.Index)
			enc, _ := e.MarshalBinary()
			if c.Root != root || !bytes.Equal(raw, enc) {
				t.Fatalf("a proof of something the log did not sign verified: %+v", c)
			}
		}
		if c, n, err := OpenCheckpoint(b, v); err == nil {
			if c.Root != root || c.Text() != n.Text {
				t.Fatalf("a checkpoint the log did not sign opened: %+v", c)
			}
		}
	})
}

func TestProveVerify(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir(), testKey(4))
	for i := 0; i < 20; i++ {
		if _, err := l.Append(ctx, noteN(i)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := l.Prove(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	e, c, err := VerifyProof(p, LogVerifier(l.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if e.Index != 7 || !bytes.Equal(e.Body, noteN(7).Data) || c.Size != 20 {
		t.Fatalf("proved entry %d %q at size %d", e.Index, e.Body, c.Size)
	}
	// Another log's key does not verify it; a changed entry does not verify.
	if _, _, err := VerifyProof(p, LogVerifier(testKey(5).Public().(ed25519.PublicKey))); err == nil {
		t.Fatal("verified under another key")
	}
	bad := bytes.Replace(p, []byte("extra "), []byte("extra "), 1)
	i := bytes.Index(bad, []byte("\nindex "))
	bad[i-2] ^= 1 // a base64 character of the entry
	if _, _, err := VerifyProof(bad, LogVerifier(l.PublicKey())); err == nil {
		t.Fatal("a changed entry verified")
	}
}
