// Package testjob writes the small job files on the built-in breast-cancer
// data that tests and benchmarks run, so that each states only how its job
// differs.
package testjob

import (
	"fmt"
	"strings"
)

// Spec is a job on the built-in breast-cancer data. The zero value of each
// field is its default.
type Spec struct {
	// Name is the job's name (default "test").
	Name string
	// Seed is the job's seed; 0 leaves it out, so the aggregator draws one.
	Seed int64
	// Rounds is the number of training rounds (default 1).
	Rounds int
	// Mode is "plain" (the default, with unsafe_plain), "secagg" (k = 2,
	// t = 2, for three sites) or "mhe".
	Mode string
	// Model is the body of the [model] table (default kind = "logreg").
	Model string
	// Epochs and LearningRate configure local SGD with batches of 16
	// (defaults 1 and 0.1).
	Epochs       int
	LearningRate float64
	// Quorum, if not 0, is the [sites] quorum.
	Quorum int
	// Deadlines is the body of the [deadlines] table (default: train 20s,
	// recovery 10s, setup 10s, decision 10s).
	Deadlines string
	// Extra is appended at the end: more tables, such as [dp.record].
	Extra string
}

// DefaultDeadlines is the [deadlines] body of a Spec that sets none.
const DefaultDeadlines = "train = \"20s\"\nrecovery = \"10s\"\nsetup = \"10s\"\ndecision = \"10s\""

// File returns the job file. It panics on an unknown Mode (a mistake in
// the calling test).
func (s Spec) File() []byte {
	var b strings.Builder
	name := s.Name
	if name == "" {
		name = "test"
	}
	fmt.Fprintf(&b, "name = %q\n", name)
	if s.Seed != 0 {
		fmt.Fprintf(&b, "seed = %d\n", s.Seed)
	}
	fmt.Fprintf(&b, "rounds = %d\n[dataset]\nbuiltin = \"breast_cancer\"\n", max(s.Rounds, 1))
	model := s.Model
	if model == "" {
		model = `kind = "logreg"`
	}
	fmt.Fprintf(&b, "[model]\n%s\n", strings.TrimSpace(model))
	if s.Quorum != 0 {
		fmt.Fprintf(&b, "[sites]\nquorum = %d\n", s.Quorum)
	}
	lr := s.LearningRate
	if lr == 0 {
		lr = 0.1
	}
	fmt.Fprintf(&b, "[local]\nepochs = %d\nbatch_size = 16\nlearning_rate = %g\n", max(s.Epochs, 1), lr)
	switch s.Mode {
	case "", "plain":
		b.WriteString("[privacy]\nmode = \"plain\"\nunsafe_plain = true\n")
	case "secagg":
		b.WriteString("[privacy]\nmode = \"secagg\"\n[secagg]\nk = 2\nt = 2\n")
	case "mhe":
		b.WriteString("[privacy]\nmode = \"mhe\"\n")
	default:
		panic(fmt.Sprintf("testjob: unknown mode %q", s.Mode))
	}
	deadlines := s.Deadlines
	if deadlines == "" {
		deadlines = DefaultDeadlines
	}
	fmt.Fprintf(&b, "[deadlines]\n%s\n", strings.TrimSpace(deadlines))
	b.WriteString(s.Extra)
	return []byte(b.String())
}
