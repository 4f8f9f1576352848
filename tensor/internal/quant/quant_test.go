package quant

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// refQuant is the specification of quantisation, written as plainly as
// possible (with branches and math.Floor).
func refQuant(x float64, r uint32, p *Params) uint64 {
	v := float64(float64(x-p.Lo) * p.Scale)
	if !(v > 0) {
		v = 0
	}
	if v > p.Max {
		v = p.Max
	}
	f := math.Floor(v)
	u := float64(float64(int32(r))*0x1p-32) + 0.5
	if u < v-f {
		f++
	}
	return uint64(f)
}

type testParams struct {
	name   string
	p      Params
	hi     float64
	u64    bool // only valid for uint64 outputs
	scaled bool // Scale == 1 and Lo == 0: v == x, used for exact ties
}

func mkParams(name string, bits uint, lo, hi float64) testParams {
	max := float64(uint64(1)<<bits - 1)
	return testParams{name: name, p: Params{Lo: lo, Scale: max / (hi - lo), Max: max}, hi: hi, u64: bits > 32}
}

func allParams() []testParams {
	return []testParams{
		mkParams("p1", 1, -1, 1),
		mkParams("p8", 8, -0.5, 2),
		mkParams("p16", 16, -3, 3),
		mkParams("p24", 24, -1e-3, 5e-4),
		mkParams("p31", 31, -100, 7),
		mkParams("p32", 32, -1, 1),
		mkParams("p40", 40, -2, 10),
		mkParams("p52", 52, -1e6, 3),
		{name: "unit20", p: Params{Lo: 0, Scale: 1, Max: 1<<20 - 1}, hi: 1<<20 - 1, scaled: true},
		{name: "max0", p: Params{Lo: -1, Scale: 0, Max: 0}, hi: 1},
		{name: "unit52", p: Params{Lo: 0, Scale: 1, Max: MaxU64}, hi: MaxU64, u64: true, scaled: true},
	}
}

// randF64 returns an input that is often an edge case for tp.
func randF64(rng *rand.Rand, tp *testParams) float64 {
	p := &tp.p
	switch rng.IntN(24) {
	case 0:
		return []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
			-math.NaN(), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
			-math.SmallestNonzeroFloat64, 0x1p-1022, math.MaxFloat32, -math.MaxFloat32,
			0x1p-149, -0x1p-149, math.Float64frombits(0x7FF0000000000001)}[rng.IntN(16)]
	case 1:
		return p.Lo
	case 2:
		return tp.hi
	case 3:
		return math.Nextafter(p.Lo, math.Inf(rng.IntN(2)*2-1))
	case 4:
		return math.Nextafter(tp.hi, math.Inf(rng.IntN(2)*2-1))
	case 5: // huge
		return math.Ldexp(rng.Float64()-0.5, 60+rng.IntN(960))
	case 6: // tiny
		return math.Ldexp(rng.Float64()-0.5, -rng.IntN(1070))
	case 7, 8, 9: // at or next to a rounding boundary: v near an integer
		k := float64(rng.Uint64N(uint64(p.Max) + 1))
		x := p.Lo + k/p.Scale
		if p.Scale == 0 {
			x = p.Lo
		}
		for j := rng.IntN(3); j > 0; j-- {
			x = math.Nextafter(x, math.Inf(rng.IntN(2)*2-1))
		}
		return x
	case 10, 11: // a fraction that is an exact multiple of 2^-32 (exact ties with u)
		if tp.scaled {
			k := float64(rng.Uint64N(1 << 20))
			return k + float64(rng.Uint32())*0x1p-32
		}
		fallthrough
	default: // normal range, slightly wider than [Lo, Hi]
		w := tp.hi - p.Lo
		return p.Lo - 0.1*w + 1.2*w*rng.Float64()
	}
}

func randRnd(rng *rand.Rand) uint32 {
	if rng.IntN(8) == 0 {
		return []uint32{0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xffffffff}[rng.IntN(6)]
	}
	return rng.Uint32()
}

type quantData struct {
	f64 []float64
	f32 []float32
	rnd []uint32
}

func newQuantData(rng *rand.Rand, tp *testParams, n int) *quantData {
	d := &quantData{f64: make([]float64, n), f32: make([]float32, n), rnd: make([]uint32, n)}
	for i := range n {
		d.f64[i] = randF64(rng, tp)
		d.f32[i] = float32(randF64(rng, tp))
		d.rnd[i] = randRnd(rng)
	}
	// Exact ties u == d for the unit parameters.
	if tp.scaled {
		for i := 0; i < n; i += 7 {
			x := d.f64[i]
			if x >= 0 && x < tp.p.Max {
				frac := x - math.Floor(x)
				j := int64(frac*0x1p32) + int64(rng.IntN(3)) - 1 // u == d and its neighbours
				d.rnd[i] = uint32(j - 1<<31)
			}
		}
	}
	return d
}

func kernelsUnderTest(t testing.TB) (Kernels, Kernels) {
	n, ok := Native()
	t.Logf("native kernels: %s (SIMD available: %v)", n.Name, ok)
	return Generic(), n
}

func TestGenericMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := Generic()
	for _, tp := range allParams() {
		d := newQuantData(rng, &tp, 20000)
		n := len(d.rnd)
		u32 := make([]uint32, n)
		u64 := make([]uint64, n)
		if !tp.u64 {
			g.F64U32(u32, d.f64, d.rnd, &tp.p)
			for i := range n {
				if want := uint32(refQuant(d.f64[i], d.rnd[i], &tp.p)); u32[i] != want {
					t.Fatalf("%s F64U32(%v, %#x) = %d, want %d", tp.name, d.f64[i], d.rnd[i], u32[i], want)
				}
			}
			g.F32U32(u32, d.f32, d.rnd, &tp.p)
			for i := range n {
				if want := uint32(refQuant(float64(d.f32[i]), d.rnd[i], &tp.p)); u32[i] != want {
					t.Fatalf("%s F32U32(%v, %#x) = %d, want %d", tp.name, d.f32[i], d.rnd[i], u32[i], want)
				}
			}
		}
		g.F64U64(u64, d.f64, d.rnd, &tp.p)
		for i := range n {
			if want := refQuant(d.f64[i], d.rnd[i], &tp.p); u64[i] != want {
				t.Fatalf("%s F64U64(%v, %#x) = %d, want %d", tp.name, d.f64[i], d.rnd[i], u64[i], want)
			}
		}
		g.F32U64(u64, d.f32, d.rnd, &tp.p)
		for i := range n {
			if want := refQuant(float64(d.f32[i]), d.rnd[i], &tp.p); u64[i] != want {
				t.Fatalf("%s F32U64(%v, %#x) = %d, want %d", tp.name, d.f32[i], d.rnd[i], u64[i], want)
			}
		}
	}
}

func TestKnownAnswers(t *testing.T) {
	p := Params{Lo: -1, Scale: 255.0 / 2, Max: 255}
	cases := []struct {
		x    float64
		r    uint32
		want uint64
	}{
		{-1, 0xffffffff, 0}, {1, 0x80000000, 255}, {2, 0, 255}, {-5, 0, 0},
		{math.NaN(), 0x80000000, 0}, {math.Inf(1), 0, 255}, {math.Inf(-1), 0x80000000, 0},
		// v = 127.5: rounds up iff u < 0.5, i.e. int32(r) < 0.
		{0, 0x80000000, 128}, {0, 0xffffffff, 128}, {0, 0, 127}, {0, 0x7fffffff, 127},
		// v = 1 exactly: never rounds up.
		{-1 + 2.0/255, 0x80000000, 1},
	}
	for _, k := range [2]bool{false, true} {
		ks := Generic()
		if k {
			ks, _ = Native()
		}
		for _, c := range cases {
			// Put the case at every position of a 9-element vector so both
			// the assembly body and the tail see it.
			for pos := range 9 {
				src := make([]float64, 9)
				rnd := make([]uint32, 9)
				src[pos], rnd[pos] = c.x, c.r
				d32 := make([]uint32, 9)
				d64 := make([]uint64, 9)
				ks.F64U32(d32, src, rnd, &p)
				ks.F64U64(d64, src, rnd, &p)
				if uint64(d32[pos]) != c.want || d64[pos] != c.want {
					t.Errorf("%s: q(%v, %#x) = %d, %d; want %d", ks.Name, c.x, c.r, d32[pos], d64[pos], c.want)
				}
			}
		}
	}
}

func TestU64ToF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edges := []uint64{0, 1, 1<<32 - 1, 1 << 32, 1<<53 - 1, 1 << 53, 1<<53 + 1, 1<<53 + 3, 1<<63 - 1, 1 << 63,
		1<<63 + 1, 1<<63 + 1<<10, 1<<63 + 1<<10 + 1, 1<<64 - 1, 1<<64 - 1<<11, 1<<64 - 1<<10}
	for i := range 200000 {
		x := rng.Uint64() >> rng.UintN(64)
		if i < len(edges) {
			x = edges[i]
		}
		if got, want := u64ToF64(x), float64(x); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("u64ToF64(%#x) = %v, want %v", x, got, want)
		}
	}
}

// check compares two results element by element.
func check[T comparable](t *testing.T, what string, n int, got, want []T) {
	t.Helper()
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s n=%d: element %d = %v, generic %v", what, n, i, got[i], want[i])
		}
	}
}

// TestNativeMatchesGeneric runs every quantisation kernel on both paths for
// every length 0..1024 at a random offset (alignment) of random data, with
// dst separate and dst aliasing each input of the same element size.
func TestNativeMatchesGeneric(t *testing.T) {
	g, nat := kernelsUnderTest(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const maxN = 1024
	for _, tp := range allParams() {
		p := &tp.p
		d := newQuantData(rng, &tp, 2*maxN)
		w32 := make([]uint32, maxN)
		w64 := make([]uint64, maxN)
		g32 := make([]uint32, maxN)
		g64 := make([]uint64, maxN)
		alias32 := make([]uint32, maxN)
		alias64 := make([]uint64, maxN)
		for n := 0; n <= maxN; n++ {
			off := rng.IntN(maxN)
			f64, f32, rnd := d.f64[off:off+n], d.f32[off:off+n], d.rnd[off:off+n]
			if !tp.u64 {
				g.F32U32(w32[:n], f32, rnd, p)
				nat.F32U32(g32[:n], f32, rnd, p)
				check(t, tp.name+" F32U32", n, g32[:n], w32[:n])
				// dst aliases src.
				a := alias32[:n]
				copy(a, unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f32))), n))
				nat.F32U32(a, unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(a))), n), rnd, p)
				check(t, tp.name+" F32U32 dst=src", n, a, w32[:n])
				// dst aliases rnd.
				copy(a, rnd)
				nat.F32U32(a, f32, a, p)
				check(t, tp.name+" F32U32 dst=rnd", n, a, w32[:n])

				g.F64U32(w32[:n], f64, rnd, p)
				nat.F64U32(g32[:n], f64, rnd, p)
				check(t, tp.name+" F64U32", n, g32[:n], w32[:n])
				copy(a, rnd)
				nat.F64U32(a, f64, a, p)
				check(t, tp.name+" F64U32 dst=rnd", n, a, w32[:n])
			}
			g.F32U64(w64[:n], f32, rnd, p)
			nat.F32U64(g64[:n], f32, rnd, p)
			check(t, tp.name+" F32U64", n, g64[:n], w64[:n])

			g.F64U64(w64[:n], f64, rnd, p)
			nat.F64U64(g64[:n], f64, rnd, p)
			check(t, tp.name+" F64U64", n, g64[:n], w64[:n])
			a := alias64[:n]
			copy(a, unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f64))), n))
			nat.F64U64(a, unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(a))), n), rnd, p)
			check(t, tp.name+" F64U64 dst=src", n, a, w64[:n])
		}
	}
}

func randU32(rng *rand.Rand) uint32 {
	if rng.IntN(6) == 0 {
		return []uint32{0, 1, 2, 1<<31 - 1, 1 << 31, 1<<31 + 1, 1<<32 - 1}[rng.IntN(7)]
	}
	return rng.Uint32() >> rng.UintN(32)
}

func randU64(rng *rand.Rand) uint64 {
	if rng.IntN(6) == 0 {
		return []uint64{0, 1, 2, 1<<32 - 1, 1<<53 - 1, 1<<53 + 1, 1<<63 - 1, 1 << 63, 1<<63 + 1<<10,
			1<<63 + 1<<10 + 1, 1<<64 - 1, MaxU64}[rng.IntN(12)]
	}
	return rng.Uint64() >> rng.UintN(64)
}

func f32bits(s []float32) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
func f64bits(s []float64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func TestDequantNativeMatchesGeneric(t *testing.T) {
	g, nat := kernelsUnderTest(t)
	rng := rand.New(rand.NewPCG(7, 8))
	const maxN = 1024
	s32 := make([]uint32, 2*maxN)
	s64 := make([]uint64, 2*maxN)
	for i := range s32 {
		s32[i], s64[i] = randU32(rng), randU64(rng)
	}
	type so struct{ step, offset float64 }
	var sos []so
	for _, tp := range allParams() {
		if tp.p.Max == 0 {
			continue
		}
		step := (tp.hi - tp.p.Lo) / tp.p.Max
		sos = append(sos, so{step, tp.p.Lo}, so{step, 5 * tp.p.Lo})
	}
	sos = append(sos, so{1, 0}, so{-3.25e-7, 1e300}, so{1e300, -1}, so{math.Inf(1), 0}, so{0x1p-1074, 0})
	wf32, gf32 := make([]float32, maxN), make([]float32, maxN)
	wf64, gf64 := make([]float64, maxN), make([]float64, maxN)
	for _, c := range sos {
		for n := 0; n <= maxN; n++ {
			off := rng.IntN(maxN)
			a, b := s32[off:off+n], s64[off:off+n]
			g.U32F32(wf32[:n], a, c.step, c.offset)
			nat.U32F32(gf32[:n], a, c.step, c.offset)
			check(t, "U32F32", n, f32bits(gf32[:n]), f32bits(wf32[:n]))
			al := make([]uint32, n)
			copy(al, a)
			alf := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(al))), n)
			nat.U32F32(alf, al, c.step, c.offset)
			check(t, "U32F32 dst=src", n, al, f32bits(wf32[:n]))

			g.U32F64(wf64[:n], a, c.step, c.offset)
			nat.U32F64(gf64[:n], a, c.step, c.offset)
			check(t, "U32F64", n, f64bits(gf64[:n]), f64bits(wf64[:n]))

			g.U64F32(wf32[:n], b, c.step, c.offset)
			nat.U64F32(gf32[:n], b, c.step, c.offset)
			check(t, "U64F32", n, f32bits(gf32[:n]), f32bits(wf32[:n]))

			g.U64F64(wf64[:n], b, c.step, c.offset)
			nat.U64F64(gf64[:n], b, c.step, c.offset)
			check(t, "U64F64", n, f64bits(gf64[:n]), f64bits(wf64[:n]))
			al64 := make([]uint64, n)
			copy(al64, b)
			nat.U64F64(unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(al64))), n), al64, c.step, c.offset)
			check(t, "U64F64 dst=src", n, al64, f64bits(wf64[:n]))

			// Generic against the plain formula (NaNs compare equal: their
			// payload is not portable across architectures).
			g.U32F32(wf32[:n], a, c.step, c.offset)
			for i := range n {
				if w := float32(float64(float64(a[i])*c.step) + c.offset); math.Float32bits(w) != math.Float32bits(wf32[i]) && !(w != w && wf32[i] != wf32[i]) {
					t.Fatalf("U32F32(%d) = %v, want %v", a[i], wf32[i], w)
				}
				if w := float64(float64(b[i])*c.step) + c.offset; math.Float64bits(w) != math.Float64bits(wf64[i]) && !(w != w && wf64[i] != wf64[i]) {
					t.Fatalf("U64F64(%d) = %v, want %v", b[i], wf64[i], w)
				}
			}
		}
	}
}

// TestUnbiased quantises the same value many times with fresh randomness and
// checks that the mean is (x-Lo)*Scale within a few standard errors.
func TestUnbiased(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 1 << 16
	src := make([]float32, n)
	rnd := make([]uint32, n)
	dst := make([]uint32, n)
	for _, name := range [2]string{"generic", "native"} {
		ks := Generic()
		if name == "native" {
			ks, _ = Native()
		}
		for _, tp := range []testParams{mkParams("p8", 8, -0.5, 2), mkParams("p16", 16, -3, 3), mkParams("p24", 24, -1e-3, 5e-4)} {
			for range 6 {
				x := float32(tp.p.Lo + (tp.hi-tp.p.Lo)*rng.Float64())
				v := (float64(x) - tp.p.Lo) * tp.p.Scale
				for i := range src {
					src[i] = x
					rnd[i] = rng.Uint32()
				}
				ks.F32U32(dst, src, rnd, &tp.p)
				var sum float64
				for _, q := range dst {
					sum += float64(q)
				}
				mean := sum / n
				frac := v - math.Floor(v)
				se := math.Sqrt(frac*(1-frac)/n) + 1e-9
				if math.Abs(mean-v) > 5*se+0x1p-32 {
					t.Errorf("%s %s: x=%v mean %v, want %v (se %v)", name, tp.name, x, mean, v, se)
				}
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	g, nat := kernelsUnderTest(t)
	const n = 4096
	for _, ks := range []Kernels{g, nat} {
		for _, tp := range allParams() {
			if tp.p.Max == 0 || tp.scaled {
				continue
			}
			step := (tp.hi - tp.p.Lo) / tp.p.Max
			src := make([]float64, n)
			rnd := make([]uint32, n)
			for i := range src {
				src[i] = tp.p.Lo - 0.1 + (tp.hi-tp.p.Lo+0.2)*rng.Float64()
				rnd[i] = rng.Uint32()
			}
			q := make([]uint64, n)
			back := make([]float64, n)
			ks.F64U64(q, src, rnd, &tp.p)
			ks.U64F64(back, q, step, tp.p.Lo)
			for i, x := range src {
				c := min(max(x, tp.p.Lo), tp.hi)
				// Besides the quantisation step, the float64 arithmetic
				// contributes a few ulps of the largest magnitude involved.
				tol := step*(1+1e-9) + 4*ulp(max(math.Abs(tp.p.Lo), math.Abs(tp.hi)))
				if d := math.Abs(back[i] - c); d > tol {
					t.Fatalf("%s %s: x=%v -> %d -> %v, |err| %v > step %v", ks.Name, tp.name, x, q[i], back[i], d, step)
				}
			}
			if !tp.u64 {
				q32 := make([]uint32, n)
				f32 := make([]float32, n)
				back32 := make([]float32, n)
				for i := range src {
					f32[i] = float32(src[i])
				}
				ks.F32U32(q32, f32, rnd, &tp.p)
				ks.U32F32(back32, q32, step, tp.p.Lo)
				for i, x := range f32 {
					c := min(max(float64(x), tp.p.Lo), tp.hi)
					// float32 output adds half an ulp of rounding.
					tol := step*(1+1e-9) + 4*ulp(max(math.Abs(tp.p.Lo), math.Abs(tp.hi))) + math.Abs(c)*0x1p-24 + 0x1p-149
					if d := math.Abs(float64(back32[i]) - c); d > tol {
						t.Fatalf("%s %s f32: x=%v -> %d -> %v, |err| %v > %v", ks.Name, tp.name, x, q32[i], back32[i], d, tol)
					}
				}
			}
		}
	}
}

func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}

func TestPanics(t *testing.T) {
	g, nat := kernelsUnderTest(t)
	for _, ks := range []Kernels{g, nat} {
		p := Params{Lo: 0, Scale: 1, Max: 255}
		mustPanic(t, ks.Name+" F32U32 len", func() { ks.F32U32(make([]uint32, 3), make([]float32, 3), make([]uint32, 4), &p) })
		mustPanic(t, ks.Name+" F64U32 len", func() { ks.F64U32(make([]uint32, 9), make([]float64, 8), make([]uint32, 9), &p) })
		mustPanic(t, ks.Name+" F32U64 len", func() { ks.F32U64(make([]uint64, 16), make([]float32, 16), make([]uint32, 15), &p) })
		mustPanic(t, ks.Name+" F64U64 len", func() { ks.F64U64(make([]uint64, 1), make([]float64, 0), make([]uint32, 1), &p) })
		mustPanic(t, ks.Name+" U32F32 len", func() { ks.U32F32(make([]float32, 8), make([]uint32, 9), 1, 0) })
		mustPanic(t, ks.Name+" U32F64 len", func() { ks.U32F64(make([]float64, 8), make([]uint32, 7), 1, 0) })
		mustPanic(t, ks.Name+" U64F32 len", func() { ks.U64F32(make([]float32, 0), make([]uint64, 1), 1, 0) })
		mustPanic(t, ks.Name+" U64F64 len", func() { ks.U64F64(make([]float64, 17), make([]uint64, 16), 1, 0) })
		for _, m := range []float64{-1, math.NaN(), MaxU32 + 1, math.Inf(1)} {
			bad := Params{Lo: 0, Scale: 1, Max: m}
			mustPanic(t, ks.Name+" F32U32 max", func() { ks.F32U32(nil, nil, nil, &bad) })
			mustPanic(t, ks.Name+" F64U32 max", func() { ks.F64U32(nil, nil, nil, &bad) })
		}
		for _, m := range []float64{-1, math.NaN(), MaxU64 + 1, math.Inf(1)} {
			bad := Params{Lo: 0, Scale: 1, Max: m}
			mustPanic(t, ks.Name+" F32U64 max", func() { ks.F32U64(nil, nil, nil, &bad) })
			mustPanic(t, ks.Name+" F64U64 max", func() { ks.F64U64(nil, nil, nil, &bad) })
		}
	}
}
