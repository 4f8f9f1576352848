package driver

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// Stream is a queue of device work (CUstream) in a Context. Work on one
// stream runs in order; work on different streams may overlap. A nil *Stream
// stands for the context's default stream wherever a stream is taken.
//
// Streams are created blocking (flags 0), so the default stream
// synchronizes with them: work on the default stream, the Context's
// synchronous copies and memsets included, waits for the work queued earlier
// on every stream, and work on a stream waits for the work queued earlier on
// the default stream.
type Stream struct {
	c *Context
	h uintptr // touched only on the context's thread; 0 once closed
}

// NewStream creates a stream (cuStreamCreate).
func (c *Context) NewStream() (*Stream, error) {
	s := &Stream{c: c}
	err := c.do(func() error {
		return c.d.check("cuStreamCreate", c.d.api.cuStreamCreate(&s.h, 0))
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// handle returns the driver handle of s, 0 for the default stream, or an
// error if s is closed or belongs to another context. Call it on the
// context's thread.
func (c *Context) handle(s *Stream) (uintptr, error) {
	if s == nil {
		return 0, nil
	}
	if s.c != c {
		return 0, errors.New("cuda: stream belongs to another context")
	}
	if s.h == 0 {
		return 0, fmt.Errorf("%w: stream", ErrClosed)
	}
	return s.h, nil
}

// Synchronize waits until the work queued on s has finished
// (cuStreamSynchronize), and reports the error of any that failed.
func (s *Stream) Synchronize() error {
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		return s.c.d.check("cuStreamSynchronize", s.c.d.api.cuStreamSynchronize(h))
	})
}

// Close destroys the stream (cuStreamDestroy_v2). Work already queued on it
// still runs.
func (s *Stream) Close() error {
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		s.h = 0
		return s.c.d.check("cuStreamDestroy_v2", s.c.d.api.cuStreamDestroy(h))
	})
}

// CopyHtoD enqueues a copy of src to device memory at dst
// (cuMemcpyHtoDAsync_v2). When src is memory from AllocHost, the copy runs
// asynchronously: src must stay alive and unchanged until the stream has been
// synchronized past it. From ordinary Go memory the driver stages the copy
// and it is not asynchronous; the same rule keeps such code correct.
func (s *Stream) CopyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		return s.c.d.check("cuMemcpyHtoDAsync_v2", s.c.d.api.cuMemcpyHtoDAsync(dst, unsafe.Pointer(&src[0]), uintptr(len(src)), h))
	})
}

// CopyDtoH enqueues a copy from device memory at src into dst
// (cuMemcpyDtoHAsync_v2). dst holds the data only once the stream has been
// synchronized past the copy; it must stay alive until then. Use memory from
// AllocHost for an asynchronous copy.
func (s *Stream) CopyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		return s.c.d.check("cuMemcpyDtoHAsync_v2", s.c.d.api.cuMemcpyDtoHAsync(unsafe.Pointer(&dst[0]), src, uintptr(len(dst)), h))
	})
}

// CopyDtoD enqueues a copy of n bytes of device memory from src to dst
// (cuMemcpyDtoDAsync_v2).
func (s *Stream) CopyDtoD(dst, src DevicePtr, n int) error {
	if n < 0 {
		return fmt.Errorf("cuda: device copy of %d bytes", n)
	}
	if n == 0 {
		return nil
	}
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		return s.c.d.check("cuMemcpyDtoDAsync_v2", s.c.d.api.cuMemcpyDtoDAsync(dst, src, uintptr(n), h))
	})
}

// Memset8 enqueues setting n bytes of device memory at dst to v
// (cuMemsetD8Async).
func (s *Stream) Memset8(dst DevicePtr, v byte, n int) error {
	if n < 0 {
		return fmt.Errorf("cuda: memset of %d bytes", n)
	}
	if n == 0 {
		return nil
	}
	return s.c.do(func() error {
		h, err := s.c.handle(s)
		if err != nil {
			return err
		}
		return s.c.d.check("cuMemsetD8Async", s.c.d.api.cuMemsetD8Async(dst, v, uintptr(n), h))
	})
}

// Event marks a point in a stream's work (CUevent), to wait for it or to time
// the work between two events.
type Event struct {
	c *Context
	h uintptr // touched only on the context's thread; 0 once closed
}

// NewEvent creates an event that records timing (cuEventCreate).
func (c *Context) NewEvent() (*Event, error) {
	e := &Event{c: c}
	err := c.do(func() error {
		return c.d.check("cuEventCreate", c.d.api.cuEventCreate(&e.h, 0))
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// handle returns the driver handle of e, or an error if it is closed.
func (e *Event) handle() (uintptr, error) {
	if e.h == 0 {
		return 0, fmt.Errorf("%w: event", ErrClosed)
	}
	return e.h, nil
}

// Record enqueues e on s (nil: the default stream) (cuEventRecord): the event
// completes when the work queued on s before it has.
func (e *Event) Record(s *Stream) error {
	return e.c.do(func() error {
		h, err := e.handle()
		if err != nil {
			return err
		}
		sh, err := e.c.handle(s)
		if err != nil {
			return err
		}
		return e.c.d.check("cuEventRecord", e.c.d.api.cuEventRecord(h, sh))
	})
}

// Synchronize waits until e has completed (cuEventSynchronize).
func (e *Event) Synchronize() error {
	return e.c.do(func() error {
		h, err := e.handle()
		if err != nil {
			return err
		}
		return e.c.d.check("cuEventSynchronize", e.c.d.api.cuEventSynchronize(h))
	})
}

// Close destroys the event (cuEventDestroy_v2).
func (e *Event) Close() error {
	return e.c.do(func() error {
		h, err := e.handle()
		if err != nil {
			return err
		}
		e.h = 0
		return e.c.d.check("cuEventDestroy_v2", e.c.d.api.cuEventDestroy(h))
	})
}

// Elapsed returns the device time between two completed events of one
// context (cuEventElapsedTime), with a resolution of about half a
// microsecond.
func Elapsed(start, end *Event) (time.Duration, error) {
	if start.c != end.c {
		return 0, errors.New("cuda: events belong to different contexts")
	}
	var ms float32
	err := start.c.do(func() error {
		sh, err := start.handle()
		if err != nil {
			return err
		}
		eh, err := end.handle()
		if err != nil {
			return err
		}
		return start.c.d.check("cuEventElapsedTime", start.c.d.api.cuEventElapsedTime(&ms, sh, eh))
	})
	if err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
