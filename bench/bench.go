// Package bench holds cohort's benchmark suites. Each suite measures hot paths
// together with a limit measured in the same run (the AES-CTR keystream rate,
// copy() bandwidth, the generic kernels) and reports the ratio, because the
// machines it runs on are shared and noisy and only ratios taken side by side
// mean anything. The command `cohort bench SUITE` prints the results.
//
// Nothing in the library imports this package.
package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrUnknownSuite is returned, wrapped, by Lookup for a name no suite has.
var ErrUnknownSuite = errors.New("bench: unknown suite")

// Result is one measured figure. Limit and Ratio are zero where no limit
// applies.
type Result struct {
	Suite  string  `json:"suite"`
	Case   string  `json:"case"`
	N      int     `json:"n"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Limit  float64 `json:"limit,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"`
	// Note says what the limit is, for people reading a table.
	Note string `json:"note,omitempty"`
}

// Options tune a run.
type Options struct {
	// Quick shrinks every case to a size that runs in a fraction of a
	// second, for smoke tests; its figures are not meaningful.
	Quick bool
	// Reps is how many samples each figure is the median of (0: 7).
	Reps int
	// Workers is the number of cores the parallel cases use (0: all).
	Workers int
	// Backend is the tensor backend the tensor and secagg suites run on:
	// cpu, cuda or auto (default auto: CUDA where it can be used, else the
	// CPU, saying why in a note).
	Backend string
	// Params is the vector length of the protocol suites (0: 10^6 for secagg,
	// 2^20 for mhe; smaller with Quick).
	Params int
	// SecAgg configures the secagg suite.
	SecAgg SecAggOptions
	// MHE configures the mhe suite.
	MHE MHEOptions
	// Federated configures the federated suite.
	Federated FederatedOptions
	// Ledger configures the ledger suite.
	Ledger LedgerOptions
}

func (o Options) reps() int {
	if o.Reps > 0 {
		return o.Reps
	}
	if o.Quick {
		return 3
	}
	return 7
}

func (o Options) backend() string {
	if o.Backend == "" {
		return "auto"
	}
	return o.Backend
}

// Suite is a named set of benchmark cases.
type Suite struct {
	Name string
	Doc  string
	// Run measures every case and hands each result to emit as soon as it
	// is known.
	Run func(ctx context.Context, opt Options, emit func(Result)) error
}

// Suites returns every suite, sorted by name.
func Suites() []Suite {
	s := []Suite{federatedSuite(), ledgerSuite(), mheSuite(), nodeSuite(), secaggSuite(), tensorSuite()}
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}

// Lookup returns the suite called name.
func Lookup(name string) (Suite, error) {
	all := Suites()
	i := slices.IndexFunc(all, func(s Suite) bool { return s.Name == name })
	if i < 0 {
		names := make([]string, len(all))
		for i, s := range all {
			names[i] = s.Name
		}
		return Suite{}, fmt.Errorf("%w %q (have: %s)", ErrUnknownSuite, name, strings.Join(names, ", "))
	}
	return all[i], nil
}

// timed is something to measure: one call does one unit of work.
type timed func()

// sample times fn, repeating it enough times that one sample takes at least
// minSample, and returns the time of one call.
func sample(fn timed, iters int) time.Duration {
	start := time.Now()
	for range iters {
		fn()
	}
	return time.Since(start) / time.Duration(iters)
}

const minSample = 20 * time.Millisecond

// calibrate returns how many calls of fn make one sample of at least
// minSample, after one warm-up call.
func calibrate(fn timed) int {
	d := sample(fn, 1)
	if d <= 0 {
		d = time.Nanosecond
	}
	if d >= minSample {
		return 1
	}
	return int(minSample/d) + 1
}

// medians measures the functions side by side: each of reps rounds takes one
// sample of every function in turn, so slow phases of a noisy machine hit all
// of them alike. It returns each function's median time per call.
func medians(ctx context.Context, reps int, fns ...timed) ([]time.Duration, error) {
	iters := make([]int, len(fns))
	for i, fn := range fns {
		iters[i] = calibrate(fn)
	}
	samples := make([][]time.Duration, len(fns))
	for range reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for i, fn := range fns {
			samples[i] = append(samples[i], sample(fn, iters[i]))
		}
	}
	out := make([]time.Duration, len(fns))
	for i, s := range samples {
		slices.Sort(s)
		out[i] = s[len(s)/2]
	}
	return out, nil
}

// rate converts bytes moved in d into bytes per second.
func rate(bytes int, d time.Duration) float64 {
	return float64(bytes) / d.Seconds()
}
