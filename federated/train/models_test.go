package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
)

// linReg is a tiny linear regression for the tests: params are d weights
// then a bias, loss ½·mean (x·w + b − y)².
type linReg struct{ d int }

func (m linReg) Name() string   { return fmt.Sprintf("linreg(%d)", m.d) }
func (m linReg) NumParams() int { return m.d + 1 }
func (m linReg) Outputs() int   { return 1 }

func (m linReg) Init(p []float64, rng *rand.Rand) {
	for i := range p {
		p[i] = 0.01 * rng.NormFloat64()
	}
}

func (m linReg) pred(p, x []float64) float64 {
	s := p[m.d]
	for j, v := range x {
		s += p[j] * v
	}
	return s
}

func (m linReg) Loss(p []float64, b *federated.Batch, grad []float64) float64 {
	clear(grad)
	var loss float64
	for i := 0; i < b.Rows; i++ {
		x := b.Row(i)
		r := m.pred(p, x) - b.Y[i]
		loss += r * r / 2
		if grad != nil {
			for j, v := range x {
				grad[j] += r * v
			}
			grad[m.d] += r
		}
	}
	n := float64(b.Rows)
	for j := range grad {
		grad[j] /= n
	}
	return loss / n
}

func (m linReg) ExampleGrads(p []float64, b *federated.Batch, g []float64) {
	for i := 0; i < b.Rows; i++ {
		x := b.Row(i)
		r := m.pred(p, x) - b.Y[i]
		gi := g[i*(m.d+1) : (i+1)*(m.d+1)]
		for j, v := range x {
			gi[j] = r * v
		}
		gi[m.d] = r
	}
}

func (m linReg) Predict(p []float64, b *federated.Batch, out []float64) {
	for i := 0; i < b.Rows; i++ {
		out[i] = m.pred(p, b.Row(i))
	}
}

// logReg is a tiny binary logistic regression for the tests, with the mean
// cross-entropy loss.
type logReg struct{ linReg }

func (m logReg) Name() string { return fmt.Sprintf("logreg(%d)", m.d) }

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func (m logReg) Loss(p []float64, b *federated.Batch, grad []float64) float64 {
	clear(grad)
	var loss float64
	for i := 0; i < b.Rows; i++ {
		x := b.Row(i)
		z := m.pred(p, x)
		y := b.Y[i]
		// log(1+e^z) − y·z, stably.
		loss += math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z))) - y*z
		if grad != nil {
			r := sigmoid(z) - y
			for j, v := range x {
				grad[j] += r * v
			}
			grad[m.d] += r
		}
	}
	n := float64(b.Rows)
	for j := range grad {
		grad[j] /= n
	}
	return loss / n
}

func (m logReg) ExampleGrads(p []float64, b *federated.Batch, g []float64) {
	for i := 0; i < b.Rows; i++ {
		x := b.Row(i)
		r := sigmoid(m.pred(p, x)) - b.Y[i]
		gi := g[i*(m.d+1) : (i+1)*(m.d+1)]
		for j, v := range x {
			gi[j] = r * v
		}
		gi[m.d] = r
	}
}

func (m logReg) Predict(p []float64, b *federated.Batch, out []float64) {
	for i := 0; i < b.Rows; i++ {
		out[i] = sigmoid(m.pred(p, b.Row(i)))
	}
}

// linearData draws n rows of d standard normal features with
// y = x·w + bias + noise·N(0,1).
func linearData(rng *rand.Rand, n int, w []float64, bias, noise float64) *federated.Batch {
	d := len(w)
	b := &federated.Batch{X: make([]float64, n*d), Y: make([]float64, n), Rows: n, Cols: d}
	for i := 0; i < n; i++ {
		x := b.Row(i)
		y := bias
		for j := range x {
			x[j] = rng.NormFloat64()
			y += x[j] * w[j]
		}
		b.Y[i] = y + noise*rng.NormFloat64()
	}
	return b
}

// logisticData draws n rows with labels from a logistic model with weights w.
func logisticData(rng *rand.Rand, n int, w []float64, bias float64) *federated.Batch {
	b := linearData(rng, n, w, bias, 0)
	for i, z := range b.Y {
		if rng.Float64() < sigmoid(z) {
			b.Y[i] = 1
		} else {
			b.Y[i] = 0
		}
	}
	return b
}
