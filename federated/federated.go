package federated

import "math/rand/v2"

// Batch is a set of examples: Rows rows of Cols features, row-major in X, and
// one target per row in Y (a class index 0..Classes-1 stored as a float64 for
// classification, the value for regression).
type Batch struct {
	X          []float64
	Y          []float64
	Rows, Cols int
}

// Row returns the features of row i.
func (b *Batch) Row(i int) []float64 { return b.X[i*b.Cols : (i+1)*b.Cols] }

// Slice returns rows [lo, hi) as a batch sharing b's memory.
func (b *Batch) Slice(lo, hi int) Batch {
	return Batch{X: b.X[lo*b.Cols : hi*b.Cols], Y: b.Y[lo:hi], Rows: hi - lo, Cols: b.Cols}
}

// Model is a model whose parameters are one flat float64 vector, so that
// training, aggregation and privacy treat every model alike.
type Model interface {
	// Name identifies the model and its shape, e.g. "logreg(30)".
	Name() string
	// NumParams is the length of the parameter vector.
	NumParams() int
	// Init writes initial parameters into params, from rng.
	Init(params []float64, rng *rand.Rand)
	// Loss returns the mean loss of params over b and, if grad is not nil,
	// sets grad (len NumParams) to its gradient.
	Loss(params []float64, b *Batch, grad []float64) float64
	// ExampleGrads sets g[i*NumParams():(i+1)*NumParams()] to the gradient
	// of the loss of row i alone, for per-example clipping (DP-SGD).
	ExampleGrads(params []float64, b *Batch, g []float64)
	// Outputs is the number of values Predict writes per row: 1 for binary
	// classification (the probability of class 1) and regression, the
	// number of classes otherwise (probabilities).
	Outputs() int
	// Predict writes Outputs() values per row of b into out.
	Predict(params []float64, b *Batch, out []float64)
}
