package floats

// weightedSumF32Generic is Kernels.WeightedSumF32 in portable Go, blocked
// like the AVX2 kernel (see wsBlockBytes).
func weightedSumF32Generic(dst []float32, w []float32, vs [][]float32) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	if wsNeedsBuffer(dst, vs) {
		wsBufferedF32Generic(dst, w, vs)
		return
	}
	wsBlocksF32Generic(dst, w, vs, nil)
}

// wsBufferedF32Generic runs wsBlocksF32Generic with a stack buffer.
// It is not inlined, so that the buffer is on the stack only when needed.
//
//go:noinline
func wsBufferedF32Generic(dst []float32, w []float32, vs [][]float32) {
	var buf [wsBlockBytes / 4]float32
	wsBlocksF32Generic(dst, w, vs, buf[:])
}

// wsBlocksF32Generic computes the weighted sum block by block, wsPassInputs
// inputs per pass over a block. The partial sums of a block are kept in buf,
// or in dst itself when buf is nil.
func wsBlocksF32Generic(dst []float32, w []float32, vs [][]float32, buf []float32) {
	const blk = wsBlockBytes / 4
	for lo := 0; lo < len(dst); lo += blk {
		out := dst[lo:min(lo+blk, len(dst))]
		acc := out
		if buf != nil {
			acc = buf[:len(out)]
		}
		i := min(len(vs), wsPassInputs)
		if i == len(vs) {
			wsFirstF32Generic(out, w, vs, lo)
			continue
		}
		wsFirstF32Generic(acc, w[:i], vs[:i], lo)
		for ; len(vs)-i > wsPassInputs; i += wsPassInputs {
			wsNextF32Generic(acc, acc, w[i:i+wsPassInputs], vs[i:i+wsPassInputs], lo)
		}
		wsNextF32Generic(out, acc, w[i:], vs[i:], lo)
	}
}

// wsFirstF32Generic sets out[j] = (…(w[0]·vs[0][off+j] + w[1]·vs[1][off+j]) + …)
// for 1 ≤ len(vs) ≤ wsPassInputs. out may be the same slice as vs[i][off:]:
// out[j] is written after every vs[i][off+j] is read.
func wsFirstF32Generic(out []float32, w []float32, vs [][]float32, off int) {
	n := len(out)
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			s := float32(wa * va[j])
			out[j] = s
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := float32(wa * va[j])
			s += float32(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := float32(wa * va[j])
			s += float32(wb * vb[j])
			s += float32(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := float32(wa * va[j])
			s += float32(wb * vb[j])
			s += float32(wc * vc[j])
			s += float32(wd * vd[j])
			out[j] = s
		}
	default:
		panic("floats: internal error: bad pass width")
	}
}

// wsNextF32Generic sets out[j] = (…(acc[j] + w[0]·vs[0][off+j]) + …) for
// 1 ≤ len(vs) ≤ wsPassInputs. out may be the same slice as acc or vs[i][off:].
func wsNextF32Generic(out, acc []float32, w []float32, vs [][]float32, off int) {
	n := len(out)
	acc = acc[:n]
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			s := acc[j] + float32(wa*va[j])
			out[j] = s
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := acc[j] + float32(wa*va[j])
			s += float32(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := acc[j] + float32(wa*va[j])
			s += float32(wb * vb[j])
			s += float32(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := acc[j] + float32(wa*va[j])
			s += float32(wb * vb[j])
			s += float32(wc * vc[j])
			s += float32(wd * vd[j])
			out[j] = s
		}
	default:
		panic("floats: internal error: bad pass width")
	}
}

// weightedSumF64Generic is Kernels.WeightedSumF64 in portable Go, blocked
// like weightedSumF32Generic.
func weightedSumF64Generic(dst []float64, w []float64, vs [][]float64) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	if wsNeedsBuffer(dst, vs) {
		wsBufferedF64Generic(dst, w, vs)
		return
	}
	wsBlocksF64Generic(dst, w, vs, nil)
}

// wsBufferedF64Generic runs wsBlocksF64Generic with a stack buffer.
// It is not inlined, so that the buffer is on the stack only when needed.
//
//go:noinline
func wsBufferedF64Generic(dst []float64, w []float64, vs [][]float64) {
	var buf [wsBlockBytes / 8]float64
	wsBlocksF64Generic(dst, w, vs, buf[:])
}

// wsBlocksF64Generic is wsBlocksF32Generic for float64.
func wsBlocksF64Generic(dst []float64, w []float64, vs [][]float64, buf []float64) {
	const blk = wsBlockBytes / 8
	for lo := 0; lo < len(dst); lo += blk {
		out := dst[lo:min(lo+blk, len(dst))]
		acc := out
		if buf != nil {
			acc = buf[:len(out)]
		}
		i := min(len(vs), wsPassInputs)
		if i == len(vs) {
			wsFirstF64Generic(out, w, vs, lo)
			continue
		}
		wsFirstF64Generic(acc, w[:i], vs[:i], lo)
		for ; len(vs)-i > wsPassInputs; i += wsPassInputs {
			wsNextF64Generic(acc, acc, w[i:i+wsPassInputs], vs[i:i+wsPassInputs], lo)
		}
		wsNextF64Generic(out, acc, w[i:], vs[i:], lo)
	}
}

// wsFirstF64Generic is wsFirstF32Generic for float64.
func wsFirstF64Generic(out []float64, w []float64, vs [][]float64, off int) {
	n := len(out)
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			s := float64(wa * va[j])
			out[j] = s
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := float64(wa * va[j])
			s += float64(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := float64(wa * va[j])
			s += float64(wb * vb[j])
			s += float64(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := float64(wa * va[j])
			s += float64(wb * vb[j])
			s += float64(wc * vc[j])
			s += float64(wd * vd[j])
			out[j] = s
		}
	default:
		panic("floats: internal error: bad pass width")
	}
}

// wsNextF64Generic is wsNextF32Generic for float64.
func wsNextF64Generic(out, acc []float64, w []float64, vs [][]float64, off int) {
	n := len(out)
	acc = acc[:n]
	switch len(vs) {
	case 1:
		wa := w[0]
		va := vs[0][off:][:n]
		for j := range out {
			s := acc[j] + float64(wa*va[j])
			out[j] = s
		}
	case 2:
		wa, wb := w[0], w[1]
		va, vb := vs[0][off:][:n], vs[1][off:][:n]
		for j := range out {
			s := acc[j] + float64(wa*va[j])
			s += float64(wb * vb[j])
			out[j] = s
		}
	case 3:
		wa, wb, wc := w[0], w[1], w[2]
		va, vb, vc := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n]
		for j := range out {
			s := acc[j] + float64(wa*va[j])
			s += float64(wb * vb[j])
			s += float64(wc * vc[j])
			out[j] = s
		}
	case 4:
		wa, wb, wc, wd := w[0], w[1], w[2], w[3]
		va, vb, vc, vd := vs[0][off:][:n], vs[1][off:][:n], vs[2][off:][:n], vs[3][off:][:n]
		for j := range out {
			s := acc[j] + float64(wa*va[j])
			s += float64(wb * vb[j])
			s += float64(wc * vc[j])
			s += float64(wd * vd[j])
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
