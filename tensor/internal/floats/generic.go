package floats

import "unsafe"

// weightedSumGeneric is Kernels.WeightedSumF32 and WeightedSumF64 in
// portable Go, blocked like the AVX2 kernels (see wsBlockBytes).
func weightedSumGeneric[F float32 | float64](dst, w []F, vs [][]F) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	wsRun(dst, w, vs, false)
}

// wsRun computes dst = Σ w[i]·vs[i] (len(vs) ≥ 1), with the assembly passes
// when asm is set (see wsPass): in dst's own blocks, or in a stack buffer when
// dst is an input that a later pass still has to read (wsNeedsBuffer).
func wsRun[F float32 | float64](dst, w []F, vs [][]F, asm bool) {
	if wsNeedsBuffer(dst, vs) {
		wsBuffered(dst, w, vs, asm)
		return
	}
	wsBlocks(dst, w, vs, nil, asm)
}

// wsBuffered runs wsBlocks with a stack buffer of one block. It is not
// inlined, so that the 32 KiB buffer is on the stack (and zeroed) only when
// it is needed.
//
//go:noinline
func wsBuffered[F float32 | float64](dst, w []F, vs [][]F, asm bool) {
	var raw [wsBlockBytes / 8]uint64 // 8-byte aligned for either element type
	var z F
	buf := unsafe.Slice((*F)(unsafe.Pointer(&raw[0])), wsBlockBytes/int(unsafe.Sizeof(z)))
	wsBlocks(dst, w, vs, buf, asm)
}

// wsBlocks computes the weighted sum block by block, wsPassInputs inputs per
// pass over a block. The partial sums of a block are kept in buf, or in dst
// itself when buf is nil. A pass is first when acc is nil (see wsPass).
func wsBlocks[F float32 | float64](dst, w []F, vs [][]F, buf []F, asm bool) {
	var z F
	blk := wsBlockBytes / int(unsafe.Sizeof(z))
	for lo := 0; lo < len(dst); lo += blk {
		out := dst[lo:min(lo+blk, len(dst))]
		acc := out
		if buf != nil {
			acc = buf[:len(out)]
		}
		i := min(len(vs), wsPassInputs)
		if i == len(vs) {
			wsPass(asm, out, nil, w, vs, lo)
			continue
		}
		wsPass(asm, acc, nil, w[:i], vs[:i], lo)
		for ; len(vs)-i > wsPassInputs; i += wsPassInputs {
			wsPass(asm, acc, acc, w[i:i+wsPassInputs], vs[i:i+wsPassInputs], lo)
		}
		wsPass(asm, out, acc, w[i:], vs[i:], lo)
	}
}

// wsPassGeneric runs one pass in portable Go: wsFirstGeneric when acc is
// nil, else wsNextGeneric.
func wsPassGeneric[F float32 | float64](out, acc, w []F, vs [][]F, off int) {
	if acc == nil {
		wsFirstGeneric(out, w, vs, off)
	} else {
		wsNextGeneric(out, acc, w, vs, off)
	}
}

// wsFirstGeneric sets out[j] = (…(w[0]·vs[0][off+j] + w[1]·vs[1][off+j]) + …)
// for 1 ≤ len(vs) ≤ wsPassInputs; out may be the same slice as vs[i][off:]
// (out[j] is written after every vs[i][off+j] is read). Every product is converted to F before it
// is added, which rounds it and so forbids fusing it into an FMA.
func wsFirstGeneric[F float32 | float64](out, w []F, vs [][]F, off int) {
	n := len(out)
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			out[j] = F(wa * va[j])
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := F(wa * va[j])
			s += F(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := F(wa * va[j])
			s += F(wb * vb[j])
			s += F(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := F(wa * va[j])
			s += F(wb * vb[j])
			s += F(wc * vc[j])
			s += F(wd * vd[j])
			out[j] = s
		}
	default:
		panic("floats: internal error: bad pass width")
	}
}

// wsNextGeneric sets out[j] = (…(acc[j] + w[0]·vs[0][off+j]) + …) for
// 1 ≤ len(vs) ≤ wsPassInputs; out may be the same slice as acc or
// vs[i][off:]. Products are rounded as in wsFirstGeneric, with products rounded as in wsFirstGeneric.
func wsNextGeneric[F float32 | float64](out, acc, w []F, vs [][]F, off int) {
	n := len(out)
	acc = acc[:n]
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			out[j] = acc[j] + F(wa*va[j])
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := acc[j] + F(wa*va[j])
			s += F(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := acc[j] + F(wa*va[j])
			s += F(wb * vb[j])
			s += F(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := acc[j] + F(wa*va[j])
			s += F(wb * vb[j])
			s += F(wc * vc[j])
			s += F(wd * vd[j])
			out[j] = s
		}
	default:
		panic("floats: internal error: bad pass width")
	}
}

// sumSquaresF32Generic is Kernels.SumSquaresF32 in portable Go.
func sumSquaresF32Generic(a []float32) float64 {
	var p0, p1, p2, p3, p4, p5, p6, p7 float64
	n := len(a) &^ 7
	for j := 0; j < n; j += 8 {
		b := a[j : j+8 : j+8]
		x0, x1, x2, x3 := float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])
		x4, x5, x6, x7 := float64(b[4]), float64(b[5]), float64(b[6]), float64(b[7])
		p0 += float64(x0 * x0)
		p1 += float64(x1 * x1)
		p2 += float64(x2 * x2)
		p3 += float64(x3 * x3)
		p4 += float64(x4 * x4)
		p5 += float64(x5 * x5)
		p6 += float64(x6 * x6)
		p7 += float64(x7 * x7)
	}
	var p [8]float64
	for j := n; j < len(a); j++ {
		x := float64(a[j])
		p[j-n] = float64(x * x)
	}
	return combine8(p0+p[0], p1+p[1], p2+p[2], p3+p[3], p4+p[4], p5+p[5], p6+p[6], p7+p[7])
}

// sumSquaresF64Generic is Kernels.SumSquaresF64 in portable Go.
func sumSquaresF64Generic(a []float64) float64 {
	var p0, p1, p2, p3, p4, p5, p6, p7 float64
	n := len(a) &^ 7
	for j := 0; j < n; j += 8 {
		b := a[j : j+8 : j+8]
		p0 += float64(b[0] * b[0])
		p1 += float64(b[1] * b[1])
		p2 += float64(b[2] * b[2])
		p3 += float64(b[3] * b[3])
		p4 += float64(b[4] * b[4])
		p5 += float64(b[5] * b[5])
		p6 += float64(b[6] * b[6])
		p7 += float64(b[7] * b[7])
	}
	var p [8]float64
	for j := n; j < len(a); j++ {
		p[j-n] = float64(a[j] * a[j])
	}
	return combine8(p0+p[0], p1+p[1], p2+p[2], p3+p[3], p4+p[4], p5+p[5], p6+p[6], p7+p[7])
}

// scaleF32Generic is Kernels.ScaleF32 in portable Go.
func scaleF32Generic(dst, a []float32, s float32) {
	checkScale(len(dst), len(a))
	a = a[:len(dst)]
	for j := range dst {
		dst[j] = s * a[j]
	}
}

// scaleF64Generic is Kernels.ScaleF64 in portable Go.
func scaleF64Generic(dst, a []float64, s float64) {
	checkScale(len(dst), len(a))
	a = a[:len(dst)]
	for j := range dst {
		dst[j] = s * a[j]
	}
}
