package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/engine/report"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/ledger/anchor"
	"github.com/cohort-mpc/cohort/node"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
)

// demoJob is the job the demo runs, as a researcher would write it. The
// demo replaces its rounds line with --rounds.
const demoJob = `# cohort demo: three hospitals train a breast-cancer classifier together.
# Each keeps its records; the aggregator sees only the sum of their masked
# updates (SecAgg+), and DP-SGD bounds what any one patient's record can
# reveal (record-level differential privacy).
name = "breast-cancer-demo"
seed = 7
rounds = 20

[dataset]
builtin = "breast_cancer"

[model]
kind = "logreg"

[local]
epochs = 1
batch_size = 32
learning_rate = 0.5

[strategy]
name = "fedavg"

[privacy]
mode = "secagg"

# Three sites are too few for secagg.ChooseKT's targets: every site is
# every other's neighbour (k = 2) and any two can unmask (t = 2).
[secagg]
k = 2
t = 2

[dp.record]
epsilon = 3.0
delta = 1e-5
clip = 1.0
`

// Demo settings beside the job file.
const (
	demoRounds = 20
	// demoSplitSeed and demoAlpha fix the label-skewed split of the rows
	// over the hospitals: Dirichlet(demoAlpha) class proportions.
	demoSplitSeed = 7
	demoAlpha     = 0.5
	// demoDataset is the name under which each hospital registers its rows.
	demoDataset = "breast_cancer"
	// demoEpsilonCap is each hospital's cap on the record-level ε that all
	// jobs together may spend of its dataset.
	demoEpsilonCap = 10.0
	// demoConnectTimeout bounds the wait for the hospitals to connect.
	demoConnectTimeout = 30 * time.Second
)

// demoSites are the demo's hospitals.
var demoSites = []string{"St Mary's", "Riverside", "Northgate"}

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "three hospitals train a classifier with secure aggregation and differential privacy",
		Description: "Starts an aggregator and three hospital nodes in this process, talking gRPC over mutual\n" +
			"TLS on 127.0.0.1, each hospital holding its share of the breast-cancer records as a\n" +
			"registered dataset. A researcher's key then submits the embedded job, follows it and\n" +
			"fetches its result as cohort job submit, watch and result do. Writes the job file, the\n" +
			"trained model, a plot of the training curves, the fetched result and every node's\n" +
			"folder to --out, then anchors the aggregator's ledger on a local development chain and\n" +
			"verifies it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: "cohort-demo", Usage: "folder for the job file, model, plot, result and node folders"},
			&cli.IntFlag{Name: "rounds", Value: demoRounds, Usage: "training rounds"},
			backendFlag("auto", "the four nodes share it"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError{fmt.Sprintf("demo: takes no arguments, got %q", c.Args().First())}
			}
			rounds := c.Int("rounds")
			if rounds < 1 || rounds > 1000 {
				return usageError{fmt.Sprintf("demo: --rounds %d: want 1 to 1000", rounds)}
			}
			if err := checkBackend(c.String("backend")); err != nil {
				return usageError{"demo: " + err.Error()}
			}
			if err := runDemo(c.Context, c.App.Writer, c.String("out"), rounds, c.String("backend")); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			return nil
		},
	}
}

// demoJobFile returns the demo's job file with rounds rounds.
func demoJobFile(rounds int) []byte {
	return []byte(strings.Replace(demoJob, fmt.Sprintf("\nrounds = %d\n", demoRounds), fmt.Sprintf("\nrounds = %d\n", rounds), 1))
}

// demoHospital is one of the demo's hospital nodes.
type demoHospital struct {
	name string
	dir  string
	key  ed25519.PublicKey
}

// demoNetwork is the demo's nodes, running in this process.
type demoNetwork struct {
	aggDir    string
	aggDID    string
	aggAddr   string
	hospitals []demoHospital
	// running are the nodes started and not yet shut down, the
	// aggregator first.
	running []*node.Node
	logs    []*os.File
}

// runDemo runs the demo on the tensor backend that kind (a --backend
// value) names and writes its files to dir.
func runDemo(ctx context.Context, w io.Writer, dir string, rounds int, kind string) error {
	start := time.Now()
	jobFile := demoJobFile(rounds)
	job, err := engine.ParseJob(bytes.NewReader(jobFile))
	if err != nil {
		return err
	}
	nodesDir := filepath.Join(dir, "nodes")
	resultDir := filepath.Join(dir, "result")
	keyPath := filepath.Join(dir, "researcher.key")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range []string{nodesDir, resultDir, keyPath} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing the previous run: %w", err)
		}
	}
	jobPath := filepath.Join(dir, "job.toml")
	if err := os.WriteFile(jobPath, jobFile, 0o644); err != nil {
		return err
	}
	researcher, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := identity.SaveKey(keyPath, researcher); err != nil {
		return err
	}
	backend, shutdown, fallback, err := openBackend(kind)
	if err != nil {
		return err
	}
	// The backend is shut down last: the deferred nodes.shutdown runs
	// first.
	defer shutdown()
	backendLine := backend.Name()
	if fallback != nil {
		backendLine += " (" + cuda.Fallback + ": " + fallback.Error() + ")"
	}

	nodes := &demoNetwork{}
	defer nodes.shutdown()
	if err := nodes.start(ctx, nodesDir, job, identity.DID(researcher.Public().(ed25519.PublicKey)), backend); err != nil {
		return err
	}

	fmt.Fprintf(w, "cohort demo: %d hospitals train a breast-cancer classifier without pooling their records\n\n", len(demoSites))
	writeAligned(w, "  ", [][2]string{
		{"job", fmt.Sprintf("%s (%s)", job.Name, jobPath)},
		{"model", fmt.Sprintf("logistic regression, %d rounds of %s, local SGD (%d epoch, batch %d, learning rate %g)",
			job.Rounds, job.Strategy.Name, job.Local.Epochs, job.Local.BatchSize, job.Local.LearningRate)},
		{"data", fmt.Sprintf("built-in %s, split label-skewed over the hospitals (Dirichlet α = %g), each share a CSV file "+
			"registered at its hospital's node, 20%% of it held out", job.Dataset.Builtin, demoAlpha)},
		{"privacy", fmt.Sprintf("SecAgg+ (k = %d, t = %d): the aggregator sees only the sum of the masked updates", job.SecAgg.K, job.SecAgg.T)},
		{"DP budget", fmt.Sprintf("record-level DP-SGD: ε = %g per site over the job, δ = %g, clip %g (each hospital caps ε at %g)",
			job.RecordDP.Epsilon, job.RecordDP.Delta, job.RecordDP.Clip, demoEpsilonCap)},
		{"network", fmt.Sprintf("%d nodes in this process (an aggregator and %d hospitals), gRPC with mutual TLS on %s",
			1+len(nodes.hospitals), len(nodes.hospitals), nodes.aggAddr)},
		{"backend", backendLine},
	})
	fmt.Fprintln(w)

	id, err := nodes.research(ctx, w, researcher, jobFile, resultDir)
	if err != nil {
		return err
	}
	aggKey, err := identity.ParseDID(nodes.aggDID)
	if err != nil {
		return err
	}
	decided, err := readDecisions(filepath.Join(resultDir, "receipts"), aggKey)
	if err != nil {
		return fmt.Errorf("the result's receipts: %w", err)
	}
	fmt.Fprintln(w, "\nthe hospitals' decisions, from the result's receipts (ledger entries proven against the aggregator's checkpoint)")
	fmt.Fprintln(w, "\n  site        training records  decision")
	for _, d := range decided {
		decision := "accepted"
		if !d.Accept {
			decision = "refused: " + d.Reason
		}
		fmt.Fprintf(w, "  %-10s  %16d  %s\n", d.Site.Name, d.Rows, decision)
	}
	fmt.Fprintln(w)

	rs, err := readMetricsCSV(filepath.Join(resultDir, "metrics.csv"))
	if err != nil {
		return fmt.Errorf("the result's metrics.csv: %w", err)
	}
	modelJSON, sites, err := readResultModel(filepath.Join(resultDir, "model.json"))
	if err != nil {
		return fmt.Errorf("the result's model.json: %w", err)
	}
	if err := report.WriteTable(w, rs, sites); err != nil {
		return err
	}
	modelPath := filepath.Join(dir, "model.json")
	if err := os.WriteFile(modelPath, modelJSON, 0o644); err != nil {
		return err
	}
	plotPath := filepath.Join(dir, "training.png")
	title := fmt.Sprintf("%s: %d hospitals, SecAgg+, DP ε = %g", job.Name, len(demoSites), job.RecordDP.Epsilon)
	if err := report.SavePNG(plotPath, title, rs); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if n := len(rs); n > 0 {
		last := rs[n-1]
		fmt.Fprintf(w, "final model: accuracy %.3f, AUC %.3f, test loss %.4f on the hospitals' held-out records\n", last.Accuracy, last.AUC, last.Loss)
	}
	mean, longest := report.Times(rs)
	peak, source := peakMemory()
	fmt.Fprintf(w, "time per round: mean %v, max %v; peak memory %s (%s, all four nodes)\n", roundDuration(mean),
		roundDuration(longest), mib(peak), source)

	// The ledgers are Pebble stores that their nodes hold locked.
	if err := nodes.shutdown(); err != nil {
		return err
	}
	checkpoint, err := os.ReadFile(filepath.Join(resultDir, "receipts", "checkpoint"))
	if err != nil {
		return fmt.Errorf("the result's checkpoint: %w", err)
	}
	if err := writeDemoLedger(ctx, w, nodes.aggDir, checkpoint, nodes.hospitals); err != nil {
		return err
	}
	fmt.Fprintln(w)
	sep := string(filepath.Separator)
	wrote := [][2]string{
		{jobPath, "the job that ran, job " + id},
		{keyPath, "the researcher's key, which signed the job"},
		{modelPath, "the trained model and its final metrics"},
		{plotPath, "the training curves"},
		{resultDir + sep, "what cohort job result fetched: README.txt, model.json, metrics.csv, training.png, receipts/"},
	}
	wrote = append(wrote, [2]string{nodes.aggDir + sep, "the aggregator's folder: node.toml, node.key, node.log, ledger/, jobstore/, jobs/"})
	for _, h := range nodes.hospitals {
		wrote = append(wrote, [2]string{h.dir + sep, "a hospital's folder: node.toml, node.key, node.log, ledger/, datasets/, " + demoDataset + ".csv"})
	}
	fmt.Fprintln(w, "wrote")
	writeAligned(w, "  ", wrote)
	fmt.Fprintf(w, "\ncheck a node's ledger with: cohort ledger verify --dir %s\n", nodes.hospitals[0].dir)
	fmt.Fprintf(w, "\ntotal time %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// start makes the demo's node folders under dir, starts the aggregator,
// gives each hospital its share of the job's dataset, starts the hospitals
// and waits until all are connected to the aggregator. researcher is the
// did:key that may submit jobs and use the hospitals' data.
func (d *demoNetwork) start(ctx context.Context, dir string, job *engine.Job, researcher string, backend tensor.Backend) error {
	now := time.Now()
	d.aggDir = filepath.Join(dir, "aggregator")
	agg, err := node.Init(d.aggDir, "aggregator", now, rand.Reader)
	if err != nil {
		return err
	}
	d.aggDID = agg.DID
	var peers []string
	for _, name := range demoSites {
		h, err := node.Init(nodeDir(dir, name), name, now, rand.Reader)
		if err != nil {
			return err
		}
		d.hospitals = append(d.hospitals, demoHospital{name: name, dir: h.Dir, key: h.Key.Public().(ed25519.PublicKey)})
		peers = append(peers, h.DID)
	}
	cfg := fmt.Sprintf("# The demo's aggregator: its hospitals and its researcher.\nname = \"aggregator\"\nlisten = \"127.0.0.1:0\"\npeers = %s\nresearchers = [%q]\n",
		tomlStrings(peers), researcher)
	if err := os.WriteFile(filepath.Join(d.aggDir, node.ConfigFile), []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := d.startNode(ctx, d.aggDir, backend); err != nil {
		return err
	}
	d.aggAddr = d.running[0].Addr()

	ds, err := engine.LoadDataset(job, "")
	if err != nil {
		return err
	}
	rng := mrand.New(mrand.NewPCG(demoSplitSeed, 0))
	parts, err := data.LabelSkew(ds.All.Y, len(demoSites), demoAlpha, 10, rng)
	if err != nil {
		return err
	}
	for i, h := range d.hospitals {
		csvPath := filepath.Join(h.dir, demoDataset+".csv")
		if err := writeRowsCSV(csvPath, ds, parts[i]); err != nil {
			return err
		}
		if _, err := node.AddDataset(h.dir, demoDataset, csvPath, node.AddOptions{Label: "target"}); err != nil {
			return err
		}
		cfg := fmt.Sprintf(`# %s, a hospital of the demo: the aggregator it works with and what
# the demo's researcher may do with its records.
name = %q

[[aggregator]]
address = %q
did = %q

[[policy]]
dataset = %q
researchers = [%q]
modes = ["secagg"]
min_sites = 3
epsilon_cap = %.1f
`, h.name, h.name, d.aggAddr, d.aggDID, demoDataset, researcher, demoEpsilonCap)
		if err := os.WriteFile(filepath.Join(h.dir, node.ConfigFile), []byte(cfg), 0o644); err != nil {
			return err
		}
		if err := d.startNode(ctx, h.dir, backend); err != nil {
			return err
		}
	}
	return d.waitConnected(ctx, len(d.hospitals))
}

// research does what a researcher does with cohort job submit --watch and
// cohort job result: signs the job file with key, submits it to the
// aggregator, follows it to its end and fetches its result into dir. It
// returns the job's ID.
func (d *demoNetwork) research(ctx context.Context, w io.Writer, key ed25519.PrivateKey, jobFile []byte, dir string) (string, error) {
	s, err := dialJobSession("job", d.aggAddr, d.aggDID, key, "researcher")
	if err != nil {
		return "", err
	}
	defer s.close()
	info, err := s.submit(ctx, jobFile)
	if err != nil {
		return "", err
	}
	s.writeSubmitted(w, info)
	if err := s.follow(ctx, w, info.Id); err != nil {
		return "", err
	}
	if _, err := s.result(ctx, info.Id, dir); err != nil {
		return "", err
	}
	return info.Id, nil
}

// startNode starts the node of folder dir with its log in dir/node.log.
func (d *demoNetwork) startNode(ctx context.Context, dir string, backend tensor.Backend) error {
	f, err := os.OpenFile(filepath.Join(dir, "node.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	d.logs = append(d.logs, f)
	log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := node.Start(ctx, dir, node.Options{Log: log, Backend: backend})
	if err != nil {
		return fmt.Errorf("starting the node in %s: %w", dir, err)
	}
	d.running = append(d.running, n)
	return nil
}

// waitConnected waits until n hospitals are connected to the aggregator.
func (d *demoNetwork) waitConnected(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, demoConnectTimeout)
	defer cancel()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if len(d.running[0].Connected()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d hospitals connected to the aggregator at %s (see their node.log): %w",
				len(d.running[0].Connected()), n, d.aggAddr, ctx.Err())
		case <-t.C:
		}
	}
}

// shutdown stops the running nodes, the hospitals first, and closes their
// logs. It may be called again.
func (d *demoNetwork) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for i := len(d.running) - 1; i >= 0; i-- {
		errs = append(errs, d.running[i].Shutdown(ctx))
	}
	d.running = nil
	for _, f := range d.logs {
		errs = append(errs, f.Close())
	}
	d.logs = nil
	return errors.Join(errs...)
}

// nodeDir is the folder of the node called name under dir.
func nodeDir(dir, name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '_':
			b.WriteByte('-')
		}
	}
	return filepath.Join(dir, b.String())
}

// tomlStrings writes s as a TOML array of strings.
func tomlStrings(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// writeRowsCSV writes the rows of ds at the indices rows to a CSV file at
// path, with a header of the dataset's column names and the label last as
// "target".
func writeRowsCSV(path string, ds *data.Dataset, rows []int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	cw := csv.NewWriter(bw)
	_ = cw.Write(append(slices.Clone(ds.Features), "target"))
	rec := make([]string, 0, len(ds.Features)+1)
	for _, r := range rows {
		rec = rec[:0]
		for _, x := range ds.All.Row(r) {
			rec = append(rec, strconv.FormatFloat(x, 'g', -1, 64))
		}
		rec = append(rec, strconv.FormatFloat(ds.All.Y[r], 'g', -1, 64))
		_ = cw.Write(rec)
	}
	cw.Flush()
	err = cw.Error()
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readDecisions reads the sites' decisions from a job's receipts: the
// site-decided entries of the tlog-proofs in dir, each checked against
// the aggregator's log key aggKey. They come in demoSites order.
func readDecisions(dir string, aggKey ed25519.PublicKey) ([]*ledger.SiteDecided, error) {
	proofs, err := filepath.Glob(filepath.Join(dir, "*.proof"))
	if err != nil {
		return nil, err
	}
	var out []*ledger.SiteDecided
	for _, p := range proofs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		e, _, err := ledger.VerifyProof(b, ledger.LogVerifier(aggKey))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		if e.Type != ledger.TypeSiteDecided {
			continue
		}
		ev, err := e.Event()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		if d, ok := ev.(*ledger.SiteDecided); ok {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no receipt of a site's decision")
	}
	slices.SortStableFunc(out, func(a, b *ledger.SiteDecided) int { return demoOrder(a.Site.Name) - demoOrder(b.Site.Name) })
	return out, nil
}

// demoOrder is the place of the site called name in demoSites; other names
// go last.
func demoOrder(name string) int {
	if i := slices.Index(demoSites, name); i >= 0 {
		return i
	}
	return len(demoSites)
}

// readMetricsCSV reads a job result's metrics.csv: one round a line, an
// empty cell where a metric is unknown (NaN).
func readMetricsCSV(path string) ([]report.Round, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("no header")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"round", "contributors", "train_loss", "test_loss", "accuracy", "auc", "epsilon", "duration_ms"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("no %s column", h)
		}
	}
	var out []report.Round
	for line, rec := range recs[1:] {
		num := func(name string) (float64, error) {
			s := rec[col[name]]
			if s == "" {
				return math.NaN(), nil
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, fmt.Errorf("line %d: %s %q is not a number", line+2, name, s)
			}
			return v, nil
		}
		var vals [8]float64
		for i, name := range []string{"round", "contributors", "train_loss", "test_loss", "accuracy", "auc", "epsilon", "duration_ms"} {
			if vals[i], err = num(name); err != nil {
				return nil, err
			}
		}
		out = append(out, report.Round{Round: int(vals[0]), Contributors: int(vals[1]), TrainLoss: vals[2], Loss: vals[3],
			Accuracy: vals[4], AUC: vals[5], Epsilon: vals[6], Duration: time.Duration(vals[7] * float64(time.Millisecond))})
	}
	return out, nil
}

// resultModelJSON is the part of a job result's model.json that the demo
// reads.
type resultModelJSON struct {
	Sites []struct {
		Name    string   `json:"name"`
		Rows    int      `json:"train_rows"`
		Rounds  int      `json:"rounds"`
		Epsilon *float64 `json:"epsilon"`
	} `json:"sites"`
}

// readResultModel reads a job result's model.json and returns it and its
// sites, in demoSites order.
func readResultModel(path string) ([]byte, []report.Site, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var m resultModelJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	var sites []report.Site
	for _, s := range m.Sites {
		eps := math.NaN()
		if s.Epsilon != nil {
			eps = *s.Epsilon
		}
		sites = append(sites, report.Site{Name: s.Name, Rows: s.Rows, Rounds: s.Rounds, Epsilon: eps})
	}
	slices.SortStableFunc(sites, func(a, b report.Site) int { return demoOrder(a.Name) - demoOrder(b.Name) })
	return b, sites, nil
}

// peakMemory returns the process's peak resident set size where the
// system tells it, else the memory the Go runtime has mapped now, and
// how it was measured.
func peakMemory() (uint64, string) {
	if hwm, ok := readVmHWM(); ok {
		return hwm, "VmHWM"
	}
	return runtimeMemory(), "Go runtime total at the end"
}

// writeDemoLedger says what the aggregator's ledger (in its node folder
// aggDir) holds after the job and which hospitals cosigned checkpoint, the
// checkpoint of the job's result; then it anchors that checkpoint on a
// local development chain (go-ethereum's simulated backend, in this
// process) and verifies the whole ledger, the anchor included. The nodes
// must be shut down.
func writeDemoLedger(ctx context.Context, w io.Writer, aggDir string, checkpoint []byte, hospitals []demoHospital) error {
	var witnesses []note.Verifier
	names := map[string]string{} // witness key name → hospital name
	for _, h := range hospitals {
		v, err := ledger.WitnessVerifier(ledger.WitnessKey(h.key))
		if err != nil {
			return err
		}
		witnesses = append(witnesses, v)
		names[v.Name()] = h.name
	}
	key, err := identity.LoadKey(filepath.Join(aggDir, node.KeyFile))
	if err != nil {
		return err
	}
	l, err := ledger.Open(filepath.Join(aggDir, node.LedgerDir), key, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	c, n, err := ledger.OpenCheckpoint(checkpoint, ledger.LogVerifier(l.PublicKey()), witnesses...)
	if err != nil {
		return fmt.Errorf("the aggregator's checkpoint: %w", err)
	}
	signed := map[string]bool{}
	for _, sig := range n.Sigs {
		signed[names[sig.Name]] = true
	}
	cosigners := []string{}
	for _, h := range hospitals {
		if signed[h.name] {
			cosigners = append(cosigners, h.name)
		}
	}
	if len(cosigners) == 0 {
		cosigners = append(cosigners, "no hospital")
	}
	fmt.Fprintf(w, "\nledger: the aggregator's log (%s) holds %d entries; its checkpoint at %d is cosigned by %s\n",
		l.Origin()[:len("cohort/did:key:")+12]+"…", l.Size(), c.Size, strings.Join(cosigners, ", "))

	ethKey, err := crypto.GenerateKey()
	if err != nil {
		return err
	}
	dev, err := anchor.StartDevChain(ctx, anchor.DevOptions{Listen: "127.0.0.1:0", BlockTime: 20 * time.Millisecond,
		Funded: []common.Address{crypto.PubkeyToAddress(ethKey.PublicKey)}})
	if err != nil {
		return err
	}
	defer dev.Close()
	eth, err := anchor.NewEthereum(dev.Client(), ethKey, anchor.Options{PollInterval: 10 * time.Millisecond, Timeout: time.Minute})
	if err != nil {
		return err
	}
	a, err := eth.Anchor(ctx, c.Origin, c.Size, c.Root)
	if err != nil {
		return err
	}
	if _, err := l.Append(ctx, a); err != nil {
		return err
	}
	fmt.Fprintf(w, "anchor: checkpoint %d published on a local development chain (go-ethereum simulated, chain %d), tx 0x%x…, block %d\n",
		c.Size, a.ChainID, a.Tx[:6], a.Block)

	// What an auditor would do: sign the whole log and verify all of it,
	// the anchor on its chain.
	if _, err := l.Checkpoint(ctx); err != nil {
		return err
	}
	rep, err := ledger.Verify(ctx, l.Source(), ledger.VerifyOptions{LogKey: l.PublicKey(), Anchors: eth})
	if err != nil {
		return err
	}
	cos := 0
	for _, n := range rep.Cosignatures {
		cos += n
	}
	fmt.Fprintf(w, "verified: %d entries (hash chain, Merkle tree, root), %d signed checkpoints, %d cosignatures, %d anchor on chain\n",
		rep.Size, len(rep.Checkpoints), cos, rep.AnchorsOnChain)
	return nil
}

// writeAligned writes label-value pairs with the values aligned.
func writeAligned(w io.Writer, indent string, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r[0]))
	}
	for _, r := range rows {
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(r[0]))
		fmt.Fprintf(w, "%s%s%s  %s\n", indent, r[0], pad, r[1])
	}
}
