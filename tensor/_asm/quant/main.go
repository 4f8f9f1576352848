// Command quant generates the AVX2 kernels of package
// github.com/cohort-mpc/cohort/tensor/internal/quant.
//
// Run it from this directory as
//
//	go run . -out ../../internal/quant/quant_amd64.s -stubs ../../internal/quant/quant_amd64.go -pkg quant
//
// Every kernel processes len(dst) rounded down to a multiple of 8 elements;
// the Go wrappers in the quant package run the generic code on the tail.
// The arithmetic mirrors the generic Go code operation by operation, so the
// results are bit-identical (see the quant package documentation).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Bit patterns of the float64 constants used by the kernels.
const (
	bitsHalf    = 0x3FE0000000000000 // 0.5
	bitsTwoM32  = 0x3DF0000000000000 // 2^-32
	bitsTwo52   = 0x4330000000000000 // 2^52
	bitsTwo31   = 0x41E0000000000000 // 2^31
	bitsTwo84   = 0x4530000000000000 // 2^84
	bitsTwo8452 = 0x4530000000100000 // 2^84 + 2^52
	bitsSign32  = 0x8000000080000000 // sign bit of both dwords
)

// broadcast materialises a 64-bit constant in every lane of a new YMM register.
func broadcast(bits uint64, name string) reg.VecVirtual {
	Commentf("%s", name)
	g := GP64()
	MOVQ(U64(bits), g)
	y := YMM()
	MOVQ(g, y.AsX())
	VPBROADCASTQ(y.AsX(), y)
	return y
}

// broadcastParam broadcasts a float64 argument into every lane of a new YMM register.
func broadcastParam(name string) reg.VecVirtual {
	x := Load(Param(name), XMM())
	y := YMM()
	VBROADCASTSD(x, y)
	return y
}

type quantConsts struct {
	lo, scale, zero, max, twoM32, half, two52 reg.VecVirtual
}

// quantGroup quantises 4 elements: it loads them (src, rnd at byte offsets
// srcOff, rndOff from the base registers) and returns a register whose four
// 64-bit lanes hold 2^52 + result as integer bit patterns.
func quantGroup(c *quantConsts, src, rnd reg.Register, srcOff, rndOff int, f64 bool) reg.VecVirtual {
	v := YMM()
	if f64 {
		VMOVUPD(Mem{Base: src, Disp: srcOff}, v)
	} else {
		VCVTPS2PD(Mem{Base: src, Disp: srcOff}, v)
	}
	VSUBPD(c.lo, v, v)    // v = x - Lo
	VMULPD(c.scale, v, v) // v = (x - Lo) * Scale
	// MAXPD returns its second (Intel) source, the zero, when v is NaN or ±0.
	VMAXPD(c.zero, v, v)
	VMINPD(c.max, v, v)
	f := YMM()
	VROUNDPD(U8(9), v, f) // floor, precision exception suppressed
	VSUBPD(f, v, v)       // v = d = v - f, exact
	u := YMM()
	VCVTDQ2PD(Mem{Base: rnd, Disp: rndOff}, u)
	VFMADD213PD(c.half, c.twoM32, u) // u = int32(r)*2^-32 + 0.5, exact (no rounding occurs)
	VCMPPD(U8(0x11), v, u, u)        // u = mask(u < d), LT_OQ
	VADDPD(c.two52, f, f)            // f + 2^52: integer f in the low mantissa bits
	VPSUBQ(u, f, f)                  // add 1 where the mask is all ones
	return f
}

func quantKernel(name string, f64src, u64dst bool) {
	srcT, dstT := "[]float32", "[]uint32"
	if f64src {
		srcT = "[]float64"
	}
	if u64dst {
		dstT = "[]uint64"
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst %s, src %s, rnd []uint32, lo, scale, max float64)", dstT, srcT))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s quantises the first len(dst)&^7 elements with AVX2 and FMA.", name))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	rnd := Load(Param("rnd").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(U8(3), n)
	JZ(LabelRef(name + "_done"))

	c := &quantConsts{
		lo:    broadcastParam("lo"),
		scale: broadcastParam("scale"),
		max:   broadcastParam("max"),
	}
	c.zero = YMM()
	VXORPD(c.zero, c.zero, c.zero)
	c.twoM32 = broadcast(bitsTwoM32, "2^-32")
	c.half = broadcast(bitsHalf, "0.5")
	c.two52 = broadcast(bitsTwo52, "2^52")

	srcSize := 4
	if f64src {
		srcSize = 8
	}
	Label(name + "_loop")
	a := quantGroup(c, src, rnd, 0, 0, f64src)
	b := quantGroup(c, src, rnd, 4*srcSize, 16, f64src)
	if u64dst {
		VPXOR(c.two52, a, a)
		VPXOR(c.two52, b, b)
		VMOVDQU(a, Mem{Base: dst})
		VMOVDQU(b, Mem{Base: dst, Disp: 32})
		ADDQ(U32(64), dst)
	} else {
		// The low dword of every qword is the result; gather them in order.
		VSHUFPS(U8(0x88), b, a, a) // [a0 a1 b0 b1 | a2 a3 b2 b3]
		VPERMQ(U8(0xD8), a, a)     // [a0 a1 a2 a3 | b0 b1 b2 b3]
		VMOVDQU(a, Mem{Base: dst})
		ADDQ(U32(32), dst)
	}
	ADDQ(U32(8*srcSize), src)
	ADDQ(U32(32), rnd)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	Label(name + "_done")
	RET()
}

// dequantGroup loads 4 source integers at byte offset off and returns them
// converted exactly (uint32) or correctly rounded (uint64) to float64, then
// multiplied by step and incremented by offset with two separate roundings.
func dequantGroup(src reg.Register, off int, u64src bool, k *dequantConsts) reg.VecVirtual {
	v := YMM()
	if u64src {
		x := YMM()
		VMOVDQU(Mem{Base: src, Disp: off}, x)
		VPSRLQ(U8(32), x, v)
		VPOR(k.two84, v, v)               // 2^84 + hi*2^32
		VPBLENDD(U8(0xAA), k.two52, x, x) // 2^52 + lo
		VSUBPD(k.two8452, v, v)           // hi*2^32 - 2^52, exact
		VADDPD(x, v, v)                   // the only rounding
	} else {
		VPXOR(Mem{Base: src, Disp: off}, k.sign32.AsX(), v.AsX()) // int32(s) - 2^31 as signed
		VCVTDQ2PD(v.AsX(), v)
		VADDPD(k.two31, v, v) // exact
	}
	VMULPD(k.step, v, v)
	VADDPD(k.offset, v, v)
	return v
}

type dequantConsts struct {
	step, offset          reg.VecVirtual
	sign32, two31         reg.VecVirtual
	two84, two52, two8452 reg.VecVirtual
}

func dequantKernel(name string, u64src, f64dst bool) {
	srcT, dstT := "[]uint32", "[]float32"
	if u64src {
		srcT = "[]uint64"
	}
	if f64dst {
		dstT = "[]float64"
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst %s, src %s, step, offset float64)", dstT, srcT))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s dequantises the first len(dst)&^7 elements with AVX2.", name))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())
	SHRQ(U8(3), n)
	JZ(LabelRef(name + "_done"))
	k := &dequantConsts{
		step:   broadcastParam("step"),
		offset: broadcastParam("offset"),
	}
	if u64src {
		k.two84 = broadcast(bitsTwo84, "2^84")
		k.two52 = broadcast(bitsTwo52, "2^52")
		k.two8452 = broadcast(bitsTwo8452, "2^84 + 2^52")
	} else {
		k.sign32 = broadcast(bitsSign32, "dword sign bits")
		k.two31 = broadcast(bitsTwo31, "2^31")
	}
	srcSize := 4
	if u64src {
		srcSize = 8
	}
	dstSize := 4
	if f64dst {
		dstSize = 8
	}
	Label(name + "_loop")
	for g := 0; g < 2; g++ {
		v := dequantGroup(src, g*4*srcSize, u64src, k)
		if f64dst {
			VMOVUPD(v, Mem{Base: dst, Disp: g * 32})
		} else {
			VCVTPD2PSY(v, v.AsX())
			VMOVUPS(v.AsX(), Mem{Base: dst, Disp: g * 16})
		}
	}
	ADDQ(U32(8*srcSize), src)
	ADDQ(U32(8*dstSize), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	Label(name + "_done")
	RET()
}

func main() {
	// avo v0.5.0 parses the legacy "+build" syntax; this yields "//go:build amd64 && !purego".
	ConstraintExpr("amd64,!purego")
	quantKernel("quantF32U32AVX2", false, false)
	quantKernel("quantF64U32AVX2", true, false)
	quantKernel("quantF32U64AVX2", false, true)
	quantKernel("quantF64U64AVX2", true, true)
	dequantKernel("dequantU32F32AVX2", false, false)
	dequantKernel("dequantU32F64AVX2", false, true)
	dequantKernel("dequantU64F32AVX2", true, false)
	dequantKernel("dequantU64F64AVX2", true, true)
	Generate()
}
