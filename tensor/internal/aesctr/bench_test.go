package aesctr

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"
	"unsafe"
)

var benchSizes = []struct {
	name  string
	bytes int
}{{"16KiB", 16 << 10}, {"64MiB", 64 << 20}}

// benchStdlibCTR measures crypto/cipher's AES-CTR XORKeyStream in place over
// the same number of bytes, the baseline for the fused kernels.
func benchStdlibCTR(b *testing.B, n int) {
	key := [KeySize]byte{1}
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, n)
	iv := make([]byte, 16)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for b.Loop() {
		cipher.NewCTR(blk, iv).XORKeyStream(buf, buf)
	}
}

func benchKernel32(b *testing.B, n int, k Kernels, f func(Kernels) func([]uint32, *Schedule, uint64)) {
	key := [KeySize]byte{1}
	s := schedule(k, &key)
	dst := make([]uint32, n/4)
	fn := f(k)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for b.Loop() {
		fn(dst, s, 0)
	}
}

func benchKernel64(b *testing.B, n int, k Kernels, f func(Kernels) func([]uint64, *Schedule, uint64)) {
	key := [KeySize]byte{1}
	s := schedule(k, &key)
	dst := make([]uint64, n/8)
	fn := f(k)
	b.SetBytes(int64(n))
	b.ResetTimer()
	for b.Loop() {
		fn(dst, s, 0)
	}
}

func BenchmarkExpandAdd32(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(fmt.Sprintf("%s/stdlib-ctr", sz.name), func(b *testing.B) { benchStdlibCTR(b, sz.bytes) })
		for _, k := range kernelSets() {
			b.Run(fmt.Sprintf("%s/%s", sz.name, k.Name), func(b *testing.B) {
				benchKernel32(b, sz.bytes, k, func(k Kernels) func([]uint32, *Schedule, uint64) { return k.ExpandAdd32 })
			})
		}
	}
}

func BenchmarkExpand32(b *testing.B) {
	for _, k := range kernelSets() {
		b.Run(fmt.Sprintf("16KiB/%s", k.Name), func(b *testing.B) {
			benchKernel32(b, 16<<10, k, func(k Kernels) func([]uint32, *Schedule, uint64) { return k.Expand32 })
		})
	}
}

func BenchmarkExpandSub64(b *testing.B) {
	for _, k := range kernelSets() {
		b.Run(fmt.Sprintf("16KiB/%s", k.Name), func(b *testing.B) {
			benchKernel64(b, 16<<10, k, func(k Kernels) func([]uint64, *Schedule, uint64) { return k.ExpandSub64 })
		})
	}
}

// BenchmarkExpandAdd32Small measures per-call overhead on short vectors
// with a partial final iteration.
func BenchmarkExpandAdd32Small(b *testing.B) {
	for _, n := range []int{4, 100} {
		for _, k := range kernelSets() {
			b.Run(fmt.Sprintf("%dwords/%s", n, k.Name), func(b *testing.B) {
				benchKernel32(b, n*int(unsafe.Sizeof(uint32(0))), k, func(k Kernels) func([]uint32, *Schedule, uint64) { return k.ExpandAdd32 })
			})
		}
	}
}

func BenchmarkInit(b *testing.B) {
	key := [KeySize]byte{1}
	for _, k := range kernelSets() {
		b.Run(k.Name, func(b *testing.B) {
			var s Schedule
			for b.Loop() {
				k.Init(&s, &key)
			}
		})
	}
}
