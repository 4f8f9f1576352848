package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
)

// wantFailure checks that err is a *VerifyError about entry (or -1) whose
// text contains check, and returns it.
func wantFailure(t *testing.T, err error, entry int64, check string) *VerifyError {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *VerifyError about entry %d (%s), got %v", entry, check, err)
	}
	if ve.Entry != entry || !strings.Contains(ve.Error(), check) {
		t.Fatalf("want entry %d, %q; got %v", entry, check, err)
	}
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("%v is not ErrVerify", err)
	}
	return ve
}

// editBundle rewrites the bundle holding entry i with edit applied to its
// entries (j is i's place in the bundle).
func editBundle(t *testing.T, dir string, size uint64, i uint64, edit func(es [][]byte, j int) [][]byte) {
	t.Helper()
	n := i / tlogTileWidth
	p := EntriesPath(n, tileWidth(size, n))
	es, err := parseBundle(readExport(t, dir, p), tileWidth(size, n))
	if err != nil {
		t.Fatal(err)
	}
	for k := range es {
		es[k] = bytes.Clone(es[k])
	}
	var out []byte
	for _, e := range edit(es, int(i%tlogTileWidth)) {
		out = appendBundle(out, e)
	}
	writeExport(t, dir, p, out)
}

// forgedCheckpoint signs, with the log's own key, a checkpoint at size
// whose root differs: what a log that forked would show someone.
func forgedCheckpoint(t *testing.T, f *fixture, size uint64) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: Checkpoint{Origin: f.log.Origin(), Size: size, Root: [32]byte{0xf0, 0x4c}}.Text()}, logSigner(testKey(10)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipSignature flips a bit of the signature (not the key hash) in the
// signature line by name.
func flipSignature(t *testing.T, signed []byte, name string) []byte {
	t.Helper()
	prefix := "— " + name + " "
	lines := strings.SplitAfter(string(signed), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(rest, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)-1] ^= 1
			lines[i] = prefix + base64.StdEncoding.EncodeToString(sig) + "\n"
			return []byte(strings.Join(lines, ""))
		}
	}
	t.Fatalf("no signature by %s in %q", name, signed)
	return nil
}

// dropSignature removes the signature line by name.
func dropSignature(t *testing.T, signed []byte, name string) []byte {
	t.Helper()
	var kept []string
	for _, l := range strings.SplitAfter(string(signed), "\n") {
		if !strings.HasPrefix(l, "— "+name+" ") {
			kept = append(kept, l)
		}
	}
	if len(strings.Join(kept, "")) == len(signed) {
		t.Fatalf("no signature by %s", name)
	}
	return []byte(strings.Join(kept, ""))
}

// The fixture for the tamper tests: 3009 entries, so 12 bundles (the last
// of 193) and a level-1 tile of 11 hashes; entry 1505 is a witness alarm,
// the checkpoint at 1507 is cosigned (entry 1507 says so) and entry 1508
// anchors it.
const tamperEntries = 3000

func TestTamperExport(t *testing.T) {
	f := newFixture(t, tamperEntries)
	size := f.log.Size()
	cosigned := exportCheckpoints + "/" + strconv.FormatUint(f.cosized, 10)
	witness := WitnessName(f.witness.PublicKey())
	if size != 3009 || f.cosized != 1507 || f.anchor != 1508 || f.alarm != 1505 {
		t.Fatalf("fixture: size %d, cosigned %d, anchor %d, alarm %d", size, f.cosized, f.anchor, f.alarm)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string) VerifyOptions
		entry  int64
		check  string
	}{
		{"body byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 1000, func(es [][]byte, j int) [][]byte { es[j][len(es[j])-1] ^= 1; return es })
			return VerifyOptions{}
		}, 1000, "stored tree node (level 0, index 1000) over entries [1000, 1001), in tile/0/003: hash"},
		{"type byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 10, func(es [][]byte, j int) [][]byte { es[j][1] = byte(TypeJobFinished); return es })
			return VerifyOptions{}
		}, 10, "body"},
		{"index byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 500, func(es [][]byte, j int) [][]byte { es[j][9] ^= 1; return es })
			return VerifyOptions{}
		}, 500, "index (an entry removed, reordered or duplicated here): want 500, got 501"},
		{"time byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 600, func(es [][]byte, j int) [][]byte { es[j][17] ^= 1; return es })
			return VerifyOptions{}
		}, 600, "stored tree node (level 0, index 600)"},
		{"prev byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 700, func(es [][]byte, j int) [][]byte { es[j][20] ^= 1; return es })
			return VerifyOptions{}
		}, 700, "prev hash"},
		{"version byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 800, func(es [][]byte, j int) [][]byte { es[j][0] = 2; return es })
			return VerifyOptions{}
		}, 800, "decode"},
		{"removed", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 300, func(es [][]byte, j int) [][]byte { return append(es[:j], es[j+1:]...) })
			return VerifyOptions{}
		}, 300, "index (an entry removed, reordered or duplicated here): want 300, got 301"},
		{"removed last of a bundle", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 511, func(es [][]byte, j int) [][]byte { return es[:j] })
			return VerifyOptions{}
		}, 511, "tile/entries/001: bundle: ledger: malformed: entry bundle holds 255 entries, want 256"},
		{"duplicated", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 301, func(es [][]byte, j int) [][]byte { es[j] = es[j-1]; return es })
			return VerifyOptions{}
		}, 301, "index (an entry removed, reordered or duplicated here): want 301, got 300"},
		{"duplicated, shifting", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 301, func(es [][]byte, j int) [][]byte { return append(es[:j+1], es[j:]...) })
			return VerifyOptions{}
		}, 302, "index (an entry removed, reordered or duplicated here): want 302, got 301"},
		{"one too many in a bundle", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 3000, func(es [][]byte, j int) [][]byte { return append(es, es[len(es)-1]) })
			return VerifyOptions{}
		}, 3009, "entry bundle holds more than 193 entries"},
		{"reordered", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 400, func(es [][]byte, j int) [][]byte { es[j], es[j+1] = es[j+1], es[j]; return es })
			return VerifyOptions{}
		}, 400, "index (an entry removed, reordered or duplicated here): want 400, got 401"},
		{"bundle missing", func(t *testing.T, dir string) VerifyOptions {
			_ = os.Remove(filepath.Join(dir, filepath.FromSlash(EntriesPath(5, 256))))
			return VerifyOptions{}
		}, 1280, "tile/entries/005: read"},
		{"level-0 tile hash", func(t *testing.T, dir string) VerifyOptions {
			p := TilePath(0, 11, 193)
			b := readExport(t, dir, p)
			b[32*192] ^= 1
			writeExport(t, dir, p, b)
			return VerifyOptions{}
		}, 3008, "stored tree node (level 0, index 3008) over entries [3008, 3009), in tile/0/011.p/193: hash"},
		{"level-1 tile hash", func(t *testing.T, dir string) VerifyOptions {
			p := TilePath(1, 0, 11)
			b := readExport(t, dir, p)
			b[32*3] ^= 1 // node (8, 3), complete at entry 1023
			writeExport(t, dir, p, b)
			return VerifyOptions{}
		}, 1023, "stored tree node (level 8, index 3) over entries [768, 1024), in tile/1/000.p/11: hash"},
		{"tile missing", func(t *testing.T, dir string) VerifyOptions {
			_ = os.Remove(filepath.Join(dir, filepath.FromSlash(TilePath(1, 0, 11))))
			return VerifyOptions{}
		}, 255, "stored tree node (level 8, index 0): read"},
		{"tile short", func(t *testing.T, dir string) VerifyOptions {
			p := TilePath(0, 2, 256)
			writeExport(t, dir, p, readExport(t, dir, p)[:32*255])
			return VerifyOptions{}
		}, 512, "tile/0/002: ledger: malformed: hash tile of 8160 bytes"},
		{"forged signature", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, cosigned, flipSignature(t, readExport(t, dir, cosigned), f.log.Origin()))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 1507: signature: ledger: signature"},
		{"missing signature", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, cosigned, dropSignature(t, readExport(t, dir, cosigned), f.log.Origin()))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 1507: signature: ledger: signature"},
		{"bad cosignature", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, cosigned, flipSignature(t, readExport(t, dir, cosigned), witness))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 1507: cosignatures: ledger: signature"},
		{"unknown cosigner", func(t *testing.T, dir string) VerifyOptions {
			b, err := f.log.CheckpointAt(f.alarm + 1)
			if err != nil {
				t.Fatal(err)
			}
			other := openTest(t, filepath.Join(t.TempDir(), "other"), testKey(14))
			sig, err := other.AddCheckpoint(context.Background(), f.log.PublicKey(), &AddCheckpointRequest{Checkpoint: b})
			if err != nil {
				t.Fatal(err)
			}
			writeExport(t, dir, exportCheckpoints+"/1506", append(b, sig...))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 1506: signature by cohort-witness/did:key:"},
		{"fork given", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{Checkpoints: [][]byte{forgedCheckpoint(t, f, f.cosized)}}
		}, -1, "given checkpoint 1 at 1507: root (two signed checkpoints disagree: a fork)"},
		{"fork kept", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, cosigned, forgedCheckpoint(t, f, f.cosized))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 1507: root (two signed checkpoints disagree: a fork)"},
		{"fork kept at a new size", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, exportCheckpoints+"/17", forgedCheckpoint(t, f, 17))
			return VerifyOptions{}
		}, -1, "kept checkpoint at 17: root (two signed checkpoints disagree: a fork)"},
		{"checkpoint misnamed", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, exportCheckpoints+"/17", readExport(t, dir, cosigned))
			return VerifyOptions{}
		}, -1, "checkpoints/17 holds the checkpoint at size 1507"},
		{"checkpoint not the latest", func(t *testing.T, dir string) VerifyOptions {
			_ = os.Remove(filepath.Join(dir, exportCheckpoints, strconv.FormatUint(size, 10)))
			return VerifyOptions{}
		}, -1, "checkpoint is not the latest of checkpoints/"},
		{"forged anchor root", func(t *testing.T, dir string) VerifyOptions {
			b := readExport(t, dir, exportAnchors)
			i := bytes.Index(b, []byte(`"root": "`)) + len(`"root": "`)
			b[i] ^= 1
			writeExport(t, dir, exportAnchors, b)
			return VerifyOptions{}
		}, 1508, "anchors.json: the receipt's root differs from the anchor entry's"},
		{"forged anchor block", func(t *testing.T, dir string) VerifyOptions {
			b := readExport(t, dir, exportAnchors)
			writeExport(t, dir, exportAnchors, bytes.Replace(b, []byte(`"block": 5`), []byte(`"block": 6`), 1))
			return VerifyOptions{}
		}, 1508, "anchors.json: the receipt's block differs from the anchor entry's: want 5, got 6"},
		{"anchor receipt removed", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, exportAnchors, []byte("[]\n"))
			return VerifyOptions{}
		}, 1508, "anchors.json: the anchor entry has no receipt"},
		{"anchors.json malformed", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, exportAnchors, []byte("[]]"))
			return VerifyOptions{}
		}, -1, "anchors.json: read: ledger: malformed: anchors.json: data after the array"},
		{"witness list", func(t *testing.T, dir string) VerifyOptions {
			writeExport(t, dir, exportWitnesses, nil)
			return VerifyOptions{}
		}, -1, "witnesses: the list differs from the cosigners in the entries"},
		{"another log's key pinned", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{LogKey: f.witness.PublicKey()}
		}, -1, "log key"},
		{"another origin pinned", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{Origin: f.witness.Origin()}
		}, -1, "log origin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := f.export(t)
			opts := c.tamper(t, dir)
			_, err := verifyDir(dir, opts)
			ve := wantFailure(t, err, c.entry, c.check)
			if strings.HasPrefix(c.name, "fork") {
				checkEvidence(t, f, f.log, ve)
			}
		})
	}
	// The published checkpoint and the key: the export does not open.
	for name, c := range map[string]struct {
		tamper func(dir string)
		check  string
	}{
		"forged checkpoint signature": {func(dir string) {
			writeExport(t, dir, exportCheckpoint, flipSignature(t, readExport(t, dir, exportCheckpoint), f.log.Origin()))
		}, "checkpoint: signature by the log's key in log.vkey: ledger: signature"},
		"another log's key": {func(dir string) {
			writeExport(t, dir, exportVKey, []byte(f.witness.VerifierKey()+"\n"))
		}, "checkpoint: signature by the log's key in log.vkey: ledger: signature"},
		"key not canonical": {func(dir string) {
			writeExport(t, dir, exportVKey, []byte(f.log.VerifierKey()))
		}, "log.vkey: parse: ledger: malformed: log.vkey is not a verifier key and a newline"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := f.export(t)
			c.tamper(dir)
			_, err := OpenDir(dir)
			wantFailure(t, err, -1, c.check)
		})
	}
}

// checkEvidence checks the evidence of a fork: a signed checkpoint that
// agrees with the ledger, and the forged one.
func checkEvidence(t *testing.T, f *fixture, l *Log, ve *VerifyError) {
	t.Helper()
	if !errors.Is(ve, ErrFork) || len(ve.Evidence) != 2 {
		t.Fatalf("%v: evidence %q", ve, ve.Evidence)
	}
	good, _, err := OpenCheckpoint(ve.Evidence[0], f.log.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := l.RootAt(good.Size); err != nil || root != good.Root {
		t.Fatalf("evidence %q does not agree with the ledger", ve.Evidence[0])
	}
	bad, _, err := OpenCheckpoint(ve.Evidence[1], f.log.verifier)
	if err != nil || !bytes.Equal(ve.Evidence[1], forgedCheckpoint(t, f, bad.Size)) {
		t.Fatalf("evidence %q is not the forged checkpoint: %v", ve.Evidence[1], err)
	}
}

// rawEdit closes the ledger, edits its Pebble store directly, and reopens
// it read-only, as someone with the disk would.
func rawEdit(t *testing.T, f *fixture, edit func(db *pebble.DB)) *Log {
	t.Helper()
	if err := f.log.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(f.dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	edit(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(f.dir, nil, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func rawGet(t *testing.T, db *pebble.DB, k []byte) []byte {
	t.Helper()
	v, c, err := db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return bytes.Clone(v)
}

func rawSet(t *testing.T, db *pebble.DB, k, v []byte) {
	t.Helper()
	if err := db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func TestTamperLive(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(t *testing.T, f *fixture, db *pebble.DB)
		opts  func(f *fixture) VerifyOptions
		entry int64
		check string
	}{
		{"body byte", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, entryKey(1000))
			v[len(v)-1] ^= 1
			rawSet(t, db, entryKey(1000), v)
		}, nil, 1000, "stored tree node (level 0, index 1000) over entries [1000, 1001), in tile/0/003: hash"},
		{"index byte", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, entryKey(500))
			v[9] ^= 1
			rawSet(t, db, entryKey(500), v)
		}, nil, 500, "index (an entry removed, reordered or duplicated here): want 500, got 501"},
		{"prev byte", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, entryKey(700))
			v[40] ^= 1
			rawSet(t, db, entryKey(700), v)
		}, nil, 700, "prev hash"},
		{"removed", func(t *testing.T, f *fixture, db *pebble.DB) {
			if err := db.Delete(entryKey(300), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, nil, 300, "the entry is missing from the store"},
		{"removed, shifting", func(t *testing.T, f *fixture, db *pebble.DB) {
			for i := uint64(300); i < 3008; i++ {
				rawSet(t, db, entryKey(i), rawGet(t, db, entryKey(i+1)))
			}
			if err := db.Delete(entryKey(3008), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, nil, 300, "index (an entry removed, reordered or duplicated here): want 300, got 301"},
		{"duplicated", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, entryKey(301), rawGet(t, db, entryKey(300)))
		}, nil, 301, "index (an entry removed, reordered or duplicated here): want 301, got 300"},
		{"reordered", func(t *testing.T, f *fixture, db *pebble.DB) {
			a, b := rawGet(t, db, entryKey(400)), rawGet(t, db, entryKey(401))
			rawSet(t, db, entryKey(400), b)
			rawSet(t, db, entryKey(401), a)
		}, nil, 400, "index (an entry removed, reordered or duplicated here): want 400, got 401"},
		{"leaf hash", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, tileKey(3))
			v[2+32*tileSlot(0, 1000-768)] ^= 1
			rawSet(t, db, tileKey(3), v)
		}, nil, 1000, "stored tree node (level 0, index 1000) over entries [1000, 1001), in tile/0/003: hash"},
		{"inner node", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, tileKey(2))
			v[2+32*tileSlot(3, 5)] ^= 1 // node (3, 2*32+5) over entries [552, 560)
			rawSet(t, db, tileKey(2), v)
		}, nil, 559, "stored tree node (level 3, index 69) over entries [552, 560): hash"},
		{"upper node", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := rawGet(t, db, nodeKey(8, 3))
			v[0] ^= 1
			rawSet(t, db, nodeKey(8, 3), v)
		}, nil, 1023, "stored tree node (level 8, index 3) over entries [768, 1024), in tile/1/000.p/11: hash"},
		{"forged signature", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, checkpointKey(f.cosized), flipSignature(t, rawGet(t, db, checkpointKey(f.cosized)), f.log.Origin()))
		}, nil, -1, "kept checkpoint at 1507: signature: ledger: signature"},
		{"missing signature", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, checkpointKey(f.cosized), dropSignature(t, rawGet(t, db, checkpointKey(f.cosized)), f.log.Origin()))
		}, nil, -1, "kept checkpoint at 1507: signature: ledger: signature"},
		{"bad cosignature", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, checkpointKey(f.cosized), flipSignature(t, rawGet(t, db, checkpointKey(f.cosized)), WitnessName(f.witness.PublicKey())))
		}, nil, -1, "kept checkpoint at 1507: cosignatures: ledger: signature"},
		{"fork kept", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, checkpointKey(f.cosized), forgedCheckpoint(t, f, f.cosized))
		}, nil, -1, "kept checkpoint at 1507: root (two signed checkpoints disagree: a fork)"},
		{"fork given", func(t *testing.T, f *fixture, db *pebble.DB) {}, func(f *fixture) VerifyOptions {
			return VerifyOptions{Checkpoints: [][]byte{forgedCheckpoint(t, f, f.cosized)}}
		}, -1, "given checkpoint 1 at 1507: root (two signed checkpoints disagree: a fork)"},
		{"latest checkpoint", func(t *testing.T, f *fixture, db *pebble.DB) {
			rawSet(t, db, checkpointKey(3009), forgedCheckpoint(t, f, 3009))
		}, nil, -1, "kept checkpoint at 3009: root (the entries do not hash to the root it signs)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, tamperEntries)
			l := rawEdit(t, f, func(db *pebble.DB) { c.edit(t, f, db) })
			var opts VerifyOptions
			if c.opts != nil {
				opts = c.opts(f)
			}
			_, err := Verify(context.Background(), l.Source(), opts)
			ve := wantFailure(t, err, c.entry, c.check)
			if strings.HasPrefix(c.name, "fork") {
				checkEvidence(t, f, l, ve)
			}
		})
	}
	// A forged anchor appended through the front door: its root is not
	// the log's at that size.
	t.Run("forged anchor", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, tamperEntries)
		i, err := f.log.Append(ctx, &AnchorPublished{Origin: f.log.Origin(), Size: f.cosized, Root: [32]byte{9}, Chain: "eip155", ChainID: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, f.log.Source(), VerifyOptions{})
		wantFailure(t, err, int64(i), "anchored root")
	})
	t.Run("anchor of another log", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, tamperEntries)
		root, _ := f.log.RootAt(f.cosized)
		i, err := f.log.Append(ctx, &AnchorPublished{Origin: f.witness.Origin(), Size: f.cosized, Root: root, Chain: "eip155", ChainID: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, f.log.Source(), VerifyOptions{})
		wantFailure(t, err, int64(i), "anchor origin")
	})
	t.Run("anchor refused on chain", func(t *testing.T) {
		f := newFixture(t, 100)
		_, err := Verify(context.Background(), f.log.Source(), VerifyOptions{Anchors: anchorChain{err: errors.New("no such transaction")}})
		ve := wantFailure(t, err, int64(f.anchor), "anchor on chain: no such transaction")
		if ve.Err == nil || ve.Err.Error() != "no such transaction" {
			t.Fatalf("underlying error %v", ve.Err)
		}
	})
	t.Run("cosigned root", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, tamperEntries)
		i, err := f.log.Append(ctx, &CheckpointCosigned{Size: f.alarm + 1, Root: [32]byte{3}, Witness: f.witness.WitnessKey(), Signature: "— x AAAA\n"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, f.log.Source(), VerifyOptions{})
		wantFailure(t, err, int64(i), "cosigned root")
	})
}

// anchorChain is an AnchorVerifier that answers err and counts its calls.
type anchorChain struct {
	err   error
	calls *int
}

func (c anchorChain) VerifyAnchor(_ context.Context, a *AnchorPublished) error {
	if c.calls != nil {
		*c.calls++
	}
	if c.err != nil {
		return fmt.Errorf("%w", c.err)
	}
	return nil
}
