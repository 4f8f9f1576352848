// Command floats generates the AVX2 kernels of package
// github.com/cohort-mpc/cohort/tensor/internal/floats.
//
// Run it from this directory as
//
//	go run . -out ../../internal/floats/floats_amd64.s -stubs ../../internal/floats/floats_amd64.go -pkg floats
//
// Every kernel rounds each product and each sum separately (VMULPS then
// VADDPS, never a fused multiply-add), so that it matches the portable Go
// code of the package bit for bit. The Go wrappers handle the tails that do
// not fill a YMM register.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// elem describes one element type and its packed instructions.
type elem struct {
	suffix string // function name suffix, "F32" or "F64"
	gotype string // Go element type
	size   int    // bytes per element
	mul    func(...Op)
	add    func(...Op)
	bcast  func(...Op)
	mov    func(...Op)
}

var elems = []elem{
	{suffix: "F32", gotype: "float32", size: 4, mul: VMULPS, add: VADDPS, bcast: VBROADCASTSS, mov: VMOVUPS},
	{suffix: "F64", gotype: "float64", size: 8, mul: VMULPD, add: VADDPD, bcast: VBROADCASTSD, mov: VMOVUPD},
}

// wsUnroll is the number of YMM registers one iteration of a weighted-sum
// pass processes: 128 bytes of every stream.
const wsUnroll = 4

// wsMaxInputs is the most inputs one weighted-sum pass reads.
const wsMaxInputs = 4

// scaleUnroll is the number of YMM registers per iteration of the scale loop.
const scaleUnroll = 4

func main() {
	// avo v0.5.0 parses the +build syntax; this emits "//go:build amd64 && !purego".
	ConstraintExpr("amd64,!purego")
	for _, e := range elems {
		weightedSum(e)
	}
	for _, e := range elems {
		sumSquares(e)
	}
	for _, e := range elems {
		scale(e)
	}
	Generate()
}

// weightedSum emits the two passes of the blocked weighted sum:
//
//	wsFirst<F>AVX2(out, w, vs, off)      out[j] = (…(w[0]·vs[0][off+j] + w[1]·vs[1][off+j]) + …)
//	wsNext<F>AVX2(out, acc, w, vs, off)  out[j] = (…(acc[j] + w[0]·vs[0][off+j]) + …)
//
// for j < len(out), with 1 ≤ len(w) == len(vs) ≤ wsMaxInputs. len(out) must
// be a multiple of the lanes of one YMM register. Every product and sum is
// rounded separately, the sum (or acc) always the first source operand.
// Each register's worth of out is stored after its inputs are read, so out
// may be the same slice as acc or as any vs[i] (at the same offset).
func weightedSum(e elem) {
	for _, next := range []bool{false, true} {
		name := "wsFirst" + e.suffix + "AVX2"
		sig := fmt.Sprintf("func(out []%s, w []%s, vs [][]%s, off int)", e.gotype, e.gotype, e.gotype)
		doc := []string{
			fmt.Sprintf("%s sets out[j] = (…(w[0]·vs[0][off+j] + w[1]·vs[1][off+j]) + …)", name),
			"for j < len(out), rounding every product and sum separately. len(out)",
			"must be a multiple of the lanes of one YMM register, 1 ≤ len(w) ==",
			fmt.Sprintf("len(vs) ≤ %d and len(vs[i]) ≥ off+len(out).", wsMaxInputs),
		}
		if next {
			name = "wsNext" + e.suffix + "AVX2"
			sig = fmt.Sprintf("func(out, acc []%s, w []%s, vs [][]%s, off int)", e.gotype, e.gotype, e.gotype)
			doc = []string{
				fmt.Sprintf("%s sets out[j] = (…(acc[j] + w[0]·vs[0][off+j]) + …) for", name),
				"j < len(out), rounding every product and sum separately. len(out) must",
				"be a multiple of the lanes of one YMM register, len(acc) ≥ len(out),",
				fmt.Sprintf("1 ≤ len(w) == len(vs) ≤ %d and len(vs[i]) ≥ off+len(out).", wsMaxInputs),
			}
		}
		TEXT(name, NOSPLIT, sig)
		Doc(doc...)
		Pragma("noescape")
		wsPass(name, e, next)
	}
}

// wsPass emits the body of one weighted-sum pass: it dispatches on the
// number of inputs to a loop specialised for it.
func wsPass(name string, e elem, next bool) {
	out := Load(Param("out").Base(), GP64())
	n := Load(Param("out").Len(), GP64())
	var acc Register
	if next {
		acc = Load(Param("acc").Base(), GP64())
	}
	wp := Load(Param("w").Base(), GP64())
	vsp := Load(Param("vs").Base(), GP64())
	k := Load(Param("vs").Len(), GP64())
	off := Load(Param("off"), GP64())

	// The byte offset of the block in the inputs, and the byte length.
	SHLQ(U8(log2(e.size)), off)
	SHLQ(U8(log2(e.size)), n)

	for kk := 1; kk < wsMaxInputs; kk++ {
		CMPQ(k, U8(kk))
		JE(LabelRef(fmt.Sprintf("%s_k%d", name, kk)))
	}
	for kk := wsMaxInputs; kk >= 1; kk-- {
		Label(fmt.Sprintf("%s_k%d", name, kk))
		wsLoop(fmt.Sprintf("%s_k%d", name, kk), e, kk, out, acc, wp, vsp, n, off)
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// wsLoop emits the loop of a pass over kk inputs; it jumps to
// <name>_done (the label without the _k suffix) when finished.
func wsLoop(label string, e elem, kk int, out, acc, wp, vsp, n, off Register) {
	done := LabelRef(label[:len(label)-3] + "_done")
	// The input pointers, advanced to the block, and the broadcast weights.
	ps := make([]Register, kk)
	ws := make([]VecVirtual, kk)
	for i := range ps {
		ps[i] = GP64()
		MOVQ(Mem{Base: vsp, Disp: 24 * i}, ps[i])
		ADDQ(off, ps[i])
		ws[i] = YMM()
		e.bcast(Mem{Base: wp, Disp: e.size * i}, ws[i])
	}
	j := GP64()
	XORQ(j, j)
	end := GP64()
	MOVQ(n, end)
	ANDQ(I32(-32*wsUnroll), end)

	body := func(u int) {
		at := func(p Register, r int) Mem { return Mem{Base: p, Index: j, Scale: 1, Disp: 32 * r} }
		s := make([]VecVirtual, u)
		for r := range s {
			s[r] = YMM()
			if acc != nil {
				e.mov(at(acc, r), s[r])
			} else {
				// VMULPS m, w, s computes w·m (w is the first source operand).
				e.mul(at(ps[0], r), ws[0], s[r])
			}
		}
		first := 0
		if acc == nil {
			first = 1
		}
		for i := first; i < kk; i++ {
			for r := range s {
				t := YMM()
				e.mul(at(ps[i], r), ws[i], t)
				// s + t, with s as the first source operand.
				e.add(t, s[r], s[r])
			}
		}
		for r := range s {
			e.mov(s[r], at(out, r))
		}
		ADDQ(U32(32*u), j)
	}

	Label(label + "_loop")
	CMPQ(j, end)
	JAE(LabelRef(label + "_single"))
	body(wsUnroll)
	JMP(LabelRef(label + "_loop"))

	Label(label + "_single")
	CMPQ(j, n)
	JAE(done)
	body(1)
	JMP(LabelRef(label + "_single"))
}

// sumSquares emits sumSquares<F>AVX2(a, p), which adds a[j]² (widened to
// float64 first for float32) to p[j%8] for j < len(a), len(a) a multiple
// of 8.
func sumSquares(e elem) {
	name := "sumSquares" + e.suffix + "AVX2"
	TEXT(name, NOSPLIT, fmt.Sprintf("func(a []%s, p *[8]float64)", e.gotype))
	what := "a[j]²"
	if e.size == 4 {
		what = "float64(a[j])²"
	}
	Doc(fmt.Sprintf("%s adds %s to p[j%%8] for j < len(a), in the order of j;", name, what),
		"len(a) must be a multiple of 8.")
	Pragma("noescape")
	a := Load(Param("a").Base(), GP64())
	n := Load(Param("a").Len(), GP64())
	p := Load(Param("p"), GP64())

	lo, hi := YMM(), YMM() // partials 0-3 and 4-7
	VMOVUPD(Mem{Base: p}, lo)
	VMOVUPD(Mem{Base: p, Disp: 32}, hi)

	// Eight elements per iteration: 32 bytes of float32 or 64 of float64.
	step := 8 * e.size
	SHLQ(U8(log2(e.size)), n)
	off := GP64()
	XORQ(off, off)
	Label(name + "_loop")
	CMPQ(off, n)
	JAE(LabelRef(name + "_done"))
	x, y := YMM(), YMM()
	if e.size == 4 {
		VCVTPS2PD(Mem{Base: a, Index: off, Scale: 1}, x)
		VCVTPS2PD(Mem{Base: a, Index: off, Scale: 1, Disp: 16}, y)
		VMULPD(x, x, x)
		VMULPD(y, y, y)
	} else {
		VMOVUPD(Mem{Base: a, Index: off, Scale: 1}, x)
		VMOVUPD(Mem{Base: a, Index: off, Scale: 1, Disp: 32}, y)
		VMULPD(x, x, x)
		VMULPD(y, y, y)
	}
	// p + square, with the partial as the first source operand.
	VADDPD(x, lo, lo)
	VADDPD(y, hi, hi)
	ADDQ(U8(step), off)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_done")
	VMOVUPD(lo, Mem{Base: p})
	VMOVUPD(hi, Mem{Base: p, Disp: 32})
	VZEROUPPER()
	RET()
}

// scale emits scale<F>AVX2(dst, a, s), which sets dst[j] = s·a[j] for
// j < len(dst), len(dst) a multiple of the lanes of one YMM register.
func scale(e elem) {
	name := "scale" + e.suffix + "AVX2"
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, a []%s, s %s)", e.gotype, e.gotype))
	Doc(fmt.Sprintf("%s sets dst[j] = s·a[j] for j < len(dst); len(dst) must be a", name),
		"multiple of the lanes of one YMM register and len(a) ≥ len(dst).")
	Pragma("noescape")
	dst := Load(Param("dst").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	a := Load(Param("a").Base(), GP64())
	s, err := Param("s").Resolve()
	if err != nil {
		panic(err)
	}
	sb := YMM()
	e.bcast(s.Addr, sb)

	SHLQ(U8(log2(e.size)), n)
	off := GP64()
	XORQ(off, off)
	end := GP64()
	MOVQ(n, end)
	ANDQ(I32(-32*scaleUnroll), end)
	at := func(p Register, r int) Mem { return Mem{Base: p, Index: off, Scale: 1, Disp: 32 * r} }

	Label(name + "_loop")
	CMPQ(off, end)
	JAE(LabelRef(name + "_single"))
	var ys [scaleUnroll]VecVirtual
	for r := range ys {
		ys[r] = YMM()
		// s·a[j], with s as the first source operand.
		e.mul(at(a, r), sb, ys[r])
	}
	for r := range ys {
		e.mov(ys[r], at(dst, r))
	}
	ADDQ(U32(32*scaleUnroll), off)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_single")
	CMPQ(off, n)
	JAE(LabelRef(name + "_done"))
	y := YMM()
	e.mul(at(a, 0), sb, y)
	e.mov(y, at(dst, 0))
	ADDQ(U8(32), off)
	JMP(LabelRef(name + "_single"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func log2(size int) uint64 {
	switch size {
	case 4:
		return 2
	case 8:
		return 3
	}
	panic("bad element size")
}
