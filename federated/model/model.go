// Package model implements federated.Model for logistic regression, softmax
// regression, linear regression and multilayer perceptrons with ReLU hidden
// layers, with hand-written gradients.
//
// Every model here is a feed-forward network of dense layers: zero, one or
// two hidden layers with ReLU activations, then an output layer followed by a
// head that turns the output layer's values into predictions and a loss:
//
//   - sigmoid head (binary classification, one output): log loss
//     softplus(z) − y·z, Predict writes σ(z), the probability of class 1;
//     targets y are 0 or 1 (any value in [0, 1] is accepted as a soft label);
//   - softmax head (multinomial, k ≥ 2 outputs): cross-entropy
//     logsumexp(z) − z_y, Predict writes the k class probabilities;
//     targets are class indices 0..k−1 stored as float64;
//   - identity head (regression, one output): (z − y)²/2, Predict writes z.
//
// Losses are plain means over the batch; regularisation (L2, FedProx) is the
// trainer's job.
//
// # Parameter layout
//
// The parameter vector is the layers in order from input to output; each
// layer of In inputs and Out outputs is its weight matrix W, Out rows of In
// values (row j holds the weights into output unit j, as in PyTorch's
// nn.Linear), followed by its Out biases. Net.Layers reports the offsets. So
// logistic regression over d features is [w_0 … w_{d−1}, b] (d+1 values), and
// softmax regression with k classes is W (k×d, row per class) then b (k).
//
// Models are immutable after construction and safe for concurrent use; Loss,
// ExampleGrads and Predict allocate a little scratch per call, never per row.
package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cohort-mpc/cohort/federated"
)

// ErrShape reports an invalid model shape passed to a constructor.
var ErrShape = errors.New("model: invalid shape")

// Head is the output non-linearity and loss of a Net.
type Head int

const (
	// Sigmoid is binary classification with one output and log loss.
	Sigmoid Head = iota
	// Softmax is multinomial classification with cross-entropy loss.
	Softmax
	// Identity is regression with loss (z − y)²/2.
	Identity
)

// String returns the head's name.
func (h Head) String() string {
	switch h {
	case Sigmoid:
		return "sigmoid"
	case Softmax:
		return "softmax"
	case Identity:
		return "identity"
	}
	return fmt.Sprintf("Head(%d)", int(h))
}

// Layer describes one dense layer's place in the parameter vector: weights
// params[W : W+In*Out] (Out rows of In values), biases params[B : B+Out].
type Layer struct {
	In, Out int
	W, B    int
}

// Net is a feed-forward network of dense layers (ReLU between them) with a
// Sigmoid, Softmax or Identity head. It implements federated.Model.
type Net struct {
	name    string
	layers  []Layer
	head    Head
	nparams int
	maxW    int // widest layer output, for scratch sizing
}

var _ federated.Model = (*Net)(nil)

// MaxHidden is the largest number of hidden layers NewMLP accepts.
const MaxHidden = 2

func newNet(name string, features int, hidden []int, outputs int, head Head) *Net {
	n := &Net{name: name, head: head}
	in := features
	off := 0
	sizes := append(append([]int(nil), hidden...), outputs)
	for _, out := range sizes {
		l := Layer{In: in, Out: out, W: off, B: off + in*out}
		off = l.B + out
		n.layers = append(n.layers, l)
		n.maxW = max(n.maxW, out)
		in = out
	}
	n.maxW = max(n.maxW, features)
	n.nparams = off
	return n
}

// NewLogReg returns binary logistic regression over features inputs:
// parameters [w_0 … w_{features−1}, b], one output (the probability of
// class 1), log loss.
func NewLogReg(features int) (*Net, error) {
	if features < 1 {
		return nil, fmt.Errorf("%w: logistic regression needs at least 1 feature, got %d", ErrShape, features)
	}
	return newNet(fmt.Sprintf("logreg(%d)", features), features, nil, 1, Sigmoid), nil
}

// NewSoftmaxReg returns multinomial (softmax) regression over features inputs
// and classes ≥ 2 classes: parameters W (classes rows of features values)
// then b (classes values); cross-entropy loss.
func NewSoftmaxReg(features, classes int) (*Net, error) {
	if features < 1 || classes < 2 {
		return nil, fmt.Errorf("%w: softmax regression needs features ≥ 1 and classes ≥ 2, got %d and %d", ErrShape, features, classes)
	}
	return newNet(fmt.Sprintf("softmax(%d,%d)", features, classes), features, nil, classes, Softmax), nil
}

// NewLinReg returns linear regression over features inputs: parameters
// [w_0 … w_{features−1}, b], loss (w·x + b − y)²/2 averaged over rows.
func NewLinReg(features int) (*Net, error) {
	if features < 1 {
		return nil, fmt.Errorf("%w: linear regression needs at least 1 feature, got %d", ErrShape, features)
	}
	return newNet(fmt.Sprintf("linreg(%d)", features), features, nil, 1, Identity), nil
}

// NewMLP returns a multilayer perceptron over features inputs with one or
// two hidden ReLU layers of the given widths and a classification head: for
// classes == 2 a single sigmoid output (the probability of class 1, log
// loss), for classes > 2 a softmax over classes outputs (cross-entropy).
func NewMLP(features int, hidden []int, classes int) (*Net, error) {
	if err := checkMLP(features, hidden, classes); err != nil {
		return nil, err
	}
	outputs, head := classes, Softmax
	if classes == 2 {
		outputs, head = 1, Sigmoid
	}
	return newNet(mlpName("mlp", features, hidden, classes), features, hidden, outputs, head), nil
}

func checkMLP(features int, hidden []int, classes int) error {
	if features < 1 || classes < 2 || len(hidden) < 1 || len(hidden) > MaxHidden {
		return fmt.Errorf("%w: MLP needs features ≥ 1, 1 to %d hidden layers and classes ≥ 2, got %d, %v and %d",
			ErrShape, MaxHidden, features, hidden, classes)
	}
	for _, h := range hidden {
		if h < 1 {
			return fmt.Errorf("%w: MLP hidden layer width %d", ErrShape, h)
		}
	}
	return nil
}

func mlpName(kind string, features int, hidden []int, classes int) string {
	s := fmt.Sprintf("%s(%d", kind, features)
	for _, h := range hidden {
		s += fmt.Sprintf(",%d", h)
	}
	return s + fmt.Sprintf(",%d)", classes)
}

// Name identifies the model and its shape, e.g. "logreg(30)",
// "softmax(64,10)", "linreg(10)" or "mlp(64,32,10)".
func (n *Net) Name() string { return n.name }

// NumParams is the length of the parameter vector.
func (n *Net) NumParams() int { return n.nparams }

// Outputs is the number of values Predict writes per row.
func (n *Net) Outputs() int {
	if n.head == Softmax {
		return n.layers[len(n.layers)-1].Out
	}
	return 1
}

// Head returns the model's output head.
func (n *Net) Head() Head { return n.head }

// Layers returns the layers' shapes and offsets in the parameter vector,
// from input to output.
func (n *Net) Layers() []Layer { return append([]Layer(nil), n.layers...) }

// Init writes initial parameters into params, deterministically from rng:
// hidden layers get He-normal weights (standard deviation sqrt(2/In)), the
// output layer Glorot-uniform weights (uniform in ±sqrt(6/(In+Out))), all
// biases zero. It panics if len(params) != NumParams().
func (n *Net) Init(params []float64, rng *rand.Rand) {
	n.checkParams(params)
	last := len(n.layers) - 1
	for i, l := range n.layers {
		w := params[l.W : l.W+l.In*l.Out]
		if i < last {
			std := math.Sqrt(2 / float64(l.In))
			for j := range w {
				w[j] = std * rng.NormFloat64()
			}
		} else {
			lim := math.Sqrt(6 / float64(l.In+l.Out))
			for j := range w {
				w[j] = lim * (2*rng.Float64() - 1)
			}
		}
		clear(params[l.B : l.B+l.Out])
	}
}

func (n *Net) checkParams(params []float64) {
	if len(params) != n.nparams {
		panic(fmt.Sprintf("model: %s: len(params) = %d, want %d", n.name, len(params), n.nparams))
	}
}

func (n *Net) checkBatch(b *federated.Batch) {
	in := n.layers[0].In
	if b.Cols != in || len(b.X) != b.Rows*b.Cols || len(b.Y) != b.Rows {
		panic(fmt.Sprintf("model: %s: batch of %d rows, %d cols, len(X) = %d, len(Y) = %d does not fit %d features",
			n.name, b.Rows, b.Cols, len(b.X), len(b.Y), in))
	}
}

// scratch holds per-call buffers: the post-activation values of every layer
// and the back-propagated deltas.
type scratch struct {
	acts  [][]float64 // acts[i]: output of layer i (after ReLU for hidden layers)
	delta [2][]float64
}

func (n *Net) newScratch() *scratch {
	s := &scratch{acts: make([][]float64, len(n.layers))}
	for i, l := range n.layers {
		s.acts[i] = make([]float64, l.Out)
	}
	s.delta[0] = make([]float64, n.maxW)
	s.delta[1] = make([]float64, n.maxW)
	return s
}

// forward computes every layer's output for input x into s.acts (ReLU on
// hidden layers, raw values on the output layer).
func (n *Net) forward(params, x []float64, s *scratch) {
	in := x
	last := len(n.layers) - 1
	for i, l := range n.layers {
		out := s.acts[i]
		w := params[l.W : l.W+l.In*l.Out]
		bias := params[l.B : l.B+l.Out]
		for j := range out {
			z := bias[j] + dot(w[j*l.In:(j+1)*l.In], in)
			if i < last && z < 0 {
				z = 0
			}
			out[j] = z
		}
		in = out
	}
}

// headLoss returns the loss of output z against target y and writes dLoss/dz
// into delta.
func (n *Net) headLoss(z []float64, y float64, delta []float64) float64 {
	switch n.head {
	case Sigmoid:
		delta[0] = sigmoid(z[0]) - y
		return softplus(z[0]) - y*z[0]
	case Identity:
		d := z[0] - y
		delta[0] = d
		return 0.5 * d * d
	}
	c := n.classIndex(y, len(z))
	lse := softmax(delta, z)
	delta[c]--
	return lse - z[c]
}

// startLoss checks the arguments of a Loss call (panicking as Loss
// documents), zeroes grad, and reports whether the batch is empty.
func (n *Net) startLoss(params []float64, b *federated.Batch, grad []float64) (empty bool) {
	n.checkParams(params)
	n.checkBatch(b)
	if grad != nil {
		if len(grad) != n.nparams {
			panic(fmt.Sprintf("model: %s: len(grad) = %d, want %d", n.name, len(grad), n.nparams))
		}
		clear(grad)
	}
	return b.Rows == 0
}

func (n *Net) classIndex(y float64, classes int) int {
	c := int(y)
	if float64(c) != y || c < 0 || c >= classes {
		panic(fmt.Sprintf("model: %s: target %v is not a class index in [0, %d)", n.name, y, classes))
	}
	return c
}

// backward accumulates the gradient of one row's loss into grad, given the
// row's input x, the forward values in s.acts and dLoss/d(output) in
// s.delta[0].
func (n *Net) backward(params, x []float64, s *scratch, grad []float64) {
	cur, nxt := s.delta[0], s.delta[1]
	for i := len(n.layers) - 1; i >= 0; i-- {
		l := n.layers[i]
		in := x
		if i > 0 {
			in = s.acts[i-1]
		}
		gw := grad[l.W : l.W+l.In*l.Out]
		gb := grad[l.B : l.B+l.Out]
		d := cur[:l.Out]
		for j, dj := range d {
			if dj == 0 {
				continue
			}
			gb[j] += dj
			axpy(gw[j*l.In:(j+1)*l.In], dj, in)
		}
		if i == 0 {
			break
		}
		w := params[l.W : l.W+l.In*l.Out]
		p := nxt[:l.In]
		clear(p)
		for j, dj := range d {
			if dj != 0 {
				axpy(p, dj, w[j*l.In:(j+1)*l.In])
			}
		}
		for k, a := range in { // ReLU: in = max(z, 0), so z > 0 exactly where in > 0
			if a <= 0 {
				p[k] = 0
			}
		}
		cur, nxt = nxt, cur
	}
}

// Loss returns the mean loss of params over b and, if grad is not nil, sets
// grad to its gradient. An empty batch has loss 0 and gradient 0. It panics
// if len(params) or len(grad) != NumParams(), if b does not have the model's
// number of features, or (softmax head) if a target is not a class index.
func (n *Net) Loss(params []float64, b *federated.Batch, grad []float64) float64 {
	if n.startLoss(params, b, grad) {
		return 0
	}
	s := n.newScratch()
	out := s.acts[len(s.acts)-1]
	var loss float64
	for i := range b.Rows {
		x := b.Row(i)
		n.forward(params, x, s)
		loss += n.headLoss(out, b.Y[i], s.delta[0])
		if grad != nil {
			n.backward(params, x, s, grad)
		}
	}
	inv := 1 / float64(b.Rows)
	for j := range grad {
		grad[j] *= inv
	}
	return loss * inv
}

// ExampleGrads sets g[i*NumParams():(i+1)*NumParams()] to the gradient of
// the loss of row i alone; their mean is Loss's gradient. It panics if
// len(params) != NumParams(), len(g) != b.Rows*NumParams(), b does not have
// the model's number of features, or (softmax head) a target is not a class
// index.
func (n *Net) ExampleGrads(params []float64, b *federated.Batch, g []float64) {
	n.checkParams(params)
	n.checkBatch(b)
	if len(g) != b.Rows*n.nparams {
		panic(fmt.Sprintf("model: %s: len(g) = %d, want %d rows × %d", n.name, len(g), b.Rows, n.nparams))
	}
	clear(g)
	s := n.newScratch()
	out := s.acts[len(s.acts)-1]
	for i := range b.Rows {
		x := b.Row(i)
		n.forward(params, x, s)
		n.headLoss(out, b.Y[i], s.delta[0])
		n.backward(params, x, s, g[i*n.nparams:(i+1)*n.nparams])
	}
}

// Predict writes Outputs() values per row of b into out: the probability of
// class 1 (sigmoid head), the class probabilities (softmax head) or the
// predicted value (identity head). It panics if len(params) != NumParams(),
// len(out) != b.Rows*Outputs() or b does not have the model's number of
// features.
func (n *Net) Predict(params []float64, b *federated.Batch, out []float64) {
	n.checkParams(params)
	n.checkBatch(b)
	k := n.Outputs()
	if len(out) != b.Rows*k {
		panic(fmt.Sprintf("model: %s: len(out) = %d, want %d rows × %d", n.name, len(out), b.Rows, k))
	}
	s := n.newScratch()
	z := s.acts[len(s.acts)-1]
	for i := range b.Rows {
		n.forward(params, b.Row(i), s)
		o := out[i*k : (i+1)*k]
		switch n.head {
		case Sigmoid:
			o[0] = sigmoid(z[0])
		case Identity:
			o[0] = z[0]
		default:
			softmax(o, z)
		}
	}
}

// sigmoid is 1/(1+e^−z), computed without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus is log(1+e^z), computed without overflow.
func softplus(z float64) float64 {
	return max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
}

// softmax writes the softmax of z into dst and returns log Σ exp(z), both
// computed after subtracting max(z) so that no exponential overflows.
func softmax(dst, z []float64) float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var s float64
	for k, v := range z {
		e := math.Exp(v - m)
		dst[k] = e
		s += e
	}
	inv := 1 / s
	for k := range dst {
		dst[k] *= inv
	}
	return m + math.Log(s)
}

// dot returns Σ a[i]·b[i]; len(b) ≥ len(a).
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy sets dst[i] += s·x[i]; len(x) ≥ len(dst).
func axpy(dst []float64, s float64, x []float64) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] += s * v
	}
}
