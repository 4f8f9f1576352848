package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/node"
	"github.com/cohort-mpc/cohort/tensor"
)

// runCLI runs the cohort command line and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"cohort"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// cliJob is a small plain-mode job file.
func cliJob(name string, rounds int, extra string) string {
	return string(testjob.Spec{Name: name, Seed: 7, Rounds: rounds, Deadlines: `decision = "10s"`, Extra: extra}.File())
}

// jobServer is an aggregator node's jobs service over mutual TLS on
// 127.0.0.1, with three simulated sites.
type jobServer struct {
	addr, did string
	sim       *engine.Simulation
	jobs      *node.Jobs

	mu     sync.Mutex
	roster []engine.Peer
	hook   atomic.Pointer[func(engine.Progress)]
}

func startJobServer(t *testing.T, researchers ...string) *jobServer {
	t.Helper()
	dir := t.TempDir()
	aggKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xa7}, 32))
	aggPub := aggKey.Public().(ed25519.PublicKey)
	s := &jobServer{did: identity.DID(aggPub)}
	l, err := ledger.Open(filepath.Join(dir, "ledger"), aggKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	b, shutdownBackend, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shutdownBackend)
	if s.sim, err = engine.NewSimulation(engine.SimConfig{JobFile: []byte(cliJob("setup", 1, "")), Sites: 3, Seed: 1, Backend: b,
		AggregatorKey: aggPub}); err != nil {
		t.Fatal(err)
	}
	s.roster = s.sim.Peers
	store, err := engine.OpenStore(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ln, err := s.sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	var jobs atomic.Pointer[node.Jobs]
	agg, shutdownAgg, err := engine.NewAggregator(engine.AggregatorConfig{Self: engine.Peer{Name: "aggregator", Key: aggPub},
		Backend: b, Store: store, Recorder: l, Checkpoints: l, Seed: [32]byte{7},
		Progress: func(p engine.Progress) {
			if h := s.hook.Load(); h != nil {
				(*h)(p)
			}
			if j := jobs.Load(); j != nil {
				j.Progress(p)
			}
		}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	stop := s.sim.Start(context.Background())
	t.Cleanup(func() { shutdownAgg(); stop() })
	j, shutdownJobs, err := node.NewJobs(node.JobsConfig{Aggregator: agg, Store: store, Dir: dir, Ledger: l,
		Roster: func() []engine.Peer {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Clone(s.roster)
		}})
	if err != nil {
		t.Fatal(err)
	}
	jobs.Store(j)
	s.jobs = j
	t.Cleanup(shutdownJobs)

	der, err := node.SelfSignedCert(aggKey, "aggregator", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.TLSConfig(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: aggKey, Leaf: leaf}, researchers, nil)
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	node.RegisterJobs(gs, j)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	s.addr = lis.Addr().String()
	return s
}

func (s *jobServer) setRoster(r []engine.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roster = r
}

// hold makes the next job that commits round 1 wait until release is
// closed; reached is closed when it waits.
func (s *jobServer) hold() (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	h := func(p engine.Progress) {
		if p.Phase == "committed" && p.Round == 1 && armed.CompareAndSwap(true, false) {
			close(reached)
			<-release
		}
	}
	s.hook.Store(&h)
	return reached, release
}

// keygen runs cohort key generate and returns the key's did:key.
func keygen(t *testing.T, path, name string) string {
	t.Helper()
	code, out, errOut := runCLI("key", "generate", "--out", path, "--name", name)
	if code != 0 {
		t.Fatalf("key generate: exit %d: %s", code, errOut)
	}
	did, _, _ := strings.Cut(out, "\n")
	if _, err := identity.ParseDID(did); err != nil {
		t.Fatalf("key generate printed %q: %v", out, err)
	}
	return did
}

func TestKeyGenerate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice.key")
	did := keygen(t, path, "Alice")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	key, err := identity.LoadKey(path)
	if err != nil || identity.DID(key.Public().(ed25519.PublicKey)) != did {
		t.Fatalf("the key file is not the key of %s: %v", did, err)
	}
	before, _ := os.ReadFile(path)
	code, _, errOut := runCLI("key", "generate", "--out", path)
	if after, _ := os.ReadFile(path); code != exitError || !bytes.Equal(before, after) ||
		errOut != "cohort: key generate: "+path+" already exists: not overwriting it\n" {
		t.Fatalf("second generate: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI("key", "generate"); code != exitUsage {
		t.Fatalf("no --out: exit %d", code)
	}
}

func TestJobCommands(t *testing.T) {
	dir := t.TempDir()
	aliceKey, bobKey := filepath.Join(dir, "alice.key"), filepath.Join(dir, "bob.key")
	alice, bob := keygen(t, aliceKey, "alice"), keygen(t, bobKey, "bob")
	s := startJobServer(t, alice, bob)
	t.Setenv("COHORT_NODE", s.addr)
	t.Setenv("COHORT_NODE_DID", s.did)
	t.Setenv("COHORT_KEY", aliceKey)
	nodeErr := "cohort: job %s: node " + s.addr + ": "
	jobPath := filepath.Join(dir, "job.toml")
	if err := os.WriteFile(jobPath, []byte(cliJob("cli", 3, "")), 0o644); err != nil {
		t.Fatal(err)
	}

	// Submit and follow a job.
	code, out, errOut := runCLI("job", "submit", jobPath, "--watch")
	if code != 0 {
		t.Fatalf("submit --watch: exit %d\n%s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`^submitted job ([0-9a-f]{32}) \(cli\): queued on ` + regexp.QuoteMeta(s.addr) +
		`, 3 rounds, plain, sites site-0001, site-0002, site-0003\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("submit printed:\n%s", out)
	}
	id := m[1]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^job ` + id + ` running$`),
		regexp.MustCompile(`(?m)^round 1/3 \[######\.+\] train loss \d\.\d{4}  test loss \d\.\d{4} accuracy 0\.\d{3} AUC 0\.\d{3}  \S+$`),
		regexp.MustCompile(`(?m)^round 3/3 \[#{20}\] train loss`),
		regexp.MustCompile(`(?m)^job ` + id + ` finished: 3 rounds; final model: accuracy 0\.\d{3}, AUC 0\.\d{3}, test loss \d\.\d{4}$`),
	} {
		if !want.MatchString(out) {
			t.Fatalf("submit --watch output lacks %v:\n%s", want, out)
		}
	}
	if strings.Count(out, "\nround ") != 3 {
		t.Fatalf("want one line per round:\n%s", out)
	}
	// Watching it again replays it.
	if code, again, _ := runCLI("job", "watch", id); code != 0 || !strings.Contains(again, "round 2/3") || !strings.Contains(again, "finished") {
		t.Fatalf("watch: exit %d\n%s", code, again)
	}

	// Fetch the result; its receipts verify offline.
	res := filepath.Join(dir, "result")
	code, out, errOut = runCLI("job", "result", id, "--out", res)
	if code != 0 {
		t.Fatalf("result: exit %d: %s", code, errOut)
	}
	files, err := s.jobs.ResultFiles(mustJobID(t, id))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, fmt.Sprintf("wrote the %d files of job %s\n", len(files), id)) {
		t.Fatalf("result printed:\n%s", out)
	}
	var proof string
	for _, f := range files {
		rel, _ := filepath.Rel(filepath.Dir(files[0]), f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(res, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v (%d bytes, want %d)", rel, err, len(got), len(want))
		}
		if strings.HasSuffix(rel, "-job-finished.proof") {
			proof = filepath.Join(res, rel)
		}
	}
	code, out, errOut = runCLI("ledger", "verify", "--proof", proof, "--vkey", filepath.Join(res, "receipts", "log.vkey"))
	if code != 0 || !strings.HasPrefix(out, "ok: entry ") || !strings.Contains(out, "job-finished") {
		t.Fatalf("ledger verify --proof: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI("job", "result", id, "--out", res); code != exitError || !strings.Contains(errOut, "exists") {
		t.Fatalf("result over existing files: exit %d: %s", code, errOut)
	}

	// Refusals reach the researcher verbatim.
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("rounds = 0\n[model]\nkind = \"forest\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI("job", "submit", bad)
	if code != exitError || !strings.HasPrefix(errOut, fmt.Sprintf(nodeErr, "submit")+"engine: job: rounds: must be at least 1, got 0\n") ||
		!strings.Contains(errOut, "\nengine: job: model.kind: unknown model \"forest\"") {
		t.Fatalf("bad job: exit %d: %s", code, errOut)
	}
	ghost := engine.Peer{Name: "ghost", Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xc9}, 32)).Public().(ed25519.PublicKey)}
	s.setRoster(append(slices.Clone(s.sim.Peers[:2]), ghost))
	refused := filepath.Join(dir, "refused.toml")
	if err := os.WriteFile(refused, []byte(strings.Replace(cliJob("refused", 1, "[sites]\nquorum = 3\n"), `"10s"`, `"200ms"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("job", "submit", "--watch", refused)
	rid := strings.Fields(out)[2]
	if want := "cohort: job submit: job " + rid + " failed: engine: proposal refused: 2 of 3 sites accepted, the quorum is 3; " +
		"ghost: no answer before the decision deadline\n"; code != exitError || errOut != want {
		t.Fatalf("refused job: exit %d: %q\nwant %q", code, errOut, want)
	}
	if code, _, errOut := runCLI("job", "watch", rid); code != exitError || !strings.Contains(errOut, "failed: engine: proposal refused") {
		t.Fatalf("watch of a failed job: exit %d: %s", code, errOut)
	}
	s.setRoster(s.sim.Peers)

	// Cancel: only the submitter, only a job that has not ended.
	if code, _, errOut := runCLI("job", "cancel", id); code != exitError ||
		errOut != fmt.Sprintf(nodeErr, "cancel")+"node: job already ended: job "+id+" is already finished\n" {
		t.Fatalf("cancel of a finished job: exit %d: %q", code, errOut)
	}
	reached, release := s.hold()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	longPath, queuedPath := filepath.Join(dir, "long.toml"), filepath.Join(dir, "queued.toml")
	_ = os.WriteFile(longPath, []byte(cliJob("long", 3, "")), 0o644)
	_ = os.WriteFile(queuedPath, []byte(cliJob("queued", 2, "")), 0o644)
	if code, _, errOut := runCLI("job", "submit", longPath); code != 0 {
		t.Fatal(errOut)
	}
	<-reached
	code, out, _ = runCLI("job", "submit", queuedPath)
	qid := strings.Fields(out)[2]
	if code != 0 || !strings.Contains(out, "follow it with: cohort job watch "+qid) {
		t.Fatalf("submit: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI("job", "cancel", qid, "--key", bobKey); code != exitError ||
		!strings.Contains(errOut, "node: not the job's submitter: job "+qid+" was submitted by "+alice+"; "+bob+" may not cancel it") {
		t.Fatalf("bob cancels: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI("job", "cancel", qid); code != 0 || out != "job "+qid+" cancelled at round 0 of 2 (cancelled by "+alice+")\n" {
		t.Fatalf("cancel: exit %d: %q %s", code, out, errOut)
	}
	code, out, _ = runCLI("job", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "ID ") ||
		!regexp.MustCompile(`^`+qid+` +queued +cancelled +0/2 +\S+ \S+ +you +cancelled by `+alice+`$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^`+id+` +cli +finished +3/3 `).MatchString(lines[4]) {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	close(release)

	// Usage errors.
	for _, args := range [][]string{
		{"job", "watch"},
		{"job", "watch", strings.ToUpper(id)},
		{"job", "cancel", "abc"},
		{"job", "submit"},
		{"job", "result", id},
		{"job", "list", "--node", ""},
	} {
		if code, _, errOut := runCLI(args...); code != exitUsage {
			t.Errorf("%q: exit %d: %s", args, code, errOut)
		}
	}
}

func mustJobID(t *testing.T, s string) engine.JobID {
	t.Helper()
	id, err := node.ParseJobID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestJobUnlistedResearcher(t *testing.T) {
	dir := t.TempDir()
	eveKey := filepath.Join(dir, "eve.key")
	keygen(t, eveKey, "eve")
	s := startJobServer(t, keygen(t, filepath.Join(dir, "alice.key"), "alice"))
	code, _, errOut := runCLI("job", "list", "--node", s.addr, "--node-did", s.did, "--key", eveKey, "--timeout", "5s")
	if code != exitError || !strings.HasPrefix(errOut, "cohort: job list: node "+s.addr+": ") {
		t.Fatalf("unlisted researcher: exit %d: %s", code, errOut)
	}
}

func TestResultPath(t *testing.T) {
	dir := filepath.Join("out", "dir")
	for name, want := range map[string]string{
		"model.json":                    filepath.Join(dir, "model.json"),
		"receipts/000003-job-run.proof": filepath.Join(dir, "receipts", "000003-job-run.proof"),
	} {
		if got, err := resultPath(dir, name); err != nil || got != want {
			t.Errorf("resultPath(%q) = %q, %v", name, got, err)
		}
	}
	for _, name := range []string{"", "../x", "a/../../x", "/etc/passwd", ".hidden", "a//b", "a/", "a\\b", "a/./b", "a b", "é",
		strings.Repeat("a", 256)} {
		if got, err := resultPath(dir, name); err == nil {
			t.Errorf("resultPath(%q) = %q", name, got)
		}
	}
}

// FuzzResultPath: a file name from the node never panics the check, and
// one it accepts stays inside the folder, in its canonical form.
func FuzzResultPath(f *testing.F) {
	for _, s := range []string{"model.json", "receipts/checkpoint", "receipts/000001-job-proposed.proof", "../x", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := resultPath("out", name)
		if err != nil {
			return
		}
		rel, err := filepath.Rel("out", p)
		if err != nil || !filepath.IsLocal(rel) || filepath.ToSlash(rel) != name {
			t.Fatalf("resultPath(%q) = %q", name, p)
		}
	})
}
