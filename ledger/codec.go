package ledger

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// enc appends big-endian fields to a byte slice.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)      { e.b = append(e.b, v) }
func (e *enc) u32(v uint32)    { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64)    { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) f64(v float64)   { e.u64(math.Float64bits(v)) }
func (e *enc) raw(v []byte)    { e.b = append(e.b, v...) }
func (e *enc) bytes(v []byte)  { e.u32(uint32(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)    { e.u32(uint32(len(v))); e.b = append(e.b, v...) }
func (e *enc) party(p Party)   { e.str(p.Name); e.raw(p.Key) }
func (e *enc) hash(h [32]byte) { e.b = append(e.b, h[:]...) }
func (e *enc) job(id JobID)    { e.b = append(e.b, id[:]...) }
func (e *enc) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) parties(ps []Party) {
	e.u32(uint32(len(ps)))
	for _, p := range ps {
		e.party(p)
	}
}

var errShort = errors.New("truncated")

// dec reads what enc wrote; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *dec) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *dec) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *dec) bytes() []byte {
	n := d.u32()
	if d.err == nil && uint64(n) > uint64(len(d.b)) {
		d.err = errShort
	}
	return append([]byte(nil), d.take(int(n))...)
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) hash() (h [32]byte) {
	copy(h[:], d.take(32))
	return h
}

func (d *dec) job() (id JobID) {
	copy(id[:], d.take(16))
	return id
}

func (d *dec) boolean() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	if d.err == nil {
		d.err = errors.New("boolean is neither 0 nor 1")
	}
	return false
}

func (d *dec) party() Party {
	name := d.str()
	key := d.take(ed25519.PublicKeySize)
	if d.err != nil {
		return Party{}
	}
	return Party{Name: name, Key: append(ed25519.PublicKey(nil), key...)}
}

func (d *dec) parties() []Party {
	n := d.u32()
	// Each party takes at least 4 + 32 bytes.
	if d.err == nil && uint64(n)*36 > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err != nil || n == 0 {
		return nil
	}
	ps := make([]Party, n)
	for i := range ps {
		ps[i] = d.party()
	}
	return ps
}

// done reports the sticky error or trailing bytes, naming what was decoded.
func (d *dec) done(what string) error {
	if d.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, what, len(d.b))
	}
	return nil
}
