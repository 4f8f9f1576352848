package quant

import (
	"math/rand/v2"
	"testing"
)

func benchKernels(b *testing.B) []Kernels {
	ks := []Kernels{Generic()}
	if n, ok := Native(); ok {
		ks = append(ks, n)
	}
	return ks
}

// chunk is the number of random words the caller keeps in its L1-resident
// buffer (8 KiB).
const chunk = 2048

// benchF32U32 quantises n float32 values in calls of at most chunk
// elements. With flat false it reuses one chunk-sized random buffer, as
// tensor.CPU does; with flat true rnd is as long as src.
//
// SetBytes counts elements, so the MB/s column reads as million elements/s;
// Gelem/s is reported as well.
func benchF32U32(b *testing.B, n int, flat bool) {
	p := mkParams("p16", 16, -3, 3).p
	rng := rand.New(rand.NewPCG(1, 1))
	src := make([]float32, n)
	dst := make([]uint32, n)
	rnd := make([]uint32, min(n, chunk))
	if flat {
		rnd = make([]uint32, n)
	}
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for i := range rnd {
		rnd[i] = rng.Uint32()
	}
	for _, ks := range benchKernels(b) {
		b.Run(ks.Name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				for i := 0; i < n; i += chunk {
					j := min(i+chunk, n)
					r := rnd[:j-i]
					if flat {
						r = rnd[i:j]
					}
					ks.F32U32(dst[i:j], src[i:j], r, &p)
				}
			}
			b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}

func BenchmarkF32U32_2048(b *testing.B)    { benchF32U32(b, 2048, false) }
func BenchmarkF32U32_16M(b *testing.B)     { benchF32U32(b, 1<<24, false) }
func BenchmarkF32U32_16MFlat(b *testing.B) { benchF32U32(b, 1<<24, true) }

// BenchmarkQuant2048 covers the other kernels on L1-resident vectors
// (MB/s reads as million elements/s).
func BenchmarkQuant2048(b *testing.B) {
	const n = 2048
	p := mkParams("p40", 40, -3, 3).p
	rng := rand.New(rand.NewPCG(1, 2))
	f32, f64 := make([]float32, n), make([]float64, n)
	rnd := make([]uint32, n)
	d32, d64 := make([]uint32, n), make([]uint64, n)
	for i := range f32 {
		f64[i] = rng.NormFloat64()
		f32[i] = float32(f64[i])
		rnd[i] = rng.Uint32()
	}
	p32 := mkParams("p16", 16, -3, 3).p
	for _, ks := range benchKernels(b) {
		run := func(name string, f func()) {
			b.Run(name+"/"+ks.Name, func(b *testing.B) {
				b.SetBytes(n)
				for b.Loop() {
					f()
				}
				b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
		run("F64U32", func() { ks.F64U32(d32, f64, rnd, &p32) })
		run("F32U64", func() { ks.F32U64(d64, f32, rnd, &p) })
		run("F64U64", func() { ks.F64U64(d64, f64, rnd, &p) })
		run("U32F32", func() { ks.U32F32(f32, d32, 1e-4, -3) })
		run("U32F64", func() { ks.U32F64(f64, d32, 1e-4, -3) })
		run("U64F32", func() { ks.U64F32(f32, d64, 1e-4, -3) })
		run("U64F64", func() { ks.U64F64(f64, d64, 1e-4, -3) })
	}
}
