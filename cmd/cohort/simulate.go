package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/engine/report"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/node"
	"github.com/urfave/cli/v2"
)

func simulateCommand() *cli.Command {
	return &cli.Command{
		Name:      "simulate",
		Usage:     "run a job with virtual sites in this process, each a real site with its own key and rows",
		ArgsUsage: "JOB.toml",
		Description: "Splits the job's dataset over --sites virtual sites and runs the job from proposal to\n" +
			"result through the job's privacy mode (SecAgg+, multiparty CKKS or plain). Progress goes\n" +
			"to stderr; the per-round table, the time per round and the peak memory to stdout.\n" +
			"A relative dataset path in the job is relative to the job file's folder.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "sites", Usage: "number of virtual sites (at least 2; required)"},
			&cli.StringFlag{Name: "partition", Value: "iid", Usage: "how rows are split: iid, dirichlet:α (label skew) or quantity:α (size skew)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "fixes the partition, the sites' keys and all randomness"},
			&cli.StringFlag{Name: "state", Usage: "keep the aggregator's job state in a Pebble store in this folder"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per round and a summary object instead of the table"},
			backendFlag("auto", "the backend chosen is logged to stderr"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{fmt.Sprintf("simulate: want one job file, got %d arguments", c.NArg())}
			}
			if !c.IsSet("sites") {
				return usageError{"simulate: --sites is required: the number of virtual sites"}
			}
			if n := c.Int("sites"); n < 2 {
				return usageError{fmt.Sprintf("simulate: --sites %d: want at least 2", n)}
			}
			if err := checkPartition(c.String("partition")); err != nil {
				return usageError{"simulate: " + err.Error()}
			}
			if err := checkBackend(c.String("backend")); err != nil {
				return usageError{"simulate: " + err.Error()}
			}
			path := c.Args().First()
			jobFile, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("simulate: reading the job: %w", err)
			}
			// The backend is shut down after the simulation has returned.
			backend, shutdown, err := selectBackend(c.String("backend"), slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)))
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			defer shutdown()
			sim := &simulation{
				cfg: engine.SimConfig{JobFile: jobFile, Dir: filepath.Dir(path), Sites: c.Int("sites"),
					Partition: c.String("partition"), Seed: c.Uint64("seed"), Backend: backend},
				stateDir: c.String("state"),
				progress: newProgressLine(c.App.ErrWriter),
			}
			res, stats, err := sim.run(c.Context)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			out := c.App.Writer
			if c.Bool("json") {
				return writeSimJSON(out, res, stats, sim.stateDir)
			}
			return writeSimText(out, res, stats, sim.stateDir)
		},
	}
}

// checkPartition reports whether s is a partition the engine knows:
// "iid", or "dirichlet" or "quantity" with an optional ":α", α > 0.
func checkPartition(s string) error {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "iid":
		if hasArg {
			return fmt.Errorf("--partition %q: iid takes no α", s)
		}
		return nil
	case "dirichlet", "label", "quantity":
	default:
		return fmt.Errorf("--partition %q: want iid, dirichlet:α or quantity:α", s)
	}
	if hasArg {
		if a, err := strconv.ParseFloat(arg, 64); err != nil || !(a > 0) || math.IsInf(a, 0) {
			return fmt.Errorf("--partition %q: α must be a positive number", s)
		}
	}
	return nil
}

// simulation runs one job over virtual sites, reports its progress and
// measures it.
type simulation struct {
	cfg engine.SimConfig
	// stateDir, if not empty, holds the aggregator's Pebble store.
	stateDir string
	// progress shows the job's progress.
	progress *progressLine
}

// openNode makes a node folder with a key file and opens its ledger.
func openNode(dir string, key ed25519.PrivateKey) (*ledger.Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := identity.SaveKey(filepath.Join(dir, nodeKeyFile), key); err != nil {
		return nil, err
	}
	return ledger.Open(filepath.Join(dir, nodeLedgerDir), key, nil)
}

// simStats are measurements of a simulation.
type simStats struct {
	Wall       time.Duration
	PeakBytes  uint64
	PeakSource string // how PeakBytes was measured
}

// A node folder holds the node's key and its ledger (the layout of
// cohort node init).
const (
	nodeKeyFile   = node.KeyFile
	nodeLedgerDir = node.LedgerDir
)

// run runs the simulation to the end.
func (s *simulation) run(ctx context.Context) (*engine.Result, simStats, error) {
	var stats simStats
	var store *engine.Store
	if s.stateDir != "" {
		var err error
		if store, err = engine.OpenStore(s.stateDir); err != nil {
			return nil, stats, err
		}
		defer store.Close()
	}
	_, haveHWM := readVmHWM()
	var sampled uint64
	sample := func() {
		if !haveHWM {
			sampled = max(sampled, runtimeMemory())
		}
	}
	rec := &engine.MemoryRecorder{}
	agg := engine.AggregatorConfig{Store: store, Recorder: rec, Seed: aggregatorSeed(s.cfg.Seed)}
	progress := func(p engine.Progress) {
		sample()
		s.progress.update(p)
	}
	start := time.Now()
	agg.Progress = progress
	res, err := engine.Simulate(ctx, s.cfg, agg)
	s.progress.clear()
	stats.Wall = time.Since(start)
	if err != nil {
		return nil, stats, err
	}
	sample()
	if hwm, ok := readVmHWM(); ok {
		stats.PeakBytes, stats.PeakSource = hwm, "VmHWM"
	} else {
		stats.PeakBytes, stats.PeakSource = sampled, "Go runtime total, sampled"
	}
	return res, stats, nil
}

// aggregatorSeed derives the aggregator's seed from the simulation's.
func aggregatorSeed(seed uint64) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("cohort/cmd/simulate/aggregator"), seed))
}

// readVmHWM returns the process's peak resident set size from
// /proc/self/status, where there is one.
func readVmHWM() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// runtimeMemory returns the memory the Go runtime has mapped now.
func runtimeMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// progressLine shows a job's progress: on a terminal one line redrawn in
// place with a bar, and one line kept per committed round; elsewhere one
// plain line per committed round and per failed attempt.
type progressLine struct {
	w     io.Writer
	tty   bool
	shown int // runes of the live line on screen
	// prev is the record of the previous committed round: the aggregator
	// fills in its test metrics when it aggregates the next round.
	prev *engine.RoundRecord
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, tty: isTerminal(w)}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const barWidth = 20

// update shows p.
func (l *progressLine) update(p engine.Progress) {
	var label string
	done := 0 // rounds completed
	switch {
	case p.Round == 0:
		label = "setup"
	case p.Round > p.Rounds:
		label, done = "final evaluation", p.Rounds
	default:
		digits := len(strconv.Itoa(p.Rounds))
		label, done = fmt.Sprintf("round %*d/%d", digits, p.Round, p.Rounds), p.Round-1
	}
	switch p.Phase {
	case "committed":
		r := p.Record
		if r == nil {
			return
		}
		line := fmt.Sprintf("%s %s train loss %.4f", label, bar(p.Round, p.Rounds), r.TrainLoss)
		if l.prev != nil && l.prev.Test.N > 0 {
			line += fmt.Sprintf("  accuracy %.3f AUC %.3f (model of round %d)", l.prev.Test.Accuracy, l.prev.Test.AUC, l.prev.Round)
		}
		if !math.IsNaN(r.Epsilon) {
			line += fmt.Sprintf("  ε %.2f", r.Epsilon)
		}
		line += "  " + roundDuration(r.Duration).String()
		l.prev = r
		l.keep(line)
	case "retry":
		l.keep(fmt.Sprintf("%s attempt failed, retrying: %v", label, p.Err))
	default:
		if l.tty {
			l.draw(fmt.Sprintf("%s %s %s %d/%d sites", label, bar(done, p.Rounds), p.Phase, p.Done, p.Of))
		}
	}
}

// bar draws done of total as a bar of barWidth cells.
func bar(done, total int) string {
	n := 0
	if total > 0 {
		n = min(barWidth, barWidth*max(done, 0)/total)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", barWidth-n) + "]"
}

// draw replaces the live line with s (terminal only).
func (l *progressLine) draw(s string) {
	n := utf8.RuneCountInString(s)
	fmt.Fprintf(l.w, "\r%s%s", s, strings.Repeat(" ", max(0, l.shown-n)))
	l.shown = n
}

// keep writes s as a line of its own, replacing the live line.
func (l *progressLine) keep(s string) {
	if l.tty {
		l.draw(s)
		fmt.Fprintln(l.w)
		l.shown = 0
		return
	}
	fmt.Fprintln(l.w, s)
}

// clear removes the live line, if any.
func (l *progressLine) clear() {
	if l.tty && l.shown > 0 {
		fmt.Fprintf(l.w, "\r%s\r", strings.Repeat(" ", l.shown))
		l.shown = 0
	}
}

// reportSites converts the engine's site results for the report package.
func reportSites(ss []engine.SiteResult) []report.Site {
	out := make([]report.Site, len(ss))
	for i, s := range ss {
		out[i] = report.Site{Name: s.Peer.Name, Rows: s.TrainRows, Rounds: s.Rounds, Epsilon: s.Epsilon}
	}
	return out
}

// roundDuration rounds d to the millisecond, or to the microsecond below
// one millisecond.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// mib formats a byte count in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// writeSimText writes the result as tables and a summary.
func writeSimText(w io.Writer, res *engine.Result, stats simStats, stateDir string) error {
	var b bytes.Buffer
	if err := report.WriteTable(&b, node.ReportRounds(res.Rounds), reportSites(res.Sites)); err != nil {
		return err
	}
	mean, longest := report.Times(node.ReportRounds(res.Rounds))
	fmt.Fprintf(&b, "\ntime per round: mean %v, max %v (total %v)\n", roundDuration(mean),
		roundDuration(longest), roundDuration(stats.Wall))
	fmt.Fprintf(&b, "peak memory: %s (%s)\n", mib(stats.PeakBytes), stats.PeakSource)
	if stateDir != "" {
		fmt.Fprintf(&b, "job %v: state in %s\n", res.ID, stateDir)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// jsonFloat returns nil for NaN and infinities, which JSON cannot carry.
func jsonFloat(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// simRoundJSON is one round of simulate --json.
type simRoundJSON struct {
	Round        int      `json:"round"`
	Contributors int      `json:"contributors"`
	TrainLoss    *float64 `json:"train_loss"`
	Loss         *float64 `json:"loss"`
	Accuracy     *float64 `json:"accuracy"`
	AUC          *float64 `json:"auc"`
	Epsilon      *float64 `json:"epsilon"`
	Seconds      float64  `json:"seconds"`
}

// simSiteJSON is one site in the summary of simulate --json.
type simSiteJSON struct {
	Name     string   `json:"name"`
	Accepted bool     `json:"accepted"`
	Rows     int      `json:"rows"`
	Rounds   int      `json:"rounds"`
	Epsilon  *float64 `json:"epsilon"`
}

// simSummaryJSON is the last object of simulate --json.
type simSummaryJSON struct {
	Job              string        `json:"job"`
	Rounds           int           `json:"rounds"`
	Loss             *float64      `json:"loss"`
	Accuracy         *float64      `json:"accuracy"`
	AUC              *float64      `json:"auc"`
	Epsilon          *float64      `json:"epsilon"`
	Sites            []simSiteJSON `json:"sites"`
	Seconds          float64       `json:"seconds"`
	RoundSecondsMean float64       `json:"round_seconds_mean"`
	RoundSecondsMax  float64       `json:"round_seconds_max"`
	PeakMemoryMiB    float64       `json:"peak_memory_mib"`
	PeakMemorySource string        `json:"peak_memory_source"`
	State            string        `json:"state,omitempty"`
}

// writeSimJSON writes one JSON object per round and a summary object.
func writeSimJSON(w io.Writer, res *engine.Result, stats simStats, stateDir string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	rounds := node.ReportRounds(res.Rounds)
	for _, r := range rounds {
		if err := enc.Encode(simRoundJSON{Round: r.Round, Contributors: r.Contributors, TrainLoss: jsonFloat(r.TrainLoss),
			Loss: jsonFloat(r.Loss), Accuracy: jsonFloat(r.Accuracy), AUC: jsonFloat(r.AUC), Epsilon: jsonFloat(r.Epsilon),
			Seconds: r.Duration.Seconds()}); err != nil {
			return err
		}
	}
	mean, longest := report.Times(node.ReportRounds(res.Rounds))
	sum := simSummaryJSON{Job: res.ID.String(), Rounds: len(res.Rounds), Loss: nil, Sites: []simSiteJSON{},
		Seconds: stats.Wall.Seconds(), RoundSecondsMean: mean.Seconds(), RoundSecondsMax: longest.Seconds(),
		PeakMemoryMiB: float64(stats.PeakBytes) / (1 << 20), PeakMemorySource: stats.PeakSource, State: stateDir}
	if n := len(rounds); n > 0 {
		last := rounds[n-1]
		sum.Loss, sum.Accuracy, sum.AUC, sum.Epsilon = jsonFloat(last.Loss), jsonFloat(last.Accuracy), jsonFloat(last.AUC), jsonFloat(last.Epsilon)
	}
	for _, s := range res.Sites {
		sum.Sites = append(sum.Sites, simSiteJSON{Name: s.Peer.Name, Accepted: s.Accepted, Rows: s.TrainRows,
			Rounds: s.Rounds, Epsilon: jsonFloat(s.Epsilon)})
	}
	if err := enc.Encode(sum); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
