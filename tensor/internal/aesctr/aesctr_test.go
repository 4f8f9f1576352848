package aesctr

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// refKeystream returns n bytes of AES-128-CTR keystream starting at block
// ctr, computed independently of the kernels with crypto/aes and
// cipher.NewCTR (zero IV advanced to BE128(ctr)).
func refKeystream(t testing.TB, key *[KeySize]byte, ctr uint64, n int) []byte {
	t.Helper()
	b, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	var iv [16]byte
	binary.BigEndian.PutUint64(iv[8:], ctr)
	ks := make([]byte, n)
	cipher.NewCTR(b, iv[:]).XORKeyStream(ks, ks)
	return ks
}

func refWords32(ks []byte) []uint32 {
	w := make([]uint32, len(ks)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(ks[4*i:])
	}
	return w
}

func refWords64(ks []byte) []uint64 {
	w := make([]uint64, len(ks)/8)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(ks[8*i:])
	}
	return w
}

// kernelSets returns Generic followed by every native variant of this
// machine.
func kernelSets() []Kernels {
	return append([]Kernels{Generic()}, variants()...)
}

func schedule(k Kernels, key *[KeySize]byte) *Schedule {
	s := new(Schedule)
	k.Init(s, key)
	return s
}

func TestNativeSelection(t *testing.T) {
	n, ok := Native()
	vs := variants()
	if ok != (len(vs) > 0) {
		t.Fatalf("Native ok=%v but %d variants", ok, len(vs))
	}
	if ok && n.Name != vs[0].Name {
		t.Fatalf("Native = %q, want best variant %q", n.Name, vs[0].Name)
	}
	if !ok && n.Name != "generic" {
		t.Fatalf("Native fallback = %q, want generic", n.Name)
	}
	names := []string{}
	for _, k := range kernelSets() {
		names = append(names, k.Name)
	}
	t.Logf("kernel sets tested: %v", names)
}

const maxLen = 1024

// checkOps runs all six kernels of k on every length 0..maxLen starting at
// counter ctr and compares them against the reference keystream. dst is a
// window of a larger buffer at a varying (unaligned) offset, and the words
// around the window must stay untouched. It returns the outputs of all runs
// concatenated, for bit-for-bit comparison between kernel sets.
func checkOps(t *testing.T, k Kernels, key *[KeySize]byte, ctr uint64, lengths []int, fill func(r *rand.Rand, n int) []uint64) []uint64 {
	t.Helper()
	s := schedule(k, key)
	maxN := slices.Max(lengths)
	ks := refKeystream(t, key, ctr, 8*maxN)
	w32, w64 := refWords32(ks[:4*maxN]), refWords64(ks)
	r := rand.New(rand.NewPCG(ctr, uint64(maxN)))
	var out []uint64
	const guard = 70
	for _, n := range lengths {
		off := n % 5
		in := fill(r, n)

		// 32-bit kernels.
		for _, o := range []op{opStore, opAdd, opSub} {
			buf := make([]uint32, off+n+guard)
			for i := range buf {
				buf[i] = 0xdeadbeef
			}
			dst := buf[off : off+n]
			for i := range dst {
				dst[i] = uint32(in[i])
			}
			switch o {
			case opStore:
				k.Expand32(dst, s, ctr)
			case opAdd:
				k.ExpandAdd32(dst, s, ctr)
			case opSub:
				k.ExpandSub32(dst, s, ctr)
			}
			for i := range dst {
				want := w32[i]
				switch o {
				case opAdd:
					want = uint32(in[i]) + w32[i]
				case opSub:
					want = uint32(in[i]) - w32[i]
				}
				if dst[i] != want {
					t.Fatalf("%s op%d 32-bit ctr=%d len=%d: word %d = %#x, want %#x", k.Name, o, ctr, n, i, dst[i], want)
				}
			}
			for i, v := range buf {
				if (i < off || i >= off+n) && v != 0xdeadbeef {
					t.Fatalf("%s op%d 32-bit ctr=%d len=%d: wrote outside dst at %d", k.Name, o, ctr, n, i-off)
				}
			}
			for _, v := range dst {
				out = append(out, uint64(v))
			}
		}

		// 64-bit kernels.
		for _, o := range []op{opStore, opAdd, opSub} {
			buf := make([]uint64, off+n+guard)
			for i := range buf {
				buf[i] = 0xdeadbeefcafef00d
			}
			dst := buf[off : off+n]
			copy(dst, in)
			switch o {
			case opStore:
				k.Expand64(dst, s, ctr)
			case opAdd:
				k.ExpandAdd64(dst, s, ctr)
			case opSub:
				k.ExpandSub64(dst, s, ctr)
			}
			for i := range dst {
				want := w64[i]
				switch o {
				case opAdd:
					want = in[i] + w64[i]
				case opSub:
					want = in[i] - w64[i]
				}
				if dst[i] != want {
					t.Fatalf("%s op%d 64-bit ctr=%d len=%d: word %d = %#x, want %#x", k.Name, o, ctr, n, i, dst[i], want)
				}
			}
			for i, v := range buf {
				if (i < off || i >= off+n) && v != 0xdeadbeefcafef00d {
					t.Fatalf("%s op%d 64-bit ctr=%d len=%d: wrote outside dst at %d", k.Name, o, ctr, n, i-off)
				}
			}
			out = append(out, dst...)
		}
	}
	return out
}

func randomFill(r *rand.Rand, n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		v[i] = r.Uint64()
	}
	return v
}

// edgeFill cycles through 0, 1, 2^w-1 (both widths) and random values.
func edgeFill(r *rand.Rand, n int) []uint64 {
	edges := []uint64{0, 1, 1<<32 - 1, 1<<64 - 1, 1 << 31, 1 << 63, 2, 1<<32 - 2, 1<<64 - 2}
	v := make([]uint64, n)
	for i := range v {
		if i%3 == 2 {
			v[i] = r.Uint64()
		} else {
			v[i] = edges[(i/3*2+i%3)%len(edges)]
		}
	}
	return v
}

func allLengths() []int {
	l := make([]int, maxLen+1)
	for i := range l {
		l[i] = i
	}
	return l
}

// TestAllLengths checks every kernel set against the reference for every
// length 0..1024, and every native set against Generic bit for bit.
func TestAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var key [KeySize]byte
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	ctrs := []uint64{0, 1 + r.Uint64N(1<<40)}
	if testing.Short() {
		ctrs = ctrs[:1]
	}
	for _, ctr := range ctrs {
		want := checkOps(t, Generic(), &key, ctr, allLengths(), randomFill)
		for _, k := range variants() {
			got := checkOps(t, k, &key, ctr, allLengths(), randomFill)
			if !slices.Equal(got, want) {
				t.Fatalf("%s differs from generic (ctr=%d)", k.Name, ctr)
			}
		}
	}
}

// TestEdgeValues runs the kernels on dst values 0, 1, 2^w-1 and neighbours.
func TestEdgeValues(t *testing.T) {
	key := [KeySize]byte{15: 1}
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000}
	want := checkOps(t, Generic(), &key, 7, lengths, edgeFill)
	for _, k := range variants() {
		if got := checkOps(t, k, &key, 7, lengths, edgeFill); !slices.Equal(got, want) {
			t.Fatalf("%s differs from generic", k.Name)
		}
	}
	// All-ones key and dst values of all ones.
	key = [KeySize]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}
	ones := func(_ *rand.Rand, n int) []uint64 {
		v := make([]uint64, n)
		for i := range v {
			v[i] = 1<<64 - 1
		}
		return v
	}
	want = checkOps(t, Generic(), &key, 0, lengths, ones)
	for _, k := range variants() {
		if got := checkOps(t, k, &key, 0, lengths, ones); !slices.Equal(got, want) {
			t.Fatalf("%s differs from generic", k.Name)
		}
	}
}

// TestCounterWrap checks the 128-bit counter carry at 2^64 and counters
// close to it.
func TestCounterWrap(t *testing.T) {
	key := [KeySize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	lengths := []int{0, 1, 3, 4, 5, 8, 9, 31, 32, 33, 63, 64, 65, 66, 127, 128, 129, 300, 520}
	for _, back := range []uint64{1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100} {
		ctr := -back
		want := checkOps(t, Generic(), &key, ctr, lengths, randomFill)
		for _, k := range variants() {
			if got := checkOps(t, k, &key, ctr, lengths, randomFill); !slices.Equal(got, want) {
				t.Fatalf("%s differs from generic (ctr=2^64-%d)", k.Name, back)
			}
		}
	}
}

// TestChunking checks that splitting a vector into chunks at multiples of a
// block, each with counter base + offset/wordsPerBlock, gives the same
// result as one call.
func TestChunking(t *testing.T) {
	key := [KeySize]byte{9: 9}
	const n = 5000
	const base = 12345
	for _, k := range kernelSets() {
		s := schedule(k, &key)
		whole32 := make([]uint32, n)
		k.Expand32(whole32, s, base)
		whole64 := make([]uint64, n)
		k.Expand64(whole64, s, base)
		r := rand.New(rand.NewPCG(3, 4))
		for trial := 0; trial < 20; trial++ {
			got32 := make([]uint32, n)
			got64 := make([]uint64, n)
			for w := 0; w < n; {
				c := min(n-w, 4*(1+r.IntN(300)))
				k.Expand32(got32[w:w+c], s, base+uint64(w/4))
				w += c
			}
			for w := 0; w < n; {
				c := min(n-w, 2*(1+r.IntN(300)))
				k.Expand64(got64[w:w+c], s, base+uint64(w/2))
				w += c
			}
			if !slices.Equal(got32, whole32) || !slices.Equal(got64, whole64) {
				t.Fatalf("%s: chunked expansion differs", k.Name)
			}
		}
		// The u32 and u64 views describe the same bytes.
		for i := range n / 2 {
			if whole64[i] != uint64(whole32[2*i])|uint64(whole32[2*i+1])<<32 {
				t.Fatalf("%s: u64 word %d inconsistent with u32 words", k.Name, i)
			}
		}
	}
}

// TestAddSubInverse checks that ExpandSub undoes ExpandAdd on large inputs
// (crossing the generic chunk size) and that masks cancel.
func TestAddSubInverse(t *testing.T) {
	key := [KeySize]byte{3: 3}
	r := rand.New(rand.NewPCG(5, 6))
	const n = 3*genericChunk/4 + 13
	orig32 := make([]uint32, n)
	orig64 := make([]uint64, n)
	for i := range orig32 {
		orig32[i] = r.Uint32()
		orig64[i] = r.Uint64()
	}
	var res [][]uint32
	for _, k := range kernelSets() {
		s := schedule(k, &key)
		d32 := slices.Clone(orig32)
		d64 := slices.Clone(orig64)
		k.ExpandAdd32(d32, s, 99)
		res = append(res, slices.Clone(d32))
		k.ExpandSub32(d32, s, 99)
		k.ExpandAdd64(d64, s, 99)
		k.ExpandSub64(d64, s, 99)
		if !slices.Equal(d32, orig32) || !slices.Equal(d64, orig64) {
			t.Fatalf("%s: Sub does not undo Add", k.Name)
		}
	}
	for i := 1; i < len(res); i++ {
		if !slices.Equal(res[i], res[0]) {
			t.Fatalf("kernel set %d differs from generic on %d words", i, n)
		}
	}
}

func TestScheduleMisuse(t *testing.T) {
	key := [KeySize]byte{}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	for _, k := range kernelSets() {
		var zero Schedule
		mustPanic(k.Name+" uninitialised", func() { k.Expand32(make([]uint32, 4), &zero, 0) })
		s := schedule(k, &key)
		s.Reset()
		mustPanic(k.Name+" after Reset", func() { k.ExpandAdd64(make([]uint64, 4), s, 0) })
		if s.rk != [176]byte{} || s.block != nil {
			t.Errorf("%s: Reset left key material", k.Name)
		}
	}
	for _, k := range variants() {
		s := schedule(Generic(), &key)
		mustPanic(k.Name+" with generic schedule", func() { k.Expand32(make([]uint32, 4), s, 0) })
		s2 := schedule(k, &key)
		mustPanic("generic with "+k.Name+" schedule", func() { Generic().Expand32(make([]uint32, 4), s2, 0) })
	}
}

// TestNativeKeyExpansion checks the assembly key schedule against FIPS-197
// appendix A.1 (cipher key 2b7e1516 28aed2a6 abf71588 09cf4f3c).
func TestNativeKeyExpansion(t *testing.T) {
	key := [KeySize]byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	for _, k := range variants() {
		s := schedule(k, &key)
		// w[40..43] = d014f9a8 c9ee2589 e13f0cc8 b6630ca6
		last := []byte{0xd0, 0x14, 0xf9, 0xa8, 0xc9, 0xee, 0x25, 0x89, 0xe1, 0x3f, 0x0c, 0xc8, 0xb6, 0x63, 0x0c, 0xa6}
		if !slices.Equal(s.rk[160:], last) {
			t.Fatalf("%s: last round key %x, want %x", k.Name, s.rk[160:], last)
		}
		// w[4..7] = a0fafe17 88542cb1 23a33939 2a6c7605
		first := []byte{0xa0, 0xfa, 0xfe, 0x17, 0x88, 0x54, 0x2c, 0xb1, 0x23, 0xa3, 0x39, 0x39, 0x2a, 0x6c, 0x76, 0x05}
		if !slices.Equal(s.rk[16:32], first) {
			t.Fatalf("%s: round key 1 %x, want %x", k.Name, s.rk[16:32], first)
		}
	}
}

// TestRandomKeys compares all kernel sets on random keys and counters.
func TestRandomKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 50; trial++ {
		var key [KeySize]byte
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		ctr := r.Uint64()
		n := r.IntN(700)
		ks := refKeystream(t, &key, ctr, 8*n)
		for _, k := range kernelSets() {
			s := schedule(k, &key)
			d := make([]uint64, n)
			k.Expand64(d, s, ctr)
			if !slices.Equal(d, refWords64(ks)) {
				t.Fatalf("%s: key %x ctr %d len %d: mismatch", k.Name, key, ctr, n)
			}
		}
	}
}

func TestNoAllocsNative(t *testing.T) {
	key := [KeySize]byte{}
	for _, k := range variants() {
		s := schedule(k, &key)
		d := make([]uint32, 1001)
		if a := testing.AllocsPerRun(10, func() { k.ExpandAdd32(d, s, 5) }); a != 0 {
			t.Errorf("%s: %v allocations per call", k.Name, a)
		}
	}
}
