package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// fixture is a ledger with notes, typed events, a witness alarm, a
// checkpoint cosigned by a witness (a second ledger), an anchor entry of
// that checkpoint, more notes and a final checkpoint.
type fixture struct {
	dir     string
	log     *Log
	witness *Log
	cosized uint64 // size of the cosigned checkpoint
	anchor  uint64 // index of the anchor-published entry
	alarm   uint64 // index of the witness-alarm entry
}

func newFixture(t testing.TB, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: filepath.Join(t.TempDir(), "ledger")}
	f.log = openTest(t, f.dir, testKey(10))
	f.witness = openTest(t, filepath.Join(t.TempDir(), "witness"), testKey(11))
	fill := func(k int) {
		fs := make([]*Future, 0, k)
		for i := range k {
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
	var err error
	if f.alarm, err = f.log.Append(ctx, sampleEvents()[9]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Checkpoint(ctx); err != nil { // an earlier checkpoint, not cosigned
		t.Fatal(err)
	}
	if _, err := f.log.Append(ctx, noteN(-1)); err != nil {
		t.Fatal(err)
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
	root, err := f.log.RootAt(f.cosized)
	if err != nil {
		t.Fatal(err)
	}
	if f.anchor, err = f.log.Append(ctx, &AnchorPublished{Origin: f.log.Origin(), Size: f.cosized, Root: root, Chain: "eip155", ChainID: 1337,
		Tx: [32]byte{1}, Block: 5, BlockHash: [32]byte{2}, Confirmations: 1}); err != nil {
		t.Fatal(err)
	}
	fill(n - n/2)
	if _, err := f.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) export(t testing.TB) string {
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

// readExport reads a file of an export by its slash-separated path.
func readExport(t testing.TB, dir, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeExport(t testing.TB, dir, rel string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExport exports a ledger of 70 009 entries (so that several level-1
// tiles and a level-2 tile exist), checks every file of the export, reads
// it as a tlog-tiles client would, and verifies it and the live ledger.
func TestExport(t *testing.T) {
	f := newFixture(t, 70_000)
	dir := f.export(t)
	size, root := f.log.Root()
	if size != 70_009 {
		t.Fatalf("fixture of %d entries", size)
	}

	t.Run("files", func(t *testing.T) {
		var files []string
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// 274 bundles and level-0 tiles (273 full, one of 121), level 1:
		// tile 0 full and tile 1 of 17, level 2: one of 1.
		want := []string{"anchors.json", "checkpoint", "log.vkey", "witnesses"}
		for _, s := range []uint64{f.alarm + 1, f.cosized, size} {
			want = append(want, "checkpoints/"+strconv.FormatUint(s, 10))
		}
		for n := range uint64(274) {
			want = append(want, EntriesPath(n, tileWidth(size, n)), TilePath(0, n, tileWidth(size, n)))
		}
		want = append(want, "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1")
		slices.Sort(want)
		slices.Sort(files)
		if !slices.Equal(files, want) {
			t.Fatalf("files:\n%v\nwant:\n%v", files, want)
		}
		if got := string(readExport(t, dir, "log.vkey")); got != f.log.VerifierKey()+"\n" {
			t.Fatalf("log.vkey %q", got)
		}
		latest, _ := f.log.LatestCheckpoint()
		if got := readExport(t, dir, "checkpoint"); !bytes.Equal(got, latest) {
			t.Fatalf("checkpoint %q, want %q", got, latest)
		}
		cosigned, _ := f.log.CheckpointAt(f.cosized)
		if got := readExport(t, dir, "checkpoints/"+strconv.FormatUint(f.cosized, 10)); !bytes.Equal(got, cosigned) {
			t.Fatalf("cosigned checkpoint %q, want %q", got, cosigned)
		}
		if got := string(readExport(t, dir, "witnesses")); got != f.witness.WitnessKey()+"\n" {
			t.Fatalf("witnesses %q", got)
		}
		var anchors []map[string]any
		if err := json.Unmarshal(readExport(t, dir, "anchors.json"), &anchors); err != nil {
			t.Fatal(err)
		}
		want1 := map[string]any{"entry": float64(f.anchor), "origin": f.log.Origin(), "size": float64(f.cosized), "chain": "eip155",
			"chain_id": float64(1337), "tx": "0x01" + strings.Repeat("0", 62), "block": float64(5), "block_hash": "0x02" + strings.Repeat("0", 62),
			"confirmations": float64(1)}
		r, _ := f.log.RootAt(f.cosized)
		want1["root"] = hex.EncodeToString(r[:])
		if len(anchors) != 1 || len(anchors[0]) != len(want1) {
			t.Fatalf("anchors.json: %v", anchors)
		}
		for k, v := range want1 {
			if anchors[0][k] != v {
				t.Fatalf("anchors.json: %s = %v, want %v", k, anchors[0][k], v)
			}
		}
	})

	t.Run("verify", func(t *testing.T) {
		for name, verify := range map[string]func() (*Report, error){
			"export": func() (*Report, error) { return verifyDir(dir, VerifyOptions{LogKey: f.log.PublicKey()}) },
			"live":   func() (*Report, error) { return Verify(context.Background(), f.log.Source(), VerifyOptions{}) },
		} {
			rep, err := verify()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantTypes := map[Type]int{TypeNote: 70_001, TypeJobProposed: 1, TypeSiteDecided: 1, TypeRoundCommitted: 1, TypeJobFinished: 1,
				TypeBudgetSpent: 1, TypeCheckpointCosigned: 1, TypeAnchorPublished: 1, TypeWitnessAlarm: 1}
			wantAlarms := []Alarm{{Entry: f.alarm, Origin: "cohort/y", Reason: "fork"}}
			if rep.Origin != f.log.Origin() || rep.Size != size || rep.Root != root || rep.Signed != size || !maps.Equal(rep.Types, wantTypes) ||
				rep.Anchors != 1 || rep.AnchorsOnChain != 0 || !slices.Equal(rep.Checkpoints, []uint64{f.alarm + 1, f.cosized, size}) ||
				len(rep.Cosignatures) != 1 || rep.Cosignatures[WitnessName(f.witness.PublicKey())] != 1 || !slices.Equal(rep.Alarms, wantAlarms) {
				t.Fatalf("%s: report %+v", name, rep)
			}
			if rep.Pinned != (name == "export") {
				t.Fatalf("%s: pinned %v", name, rep.Pinned)
			}
		}
	})

	t.Run("tlog client", func(t *testing.T) {
		tree := tlog.Tree{N: int64(size), Hash: tlog.Hash(root)}
		thr := tlog.TileHashReader(tree, tileReader{dir})
		for _, i := range []int64{0, 255, 256, 65535, 65536, 69999, int64(size) - 1} {
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
		if h, err := tlog.TreeHash(tree.N, thr); err != nil || h != tree.Hash {
			t.Fatalf("tree hash %v, %v", h, err)
		}
		// A consistency proof from the cosigned checkpoint, as a witness
		// following the export would check it.
		old, _ := f.log.RootAt(f.cosized)
		tp, err := tlog.ProveTree(tree.N, int64(f.cosized), thr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(tp, tree.N, tree.Hash, int64(f.cosized), tlog.Hash(old)); err != nil {
			t.Fatal(err)
		}
		// Every bundle's entries hash (RFC 6962 leaves) to its level-0 tile.
		for n := uint64(0); n*tlogTileWidth < size; n++ {
			w := tileWidth(size, n)
			es, err := parseBundle(readExport(t, dir, EntriesPath(n, w)), w)
			if err != nil {
				t.Fatal(err)
			}
			tile := readExport(t, dir, TilePath(0, n, w))
			for j, e := range es {
				if lh := tlog.RecordHash(e); !bytes.Equal(lh[:], tile[32*j:32*j+32]) {
					t.Fatalf("entry %d does not hash to its tile hash", n*tlogTileWidth+uint64(j))
				}
			}
		}
	})

	t.Run("again", func(t *testing.T) {
		// An export into a non-empty directory is refused and leaves nothing.
		if _, err := f.log.Export(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "exists and is not empty") {
			t.Fatalf("exported over an export: %v", err)
		}
		if m, _ := filepath.Glob(dir + ".tmp-*"); len(m) != 0 {
			t.Fatalf("left %v", m)
		}
	})
}

// tileReader reads an export's tiles for golang.org/x/mod/sumdb/tlog, as
// any tlog-tiles client would (C2SP paths have no height element).
type tileReader struct{ dir string }

func (tileReader) Height() int { return tlogTileHeight }
func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestExportEmptyDirAndFailures(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "l"), testKey(12))
	out := filepath.Join(t.TempDir(), "x")
	if _, err := l.Export(ctx, out); err == nil {
		t.Fatal("exported a ledger with no checkpoint")
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed export left %s: %v", out, err)
	}
	// An empty ledger's checkpoint exports and verifies.
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := l.Export(ctx, out)
	if err != nil || c.Size != 0 {
		t.Fatalf("export of an empty ledger: %+v, %v", c, err)
	}
	rep, err := verifyDir(out, VerifyOptions{})
	if err != nil || rep.Size != 0 || rep.Root != [32]byte(rfc6962.DefaultHasher.EmptyRoot()) {
		t.Fatalf("verify of an empty export: %+v, %v", rep, err)
	}
	// A cancelled export leaves nothing either.
	for range 300 {
		l.AddEvent(ctx, noteN(1))
	}
	if _, err := l.Append(ctx, noteN(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	out2 := filepath.Join(t.TempDir(), "y")
	if _, err := l.Export(cctx, out2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out2), "*")); len(m) != 0 {
		t.Fatalf("a cancelled export left %v", m)
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
		{0, 1000, 256, "tile/0/x001/000"}, {2, 999, 255, "tile/2/999.p/255"}, {3, 1_000_000, 1, "tile/3/x001/x000/000.p/1"},
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
	if got := EntriesPath(7, 256); got != "tile/entries/007" {
		t.Errorf("EntriesPath = %q", got)
	}
}

// The parsers of an export's files never panic, and what they accept is
// canonical: it re-encodes to the same bytes (anchors.json, being JSON, to
// the same receipts).

func FuzzBundle(f *testing.F) {
	var b []byte
	for _, e := range [][]byte{{1, 2}, nil, bytes.Repeat([]byte{7}, 300)} {
		b = appendBundle(b, e)
	}
	f.Add(b, uint16(3))
	f.Add(b[:len(b)-1], uint16(3))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, w uint16) {
		es, err := parseBundle(b, int(w))
		if len(es) > int(w) {
			t.Fatalf("%d entries from a bundle of %d", len(es), w)
		}
		if err != nil {
			return
		}
		var out []byte
		for _, e := range es {
			out = appendBundle(out, e)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("bundle does not re-encode to itself")
		}
	})
}

func FuzzTile(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1}, 32*3), 3)
	f.Add(bytes.Repeat([]byte{1}, 32*256), 256)
	f.Fuzz(func(t *testing.T, b []byte, w int) {
		hs, err := parseTile(b, w)
		if err != nil {
			return
		}
		if len(hs) != w || !bytes.Equal(bytes.Join(hs, nil), b) {
			t.Fatal("tile does not re-encode to itself")
		}
	})
}

func FuzzVKey(f *testing.F) {
	f.Add(formatVKey(testKey(1).Public().(ed25519.PublicKey)))
	f.Add([]byte("cohort/did:key:z6Mk+12345678+AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := parseVKey(b)
		if err != nil {
			return
		}
		if out := formatVKey(pub); !bytes.Equal(out, b) {
			t.Fatalf("log.vkey %q re-encodes to %q", b, out)
		}
	})
}

func FuzzWitnesses(f *testing.F) {
	k1, k2 := WitnessKey(testKey(1).Public().(ed25519.PublicKey)), WitnessKey(testKey(2).Public().(ed25519.PublicKey))
	f.Add(formatWitnesses([]string{k1, k2}))
	f.Add([]byte(k1 + "\n" + k1 + "\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := parseWitnesses(b)
		if err != nil {
			return
		}
		if out := formatWitnesses(ws); !bytes.Equal(out, b) {
			t.Fatalf("witnesses %q re-encode to %q", b, out)
		}
	})
}

func FuzzAnchors(f *testing.F) {
	a := anchorJSON(7, sampleEvents()[7].(*AnchorPublished))
	b, _ := formatAnchors([]AnchorJSON{a, a})
	f.Add(b)
	f.Add([]byte("[]\n"))
	f.Add([]byte(`[{"entry":1,"unknown":2}]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := parseAnchors(b)
		if err != nil {
			return
		}
		out, err := formatAnchors(as)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseAnchors(out)
		if err != nil || !slices.Equal(back, as) {
			t.Fatalf("anchors %q re-encode to %q: %v", b, out, err)
		}
	})
}

func FuzzSizeName(f *testing.F) {
	f.Add("0")
	f.Add("70009")
	f.Add("007")
	f.Fuzz(func(t *testing.T, name string) {
		s, err := parseSizeName(name)
		if err == nil && strconv.FormatUint(s, 10) != name {
			t.Fatalf("%q parses as %d", name, s)
		}
	})
}

// BenchmarkExport1M exports a ledger of 10^6 entries of 200-byte bodies.
func BenchmarkExport1M(b *testing.B) {
	l := benchLedger(b, 1_000_000)
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "x")
		if _, err := l.Export(context.Background(), dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
}

// benchLedger returns a signed ledger of n entries of 200-byte bodies.
func benchLedger(b *testing.B, n int) *Log {
	b.Helper()
	ctx := context.Background()
	l := openTest(b, filepath.Join(b.TempDir(), "l"), testKey(13))
	body := make([]byte, 200)
	fs := make([]*Future, 0, 8192)
	wait := func() {
		for _, f := range fs {
			if _, err := f.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		fs = fs[:0]
	}
	for i := range n {
		body[0], body[1], body[2] = byte(i), byte(i>>8), byte(i>>16)
		if fs = append(fs, l.Add(ctx, TypeNote, body)); len(fs) == cap(fs) {
			wait()
		}
	}
	wait()
	if _, err := l.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	return l
}
