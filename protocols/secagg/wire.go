package secagg

// The binary wire format of every SecAgg+ message. The normative description
// is docs/wire/secagg.md; golden vectors are in testdata/secagg/wire.
//
// The encoding is canonical: each value has exactly one encoding, and
// UnmarshalBinary accepts exactly the byte strings MarshalBinary produces.
// MarshalBinary refuses (with ErrMalformed) a value that has no encoding,
// such as an unsorted list, so that whatever one side sends the other can
// decode. Neither direction panics on any input.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
)

// Limits on the sizes of wire messages. A decoder rejects anything beyond
// them before allocating.
const (
	// MaxParties bounds the number of parties in a round: every party
	// index (Sender, Receiver, Peer, Of, survivor) is below it, every list
	// of parties is at most this long, and a Share.Index is at most this.
	MaxParties = 1 << 16
	// MaxDim bounds the number of ring words in a MaskedInput.
	MaxDim = 1 << 28
	// MaxCiphertext bounds the length in bytes of one encrypted share.
	MaxCiphertext = 1024
)

// wireVersion is the version byte that starts every top-level message.
const wireVersion = 1

// Type bytes: the second byte of every top-level message.
const (
	wireTypeAdvertiseKeys  = 1
	wireTypeKeyList        = 2
	wireTypeShareKeys      = 3
	wireTypeShareBundle    = 4
	wireTypeMaskedInput    = 5
	wireTypeSurvivorList   = 6
	wireTypeConsistencySig = 7
	wireTypeUnmaskRequest  = 8
	wireTypeUnmaskShares   = 9
	wireTypeShare          = 10
	wireTypeSharePlaintext = 11
)

// Ring bytes of a MaskedInput.
const (
	wireRing32 = 32
	wireRing64 = 64
)

// Sizes in bytes of the fixed-size parts.
const (
	wireHeaderSize         = 2                     // version, type
	wireAdvertiseSize      = 32 + 4 + 32 + 32 + 64 // Round, Sender, EncKey, MaskKey, Sig
	wireConsistencySize    = 32 + 4 + 64           // Round, Sender, Sig
	wireShareSize          = 4 + 32 + 32           // Index, Lo, Hi
	wireRevealedSize       = 4 + 1 + wireShareSize // Of, Kind, Share
	wireEncShareMin        = 4 + 4                 // Peer, length
	wireSharePlaintextSize = 32 + 4 + 4 + 2*wireShareSize
	wireMaskedInputFixed   = 32 + 4 + 1 + 4 // Round, Sender, ring, count
)

// ErrMalformed is returned, wrapped with the message type, the field and
// what was wrong with it, when a message cannot be decoded or has no valid
// encoding.
var ErrMalformed = errors.New("secagg: malformed message")

// wireErr returns ErrMalformed wrapped with "Msg.field: what".
func wireErr(msg, field, what string) error {
	if field == "" {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, msg, what)
	}
	return fmt.Errorf("%w: %s.%s: %s", ErrMalformed, msg, field, what)
}

// wireItem names element i of a list field, e.g. wireItem("Shares", 3, "Peer") is
// "Shares[3].Peer". It is only called on error paths.
func wireItem(list string, i int, field string) string {
	s := list + "[" + strconv.Itoa(i) + "]"
	if field != "" {
		s += "." + field
	}
	return s
}

// wireEll is the order ℓ = 2^252 + 27742317777372353535851937790883648493
// of the edwards25519 prime-order group, as four little-endian 64-bit limbs.
var wireEll = [4]uint64{
	0x5812631a5cf5d3ed,
	0x14def9dea2f79cd6,
	0x0000000000000000,
	0x1000000000000000,
}

// wireCanonicalScalar reports whether the little-endian 32-byte s is below ℓ.
// It takes the same time for every s: it computes the borrow of s - ℓ.
func wireCanonicalScalar(s *[32]byte) bool {
	var borrow uint64
	for i := 0; i < 4; i++ {
		_, borrow = bits.Sub64(binary.LittleEndian.Uint64(s[8*i:]), wireEll[i], borrow)
	}
	return borrow == 1
}

// wireShareProblem reports what is wrong with a Share, as a field name relative to
// the share and a description, or "", "" when it is valid.
func wireShareProblem(s *Share) (field, what string) {
	switch {
	case s.Index == 0:
		return "Index", "zero"
	case s.Index > MaxParties:
		return "Index", "above MaxParties"
	case !wireCanonicalScalar(&s.Lo):
		return "Lo", "scalar not below the group order"
	case !wireCanonicalScalar(&s.Hi):
		return "Hi", "scalar not below the group order"
	}
	return "", ""
}

func wireJoin(prefix, field string) string {
	if prefix == "" {
		return field
	}
	if field == "" {
		return prefix
	}
	return prefix + "." + field
}

// wirePath locates a nested part of a message (a list element, or a
// struct-valued field) for error messages, without building the string
// unless there is an error.
type wirePath struct {
	list string // "" for the message itself
	i    int    // element index, or -1 for a plain field
	sub  string // a field of the element, or ""
}

// wireAt is element i of list.
func wireAt(list string, i int) wirePath { return wirePath{list: list, i: i} }

// wireField is a struct-valued field.
func wireField(name string) wirePath { return wirePath{list: name, i: -1} }

func (p wirePath) in(sub string) wirePath { p.sub = sub; return p }

// name returns the path of field within p, e.g. "Shares[3].Share.Lo".
func (p wirePath) name(field string) string {
	s := p.list
	if p.list != "" && p.i >= 0 {
		s += "[" + strconv.Itoa(p.i) + "]"
	}
	return wireJoin(wireJoin(s, p.sub), field)
}

// ---------------------------------------------------------------------------
// Decoding helpers.

// wireDecoder reads a message from b. Its methods report success; the caller
// names the field on failure.
type wireDecoder struct {
	b   []byte
	msg string // message type, for errors
}

func (d *wireDecoder) fail(field, what string) error { return wireErr(d.msg, field, what) }

// truncated is the error for a field that runs past the end of the input.
func (d *wireDecoder) truncated(field string) error { return d.fail(field, "truncated") }

func (d *wireDecoder) header(typ byte) error {
	if len(d.b) < 1 {
		return d.truncated("version")
	}
	if d.b[0] != wireVersion {
		return d.fail("version", "unsupported version "+strconv.Itoa(int(d.b[0])))
	}
	if len(d.b) < 2 {
		return d.truncated("type")
	}
	if d.b[1] != typ {
		return d.fail("type", "type byte "+strconv.Itoa(int(d.b[1]))+", want "+strconv.Itoa(int(typ)))
	}
	d.b = d.b[2:]
	return nil
}

func (d *wireDecoder) end() error {
	if len(d.b) != 0 {
		return d.fail("", strconv.Itoa(len(d.b))+" trailing bytes")
	}
	return nil
}

func (d *wireDecoder) fixed(dst []byte) bool {
	if len(d.b) < len(dst) {
		return false
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
	return true
}

func (d *wireDecoder) u8() (byte, bool) {
	if len(d.b) < 1 {
		return 0, false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v, true
}

func (d *wireDecoder) u32() (uint32, bool) {
	if len(d.b) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v, true
}

// party reads a party index (below MaxParties) into *v.
func (d *wireDecoder) party(v *uint32, p wirePath, field string) error {
	x, ok := d.u32()
	if !ok {
		return d.truncated(p.name(field))
	}
	if x >= MaxParties {
		return d.fail(p.name(field), "party index "+strconv.FormatUint(uint64(x), 10)+" not below MaxParties")
	}
	*v = x
	return nil
}

// count reads a list length that may be at most limit, each item taking at
// least minSize bytes of what remains.
func (d *wireDecoder) count(field string, limit, minSize int) (int, error) {
	x, ok := d.u32()
	if !ok {
		return 0, d.truncated(field)
	}
	if uint64(x) > uint64(limit) {
		return 0, d.fail(field, "count "+strconv.FormatUint(uint64(x), 10)+" above the limit "+strconv.Itoa(limit))
	}
	n := int(x)
	if n > len(d.b)/minSize {
		return 0, d.fail(field, "count "+strconv.Itoa(n)+" does not fit in the remaining "+strconv.Itoa(len(d.b))+" bytes")
	}
	return n, nil
}

// increasing checks that party index v of list element i is above prev.
func (d *wireDecoder) increasing(i int, v, prev uint32, list, field string) error {
	if i > 0 && v <= prev {
		return d.fail(wireItem(list, i, field), "not above the previous")
	}
	return nil
}

// share reads the body of a Share (Index, Lo, Hi) at p.
func (d *wireDecoder) share(s *Share, p wirePath) error {
	var ok bool
	if s.Index, ok = d.u32(); !ok {
		return d.truncated(p.name("Index"))
	}
	if !d.fixed(s.Lo[:]) {
		return d.truncated(p.name("Lo"))
	}
	if !d.fixed(s.Hi[:]) {
		return d.truncated(p.name("Hi"))
	}
	if field, what := wireShareProblem(s); field != "" {
		return d.fail(p.name(field), what)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Encoding helpers.

func wireAppendHeader(b []byte, typ byte) []byte { return append(b, wireVersion, typ) }

func wireAppendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func wireAppendShare(b []byte, s *Share) []byte {
	b = wireAppendU32(b, s.Index)
	b = append(b, s.Lo[:]...)
	return append(b, s.Hi[:]...)
}

// wireCheckParty reports an error if v is not a valid party index.
func wireCheckParty(msg, field string, v uint32) error {
	if v >= MaxParties {
		return wireErr(msg, field, "party index "+strconv.FormatUint(uint64(v), 10)+" not below MaxParties")
	}
	return nil
}

// wireCheckListLen reports an error if a list is longer than limit.
func wireCheckListLen(msg, field string, n, limit int) error {
	if n > limit {
		return wireErr(msg, field, "count "+strconv.Itoa(n)+" above the limit "+strconv.Itoa(limit))
	}
	return nil
}

// wireCheckPartyList checks a strictly increasing list of party indices given
// by get(i) for i < n.
func wireCheckPartyList(msg, list, field string, n int, get func(int) uint32) error {
	if err := wireCheckListLen(msg, list, n, MaxParties); err != nil {
		return err
	}
	var prev uint32
	for i := 0; i < n; i++ {
		v := get(i)
		if v >= MaxParties {
			return wireErr(msg, wireItem(list, i, field), "party index "+strconv.FormatUint(uint64(v), 10)+" not below MaxParties")
		}
		if i > 0 && v <= prev {
			return wireErr(msg, wireItem(list, i, field), "not above the previous")
		}
		prev = v
	}
	return nil
}

func wireCheckShareValue(msg, prefix string, s *Share) error {
	if field, what := wireShareProblem(s); field != "" {
		return wireErr(msg, wireJoin(prefix, field), what)
	}
	return nil
}

// ---------------------------------------------------------------------------
// AdvertiseKeys

func (m *AdvertiseKeys) appendWire(b []byte) []byte {
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, m.Sender)
	b = append(b, m.EncKey[:]...)
	b = append(b, m.MaskKey[:]...)
	return append(b, m.Sig[:]...)
}

func (d *wireDecoder) advertiseBody(m *AdvertiseKeys, p wirePath) error {
	if !d.fixed(m.Round[:]) {
		return d.truncated(p.name("Round"))
	}
	if err := d.party(&m.Sender, p, "Sender"); err != nil {
		return err
	}
	if !d.fixed(m.EncKey[:]) {
		return d.truncated(p.name("EncKey"))
	}
	if !d.fixed(m.MaskKey[:]) {
		return d.truncated(p.name("MaskKey"))
	}
	if !d.fixed(m.Sig[:]) {
		return d.truncated(p.name("Sig"))
	}
	return nil
}

// AppendBinary implements encoding.BinaryAppender.
func (m AdvertiseKeys) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckParty("AdvertiseKeys", "Sender", m.Sender); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeAdvertiseKeys)
	return m.appendWire(b), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m AdvertiseKeys) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+wireAdvertiseSize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged.
func (m *AdvertiseKeys) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "AdvertiseKeys", wireTypeAdvertiseKeys, (*wireDecoder).advertiseBody, m)
}

// ---------------------------------------------------------------------------
// KeyList

func (m *KeyList) wireCheck() error {
	return wireCheckPartyList("KeyList", "Keys", "Sender", len(m.Keys), func(i int) uint32 { return m.Keys[i].Sender })
}

// AppendBinary implements encoding.BinaryAppender.
func (m KeyList) AppendBinary(b []byte) ([]byte, error) {
	if err := m.wireCheck(); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeKeyList)
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, uint32(len(m.Keys)))
	for i := range m.Keys {
		b = m.Keys[i].appendWire(b)
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m KeyList) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+32+4+len(m.Keys)*wireAdvertiseSize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. An empty list decodes as a nil Keys.
func (m *KeyList) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "KeyList", wireTypeKeyList, func(d *wireDecoder, v *KeyList, _ wirePath) error {
		if !d.fixed(v.Round[:]) {
			return d.truncated("Round")
		}
		n, err := d.count("Keys", MaxParties, wireAdvertiseSize)
		if err != nil {
			return err
		}
		if n > 0 {
			v.Keys = make([]AdvertiseKeys, n)
		}
		for i := range v.Keys {
			k := &v.Keys[i]
			if err := d.advertiseBody(k, wireAt("Keys", i)); err != nil {
				return err
			}
			if i > 0 && k.Sender <= v.Keys[i-1].Sender {
				return d.fail(wireItem("Keys", i, "Sender"), "not above the previous")
			}
		}
		return nil
	}, m)
}

// ---------------------------------------------------------------------------
// EncryptedShare lists (ShareKeys, ShareBundle)

func wireCheckEncShares(msg string, s []EncryptedShare) error {
	if err := wireCheckPartyList(msg, "Shares", "Peer", len(s), func(i int) uint32 { return s[i].Peer }); err != nil {
		return err
	}
	for i := range s {
		if len(s[i].Ciphertext) > MaxCiphertext {
			return wireErr(msg, wireItem("Shares", i, "Ciphertext"), "length "+strconv.Itoa(len(s[i].Ciphertext))+" above MaxCiphertext")
		}
	}
	return nil
}

func wireEncSharesSize(s []EncryptedShare) int {
	n := 4
	for i := range s {
		n += wireEncShareMin + len(s[i].Ciphertext)
	}
	return n
}

func wireAppendEncShares(b []byte, s []EncryptedShare) []byte {
	b = wireAppendU32(b, uint32(len(s)))
	for i := range s {
		b = wireAppendU32(b, s[i].Peer)
		b = wireAppendU32(b, uint32(len(s[i].Ciphertext)))
		b = append(b, s[i].Ciphertext...)
	}
	return b
}

// encShares reads a list of EncryptedShare. The ciphertexts are copied into
// one buffer, no larger than the input. An empty Ciphertext decodes as nil,
// and an empty list as a nil slice.
func (d *wireDecoder) encShares() ([]EncryptedShare, error) {
	n, err := d.count("Shares", MaxParties, wireEncShareMin)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	// First pass: validate and measure, without allocating.
	start := d.b
	total := 0
	var prev uint32
	for i := 0; i < n; i++ {
		var peer uint32
		if err := d.party(&peer, wireAt("Shares", i), "Peer"); err != nil {
			return nil, err
		}
		if err := d.increasing(i, peer, prev, "Shares", "Peer"); err != nil {
			return nil, err
		}
		prev = peer
		l, ok := d.u32()
		if !ok {
			return nil, d.truncated(wireItem("Shares", i, "Ciphertext"))
		}
		if l > MaxCiphertext {
			return nil, d.fail(wireItem("Shares", i, "Ciphertext"), "length "+strconv.FormatUint(uint64(l), 10)+" above MaxCiphertext")
		}
		if int(l) > len(d.b) {
			return nil, d.truncated(wireItem("Shares", i, "Ciphertext"))
		}
		d.b = d.b[l:]
		total += int(l)
	}
	// Second pass: fill in.
	out := make([]EncryptedShare, n)
	var buf []byte
	if total > 0 {
		buf = make([]byte, total)
	}
	r := start
	for i := range out {
		out[i].Peer = binary.BigEndian.Uint32(r)
		l := int(binary.BigEndian.Uint32(r[4:]))
		r = r[8:]
		if l > 0 {
			copy(buf, r[:l])
			out[i].Ciphertext = buf[:l:l]
			buf = buf[l:]
			r = r[l:]
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// ShareKeys and ShareBundle share one layout: the round, one party (the
// sender or the receiver) and the encrypted shares.

// appendPartyShares encodes a ShareKeys or ShareBundle.
func appendPartyShares(b []byte, typ byte, msg, field string, round *RoundID, party uint32, shares []EncryptedShare) ([]byte, error) {
	if err := wireCheckParty(msg, field, party); err != nil {
		return nil, err
	}
	if err := wireCheckEncShares(msg, shares); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, typ)
	b = append(b, round[:]...)
	b = wireAppendU32(b, party)
	return wireAppendEncShares(b, shares), nil
}

// partySharesSize is the encoded size of a ShareKeys or ShareBundle.
func partySharesSize(shares []EncryptedShare) int {
	return wireHeaderSize + 32 + 4 + wireEncSharesSize(shares)
}

// partyShares decodes the body of a ShareKeys or ShareBundle.
func (d *wireDecoder) partyShares(round *RoundID, party *uint32, field string, shares *[]EncryptedShare) error {
	if !d.fixed(round[:]) {
		return d.truncated("Round")
	}
	if err := d.party(party, wirePath{}, field); err != nil {
		return err
	}
	var err error
	*shares, err = d.encShares()
	return err
}

// ---------------------------------------------------------------------------
// ShareKeys

// AppendBinary implements encoding.BinaryAppender.
func (m ShareKeys) AppendBinary(b []byte) ([]byte, error) {
	return appendPartyShares(b, wireTypeShareKeys, "ShareKeys", "Sender", &m.Round, m.Sender, m.Shares)
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m ShareKeys) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, partySharesSize(m.Shares)))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. An empty list decodes as a nil Shares, an empty
// ciphertext as a nil Ciphertext.
func (m *ShareKeys) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "ShareKeys", wireTypeShareKeys, func(d *wireDecoder, v *ShareKeys, _ wirePath) error {
		return d.partyShares(&v.Round, &v.Sender, "Sender", &v.Shares)
	}, m)
}

// ---------------------------------------------------------------------------
// ShareBundle

// AppendBinary implements encoding.BinaryAppender.
func (m ShareBundle) AppendBinary(b []byte) ([]byte, error) {
	return appendPartyShares(b, wireTypeShareBundle, "ShareBundle", "Receiver", &m.Round, m.Receiver, m.Shares)
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m ShareBundle) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, partySharesSize(m.Shares)))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. An empty list decodes as a nil Shares, an empty
// ciphertext as a nil Ciphertext.
func (m *ShareBundle) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "ShareBundle", wireTypeShareBundle, func(d *wireDecoder, v *ShareBundle, _ wirePath) error {
		return d.partyShares(&v.Round, &v.Receiver, "Receiver", &v.Shares)
	}, m)
}

// ---------------------------------------------------------------------------
// MaskedInput

// wireWords returns the ring byte and word count of a MaskedInput.
func (m *MaskedInput) wireWords() (ring byte, n int, err error) {
	switch {
	case m.Words32 != nil && m.Words64 != nil:
		return 0, 0, wireErr("MaskedInput", "Words32", "both Words32 and Words64 set")
	case m.Words32 != nil:
		ring, n = wireRing32, len(m.Words32)
	case m.Words64 != nil:
		ring, n = wireRing64, len(m.Words64)
	default:
		return 0, 0, wireErr("MaskedInput", "Words32", "neither Words32 nor Words64 set")
	}
	if n > MaxDim {
		return 0, 0, wireErr("MaskedInput", "Words", "count "+strconv.Itoa(n)+" above MaxDim")
	}
	return ring, n, nil
}

// AppendBinary implements encoding.BinaryAppender.
func (m MaskedInput) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckParty("MaskedInput", "Sender", m.Sender); err != nil {
		return nil, err
	}
	ring, n, err := m.wireWords()
	if err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeMaskedInput)
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, m.Sender)
	b = append(b, ring)
	b = wireAppendU32(b, uint32(n))
	if ring == wireRing32 {
		b = wireAppendWords32(b, m.Words32)
	} else {
		b = wireAppendWords64(b, m.Words64)
	}
	return b, nil
}

// wireAppendWords32 appends w little-endian, growing b once.
func wireAppendWords32(b []byte, w []uint32) []byte {
	off := len(b)
	b = wireGrow(b, 4*len(w))
	dst := b[off : off+4*len(w)]
	for i := range w {
		binary.LittleEndian.PutUint32(dst[4*i:4*i+4], w[i])
	}
	return b
}

// wireAppendWords64 appends w little-endian, growing b once.
func wireAppendWords64(b []byte, w []uint64) []byte {
	off := len(b)
	b = wireGrow(b, 8*len(w))
	dst := b[off : off+8*len(w)]
	for i := range w {
		binary.LittleEndian.PutUint64(dst[8*i:8*i+8], w[i])
	}
	return b
}

// wireGrow extends b by n bytes (contents unspecified), reallocating at most
// once.
func wireGrow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n)
	copy(nb, b)
	return nb
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m MaskedInput) MarshalBinary() ([]byte, error) {
	size := wireHeaderSize + wireMaskedInputFixed + 4*len(m.Words32) + 8*len(m.Words64)
	return m.AppendBinary(make([]byte, 0, size))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. Exactly one of Words32 and Words64 is set afterwards,
// as the ring byte says; a vector of length 0 decodes as an empty non-nil
// slice of that ring.
func (m *MaskedInput) UnmarshalBinary(data []byte) error {
	d := wireDecoder{b: data, msg: "MaskedInput"}
	if err := d.header(wireTypeMaskedInput); err != nil {
		return err
	}
	var v MaskedInput
	if !d.fixed(v.Round[:]) {
		return d.truncated("Round")
	}
	if err := d.party(&v.Sender, wirePath{}, "Sender"); err != nil {
		return err
	}
	ring, ok := d.u8()
	if !ok {
		return d.truncated("Ring")
	}
	var size int
	switch ring {
	case wireRing32:
		size = 4
	case wireRing64:
		size = 8
	default:
		return d.fail("Ring", "ring byte "+strconv.Itoa(int(ring))+", want 32 or 64")
	}
	n, err := d.count("Words", MaxDim, size)
	if err != nil {
		return err
	}
	src := d.b[:n*size]
	d.b = d.b[n*size:]
	if err := d.end(); err != nil {
		return err
	}
	if ring == wireRing32 {
		v.Words32 = make([]uint32, n)
		wireDecodeWords32(v.Words32, src)
	} else {
		v.Words64 = make([]uint64, n)
		wireDecodeWords64(v.Words64, src)
	}
	*m = v
	return nil
}

// wireDecodeWords32 reads len(dst) little-endian words from src.
func wireDecodeWords32(dst []uint32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint32(src[4*i : 4*i+4])
	}
}

// wireDecodeWords64 reads len(dst) little-endian words from src.
func wireDecodeWords64(dst []uint64, src []byte) {
	src = src[:8*len(dst)]
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(src[8*i : 8*i+8])
	}
}

// ---------------------------------------------------------------------------
// SurvivorList

func wireCheckSurvivors(msg string, s []uint32) error {
	return wireCheckPartyList(msg, "Survivors", "", len(s), func(i int) uint32 { return s[i] })
}

func wireAppendSurvivors(b []byte, s []uint32) []byte {
	b = wireAppendU32(b, uint32(len(s)))
	for _, v := range s {
		b = wireAppendU32(b, v)
	}
	return b
}

// survivors reads a strictly increasing list of party indices.
func (d *wireDecoder) survivors() ([]uint32, error) {
	n, err := d.count("Survivors", MaxParties, 4)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]uint32, n)
	for i := range out {
		if err := d.party(&out[i], wireAt("Survivors", i), ""); err != nil {
			return nil, err
		}
		if i > 0 && out[i] <= out[i-1] {
			return nil, d.fail(wireItem("Survivors", i, ""), "not above the previous")
		}
	}
	return out, nil
}

// AppendBinary implements encoding.BinaryAppender.
func (m SurvivorList) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckSurvivors("SurvivorList", m.Survivors); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeSurvivorList)
	b = append(b, m.Round[:]...)
	return wireAppendSurvivors(b, m.Survivors), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m SurvivorList) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+32+4+4*len(m.Survivors)))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. An empty list decodes as a nil Survivors.
func (m *SurvivorList) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "SurvivorList", wireTypeSurvivorList, func(d *wireDecoder, v *SurvivorList, _ wirePath) error {
		if !d.fixed(v.Round[:]) {
			return d.truncated("Round")
		}
		var err error
		if v.Survivors, err = d.survivors(); err != nil {
			return err
		}
		return nil
	}, m)
}

// ---------------------------------------------------------------------------
// ConsistencySig

func (m *ConsistencySig) appendWire(b []byte) []byte {
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, m.Sender)
	return append(b, m.Sig[:]...)
}

func (d *wireDecoder) consistencyBody(m *ConsistencySig, p wirePath) error {
	if !d.fixed(m.Round[:]) {
		return d.truncated(p.name("Round"))
	}
	if err := d.party(&m.Sender, p, "Sender"); err != nil {
		return err
	}
	if !d.fixed(m.Sig[:]) {
		return d.truncated(p.name("Sig"))
	}
	return nil
}

// AppendBinary implements encoding.BinaryAppender.
func (m ConsistencySig) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckParty("ConsistencySig", "Sender", m.Sender); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeConsistencySig)
	return m.appendWire(b), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m ConsistencySig) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+wireConsistencySize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged.
func (m *ConsistencySig) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "ConsistencySig", wireTypeConsistencySig, (*wireDecoder).consistencyBody, m)
}

// ---------------------------------------------------------------------------
// UnmaskRequest

// AppendBinary implements encoding.BinaryAppender.
func (m UnmaskRequest) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckSurvivors("UnmaskRequest", m.Survivors); err != nil {
		return nil, err
	}
	sigs := m.Signatures
	if err := wireCheckPartyList("UnmaskRequest", "Signatures", "Sender", len(sigs), func(i int) uint32 { return sigs[i].Sender }); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeUnmaskRequest)
	b = append(b, m.Round[:]...)
	b = wireAppendSurvivors(b, m.Survivors)
	b = wireAppendU32(b, uint32(len(sigs)))
	for i := range sigs {
		b = sigs[i].appendWire(b)
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m UnmaskRequest) MarshalBinary() ([]byte, error) {
	size := wireHeaderSize + 32 + 4 + 4*len(m.Survivors) + 4 + wireConsistencySize*len(m.Signatures)
	return m.AppendBinary(make([]byte, 0, size))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. Empty lists decode as nil slices.
func (m *UnmaskRequest) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "UnmaskRequest", wireTypeUnmaskRequest, func(d *wireDecoder, v *UnmaskRequest, _ wirePath) error {
		if !d.fixed(v.Round[:]) {
			return d.truncated("Round")
		}
		var err error
		if v.Survivors, err = d.survivors(); err != nil {
			return err
		}
		n, err := d.count("Signatures", MaxParties, wireConsistencySize)
		if err != nil {
			return err
		}
		if n > 0 {
			v.Signatures = make([]ConsistencySig, n)
		}
		for i := range v.Signatures {
			s := &v.Signatures[i]
			if err := d.consistencyBody(s, wireAt("Signatures", i)); err != nil {
				return err
			}
			if i > 0 && s.Sender <= v.Signatures[i-1].Sender {
				return d.fail(wireItem("Signatures", i, "Sender"), "not above the previous")
			}
		}
		return nil
	}, m)
}

// ---------------------------------------------------------------------------
// UnmaskShares

func wireCheckRevealed(s []RevealedShare) error {
	if err := wireCheckPartyList("UnmaskShares", "Shares", "Of", len(s), func(i int) uint32 { return s[i].Of }); err != nil {
		return err
	}
	for i := range s {
		if k := s[i].Kind; k != SelfSeedShare && k != MaskKeyShare {
			return wireErr("UnmaskShares", wireItem("Shares", i, "Kind"), "share kind "+strconv.Itoa(int(k))+", want 1 or 2")
		}
		if field, what := wireShareProblem(&s[i].Share); field != "" {
			return wireErr("UnmaskShares", wireItem("Shares", i, "Share."+field), what)
		}
	}
	return nil
}

func wireAppendRevealed(b []byte, s *RevealedShare) []byte {
	b = wireAppendU32(b, s.Of)
	b = append(b, byte(s.Kind))
	return wireAppendShare(b, &s.Share)
}

func (d *wireDecoder) revealed(s *RevealedShare, i int) error {
	if err := d.party(&s.Of, wireAt("Shares", i), "Of"); err != nil {
		return err
	}
	k, ok := d.u8()
	if !ok {
		return d.truncated(wireItem("Shares", i, "Kind"))
	}
	if s.Kind = ShareKind(k); s.Kind != SelfSeedShare && s.Kind != MaskKeyShare {
		return d.fail(wireItem("Shares", i, "Kind"), "share kind "+strconv.Itoa(int(k))+", want 1 or 2")
	}
	return d.share(&s.Share, wireAt("Shares", i).in("Share"))
}

// AppendBinary implements encoding.BinaryAppender.
func (m UnmaskShares) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckParty("UnmaskShares", "Sender", m.Sender); err != nil {
		return nil, err
	}
	if err := wireCheckRevealed(m.Shares); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeUnmaskShares)
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, m.Sender)
	b = wireAppendU32(b, uint32(len(m.Shares)))
	for i := range m.Shares {
		b = wireAppendRevealed(b, &m.Shares[i])
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m UnmaskShares) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+32+4+4+wireRevealedSize*len(m.Shares)))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged. An empty list decodes as a nil Shares.
func (m *UnmaskShares) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "UnmaskShares", wireTypeUnmaskShares, func(d *wireDecoder, v *UnmaskShares, _ wirePath) error {
		if !d.fixed(v.Round[:]) {
			return d.truncated("Round")
		}
		if err := d.party(&v.Sender, wirePath{}, "Sender"); err != nil {
			return err
		}
		n, err := d.count("Shares", MaxParties, wireRevealedSize)
		if err != nil {
			return err
		}
		if n > 0 {
			v.Shares = make([]RevealedShare, n)
		}
		for i := range v.Shares {
			if err := d.revealed(&v.Shares[i], i); err != nil {
				return err
			}
			if i > 0 && v.Shares[i].Of <= v.Shares[i-1].Of {
				return d.fail(wireItem("Shares", i, "Of"), "not above the previous")
			}
		}
		return nil
	}, m)
}

// ---------------------------------------------------------------------------
// Share

// AppendBinary implements encoding.BinaryAppender.
func (s Share) AppendBinary(b []byte) ([]byte, error) {
	if err := wireCheckShareValue("Share", "", &s); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeShare)
	return wireAppendShare(b, &s), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (s Share) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, wireHeaderSize+wireShareSize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *s is
// left unchanged.
func (s *Share) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "Share", wireTypeShare, (*wireDecoder).share, s)
}

// ---------------------------------------------------------------------------
// SharePlaintext

// AppendBinary implements encoding.BinaryAppender.
func (m SharePlaintext) AppendBinary(b []byte) ([]byte, error) {
	const msg = "SharePlaintext"
	if err := wireCheckParty(msg, "Sender", m.Sender); err != nil {
		return nil, err
	}
	if err := wireCheckParty(msg, "Receiver", m.Receiver); err != nil {
		return nil, err
	}
	if err := wireCheckShareValue(msg, "MaskKey", &m.MaskKey); err != nil {
		return nil, err
	}
	if err := wireCheckShareValue(msg, "SelfSeed", &m.SelfSeed); err != nil {
		return nil, err
	}
	b = wireAppendHeader(b, wireTypeSharePlaintext)
	b = append(b, m.Round[:]...)
	b = wireAppendU32(b, m.Sender)
	b = wireAppendU32(b, m.Receiver)
	b = wireAppendShare(b, &m.MaskKey)
	return wireAppendShare(b, &m.SelfSeed), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m SharePlaintext) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, wireHeaderSize+wireSharePlaintextSize))
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// left unchanged.
func (m *SharePlaintext) UnmarshalBinary(data []byte) error {
	return unmarshalWire(data, "SharePlaintext", wireTypeSharePlaintext, func(d *wireDecoder, v *SharePlaintext, _ wirePath) error {
		if !d.fixed(v.Round[:]) {
			return d.truncated("Round")
		}
		if err := d.party(&v.Sender, wirePath{}, "Sender"); err != nil {
			return err
		}
		if err := d.party(&v.Receiver, wirePath{}, "Receiver"); err != nil {
			return err
		}
		if err := d.share(&v.MaskKey, wireField("MaskKey")); err != nil {
			return err
		}
		if err := d.share(&v.SelfSeed, wireField("SelfSeed")); err != nil {
			return err
		}
		return nil
	}, m)
}

// unmarshalWire decodes a whole top-level message of type typ with body into
// *dst, leaving *dst unchanged on error.
func unmarshalWire[T any](data []byte, msg string, typ byte, body func(*wireDecoder, *T, wirePath) error, dst *T) error {
	d := wireDecoder{b: data, msg: msg}
	if err := d.header(typ); err != nil {
		return err
	}
	var v T
	if err := body(&d, &v, wirePath{}); err != nil {
		return err
	}
	if err := d.end(); err != nil {
		return err
	}
	*dst = v
	return nil
}
