// Command aesctr generates the amd64 assembly for package
// github.com/cohort-mpc/cohort/tensor/internal/aesctr.
//
// Run it exactly as
//
//	cd tensor/_asm/aesctr && go run . -out ../../internal/aesctr/aesctr_amd64.s -stubs ../../internal/aesctr/aesctr_amd64.go -pkg aesctr
//
// It emits:
//
//   - expandKeyAVX: AES-128 key expansion with VAESKEYGENASSIST (constant time).
//   - vaes{Store,Add,Sub}{32,64}: fused AES-128-CTR kernels using VEX.256 VAES
//     (2 blocks per instruction, 8 YMM registers = 16 blocks = 256 bytes per
//     iteration).
//   - aesni{Store,Add,Sub}{32,64}: the same with AES-NI on XMM registers
//     (8 blocks = 128 bytes per iteration).
//
// Every kernel has the Go signature
//
//	func(dst *uintW, n int, rk *[176]byte, lo, hi uint64)
//
// and processes exactly n iterations: it encrypts the 128-bit big-endian
// counters hi:lo, hi:lo+1, ... and stores, adds or subtracts the keystream
// (read as little-endian words) into dst. The caller guarantees that lo does
// not wrap within the call and that n > 0.
//
// avo v0.5.0 knows VAESENC/VAESENCLAST only in their VEX.128 forms, so the
// YMM forms are emitted as raw instructions (the Go assembler accepts them).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// op is the way a kernel combines keystream words with dst.
type op struct {
	name  string // Store, Add or Sub
	width int    // word width in bits: 32 or 64
}

var ops = []op{
	{"Store", 32}, {"Add", 32}, {"Sub", 32},
	{"Store", 64}, {"Add", 64}, {"Sub", 64},
}

const signature = "func(dst *uint%d, n int, rk *[176]byte, lo uint64, hi uint64)"

var bswapMask, ctrInit, ctrInc2, ctrInc1 Mem

func main() {
	// avo v0.5.0 parses the legacy "+build" syntax; this prints
	// "//go:build amd64 && !purego".
	ConstraintExpr("amd64,!purego")

	constants()
	expandKey()
	for _, o := range ops {
		vaesKernel(o)
	}
	for _, o := range ops {
		aesniKernel(o)
	}
	Generate()
}

func constants() {
	// Byte reversal of each 128-bit lane: turns a little-endian (lo, hi)
	// qword pair into the big-endian 128-bit counter block.
	bswapMask = GLOBL("bswapMask", RODATA|NOPTR)
	for lane := 0; lane < 2; lane++ {
		DATA(16*lane, U64(0x08090a0b0c0d0e0f))
		DATA(16*lane+8, U64(0x0001020304050607))
	}
	// Per-lane offsets of the first YMM counter register: (+0, +1).
	ctrInit = GLOBL("ctrInit", RODATA|NOPTR)
	DATA(0, U64(0))
	DATA(8, U64(0))
	DATA(16, U64(1))
	DATA(24, U64(0))
	// YMM counter increment: +2 in the low qword of each lane.
	ctrInc2 = GLOBL("ctrInc2", RODATA|NOPTR)
	DATA(0, U64(2))
	DATA(8, U64(0))
	DATA(16, U64(2))
	DATA(24, U64(0))
	// XMM counter increment: +1 in the low qword.
	ctrInc1 = GLOBL("ctrInc1", RODATA|NOPTR)
	DATA(0, U64(1))
	DATA(8, U64(0))
}

// raw emits an instruction that avo's instruction database lacks. Operands
// are in Go assembler order (sources first, destination last).
func raw(opcode string, operands ...Op) {
	Instruction(&ir.Instruction{
		Opcode:   opcode,
		Operands: operands,
		Inputs:   operands,
		Outputs:  operands[len(operands)-1:],
	})
}

func expandKey() {
	TEXT("expandKeyAVX", NOSPLIT, "func(rk *[176]byte, key *[16]byte)")
	Pragma("noescape")
	Doc("expandKeyAVX writes the 11 AES-128 round keys for key into rk.",
		"It uses VAESKEYGENASSIST and runs in constant time.")
	Load(Param("rk"), RDI)
	Load(Param("key"), RSI)
	rk := Mem{Base: RDI}
	k, t, s := X0, X1, X2
	VMOVDQU(Mem{Base: RSI}, k)
	VMOVDQU(k, rk)
	rcon := []uint8{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36}
	for i, rc := range rcon {
		Commentf("Round key %d.", i+1)
		// t = broadcast(SubWord(RotWord(w3)) ^ rcon)
		VAESKEYGENASSIST(U8(rc), k, t)
		VPSHUFD(U8(0xff), t, t)
		// k = prefix-xor of its words: w0, w0^w1, w0^w1^w2, w0^..^w3
		VPSLLDQ(U8(4), k, s)
		VPXOR(s, k, k)
		VPSLLDQ(U8(4), s, s)
		VPXOR(s, k, k)
		VPSLLDQ(U8(4), s, s)
		VPXOR(s, k, k)
		VPXOR(t, k, k)
		VMOVDQU(k, rk.Offset(16*(i+1)))
	}
	Comment("Clear key material from registers.")
	VPXOR(X0, X0, X0)
	VPXOR(X1, X1, X1)
	VPXOR(X2, X2, X2)
	RET()
}

// loadArgs loads the kernel arguments: dst in RDI, n in RCX, rk in RSI,
// lo in RAX and hi in RBX.
func loadArgs(o op, name string) {
	TEXT(name, NOSPLIT, fmt.Sprintf(signature, o.width))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s %s the keystream of n iterations into dst as %d-bit words.", name, verb(o), o.width))
	Load(Param("dst"), RDI)
	Load(Param("n"), RCX)
	Load(Param("rk"), RSI)
	Load(Param("lo"), RAX)
	Load(Param("hi"), RBX)
}

func verb(o op) string {
	switch o.name {
	case "Store":
		return "stores"
	case "Add":
		return "adds"
	}
	return "subtracts"
}

// combine writes keystream register ks into memory m according to o, using
// tmp as scratch.
func combine(o op, ks, tmp VecPhysical, m Mem) {
	switch o.name {
	case "Store":
		VMOVDQU(ks, m)
	case "Add":
		if o.width == 32 {
			VPADDD(m, ks, ks)
		} else {
			VPADDQ(m, ks, ks)
		}
		VMOVDQU(ks, m)
	case "Sub":
		VMOVDQU(m, tmp)
		if o.width == 32 {
			VPSUBD(ks, tmp, tmp)
		} else {
			VPSUBQ(ks, tmp, tmp)
		}
		VMOVDQU(tmp, m)
	}
}

// vaesKernel: 16 blocks per iteration in Y0..Y7.
//
//	Y8  counter pair (lo,hi | lo+1,hi) as little-endian qwords
//	Y9  byte-reversal mask
//	Y10 counter increment (+2 per lane)
//	Y11 scratch (broadcast round keys, Sub temporary)
//	Y12 rk0, Y13 rk10, Y14 rk1, Y15 rk2
func vaesKernel(o op) {
	loadArgs(o, fmt.Sprintf("vaes%s%d", o.name, o.width))
	blocks := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7}
	ctr, mask, inc, tmp := Y8, Y9, Y10, Y11
	rk0, rk10, rk1, rk2 := Y12, Y13, Y14, Y15
	rk := Mem{Base: RSI}
	dst := Mem{Base: RDI}

	Comment("Counter lanes (hi:lo, hi:lo+1).")
	VMOVQ(RAX, X8)
	VPINSRQ(U8(1), RBX, X8, X8)
	VINSERTI128(U8(1), X8, ctr, ctr)
	VPADDQ(ctrInit, ctr, ctr)
	VMOVDQU(bswapMask, mask)
	VMOVDQU(ctrInc2, inc)
	VBROADCASTI128(rk, rk0)
	VBROADCASTI128(rk.Offset(16*10), rk10)
	VBROADCASTI128(rk.Offset(16*1), rk1)
	VBROADCASTI128(rk.Offset(16*2), rk2)

	loop := fmt.Sprintf("vaes%s%dLoop", o.name, o.width)
	Label(loop)
	for _, b := range blocks {
		VPSHUFB(mask, ctr, b)
		VPADDQ(inc, ctr, ctr)
		VPXOR(rk0, b, b)
	}
	for r := 1; r <= 9; r++ {
		key := tmp
		switch r {
		case 1:
			key = rk1
		case 2:
			key = rk2
		default:
			VBROADCASTI128(rk.Offset(16*r), tmp)
		}
		for _, b := range blocks {
			raw("VAESENC", key, b, b)
		}
	}
	for _, b := range blocks {
		raw("VAESENCLAST", rk10, b, b)
	}
	for i, b := range blocks {
		combine(o, b, tmp, dst.Offset(32*i))
	}
	ADDQ(U32(256), RDI)
	DECQ(RCX)
	JNZ(LabelRef(loop))

	Comment("Clear keystream and round keys from registers.")
	VZEROALL()
	RET()
}

// aesniKernel: 8 blocks per iteration in X0..X7.
//
//	X8  counter (lo, hi) as little-endian qwords
//	X9  byte-reversal mask
//	X10 counter increment (+1)
//	X11 scratch (Sub temporary)
//	X12 rk0, X13 rk10, X14 rk1, X15 rk2; other round keys from memory
func aesniKernel(o op) {
	loadArgs(o, fmt.Sprintf("aesni%s%d", o.name, o.width))
	blocks := []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7}
	ctr, mask, inc, tmp := X8, X9, X10, X11
	rk0, rk10, rk1, rk2 := X12, X13, X14, X15
	rk := Mem{Base: RSI}
	dst := Mem{Base: RDI}

	Comment("Counter (hi:lo).")
	VMOVQ(RAX, ctr)
	VPINSRQ(U8(1), RBX, ctr, ctr)
	VMOVDQU(bswapMask, mask)
	VMOVDQU(ctrInc1, inc)
	VMOVDQU(rk, rk0)
	VMOVDQU(rk.Offset(16*10), rk10)
	VMOVDQU(rk.Offset(16*1), rk1)
	VMOVDQU(rk.Offset(16*2), rk2)

	loop := fmt.Sprintf("aesni%s%dLoop", o.name, o.width)
	Label(loop)
	for _, b := range blocks {
		VPSHUFB(mask, ctr, b)
		VPADDQ(inc, ctr, ctr)
		VPXOR(rk0, b, b)
	}
	for r := 1; r <= 9; r++ {
		var key Op = rk.Offset(16 * r)
		switch r {
		case 1:
			key = rk1
		case 2:
			key = rk2
		}
		for _, b := range blocks {
			VAESENC(key, b, b)
		}
	}
	for _, b := range blocks {
		VAESENCLAST(rk10, b, b)
	}
	for i, b := range blocks {
		combine(o, b, tmp, dst.Offset(16*i))
	}
	ADDQ(U32(128), RDI)
	DECQ(RCX)
	JNZ(LabelRef(loop))

	Comment("Clear keystream and round keys from registers.")
	VZEROALL()
	RET()
}
