package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/engine/report"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/ledger/anchor"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/urfave/cli/v2"
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
	demoRounds    = 20
	demoSeed      = 7
	demoPartition = "dirichlet:0.5"
)

// demoSites are the demo's virtual hospitals.
var demoSites = []string{"St Mary's", "Riverside", "Northgate"}

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "three hospitals train a classifier with secure aggregation and differential privacy",
		Description: "Runs the embedded breast-cancer job with three virtual hospitals in this process, then\n" +
			"writes the job file, the trained model, a plot of the training curves and the\n" +
			"aggregator's state to --out.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: "cohort-demo", Usage: "folder for the job file, model, plot and state"},
			&cli.IntFlag{Name: "rounds", Value: demoRounds, Usage: "training rounds"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError{fmt.Sprintf("demo: takes no arguments, got %q", c.Args().First())}
			}
			rounds := c.Int("rounds")
			if rounds < 1 || rounds > 1000 {
				return usageError{fmt.Sprintf("demo: --rounds %d: want 1 to 1000", rounds)}
			}
			if err := runDemo(c.Context, c.App.Writer, c.String("out"), rounds); err != nil {
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

// runDemo runs the demo and writes its files to dir.
func runDemo(ctx context.Context, w io.Writer, dir string, rounds int) error {
	start := time.Now()
	jobFile := demoJobFile(rounds)
	job, err := engine.ParseJob(bytes.NewReader(jobFile))
	if err != nil {
		return err
	}
	stateDir := filepath.Join(dir, "state")
	nodesDir := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{stateDir, nodesDir} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("removing the previous run: %w", err)
		}
	}
	jobPath := filepath.Join(dir, "job.toml")
	if err := os.WriteFile(jobPath, jobFile, 0o644); err != nil {
		return err
	}
	_, alpha, _ := strings.Cut(demoPartition, ":")
	backend, shutdown, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		return err
	}
	defer shutdown()

	fmt.Fprintf(w, "cohort demo: %d hospitals train a breast-cancer classifier without pooling their records\n\n", len(demoSites))
	writeAligned(w, "  ", [][2]string{
		{"job", fmt.Sprintf("%s (%s)", job.Name, jobPath)},
		{"model", fmt.Sprintf("logistic regression, %d rounds of %s, local SGD (%d epoch, batch %d, learning rate %g)",
			job.Rounds, job.Strategy.Name, job.Local.Epochs, job.Local.BatchSize, job.Local.LearningRate)},
		{"data", fmt.Sprintf("built-in %s, split label-skewed over the sites (Dirichlet α = %s), 20%% of each held out", job.Dataset.Builtin, alpha)},
		{"privacy", fmt.Sprintf("SecAgg+ (k = %d, t = %d): the aggregator sees only the sum of the masked updates", job.SecAgg.K, job.SecAgg.T)},
		{"DP budget", fmt.Sprintf("record-level DP-SGD: ε = %g per site over the job, δ = %g, clip %g", job.RecordDP.Epsilon, job.RecordDP.Delta, job.RecordDP.Clip)},
	})
	sim := &simulation{
		cfg: engine.SimConfig{JobFile: jobFile, Sites: len(demoSites), Partition: demoPartition, Names: demoSites,
			Seed: demoSeed, Backend: backend},
		stateDir: stateDir,
		nodesDir: nodesDir,
		progress: newProgressLine(w),
		header: func(decided []engine.SiteDecided) {
			fmt.Fprintln(w, "\n  site        training records  decision")
			for _, d := range decided {
				decision := "accepted"
				if !d.Accept {
					decision = "refused: " + d.Reason
				}
				fmt.Fprintf(w, "  %-10s  %16d  %s\n", d.Site.Name, d.Rows, decision)
			}
			fmt.Fprintln(w)
		},
	}
	res, stats, err := sim.run(ctx)
	if err != nil {
		return err
	}

	fmt.Fprintln(w)
	rs := reportRounds(res.Rounds)
	if err := report.WriteTable(w, rs, reportSites(res.Sites)); err != nil {
		return err
	}
	modelPath := filepath.Join(dir, "model.json")
	if err := writeDemoModel(modelPath, res); err != nil {
		return err
	}
	plotPath := filepath.Join(dir, "training.png")
	title := fmt.Sprintf("%s: %d hospitals, SecAgg+, DP ε = %g", job.Name, len(demoSites), job.RecordDP.Epsilon)
	if err := report.SavePNG(plotPath, title, rs); err != nil {
		return err
	}
	mean, longest := roundTimes(res.Rounds)
	fmt.Fprintln(w)
	if n := len(rs); n > 0 {
		last := rs[n-1]
		fmt.Fprintf(w, "final model: accuracy %.3f, AUC %.3f, test loss %.4f on the hospitals' held-out records\n", last.Accuracy, last.AUC, last.Loss)
	}
	fmt.Fprintf(w, "time per round: mean %v, max %v; peak memory %s (%s)\n", roundDuration(mean),
		roundDuration(longest), mib(stats.PeakBytes), stats.PeakSource)
	if err := writeDemoLedger(ctx, w, res, stats.Nodes); err != nil {
		return err
	}
	fmt.Fprintln(w)
	wrote := [][2]string{
		{jobPath, "the job that ran"},
		{modelPath, "the trained model and its final metrics"},
		{plotPath, "the training curves"},
		{stateDir + string(filepath.Separator), "the aggregator's job state (Pebble), job " + res.ID.String()},
		{nodesDir + string(filepath.Separator), "each node's key and ledger (cohort ledger verify --dir " + stats.Nodes.Aggregator + ")"},
	}
	fmt.Fprintln(w, "wrote")
	writeAligned(w, "  ", wrote)
	fmt.Fprintf(w, "\ntotal time %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeDemoLedger says what the aggregator's ledger holds after the job and
// who cosigned its checkpoint, anchors that checkpoint on a local
// development chain (go-ethereum's simulated backend, in this process),
// and verifies the whole ledger, the anchor included.
func writeDemoLedger(ctx context.Context, w io.Writer, res *engine.Result, nodes nodeDirs) error {
	var witnesses []note.Verifier
	names := map[string]string{} // witness key name → site name
	for _, s := range res.Sites {
		v, err := ledger.WitnessVerifier(ledger.WitnessKey(s.Peer.Key))
		if err != nil {
			return err
		}
		witnesses = append(witnesses, v)
		names[v.Name()] = s.Peer.Name
	}
	key, err := identity.LoadKey(filepath.Join(nodes.Aggregator, nodeKeyFile))
	if err != nil {
		return err
	}
	l, err := ledger.Open(filepath.Join(nodes.Aggregator, nodeLedgerDir), key, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	c, n, err := ledger.OpenCheckpoint(res.Checkpoint, ledger.LogVerifier(l.PublicKey()), witnesses...)
	if err != nil {
		return fmt.Errorf("the aggregator's checkpoint: %w", err)
	}
	signed := map[string]bool{}
	for _, sig := range n.Sigs {
		signed[names[sig.Name]] = true
	}
	var cosigners []string
	for _, s := range res.Sites {
		if signed[s.Peer.Name] {
			cosigners = append(cosigners, s.Peer.Name)
		}
	}
	fmt.Fprintf(w, "ledger: the aggregator's log (%s) holds %d entries; its checkpoint at %d is cosigned by %s\n",
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

// demoModelJSON is the demo's model.json.
type demoModelJSON struct {
	Model    string         `json:"model"`
	Job      string         `json:"job"`
	Name     string         `json:"name"`
	Rounds   int            `json:"rounds"`
	Params   []float64      `json:"params"`
	Loss     *float64       `json:"loss"`
	Accuracy *float64       `json:"accuracy"`
	AUC      *float64       `json:"auc"`
	Sites    []demoSiteJSON `json:"sites"`
}

// demoSiteJSON is one site in model.json.
type demoSiteJSON struct {
	Name    string   `json:"name"`
	Rows    int      `json:"train_rows"`
	Rounds  int      `json:"rounds"`
	Epsilon *float64 `json:"epsilon"`
}

// writeDemoModel writes the trained model and its final metrics to path.
func writeDemoModel(path string, res *engine.Result) error {
	m := demoModelJSON{Model: res.Model.Name(), Job: res.ID.String(), Name: res.Job.Name, Rounds: len(res.Rounds),
		Params: res.Params, Sites: []demoSiteJSON{}}
	nan := math.NaN()
	m.Loss, m.Accuracy, m.AUC = jsonFloat(nan), jsonFloat(nan), jsonFloat(nan)
	if n := len(res.Rounds); n > 0 && res.Rounds[n-1].Test.N > 0 {
		t := res.Rounds[n-1].Test
		m.Loss, m.Accuracy, m.AUC = jsonFloat(t.Loss), jsonFloat(t.Accuracy), jsonFloat(t.AUC)
	}
	for _, s := range res.Sites {
		m.Sites = append(m.Sites, demoSiteJSON{Name: s.Peer.Name, Rows: s.TrainRows, Rounds: s.Rounds, Epsilon: jsonFloat(s.Epsilon)})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
