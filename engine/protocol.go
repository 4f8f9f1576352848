package engine

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/cohort-mpc/cohort/protocols/mhe"
	"github.com/cohort-mpc/cohort/protocols/sealed"
	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
)

// What site and aggregator derive alike for a round's protocol.

// secaggRoundID binds a SecAgg+ round to the job, round and attempt.
func secaggRoundID(job JobID, round, attempt uint32) secagg.RoundID {
	h := sha256.New()
	h.Write([]byte("cohort/engine/secagg-round/v1"))
	h.Write(job[:])
	h.Write(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, round), attempt))
	return secagg.RoundID(h.Sum(nil))
}

// mheJobSeed is the public seed of a job's multiparty CKKS keys.
func mheJobSeed(job JobID) mhe.JobSeed {
	h := sha256.New()
	h.Write([]byte("cohort/engine/mhe-job/v1"))
	h.Write(job[:])
	return mhe.JobSeed(h.Sum(nil))
}

// mheRound binds an encrypted vector and its release to (round, attempt).
func mheRound(round, attempt uint32) uint64 { return uint64(round)<<32 | uint64(attempt) }

// secaggParams returns the parameters of a round of n members and dim values.
// The statistics round uses a 64-bit ring. K and T come from the job, or from
// ChooseKT; where neither fits n (small rounds, or a round shrunk by
// dropouts), the complete graph K = n−1 with a majority threshold.
func secaggParams(job *Job, n, dim int, purpose Purpose) (*secagg.Params, error) {
	spec := job.SecAgg
	if purpose == PurposeStats {
		spec.RingBits, spec.Lo, spec.Hi, spec.Bits = 64, -1, 1, 0
	}
	k, t := spec.K, spec.T
	if k == 0 {
		var err error
		if k, t, err = secagg.ChooseKT(n, spec.Dropout, spec.Corruption); err != nil {
			k, t = 0, 0
		}
	}
	if k == 0 || k > n-2 && k != n-1 {
		k = n - 1
		t = max(min(t, k), k/2+1)
	}
	lit := secagg.ParamsLiteral{N: n, K: k, T: t, RingBits: spec.RingBits, Dim: dim, Lo: spec.Lo, Hi: spec.Hi, Bits: spec.Bits}
	p, err := secagg.NewParams(lit)
	if err != nil {
		return nil, fmt.Errorf("engine: secagg round of %d sites: %w", n, err)
	}
	return p, nil
}

// ringVector quantises real with fp (rounding randomness from seed) and
// appends ints as ring integers.
func ringVector(backend tensor.Backend, fp *tensor.FixedPoint, ringBits int, real []float64, ints []int64, seed *tensor.Seed) ([]uint32, []uint64) {
	if ringBits == 32 {
		q := make([]uint32, len(real)+len(ints))
		if len(real) > 0 {
			backend.QuantizeF64U32(fp, q[:len(real)], real, seed)
		}
		for i, x := range ints {
			q[len(real)+i] = uint32(x)
		}
		return q, nil
	}
	q := make([]uint64, len(real)+len(ints))
	if len(real) > 0 {
		backend.QuantizeF64U64(fp, q[:len(real)], real, seed)
	}
	for i, x := range ints {
		q[len(real)+i] = uint64(x)
	}
	return nil, q
}

// addRingNoise adds a site's share of the site-level DP noise, in the ring:
// discrete Gaussian of variance (z·C/step)²/sites on the real part.
func addRingNoise(q32 []uint32, q64 []uint64, realLen int, fp *tensor.FixedPoint, z, clip float64, sites int, src dp.Source) {
	sigma := z * clip / fp.Step()
	v := dp.ShareVariance(sigma*sigma, sites)
	if q32 != nil {
		dp.AddDiscreteGaussian(q32[:realLen], v, src)
	} else {
		dp.AddDiscreteGaussian(q64[:realLen], v, src)
	}
}

// ringSums splits a secagg result into the dequantised real part and the
// integer part (as exact float64 of the signed ring value).
func ringSums(backend tensor.Backend, fp *tensor.FixedPoint, res *secagg.Result, realLen int) ([]float64, []float64, error) {
	n := len(res.Contributors)
	var real, ints []float64
	if res.Sum32 != nil {
		real = make([]float64, realLen)
		if realLen > 0 {
			if err := backend.DequantizeU32F64(fp, real, res.Sum32[:realLen], n); err != nil {
				return nil, nil, err
			}
		}
		for _, x := range res.Sum32[realLen:] {
			ints = append(ints, float64(int32(x)))
		}
	} else {
		real = make([]float64, realLen)
		if realLen > 0 {
			if err := backend.DequantizeU64F64(fp, real, res.Sum64[:realLen], n); err != nil {
				return nil, nil, err
			}
		}
		for _, x := range res.Sum64[realLen:] {
			ints = append(ints, float64(int64(x)))
		}
	}
	return real, ints, nil
}

// mheSlots lays a round's values out for encryption: the real part as it is,
// the counts divided by scale (the loss sum also by LossCap·2^8) so that
// their sums stay within the ciphertext's range.
func mheSlots(real []float64, ints []int64, scale uint32) []float64 {
	v := append([]float64(nil), real...)
	for i, x := range ints {
		d := float64(scale)
		if i == 1 { // the loss sum
			d *= LossCap * (1 << lossFracBits)
		}
		v = append(v, float64(x)/d)
	}
	return v
}

// mheUnslot inverts mheSlots on a sum, rounding counts to integers.
func mheUnslot(sum []float64, realLen int, scale uint32) ([]float64, []float64) {
	real := sum[:realLen]
	ints := make([]float64, len(sum)-realLen)
	for i, x := range sum[realLen:] {
		d := float64(scale)
		if i == 1 { // the loss sum
			d *= LossCap * (1 << lossFracBits)
		}
		ints[i] = math.Round(x * d)
	}
	return real, ints
}

// mheSetupBody is the body of KindMHESetup: the mhe parties (roster indices,
// increasing), the threshold, and each party's signed sealing key.
type mheSetupBody struct {
	Parties []uint32
	T       uint32
	Keys    [][]byte
}

func (b *mheSetupBody) marshal() []byte {
	w := wbuf{}
	w.u8(bodyVersion)
	w.u32s(b.Parties)
	w.u32(b.T)
	w.u32(uint32(len(b.Keys)))
	for _, k := range b.Keys {
		w.bytes(k)
	}
	return w.b
}

func (b *mheSetupBody) unmarshal(data []byte) error {
	r := rbuf{b: data, what: "mhe setup"}
	r.version()
	b.Parties = r.u32s("parties", mhe.MaxParties)
	for i := 1; i < len(b.Parties) && r.err == nil; i++ {
		if b.Parties[i] <= b.Parties[i-1] {
			r.fail("parties not strictly increasing")
		}
	}
	b.T = r.u32("threshold")
	n := r.count("keys", mhe.MaxParties, 4)
	if r.err == nil && n != len(b.Parties) {
		r.fail("%d keys for %d parties", n, len(b.Parties))
	}
	b.Keys = make([][]byte, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		b.Keys = append(b.Keys, r.bytes("key", MaxName))
	}
	if r.err == nil && (b.T < 1 || int(b.T) > len(b.Parties)) {
		r.fail("threshold %d for %d parties", b.T, len(b.Parties))
	}
	return r.done()
}

// byteLists carry KindMHEKeyGen (the key-generation share, then one sealed
// threshold share per other party) and KindMHEShares (the boxes addressed
// to one party).
func marshalByteLists(lists ...[]byte) []byte {
	w := wbuf{}
	w.u8(bodyVersion)
	w.u32(uint32(len(lists)))
	for _, l := range lists {
		w.bytes(l)
	}
	return w.b
}

func unmarshalByteLists(data []byte, what string, maxCount int) ([][]byte, error) {
	r := rbuf{b: data, what: what}
	r.version()
	n := r.count("entries", maxCount, 4)
	out := make([][]byte, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.bytes("entry", MaxMessage))
	}
	return out, r.done()
}

// verifyAnnouncements decodes and checks the sealing keys of an mhe setup.
func verifyAnnouncements(b *mheSetupBody, roster []Peer, job JobID) ([]*sealed.Announcement, error) {
	out := make([]*sealed.Announcement, len(b.Parties))
	for i, raw := range b.Keys {
		if int(b.Parties[i]) >= len(roster) {
			return nil, fmt.Errorf("%w: mhe party %d is not on the roster", ErrMalformed, b.Parties[i])
		}
		a := new(sealed.Announcement)
		if err := a.UnmarshalBinary(raw); err != nil {
			return nil, err
		}
		if a.Party != b.Parties[i] {
			return nil, fmt.Errorf("%w: sealing key of party %d claims party %d", ErrMalformed, b.Parties[i], a.Party)
		}
		if err := a.Verify(ed25519.PublicKey(roster[a.Party].Key), job[:]); err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
