package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// The crash tests hold the ledger to its promise: appends are group
// committed, one fsync per batch, and a crash at any point leaves exactly a
// prefix of whole batches, at least every acknowledged entry, in a ledger
// that verifies and takes appends again. Helpers are in
// crash_helper_test.go.

// crashMaxBatch is the batch limit of the fault-injection runs.
const crashMaxBatch = 8

// longPlan and shortPlan are the sizes of the groups a fault-injection run
// adds, each after an entry committed alone: with crashMaxBatch the groups
// make batches of sizes 1 to 8. A long plan writes enough (each batch
// rewrites a 16 KiB tile) for Pebble to rotate its write-ahead log and
// flush its first memtable; a short plan stays within the first memtable.
func longPlan() []int  { return []int{3, 8, 1, 16, 9, 0, 12, 5, 7, 2, 15, 4} }
func shortPlan() []int { return []int{3, 16, 9, 0, 5, 1} }

// batchClock is a crash test's Options.Now. The committer calls it once per
// batch, so the n-th commit stamps its entries crashTime(first+n), and an
// entry's time names its batch. When held, the next commit waits inside
// Now until released: the adds queued meanwhile are then gathered into the
// batches that follow, so a test with one adder fixes every batch.
type batchClock struct {
	first   int64
	calls   atomic.Int64
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newBatchClock(first int64) *batchClock {
	return &batchClock{first: first, entered: make(chan struct{}, 1), release: make(chan struct{}, 1)}
}

func (c *batchClock) now() time.Time {
	n := c.calls.Add(1)
	if c.hold.CompareAndSwap(true, false) {
		c.entered <- struct{}{}
		<-c.release
	}
	return crashTime(c.first + n)
}

// What a fault-injection run is doing.
const (
	phaseOpen int32 = iota
	phaseAdd
	phaseCheckpoint
	phaseClose
)

// faultMode is a kind of fault: the operations of a class fail, the k-th
// only or, if sticky, every one from the k-th on; or, if crash, the
// process crashes just before the k-th operation of any kind.
type faultMode struct {
	name   string
	class  func(errorfs.Op) bool
	sticky bool
	crash  bool
}

func anyOp(errorfs.Op) bool      { return true }
func writeOp(op errorfs.Op) bool { return op.Kind.ReadOrWrite() == errorfs.OpIsWrite }
func readOp(op errorfs.Op) bool  { return op.Kind.ReadOrWrite() == errorfs.OpIsRead }
func syncOp(op errorfs.Op) bool {
	return op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo
}

// inPebbleBackground reports whether the caller runs in one of Pebble's
// flushes or compactions, which end the process on some errors (a
// MANIFEST write's): error modes leave them alone.
func inPebbleBackground() bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "pebble/v2.(*DB).flush") || strings.Contains(f.Function, "pebble/v2.(*DB).compact") {
			return true
		}
		if !more {
			return false
		}
	}
}

// crashPercents are the shares of unsynced data a crash keeps in the file
// systems a test takes (CrashCloneCfg.UnsyncedDataPercent).
func crashPercents() []int { return []int{0, 100, 50} }

// faultRun is one fault-injection run: a ledger opened on a crashable
// file system under a fault (the run is the errorfs injector), fed rounds
// of batches from one goroutine, and crashed.
type faultRun struct {
	t     *testing.T
	mem   *vfs.MemFS
	mode  faultMode
	k     int64
	clock *batchClock
	phase atomic.Int32
	l     *Log
	// want is what was submitted and acknowledged; base is the index in
	// want.ends of the size at open, so the clock's commit c commits the
	// batch [ends[base+c-1], ends[base+c]).
	want *crashLedger
	base int
	// failed is the first failure of an add.
	failed error
	// For the injector, which runs on Pebble's goroutines: the entries
	// acknowledged and added, and (under ckMu) want.checkpoints.
	acked, added atomic.Int64
	ckMu         sync.Mutex

	n         atomic.Int64 // operations of the class seen
	rotations atomic.Int64 // write-ahead logs created after Open

	mu     sync.Mutex
	struck bool       // the fault struck ...
	op     errorfs.Op // ... first this operation,
	when   int32      // in this phase,
	call   int64      // during this commit of the clock.
	// A crash mode's crash: what was acknowledged (at.acked,
	// at.checkpoints) and added (at.submitted) then, and the file system
	// as it left it, with each of crashPercents of unsynced data.
	at     crashLedger
	images []*vfs.MemFS
}

// newFaultRun prepares a run on mem, which holds what want says, under
// the k-th fault of mode; the run's clock stamps from crashTime(first+1).
func newFaultRun(t *testing.T, mem *vfs.MemFS, want *crashLedger, mode faultMode, k, first int64) *faultRun {
	r := &faultRun{t: t, mem: mem, mode: mode, k: k, clock: newBatchClock(first), want: want, base: len(want.ends) - 1}
	r.acked.Store(int64(want.acked))
	r.added.Store(int64(want.submitted))
	return r
}

// String implements errorfs.Injector.
func (r *faultRun) String() string { return fmt.Sprintf("%s at %d", r.mode.name, r.k) }

// MaybeError implements errorfs.Injector.
func (r *faultRun) MaybeError(op errorfs.Op) error {
	if (op.Kind == errorfs.OpCreate || op.Kind == errorfs.OpReuseForWrite) && isWAL(op) && r.phase.Load() != phaseOpen {
		r.rotations.Add(1)
	}
	if !r.mode.class(op) || (!r.mode.crash && inPebbleBackground()) {
		return nil
	}
	i := r.n.Add(1) - 1
	if i < r.k || (!r.mode.sticky && i > r.k) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.struck {
		r.struck, r.op, r.when, r.call = true, op, r.phase.Load(), r.clock.calls.Load()
	}
	if !r.mode.crash {
		return errorfs.ErrInjected
	}
	// The crash: what was acknowledged before it is durable; what is in
	// the file system was added before it.
	r.at.acked = int(r.acked.Load())
	r.ckMu.Lock()
	r.at.checkpoints = maps.Clone(r.want.checkpoints)
	r.ckMu.Unlock()
	for _, pct := range crashPercents() {
		r.images = append(r.images, r.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(r.k), uint64(pct)))}))
	}
	r.at.submitted = int(r.added.Load())
	return nil
}

// first returns the first operation the fault struck, if any.
func (r *faultRun) first() (op errorfs.Op, when int32, call int64, struck bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.op, r.when, r.call, r.struck
}

// run opens the ledger and adds the plan's rounds, signing a checkpoint
// half way, until the plan ends or, after an add failed, two more rounds
// have failed too. It returns the ledger, nil if Open failed or the
// process would have died (a Pebble Fatalf).
func (r *faultRun) run(plan []int) *Log {
	ctx := context.Background()
	r.phase.Store(phaseOpen)
	var err error
	died := survive(func() {
		r.l, err = Open("ledger", crashKey(), &Options{FS: errorfs.Wrap(r.mem, r), Now: r.clock.now, MaxBatch: crashMaxBatch})
	})
	if (died || err != nil) && (r.mode.crash || !r.struckYet()) {
		r.t.Fatalf("open failed with no fault injected: %v (died %v)", err, died)
	}
	if died || err != nil {
		r.l = nil
		return nil
	}
	r.phase.Store(phaseAdd)
	after := 0
	for i, n := range plan {
		if i == len(plan)/2 && r.checkpoint(ctx) {
			return nil
		}
		r.round(ctx, n)
		if r.failed != nil {
			if after++; after > 2 {
				break
			}
		}
	}
	return r.l
}

func (r *faultRun) struckYet() bool {
	_, _, _, struck := r.first()
	return struck
}

// round adds one entry alone, then, while its commit is held, n more, which
// the committer gathers into batches of at most crashMaxBatch (n must be
// at most the queue's 2·crashMaxBatch); and waits for them all. Each entry
// is either acknowledged at its index, all before it having been, or fails
// with ErrBroken; after a failure nothing is acknowledged.
func (r *faultRun) round(ctx context.Context, n int) {
	w := r.want
	start := w.submitted
	r.clock.hold.Store(true)
	r.added.Add(1)
	fs := []*Future{r.l.Add(ctx, TypeNote, w.body(start))}
	held := false
	select {
	case <-r.clock.entered:
		held = true
	case <-fs[0].done:
		r.clock.hold.Store(false)
	}
	for j := 1; j <= n; j++ {
		r.added.Add(1)
		fs = append(fs, r.l.Add(ctx, TypeNote, w.body(start+j)))
	}
	if held {
		r.clock.release <- struct{}{}
	}
	// The batches: the first entry alone, then the rest in chunks of
	// crashMaxBatch; each stamped by its commit.
	call := int64(len(w.ends) - r.base)
	ends := []int{start + 1}
	for e := start + 1; e < start+1+n; {
		e = min(e+crashMaxBatch, start+1+n)
		ends = append(ends, e)
	}
	for _, e := range ends {
		for range e - w.ends[len(w.ends)-1] {
			w.stamps = append(w.stamps, crashTime(r.clock.first+call))
		}
		w.ends = append(w.ends, e)
		call++
	}
	w.submitted = start + n + 1
	for j, f := range fs {
		i, err := f.Wait(ctx)
		switch {
		case err == nil && r.failed != nil:
			r.t.Fatalf("entry %d acknowledged at %d after a failure (%v)", start+j, i, r.failed)
		case err == nil && (int(i) != start+j || w.acked != start+j):
			r.t.Fatalf("entry %d acknowledged at index %d with %d before it acknowledged", start+j, i, w.acked)
		case err == nil:
			w.acked++
			r.acked.Store(int64(w.acked))
		case !errors.Is(err, ErrBroken):
			r.t.Fatalf("entry %d failed with %v, not ErrBroken", start+j, err)
		case r.failed == nil:
			r.failed = err
		}
	}
}

// checkpoint signs a checkpoint, recording it if acknowledged, and reports
// whether the process would have died.
func (r *faultRun) checkpoint(ctx context.Context) (died bool) {
	r.phase.Store(phaseCheckpoint)
	defer r.phase.Store(phaseAdd)
	var signed []byte
	var err error
	if survive(func() { signed, err = r.l.Checkpoint(ctx) }) {
		return true
	}
	if err != nil {
		if r.mode.crash || !r.struckYet() {
			r.t.Fatalf("checkpoint failed with no fault injected: %v", err)
		}
		return false
	}
	c, _, err := OpenCheckpoint(signed, LogVerifier(r.l.PublicKey()))
	if err != nil {
		r.t.Fatal(err)
	}
	r.ckMu.Lock()
	r.want.checkpoints[c.Size] = signed
	r.ckMu.Unlock()
	return false
}

// judge checks what the run saw against the fault: nothing fails but by a
// fault; a batch is acknowledged whole or not at all; a fault on the
// write-ahead log's data while adding fails the batch being committed, which
// with everything after it is not acknowledged. It then bounds the sizes
// a crash may leave: the acknowledged entries, plus perhaps the batch that
// failed.
func (r *faultRun) judge() {
	w := r.want
	op, when, call, struck := r.first()
	if r.failed != nil && (r.mode.crash || !struck) {
		r.t.Fatalf("an add failed with no fault injected: %v", r.failed)
	}
	if !slices.Contains(w.ends, w.acked) {
		r.t.Fatalf("%d entries acknowledged, inside a batch: the batches end at %v", w.acked, w.ends)
	}
	if struck && !r.mode.crash && when == phaseAdd && isWALData(op) {
		if r.failed == nil {
			r.t.Fatalf("a fault on %v of %s in commit %d was not reported", opName(op.Kind), op.Path, call)
		}
		if start := w.ends[r.base+int(call)-1]; w.acked != start {
			r.t.Fatalf("a fault on %v of %s in commit %d (entries from %d) left %d acknowledged", opName(op.Kind), op.Path, call, start, w.acked)
		}
	}
	if r.failed != nil {
		i, _ := slices.BinarySearch(w.ends, w.acked+1)
		w.submitted = w.ends[i]
	}
}

// crash takes the file system as a crash would leave it (for a crash
// mode, as it left it when it struck; else now), with unsynced data lost,
// kept or partly kept, and checks the ledger reopened on each.
func (r *faultRun) crash() {
	want, images := r.want, r.images
	if r.mode.crash {
		if images == nil {
			return // the run ended before the k-th operation
		}
		want = r.want.clone()
		want.acked, want.submitted, want.checkpoints = r.at.acked, r.at.submitted, r.at.checkpoints
	} else {
		for _, pct := range crashPercents() {
			images = append(images, r.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(r.k), uint64(pct)))}))
		}
	}
	for i, fs := range images {
		pct := crashPercents()[i]
		l, err := Open("ledger", crashKey(), &Options{FS: fs, Now: newBatchClock(1 << 20).now, MaxBatch: crashMaxBatch})
		if err != nil {
			r.t.Fatalf("reopen after the crash (%d%% of unsynced data kept): %v", pct, err)
		}
		if err := want.check(l); err != nil {
			r.t.Fatalf("after the crash (%d%% of unsynced data kept): %v", pct, err)
		}
		if err := l.Close(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// close closes the ledger (still under the fault) and checks that it then
// refuses adds.
func (r *faultRun) close() {
	if r.l == nil {
		return
	}
	r.phase.Store(phaseClose)
	if survive(func() { _ = r.l.Close() }) {
		return
	}
	ctx := context.Background()
	if _, err := r.l.Add(ctx, TypeNote, []byte("late")).Wait(ctx); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrBroken) {
		r.t.Fatalf("an add after close: %v", err)
	}
}

// TestCrashFaultInjection crashes a ledger just before its k-th file
// system operation, for every k, and fails the k-th operation of a class
// (or every one from it), while the ledger is opened, fed batches of
// known sizes, checkpointed and closed; then checks the ledger reopened on
// the file system as the crash left it, with unsynced data lost, kept or
// partly kept (crashLedger.check). It does so on a new ledger and on one
// of 200-odd entries left by a crash, whose opening replays and flushes
// the write-ahead log.
func TestCrashFaultInjection(t *testing.T) {
	modes := []faultMode{
		{name: "crash", class: anyOp, crash: true},
		{name: "error", class: anyOp},
		{name: "writes", class: writeOp, sticky: true},
		{name: "sync", class: syncOp},
		{name: "read", class: readOp},
	}
	// A ledger of two long plans, crashed when all was synced.
	mem := vfs.NewCrashableMem()
	base := &crashLedger{body: crashBody, ends: []int{0}, checkpoints: map[uint64][]byte{}}
	pre := newFaultRun(t, mem, base, faultMode{name: "none", class: func(errorfs.Op) bool { return false }}, 0, 0)
	pre.run(append(longPlan(), longPlan()...))
	if pre.l == nil || pre.failed != nil || base.acked != base.submitted {
		t.Fatalf("writing the base ledger: %v", pre.failed)
	}
	image := mem.CrashClone(vfs.CrashCloneCfg{})
	pre.close()
	type scenario struct {
		name  string
		setup func() (*vfs.MemFS, *crashLedger)
	}
	scenarios := []scenario{
		{"new", func() (*vfs.MemFS, *crashLedger) {
			return vfs.NewCrashableMem(), &crashLedger{body: crashBody, ends: []int{0}, checkpoints: map[uint64][]byte{}}
		}},
		{"reopened", func() (*vfs.MemFS, *crashLedger) {
			return image.CrashClone(vfs.CrashCloneCfg{}), base.clone()
		}},
	}
	perMode := 40
	if testing.Short() {
		perMode = 12
	}
	for _, sc := range scenarios {
		for _, m := range modes {
			// Pebble answers an error while it rotates its write-ahead log
			// or flushes a memtable with a panic that no one can recover
			// (it ends the process: the crash mode covers it), so errors
			// are injected in short plans, which stay in the first log.
			plan := shortPlan()
			if m.crash {
				plan = longPlan()
			}
			// Count the operations of the class in a run without faults.
			mem, want := sc.setup()
			dry := newFaultRun(t, mem, want, m, 1<<62, 1000)
			dry.run(plan)
			dry.close()
			total := dry.n.Load()
			switch {
			case dry.failed != nil || want.acked != want.submitted:
				t.Fatalf("%s: a run without faults acknowledged %d of %d: %v", sc.name, want.acked, want.submitted, dry.failed)
			case m.crash && sc.name == "new" && dry.rotations.Load() == 0:
				t.Fatalf("%s: the long plan did not make Pebble rotate its write-ahead log", sc.name)
			case !m.crash && dry.rotations.Load() != 0:
				t.Fatalf("%s: the short plan made Pebble rotate its write-ahead log", sc.name)
			}
			for _, k := range spread(total, perMode) {
				t.Run(fmt.Sprintf("%s/%s-%d-of-%d", sc.name, m.name, k, total), func(t *testing.T) {
					mem, want := sc.setup()
					r := newFaultRun(t, mem, want, m, k, 1000)
					r.run(plan)
					r.judge()
					r.crash()
					r.close()
				})
			}
		}
	}
}

// spread returns at most n of 0..total-1, evenly spaced, always with the
// first and the last.
func spread(total int64, n int) []int64 {
	if total <= int64(n) {
		ks := make([]int64, total)
		for i := range ks {
			ks[i] = int64(i)
		}
		return ks
	}
	ks := make([]int64, n)
	for i := range ks {
		ks[i] = int64(i) * (total - 1) / int64(n-1)
	}
	return ks
}

// TestFaultsReturnErrors checks that a disk error in Open or in a
// checkpoint's write comes back as an error, not as the panic of Pebble's
// Fatalf, which ends the process; and that a checkpoint on a ledger whose
// commit failed is refused with ErrBroken.
func TestFaultsReturnErrors(t *testing.T) {
	ctx := context.Background()
	for k := range int64(40) {
		r := newFaultRun(t, vfs.NewCrashableMem(), &crashLedger{}, faultMode{name: "error", class: anyOp}, k, 0)
		var l *Log
		var err error
		if survive(func() {
			l, err = Open("ledger", crashKey(), &Options{FS: errorfs.Wrap(r.mem, r)})
		}) {
			op, _, _, _ := r.first()
			t.Fatalf("Open panicked on a fault on %v of %s", opName(op.Kind), op.Path)
		}
		if err == nil {
			_ = l.Close()
		}
	}
	var armed atomic.Bool
	class := func(op errorfs.Op) bool { return armed.Load() && syncOp(op) }
	r := newFaultRun(t, vfs.NewCrashableMem(), &crashLedger{}, faultMode{name: "sync", class: class}, 0, 0)
	l, err := Open("ledger", crashKey(), &Options{FS: errorfs.Wrap(r.mem, r)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	armed.Store(true)
	if _, err := l.Add(ctx, TypeNote, crashBody(0)).Wait(ctx); !errors.Is(err, ErrBroken) {
		t.Fatalf("add with a failing fsync: %v", err)
	}
	if survive(func() { _, err = l.Checkpoint(ctx) }) {
		t.Fatal("Checkpoint panicked on a ledger whose commit failed")
	}
	if !errors.Is(err, ErrBroken) {
		t.Fatalf("checkpoint of a ledger whose commit failed: %v", err)
	}
}

const crashDirEnv = "COHORT_LEDGER_CRASH_DIR"

// crashWindow is the number of adds the writer process keeps in flight.
const crashWindow = 256

// TestCrashWriterProcess is the writer that TestCrashSIGKILL starts and
// kills: it keeps crashWindow adds in flight from one goroutine, printing
// "acked N" after every 64 acknowledged entries and "checkpoint S" after
// signing one every 1024.
func TestCrashWriterProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the writer process of TestCrashSIGKILL")
	}
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	fail := func(err error) {
		fmt.Fprintln(out, "error", err)
		_ = out.Flush()
		os.Exit(1)
	}
	l, err := Open(dir, crashKey(), nil)
	if err != nil {
		fail(err)
	}
	var window [crashWindow]*Future
	next := 0
	deadline := time.Now().Add(30 * time.Second)
	for acked := 0; time.Now().Before(deadline); {
		for ; next < acked+crashWindow; next++ {
			window[next%crashWindow] = l.Add(ctx, TypeNote, crashBody(next))
		}
		i, err := window[acked%crashWindow].Wait(ctx)
		if err != nil {
			fail(err)
		}
		if int(i) != acked {
			fail(fmt.Errorf("entry %d acknowledged at %d", acked, i))
		}
		acked++
		if acked%64 == 0 {
			fmt.Fprintf(out, "acked %d\n", acked)
		}
		if acked%1024 == 0 {
			signed, err := l.Checkpoint(ctx)
			if err != nil {
				fail(err)
			}
			c, _, err := OpenCheckpoint(signed, LogVerifier(l.PublicKey()))
			if err != nil {
				fail(err)
			}
			fmt.Fprintf(out, "checkpoint %d\n", c.Size)
		}
		if acked%64 == 0 {
			if err := out.Flush(); err != nil {
				os.Exit(1)
			}
		}
	}
	fail(errors.New("not killed in 30 s"))
}

// TestCrashSIGKILL starts a writer process (TestCrashWriterProcess) on a
// ledger on disk, kills it with SIGKILL once a random number of thousands
// of entries are acknowledged, while it has adds in flight, and checks the
// ledger it leaves (crashLedger.check); three times.
func TestCrashSIGKILL(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for run := range 3 {
		dir := filepath.Join(t.TempDir(), "ledger")
		cmd := exec.Command(exe, "-test.run=^TestCrashWriterProcess$", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 2000 + rng.IntN(4000)
		want := &crashLedger{body: crashBody, submitted: -1, checkpoints: map[uint64][]byte{}}
		sc := bufio.NewScanner(out)
		for want.acked < killAt && sc.Scan() {
			word, n, _ := strings.Cut(sc.Text(), " ")
			v, err := strconv.Atoi(n)
			switch {
			case word == "acked" && err == nil:
				want.acked = v
			case word == "checkpoint" && err == nil:
				want.checkpoints[uint64(v)] = nil
			default:
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("the writer said %q; stderr:\n%s", sc.Text(), stderr.String())
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if want.acked < killAt {
			t.Fatalf("the writer stopped at %d acknowledged entries: %v; stderr:\n%s", want.acked, sc.Err(), stderr.String())
		}
		l, err := Open(dir, crashKey(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: killed with %d entries acknowledged and %d checkpoints; %d entries survived", run, want.acked, len(want.checkpoints), l.Size())
		if err := want.check(l); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseWhileAdding closes a ledger while goroutines add to it, once
// none, a few or many adds are acknowledged: every add completes,
// acknowledged or refused with ErrClosed, and later adds are refused;
// after reopening, the ledger holds exactly the acknowledged entries at
// their indices.
func TestCloseWhileAdding(t *testing.T) {
	for run, after := range []int{0, 40, 400} {
		t.Run(fmt.Sprintf("after-%d", after), func(t *testing.T) {
			closeWhileAdding(t, run, after)
		})
	}
}

func closeWhileAdding(t *testing.T, run, after int) {
	const adders, each, window = 8, 400, 8
	dir := t.TempDir()
	l, err := Open(dir, crashKey(), &Options{MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	body := func(g, i int) []byte { return fmt.Appendf(nil, "run %d adder %d add %d", run, g, i) }
	var mu sync.Mutex
	acked := map[string]uint64{}
	refused := map[string]bool{}
	reached := make(chan struct{})
	var once sync.Once
	if after == 0 {
		once.Do(func() { close(reached) })
	}
	var wg sync.WaitGroup
	for g := range adders {
		wg.Go(func() {
			fs := make([]*Future, 0, window)
			for i := range each {
				fs = append(fs, l.Add(ctx, TypeNote, body(g, i)))
				if len(fs) < window && i < each-1 {
					continue
				}
				for j, f := range fs {
					b := string(body(g, i-len(fs)+1+j))
					idx, err := f.Wait(ctx)
					mu.Lock()
					switch {
					case err == nil:
						acked[b] = idx
						if len(acked) == after {
							once.Do(func() { close(reached) })
						}
					case errors.Is(err, ErrClosed):
						refused[b] = true
					default:
						t.Errorf("add %q: %v (hung, or failed otherwise than closed)", b, err)
					}
					mu.Unlock()
				}
				fs = fs[:0]
			}
		})
	}
	adding := make(chan struct{})
	go func() {
		wg.Wait()
		close(adding)
	}()
	select {
	case <-reached:
	case <-adding:
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-adding
	if t.Failed() {
		return
	}
	if len(acked) < after || len(acked)+len(refused) != adders*each {
		t.Fatalf("%d acknowledged (closing after %d) and %d refused of %d adds", len(acked), after, len(refused), adders*each)
	}
	if _, err := l.Add(ctx, TypeNote, []byte("late")).Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("an add after close: %v", err)
	}
	byIndex := make([][]byte, len(acked))
	for b, i := range acked {
		if i >= uint64(len(byIndex)) || byIndex[i] != nil {
			t.Fatalf("add %q acknowledged at index %d, out of [0, %d) or taken", b, i, len(acked))
		}
		byIndex[i] = []byte(b)
	}
	l2, err := Open(dir, crashKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	want := &crashLedger{
		body: func(i int) []byte {
			if i < len(byIndex) {
				return byIndex[i]
			}
			return crashBody(i)
		},
		submitted: len(acked),
		acked:     len(acked),
	}
	if err := want.check(l2); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged, %d refused at close", len(acked), len(refused))
}
