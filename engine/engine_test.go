package engine

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/tensor"
)

func testBackend(t testing.TB) tensor.Backend {
	t.Helper()
	b, shutdown, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shutdown)
	return b
}

func demoJob(mode string, rounds int, extra string) []byte {
	return testjob.Spec{Seed: 7, Rounds: rounds, Mode: mode, Extra: extra}.File()
}

func TestSimulateModes(t *testing.T) {
	for _, mode := range []string{"plain", "secagg", "mhe"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b := testBackend(t)
			rec := &MemoryRecorder{}
			res, err := Simulate(ctx, SimConfig{JobFile: demoJob(mode, 5, ""), Sites: 3, Partition: "dirichlet:0.5", Seed: 1, Backend: b},
				AggregatorConfig{Recorder: rec, Seed: [32]byte{1}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Rounds {
				t.Logf("round %d: contributors %v train loss %.4f test %+v", r.Round, r.Contributors, r.TrainLoss, r.Test)
			}
			last := res.Rounds[len(res.Rounds)-1]
			if !(last.Test.Accuracy > 0.9) || math.IsNaN(last.Test.AUC) {
				t.Errorf("final accuracy %v AUC %v", last.Test.Accuracy, last.Test.AUC)
			}
		})
	}
}
