package driver

import (
	"bytes"
	_ "embed"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file run against any driver: the fake one built from
// testdata/fakecuda.c (fake_test.go) and a real GPU (gpu_test.go).

//go:embed testdata/kernels.ptx
var kernelsPTX []byte

// copySizes are the byte counts the copy round trips use.
var copySizes = []int{0, 1, 1000, 1 << 20}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x636f686f7274))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// mustAlloc allocates n bytes and frees them when the test ends.
func mustAlloc(t *testing.T, c *Context, n int) DevicePtr {
	t.Helper()
	p, err := c.Alloc(n)
	if err != nil {
		t.Fatalf("Alloc(%d): %v", n, err)
	}
	t.Cleanup(func() {
		if err := c.Free(p); err != nil {
			t.Errorf("Free(%d bytes): %v", n, err)
		}
	})
	return p
}

// mustAllocHost allocates n bytes of pinned memory and frees them when the
// test ends.
func mustAllocHost(t *testing.T, c *Context, n int) []byte {
	t.Helper()
	b, err := c.AllocHost(n)
	if err != nil {
		t.Fatalf("AllocHost(%d): %v", n, err)
	}
	if len(b) != n {
		t.Fatalf("AllocHost(%d) returned %d bytes", n, len(b))
	}
	t.Cleanup(func() {
		if err := c.FreeHost(b); err != nil {
			t.Errorf("FreeHost(%d bytes): %v", n, err)
		}
	})
	return b
}

// wantCode fails t unless err is an *Error with the given code and call.
func wantCode(t *testing.T, err error, call string, code int) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *Error (want %s code %d)", err, call, code)
	}
	if e.Call != call || e.Code != code {
		t.Fatalf("error %v: call %s code %d, want call %s code %d", err, e.Call, e.Code, call, code)
	}
	if e.Name == "" || e.Msg == "" {
		t.Fatalf("error %v lacks the driver's name or description", err)
	}
	return e
}

// testCopies round-trips every kind of copy for each of copySizes.
func testCopies(t *testing.T, c *Context) {
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, n := range copySizes {
		src := randomBytes(n, uint64(n))
		a := mustAlloc(t, c, n)
		b := mustAlloc(t, c, n)

		// Synchronous: host -> a -> b -> host.
		if err := c.CopyHtoD(a, src); err != nil {
			t.Fatalf("CopyHtoD(%d): %v", n, err)
		}
		if err := c.CopyDtoD(b, a, n); err != nil {
			t.Fatalf("CopyDtoD(%d): %v", n, err)
		}
		got := bytes.Repeat([]byte{0xEE}, n)
		if err := c.CopyDtoH(got, b); err != nil {
			t.Fatalf("CopyDtoH(%d): %v", n, err)
		}
		if !bytes.Equal(got, src) {
			t.Fatalf("synchronous round trip of %d bytes differs", n)
		}

		// Asynchronous through pinned memory: pinned -> b -> a -> pinned.
		pin := mustAllocHost(t, c, n)
		copy(pin, src)
		if err := c.Memset8(a, 0x11, n); err != nil {
			t.Fatalf("Memset8(%d): %v", n, err)
		}
		if err := s.CopyHtoD(b, pin); err != nil {
			t.Fatalf("Stream.CopyHtoD(%d): %v", n, err)
		}
		if err := s.CopyDtoD(a, b, n); err != nil {
			t.Fatalf("Stream.CopyDtoD(%d): %v", n, err)
		}
		clear(pin)
		if err := s.Synchronize(); err != nil {
			t.Fatal(err)
		}
		if err := s.CopyDtoH(pin, a); err != nil {
			t.Fatalf("Stream.CopyDtoH(%d): %v", n, err)
		}
		if err := s.Synchronize(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pin, src) {
			t.Fatalf("asynchronous round trip of %d bytes differs", n)
		}

		// Memsets, synchronous and on the stream.
		if err := s.Memset8(a, 0x5C, n); err != nil {
			t.Fatalf("Stream.Memset8(%d): %v", n, err)
		}
		if err := s.Synchronize(); err != nil {
			t.Fatal(err)
		}
		if err := c.CopyDtoH(got, a); err != nil {
			t.Fatal(err)
		}
		if want := bytes.Repeat([]byte{0x5C}, n); !bytes.Equal(got, want) {
			t.Fatalf("Stream.Memset8 of %d bytes: memory differs from 0x5C", n)
		}
	}
}

// testTypedCopies round-trips each element type through the generic copies.
func testTypedCopies(t *testing.T, c *Context) {
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1001
	p := mustAlloc(t, c, 8*n)

	u32 := make([]uint32, n)
	u64 := make([]uint64, n)
	f32 := make([]float32, n)
	f64 := make([]float64, n)
	u8 := make([]byte, n)
	for i := range n {
		u32[i], u64[i], f32[i], f64[i], u8[i] = r.Uint32(), r.Uint64(), float32(r.NormFloat64()), r.NormFloat64(), byte(r.Uint32())
	}
	f32[0], f64[0] = float32(math.Inf(-1)), math.Copysign(0, -1)

	roundTrip(t, c, s, p, u32)
	roundTrip(t, c, s, p, u64)
	roundTrip(t, c, s, p, f32)
	roundTrip(t, c, s, p, f64)
	roundTrip(t, c, s, p, u8)
}

func roundTrip[T Elem](t *testing.T, c *Context, s *Stream, p DevicePtr, want []T) {
	t.Helper()
	if err := CopyToDevice(c, p, want); err != nil {
		t.Fatal(err)
	}
	got := make([]T, len(want))
	if err := CopyFromDevice(c, got, p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Bytes(got), Bytes(want)) {
		t.Fatalf("%T: synchronous round trip differs", want)
	}
	if err := c.Memset8(p, 0, len(Bytes(want))); err != nil {
		t.Fatal(err)
	}
	if err := CopyToDeviceAsync(s, p, want); err != nil {
		t.Fatal(err)
	}
	clear(got)
	if err := CopyFromDeviceAsync(s, got, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Bytes(got), Bytes(want)) {
		t.Fatalf("%T: asynchronous round trip differs", want)
	}
}

// loadKernels loads testdata/kernels.ptx and unloads it when the test ends.
func loadKernels(t *testing.T, c *Context) *Module {
	t.Helper()
	m, err := c.LoadModule(kernelsPTX)
	if err != nil {
		t.Fatalf("LoadModule(kernels.ptx): %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("unloading kernels.ptx: %v", err)
		}
	})
	return m
}

// addU32 runs add_u32 over n elements with the given grid and block sizes
// (nil stream: the default one) and checks that exactly the first covered
// elements hold the sums and the rest are untouched.
func addU32(t *testing.T, c *Context, fn *Function, s *Stream, n int, grid, block uint32, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	a := make([]uint32, n)
	b := make([]uint32, n)
	for i := range n {
		a[i], b[i] = r.Uint32(), r.Uint32()
	}
	pa := mustAlloc(t, c, 4*n)
	pb := mustAlloc(t, c, 4*n)
	pd := mustAlloc(t, c, 4*n)
	if err := CopyToDevice(c, pa, a); err != nil {
		t.Fatal(err)
	}
	if err := CopyToDevice(c, pb, b); err != nil {
		t.Fatal(err)
	}
	if err := c.Memset8(pd, 0xFF, 4*n); err != nil { // poison
		t.Fatal(err)
	}
	var args Args
	args.Ptr(pd).Ptr(pa).Ptr(pb).U32(uint32(n))
	if err := c.Launch(fn, [3]uint32{grid, 1, 1}, [3]uint32{block, 1, 1}, 0, s, &args); err != nil {
		t.Fatalf("Launch(add_u32, n=%d): %v", n, err)
	}
	if err := c.Synchronize(); err != nil {
		t.Fatalf("add_u32, n=%d: %v", n, err)
	}
	got := make([]uint32, n)
	if err := CopyFromDevice(c, got, pd); err != nil {
		t.Fatal(err)
	}
	covered := min(n, int(grid)*int(block))
	for i := range n {
		want := uint32(0xFFFFFFFF)
		if i < covered {
			want = a[i] + b[i]
		}
		if got[i] != want {
			t.Fatalf("add_u32, n=%d, grid %d, block %d: dst[%d] = %#x, want %#x", n, grid, block, i, got[i], want)
		}
	}
}

// testLaunch runs the test kernels, checking their results exactly.
func testLaunch(t *testing.T, c *Context) {
	m := loadKernels(t, c)
	add, err := m.Function("add_u32")
	if err != nil {
		t.Fatal(err)
	}
	if add.Name() != "add_u32" {
		t.Errorf("Name() = %q", add.Name())
	}
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, n := range []int{1, 255, 256, 257, 1000, 1 << 20} {
		addU32(t, c, add, nil, n, uint32((n+255)/256), 256, uint64(i))
		addU32(t, c, add, s, n, uint32((n+127)/128), 128, uint64(i))
	}
	// A grid that covers only part of the vector leaves the rest alone.
	addU32(t, c, add, s, 1000, 2, 256, 99)

	store, err := m.Function("store_args")
	if err != nil {
		t.Fatal(err)
	}
	out := mustAlloc(t, c, 32)
	var args Args
	args.Ptr(out).U32(0xfedcba98).U64(0x0123456789abcdef).F32(-2.75).F64(math.E)
	if err := c.Launch(store, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, nil, &args); err != nil {
		t.Fatal(err)
	}
	got := make([]uint64, 4)
	if err := CopyFromDevice(c, got, out); err != nil {
		t.Fatal(err)
	}
	want := []uint64{0xfedcba98, 0x0123456789abcdef, uint64(math.Float32bits(-2.75)), math.Float64bits(math.E)}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("store_args: out[%d] = %#x, want %#x", i, got[i], want[i])
		}
	}
}

// testErrors checks the error paths that any driver reports the same way.
func testErrors(t *testing.T, c *Context) {
	m := loadKernels(t, c)

	_, err := m.Function("no_such_kernel")
	e := wantCode(t, err, "cuModuleGetFunction", CodeNotFound)
	if e.Name != "CUDA_ERROR_NOT_FOUND" {
		t.Errorf("Name = %q, want CUDA_ERROR_NOT_FOUND", e.Name)
	}
	if _, err := m.Function("add\x00u32"); err == nil || !strings.Contains(err.Error(), "invalid kernel name") {
		t.Errorf("Function with a NUL in the name: %v", err)
	}

	tooBig := uint64(1) << 41 // 2 TiB
	_, err = c.Alloc(int(tooBig))
	e = wantCode(t, err, "cuMemAlloc_v2", CodeOutOfMemory)
	if got, want := e.Error(), "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory"; got != want {
		t.Errorf("out of memory: %q, want %q", got, want)
	}

	_, err = c.LoadModule([]byte("this is not PTX"))
	var le *Error
	if !errors.As(err, &le) || (le.Code != CodeInvalidPTX && le.Code != 200) {
		t.Fatalf("LoadModule(garbage) = %v, want CUDA_ERROR_INVALID_PTX or _INVALID_IMAGE", err)
	}
	if !strings.Contains(err.Error(), "; JIT error log: ") {
		t.Errorf("LoadModule(garbage) error %q lacks the JIT log", err)
	}

	add, err := m.Function("add_u32")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Launch(add, [3]uint32{1, 1, 1}, [3]uint32{0, 1, 1}, 0, nil, new(Args).Ptr(0).Ptr(0).Ptr(0).U32(0))
	wantCode(t, err, "cuLaunchKernel", CodeInvalidValue)
	if err := c.Launch(add, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, -1, nil, nil); err == nil {
		t.Errorf("Launch with negative shared memory succeeded")
	}
	for _, n := range []int{-1} {
		if _, err := c.Alloc(n); err == nil {
			t.Errorf("Alloc(%d) succeeded", n)
		}
		if _, err := c.AllocHost(n); err == nil {
			t.Errorf("AllocHost(%d) succeeded", n)
		}
		if err := c.CopyDtoD(0, 0, n); err == nil {
			t.Errorf("CopyDtoD(%d) succeeded", n)
		}
		if err := c.Memset8(0, 0, n); err == nil {
			t.Errorf("Memset8(%d) succeeded", n)
		}
	}
}

// testClosed checks that closed handles are refused.
func testClosed(t *testing.T, d *Driver, dev Device) {
	c, err := d.NewContext(dev)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.LoadModule(kernelsPTX)
	if err != nil {
		t.Fatal(err)
	}
	add, err := m.Function("add_u32")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	for name, close := range map[string]func() error{"module": m.Close, "stream": s.Close, "event": ev.Close} {
		if err := close(); err != nil {
			t.Fatalf("closing the %s: %v", name, err)
		}
		if err := close(); !errors.Is(err, ErrClosed) {
			t.Errorf("closing the %s twice: %v, want ErrClosed", name, err)
		}
	}
	if err := c.Launch(add, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("launch from an unloaded module: %v, want ErrClosed", err)
	}
	if _, err := m.Function("add_u32"); !errors.Is(err, ErrClosed) {
		t.Errorf("Function of an unloaded module: %v, want ErrClosed", err)
	}
	if err := s.Synchronize(); !errors.Is(err, ErrClosed) {
		t.Errorf("Synchronize of a closed stream: %v, want ErrClosed", err)
	}
	if err := ev.Record(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Record of a closed event: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := c.Alloc(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close: %v, want ErrClosed", err)
	}
	if err := c.Synchronize(); !errors.Is(err, ErrClosed) {
		t.Errorf("Synchronize after Close: %v, want ErrClosed", err)
	}
}

// testConcurrent uses one context from many goroutines at once.
func testConcurrent(t *testing.T, c *Context) {
	m := loadKernels(t, c)
	add, err := m.Function("add_u32")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, rounds, n = 16, 8, 4099
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			errs <- concurrentWorker(c, add, g, rounds, n)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func concurrentWorker(c *Context, add *Function, g, rounds, n int) (err error) {
	s, err := c.NewStream()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	p, err := c.Alloc(12 * n)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Free(p)) }()
	pa, pb, pd := p, p.Add(4*n), p.Add(8*n)
	a := make([]uint32, n)
	b := make([]uint32, n)
	got := make([]uint32, n)
	var args Args
	for r := range rounds {
		for i := range n {
			a[i], b[i] = uint32(g*1000003+r*7919+i), uint32(i*i)
		}
		if err := CopyToDeviceAsync(s, pa, a); err != nil {
			return err
		}
		if err := CopyToDeviceAsync(s, pb, b); err != nil {
			return err
		}
		args.Reset()
		args.Ptr(pd).Ptr(pa).Ptr(pb).U32(uint32(n))
		if err := c.Launch(add, [3]uint32{uint32((n + 255) / 256), 1, 1}, [3]uint32{256, 1, 1}, 0, s, &args); err != nil {
			return err
		}
		if err := CopyFromDeviceAsync(s, got, pd); err != nil {
			return err
		}
		if err := s.Synchronize(); err != nil {
			return err
		}
		for i := range n {
			if got[i] != a[i]+b[i] {
				return errors.New("concurrent add_u32: wrong sum")
			}
		}
	}
	return nil
}

// testEvents records events on a stream and times them.
func testEvents(t *testing.T, c *Context) time.Duration {
	s, err := c.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var evs [3]*Event
	for i := range evs {
		if evs[i], err = c.NewEvent(); err != nil {
			t.Fatal(err)
		}
		defer evs[i].Close()
	}
	p := mustAlloc(t, c, 1<<20)
	for i, ev := range evs {
		if i > 0 {
			if err := s.Memset8(p, byte(i), 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		if err := ev.Record(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := evs[2].Synchronize(); err != nil {
		t.Fatal(err)
	}
	d01, err := Elapsed(evs[0], evs[1])
	if err != nil {
		t.Fatal(err)
	}
	d02, err := Elapsed(evs[0], evs[2])
	if err != nil {
		t.Fatal(err)
	}
	if d01 < 0 || d02 < d01 {
		t.Errorf("Elapsed: 0->1 %v, 0->2 %v", d01, d02)
	}
	return d02
}
