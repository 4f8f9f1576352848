package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Files of an export beside the tlog-tiles ones (docs/wire/ledger-export.md).
const (
	exportCheckpoint  = "checkpoint"
	exportVKey        = "log.vkey"
	exportCheckpoints = "checkpoints"
	exportWitnesses   = "witnesses"
	exportAnchors     = "anchors.json"
)

// AnchorJSON is one receipt in an export's anchors.json: an
// anchor-published entry of the log.
type AnchorJSON struct {
	Entry         uint64 `json:"entry"`         // index of the anchor-published entry
	Origin        string `json:"origin"`        // the anchored log
	Size          uint64 `json:"size"`          // the anchored checkpoint's size
	Root          string `json:"root"`          // and its root, hex
	Chain         string `json:"chain"`         // CAIP-2 namespace, "eip155"
	ChainID       uint64 `json:"chain_id"`      // chain reference
	Tx            string `json:"tx"`            // transaction hash, 0x-hex
	Block         uint64 `json:"block"`         // block number
	BlockHash     string `json:"block_hash"`    // block hash, 0x-hex
	Confirmations uint64 `json:"confirmations"` // confirmations when recorded
}

func anchorJSON(i uint64, a *AnchorPublished) AnchorJSON {
	return AnchorJSON{Entry: i, Origin: a.Origin, Size: a.Size, Root: hex.EncodeToString(a.Root[:]), Chain: a.Chain, ChainID: a.ChainID,
		Tx: "0x" + hex.EncodeToString(a.Tx[:]), Block: a.Block, BlockHash: "0x" + hex.EncodeToString(a.BlockHash[:]), Confirmations: a.Confirmations}
}

// diff names the first field in which b differs from a, with both values.
func (a AnchorJSON) diff(b AnchorJSON) (field, va, vb string) {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for _, f := range [][3]string{
		{"entry", u(a.Entry), u(b.Entry)}, {"origin", a.Origin, b.Origin}, {"size", u(a.Size), u(b.Size)}, {"root", a.Root, b.Root},
		{"chain", a.Chain, b.Chain}, {"chain_id", u(a.ChainID), u(b.ChainID)}, {"tx", a.Tx, b.Tx}, {"block", u(a.Block), u(b.Block)},
		{"block_hash", a.BlockHash, b.BlockHash}, {"confirmations", u(a.Confirmations), u(b.Confirmations)},
	} {
		if f[1] != f[2] {
			return f[0], f[1], f[2]
		}
	}
	return "", "", ""
}

// Export writes the log, up to its latest kept checkpoint, to dir as a
// static C2SP tlog-tiles log: DIR/checkpoint (with its cosignatures),
// DIR/tile/..., DIR/tile/entries/..., and beside them DIR/log.vkey (the
// signed-note verifier key), DIR/checkpoints/SIZE (every kept checkpoint),
// DIR/witnesses (the cosigners' verifier keys) and DIR/anchors.json (the
// anchor receipts). The hashes are copied from the store, not recomputed:
// Verify recomputes them.
//
// dir must not exist or be empty; the export is written to a directory
// beside it and renamed into place, so a failure leaves nothing behind.
// Export returns the exported checkpoint.
func (l *Log) Export(ctx context.Context, dir string) (Checkpoint, error) {
	signed, err := l.LatestCheckpoint()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w (sign one first)", err)
	}
	c, _, err := OpenCheckpoint(signed, l.verifier)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	dir = filepath.Clean(dir)
	empty := false
	switch ents, err := os.ReadDir(dir); {
	case err == nil && len(ents) > 0:
		return Checkpoint{}, fmt.Errorf("ledger: export: %s exists and is not empty", dir)
	case err == nil:
		empty = true
	case !errors.Is(err, fs.ErrNotExist):
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-*")
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	err = l.exportTo(ctx, tmp, c, signed)
	if err == nil && empty {
		err = os.Remove(dir)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	return c, nil
}

// exporter writes the files of an export, creating each directory once.
type exporter struct {
	root string
	dirs map[string]bool
}

func (x *exporter) write(rel string, b []byte) error {
	p := filepath.Join(x.root, filepath.FromSlash(rel))
	if d := filepath.Dir(p); !x.dirs[d] {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		x.dirs[d] = true
	}
	return os.WriteFile(p, b, 0o644)
}

func (l *Log) exportTo(ctx context.Context, dir string, c Checkpoint, signed []byte) error {
	x := &exporter{root: dir, dirs: map[string]bool{}}
	size := c.Size
	// Entry bundles, streamed with one iterator, and what the entries say
	// about cosigners and anchors.
	var witnesses []string
	anchors := []AnchorJSON{}
	bundle := make([]byte, 0, 64<<10)
	err := l.Entries(0, size, func(i uint64, e []byte) error {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		bundle = appendBundle(bundle, e)
		if t := Type(e[1]); t == TypeCheckpointCosigned || t == TypeAnchorPublished {
			var ent Entry
			if err := ent.UnmarshalBinary(e); err != nil {
				return err
			}
			ev, err := ent.Event()
			if err != nil {
				return err
			}
			switch v := ev.(type) {
			case *CheckpointCosigned:
				witnesses = append(witnesses, v.Witness)
			case *AnchorPublished:
				anchors = append(anchors, anchorJSON(i, v))
			}
		}
		if n := i + 1; n%tlogTileWidth == 0 || n == size {
			if err := x.write(EntriesPath(i/tlogTileWidth, tileWidth(size, i/tlogTileWidth)), bundle); err != nil {
				return err
			}
			bundle = bundle[:0]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("entries: %w", err)
	}
	// Hash tiles, level by level, copied from the stored tree: level 0 from
	// the tile blobs, higher levels from the upper nodes.
	buf := make([]byte, 0, 32*tlogTileWidth)
	for level := uint(0); size>>(tlogTileHeight*level) > 0; level++ {
		count := size >> (tlogTileHeight * level)
		for n := uint64(0); n*tlogTileWidth < count; n++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w := tileWidth(count, n)
			buf = buf[:0]
			if level == 0 {
				blob, err := l.tile(n)
				if err != nil {
					return err
				}
				buf = append(buf, blob[2+32*tileSlot(0, 0):2+32*tileSlot(0, uint64(w))]...)
			} else {
				for i := range uint64(w) {
					h, err := l.node(tlogTileHeight*level, n*tlogTileWidth+i)
					if err != nil {
						return err
					}
					buf = append(buf, h...)
				}
			}
			if err := x.write(TilePath(level, n, w), buf); err != nil {
				return err
			}
		}
	}
	sizes, err := l.Checkpoints()
	if err != nil {
		return err
	}
	for _, s := range sizes {
		if s > size {
			continue
		}
		b, err := l.CheckpointAt(s)
		if err != nil {
			return err
		}
		if s == size {
			b = signed // as returned by LatestCheckpoint, even if cosigned since
		}
		if err := x.write(exportCheckpoints+"/"+strconv.FormatUint(s, 10), b); err != nil {
			return err
		}
	}
	aj, err := formatAnchors(anchors)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{exportCheckpoint, signed},
		{exportVKey, formatVKey(l.pub)},
		{exportWitnesses, formatWitnesses(witnesses)},
		{exportAnchors, aj},
	} {
		if err := x.write(f.name, f.b); err != nil {
			return err
		}
	}
	return nil
}

// formatVKey is the content of log.vkey: the log's signed-note verifier
// key and a newline.
func formatVKey(pub ed25519.PublicKey) []byte { return []byte(VerifierKey(pub) + "\n") }

// parseVKey parses log.vkey, which must be exactly what formatVKey writes
// for the key its name (the log's origin) holds.
func parseVKey(b []byte) (ed25519.PublicKey, error) {
	vkey, ok := strings.CutSuffix(string(b), "\n")
	name, _, _ := strings.Cut(vkey, "+")
	if !ok || len(name) == len(vkey) {
		return nil, fmt.Errorf("%w: %s is not a verifier key and a newline", ErrMalformed, exportVKey)
	}
	pub, err := OriginKey(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exportVKey, err)
	}
	if VerifierKey(pub) != vkey {
		return nil, fmt.Errorf("%w: %s is not the verifier key of %s", ErrMalformed, exportVKey, name)
	}
	return pub, nil
}

// formatWitnesses is the content of the witnesses file: the keys sorted,
// without duplicates, one a line.
func formatWitnesses(keys []string) []byte {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseWitnesses parses the witnesses file: cosignature/v1 verifier keys,
// one a line, each line ending in a newline, sorted, without duplicates.
func parseWitnesses(b []byte) ([]string, error) {
	keys := []string{}
	s := string(b)
	for len(s) > 0 {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return nil, fmt.Errorf("%w: %s: the last line has no newline", ErrMalformed, exportWitnesses)
		}
		if len(keys) > 0 && line <= keys[len(keys)-1] {
			return nil, fmt.Errorf("%w: %s: line %d is not after the one before it (sorted, no duplicates)", ErrMalformed, exportWitnesses, len(keys)+1)
		}
		if _, err := WitnessVerifier(line); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", exportWitnesses, len(keys)+1, err)
		}
		keys = append(keys, line)
		s = rest
	}
	return keys, nil
}

// formatAnchors is the content of anchors.json.
func formatAnchors(anchors []AnchorJSON) ([]byte, error) {
	if anchors == nil {
		anchors = []AnchorJSON{}
	}
	b, err := json.MarshalIndent(anchors, "", "  ")
	return append(b, '\n'), err
}

// parseAnchors parses anchors.json: one JSON array of receipts with no
// other fields and nothing after it.
func parseAnchors(b []byte) ([]AnchorJSON, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a []AnchorJSON
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, exportAnchors, err)
	}
	if a == nil {
		return nil, fmt.Errorf("%w: %s is not an array", ErrMalformed, exportAnchors)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return nil, fmt.Errorf("%w: %s: data after the array", ErrMalformed, exportAnchors)
	}
	return a, nil
}

// parseSizeName parses the name of a file in checkpoints/: a size in
// decimal without leading zeros.
func parseSizeName(name string) (uint64, error) {
	s, err := strconv.ParseUint(name, 10, 64)
	if err != nil || strconv.FormatUint(s, 10) != name {
		return 0, fmt.Errorf("%w: %s/%q is not named by a size", ErrMalformed, exportCheckpoints, name)
	}
	return s, nil
}
