package tensor

import "github.com/cohort-mpc/cohort/tensor/internal/modq"

// ErrModulus is returned, wrapped, by NewModulus for a modulus out of range.
var ErrModulus = modq.ErrModulus

// Modulus holds validated, immutable parameters for arithmetic modulo q,
// 2 ≤ q < 2^62 (a prime in the protocols that use it). Make one with
// NewModulus; the zero value is not usable.
type Modulus struct {
	m modq.Modulus
}

// NewModulus validates q and precomputes its reduction constants. The error
// wraps ErrModulus and names q and the allowed range.
func NewModulus(q uint64) (*Modulus, error) {
	m, err := modq.New(q)
	if err != nil {
		return nil, err
	}
	return &Modulus{m: m}, nil
}

// Q returns the modulus.
func (m *Modulus) Q() uint64 { return m.m.Q() }

// Add returns a + b mod q for a, b in [0, q), in constant time.
func (m *Modulus) Add(a, b uint64) uint64 { return m.m.Add(a, b) }

// Sub returns a - b mod q for a, b in [0, q), in constant time.
func (m *Modulus) Sub(a, b uint64) uint64 { return m.m.Sub(a, b) }

// Mul returns a·b mod q for a, b in [0, q), in constant time.
func (m *Modulus) Mul(a, b uint64) uint64 { return m.m.Mul(a, b) }

// Reduce returns a mod q for any a, in constant time.
func (m *Modulus) Reduce(a uint64) uint64 { return m.m.Reduce(a) }
