package ring

// Generic returns the portable pure-Go kernels. They are available on every
// architecture and with every set of build tags.
func Generic() Kernels {
	return Kernels{
		Name:         "generic",
		AddU32:       addGeneric[uint32],
		SubU32:       subGeneric[uint32],
		NegU32:       negGeneric[uint32],
		AddScalarU32: addScalarGeneric[uint32],
		SumU32:       sumGeneric[uint32],
		AddU64:       addGeneric[uint64],
		SubU64:       subGeneric[uint64],
		NegU64:       negGeneric[uint64],
		AddScalarU64: addScalarGeneric[uint64],
		SumU64:       sumGeneric[uint64],
	}
}

func addGeneric[T word](dst, a, b []T) {
	checkBinary(dst, a, b)
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func subGeneric[T word](dst, a, b []T) {
	checkBinary(dst, a, b)
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func negGeneric[T word](dst, a []T) {
	checkUnary(dst, a)
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = -a[i]
	}
}

func addScalarGeneric[T word](dst, a []T, s T) {
	checkUnary(dst, a)
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + s
	}
}

func sumGeneric[T word](dst []T, vs [][]T) {
	aliased := checkSum(dst, vs)
	switch len(vs) {
	case 0:
		clear(dst)
		return
	case 1:
		copy(dst, vs[0])
		return
	}
	sumBlocked(dst, vs, len(dst), aliased, false)
}

// sumPass sets out[i] = Σ_{j<k} in[j][i] for i < len(out), where 2 ≤ k ≤ 5
// and len(in[j]) ≥ len(out), with the SIMD kernel if simd is set (then
// len(out) must be a positive multiple of the vector width). out may alias
// any in[j] exactly. (A plain switch rather than a function value lets the
// caller's accumulator stay on its stack.)
func sumPass[T word](out []T, in [5][]T, k int, simd bool) {
	if simd {
		sumPassSIMD(out, in, k)
	} else {
		sumPassGeneric(out, in, k)
	}
}

// sumBlocked sets dst[:m] = Σ vs[j][:m] (len(vs) ≥ 2) one cache block at a
// time: for each block it reads the block of every input, adding up to four
// of them per pass into an L1-resident accumulator, so dst is written in a
// single pass over memory. The accumulator is dst's own block unless dst
// aliases an input (aliased), in which case it is a stack buffer and dst's
// block is written only in the block's last pass, after every input's block
// has been read. With simd, m must be a multiple of the vector width.
func sumBlocked[T word](dst []T, vs [][]T, m int, aliased, simd bool) {
	if aliased && len(vs) > 5 {
		var acc [maxBlockWords]T
		sumBlocks(dst, vs, m, acc[:blockWords[T]()], simd)
		return
	}
	sumBlocks(dst, vs, m, nil, simd)
}

// sumBlocks is sumBlocked with the accumulator acc of one block, or nil to
// accumulate in dst.
func sumBlocks[T word](dst []T, vs [][]T, m int, acc []T, simd bool) {
	nv := len(vs)
	blk := blockWords[T]()
	for off := 0; off < m; off += blk {
		end := min(off+blk, m)
		out := dst[off:end]
		var in [5][]T
		if nv <= 5 {
			for j, v := range vs {
				in[j] = v[off:end]
			}
			sumPass(out, in, nv, simd)
			continue
		}
		a := out
		if acc != nil {
			a = acc[:end-off]
		}
		in = [5][]T{vs[0][off:end], vs[1][off:end], vs[2][off:end], vs[3][off:end]}
		sumPass(a, in, 4, simd)
		j := 4
		for ; nv-j > 4; j += 4 {
			in = [5][]T{a, vs[j][off:end], vs[j+1][off:end], vs[j+2][off:end], vs[j+3][off:end]}
			sumPass(a, in, 5, simd)
		}
		in = [5][]T{a}
		for r, v := range vs[j:] {
			in[1+r] = v[off:end]
		}
		sumPass(out, in, 1+nv-j, simd)
	}
}

func sumPassGeneric[T word](out []T, in [5][]T, k int) {
	n := len(out)
	a, b := in[0][:n], in[1][:n]
	switch k {
	case 2:
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case 3:
		c := in[2][:n]
		for i := range out {
			out[i] = a[i] + b[i] + c[i]
		}
	case 4:
		c, d := in[2][:n], in[3][:n]
		for i := range out {
			out[i] = a[i] + b[i] + c[i] + d[i]
		}
	case 5:
		c, d, e := in[2][:n], in[3][:n], in[4][:n]
		for i := range out {
			out[i] = a[i] + b[i] + c[i] + d[i] + e[i]
		}
	default:
		panic("ring: internal error: bad pass width")
	}
}
