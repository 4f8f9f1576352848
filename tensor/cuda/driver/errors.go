package driver

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// ErrUnavailable is wrapped by the errors that say CUDA cannot be used on
// this machine at all: the driver library cannot be loaded or lacks an entry
// point, or cuInit finds no usable device. Callers fall back to the CPU on it.
var ErrUnavailable = errors.New("cuda: driver unavailable")

// ErrClosed is wrapped by the errors of calls on a Context, Module, Stream or
// Event that has been closed.
var ErrClosed = errors.New("cuda: use of closed handle")

// Codes of the CUresult values that callers may want to tell apart. Compare
// them with Error.Code.
const (
	CodeInvalidValue  = 1   // CUDA_ERROR_INVALID_VALUE
	CodeOutOfMemory   = 2   // CUDA_ERROR_OUT_OF_MEMORY
	CodeNoDevice      = 100 // CUDA_ERROR_NO_DEVICE
	CodeInvalidPTX    = 218 // CUDA_ERROR_INVALID_PTX
	CodeNotFound      = 500 // CUDA_ERROR_NOT_FOUND
	CodeLaunchFailed  = 719 // CUDA_ERROR_LAUNCH_FAILED
	CodeInvalidHandle = 400 // CUDA_ERROR_INVALID_HANDLE
)

// unavailableCode reports whether the cuInit result code means "no CUDA
// here" rather than a bug: no device, a stub or too old library, a driver that
// does not match its kernel module, a device that is busy or unsupported.
func unavailableCode(code int) bool {
	switch code {
	case 34, // CUDA_ERROR_STUB_LIBRARY
		35,  // CUDA_ERROR_INSUFFICIENT_DRIVER
		46,  // CUDA_ERROR_DEVICE_UNAVAILABLE
		100, // CUDA_ERROR_NO_DEVICE
		802, // CUDA_ERROR_SYSTEM_NOT_READY
		803, // CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
		804: // CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE
		return true
	}
	return false
}

// Error is a failed driver call: the entry point that failed, the CUresult it
// returned, and the driver's name and description of that result.
type Error struct {
	Call string // driver entry point, such as "cuMemAlloc_v2"
	Code int    // CUresult
	Name string // such as "CUDA_ERROR_OUT_OF_MEMORY"
	Msg  string // such as "out of memory"
}

// Error formats e as "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out
// of memory".
func (e *Error) Error() string {
	return fmt.Sprintf("cuda: %s: %s (%d): %s", e.Call, e.Name, e.Code, e.Msg)
}

// RequireGPU reports whether the environment variable COHORT_REQUIRE_GPU is
// "1", in which case tests that need a GPU must fail, not skip, when none is
// usable. It reads the environment on every call.
func RequireGPU() bool {
	return os.Getenv("COHORT_REQUIRE_GPU") == "1"
}

// check turns the result r of the driver call named call into nil or an
// *Error carrying the driver's name and description of r.
func (d *Driver) check(call string, r int32) error {
	if r == 0 {
		return nil
	}
	e := &Error{Call: call, Code: int(r), Name: "CUDA_ERROR_UNRECOGNIZED", Msg: "result code unknown to the driver"}
	var s *byte
	if d.api.cuGetErrorName(r, &s) == 0 && s != nil {
		e.Name = cString(s)
	}
	s = nil
	if d.api.cuGetErrorString(r, &s) == 0 && s != nil {
		e.Msg = cString(s)
	}
	return e
}

// cString copies the NUL-terminated C string at p.
func cString(p *byte) string {
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
