package aesctr

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// genericChunk is the largest scratch buffer the generic kernels allocate:
// keystream is produced into it and consumed chunk by chunk, so the full
// mask is never materialised.
const genericChunk = 4 << 10

// zeroChunk is the all-zero plaintext the CTR stream is applied to. It is
// only ever read.
var zeroChunk [genericChunk]byte

// Generic returns the portable kernel set, built on crypto/aes and
// crypto/cipher. It is available on every platform.
func Generic() Kernels {
	return Kernels{
		Name:        "generic",
		Init:        genericInit,
		Expand32:    func(dst []uint32, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opStore) },
		ExpandAdd32: func(dst []uint32, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opAdd) },
		ExpandSub32: func(dst []uint32, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opSub) },
		Expand64:    func(dst []uint64, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opStore) },
		ExpandAdd64: func(dst []uint64, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opAdd) },
		ExpandSub64: func(dst []uint64, s *Schedule, ctr uint64) { genericOp(dst, s, ctr, opSub) },
	}
}

func genericInit(s *Schedule, key *[KeySize]byte) {
	s.Reset()
	b, err := aes.NewCipher(key[:])
	if err != nil {
		// Unreachable: the key is 16 bytes.
		panic("aesctr: " + err.Error())
	}
	s.block = b
	s.kind = kindGeneric
}

// genericStream returns the CTR stream positioned at block ctr and a
// scratch buffer for up to n bytes of keystream.
func genericStream(s *Schedule, ctr uint64, n int) (cipher.Stream, []byte) {
	s.check(kindGeneric)
	var iv [BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], ctr)
	return cipher.NewCTR(s.block, iv[:]), make([]byte, min(n, genericChunk))
}

// genericOp applies o to dst with the keystream starting at block ctr,
// produced a scratch buffer at a time.
func genericOp[W uint32 | uint64](dst []W, s *Schedule, ctr uint64, o op) {
	if len(dst) == 0 {
		s.check(kindGeneric)
		return
	}
	size := wordSize[W]()
	stream, buf := genericStream(s, ctr, size*len(dst))
	for len(dst) > 0 {
		d := dst[:min(len(dst), len(buf)/size)]
		ks := buf[:size*len(d)]
		stream.XORKeyStream(ks, zeroChunk[:len(ks)])
		apply(d, ks, o)
		dst = dst[len(d):]
	}
	clear(buf)
}
