package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/federated/dp"
	"github.com/cohort-mpc/cohort/internal/golden"
	"github.com/cohort-mpc/cohort/internal/testjob"
)

func TestSignJob(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	pub := key.Public().(ed25519.PublicKey)
	job := []byte("rounds = 3\n")
	sig := SignJob(key, job)
	if !VerifyJob(pub, job, sig) {
		t.Fatal("a signature does not verify")
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)).Public().(ed25519.PublicKey)
	for name, ok := range map[string]bool{
		"other file": VerifyJob(pub, []byte("rounds = 4\n"), sig),
		"other key":  VerifyJob(other, job, sig),
		"short sig":  VerifyJob(pub, job, sig[:63]),
		"no key":     VerifyJob(nil, job, sig),
		// Signing the file itself, without the context, is not a job signature.
		"no context": VerifyJob(pub, job, ed25519.Sign(key, job)),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
	var p Proposal
	for _, bad := range []*Proposal{
		{Researcher: pub},
		{Signature: sig},
		{Researcher: pub[:31], Signature: sig},
	} {
		if _, err := bad.MarshalBinary(); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
	b, err := (&Proposal{JobFile: job}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 2 // the signed flag
	if err := p.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("signed flag 2: %v", err)
	}
}

func TestSignDecision(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	pub := key.Public().(ed25519.PublicKey)
	d := &Decision{Accept: true, TrainRows: 7, TestRows: 2, Sealing: []byte{1}}
	if err := SignDecision(key, JobID{1}, d); err != nil {
		t.Fatal(err)
	}
	if !VerifyDecision(pub, JobID{1}, d) {
		t.Fatal("a signed decision does not verify")
	}
	for name, change := range map[string]func(d *Decision, id *JobID){
		"another job":  func(_ *Decision, id *JobID) { id[0] = 2 },
		"refusal":      func(d *Decision, _ *JobID) { d.Accept = false },
		"rows":         func(d *Decision, _ *JobID) { d.TrainRows++ },
		"reason":       func(d *Decision, _ *JobID) { d.Reason = "x" },
		"sealing key":  func(d *Decision, _ *JobID) { d.Sealing = []byte{2} },
		"signature":    func(d *Decision, _ *JobID) { d.Signature[0] ^= 1 },
		"no signature": func(d *Decision, _ *JobID) { d.Signature = nil },
	} {
		c := *d
		c.Signature = bytes.Clone(d.Signature)
		id := JobID{1}
		change(&c, &id)
		if VerifyDecision(pub, id, &c) {
			t.Errorf("%s: still verifies", name)
		}
	}
	if _, err := (&Decision{Signature: []byte{1}}).MarshalBinary(); err == nil {
		t.Error("a 1-byte signature encoded")
	}
}

// forgingConn signs the site's decisions with another key.
type forgingConn struct {
	Conn
	key ed25519.PrivateKey
}

func (c forgingConn) Send(ctx context.Context, m *Message) error {
	if m.Kind == KindDecision {
		var d Decision
		if err := d.UnmarshalBinary(m.Body); err != nil {
			return err
		}
		if err := SignDecision(c.key, m.Job, &d); err != nil {
			return err
		}
		b, err := d.MarshalBinary()
		if err != nil {
			return err
		}
		m = &Message{Job: m.Job, Kind: m.Kind, Round: m.Round, Attempt: m.Attempt, Body: b}
	}
	return c.Conn.Send(ctx, m)
}

// TestForgedDecisionRefused: an acceptance not signed by the site's own
// key counts as a refusal with that reason, and the job's state keeps
// each site's signed decision.
func TestForgedDecisionRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testBackend(t)
	sim, err := NewSimulation(SimConfig{JobFile: demoJob("secagg", 1, ""), Sites: 3, Seed: 4, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, shutdown, err := NewAggregator(AggregatorConfig{Backend: b, Store: store, Seed: [32]byte{1}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	forger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	for i, s := range sim.Sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sctx.Err() == nil {
				c, err := sim.Net.Dial(sctx, SimAddr, s.cfg.Self)
				if err != nil {
					continue
				}
				if i == 0 {
					c = forgingConn{Conn: c, key: forger}
				}
				s.Serve(sctx, c)
				c.Close()
			}
		}()
	}
	res, err := a.Run(ctx, sim.cfg.JobFile, sim.Peers)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Sites[0]; s.Accepted || s.Reason != "the decision does not carry the site's signature" {
		t.Errorf("the forged site: accepted %v, reason %q", s.Accepted, s.Reason)
	}
	st, err := store.Load(res.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range st.Decisions[1:] {
		if !d.Accept || !VerifyDecision(sim.Peers[i+1].Key, res.ID, &d) {
			t.Errorf("site %d: the stored decision is not its signed acceptance: %+v", i+1, d)
		}
	}
}

// siteLog records what a site's SiteRecorder receives.
type siteLog struct {
	mu       sync.Mutex
	decided  []SiteDecided
	spent    []BudgetSpent
	failNext bool
}

func (l *siteLog) SiteDecided(_ context.Context, e *SiteDecided) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext {
		l.failNext = false
		return errors.New("disk full")
	}
	l.decided = append(l.decided, *e)
	return nil
}

func (l *siteLog) BudgetSpent(_ context.Context, e *BudgetSpent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spent = append(l.spent, *e)
	return nil
}

// dataFunc adapts a function to DataSource.
type dataFunc func(ctx context.Context, job *Job) (SiteData, error)

func (f dataFunc) SiteData(ctx context.Context, job *Job) (SiteData, error) { return f(ctx, job) }

// TestSiteNodeHooks runs signed jobs on sites whose rows come from a
// DataSource and whose decisions and ε charges go to a SiteRecorder: the
// policy sees the researcher and the data, every decision is recorded
// before it is sent, every charge after it is made, and a bad signature, a
// data source's refusal and a recorder's failure each refuse the job with
// the reason.
func TestSiteNodeHooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testBackend(t)
	job := demoJob("secagg", 2, "[dp.record]\nepsilon = 2.0\ndelta = 1e-5\nclip = 1.0\n")
	sim, err := NewSimulation(SimConfig{JobFile: job, Sites: 3, Seed: 4, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	researcher := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	logs := make([]*siteLog, 3)
	var refuse sync.Map // site index → reason its DataSource gives
	for i, s := range sim.Sites {
		logs[i] = &siteLog{}
		rows := s.cfg.Data
		s.cfg.Data = SiteData{}
		s.cfg.Recorder = logs[i]
		s.cfg.Ledger = dp.NewMemoryLedger(math.Inf(1))
		s.cfg.Datasets = dataFunc(func(_ context.Context, j *Job) (SiteData, error) {
			if r, ok := refuse.Load(i); ok {
				return SiteData{}, errors.New(r.(string))
			}
			if j.Dataset.Name != BreastCancer {
				t.Errorf("the data source is asked for %q", j.Dataset.Name)
			}
			return SiteData{Dataset: "bc-local", Train: rows.Train, Test: rows.Test}, nil
		})
		s.cfg.Policy = PolicyFunc(func(_ context.Context, p *Proposed) error {
			if !p.Researcher.Equal(researcher.Public()) {
				return errors.New("unknown researcher")
			}
			if p.Data.Dataset != "bc-local" || p.Data.Train != rows.Train {
				t.Errorf("the policy sees data %q", p.Data.Dataset)
			}
			return nil
		})
	}
	ln, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	a, shutdown, err := NewAggregator(AggregatorConfig{Backend: b, Seed: [32]byte{1}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	stop := sim.Start(ctx)
	defer stop()
	by := &Submitter{Key: researcher.Public().(ed25519.PublicKey), Signature: SignJob(researcher, job)}

	// A signature of another file is refused by Prepare.
	if _, err := a.Prepare(job, sim.Peers, &Submitter{Key: by.Key, Signature: SignJob(researcher, []byte("x"))}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Prepare with a bad signature: %v", err)
	}
	p, err := a.Prepare(job, sim.Peers, by)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.RunPrepared(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != p.ID {
		t.Errorf("ran %v, prepared %v", res.ID, p.ID)
	}
	for i, l := range logs {
		if len(l.decided) != 1 || !l.decided[0].Accept || l.decided[0].Job != [16]byte(p.ID) || l.decided[0].Rows == 0 {
			t.Errorf("site %d recorded decisions %+v", i, l.decided)
		}
		spent, _ := sim.Sites[i].cfg.Ledger.Spent("bc-local")
		if len(l.spent) == 0 || l.spent[len(l.spent)-1].Total != spent || l.spent[0].Dataset != "bc-local" {
			t.Errorf("site %d recorded charges %+v, its budget says %v", i, l.spent, spent)
		}
		sum := 0.0
		for _, e := range l.spent {
			sum += e.Epsilon
		}
		if math.Abs(sum-spent) > 1e-12 || !(spent > 0 && spent <= 2.0+1e-9) {
			t.Errorf("site %d: charges sum to %v, budget %v", i, sum, spent)
		}
	}

	// Refusals: the data source's, and a recorder that cannot record.
	refuse.Store(1, "no dataset named breast_cancer here")
	logs[2].failNext = true
	job2 := append(bytes.Clone(job), []byte("# again\n")...)
	_, err = a.RunPrepared(ctx, mustPrepare(t, a, job2, sim.Peers, researcher))
	if err == nil {
		t.Fatal("a job two sites refuse ran")
	}
	if got := logs[1].decided[len(logs[1].decided)-1]; got.Accept || !strings.Contains(got.Reason, "no dataset named breast_cancer here") {
		t.Errorf("site 1 recorded %+v", got)
	}
	if n := len(logs[2].decided); n != 1 {
		t.Errorf("site 2 has %d decisions recorded, want the first only (it could not record the second)", n)
	}
	if !strings.Contains(err.Error(), "could not record its decision") || !strings.Contains(err.Error(), "no dataset named") {
		t.Errorf("the job's error does not give the sites' reasons: %v", err)
	}
}

func mustPrepare(t *testing.T, a *Aggregator, job []byte, roster []Peer, key ed25519.PrivateKey) *Prepared {
	t.Helper()
	p, err := a.Prepare(job, roster, &Submitter{Key: key.Public().(ed25519.PublicKey), Signature: SignJob(key, job)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGoldenSignedBodies pins the encodings of a signed proposal and a
// signed decision (docs/wire/node.md §3 and §4), signatures included:
// Ed25519 is deterministic, so the bytes are fixed by the keys.
func TestGoldenSignedBodies(t *testing.T) {
	researcher := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x11}, 32))
	site := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x22}, 32))
	job := []byte("name = \"golden\"\nrounds = 1\n")
	p := &Proposal{JobFile: job, Seed: 0x0102030405060708,
		Roster:     []Peer{{Name: "site", Key: site.Public().(ed25519.PublicKey)}},
		Researcher: researcher.Public().(ed25519.PublicKey), Signature: SignJob(researcher, job)}
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "wire", "signed-proposal.hex"), pb, false)
	d := &Decision{Accept: true, Reason: "", TrainRows: 100, TestRows: 25}
	if err := SignDecision(site, ProposalID(pb), d); err != nil {
		t.Fatal(err)
	}
	db, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "wire", "signed-decision.hex"), db, false)
	// The signed parts, by hand.
	if !bytes.Equal(pb[len(pb)-97:len(pb)-96], []byte{1}) || !bytes.Equal(pb[len(pb)-96:len(pb)-64], p.Researcher) {
		t.Errorf("the proposal does not end with flag 1, the researcher key and the signature")
	}
	msg := append([]byte("cohort-job/v1\n"), sha256Sum(job)...)
	if !ed25519.Verify(p.Researcher, msg, pb[len(pb)-64:]) {
		t.Errorf("the proposal's signature is not over \"cohort-job/v1\\n\" || SHA-256(job file)")
	}
	unsigned := bytes.Clone(db[:len(db)-68])
	unsigned = append(unsigned, 0, 0, 0, 0)
	id := ProposalID(pb)
	if !ed25519.Verify(site.Public().(ed25519.PublicKey), append(append([]byte("cohort-decision/v1\n"), id[:]...), unsigned...), db[len(db)-64:]) {
		t.Errorf("the decision's signature is not over the documented message")
	}
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// TestRestartedSiteLeavesJob: a site that restarts mid-job (a new Site
// with the same key, which lost the job's state) answers the job's next
// round with KindGone; the aggregator leaves it out of the job's further
// rounds instead of failing them, and the job finishes with the others.
func TestRestartedSiteLeavesJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testBackend(t)
	job := testjob.Spec{Seed: 3, Rounds: 5, Mode: "secagg", Quorum: 2}.File()
	sim, err := NewSimulation(SimConfig{JobFile: job, Sites: 3, Seed: 6, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	restart := make(chan struct{})
	var once sync.Once
	a, shutdown, err := NewAggregator(AggregatorConfig{Backend: b, Seed: [32]byte{2}, Progress: func(p Progress) {
		if p.Phase == "committed" && p.Round == 2 {
			once.Do(func() { close(restart) })
		}
	}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i, s := range sim.Sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i != 2 {
				s.Run(sctx, sim.Net, SimAddr)
				return
			}
			first, cancelFirst := context.WithCancel(sctx)
			go func() { <-restart; cancelFirst() }()
			s.Run(first, sim.Net, SimAddr)
			fresh, err := NewSite(s.cfg) // the same key and rows, no jobs
			if err != nil {
				t.Error(err)
				return
			}
			fresh.Run(sctx, sim.Net, SimAddr)
		}()
	}
	res, err := a.Run(ctx, job, sim.Peers)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rounds {
		want := 3
		if r.Round > 2 {
			want = 2
		}
		if len(r.Contributors) != want {
			t.Errorf("round %d: %d contributors, want %d", r.Round, len(r.Contributors), want)
		}
	}
	if n := res.Sites[2].Rounds; n != 2 {
		t.Errorf("the restarted site contributed to %d rounds, want 2", n)
	}
}
