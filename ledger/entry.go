package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Errors. Each is wrapped with details of what was wrong.
var (
	ErrMalformed = errors.New("ledger: malformed")
	ErrTooLarge  = errors.New("ledger: entry too large")
	ErrClosed    = errors.New("ledger: closed")
	ErrBroken    = errors.New("ledger: a commit failed; reopen the ledger")
	ErrRange     = errors.New("ledger: out of range")
	ErrProof     = errors.New("ledger: proof does not verify")
)

const (
	entryVersion = 1
	// EntryHeaderSize is the size of an entry's header: version, type,
	// index, time and the previous entry's leaf hash.
	EntryHeaderSize = 1 + 1 + 8 + 8 + 32
	// MaxEntrySize bounds an encoded entry: a tlog-tiles entry bundle stores
	// each entry behind a big-endian uint16 length.
	MaxEntrySize = 1<<16 - 1
	// MaxBodySize bounds an entry's body.
	MaxBodySize = MaxEntrySize - EntryHeaderSize
)

// Entry is one record of a ledger, stored and hashed exactly as
// MarshalBinary encodes it (docs/wire/ledger.md). Its Merkle leaf hash is
// RFC 6962's SHA-256(0x00 || encoding), and Prev is the leaf hash of the
// entry before it (zero for the first), so the entries also form a hash
// chain.
type Entry struct {
	Index uint64
	Type  Type
	Time  time.Time // nanosecond precision, UTC
	Prev  [32]byte
	Body  []byte
}

// MarshalBinary encodes the entry.
func (e *Entry) MarshalBinary() ([]byte, error) {
	return e.appendBinary(make([]byte, 0, EntryHeaderSize+len(e.Body)))
}

func (e *Entry) appendBinary(b []byte) ([]byte, error) {
	if len(e.Body) > MaxBodySize {
		return nil, fmt.Errorf("%w: %d-byte body of a %v entry (at most %d)", ErrTooLarge, len(e.Body), e.Type, MaxBodySize)
	}
	if e.Type < 1 || e.Type > maxType {
		return nil, fmt.Errorf("%w: unknown entry type %d", ErrMalformed, uint8(e.Type))
	}
	b = append(b, entryVersion, byte(e.Type))
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = append(b, e.Prev[:]...)
	return append(b, e.Body...), nil
}

// UnmarshalBinary decodes an entry. Body aliases b.
func (e *Entry) UnmarshalBinary(b []byte) error {
	if len(b) < EntryHeaderSize {
		return fmt.Errorf("%w: entry of %d bytes is shorter than its %d-byte header", ErrMalformed, len(b), EntryHeaderSize)
	}
	if len(b) > MaxEntrySize {
		return fmt.Errorf("%w: %d-byte entry (at most %d)", ErrTooLarge, len(b), MaxEntrySize)
	}
	if b[0] != entryVersion {
		return fmt.Errorf("%w: entry version %d (want %d)", ErrMalformed, b[0], entryVersion)
	}
	t := Type(b[1])
	if t < 1 || t > maxType {
		return fmt.Errorf("%w: unknown entry type %d", ErrMalformed, b[1])
	}
	*e = Entry{
		Index: binary.BigEndian.Uint64(b[2:]),
		Type:  t,
		Time:  time.Unix(0, int64(binary.BigEndian.Uint64(b[10:]))).UTC(),
		Prev:  [32]byte(b[18:50]),
		Body:  b[EntryHeaderSize:],
	}
	return nil
}

// Event decodes the entry's body, copying the entry's time into events
// that carry one.
func (e *Entry) Event() (Event, error) {
	ev, err := DecodeEvent(e.Type, e.Body)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.Index, err)
	}
	switch v := ev.(type) {
	case *JobProposed:
		v.Time = e.Time
	case *SiteDecided:
		v.Time = e.Time
	case *RoundCommitted:
		v.Time = e.Time
	case *JobFinished:
		v.Time = e.Time
	}
	return ev, nil
}

// LeafHash returns the RFC 6962 leaf hash of an encoded entry.
func LeafHash(encoded []byte) [32]byte {
	return [32]byte(rfc6962.DefaultHasher.HashLeaf(encoded))
}
