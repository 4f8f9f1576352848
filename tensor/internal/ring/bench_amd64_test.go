//go:build amd64 && !purego

package ring

import (
	"fmt"
	"testing"
)

// BenchmarkAddU32Stores compares regular and non-temporal stores of the AVX2
// add kernel (dst separate and 32-byte aligned), to choose ntMinBytes.
func BenchmarkAddU32Stores(b *testing.B) {
	for _, n := range []int{1 << 20, 1 << 21, 1 << 22, 1 << 24} {
		x, y, dst := fill32(n), fill32(n), make([]uint32, n+8)
		d := dst[alignHead(dst):][:n]
		b.Run(fmt.Sprintf("regular/n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				addU32AVX2(&d[0], &x[0], &y[0], n)
			}
		})
		b.Run(fmt.Sprintf("nt/n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				addU32AVX2NT(&d[0], &x[0], &y[0], n)
			}
		})
	}
}

// BenchmarkReadBandwidth is the reference for Sum: one core streaming 256 MiB
// through the AVX2 sum kernel into a 16 KiB L1-resident accumulator, i.e.
// the sequential read bandwidth (bytes are bytes read).
func BenchmarkReadBandwidth(b *testing.B) {
	const blk = 4096
	big := fill32(64 << 20)
	acc := make([]uint32, blk)
	b.SetBytes(int64(4 * len(big)))
	for b.Loop() {
		for off := 0; off < len(big); off += blk {
			sum2U32AVX2(&acc[0], &acc[0], &big[off], blk)
		}
	}
}
