package floats

// blockLen is the number of dst elements processed per block by the
// weighted sums: 512 elements is 2 KiB (float32) or 4 KiB (float64) of
// accumulator, which stays in L1 while every input vector streams over it.
const blockLen = 512

// weightedSumF32Generic is Kernels.WeightedSumF32 in portable Go. dst is
// processed in blocks of blockLen elements, each accumulated in a local
// buffer and written exactly once after all of vs has been read for it.
func weightedSumF32Generic(dst []float32, w []float32, vs [][]float32) {
	checkWeighted(len(dst), w, vs)
	if len(vs) == 0 {
		clear(dst)
		return
	}
	var buf [blockLen]float32
	for lo := 0; lo < len(dst); lo += blockLen {
		hi := min(lo+blockLen, len(dst))
		acc := buf[:hi-lo]
		w0, v0 := w[0], vs[0][lo:hi]
		v0 = v0[:len(acc)]
		for j := range acc {
			acc[j] = float32(w0 * v0[j])
		}
		i := 1
		// Four inputs per pass: the additions stay in the order i = 1, 2, 3,
		// 4, while the accumulator is loaded and stored once per pass.
		for ; i+4 <= len(vs); i += 4 {
			wa, wb, wc, wd := w[i], w[i+1], w[i+2], w[i+3]
			va := vs[i][lo:hi][:len(acc)]
			vb := vs[i+1][lo:hi][:len(acc)]
			vc := vs[i+2][lo:hi][:len(acc)]
			vd := vs[i+3][lo:hi][:len(acc)]
			for j := range acc {
				s := acc[j] + float32(wa*va[j])
				s += float32(wb * vb[j])
				s += float32(wc * vc[j])
				s += float32(wd * vd[j])
				acc[j] = s
			}
		}
		for ; i < len(vs); i++ {
			wi, vi := w[i], vs[i][lo:hi][:len(acc)]
			for j := range acc {
				acc[j] += float32(wi * vi[j])
			}
		}
		copy(dst[lo:hi], acc)
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
	var buf [blockLen]float64
	for lo := 0; lo < len(dst); lo += blockLen {
		hi := min(lo+blockLen, len(dst))
		acc := buf[:hi-lo]
		w0, v0 := w[0], vs[0][lo:hi]
		v0 = v0[:len(acc)]
		for j := range acc {
			acc[j] = float64(w0 * v0[j])
		}
		i := 1
		for ; i+4 <= len(vs); i += 4 {
			wa, wb, wc, wd := w[i], w[i+1], w[i+2], w[i+3]
			va := vs[i][lo:hi][:len(acc)]
			vb := vs[i+1][lo:hi][:len(acc)]
			vc := vs[i+2][lo:hi][:len(acc)]
			vd := vs[i+3][lo:hi][:len(acc)]
			for j := range acc {
				s := acc[j] + float64(wa*va[j])
				s += float64(wb * vb[j])
				s += float64(wc * vc[j])
				s += float64(wd * vd[j])
				acc[j] = s
			}
		}
		for ; i < len(vs); i++ {
			wi, vi := w[i], vs[i][lo:hi][:len(acc)]
			for j := range acc {
				acc[j] += float64(wi * vi[j])
			}
		}
		copy(dst[lo:hi], acc)
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
