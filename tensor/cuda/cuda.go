// Package cuda is the GPU tensor.Backend: the kernels of ../kernels, compiled
// to PTX by `make ptx`, embedded in the binary and run through the CUDA
// driver API (package driver, no cgo).
//
// # Vectors on the host and on the device
//
// The tensor.Backend methods take host slices: every call allocates device
// memory, uploads its inputs, launches the kernel, downloads the result and
// frees the memory, so it pays the host↔device transfers each time. Ring
// (AddU32 ... SumU64), mask (ExpandU32 ... ExpandSubU64), mod-q (ModAdd ...
// ModMulScalar) and fixed-point (Quantize..., Dequantize...) operations run
// on the device; the float helpers (WeightedSum, L2Norm, ClipToNorm) run on
// an embedded CPU backend. Every operation gives the same bits as the CPU
// backend.
//
// Accumulators (NewAccumulator, tensor.Accumulator) keep a sum on the
// device across calls: each input is uploaded once, on the accumulator's
// stream, overlapping the caller's next work, and a round's mask seeds are
// expanded on the device and removed in one pass. The SecAgg+ server keeps
// its sum in one.
//
// An operation whose device memory cannot be allocated
// (CUDA_ERROR_OUT_OF_MEMORY) runs on the embedded CPU backend instead, with
// the same result, and an accumulator the device has no room for is a host
// one whose Name says so. Any other driver failure in the middle of a
// tensor.Backend method (a failed launch or copy) panics: those methods have
// no error results; the accumulators return errors.
//
// The mask and quantisation kernels get the AES key derived as the CPU
// backend derives it (aesctr.DeriveKey with aesctr.LabelMask or
// LabelRounding) and counter 0; the host expands single keys
// (aesctr.RoundKeyWords), the device expands an accumulator's batches.
//
// # Availability
//
// New fails with an error wrapping driver.ErrUnavailable, naming why, when
// there is no driver library, no device, or no PTX embedded; Select falls
// back to the CPU backend in that case for --backend auto.
package cuda

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

//go:embed ptx
var embedded embed.FS

// Families are the kernel families, one PTX module each, in the order New
// loads them.
var families = [...]string{"aesctr", "ring", "modq", "quant"}

// blockThreads is the number of threads of every launched block.
const blockThreads = 256

// Config configures a CUDA backend.
type Config struct {
	// Library is the path of the CUDA driver library; empty means
	// driver.DefaultLibrary (libcuda.so.1).
	Library string
	// Device is the ordinal of the device to use.
	Device int
	// PTX holds PTX modules by family name ("aesctr", "ring", "modq",
	// "quant"), overriding the embedded ones: for tests.
	PTX map[string][]byte
	// CPU configures the CPU backend that runs the operations this version
	// does not run on the device.
	CPU tensor.CPUConfig
}

// Backend is the CUDA tensor.Backend. It is safe for concurrent use: the
// driver context runs the calls one at a time.
type Backend struct {
	name      string
	ctx       *driver.Context
	modules   []*driver.Module
	maxBlocks uint64
	cpu       *tensor.CPU
	k         kernels
}

var _ tensor.Backend = (*Backend)(nil)

// kernels are the device functions the backend launches.
type kernels struct {
	add32, sub32, neg32, addScalar32, sum32 *driver.Function
	add64, sub64, neg64, addScalar64, sum64 *driver.Function
	modAdd, modSub, modMul, modMulScalar    *driver.Function

	expand32, expandAdd32, expandSub32 *driver.Function
	expand64, expandAdd64, expandSub64 *driver.Function
	accumulate32, accumulate64         *driver.Function
	expandKeys                         *driver.Function

	quantF32U32, quantF64U32, quantF32U64, quantF64U64         *driver.Function
	dequantU32F32, dequantU32F64, dequantU64F32, dequantU64F64 *driver.Function
}

// kernelRef names one kernel of a family and the field that holds it.
type kernelRef struct {
	family, name string
	fn           **driver.Function
}

// table lists every kernel of k with its family and name: the one place
// that ties the fields to the PTX entries.
func (k *kernels) table() []kernelRef {
	return []kernelRef{
		{"ring", "cohort_add_u32", &k.add32}, {"ring", "cohort_sub_u32", &k.sub32}, {"ring", "cohort_neg_u32", &k.neg32},
		{"ring", "cohort_add_scalar_u32", &k.addScalar32}, {"ring", "cohort_sum_u32", &k.sum32},
		{"ring", "cohort_add_u64", &k.add64}, {"ring", "cohort_sub_u64", &k.sub64}, {"ring", "cohort_neg_u64", &k.neg64},
		{"ring", "cohort_add_scalar_u64", &k.addScalar64}, {"ring", "cohort_sum_u64", &k.sum64},
		{"modq", "cohort_mod_add", &k.modAdd}, {"modq", "cohort_mod_sub", &k.modSub},
		{"modq", "cohort_mod_mul", &k.modMul}, {"modq", "cohort_mod_mul_scalar", &k.modMulScalar},
		{"aesctr", "cohort_aesctr_expand_u32", &k.expand32}, {"aesctr", "cohort_aesctr_expand_add_u32", &k.expandAdd32},
		{"aesctr", "cohort_aesctr_expand_sub_u32", &k.expandSub32},
		{"aesctr", "cohort_aesctr_expand_u64", &k.expand64}, {"aesctr", "cohort_aesctr_expand_add_u64", &k.expandAdd64},
		{"aesctr", "cohort_aesctr_expand_sub_u64", &k.expandSub64},
		{"aesctr", "cohort_aesctr_accumulate_u32", &k.accumulate32}, {"aesctr", "cohort_aesctr_accumulate_u64", &k.accumulate64},
		{"aesctr", "cohort_aes128_expand_keys", &k.expandKeys},
		{"quant", "cohort_quantize_f32_u32", &k.quantF32U32}, {"quant", "cohort_quantize_f64_u32", &k.quantF64U32},
		{"quant", "cohort_quantize_f32_u64", &k.quantF32U64}, {"quant", "cohort_quantize_f64_u64", &k.quantF64U64},
		{"quant", "cohort_dequantize_u32_f32", &k.dequantU32F32}, {"quant", "cohort_dequantize_u32_f64", &k.dequantU32F64},
		{"quant", "cohort_dequantize_u64_f32", &k.dequantU64F32}, {"quant", "cohort_dequantize_u64_f64", &k.dequantU64F64},
	}
}

// kernelNames returns the kernel names of each family.
func kernelNames() map[string][]string {
	out := map[string][]string{}
	for _, r := range new(kernels).table() {
		out[r.family] = append(out[r.family], r.name)
	}
	return out
}

// ptxFor returns the PTX module of family, from cfg.PTX or embedded.
func ptxFor(cfg *Config, family string) ([]byte, error) {
	return ptxFrom(embedded, cfg, family)
}

// ptxFrom returns the PTX module of family from cfg.PTX or else from
// fsys's ptx folder.
func ptxFrom(fsys fs.FS, cfg *Config, family string) ([]byte, error) {
	if p, ok := cfg.PTX[family]; ok {
		return p, nil
	}
	p, err := fs.ReadFile(fsys, "ptx/"+family+".ptx")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no PTX for %s embedded: run make ptx on a machine with nvcc", driver.ErrUnavailable, family)
	}
	if err != nil {
		return nil, fmt.Errorf("cuda: reading the embedded PTX of %s: %w", family, err)
	}
	return p, nil
}

// New opens the driver, makes a context on cfg.Device, loads the kernel
// modules and starts the CPU backend for the operations this version runs
// on the host. Where CUDA cannot be used (no library, no device, no PTX) the
// error wraps driver.ErrUnavailable and says why. Call shutdown once every
// operation on the backend has returned.
func New(cfg Config) (b *Backend, shutdown func() error, err error) {
	d, err := driver.Open(cfg.Library)
	if err != nil {
		return nil, nil, err
	}
	if err := d.Init(); err != nil {
		return nil, nil, err
	}
	ptx := make(map[string][]byte, len(families))
	for _, f := range families {
		p, err := ptxFor(&cfg, f)
		if err != nil {
			return nil, nil, err
		}
		ptx[f] = p
	}
	n, err := d.Devices()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Device < 0 || cfg.Device >= n {
		return nil, nil, fmt.Errorf("%w: device %d requested, the driver has %d", driver.ErrUnavailable, cfg.Device, n)
	}
	dev, err := d.Device(cfg.Device)
	if err != nil {
		return nil, nil, err
	}
	devName, err := dev.Name()
	if err != nil {
		return nil, nil, err
	}
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		return nil, nil, err
	}
	sms, err := dev.Multiprocessors()
	if err != nil {
		return nil, nil, err
	}
	ctx, err := d.NewContext(dev)
	if err != nil {
		return nil, nil, err
	}
	b = &Backend{
		name:      fmt.Sprintf("cuda/%s (sm_%d%d)", devName, major, minor),
		ctx:       ctx,
		maxBlocks: uint64(max(1, sms) * 32),
	}
	if err := b.load(ptx); err != nil {
		return nil, nil, errors.Join(err, b.close())
	}
	cpu, cpuShutdown, err := tensor.NewCPU(cfg.CPU)
	if err != nil {
		return nil, nil, errors.Join(err, b.close())
	}
	b.cpu = cpu
	return b, func() error {
		cpuShutdown()
		return b.close()
	}, nil
}

// load loads the PTX modules and looks up the kernels.
func (b *Backend) load(ptx map[string][]byte) error {
	mods := make(map[string]*driver.Module, len(families))
	for _, f := range families {
		m, err := b.ctx.LoadModule(ptx[f])
		if err != nil {
			return fmt.Errorf("cuda: loading the %s kernels: %w", f, err)
		}
		b.modules = append(b.modules, m)
		mods[f] = m
	}
	for _, r := range b.k.table() {
		f, err := mods[r.family].Function(r.name)
		if err != nil {
			return fmt.Errorf("cuda: kernel %s of %s: %w", r.name, r.family, err)
		}
		*r.fn = f
	}
	return nil
}

// close unloads the modules and releases the context.
func (b *Backend) close() error {
	var errs []error
	for _, m := range b.modules {
		errs = append(errs, m.Close())
	}
	b.modules = nil
	errs = append(errs, b.ctx.Close())
	return errors.Join(errs...)
}

// Name describes the device, e.g. "cuda/NVIDIA H100 80GB HBM3 (sm_90)".
func (b *Backend) Name() string { return b.name }
