package mhe

// Wire encodings of the evaluation-key shares. After the common 20-byte
// header (Q there is the first modulus of the chain):
//
//	ComputeKeyShare: Job (32) | Party (4) | rows | 1 polynomial
//	RelinKeyShare:   Job (32) | Party (4) | Round (1) | rows | gadget
//	GaloisKeyShare:  Job (32) | Party (4) | Galois element (8) | rows | gadget
//
// rows is the number of Q moduli and of P moduli (one byte each). A
// polynomial over QP is its Q rows then its P rows, N coefficients each,
// 8 bytes big endian. A gadget is ⌈#Q/#P⌉ rows of one entry (no base-2
// decomposition) of degree+1 polynomials: degree 1 for a round-1
// relinearisation share, 0 otherwise. The decoder checks the exact length
// before it allocates; the step that consumes a share checks the moduli
// and that every coefficient is below its modulus.

import (
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"github.com/tuneinsight/lattigo/v6/utils/structs"
)

const (
	wireTypeComputeKeyShare = 16
	wireTypeRelinKeyShare   = 17
	wireTypeGaloisKeyShare  = 18
)

// maxWireModuli bounds the Q and P moduli counts a decoder accepts.
const maxWireModuli = 64

// qpShape returns the Q and P row counts of pol and checks that every row
// has n coefficients.
func qpShape(pol ringqp.Poly, n int) (q, p int, ok bool) {
	for _, r := range pol.Q.Coeffs {
		if len(r) != n {
			return 0, 0, false
		}
	}
	for _, r := range pol.P.Coeffs {
		if len(r) != n {
			return 0, 0, false
		}
	}
	return len(pol.Q.Coeffs), len(pol.P.Coeffs), true
}

func appendQP(b []byte, pol ringqp.Poly) []byte {
	for _, rows := range [][][]uint64{pol.Q.Coeffs, pol.P.Coeffs} {
		for _, r := range rows {
			for _, c := range r {
				b = binary.BigEndian.AppendUint64(b, c)
			}
		}
	}
	return b
}

// encodePolys appends the row counts and polys, which must all have the
// same shape, with rows of 1<<logN coefficients.
func encodePolys(b []byte, msg string, logN int, polys []ringqp.Poly) ([]byte, error) {
	n := 1 << logN
	if len(polys) == 0 {
		return nil, fmt.Errorf("%w: %s: no polynomials", ErrMalformed, msg)
	}
	q, p, ok := qpShape(polys[0], n)
	for _, pol := range polys[1:] {
		q2, p2, ok2 := qpShape(pol, n)
		ok = ok && ok2 && q2 == q && p2 == p
	}
	if !ok || q < 1 || p < 1 || q > maxWireModuli || p > maxWireModuli {
		return nil, fmt.Errorf("%w: %s: polynomials do not match Params or each other", ErrMalformed, msg)
	}
	b = append(b, byte(q), byte(p))
	for _, pol := range polys {
		b = appendQP(b, pol)
	}
	return b, nil
}

// gadgetForWire returns the polynomials of g in wire order, checking that it
// has one entry per row, degree+1 polynomials per entry and ⌈q/p⌉ rows for
// its own moduli counts.
func gadgetForWire(msg string, g *rlwe.GadgetCiphertext, degree int) ([]ringqp.Poly, error) {
	if g.BaseTwoDecomposition != 0 || len(g.Value) == 0 {
		return nil, fmt.Errorf("%w: %s: not an RNS gadget", ErrMalformed, msg)
	}
	for _, row := range g.Value {
		if len(row) != 1 || len(row[0]) != degree+1 {
			return nil, fmt.Errorf("%w: %s: gadget of the wrong shape", ErrMalformed, msg)
		}
	}
	first := g.Value[0][0][0]
	q, p := len(first.Q.Coeffs), len(first.P.Coeffs)
	if p == 0 || len(g.Value) != (q+p-1)/p {
		return nil, fmt.Errorf("%w: %s: gadget rows do not match the moduli", ErrMalformed, msg)
	}
	return gadgetPolys(g), nil
}

// polys reads the row counts and count(q, p) polynomials, checking the
// exact length first.
func (d *decoder) polys(field string, count func(q, p int) int) ([]ringqp.Poly, error) {
	var rc [2]byte
	if err := d.fixed(field, rc[:]); err != nil {
		return nil, err
	}
	q, p := int(rc[0]), int(rc[1])
	if q < 1 || p < 1 || q > maxWireModuli || p > maxWireModuli {
		return nil, d.fail(field, "moduli counts outside 1..64")
	}
	k := count(q, p)
	n := d.h.n()
	if uint64(len(d.b)) != uint64(k)*uint64(q+p)*uint64(n)*8 {
		return nil, d.fail(field, "length does not match the moduli counts")
	}
	out := make([]ringqp.Poly, k)
	for i := range out {
		out[i] = ringqp.Poly{Q: ring.NewPoly(n, q-1), P: ring.NewPoly(n, p-1)}
		for _, rows := range [][][]uint64{out[i].Q.Coeffs, out[i].P.Coeffs} {
			for _, r := range rows {
				for j := range r {
					r[j] = binary.BigEndian.Uint64(d.b[8*j:])
				}
				d.b = d.b[8*n:]
			}
		}
	}
	return out, nil
}

// gadgetRowsFor is the number of RNS gadget rows for q and p moduli.
func gadgetRowsFor(q, p int) int { return (q + p - 1) / p }

// gadgetFromPolys builds a gadget of ⌈q/p⌉ rows of degree+1 polynomials.
func gadgetFromPolys(polys []ringqp.Poly, degree int) rlwe.GadgetCiphertext {
	rows := len(polys) / (degree + 1)
	m := make(structs.Matrix[rlwe.VectorQP], rows)
	for i := range m {
		m[i] = []rlwe.VectorQP{rlwe.VectorQP(polys[i*(degree+1) : (i+1)*(degree+1)])}
	}
	return rlwe.GadgetCiphertext{Value: m}
}

func (d *decoder) jobParty(job *JobSeed, party *uint32) (err error) {
	if err = d.fixed("Job", job[:]); err != nil {
		return err
	}
	*party, err = d.u32("Party")
	return err
}

// ---- ComputeKeyShare ----

// MarshalBinary encodes the share (Params must be set).
func (m ComputeKeyShare) MarshalBinary() ([]byte, error) {
	b := appendHeader(nil, wireTypeComputeKeyShare, m.Params.header())
	b = append(b, m.Job[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Party)
	return encodePolys(b, "ComputeKeyShare", m.Params.LogN, []ringqp.Poly{m.Share.Value})
}

// UnmarshalBinary decodes a share; the parameters and coefficients are
// checked by EvalKeyAggregator.AddPublicKeyShare.
func (m *ComputeKeyShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("ComputeKeyShare", b, wireTypeComputeKeyShare)
	if err != nil {
		return err
	}
	var out ComputeKeyShare
	out.Params = d.h.id()
	if err := d.jobParty(&out.Job, &out.Party); err != nil {
		return err
	}
	polys, err := d.polys("Share", func(int, int) int { return 1 })
	if err != nil {
		return err
	}
	out.Share = multiparty.PublicKeyGenShare{Value: polys[0]}
	*m = out
	return nil
}

// ---- RelinKeyShare ----

// MarshalBinary encodes the share (Params must be set).
func (m RelinKeyShare) MarshalBinary() ([]byte, error) {
	if m.Round != 1 && m.Round != 2 {
		return nil, fmt.Errorf("%w: RelinKeyShare: round %d", ErrMalformed, m.Round)
	}
	polys, err := gadgetForWire("RelinKeyShare", &m.Share.GadgetCiphertext, 2-int(m.Round))
	if err != nil {
		return nil, err
	}
	b := appendHeader(nil, wireTypeRelinKeyShare, m.Params.header())
	b = append(b, m.Job[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Party)
	b = append(b, m.Round)
	return encodePolys(b, "RelinKeyShare", m.Params.LogN, polys)
}

// UnmarshalBinary decodes a share; the parameters and coefficients are
// checked by EvalKeyAggregator.AddRelinShare (or, for the aggregator's
// round-1 sum, ComputeParty.RelinShareRound2).
func (m *RelinKeyShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("RelinKeyShare", b, wireTypeRelinKeyShare)
	if err != nil {
		return err
	}
	var out RelinKeyShare
	out.Params = d.h.id()
	if err := d.jobParty(&out.Job, &out.Party); err != nil {
		return err
	}
	var r [1]byte
	if err := d.fixed("Round", r[:]); err != nil {
		return err
	}
	if r[0] != 1 && r[0] != 2 {
		return d.fail("Round", "not 1 or 2")
	}
	out.Round = r[0]
	degree := 2 - int(out.Round)
	polys, err := d.polys("Share", func(q, p int) int { return gadgetRowsFor(q, p) * (degree + 1) })
	if err != nil {
		return err
	}
	out.Share = multiparty.RelinearizationKeyGenShare{GadgetCiphertext: gadgetFromPolys(polys, degree)}
	*m = out
	return nil
}

// ---- GaloisKeyShare ----

// MarshalBinary encodes the share (Params must be set).
func (m GaloisKeyShare) MarshalBinary() ([]byte, error) {
	polys, err := gadgetForWire("GaloisKeyShare", &m.Share.GadgetCiphertext, 0)
	if err != nil {
		return nil, err
	}
	b := appendHeader(nil, wireTypeGaloisKeyShare, m.Params.header())
	b = append(b, m.Job[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Party)
	b = binary.BigEndian.AppendUint64(b, m.Share.GaloisElement)
	return encodePolys(b, "GaloisKeyShare", m.Params.LogN, polys)
}

// UnmarshalBinary decodes a share; the parameters, the Galois element and
// the coefficients are checked by EvalKeyAggregator.AddGaloisShare.
func (m *GaloisKeyShare) UnmarshalBinary(b []byte) error {
	d, err := newDecoder("GaloisKeyShare", b, wireTypeGaloisKeyShare)
	if err != nil {
		return err
	}
	var out GaloisKeyShare
	out.Params = d.h.id()
	if err := d.jobParty(&out.Job, &out.Party); err != nil {
		return err
	}
	g, err := d.u64("GaloisElement")
	if err != nil {
		return err
	}
	if g&1 == 0 || g <= 1 {
		return d.fail("GaloisElement", "not an odd element above 1")
	}
	polys, err := d.polys("Share", gadgetRowsFor)
	if err != nil {
		return err
	}
	out.Share = multiparty.GaloisKeyGenShare{GaloisElement: g,
		EvaluationKeyGenShare: multiparty.EvaluationKeyGenShare{GadgetCiphertext: gadgetFromPolys(polys, 0)}}
	*m = out
	return nil
}
