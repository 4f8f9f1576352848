package anchor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Magic starts every anchor's calldata.
const Magic = "cohort-anchor/v1"

// MaxOrigin is the longest origin an anchor may carry, in bytes.
const MaxOrigin = 1024

const fixedLen = len(Magic) + 2 + 8 + 32

// EncodeCalldata returns the calldata anchoring the checkpoint (origin,
// size, root):
//
//	"cohort-anchor/v1" || BE16(len(origin)) || origin || BE64(size) || root
//
// The origin must be 1 to MaxOrigin bytes without a newline.
func EncodeCalldata(origin string, size uint64, root [32]byte) ([]byte, error) {
	if problem := originProblem(origin); problem != "" {
		return nil, fmt.Errorf("%w: %s", ErrCalldata, problem)
	}
	b := make([]byte, 0, fixedLen+len(origin))
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(origin)))
	b = append(b, origin...)
	b = binary.BigEndian.AppendUint64(b, size)
	b = append(b, root[:]...)
	return b, nil
}

// DecodeCalldata parses calldata written by EncodeCalldata. It accepts
// exactly the encodings EncodeCalldata produces.
func DecodeCalldata(b []byte) (origin string, size uint64, root [32]byte, err error) {
	origin, size, root, problem := decodeCalldata(b)
	if problem != "" {
		return "", 0, [32]byte{}, fmt.Errorf("%w: %s", ErrCalldata, problem)
	}
	return origin, size, root, nil
}

// decodeCalldata is DecodeCalldata, saying what is wrong in words.
func decodeCalldata(b []byte) (origin string, size uint64, root [32]byte, problem string) {
	if len(b) < fixedLen+1 {
		return "", 0, root, fmt.Sprintf("%d bytes, want at least %d", len(b), fixedLen+1)
	}
	if !bytes.HasPrefix(b, []byte(Magic)) {
		return "", 0, root, fmt.Sprintf("does not start with %q", Magic)
	}
	n := int(binary.BigEndian.Uint16(b[len(Magic):]))
	if want := fixedLen + n; len(b) != want {
		return "", 0, root, fmt.Sprintf("%d bytes for a %d-byte origin, want %d", len(b), n, want)
	}
	rest := b[len(Magic)+2:]
	origin = string(rest[:n])
	if problem := originProblem(origin); problem != "" {
		return "", 0, root, problem
	}
	rest = rest[n:]
	size = binary.BigEndian.Uint64(rest)
	copy(root[:], rest[8:])
	return origin, size, root, ""
}

// originProblem says what makes origin unfit for an anchor, or "".
func originProblem(origin string) string {
	switch {
	case origin == "":
		return "empty origin"
	case len(origin) > MaxOrigin:
		return fmt.Sprintf("origin of %d bytes, at most %d allowed", len(origin), MaxOrigin)
	case strings.Contains(origin, "\n"):
		return "origin contains a newline"
	}
	return ""
}
