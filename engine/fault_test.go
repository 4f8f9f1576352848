package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultNet wraps a MemNetwork: a site named victim dies (its connection
// closes and it can never dial again) when it is about to send a message
// of kind in round.
type faultNet struct {
	*MemNetwork
	victim string
	kind   Kind
	round  uint32

	mu   sync.Mutex
	dead bool
}

func (f *faultNet) Dial(ctx context.Context, addr string, self Peer) (Conn, error) {
	f.mu.Lock()
	dead := f.dead && self.Name == f.victim
	f.mu.Unlock()
	if dead {
		return nil, fmt.Errorf("%w: %s is dead", ErrClosed, self.Name)
	}
	c, err := f.MemNetwork.Dial(ctx, addr, self)
	if err != nil || self.Name != f.victim {
		return c, err
	}
	return &faultConn{Conn: c, f: f}, nil
}

type faultConn struct {
	Conn
	f *faultNet
}

func (c *faultConn) Send(ctx context.Context, m *Message) error {
	if m.Kind == c.f.kind && m.Round == c.f.round {
		c.f.mu.Lock()
		c.f.dead = true
		c.f.mu.Unlock()
		c.Conn.Close()
		return ErrClosed
	}
	return c.Conn.Send(ctx, m)
}

// runSim runs a job over sim's sites with the given transport.
func runSim(t *testing.T, ctx context.Context, sim *Simulation, tr Transport, job []byte, agg AggregatorConfig) (*Result, error) {
	t.Helper()
	ln, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if agg.Backend == nil {
		agg.Backend = sim.cfg.Backend
	}
	a, shutdown, err := NewAggregator(agg, ln)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range sim.Sites {
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(sctx, tr, SimAddr) }()
	}
	defer func() { cancel(); wg.Wait() }()
	return a.Run(ctx, job, sim.Peers)
}

// TestDropoutEachPhase kills one of four sites at each message it sends in
// round 2 (or in setup), in each privacy mode: the job must finish, the
// victim must be missing from the rounds after, and the model must still
// learn.
func TestDropoutEachPhase(t *testing.T) {
	cases := map[string][]struct {
		kind  Kind
		round uint32
	}{
		"plain":  {{KindDecision, 0}, {KindPlainVector, 0}, {KindPlainVector, 2}},
		"secagg": {{KindSAAdvertise, 0}, {KindSAMasked, 0}, {KindSAAdvertise, 2}, {KindSAShareKeys, 2}, {KindSAMasked, 2}, {KindSAConsistency, 2}, {KindSAUnmask, 2}},
		"mhe":    {{KindMHEKeyGen, 0}, {KindMHEReady, 0}, {KindMHEVector, 2}, {KindMHERelease, 2}},
	}
	for mode, faults := range cases {
		for _, f := range faults {
			t.Run(fmt.Sprintf("%s/%v/round%d", mode, f.kind, f.round), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				job := demoJob(mode, 3, "")
				if mode == "secagg" {
					job = demoJobSecagg4(3)
				}
				sites := 4
				if mode == "secagg" {
					sites = 5
				}
				sim, err := NewSimulation(SimConfig{JobFile: job, Sites: sites, Seed: 3, Backend: testBackend(t)})
				if err != nil {
					t.Fatal(err)
				}
				net := &faultNet{MemNetwork: sim.Net, victim: sim.Peers[1].Name, kind: f.kind, round: f.round}
				res, err := runSim(t, ctx, sim, net, job, AggregatorConfig{Seed: [32]byte{2}, Log: testLog(t), Reconnect: 20 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				if !net.dead {
					t.Fatal("the fault never fired")
				}
				for _, r := range res.Rounds {
					// After its masked input is in, a dead site still contributes;
					// an mhe release it was active in is lost and retried without it.
					want := r.Round < int(f.round) || r.Round == int(f.round) && (f.kind == KindSAConsistency || f.kind == KindSAUnmask)
					if got := slices.Contains(r.Contributors, 1); got != want {
						t.Errorf("round %d: victim among contributors %v = %v, want %v", r.Round, r.Contributors, got, want)
					}
					if len(r.Contributors) < 3 {
						t.Errorf("round %d: contributors %v", r.Round, r.Contributors)
					}
				}
				last := res.Rounds[len(res.Rounds)-1].Test
				if !(last.Accuracy > 0.85) {
					t.Errorf("final accuracy %v", last.Accuracy)
				}
			})
		}
	}
}

func demoJobSecagg4(rounds int) []byte {
	// With five sites: the complete graph (k = 4) with threshold 3, so one
	// site may drop at any step.
	return bytes.Replace(demoJob("secagg", rounds, ""), []byte("k = 2\nt = 2"), []byte("k = 4\nt = 3"), 1)
}

// TestBelowQuorum: with a quorum of every site, one death fails the job
// after its retries, with a reason naming the quorum.
func TestBelowQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	job := demoJob("plain", 3, "[sites]\nquorum = 3\n")
	sim, err := NewSimulation(SimConfig{JobFile: job, Sites: 3, Seed: 3, Backend: testBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	net := &faultNet{MemNetwork: sim.Net, victim: sim.Peers[0].Name, kind: KindPlainVector, round: 2}
	rec := &MemoryRecorder{}
	_, err = runSim(t, ctx, sim, net, job, AggregatorConfig{Recorder: rec, Reconnect: 20 * time.Millisecond})
	if !errors.Is(err, ErrQuorum) {
		t.Fatalf("got %v, want ErrQuorum", err)
	}
	_, _, rounds, fin := rec.Events()
	if len(rounds) != 1 || len(fin) != 1 || fin[0].Err == "" {
		t.Fatalf("recorded %d rounds and %+v", len(rounds), fin)
	}
}

// TestResume stops the aggregator after round 2 (between rounds) and in
// the middle of round 3, restarts it on the same store, and checks that
// the final model is identical to an uninterrupted run's.
func TestResume(t *testing.T) {
	for _, mode := range []string{"plain", "secagg", "mhe"} {
		for _, stopAt := range []string{"committed", "masked input", "setup"} {
			if stopAt == "masked input" && mode != "secagg" {
				continue
			}
			t.Run(mode+"/"+stopAt, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				job := demoJob(mode, 4, "[dp.record]\nepsilon = 5.0\n")
				cfg := SimConfig{JobFile: job, Sites: 3, Seed: 5, Partition: "dirichlet:0.5", Backend: testBackend(t)}
				want, err := Simulate(ctx, cfg, AggregatorConfig{Seed: [32]byte{9}})
				if err != nil {
					t.Fatal(err)
				}
				got := resumed(t, ctx, cfg, job, stopAt)
				if stopAt == "setup" && mode == "mhe" {
					// A new collective key: the same model up to CKKS's error.
					for i := range got.Params {
						if math.Abs(got.Params[i]-want.Params[i]) > 1e-4 {
							t.Fatalf("parameter %d: %v resumed, %v uninterrupted", i, got.Params[i], want.Params[i])
						}
					}
					return
				}
				if !slices.Equal(got.Params, want.Params) {
					t.Fatalf("resumed model differs: %v vs %v", got.Params[:3], want.Params[:3])
				}
				if len(got.Rounds) != len(want.Rounds) {
					t.Fatalf("%d rounds, want %d", len(got.Rounds), len(want.Rounds))
				}
				for i := range got.Rounds {
					if got.Rounds[i].ModelHash != want.Rounds[i].ModelHash || got.Rounds[i].Test != want.Rounds[i].Test {
						t.Errorf("round %d differs", i+1)
					}
				}
				if e := got.Sites[0].Epsilon; !(e > 0 && e <= 5+1e-9) || math.IsNaN(e) {
					t.Errorf("ε %v", e)
				}
			})
		}
	}
}

func resumed(t *testing.T, ctx context.Context, cfg SimConfig, job []byte, stopAt string) *Result {
	t.Helper()
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sim, err := NewSimulation(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopSites := sim.Start(ctx)
	defer stopSites()

	// First aggregator: cancelled at stopAt in round 3 (or after round 2
	// commits).
	ln, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	var id JobID
	a1, shutdown1, err := NewAggregator(AggregatorConfig{Backend: cfg.Backend, Store: store, Seed: [32]byte{9}, Progress: func(p Progress) {
		id = p.Job
		if stopAt == "committed" && p.Phase == "committed" && p.Round == 2 || p.Phase == stopAt && p.Round == 3 && p.Done == 2 ||
			stopAt == "setup" && p.Round == 0 && p.Phase != "proposal" {
			acancel()
		}
	}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Run(actx, job, sim.Peers); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	shutdown1()
	st, err := store.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]uint32{true: 0, false: 3}[stopAt == "setup"]; st.Next != want || st.Err != "" {
		t.Fatalf("persisted next round %d (error %q), want %d", st.Next, st.Err, want)
	}

	ln2, err := sim.Listen()
	if err != nil {
		t.Fatal(err)
	}
	a2, shutdown2, err := NewAggregator(AggregatorConfig{Backend: cfg.Backend, Store: store, Seed: [32]byte{9}}, ln2)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown2()
	res, err := a2.Resume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
