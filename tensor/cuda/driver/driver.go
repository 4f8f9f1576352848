package driver

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// DefaultLibrary is the driver library that Open loads when given "".
const DefaultLibrary = "libcuda.so.1"

// api holds the driver's entry points, bound by Open. Handles (contexts,
// modules, functions, streams, events) are C pointers kept as uintptr: the Go
// garbage collector never looks at them.
type api struct {
	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) int32
	cuDeviceTotalMem          func(bytes *uint64, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuModuleLoadDataEx        func(mod *uintptr, image unsafe.Pointer, nopts uint32, opts *int32, vals *uintptr) int32
	cuModuleGetFunction       func(fn *uintptr, mod uintptr, name string) int32
	cuModuleUnload            func(mod uintptr) int32
	cuMemAlloc                func(p *DevicePtr, n uintptr) int32
	cuMemFree                 func(p DevicePtr) int32
	cuMemAllocHost            func(p *unsafe.Pointer, n uintptr) int32
	cuMemFreeHost             func(p unsafe.Pointer) int32
	cuMemcpyHtoD              func(dst DevicePtr, src unsafe.Pointer, n uintptr) int32
	cuMemcpyDtoH              func(dst unsafe.Pointer, src DevicePtr, n uintptr) int32
	cuMemcpyDtoD              func(dst, src DevicePtr, n uintptr) int32
	cuMemcpyHtoDAsync         func(dst DevicePtr, src unsafe.Pointer, n uintptr, s uintptr) int32
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src DevicePtr, n uintptr, s uintptr) int32
	cuMemcpyDtoDAsync         func(dst, src DevicePtr, n uintptr, s uintptr) int32
	cuMemsetD8                func(dst DevicePtr, v uint8, n uintptr) int32
	cuMemsetD8Async           func(dst DevicePtr, v uint8, n uintptr, s uintptr) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy           func(s uintptr) int32
	cuStreamSynchronize       func(s uintptr) int32
	cuEventCreate             func(e *uintptr, flags uint32) int32
	cuEventRecord             func(e, s uintptr) int32
	cuEventSynchronize        func(e uintptr) int32
	cuEventElapsedTime        func(ms *float32, start, end uintptr) int32
	cuEventDestroy            func(e uintptr) int32
	cuLaunchKernel            func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, s uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32
	cuGetErrorName            func(r int32, s **byte) int32
	cuGetErrorString          func(r int32, s **byte) int32
}

// symbol pairs an entry point of the driver library with the api field it is
// bound to.
type symbol struct {
	name string
	fn   any // pointer to a func field of api
}

// symbols lists the entry points Open binds, under the names the driver
// exports them (the versioned ones where the driver has several).
func (a *api) symbols() []symbol {
	return []symbol{
		{"cuInit", &a.cuInit},
		{"cuDriverGetVersion", &a.cuDriverGetVersion},
		{"cuDeviceGetCount", &a.cuDeviceGetCount},
		{"cuDeviceGet", &a.cuDeviceGet},
		{"cuDeviceGetName", &a.cuDeviceGetName},
		{"cuDeviceGetAttribute", &a.cuDeviceGetAttribute},
		{"cuDeviceTotalMem_v2", &a.cuDeviceTotalMem},
		{"cuDevicePrimaryCtxRetain", &a.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &a.cuDevicePrimaryCtxRelease},
		{"cuCtxSetCurrent", &a.cuCtxSetCurrent},
		{"cuCtxSynchronize", &a.cuCtxSynchronize},
		{"cuModuleLoadDataEx", &a.cuModuleLoadDataEx},
		{"cuModuleGetFunction", &a.cuModuleGetFunction},
		{"cuModuleUnload", &a.cuModuleUnload},
		{"cuMemAlloc_v2", &a.cuMemAlloc},
		{"cuMemFree_v2", &a.cuMemFree},
		{"cuMemAllocHost_v2", &a.cuMemAllocHost},
		{"cuMemFreeHost", &a.cuMemFreeHost},
		{"cuMemcpyHtoD_v2", &a.cuMemcpyHtoD},
		{"cuMemcpyDtoH_v2", &a.cuMemcpyDtoH},
		{"cuMemcpyDtoD_v2", &a.cuMemcpyDtoD},
		{"cuMemcpyHtoDAsync_v2", &a.cuMemcpyHtoDAsync},
		{"cuMemcpyDtoHAsync_v2", &a.cuMemcpyDtoHAsync},
		{"cuMemcpyDtoDAsync_v2", &a.cuMemcpyDtoDAsync},
		{"cuMemsetD8_v2", &a.cuMemsetD8},
		{"cuMemsetD8Async", &a.cuMemsetD8Async},
		{"cuStreamCreate", &a.cuStreamCreate},
		{"cuStreamDestroy_v2", &a.cuStreamDestroy},
		{"cuStreamSynchronize", &a.cuStreamSynchronize},
		{"cuEventCreate", &a.cuEventCreate},
		{"cuEventRecord", &a.cuEventRecord},
		{"cuEventSynchronize", &a.cuEventSynchronize},
		{"cuEventElapsedTime", &a.cuEventElapsedTime},
		{"cuEventDestroy_v2", &a.cuEventDestroy},
		{"cuLaunchKernel", &a.cuLaunchKernel},
		{"cuGetErrorName", &a.cuGetErrorName},
		{"cuGetErrorString", &a.cuGetErrorString},
	}
}

// Driver is a loaded CUDA driver library. Its methods may be called from any
// goroutine. The library stays loaded for the life of the process.
type Driver struct {
	path string
	api  api
}

// Open loads the CUDA driver library at path ("" means DefaultLibrary,
// found the way the dynamic loader finds libraries) and binds the entry
// points this package uses. Where the library cannot be loaded or lacks one
// of them, the error wraps ErrUnavailable and says why. Open does not
// initialise the driver: call Init.
func Open(path string) (*Driver, error) {
	if path == "" {
		path = DefaultLibrary
	}
	d := &Driver{path: path}
	if err := load(path, &d.api); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return d, nil
}

// Path returns the library path Open was given (or DefaultLibrary).
func (d *Driver) Path() string { return d.path }

// Init initialises the driver (cuInit). It must succeed before any other
// call. Where the driver finds no usable device (CUDA_ERROR_NO_DEVICE, a stub
// library, a driver/kernel module mismatch, ...), the error wraps both
// ErrUnavailable and the *Error. Init may be called more than once.
func (d *Driver) Init() error {
	err := d.check("cuInit", d.api.cuInit(0))
	var e *Error
	if errors.As(err, &e) && unavailableCode(e.Code) {
		return &unavailableError{e}
	}
	return err
}

// unavailableError is a driver error that means CUDA cannot be used here.
type unavailableError struct{ err *Error }

func (u *unavailableError) Error() string {
	return ErrUnavailable.Error() + ": " + strings.TrimPrefix(u.err.Error(), "cuda: ")
}

func (u *unavailableError) Unwrap() []error { return []error{ErrUnavailable, u.err} }

// Version returns the CUDA version the driver supports, as 1000*major +
// 10*minor (12040 for CUDA 12.4).
func (d *Driver) Version() (int, error) {
	var v int32
	if err := d.check("cuDriverGetVersion", d.api.cuDriverGetVersion(&v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Devices returns the number of CUDA devices.
func (d *Driver) Devices() (int, error) {
	var n int32
	if err := d.check("cuDeviceGetCount", d.api.cuDeviceGetCount(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Device returns the device with ordinal i, 0 <= i < Devices().
func (d *Driver) Device(i int) (Device, error) {
	if i < 0 || int(int32(i)) != i {
		return Device{}, fmt.Errorf("cuda: device ordinal %d out of range", i)
	}
	var h int32
	if err := d.check("cuDeviceGet", d.api.cuDeviceGet(&h, int32(i))); err != nil {
		return Device{}, err
	}
	return Device{d: d, ordinal: i, h: h}, nil
}

// Device is a CUDA device, obtained from Driver.Device (the zero Device is
// not usable). Its queries are not bound to a context and may be made from
// any goroutine.
type Device struct {
	d       *Driver
	ordinal int
	h       int32
}

// Device attributes (CUdevice_attribute) that Device queries.
const (
	attrMultiprocessorCount    = 16
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
	deviceNameSize             = 256
)

// Ordinal returns the ordinal the device was obtained with.
func (dev Device) Ordinal() int { return dev.ordinal }

// Name returns the device's name, such as "NVIDIA H100 80GB HBM3".
func (dev Device) Name() (string, error) {
	buf := make([]byte, deviceNameSize)
	if err := dev.d.check("cuDeviceGetName", dev.d.api.cuDeviceGetName(&buf[0], int32(len(buf)), dev.h)); err != nil {
		return "", err
	}
	return cString(&buf[0]), nil
}

// ComputeCapability returns the device's compute capability (9, 0 for an
// H100).
func (dev Device) ComputeCapability() (major, minor int, err error) {
	if major, err = dev.attribute(attrComputeCapabilityMajor); err != nil {
		return 0, 0, err
	}
	if minor, err = dev.attribute(attrComputeCapabilityMinor); err != nil {
		return 0, 0, err
	}
	return major, minor, nil
}

// Multiprocessors returns the device's number of streaming multiprocessors.
func (dev Device) Multiprocessors() (int, error) {
	return dev.attribute(attrMultiprocessorCount)
}

// TotalMem returns the device's memory in bytes.
func (dev Device) TotalMem() (int64, error) {
	var n uint64
	if err := dev.d.check("cuDeviceTotalMem_v2", dev.d.api.cuDeviceTotalMem(&n, dev.h)); err != nil {
		return 0, err
	}
	return int64(n), nil
}

func (dev Device) attribute(attr int32) (int, error) {
	var v int32
	if err := dev.d.check("cuDeviceGetAttribute", dev.d.api.cuDeviceGetAttribute(&v, attr, dev.h)); err != nil {
		return 0, err
	}
	return int(v), nil
}
