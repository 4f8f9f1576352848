package driver

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// DevicePtr is an address in device memory (CUdeviceptr). The zero DevicePtr
// is the null pointer; Alloc(0) returns it.
type DevicePtr uint64

// Add returns p advanced by off bytes.
func (p DevicePtr) Add(off int) DevicePtr { return p + DevicePtr(off) }

// Context is the primary context of one device, with the OS thread that
// every driver call for it runs on.
//
// The driver keeps the current context per OS thread, and Go moves goroutines
// between threads. So a Context owns one goroutine, locked to its OS thread
// with runtime.LockOSThread, which makes the context current once and then
// runs every call made through the Context, one at a time, in the order the
// calls reach it. Methods may be called from any goroutine, concurrently;
// each waits for its call to finish. Close stops accepting calls, lets the
// calls already accepted finish, releases the primary context and ends the
// thread.
type Context struct {
	d   *Driver
	dev Device

	mu     sync.RWMutex // held for reading while submitting a call; for writing by Close
	closed bool
	calls  chan call
	done   chan error // receives the release error when the worker ends
}

// call is one closure run on a Context's thread.
type call struct {
	f    func() error
	done chan error
}

// NewContext retains dev's primary context (cuDevicePrimaryCtxRetain) and
// starts the context's thread. Close it when done.
func (d *Driver) NewContext(dev Device) (*Context, error) {
	if dev.d != d {
		return nil, errors.New("cuda: device does not belong to this driver")
	}
	c := &Context{d: d, dev: dev, calls: make(chan call), done: make(chan error, 1)}
	started := make(chan error, 1)
	go c.run(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// run is the context's thread: it makes the primary context current, serves
// calls until the calls channel is closed, and releases the context.
func (c *Context) run(started chan<- error) {
	// The thread is never unlocked: when run returns, the Go runtime ends it,
	// so no other goroutine ever runs on a thread with the context current.
	runtime.LockOSThread()
	api := &c.d.api
	var ctx uintptr
	if err := c.d.check("cuDevicePrimaryCtxRetain", api.cuDevicePrimaryCtxRetain(&ctx, c.dev.h)); err != nil {
		started <- err
		return
	}
	if err := c.d.check("cuCtxSetCurrent", api.cuCtxSetCurrent(ctx)); err != nil {
		started <- errors.Join(err, c.d.check("cuDevicePrimaryCtxRelease_v2", api.cuDevicePrimaryCtxRelease(c.dev.h)))
		return
	}
	started <- nil
	for cl := range c.calls {
		cl.done <- cl.f()
	}
	c.done <- errors.Join(
		c.d.check("cuCtxSetCurrent", api.cuCtxSetCurrent(0)),
		c.d.check("cuDevicePrimaryCtxRelease_v2", api.cuDevicePrimaryCtxRelease(c.dev.h)))
}

// do runs f on the context's thread and returns its error, or an error
// wrapping ErrClosed if the context is closed.
func (c *Context) do(f func() error) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return fmt.Errorf("%w: context", ErrClosed)
	}
	cl := call{f: f, done: make(chan error, 1)}
	c.calls <- cl
	c.mu.RUnlock()
	return <-cl.done
}

// Close waits for the calls already made to finish, stops the context's
// thread and releases the primary context (cuDevicePrimaryCtxRelease_v2).
// Free the context's memory, modules, streams and events first: the driver
// destroys the primary context, and all they hold, when the last retain of
// it is released. Calls after Close return errors wrapping ErrClosed; so
// does a second Close.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: context", ErrClosed)
	}
	c.closed = true
	close(c.calls)
	c.mu.Unlock()
	return <-c.done
}

// Device returns the context's device.
func (c *Context) Device() Device { return c.dev }

// Synchronize waits until the device has finished all work submitted in the
// context (cuCtxSynchronize), and reports the error of any that failed.
func (c *Context) Synchronize() error {
	return c.do(func() error {
		return c.d.check("cuCtxSynchronize", c.d.api.cuCtxSynchronize())
	})
}

// Alloc allocates n bytes of device memory (cuMemAlloc_v2). The memory is
// not initialised. Alloc(0) returns the null DevicePtr, which Free accepts.
func (c *Context) Alloc(n int) (DevicePtr, error) {
	if n < 0 {
		return 0, fmt.Errorf("cuda: alloc of %d bytes", n)
	}
	if n == 0 {
		return 0, nil
	}
	var p DevicePtr
	err := c.do(func() error {
		return c.d.check("cuMemAlloc_v2", c.d.api.cuMemAlloc(&p, uintptr(n)))
	})
	return p, err
}

// Free frees device memory returned by Alloc (cuMemFree_v2). Free(0) does
// nothing.
func (c *Context) Free(p DevicePtr) error {
	if p == 0 {
		return nil
	}
	return c.do(func() error {
		return c.d.check("cuMemFree_v2", c.d.api.cuMemFree(p))
	})
}

// AllocHost allocates n bytes of page-locked host memory (cuMemAllocHost_v2)
// and returns it as a byte slice. Copies to and from it run at full speed and,
// on a Stream, asynchronously. The slice is C memory, not managed by Go: it is
// valid until FreeHost and must not be used after it. AllocHost(0) returns an
// empty slice, which FreeHost accepts.
func (c *Context) AllocHost(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: host alloc of %d bytes", n)
	}
	if n == 0 {
		return []byte{}, nil
	}
	var p unsafe.Pointer
	err := c.do(func() error {
		return c.d.check("cuMemAllocHost_v2", c.d.api.cuMemAllocHost(&p, uintptr(n)))
	})
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// FreeHost frees memory returned by AllocHost (cuMemFreeHost). b must be the
// whole slice AllocHost returned (or start where it started).
func (c *Context) FreeHost(b []byte) error {
	if cap(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	return c.do(func() error {
		return c.d.check("cuMemFreeHost", c.d.api.cuMemFreeHost(p))
	})
}

// CopyHtoD copies src to device memory at dst (cuMemcpyHtoD_v2). It returns
// when the copy is done.
func (c *Context) CopyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return c.do(func() error {
		return c.d.check("cuMemcpyHtoD_v2", c.d.api.cuMemcpyHtoD(dst, unsafe.Pointer(&src[0]), uintptr(len(src))))
	})
}

// CopyDtoH fills dst from device memory at src (cuMemcpyDtoH_v2). It returns
// when the copy is done.
func (c *Context) CopyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return c.do(func() error {
		return c.d.check("cuMemcpyDtoH_v2", c.d.api.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), src, uintptr(len(dst))))
	})
}

// CopyDtoD copies n bytes of device memory from src to dst
// (cuMemcpyDtoD_v2).
func (c *Context) CopyDtoD(dst, src DevicePtr, n int) error {
	if n < 0 {
		return fmt.Errorf("cuda: device copy of %d bytes", n)
	}
	if n == 0 {
		return nil
	}
	return c.do(func() error {
		return c.d.check("cuMemcpyDtoD_v2", c.d.api.cuMemcpyDtoD(dst, src, uintptr(n)))
	})
}

// Memset8 sets n bytes of device memory at dst to v (cuMemsetD8_v2).
func (c *Context) Memset8(dst DevicePtr, v byte, n int) error {
	if n < 0 {
		return fmt.Errorf("cuda: memset of %d bytes", n)
	}
	if n == 0 {
		return nil
	}
	return c.do(func() error {
		return c.d.check("cuMemsetD8_v2", c.d.api.cuMemsetD8(dst, v, uintptr(n)))
	})
}

// Elem is the element types of the typed copies.
type Elem interface {
	~uint8 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Bytes returns the memory of s as bytes (in host byte order), without a
// copy: for staging typed vectors in page-locked buffers.
func Bytes[T Elem](s []T) []byte {
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// CopyToDevice copies src to device memory at dst, in host byte order.
func CopyToDevice[T Elem](c *Context, dst DevicePtr, src []T) error {
	return c.CopyHtoD(dst, Bytes(src))
}

// CopyFromDevice fills dst from device memory at src.
func CopyFromDevice[T Elem](c *Context, dst []T, src DevicePtr) error {
	return c.CopyDtoH(Bytes(dst), src)
}

// CopyToDeviceAsync enqueues a copy of src to device memory at dst on s. See
// Stream.CopyHtoD for how long src must stay untouched.
func CopyToDeviceAsync[T Elem](s *Stream, dst DevicePtr, src []T) error {
	return s.CopyHtoD(dst, Bytes(src))
}

// CopyFromDeviceAsync enqueues a copy from device memory at src into dst on
// s. See Stream.CopyDtoH for when dst may be read.
func CopyFromDeviceAsync[T Elem](s *Stream, dst []T, src DevicePtr) error {
	return s.CopyDtoH(Bytes(dst), src)
}
