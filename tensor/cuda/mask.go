package cuda

import (
	"unsafe"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// mask runs a fused mask kernel with parameters (dst, n, key, ctr_hi,
// ctr_lo) over dst from counter 0; wordsPerBlock is how many words one AES
// block holds (4 for uint32, 2 for uint64), and load says whether dst is an
// input (add, sub) to upload first. Out of device memory, cpu does it.
func mask[T word](b *Backend, fn *driver.Function, op string, dst []T, seed *tensor.Seed, wordsPerBlock int, load bool,
	cpu func([]T, *tensor.Seed)) {
	if len(dst) == 0 {
		return
	}
	key := kernelKey(seed, aesctr.LabelMask)
	defer clear(key)
	onDevice(op, func() error { return maskOn(b, fn, dst, key, wordsPerBlock, load) }, func() { cpu(dst, seed) })
}

func maskOn[T word](b *Backend, fn *driver.Function, dst []T, key []byte, wordsPerBlock int, load bool) error {
	buf, err := b.alloc(len(dst) * int(unsafe.Sizeof(dst[0])))
	if err != nil {
		return err
	}
	defer b.ctx.Free(buf)
	if load {
		if err := driver.CopyToDevice(b.ctx, buf, dst); err != nil {
			return err
		}
	}
	var args driver.Args
	args.Ptr(buf).U64(uint64(len(dst))).Bytes(key).U64(0).U64(0)
	if err := b.launch(fn, (len(dst)+wordsPerBlock-1)/wordsPerBlock, &args); err != nil {
		return err
	}
	return driver.CopyFromDevice(b.ctx, dst, buf)
}

// ExpandU32 sets dst to the mask stream of seed.
func (b *Backend) ExpandU32(dst []uint32, seed *tensor.Seed) {
	mask(b, b.k.expand32, "ExpandU32", dst, seed, 4, false, b.cpu.ExpandU32)
}

// ExpandAddU32 adds the mask stream of seed to dst.
func (b *Backend) ExpandAddU32(dst []uint32, seed *tensor.Seed) {
	mask(b, b.k.expandAdd32, "ExpandAddU32", dst, seed, 4, true, b.cpu.ExpandAddU32)
}

// ExpandSubU32 subtracts the mask stream of seed from dst.
func (b *Backend) ExpandSubU32(dst []uint32, seed *tensor.Seed) {
	mask(b, b.k.expandSub32, "ExpandSubU32", dst, seed, 4, true, b.cpu.ExpandSubU32)
}

// ExpandU64 sets dst to the mask stream of seed.
func (b *Backend) ExpandU64(dst []uint64, seed *tensor.Seed) {
	mask(b, b.k.expand64, "ExpandU64", dst, seed, 2, false, b.cpu.ExpandU64)
}

// ExpandAddU64 adds the mask stream of seed to dst.
func (b *Backend) ExpandAddU64(dst []uint64, seed *tensor.Seed) {
	mask(b, b.k.expandAdd64, "ExpandAddU64", dst, seed, 2, true, b.cpu.ExpandAddU64)
}

// ExpandSubU64 subtracts the mask stream of seed from dst.
func (b *Backend) ExpandSubU64(dst []uint64, seed *tensor.Seed) {
	mask(b, b.k.expandSub64, "ExpandSubU64", dst, seed, 2, true, b.cpu.ExpandSubU64)
}
