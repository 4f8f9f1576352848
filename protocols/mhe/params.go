package mhe

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/ckks"
)

// Preset names a parameter set. Build its parameters with NewParams.
type Preset string

// The presets. Both use the conjugate-invariant ring (N real slots per
// ciphertext), one 60-bit ciphertext modulus Q and no special modulus P, a
// uniform ternary secret and error σ = 3.2, so both are far inside the HE
// standard's 128-bit bound. Scale Δ = 2^54 leaves (Q/4)/Δ ≈ 15 of worst-case
// headroom per slot; flooding σ_f = 2^28 per decryption share. Each
// preset's numbers are pinned by testdata/mhe/presets.json.
const (
	// PresetSmall: N = 2^13 (8192 real slots per ciphertext), log QP ≈ 60
	// ≤ 218 (HE standard, 128-bit, ternary secret, N = 2^13).
	PresetSmall Preset = "small"
	// PresetLarge: N = 2^14 (16384 real slots per ciphertext), log QP ≈ 60
	// ≤ 438 (HE standard, 128-bit, ternary secret, N = 2^14). For large
	// vectors: 2^20 values are 64 ciphertexts, 16 MiB.
	PresetLarge Preset = "large"
)

// Presets lists the named presets.
func Presets() []Preset { return []Preset{PresetSmall, PresetLarge} }

// Literal is an unchecked parameter set; NewParamsFromLiteral validates it.
type Literal struct {
	Name string
	// CKKS is the Lattigo literal. It must use ring.ConjugateInvariant,
	// exactly one Q modulus, no P modulus and a uniform ternary secret.
	CKKS ckks.ParametersLiteral
	// FloodLogSigma is log2 of the standard deviation of the Gaussian noise
	// every party adds to each coefficient of its decryption share.
	FloodLogSigma int
	// FloodTail is the truncation bound of that noise in standard
	// deviations.
	FloodTail float64
}

// heStandard128 is the largest log2(QP) at 128-bit classical security for a
// uniform ternary secret in the HE standard (Albrecht et al., 2018, Table
// 1), by log2 N.
var heStandard128 = map[int]int{10: 27, 11: 54, 12: 109, 13: 218, 14: 438, 15: 881}

// Literal returns the preset's literal, or ErrParams for an unknown name.
func (p Preset) Literal() (Literal, error) {
	base := ckks.ParametersLiteral{
		LogQ:            []int{60},
		Xs:              ring.Ternary{P: 2.0 / 3.0},
		Xe:              rlwe.DefaultXe,
		RingType:        ring.ConjugateInvariant,
		LogDefaultScale: 54,
	}
	switch p {
	case PresetSmall:
		base.LogN = 13
	case PresetLarge:
		base.LogN = 14
	default:
		return Literal{}, fmt.Errorf("%w: unknown preset %q", ErrParams, string(p))
	}
	return Literal{Name: string(p), CKKS: base, FloodLogSigma: 28, FloodTail: 12}, nil
}

// Params are validated, immutable parameters. They are safe for concurrent
// use.
type Params struct {
	name     string
	ckks     ckks.Parameters
	flood    ring.DiscreteGaussian
	floodLog int
	fp       [8]byte
}

// NewParams returns the parameters of a preset.
func NewParams(p Preset) (*Params, error) {
	l, err := p.Literal()
	if err != nil {
		return nil, err
	}
	return NewParamsFromLiteral(l)
}

// NewParamsFromLiteral validates l: conjugate-invariant ring, one Q modulus,
// no P, uniform ternary secret, log QP within the HE standard's 128-bit
// bound for the ring degree, a scale that leaves at least 4 bits of
// headroom below Q/2, and flooding noise below the scale.
func NewParamsFromLiteral(l Literal) (*Params, error) {
	if l.Name == "" || len(l.Name) > 64 {
		return nil, fmt.Errorf("%w: name must have 1 to 64 bytes", ErrParams)
	}
	c := l.CKKS
	if c.RingType != ring.ConjugateInvariant {
		return nil, fmt.Errorf("%w: ring must be conjugate invariant", ErrParams)
	}
	if len(c.LogP) != 0 || len(c.P) != 0 {
		return nil, fmt.Errorf("%w: no P modulus is used: aggregation and release need no key switching keys", ErrParams)
	}
	if t, ok := c.Xs.(ring.Ternary); !ok || t.H != 0 || math.Abs(t.P-2.0/3.0) > 1e-12 {
		return nil, fmt.Errorf("%w: the secret must be uniform ternary (P = 2/3)", ErrParams)
	}
	bound, ok := heStandard128[c.LogN]
	if !ok {
		return nil, fmt.Errorf("%w: log N = %d outside 10..15", ErrParams, c.LogN)
	}
	cp, err := ckks.NewParametersFromLiteral(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrParams, err)
	}
	if cp.QCount() != 1 {
		return nil, fmt.Errorf("%w: exactly one Q modulus is used, have %d", ErrParams, cp.QCount())
	}
	if lqp := cp.LogQP(); lqp > float64(bound) {
		return nil, fmt.Errorf("%w: log QP = %.1f above the 128-bit bound %d for log N = %d", ErrParams, lqp, bound, c.LogN)
	}
	logQ := bits.Len64(cp.Q()[0]) - 1
	if c.LogDefaultScale < 20 || c.LogDefaultScale > logQ-4 {
		return nil, fmt.Errorf("%w: log scale %d outside 20..log Q - 4 = %d", ErrParams, c.LogDefaultScale, logQ-4)
	}
	if l.FloodLogSigma < 0 || l.FloodLogSigma >= c.LogDefaultScale-10 {
		return nil, fmt.Errorf("%w: flooding 2^%d must be below scale/2^10", ErrParams, l.FloodLogSigma)
	}
	if l.FloodTail < 6 || l.FloodTail > 20 {
		return nil, fmt.Errorf("%w: flooding tail %.1f outside 6..20 standard deviations", ErrParams, l.FloodTail)
	}
	p := &Params{name: l.Name, ckks: cp, floodLog: l.FloodLogSigma}
	p.flood = ring.DiscreteGaussian{Sigma: math.Exp2(float64(l.FloodLogSigma)), Bound: l.FloodTail * math.Exp2(float64(l.FloodLogSigma))}
	h := sha256.New()
	h.Write([]byte("cohort/mhe/params/v1\x00"))
	h.Write([]byte(l.Name))
	var b [8]byte
	for _, v := range []uint64{uint64(c.LogN), uint64(cp.RingType()), cp.Q()[0], uint64(c.LogDefaultScale),
		uint64(l.FloodLogSigma), math.Float64bits(l.FloodTail), math.Float64bits(cp.Xe().(ring.DiscreteGaussian).Sigma)} {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	copy(p.fp[:], h.Sum(nil))
	return p, nil
}

// Name is the preset or literal name.
func (p *Params) Name() string { return p.name }

// LogN is log2 of the ring degree N.
func (p *Params) LogN() int { return p.ckks.LogN() }

// N is the ring degree.
func (p *Params) N() int { return p.ckks.N() }

// Slots is the number of real values one ciphertext carries (N, with the
// conjugate-invariant ring).
func (p *Params) Slots() int { return p.ckks.MaxSlots() }

// Q is the ciphertext modulus.
func (p *Params) Q() uint64 { return p.ckks.Q()[0] }

// LogQP is log2 of the whole modulus QP (here Q alone).
func (p *Params) LogQP() float64 { return p.ckks.LogQP() }

// MaxLogQP is the HE standard's 128-bit bound on log QP for this ring degree
// with a ternary secret.
func (p *Params) MaxLogQP() int { return heStandard128[p.LogN()] }

// LogScale is log2 of the encoding scale Δ.
func (p *Params) LogScale() int { return p.ckks.LogDefaultScale() }

// MaxAbsSum is the largest magnitude of an aggregate slot that decodes
// correctly in the worst case: (Q/2)/Δ halved once more for noise and
// rounding. Typical vectors have far more room (their coefficients are about
// max/√N·Δ), but this bound holds for every vector.
func (p *Params) MaxAbsSum() float64 {
	return float64(p.Q()) / 4 / math.Exp2(float64(p.LogScale()))
}

// FloodLogSigma is log2 of the standard deviation of each share's flooding
// noise.
func (p *Params) FloodLogSigma() int { return p.floodLog }

// FloodSigma is the standard deviation of each share's flooding noise.
func (p *Params) FloodSigma() float64 { return p.flood.Sigma }

// FloodBound is the truncation bound of each share's flooding noise.
func (p *Params) FloodBound() float64 { return p.flood.Bound }

// Ciphertexts is the number of ciphertexts that carry d values.
func (p *Params) Ciphertexts(d int) int { return (d + p.Slots() - 1) / p.Slots() }

// ReleaseErrorStd estimates the standard deviation of the error of one
// released slot when t parties flood: σ·√(2·t·N)/Δ (the flooding dominates
// every other noise term; the factor 2 is the conjugate-invariant
// embedding's, measured by the tests).
func (p *Params) ReleaseErrorStd(t int) float64 {
	return p.flood.Sigma * math.Sqrt(2*float64(t)*float64(p.N())) / math.Exp2(float64(p.LogScale()))
}

// Fingerprint identifies the parameters on the wire: the first 8 bytes of a
// SHA-256 over the name, ring, modulus, scale and noise settings.
func (p *Params) Fingerprint() [8]byte { return p.fp }

// CKKS returns the Lattigo parameters (a value; Lattigo parameters are
// immutable).
func (p *Params) CKKS() ckks.Parameters { return p.ckks }
