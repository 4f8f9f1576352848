package model

import (
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

// benchShapes are epoch-sized batches of the datasets (random values
// of the same shapes): breast cancer 569×30, digits 1797×64.
func benchShapes(b *testing.B) []struct {
	m    *Net
	rows int
} {
	lr, _ := NewLogReg(30)
	sm, _ := NewSoftmaxReg(64, 10)
	li, _ := NewLinReg(10)
	mlp, _ := NewMLP(64, []int{32}, 10)
	return []struct {
		m    *Net
		rows int
	}{{lr, 569}, {sm, 1797}, {li, 442}, {mlp, 1797}}
}

func benchSetup(m *Net, rows int) ([]float64, *federated.Batch) {
	rng := rand.New(rand.NewPCG(1, 2))
	return randParams(m, rng), randBatch(m, rows, rng)
}

// BenchmarkLossGrad is one full-batch loss and gradient per iteration; bytes
// are the batch's features.
func BenchmarkLossGrad(b *testing.B) {
	for _, s := range benchShapes(b) {
		b.Run(s.m.Name(), func(b *testing.B) {
			p, batch := benchSetup(s.m, s.rows)
			g := make([]float64, len(p))
			b.SetBytes(int64(8 * len(batch.X)))
			for b.Loop() {
				s.m.Loss(p, batch, g)
			}
		})
	}
}

// BenchmarkExampleGrads is per-example gradients of a 64-row batch (DP-SGD).
func BenchmarkExampleGrads(b *testing.B) {
	for _, s := range benchShapes(b) {
		b.Run(s.m.Name(), func(b *testing.B) {
			p, batch := benchSetup(s.m, 64)
			g := make([]float64, 64*len(p))
			b.SetBytes(int64(8 * len(batch.X)))
			for b.Loop() {
				s.m.ExampleGrads(p, batch, g)
			}
		})
	}
}

// BenchmarkPredict is predictions over the full batch.
func BenchmarkPredict(b *testing.B) {
	for _, s := range benchShapes(b) {
		b.Run(s.m.Name(), func(b *testing.B) {
			p, batch := benchSetup(s.m, s.rows)
			out := make([]float64, batch.Rows*s.m.Outputs())
			b.SetBytes(int64(8 * len(batch.X)))
			for b.Loop() {
				s.m.Predict(p, batch, out)
			}
		})
	}
}
