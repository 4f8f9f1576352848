package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cohort-mpc/cohort/bench"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "run benchmark suites and compare each hot path with a limit measured in the same run",
		ArgsUsage: "SUITE...",
		Description: "Without a suite, lists the suites. Every figure is the median of --reps samples;\n" +
			"ratio is value/limit, both measured side by side in this run.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per result line instead of a table"},
			&cli.BoolFlag{Name: "quick", Usage: "tiny sizes, for a smoke test (figures are not meaningful)"},
			&cli.IntFlag{Name: "reps", Usage: "samples per figure (0: the suite's default)"},
			&cli.IntFlag{Name: "workers", Usage: "cores for the parallel cases (0: all)"},
			&cli.StringFlag{Name: "backend", Value: "auto", Usage: "tensor, secagg: tensor backend: cpu, cuda or auto (CUDA where it can be used, else the CPU)"},
			&cli.IntFlag{Name: "clients", Usage: "secagg: parties in the round (0: 50)"},
			&cli.IntFlag{Name: "params", Usage: "secagg, mhe: values per vector (0: 10^6 for secagg, 2^20 for mhe)"},
			&cli.IntFlag{Name: "parties", Usage: "mhe: parties (0: 10)"},
			&cli.IntFlag{Name: "threshold", Usage: "mhe: parties needed to decrypt (0: all)"},
			&cli.StringFlag{Name: "data", Usage: "federated: folder of the shipped datasets (default testdata/datasets)"},
			&cli.IntFlag{Name: "seeds", Usage: "federated: seeds each scenario's median is taken over (0: 5)"},
			&cli.IntFlag{Name: "entries", Usage: "ledger: size of the log for the proof and verify cases (0: 10^6)"},
			&cli.IntFlag{Name: "appends", Usage: "ledger: 1 KiB entries the append case writes (0: 200,000)"},
			&cli.StringFlag{Name: "dir", Usage: "ledger: folder on the disk to measure (default: the temporary folder)"},
			&cli.Float64Flag{Name: "dropout", Value: 0.1, Usage: "secagg: fraction of parties that drop after sharing keys"},
			&cli.Float64Flag{Name: "corruption", Value: 0.05, Usage: "secagg: assumed corruption rate for choosing k and t"},
			&cli.IntFlag{Name: "k", Usage: "secagg: neighbours per party (0: chosen from --dropout and --corruption)"},
			&cli.IntFlag{Name: "t", Usage: "secagg: Shamir threshold (0: chosen, or k/2+1 with --k)"},
		},
		Action: func(c *cli.Context) error {
			out := c.App.Writer
			if c.NArg() == 0 {
				for _, s := range bench.Suites() {
					fmt.Fprintf(out, "%-10s %s\n", s.Name, s.Doc)
				}
				return nil
			}
			for _, f := range []string{"reps", "workers", "clients", "params", "k", "t", "parties", "threshold", "seeds", "entries", "appends"} {
				if c.Int(f) < 0 {
					return usageError{fmt.Sprintf("bench: --%s must not be negative", f)}
				}
			}
			switch b := c.String("backend"); b {
			case "cpu", "cuda", "auto":
			default:
				return usageError{fmt.Sprintf("bench: --backend %q: want cpu, cuda or auto", b)}
			}
			if d := c.Float64("dropout"); !(d >= 0 && d < 1) {
				return usageError{"bench: --dropout must be in [0, 1)"}
			}
			if g := c.Float64("corruption"); !(g >= 0 && g < 1) {
				return usageError{"bench: --corruption must be in [0, 1)"}
			}
			opt := bench.Options{Quick: c.Bool("quick"), Reps: c.Int("reps"), Workers: c.Int("workers"), Backend: c.String("backend"), Params: c.Int("params"),
				SecAgg: bench.SecAggOptions{
					Clients: c.Int("clients"), Dropout: c.Float64("dropout"),
					Corruption: c.Float64("corruption"), K: c.Int("k"), T: c.Int("t"),
				},
				MHE:       bench.MHEOptions{Parties: c.Int("parties"), Threshold: c.Int("threshold")},
				Federated: bench.FederatedOptions{DataDir: c.String("data"), Seeds: c.Int("seeds")},
				Ledger:    bench.LedgerOptions{Dir: c.String("dir"), Entries: c.Int("entries"), Appends: c.Int("appends")},
			}
			var suites []bench.Suite
			for _, name := range c.Args().Slice() {
				s, err := bench.Lookup(name)
				if err != nil {
					return usageError{err.Error()}
				}
				suites = append(suites, s)
			}
			for _, s := range suites {
				p := newPrinter(out, c.Bool("json"))
				err := s.Run(c.Context, opt, p.add)
				if ferr := p.flush(); err == nil {
					err = ferr
				}
				if err != nil {
					return fmt.Errorf("bench %s: %w", s.Name, err)
				}
			}
			return nil
		},
	}
}

// printer writes results as JSON lines as they come, or as a table at the end.
type printer struct {
	out  io.Writer
	json bool
	rows []bench.Result
	err  error
}

func newPrinter(out io.Writer, asJSON bool) *printer { return &printer{out: out, json: asJSON} }

func (p *printer) add(r bench.Result) {
	if !p.json {
		p.rows = append(p.rows, r)
		return
	}
	b, err := json.Marshal(r)
	if err == nil {
		_, err = fmt.Fprintf(p.out, "%s\n", b)
	}
	if p.err == nil {
		p.err = err
	}
}

func (p *printer) flush() error {
	if p.json || p.err != nil || len(p.rows) == 0 {
		return p.err
	}
	tw := tabwriter.NewWriter(p.out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tCASE\tN\tMETRIC\tVALUE\tLIMIT\tRATIO\tNOTE")
	for _, r := range p.rows {
		limit, ratio := "-", "-"
		if r.Limit > 0 {
			limit, ratio = human(r.Limit, r.Unit), fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Suite, r.Case, count(r.N), r.Metric, human(r.Value, r.Unit), limit, ratio, r.Note)
	}
	return tw.Flush()
}

// count prints n as a power of two where it is one.
func count(n int) string {
	if n <= 0 {
		return "-"
	}
	if n&(n-1) == 0 && n >= 1024 {
		return fmt.Sprintf("2^%d", strings.Count(fmt.Sprintf("%b", n), "0"))
	}
	return fmt.Sprint(n)
}

// human formats a value with its unit: byte rates in GB/s or MB/s.
func human(v float64, unit string) string {
	switch unit {
	case "B/s":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f GB/s", v/1e9)
		default:
			return fmt.Sprintf("%.1f MB/s", v/1e6)
		}
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "s":
		switch {
		case v < 1e-3:
			return fmt.Sprintf("%.1f µs", v*1e6)
		case v < 1:
			return fmt.Sprintf("%.2f ms", v*1e3)
		}
		return fmt.Sprintf("%.2f s", v)
	case "entries/s":
		return fmt.Sprintf("%.0f entries/s", v)
	case "B":
		if v >= 1<<20 {
			return fmt.Sprintf("%.2f MiB", v/(1<<20))
		}
		return fmt.Sprintf("%.4f B", v)
	}
	if v == 0 {
		return unit
	}
	if unit == "" {
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}
