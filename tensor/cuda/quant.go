package cuda

import (
	"unsafe"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// Quantisation on the device: the kernels of quant.cu take the fixed-point
// parameters as lo = fp.Lo(), max = 2^Bits-1 and scale = max/(Hi-Lo), which
// is how tensor.NewFixedPoint computes them, and the rounding words from the
// AES-CTR stream of the rounding key (aesctr.LabelRounding) from counter 0:
// element i uses uint32 word i whatever the widths, as on the CPU backend.
// Dequantisation takes step = fp.Step() and offset = n·fp.Lo().
//
// Arguments the CPU backend refuses (fixed-point parameters of the other
// ring, vectors of different lengths, a count of summands outside
// [1, fp.MaxSummands()]) are handed to the CPU backend, which panics or
// returns its error: both backends refuse them with the same panic or error.
// A validated FixedPoint has Bits at most 31 for Z/2^32 and 52 for Z/2^64,
// the largest max the kernels accept.

// float is an element type of the quantisation kernels.
type float interface{ float32 | float64 }

// alignUp rounds n up to a multiple of 256 bytes, the alignment of device
// allocations, so that a second buffer in one allocation is aligned for any
// element type.
func alignUp(n int) int { return (n + 255) &^ 255 }

// quantize quantises src into dst with a kernel with parameters (dst, src,
// n, key, ctr_hi, ctr_lo, lo, scale, max); ringBits is the ring of dst and
// cpu the same operation on the CPU backend.
func quantize[W word, F float](b *Backend, fn *driver.Function, op string, ringBits int, fp *tensor.FixedPoint,
	dst []W, src []F, seed *tensor.Seed, cpu func(*tensor.FixedPoint, []W, []F, *tensor.Seed)) {
	if fp.RingBits() != ringBits || len(src) != len(dst) {
		cpu(fp, dst, src, seed) // panics as the CPU backend does
		return
	}
	if len(dst) == 0 {
		return
	}
	levels := float64(uint64(1)<<fp.Bits() - 1)
	lo, scale := fp.Lo(), levels/(fp.Hi()-fp.Lo())
	onDevice(op, func() error {
		key := kernelKey(seed, aesctr.LabelRounding)
		defer clear(key)
		return quantizeOn(b, fn, dst, src, key, lo, scale, levels)
	}, func() { cpu(fp, dst, src, seed) })
}

func quantizeOn[W word, F float](b *Backend, fn *driver.Function, dst []W, src []F, key []byte, lo, scale, levels float64) error {
	// Layout: dst, then src at the next multiple of 256 bytes.
	dsize := alignUp(len(dst) * int(unsafe.Sizeof(dst[0])))
	buf, err := b.alloc(dsize + len(src)*int(unsafe.Sizeof(src[0])))
	if err != nil {
		return err
	}
	defer b.ctx.Free(buf)
	in := buf.Add(dsize)
	if err := driver.CopyToDevice(b.ctx, in, src); err != nil {
		return err
	}
	var args driver.Args
	args.Ptr(buf).Ptr(in).U64(uint64(len(dst))).Bytes(key).U64(0).U64(0).F64(lo).F64(scale).F64(levels)
	// One thread per keystream block: 4 elements.
	if err := b.launch(fn, (len(dst)+3)/4, &args); err != nil {
		return err
	}
	return driver.CopyFromDevice(b.ctx, dst, buf)
}

// dequantize maps sum, a sum of n quantised vectors in Z/2^ringBits, back to
// floats in dst with a kernel with parameters (dst, sum, n, step, offset);
// cpu is the same operation on the CPU backend.
func dequantize[F float, W word](b *Backend, fn *driver.Function, op string, ringBits int, fp *tensor.FixedPoint,
	dst []F, sum []W, n int, cpu func(*tensor.FixedPoint, []F, []W, int) error) error {
	if fp.RingBits() != ringBits || n < 1 || n > fp.MaxSummands() || len(sum) != len(dst) {
		return cpu(fp, dst, sum, n) // panics or fails as the CPU backend does
	}
	if len(dst) == 0 {
		return nil
	}
	step, offset := fp.Step(), float64(n)*fp.Lo()
	var err error
	onDevice(op, func() error {
		return dequantizeOn(b, fn, dst, sum, step, offset)
	}, func() { err = cpu(fp, dst, sum, n) })
	return err
}

func dequantizeOn[F float, W word](b *Backend, fn *driver.Function, dst []F, sum []W, step, offset float64) error {
	// Layout: dst, then sum at the next multiple of 256 bytes.
	dsize := alignUp(len(dst) * int(unsafe.Sizeof(dst[0])))
	buf, err := b.alloc(dsize + len(sum)*int(unsafe.Sizeof(sum[0])))
	if err != nil {
		return err
	}
	defer b.ctx.Free(buf)
	in := buf.Add(dsize)
	if err := driver.CopyToDevice(b.ctx, in, sum); err != nil {
		return err
	}
	var args driver.Args
	args.Ptr(buf).Ptr(in).U64(uint64(len(dst))).F64(step).F64(offset)
	if err := b.launch(fn, len(dst), &args); err != nil {
		return err
	}
	return driver.CopyFromDevice(b.ctx, dst, buf)
}

// QuantizeF32U32 quantises src into Z/2^32 with stochastic rounding drawn
// from seed's rounding stream.
func (b *Backend) QuantizeF32U32(fp *tensor.FixedPoint, dst []uint32, src []float32, seed *tensor.Seed) {
	quantize(b, b.k.quantF32U32, "QuantizeF32U32", 32, fp, dst, src, seed, b.cpu.QuantizeF32U32)
}

// QuantizeF64U32 quantises src into Z/2^32 with stochastic rounding drawn
// from seed's rounding stream.
func (b *Backend) QuantizeF64U32(fp *tensor.FixedPoint, dst []uint32, src []float64, seed *tensor.Seed) {
	quantize(b, b.k.quantF64U32, "QuantizeF64U32", 32, fp, dst, src, seed, b.cpu.QuantizeF64U32)
}

// QuantizeF32U64 quantises src into Z/2^64 with stochastic rounding drawn
// from seed's rounding stream.
func (b *Backend) QuantizeF32U64(fp *tensor.FixedPoint, dst []uint64, src []float32, seed *tensor.Seed) {
	quantize(b, b.k.quantF32U64, "QuantizeF32U64", 64, fp, dst, src, seed, b.cpu.QuantizeF32U64)
}

// QuantizeF64U64 quantises src into Z/2^64 with stochastic rounding drawn
// from seed's rounding stream.
func (b *Backend) QuantizeF64U64(fp *tensor.FixedPoint, dst []uint64, src []float64, seed *tensor.Seed) {
	quantize(b, b.k.quantF64U64, "QuantizeF64U64", 64, fp, dst, src, seed, b.cpu.QuantizeF64U64)
}

// DequantizeU32F32 maps a sum of n quantised vectors back to float32. It
// fails with an error wrapping tensor.ErrFixedPoint when n is outside
// [1, fp.MaxSummands()].
func (b *Backend) DequantizeU32F32(fp *tensor.FixedPoint, dst []float32, sum []uint32, n int) error {
	return dequantize(b, b.k.dequantU32F32, "DequantizeU32F32", 32, fp, dst, sum, n, b.cpu.DequantizeU32F32)
}

// DequantizeU32F64 maps a sum of n quantised vectors back to float64. It
// fails with an error wrapping tensor.ErrFixedPoint when n is outside
// [1, fp.MaxSummands()].
func (b *Backend) DequantizeU32F64(fp *tensor.FixedPoint, dst []float64, sum []uint32, n int) error {
	return dequantize(b, b.k.dequantU32F64, "DequantizeU32F64", 32, fp, dst, sum, n, b.cpu.DequantizeU32F64)
}

// DequantizeU64F32 maps a sum of n quantised vectors back to float32. It
// fails with an error wrapping tensor.ErrFixedPoint when n is outside
// [1, fp.MaxSummands()].
func (b *Backend) DequantizeU64F32(fp *tensor.FixedPoint, dst []float32, sum []uint64, n int) error {
	return dequantize(b, b.k.dequantU64F32, "DequantizeU64F32", 64, fp, dst, sum, n, b.cpu.DequantizeU64F32)
}

// DequantizeU64F64 maps a sum of n quantised vectors back to float64. It
// fails with an error wrapping tensor.ErrFixedPoint when n is outside
// [1, fp.MaxSummands()].
func (b *Backend) DequantizeU64F64(fp *tensor.FixedPoint, dst []float64, sum []uint64, n int) error {
	return dequantize(b, b.k.dequantU64F64, "DequantizeU64F64", 64, fp, dst, sum, n, b.cpu.DequantizeU64F64)
}
