package tensor

import "fmt"

// Accumulator is a running sum of vectors in Z/2^32 or Z/2^64 held where a
// backend computes: host memory for the CPU backend, device memory for a GPU
// one, so that a SecAgg+ server pays one transfer per input and one for the
// result instead of one per operation.
//
// The methods may return before the work they queue is done (a GPU
// accumulator uploads and adds asynchronously); Read waits for all of it.
// Errors are failures of the device (out of memory, a failed launch); a
// call with the wrong ring or length is a programmer error and panics. An
// Accumulator is not safe for concurrent use.
type Accumulator interface {
	// Name says where the sum lives, e.g. "cpu" or "cuda/NVIDIA H100 ...",
	// and, for a fallback, why.
	Name() string
	// Len is the number of words and RingBits 32 or 64.
	Len() int
	RingBits() int

	// AddU32 adds v (RingBits 32, len(v) == Len()) to the sum. v may be
	// reused once AddU32 returns.
	AddU32(v []uint32) error
	// AddU64 adds v (RingBits 64, len(v) == Len()) to the sum.
	AddU64(v []uint64) error
	// AddMasks adds the mask stream of every seed of add and subtracts the
	// mask stream of every seed of sub (MaskBackend.ExpandAdd, ExpandSub).
	// The caller may clear the seeds once it returns.
	AddMasks(add, sub []Seed) error

	// ReadU32 waits for the queued work and copies the sum (RingBits 32)
	// into dst, len(dst) == Len().
	ReadU32(dst []uint32) error
	// ReadU64 is ReadU32 for RingBits 64.
	ReadU64(dst []uint64) error

	// Close releases the accumulator's memory. It is safe to call more
	// than once; no other method may be called after it.
	Close() error
}

// AccumulatorBackend is a Backend that keeps accumulators in its own memory.
type AccumulatorBackend interface {
	Backend
	// NewAccumulator returns a zero sum of n words in Z/2^ringBits.
	NewAccumulator(ringBits, n int) (Accumulator, error)
}

// NewAccumulator returns a zero sum of n words in Z/2^ringBits (32 or 64):
// b's own when b is an AccumulatorBackend, otherwise one in host memory that
// runs b's ring and mask kernels.
func NewAccumulator(b Backend, ringBits, n int) (Accumulator, error) {
	if ringBits != 32 && ringBits != 64 {
		return nil, fmt.Errorf("tensor: accumulator ring Z/2^%d: want 32 or 64 bits", ringBits)
	}
	if n < 0 {
		return nil, fmt.Errorf("tensor: accumulator of %d words", n)
	}
	if ab, ok := b.(AccumulatorBackend); ok {
		return ab.NewAccumulator(ringBits, n)
	}
	return NewHostAccumulator(b, ringBits, n, ""), nil
}

// HostAccumulator is an Accumulator in host memory that runs a Backend's
// ring and mask kernels.
type HostAccumulator struct {
	b     Backend
	name  string
	bits  int
	sum32 []uint32
	sum64 []uint64
}

// NewHostAccumulator returns a zero sum of n words in Z/2^ringBits (32 or
// 64; anything else panics) in host memory, computed with b. note, if not
// empty, is appended to its Name (a GPU backend says why it fell back).
func NewHostAccumulator(b Backend, ringBits, n int, note string) *HostAccumulator {
	a := &HostAccumulator{b: b, name: b.Name(), bits: ringBits}
	if note != "" {
		a.name += " (" + note + ")"
	}
	switch ringBits {
	case 32:
		a.sum32 = make([]uint32, n)
	case 64:
		a.sum64 = make([]uint64, n)
	default:
		panic(fmt.Sprintf("tensor: NewHostAccumulator: ring Z/2^%d, want 32 or 64 bits", ringBits))
	}
	return a
}

var _ Accumulator = (*HostAccumulator)(nil)

// Name is the backend's name and the note given to NewHostAccumulator.
func (a *HostAccumulator) Name() string { return a.name }

// Len is the number of words of the sum.
func (a *HostAccumulator) Len() int { return max(len(a.sum32), len(a.sum64)) }

// RingBits is 32 or 64.
func (a *HostAccumulator) RingBits() int { return a.bits }

// CheckAccumulator panics, naming op, unless a sum in Z/2^bits of n words
// can take a vector in Z/2^want of length got: the programmer errors of the
// Accumulator methods, for implementations to share.
func CheckAccumulator(op string, bits, want, n, got int) {
	if bits != want {
		panic(fmt.Sprintf("tensor: %s on an accumulator in Z/2^%d", op, bits))
	}
	if got != n {
		panic(fmt.Sprintf("tensor: %s: %d words, the accumulator has %d", op, got, n))
	}
}

// AddU32 adds v to the sum.
func (a *HostAccumulator) AddU32(v []uint32) error {
	CheckAccumulator("AddU32", a.bits, 32, a.Len(), len(v))
	a.b.AddU32(a.sum32, a.sum32, v)
	return nil
}

// AddU64 adds v to the sum.
func (a *HostAccumulator) AddU64(v []uint64) error {
	CheckAccumulator("AddU64", a.bits, 64, a.Len(), len(v))
	a.b.AddU64(a.sum64, a.sum64, v)
	return nil
}

// AddMasks adds the mask streams of add and subtracts those of sub.
func (a *HostAccumulator) AddMasks(add, sub []Seed) error {
	for i := range add {
		if a.bits == 32 {
			a.b.ExpandAddU32(a.sum32, &add[i])
		} else {
			a.b.ExpandAddU64(a.sum64, &add[i])
		}
	}
	for i := range sub {
		if a.bits == 32 {
			a.b.ExpandSubU32(a.sum32, &sub[i])
		} else {
			a.b.ExpandSubU64(a.sum64, &sub[i])
		}
	}
	return nil
}

// ReadU32 copies the sum into dst.
func (a *HostAccumulator) ReadU32(dst []uint32) error {
	CheckAccumulator("ReadU32", a.bits, 32, a.Len(), len(dst))
	copy(dst, a.sum32)
	return nil
}

// ReadU64 copies the sum into dst.
func (a *HostAccumulator) ReadU64(dst []uint64) error {
	CheckAccumulator("ReadU64", a.bits, 64, a.Len(), len(dst))
	copy(dst, a.sum64)
	return nil
}

// Close drops the sum.
func (a *HostAccumulator) Close() error {
	a.sum32, a.sum64 = nil, nil
	return nil
}
