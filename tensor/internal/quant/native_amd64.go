//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// Native returns the AVX2+FMA kernels and true when the CPU supports them,
// otherwise Generic() and false.
func Native() (Kernels, bool) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return Generic(), false
	}
	return Kernels{
		Name:   "avx2",
		F32U32: avx2F32U32,
		F64U32: avx2F64U32,
		F32U64: avx2F32U64,
		F64U64: avx2F64U64,
		U32F32: avx2U32F32,
		U32F64: avx2U32F64,
		U64F32: avx2U64F32,
		U64F64: avx2U64F64,
	}, true
}

// The assembly handles the largest multiple of 8 elements; the generic code
// finishes the tail of at most 7.

func avx2F32U32(dst []uint32, src []float32, rnd []uint32, p *Params) {
	checkQuant(len(dst), len(src), len(rnd), p, MaxU32)
	n := len(dst) &^ 7
	quantF32U32AVX2(dst[:n], src[:n], rnd[:n], p.Lo, p.Scale, p.Max)
	genericF32U32(dst[n:], src[n:], rnd[n:], p)
}

func avx2F64U32(dst []uint32, src []float64, rnd []uint32, p *Params) {
	checkQuant(len(dst), len(src), len(rnd), p, MaxU32)
	n := len(dst) &^ 7
	quantF64U32AVX2(dst[:n], src[:n], rnd[:n], p.Lo, p.Scale, p.Max)
	genericF64U32(dst[n:], src[n:], rnd[n:], p)
}

func avx2F32U64(dst []uint64, src []float32, rnd []uint32, p *Params) {
	checkQuant(len(dst), len(src), len(rnd), p, MaxU64)
	n := len(dst) &^ 7
	quantF32U64AVX2(dst[:n], src[:n], rnd[:n], p.Lo, p.Scale, p.Max)
	genericF32U64(dst[n:], src[n:], rnd[n:], p)
}

func avx2F64U64(dst []uint64, src []float64, rnd []uint32, p *Params) {
	checkQuant(len(dst), len(src), len(rnd), p, MaxU64)
	n := len(dst) &^ 7
	quantF64U64AVX2(dst[:n], src[:n], rnd[:n], p.Lo, p.Scale, p.Max)
	genericF64U64(dst[n:], src[n:], rnd[n:], p)
}

func avx2U32F32(dst []float32, src []uint32, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	n := len(dst) &^ 7
	dequantU32F32AVX2(dst[:n], src[:n], step, offset)
	genericU32F32(dst[n:], src[n:], step, offset)
}

func avx2U32F64(dst []float64, src []uint32, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	n := len(dst) &^ 7
	dequantU32F64AVX2(dst[:n], src[:n], step, offset)
	genericU32F64(dst[n:], src[n:], step, offset)
}

func avx2U64F32(dst []float32, src []uint64, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	n := len(dst) &^ 7
	dequantU64F32AVX2(dst[:n], src[:n], step, offset)
	genericU64F32(dst[n:], src[n:], step, offset)
}

func avx2U64F64(dst []float64, src []uint64, step, offset float64) {
	checkLen(len(dst), len(src), len(dst))
	n := len(dst) &^ 7
	dequantU64F64AVX2(dst[:n], src[:n], step, offset)
	genericU64F64(dst[n:], src[n:], step, offset)
}
