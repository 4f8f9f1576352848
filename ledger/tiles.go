package ledger

import (
	"encoding/binary"
	"fmt"
	"strconv"
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

// TilePath returns the tlog-tiles path of the level-L hash tile N of width
// w (w = 256 for a full tile): 1234067 is "tile/L/x001/x234/067", and a
// partial tile ends in ".p/W".
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

// tileWidth is the width of tile n of a level that holds count hashes
// (or of entry bundle n of a count-entry log).
func tileWidth(count, n uint64) int {
	return int(min(count-n*tlogTileWidth, tlogTileWidth))
}

// appendBundle appends entry e to an entry bundle.
func appendBundle(b, e []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
	return append(b, e...)
}

// parseBundle splits an entry bundle that should hold want entries; the
// entries alias b. On an error it also returns the entries before the
// fault (at most want), so that the caller can check them first.
func parseBundle(b []byte, want int) ([][]byte, error) {
	out := make([][]byte, 0, max(0, min(want, len(b)/2)))
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

// parseTile checks that a hash tile holds w hashes and returns them; they
// alias b.
func parseTile(b []byte, w int) ([][]byte, error) {
	if w < 1 || w > tlogTileWidth || len(b) != 32*w {
		return nil, fmt.Errorf("%w: hash tile of %d bytes, want %d hashes of 32", ErrMalformed, len(b), w)
	}
	hs := make([][]byte, w)
	for i := range hs {
		hs[i] = b[32*i : 32*i+32 : 32*i+32]
	}
	return hs, nil
}
