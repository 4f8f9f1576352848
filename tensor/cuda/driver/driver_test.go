package driver

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// needGPU skips tb with reason, or fails it when RequireGPU says a GPU is
// required.
func needGPU(tb testing.TB, reason error) {
	tb.Helper()
	if RequireGPU() {
		tb.Fatalf("COHORT_REQUIRE_GPU=1 but no usable GPU: %v", reason)
	} else {
		tb.Skipf("no usable GPU: %v", reason)
	}
}

// skipUnsupported skips tests of the loader's messages where the binding
// does not load libraries at all.
func skipUnsupported(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the binding does not load libraries on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
}

func TestOpenMissingLibrary(t *testing.T) {
	skipUnsupported(t)
	path := filepath.Join(t.TempDir(), "libcuda-missing.so.1")
	d, err := Open(path)
	if err == nil {
		t.Fatalf("Open(%q) = %v, want an error", path, d)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open(%q) error %v does not wrap ErrUnavailable", path, err)
	}
	// The reason is the dynamic loader's: it names the file and says it is
	// not there.
	for _, want := range []string{"cuda: driver unavailable: ", path, "No such file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) error %q does not contain %q", path, err, want)
		}
	}
}

func TestOpenLibraryWithoutDriver(t *testing.T) {
	skipUnsupported(t)
	// libc loads but has none of the driver's entry points.
	_, err := Open("libc.so.6")
	if err != nil && strings.Contains(err.Error(), "dlopen:") {
		t.Skipf("no libc.so.6 to load: %v", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open(libc.so.6) error %v does not wrap ErrUnavailable", err)
	}
	for _, want := range []string{"dlsym cuInit:", "dlsym cuLaunchKernel:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(libc.so.6) error %q does not contain %q", err, want)
		}
	}
}

func TestRequireGPU(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want bool
	}{{"", false}, {"0", false}, {"true", false}, {"1", true}} {
		t.Setenv("COHORT_REQUIRE_GPU", tc.env)
		if got := RequireGPU(); got != tc.want {
			t.Errorf("COHORT_REQUIRE_GPU=%q: RequireGPU() = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// recordingTB records what needGPU does instead of stopping the test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordingTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestNeedGPU(t *testing.T) {
	reason := fmt.Errorf("%w: libcuda.so.1: dlopen: not found", ErrUnavailable)

	t.Setenv("COHORT_REQUIRE_GPU", "")
	var r recordingTB
	needGPU(&r, reason)
	if want := "no usable GPU: " + reason.Error(); r.skipped != want || r.failed != "" {
		t.Errorf("without COHORT_REQUIRE_GPU: skipped %q, failed %q; want skipped %q", r.skipped, r.failed, want)
	}

	t.Setenv("COHORT_REQUIRE_GPU", "1")
	r = recordingTB{}
	needGPU(&r, reason)
	if want := "COHORT_REQUIRE_GPU=1 but no usable GPU: " + reason.Error(); r.failed != want || r.skipped != "" {
		t.Errorf("with COHORT_REQUIRE_GPU=1: skipped %q, failed %q; want failed %q", r.skipped, r.failed, want)
	}
}

func TestArgsLayout(t *testing.T) {
	var a Args
	if a.Len() != 0 || a.pointers() != nil && len(a.pointers()) != 0 {
		t.Fatalf("zero Args has %d arguments", a.Len())
	}
	a.Ptr(0xdeadbeef00).U32(0x89abcdef).U64(0x0123456789abcdef).F32(-1.5).F64(math.Pi)
	if a.Len() != 5 {
		t.Fatalf("Len() = %d, want 5", a.Len())
	}
	p := a.pointers()
	if len(p) != 5 {
		t.Fatalf("pointers() has %d entries, want 5", len(p))
	}
	for i := range p {
		if p[i] != unsafe.Pointer(&a.slots[i]) {
			t.Errorf("pointer %d = %p, want the address of slot %d, %p", i, p[i], i, &a.slots[i])
		}
		if uintptr(p[i])%8 != 0 {
			t.Errorf("pointer %d = %p is not 8-byte aligned", i, p[i])
		}
	}
	if got := *(*DevicePtr)(p[0]); got != 0xdeadbeef00 {
		t.Errorf("arg 0 = %#x, want 0xdeadbeef00", got)
	}
	if got := *(*uint32)(p[1]); got != 0x89abcdef {
		t.Errorf("arg 1 = %#x, want 0x89abcdef", got)
	}
	if got := *(*uint64)(p[2]); got != 0x0123456789abcdef {
		t.Errorf("arg 2 = %#x, want 0x0123456789abcdef", got)
	}
	if got := *(*float32)(p[3]); got != -1.5 {
		t.Errorf("arg 3 = %v, want -1.5", got)
	}
	if got := *(*float64)(p[4]); got != math.Pi {
		t.Errorf("arg 4 = %v, want pi", got)
	}

	a.Reset()
	if a.Len() != 0 {
		t.Fatalf("Len() after Reset = %d, want 0", a.Len())
	}
	a.U32(7)
	if got := *(*uint32)(a.pointers()[0]); got != 7 {
		t.Errorf("arg 0 after Reset = %d, want 7", got)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Call: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY", Msg: "out of memory"}
	if got, want := e.Error(), "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("%w: %w", ErrUnavailable, e)
	var got *Error
	if !errors.As(wrapped, &got) || got != e {
		t.Errorf("errors.As(%v) did not find the *Error", wrapped)
	}
	if !errors.Is(wrapped, ErrUnavailable) {
		t.Errorf("%v does not wrap ErrUnavailable", wrapped)
	}
}

func TestUnavailableCode(t *testing.T) {
	for code, want := range map[int]bool{
		0: false, CodeInvalidValue: false, CodeOutOfMemory: false, 3: false,
		34: true, 35: true, 46: true, CodeNoDevice: true, 802: true, 803: true, 804: true, 999: false,
	} {
		if got := unavailableCode(code); got != want {
			t.Errorf("unavailableCode(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestDevicePtrAdd(t *testing.T) {
	if got := DevicePtr(0x1000).Add(0x234); got != 0x1234 {
		t.Errorf("Add = %#x, want 0x1234", got)
	}
}

// TestArgsBytes: a by-value struct argument takes as many 8-byte slots as
// it needs, its bytes copied, and the arguments after it start past them.
func TestArgsBytes(t *testing.T) {
	key := make([]byte, 20)
	for i := range key {
		key[i] = byte(i + 1)
	}
	var a Args
	a.U32(1).Bytes(key).U64(7).Bytes(nil)
	if a.Len() != 4 {
		t.Fatalf("Len() = %d, want 4", a.Len())
	}
	p := a.pointers()
	if p[1] != unsafe.Pointer(&a.slots[1]) || p[2] != unsafe.Pointer(&a.slots[4]) || p[3] != unsafe.Pointer(&a.slots[5]) {
		t.Fatalf("argument slots %p %p %p, want slots 1, 4 and 5", p[1], p[2], p[3])
	}
	if got := unsafe.Slice((*byte)(p[1]), len(key)); !bytes.Equal(got, key) {
		t.Errorf("by-value bytes %x, want %x", got, key)
	}
	key[0] = 99 // Bytes copied: later changes do not reach the launch
	if got := *(*byte)(p[1]); got != 1 {
		t.Errorf("the argument follows its source: %d", got)
	}
	if got := *(*uint64)(p[2]); got != 7 {
		t.Errorf("the argument after the bytes = %d, want 7", got)
	}
	if len(a.slots) != 6 {
		t.Errorf("%d slots, want 6 (1 + 3 + 1 + 1 for the empty value)", len(a.slots))
	}
}
