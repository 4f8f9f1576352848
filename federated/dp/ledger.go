package dp

import (
	"fmt"
	"math"
	"sync"
)

// Ledger records, per dataset, the ε a site has spent across jobs (by basic
// composition: the ε of each charge add up) and refuses charges over the
// dataset's cap. Implementations must be safe for concurrent use; a node can
// persist one, [MemoryLedger] keeps it in memory.
type Ledger interface {
	// Charge adds eps to dataset's spent ε, or, if that would take it over
	// the cap, records nothing and returns an error wrapping [ErrBudget]
	// that names the dataset, the ε spent, the charge and the cap.
	Charge(dataset string, eps float64) error
	// Spent returns the ε spent on dataset so far.
	Spent(dataset string) (float64, error)
	// Cap returns dataset's cap.
	Cap(dataset string) (float64, error)
}

// MemoryLedger is a [Ledger] in memory with one default cap and optional
// per-dataset caps. Make it with [NewMemoryLedger].
type MemoryLedger struct {
	mu    sync.Mutex
	cap   float64
	caps  map[string]float64
	spent map[string]float64
}

// NewMemoryLedger returns an empty ledger whose datasets have cap ε
// defaultCap (+Inf for none) unless [MemoryLedger.SetCap] says otherwise. It
// panics if defaultCap is negative or NaN.
func NewMemoryLedger(defaultCap float64) *MemoryLedger {
	checkCap(defaultCap)
	return &MemoryLedger{cap: defaultCap, caps: map[string]float64{}, spent: map[string]float64{}}
}

func checkCap(c float64) {
	if !(c >= 0) {
		panic(fmt.Sprintf("dp: budget cap %v must be >= 0", c))
	}
}

// SetCap sets dataset's cap. It panics if c is negative or NaN.
func (l *MemoryLedger) SetCap(dataset string, c float64) {
	checkCap(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.caps[dataset] = c
}

func (l *MemoryLedger) capOf(dataset string) float64 {
	if c, ok := l.caps[dataset]; ok {
		return c
	}
	return l.cap
}

// Charge implements [Ledger]. A charge that is negative, NaN or infinite is
// refused with an error wrapping [ErrParam].
func (l *MemoryLedger) Charge(dataset string, eps float64) error {
	if !(eps >= 0) || math.IsInf(eps, 1) {
		return fmt.Errorf("%w: charge of epsilon %v to dataset %q", ErrParam, eps, dataset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	spent, c := l.spent[dataset], l.capOf(dataset)
	if spent+eps > c {
		return fmt.Errorf("%w: dataset %q has spent epsilon %.6g of its cap %.6g; a round of %.6g would exceed it",
			ErrBudget, dataset, spent, c, eps)
	}
	l.spent[dataset] = spent + eps
	return nil
}

// Spent implements [Ledger].
func (l *MemoryLedger) Spent(dataset string) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent[dataset], nil
}

// Cap implements [Ledger].
func (l *MemoryLedger) Cap(dataset string) (float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.capOf(dataset), nil
}
