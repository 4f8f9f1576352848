package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"crypto/rand"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/node"
	"github.com/cohort-mpc/cohort/node/nodepb"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/testdata/datasets"
)

// cluster is an aggregator and its hospitals, each a separate `cohort node
// start` process with its own folder, on 127.0.0.1.
type cluster struct {
	t          *testing.T
	bin        string
	dir        string
	agg        string   // the aggregator's folder
	hospitals  []string // the hospitals' folders
	names      []string
	dids       map[string]string // folder → did:key
	researcher string            // the researcher's key file
	resDID     string
	// spare is a listed peer's key with no node behind it: the test
	// connects with it as a misbehaving participant would, without
	// disturbing the hospitals' streams.
	spare   ed25519.PrivateKey
	procs   map[string]*proc
	aggAddr string
}

// proc is a running node process.
type proc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // how the process exited; set before done is closed
}

func seedHex(dir string) string {
	h := make([]byte, 32)
	copy(h, filepath.Base(dir))
	return hex.EncodeToString(h)
}

func seedOf(dir string) [32]byte {
	var s [32]byte
	copy(s[:], filepath.Base(dir))
	return s
}

func (c *cluster) cohort(args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("cohort %s: %v: %s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

func (c *cluster) must(args ...string) string {
	c.t.Helper()
	out, err := c.cohort(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

var didRE = regexp.MustCompile(`did:key:z[1-9A-HJ-NP-Za-km-z]+`)

func (c *cluster) initNode(name string) string {
	dir := filepath.Join(c.dir, name)
	out := c.must("node", "init", "--dir", dir, "--name", name)
	c.dids[dir] = didRE.FindString(out)
	return dir
}

// start runs the node of dir; its log goes to dir/node.log.
func (c *cluster) start(dir string) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, node.AddrFile))
	cmd := exec.Command(c.bin, "node", "start", "--dir", dir, "--log-level", "debug", "--insecure-seed", seedHex(dir))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: f, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	c.procs[dir] = p
}

// stop sends sig to dir's node and waits for it to exit. A node stopped
// by SIGTERM must exit with status 0.
func (c *cluster) stop(dir string, sig syscall.Signal) {
	c.t.Helper()
	p := c.procs[dir]
	if p == nil {
		return
	}
	defer func() {
		if sig == syscall.SIGTERM && p.err != nil {
			c.t.Errorf("%s exited with %v after SIGTERM", filepath.Base(dir), p.err)
		}
	}()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		c.t.Errorf("%s did not stop within 30 s of %v", filepath.Base(dir), sig)
	}
	delete(c.procs, dir)
}

func (c *cluster) stopAll() {
	for dir := range c.procs {
		c.stop(dir, syscall.SIGTERM)
	}
}

// waitFile waits for a file a node writes and returns its trimmed content.
func (c *cluster) waitFile(path string) string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		if p := c.procs[filepath.Dir(path)]; p != nil {
			select {
			case <-p.done:
				c.t.Fatalf("%s exited; log:\n%s", filepath.Base(filepath.Dir(path)), c.logOf(filepath.Dir(path)))
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s did not appear; log:\n%s", path, c.logOf(filepath.Dir(path)))
	return ""
}

func (c *cluster) logOf(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "node.log"))
	return string(b)
}

// metric reads one value from the aggregator's /metrics.
func (c *cluster) metric(name string) float64 {
	addr := c.waitFile(filepath.Join(c.agg, node.MetricsAddrFile))
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}

func (c *cluster) waitConnected(n int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.metric("cohort_participants_connected") == float64(n) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("%d participants did not connect; aggregator log:\n%s", n, c.logOf(c.agg))
}

func (c *cluster) jobArgs(args ...string) []string {
	return append(args, "--node", c.aggAddr, "--node-did", c.dids[c.agg], "--key", c.researcher)
}

// submit submits a job file and returns its ID.
func (c *cluster) submit(job []byte) string {
	c.t.Helper()
	path := filepath.Join(c.dir, fmt.Sprintf("job-%d.toml", time.Now().UnixNano()))
	if err := os.WriteFile(path, job, 0o644); err != nil {
		c.t.Fatal(err)
	}
	out := c.must(c.jobArgs("job", "submit", path)...)
	id := regexp.MustCompile(`[0-9a-f]{32}`).FindString(out)
	if id == "" {
		c.t.Fatalf("no job ID in %q", out)
	}
	return id
}

// newCluster makes and starts an aggregator and hospitals, each
// hospital holding its share of the breast-cancer rows as a registered
// dataset whose policy lets the researcher use it in secagg or mhe mode.
func newCluster(t *testing.T, hospitals ...string) *cluster {
	bin, err := exec.LookPath("cohort")
	if err != nil {
		t.Fatalf("the cohort command is not on PATH (testscript.Main puts it there): %v", err)
	}
	c := &cluster{t: t, bin: bin, dir: t.TempDir(), dids: map[string]string{}, procs: map[string]*proc{}, names: hospitals}
	t.Cleanup(func() {
		for dir, p := range c.procs {
			p.cmd.Process.Kill()
			<-p.done
			if t.Failed() {
				t.Logf("log of %s:\n%s", filepath.Base(dir), c.logOf(dir))
			}
		}
	})
	c.researcher = filepath.Join(c.dir, "researcher.key")
	c.resDID = didRE.FindString(c.must("key", "generate", "--out", c.researcher))
	c.agg = c.initNode("aggregator")
	for _, h := range hospitals {
		c.hospitals = append(c.hospitals, c.initNode(h))
	}
	spare, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.spare = spare
	peers := []string{identity.DID(c.spare.Public().(ed25519.PublicKey))}
	for _, h := range c.hospitals {
		peers = append(peers, c.dids[h])
	}
	writeConfig(t, c.agg, fmt.Sprintf("name = \"aggregator\"\nlisten = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\npeers = %s\nresearchers = [%q]\n",
		tomlList(peers), c.resDID))
	c.start(c.agg)
	c.aggAddr = c.waitFile(filepath.Join(c.agg, node.AddrFile))
	rows := hospitalCSVs(t, c.dir, len(hospitals))
	for i, h := range c.hospitals {
		c.must("dataset", "add", "breast_cancer", "--csv", rows[i], "--label", "target", "--dir", h)
		c.writeHospitalConfig(h, c.aggAddr)
		c.start(h)
	}
	c.waitConnected(len(hospitals))
	return c
}

func (c *cluster) writeHospitalConfig(h, aggAddr string) {
	writeConfig(c.t, h, fmt.Sprintf(`name = %q
[[aggregator]]
address = %q
did = %q

[[policy]]
dataset = "breast_cancer"
researchers = [%q]
modes = ["secagg", "mhe"]
min_sites = 2
epsilon_cap = 50.0
`, filepath.Base(h), aggAddr, c.dids[c.agg], c.resDID))
}

func tomlList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func writeConfig(t *testing.T, dir, cfg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, node.ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hospitalCSVs writes every n-th breast-cancer row to hospital i's CSV
// file, with a header of the dataset's column names.
func hospitalCSVs(t *testing.T, dir string, n int) []string {
	t.Helper()
	ds, err := data.BreastCancerFS(datasets.FS)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := range n {
		path := filepath.Join(dir, fmt.Sprintf("rows-%d.csv", i))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.Write(append(slices.Clone(ds.Features), "target"))
		for r := i; r < ds.All.Rows; r += n {
			var rec []string
			for _, x := range ds.All.Row(r) {
				rec = append(rec, strconv.FormatFloat(x, 'g', -1, 64))
			}
			rec = append(rec, strconv.Itoa(int(ds.All.Y[r])))
			w.Write(rec)
		}
		w.Flush()
		if err := errors2(w.Error(), f.Close()); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

func errors2(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func e2eJob(mode string, rounds int, extra string) []byte {
	return e2eJobModel(mode, rounds, `kind = "logreg"`, 1, extra)
}

// e2eJobModel is e2eJob with the given [model] body and local epochs.
func e2eJobModel(mode string, rounds int, model string, epochs int, extra string) []byte {
	return testjob.Spec{Name: "e2e-" + mode, Seed: 21, Rounds: rounds, Mode: mode, Model: model, Epochs: epochs, Quorum: 2,
		Deadlines: "train = \"20s\"\nrecovery = \"5s\"\nsetup = \"15s\"\ndecision = \"10s\"",
		Extra:     "[dp.record]\nepsilon = 2.0\ndelta = 1e-5\nclip = 1.0\n" + extra}.File()
}

// watch follows a job to its end and returns the watch output and
// whether it succeeded.
func (c *cluster) watch(id string) (string, error) {
	return c.cohort(c.jobArgs("job", "watch", id)...)
}

// resultParams fetches a finished job's result and returns its model's
// parameters.
func (c *cluster) resultParams(id string) []float64 {
	c.t.Helper()
	out := filepath.Join(c.dir, "result-"+id)
	c.must(c.jobArgs("job", "result", id, "--out", out)...)
	b, err := os.ReadFile(filepath.Join(out, "model.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	var m struct {
		Params []float64 `json:"params"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatal(err)
	}
	if len(m.Params) == 0 {
		c.t.Fatalf("model.json has no params: %s", b)
	}
	return m.Params
}

// inProcess runs the same job in one process over the in-memory network:
// the same keys, the same rows (through the hospitals' registries) and the
// same seeds as the node processes.
func (c *cluster) inProcess(jobFile []byte) *engine.Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, shutdown, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer shutdown()
	job, err := engine.ParseJob(bytes.NewReader(jobFile))
	if err != nil {
		c.t.Fatal(err)
	}
	aggKey, err := identity.LoadKey(filepath.Join(c.agg, node.KeyFile))
	if err != nil {
		c.t.Fatal(err)
	}
	mem := engine.NewMemNetwork()
	ln, err := mem.Listen("aggregator", engine.Peer{Name: "aggregator", Key: aggKey.Public().(ed25519.PublicKey)})
	if err != nil {
		c.t.Fatal(err)
	}
	a, stopAgg, err := engine.NewAggregator(engine.AggregatorConfig{Self: engine.Peer{Name: "aggregator", Key: aggKey.Public().(ed25519.PublicKey)}, Backend: b}, ln)
	if err != nil {
		c.t.Fatal(err)
	}
	defer stopAgg()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var roster []engine.Peer
	for _, h := range c.hospitals {
		key, err := identity.LoadKey(filepath.Join(h, node.KeyFile))
		if err != nil {
			c.t.Fatal(err)
		}
		reg, err := node.OpenRegistry(h)
		if err != nil {
			c.t.Fatal(err)
		}
		sd, err := reg.SiteData(ctx, job)
		if err != nil {
			c.t.Fatal(err)
		}
		p := engine.Peer{Name: filepath.Base(h), Key: key.Public().(ed25519.PublicKey)}
		roster = append(roster, p)
		s, err := engine.NewSite(engine.SiteConfig{Self: p, Signer: key, Data: sd, Policy: engine.AcceptAll, Backend: b, Seed: seedOf(h)})
		if err != nil {
			c.t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(sctx, mem, "aggregator") }()
	}
	// The aggregator node proposes to its connected peers in did:key order.
	slices.SortFunc(roster, func(x, y engine.Peer) int { return strings.Compare(identity.DID(x.Key), identity.DID(y.Key)) })
	// The researcher's signature is in the proposal, so the job has the
	// same ID, and the sites draw the same randomness for it.
	rkey, err := identity.LoadKey(c.researcher)
	if err != nil {
		c.t.Fatal(err)
	}
	p, err := a.Prepare(jobFile, roster, &engine.Submitter{Key: rkey.Public().(ed25519.PublicKey), Signature: engine.SignJob(rkey, jobFile)})
	if err != nil {
		c.t.Fatal(err)
	}
	res, err := a.RunPrepared(ctx, p)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// TestNodesEndToEnd runs one aggregator and three hospitals as separate
// node processes on 127.0.0.1 and a researcher's commands against them.
func TestNodesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes and runs several federated jobs")
	}
	last := time.Now()
	step := func(what string) {
		t.Logf("%-40s %v", what, time.Since(last).Round(time.Millisecond))
		last = time.Now()
	}
	c := newCluster(t, "st-marys", "riverside", "northgate")
	step("four nodes up")

	// The breast-cancer job in secagg and in mhe mode: the model equals
	// an in-process simulation of the same seeded job (mhe: within CKKS's
	// error).
	for _, mode := range []string{"secagg", "mhe"} {
		job := e2eJob(mode, 3, "")
		id := c.submit(job)
		if out, err := c.watch(id); err != nil {
			t.Fatalf("%s job: %v", mode, err)
		} else if !strings.Contains(out, "finished") {
			t.Errorf("%s job: watch says %q", mode, out)
		}
		got := c.resultParams(id)
		want := c.inProcess(job).Params
		if len(got) != len(want) {
			t.Fatalf("%s: %d parameters over the network, %d in process", mode, len(got), len(want))
		}
		for i := range got {
			if d := math.Abs(got[i] - want[i]); (mode == "secagg" && d != 0) || d > 1e-6 {
				t.Fatalf("%s: parameter %d is %v over the network, %v in process", mode, i, got[i], want[i])
			}
		}
	}

	step("jobs in secagg and mhe")

	// A policy refusal reaches the researcher with its reason.
	id := c.submit(e2eJob("plain", 2, ""))
	out, err := c.watch(id)
	if err == nil || !strings.Contains(out, `privacy mode "plain" is not allowed`) {
		t.Errorf("plain job: err %v, output %q: want the policy's reason", err, out)
	}

	step("policy refusal")

	// A malformed and a replayed frame from a listed hospital's key are
	// refused; the aggregator keeps working.
	c.badFrames()

	step("bad frames")

	// An unlisted node is refused at the handshake, with who and why in the
	// aggregator's log.
	stranger := c.initNode("stranger")
	c.must("dataset", "add", "breast_cancer", "--csv", filepath.Join(c.dir, "rows-0.csv"), "--label", "target", "--dir", stranger)
	c.writeHospitalConfig(stranger, c.aggAddr)
	c.start(stranger)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.logOf(c.agg), c.dids[stranger]) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if log := c.logOf(c.agg); !strings.Contains(log, "refused a peer at the TLS handshake") || !strings.Contains(log, c.dids[stranger]) {
		t.Errorf("the aggregator's log does not name the refused node %s", c.dids[stranger])
	}
	if n := c.metric("cohort_participants_connected"); n != 3 {
		t.Errorf("%v participants connected, want 3", n)
	}
	c.stop(stranger, syscall.SIGTERM)

	step("unlisted node")

	// SIGKILL a hospital during a round: the job completes without it
	// (dropout recovery, then rounds of the other two).
	// Local training is made slow enough (an MLP, many epochs) that the
	// kill lands while the round's sites are still training: it comes as
	// soon as the first site's round-3 message has reached the aggregator.
	id = c.submit(e2eJobModel("secagg", 12, "kind = \"mlp\"\nhidden = [64]", 40, "# a hospital is killed\n"))
	c.waitPhase(id, 3, "train")
	c.stop(c.hospitals[2], syscall.SIGKILL)
	if out, err := c.watch(id); err != nil {
		t.Errorf("job with a hospital killed: %v", err)
	} else if !strings.Contains(out, "finished") {
		t.Errorf("job with a hospital killed: %q", out)
	}
	// The round it died in completed without it, and so did the rest.
	by := c.contributors(id)
	if by[2] != 3 || by[3] != 2 || by[12] != 2 {
		t.Errorf("contributors by round %v: want 3 in round 2, then 2 from round 3 on", by)
	}
	c.start(c.hospitals[2])
	c.waitConnected(3)

	step("hospital killed")

	// SIGKILL and restart the aggregator mid-job: it resumes.
	id = c.submit(e2eJob("secagg", 30, "# the aggregator is killed\n"))
	c.waitRound(id, 3)
	c.stop(c.agg, syscall.SIGKILL)
	// The same port: the hospitals keep dialling the address they know,
	// and keep the job's state in memory for the resumed aggregator.
	cfg, err := os.ReadFile(filepath.Join(c.agg, node.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, c.agg, strings.Replace(string(cfg), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", c.aggAddr), 1))
	c.start(c.agg)
	if addr := c.waitFile(filepath.Join(c.agg, node.AddrFile)); addr != c.aggAddr {
		t.Fatalf("the restarted aggregator listens on %s, not %s", addr, c.aggAddr)
	}
	c.waitConnected(3)
	if out, err := c.watch(id); err != nil || !strings.Contains(out, "finished") {
		t.Errorf("resumed job: %v %q", err, out)
	}
	if log := c.logOf(c.agg); !strings.Contains(log, "resuming job") {
		t.Errorf("the restarted aggregator did not resume the job")
	}

	step("aggregator killed and resumed")

	// SIGTERM the aggregator mid-job: it stops gracefully (the round in
	// flight is abandoned, the job stays resumable) and resumes on restart.
	id = c.submit(e2eJob("secagg", 30, "# the aggregator is stopped\n"))
	c.waitRound(id, 3)
	c.stop(c.agg, syscall.SIGTERM)
	if log := c.logOf(c.agg); !strings.Contains(log, "node stopped") {
		t.Errorf("the aggregator's log does not say it stopped")
	}
	resumes := strings.Count(c.logOf(c.agg), "resuming job")
	c.start(c.agg)
	c.waitFile(filepath.Join(c.agg, node.AddrFile))
	c.waitConnected(3)
	if out, err := c.watch(id); err != nil || !strings.Contains(out, "finished") {
		t.Errorf("job resumed after SIGTERM: %v %q", err, out)
	}
	if n := strings.Count(c.logOf(c.agg), "resuming job"); n != resumes+1 {
		t.Errorf("the aggregator resumed %d jobs after SIGTERM, want 1", n-resumes)
	}
	step("aggregator stopped and resumed")

	// SIGTERM a hospital mid-round: it stops cleanly (exit 0), the round
	// completes without it, and once restarted it is connected again but,
	// having lost the job's state, takes no further part in that job.
	id = c.submit(e2eJobModel("secagg", 8, "kind = \"mlp\"\nhidden = [64]", 40, "# a hospital is stopped\n"))
	c.waitPhase(id, 3, "train")
	c.stop(c.hospitals[1], syscall.SIGTERM)
	c.start(c.hospitals[1])
	c.waitConnected(3)
	if out, err := c.watch(id); err != nil || !strings.Contains(out, "finished") {
		t.Errorf("job with a hospital stopped: %v %q", err, out)
	}
	if by := c.contributors(id); by[2] != 3 || by[3] != 2 || by[8] != 2 {
		t.Errorf("contributors by round %v: want 3 in round 2, then 2 from round 3 on", by)
	}
	step("hospital stopped and restarted")

	// Every ledger verifies, and the hospitals cosigned the aggregator's
	// latest checkpoint.
	c.stopAll()
	for _, dir := range append([]string{c.agg}, c.hospitals...) {
		if out, err := c.cohort("ledger", "verify", "--dir", dir); err != nil {
			t.Errorf("ledger of %s: %v", filepath.Base(dir), err)
		} else {
			t.Logf("%s: %s", filepath.Base(dir), firstLine(out))
		}
	}
	c.checkCosigned()
	step("ledgers verified")
}

// contributors fetches job id's result and returns each round's number of
// contributors, by round.
func (c *cluster) contributors(id string) map[int]int {
	c.t.Helper()
	out := filepath.Join(c.dir, "result-"+id)
	c.must(c.jobArgs("job", "result", id, "--out", out)...)
	f, err := os.Open(filepath.Join(out, "metrics.csv"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 {
		c.t.Fatalf("metrics.csv: %v (%d lines)", err, len(recs))
	}
	col := slices.Index(recs[0], "contributors") // their number
	if col < 0 || recs[0][0] != "round" {
		c.t.Fatalf("metrics.csv columns: %v", recs[0])
	}
	by := map[int]int{}
	for _, r := range recs[1:] {
		round, err1 := strconv.Atoi(r[0])
		n, err2 := strconv.Atoi(r[col])
		if err1 != nil || err2 != nil {
			c.t.Fatalf("metrics.csv row %v", r)
		}
		by[round] = n
	}
	return by
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// researcherConn is a gRPC connection to the aggregator as the researcher.
func (c *cluster) researcherConn() *grpc.ClientConn {
	c.t.Helper()
	key, err := identity.LoadKey(c.researcher)
	if err != nil {
		c.t.Fatal(err)
	}
	cc, err := node.Dial(c.aggAddr, c.dids[c.agg], key, "researcher", rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	return cc
}

// waitRound waits until job id has committed round r, asking the
// aggregator's Jobs service as the researcher.
func (c *cluster) waitRound(id string, r int) {
	c.t.Helper()
	cc := c.researcherConn()
	defer cc.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := nodepb.NewJobsClient(cc).List(ctx, &nodepb.ListRequest{})
		cancel()
		if err == nil {
			for _, j := range resp.Jobs {
				if j.Id == id && int(j.Round) >= r {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("job %s did not reach round %d", id, r)
}

// waitPhase follows job id's events on the aggregator's Watch stream until
// one of round r in phase has come from at least one site (and not all).
func (c *cluster) waitPhase(id string, r int, phase string) {
	c.t.Helper()
	cc := c.researcherConn()
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := nodepb.NewJobsClient(cc).Watch(ctx, &nodepb.WatchRequest{Id: id})
	if err != nil {
		c.t.Fatal(err)
	}
	for {
		e, err := s.Recv()
		if err != nil {
			c.t.Fatalf("job %s: no %s event of round %d: %v", id, phase, r, err)
		}
		if int(e.Round) == r && e.Phase == phase && e.Done >= 1 && e.Done < e.Of {
			return
		}
		if int(e.Round) > r {
			c.t.Fatalf("job %s passed round %d without a partial %s event", id, r, phase)
		}
	}
}

// badFrames opens task streams with a listed peer's key and sends a
// malformed frame, then a replayed one: each stream is closed with
// InvalidArgument and the aggregator stays up.
func (c *cluster) badFrames() {
	c.t.Helper()
	key := c.spare
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	good := &engine.Message{Kind: engine.KindPlainVector, Body: []byte("x")}
	var valid []byte
	if err := engine.SplitMessage(good, 1, func(f *engine.Frame) (err error) { valid, err = f.MarshalBinary(); return err }); err != nil {
		c.t.Fatal(err)
	}
	for _, frames := range [][][]byte{{[]byte("garbage")}, {valid, valid}} {
		cc, err := node.Dial(c.aggAddr, c.dids[c.agg], key, "intruder", rand.Reader)
		if err != nil {
			c.t.Fatal(err)
		}
		s, err := nodepb.NewTasksClient(cc).Connect(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, f := range frames {
			s.Send(&nodepb.Frame{Data: f})
		}
		_, err = s.Recv()
		for err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			c.t.Errorf("bad frames %q: stream ended with %v, want InvalidArgument", frames[0][:min(8, len(frames[0]))], err)
		}
		cc.Close()
	}
	if v := c.metric("cohort_transport_refused_frames_total"); v != 2 {
		c.t.Errorf("refused frames metric %v, want 2", v)
	}
	// The spare peer's streams are gone; the three hospitals were never
	// disturbed.
	c.waitConnected(3)
}

// checkCosigned checks that the aggregator's last cosigned checkpoint (the
// one it collected at the end of the last job) carries the cosignatures of
// all the hospitals, and that its own final checkpoint is consistent with
// it (ledger verify checked every checkpoint against the tree).
func (c *cluster) checkCosigned() {
	c.t.Helper()
	l, err := ledger.Open(filepath.Join(c.agg, node.LedgerDir), nil, &ledger.Options{ReadOnly: true})
	if err != nil {
		c.t.Fatal(err)
	}
	defer l.Close()
	var ws []note.Verifier
	for _, h := range c.hospitals {
		key, err := identity.LoadKey(filepath.Join(h, node.KeyFile))
		if err != nil {
			c.t.Fatal(err)
		}
		v, err := ledger.WitnessVerifier(ledger.WitnessKey(key.Public().(ed25519.PublicKey)))
		if err != nil {
			c.t.Fatal(err)
		}
		ws = append(ws, v)
	}
	sizes, err := l.Checkpoints()
	if err != nil {
		c.t.Fatal(err)
	}
	cosigned := 0
	for i := len(sizes) - 1; i >= 0; i-- {
		signed, err := l.CheckpointAt(sizes[i])
		if err != nil {
			c.t.Fatal(err)
		}
		_, n, err := ledger.OpenCheckpoint(signed, ledger.LogVerifier(l.PublicKey()), ws...)
		if err != nil {
			c.t.Fatal(err)
		}
		if len(n.Sigs) > 1 {
			if cosigned == 0 && len(n.Sigs) != 1+len(c.hospitals) {
				c.t.Errorf("the last cosigned checkpoint (size %d) has %d cosignatures, want %d", sizes[i], len(n.Sigs)-1, len(c.hospitals))
			}
			cosigned++
		}
	}
	// One per job that ran to its end: secagg, mhe, the two with a node
	// killed, the two with a node stopped.
	if cosigned < 6 {
		c.t.Errorf("%d of %d checkpoints are cosigned, want one per finished job (6)", cosigned, len(sizes))
	}
}
