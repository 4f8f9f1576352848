package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

func tensorSuite() Suite {
	return Suite{
		Name: "tensor",
		Doc:  "tensor kernels: fused AES-CTR masks, ring vectors, Sum, stochastic quantisation (CPU, or CUDA with --backend)",
		Run:  runTensor,
	}
}

// tensorEnv holds the backends and the limit measurements the cases share.
type tensorEnv struct {
	one, all, generic *tensor.CPU
	workers           int
	opt               Options
	emit              func(Result)
}

func (e *tensorEnv) result(name string, n int, metric string, value float64, unit string, limit float64, note string) {
	emitResult(e.emit, name, n, metric, value, unit, limit, note)
}

// emitResult emits one result of the tensor suite, with ratio = value/limit
// where there is a limit.
func emitResult(emit func(Result), name string, n int, metric string, value float64, unit string, limit float64, note string) {
	r := Result{Suite: "tensor", Case: name, N: n, Metric: metric, Value: value, Unit: unit, Limit: limit, Note: note}
	if limit > 0 {
		r.Ratio = value / limit
	}
	emit(r)
}

// runTensor runs the suite on the backend opt.Backend names: with cuda, the
// device kernels against a device-to-device copy; with cpu, the CPU cases;
// with auto, the device kernels where CUDA can be used and otherwise the CPU
// cases, with the reason CUDA is not used in the note of the backend row.
func runTensor(ctx context.Context, opt Options, emit func(Result)) error {
	kind := opt.backend()
	g, stop, fallback, err := cuda.Choose(kind, tensor.CPUConfig{Workers: 1})
	if err != nil {
		return fmt.Errorf("--backend %s: %w", kind, err)
	}
	defer stop()
	if g != nil {
		return runTensorCUDA(ctx, opt, g, driver.DefaultLibrary, emit)
	}
	return runTensorCPU(ctx, opt, fallbackNote(fallback), emit)
}

// fallbackNote is the note of a run that fell back to the CPU because of
// err ("" for none).
func fallbackNote(err error) string {
	if err == nil {
		return ""
	}
	return cuda.Fallback + ": " + err.Error()
}

// runTensorCPU runs the CPU cases; note, when not empty, is added to the
// backend row.
func runTensorCPU(ctx context.Context, opt Options, note string, emit func(Result)) error {
	one, stopOne, err := tensor.NewCPU(tensor.CPUConfig{Workers: 1})
	if err != nil {
		return err
	}
	defer stopOne()
	generic, stopGeneric, err := tensor.NewCPU(tensor.CPUConfig{Workers: 1, Generic: true})
	if err != nil {
		return err
	}
	defer stopGeneric()
	all, stopAll, err := tensor.NewCPU(tensor.CPUConfig{Workers: opt.Workers})
	if err != nil {
		return err
	}
	defer stopAll()
	workers := opt.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	e := &tensorEnv{one: one, all: all, generic: generic, workers: workers, opt: opt, emit: emit}
	backendNote := one.Name()
	if note != "" {
		backendNote += "; " + note
	}
	e.result("backend", 0, "workers", float64(workers), "cores", 0, backendNote)
	for _, c := range []func(context.Context) error{e.expandAdd, e.ringAdd, e.ringAddCached, e.sum64, e.quantize, e.weightedSum} {
		if err := c(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runTensorCUDA measures the device kernels of g (cuda.Backend.Measure):
// each kernel's throughput against a device-to-device copy of the same
// bytes in the same run, the keystream rate of the AES kernels, and the
// host path of AddU32 against a host-to-device copy. lib is the driver
// library g runs on, whose version the backend row gives.
func runTensorCUDA(ctx context.Context, opt Options, g *cuda.Backend, lib string, emit func(Result)) error {
	d, err := driver.Open(lib)
	if err != nil {
		return err
	}
	v, err := d.Version()
	if err != nil {
		return err
	}
	emitResult(emit, "backend", 0, "driver", float64(v), "CUDA", 0,
		fmt.Sprintf("%s; %s supports CUDA %d.%d", g.Name(), d.Path(), v/1000, v%1000/10))
	cfg := cuda.MeasureConfig{Reps: opt.reps()}
	if opt.Quick {
		cfg.Words = 1 << 20
	}
	ms, err := g.Measure(ctx, cfg)
	if err != nil {
		return err
	}
	limits := map[string]float64{}
	for _, m := range ms {
		limits[m.Name] = m.Throughput()
	}
	for _, m := range ms {
		var note string
		switch {
		case m.Limit == "":
			note = m.Detail + ", bytes read+written; the limit of the rows that name it"
		case strings.HasPrefix(m.Name, "cohort_add_"), strings.HasPrefix(m.Name, "cohort_sub_"), strings.HasPrefix(m.Name, "cohort_sum_"):
			note = fmt.Sprintf("%s, bytes read+written; limit: %s, same run; issue 9 target: ratio >= 0.7", m.Detail, m.Limit)
		case m.Name == cuda.MeasureHostAddU32:
			note = fmt.Sprintf("%s, bytes read+written; limit: %s, same run (it moves 3x the bus bytes of that copy: 0.5 is the bus bound)", m.Detail, m.Limit)
		default:
			note = fmt.Sprintf("%s, bytes read+written; limit: %s, same run", m.Detail, m.Limit)
		}
		emitResult(emit, m.Name, m.Elements, "throughput", m.Throughput(), "B/s", limits[m.Limit], note)
		if m.Keystream > 0 {
			note := "AES-128-CTR keystream generated per second; issue 9 target: >= 200 GB/s"
			if !strings.HasPrefix(m.Name, "cohort_aesctr_") {
				note = "AES-128-CTR rounding keystream generated per second"
			}
			emitResult(emit, m.Name, m.Elements, "keystream", m.KeystreamRate(), "B/s", 0, note)
		}
	}
	return nil
}

// size returns full, or small in quick mode.
func (e *tensorEnv) size(full, small int) int {
	if e.opt.Quick {
		return small
	}
	return full
}

func randU32(n int, seed uint64) []uint32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]uint32, n)
	for i := range v {
		v[i] = r.Uint32()
	}
	return v
}

// keystream returns a function that runs the standard library's AES-CTR over
// buf in place: the rate every mask case is held to.
func keystream(buf []byte) timed {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	iv := make([]byte, aes.BlockSize)
	return func() { cipher.NewCTR(block, iv).XORKeyStream(buf, buf) }
}

// copier returns a function that copies src to a buffer of the same size:
// the memory bandwidth limit, counted as bytes read plus bytes written. It
// writes src first: fresh pages all map the kernel's one zero page, and
// copying from it would measure the cache, not memory.
func copier(src []byte) timed {
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	dst := make([]byte, len(src))
	copy(dst, src)
	return func() { copy(dst, src) }
}

func (e *tensorEnv) expandAdd(ctx context.Context) error {
	n := e.size(1<<24, 1<<16)
	bytes := 4 * n
	dst1, dstAll, dstMem := randU32(n, 1), randU32(n, 2), randU32(n, 3)
	ks := make([]byte, bytes)
	seed := &tensor.Seed{1, 2, 3}
	d, err := medians(ctx, e.opt.reps(),
		keystream(ks),
		func() { e.one.ExpandAddU32(dst1, seed) },
		func() { e.all.ExpandAddU32(dstAll, seed) },
		// The memory ceiling of an in-place pass on every core: the same
		// bytes read and written by the cheapest SIMD kernel there is.
		func() { e.all.AddScalarU32(dstMem, dstMem, 1) },
	)
	if err != nil {
		return err
	}
	limit, one, all, mem := rate(bytes, d[0]), rate(bytes, d[1]), rate(bytes, d[2]), rate(bytes, d[3])
	e.result("expand-add-u32", n, "throughput", one, "B/s", limit, "limit: stdlib AES-CTR keystream, 1 core")
	e.result("expand-add-u32-par", n, "throughput", all, "B/s", limit, "limit: stdlib AES-CTR keystream, 1 core")
	e.result("expand-add-u32-par", n, "scaling", all/one, "x", float64(e.workers),
		fmt.Sprintf("%d workers vs 1; limit: perfect scaling", e.workers))
	e.result("expand-add-u32-par", n, "vs-memory", all, "B/s", mem,
		"limit: in-place AddScalarU32 over the same bytes on all cores")

	// The same at a size that stays in cache (4 MiB), where the keystream,
	// not memory, bounds the rate.
	n = e.size(1<<20, 1<<16)
	dst1, dstAll = randU32(n, 1), randU32(n, 2)
	d, err = medians(ctx, e.opt.reps(),
		func() { e.one.ExpandAddU32(dst1, seed) },
		func() { e.all.ExpandAddU32(dstAll, seed) },
	)
	if err != nil {
		return err
	}
	one, all = rate(4*n, d[0]), rate(4*n, d[1])
	e.result("expand-add-u32-par-cached", n, "scaling", all/one, "x", float64(e.workers),
		fmt.Sprintf("cache-resident, %d workers vs 1; limit: perfect scaling", e.workers))
	return nil
}

func (e *tensorEnv) ringAdd(ctx context.Context) error {
	n := e.size(1<<24, 1<<16)
	a, b, dst := randU32(n, 3), randU32(n, 4), make([]uint32, n)
	ga, gb, gdst := randU32(n, 5), randU32(n, 6), make([]uint32, n)
	src := make([]byte, 4*n)
	d, err := medians(ctx, e.opt.reps(),
		copier(src),
		func() { e.one.AddU32(dst, a, b) },
		func() { e.generic.AddU32(gdst, ga, gb) },
	)
	if err != nil {
		return err
	}
	limit := rate(8*n, d[0])
	simd, gen := rate(12*n, d[1]), rate(12*n, d[2])
	e.result("ring-add-u32", n, "throughput", simd, "B/s", limit, "dst=a+b, bytes read+written; limit: copy(), read+written")
	e.result("ring-add-u32", n, "vs-generic", simd, "B/s", gen, "limit: generic Go kernel, same run")
	e.result("ring-add-u32-generic", n, "throughput", gen, "B/s", limit, "limit: copy(), read+written")
	return nil
}

// ringAddCached measures the kernels where memory does not bound them: three
// vectors that fit in L1.
func (e *tensorEnv) ringAddCached(ctx context.Context) error {
	n := 1 << 11
	a, b, dst := randU32(n, 7), randU32(n, 8), make([]uint32, n)
	d, err := medians(ctx, e.opt.reps(),
		func() { e.one.AddU32(dst, a, b) },
		func() { e.generic.AddU32(dst, a, b) },
	)
	if err != nil {
		return err
	}
	simd, gen := rate(12*n, d[0]), rate(12*n, d[1])
	e.result("ring-add-u32-l1", n, "vs-generic", simd, "B/s", gen, "L1-resident; limit: generic Go kernel, same run")
	return nil
}

func (e *tensorEnv) sum64(ctx context.Context) error {
	const k = 64
	n := e.size(1<<20, 1<<12)
	vs := make([][]uint32, k)
	for i := range vs {
		vs[i] = randU32(n, uint64(100+i))
	}
	flat := make([]byte, 4*n*k)
	dst, gdst := make([]uint32, n), make([]uint32, n)
	bytes := 4 * n * (k + 1) // read k vectors, write one
	d, err := medians(ctx, e.opt.reps(),
		copier(flat),
		func() { e.one.SumU32(dst, vs...) },
		func() { e.generic.SumU32(gdst, vs...) },
	)
	if err != nil {
		return err
	}
	limit := rate(2*len(flat), d[0])
	simd, gen := rate(bytes, d[1]), rate(bytes, d[2])
	e.result("sum64-u32", n, "throughput", simd, "B/s", limit, "64 vectors, bytes read+written; limit: copy() of the same bytes, read+written")
	e.result("sum64-u32", n, "vs-generic", simd, "B/s", gen, "limit: generic Go kernel, same run")
	return nil
}

func (e *tensorEnv) quantize(ctx context.Context) error {
	n := e.size(1<<24, 1<<16)
	fp, err := tensor.NewFixedPoint(tensor.FixedPointLiteral{RingBits: 32, Lo: -1, Hi: 1, MaxSummands: 1000})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(9, 9))
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 0.5)
	}
	dst, gdst := make([]uint32, n), make([]uint32, n)
	ks := make([]byte, 4*n)
	seed := &tensor.Seed{4, 5, 6}
	d, err := medians(ctx, e.opt.reps(),
		keystream(ks),
		func() { e.one.QuantizeF32U32(fp, dst, src, seed) },
		func() { e.generic.QuantizeF32U32(fp, gdst, src, seed) },
	)
	if err != nil {
		return err
	}
	limit := rate(4*n, d[0])
	simd, gen := rate(4*n, d[1]), rate(4*n, d[2])
	e.result("quantize-f32", n, "throughput", simd, "B/s", limit, "float32 in, 1 rounding word each; limit: stdlib AES-CTR keystream, 1 core")
	e.result("quantize-f32", n, "vs-generic", simd, "B/s", gen, "limit: generic Go kernels, same run")
	return nil
}

// weightedSum measures the float aggregation of plain mode: sixteen float32
// vectors, each scaled by its weight, summed into one.
func (e *tensorEnv) weightedSum(ctx context.Context) error {
	const k = 16
	n := e.size(1<<20, 1<<12)
	r := rand.New(rand.NewPCG(10, 10))
	vs, w := make([][]float32, k), make([]float32, k)
	for i := range vs {
		vs[i] = make([]float32, n)
		for j := range vs[i] {
			vs[i][j] = float32(r.NormFloat64())
		}
		w[i] = float32(r.Float64())
	}
	dst, gdst := make([]float32, n), make([]float32, n)
	flat := make([]byte, 4*n*k)
	bytes := 4 * n * (k + 1)
	d, err := medians(ctx, e.opt.reps(),
		copier(flat),
		func() { e.one.WeightedSumF32(dst, w, vs...) },
		func() { e.generic.WeightedSumF32(gdst, w, vs...) },
	)
	if err != nil {
		return err
	}
	limit := rate(2*len(flat), d[0])
	simd, gen := rate(bytes, d[1]), rate(bytes, d[2])
	e.result("weighted-sum-f32", n, "throughput", simd, "B/s", limit, "16 vectors, bytes read+written; limit: copy() of the same bytes, read+written")
	e.result("weighted-sum-f32", n, "vs-generic", simd, "B/s", gen, "limit: generic Go kernel, same run")
	return nil
}
