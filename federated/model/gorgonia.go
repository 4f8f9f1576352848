package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GorgoniaMLP is the MLP of NewMLP with its loss and gradients computed by
// gorgonia's reverse-mode automatic differentiation instead of the
// hand-written backward pass. It has the same parameter layout, Init and
// Predict as the hand-written Net (Predict uses the hand-written forward
// pass), so the two are interchangeable; it is the reference the hand-written
// gradients are tested against, and much slower (a graph is built per call).
// ReLU's derivative at exactly 0 is 1 here (gorgonia's Rectify uses ≥) and 0
// in Net, a difference of measure zero.
type GorgoniaMLP struct {
	net *Net
}

var _ federated.Model = (*GorgoniaMLP)(nil)

// NewMLPGorgonia returns the MLP of NewMLP(features, hidden, classes) with
// gorgonia autodiff gradients.
func NewMLPGorgonia(features int, hidden []int, classes int) (*GorgoniaMLP, error) {
	if err := checkMLP(features, hidden, classes); err != nil {
		return nil, err
	}
	net, err := NewMLP(features, hidden, classes)
	if err != nil {
		return nil, err
	}
	net.name = mlpName("mlp-gorgonia", features, hidden, classes)
	return &GorgoniaMLP{net: net}, nil
}

// Name identifies the model, e.g. "mlp-gorgonia(64,32,10)".
func (m *GorgoniaMLP) Name() string { return m.net.name }

// NumParams is the length of the parameter vector.
func (m *GorgoniaMLP) NumParams() int { return m.net.nparams }

// Outputs is the number of values Predict writes per row.
func (m *GorgoniaMLP) Outputs() int { return m.net.Outputs() }

// Layers returns the layers' shapes and offsets, as Net.Layers.
func (m *GorgoniaMLP) Layers() []Layer { return m.net.Layers() }

// Init is Net.Init.
func (m *GorgoniaMLP) Init(params []float64, rng *rand.Rand) { m.net.Init(params, rng) }

// Predict is Net.Predict.
func (m *GorgoniaMLP) Predict(params []float64, b *federated.Batch, out []float64) {
	m.net.Predict(params, b, out)
}

// Loss returns the mean loss of params over b and, if grad is not nil, sets
// grad to its gradient, both computed by a gorgonia graph. It panics as
// Net.Loss does, and if gorgonia fails (which would be a bug here).
func (m *GorgoniaMLP) Loss(params []float64, b *federated.Batch, grad []float64) float64 {
	if m.net.startLoss(params, b, grad) {
		return 0
	}
	loss, err := m.graph(params, b, grad)
	if err != nil {
		panic(fmt.Sprintf("model: %s: gorgonia: %v", m.net.name, err))
	}
	return loss
}

// ExampleGrads sets g[i*NumParams():(i+1)*NumParams()] to the gradient of
// the loss of row i alone, one gorgonia graph per row. It panics as
// Net.ExampleGrads does.
func (m *GorgoniaMLP) ExampleGrads(params []float64, b *federated.Batch, g []float64) {
	n := m.net
	n.checkParams(params)
	n.checkBatch(b)
	if len(g) != b.Rows*n.nparams {
		panic(fmt.Sprintf("model: %s: len(g) = %d, want %d rows × %d", n.name, len(g), b.Rows, n.nparams))
	}
	for i := range b.Rows {
		one := b.Slice(i, i+1)
		m.Loss(params, &one, g[i*n.nparams:(i+1)*n.nparams])
	}
}

// graph builds and runs the loss graph of b's rows; grad, when not nil, is
// zero and receives the gradient.
func (m *GorgoniaMLP) graph(params []float64, b *federated.Batch, grad []float64) (float64, error) {
	n := m.net
	g := G.NewGraph()
	matrix := func(name string, r, c int, data []float64) *G.Node {
		v := tensor.New(tensor.WithShape(r, c), tensor.WithBacking(append([]float64(nil), data...)))
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(v))
	}
	rows := b.Rows
	a := matrix("x", rows, b.Cols, b.X)
	var learn G.Nodes
	last := len(n.layers) - 1
	for i, l := range n.layers {
		w := matrix(fmt.Sprintf("W%d", i), l.Out, l.In, params[l.W:l.W+l.In*l.Out])
		bias := matrix(fmt.Sprintf("b%d", i), 1, l.Out, params[l.B:l.B+l.Out])
		learn = append(learn, w, bias)
		wt, err := G.Transpose(w)
		if err != nil {
			return 0, err
		}
		z, err := G.Mul(a, wt)
		if err != nil {
			return 0, err
		}
		if z, err = G.BroadcastAdd(z, bias, nil, []byte{0}); err != nil {
			return 0, err
		}
		if i < last {
			if z, err = G.Rectify(z); err != nil {
				return 0, err
			}
		}
		a = z
	}
	var perRow *G.Node
	var err error
	switch n.head {
	case Sigmoid: // softplus(z) − y·z
		y := matrix("y", rows, 1, b.Y)
		sp, err := G.Softplus(a)
		if err != nil {
			return 0, err
		}
		yz, err := G.HadamardProd(a, y)
		if err != nil {
			return 0, err
		}
		if perRow, err = G.Sub(sp, yz); err != nil {
			return 0, err
		}
	case Softmax: // −Σ_k onehot(y)_k · logsoftmax(z)_k
		k := n.layers[last].Out
		onehot := make([]float64, rows*k)
		for i, y := range b.Y {
			onehot[i*k+n.classIndex(y, k)] = 1
		}
		ls, err := G.LogSoftMax(a, 1)
		if err != nil {
			return 0, err
		}
		picked, err := G.HadamardProd(ls, matrix("onehot", rows, k, onehot))
		if err != nil {
			return 0, err
		}
		if perRow, err = G.Neg(picked); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("head %v not supported", n.head)
	}
	// Mean over rows of the per-row sums (only one non-zero per softmax row).
	total, err := G.Sum(perRow)
	if err != nil {
		return 0, err
	}
	loss, err := G.Div(total, G.NewConstant(float64(rows)))
	if err != nil {
		return 0, err
	}
	if grad != nil {
		if _, err := G.Grad(loss, learn...); err != nil {
			return 0, err
		}
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return 0, err
	}
	if grad != nil {
		for i, l := range n.layers {
			for j, dst := range [][]float64{grad[l.W : l.W+l.In*l.Out], grad[l.B : l.B+l.Out]} {
				gv, err := learn[2*i+j].Grad()
				if err != nil {
					return 0, err
				}
				src, ok := gv.Data().([]float64)
				if !ok || len(src) != len(dst) {
					return 0, fmt.Errorf("gradient of %v: %T of %d values, want %d float64", learn[2*i+j], gv.Data(), len(src), len(dst))
				}
				copy(dst, src)
			}
		}
	}
	v, ok := loss.Value().Data().(float64)
	if !ok {
		return 0, fmt.Errorf("loss is %T, want float64", loss.Value().Data())
	}
	return v, nil
}
