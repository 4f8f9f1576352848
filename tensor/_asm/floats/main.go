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

// wsUnroll is the number of YMM accumulators the weighted sum keeps in
// registers (a dst block of 8·wsUnroll float32 or 4·wsUnroll float64) while
// it streams every input over them.
const wsUnroll = 14

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

// weightedSum emits weightedSum<F>AVX2(dst, w, vs), which sets
// dst[j] = (…(w[0]·vs[0][j] + w[1]·vs[1][j]) + …) for j < len(dst). len(dst)
// must be a multiple of the lanes of one YMM register, len(vs) ≥ 1 and every
// len(vs[i]) ≥ len(dst). Each dst block is accumulated in registers and
// stored once after every input has been read for it, so dst may be the same
// slice as any vs[i].
func weightedSum(e elem) {
	name := "weightedSum" + e.suffix + "AVX2"
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst []%s, w []%s, vs [][]%s)", e.gotype, e.gotype, e.gotype))
	Doc(fmt.Sprintf("%s sets dst[j] = Σ_i w[i]·vs[i][j] in the order of i, rounding every", name),
		"product and sum separately. len(dst) must be a multiple of the lanes of one",
		"YMM register, len(w) == len(vs) ≥ 1 and len(vs[i]) ≥ len(dst).")
	Pragma("noescape")
	dst := Load(Param("dst").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	wp := Load(Param("w").Base(), GP64())
	vsp := Load(Param("vs").Base(), GP64())
	k := Load(Param("vs").Len(), GP64())

	// n becomes the byte length; off is the byte offset of the block.
	SHLQ(U8(log2(e.size)), n)
	off := GP64()
	XORQ(off, off)

	wsBlock(name+"_big", e, wsUnroll, dst, n, wp, vsp, k, off)
	wsBlock(name+"_one", e, 1, dst, n, wp, vsp, k, off)
	VZEROUPPER()
	RET()
}

// wsBlock emits the loop over blocks of u YMM registers, starting at byte
// offset off and stopping when fewer than u registers' worth remain.
func wsBlock(label string, e elem, u int, dst, n, wp, vsp, k, off Register) {
	bytes := 32 * u
	Label(label + "_loop")
	// Continue while off + bytes <= n.
	next := GP64()
	LEAQ(Mem{Base: off, Disp: bytes}, next)
	CMPQ(next, n)
	JA(LabelRef(label + "_done"))

	acc := make([]VecVirtual, u)
	at := func(p Register, r int) Mem { return Mem{Base: p, Index: off, Scale: 1, Disp: 32 * r} }

	// The first input initialises the accumulators with its products.
	v := GP64()
	MOVQ(Mem{Base: vsp}, v)
	wb := YMM()
	e.bcast(Mem{Base: wp}, wb)
	for r := range acc {
		acc[r] = YMM()
		// VMULPS m, wb, acc computes wb·m (wb is the first source operand).
		e.mul(at(v, r), wb, acc[r])
	}

	// The other inputs, in order: acc += w[i]·vs[i].
	ip, wi, cnt := GP64(), GP64(), GP64()
	LEAQ(Mem{Base: vsp, Disp: 24}, ip)
	LEAQ(Mem{Base: wp, Disp: e.size}, wi)
	MOVQ(k, cnt)
	DECQ(cnt)
	Label(label + "_input")
	JZ(LabelRef(label + "_store"))
	MOVQ(Mem{Base: ip}, v)
	e.bcast(Mem{Base: wi}, wb)
	for r := range acc {
		t := YMM()
		e.mul(at(v, r), wb, t)
		// acc + t, with acc as the first source operand.
		e.add(t, acc[r], acc[r])
	}
	ADDQ(U8(24), ip)
	ADDQ(U8(e.size), wi)
	DECQ(cnt)
	JMP(LabelRef(label + "_input"))

	Label(label + "_store")
	for r := range acc {
		e.mov(acc[r], at(dst, r))
	}
	MOVQ(next, off)
	JMP(LabelRef(label + "_loop"))
	Label(label + "_done")
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
