package ring

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// impls returns the kernel sets under test: Generic, Native, and Streaming,
// which uses non-temporal stores at every length (the latter two equal
// Generic under purego or without AVX2).
func impls(t testing.TB) []Kernels {
	t.Helper()
	nat, ok := Native()
	if ok && nat.Name == "generic" {
		t.Fatalf("Native() = %q, true", nat.Name)
	}
	if !ok && nat.Name != "generic" {
		t.Fatalf("Native() = %q, false", nat.Name)
	}
	return []Kernels{Generic(), nat, Streaming()}
}

func maxOf[T word]() T { return ^T(0) }

// edges returns 0, 1, 2, 2^w−1, 2^w−2, 2^(w−1) and 2^(w−1)−1.
func edges[T word]() []T {
	m := maxOf[T]()
	return []T{0, 1, 2, m, m - 1, m/2 + 1, m / 2}
}

// randVec returns n random elements, about a quarter of them edge values,
// placed at a random element offset (0..7) inside a larger allocation so
// that the kernels see every alignment.
func randVec[T word](r *rand.Rand, n int) []T {
	off := r.IntN(8)
	buf := make([]T, off+n)
	v := buf[off:]
	e := edges[T]()
	for i := range v {
		if r.IntN(4) == 0 {
			v[i] = e[r.IntN(len(e))]
		} else {
			v[i] = T(r.Uint64())
		}
	}
	return v
}

// Reference implementations, written independently of the package code.

func refBinary[T word](a, b []T, sub bool) []T {
	out := make([]T, len(a))
	for i := range a {
		if sub {
			out[i] = a[i] - b[i]
		} else {
			out[i] = a[i] + b[i]
		}
	}
	return out
}

func refUnary[T word](a []T, neg bool, s T) []T {
	out := make([]T, len(a))
	for i := range a {
		if neg {
			out[i] = 0 - a[i]
		} else {
			out[i] = a[i] + s
		}
	}
	return out
}

func refSum[T word](n int, vs [][]T) []T {
	out := make([]T, n)
	for _, v := range vs {
		for i := range out {
			out[i] += v[i]
		}
	}
	return out
}

// ops returns the kernels of one width as closures over slices of T.
type ops[T word] struct {
	add, sub  func(dst, a, b []T)
	neg       func(dst, a []T)
	addScalar func(dst, a []T, s T)
	sum       func(dst []T, vs [][]T)
}

func opsOf[T word](k Kernels) ops[T] {
	var o any
	var z T
	if unsafe.Sizeof(z) == 4 {
		o = ops[uint32]{k.AddU32, k.SubU32, k.NegU32, k.AddScalarU32, k.SumU32}
	} else {
		o = ops[uint64]{k.AddU64, k.SubU64, k.NegU64, k.AddScalarU64, k.SumU64}
	}
	return o.(ops[T])
}

func TestKnownAnswers(t *testing.T) {
	for _, k := range impls(t) {
		d32 := make([]uint32, 3)
		k.AddU32(d32, []uint32{0xffffffff, 1, 0x80000000}, []uint32{1, 0xffffffff, 0x80000000})
		if !slices.Equal(d32, []uint32{0, 0, 0}) {
			t.Errorf("%s AddU32 = %#x", k.Name, d32)
		}
		k.SubU32(d32, []uint32{0, 5, 0x80000000}, []uint32{1, 7, 1})
		if !slices.Equal(d32, []uint32{0xffffffff, 0xfffffffe, 0x7fffffff}) {
			t.Errorf("%s SubU32 = %#x", k.Name, d32)
		}
		k.NegU32(d32, []uint32{0, 1, 0x80000000})
		if !slices.Equal(d32, []uint32{0, 0xffffffff, 0x80000000}) {
			t.Errorf("%s NegU32 = %#x", k.Name, d32)
		}
		k.AddScalarU32(d32, []uint32{0, 1, 0xfffffffe}, 0xffffffff)
		if !slices.Equal(d32, []uint32{0xffffffff, 0, 0xfffffffd}) {
			t.Errorf("%s AddScalarU32 = %#x", k.Name, d32)
		}
		k.SumU32(d32, [][]uint32{{0xffffffff, 1, 2}, {0xffffffff, 2, 3}, {2, 3, 0xfffffffb}})
		if !slices.Equal(d32, []uint32{0, 6, 0}) {
			t.Errorf("%s SumU32 = %#x", k.Name, d32)
		}
		const m = ^uint64(0)
		d64 := make([]uint64, 3)
		k.AddU64(d64, []uint64{m, 1, 1 << 63}, []uint64{1, m, 1 << 63})
		if !slices.Equal(d64, []uint64{0, 0, 0}) {
			t.Errorf("%s AddU64 = %#x", k.Name, d64)
		}
		k.SubU64(d64, []uint64{0, 5, 1 << 63}, []uint64{1, 7, 1})
		if !slices.Equal(d64, []uint64{m, m - 1, 1<<63 - 1}) {
			t.Errorf("%s SubU64 = %#x", k.Name, d64)
		}
		k.NegU64(d64, []uint64{0, 1, 1 << 63})
		if !slices.Equal(d64, []uint64{0, m, 1 << 63}) {
			t.Errorf("%s NegU64 = %#x", k.Name, d64)
		}
		k.AddScalarU64(d64, []uint64{0, 1, m - 1}, m)
		if !slices.Equal(d64, []uint64{m, 0, m - 2}) {
			t.Errorf("%s AddScalarU64 = %#x", k.Name, d64)
		}
		k.SumU64(d64, [][]uint64{{m, 1, 2}, {m, 2, 3}, {2, 3, m - 4}})
		if !slices.Equal(d64, []uint64{0, 6, 0}) {
			t.Errorf("%s SumU64 = %#x", k.Name, d64)
		}
	}
}

func TestStreaming(t *testing.T) {
	t.Run("U32", testStreaming[uint32])
	t.Run("U64", testStreaming[uint64])
}

// testStreaming checks Add, Sub, Neg and AddScalar on every length 0..1024,
// with dst separate and aliasing each input, against the reference.
func testStreaming[T word](t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ks := impls(t)
	for n := 0; n <= 1024; n++ {
		a, b := randVec[T](r, n), randVec[T](r, n)
		s := edges[T]()[n%len(edges[T]())]
		if n%3 == 0 {
			s = T(r.Uint64())
		}
		checkStreaming(t, ks, n, a, b, s)
	}
}

// checkStreaming runs every streaming kernel of every implementation on a
// and b (and scalar s), in each aliasing mode, and compares with the
// reference.
func checkStreaming[T word](t *testing.T, ks []Kernels, n int, a, b []T, s T) {
	t.Helper()
	wantAdd, wantSub := refBinary(a, b, false), refBinary(a, b, true)
	wantAA, wantSA := refBinary(a, a, false), refBinary(a, a, true)
	wantNeg, wantSc := refUnary(a, true, 0), refUnary(a, false, s)
	check := func(name string, k Kernels, mode string, got, want []T) {
		t.Helper()
		if !slices.Equal(got, want) {
			i := 0
			for i < n && got[i] == want[i] {
				i++
			}
			t.Fatalf("%s %s n=%d %s: first mismatch at %d: got %#x want %#x", k.Name, name, n, mode, i, got[i], want[i])
		}
	}
	for _, k := range ks {
		o := opsOf[T](k)
		for _, bin := range []struct {
			name       string
			f          func(dst, a, b []T)
			want, self []T
		}{{"Add", o.add, wantAdd, wantAA}, {"Sub", o.sub, wantSub, wantSA}} {
			dst := make([]T, n)
			bin.f(dst, a, b)
			check(bin.name, k, "separate", dst, bin.want)
			x := slices.Clone(a)
			bin.f(x, x, b)
			check(bin.name, k, "dst=a", x, bin.want)
			y := slices.Clone(b)
			bin.f(y, a, y)
			check(bin.name, k, "dst=b", y, bin.want)
			z := slices.Clone(a)
			bin.f(z, z, z)
			check(bin.name, k, "dst=a=b", z, bin.self)
			w := make([]T, n)
			bin.f(w, a, a)
			check(bin.name, k, "a=b", w, bin.self)
		}
		for _, un := range []struct {
			name string
			f    func(dst, a []T)
			want []T
		}{{"Neg", o.neg, wantNeg}, {"AddScalar", func(dst, a []T) { o.addScalar(dst, a, s) }, wantSc}} {
			dst := make([]T, n)
			un.f(dst, a)
			check(un.name, k, "separate", dst, un.want)
			x := slices.Clone(a)
			un.f(x, x)
			check(un.name, k, "dst=a", x, un.want)
		}
	}
}

// TestStreamingLarge covers the non-temporal store path of the native
// kernels (dst of at least ntMinBytes, not overlapping the inputs), with
// misaligned starts and ragged ends, and the in-place path at that size.
func TestStreamingLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large vectors")
	}
	t.Run("U32", func(t *testing.T) { testStreamingLarge[uint32](t, ntMinBytes/4) })
	t.Run("U64", func(t *testing.T) { testStreamingLarge[uint64](t, ntMinBytes/8) })
}

func testStreamingLarge[T word](t *testing.T, n0 int) {
	r := rand.New(rand.NewPCG(3, 4))
	nat, _ := Native()
	o := opsOf[T](nat)
	n := n0 + 13
	// Start a and dst 4 bytes past a 32-byte boundary, b elsewhere.
	buf := make([]T, 3*n+64)
	var z T
	base := int(uintptr(unsafe.Pointer(&buf[0]))&31) / int(unsafe.Sizeof(z))
	start := (32/int(unsafe.Sizeof(z)) - base) % (32 / int(unsafe.Sizeof(z)))
	a := buf[start+1 : start+1+n]
	dst := buf[start+n+33 : start+2*n+33]
	b := buf[start+2*n+40 : start+3*n+40]
	for i := range a {
		a[i], b[i] = T(r.Uint64()), T(r.Uint64())
	}
	s := T(r.Uint64())
	check := func(name string, ok func(i int) bool) {
		t.Helper()
		for i := range n {
			if !ok(i) {
				t.Fatalf("%s %s n=%d: mismatch at %d", nat.Name, name, n, i)
			}
		}
	}
	o.add(dst, a, b)
	check("Add", func(i int) bool { return dst[i] == a[i]+b[i] })
	o.sub(dst, a, b)
	check("Sub", func(i int) bool { return dst[i] == a[i]-b[i] })
	o.neg(dst, a)
	check("Neg", func(i int) bool { return dst[i] == 0-a[i] })
	o.addScalar(dst, a, s)
	check("AddScalar", func(i int) bool { return dst[i] == a[i]+s })
	copy(dst, a)
	o.add(dst, dst, b) // in place: regular stores
	check("Add in place", func(i int) bool { return dst[i] == a[i]+b[i] })
}

func TestSum(t *testing.T) {
	t.Run("U32", testSum[uint32])
	t.Run("U64", testSum[uint64])
}

// testSum checks Sum on every length 0..1024 for several vector counts, and
// on multi-block lengths for counts that exercise every pass shape, with dst
// separate, aliasing the first, a middle and the last input, and with
// repeated inputs.
func testSum[T word](t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ks := impls(t)
	counts := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13}
	for n := 0; n <= 1024; n++ {
		nv := counts[n%len(counts)]
		checkSumCase[T](t, ks, n, nv, r, n%5)
		if n%61 == 0 {
			for mode := range 5 {
				for _, nv := range counts {
					checkSumCase[T](t, ks, n, nv, r, mode)
				}
			}
		}
	}
	blk := blockWords[T]()
	for _, n := range []int{blk - 1, blk, blk + 1, 2*blk + 8, 3*blk + 13} {
		for _, nv := range []int{5, 6, 7, 8, 9, 10, 11, 12, 17, 64, 65} {
			checkSumCase[T](t, ks, n, nv, r, nv%5)
		}
	}
}

// checkSumCase sums nv random vectors of length n with every implementation.
// mode selects the aliasing: 0 separate dst, 1 dst = vs[0], 2 dst = vs[last],
// 3 dst = vs[middle], 4 repeated inputs with dst = one of them.
func checkSumCase[T word](t *testing.T, ks []Kernels, n, nv int, r *rand.Rand, mode int) {
	t.Helper()
	vs := make([][]T, nv)
	for i := range vs {
		vs[i] = randVec[T](r, n)
	}
	if mode == 4 && nv >= 3 {
		vs[nv-1] = vs[1]
		vs[nv/2] = vs[1]
	}
	want := refSum(n, vs)
	for _, k := range ks {
		in := make([][]T, nv)
		for i, v := range vs {
			in[i] = slices.Clone(v)
		}
		if mode == 4 && nv >= 3 {
			in[nv-1] = in[1]
			in[nv/2] = in[1]
		}
		var dst []T
		switch {
		case nv > 0 && mode == 1:
			dst = in[0]
		case nv > 0 && mode == 2:
			dst = in[nv-1]
		case nv > 0 && mode == 3:
			dst = in[nv/2]
		case nv >= 3 && mode == 4:
			dst = in[1]
		default:
			dst = randVec[T](r, n) // garbage that must be overwritten
		}
		opsOf[T](k).sum(dst, in)
		if !slices.Equal(dst, want) {
			t.Fatalf("%s Sum n=%d nv=%d mode=%d: got %#x\nwant %#x", k.Name, n, nv, mode, dst, want)
		}
	}
}

// TestSumAllMax sums many all-ones vectors so that every lane wraps.
func TestSumAllMax(t *testing.T) {
	for _, k := range impls(t) {
		n, nv := 1000, 67
		vs32 := make([][]uint32, nv)
		vs64 := make([][]uint64, nv)
		for i := range vs32 {
			vs32[i] = slices.Repeat([]uint32{^uint32(0)}, n)
			vs64[i] = slices.Repeat([]uint64{^uint64(0)}, n)
		}
		d32, d64 := make([]uint32, n), make([]uint64, n)
		k.SumU32(d32, vs32)
		k.SumU64(d64, vs64)
		for i := range n {
			if d32[i] != 0-uint32(nv) || d64[i] != 0-uint64(nv) {
				t.Fatalf("%s: element %d: got %#x, %#x", k.Name, i, d32[i], d64[i])
			}
		}
	}
}

func TestPanics(t *testing.T) {
	for _, k := range impls(t) {
		buf := make([]uint32, 40)
		buf64 := make([]uint64, 40)
		cases := map[string]func(){
			"AddU32 len a":        func() { k.AddU32(make([]uint32, 3), make([]uint32, 2), make([]uint32, 3)) },
			"AddU32 len b":        func() { k.AddU32(make([]uint32, 3), make([]uint32, 3), make([]uint32, 4)) },
			"SubU32 len":          func() { k.SubU32(make([]uint32, 3), make([]uint32, 2), make([]uint32, 3)) },
			"NegU32 len":          func() { k.NegU32(make([]uint32, 3), make([]uint32, 2)) },
			"AddScalarU32 len":    func() { k.AddScalarU32(make([]uint32, 3), make([]uint32, 2), 1) },
			"SumU32 len":          func() { k.SumU32(make([]uint32, 3), [][]uint32{make([]uint32, 3), make([]uint32, 2)}) },
			"AddU64 len":          func() { k.AddU64(make([]uint64, 3), make([]uint64, 3), make([]uint64, 2)) },
			"SubU64 len":          func() { k.SubU64(make([]uint64, 3), make([]uint64, 2), make([]uint64, 3)) },
			"NegU64 len":          func() { k.NegU64(make([]uint64, 3), make([]uint64, 4)) },
			"AddScalarU64 len":    func() { k.AddScalarU64(make([]uint64, 3), make([]uint64, 2), 1) },
			"SumU64 len":          func() { k.SumU64(make([]uint64, 3), [][]uint64{make([]uint64, 4)}) },
			"AddU32 overlap":      func() { k.AddU32(buf[1:33], buf[:32], buf[:32]) },
			"SubU32 overlap b":    func() { k.SubU32(buf[:32], buf[8:40], buf[:32]) },
			"NegU32 overlap":      func() { k.NegU32(buf[:32], buf[1:33]) },
			"AddScalarU32 overlp": func() { k.AddScalarU32(buf[2:34], buf[:32], 1) },
			"SumU32 overlap":      func() { k.SumU32(buf[:32], [][]uint32{buf[:32], buf[4:36]}) },
			"AddU64 overlap":      func() { k.AddU64(buf64[1:33], buf64[:32], buf64[:32]) },
			"NegU64 overlap":      func() { k.NegU64(buf64[:32], buf64[3:35]) },
			"SumU64 overlap":      func() { k.SumU64(buf64[5:37], [][]uint64{buf64[:32]}) },
		}
		for name, f := range cases {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s %s: no panic", k.Name, name)
					}
				}()
				f()
			}()
		}
	}
}

// TestNoAllocs checks that the kernels do not allocate.
func TestNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation")
	}
	a, b := make([]uint32, 3000), make([]uint32, 3000)
	vs := [][]uint32{a, b, a, b, a, b, a}
	for _, k := range impls(t) {
		allocs := testing.AllocsPerRun(10, func() {
			k.AddU32(a, a, b)
			k.NegU32(b, a)
			k.SumU32(a, vs)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", k.Name, allocs)
		}
	}
}

// Example-style sanity check that names are what the docs say.
func TestNames(t *testing.T) {
	if g := Generic(); g.Name != "generic" {
		t.Errorf("Generic().Name = %q", g.Name)
	}
	k, ok := Native()
	t.Logf("Native() = %q, %v", k.Name, ok)
}
