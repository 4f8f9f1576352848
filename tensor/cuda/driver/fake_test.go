package driver

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildFake compiles testdata/fakecuda.c into a shared library in a
// temporary directory, with the given extra compiler flags, and returns its
// path. It skips the test where there is no C compiler.
func buildFake(t *testing.T, flags ...string) string {
	t.Helper()
	skipUnsupported(t)
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler to build the fake driver: %v", err)
	}
	lib := filepath.Join(t.TempDir(), "libfakecuda.so")
	args := append([]string{"-shared", "-fPIC", "-O1", "-o", lib}, flags...)
	args = append(args, filepath.Join("testdata", "fakecuda.c"))
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return lib
}

// openFake opens and initialises the fake driver at lib.
func openFake(t *testing.T, lib string) (*Driver, Device) {
	t.Helper()
	d, err := Open(lib)
	if err != nil {
		t.Fatalf("Open(%s): %v", lib, err)
	}
	if d.Path() != lib {
		t.Errorf("Path() = %q, want %q", d.Path(), lib)
	}
	if err := d.Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	dev, err := d.Device(0)
	if err != nil {
		t.Fatalf("Device(0): %v", err)
	}
	return d, dev
}

func TestFake(t *testing.T) {
	d, dev := openFake(t, buildFake(t))
	c, err := d.NewContext(dev)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	t.Run("Device", func(t *testing.T) {
		if v, err := d.Version(); err != nil || v != 12040 {
			t.Errorf("Version() = %d, %v; want 12040", v, err)
		}
		if n, err := d.Devices(); err != nil || n != 1 {
			t.Errorf("Devices() = %d, %v; want 1", n, err)
		}
		if name, err := dev.Name(); err != nil || name != "fake" {
			t.Errorf("Name() = %q, %v; want fake", name, err)
		}
		if major, minor, err := dev.ComputeCapability(); err != nil || major != 9 || minor != 0 {
			t.Errorf("ComputeCapability() = %d.%d, %v; want 9.0", major, minor, err)
		}
		if n, err := dev.Multiprocessors(); err != nil || n != 132 {
			t.Errorf("Multiprocessors() = %d, %v; want 132", n, err)
		}
		if n, err := dev.TotalMem(); err != nil || n != 80<<30 {
			t.Errorf("TotalMem() = %d, %v; want 80 GiB", n, err)
		}
		if dev.Ordinal() != 0 || c.Device() != dev {
			t.Errorf("Ordinal() = %d, Device() = %v", dev.Ordinal(), c.Device())
		}
		_, err := d.Device(1)
		wantCode(t, err, "cuDeviceGet", 101)
		if _, err := d.Device(-1); err == nil {
			t.Errorf("Device(-1) succeeded")
		}
		if _, err := d.NewContext(Device{}); err == nil {
			t.Errorf("NewContext(Device{}) succeeded")
		}
	})
	t.Run("Copies", func(t *testing.T) { testCopies(t, c) })
	t.Run("TypedCopies", func(t *testing.T) { testTypedCopies(t, c) })
	t.Run("Launch", func(t *testing.T) { testLaunch(t, c) })
	t.Run("Errors", func(t *testing.T) {
		testErrors(t, c)

		// The fake's exact JIT log.
		_, err := c.LoadModule([]byte("this is not PTX"))
		want := "cuda: cuModuleLoadDataEx: CUDA_ERROR_INVALID_PTX (218): a PTX JIT compilation failed; JIT error log: fakecuda: ptx has no .entry directive"
		if err == nil || err.Error() != want {
			t.Errorf("LoadModule(garbage) = %v, want %s", err, want)
		}

		// The fake detects freed device pointers.
		p, err := c.Alloc(64)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Free(p); err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.CopyDtoH(make([]byte, 64), p), "cuMemcpyDtoH_v2", CodeInvalidValue)
		wantCode(t, c.Free(p), "cuMemFree_v2", CodeInvalidValue)

		// A result the driver has no name for.
		e := wantCode(t, d.check("cuTest", 9999), "cuTest", 9999)
		if want := "cuda: cuTest: CUDA_ERROR_UNRECOGNIZED (9999): result code unknown to the driver"; e.Error() != want {
			t.Errorf("unknown code: %q, want %q", e.Error(), want)
		}
	})
	t.Run("Events", func(t *testing.T) {
		// The fake counts 0.5 ms per event recorded on a stream.
		if got := testEvents(t, c); got != time.Millisecond {
			t.Errorf("Elapsed = %v, want 1ms", got)
		}
		e, err := c.NewEvent()
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		_, err = Elapsed(e, e)
		wantCode(t, err, "cuEventElapsedTime", CodeInvalidHandle)
	})
	t.Run("Closed", func(t *testing.T) { testClosed(t, d, dev) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, c) })
	t.Run("ThreadAffinity", func(t *testing.T) {
		// The fake, like the driver, keeps the current context per OS
		// thread: a call from an ordinary goroutine has none. This is
		// what makes the tests above prove that every call ran on the
		// context's thread.
		var p DevicePtr
		wantCode(t, d.check("cuMemAlloc_v2", d.api.cuMemAlloc(&p, 64)), "cuMemAlloc_v2", 201)
	})
	t.Run("TwoContexts", func(t *testing.T) {
		// A second context of the same device shares the primary
		// context; closing it leaves the first one working.
		c2, err := d.NewContext(dev)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := c2.NewStream()
		if err != nil {
			t.Fatal(err)
		}
		p := mustAlloc(t, c, 8)
		if err := c.Launch(&Function{m: &Module{c: c2, h: 1}, name: "x"}, [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, nil, nil); err == nil || !strings.Contains(err.Error(), "another context") {
			t.Errorf("launch of another context's function: %v", err)
		}
		if err := s2.CopyHtoD(p, []byte{1}); err != nil {
			t.Errorf("copy on the second context's stream: %v", err)
		}
		ev, err := c.NewEvent()
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.Record(s2); err == nil || !strings.Contains(err.Error(), "another context") {
			t.Errorf("recording on another context's stream: %v", err)
		}
		if err := ev.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Memset8(p, 1, 8); err != nil {
			t.Errorf("first context after closing the second: %v", err)
		}
	})
}

func TestFakeNoDevice(t *testing.T) {
	d, err := Open(buildFake(t, "-DFAKECUDA_NO_DEVICE"))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Init()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Init() = %v, want ErrUnavailable", err)
	}
	wantCode(t, err, "cuInit", CodeNoDevice)
	if want := "cuda: driver unavailable: cuInit: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected"; err.Error() != want {
		t.Errorf("Init() = %q, want %q", err, want)
	}
}
