package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/node/nodepb"
	"github.com/cohort-mpc/cohort/tensor"
)

// jobsTestJob is a small plain-mode job on the built-in breast-cancer data.
// A seed of 0 leaves the seed out.
func jobsTestJob(name string, rounds int, seed int, extra string) []byte {
	return testjob.Spec{Name: name, Seed: int64(seed), Rounds: rounds, Extra: extra}.File()
}

// jobsEnv is an aggregator with a store and a ledger, three simulated
// sites that witness its ledger, and the jobs service on top.
type jobsEnv struct {
	t      *testing.T
	dir    string
	sim    *engine.Simulation
	agg    *engine.Aggregator
	store  *engine.Store
	ledger *ledger.Log
	aggKey ed25519.PrivateKey
	// jobs receives the aggregator's progress; hook sees it first.
	jobs atomic.Pointer[Jobs]
	hook atomic.Pointer[func(engine.Progress)]

	mu     sync.Mutex
	roster []engine.Peer

	alice, bob     ed25519.PrivateKey
	aliceC, bobC   Caller
	shutdownJobs   func()
	witnessVerifer []note.Verifier
}

func jobsKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func callerOfKey(k ed25519.PrivateKey, name string) Caller {
	pub := k.Public().(ed25519.PublicKey)
	return Caller{DID: identity.DID(pub), Key: pub, Name: name}
}

func newJobsEnv(t *testing.T) *jobsEnv {
	t.Helper()
	e := &jobsEnv{t: t, dir: t.TempDir(), aggKey: jobsKey(0xa1), alice: jobsKey(0xb1), bob: jobsKey(0xb2)}
	e.aliceC, e.bobC = callerOfKey(e.alice, "alice"), callerOfKey(e.bob, "bob")
	aggPub := e.aggKey.Public().(ed25519.PublicKey)
	var err error
	if e.ledger, err = ledger.Open(filepath.Join(e.dir, "ledger"), e.aggKey, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ledger.Close() })
	b, shutdownBackend, err := tensor.NewCPU(tensor.CPUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(shutdownBackend)
	var siteLogs []*ledger.Log
	t.Cleanup(func() {
		for _, l := range siteLogs {
			_ = l.Close()
		}
	})
	e.sim, err = engine.NewSimulation(engine.SimConfig{JobFile: jobsTestJob("setup", 1, 1, ""), Sites: 3, Seed: 1, Backend: b,
		AggregatorKey: aggPub,
		Witness: func(i int, key ed25519.PrivateKey) (engine.Witness, error) {
			l, err := ledger.Open(filepath.Join(e.dir, fmt.Sprintf("site%d", i)), key, nil)
			if err == nil {
				siteLogs = append(siteLogs, l)
			}
			return l, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.sim.Peers {
		v, err := ledger.WitnessVerifier(ledger.WitnessKey(p.Key))
		if err != nil {
			t.Fatal(err)
		}
		e.witnessVerifer = append(e.witnessVerifer, v)
	}
	e.roster = e.sim.Peers
	if e.store, err = engine.OpenStore(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.store.Close() })
	ln, err := e.sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	agg, shutdownAgg, err := engine.NewAggregator(engine.AggregatorConfig{Self: engine.Peer{Name: "aggregator", Key: aggPub},
		Backend: b, Store: e.store, Recorder: e.ledger, Checkpoints: e.ledger, Seed: [32]byte{1},
		Progress: func(p engine.Progress) {
			if h := e.hook.Load(); h != nil {
				(*h)(p)
			}
			if j := e.jobs.Load(); j != nil {
				j.Progress(p)
			}
		}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	e.agg = agg
	stop := e.sim.Start(context.Background())
	t.Cleanup(func() { shutdownAgg(); stop() })
	return e
}

// start opens the jobs service on the env's folder.
func (e *jobsEnv) start() *Jobs {
	e.t.Helper()
	j, shutdown, err := NewJobs(JobsConfig{Aggregator: e.agg, Store: e.store, Dir: e.dir, Ledger: e.ledger,
		Roster: func() []engine.Peer {
			e.mu.Lock()
			defer e.mu.Unlock()
			return slices.Clone(e.roster)
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.jobs.Store(j)
	e.shutdownJobs = shutdown
	e.t.Cleanup(shutdown)
	return j
}

func (e *jobsEnv) setRoster(r []engine.Peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roster = r
}

// blockAtRound makes the next job that commits round 1 wait in its
// progress report until release is closed; reached is closed when it does.
func (e *jobsEnv) blockAtRound() (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	h := func(p engine.Progress) {
		if p.Phase == "committed" && p.Round == 1 && armed.CompareAndSwap(true, false) {
			close(reached)
			<-release
		}
	}
	e.hook.Store(&h)
	return reached, release
}

func (e *jobsEnv) submit(j *Jobs, by ed25519.PrivateKey, c Caller, jobFile []byte) JobInfo {
	e.t.Helper()
	info, err := j.Submit(context.Background(), c, jobFile, engine.SignJob(by, jobFile))
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// watchAll watches a job to its end.
func watchAll(t *testing.T, j *Jobs, id engine.JobID) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var evs []Event
	if err := j.Watch(ctx, id, func(e Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatalf("watch %v: %v", id, err)
	}
	return evs
}

// committedRounds lists the rounds of the committed events.
func committedRounds(evs []Event) []int {
	var out []int
	for _, e := range evs {
		if e.Phase == "committed" {
			out = append(out, e.Metrics.Round)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkResult checks a finished job's result folder against the store and
// the ledger.
func (e *jobsEnv) checkResult(j *Jobs, id engine.JobID, rounds int) {
	t := e.t
	t.Helper()
	files, err := j.ResultFiles(id)
	if err != nil {
		t.Fatal(err)
	}
	dir := j.jobDir(id)
	var names []string
	for _, f := range files {
		rel, err := filepath.Rel(dir, f)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.ToSlash(rel))
	}
	want := []string{"README.txt", "model.json", "metrics.csv", "training.png", "receipts/log.vkey", "receipts/checkpoint"}
	if len(names) < len(want) || !slices.Equal(names[:len(want)], want) {
		t.Fatalf("result files %q, want them to start with %q", names, want)
	}
	st, err := e.store.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Err != "" || int(st.Next) != rounds+2 {
		t.Fatalf("store: job ended with %q at next round %d", st.Err, st.Next)
	}

	var m resultModel
	b, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Params, st.Model) || len(m.Params) != 31 {
		t.Fatalf("model.json params %v\nwant the store's %v", m.Params, st.Model)
	}
	if m.Model != "logreg(30)" || m.Job != id.String() || m.Rounds != rounds || len(m.Sites) != 3 || m.Accuracy == nil || !(*m.Accuracy > 0.8) {
		t.Fatalf("model.json: %+v", m)
	}

	b, err = os.ReadFile(files[2])
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != rounds+1 || strings.Join(rows[0], ",") != "round,attempt,contributors,train_loss,test_loss,accuracy,auc,epsilon,duration_ms" {
		t.Fatalf("metrics.csv:\n%s", b)
	}
	for i, r := range rows[1:] {
		h := st.History[i]
		if r[0] != strconv.Itoa(i+1) || r[2] != "3" || r[3] != strconv.FormatFloat(h.TrainLoss, 'g', -1, 64) ||
			r[5] != strconv.FormatFloat(h.Test.Accuracy, 'g', -1, 64) || r[7] != "" {
			t.Fatalf("metrics.csv row %d: %q, store %+v", i+1, r, h)
		}
	}
	if b, err := os.ReadFile(files[3]); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("training.png: %v, %.8q", err, b)
	}
	vkey, err := os.ReadFile(files[4])
	if err != nil || string(vkey) != e.ledger.VerifierKey()+"\n" {
		t.Fatalf("log.vkey: %q, %v", vkey, err)
	}
	readme, err := os.ReadFile(files[0])
	if err != nil || !bytes.Contains(readme, []byte("cohort ledger verify --proof receipts/")) {
		t.Fatalf("README.txt: %v\n%s", err, readme)
	}

	// The checkpoint is cosigned by the three sites; each proof verifies
	// and is of an entry of this job, proven against that checkpoint.
	aggPub := e.aggKey.Public().(ed25519.PublicKey)
	signed, err := os.ReadFile(files[5])
	if err != nil {
		t.Fatal(err)
	}
	cp, n, err := ledger.OpenCheckpoint(signed, ledger.LogVerifier(aggPub), e.witnessVerifer...)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 4 {
		t.Fatalf("checkpoint has %d signatures, want the log's and 3 cosignatures", len(n.Sigs))
	}
	counts := map[ledger.Type]int{}
	last := int64(-1)
	for i, f := range files[6:] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		entry, pcp, err := ledger.VerifyProof(b, ledger.LogVerifier(aggPub))
		if err != nil {
			t.Fatalf("%s: %v", names[6+i], err)
		}
		if pcp != cp {
			t.Fatalf("%s proven against %+v, the job's checkpoint is %+v", names[6+i], pcp, cp)
		}
		if wantName := fmt.Sprintf("receipts/%06d-%s.proof", entry.Index, entry.Type); names[6+i] != wantName || int64(entry.Index) <= last {
			t.Fatalf("proof %s holds entry %d of type %v", names[6+i], entry.Index, entry.Type)
		}
		last = int64(entry.Index)
		ev, err := entry.Event()
		if err != nil {
			t.Fatal(err)
		}
		var jid ledger.JobID
		switch v := ev.(type) {
		case *ledger.JobProposed:
			jid = v.Job
		case *ledger.SiteDecided:
			jid = v.Job
		case *ledger.RoundCommitted:
			jid = v.Job
		case *ledger.JobFinished:
			jid = v.Job
			if v.Err != "" {
				t.Fatalf("job-finished entry with error %q", v.Err)
			}
		}
		if jid != ledger.JobID(id) {
			t.Fatalf("%s is of job %v", names[6+i], jid)
		}
		counts[entry.Type]++
	}
	if counts[ledger.TypeJobProposed] < 1 || counts[ledger.TypeSiteDecided] < 3 || counts[ledger.TypeRoundCommitted] != rounds ||
		counts[ledger.TypeJobFinished] != 1 {
		t.Fatalf("receipts by type: %v", counts)
	}
}

func TestJobsRun(t *testing.T) {
	e := newJobsEnv(t)
	j := e.start()
	info := e.submit(j, e.alice, e.aliceC, jobsTestJob("three-rounds", 3, 7, ""))
	if info.State != StateQueued || info.Name != "three-rounds" || info.Researcher != e.aliceC.DID || info.Rounds != 3 ||
		info.Mode != "plain" || !slices.Equal(info.Sites, []string{"site-0001", "site-0002", "site-0003"}) {
		t.Fatalf("submitted: %+v", info)
	}
	evs := watchAll(t, j, info.ID)
	if evs[0].Phase != StateQueued || evs[1].Phase != StateRunning {
		t.Fatalf("first events %q, %q", evs[0].Phase, evs[1].Phase)
	}
	if got := committedRounds(evs); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("committed rounds %v", got)
	}
	last := evs[len(evs)-1]
	if last.Phase != StateFinished || last.Job.State != StateFinished || last.Job.Round != 3 || last.Metrics == nil ||
		last.Metrics.Round != 3 || math.IsNaN(last.Metrics.Accuracy) || len(last.Metrics.Contributors) != 3 {
		t.Fatalf("last event %+v", last)
	}
	for i, ev := range evs {
		if ev.Phase == "committed" && (ev.Job.State != StateRunning || ev.Job.Round != min(ev.Metrics.Round+1, 3) ||
			math.IsNaN(ev.Metrics.Accuracy) || math.IsNaN(ev.Metrics.TrainLoss) || !math.IsNaN(ev.Metrics.Epsilon)) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	got, err := j.Get(info.ID)
	if err != nil || got.State != StateFinished || got.Round != 3 || got.Finished.IsZero() {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	e.checkResult(j, info.ID, 3)

	// A second watch replays the (compacted) stream and returns.
	again := watchAll(t, j, info.ID)
	if !slices.Equal(committedRounds(again), []int{1, 2, 3}) || again[len(again)-1].Phase != StateFinished {
		t.Fatalf("replay: %d events", len(again))
	}
	if l := j.List(); len(l) != 1 || l[0].ID != info.ID {
		t.Fatalf("List: %+v", l)
	}
	// The same job again is the same proposal: refused.
	_, err = j.Submit(context.Background(), e.aliceC, jobsTestJob("three-rounds", 3, 7, ""), engine.SignJob(e.alice, jobsTestJob("three-rounds", 3, 7, "")))
	if !errors.Is(err, ErrJobExists) {
		t.Fatalf("resubmitted: %v", err)
	}
	if _, err := j.Cancel(context.Background(), e.aliceC, info.ID); !errors.Is(err, ErrJobEnded) {
		t.Fatalf("cancel of a finished job: %v", err)
	}
}

func TestJobsSubmitRefused(t *testing.T) {
	e := newJobsEnv(t)
	j := e.start()
	ctx := context.Background()
	good := jobsTestJob("x", 1, 7, "")

	_, err := j.Submit(ctx, e.aliceC, good, engine.SignJob(e.bob, good))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("bob's signature on alice's call: %v", err)
	}
	_, err = j.Submit(ctx, e.aliceC, good, nil)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("no signature: %v", err)
	}
	bad := []byte("name = \"bad\"\nrounds = 0\n[dataset]\nbuiltin = \"breast_cancer\"\n[model]\nkind = \"forest\"\n")
	_, err = j.Submit(ctx, e.aliceC, bad, engine.SignJob(e.alice, bad))
	if !errors.Is(err, engine.ErrJob) || !strings.Contains(err.Error(), "rounds") || !strings.Contains(err.Error(), "model.kind") {
		t.Fatalf("bad job file: %v", err)
	}
	if s := status.Convert(jobsStatus(err)); s.Code() != codes.InvalidArgument || s.Message() != err.Error() {
		t.Fatalf("bad job file maps to %v", s)
	}
	e.setRoster(e.sim.Peers[:1])
	_, err = j.Submit(ctx, e.aliceC, good, engine.SignJob(e.alice, good))
	if !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("one site for a quorum of 2: %v", err)
	}
	if len(j.List()) != 0 {
		t.Fatalf("refused jobs listed: %+v", j.List())
	}

	// A site that never answers: the job fails with every reason.
	ghost := engine.Peer{Name: "ghost", Key: jobsKey(0xc1).Public().(ed25519.PublicKey)}
	e.setRoster(append(slices.Clone(e.sim.Peers[:2]), ghost))
	quorum3 := jobsTestJob("needs-three", 1, 7, "[sites]\nquorum = 3\n")
	quorum3 = bytes.Replace(quorum3, []byte(`decision = "10s"`), []byte(`decision = "300ms"`), 1)
	info := e.submit(j, e.alice, e.aliceC, quorum3)
	evs := watchAll(t, j, info.ID)
	last := evs[len(evs)-1]
	want := "engine: proposal refused: 2 of 3 sites accepted, the quorum is 3; ghost: no answer before the decision deadline"
	if last.Phase != StateFailed || last.Job.Error != want || last.Err != want {
		t.Fatalf("last event %+v\nwant error %q", last, want)
	}
	if _, err := j.ResultFiles(info.ID); !errors.Is(err, ErrNotFinished) {
		t.Fatalf("result of a failed job: %v", err)
	}
	if _, err := j.Get(engine.JobID{1}); !errors.Is(err, ErrNoJob) {
		t.Fatalf("unknown job: %v", err)
	}
}

func TestJobsCancel(t *testing.T) {
	e := newJobsEnv(t)
	j := e.start()
	ctx := context.Background()
	reached, release := e.blockAtRound()
	a := e.submit(j, e.alice, e.aliceC, jobsTestJob("long", 5, 7, ""))
	<-reached
	b := e.submit(j, e.alice, e.aliceC, jobsTestJob("queued", 2, 7, ""))
	if got, _ := j.Get(b.ID); got.State != StateQueued {
		t.Fatalf("second job %s", got.State)
	}

	// Only the submitter cancels.
	if _, err := j.Cancel(ctx, e.bobC, b.ID); !errors.Is(err, ErrNotSubmitter) {
		t.Fatalf("bob cancels alice's job: %v", err)
	}
	if s := status.Convert(jobsStatus(fmt.Errorf("x: %w", ErrNotSubmitter))); s.Code() != codes.PermissionDenied {
		t.Fatalf("ErrNotSubmitter maps to %v", s.Code())
	}
	info, err := j.Cancel(ctx, e.aliceC, b.ID)
	if err != nil || info.State != StateCancelled || info.Error != "cancelled by "+e.aliceC.DID {
		t.Fatalf("cancel queued: %+v, %v", info, err)
	}
	if _, err := j.Cancel(ctx, e.aliceC, b.ID); !errors.Is(err, ErrJobEnded) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := e.store.Load(b.ID); !errors.Is(err, engine.ErrNoJob) {
		t.Fatalf("a cancelled queued job reached the store: %v", err)
	}

	// Cancel the running job while it is held after round 1.
	type result struct {
		info JobInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := j.Cancel(ctx, e.aliceC, a.ID)
		done <- result{info, err}
	}()
	waitFor(t, "the cancel", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.mu.jobs[a.ID].cancelledBy != ""
	})
	close(release)
	r := <-done
	reason := "cancelled by " + e.aliceC.DID
	if r.err != nil || r.info.State != StateCancelled || r.info.Error != reason || r.info.Round != 1 {
		t.Fatalf("cancel running: %+v, %v", r.info, r.err)
	}
	st, err := e.store.Load(a.ID)
	if err != nil || st.Err != reason || st.Next != 2 {
		t.Fatalf("store after cancel: %v, %+v", err, st)
	}
	if _, err := j.Cancel(ctx, e.aliceC, a.ID); !errors.Is(err, ErrJobEnded) {
		t.Fatalf("second cancel of the running job: %v", err)
	}
	evs := watchAll(t, j, a.ID)
	if last := evs[len(evs)-1]; last.Phase != StateCancelled || last.Err != reason {
		t.Fatalf("last event %+v", last)
	}
	// The ledger records the end with the reason.
	var finished []string
	if err := e.ledger.Entries(0, e.ledger.Size(), func(_ uint64, b []byte) error {
		var en ledger.Entry
		if err := en.UnmarshalBinary(b); err != nil {
			return err
		}
		if en.Type == ledger.TypeJobFinished {
			ev, err := en.Event()
			if err != nil {
				return err
			}
			finished = append(finished, ev.(*ledger.JobFinished).Err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(finished, []string{reason}) {
		t.Fatalf("job-finished entries %q", finished)
	}
}

func TestJobsRestart(t *testing.T) {
	e := newJobsEnv(t)
	j := e.start()
	reached, release := e.blockAtRound()
	a := e.submit(j, e.alice, e.aliceC, jobsTestJob("resumed", 4, 7, ""))
	<-reached
	b := e.submit(j, e.alice, e.aliceC, jobsTestJob("seeded", 2, 9, ""))
	c := e.submit(j, e.bob, e.bobC, jobsTestJob("unseeded", 2, 0, ""))

	// Shut down while the first job is held after round 1.
	stopped := make(chan struct{})
	go func() { e.shutdownJobs(); close(stopped) }()
	waitFor(t, "the shutdown", func() bool { return j.ctx.Err() != nil })
	close(release)
	<-stopped
	if _, err := j.Submit(context.Background(), e.aliceC, []byte("x"), nil); err == nil {
		t.Fatal("submit after shutdown")
	}
	for _, id := range []engine.JobID{a.ID, b.ID, c.ID} {
		var rec jobRecord
		raw, err := os.ReadFile(filepath.Join(e.dir, "jobs", id.String(), "info.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		want := StateQueued
		if id == a.ID {
			want = StateRunning
		}
		if rec.State != want {
			t.Fatalf("%s after shutdown: %s", rec.Name, rec.State)
		}
	}
	if st, err := e.store.Load(a.ID); err != nil || st.Err != "" || st.Next != 2 {
		t.Fatalf("store after shutdown: %v %+v", err, st)
	}

	// A new service on the same folder and store resumes the first job,
	// proposes the seeded one and fails the one whose seed is lost.
	e.hook.Store(nil)
	j2 := e.start()
	evs := watchAll(t, j2, a.ID)
	if got := committedRounds(evs); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("committed rounds across the restart %v", got)
	}
	if last := evs[len(evs)-1]; last.Phase != StateFinished {
		t.Fatalf("resumed job ended %+v", last)
	}
	e.checkResult(j2, a.ID, 4)
	if last := watchAll(t, j2, b.ID); last[len(last)-1].Phase != StateFinished {
		t.Fatalf("seeded queued job ended %+v", last[len(last)-1])
	}
	e.checkResult(j2, b.ID, 2)
	evs = watchAll(t, j2, c.ID)
	if last := evs[len(evs)-1]; last.Phase != StateFailed || !strings.Contains(last.Err, "sets no seed") {
		t.Fatalf("unseeded queued job ended %+v", last)
	}
	if l := j2.List(); len(l) != 3 || l[0].ID != c.ID || l[2].ID != a.ID {
		t.Fatalf("List after restart: %+v", l)
	}

	// A job the engine finished but whose result was not written when the
	// node stopped: the result is rebuilt from the store.
	e.shutdownJobs()
	files, err := j2.ResultFiles(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	infoPath := filepath.Join(e.dir, "jobs", b.ID.String(), "info.json")
	raw, err := os.ReadFile(infoPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec jobRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Files = StateRunning, nil
	if raw, err = json.Marshal(&rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(infoPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	j3 := e.start()
	if evs := watchAll(t, j3, b.ID); evs[len(evs)-1].Phase != StateFinished || !slices.Equal(committedRounds(evs), []int{1, 2}) {
		t.Fatalf("rebuilt job: %+v", evs[len(evs)-1])
	}
	files3, err := j3.ResultFiles(b.ID)
	if err != nil || len(files3) != len(files) {
		t.Fatalf("rebuilt result: %q, %v", files3, err)
	}
	if again, err := os.ReadFile(files3[1]); err != nil || !bytes.Equal(again, model) {
		t.Fatalf("rebuilt model.json:\n%s\nwant\n%s", again, model)
	}
}

// grpcEnv serves the jobs service over mutual TLS on 127.0.0.1.
func (e *jobsEnv) serve(j *Jobs, researchers []string, allowed []string) string {
	t := e.t
	der, err := SelfSignedCert(e.aggKey, "aggregator", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cfg := TLSConfig(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: e.aggKey, Leaf: leaf}, allowed, nil)
	a := &authorizer{researchers: researchers}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)), grpc.ChainUnaryInterceptor(a.unary), grpc.ChainStreamInterceptor(a.stream))
	RegisterJobs(s, j)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func (e *jobsEnv) client(addr string, key ed25519.PrivateKey, name string) nodepb.JobsClient {
	conn, err := Dial(addr, identity.DID(e.aggKey.Public().(ed25519.PublicKey)), key, name, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return nodepb.NewJobsClient(conn)
}

func TestJobsGRPC(t *testing.T) {
	e := newJobsEnv(t)
	j := e.start()
	eve := jobsKey(0xb3)
	eveC := callerOfKey(eve, "eve")
	addr := e.serve(j, []string{e.aliceC.DID, e.bobC.DID}, []string{e.aliceC.DID, e.bobC.DID, eveC.DID})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice := e.client(addr, e.alice, "alice")

	jobFile := jobsTestJob("over-grpc", 2, 7, "")
	info, err := alice.Submit(ctx, &nodepb.SubmitRequest{JobFile: jobFile, Signature: engine.SignJob(e.alice, jobFile)})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateQueued || info.Researcher != e.aliceC.DID || len(info.Id) != 32 || info.Submitted == 0 {
		t.Fatalf("submitted %v", info)
	}
	w, err := alice.Watch(ctx, &nodepb.WatchRequest{Id: info.Id})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*nodepb.JobEvent
	for {
		ev, err := w.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	var rounds []int32
	for _, ev := range evs {
		if ev.Phase == "committed" {
			rounds = append(rounds, ev.Metrics.Round)
		}
	}
	last := evs[len(evs)-1]
	if !slices.Equal(rounds, []int32{1, 2}) || last.Phase != StateFinished || last.Job.State != StateFinished ||
		last.Metrics.GetRound() != 2 || !(last.Metrics.Accuracy > 0.8) || len(last.Metrics.ModelHash) != 32 || last.Job.Finished == 0 {
		t.Fatalf("events: rounds %v, last %v", rounds, last)
	}

	// A big file among the results is cut into chunks.
	id, err := ParseJobID(info.Id)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*ResultChunkSize+100)/16)
	if err := os.WriteFile(filepath.Join(j.jobDir(id), "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.mu.jobs[id].rec.Files = append(j.mu.jobs[id].rec.Files, "big.bin")
	j.mu.Unlock()
	rs, err := alice.Result(ctx, &nodepb.ResultRequest{Id: info.Id})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	var order []string
	cur := ""
	for {
		c, err := rs.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Data) > ResultChunkSize {
			t.Fatalf("chunk of %d bytes", len(c.Data))
		}
		if (cur == "") != (c.Name != "") {
			t.Fatalf("chunk named %q while in file %q", c.Name, cur)
		}
		if c.Name != "" {
			cur = c.Name
			order = append(order, cur)
		}
		got[cur] = append(got[cur], c.Data...)
		if c.Eof {
			cur = ""
		}
	}
	if cur != "" {
		t.Fatalf("file %s had no eof", cur)
	}
	files, err := j.ResultFiles(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(files) || order[0] != "README.txt" || order[len(order)-1] != "big.bin" {
		t.Fatalf("result streamed %q", order)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[order[i]], b) {
			t.Fatalf("%s: streamed %d bytes, file has %d", order[i], len(got[order[i]]), len(b))
		}
	}

	// Errors and their codes.
	code := func(err error) codes.Code { return status.Code(err) }
	if _, err := alice.Cancel(ctx, &nodepb.CancelRequest{Id: info.Id}); code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel of a finished job: %v", err)
	}
	if _, err := alice.Cancel(ctx, &nodepb.CancelRequest{Id: strings.ToUpper(info.Id)}); code(err) != codes.InvalidArgument {
		t.Fatalf("upper-case ID: %v", err)
	}
	if _, err := alice.Cancel(ctx, &nodepb.CancelRequest{Id: strings.Repeat("0", 32)}); code(err) != codes.NotFound {
		t.Fatalf("unknown ID: %v", err)
	}
	bad := []byte("rounds = -1\n")
	if _, err := alice.Submit(ctx, &nodepb.SubmitRequest{JobFile: bad, Signature: engine.SignJob(e.alice, bad)}); code(err) != codes.InvalidArgument ||
		!strings.Contains(status.Convert(err).Message(), "rounds") {
		t.Fatalf("bad job file: %v", err)
	}
	if _, err := alice.Submit(ctx, &nodepb.SubmitRequest{JobFile: jobFile, Signature: engine.SignJob(e.bob, jobFile)}); code(err) != codes.InvalidArgument {
		t.Fatalf("bad signature: %v", err)
	}

	// Cancel over gRPC: bob may not, alice may.
	reached, release := e.blockAtRound()
	held := jobsTestJob("held", 3, 7, "")
	hinfo, err := alice.Submit(ctx, &nodepb.SubmitRequest{JobFile: held, Signature: engine.SignJob(e.alice, held)})
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	bob := e.client(addr, e.bob, "bob")
	if _, err := bob.Cancel(ctx, &nodepb.CancelRequest{Id: hinfo.Id}); code(err) != codes.PermissionDenied {
		t.Fatalf("bob cancels alice's job: %v", err)
	}
	// A researcher sees, watches and fetches only the jobs they submitted.
	if l, err := bob.List(ctx, &nodepb.ListRequest{}); err != nil || len(l.Jobs) != 0 {
		t.Errorf("bob's List: %v, %v", l, err)
	}
	if w, err := bob.Watch(ctx, &nodepb.WatchRequest{Id: hinfo.Id}); err == nil {
		if _, err = w.Recv(); code(err) != codes.PermissionDenied {
			t.Errorf("bob watches alice's job: %v", err)
		}
	}
	if r, err := bob.Result(ctx, &nodepb.ResultRequest{Id: info.Id}); err == nil {
		if _, err = r.Recv(); code(err) != codes.PermissionDenied {
			t.Errorf("bob fetches alice's result: %v", err)
		}
	}
	l, err := alice.List(ctx, &nodepb.ListRequest{})
	if err != nil || len(l.Jobs) != 2 || l.Jobs[0].Id != hinfo.Id || l.Jobs[1].Id != info.Id {
		t.Errorf("alice's List: %v, %v", l, err)
	}
	hid := mustID(hinfo.Id)
	go func() {
		// Release the job once the cancel has reached it.
		defer close(release)
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
			j.mu.Lock()
			by := j.mu.jobs[hid].cancelledBy
			j.mu.Unlock()
			if by != "" {
				return
			}
		}
	}()
	cinfo, err := alice.Cancel(ctx, &nodepb.CancelRequest{Id: hinfo.Id})
	if err != nil || cinfo.State != StateCancelled || cinfo.Error != "cancelled by "+e.aliceC.DID || cinfo.Round != 1 {
		t.Fatalf("cancel: %v, %v", cinfo, err)
	}
	rs, err = alice.Result(ctx, &nodepb.ResultRequest{Id: hinfo.Id})
	if err == nil {
		_, err = rs.Recv()
	}
	if code(err) != codes.FailedPrecondition {
		t.Fatalf("result of a cancelled job: %v", err)
	}

	// A researcher the TLS layer admits but the config does not list.
	evec := e.client(addr, eve, "eve")
	if _, err := evec.List(ctx, &nodepb.ListRequest{}); code(err) != codes.PermissionDenied {
		t.Fatalf("unlisted researcher: %v", err)
	}
	ws, err := evec.Watch(ctx, &nodepb.WatchRequest{Id: info.Id})
	if err == nil {
		_, err = ws.Recv()
	}
	if code(err) != codes.PermissionDenied {
		t.Fatalf("unlisted researcher watches: %v", err)
	}
}

func mustID(s string) engine.JobID {
	id, err := ParseJobID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func TestParseJobID(t *testing.T) {
	id := engine.JobID{0xde, 0xad, 0xbe, 0xef, 15: 1}
	got, err := ParseJobID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseJobID(%s) = %v, %v", id, got, err)
	}
	for _, s := range []string{"", "deadbeef", strings.ToUpper(id.String()), id.String() + "0", "g" + id.String()[1:], " " + id.String()[1:]} {
		if _, err := ParseJobID(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseJobID(%q): %v", s, err)
		}
	}
}

// FuzzParseJobID: a job ID from a researcher never panics the parser, and
// one it accepts is in its canonical form.
func FuzzParseJobID(f *testing.F) {
	f.Add(engine.JobID{1, 2, 3}.String())
	f.Add(strings.Repeat("f", 32))
	f.Add(strings.Repeat("F", 32))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseJobID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseJobID(%q) = %v", s, id)
		}
	})
}
