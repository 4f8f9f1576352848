package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// word is an element type of the ring kernels.
type word interface{ uint32 | uint64 }

func lengthPanic(op string, lens ...int) {
	panic(fmt.Sprintf("tensor/cuda: %s: vector lengths differ: %v", op, lens))
}

func driverPanic(op string, err error) {
	panic(fmt.Errorf("tensor/cuda: %s: %w", op, err))
}

// Out of device memory
//
// An operation whose device memory cannot be allocated (cuMemAlloc fails
// with CUDA_ERROR_OUT_OF_MEMORY) runs on the embedded CPU backend instead
// and gives the same result: its inputs are untouched at that point. Any
// other driver failure panics.

// errNoDeviceMemory is wrapped, with the driver's error, by the errors of
// alloc that mean the device has no room for the allocation.
var errNoDeviceMemory = errors.New("tensor/cuda: out of device memory")

// alloc allocates n bytes of device memory for one call. Its error wraps
// errNoDeviceMemory when the driver is out of memory.
func (b *Backend) alloc(n int) (driver.DevicePtr, error) {
	p, err := b.ctx.Alloc(n)
	if isOutOfMemory(err) {
		return 0, fmt.Errorf("%w: %w", errNoDeviceMemory, err)
	}
	return p, err
}

// onDevice runs run, the device half of op; if run cannot allocate its
// device memory, it runs cpu, which computes the same on the CPU backend.
// Other errors panic.
func onDevice(op string, run func() error, cpu func()) {
	err := run()
	switch {
	case err == nil:
	case errors.Is(err, errNoDeviceMemory):
		cpu()
	default:
		driverPanic(op, err)
	}
}

// grid returns the number of blocks for a kernel with items independent
// work items (elements, or AES blocks): one thread each, capped at
// maxBlocks, past which the kernels' grid-stride loops take the rest.
func (b *Backend) grid(items int) [3]uint32 {
	n := (uint64(items) + blockThreads - 1) / blockThreads
	return [3]uint32{uint32(max(1, min(n, b.maxBlocks))), 1, 1}
}

// launch runs fn over items work items on the default stream and returns
// when it is queued.
func (b *Backend) launch(fn *driver.Function, items int, args *driver.Args) error {
	return b.launchOn(nil, fn, items, args)
}

// launchOn runs fn over items work items on stream s (nil: the default
// stream) and returns when it is queued.
func (b *Backend) launchOn(s *driver.Stream, fn *driver.Function, items int, args *driver.Args) error {
	return b.ctx.Launch(fn, b.grid(items), [3]uint32{blockThreads, 1, 1}, 0, s, args)
}

// elementwise runs fn on the device over dst and ins, all of n elements of
// size bytes each: it uploads ins into one device buffer, calls args to build
// the kernel's argument list from the device pointers of dst and the inputs,
// launches and downloads dst. n must be positive.
func elementwise[T word](b *Backend, fn *driver.Function, dst []T, ins [][]T, args func(dst driver.DevicePtr, ins []driver.DevicePtr) *driver.Args) error {
	size := len(dst) * int(unsafe.Sizeof(dst[0]))
	buf, err := b.alloc(size * (1 + len(ins)))
	if err != nil {
		return err
	}
	defer b.ctx.Free(buf)
	ptrs := make([]driver.DevicePtr, len(ins))
	for i, in := range ins {
		ptrs[i] = buf.Add(size * (1 + i))
		if err := driver.CopyToDevice(b.ctx, ptrs[i], in); err != nil {
			return err
		}
	}
	if err := b.launch(fn, len(dst), args(buf, ptrs)); err != nil {
		return err
	}
	return driver.CopyFromDevice(b.ctx, dst, buf)
}

// binaryOp sets dst = fn(a, b) for a kernel with parameters (dst, a, b, n);
// cpu is the same operation on the CPU backend.
func binaryOp[T word](bk *Backend, fn *driver.Function, op string, dst, a, b []T, cpu func(dst, a, b []T)) {
	if len(a) != len(dst) || len(b) != len(dst) {
		lengthPanic(op, len(dst), len(a), len(b))
	}
	if len(dst) == 0 {
		return
	}
	onDevice(op, func() error {
		return elementwise(bk, fn, dst, [][]T{a, b}, func(d driver.DevicePtr, in []driver.DevicePtr) *driver.Args {
			var args driver.Args
			return args.Ptr(d).Ptr(in[0]).Ptr(in[1]).U64(uint64(len(dst)))
		})
	}, func() { cpu(dst, a, b) })
}

// unaryOp sets dst = fn(a) for a kernel with parameters (dst, a, [s,] n); scalar
// appends s when it is not nil. cpu is the same operation on the CPU backend.
func unaryOp[T word](bk *Backend, fn *driver.Function, op string, dst, a []T, scalar func(*driver.Args), cpu func(dst, a []T)) {
	if len(a) != len(dst) {
		lengthPanic(op, len(dst), len(a))
	}
	if len(dst) == 0 {
		return
	}
	onDevice(op, func() error {
		return elementwise(bk, fn, dst, [][]T{a}, func(d driver.DevicePtr, in []driver.DevicePtr) *driver.Args {
			var args driver.Args
			args.Ptr(d).Ptr(in[0])
			if scalar != nil {
				scalar(&args)
			}
			return args.U64(uint64(len(dst)))
		})
	}, func() { cpu(dst, a) })
}

// sum sets dst to the sum of vs with a kernel with parameters
// (dst, vs, nvec, n), vs a device array of nvec device pointers; cpu is the
// same operation on the CPU backend.
func sum[T word](b *Backend, fn *driver.Function, op string, dst []T, vs [][]T, cpu func(dst []T, vs ...[]T)) {
	for _, v := range vs {
		if len(v) != len(dst) {
			lens := []int{len(dst)}
			for _, v := range vs {
				lens = append(lens, len(v))
			}
			lengthPanic(op, lens...)
		}
	}
	if len(dst) == 0 {
		return
	}
	if len(vs) == 0 {
		clear(dst)
		return
	}
	if len(vs) > 1<<31-1 {
		panic(fmt.Sprintf("tensor/cuda: %s: %d vectors, at most 2^31-1", op, len(vs)))
	}
	onDevice(op, func() error { return sumOn(b, fn, dst, vs) }, func() { cpu(dst, vs...) })
}

func sumOn[T word](b *Backend, fn *driver.Function, dst []T, vs [][]T) error {
	// Layout: the nvec device pointers, then dst, then the vectors.
	size := len(dst) * int(unsafe.Sizeof(dst[0]))
	table := 8 * len(vs)
	buf, err := b.alloc(table + size*(1+len(vs)))
	if err != nil {
		return err
	}
	defer b.ctx.Free(buf)
	d := buf.Add(table)
	ptrs := make([]uint64, len(vs))
	for i, v := range vs {
		p := d.Add(size * (1 + i))
		ptrs[i] = uint64(p)
		if err := driver.CopyToDevice(b.ctx, p, v); err != nil {
			return err
		}
	}
	if err := driver.CopyToDevice(b.ctx, buf, ptrs); err != nil {
		return err
	}
	var args driver.Args
	args.Ptr(d).Ptr(buf).U32(uint32(len(vs))).U64(uint64(len(dst)))
	if err := b.launch(fn, len(dst), &args); err != nil {
		return err
	}
	return driver.CopyFromDevice(b.ctx, dst, d)
}

// AddU32 sets dst = a + b in Z/2^32.
func (b *Backend) AddU32(dst, x, y []uint32) {
	binaryOp(b, b.k.add32, "AddU32", dst, x, y, b.cpu.AddU32)
}

// SubU32 sets dst = a - b in Z/2^32.
func (b *Backend) SubU32(dst, x, y []uint32) {
	binaryOp(b, b.k.sub32, "SubU32", dst, x, y, b.cpu.SubU32)
}

// NegU32 sets dst = -a in Z/2^32.
func (b *Backend) NegU32(dst, a []uint32) { unaryOp(b, b.k.neg32, "NegU32", dst, a, nil, b.cpu.NegU32) }

// AddScalarU32 sets dst = a + s in Z/2^32.
func (b *Backend) AddScalarU32(dst, a []uint32, s uint32) {
	unaryOp(b, b.k.addScalar32, "AddScalarU32", dst, a, func(args *driver.Args) { args.U32(s) },
		func(dst, a []uint32) { b.cpu.AddScalarU32(dst, a, s) })
}

// SumU32 sets dst to the sum of vs in Z/2^32 (zero when vs is empty).
func (b *Backend) SumU32(dst []uint32, vs ...[]uint32) {
	sum(b, b.k.sum32, "SumU32", dst, vs, b.cpu.SumU32)
}

// AddU64 sets dst = a + b in Z/2^64.
func (b *Backend) AddU64(dst, x, y []uint64) {
	binaryOp(b, b.k.add64, "AddU64", dst, x, y, b.cpu.AddU64)
}

// SubU64 sets dst = a - b in Z/2^64.
func (b *Backend) SubU64(dst, x, y []uint64) {
	binaryOp(b, b.k.sub64, "SubU64", dst, x, y, b.cpu.SubU64)
}

// NegU64 sets dst = -a in Z/2^64.
func (b *Backend) NegU64(dst, a []uint64) { unaryOp(b, b.k.neg64, "NegU64", dst, a, nil, b.cpu.NegU64) }

// AddScalarU64 sets dst = a + s in Z/2^64.
func (b *Backend) AddScalarU64(dst, a []uint64, s uint64) {
	unaryOp(b, b.k.addScalar64, "AddScalarU64", dst, a, func(args *driver.Args) { args.U64(s) },
		func(dst, a []uint64) { b.cpu.AddScalarU64(dst, a, s) })
}

// SumU64 sets dst to the sum of vs in Z/2^64 (zero when vs is empty).
func (b *Backend) SumU64(dst []uint64, vs ...[]uint64) {
	sum(b, b.k.sum64, "SumU64", dst, vs, b.cpu.SumU64)
}

// Mod-q: the kernels take q and the Barrett and Shoup constants computed as
// in tensor/internal/modq.

// barrett returns k = bits.Len64(q) and mu = ⌊2^(2k)/q⌋.
func barrett(q uint64) (mu uint64, k uint32) {
	k = uint32(bits.Len64(q))
	var hi, lo uint64
	if 2*k >= 64 {
		hi = 1 << (2*k - 64)
	} else {
		lo = 1 << (2 * k)
	}
	mu, _ = bits.Div64(hi, lo, q)
	return mu, k
}

// ModAdd sets dst = a + b mod m.Q().
func (b *Backend) ModAdd(m *tensor.Modulus, dst, x, y []uint64) {
	b.modBinary(b.k.modAdd, "ModAdd", m, dst, x, y, b.cpu.ModAdd, false)
}

// ModSub sets dst = a - b mod m.Q().
func (b *Backend) ModSub(m *tensor.Modulus, dst, x, y []uint64) {
	b.modBinary(b.k.modSub, "ModSub", m, dst, x, y, b.cpu.ModSub, false)
}

// ModMul sets dst = a·b mod m.Q().
func (b *Backend) ModMul(m *tensor.Modulus, dst, x, y []uint64) {
	b.modBinary(b.k.modMul, "ModMul", m, dst, x, y, b.cpu.ModMul, true)
}

// modBinary runs a kernel with parameters (dst, a, b, n, q[, mu, k]); cpu is
// the same operation on the CPU backend.
func (b *Backend) modBinary(fn *driver.Function, op string, m *tensor.Modulus, dst, x, y []uint64,
	cpu func(m *tensor.Modulus, dst, a, b []uint64), withBarrett bool) {
	if len(x) != len(dst) || len(y) != len(dst) {
		lengthPanic(op, len(dst), len(x), len(y))
	}
	if len(dst) == 0 {
		return
	}
	q := m.Q()
	onDevice(op, func() error {
		return elementwise(b, fn, dst, [][]uint64{x, y}, func(d driver.DevicePtr, in []driver.DevicePtr) *driver.Args {
			var args driver.Args
			args.Ptr(d).Ptr(in[0]).Ptr(in[1]).U64(uint64(len(dst))).U64(q)
			if withBarrett {
				mu, k := barrett(q)
				args.U64(mu).U32(k)
			}
			return &args
		})
	}, func() { cpu(m, dst, x, y) })
}

// ModMulScalar sets dst = a·s mod m.Q(); s must be in [0, m.Q()).
func (b *Backend) ModMulScalar(m *tensor.Modulus, dst, a []uint64, s uint64) {
	if len(a) != len(dst) {
		lengthPanic("ModMulScalar", len(dst), len(a))
	}
	if len(dst) == 0 {
		return
	}
	q := m.Q()
	s = m.Reduce(s)
	sp, _ := bits.Div64(s, 0, q)
	onDevice("ModMulScalar", func() error {
		return elementwise(b, b.k.modMulScalar, dst, [][]uint64{a}, func(d driver.DevicePtr, in []driver.DevicePtr) *driver.Args {
			var args driver.Args
			return args.Ptr(d).Ptr(in[0]).U64(uint64(len(dst))).U64(q).U64(s).U64(sp)
		})
	}, func() { b.cpu.ModMulScalar(m, dst, a, s) })
}

// The operations below run on the CPU backend in this version.

// WeightedSumF32 sets dst[j] = Σ_i w[i]·vs[i][j] (on the CPU).
func (b *Backend) WeightedSumF32(dst []float32, w []float32, vs ...[]float32) {
	b.cpu.WeightedSumF32(dst, w, vs...)
}

// WeightedSumF64 sets dst[j] = Σ_i w[i]·vs[i][j] (on the CPU).
func (b *Backend) WeightedSumF64(dst []float64, w []float64, vs ...[]float64) {
	b.cpu.WeightedSumF64(dst, w, vs...)
}

// L2NormF32 returns the Euclidean norm of a (on the CPU).
func (b *Backend) L2NormF32(a []float32) float64 { return b.cpu.L2NormF32(a) }

// L2NormF64 returns the Euclidean norm of a (on the CPU).
func (b *Backend) L2NormF64(a []float64) float64 { return b.cpu.L2NormF64(a) }

// ClipToNormF32 sets dst = a·min(1, maxNorm/‖a‖) and returns ‖a‖ (on the CPU).
func (b *Backend) ClipToNormF32(dst, a []float32, maxNorm float64) float64 {
	return b.cpu.ClipToNormF32(dst, a, maxNorm)
}

// ClipToNormF64 sets dst = a·min(1, maxNorm/‖a‖) and returns ‖a‖ (on the CPU).
func (b *Backend) ClipToNormF64(dst, a []float64, maxNorm float64) float64 {
	return b.cpu.ClipToNormF64(dst, a, maxNorm)
}
