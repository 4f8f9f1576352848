package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// fixture is a ledger with notes, typed events, a checkpoint cosigned by a
// witness, an anchor entry and a final checkpoint.
type fixture struct {
	dir     string
	log     *Log
	witness *Log
	cosized uint64 // size of the cosigned checkpoint
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: filepath.Join(t.TempDir(), "ledger")}
	f.log = openTest(t, f.dir, testKey(10))
	f.witness = openTest(t, filepath.Join(t.TempDir(), "witness"), testKey(11))
	fill := func(k int) {
		fs := make([]*Future, 0, k)
		for i := 0; i < k; i++ {
			fs = append(fs, f.log.AddEvent(ctx, noteN(i)))
		}
		for _, fu := range fs {
			if _, err := fu.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(n / 2)
	for _, ev := range sampleEvents()[1:6] {
		if _, err := f.log.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := f.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.cosized = f.log.Size()
	sig, err := f.witness.AddCheckpoint(ctx, f.log.PublicKey(), &AddCheckpointRequest{Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.log.AddCosignature(ctx, f.cosized, f.witness.WitnessKey(), sig); err != nil {
		t.Fatal(err)
	}
	root, _ := f.log.RootAt(f.cosized)
	if _, err := f.log.Append(ctx, &AnchorPublished{Origin: f.log.Origin(), Size: f.cosized, Root: root, Chain: "eip155", ChainID: 1337,
		Tx: [32]byte{1}, Block: 5, BlockHash: [32]byte{2}, Confirmations: 1}); err != nil {
		t.Fatal(err)
	}
	fill(n - n/2)
	if _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) export(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := f.log.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func verifyDir(dir string, opts VerifyOptions) (*Report, error) {
	src, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return Verify(context.Background(), src, opts)
}

func TestExportVerify(t *testing.T) {
	f := newFixture(t, 70_000)
	dir := f.export(t)
	size, root := f.log.Root()
	for name, verify := range map[string]func() (*Report, error){
		"export": func() (*Report, error) { return verifyDir(dir, VerifyOptions{LogKey: f.log.PublicKey()}) },
		"live":   func() (*Report, error) { return Verify(context.Background(), f.log.Source(), VerifyOptions{}) },
	} {
		rep, err := verify()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Size != size || rep.Root != root || rep.Signed != size || rep.Types[TypeNote] != 70_000 || rep.Types[TypeCheckpointCosigned] != 1 ||
			rep.Anchors != 1 || len(rep.Checkpoints) != 2 || rep.Cosignatures[WitnessName(f.witness.PublicKey())] != 1 {
			t.Fatalf("%s: report %+v", name, rep)
		}
		if !strings.Contains(rep.String(), "entries       70007: note 70000, job-proposed 1") {
			t.Fatalf("%s: report text:\n%s", name, rep)
		}
	}
	// A second export into the same place is refused, and leaves nothing.
	if _, err := f.log.Export(context.Background(), dir); err == nil {
		t.Fatal("exported over an export")
	}
	if m, _ := filepath.Glob(dir + ".tmp-*"); len(m) != 0 {
		t.Fatalf("left %v", m)
	}
	// The witness's own ledger verifies too, its witnessed entry included.
	if _, err := f.witness.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), f.witness.Source(), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// tileReader reads an export's tiles for golang.org/x/mod/sumdb/tlog, as
// any tlog-tiles client would (C2SP paths have no height element).
type tileReader struct{ dir string }

func (tileReader) Height() int { return tlogTileHeight }
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(TilePath(uint(t.L), uint64(t.N), t.W))))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestExportReadByTlogClient(t *testing.T) {
	f := newFixture(t, 70_000)
	dir := f.export(t)
	size, root := f.log.Root()
	tree := tlog.Tree{N: int64(size), Hash: tlog.Hash(root)}
	thr := tlog.TileHashReader(tree, tileReader{dir})
	for _, i := range []int64{0, 255, 256, 65535, 65536, int64(size) - 1} {
		p, err := tlog.ProveRecord(tree.N, i, thr)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		e, err := f.log.Entry(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(e)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if _, err := tlog.TreeHash(tree.N, thr); err != nil {
		t.Fatal(err)
	}
	// Each bundle's entries hash to the level-0 tile's hashes.
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(EntriesPath(3, 256))))
	if err != nil {
		t.Fatal(err)
	}
	es, err := parseBundle(b, 256)
	if err != nil {
		t.Fatal(err)
	}
	tile, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(TilePath(0, 3, 256))))
	for j, e := range es {
		if lh := LeafHash(e); !bytes.Equal(lh[:], tile[32*j:32*j+32]) {
			t.Fatalf("entry %d does not hash to its tile hash", 3*256+j)
		}
	}
}

func TestTilePaths(t *testing.T) {
	for _, c := range []struct {
		level uint
		n     uint64
		w     int
		want  string
	}{
		{0, 0, 256, "tile/0/000"}, {0, 1234067, 256, "tile/0/x001/x234/067"}, {1, 5, 7, "tile/1/005.p/7"},
		{0, 1000, 256, "tile/0/x001/000"},
	} {
		if got := TilePath(c.level, c.n, c.w); got != c.want {
			t.Errorf("TilePath(%d, %d, %d) = %q, want %q", c.level, c.n, c.w, got, c.want)
		}
		// The same as golang.org/x/mod/sumdb/tlog's paths without the height.
		if tp := strings.Replace(tlog.Tile{H: 8, L: int(c.level), N: int64(c.n), W: c.w}.Path(), "tile/8/", "tile/", 1); tp != c.want {
			t.Errorf("tlog path %q, want %q", tp, c.want)
		}
	}
	if got := EntriesPath(1234067, 12); got != "tile/entries/x001/x234/067.p/12" {
		t.Errorf("EntriesPath = %q", got)
	}
}

// wantFailure checks that err is a *VerifyError about entry (or -1) whose
// text contains check.
func wantFailure(t *testing.T, err error, entry int64, check string) {
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
}

// editBundle rewrites the bundle holding entry i with edit applied to its
// entries.
func editBundle(t *testing.T, dir string, size uint64, i uint64, edit func(es [][]byte, j int) [][]byte) {
	t.Helper()
	n := i / tlogTileWidth
	w := int(min(size-n*tlogTileWidth, tlogTileWidth))
	p := filepath.Join(dir, filepath.FromSlash(EntriesPath(n, w)))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	es, err := parseBundle(b, w)
	if err != nil {
		t.Fatal(err)
	}
	for k := range es {
		es[k] = bytes.Clone(es[k])
	}
	es = edit(es, int(i%tlogTileWidth))
	var out []byte
	for _, e := range es {
		out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
		out = append(out, e...)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// forgedCheckpoint signs, with the log's own key, a checkpoint at size
// whose root differs: what a log that forked would show someone.
func forgedCheckpoint(t *testing.T, l *Log, size uint64) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: Checkpoint{Origin: l.Origin(), Size: size, Root: [32]byte{0xf0, 0x4c}}.Text()}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTamperExport(t *testing.T) {
	f := newFixture(t, 3000)
	size := f.log.Size()
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string) VerifyOptions
		entry  int64
		check  string
	}{
		{"body byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 1000, func(es [][]byte, j int) [][]byte { es[j][len(es[j])-1] ^= 1; return es })
			return VerifyOptions{}
		}, 1000, "stored tree node (level 0, index 1000)"},
		{"index byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 500, func(es [][]byte, j int) [][]byte { es[j][9] ^= 1; return es })
			return VerifyOptions{}
		}, 500, "index"},
		{"prev byte", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 700, func(es [][]byte, j int) [][]byte { es[j][20] ^= 1; return es })
			return VerifyOptions{}
		}, 700, "prev hash"},
		{"removed", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 300, func(es [][]byte, j int) [][]byte { return append(es[:j], es[j+1:]...) })
			return VerifyOptions{}
		}, 300, "index"},
		{"duplicated", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 301, func(es [][]byte, j int) [][]byte { es[j] = es[j-1]; return es })
			return VerifyOptions{}
		}, 301, "index"},
		{"reordered", func(t *testing.T, dir string) VerifyOptions {
			editBundle(t, dir, size, 400, func(es [][]byte, j int) [][]byte { es[j], es[j+1] = es[j+1], es[j]; return es })
			return VerifyOptions{}
		}, 400, "index"},
		{"tile hash", func(t *testing.T, dir string) VerifyOptions {
			p := filepath.Join(dir, filepath.FromSlash(TilePath(1, 0, int(size>>8))))
			b, _ := os.ReadFile(p)
			b[32*3] ^= 1 // node (8, 3), complete at entry 1023
			_ = os.WriteFile(p, b, 0o644)
			return VerifyOptions{}
		}, 1023, "stored tree node (level 8, index 3) over entries [768, 1024)"},
		{"missing log signature", func(t *testing.T, dir string) VerifyOptions {
			p := filepath.Join(dir, exportCheckpoints, strconv.FormatUint(f.cosized, 10))
			b, _ := os.ReadFile(p)
			lines := strings.SplitAfter(string(b), "\n")
			var kept []string
			for _, l := range lines {
				if !strings.HasPrefix(l, "— "+f.log.Origin()+" ") {
					kept = append(kept, l)
				}
			}
			_ = os.WriteFile(p, []byte(strings.Join(kept, "")), 0o644)
			return VerifyOptions{}
		}, -1, "kept checkpoint: signature"},
		{"bad cosignature", func(t *testing.T, dir string) VerifyOptions {
			p := filepath.Join(dir, exportCheckpoints, strconv.FormatUint(f.cosized, 10))
			b, _ := os.ReadFile(p)
			i := bytes.LastIndex(b, []byte("cohort-witness/"))
			j := bytes.IndexByte(b[i:], ' ') + i + 20
			b[j] ^= 1
			_ = os.WriteFile(p, b, 0o644)
			return VerifyOptions{}
		}, -1, "cosignatures"},
		{"fork given", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{Checkpoints: [][]byte{forgedCheckpoint(t, f.log, f.cosized)}}
		}, -1, "a fork"},
		{"fork kept", func(t *testing.T, dir string) VerifyOptions {
			_ = os.WriteFile(filepath.Join(dir, exportCheckpoints, "17"), forgedCheckpoint(t, f.log, 17), 0o644)
			return VerifyOptions{}
		}, -1, "kept checkpoint at 17: root (two signed checkpoints disagree: a fork)"},
		{"forged anchor receipt", func(t *testing.T, dir string) VerifyOptions {
			p := filepath.Join(dir, exportAnchors)
			b, _ := os.ReadFile(p)
			_ = os.WriteFile(p, bytes.Replace(b, []byte(`"block": 5`), []byte(`"block": 6`), 1), 0o644)
			return VerifyOptions{}
		}, -1, "anchors.json: the receipts differ"},
		{"witness list", func(t *testing.T, dir string) VerifyOptions {
			_ = os.WriteFile(filepath.Join(dir, exportWitnesses), nil, 0o644)
			return VerifyOptions{}
		}, -1, "witnesses: the list differs"},
		{"another log's key pinned", func(t *testing.T, dir string) VerifyOptions {
			return VerifyOptions{LogKey: f.witness.PublicKey()}
		}, -1, "log key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := f.export(t)
			opts := c.tamper(t, dir)
			_, err := verifyDir(dir, opts)
			wantFailure(t, err, c.entry, c.check)
			if strings.Contains(c.name, "fork") && !errors.Is(err, ErrFork) {
				t.Fatalf("%v is not ErrFork", err)
			}
		})
	}
	// A forged signature on the published checkpoint: the export does not
	// even open.
	dir := f.export(t)
	p := filepath.Join(dir, exportCheckpoint)
	b, _ := os.ReadFile(p)
	b[len(b)-5] ^= 1
	_ = os.WriteFile(p, b, 0o644)
	if _, err := OpenDir(dir); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged checkpoint signature: %v", err)
	}
}

// rawEdit closes the ledger, edits its Pebble store directly, and reopens
// it read-only, as an attacker with the disk would.
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

func get(t *testing.T, db *pebble.DB, k []byte) []byte {
	t.Helper()
	v, c, err := db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return bytes.Clone(v)
}

func TestTamperLive(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(t *testing.T, f *fixture, db *pebble.DB)
		entry int64
		check string
	}{
		{"body byte", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := get(t, db, entryKey(1000))
			v[len(v)-1] ^= 1
			_ = db.Set(entryKey(1000), v, pebble.Sync)
		}, 1000, "stored tree node (level 0, index 1000)"},
		{"removed", func(t *testing.T, f *fixture, db *pebble.DB) {
			_ = db.Delete(entryKey(300), pebble.Sync)
		}, 300, "missing"},
		{"duplicated", func(t *testing.T, f *fixture, db *pebble.DB) {
			_ = db.Set(entryKey(301), get(t, db, entryKey(300)), pebble.Sync)
		}, 301, "index"},
		{"reordered", func(t *testing.T, f *fixture, db *pebble.DB) {
			a, b := get(t, db, entryKey(400)), get(t, db, entryKey(401))
			_ = db.Set(entryKey(400), b, pebble.Sync)
			_ = db.Set(entryKey(401), a, pebble.Sync)
		}, 400, "index"},
		{"tree node", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := get(t, db, tileKey(2))
			v[2+32*tileSlot(3, 5)] ^= 1 // node (3, 2*32+5) over entries [552, 560)
			_ = db.Set(tileKey(2), v, pebble.Sync)
		}, 559, "stored tree node (level 3, index 69)"},
		{"forged checkpoint signature", func(t *testing.T, f *fixture, db *pebble.DB) {
			v := get(t, db, checkpointKey(f.cosized))
			i := bytes.Index(v, []byte("— "+f.log.Origin()+" ")) + len("— "+f.log.Origin()+" ") + 6
			v[i] ^= 1
			_ = db.Set(checkpointKey(f.cosized), v, pebble.Sync)
		}, -1, "signature"},
		{"fork", func(t *testing.T, f *fixture, db *pebble.DB) {
			_ = db.Set(checkpointKey(17), forgedCheckpoint(t, f.log, 17), pebble.Sync)
		}, -1, "a fork"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 3000)
			l := rawEdit(t, f, func(db *pebble.DB) { c.edit(t, f, db) })
			_, err := Verify(context.Background(), l.Source(), VerifyOptions{})
			wantFailure(t, err, c.entry, c.check)
		})
	}
	// A forged anchor appended through the front door: its root is not
	// the log's at that size.
	t.Run("forged anchor", func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, 3000)
		i, err := f.log.Append(ctx, &AnchorPublished{Origin: f.log.Origin(), Size: f.cosized, Root: [32]byte{9}, Chain: "eip155", ChainID: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, f.log.Source(), VerifyOptions{})
		wantFailure(t, err, int64(i), "anchored root")
	})
	t.Run("anchor checked on chain", func(t *testing.T) {
		f := newFixture(t, 100)
		_, err := Verify(context.Background(), f.log.Source(), VerifyOptions{Anchors: refuseAnchors{}})
		wantFailure(t, err, int64(f.cosized)+1, "anchor on chain")
	})
}

type refuseAnchors struct{}

func (refuseAnchors) VerifyAnchor(context.Context, *AnchorPublished) error {
	return fmt.Errorf("no such transaction")
}

// FuzzExportFiles feeds bytes to the parsers of an export's own files.
func FuzzExportFiles(f *testing.F) {
	var b []byte
	for _, e := range [][]byte{{1, 2}, nil, bytes.Repeat([]byte{7}, 300)} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	f.Add(b, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, w uint8) {
		es, err := parseBundle(b, int(w))
		if len(es) > int(w) {
			t.Fatalf("%d entries from a bundle of %d", len(es), w)
		}
		if err != nil {
			return
		}
		var out []byte
		for _, e := range es {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("bundle does not re-encode to itself")
		}
	})
}
