//go:build amd64 && !purego

package aesctr

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// impl identifies an assembly implementation.
type impl uint8

const (
	implVAES  impl = iota // VEX.256 VAES + AVX2, 16 blocks per iteration
	implAESNI             // AES-NI + AVX on XMM, 8 blocks per iteration
)

// blocksPerIter is the number of keystream blocks one assembly iteration
// produces.
func (v impl) blocksPerIter() int {
	if v == implVAES {
		return 16
	}
	return 8
}

// detected holds the native kernel sets usable on this CPU, best first. It
// is computed once at package initialisation and never written again.
var detected = detect()

func detect() []Kernels {
	var ks []Kernels
	if !cpu.X86.HasAES || !cpu.X86.HasAVX {
		return nil
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasAVX512VAES {
		ks = append(ks, Kernels{
			Name:        "vaes-avx2",
			Init:        nativeInit,
			Expand32:    func(d []uint32, s *Schedule, c uint64) { native32(implVAES, opStore, d, s, c) },
			ExpandAdd32: func(d []uint32, s *Schedule, c uint64) { native32(implVAES, opAdd, d, s, c) },
			ExpandSub32: func(d []uint32, s *Schedule, c uint64) { native32(implVAES, opSub, d, s, c) },
			Expand64:    func(d []uint64, s *Schedule, c uint64) { native64(implVAES, opStore, d, s, c) },
			ExpandAdd64: func(d []uint64, s *Schedule, c uint64) { native64(implVAES, opAdd, d, s, c) },
			ExpandSub64: func(d []uint64, s *Schedule, c uint64) { native64(implVAES, opSub, d, s, c) },
		})
	}
	ks = append(ks, Kernels{
		Name:        "aesni-avx",
		Init:        nativeInit,
		Expand32:    func(d []uint32, s *Schedule, c uint64) { native32(implAESNI, opStore, d, s, c) },
		ExpandAdd32: func(d []uint32, s *Schedule, c uint64) { native32(implAESNI, opAdd, d, s, c) },
		ExpandSub32: func(d []uint32, s *Schedule, c uint64) { native32(implAESNI, opSub, d, s, c) },
		Expand64:    func(d []uint64, s *Schedule, c uint64) { native64(implAESNI, opStore, d, s, c) },
		ExpandAdd64: func(d []uint64, s *Schedule, c uint64) { native64(implAESNI, opAdd, d, s, c) },
		ExpandSub64: func(d []uint64, s *Schedule, c uint64) { native64(implAESNI, opSub, d, s, c) },
	})
	return ks
}

// Native returns the SIMD kernel set and true when the CPU supports it:
// VAES on YMM registers when it has AVX2 and VAES, otherwise AES-NI on XMM
// registers when it has AES-NI and AVX. Without those it returns Generic()
// and false.
func Native() (Kernels, bool) {
	if len(detected) == 0 {
		return Generic(), false
	}
	return detected[0], true
}

// variants lists every native kernel set usable on this machine, best first.
func variants() []Kernels { return append([]Kernels(nil), detected...) }

func nativeInit(s *Schedule, key *[KeySize]byte) {
	s.Reset()
	expandKeyAVX(&s.rk, key)
	s.kind = kindNative
}

// native32 applies o to dst with the keystream starting at block ctr.
func native32(v impl, o op, dst []uint32, s *Schedule, ctr uint64) {
	s.check(kindNative)
	const wpb = BlockSize / 4 // words per block
	// Split where the low 64 bits of the 128-bit counter wrap, so that the
	// assembly never has to carry into the high half.
	if n := uint64(len(dst)+wpb-1) / wpb; ctr != 0 && n > -ctr {
		k := int(-ctr) * wpb
		segment(v, o, dst[:k], &s.rk, ctr, 0, bulk32)
		dst, ctr = dst[k:], 0
		segment(v, o, dst, &s.rk, 0, 1, bulk32)
		return
	}
	segment(v, o, dst, &s.rk, ctr, 0, bulk32)
}

// native64 applies o to dst with the keystream starting at block ctr.
func native64(v impl, o op, dst []uint64, s *Schedule, ctr uint64) {
	s.check(kindNative)
	const wpb = BlockSize / 8
	if n := uint64(len(dst)+wpb-1) / wpb; ctr != 0 && n > -ctr {
		k := int(-ctr) * wpb
		segment(v, o, dst[:k], &s.rk, ctr, 0, bulk64)
		dst, ctr = dst[k:], 0
		segment(v, o, dst, &s.rk, 0, 1, bulk64)
		return
	}
	segment(v, o, dst, &s.rk, ctr, 0, bulk64)
}

// segment processes dst with counters hi:lo, hi:lo+1, ...; lo must not wrap
// within the blocks dst needs. Whole iterations run in assembly straight on
// dst; the remainder is generated into a stack buffer and combined in Go.
func segment[W uint32 | uint64](v impl, o op, dst []W, rk *[176]byte, lo, hi uint64,
	bulk func(v impl, o op, dst *W, n int, rk *[176]byte, lo, hi uint64)) {
	per := v.blocksPerIter() * BlockSize / wordSize[W]()
	if n := len(dst) / per; n > 0 {
		bulk(v, o, &dst[0], n, rk, lo, hi)
		dst = dst[n*per:]
		lo += uint64(n * v.blocksPerIter())
	}
	if len(dst) == 0 {
		return
	}
	var buf [64]uint32 // one iteration: up to 16 blocks
	tail(v, &buf, rk, lo, hi)
	apply(dst, unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*4), o)
	clear(buf[:])
}

// tail writes one iteration of keystream (16 or 8 blocks) into buf.
func tail(v impl, buf *[64]uint32, rk *[176]byte, lo, hi uint64) {
	if v == implVAES {
		vaesStore32(&buf[0], 1, rk, lo, hi)
	} else {
		aesniStore32(&buf[0], 1, rk, lo, hi)
	}
}

func bulk32(v impl, o op, dst *uint32, n int, rk *[176]byte, lo, hi uint64) {
	switch {
	case v == implVAES && o == opStore:
		vaesStore32(dst, n, rk, lo, hi)
	case v == implVAES && o == opAdd:
		vaesAdd32(dst, n, rk, lo, hi)
	case v == implVAES && o == opSub:
		vaesSub32(dst, n, rk, lo, hi)
	case o == opStore:
		aesniStore32(dst, n, rk, lo, hi)
	case o == opAdd:
		aesniAdd32(dst, n, rk, lo, hi)
	default:
		aesniSub32(dst, n, rk, lo, hi)
	}
}

func bulk64(v impl, o op, dst *uint64, n int, rk *[176]byte, lo, hi uint64) {
	switch {
	case v == implVAES && o == opStore:
		vaesStore64(dst, n, rk, lo, hi)
	case v == implVAES && o == opAdd:
		vaesAdd64(dst, n, rk, lo, hi)
	case v == implVAES && o == opSub:
		vaesSub64(dst, n, rk, lo, hi)
	case o == opStore:
		aesniStore64(dst, n, rk, lo, hi)
	case o == opAdd:
		aesniAdd64(dst, n, rk, lo, hi)
	default:
		aesniSub64(dst, n, rk, lo, hi)
	}
}
