package aesctr

import (
	"encoding/binary"
	"math/bits"
)

// RoundKeyWordCount is the number of 32-bit words of an expanded AES-128
// key.
const RoundKeyWordCount = 44

// sub returns the AES S-box of x, computed without tables or branches (the
// key bytes are secret): the inverse x^254 in GF(2^8), 0 for 0, by a fixed
// chain of multiplications, then the affine map of FIPS-197 §5.1.1.
func sub(x byte) byte {
	x3 := gfMul(gfMul(x, x), x)       // x^3
	x7 := gfMul(gfMul(x3, x3), x)     // x^7
	x15 := gfMul(gfMul(x7, x7), x)    // x^15
	x31 := gfMul(gfMul(x15, x15), x)  // x^31
	x63 := gfMul(gfMul(x31, x31), x)  // x^63
	x127 := gfMul(gfMul(x63, x63), x) // x^127
	inv := gfMul(x127, x127)          // x^254
	return inv ^ bits.RotateLeft8(inv, 1) ^ bits.RotateLeft8(inv, 2) ^ bits.RotateLeft8(inv, 3) ^ bits.RotateLeft8(inv, 4) ^ 0x63
}

// gfMul multiplies a and b in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, in a
// fixed sequence of operations whatever the values.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = a<<1 ^ 0x1b&-(a>>7)
		b >>= 1
	}
	return p
}

// RoundKeyWords returns the FIPS-197 key expansion w[0..43] of an AES-128
// key, each word the big-endian reading of 4 schedule bytes: what the CUDA
// kernels take (cohort_aes128_key). The S-box is computed from its
// definition for each byte, without tables or key-dependent branches. (The
// GPU backend expands its many-key batches on the device instead.)
func RoundKeyWords(key *[KeySize]byte) [RoundKeyWordCount]uint32 {
	subWord := func(x uint32) uint32 {
		return uint32(sub(byte(x>>24)))<<24 | uint32(sub(byte(x>>16)))<<16 | uint32(sub(byte(x>>8)))<<8 | uint32(sub(byte(x)))
	}
	var w [RoundKeyWordCount]uint32
	for i := range 4 {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := byte(1)
	for i := 4; i < RoundKeyWordCount; i++ {
		t := w[i-1]
		if i%4 == 0 {
			t = subWord(bits.RotateLeft32(t, 8)) ^ uint32(rcon)<<24
			rcon = gfMul(rcon, 2)
		}
		w[i] = w[i-4] ^ t
	}
	return w
}
