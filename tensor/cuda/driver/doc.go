// Package driver binds the CUDA driver API (libcuda.so.1) without cgo.
//
// The library is loaded at run time with purego (dlopen and dlsym), so a
// binary built with CGO_ENABLED=0 on a machine without CUDA runs kernels on
// a machine with an NVIDIA driver, and reports CUDA unavailable elsewhere.
// The binding covers what the GPU backend needs: initialisation, devices and
// their properties, primary contexts, modules loaded from PTX (JIT-compiled by
// the driver, with its error log on failure), device and page-locked host
// memory, synchronous and asynchronous copies and memsets, streams, events
// and their timings, and kernel launches. It uses the driver's versioned
// entry points (cuMemAlloc_v2, cuMemcpyHtoD_v2, ...) where it has several.
// The binding supports linux on amd64 and arm64; elsewhere Open reports
// CUDA unavailable.
//
// # Use
//
//	d, err := driver.Open("") // libcuda.so.1
//	if err != nil { ... }     // errors.Is(err, driver.ErrUnavailable)
//	if err := d.Init(); err != nil { ... }
//	dev, err := d.Device(0)
//	ctx, err := d.NewContext(dev)
//	defer ctx.Close()
//	mod, err := ctx.LoadModule(ptx)
//	add, err := mod.Function("add_u32")
//	p, err := ctx.Alloc(4 * n)
//	err = driver.CopyToDevice(ctx, p, xs)
//	var args driver.Args
//	args.Ptr(p).Ptr(p).Ptr(p).U32(uint32(n))
//	err = ctx.Launch(add, [3]uint32{blocks, 1, 1}, [3]uint32{256, 1, 1}, 0, nil, &args)
//	err = driver.CopyFromDevice(ctx, xs, p)
//
// # Threads
//
// The driver binds the current context to an OS thread, and Go moves
// goroutines between threads. A Context therefore owns one goroutine locked
// to its OS thread; that goroutine makes the context current once and runs
// every driver call made through the Context and its modules, streams and
// events, one at a time. Their methods may be called from any goroutine,
// concurrently: each hands its call to the context's goroutine and waits for
// it. Context.Close lets the calls already made finish, releases the primary
// context and ends the thread. Device queries are not bound to a context and
// run on the caller's goroutine.
//
// # Errors
//
// Every failed driver call returns an *Error carrying the entry point, the
// CUresult and the driver's name and description of it:
//
//	cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory
//
// Errors that mean CUDA cannot be used on this machine at all (no library,
// no device, a driver that does not match its kernel module) wrap
// ErrUnavailable, with the reason. Calls on closed handles return errors
// wrapping ErrClosed.
//
// # Testing without a GPU
//
// The package's tests build testdata/fakecuda.c, a host-memory stand-in for
// libcuda.so.1 that checks the current context per thread and the device
// pointers it is given, into a shared library with the C compiler on PATH
// (they skip, saying so, where there is none), and run the binding against
// it: copies, launches with argument marshalling, events, error paths and
// concurrent use. The tests that need a real GPU follow this pattern:
//
//	d, err := driver.Open("")
//	if err == nil {
//		err = d.Init()
//	}
//	if err != nil {
//		if driver.RequireGPU() { // COHORT_REQUIRE_GPU=1
//			t.Fatalf("GPU required: %v", err)
//		}
//		t.Skipf("no GPU: %v", err)
//	}
//
// so that on a GPU machine COHORT_REQUIRE_GPU=1 turns a missing driver or
// device into a failure instead of a silent skip.
package driver
