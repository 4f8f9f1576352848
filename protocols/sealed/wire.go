package sealed

// The binary encodings of Announcement and Box. The normative description is
// docs/wire/sealed.md; golden vectors are in testdata.
//
// The encoding is canonical: UnmarshalBinary accepts exactly the byte
// strings MarshalBinary produces. MarshalBinary refuses (with ErrMalformed)
// a value that has no encoding. Neither direction panics on any input.

import (
	"encoding/binary"
	"fmt"
)

// wireVersion is the first byte of every message.
const wireVersion = 1

// Type bytes: the second byte of every message.
const (
	wireTypeAnnouncement = 1
	wireTypeBox          = 2
)

// Sizes in bytes.
const (
	wireHeaderSize       = 2                            // version, type
	wireAnnouncementSize = wireHeaderSize + 4 + 32 + 64 // Party, Public, Sig
	boxADSize            = wireHeaderSize + 4 + 4       // version, type, From, To
	wireBoxFixed         = boxADSize + 4                // and the ciphertext length
)

// malformed returns ErrMalformed wrapped with "Msg: what".
func malformed(msg, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, msg, fmt.Sprintf(format, args...))
}

// header checks the version and type bytes of b.
func header(msg string, b []byte, typ byte) error {
	switch {
	case len(b) < wireHeaderSize:
		return malformed(msg, "%d bytes, shorter than the header", len(b))
	case b[0] != wireVersion:
		return malformed(msg, "unsupported version %d", b[0])
	case b[1] != typ:
		return malformed(msg, "type byte %d, want %d", b[1], typ)
	}
	return nil
}

// AppendBinary appends the encoding of a to b: version, type, Party,
// Public, Sig. It fails with ErrMalformed unless Sig is 64 bytes.
func (a Announcement) AppendBinary(b []byte) ([]byte, error) {
	if len(a.Sig) != 64 {
		return nil, malformed("Announcement", "signature of %d bytes, want 64", len(a.Sig))
	}
	b = append(b, wireVersion, wireTypeAnnouncement)
	b = binary.BigEndian.AppendUint32(b, a.Party)
	b = append(b, a.Public[:]...)
	return append(b, a.Sig...), nil
}

// MarshalBinary returns the encoding of a (102 bytes); see AppendBinary.
func (a Announcement) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(make([]byte, 0, wireAnnouncementSize))
}

// UnmarshalBinary sets a from its encoding. It fails with ErrMalformed on
// anything MarshalBinary does not produce. It does not verify a: see
// Verify.
func (a *Announcement) UnmarshalBinary(b []byte) error {
	const msg = "Announcement"
	if err := header(msg, b, wireTypeAnnouncement); err != nil {
		return err
	}
	if len(b) != wireAnnouncementSize {
		return malformed(msg, "%d bytes, want %d", len(b), wireAnnouncementSize)
	}
	a.Party = binary.BigEndian.Uint32(b[2:])
	copy(a.Public[:], b[6:38])
	a.Sig = append([]byte(nil), b[38:]...)
	return nil
}

// additionalData writes the AEAD additional data of x to ad and returns it:
// the first 10 bytes of x's encoding (version, type, From, To).
func (x *Box) additionalData(ad *[boxADSize]byte) []byte {
	ad[0], ad[1] = wireVersion, wireTypeBox
	binary.BigEndian.PutUint32(ad[2:], x.From)
	binary.BigEndian.PutUint32(ad[6:], x.To)
	return ad[:]
}

// AppendBinary appends the encoding of x to b: version, type, From, To, the
// length of Ciphertext and Ciphertext. It fails with ErrMalformed unless
// Ciphertext holds between Overhead and MaxCiphertext bytes.
func (x Box) AppendBinary(b []byte) ([]byte, error) {
	if n := len(x.Ciphertext); n < Overhead || n > MaxCiphertext {
		return nil, malformed("Box", "ciphertext of %d bytes, want %d to %d", n, Overhead, MaxCiphertext)
	}
	var ad [boxADSize]byte
	b = append(b, x.additionalData(&ad)...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(x.Ciphertext)))
	return append(b, x.Ciphertext...), nil
}

// MarshalBinary returns the encoding of x; see AppendBinary.
func (x Box) MarshalBinary() ([]byte, error) {
	return x.AppendBinary(make([]byte, 0, wireBoxFixed+len(x.Ciphertext)))
}

// UnmarshalBinary sets x from its encoding. It fails with ErrMalformed on
// anything MarshalBinary does not produce; it checks the length before it
// allocates. It does not authenticate x: see Key.Open.
func (x *Box) UnmarshalBinary(b []byte) error {
	const msg = "Box"
	if err := header(msg, b, wireTypeBox); err != nil {
		return err
	}
	if len(b) < wireBoxFixed {
		return malformed(msg, "%d bytes, shorter than the fixed fields", len(b))
	}
	n := binary.BigEndian.Uint32(b[10:])
	if n < Overhead || n > MaxCiphertext {
		return malformed(msg, "ciphertext length %d, want %d to %d", n, Overhead, MaxCiphertext)
	}
	if rest := len(b) - wireBoxFixed; uint64(rest) != uint64(n) {
		return malformed(msg, "ciphertext length %d, but %d bytes follow", n, rest)
	}
	x.From = binary.BigEndian.Uint32(b[2:])
	x.To = binary.BigEndian.Uint32(b[6:])
	x.Ciphertext = append([]byte(nil), b[wireBoxFixed:]...)
	return nil
}
