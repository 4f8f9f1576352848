// Command ring generates the AVX2 kernels of package
// github.com/cohort-mpc/cohort/tensor/internal/ring.
//
// Run it from this directory as
//
//	go run . -out ../../internal/ring/ring_amd64.s -stubs ../../internal/ring/ring_amd64.go -pkg ring
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// width describes one element type: its Go name, log2 of its size in bytes and
// the vector instructions that operate on lanes of that size.
type width struct {
	suffix string // function name suffix, e.g. "U32"
	gotype string // Go element type, e.g. "uint32"
	shift  uint64 // log2(element size in bytes)
	add    func(...Op)
	sub    func(...Op)
	bcast  func(...Op)
	movGX  func(Op, Op) // move general-purpose register to XMM
	gp     func() GPVirtual
}

var widths = []width{
	{suffix: "U32", gotype: "uint32", shift: 2, add: VPADDD, sub: VPSUBD, bcast: VPBROADCASTD, movGX: MOVD, gp: GP32},
	{suffix: "U64", gotype: "uint64", shift: 3, add: VPADDQ, sub: VPSUBQ, bcast: VPBROADCASTQ, movGX: MOVQ, gp: GP64},
}

// unroll is the number of YMM registers processed per iteration of the main loop.
const unroll = 4

func main() {
	// avo v0.5.0 parses the +build syntax; this emits "//go:build amd64 && !purego".
	ConstraintExpr("amd64,!purego")

	for _, w := range widths {
		for _, nt := range []bool{false, true} {
			sfx := w.suffix + "AVX2"
			store := "regular stores"
			if nt {
				sfx += "NT"
				store = "non-temporal stores; dst must be 32-byte aligned"
			}
			binary("add"+sfx, w, nt, "dst[i] = a[i] + b[i]", store, w.add)
			binary("sub"+sfx, w, nt, "dst[i] = a[i] - b[i]", store, w.sub)
			neg("neg"+sfx, w, nt, store)
			addScalar("addScalar"+sfx, w, nt, store)
		}
		for k := 2; k <= 5; k++ {
			sum(k, w)
		}
	}

	Generate()
}

// stream emits the body of a streaming kernel over n elements (n a multiple
// of the lanes of one YMM register). ptrs are the input base registers; body
// computes one YMM result from the 32-byte input operands at the same offset.
func stream(name string, w width, nt bool, dst GPVirtual, ptrs []GPVirtual, n GPVirtual, body func(in []Mem, out VecVirtual)) {
	// Byte count and the end of the unrolled part.
	SHLQ(U8(w.shift), n)
	end := GP64()
	MOVQ(n, end)
	ANDQ(I32(-32*unroll), end)
	i := GP64()
	XORQ(i, i)

	storeOp := VMOVDQU
	if nt {
		storeOp = VMOVNTDQ
	}
	mems := func(disp int) []Mem {
		in := make([]Mem, len(ptrs))
		for j, p := range ptrs {
			in[j] = Mem{Base: p, Index: i, Scale: 1, Disp: disp}
		}
		return in
	}

	Label(name + "_loop")
	CMPQ(i, end)
	JAE(LabelRef(name + "_single"))
	var ys [unroll]VecVirtual
	for u := range ys {
		ys[u] = YMM()
		body(mems(32*u), ys[u])
	}
	for u := range ys {
		storeOp(ys[u], Mem{Base: dst, Index: i, Scale: 1, Disp: 32 * u})
	}
	ADDQ(U32(32*unroll), i)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_single")
	CMPQ(i, n)
	JAE(LabelRef(name + "_done"))
	y := YMM()
	body(mems(0), y)
	storeOp(y, Mem{Base: dst, Index: i, Scale: 1})
	ADDQ(U32(32), i)
	JMP(LabelRef(name + "_single"))

	Label(name + "_done")
	if nt {
		SFENCE()
	}
	VZEROUPPER()
	RET()
}

func binary(name string, w width, nt bool, what, store string, op func(...Op)) {
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, a, b *%s, n int)", w.gotype))
	Doc(fmt.Sprintf("%s sets %s for i < n, using %s.", name, what, store),
		"n must be a multiple of the lanes of one YMM register.")
	Pragma("noescape")
	dst := Load(Param("dst"), GP64()).(GPVirtual)
	a := Load(Param("a"), GP64()).(GPVirtual)
	b := Load(Param("b"), GP64()).(GPVirtual)
	n := Load(Param("n"), GP64()).(GPVirtual)
	stream(name, w, nt, dst, []GPVirtual{a, b}, n, func(in []Mem, out VecVirtual) {
		VMOVDQU(in[0], out)
		op(in[1], out, out)
	})
}

func neg(name string, w width, nt bool, store string) {
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, a *%s, n int)", w.gotype))
	Doc(fmt.Sprintf("%s sets dst[i] = -a[i] for i < n, using %s.", name, store),
		"n must be a multiple of the lanes of one YMM register.")
	Pragma("noescape")
	dst := Load(Param("dst"), GP64()).(GPVirtual)
	a := Load(Param("a"), GP64()).(GPVirtual)
	n := Load(Param("n"), GP64()).(GPVirtual)
	zero := YMM()
	VPXOR(zero, zero, zero)
	stream(name, w, nt, dst, []GPVirtual{a}, n, func(in []Mem, out VecVirtual) {
		w.sub(in[0], zero, out)
	})
}

func addScalar(name string, w width, nt bool, store string) {
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, a *%s, n int, s %s)", w.gotype, w.gotype))
	Doc(fmt.Sprintf("%s sets dst[i] = a[i] + s for i < n, using %s.", name, store),
		"n must be a multiple of the lanes of one YMM register.")
	Pragma("noescape")
	dst := Load(Param("dst"), GP64()).(GPVirtual)
	a := Load(Param("a"), GP64()).(GPVirtual)
	n := Load(Param("n"), GP64()).(GPVirtual)
	s := Load(Param("s"), w.gp())
	xs := XMM()
	w.movGX(s, xs)
	vs := YMM()
	w.bcast(xs, vs)
	stream(name, w, nt, dst, []GPVirtual{a}, n, func(in []Mem, out VecVirtual) {
		w.add(in[0], vs, out)
	})
}

// sum emits sum<k><W>AVX2(dst, a0, ..., a<k-1>, n): dst[i] = a0[i] + ... + a<k-1>[i].
func sum(k int, w width) {
	name := fmt.Sprintf("sum%d%sAVX2", k, w.suffix)
	params := "a0"
	for j := 1; j < k; j++ {
		params += fmt.Sprintf(", a%d", j)
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, %s *%s, n int)", params, w.gotype))
	Doc(fmt.Sprintf("%s sets dst[i] = a0[i] + ... + a%d[i] for i < n.", name, k-1),
		"n must be a multiple of the lanes of one YMM register.",
		"dst may alias any input exactly.")
	Pragma("noescape")
	dst := Load(Param("dst"), GP64()).(GPVirtual)
	ptrs := make([]GPVirtual, k)
	for j := range ptrs {
		ptrs[j] = Load(Param(fmt.Sprintf("a%d", j)), GP64()).(GPVirtual)
	}
	n := Load(Param("n"), GP64()).(GPVirtual)
	stream(name, w, false, dst, ptrs, n, func(in []Mem, out VecVirtual) {
		VMOVDQU(in[0], out)
		for _, m := range in[1:] {
			w.add(m, out, out)
		}
	})
}
