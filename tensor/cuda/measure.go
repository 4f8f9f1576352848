package cuda

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// DefaultMeasureWords is the default length of Measure's buffers in uint32
// words: 2^26 words, 256 MiB each, far past the device's L2 cache.
const DefaultMeasureWords = 1 << 26

// defaultMeasureReps is the default number of timed launches per kernel.
const defaultMeasureReps = 10

// measureVectors is the number of vectors the Sum kernels add.
const measureVectors = 8

// The names of the measurements that are not kernels.
const (
	// MeasureCopyDtoD is a device-to-device copy of one buffer
	// (cuMemcpyDtoDAsync): the limit of every kernel.
	MeasureCopyDtoD = "cuMemcpyDtoDAsync"
	// MeasureCopyHtoD is a host-to-device copy of one buffer from Go
	// memory (cuMemcpyHtoD): the limit of the host path.
	MeasureCopyHtoD = "cuMemcpyHtoD"
	// MeasureHostAddU32 is Backend.AddU32 on host slices: upload of both
	// inputs, launch and download of the result.
	MeasureHostAddU32 = "AddU32"
)

// ErrMeasureConfig is returned, wrapped, by Measure for a MeasureConfig it
// cannot run.
var ErrMeasureConfig = errors.New("tensor/cuda: bad measure configuration")

// ErrWrongResult is returned, wrapped, by Measure when a kernel's output
// fails its sanity check.
var ErrWrongResult = errors.New("tensor/cuda: kernel gave a wrong result")

// MeasureConfig configures Measure.
type MeasureConfig struct {
	// Words is the length of every buffer in uint32 words (4·Words bytes);
	// the uint64 kernels process Words/2 elements over the same bytes. It
	// must be a multiple of 64, so that every buffer starts 256-byte
	// aligned; 0 means DefaultMeasureWords. Measure allocates
	// 9 buffers (36·Words bytes) of device memory, and for the host path
	// three buffers of Go memory and, inside AddU32, three more of device
	// memory.
	Words int
	// Reps is the number of timed launches of each kernel (0: 10).
	Reps int
}

// Measurement is the speed of one kernel or copy.
//
// Bytes counts, for every measurement alike, the bytes one launch reads
// plus the bytes it writes, each buffer once, so that ratios between
// measurements compare like with like. With S = 4·Words the bytes of one
// buffer:
//
//   - a copy of S bytes (MeasureCopyDtoD, MeasureCopyHtoD): 2S, S read and
//     S written;
//   - add, sub (u32, u64), mod-q add and Barrett mul: 3S, two inputs read,
//     one output written;
//   - sum of 8 vectors: 9S, eight read, one written;
//   - fused AES-CTR expand-add: 2S, the vector read and written in place;
//     its Keystream is S, the keystream bytes it generates and adds;
//   - quantise f32→u32: 2S, S of float32 read and S of words written; its
//     Keystream is S, one uint32 rounding word per element;
//   - dequantise u32→f32: 2S, words read, float32 written;
//   - MeasureHostAddU32: 3S, its two host inputs and one host output, the
//     same count as the device add; the host↔device transfers it makes on
//     the way (2S up, S down) are not counted again. A bus-bound AddU32
//     therefore reaches at most half the rate of MeasureCopyHtoD, which
//     moves S over the bus and counts 2S.
type Measurement struct {
	// Name is the kernel's entry point (cohort_add_u32, ...), or one of
	// MeasureCopyDtoD, MeasureCopyHtoD and MeasureHostAddU32.
	Name string
	// Detail says what one launch computes, for people reading a table.
	Detail string
	// Elements is the number of elements one launch processes.
	Elements int
	// Bytes is the bytes one launch reads plus writes (see above).
	Bytes int64
	// Keystream is the AES-CTR keystream bytes one launch generates; 0
	// for kernels without AES.
	Keystream int64
	// Time is the median time of one launch. Device kernels and the
	// device copy are timed with CUDA events on one stream, launched back
	// to back after a warm-up launch; MeasureCopyHtoD and
	// MeasureHostAddU32 with the host clock, each call synchronous.
	Time time.Duration
	// Limit is the Name of the copy this measurement is held to:
	// MeasureCopyDtoD for the device kernels, MeasureCopyHtoD for
	// MeasureHostAddU32; empty for the copies themselves.
	Limit string
}

// Throughput returns Bytes per second.
func (m Measurement) Throughput() float64 { return float64(m.Bytes) / m.Time.Seconds() }

// KeystreamRate returns Keystream bytes per second (0 without keystream).
func (m Measurement) KeystreamRate() float64 { return float64(m.Keystream) / m.Time.Seconds() }

// Measure times the device kernels against a device-to-device copy of the
// same bytes, and the host path of AddU32 against a host-to-device copy,
// on buffers allocated once. It returns, in this order: MeasureCopyDtoD,
// cohort_add_u32, cohort_sub_u32, cohort_add_u64, cohort_sub_u64,
// cohort_sum_u32, cohort_sum_u64, cohort_mod_add, cohort_mod_mul,
// cohort_aesctr_expand_add_u32, cohort_aesctr_expand_add_u64,
// cohort_quantize_f32_u32, cohort_dequantize_u32_f32, MeasureCopyHtoD and
// MeasureHostAddU32. It checks the results of cohort_add_u32,
// cohort_sum_u32 and the host AddU32 at a few words (ErrWrongResult);
// the other kernels' correctness is tested elsewhere. Every driver call is
// checked, and the memory is freed on every path. Measure may run beside
// other operations on b but then measures them too.
func (b *Backend) Measure(ctx context.Context, cfg MeasureConfig) ([]Measurement, error) {
	words, reps := cfg.Words, cfg.Reps
	if words == 0 {
		words = DefaultMeasureWords
	}
	if reps == 0 {
		reps = defaultMeasureReps
	}
	if words < 0 || words%64 != 0 {
		return nil, fmt.Errorf("%w: %d words, want a positive multiple of 64", ErrMeasureConfig, words)
	}
	if reps < 0 {
		return nil, fmt.Errorf("%w: %d reps", ErrMeasureConfig, reps)
	}
	dev, err := b.measureDevice(ctx, words, reps)
	if err != nil {
		return nil, err
	}
	host, err := b.measureHost(ctx, words, reps)
	if err != nil {
		return nil, err
	}
	return append(dev, host...), nil
}

// meter times launches on one stream with reps+1 events.
type meter struct {
	s    *driver.Stream
	ev   []*driver.Event
	reps int
}

// time runs launch once to warm up, then reps times back to back with an
// event recorded after each, and returns the median time between
// consecutive events. The warm-up launch keeps the stream busy while the
// first event is queued, so that no interval includes the host's
// submission.
func (m *meter) time(launch func() error) (time.Duration, error) {
	if err := launch(); err != nil {
		return 0, err
	}
	if err := m.ev[0].Record(m.s); err != nil {
		return 0, err
	}
	for i := range m.reps {
		if err := launch(); err != nil {
			return 0, err
		}
		if err := m.ev[i+1].Record(m.s); err != nil {
			return 0, err
		}
	}
	if err := m.ev[m.reps].Synchronize(); err != nil {
		return 0, err
	}
	ts := make([]time.Duration, m.reps)
	for i := range ts {
		d, err := driver.Elapsed(m.ev[i], m.ev[i+1])
		if err != nil {
			return 0, err
		}
		ts[i] = d
	}
	return median(ts), nil
}

// median returns the median of ts (the upper one for an even count); ts
// is reordered.
func median(ts []time.Duration) time.Duration {
	slices.Sort(ts)
	return ts[len(ts)/2]
}

// measureDevice measures the copy and the kernels on device-resident
// buffers: in[0..7] filled with the bytes 1..8, out, and the table of the
// eight input pointers for the Sum kernels.
func (b *Backend) measureDevice(ctx context.Context, words, reps int) (ms []Measurement, err error) {
	size := 4 * words
	base, err := b.ctx.Alloc((measureVectors+1)*size + 8*measureVectors)
	if err != nil {
		return nil, fmt.Errorf("tensor/cuda: measure: allocating %d buffers of %d bytes: %w", measureVectors+1, size, err)
	}
	defer func() { err = errors.Join(err, b.ctx.Free(base)) }()
	var in [measureVectors]driver.DevicePtr
	for i := range in {
		in[i] = base.Add(i * size)
	}
	out := base.Add(measureVectors * size)
	table := base.Add((measureVectors + 1) * size)

	s, err := b.ctx.NewStream()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	m := &meter{s: s, reps: reps}
	defer func() {
		for _, e := range m.ev {
			err = errors.Join(err, e.Close())
		}
	}()
	for range reps + 1 {
		e, err := b.ctx.NewEvent()
		if err != nil {
			return nil, err
		}
		m.ev = append(m.ev, e)
	}

	ptrs := make([]uint64, measureVectors)
	for i, p := range in {
		ptrs[i] = uint64(p)
		if err := s.Memset8(p, byte(i+1), size); err != nil {
			return nil, err
		}
	}
	if err := s.Memset8(out, 0, size); err != nil {
		return nil, err
	}
	if err := driver.CopyToDeviceAsync(s, table, ptrs); err != nil {
		return nil, err
	}
	if err := s.Synchronize(); err != nil {
		return nil, err
	}

	// The keys of the AES kernels, from a fresh seed; cleared on return,
	// with the argument lists that hold copies of them.
	var seed tensor.Seed
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails
	maskKey, roundKey := kernelKey(&seed, aesctr.LabelMask), kernelKey(&seed, aesctr.LabelRounding)
	clear(seed[:])
	var maskArgs32, maskArgs64, quantArgs driver.Args
	defer func() {
		clear(maskKey)
		clear(roundKey)
		for _, a := range []*driver.Args{&maskArgs32, &maskArgs64, &quantArgs} {
			wipe(a)
		}
	}()

	n32, n64 := uint64(words), uint64(words/2)
	s64 := int64(size)
	const q = 1<<61 - 1 // a prime below 2^62; the inputs, bytes 1..8 repeated, are below it
	mu, k := barrett(q)
	// Argument lists: quantisation and dequantisation with 16 bits over
	// [-1, 1]; quantisation reads in[0] as float32 (tiny positive values).
	var args [7]driver.Args
	args[0].Ptr(out).Ptr(in[0]).Ptr(in[1]).U64(n32)
	args[1].Ptr(out).Ptr(in[0]).Ptr(in[1]).U64(n64)
	args[2].Ptr(out).Ptr(table).U32(measureVectors).U64(n32)
	args[3].Ptr(out).Ptr(table).U32(measureVectors).U64(n64)
	args[4].Ptr(out).Ptr(in[0]).Ptr(in[1]).U64(n64).U64(q)
	args[5].Ptr(out).Ptr(in[0]).Ptr(in[1]).U64(n64).U64(q).U64(mu).U32(k)
	args[6].Ptr(out).Ptr(in[0]).U64(n32).F64(2.0 / 65535).F64(-1)
	maskArgs32.Ptr(out).U64(n32).Bytes(maskKey).U64(0).U64(0)
	maskArgs64.Ptr(out).U64(n64).Bytes(maskKey).U64(0).U64(0)
	quantArgs.Ptr(out).Ptr(in[0]).U64(n32).Bytes(roundKey).U64(0).U64(0)
	quantArgs.F64(-1).F64(65535.0 / 2).F64(65535)

	type kernel struct {
		fn        *driver.Function
		detail    string
		elems     uint64
		items     uint64 // threads wanted: elements, or AES blocks
		bytes     int64
		keystream int64
		args      *driver.Args
		check     func() error
	}
	cases := []kernel{
		{b.k.add32, "dst = a + b in Z/2^32", n32, n32, 3 * s64, 0, &args[0], func() error {
			return b.checkWords(out, words, 0x03030303, "cohort_add_u32")
		}},
		{b.k.sub32, "dst = a - b in Z/2^32", n32, n32, 3 * s64, 0, &args[0], nil},
		{b.k.add64, "dst = a + b in Z/2^64", n64, n64, 3 * s64, 0, &args[1], nil},
		{b.k.sub64, "dst = a - b in Z/2^64", n64, n64, 3 * s64, 0, &args[1], nil},
		{b.k.sum32, fmt.Sprintf("dst = sum of %d vectors in Z/2^32", measureVectors), n32, n32, (measureVectors + 1) * s64, 0, &args[2], func() error {
			// Bytes 1..8 summed: 36 in every byte.
			return b.checkWords(out, words, 0x24242424, "cohort_sum_u32")
		}},
		{b.k.sum64, fmt.Sprintf("dst = sum of %d vectors in Z/2^64", measureVectors), n64, n64, (measureVectors + 1) * s64, 0, &args[3], nil},
		{b.k.modAdd, "dst = a + b mod 2^61-1", n64, n64, 3 * s64, 0, &args[4], nil},
		{b.k.modMul, "dst = a·b mod 2^61-1 (Barrett)", n64, n64, 3 * s64, 0, &args[5], nil},
		{b.k.expandAdd32, "dst += AES-128-CTR mask stream, u32 words", n32, n32 / 4, 2 * s64, s64, &maskArgs32, nil},
		{b.k.expandAdd64, "dst += AES-128-CTR mask stream, u64 words", n64, n64 / 2, 2 * s64, s64, &maskArgs64, nil},
		{b.k.quantF32U32, "float32 to Z/2^32, stochastic rounding with AES-128-CTR", n32, (n32 + 3) / 4, 2 * s64, s64, &quantArgs, nil},
		{b.k.dequantU32F32, "Z/2^32 sum to float32", n32, n32, 2 * s64, 0, &args[6], nil},
	}

	d, err := m.time(func() error { return s.CopyDtoD(out, in[0], size) })
	if err != nil {
		return nil, fmt.Errorf("tensor/cuda: measuring %s: %w", MeasureCopyDtoD, err)
	}
	ms = append(ms, Measurement{Name: MeasureCopyDtoD, Detail: fmt.Sprintf("device-to-device copy of %d bytes", size),
		Elements: words, Bytes: 2 * s64, Time: d})
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := m.time(func() error { return b.launchOn(s, c.fn, int(c.items), c.args) })
		if err == nil && c.check != nil {
			err = c.check()
		}
		if err != nil {
			return nil, fmt.Errorf("tensor/cuda: measuring %s: %w", c.fn.Name(), err)
		}
		ms = append(ms, Measurement{Name: c.fn.Name(), Detail: c.detail, Elements: int(c.elems),
			Bytes: c.bytes, Keystream: c.keystream, Time: d, Limit: MeasureCopyDtoD})
	}
	return ms, nil
}

// wipe overwrites the values held by a with zeros and empties it.
func wipe(a *driver.Args) {
	n := a.Len()
	a.Reset()
	// Every argument Measure passes takes at most 22 slots (the AES key),
	// so n arguments of up to 22 slots each are covered.
	a.Bytes(make([]byte, 8*22*n))
	a.Reset()
}

// checkWords reads words 0, words/2 and words-1 of the uint32 buffer at p
// and checks that each is want.
func (b *Backend) checkWords(p driver.DevicePtr, words int, want uint32, kernel string) error {
	for _, i := range []int{0, words / 2, words - 1} {
		got := make([]uint32, 1)
		if err := driver.CopyFromDevice(b.ctx, got, p.Add(4*i)); err != nil {
			return err
		}
		if got[0] != want {
			return fmt.Errorf("%w: %s: word %d is %#x, want %#x", ErrWrongResult, kernel, i, got[0], want)
		}
	}
	return nil
}

// measureHost measures AddU32 on host slices against a host-to-device copy
// of one of its inputs, both timed with the host clock.
func (b *Backend) measureHost(ctx context.Context, words, reps int) (ms []Measurement, err error) {
	x, y, dst := make([]uint32, words), make([]uint32, words), make([]uint32, words)
	for i := range x {
		x[i], y[i] = uint32(i), 3*uint32(i)+1
	}
	size := 4 * words
	p, err := b.ctx.Alloc(size)
	if err != nil {
		return nil, fmt.Errorf("tensor/cuda: measure: allocating %d bytes: %w", size, err)
	}
	// Free the copy's buffer before AddU32 allocates its own.
	freed := false
	defer func() {
		if !freed {
			err = errors.Join(err, b.ctx.Free(p))
		}
	}()
	d, err := hostTime(ctx, reps, func() error { return driver.CopyToDevice(b.ctx, p, x) })
	if err != nil {
		return nil, fmt.Errorf("tensor/cuda: measuring %s: %w", MeasureCopyHtoD, err)
	}
	ms = append(ms, Measurement{Name: MeasureCopyHtoD, Detail: fmt.Sprintf("host-to-device copy of %d bytes of Go memory", size),
		Elements: words, Bytes: 2 * int64(size), Time: d})
	freed = true
	if err := b.ctx.Free(p); err != nil {
		return nil, err
	}

	d, err = hostTime(ctx, reps, func() error { return b.hostAdd(dst, x, y) })
	if err != nil {
		return nil, fmt.Errorf("tensor/cuda: measuring %s: %w", MeasureHostAddU32, err)
	}
	for _, i := range []int{0, words / 2, words - 1} {
		if want := x[i] + y[i]; dst[i] != want {
			return nil, fmt.Errorf("%w: %s: word %d is %#x, want %#x", ErrWrongResult, MeasureHostAddU32, i, dst[i], want)
		}
	}
	ms = append(ms, Measurement{Name: MeasureHostAddU32, Detail: "dst = a + b on host slices: upload, kernel, download",
		Elements: words, Bytes: 3 * int64(size), Time: d, Limit: MeasureCopyHtoD})
	return ms, nil
}

// hostTime runs f once to warm up and then reps times, and returns the
// median time of one call by the host clock.
func hostTime(ctx context.Context, reps int, f func() error) (time.Duration, error) {
	if err := f(); err != nil {
		return 0, err
	}
	ts := make([]time.Duration, reps)
	for i := range ts {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ts[i] = time.Since(start)
	}
	return median(ts), nil
}

// hostAdd runs b.AddU32, returning the driver failure it panics with as an
// error.
func (b *Backend) hostAdd(dst, x, y []uint32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("tensor/cuda: AddU32: %v", r)
		}
	}()
	b.AddU32(dst, x, y)
	return nil
}
