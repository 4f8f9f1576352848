package kernels_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// The emulated kernels are built once per test binary by TestMain into lib;
// when that is impossible (no C compiler, or a platform purego does not
// support) libErr says why and the tests skip, unless COHORT_REQUIRE_EMU=1.
var (
	lib    *emuLib
	libErr error
)

// emuLib holds the driver functions of emu/driver.c. Pointers are passed as
// unsafe.Pointer; grid and block are the launch geometry.
type emuLib struct {
	aesExpandU32, aesExpandAddU32, aesExpandSubU32 func(dst unsafe.Pointer, n uint64, w unsafe.Pointer, ctrHi, ctrLo uint64, grid, block uint32)
	aesExpandU64, aesExpandAddU64, aesExpandSubU64 func(dst unsafe.Pointer, n uint64, w unsafe.Pointer, ctrHi, ctrLo uint64, grid, block uint32)
	aesAccumulateU32, aesAccumulateU64             func(dst unsafe.Pointer, n uint64, keys unsafe.Pointer, nadd, nkeys uint32, grid, block uint32)
	aesExpandKeys                                  func(out, raw unsafe.Pointer, nkeys uint32, grid, block uint32)

	addU32, subU32 func(dst, a, b unsafe.Pointer, n uint64, grid, block uint32)
	negU32         func(dst, a unsafe.Pointer, n uint64, grid, block uint32)
	addScalarU32   func(dst, a unsafe.Pointer, s uint32, n uint64, grid, block uint32)
	sumU32         func(dst, flat unsafe.Pointer, nvec int32, n uint64, grid, block uint32) int32
	addU64, subU64 func(dst, a, b unsafe.Pointer, n uint64, grid, block uint32)
	negU64         func(dst, a unsafe.Pointer, n uint64, grid, block uint32)
	addScalarU64   func(dst, a unsafe.Pointer, s uint64, n uint64, grid, block uint32)
	sumU64         func(dst, flat unsafe.Pointer, nvec int32, n uint64, grid, block uint32) int32

	modAdd, modSub func(dst, a, b unsafe.Pointer, n, q uint64, grid, block uint32)
	modMul         func(dst, a, b unsafe.Pointer, n, q, mu uint64, k uint32, grid, block uint32)
	modMulScalar   func(dst, a unsafe.Pointer, n, q, s, sp uint64, grid, block uint32)

	quantizeF32U32, quantizeF64U32, quantizeF32U64, quantizeF64U64 func(dst, src unsafe.Pointer, n uint64, w unsafe.Pointer,
		ctrHi, ctrLo uint64, lo, scale, max float64, grid, block uint32)
	dequantizeU32F32, dequantizeU32F64, dequantizeU64F32, dequantizeU64F64 func(dst, sum unsafe.Pointer, n uint64,
		step, offset float64, grid, block uint32)
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cohort-cuda-emu-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lib, libErr = buildEmu(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildEmu compiles emu/driver.c (which includes every kernel source) into a
// shared library in dir and binds its functions.
func buildEmu(dir string) (*emuLib, error) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		return nil, fmt.Errorf("the emulation harness runs on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		return nil, fmt.Errorf("no C compiler to build the kernel emulation: %w", err)
	}
	so := filepath.Join(dir, "libcohortemu.so")
	cmd := exec.Command(cc, "-O2", "-std=c11", "-ffp-contract=off", "-Wall", "-Wextra",
		"-shared", "-fPIC", "-o", so, filepath.Join("emu", "driver.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		// The compiler is there but the sources do not build: that is a
		// failure, not a reason to skip.
		return nil, &buildError{fmt.Errorf("%s: %w\n%s", cmd, err, out)}
	}
	h, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, &buildError{fmt.Errorf("loading %s: %w", so, err)}
	}
	l := new(emuLib)
	for name, fn := range map[string]any{
		"emu_aesctr_expand_u32":     &l.aesExpandU32,
		"emu_aesctr_expand_add_u32": &l.aesExpandAddU32,
		"emu_aesctr_expand_sub_u32": &l.aesExpandSubU32,
		"emu_aesctr_expand_u64":     &l.aesExpandU64,
		"emu_aesctr_expand_add_u64": &l.aesExpandAddU64,
		"emu_aesctr_expand_sub_u64": &l.aesExpandSubU64,
		"emu_aesctr_accumulate_u32": &l.aesAccumulateU32,
		"emu_aesctr_accumulate_u64": &l.aesAccumulateU64,
		"emu_aes128_expand_keys":    &l.aesExpandKeys,
		"emu_add_u32":               &l.addU32,
		"emu_sub_u32":               &l.subU32,
		"emu_neg_u32":               &l.negU32,
		"emu_add_scalar_u32":        &l.addScalarU32,
		"emu_sum_u32":               &l.sumU32,
		"emu_add_u64":               &l.addU64,
		"emu_sub_u64":               &l.subU64,
		"emu_neg_u64":               &l.negU64,
		"emu_add_scalar_u64":        &l.addScalarU64,
		"emu_sum_u64":               &l.sumU64,
		"emu_mod_add":               &l.modAdd,
		"emu_mod_sub":               &l.modSub,
		"emu_mod_mul":               &l.modMul,
		"emu_mod_mul_scalar":        &l.modMulScalar,
		"emu_quantize_f32_u32":      &l.quantizeF32U32,
		"emu_quantize_f64_u32":      &l.quantizeF64U32,
		"emu_quantize_f32_u64":      &l.quantizeF32U64,
		"emu_quantize_f64_u64":      &l.quantizeF64U64,
		"emu_dequantize_u32_f32":    &l.dequantizeU32F32,
		"emu_dequantize_u32_f64":    &l.dequantizeU32F64,
		"emu_dequantize_u64_f32":    &l.dequantizeU64F32,
		"emu_dequantize_u64_f64":    &l.dequantizeU64F64,
	} {
		sym, err := purego.Dlsym(h, name)
		if err != nil {
			return nil, &buildError{fmt.Errorf("looking up %s: %w", name, err)}
		}
		purego.RegisterFunc(fn, sym)
	}
	return l, nil
}

// buildError marks a failure to build or load the emulation that must fail
// the tests rather than skip them.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// emu returns the emulated kernels, or skips (or fails) the test with the
// reason they are unavailable.
func emu(t *testing.T) *emuLib {
	t.Helper()
	if libErr != nil {
		var be *buildError
		if errors.As(libErr, &be) || os.Getenv("COHORT_REQUIRE_EMU") == "1" {
			t.Fatalf("kernel emulation unavailable: %v", libErr)
		}
		t.Skipf("kernel emulation unavailable: %v", libErr)
	}
	return lib
}

// cpuRef returns the generic CPU backend the kernels are compared with.
func cpuRef(t *testing.T) *tensor.CPU {
	t.Helper()
	cpu, shutdown, err := tensor.NewCPU(tensor.CPUConfig{Generic: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shutdown)
	return cpu
}

// newRand returns a freshly seeded generator and logs its seed so that a
// failure can be reproduced.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	s1, s2 := rand.Uint64(), rand.Uint64()
	t.Logf("random seed %#x %#x", s1, s2)
	return rand.New(rand.NewPCG(s1, s2))
}

var sizes = []int{0, 1, 3, 4, 5, 255, 256, 257, 1000, 65537}

// geometry is a launch configuration: grid blocks of block threads.
type geometry struct{ grid, block uint32 }

func (g geometry) String() string { return fmt.Sprintf("%dx%d", g.grid, g.block) }

// geometries returns the launch configurations a kernel with items units of
// work (elements or AES blocks) is run with: one thread, a few odd-sized
// blocks (so that every thread strides), and one thread per item.
func geometries(items int) []geometry {
	const threads = 64
	return []geometry{{1, 1}, {3, 7}, {uint32(max(1, (items+threads-1)/threads)), threads}}
}

// guard is how many poisoned words follow every output so that a write past
// the end is caught.
const guard = 9

const (
	poison32 = 0xa5a5a5a5
	poison64 = 0xa5a5a5a5a5a5a5a5
)

// ptr returns the address of the first element of s (nil for a nil slice).
func ptr[T any](s []T) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }

// poisoned returns a slice of n+guard words, all of them p.
func poisoned[T any](n int, p T) []T {
	s := make([]T, n+guard)
	for i := range s {
		s[i] = p
	}
	return s
}

// checkEqual reports the first difference between got[:len(want)] and want,
// and any guard word after it that is not p.
func checkEqual[T comparable](t *testing.T, what string, got, want []T, p T) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d of %d is %#v, want %#v", what, i, len(want), got[i], want[i])
		}
	}
	for i := len(want); i < len(got); i++ {
		if got[i] != p {
			t.Fatalf("%s: wrote %#v past the end, at element %d of %d", what, got[i], i, len(want))
		}
	}
}

func randU32s(r *rand.Rand, n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = r.Uint32()
	}
	return s
}

func randU64s(r *rand.Rand, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = r.Uint64()
	}
	return s
}

func randSeed(r *rand.Rand) *tensor.Seed {
	var s tensor.Seed
	for i := range s {
		s[i] = byte(r.Uint32())
	}
	return &s
}

// maskKey returns the expanded mask key of seed.
func maskKey(seed *tensor.Seed, label string) *[44]uint32 {
	k := aesctr.DeriveKey((*[32]byte)(seed), label)
	w := aesctr.RoundKeyWords(&k)
	return &w
}

// Mask-stream vectors (docs/wire/mask-stream.md §5).

type vectorFile struct {
	Vectors []struct {
		Name    string   `json:"name"`
		Seed    string   `json:"seed"`
		Label   string   `json:"label"`
		Key     string   `json:"key"`
		Counter string   `json:"counter"`
		U32     []string `json:"u32"`
		U64     []string `json:"u64"`
	} `json:"vectors"`
}

func TestAESCTRVectors(t *testing.T) {
	l := emu(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "maskstream", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	counters := map[uint64]bool{}
	for _, v := range vf.Vectors {
		var seed tensor.Seed
		var key [16]byte
		if _, err := hex.Decode(seed[:], []byte(v.Seed)); err != nil {
			t.Fatalf("%s: seed: %v", v.Name, err)
		}
		if _, err := hex.Decode(key[:], []byte(v.Key)); err != nil {
			t.Fatalf("%s: key: %v", v.Name, err)
		}
		if got := aesctr.DeriveKey((*[32]byte)(&seed), v.Label); got != key {
			t.Fatalf("%s: derived key %x, want %x", v.Name, got, key)
		}
		ctr, err := strconv.ParseUint(v.Counter, 10, 64)
		if err != nil {
			t.Fatalf("%s: counter: %v", v.Name, err)
		}
		counters[ctr] = true
		w := aesctr.RoundKeyWords(&key)
		want32 := make([]uint32, len(v.U32))
		for i, s := range v.U32 {
			x, err := strconv.ParseUint(s, 16, 32)
			if err != nil {
				t.Fatalf("%s: u32[%d]: %v", v.Name, i, err)
			}
			want32[i] = uint32(x)
		}
		want64 := make([]uint64, len(v.U64))
		for i, s := range v.U64 {
			x, err := strconv.ParseUint(s, 16, 64)
			if err != nil {
				t.Fatalf("%s: u64[%d]: %v", v.Name, i, err)
			}
			want64[i] = x
		}
		for _, g := range geometries(len(want32) / 4) {
			dst := poisoned(len(want32), uint32(poison32))
			l.aesExpandU32(ptr(dst), uint64(len(want32)), ptr(w[:]), 0, ctr, g.grid, g.block)
			checkEqual(t, v.Name+" u32 "+g.String(), dst, want32, poison32)
			dst64 := poisoned(len(want64), uint64(poison64))
			l.aesExpandU64(ptr(dst64), uint64(len(want64)), ptr(w[:]), 0, ctr, g.grid, g.block)
			checkEqual(t, v.Name+" u64 "+g.String(), dst64, want64, poison64)
		}
	}
	for _, c := range []uint64{0, 1000003, 1<<32 - 2, 1<<64 - 2} {
		if !counters[c] {
			t.Errorf("vectors.json has no vector at counter %d", c)
		}
	}
}

// TestAESCTRBackend compares the fused mask kernels with the CPU backend
// (whole streams, counter 0).
func TestAESCTRBackend(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, n := range sizes {
		seed := randSeed(r)
		w := maskKey(seed, aesctr.LabelMask)

		want32 := make([]uint32, n)
		cpu.ExpandU32(want32, seed)
		in32 := randU32s(r, n)
		wantAdd32, wantSub32 := append([]uint32(nil), in32...), append([]uint32(nil), in32...)
		cpu.ExpandAddU32(wantAdd32, seed)
		cpu.ExpandSubU32(wantSub32, seed)

		want64 := make([]uint64, n)
		cpu.ExpandU64(want64, seed)
		in64 := randU64s(r, n)
		wantAdd64, wantSub64 := append([]uint64(nil), in64...), append([]uint64(nil), in64...)
		cpu.ExpandAddU64(wantAdd64, seed)
		cpu.ExpandSubU64(wantSub64, seed)

		for _, g := range geometries((n + 3) / 4) {
			name := fmt.Sprintf("n=%d %v", n, g)
			dst := poisoned(n, uint32(poison32))
			l.aesExpandU32(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandU32 "+name, dst, want32, poison32)
			dst = append(append([]uint32(nil), in32...), poisoned(0, uint32(poison32))...)
			l.aesExpandAddU32(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandAddU32 "+name, dst, wantAdd32, poison32)
			dst = append(append([]uint32(nil), in32...), poisoned(0, uint32(poison32))...)
			l.aesExpandSubU32(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandSubU32 "+name, dst, wantSub32, poison32)
		}
		for _, g := range geometries((n + 1) / 2) {
			name := fmt.Sprintf("n=%d %v", n, g)
			dst := poisoned(n, uint64(poison64))
			l.aesExpandU64(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandU64 "+name, dst, want64, poison64)
			dst = append(append([]uint64(nil), in64...), poisoned(0, uint64(poison64))...)
			l.aesExpandAddU64(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandAddU64 "+name, dst, wantAdd64, poison64)
			dst = append(append([]uint64(nil), in64...), poisoned(0, uint64(poison64))...)
			l.aesExpandSubU64(ptr(dst), uint64(n), ptr(w[:]), 0, 0, g.grid, g.block)
			checkEqual(t, "ExpandSubU64 "+name, dst, wantSub64, poison64)
		}
	}
}

// TestAESCTRAccumulate checks the many-key kernels against the CPU
// backend's ExpandAdd and ExpandSub applied one seed at a time: the first
// nadd keys added, the rest subtracted.
func TestAESCTRAccumulate(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, n := range []int{0, 1, 3, 4, 5, 257, 1000, 4099} {
		for _, c := range []struct{ nadd, nkeys int }{{0, 0}, {1, 1}, {0, 1}, {2, 5}, {5, 5}, {0, 3}, {7, 16}} {
			seeds := make([]*tensor.Seed, c.nkeys)
			keys := make([]uint32, 0, 44*c.nkeys)
			for i := range seeds {
				seeds[i] = randSeed(r)
				keys = append(keys, maskKey(seeds[i], aesctr.LabelMask)[:]...)
			}
			in32, in64 := randU32s(r, n), randU64s(r, n)
			want32, want64 := slices.Clone(in32), slices.Clone(in64)
			for i, seed := range seeds {
				if i < c.nadd {
					cpu.ExpandAddU32(want32, seed)
					cpu.ExpandAddU64(want64, seed)
				} else {
					cpu.ExpandSubU32(want32, seed)
					cpu.ExpandSubU64(want64, seed)
				}
			}
			keysPtr := unsafe.Pointer(nil)
			if len(keys) > 0 {
				keysPtr = ptr(keys)
			}
			for _, g := range geometries((n + 3) / 4) {
				name := fmt.Sprintf("AccumulateU32 n=%d add %d of %d keys %v", n, c.nadd, c.nkeys, g)
				dst := append(slices.Clone(in32), poisoned(0, uint32(poison32))...)
				l.aesAccumulateU32(ptr(dst), uint64(n), keysPtr, uint32(c.nadd), uint32(c.nkeys), g.grid, g.block)
				checkEqual(t, name, dst, want32, poison32)
			}
			for _, g := range geometries((n + 1) / 2) {
				name := fmt.Sprintf("AccumulateU64 n=%d add %d of %d keys %v", n, c.nadd, c.nkeys, g)
				dst := append(slices.Clone(in64), poisoned(0, uint64(poison64))...)
				l.aesAccumulateU64(ptr(dst), uint64(n), keysPtr, uint32(c.nadd), uint32(c.nkeys), g.grid, g.block)
				checkEqual(t, name, dst, want64, poison64)
			}
		}
	}
}

// TestAESExpandKeys checks the device key expansion against
// aesctr.RoundKeyWords (itself checked against FIPS-197 A.1), for random keys
// and the all-zero and all-ones keys.
func TestAESExpandKeys(t *testing.T) {
	l := emu(t)
	r := newRand(t)
	for _, nkeys := range []int{1, 2, 33, 300} {
		raw := make([]byte, 16*nkeys)
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		if nkeys == 2 {
			clear(raw[:16])
			for i := 16; i < 32; i++ {
				raw[i] = 0xff
			}
		}
		var want []uint32
		for s := range nkeys {
			w := aesctr.RoundKeyWords((*[aesctr.KeySize]byte)(raw[16*s:]))
			want = append(want, w[:]...)
		}
		for _, g := range geometries(nkeys) {
			out := poisoned(44*nkeys, uint32(poison32))
			l.aesExpandKeys(ptr(out), ptr(raw), uint32(nkeys), g.grid, g.block)
			checkEqual(t, fmt.Sprintf("expand %d keys %v", nkeys, g), out, want, poison32)
		}
	}
}

// TestAESCTRCounters checks chunks that start at a nonzero 128-bit counter,
// with the carries between its 32- and 64-bit limbs, against crypto/aes in
// counter mode.
func TestAESCTRCounters(t *testing.T) {
	l := emu(t)
	r := newRand(t)
	const n = 1001 // 250 full blocks of uint32 words and a partial one
	for _, c := range []struct{ hi, lo uint64 }{
		{0, 1000003}, {0, 1<<32 - 2}, {0, 1<<64 - 2}, {0, 1<<64 - 100}, {1, 0}, {0xfffffffe, 1<<64 - 7},
		{1<<64 - 1, 1<<64 - 200}, // wraps modulo 2^128
	} {
		seed := randSeed(r)
		key := aesctr.DeriveKey((*[32]byte)(seed), aesctr.LabelMask)
		w := aesctr.RoundKeyWords(&key)
		block, err := aes.NewCipher(key[:])
		if err != nil {
			t.Fatal(err)
		}
		var iv [16]byte
		binary.BigEndian.PutUint64(iv[:8], c.hi)
		binary.BigEndian.PutUint64(iv[8:], c.lo)
		ks := make([]byte, 8*n)
		cipher.NewCTR(block, iv[:]).XORKeyStream(ks, ks)
		want32 := make([]uint32, n)
		for i := range want32 {
			want32[i] = binary.LittleEndian.Uint32(ks[4*i:])
		}
		want64 := make([]uint64, n)
		for i := range want64 {
			want64[i] = binary.LittleEndian.Uint64(ks[8*i:])
		}
		for _, g := range geometries((n + 3) / 4) {
			name := fmt.Sprintf("ctr=%#x:%#x %v", c.hi, c.lo, g)
			dst := poisoned(n, uint32(poison32))
			l.aesExpandU32(ptr(dst), n, ptr(w[:]), c.hi, c.lo, g.grid, g.block)
			checkEqual(t, "u32 "+name, dst, want32, poison32)
			dst64 := poisoned(n, uint64(poison64))
			l.aesExpandU64(ptr(dst64), n, ptr(w[:]), c.hi, c.lo, g.grid, g.block)
			checkEqual(t, "u64 "+name, dst64, want64, poison64)
		}
	}
}

func TestRing(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, n := range sizes {
		a32, b32, s32 := randU32s(r, n), randU32s(r, n), r.Uint32()
		a64, b64, s64 := randU64s(r, n), randU64s(r, n), r.Uint64()
		want := func(f func([]uint32)) []uint32 { d := make([]uint32, n); f(d); return d }
		want64 := func(f func([]uint64)) []uint64 { d := make([]uint64, n); f(d); return d }
		add32 := want(func(d []uint32) { cpu.AddU32(d, a32, b32) })
		sub32 := want(func(d []uint32) { cpu.SubU32(d, a32, b32) })
		neg32 := want(func(d []uint32) { cpu.NegU32(d, a32) })
		adds32 := want(func(d []uint32) { cpu.AddScalarU32(d, a32, s32) })
		add64 := want64(func(d []uint64) { cpu.AddU64(d, a64, b64) })
		sub64 := want64(func(d []uint64) { cpu.SubU64(d, a64, b64) })
		neg64 := want64(func(d []uint64) { cpu.NegU64(d, a64) })
		adds64 := want64(func(d []uint64) { cpu.AddScalarU64(d, a64, s64) })
		for _, g := range geometries(n) {
			name := fmt.Sprintf("n=%d %v", n, g)
			run32 := func(op string, want []uint32, f func(dst unsafe.Pointer)) {
				dst := poisoned(n, uint32(poison32))
				f(ptr(dst))
				checkEqual(t, op+" "+name, dst, want, poison32)
			}
			run64 := func(op string, want []uint64, f func(dst unsafe.Pointer)) {
				dst := poisoned(n, uint64(poison64))
				f(ptr(dst))
				checkEqual(t, op+" "+name, dst, want, poison64)
			}
			N := uint64(n)
			run32("AddU32", add32, func(d unsafe.Pointer) { l.addU32(d, ptr(a32), ptr(b32), N, g.grid, g.block) })
			run32("SubU32", sub32, func(d unsafe.Pointer) { l.subU32(d, ptr(a32), ptr(b32), N, g.grid, g.block) })
			run32("NegU32", neg32, func(d unsafe.Pointer) { l.negU32(d, ptr(a32), N, g.grid, g.block) })
			run32("AddScalarU32", adds32, func(d unsafe.Pointer) { l.addScalarU32(d, ptr(a32), s32, N, g.grid, g.block) })
			run64("AddU64", add64, func(d unsafe.Pointer) { l.addU64(d, ptr(a64), ptr(b64), N, g.grid, g.block) })
			run64("SubU64", sub64, func(d unsafe.Pointer) { l.subU64(d, ptr(a64), ptr(b64), N, g.grid, g.block) })
			run64("NegU64", neg64, func(d unsafe.Pointer) { l.negU64(d, ptr(a64), N, g.grid, g.block) })
			run64("AddScalarU64", adds64, func(d unsafe.Pointer) { l.addScalarU64(d, ptr(a64), s64, N, g.grid, g.block) })

			// dst aliasing an input: b = a - b in place.
			d32 := append(append([]uint32(nil), b32...), poisoned(0, uint32(poison32))...)
			l.subU32(ptr(d32), ptr(a32), ptr(d32), N, g.grid, g.block)
			checkEqual(t, "SubU32 in place "+name, d32, sub32, poison32)
			d64 := append(append([]uint64(nil), b64...), poisoned(0, uint64(poison64))...)
			l.subU64(ptr(d64), ptr(a64), ptr(d64), N, g.grid, g.block)
			checkEqual(t, "SubU64 in place "+name, d64, sub64, poison64)
		}
	}
}

func TestSum(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, n := range sizes {
		for _, nvec := range []int{0, 1, 2, 5, 17} {
			flat32, flat64 := randU32s(r, nvec*n), randU64s(r, nvec*n)
			vs32, vs64 := make([][]uint32, nvec), make([][]uint64, nvec)
			for k := range nvec {
				vs32[k], vs64[k] = flat32[k*n:(k+1)*n], flat64[k*n:(k+1)*n]
			}
			want32, want64 := make([]uint32, n), make([]uint64, n)
			cpu.SumU32(want32, vs32...)
			cpu.SumU64(want64, vs64...)
			for _, g := range geometries(n) {
				name := fmt.Sprintf("n=%d nvec=%d %v", n, nvec, g)
				dst := poisoned(n, uint32(poison32))
				if rc := l.sumU32(ptr(dst), ptr(flat32), int32(nvec), uint64(n), g.grid, g.block); rc != 0 {
					t.Fatalf("SumU32 %s: driver returned %d", name, rc)
				}
				checkEqual(t, "SumU32 "+name, dst, want32, poison32)
				dst64 := poisoned(n, uint64(poison64))
				if rc := l.sumU64(ptr(dst64), ptr(flat64), int32(nvec), uint64(n), g.grid, g.block); rc != 0 {
					t.Fatalf("SumU64 %s: driver returned %d", name, rc)
				}
				checkEqual(t, "SumU64 "+name, dst64, want64, poison64)
				if nvec >= 2 && n > 0 {
					// dst aliasing the last input.
					in32, in64 := append([]uint32(nil), flat32...), append([]uint64(nil), flat64...)
					last := (nvec - 1) * n
					l.sumU32(ptr(in32[last:]), ptr(in32), int32(nvec), uint64(n), g.grid, g.block)
					l.sumU64(ptr(in64[last:]), ptr(in64), int32(nvec), uint64(n), g.grid, g.block)
					checkEqual(t, "SumU32 into an input "+name, in32[last:], want32, 0)
					checkEqual(t, "SumU64 into an input "+name, in64[last:], want64, 0)
				}
			}
		}
	}
}

// barrett returns the host-side constants of the cohort_mod_mul kernel:
// k = bitlen(q) and mu = floor(2^(2k)/q).
func barrett(q uint64) (mu uint64, k uint32) {
	k = uint32(bits.Len64(q))
	var hi, lo uint64
	if 2*k >= 64 {
		hi = 1 << (2*k - 64)
	} else {
		lo = 1 << (2 * k)
	}
	mu, _ = bits.Div64(hi, lo, q)
	return mu, k
}

func TestModQ(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	moduli := []uint64{2, 3, 12289, 65537, 1<<32 + 15, 0xffffffff00000001 >> 2, 1<<61 - 1, 1<<62 - 57, 1<<62 - 1,
		r.Uint64N(1<<40) | 1<<39, r.Uint64N(1<<62-2) + 2}
	for _, q := range moduli {
		m, err := tensor.NewModulus(q)
		if err != nil {
			t.Fatalf("q = %d: %v", q, err)
		}
		mu, k := barrett(q)
		for _, n := range sizes {
			a, b := make([]uint64, n), make([]uint64, n)
			for i := range a {
				a[i], b[i] = r.Uint64N(q), r.Uint64N(q)
			}
			// Extremes at the start.
			edge := []uint64{0, q - 1, q - 1, 0, q - 1, q / 2}
			for i := 0; i < n && i < len(edge); i++ {
				a[i], b[i] = edge[i], edge[len(edge)-1-i]
			}
			s := r.Uint64N(q)
			sp, _ := bits.Div64(s, 0, q)
			wantAdd, wantSub, wantMul, wantMulS := make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
			cpu.ModAdd(m, wantAdd, a, b)
			cpu.ModSub(m, wantSub, a, b)
			cpu.ModMul(m, wantMul, a, b)
			cpu.ModMulScalar(m, wantMulS, a, s)
			for _, g := range geometries(n) {
				name := fmt.Sprintf("q=%d n=%d %v", q, n, g)
				N := uint64(n)
				dst := poisoned(n, uint64(poison64))
				l.modAdd(ptr(dst), ptr(a), ptr(b), N, q, g.grid, g.block)
				checkEqual(t, "ModAdd "+name, dst, wantAdd, poison64)
				dst = poisoned(n, uint64(poison64))
				l.modSub(ptr(dst), ptr(a), ptr(b), N, q, g.grid, g.block)
				checkEqual(t, "ModSub "+name, dst, wantSub, poison64)
				dst = poisoned(n, uint64(poison64))
				l.modMul(ptr(dst), ptr(a), ptr(b), N, q, mu, k, g.grid, g.block)
				checkEqual(t, "ModMul "+name, dst, wantMul, poison64)
				dst = poisoned(n, uint64(poison64))
				l.modMulScalar(ptr(dst), ptr(a), N, q, s, sp, g.grid, g.block)
				checkEqual(t, "ModMulScalar "+name, dst, wantMulS, poison64)
			}
		}
	}
}

// quantParams returns the kernel parameters lo, scale and max of fp, computed
// as tensor.NewFixedPoint computes them.
func quantParams(fp *tensor.FixedPoint) (lo, scale, max float64) {
	levels := float64(uint64(1)<<fp.Bits() - 1)
	return fp.Lo(), levels / (fp.Hi() - fp.Lo()), levels
}

// fixedPoints returns the parameter sets the quantisation kernels are tested
// with.
func fixedPoints(t *testing.T, ringBits int) []*tensor.FixedPoint {
	t.Helper()
	var lits []tensor.FixedPointLiteral
	if ringBits == 32 {
		lits = []tensor.FixedPointLiteral{
			{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000},
			{RingBits: 32, Lo: -3.25, Hi: 1e3, MaxSummands: 2, Bits: 31},
			{RingBits: 32, Lo: 0, Hi: 1e-30, MaxSummands: 100, Bits: 1},
			{RingBits: 32, Lo: -0.1, Hi: 0.1, MaxSummands: 1 << 16, Bits: 8},
		}
	} else {
		lits = []tensor.FixedPointLiteral{
			{RingBits: 64, Lo: -1, Hi: 1, MaxSummands: 1000},
			{RingBits: 64, Lo: -1e6, Hi: 5e5, MaxSummands: 1, Bits: 52},
			{RingBits: 64, Lo: -2, Hi: -1, MaxSummands: 1 << 20, Bits: 20},
		}
	}
	var fps []*tensor.FixedPoint
	for _, lit := range lits {
		fp, err := tensor.NewFixedPoint(lit)
		if err != nil {
			t.Fatalf("%+v: %v", lit, err)
		}
		fps = append(fps, fp)
	}
	return fps
}

// randFloats returns n float64 values around [lo, hi], a tenth of them
// special (NaN, infinities, zeros of both signs, subnormals, the bounds and
// values just outside them).
func randFloats(r *rand.Rand, n int, lo, hi float64) []float64 {
	special := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 5e-324, -5e-324,
		math.SmallestNonzeroFloat32, lo, hi, math.Nextafter(lo, math.Inf(-1)), math.Nextafter(hi, math.Inf(1)),
		math.MaxFloat64, -math.MaxFloat64, 1e300, -1e300}
	s := make([]float64, n)
	for i := range s {
		if r.IntN(10) == 0 {
			s[i] = special[r.IntN(len(special))]
		} else {
			w := hi - lo
			s[i] = lo - w/8 + r.Float64()*w*1.25
		}
	}
	return s
}

func TestQuantize(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, ringBits := range []int{32, 64} {
		for _, fp := range fixedPoints(t, ringBits) {
			lo, scale, max := quantParams(fp)
			for _, n := range sizes {
				seed := randSeed(r)
				w := maskKey(seed, aesctr.LabelRounding)
				f64 := randFloats(r, n, fp.Lo(), fp.Hi())
				f32 := make([]float32, n)
				for i, x := range f64 {
					f32[i] = float32(x)
				}
				N := uint64(n)
				for _, g := range geometries((n + 3) / 4) {
					name := fmt.Sprintf("%+v n=%d %v", fp.Literal(), n, g)
					if ringBits == 32 {
						want := make([]uint32, n)
						cpu.QuantizeF32U32(fp, want, f32, seed)
						dst := poisoned(n, uint32(poison32))
						l.quantizeF32U32(ptr(dst), ptr(f32), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF32U32 "+name, dst, want, poison32)

						// In place: dst over the memory of src.
						inPlace := append(append([]float32(nil), f32...), make([]float32, guard)...)
						l.quantizeF32U32(ptr(inPlace), ptr(inPlace), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF32U32 in place "+name, unsafe.Slice((*uint32)(ptr(inPlace)), n+guard), want, 0)

						cpu.QuantizeF64U32(fp, want, f64, seed)
						dst = poisoned(n, uint32(poison32))
						l.quantizeF64U32(ptr(dst), ptr(f64), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF64U32 "+name, dst, want, poison32)
					} else {
						want := make([]uint64, n)
						cpu.QuantizeF32U64(fp, want, f32, seed)
						dst := poisoned(n, uint64(poison64))
						l.quantizeF32U64(ptr(dst), ptr(f32), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF32U64 "+name, dst, want, poison64)

						cpu.QuantizeF64U64(fp, want, f64, seed)
						dst = poisoned(n, uint64(poison64))
						l.quantizeF64U64(ptr(dst), ptr(f64), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF64U64 "+name, dst, want, poison64)

						inPlace := append(append([]float64(nil), f64...), make([]float64, guard)...)
						l.quantizeF64U64(ptr(inPlace), ptr(inPlace), N, ptr(w[:]), 0, 0, lo, scale, max, g.grid, g.block)
						checkEqual(t, "QuantizeF64U64 in place "+name, unsafe.Slice((*uint64)(ptr(inPlace)), n+guard), want, 0)
					}
				}
			}
		}
	}
}

// TestQuantizeChunk checks that a chunk starting at element 4c, launched
// with counter c, quantises like the same elements of the whole vector.
func TestQuantizeChunk(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	fp := fixedPoints(t, 32)[0]
	lo, scale, max := quantParams(fp)
	const n, start = 3001, 1024
	seed := randSeed(r)
	w := maskKey(seed, aesctr.LabelRounding)
	src := make([]float32, n)
	for i, x := range randFloats(r, n, fp.Lo(), fp.Hi()) {
		src[i] = float32(x)
	}
	want := make([]uint32, n)
	cpu.QuantizeF32U32(fp, want, src, seed)
	dst := poisoned(n-start, uint32(poison32))
	l.quantizeF32U32(ptr(dst), ptr(src[start:]), n-start, ptr(w[:]), 0, start/4, lo, scale, max, 5, 32)
	checkEqual(t, "QuantizeF32U32 chunk", dst, want[start:], poison32)
}

func TestDequantize(t *testing.T) {
	l := emu(t)
	cpu := cpuRef(t)
	r := newRand(t)
	for _, ringBits := range []int{32, 64} {
		for _, fp := range fixedPoints(t, ringBits) {
			for _, n := range sizes {
				count := 1 + r.IntN(fp.MaxSummands())
				if r.IntN(3) == 0 {
					count = fp.MaxSummands()
				}
				step, offset := fp.Step(), float64(count)*fp.Lo()
				N := uint64(n)
				for _, g := range geometries(n) {
					name := fmt.Sprintf("%+v n=%d count=%d %v", fp.Literal(), n, count, g)
					want32, want64 := make([]float32, n), make([]float64, n)
					got32, got64 := poisoned(n, float32(-1.5)), poisoned(n, -1.5)
					if ringBits == 32 {
						sum := randU32s(r, n)
						if err := cpu.DequantizeU32F32(fp, want32, sum, count); err != nil {
							t.Fatal(err)
						}
						if err := cpu.DequantizeU32F64(fp, want64, sum, count); err != nil {
							t.Fatal(err)
						}
						l.dequantizeU32F32(ptr(got32), ptr(sum), N, step, offset, g.grid, g.block)
						l.dequantizeU32F64(ptr(got64), ptr(sum), N, step, offset, g.grid, g.block)
					} else {
						sum := randU64s(r, n)
						for i := range sum {
							// Keep some sums within reach of the rounding
							// of the uint64 conversion's low bits.
							if i%2 == 0 {
								sum[i] >>= r.UintN(64)
							}
						}
						if err := cpu.DequantizeU64F32(fp, want32, sum, count); err != nil {
							t.Fatal(err)
						}
						if err := cpu.DequantizeU64F64(fp, want64, sum, count); err != nil {
							t.Fatal(err)
						}
						l.dequantizeU64F32(ptr(got32), ptr(sum), N, step, offset, g.grid, g.block)
						l.dequantizeU64F64(ptr(got64), ptr(sum), N, step, offset, g.grid, g.block)
					}
					checkEqual(t, "Dequantize to float32 "+name, f32Bits(got32), f32Bits(want32), math.Float32bits(-1.5))
					checkEqual(t, "Dequantize to float64 "+name, f64Bits(got64), f64Bits(want64), math.Float64bits(-1.5))
				}
			}
		}
	}
}

func f32Bits(s []float32) []uint32 {
	b := make([]uint32, len(s))
	for i, x := range s {
		b[i] = math.Float32bits(x)
	}
	return b
}

func f64Bits(s []float64) []uint64 {
	b := make([]uint64, len(s))
	for i, x := range s {
		b[i] = math.Float64bits(x)
	}
	return b
}

// TestSourcesCompileAsCXX checks that the kernel sources, with the
// emulation header, are also valid C++ (nvcc compiles .cu files as C++).
func TestSourcesCompileAsCXX(t *testing.T) {
	emu(t)
	cxx, err := exec.LookPath("c++")
	if err != nil {
		t.Skipf("no C++ compiler: %v", err)
	}
	cmd := exec.Command(cxx, "-x", "c++", "-std=c++17", "-Wall", "-Wextra", "-fsyntax-only", filepath.Join("emu", "driver.c"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}
