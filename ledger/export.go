package ledger

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): tiles of height
// 8, 256 hashes a full tile; level-L tile N holds the Merkle nodes of level
// 8L with indexes 256N to 256N+255; the rightmost tile of a level may be
// partial, ".p/W" with W of 1 to 255 hashes. Entry bundles hold 256 entries
// (the last one W) as big-endian uint16 length || entry.
const (
	tlogTileHeight = 8
	tlogTileWidth  = 1 << tlogTileHeight
)

// tileIndexPath encodes a tile index as tlog-tiles path elements: groups
// of three digits, all but the last prefixed with "x".
func tileIndexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// TilePath returns the tlog-tiles path of the level-L tile N of width w
// (w = 256 for a full tile).
func TilePath(level uint, n uint64, w int) string {
	p := "tile/" + strconv.Itoa(int(level)) + "/" + tileIndexPath(n)
	if w < tlogTileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

// EntriesPath returns the tlog-tiles path of entry bundle N of width w.
func EntriesPath(n uint64, w int) string {
	p := "tile/entries/" + tileIndexPath(n)
	if w < tlogTileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

// Files of an export beside the tlog-tiles ones.
const (
	exportCheckpoint  = "checkpoint"
	exportVKey        = "log.vkey"
	exportCheckpoints = "checkpoints"
	exportWitnesses   = "witnesses"
	exportAnchors     = "anchors.json"
)

// AnchorJSON is one receipt in an export's anchors.json.
type AnchorJSON struct {
	Entry         uint64 `json:"entry"`
	Origin        string `json:"origin"`
	Size          uint64 `json:"size"`
	Root          string `json:"root"`
	Chain         string `json:"chain"`
	ChainID       uint64 `json:"chain_id"`
	Tx            string `json:"tx"`
	Block         uint64 `json:"block"`
	BlockHash     string `json:"block_hash"`
	Confirmations uint64 `json:"confirmations"`
}

func anchorJSON(i uint64, a *AnchorPublished) AnchorJSON {
	return AnchorJSON{Entry: i, Origin: a.Origin, Size: a.Size, Root: hex.EncodeToString(a.Root[:]), Chain: a.Chain, ChainID: a.ChainID,
		Tx: "0x" + hex.EncodeToString(a.Tx[:]), Block: a.Block, BlockHash: "0x" + hex.EncodeToString(a.BlockHash[:]), Confirmations: a.Confirmations}
}

// Export writes the log, up to its latest kept checkpoint, to dir as a
// static C2SP tlog-tiles log: DIR/checkpoint (with its cosignatures),
// DIR/tile/..., DIR/tile/entries/..., and beside them DIR/log.vkey (the
// signed-note verifier key), DIR/checkpoints/SIZE (every kept checkpoint),
// DIR/witnesses (the cosigners' verifier keys) and DIR/anchors.json (the
// anchor receipts). dir must not exist or be empty; the export is written
// beside it and renamed into place, so a failure leaves nothing behind.
func (l *Log) Export(ctx context.Context, dir string) (Checkpoint, error) {
	signed, err := l.LatestCheckpoint()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w (sign one first)", err)
	}
	c, _, err := OpenCheckpoint(signed, l.verifier)
	if err != nil {
		return Checkpoint{}, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return Checkpoint{}, fmt.Errorf("ledger: export: %s exists and is not empty", dir)
	} else if err == nil {
		if err := os.Remove(dir); err != nil {
			return Checkpoint{}, err
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s.tmp-%x", strings.TrimRight(dir, string(filepath.Separator)), rnd)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	if err := l.exportTo(ctx, tmp, c, signed); err != nil {
		_ = os.RemoveAll(tmp)
		return Checkpoint{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return Checkpoint{}, fmt.Errorf("ledger: export: %w", err)
	}
	return c, nil
}

func writeFile(root, rel string, b []byte) error {
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func (l *Log) exportTo(ctx context.Context, dir string, c Checkpoint, signed []byte) error {
	size := c.Size
	// Entry bundles, and what the entries say about cosigners and anchors.
	witnesses := map[string]bool{}
	anchors := []AnchorJSON{}
	bundle := make([]byte, 0, 1<<20)
	err := l.Entries(0, size, func(i uint64, e []byte) error {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(e)))
		bundle = append(bundle, e...)
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
				witnesses[v.Witness] = true
			case *AnchorPublished:
				anchors = append(anchors, anchorJSON(i, v))
			}
		}
		if n := i + 1; n%tlogTileWidth == 0 || n == size {
			w := int((n-1)%tlogTileWidth) + 1
			if err := writeFile(dir, EntriesPath((n-1)/tlogTileWidth, w), bundle); err != nil {
				return err
			}
			bundle = bundle[:0]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: export entries: %w", err)
	}
	// Hash tiles, level by level, from the stored tree.
	buf := make([]byte, 0, 32*tlogTileWidth)
	for level := uint(0); size>>(tlogTileHeight*level) > 0; level++ {
		count := size >> (tlogTileHeight * level)
		for n := uint64(0); n*tlogTileWidth < count; n++ {
			w := int(min(count-n*tlogTileWidth, tlogTileWidth))
			buf = buf[:0]
			if level == 0 {
				blob, err := l.tile(n)
				if err != nil {
					return err
				}
				buf = append(buf, blob[2:2+32*w]...)
			} else {
				for i := 0; i < w; i++ {
					h, err := l.node(tlogTileHeight*level, n*tlogTileWidth+uint64(i))
					if err != nil {
						return err
					}
					buf = append(buf, h...)
				}
			}
			if err := writeFile(dir, TilePath(level, n, w), buf); err != nil {
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
		if err := writeFile(dir, exportCheckpoints+"/"+strconv.FormatUint(s, 10), b); err != nil {
			return err
		}
	}
	ws := make([]string, 0, len(witnesses))
	for w := range witnesses {
		ws = append(ws, w)
	}
	slices.Sort(ws)
	aj, err := json.MarshalIndent(anchors, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{
		exportCheckpoint: signed,
		exportVKey:       []byte(l.VerifierKey() + "\n"),
		exportWitnesses:  []byte(strings.Join(ws, "\n") + map[bool]string{true: "\n"}[len(ws) > 0]),
		exportAnchors:    append(aj, '\n'),
	} {
		if err := writeFile(dir, name, b); err != nil {
			return err
		}
	}
	return nil
}

// parseBundle splits an entry bundle that should hold want entries. On an
// error it also returns the entries before the fault (at most want).
func parseBundle(b []byte, want int) ([][]byte, error) {
	out := make([][]byte, 0, want)
	for len(b) > 0 {
		if len(b) < 2 {
			return out, fmt.Errorf("%w: entry bundle ends inside a length", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return out, fmt.Errorf("%w: entry bundle ends inside entry %d", ErrMalformed, len(out))
		}
		if len(out) == want {
			return out, fmt.Errorf("%w: entry bundle holds more than %d entries", ErrMalformed, want)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	if len(out) != want {
		return out, fmt.Errorf("%w: entry bundle holds %d entries, want %d", ErrMalformed, len(out), want)
	}
	return out, nil
}

// readLines reads a file of one item a line (no blank lines).
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "" {
			return nil, fmt.Errorf("%w: blank line in %s", ErrMalformed, filepath.Base(path))
		}
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}
