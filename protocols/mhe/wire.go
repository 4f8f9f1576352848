package mhe

// The binary encoding of every message. Each starts with a 20-byte header:
//
//	version (1) | type (1) | parameter fingerprint (8) | log N (1) | log scale (1) | Q (8, big endian)
//
// followed by the type's fields (integers big endian). Polynomials use
// Lattigo's own ring.Poly encoding (a row count, then per row a length and
// the coefficients); the decoder checks those counts against the header
// before handing the bytes to Lattigo, and checks every coefficient is below
// Q, so every value has exactly one encoding. A decoder never panics and
// never allocates more than the input's length implies.
//
// A decoded message carries its ParamsID; the step that consumes it checks
// that it matches the local parameters and names the sender if not.

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"github.com/tuneinsight/lattigo/v6/utils/structs"
)

const wireVersion = 1

const (
	wireTypePublicKey      = 1
	wireTypeKeyGenShare    = 2
	wireTypeThresholdShare = 3
	wireTypeVector         = 4
	wireTypeReleaseRequest = 5
	wireTypeReleaseShare   = 6
)

const wireHeaderSize = 20

// wireHeader is the parameter part of a header.
type wireHeader struct {
	fp       [8]byte
	logN     int
	logScale int
	q        uint64
}

func (p *Params) header() wireHeader {
	return wireHeader{fp: p.fp, logN: p.LogN(), logScale: p.LogScale(), q: p.Q()}
}

func (h wireHeader) n() int { return 1 << h.logN }

func appendHeader(b []byte, typ byte, h wireHeader) []byte {
	b = append(b, wireVersion, typ)
	b = append(b, h.fp[:]...)
	b = append(b, byte(h.logN), byte(h.logScale))
	return binary.BigEndian.AppendUint64(b, h.q)
}

func polySize(n int) int { return 16 + 8*n }

func appendPoly(b []byte, pol ring.Poly) []byte {
	enc, err := pol.MarshalBinary()
	if err != nil {
		panic(err) // writing to a memory buffer does not fail
	}
	return append(b, enc...)
}

type decoder struct {
	msg string
	b   []byte
	h   wireHeader
	// polyHdr is Lattigo's encoding of the row count and row length of a
	// one-modulus polynomial of degree N.
	polyHdr []byte
}

func (d *decoder) fail(field, what string) error {
	return fmt.Errorf("%w: %s.%s: %s", ErrMalformed, d.msg, field, what)
}

func newDecoder(msg string, b []byte, typ byte) (*decoder, error) {
	d := &decoder{msg: msg, b: b}
	if len(b) < wireHeaderSize {
		return nil, d.fail("header", "truncated")
	}
	if b[0] != wireVersion {
		return nil, d.fail("header", fmt.Sprintf("version %d, want %d", b[0], wireVersion))
	}
	if b[1] != typ {
		return nil, d.fail("header", fmt.Sprintf("type %d, want %d", b[1], typ))
	}
	copy(d.h.fp[:], b[2:10])
	d.h.logN, d.h.logScale = int(b[10]), int(b[11])
	d.h.q = binary.BigEndian.Uint64(b[12:20])
	if _, ok := heStandard128[d.h.logN]; !ok {
		return nil, d.fail("header", "log N outside 10..15")
	}
	if d.h.q < 3 || d.h.q&1 == 0 || bits.Len64(d.h.q) > 62 {
		return nil, d.fail("header", "Q is not an odd modulus below 2^62")
	}
	if d.h.logScale < 1 || d.h.logScale >= bits.Len64(d.h.q) {
		return nil, d.fail("header", "log scale outside 1..log Q")
	}
	d.b = b[wireHeaderSize:]
	enc, _ := ring.NewPoly(1, 0).MarshalBinary()
	d.polyHdr = enc[:16]
	// Patch the row length (the second 8-byte word) from 1 to N, in
	// Lattigo's byte order, found by comparing with the encoding of 1.
	ln := enc[8:16]
	for i := range ln {
		if ln[i] == 1 {
			d.polyHdr = append([]byte(nil), enc[:16]...)
			n := uint64(d.h.n())
			if i == 0 {
				binary.LittleEndian.PutUint64(d.polyHdr[8:], n)
			} else {
				binary.BigEndian.PutUint64(d.polyHdr[8:], n)
			}
		}
	}
	return d, nil
}

func (d *decoder) end() error {
	if len(d.b) != 0 {
		return d.fail("end", fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return nil
}

func (d *decoder) fixed(field string, dst []byte) error {
	if len(d.b) < len(dst) {
		return d.fail(field, "truncated")
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
	return nil
}

func (d *decoder) u32(field string) (uint32, error) {
	var b [4]byte
	err := d.fixed(field, b[:])
	return binary.BigEndian.Uint32(b[:]), err
}

func (d *decoder) u64(field string) (uint64, error) {
	var b [8]byte
	err := d.fixed(field, b[:])
	return binary.BigEndian.Uint64(b[:]), err
}

// count reads a list length, refusing any above limit or longer than the
// remaining bytes allow at minSize bytes per item.
func (d *decoder) count(field string, limit, minSize int) (int, error) {
	v, err := d.u32(field)
	if err != nil {
		return 0, err
	}
	if uint64(v) > uint64(limit) || uint64(v)*uint64(minSize) > uint64(len(d.b)) {
		return 0, d.fail(field, "count too large")
	}
	return int(v), nil
}

// poly decodes one polynomial with Lattigo's decoder after checking its
// shape, then checks that every coefficient is below Q.
func (d *decoder) poly(field string) (pol ring.Poly, err error) {
	size := polySize(d.h.n())
	if len(d.b) < size {
		return pol, d.fail(field, "truncated")
	}
	for i := range d.polyHdr {
		if d.b[i] != d.polyHdr[i] {
			return pol, d.fail(field, "polynomial shape differs from the header's")
		}
	}
	pol = ring.NewPoly(d.h.n(), 0)
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = d.fail(field, fmt.Sprint("lattigo: ", r))
			}
		}()
		if e := pol.UnmarshalBinary(d.b[:size]); e != nil {
			err = d.fail(field, e.Error())
		}
	}()
	if err != nil {
		return pol, err
	}
	if len(pol.Coeffs) != 1 || len(pol.Coeffs[0]) != d.h.n() {
		return pol, d.fail(field, "polynomial shape differs from the header's")
	}
	for _, c := range pol.Coeffs[0] {
		if c >= d.h.q {
			return pol, d.fail(field, "coefficient not below Q")
		}
	}
	d.b = d.b[size:]
	return pol, nil
}

// ParamsID identifies the parameters a decoded message was made under.
type ParamsID struct {
	Fingerprint [8]byte
	LogN        int
	LogScale    int
	Q           uint64
}

// ID returns the parameters' identity as carried in every message.
func (p *Params) ID() ParamsID {
	return ParamsID{Fingerprint: p.fp, LogN: p.LogN(), LogScale: p.LogScale(), Q: p.Q()}
}

func (h wireHeader) id() ParamsID {
	return ParamsID{Fingerprint: h.fp, LogN: h.logN, LogScale: h.logScale, Q: h.q}
}

func (id ParamsID) header() wireHeader {
	return wireHeader{fp: id.Fingerprint, logN: id.LogN, logScale: id.LogScale, q: id.Q}
}

// ---- shape checks used by the steps ----

// checkPoly checks that pol is a one-modulus polynomial of degree N with
// coefficients below Q.
func (p *Params) checkPoly(pol ring.Poly) error {
	if len(pol.Coeffs) != 1 || len(pol.Coeffs[0]) != p.N() {
		return fmt.Errorf("%w: polynomial of the wrong shape for these parameters", ErrParams)
	}
	q := p.Q()
	for _, c := range pol.Coeffs[0] {
		if c >= q {
			return fmt.Errorf("%w: coefficient not below Q", ErrMalformed)
		}
	}
	return nil
}

func (p *Params) checkPolyQP(pol ringqp.Poly) error {
	if len(pol.P.Coeffs) != 0 {
		return fmt.Errorf("%w: polynomial has a P part", ErrParams)
	}
	return p.checkPoly(pol.Q)
}

func (p *Params) checkElement(e *rlwe.Element[ring.Poly]) error {
	if len(e.Value) != 2 {
		return fmt.Errorf("%w: element of degree %d, want 1", ErrParams, len(e.Value)-1)
	}
	for _, v := range e.Value {
		if err := p.checkPoly(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *Params) checkVector(v *Vector) error {
	if v.Length <= 0 || v.Length > MaxLength {
		return fmt.Errorf("%w: vector length %d outside 1..%d", ErrParams, v.Length, MaxLength)
	}
	if len(v.Cts) != p.Ciphertexts(v.Length) {
		return fmt.Errorf("%w: %d ciphertexts for %d values, want %d", ErrParams, len(v.Cts), v.Length, p.Ciphertexts(v.Length))
	}
	for _, c := range v.Cts {
		if c == nil {
			return fmt.Errorf("%w: nil ciphertext", ErrParams)
		}
		if err := p.checkElement(&c.Element); err != nil {
			return err
		}
		if !c.IsNTT {
			return fmt.Errorf("%w: ciphertext not in NTT form", ErrParams)
		}
	}
	return nil
}

func (p *Params) checkPublicKey(pk *PublicKey) error {
	if len(pk.Key.Value) != 2 {
		return fmt.Errorf("%w: public key of %d polynomials", ErrParams, len(pk.Key.Value))
	}
	for _, v := range pk.Key.Value {
		if err := p.checkPolyQP(v); err != nil {
			return err
		}
	}
	return nil
}

// ---- PublicKey ----

// Params-bound encodings: a PublicKey carries no ParamsID of its own (it is
// a Lattigo key); MarshalBinary needs the parameters, so the methods live on
// Params.

// MarshalPublicKey encodes pk.
func (p *Params) MarshalPublicKey(pk *PublicKey) ([]byte, error) { return p.marshalPublicKey(pk) }

func (p *Params) marshalPublicKey(pk *PublicKey) ([]byte, error) {
	if pk == nil || pk.Key == nil {
		return nil, fmt.Errorf("%w: PublicKey: nil", ErrMalformed)
	}
	if err := p.checkPublicKey(pk); err != nil {
		return nil, err
	}
	b := make([]byte, 0, wireHeaderSize+2*polySize(p.N()))
	b = appendHeader(b, wireTypePublicKey, p.header())
	b = appendPoly(b, pk.Key.Value[0].Q)
	return appendPoly(b, pk.Key.Value[1].Q), nil
}

// UnmarshalPublicKey decodes a public key made under p.
func (p *Params) UnmarshalPublicKey(b []byte) (*PublicKey, error) {
	d, err := newDecoder("PublicKey", b, wireTypePublicKey)
	if err != nil {
		return nil, err
	}
	if d.h.id() != p.ID() {
		return nil, d.fail("header", "made under other parameters")
	}
	pk, err := d.publicKey()
	if err != nil {
		return nil, err
	}
	return pk, d.end()
}

func (d *decoder) publicKey() (*PublicKey, error) {
	p0, err := d.poly("Key[0]")
	if err != nil {
		return nil, err
	}
	p1, err := d.poly("Key[1]")
	if err != nil {
		return nil, err
	}
	return &PublicKey{Key: &rlwe.PublicKey{Value: rlwe.VectorQP{ringqp.Poly{Q: p0}, ringqp.Poly{Q: p1}}}}, nil
}

// ---- KeyGenShare ----

// MarshalBinary encodes the share (Params must be set).
func (m KeyGenShare) MarshalBinary() ([]byte, error) {
	if len(m.Share.Value.Q.Coeffs) != 1 || len(m.Share.Value.Q.Coeffs[0]) != 1<<m.Params.LogN || len(m.Share.Value.P.Coeffs) != 0 {
		return nil, fmt.Errorf("%w: KeyGenShare: polynomial does not match Params", ErrMalformed)
	}
	b := appendHeader(nil, wireTypeKeyGenShare, m.Params.header())
	b = append(b, m.Job[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Party)
	return appendPoly(b, m.Share.Value.Q), nil
}

// UnmarshalBinary decodes a share; the parameters are checked by
// KeyAggregator.Add.
func (m *KeyGenShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("KeyGenShare", b, wireTypeKeyGenShare)
	if err != nil {
		return err
	}
	var out KeyGenShare
	out.Params = d.h.id()
	if err := d.fixed("Job", out.Job[:]); err != nil {
		return err
	}
	if out.Party, err = d.u32("Party"); err != nil {
		return err
	}
	pol, err := d.poly("Share")
	if err != nil {
		return err
	}
	out.Share = multiparty.PublicKeyGenShare{Value: ringqp.Poly{Q: pol}}
	if err := d.end(); err != nil {
		return err
	}
	*m = out
	return nil
}

// ---- ThresholdShare ----

// MarshalBinary encodes the share (Params must be set).
func (m ThresholdShare) MarshalBinary() ([]byte, error) {
	if len(m.Share.Q.Coeffs) != 1 || len(m.Share.Q.Coeffs[0]) != 1<<m.Params.LogN || len(m.Share.P.Coeffs) != 0 {
		return nil, fmt.Errorf("%w: ThresholdShare: polynomial does not match Params", ErrMalformed)
	}
	b := appendHeader(nil, wireTypeThresholdShare, m.Params.header())
	b = append(b, m.Job[:]...)
	b = binary.BigEndian.AppendUint32(b, m.From)
	b = binary.BigEndian.AppendUint32(b, m.To)
	return appendPoly(b, m.Share.Q), nil
}

// UnmarshalBinary decodes a share; the parameters are checked by
// Party.AddThresholdShare.
func (m *ThresholdShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("ThresholdShare", b, wireTypeThresholdShare)
	if err != nil {
		return err
	}
	var out ThresholdShare
	out.Params = d.h.id()
	if err := d.fixed("Job", out.Job[:]); err != nil {
		return err
	}
	if out.From, err = d.u32("From"); err != nil {
		return err
	}
	if out.To, err = d.u32("To"); err != nil {
		return err
	}
	pol, err := d.poly("Share")
	if err != nil {
		return err
	}
	out.Share = multiparty.ShamirSecretShare{Poly: ringqp.Poly{Q: pol}}
	if err := d.end(); err != nil {
		return err
	}
	*m = out
	return nil
}

// ---- Vector ----

func (p *Params) marshalVector(v *Vector) ([]byte, error) {
	if err := p.checkVector(v); err != nil {
		return nil, err
	}
	return appendVectorBody(appendHeader(nil, wireTypeVector, p.header()), v), nil
}

func appendVectorBody(b []byte, v *Vector) []byte {
	b = binary.BigEndian.AppendUint64(b, v.Round)
	b = binary.BigEndian.AppendUint32(b, v.Party)
	b = binary.BigEndian.AppendUint32(b, uint32(v.Length))
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.Cts)))
	for _, c := range v.Cts {
		b = appendPoly(b, c.Value[0])
		b = appendPoly(b, c.Value[1])
	}
	return b
}

// MarshalVector encodes v (the upload of a party, a sum, or a switched
// result).
func (p *Params) MarshalVector(v *Vector) ([]byte, error) { return p.marshalVector(v) }

// UnmarshalVector decodes a vector made under p.
func (p *Params) UnmarshalVector(b []byte) (*Vector, error) {
	d, err := newDecoder("Vector", b, wireTypeVector)
	if err != nil {
		return nil, err
	}
	if d.h.id() != p.ID() {
		return nil, d.fail("header", "made under other parameters")
	}
	v, err := d.vector(p)
	if err != nil {
		return nil, err
	}
	return v, d.end()
}

func (d *decoder) vector(p *Params) (*Vector, error) {
	v := &Vector{}
	var err error
	if v.Round, err = d.u64("Round"); err != nil {
		return nil, err
	}
	if v.Party, err = d.u32("Party"); err != nil {
		return nil, err
	}
	l, err := d.u32("Length")
	if err != nil {
		return nil, err
	}
	if l == 0 || l > MaxLength {
		return nil, d.fail("Length", "outside 1..MaxLength")
	}
	v.Length = int(l)
	k, err := d.count("Cts", MaxLength, 2*polySize(d.h.n()))
	if err != nil {
		return nil, err
	}
	if k != p.Ciphertexts(v.Length) {
		return nil, d.fail("Cts", "count does not match Length")
	}
	v.Cts = make([]*rlwe.Ciphertext, k)
	for i := range v.Cts {
		c0, err := d.poly(fmt.Sprintf("Cts[%d][0]", i))
		if err != nil {
			return nil, err
		}
		c1, err := d.poly(fmt.Sprintf("Cts[%d][1]", i))
		if err != nil {
			return nil, err
		}
		ct := newCiphertextShell(p)
		ct.Value = []ring.Poly{c0, c1}
		v.Cts[i] = ct
	}
	return v, nil
}

// newCiphertextShell returns a level-0 ciphertext with the parameters'
// metadata and no polynomials.
func newCiphertextShell(p *Params) *rlwe.Ciphertext {
	ct := &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{MetaData: &rlwe.MetaData{}}}
	ct.Scale = p.ckks.DefaultScale()
	ct.IsNTT = true
	ct.IsBatched = true
	ct.LogDimensions = p.ckks.LogMaxDimensions()
	return ct
}

// ---- ReleaseRequest ----

// MarshalReleaseRequest encodes r.
func (p *Params) MarshalReleaseRequest(r *ReleaseRequest) ([]byte, error) {
	if r.Aggregate == nil || r.Receiver == nil || r.Receiver.Key == nil {
		return nil, fmt.Errorf("%w: ReleaseRequest: missing aggregate or receiver", ErrMalformed)
	}
	if len(r.Active) == 0 || len(r.Active) > MaxParties || !sortedUnique(r.Active) {
		return nil, fmt.Errorf("%w: ReleaseRequest.Active: empty, too long or not increasing", ErrMalformed)
	}
	if err := p.checkVector(r.Aggregate); err != nil {
		return nil, err
	}
	if err := p.checkPublicKey(r.Receiver); err != nil {
		return nil, err
	}
	b := appendHeader(nil, wireTypeReleaseRequest, p.header())
	b = append(b, r.Job[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Round)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Active)))
	for _, a := range r.Active {
		b = binary.BigEndian.AppendUint32(b, a)
	}
	b = appendPoly(b, r.Receiver.Key.Value[0].Q)
	b = appendPoly(b, r.Receiver.Key.Value[1].Q)
	return appendVectorBody(b, r.Aggregate), nil
}

// UnmarshalReleaseRequest decodes a request made under p.
func (p *Params) UnmarshalReleaseRequest(b []byte) (*ReleaseRequest, error) {
	d, err := newDecoder("ReleaseRequest", b, wireTypeReleaseRequest)
	if err != nil {
		return nil, err
	}
	if d.h.id() != p.ID() {
		return nil, d.fail("header", "made under other parameters")
	}
	r := &ReleaseRequest{}
	if err := d.fixed("Job", r.Job[:]); err != nil {
		return nil, err
	}
	if r.Round, err = d.u64("Round"); err != nil {
		return nil, err
	}
	k, err := d.count("Active", MaxParties, 4)
	if err != nil {
		return nil, err
	}
	if k == 0 {
		return nil, d.fail("Active", "empty")
	}
	r.Active = make([]uint32, k)
	for i := range r.Active {
		if r.Active[i], err = d.u32("Active"); err != nil {
			return nil, err
		}
	}
	if !sortedUnique(r.Active) {
		return nil, d.fail("Active", "not strictly increasing")
	}
	if r.Receiver, err = d.publicKey(); err != nil {
		return nil, err
	}
	if r.Aggregate, err = d.vector(p); err != nil {
		return nil, err
	}
	return r, d.end()
}

// ---- ReleaseShare ----

// MarshalBinary encodes the share (Params must be set).
func (m ReleaseShare) MarshalBinary() ([]byte, error) {
	n := 1 << m.Params.LogN
	if len(m.Shares) == 0 || len(m.Shares) > MaxLength {
		return nil, fmt.Errorf("%w: ReleaseShare.Shares: count outside 1..MaxLength", ErrMalformed)
	}
	b := make([]byte, 0, wireHeaderSize+48+len(m.Shares)*2*polySize(n))
	b = appendHeader(b, wireTypeReleaseShare, m.Params.header())
	b = binary.BigEndian.AppendUint64(b, m.Round)
	b = binary.BigEndian.AppendUint32(b, m.Party)
	b = append(b, m.Request[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Shares)))
	for i := range m.Shares {
		v := m.Shares[i].Value
		if len(v) != 2 {
			return nil, fmt.Errorf("%w: ReleaseShare.Shares[%d]: not two polynomials", ErrMalformed, i)
		}
		for _, pol := range v {
			if len(pol.Coeffs) != 1 || len(pol.Coeffs[0]) != n {
				return nil, fmt.Errorf("%w: ReleaseShare.Shares[%d]: polynomial does not match Params", ErrMalformed, i)
			}
			b = appendPoly(b, pol)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes a share; the parameters are checked by
// Release.Add.
func (m *ReleaseShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("ReleaseShare", b, wireTypeReleaseShare)
	if err != nil {
		return err
	}
	var out ReleaseShare
	out.Params = d.h.id()
	if out.Round, err = d.u64("Round"); err != nil {
		return err
	}
	if out.Party, err = d.u32("Party"); err != nil {
		return err
	}
	if err := d.fixed("Request", out.Request[:]); err != nil {
		return err
	}
	k, err := d.count("Shares", MaxLength, 2*polySize(d.h.n()))
	if err != nil {
		return err
	}
	if k == 0 {
		return d.fail("Shares", "empty")
	}
	out.Shares = make([]multiparty.PublicKeySwitchShare, k)
	for i := range out.Shares {
		c0, err := d.poly(fmt.Sprintf("Shares[%d][0]", i))
		if err != nil {
			return err
		}
		c1, err := d.poly(fmt.Sprintf("Shares[%d][1]", i))
		if err != nil {
			return err
		}
		out.Shares[i].Value = structs.Vector[ring.Poly]{c0, c1}
		out.Shares[i].MetaData = &rlwe.MetaData{}
		out.Shares[i].IsNTT = true
	}
	if err := d.end(); err != nil {
		return err
	}
	*m = out
	return nil
}
