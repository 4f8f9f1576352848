package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// crashBody is the body of the i-th entry a crash test adds.
func crashBody(i int) []byte { return []byte(fmt.Sprintf("entry %d of the crash test", i)) }

// checkPrefix reopens a ledger after a crash and checks that it holds a
// prefix of what was added, at least the acknowledged entries, each as
// added and chained, in a tree that verifies; and that it takes appends
// again.
func checkPrefix(t *testing.T, l *Log, acked, added int) {
	t.Helper()
	ctx := context.Background()
	size := int(l.Size())
	if size < acked || size > added {
		t.Fatalf("reopened with %d entries; %d were acknowledged, %d added", size, acked, added)
	}
	if err := l.Entries(0, uint64(size), func(i uint64, b []byte) error {
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return err
		}
		if e.Index != i || e.Type != TypeNote || !bytes.Equal(e.Body, crashBody(int(i))) {
			return fmt.Errorf("entry %d is %d %v %q", i, e.Index, e.Type, e.Body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, l.Source(), VerifyOptions{}); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
	if i, err := l.Add(ctx, TypeNote, crashBody(size)).Wait(ctx); err != nil || int(i) != size {
		t.Fatalf("append after the crash: %d, %v", i, err)
	}
}

// TestCrashFaultInjection makes the file system fail from the k-th write
// or sync on, for many k, while entries are added in groups; then takes
// the file system as a crash would leave it (unsynced data lost, kept or
// partly kept) and reopens the ledger on it. What was acknowledged must be
// there, nothing else but a prefix of what was added, and nothing
// acknowledged after the fault.
func TestCrashFaultInjection(t *testing.T) {
	ctx := context.Background()
	steps := []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233}
	if testing.Short() {
		steps = steps[:8]
	}
	for _, k := range steps {
		for _, kinds := range []string{"writes", "syncs"} {
			t.Run(fmt.Sprintf("%s-from-%d", kinds, k), func(t *testing.T) {
				var armed atomic.Bool
				var n atomic.Int64
				inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
					if !armed.Load() {
						return nil
					}
					hit := op.Kind.ReadOrWrite() == errorfs.OpIsWrite
					if kinds == "syncs" {
						hit = op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData || op.Kind == errorfs.OpFileSyncTo
					}
					if hit && n.Add(1) >= int64(k) {
						return errorfs.ErrInjected
					}
					return nil
				})
				mem := vfs.NewCrashableMem()
				l, err := Open("ledger", testKey(20), &Options{FS: errorfs.Wrap(mem, inj), Now: fixedClock(), MaxBatch: 7})
				if err != nil {
					t.Fatal(err)
				}
				armed.Store(true)
				added, acked := 0, 0
				failed := false
				for g := 0; g < 40 && !failed; g++ {
					fs := make([]*Future, 10)
					for j := range fs {
						fs[j] = l.Add(ctx, TypeNote, crashBody(added))
						added++
					}
					for _, f := range fs {
						if _, err := f.Wait(ctx); err != nil {
							failed = true
						} else if !failed {
							acked++
						}
					}
				}
				if failed {
					// Once a commit failed, nothing more is acknowledged.
					if _, err := l.Add(ctx, TypeNote, crashBody(added)).Wait(ctx); !errors.Is(err, ErrBroken) {
						t.Fatalf("an add after a failed commit: %v", err)
					}
				}
				// The crash: whatever was not synced may be lost, kept, or
				// partly kept.
				for _, pct := range []int{0, 50, 100} {
					clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(uint64(k), 1))})
					l2, err := Open("ledger", testKey(20), &Options{FS: clone, Now: fixedClock()})
					if err != nil {
						t.Fatalf("reopen (%d%% of unsynced data kept): %v", pct, err)
					}
					checkPrefix(t, l2, acked, added)
					_ = l2.Close()
				}
				armed.Store(false)
				_ = l.Close()
			})
		}
	}
}

const crashDirEnv = "COHORT_LEDGER_CRASH_DIR"

// TestCrashWriterProcess is the writer the SIGKILL test starts: it adds
// entries in windows of 256 and prints how many are acknowledged after
// each window, until it is killed.
func TestCrashWriterProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashSIGKILL")
	}
	ctx := context.Background()
	l, err := Open(dir, testKey(21), nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; {
		fs := make([]*Future, 256)
		for j := range fs {
			fs[j] = l.Add(ctx, TypeNote, crashBody(i))
			i++
		}
		for _, f := range fs {
			if _, err := f.Wait(ctx); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(w, "acked %d\n", i)
		_ = w.Flush()
	}
}

// TestCrashSIGKILL kills a writer process with SIGKILL while it adds
// entries (it always has a batch in flight), three times at random points,
// and checks what the ledger holds after each.
func TestCrashSIGKILL(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for run := 0; run < 3; run++ {
		dir := filepath.Join(t.TempDir(), "ledger")
		cmd := exec.Command(exe, "-test.run=^TestCrashWriterProcess$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 1000 + rng.IntN(5000)
		acked := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "acked "); ok {
				if acked, err = strconv.Atoi(n); err != nil {
					t.Fatal(err)
				}
				if acked >= killAt {
					break
				}
			} else if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if acked < killAt {
			t.Fatalf("the writer stopped at %d acknowledged entries", acked)
		}
		l, err := Open(dir, testKey(21), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The writer may have gone on past the last line read; whatever it
		// added has the deterministic body of its index.
		size := int(l.Size())
		t.Logf("killed after at least %d acknowledged entries; %d survived", acked, size)
		checkPrefix(t, l, acked, size)
		_ = l.Close()
	}
}

// TestCloseWhileAdding closes the ledger while goroutines add: every add
// completes, either acknowledged (and then durable, where it said) or
// refused with ErrClosed (and then absent).
func TestCloseWhileAdding(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, testKey(22), &Options{MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		body  string
		index uint64
		err   error
	}
	results := make(chan outcome, 4000)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 1000; i++ {
				body := fmt.Sprintf("%d-%d", g, i)
				idx, err := l.Add(ctx, TypeNote, []byte(body)).Wait(ctx)
				results <- outcome{body, idx, err}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]uint64{}
	refused := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for n := 0; n < 4000; n++ {
		select {
		case r := <-results:
			switch {
			case r.err == nil:
				acked[r.body] = r.index
			case errors.Is(r.err, ErrClosed):
				refused[r.body] = true
			default:
				t.Fatalf("add %s: %v", r.body, r.err)
			}
		case <-timeout:
			t.Fatalf("%d adds never completed", 4000-n)
		}
	}
	l2 := openTest(t, dir, testKey(22))
	if int(l2.Size()) != len(acked) {
		t.Fatalf("%d entries after reopening, %d acknowledged", l2.Size(), len(acked))
	}
	if err := l2.Entries(0, l2.Size(), func(i uint64, b []byte) error {
		var e Entry
		_ = e.UnmarshalBinary(b)
		if idx, ok := acked[string(e.Body)]; !ok || idx != i || refused[string(e.Body)] {
			return fmt.Errorf("entry %d %q: acknowledged at %d (%v)", i, e.Body, idx, ok)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged, %d refused at close", len(acked), len(refused))
}
