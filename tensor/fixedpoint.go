package tensor

import (
	"errors"
	"fmt"
	"math"

	"github.com/cohort-mpc/cohort/tensor/internal/quant"
)

// ErrFixedPoint is returned, wrapped with the reason, for fixed-point
// parameters that NewFixedPoint refuses and for a dequantisation with a count
// of summands the parameters do not allow.
var ErrFixedPoint = errors.New("tensor: invalid fixed-point parameters")

// Largest bits per value for each ring: one bit of headroom in Z/2^32 so that
// at least two values can be summed, and float64's 52-bit mantissa in Z/2^64,
// below which every level is an exact float64 integer.
const (
	maxBits32 = 31
	maxBits64 = 52
)

// FixedPointLiteral is an unchecked description of a fixed-point encoding.
// Turn it into usable parameters with NewFixedPoint.
type FixedPointLiteral struct {
	// RingBits is the ring the values live in: 32 (Z/2^32) or 64 (Z/2^64).
	RingBits int
	// Lo and Hi are the clipping range: values outside it are clipped to it.
	Lo, Hi float64
	// MaxSummands is the largest number of quantised vectors that will be
	// summed; the encoding guarantees such a sum never wraps the ring.
	MaxSummands int
	// Bits is the number of bits each value is quantised to: Hi-Lo is split
	// into 2^Bits-1 steps. Zero picks the largest that MaxSummands allows.
	Bits int
}

// FixedPoint is a validated, immutable fixed-point encoding: values in
// [Lo, Hi] map to the integers 0..2^Bits-1 in Z/2^RingBits, and a sum of up to
// MaxSummands of them cannot wrap the ring.
type FixedPoint struct {
	lit    FixedPointLiteral
	params quant.Params // Lo, Scale = (2^Bits-1)/(Hi-Lo), Max = 2^Bits-1
	step   float64      // (Hi-Lo)/(2^Bits-1), the value of one level
}

// MaxSummands returns the largest n for which a sum of n values of bits bits
// fits Z/2^ringBits without wrapping: floor((2^ringBits-1)/(2^bits-1)).
// It returns 0 for sizes it does not support.
func MaxSummands(ringBits, bits int) uint64 {
	if (ringBits != 32 && ringBits != 64) || bits < 1 || bits >= ringBits {
		return 0
	}
	ringMax := uint64(math.MaxUint64) >> (64 - ringBits)
	return ringMax / (uint64(1)<<bits - 1)
}

// NewFixedPoint validates lit. Every error wraps ErrFixedPoint and names the
// field that is wrong; a MaxSummands too large for Bits is refused with the
// largest count that fits.
func NewFixedPoint(lit FixedPointLiteral) (*FixedPoint, error) {
	var maxBits int
	switch lit.RingBits {
	case 32:
		maxBits = maxBits32
	case 64:
		maxBits = maxBits64
	default:
		return nil, fmt.Errorf("%w: RingBits is %d, want 32 or 64", ErrFixedPoint, lit.RingBits)
	}
	if math.IsNaN(lit.Lo) || math.IsInf(lit.Lo, 0) || math.IsNaN(lit.Hi) || math.IsInf(lit.Hi, 0) || !(lit.Lo < lit.Hi) {
		return nil, fmt.Errorf("%w: clipping range [Lo, Hi] = [%g, %g] must be finite with Lo < Hi", ErrFixedPoint, lit.Lo, lit.Hi)
	}
	if lit.MaxSummands < 1 {
		return nil, fmt.Errorf("%w: MaxSummands is %d, want at least 1", ErrFixedPoint, lit.MaxSummands)
	}
	n := uint64(lit.MaxSummands)
	if lit.Bits == 0 {
		for b := maxBits; b >= 1; b-- {
			if MaxSummands(lit.RingBits, b) >= n {
				lit.Bits = b
				break
			}
		}
		if lit.Bits == 0 {
			return nil, fmt.Errorf("%w: MaxSummands %d cannot be summed in Z/2^%d even at 1 bit per value (at most %d fit)",
				ErrFixedPoint, n, lit.RingBits, MaxSummands(lit.RingBits, 1))
		}
	}
	if lit.Bits < 1 || lit.Bits > maxBits {
		return nil, fmt.Errorf("%w: Bits is %d, want 1..%d for Z/2^%d (or 0 to choose)", ErrFixedPoint, lit.Bits, maxBits, lit.RingBits)
	}
	if fit := MaxSummands(lit.RingBits, lit.Bits); n > fit {
		return nil, fmt.Errorf("%w: a sum of MaxSummands=%d values of %d bits can wrap Z/2^%d; at most %d fit",
			ErrFixedPoint, n, lit.Bits, lit.RingBits, fit)
	}
	levels := float64(uint64(1)<<lit.Bits - 1)
	width := lit.Hi - lit.Lo
	if math.IsInf(width, 0) {
		return nil, fmt.Errorf("%w: clipping range [%g, %g] is too wide for float64", ErrFixedPoint, lit.Lo, lit.Hi)
	}
	return &FixedPoint{
		lit:    lit,
		params: quant.Params{Lo: lit.Lo, Scale: levels / width, Max: levels},
		step:   width / levels,
	}, nil
}

// RingBits returns 32 or 64.
func (fp *FixedPoint) RingBits() int { return fp.lit.RingBits }

// Bits returns the bits per quantised value.
func (fp *FixedPoint) Bits() int { return fp.lit.Bits }

// Lo returns the lower clipping bound.
func (fp *FixedPoint) Lo() float64 { return fp.lit.Lo }

// Hi returns the upper clipping bound.
func (fp *FixedPoint) Hi() float64 { return fp.lit.Hi }

// MaxSummands returns the largest number of vectors whose sum cannot wrap.
func (fp *FixedPoint) MaxSummands() int { return fp.lit.MaxSummands }

// Step returns the value of one quantisation level, (Hi-Lo)/(2^Bits-1): the
// largest error of a single rounded value.
func (fp *FixedPoint) Step() float64 { return fp.step }

// Literal returns the literal the parameters were made from, with Bits filled
// in.
func (fp *FixedPoint) Literal() FixedPointLiteral { return fp.lit }

func (fp *FixedPoint) checkRing(bits int) {
	if fp.lit.RingBits != bits {
		panic(fmt.Sprintf("tensor: fixed-point parameters for Z/2^%d used with Z/2^%d vectors", fp.lit.RingBits, bits))
	}
}

// dequantParams returns step and offset for a sum of n vectors.
func (fp *FixedPoint) dequantParams(n int) (step, offset float64, err error) {
	if n < 1 || n > fp.lit.MaxSummands {
		return 0, 0, fmt.Errorf("%w: a sum of %d vectors cannot be dequantised, want 1..%d (MaxSummands)", ErrFixedPoint, n, fp.lit.MaxSummands)
	}
	return fp.step, float64(n) * fp.lit.Lo, nil
}
