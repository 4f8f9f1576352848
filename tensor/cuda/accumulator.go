package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
	"github.com/cohort-mpc/cohort/tensor/internal/aesctr"
)

// keysPerLaunch bounds the keys one accumulate launch takes (176 bytes of
// device memory each); longer lists take several launches.
const keysPerLaunch = 4096

// keySize is the size of a cohort_aes128_key.
const keySize = 4 * aesctr.RoundKeyWordCount

// AccumulatorStats are the transfers of a device accumulator so far.
type AccumulatorStats struct {
	Inputs      int           // vectors added with AddU32 or AddU64
	UploadBytes int64         // bytes copied to the device for them
	Upload      time.Duration // device time of those copies (CUDA events)
	Keys        int           // mask seeds expanded by AddMasks
}

// Accumulator is a tensor.Accumulator in device memory. Each input is
// copied into a page-locked staging buffer and uploaded and added on the
// accumulator's own stream, so AddU32 returns while the transfer and the
// add run, and the next input's host work overlaps them; staging buffers
// are reused once the add that read them is done (double or triple
// buffering). AddMasks expands all the seeds in one pass over the sum (the
// accumulate kernels). Read waits for the stream.
type Accumulator struct {
	b      *Backend
	bits   int
	n      int
	size   int // bytes of the sum
	sum    driver.DevicePtr
	stream *driver.Stream
	slots  []staging
	next   int // slot of the next input
	stats  AccumulatorStats
	closed bool
}

// staging is one input buffer: page-locked host memory, its device copy,
// and the events around its last upload and after the add that read it.
type staging struct {
	host                []byte
	dev                 driver.DevicePtr
	start, copied, done *driver.Event
	busy                bool // an upload and add were queued and not yet waited for
}

var _ tensor.AccumulatorBackend = (*Backend)(nil)

// NewAccumulator returns a zero sum of n words in Z/2^ringBits on the
// device. When the device (or the page-locked host memory for staging)
// is out of memory it returns a host accumulator on the CPU backend
// instead, whose Name says so; other driver failures are errors.
func (b *Backend) NewAccumulator(ringBits, n int) (tensor.Accumulator, error) {
	if ringBits != 32 && ringBits != 64 {
		return nil, fmt.Errorf("tensor/cuda: accumulator ring Z/2^%d: want 32 or 64 bits", ringBits)
	}
	a, err := b.newAccumulator(ringBits, n)
	if isOutOfMemory(err) {
		return tensor.NewHostAccumulator(b.cpu, ringBits, n, fmt.Sprintf("fallback from %s: %v", b.name, err)), nil
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// isOutOfMemory reports whether err is a driver out-of-memory error.
func isOutOfMemory(err error) bool {
	var de *driver.Error
	return errors.As(err, &de) && de.Code == driver.CodeOutOfMemory
}

func (b *Backend) newAccumulator(bits, n int) (*Accumulator, error) {
	a := &Accumulator{b: b, bits: bits, n: n, size: n * bits / 8}
	if err := a.init(); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

// init makes the stream, the zeroed sum and the staging buffers.
func (a *Accumulator) init() error {
	var err error
	if a.stream, err = a.b.ctx.NewStream(); err != nil || a.size == 0 {
		return err
	}
	if a.sum, err = a.b.ctx.Alloc(a.size); err != nil {
		return err
	}
	if err = a.stream.Memset8(a.sum, 0, a.size); err != nil {
		return err
	}
	nslots := 3
	if a.size > 1<<30 {
		nslots = 2
	}
	a.slots = make([]staging, nslots)
	for i := range a.slots {
		p := &a.slots[i]
		if p.host, err = a.b.ctx.AllocHost(a.size); err != nil {
			return err
		}
		if p.dev, err = a.b.ctx.Alloc(a.size); err != nil {
			return err
		}
		for _, e := range []**driver.Event{&p.start, &p.copied, &p.done} {
			if *e, err = a.b.ctx.NewEvent(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Name is the backend's name.
func (a *Accumulator) Name() string { return a.b.name }

// Len is the number of words of the sum.
func (a *Accumulator) Len() int { return a.n }

// RingBits is 32 or 64.
func (a *Accumulator) RingBits() int { return a.bits }

// Stats returns the transfers so far; the upload times of inputs still in
// flight are counted once Read (or a reuse of their staging buffer) waits
// for them.
func (a *Accumulator) Stats() AccumulatorStats { return a.stats }

// wait waits for slot s's last add and counts its upload time.
func (a *Accumulator) wait(s *staging) error {
	if !s.busy {
		return nil
	}
	if err := s.done.Synchronize(); err != nil {
		return err
	}
	d, err := driver.Elapsed(s.start, s.copied)
	if err != nil {
		return err
	}
	a.stats.Upload += d
	s.busy = false
	return nil
}

// add stages v's bytes and queues their upload and the add kernel.
func (a *Accumulator) add(fn *driver.Function, v []byte) error {
	if a.closed {
		return fmt.Errorf("tensor/cuda: accumulator: %w", driver.ErrClosed)
	}
	if a.n == 0 {
		a.stats.Inputs++
		return nil
	}
	s := &a.slots[a.next]
	if err := a.wait(s); err != nil {
		return err
	}
	copy(s.host, v)
	if err := s.start.Record(a.stream); err != nil {
		return err
	}
	if err := a.stream.CopyHtoD(s.dev, s.host); err != nil {
		return err
	}
	if err := s.copied.Record(a.stream); err != nil {
		return err
	}
	var args driver.Args
	args.Ptr(a.sum).Ptr(a.sum).Ptr(s.dev).U64(uint64(a.n))
	if err := a.b.launchOn(a.stream, fn, a.n, &args); err != nil {
		return err
	}
	if err := s.done.Record(a.stream); err != nil {
		return err
	}
	s.busy = true
	a.next = (a.next + 1) % len(a.slots)
	a.stats.Inputs++
	a.stats.UploadBytes += int64(len(v))
	return nil
}

// AddU32 adds v to the sum (uploaded asynchronously; v may be reused when
// AddU32 returns).
func (a *Accumulator) AddU32(v []uint32) error {
	tensor.CheckAccumulator("AddU32", a.bits, 32, a.n, len(v))
	return a.add(a.b.k.add32, driver.Bytes(v))
}

// AddU64 adds v to the sum.
func (a *Accumulator) AddU64(v []uint64) error {
	tensor.CheckAccumulator("AddU64", a.bits, 64, a.n, len(v))
	return a.add(a.b.k.add64, driver.Bytes(v))
}

// AddMasks adds the mask streams of add and subtracts those of sub, all in
// the accumulate kernels' passes over the sum. The host derives each
// seed's AES key (HKDF-SHA256, on every core); the device expands the keys
// and runs the streams. It returns once the kernels are done and the keys
// are wiped from device and host memory.
func (a *Accumulator) AddMasks(add, sub []tensor.Seed) error {
	if a.closed {
		return fmt.Errorf("tensor/cuda: accumulator: %w", driver.ErrClosed)
	}
	nkeys := len(add) + len(sub)
	a.stats.Keys += nkeys
	if nkeys == 0 || a.n == 0 {
		return nil
	}
	batch := min(nkeys, keysPerLaunch)
	host, err := a.b.ctx.AllocHost(batch * aesctr.KeySize)
	if err != nil {
		return err
	}
	// The expanded keys, then the raw ones.
	dev, err := a.b.ctx.Alloc(batch * (keySize + aesctr.KeySize))
	if err != nil {
		return errors.Join(err, a.b.ctx.FreeHost(host))
	}
	err = a.addMasks(add, sub, host, dev, dev.Add(batch*keySize))
	// Wipe the keys: the device copy on the stream, then wait for it (and
	// for every launch that read it) before the host copy and the frees.
	err = errors.Join(err, a.stream.Memset8(dev, 0, batch*(keySize+aesctr.KeySize)), a.stream.Synchronize())
	clear(host)
	return errors.Join(err, a.b.ctx.Free(dev), a.b.ctx.FreeHost(host))
}

// addMasks queues the key expansion and accumulate launches, batch by
// batch: the seeds of add, then those of sub, the first nadd of each batch
// added. host holds a batch of raw keys, raw their device copy and keys the
// expanded ones.
func (a *Accumulator) addMasks(add, sub []tensor.Seed, host []byte, keys, raw driver.DevicePtr) error {
	fn := a.b.k.accumulate32
	items := (a.n + 3) / 4
	if a.bits == 64 {
		fn, items = a.b.k.accumulate64, (a.n+1)/2
	}
	batch := len(host) / aesctr.KeySize
	nkeys := len(add) + len(sub)
	for lo := 0; lo < nkeys; lo += batch {
		hi := min(lo+batch, nkeys)
		// The previous batch's launches read the buffers: wait for them.
		if lo > 0 {
			if err := a.stream.Synchronize(); err != nil {
				return err
			}
		}
		deriveKeys(host[:(hi-lo)*aesctr.KeySize], func(i int) *tensor.Seed {
			if i += lo; i < len(add) {
				return &add[i]
			}
			return &sub[i-len(add)]
		})
		if err := a.stream.CopyHtoD(raw, host[:(hi-lo)*aesctr.KeySize]); err != nil {
			return err
		}
		var args driver.Args
		args.Ptr(keys).Ptr(raw).U32(uint32(hi - lo))
		if err := a.b.launchOn(a.stream, a.b.k.expandKeys, hi-lo, &args); err != nil {
			return err
		}
		nadd := min(max(len(add)-lo, 0), hi-lo)
		args.Reset()
		args.Ptr(a.sum).U64(uint64(a.n)).Ptr(keys).U32(uint32(nadd)).U32(uint32(hi - lo))
		if err := a.b.launchOn(a.stream, fn, items, &args); err != nil {
			return err
		}
	}
	return nil
}

// deriveKeys sets the i-th 16 bytes of dst to the mask key of seed(i),
// spread over the cores.
func deriveKeys(dst []byte, seed func(i int) *tensor.Seed) {
	n := len(dst) / aesctr.KeySize
	workers := min(runtime.GOMAXPROCS(0), (n+63)/64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				k := aesctr.DeriveKey((*[aesctr.SeedSize]byte)(seed(i)), aesctr.LabelMask)
				copy(dst[i*aesctr.KeySize:], k[:])
				clear(k[:])
			}
		})
	}
	wg.Wait()
}

// sync waits for all queued work and counts the uploads' times.
func (a *Accumulator) sync() error {
	if a.closed {
		return fmt.Errorf("tensor/cuda: accumulator: %w", driver.ErrClosed)
	}
	for i := range a.slots {
		if err := a.wait(&a.slots[i]); err != nil {
			return err
		}
	}
	return a.stream.Synchronize()
}

// ReadU32 waits for the queued work and copies the sum into dst.
func (a *Accumulator) ReadU32(dst []uint32) error {
	tensor.CheckAccumulator("ReadU32", a.bits, 32, a.n, len(dst))
	return a.read(driver.Bytes(dst))
}

// ReadU64 waits for the queued work and copies the sum into dst.
func (a *Accumulator) ReadU64(dst []uint64) error {
	tensor.CheckAccumulator("ReadU64", a.bits, 64, a.n, len(dst))
	return a.read(driver.Bytes(dst))
}

func (a *Accumulator) read(dst []byte) error {
	if err := a.sync(); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	return a.stream.CopyDtoH(dst, a.sum)
}

// Close waits for the queued work and frees the device and host memory.
func (a *Accumulator) Close() error {
	if a.closed {
		return nil
	}
	var errs []error
	if a.stream != nil {
		errs = append(errs, a.stream.Synchronize())
	}
	a.closed = true
	for _, s := range a.slots {
		for _, e := range []*driver.Event{s.start, s.copied, s.done} {
			if e != nil {
				errs = append(errs, e.Close())
			}
		}
		if s.dev != 0 {
			errs = append(errs, a.b.ctx.Free(s.dev))
		}
		if s.host != nil {
			clear(s.host)
			errs = append(errs, a.b.ctx.FreeHost(s.host))
		}
	}
	a.slots = nil
	if a.sum != 0 {
		errs = append(errs, a.b.ctx.Free(a.sum))
	}
	if a.stream != nil {
		errs = append(errs, a.stream.Close())
	}
	return errors.Join(errs...)
}
