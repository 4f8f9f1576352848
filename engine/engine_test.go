package engine

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

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
	privacy := map[string]string{
		"plain":  "[privacy]\nmode = \"plain\"\nunsafe_plain = true\n",
		"secagg": "[privacy]\nmode = \"secagg\"\n[secagg]\nk = 2\nt = 2\n",
		"mhe":    "[privacy]\nmode = \"mhe\"\n",
	}[mode]
	return []byte(fmt.Sprintf(`name = "test"
seed = 7
rounds = %d
[dataset]
builtin = "breast_cancer"
[model]
kind = "logreg"
[local]
epochs = 1
batch_size = 16
learning_rate = 0.1
%s[deadlines]
train = "20s"
recovery = "10s"
setup = "10s"
decision = "10s"
%s`, rounds, privacy, extra))
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
