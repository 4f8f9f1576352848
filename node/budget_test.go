package node

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/cohort-mpc/cohort/ledger"
)

// openLedger opens the test node's ledger in dir.
func openLedger(t *testing.T, dir string) *ledger.Log {
	t.Helper()
	key, _ := testKey(9)
	l, err := ledger.Open(filepath.Join(dir, LedgerDir), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func record(t *testing.T, l *ledger.Log, evs ...ledger.Event) {
	t.Helper()
	for _, ev := range evs {
		if _, err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBudgetFromLedger(t *testing.T) {
	dir := t.TempDir()
	l := openLedger(t, dir)
	record(t, l,
		&ledger.BudgetSpent{Job: ledger.JobID{1}, Dataset: "bc", Epsilon: 2.5, Delta: 1e-5, Total: 2.5},
		&ledger.Note{Data: []byte("not a charge")},
		&ledger.BudgetSpent{Job: ledger.JobID{2}, Dataset: "other", Epsilon: 1, Delta: 1e-5, Total: 1},
		&ledger.SiteDecided{Job: ledger.JobID{3}, Accept: true},
		&ledger.BudgetSpent{Job: ledger.JobID{3}, Dataset: "bc", Epsilon: 4, Delta: 1e-5, Total: 6.5},
	)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, dir)
	defer l.Close()
	b, err := OpenBudget(l, map[string]float64{"bc": 8, "zero": 0})
	if err != nil {
		t.Fatal(err)
	}
	for ds, want := range map[string]float64{"bc": 6.5, "other": 1, "new": 0} {
		if got, err := b.Spent(ds); err != nil || got != want {
			t.Errorf("Spent(%q) = %v, %v; want %v", ds, got, err, want)
		}
	}
	for ds, want := range map[string]float64{"bc": 8, "zero": 0, "other": math.Inf(1)} {
		if got, err := b.Cap(ds); err != nil || got != want {
			t.Errorf("Cap(%q) = %v, %v; want %v", ds, got, err, want)
		}
	}
	err = b.Charge("bc", 1.6)
	if want := `dp: privacy budget exceeded: dataset "bc" has spent ε 6.5 of its cap 8; a charge of 1.6 would exceed it`; !errors.Is(err, dp.ErrBudget) || err.Error() != want {
		t.Errorf("over the cap: %v, want %q", err, want)
	}
	if err := b.Charge("bc", 1.5); err != nil {
		t.Errorf("up to the cap: %v", err)
	}
	if err := b.Charge("zero", 0); err != nil {
		t.Errorf("a charge of 0 under a cap of 0: %v", err)
	}
	if err := b.Charge("zero", 1e-9); !errors.Is(err, dp.ErrBudget) {
		t.Errorf("over a cap of 0: %v", err)
	}
	for _, eps := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := b.Charge("other", eps); !errors.Is(err, dp.ErrParam) {
			t.Errorf("charge %v: %v", eps, err)
		}
	}
	if got, _ := b.Spent("bc"); got != 8 {
		t.Errorf("spent %v after charges, want 8", got)
	}
	if got, _ := b.Spent("other"); got != 1 {
		t.Errorf("refused charges were counted: %v", got)
	}
}

// What the engine records after each charge is what a restarted node's
// budget starts from.
func TestBudgetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	caps := map[string]float64{"bc": 1}
	l := openLedger(t, dir)
	b, err := OpenBudget(l, caps)
	if err != nil {
		t.Fatal(err)
	}
	for _, eps := range []float64{0.1, 0.2, 0.3} {
		if err := b.Charge("bc", eps); err != nil {
			t.Fatal(err)
		}
		total, _ := b.Spent("bc")
		record(t, l, &ledger.BudgetSpent{Dataset: "bc", Epsilon: eps, Delta: 1e-5, Total: total})
	}
	want, _ := b.Spent("bc")
	l.Close()
	l = openLedger(t, dir)
	defer l.Close()
	b, err = OpenBudget(l, caps)
	if err != nil {
		t.Fatal(err)
	}
	if a, c := 0.1, 0.2; want != a+c+0.3 {
		t.Fatalf("spent %v before the restart", want)
	}
	if got, _ := b.Spent("bc"); got != want {
		t.Errorf("restarted budget spent %v, want %v", got, want)
	}
	if err := b.Charge("bc", 0.41); !errors.Is(err, dp.ErrBudget) {
		t.Errorf("after a restart, a charge over the cap: %v", err)
	}
}

func TestBudgetTotals(t *testing.T) {
	// A charge whose entry was lost in a crash is still in the next
	// entry's total: the budget counts it.
	dir := t.TempDir()
	l := openLedger(t, dir)
	defer l.Close()
	record(t, l,
		&ledger.BudgetSpent{Dataset: "bc", Epsilon: 1, Total: 3},
		&ledger.BudgetSpent{Dataset: "bc", Epsilon: 0.5, Total: 1.5}, // concurrent charges record totals out of order
	)
	b, err := OpenBudget(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Spent("bc"); got != 3 {
		t.Errorf("spent %v, want the largest total 3", got)
	}
	if _, err := OpenBudget(l, map[string]float64{"bc": -1}); !errors.Is(err, ErrBudget) {
		t.Errorf("negative cap: %v", err)
	}
	for _, bad := range []*ledger.BudgetSpent{
		{Dataset: "x", Epsilon: -1, Total: 0},
		{Dataset: "x", Epsilon: 1, Total: 0.5},
		{Dataset: "x", Epsilon: math.Inf(1), Total: math.Inf(1)},
		{Dataset: "x", Epsilon: math.NaN(), Total: 1},
	} {
		dir := t.TempDir()
		l := openLedger(t, dir)
		record(t, l, bad)
		if _, err := OpenBudget(l, nil); !errors.Is(err, ErrBudget) {
			t.Errorf("%+v: %v", bad, err)
		}
		l.Close()
	}
}

func TestBudgetConcurrent(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	b, err := OpenBudget(l, map[string]float64{"bc": 10})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range 16 {
		wg.Go(func() {
			if err := b.Charge("bc", 1); err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, _ := b.Spent("bc"); got != 10 || refused != 6 {
		t.Errorf("spent %v with %d refusals, want 10 and 6", got, refused)
	}
}
