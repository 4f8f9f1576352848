package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestGorgoniaMatchesHandWritten(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, shape := range []struct {
		hidden  []int
		classes int
	}{{[]int{7}, 2}, {[]int{7}, 4}, {[]int{8, 5}, 2}, {[]int{8, 5}, 3}, {[]int{32}, 10}} {
		hand, err := NewMLP(6, shape.hidden, shape.classes)
		if err != nil {
			t.Fatal(err)
		}
		gg, err := NewMLPGorgonia(6, shape.hidden, shape.classes)
		if err != nil {
			t.Fatal(err)
		}
		for _, rows := range []int{0, 1, 30} {
			t.Run(fmt.Sprintf("%s/rows=%d", gg.Name(), rows), func(t *testing.T) {
				b := randBatch(hand, rows, rng)
				p := randParams(hand, rng)
				gh := make([]float64, len(p))
				gG := make([]float64, len(p))
				lh := hand.Loss(p, b, gh)
				lG := gg.Loss(p, b, gG)
				if math.Abs(lh-lG) > 1e-12*max(math.Abs(lh), 1) {
					t.Errorf("loss: hand-written %.17g, gorgonia %.17g", lh, lG)
				}
				if lG2 := gg.Loss(p, b, nil); lG2 != lG {
					t.Errorf("loss without gradient %v, with %v", lG2, lG)
				}
				if e := relErr(gh, gG); e > 1e-9 {
					t.Errorf("gradient relative error %.3g", e)
				}
				eh := make([]float64, rows*len(p))
				eG := make([]float64, rows*len(p))
				hand.ExampleGrads(p, b, eh)
				gg.ExampleGrads(p, b, eG)
				if e := relErr(eh, eG); e > 1e-9 {
					t.Errorf("example gradients relative error %.3g", e)
				}
			})
		}
	}
}

func TestGorgoniaFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	m, err := NewMLPGorgonia(5, []int{6, 4}, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(m.net, 20, rng)
	p := randParams(m.net, rng)
	g := make([]float64, len(p))
	m.Loss(p, b, g)
	fd := finiteDiff(func(p []float64) float64 { return m.Loss(p, b, nil) }, p)
	if e := relErr(g, fd); e > 1e-5 {
		t.Errorf("relative error %.3g between gorgonia gradient and finite differences", e)
	}
}

func TestGorgoniaShapeErrors(t *testing.T) {
	if _, err := NewMLPGorgonia(3, nil, 2); err == nil {
		t.Error("no error for an MLP without hidden layers")
	}
}

func BenchmarkGorgoniaLossGrad(b *testing.B) {
	m, _ := NewMLPGorgonia(64, []int{32}, 10)
	p, batch := benchSetup(m.net, 1797)
	g := make([]float64, len(p))
	b.SetBytes(int64(8 * len(batch.X)))
	for b.Loop() {
		m.Loss(p, batch, g)
	}
}

func BenchmarkGorgoniaExampleGrads(b *testing.B) {
	m, _ := NewMLPGorgonia(64, []int{32}, 10)
	p, batch := benchSetup(m.net, 64)
	g := make([]float64, 64*len(p))
	b.SetBytes(int64(8 * len(batch.X)))
	for b.Loop() {
		m.ExampleGrads(p, batch, g)
	}
}
