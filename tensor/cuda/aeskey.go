package cuda

import (
	"encoding/binary"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// kernelKey returns the cohort_aes128_key of seed for label as the bytes of
// the C struct (44 uint32 in the byte order of the host, which is the
// device's: little-endian).
func kernelKey(seed *tensor.Seed, label string) []byte {
	key := aesctr.DeriveKey((*[aesctr.SeedSize]byte)(seed), label)
	w := aesctr.RoundKeyWords(&key)
	clear(key[:])
	b := make([]byte, 4*aesctr.RoundKeyWordCount)
	for i, x := range w {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	clear(w[:])
	return b
}
