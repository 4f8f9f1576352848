package mhe

import (
	"fmt"
	"io"
	"math"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// MaxLength bounds the number of values in one encrypted vector.
const MaxLength = 1 << 28

// Vector is an encrypted float64 vector: Length values packed into
// ⌈Length/Slots⌉ ciphertexts at the lowest (only) level, the last one padded
// with zeros. Party is the contributor (AggregatorParty for a sum or a
// switched result); Round binds it to one aggregation round.
type Vector struct {
	Round  uint64
	Party  uint32
	Length int
	Cts    []*rlwe.Ciphertext
}

// newVector allocates a vector of zero ciphertexts.
func (p *Params) newVector(round uint64, party uint32, length int) *Vector {
	v := &Vector{Round: round, Party: party, Length: length, Cts: make([]*rlwe.Ciphertext, p.Ciphertexts(length))}
	for i := range v.Cts {
		v.Cts[i] = ckks.NewCiphertext(p.ckks, 1, 0)
	}
	return v
}

// Encryptor encrypts vectors under a public key (the collective key of a
// job). It is safe for concurrent use: Lattigo encoders and samplers are
// not, so every call gives each of its goroutines its own.
type Encryptor struct {
	params *Params
	pk     *rlwe.PublicKey
}

// NewEncryptor returns an encryptor for pk.
func NewEncryptor(p *Params, pk *PublicKey) (*Encryptor, error) {
	if pk == nil || pk.Key == nil {
		return nil, fmt.Errorf("%w: nil public key", ErrParams)
	}
	if err := p.checkPublicKey(pk); err != nil {
		return nil, err
	}
	return &Encryptor{params: p, pk: pk.Key}, nil
}

// Encoders use float64 FFTs (precision 53): Lattigo would pick big.Float
// arithmetic for a scale above 2^53, 30 times slower, for a rounding error
// of about 2^-53 relative that the flooding (2^-17) dwarfs.
type encWorker struct {
	enc     *ckks.Encoder
	pt      *rlwe.Plaintext
	u, tmp  ring.Poly
	scratch []float64
}

// Encrypt encrypts weight·vec for party in round, with randomness from rand
// (32 bytes are read; each ciphertext gets its own stream derived from them,
// so the result does not depend on the number of cores). The ciphertexts are
// made in parallel on all cores. A weight of 1 encrypts vec itself; a real
// weight (a sample count, a learning rate) is applied here, by its owner,
// because the aggregate has no modulus to spare for a plaintext product.
func (e *Encryptor) Encrypt(round uint64, party uint32, vec []float64, weight float64, rand io.Reader) (*Vector, error) {
	if len(vec) == 0 || len(vec) > MaxLength {
		return nil, fmt.Errorf("%w: vector length %d outside 1..%d", ErrParams, len(vec), MaxLength)
	}
	if math.IsNaN(weight) || math.IsInf(weight, 0) {
		return nil, fmt.Errorf("%w: weight %v", ErrParams, weight)
	}
	_, key, err := newPRNG(rand)
	if err != nil {
		return nil, err
	}
	p := e.params
	slots := p.Slots()
	v := p.newVector(round, party, len(vec))
	rq := p.ckks.RingQ()
	parallel(len(v.Cts), func() *encWorker {
		return &encWorker{enc: ckks.NewEncoder(p.ckks, 53), pt: ckks.NewPlaintext(p.ckks, 0), u: rq.NewPoly(), tmp: rq.NewPoly(),
			scratch: make([]float64, slots)}
	}, func(w *encWorker, i int) {
		chunk := vec[i*slots : min((i+1)*slots, len(vec))]
		vals := w.scratch
		for j, x := range chunk {
			vals[j] = x * weight
		}
		clear(vals[len(chunk):])
		w.pt.IsNTT = false
		if err := w.enc.Encode(vals, w.pt); err != nil {
			panic(err) // lengths and levels are fixed by construction
		}
		p.encryptPk(subPRNG(&key, 'E', i), e.pk, w.pt.Value, w.u, w.tmp, v.Cts[i])
	})
	return v, nil
}

// encryptPk writes an encryption of the coefficient-domain plaintext m (which
// it overwrites) under pk into ct, in NTT form: (u·pk0 + NTT(m + e0), u·pk1 +
// NTT(e1)) with u ternary and e0, e1 Gaussian.
func (p *Params) encryptPk(prng *sampling.KeyedPRNG, pk *rlwe.PublicKey, m, u, tmp ring.Poly, ct *rlwe.Ciphertext) {
	rq := p.ckks.RingQ()
	mustSampler(prng, rq, p.ckks.Xs()).Read(u)
	rq.NTT(u, u)
	c0, c1 := ct.Value[0], ct.Value[1]
	rq.MulCoeffsMontgomery(u, pk.Value[0].Q, c0)
	rq.MulCoeffsMontgomery(u, pk.Value[1].Q, c1)
	xe := mustSampler(prng, rq, p.ckks.Xe())
	xe.ReadAndAdd(m)
	rq.NTT(m, tmp)
	rq.Add(c0, tmp, c0)
	xe.Read(tmp)
	rq.NTT(tmp, tmp)
	rq.Add(c1, tmp, c1)
	ct.IsNTT = true
}

// Sum accumulates the weighted sum of the vectors of one round. It is the
// aggregator's side of aggregation. Not safe for concurrent use; each Add
// runs over the ciphertexts on all cores.
type Sum struct {
	params *Params
	round  uint64
	length int
	n      int
	acc    *Vector
	got    map[uint32]bool
}

// NewSum prepares the sum of vectors of the given length for round.
func NewSum(p *Params, round uint64, length int) (*Sum, error) {
	if length <= 0 || length > MaxLength {
		return nil, fmt.Errorf("%w: vector length %d outside 1..%d", ErrParams, length, MaxLength)
	}
	return &Sum{params: p, round: round, length: length, got: map[uint32]bool{}}, nil
}

// MaxWeight bounds the magnitude of an integer weight in Sum.Add.
const MaxWeight = 255

// Add adds weight·v (an integer weight keeps the scale, so no modulus is
// consumed; real weights are applied by the party in Encrypt). The result
// must stay within Params.MaxAbsSum per slot. A vector for another round,
// of another length, a second vector from the same party or malformed
// ciphertexts give a *PartyError naming v.Party.
func (s *Sum) Add(v *Vector, weight int64) error {
	const step = "Vector"
	if v.Round != s.round {
		return bad(v.Party, step, "vector for round %d, the sum is for round %d", v.Round, s.round)
	}
	if v.Party == AggregatorParty {
		return bad(v.Party, step, "vector of the aggregator")
	}
	if v.Length != s.length {
		return bad(v.Party, step, "length %d, want %d", v.Length, s.length)
	}
	if s.got[v.Party] {
		return bad(v.Party, step, "second vector from this party")
	}
	if weight == 0 || weight > MaxWeight || weight < -MaxWeight {
		return fmt.Errorf("%w: weight %d outside ±1..%d", ErrParams, weight, MaxWeight)
	}
	if err := s.params.checkVector(v); err != nil {
		return &PartyError{Party: v.Party, Step: step, Err: err}
	}
	p := s.params
	rq := p.ckks.RingQ()
	q := p.Q()
	w := uint64(weight)
	if weight < 0 {
		w = q - uint64(-weight)
	}
	first := s.acc == nil
	if first {
		s.acc = p.newVector(s.round, AggregatorParty, s.length)
	}
	parallel(len(v.Cts), func() struct{} { return struct{}{} }, func(_ struct{}, i int) {
		a, c := s.acc.Cts[i], v.Cts[i]
		for k := range 2 {
			if first {
				rq.MulScalar(c.Value[k], w, a.Value[k])
			} else {
				rq.MulScalarThenAdd(c.Value[k], w, a.Value[k])
			}
		}
	})
	s.got[v.Party] = true
	s.n++
	return nil
}

// Count is the number of vectors added.
func (s *Sum) Count() int { return s.n }

// Result returns the encrypted sum (Party = AggregatorParty). It is the
// Sum's own vector: do not Add after using it.
func (s *Sum) Result() (*Vector, error) {
	if s.acc == nil {
		return nil, fmt.Errorf("%w: no vector added", ErrTooFewShares)
	}
	return s.acc, nil
}
