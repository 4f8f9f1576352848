package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/dp"
)

// TestDPSGDCalibration checks that the noise DPSGD picks spends the budget:
// the accountant gives ε at most the target for the calibrated rounds, and
// noticeably more with a smaller multiplier.
func TestDPSGDCalibration(t *testing.T) {
	local := LocalConfig{Optimizer: SGD, Epochs: 1, BatchSize: 16, LearningRate: 0.1}
	_, z, err := DPSGD(local, DPSGDConfig{Epsilon: 3, Delta: 1e-5, Clip: 1, Rounds: 10}, []int{160, 200})
	if err != nil {
		t.Fatal(err)
	}
	eps, _, err := dp.Epsilon(16.0/160, z, 10*13, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if eps > 3 || eps < 2.9 {
		t.Fatalf("noise multiplier %v spends ε = %v, want just under 3", z, eps)
	}
}

// TestDPSGDLedger checks that rounds are charged to the site's ledger and
// that a round the cap cannot afford is refused before it trains.
func TestDPSGDLedger(t *testing.T) {
	m := linReg{d: 2}
	b := linearData(rand.New(rand.NewPCG(1, 2)), 100, []float64{1, -2}, 0.5, 0.1)
	led := dp.NewMemoryLedger(2) // less than the job's 3
	local := LocalConfig{Optimizer: SGD, Epochs: 1, BatchSize: 10, LearningRate: 0.1}
	f, _, err := DPSGD(local, DPSGDConfig{Epsilon: 3, Delta: 1e-5, Clip: 1, Rounds: 5, Ledger: led, Dataset: "d"}, []int{b.Rows})
	if err != nil {
		t.Fatal(err)
	}
	params := make([]float64, m.NumParams())
	rng := rand.New(rand.NewPCG(3, 4))
	var refused error
	rounds := 0
	for range 5 {
		if _, err := f(context.Background(), m, params, b, rng); err != nil {
			refused = err
			break
		}
		rounds++
	}
	if !errors.Is(refused, dp.ErrBudget) {
		t.Fatalf("after %d rounds: %v, want a refusal wrapping dp.ErrBudget", rounds, refused)
	}
	spent, _ := led.Spent("d")
	if rounds == 0 || spent > 2 {
		t.Fatalf("%d rounds charged %v of a cap of 2", rounds, spent)
	}
}

var _ federated.Model = linReg{}
