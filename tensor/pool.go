package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle worker keeps polling for work, yielding its
// processor between polls, before it parks. Waking a parked worker costs
// 50-90 µs on the virtual machines measured (the idle vCPU has to be woken
// through the hypervisor), which is the whole run time of a 1 MiB operation;
// a stream of operations, such as a server expanding one mask per
// participant, would pay it every time. While any other goroutine is ready
// to run, the yields hand it the processor, so the spin costs only idle
// time.
const spinFor = 200 * time.Microsecond

// pool is the one set of goroutines that large operations are split across.
// The goroutine that calls run always works on its own operation too, so an
// operation finishes even when every pool goroutine is busy with others.
type pool struct {
	workers int         // goroutines that work on one operation, the caller included
	tasks   chan func() // closed by the shutdown function
}

// newPool starts workers-1 goroutines. The returned function stops them after
// the tasks already queued have run; run must not be called after it.
func newPool(workers int) (*pool, func()) {
	p := &pool{workers: workers, tasks: make(chan func(), 4*workers)}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.worker()
		}()
	}
	var once sync.Once
	return p, func() {
		once.Do(func() {
			close(p.tasks)
			wg.Wait()
		})
	}
}

// worker runs tasks until the channel is closed, spinning for spinFor after
// each one before it parks.
func (p *pool) worker() {
	for {
		task, ok := p.poll()
		if !ok {
			return
		}
		task()
	}
}

// poll returns the next task, or false once the pool is shut down.
func (p *pool) poll() (func(), bool) {
	start := time.Now()
	for time.Since(start) < spinFor {
		select {
		case task, ok := <-p.tasks:
			return task, ok
		default:
			runtime.Gosched()
		}
	}
	task, ok := <-p.tasks
	return task, ok
}

// run calls fn(c, lo, hi) for every chunk c = [lo, hi) of [0, n): chunk c
// starts at c·grain and all chunks but the last are grain long. Chunks depend
// only on n and grain, never on the number of workers, so an operation that
// combines per-chunk results in chunk order is deterministic. It returns when
// every chunk is done.
func (p *pool) run(n, grain int, fn func(c, lo, hi int)) {
	chunks := (n + grain - 1) / grain
	if chunks <= 1 || p.workers == 1 {
		for c := range chunks {
			fn(c, c*grain, min(c*grain+grain, n))
		}
		return
	}
	var next, remaining atomic.Int64
	remaining.Store(int64(chunks))
	done := make(chan struct{})
	work := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			fn(c, c*grain, min(c*grain+grain, n))
			if remaining.Add(-1) == 0 {
				close(done)
			}
		}
	}
	for range min(p.workers-1, chunks-1) {
		select {
		case p.tasks <- work:
		default: // every worker is busy: the caller does the rest itself
		}
	}
	work()
	<-done
}
