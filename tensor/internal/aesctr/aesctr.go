// Package aesctr expands seeds into AES-128-CTR mask streams and fuses the
// expansion with the arithmetic that consumes them (store, add or subtract
// modulo 2^32 or 2^64), so that a mask never has to be materialised in
// memory.
//
// The stream is specified normatively in docs/wire/mask-stream.md and pinned
// by testdata/maskstream/vectors.json:
//
//   - key = HKDF-SHA256(IKM = seed, salt = empty, info = label, L = 16);
//   - keystream block j = AES-128_key(BE128(j)), j = 0, 1, 2, ...
//     (AES-128-CTR with a zero IV and a 128-bit big-endian counter);
//   - uint32 word i is the little-endian uint32 of keystream bytes [4i, 4i+4),
//     uint64 word i the little-endian uint64 of bytes [8i, 8i+8).
//
// Two kernel sets implement the same stream: Generic, a portable
// implementation on top of crypto/aes that is always compiled, and Native,
// hand-written amd64 assembly (VAES on YMM registers, or AES-NI on XMM
// registers) that is selected at run time from the CPU features. Both
// produce bit-identical results.
//
// The kernels start no goroutines; callers split large vectors into chunks
// (a chunk starting at uint32 word w uses counter w/4, at uint64 word w
// counter w/2, so chunks must start at multiples of 4 or 2 words).
package aesctr

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"unsafe"
)

// Domain-separation labels for DeriveKey.
const (
	// LabelMask derives the key of additive masks for secure aggregation.
	LabelMask = "cohort/tensor/mask/v1"
	// LabelRounding derives the key of the randomness used for stochastic
	// rounding.
	LabelRounding = "cohort/tensor/rounding/v1"
)

// SeedSize is the size in bytes of a seed.
const SeedSize = 32

// KeySize is the size in bytes of a derived AES-128 key.
const KeySize = 16

// BlockSize is the size in bytes of one keystream block (one counter value).
const BlockSize = 16

// DeriveKey returns the AES-128 key
// HKDF-SHA256(IKM = seed, salt = empty, info = label, L = 16).
func DeriveKey(seed *[SeedSize]byte, label string) [KeySize]byte {
	k, err := hkdf.Key(sha256.New, seed[:], nil, label, KeySize)
	if err != nil {
		// Unreachable: 16 bytes is far below the HKDF-SHA256 output limit.
		panic("aesctr: HKDF-SHA256 failed: " + err.Error())
	}
	var key [KeySize]byte
	copy(key[:], k)
	clear(k)
	return key
}

// scheduleKind records which kernel set initialised a Schedule.
type scheduleKind uint8

const (
	kindNone scheduleKind = iota
	kindGeneric
	kindNative
)

// Schedule is an expanded AES-128 key. Its layout is private: the native
// kernels keep the 11 round keys, the generic kernels a crypto/aes
// cipher.Block.
//
// A Schedule must be initialised with the Init function of the kernel set
// whose Expand* functions will use it; using it with another kernel set (or
// uninitialised) panics. After Init a Schedule is only read, so it may be
// shared by concurrent callers. It holds key material: call Reset when done.
type Schedule struct {
	rk    [11 * 16]byte // round keys, native kernels
	block cipher.Block  // generic kernels
	kind  scheduleKind
}

// Reset zeroes the round keys held by s and drops its cipher.Block; s must be
// initialised again before use. (The generic cipher.Block is owned by
// crypto/aes, which offers no way to wipe it; Reset only releases it.)
func (s *Schedule) Reset() {
	clear(s.rk[:])
	s.block = nil
	s.kind = kindNone
}

// check panics unless s was initialised by the kernel set of kind k.
func (s *Schedule) check(k scheduleKind) {
	if s.kind != k {
		panic("aesctr: Schedule not initialised by this kernel set's Init")
	}
}

// Kernels is one implementation of the mask-stream kernels.
//
// For every Expand* function, dst[0] receives the first word of keystream
// block ctr (that is, the counter value ctr; the counter is 128 bits wide and
// carries past 2^64). len(dst) is arbitrary: a partial final block uses only
// the words it needs. The functions do not allocate in the native set and
// allocate only a small scratch buffer in the generic set.
type Kernels struct {
	// Name identifies the implementation ("generic", "vaes-avx2",
	// "aesni-avx").
	Name string

	// Init expands key into s, in constant time (for Generic, to the
	// extent that crypto/aes is constant time on the platform).
	Init func(s *Schedule, key *[KeySize]byte)

	// Expand32 sets dst[i] = word_i.
	Expand32 func(dst []uint32, s *Schedule, ctr uint64)
	// ExpandAdd32 sets dst[i] += word_i (mod 2^32).
	ExpandAdd32 func(dst []uint32, s *Schedule, ctr uint64)
	// ExpandSub32 sets dst[i] -= word_i (mod 2^32).
	ExpandSub32 func(dst []uint32, s *Schedule, ctr uint64)

	// Expand64 sets dst[i] = word_i.
	Expand64 func(dst []uint64, s *Schedule, ctr uint64)
	// ExpandAdd64 sets dst[i] += word_i (mod 2^64).
	ExpandAdd64 func(dst []uint64, s *Schedule, ctr uint64)
	// ExpandSub64 sets dst[i] -= word_i (mod 2^64).
	ExpandSub64 func(dst []uint64, s *Schedule, ctr uint64)
}

// op selects how keystream words are combined with dst.
type op uint8

const (
	opStore op = iota
	opAdd
	opSub
)

// wordSize returns the size in bytes of W.
func wordSize[W uint32 | uint64]() int {
	var w W
	return int(unsafe.Sizeof(w))
}

// le reads the little-endian word at the start of b. The size test is
// constant in each instantiation, so the call inlines to a single load.
func le[W uint32 | uint64](b []byte) W {
	if wordSize[W]() == 4 {
		return W(binary.LittleEndian.Uint32(b))
	}
	return W(binary.LittleEndian.Uint64(b))
}

// apply combines dst with the little-endian words of the keystream ks
// (len(ks) ≥ wordSize·len(dst)) by o.
func apply[W uint32 | uint64](dst []W, ks []byte, o op) {
	size := wordSize[W]()
	switch o {
	case opStore:
		for i := range dst {
			dst[i] = le[W](ks[size*i:])
		}
	case opAdd:
		for i := range dst {
			dst[i] += le[W](ks[size*i:])
		}
	case opSub:
		for i := range dst {
			dst[i] -= le[W](ks[size*i:])
		}
	}
}
