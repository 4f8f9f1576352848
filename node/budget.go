package node

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/cohort-mpc/cohort/ledger"
)

// Budget is a node's record-level privacy budget: the ε spent on each of its
// datasets, and their caps. It implements dp.Ledger for the engine's site,
// which records a ledger.BudgetSpent entry in the node's ledger after each
// charge; so the budget persists in the ledger, and OpenBudget reconstructs
// it from there when the node restarts. A Budget is safe for concurrent use.
type Budget struct {
	caps map[string]float64 // read only

	mu struct {
		sync.Mutex
		spent map[string]float64 // ε spent per dataset
	}
}

var _ dp.Ledger = (*Budget)(nil)

// OpenBudget reconstructs the ε spent on each dataset from log's
// budget-spent entries and returns the budget with the given caps (a
// dataset without one has no cap; every cap must be at least 0). A
// dataset's spent ε is the sum of its entries' Epsilon, or the largest
// Total an entry records if that is more (a charge whose own entry was lost
// in a crash still counts). An entry with a negative or non-finite ε or
// total, or a total below its own ε, is refused with an error wrapping
// ErrBudget.
func OpenBudget(log *ledger.Log, caps map[string]float64) (*Budget, error) {
	b := &Budget{caps: make(map[string]float64, len(caps))}
	for ds, c := range caps {
		if !(c >= 0) {
			return nil, fmt.Errorf("%w: dataset %q: cap %v must be at least 0", ErrBudget, ds, c)
		}
		b.caps[ds] = c
	}
	sum := map[string]float64{}
	total := map[string]float64{}
	err := log.Entries(0, log.Size(), func(i uint64, raw []byte) error {
		var e ledger.Entry
		if err := e.UnmarshalBinary(raw); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Type != ledger.TypeBudgetSpent {
			return nil
		}
		var bs ledger.BudgetSpent
		if err := bs.UnmarshalBinary(e.Body); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if !finiteNonNeg(bs.Epsilon) || !finiteNonNeg(bs.Total) || bs.Total < bs.Epsilon {
			return fmt.Errorf("%w: ledger entry %d: dataset %q: ε %v with a total of %v", ErrBudget, i, bs.Dataset, bs.Epsilon, bs.Total)
		}
		sum[bs.Dataset] += bs.Epsilon
		total[bs.Dataset] = max(total[bs.Dataset], bs.Total)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: reading the budget from the ledger: %w", err)
	}
	b.mu.spent = make(map[string]float64, len(sum))
	for ds, s := range sum {
		b.mu.spent[ds] = s
		// Sums in another order round differently: a total within
		// rounding of the sum is the sum.
		if t := total[ds]; t > s*(1+1e-12) {
			b.mu.spent[ds] = t
		}
	}
	return b, nil
}

// ErrBudget reports a budget-spent entry of the node's ledger that cannot
// be right.
var ErrBudget = errors.New("node: privacy budget")

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 1) }

func (b *Budget) capOf(dataset string) float64 {
	if c, ok := b.caps[dataset]; ok {
		return c
	}
	return math.Inf(1)
}

// Charge implements dp.Ledger: it adds eps to dataset's spent ε, or refuses
// with an error wrapping dp.ErrBudget if that would take it over the cap (a
// charge that is negative or not finite wraps dp.ErrParam).
func (b *Budget) Charge(dataset string, eps float64) error {
	if !finiteNonNeg(eps) {
		return fmt.Errorf("%w: charge of ε %v to dataset %q", dp.ErrParam, eps, dataset)
	}
	c := b.capOf(dataset)
	b.mu.Lock()
	defer b.mu.Unlock()
	spent := b.mu.spent[dataset]
	if spent+eps > c {
		return fmt.Errorf("%w: dataset %q has spent ε %.6g of its cap %.6g; a charge of %.6g would exceed it",
			dp.ErrBudget, dataset, spent, c, eps)
	}
	b.mu.spent[dataset] = spent + eps
	return nil
}

// Spent implements dp.Ledger.
func (b *Budget) Spent(dataset string) (float64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.spent[dataset], nil
}

// Cap implements dp.Ledger: the dataset's cap, +Inf if it has none.
func (b *Budget) Cap(dataset string) (float64, error) {
	return b.capOf(dataset), nil
}
