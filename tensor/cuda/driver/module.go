package driver

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// JIT options (CUjit_option) that LoadModule passes.
const (
	jitErrorLogBuffer          = 5 // CU_JIT_ERROR_LOG_BUFFER
	jitErrorLogBufferSizeBytes = 6 // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
	jitLogSize                 = 16 << 10
)

// Module is code loaded into a Context (CUmodule).
type Module struct {
	c *Context
	h uintptr // touched only on the context's thread; 0 once closed
}

// LoadModule loads a module from a PTX text, a cubin or a fatbin image
// (cuModuleLoadDataEx); PTX is compiled by the driver's JIT for the device.
// The image need not end in a NUL byte: LoadModule adds one to a copy where
// it is missing, as the driver reads PTX as a C string. When the image does
// not load, the error wraps the *Error and carries the JIT's error log.
func (c *Context) LoadModule(image []byte) (*Module, error) {
	img := image
	if len(img) == 0 || img[len(img)-1] != 0 {
		img = append(image[:len(image):len(image)], 0)
	}
	log := make([]byte, jitLogSize)
	m := &Module{c: c}
	err := c.do(func() error {
		// The option values hold the address of log: pin it while the
		// driver may write to it.
		var pin runtime.Pinner
		pin.Pin(&log[0])
		defer pin.Unpin()
		opts := [...]int32{jitErrorLogBuffer, jitErrorLogBufferSizeBytes}
		vals := [...]uintptr{uintptr(unsafe.Pointer(&log[0])), uintptr(len(log))}
		return c.d.check("cuModuleLoadDataEx",
			c.d.api.cuModuleLoadDataEx(&m.h, unsafe.Pointer(&img[0]), uint32(len(opts)), &opts[0], &vals[0]))
	})
	if err != nil {
		if i := bytes.IndexByte(log, 0); i >= 0 {
			log = log[:i]
		}
		if msg := strings.TrimSpace(string(log)); msg != "" {
			return nil, fmt.Errorf("%w; JIT error log: %s", err, msg)
		}
		return nil, err
	}
	return m, nil
}

// Function returns the kernel called name in the module
// (cuModuleGetFunction). name is the symbol in the image: a kernel declared
// extern "C" in CUDA C keeps its name; others are C++-mangled.
func (m *Module) Function(name string) (*Function, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("cuda: invalid kernel name %q", name)
	}
	fn := &Function{m: m, name: name}
	err := m.c.do(func() error {
		if m.h == 0 {
			return fmt.Errorf("%w: module", ErrClosed)
		}
		if err := m.c.d.check("cuModuleGetFunction", m.c.d.api.cuModuleGetFunction(&fn.h, m.h, name)); err != nil {
			return fmt.Errorf("kernel %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fn, nil
}

// Close unloads the module (cuModuleUnload). Its functions can no longer be
// launched.
func (m *Module) Close() error {
	return m.c.do(func() error {
		if m.h == 0 {
			return fmt.Errorf("%w: module", ErrClosed)
		}
		h := m.h
		m.h = 0
		return m.c.d.check("cuModuleUnload", m.c.d.api.cuModuleUnload(h))
	})
}

// Function is a kernel of a Module (CUfunction).
type Function struct {
	m    *Module
	h    uintptr
	name string
}

// Name returns the kernel's name.
func (fn *Function) Name() string { return fn.name }

// Args is the parameter list of a kernel launch, built in the order of the
// kernel's parameters:
//
//	var a driver.Args
//	a.Ptr(dst).Ptr(x).Ptr(y).U32(uint32(n)) // add_u32(uint32_t *dst, const uint32_t *x, const uint32_t *y, uint32_t n)
//
// A device pointer parameter (T* in the kernel) is passed with Ptr, as the
// DevicePtr value; a scalar parameter with the method of its C type (U32 for
// uint32_t and unsigned int, U64 for uint64_t and size_t, F32 for float, F64
// for double). The driver reads the argument values during Launch, so an Args
// may be changed or reset and reused as soon as Launch returns. The zero Args
// is an empty list.
//
// Each value is kept in its own 8-byte slots (one for a scalar or a pointer,
// as many as it needs for a struct passed by value); the launch passes the
// driver an array of pointers to the first slot of each (the void**
// kernelParams of cuLaunchKernel).
type Args struct {
	slots []uint64
	offs  []int // offs[i] is the first slot of argument i
}

// next appends n zeroed slots for one argument and returns a pointer to the
// first.
func (a *Args) next() unsafe.Pointer { return a.nextN(1) }

func (a *Args) nextN(n int) unsafe.Pointer {
	a.offs = append(a.offs, len(a.slots))
	for range n {
		a.slots = append(a.slots, 0)
	}
	return unsafe.Pointer(&a.slots[a.offs[len(a.offs)-1]])
}

// Ptr appends a device pointer.
func (a *Args) Ptr(p DevicePtr) *Args {
	*(*DevicePtr)(a.next()) = p
	return a
}

// U32 appends a 32-bit unsigned integer.
func (a *Args) U32(v uint32) *Args {
	*(*uint32)(a.next()) = v
	return a
}

// U64 appends a 64-bit unsigned integer.
func (a *Args) U64(v uint64) *Args {
	*(*uint64)(a.next()) = v
	return a
}

// F32 appends a float.
func (a *Args) F32(v float32) *Args {
	*(*float32)(a.next()) = v
	return a
}

// F64 appends a double.
func (a *Args) F64(v float64) *Args {
	*(*float64)(a.next()) = v
	return a
}

// Bytes appends a parameter passed by value whose memory is b: a struct
// parameter of the kernel (T, not T*), laid out as the kernel's C type. The
// bytes are copied; the driver reads as many as the kernel's parameter has.
func (a *Args) Bytes(b []byte) *Args {
	p := a.nextN(max(1, (len(b)+7)/8))
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	return a
}

// Len returns the number of arguments.
func (a *Args) Len() int { return len(a.offs) }

// Reset empties the list, keeping its storage.
func (a *Args) Reset() { a.slots, a.offs = a.slots[:0], a.offs[:0] }

// pointers returns the kernelParams array: a pointer to each argument.
func (a *Args) pointers() []unsafe.Pointer {
	ptrs := make([]unsafe.Pointer, len(a.offs))
	for i, off := range a.offs {
		ptrs[i] = unsafe.Pointer(&a.slots[off])
	}
	return ptrs
}

// Launch enqueues fn on s (nil: the default stream) with grid×block threads,
// shared bytes of dynamic shared memory and the arguments args (nil: none)
// (cuLaunchKernel). It returns when the launch is queued: errors of the
// kernel's run surface from a later Synchronize. The arguments must match the
// kernel's parameters in number, order and type; the driver cannot check.
func (c *Context) Launch(fn *Function, grid, block [3]uint32, shared int, s *Stream, args *Args) error {
	if shared < 0 || uint64(shared) > math.MaxUint32 {
		return fmt.Errorf("cuda: launch of %s with %d bytes of shared memory", fn.name, shared)
	}
	var ptrs []unsafe.Pointer
	if args != nil && len(args.slots) > 0 {
		ptrs = args.pointers()
	}
	return c.do(func() error {
		if fn.m.c != c {
			return fmt.Errorf("cuda: launch of %s: function belongs to another context", fn.name)
		}
		if fn.m.h == 0 {
			return fmt.Errorf("%w: module of %s", ErrClosed, fn.name)
		}
		sh, err := c.handle(s)
		if err != nil {
			return err
		}
		var params *unsafe.Pointer
		if len(ptrs) > 0 {
			// The pointer array handed to the driver points into
			// args.slots: pin them for the call.
			var pin runtime.Pinner
			pin.Pin(&args.slots[0])
			defer pin.Unpin()
			params = &ptrs[0]
		}
		r := c.d.api.cuLaunchKernel(fn.h, grid[0], grid[1], grid[2], block[0], block[1], block[2], uint32(shared), sh, params, nil)
		if err := c.d.check("cuLaunchKernel", r); err != nil {
			return fmt.Errorf("kernel %s: %w", fn.name, err)
		}
		return nil
	})
}
