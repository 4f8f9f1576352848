package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

// testModels returns one of every shape the package offers, small enough for
// finite differences.
func testModels(t testing.TB) []*Net {
	t.Helper()
	var ms []*Net
	add := func(m *Net, err error) {
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	add(NewLogReg(6))
	add(NewSoftmaxReg(6, 4))
	add(NewLinReg(6))
	add(NewMLP(6, []int{7}, 2))
	add(NewMLP(6, []int{7}, 4))
	add(NewMLP(6, []int{8, 5}, 2))
	add(NewMLP(6, []int{8, 5}, 3))
	return ms
}

// classes returns the number of classes a model's targets range over (0 for
// regression).
func classes(m *Net) int {
	switch m.Head() {
	case Sigmoid:
		return 2
	case Softmax:
		return m.Outputs()
	}
	return 0
}

// randBatch returns rows random rows with standard normal features and
// targets fitting m.
func randBatch(m *Net, rows int, rng *rand.Rand) *federated.Batch {
	cols := m.Layers()[0].In
	b := &federated.Batch{X: make([]float64, rows*cols), Y: make([]float64, rows), Rows: rows, Cols: cols}
	for i := range b.X {
		b.X[i] = rng.NormFloat64()
	}
	k := classes(m)
	for i := range b.Y {
		if k == 0 {
			b.Y[i] = 3 * rng.NormFloat64()
		} else {
			b.Y[i] = float64(rng.IntN(k))
		}
	}
	return b
}

// randParams returns initialised parameters with random (non-zero) biases, so
// that every parameter matters.
func randParams(m *Net, rng *rand.Rand) []float64 {
	p := make([]float64, m.NumParams())
	m.Init(p, rng)
	for _, l := range m.Layers() {
		for j := range l.Out {
			p[l.B+j] = 0.3 * rng.NormFloat64()
		}
	}
	return p
}

// finiteDiff is the central-difference gradient of loss at p (p is
// restored).
func finiteDiff(loss func(p []float64) float64, p []float64) []float64 {
	const h = 1e-5
	fd := make([]float64, len(p))
	for j := range p {
		old := p[j]
		p[j] = old + h
		lp := loss(p)
		p[j] = old - h
		lm := loss(p)
		p[j] = old
		fd[j] = (lp - lm) / (2 * h)
	}
	return fd
}

func relErr(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den = max(den, a[i]*a[i], b[i]*b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num) / math.Sqrt(den*float64(len(a)))
}

func TestGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range testModels(t) {
		t.Run(m.Name(), func(t *testing.T) {
			b := randBatch(m, 25, rng)
			p := randParams(m, rng)
			g := make([]float64, m.NumParams())
			m.Loss(p, b, g)
			fd := finiteDiff(func(p []float64) float64 { return m.Loss(p, b, nil) }, p)
			if e := relErr(g, fd); e > 1e-5 {
				t.Errorf("relative error %.3g between gradient and finite differences", e)
			}
			for j := range g {
				if d := math.Abs(g[j] - fd[j]); d > 1e-5*max(math.Abs(fd[j]), 1e-3) {
					t.Errorf("param %d: gradient %.12g, finite differences %.12g", j, g[j], fd[j])
				}
			}
		})
	}
}

func TestExampleGradsMeanIsBatchGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range testModels(t) {
		for _, rows := range []int{0, 1, 2, 17} {
			t.Run(fmt.Sprintf("%s/rows=%d", m.Name(), rows), func(t *testing.T) {
				b := randBatch(m, rows, rng)
				p := randParams(m, rng)
				np := m.NumParams()
				g := make([]float64, np)
				for i := range g {
					g[i] = math.NaN() // must be overwritten
				}
				m.Loss(p, b, g)
				eg := make([]float64, rows*np)
				for i := range eg {
					eg[i] = 7 // must be overwritten
				}
				m.ExampleGrads(p, b, eg)
				mean := make([]float64, np)
				for i := range rows {
					row := eg[i*np : (i+1)*np]
					// Each row equals the gradient of a one-row batch.
					one := b.Slice(i, i+1)
					g1 := make([]float64, np)
					m.Loss(p, &one, g1)
					if e := relErr(row, g1); e > 1e-14 {
						t.Errorf("row %d: relative error %.3g against one-row Loss", i, e)
					}
					for j, v := range row {
						mean[j] += v / float64(rows)
					}
				}
				if e := relErr(g, mean); e > 1e-12 || math.IsNaN(e) {
					t.Errorf("relative error %.3g between Loss gradient and mean of ExampleGrads", e)
				}
			})
		}
	}
}

func TestLossIsMeanOfRowLosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, m := range testModels(t) {
		b := randBatch(m, 13, rng)
		p := randParams(m, rng)
		var sum float64
		for i := range b.Rows {
			one := b.Slice(i, i+1)
			sum += m.Loss(p, &one, nil)
		}
		if got, want := m.Loss(p, b, nil), sum/13; math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s: Loss %v, mean of row losses %v", m.Name(), got, want)
		}
		g := make([]float64, m.NumParams())
		if got, want := m.Loss(p, b, g), m.Loss(p, b, nil); got != want {
			t.Errorf("%s: Loss with gradient %v, without %v", m.Name(), got, want)
		}
	}
}

// TestKnownLosses checks losses against values computed by hand.
func TestKnownLosses(t *testing.T) {
	lr, _ := NewLogReg(2)
	sm, _ := NewSoftmaxReg(2, 5)
	li, _ := NewLinReg(2)
	b := &federated.Batch{X: []float64{1, 2, -1, 0.5}, Y: []float64{1, 0}, Rows: 2, Cols: 2}
	zero := func(m *Net) []float64 { return make([]float64, m.NumParams()) }
	if got := lr.Loss(zero(lr), b, nil); math.Abs(got-math.Ln2) > 1e-15 {
		t.Errorf("logreg at zero: loss %v, want ln 2", got)
	}
	if got := sm.Loss(zero(sm), b, nil); math.Abs(got-math.Log(5)) > 1e-15 {
		t.Errorf("softmax at zero: loss %v, want ln 5", got)
	}
	// w = (1, -1), b = 0.5: z = (-0.5, -1).
	p := []float64{1, -1, 0.5}
	wantLR := (math.Log1p(math.Exp(0.5)) + math.Log1p(math.Exp(-1))) / 2 // -log σ(-0.5), -log(1-σ(-1))
	if got := lr.Loss(p, b, nil); math.Abs(got-wantLR) > 1e-15 {
		t.Errorf("logreg: loss %v, want %v", got, wantLR)
	}
	g := make([]float64, 3)
	wantLI := (0.5*1.5*1.5 + 0.5*1*1) / 2 // residuals -1.5, -1
	if got := li.Loss(p, b, g); math.Abs(got-wantLI) > 1e-15 {
		t.Errorf("linreg: loss %v, want %v", got, wantLI)
	}
	wantG := []float64{(-1.5*1 + -1*-1) / 2, (-1.5*2 + -1*0.5) / 2, (-1.5 + -1) / 2}
	if relErr(g, wantG) > 1e-15 {
		t.Errorf("linreg: gradient %v, want %v", g, wantG)
	}
	// Extreme logits stay finite and accurate.
	big := &federated.Batch{X: []float64{1}, Y: []float64{0}, Rows: 1, Cols: 1}
	lr1, _ := NewLogReg(1)
	if got := lr1.Loss([]float64{1000, 0}, big, g[:2]); got != 1000 || g[0] != 1 {
		t.Errorf("logreg at z = 1000, y = 0: loss %v gradient %v, want 1000 and 1", got, g[0])
	}
	sm1, _ := NewSoftmaxReg(1, 2)
	g4 := make([]float64, 4)
	if got := sm1.Loss([]float64{1000, -1000, 0, 0}, big, g4); got != 0 || math.IsNaN(g4[0]) {
		t.Errorf("softmax at z = ±1000: loss %v gradient %v", got, g4)
	}
}

func TestPredict(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, m := range testModels(t) {
		b := randBatch(m, 50, rng)
		p := randParams(m, rng)
		for j := range p {
			p[j] *= 5 // saturate some outputs
		}
		k := m.Outputs()
		out := make([]float64, b.Rows*k)
		m.Predict(p, b, out)
		for i := range b.Rows {
			o := out[i*k : (i+1)*k]
			one := b.Slice(i, i+1)
			switch m.Head() {
			case Identity:
				// The loss at target 0 is z²/2.
				if l := m.Loss(p, &federated.Batch{X: one.X, Y: []float64{0}, Rows: 1, Cols: one.Cols}, nil); math.Abs(l-o[0]*o[0]/2) > 1e-12*max(l, 1) {
					t.Errorf("%s row %d: prediction %v, loss at 0 %v", m.Name(), i, o[0], l)
				}
			case Sigmoid:
				if !(o[0] >= 0 && o[0] <= 1) {
					t.Fatalf("%s row %d: probability %v", m.Name(), i, o[0])
				}
				// log loss at target 1 is -log p.
				l := m.Loss(p, &federated.Batch{X: one.X, Y: []float64{1}, Rows: 1, Cols: one.Cols}, nil)
				if o[0] > 1e-300 && math.Abs(l+math.Log(o[0])) > 1e-9*max(l, 1) {
					t.Errorf("%s row %d: probability %v, loss %v", m.Name(), i, o[0], l)
				}
			case Softmax:
				var s float64
				for c, v := range o {
					if !(v >= 0 && v <= 1) {
						t.Fatalf("%s row %d: probability %v", m.Name(), i, v)
					}
					s += v
					l := m.Loss(p, &federated.Batch{X: one.X, Y: []float64{float64(c)}, Rows: 1, Cols: one.Cols}, nil)
					if v > 1e-300 && math.Abs(l+math.Log(v)) > 1e-9*max(l, 1) {
						t.Errorf("%s row %d class %d: probability %v, loss %v", m.Name(), i, c, v, l)
					}
				}
				if math.Abs(s-1) > 1e-12 {
					t.Errorf("%s row %d: probabilities sum to %v", m.Name(), i, s)
				}
			}
		}
	}
}

func TestInit(t *testing.T) {
	m, err := NewMLP(64, []int{200, 100}, 10)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]float64, m.NumParams())
	b := make([]float64, m.NumParams())
	m.Init(a, rand.New(rand.NewPCG(1, 1)))
	m.Init(b, rand.New(rand.NewPCG(1, 1)))
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("Init is not deterministic at %d: %v vs %v", i, a[i], b[i])
		}
	}
	m.Init(b, rand.New(rand.NewPCG(1, 2)))
	if a[0] == b[0] && a[1] == b[1] {
		t.Error("Init ignores the rng")
	}
	ls := m.Layers()
	for i, l := range ls {
		var s2, mx float64
		for _, v := range a[l.W : l.W+l.In*l.Out] {
			s2 += v * v
			mx = max(mx, math.Abs(v))
		}
		std := math.Sqrt(s2 / float64(l.In*l.Out))
		want := math.Sqrt(2 / float64(l.In)) // He
		if i == len(ls)-1 {
			lim := math.Sqrt(6 / float64(l.In+l.Out)) // Glorot uniform
			want = lim / math.Sqrt(3)
			if mx > lim {
				t.Errorf("output layer weight %v beyond Glorot limit %v", mx, lim)
			}
		}
		if math.Abs(std-want) > 0.1*want {
			t.Errorf("layer %d: weight standard deviation %v, want about %v", i, std, want)
		}
		for _, v := range a[l.B : l.B+l.Out] {
			if v != 0 {
				t.Fatalf("layer %d: bias %v, want 0", i, v)
			}
		}
	}
	if last := ls[len(ls)-1]; last.B+last.Out != m.NumParams() || ls[0].W != 0 || ls[1].W != ls[0].B+ls[0].Out {
		t.Errorf("layout %+v does not tile %d parameters", ls, m.NumParams())
	}
}

// TestTrainingReducesLoss runs plain gradient descent on a learnable problem
// for each model and checks the loss falls well below its start.
func TestTrainingReducesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, m := range testModels(t) {
		t.Run(m.Name(), func(t *testing.T) {
			teacher := randParams(m, rng)
			b := randBatch(m, 200, rng)
			k := m.Outputs()
			out := make([]float64, b.Rows*k)
			m.Predict(teacher, b, out)
			for i := range b.Rows { // labels from the teacher
				switch m.Head() {
				case Identity:
					b.Y[i] = out[i]
				case Sigmoid:
					b.Y[i] = math.Round(out[i])
				default:
					best := 0
					for c := range k {
						if out[i*k+c] > out[i*k+best] {
							best = c
						}
					}
					b.Y[i] = float64(best)
				}
			}
			p := make([]float64, m.NumParams())
			m.Init(p, rng)
			g := make([]float64, len(p))
			start := m.Loss(p, b, nil)
			for range 300 {
				m.Loss(p, b, g)
				for j := range p {
					p[j] -= 0.1 * g[j]
				}
			}
			if end := m.Loss(p, b, nil); !(end < 0.5*start) {
				t.Errorf("loss went from %v to %v", start, end)
			}
		})
	}
}

func TestConstructorErrors(t *testing.T) {
	for _, err := range []error{
		second(NewLogReg(0)),
		second(NewSoftmaxReg(3, 1)),
		second(NewSoftmaxReg(0, 3)),
		second(NewLinReg(-1)),
		second(NewMLP(3, nil, 2)),
		second(NewMLP(3, []int{2, 2, 2}, 2)),
		second(NewMLP(3, []int{0}, 2)),
		second(NewMLP(3, []int{4}, 1)),
	} {
		if !errors.Is(err, ErrShape) {
			t.Errorf("got %v, want ErrShape", err)
		}
	}
	m, err := NewMLP(64, []int{32}, 10)
	if err != nil || m.Name() != "mlp(64,32,10)" || m.NumParams() != 64*32+32+32*10+10 || m.Outputs() != 10 {
		t.Errorf("NewMLP(64, [32], 10) = %v %v", m.Name(), err)
	}
	m, _ = NewMLP(30, []int{16, 8}, 2)
	if m.Outputs() != 1 || m.Head() != Sigmoid || m.NumParams() != 30*16+16+16*8+8+8+1 {
		t.Errorf("binary MLP: %d outputs, head %v, %d params", m.Outputs(), m.Head(), m.NumParams())
	}
}

func second[T any](_ T, err error) error { return err }

func TestPanics(t *testing.T) {
	m, _ := NewSoftmaxReg(3, 3)
	p := make([]float64, m.NumParams())
	b := &federated.Batch{X: make([]float64, 6), Y: []float64{0, 2}, Rows: 2, Cols: 3}
	for name, f := range map[string]func(){
		"short params":  func() { m.Loss(p[1:], b, nil) },
		"short grad":    func() { m.Loss(p, b, make([]float64, 2)) },
		"wrong cols":    func() { m.Loss(p, &federated.Batch{X: make([]float64, 4), Y: []float64{0, 0}, Rows: 2, Cols: 2}, nil) },
		"bad label":     func() { m.Loss(p, &federated.Batch{X: make([]float64, 3), Y: []float64{3}, Rows: 1, Cols: 3}, nil) },
		"fraction":      func() { m.Loss(p, &federated.Batch{X: make([]float64, 3), Y: []float64{0.5}, Rows: 1, Cols: 3}, nil) },
		"negative":      func() { m.Loss(p, &federated.Batch{X: make([]float64, 3), Y: []float64{-1}, Rows: 1, Cols: 3}, nil) },
		"example grads": func() { m.ExampleGrads(p, b, make([]float64, m.NumParams())) },
		"predict":       func() { m.Predict(p, b, make([]float64, 2)) },
		"init":          func() { m.Init(p[:1], rand.New(rand.NewPCG(1, 1))) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
