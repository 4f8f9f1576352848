package aesctr

import (
	"encoding/binary"
	"math/bits"
)

// RoundKeyWordCount is the number of 32-bit words of an expanded AES-128
// key.
const RoundKeyWordCount = 44

// sbox returns the AES S-box: the multiplicative inverse in GF(2^8) (0 for
// 0) followed by the affine map of FIPS-197 §5.1.1.
func sbox() *[256]byte {
	var s [256]byte
	for x := range 256 {
		inv := byte(0)
		if x != 0 {
			// x^254 = x^-1 in GF(2^8).
			inv = 1
			for range 254 {
				inv = gfMul(inv, byte(x))
			}
		}
		b := inv
		s[x] = b ^ bits.RotateLeft8(b, 1) ^ bits.RotateLeft8(b, 2) ^ bits.RotateLeft8(b, 3) ^ bits.RotateLeft8(b, 4) ^ 0x63
	}
	return &s
}

// gfMul multiplies a and b in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// RoundKeyWords returns the FIPS-197 key expansion w[0..43] of an AES-128
// key, each word the big-endian reading of 4 schedule bytes: what the CUDA
// kernels take (cohort_aes128_key). The S-box is computed from its
// definition, not tabled; the loops do not depend on the key's value.
func RoundKeyWords(key *[KeySize]byte) [RoundKeyWordCount]uint32 {
	s := sbox()
	sub := func(x uint32) uint32 {
		return uint32(s[x>>24])<<24 | uint32(s[x>>16&0xff])<<16 | uint32(s[x>>8&0xff])<<8 | uint32(s[x&0xff])
	}
	var w [RoundKeyWordCount]uint32
	for i := range 4 {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := byte(1)
	for i := 4; i < RoundKeyWordCount; i++ {
		t := w[i-1]
		if i%4 == 0 {
			t = sub(bits.RotateLeft32(t, 8)) ^ uint32(rcon)<<24
			rcon = gfMul(rcon, 2)
		}
		w[i] = w[i-4] ^ t
	}
	return w
}
