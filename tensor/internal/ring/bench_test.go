package ring

import (
	"fmt"
	"testing"
)

// Benchmarks report bytes read + written per operation for the streaming
// kernels (12 bytes per uint32 element for Add), and bytes read for Sum.

var benchSizes = []int{1 << 10, 1 << 14, 1 << 20, 1 << 24}

func benchImpls(b *testing.B) []Kernels {
	nat, _ := Native()
	return []Kernels{Generic(), nat}
}

func fill32(n int) []uint32 {
	v := make([]uint32, n)
	for i := range v {
		v[i] = uint32(i) * 0x9e3779b9
	}
	return v
}

func fill64(n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		v[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	return v
}

// BenchmarkCopyU32 is the reference: copy() of n uint32, counted as bytes
// read + written.
func BenchmarkCopyU32(b *testing.B) {
	for _, n := range benchSizes {
		src, dst := fill32(n), make([]uint32, n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

func BenchmarkAddU32(b *testing.B) {
	for _, n := range benchSizes {
		x, y, dst := fill32(n), fill32(n), make([]uint32, n)
		for _, k := range benchImpls(b) {
			b.Run(fmt.Sprintf("%s/n=%d", k.Name, n), func(b *testing.B) {
				b.SetBytes(int64(12 * n))
				for b.Loop() {
					k.AddU32(dst, x, y)
				}
			})
			b.Run(fmt.Sprintf("%s/inplace/n=%d", k.Name, n), func(b *testing.B) {
				b.SetBytes(int64(12 * n))
				for b.Loop() {
					k.AddU32(x, x, y)
				}
			})
		}
	}
}

func BenchmarkAddU64(b *testing.B) {
	for _, n := range benchSizes {
		x, y, dst := fill64(n/2), fill64(n/2), make([]uint64, n/2)
		for _, k := range benchImpls(b) {
			b.Run(fmt.Sprintf("%s/n=%d", k.Name, n/2), func(b *testing.B) {
				b.SetBytes(int64(24 * (n / 2)))
				for b.Loop() {
					k.AddU64(dst, x, y)
				}
			})
		}
	}
}

// BenchmarkOpsU32 covers the remaining streaming kernels at an L1/L2-resident
// size.
func BenchmarkOpsU32(b *testing.B) {
	const n = 1 << 14
	x, y, dst := fill32(n), fill32(n), make([]uint32, n)
	for _, k := range benchImpls(b) {
		b.Run(k.Name+"/Sub", func(b *testing.B) {
			b.SetBytes(12 * n)
			for b.Loop() {
				k.SubU32(dst, x, y)
			}
		})
		b.Run(k.Name+"/Neg", func(b *testing.B) {
			b.SetBytes(8 * n)
			for b.Loop() {
				k.NegU32(dst, x)
			}
		})
		b.Run(k.Name+"/AddScalar", func(b *testing.B) {
			b.SetBytes(8 * n)
			for b.Loop() {
				k.AddScalarU32(dst, x, 12345)
			}
		})
	}
}

// BenchmarkSumU32 sums nv vectors of n words; bytes are the bytes read.
func BenchmarkSumU32(b *testing.B) {
	for _, c := range []struct{ nv, n int }{{64, 1 << 20}, {64, 1 << 14}, {1000, 1 << 14}, {8, 1 << 10}} {
		vs := make([][]uint32, c.nv)
		for i := range vs {
			vs[i] = fill32(c.n)
		}
		dst := make([]uint32, c.n)
		for _, k := range benchImpls(b) {
			b.Run(fmt.Sprintf("%s/nv=%d/n=%d", k.Name, c.nv, c.n), func(b *testing.B) {
				b.SetBytes(int64(4 * c.n * c.nv))
				for b.Loop() {
					k.SumU32(dst, vs)
				}
			})
		}
		if c.n == 1<<20 {
			// Reference: copy() of the same bytes, counted as read + written.
			src, cp := fill32(c.n*c.nv), fill32(c.n*c.nv)
			b.Run(fmt.Sprintf("copy/words=%d", c.n*c.nv), func(b *testing.B) {
				b.SetBytes(int64(8 * c.n * c.nv))
				for b.Loop() {
					copy(cp, src)
				}
			})
		}
	}
}

func BenchmarkSumU64(b *testing.B) {
	const nv, n = 64, 1 << 19
	vs := make([][]uint64, nv)
	for i := range vs {
		vs[i] = fill64(n)
	}
	dst := make([]uint64, n)
	for _, k := range benchImpls(b) {
		b.Run(fmt.Sprintf("%s/nv=%d/n=%d", k.Name, nv, n), func(b *testing.B) {
			b.SetBytes(8 * n * nv)
			for b.Loop() {
				k.SumU64(dst, vs)
			}
		})
	}
}
