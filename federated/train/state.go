package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrState reports server state bytes that are malformed or that belong to
// another strategy or configuration.
var ErrState = errors.New("train: invalid strategy state")

// StatefulStrategy is a Strategy whose server state can be saved and
// restored (exactly, bit for bit), so that a job resumed from saved state
// computes the same models as one never interrupted.
type StatefulStrategy interface {
	Strategy
	// MarshalState returns the server state, with the strategy's kind and
	// configuration, as bytes UnmarshalState accepts.
	MarshalState() ([]byte, error)
	// UnmarshalState replaces the server state with the one encoded in b.
	// It returns an error wrapping ErrState, and leaves the state
	// unchanged, if b is malformed or was saved by a strategy of another
	// kind or configuration.
	UnmarshalState(b []byte) error
}

var (
	_ StatefulStrategy = (*FedAvgM)(nil)
	_ StatefulStrategy = (*ServerOpt)(nil)
)

// stateVersion is the version of the state encoding:
//
//	version  byte (1)
//	kind     byte length, then the kind name ("fedavgm", "fedadam", …)
//	config   the kind's configuration values, 8 bytes each (IEEE 754 bits,
//	         big endian), in a fixed order
//	present  byte: 0 before the first Apply (nothing follows), 1 after
//	n        uint32 big endian, the length of every state vector
//	vectors  the kind's state vectors in a fixed order, n values each
//
// The encoding is canonical: every state has exactly one encoding.
const stateVersion = 1

// stateParam is one configuration value of a strategy that restored state
// must match bit for bit.
type stateParam struct {
	name  string
	value float64
}

// marshalState encodes a strategy's state. The vectors are either all nil
// (no Apply yet) or all of one length.
func marshalState(kind string, params []stateParam, vecs ...[]float64) ([]byte, error) {
	present := vecs[0] != nil
	n := len(vecs[0])
	for _, v := range vecs {
		if (v != nil) != present || len(v) != n {
			return nil, fmt.Errorf("%w: %s state vectors of unequal lengths", ErrState, kind)
		}
	}
	if uint64(n) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: %s state of %d values", ErrState, kind, n)
	}
	size := 2 + len(kind) + 8*len(params) + 1
	if present {
		size += 4 + 8*n*len(vecs)
	}
	b := make([]byte, 0, size)
	b = append(b, stateVersion, byte(len(kind)))
	b = append(b, kind...)
	for _, p := range params {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.value))
	}
	if !present {
		return append(b, 0), nil
	}
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for _, v := range vecs {
		for _, x := range v {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b, nil
}

// unmarshalState decodes state that marshalState encoded for a strategy of
// the given kind and parameters, and returns its nvec vectors, or nil
// vectors for a state saved before the first Apply.
func unmarshalState(b []byte, kind string, params []stateParam, nvec int) ([][]float64, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrState, len(b))
	}
	if b[0] != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrState, b[0], stateVersion)
	}
	k := int(b[1])
	b = b[2:]
	if len(b) < k {
		return nil, fmt.Errorf("%w: truncated kind", ErrState)
	}
	if got := string(b[:k]); got != kind {
		return nil, fmt.Errorf("%w: state of %q, not %q", ErrState, got, kind)
	}
	b = b[k:]
	if len(b) < 8*len(params)+1 {
		return nil, fmt.Errorf("%w: truncated %s configuration", ErrState, kind)
	}
	for _, p := range params {
		got := math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.Float64bits(got) != math.Float64bits(p.value) {
			return nil, fmt.Errorf("%w: %s state has %s=%v, strategy has %v", ErrState, kind, p.name, got, p.value)
		}
		b = b[8:]
	}
	present := b[0]
	b = b[1:]
	switch present {
	case 0:
		if len(b) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after an empty %s state", ErrState, len(b), kind)
		}
		return make([][]float64, nvec), nil
	case 1:
	default:
		return nil, fmt.Errorf("%w: presence flag %d", ErrState, present)
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: truncated %s state length", ErrState, kind)
	}
	n := uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if want := 8 * n * uint64(nvec); uint64(len(b)) != want {
		return nil, fmt.Errorf("%w: %s state of %d values needs %d bytes, have %d", ErrState, kind, n, want, len(b))
	}
	vecs := make([][]float64, nvec)
	for j := range vecs {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(binary.BigEndian.Uint64(b))
			b = b[8:]
		}
		vecs[j] = v
	}
	return vecs, nil
}

func (s *FedAvgM) stateParams() []stateParam {
	return []stateParam{{"lr", s.lr}, {"momentum", s.beta}}
}

// MarshalState implements StatefulStrategy: it encodes the learning rate,
// the momentum and the momentum vector.
func (s *FedAvgM) MarshalState() ([]byte, error) {
	return marshalState("fedavgm", s.stateParams(), s.v)
}

// UnmarshalState implements StatefulStrategy. The state must come from a
// FedAvgM with the same learning rate and momentum.
func (s *FedAvgM) UnmarshalState(b []byte) error {
	vecs, err := unmarshalState(b, "fedavgm", s.stateParams(), 1)
	if err != nil {
		return err
	}
	s.v = vecs[0]
	return nil
}

// stateKind returns the kind name and the configuration values the
// optimiser uses (FedAdagrad has no β2).
func (s *ServerOpt) stateKind() (string, []stateParam) {
	c := s.cfg
	switch s.kind {
	case kindYogi:
		return "fedyogi", []stateParam{{"lr", c.LR}, {"b1", c.Beta1}, {"b2", c.Beta2}, {"tau", c.Tau}}
	case kindAdagrad:
		return "fedadagrad", []stateParam{{"lr", c.LR}, {"b1", c.Beta1}, {"tau", c.Tau}}
	}
	return "fedadam", []stateParam{{"lr", c.LR}, {"b1", c.Beta1}, {"b2", c.Beta2}, {"tau", c.Tau}}
}

// MarshalState implements StatefulStrategy: it encodes the kind, the
// configuration (with defaults filled in) and the moments m and v.
func (s *ServerOpt) MarshalState() ([]byte, error) {
	kind, params := s.stateKind()
	return marshalState(kind, params, s.m, s.v)
}

// UnmarshalState implements StatefulStrategy. The state must come from an
// optimiser of the same kind and configuration (FedAdagrad ignores β2).
func (s *ServerOpt) UnmarshalState(b []byte) error {
	kind, params := s.stateKind()
	vecs, err := unmarshalState(b, kind, params, 2)
	if err != nil {
		return err
	}
	s.m, s.v = vecs[0], vecs[1]
	return nil
}
