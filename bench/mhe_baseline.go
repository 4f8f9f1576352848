package bench

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
)

// baselineStats are the figures of the plain-Lattigo pipeline.
type baselineStats struct {
	encrypt  time.Duration // per party
	upload   int           // bytes per party
	release  time.Duration // server: decrypt and decode the sum
	maxAbs   float64
	maxRel   float64
	logSlots int
}

// mheBaseline runs the pipeline the way Lattigo's examples do, as the
// yardstick for protocols/mhe: one goroutine, the standard ring (complex
// slots, N/2 values per ciphertext), every ciphertext encrypted at the top
// level of a three-modulus chain (LogN 14), one key pair standing for the
// collective key, and the sum decrypted directly. It is what a user of
// Lattigo would write first; the figures the issue quotes (1.5-1.7 s to
// encrypt 2^20 values, 96 MiB per party) were measured on this shape.
func mheBaseline(parties int, values [][]float64) (baselineStats, error) {
	var st baselineStats
	params, err := ckks.NewParametersFromLiteral(ckks.ParametersLiteral{
		LogN:            14,
		LogQ:            []int{55, 40, 40},
		LogP:            []int{45},
		LogDefaultScale: 40,
	})
	if err != nil {
		return st, err
	}
	slots := params.MaxSlots()
	st.logSlots = params.LogMaxSlots()
	d := len(values[0])
	cts := (d + slots - 1) / slots
	kgen := ckks.NewKeyGenerator(params)
	sk, pk := kgen.GenKeyPairNew()
	ecd := ckks.NewEncoder(params)
	enc := ckks.NewEncryptor(params, pk)
	eval := ckks.NewEvaluator(params, nil)

	var sum []*rlwe.Ciphertext
	buf := make([]complex128, slots)
	for p := range parties {
		start := time.Now()
		var mine []*rlwe.Ciphertext
		for c := range cts {
			clear(buf)
			for i := range buf {
				if j := c*slots + i; j < d {
					buf[i] = complex(values[p][j], 0)
				}
			}
			pt := ckks.NewPlaintext(params, params.MaxLevel())
			if err := ecd.Encode(buf, pt); err != nil {
				return st, err
			}
			ct, err := enc.EncryptNew(pt)
			if err != nil {
				return st, err
			}
			mine = append(mine, ct)
		}
		if p == 0 {
			st.encrypt = time.Since(start)
			for _, ct := range mine {
				st.upload += ct.BinarySize()
			}
		}
		if sum == nil {
			sum = mine
			continue
		}
		for c := range cts {
			if err := eval.Add(sum[c], mine[c], sum[c]); err != nil {
				return st, err
			}
		}
	}
	start := time.Now()
	dec := ckks.NewDecryptor(params, sk)
	out := make([]float64, 0, cts*slots)
	for _, ct := range sum {
		if err := ecd.Decode(dec.DecryptNew(ct), buf); err != nil {
			return st, err
		}
		for _, v := range buf {
			out = append(out, real(v))
		}
	}
	st.release = time.Since(start)
	st.maxAbs, st.maxRel = maxErrors(values, out[:d])
	return st, nil
}

// maxErrors returns the largest absolute error of got against the
// element-wise sum of values, and the largest relative error where that sum
// is at least 0.01 in magnitude (near zero a relative error says nothing).
func maxErrors(values [][]float64, got []float64) (maxAbs, maxRel float64) {
	for j := range got {
		var want float64
		for _, v := range values {
			want += v[j]
		}
		e := math.Abs(got[j] - want)
		maxAbs = math.Max(maxAbs, e)
		if math.Abs(want) >= 0.01 {
			maxRel = math.Max(maxRel, e/math.Abs(want))
		}
	}
	return maxAbs, maxRel
}

// mheValues returns each party's vector of d values uniform in [-1, 1].
func mheValues(parties, d int, seed uint64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([][]float64, parties)
	for p := range out {
		out[p] = make([]float64, d)
		for j := range out[p] {
			out[p][j] = 2*r.Float64() - 1
		}
	}
	return out
}

// MHEOptions configure the mhe suite.
type MHEOptions struct {
	Parties   int // parties (0: 10; quick: 3)
	Threshold int // parties needed to decrypt (0: all)
}
