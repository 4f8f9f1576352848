package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/node/nodepb"
	"github.com/cohort-mpc/cohort/tensor"
)

// Files of a node folder besides the identity, config and ledger.
const (
	// AddrFile holds the address the node's gRPC server listens on, once
	// it does: with listen = "127.0.0.1:0" the system picks the port.
	AddrFile = "node.addr"
	// MetricsAddrFile holds the address of the metrics endpoint.
	MetricsAddrFile = "metrics.addr"
	// JobsDir holds an aggregator's job folders; StoreDir its job states.
	JobsDir  = "jobs"
	StoreDir = "jobstore"
)

// Options are the parts of a node that are not in its folder.
type Options struct {
	// Log receives the node's structured logs (nil: discarded).
	Log *slog.Logger
	// Backend runs the tensor kernels (nil: the CPU backend on every core).
	Backend tensor.Backend
	// Seed, if not zero, keys every random choice the node's participant
	// makes (engine.SiteConfig.Seed), so that a run can be reproduced
	// exactly. Only for tests: with a known seed the privacy noise is
	// known too.
	Seed [32]byte
}

// Node is a running node: an aggregator (its config has listen) serving
// participants and researchers over gRPC, a participant (its config has
// aggregators) working for them, or both.
type Node struct {
	cfg  *Config
	dir  string
	did  string
	log  *slog.Logger
	addr string

	ledger  *ledger.Log
	stats   *TransportStats
	tasks   *TaskServer
	grpc    *grpc.Server
	health  *health.Server
	store   *engine.Store
	jobs    *Jobs
	metrics *http.Server

	// stops holds what Shutdown undoes, last first.
	stops []func() error
	// serving is closed when the servers' goroutines have returned.
	wg sync.WaitGroup
}

// Start runs the node of folder dir until Shutdown. The order of shutdown
// is the reverse of start: participants stop dialling, the running job is
// interrupted (its state stays resumable; a restarted node resumes it),
// the aggregator closes its connections, the gRPC server stops, then the
// job store and the ledger close.
func Start(ctx context.Context, dir string, opt Options) (_ *Node, err error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	key, err := identity.LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	cert, err := LoadTLS(dir)
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	n := &Node{cfg: cfg, dir: dir, did: identity.DID(pub), log: opt.Log, stats: new(TransportStats)}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("node", cfg.Name)
	defer func() {
		if err != nil {
			n.Shutdown(context.Background())
		}
	}()
	backend := opt.Backend
	if backend == nil {
		cpu, stop, err := tensor.NewCPU(tensor.CPUConfig{})
		if err != nil {
			return nil, err
		}
		n.stops = append(n.stops, func() error { stop(); return nil })
		backend = cpu
	}
	if n.ledger, err = ledger.Open(filepath.Join(dir, LedgerDir), key, nil); err != nil {
		return nil, err
	}
	n.stops = append(n.stops, n.ledger.Close)
	n.stops = append(n.stops, n.signCheckpoints())
	self := engine.Peer{Name: cfg.Name, Key: pub}

	if cfg.Listen != "" {
		if err := n.startAggregator(self, cert, backend); err != nil {
			return nil, err
		}
	}
	if len(cfg.Aggregators) > 0 {
		if err := n.startParticipant(self, key, cert, backend, opt.Seed); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics != "" {
		if err := n.startMetrics(); err != nil {
			return nil, err
		}
	}
	n.log.Info("node started", "did", n.did, "listen", n.addr, "aggregators", len(cfg.Aggregators), "ledger", n.ledger.Size())
	return n, nil
}

func (n *Node) startAggregator(self engine.Peer, cert tls.Certificate, backend tensor.Backend) error {
	allowed := slices.Concat(n.cfg.Peers, n.cfg.Researchers)
	tcfg := TLSConfig(cert, allowed, func(did string, err error) {
		n.log.Warn("refused a peer at the TLS handshake", "did", did, "err", err)
	})
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("node: listen on %s: %w", n.cfg.Listen, err)
	}
	n.addr = ln.Addr().String()
	n.tasks = NewTaskServer(n.addr, n.stats, n.log)
	auth := &authorizer{sites: n.cfg.Peers, researchers: n.cfg.Researchers}
	n.grpc = grpc.NewServer(serverOptions(tcfg, auth, n.log)...)
	nodepb.RegisterTasksServer(n.grpc, n.tasks)
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.grpc, n.health)
	reflection.Register(n.grpc)

	if n.store, err = engine.OpenStore(filepath.Join(n.dir, StoreDir)); err != nil {
		ln.Close()
		return err
	}
	n.stops = append(n.stops, n.store.Close)
	// The aggregator reports progress to the jobs service, which is made
	// after it and may resume a job before NewJobs returns: progress
	// before then is not reported (a resumed job's first events).
	var jobsRef atomic.Pointer[Jobs]
	agg, stopAgg, err := engine.NewAggregator(engine.AggregatorConfig{
		Self: self, Backend: backend, Store: n.store, Recorder: n.ledger, Checkpoints: n.ledger,
		Progress: func(p engine.Progress) {
			if jobs := jobsRef.Load(); jobs != nil {
				jobs.Progress(p)
			}
		},
		Log: n.log,
	}, n.tasks)
	if err != nil {
		ln.Close()
		return err
	}
	n.stops = append(n.stops, func() error {
		n.health.Shutdown()
		stopped := make(chan struct{})
		go func() { n.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			n.grpc.Stop()
		}
		return nil
	})
	n.stops = append(n.stops, func() error { stopAgg(); return nil })
	jobs, stopJobs, err := NewJobs(JobsConfig{
		Aggregator: agg, Store: n.store, Dir: filepath.Join(n.dir, JobsDir), Ledger: n.ledger, Log: n.log,
		Roster: func() []engine.Peer { return n.roster() },
	})
	if err != nil {
		ln.Close()
		return err
	}
	n.jobs = jobs
	jobsRef.Store(jobs)
	n.stops = append(n.stops, func() error { stopJobs(); return nil })
	RegisterJobs(n.grpc, jobs)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("gRPC server stopped", "err", err)
		}
	}()
	n.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	n.health.SetServingStatus("cohort.node.v1.Tasks", healthpb.HealthCheckResponse_SERVING)
	n.health.SetServingStatus("cohort.node.v1.Jobs", healthpb.HealthCheckResponse_SERVING)
	if err := writeAtomic(n.dir, AddrFile, []byte(n.addr+"\n")); err != nil {
		return err
	}
	return nil
}

// roster is the participants to propose a job to: those connected now that
// the config lists as peers, in did:key order.
func (n *Node) roster() []engine.Peer {
	var out []engine.Peer
	for _, p := range n.tasks.Connected() {
		if slices.Contains(n.cfg.Peers, identity.DID(p.Key)) {
			out = append(out, p)
		}
	}
	return out
}

func (n *Node) startParticipant(self engine.Peer, key ed25519.PrivateKey, cert tls.Certificate, backend tensor.Backend, seed [32]byte) error {
	if seed != ([32]byte{}) {
		n.log.Warn("running with a fixed seed: every random choice, privacy noise included, is predictable; only for tests")
	}
	reg, err := OpenRegistry(n.dir)
	if err != nil {
		return err
	}
	budget, err := OpenBudget(n.ledger, n.cfg.EpsilonCaps())
	if err != nil {
		return err
	}
	site, err := engine.NewSite(engine.SiteConfig{
		Self: self, Signer: key, Datasets: reg, Policy: NewPolicy(n.cfg, budget), Ledger: budget,
		Backend: backend, Witness: n.ledger, Recorder: n.ledger, Log: n.log, Seed: seed,
	})
	if err != nil {
		return err
	}
	dids := map[string]string{}
	for _, a := range n.cfg.Aggregators {
		dids[a.Address] = a.DID
	}
	dialer := NewDialer(cert, dids, n.stats, n.log)
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, a := range n.cfg.Aggregators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.log.Info("working for aggregator", "addr", a.Address, "did", a.DID)
			site.Run(runCtx, dialer, a.Address)
		}()
	}
	n.stops = append(n.stops, func() error {
		cancel()
		wg.Wait()
		return dialer.Close()
	})
	return nil
}

// checkpointEvery is how often a node signs a checkpoint of its ledger
// when entries were added since the last one.
const checkpointEvery = 2 * time.Second

// signCheckpoints signs a checkpoint of the node's ledger every
// checkpointEvery while entries are being added, so that what the node
// recorded (its decisions, its ε charges, what it witnessed) is covered by
// its signature within seconds. The returned function stops it and signs a
// last checkpoint.
func (n *Node) signCheckpoints() func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	signed := uint64(0)
	sign := func(ctx context.Context) error {
		if size := n.ledger.Size(); size != signed {
			if _, err := n.ledger.Checkpoint(ctx); err != nil {
				return err
			}
			signed = size
		}
		return nil
	}
	go func() {
		defer close(done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := sign(ctx); err != nil && ctx.Err() == nil {
					n.log.Error("cannot sign a ledger checkpoint", "err", err)
				}
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		return sign(context.Background())
	}
}

// Addr is the address the node's gRPC server listens on, or "" if it does
// not listen.
func (n *Node) Addr() string { return n.addr }

// DID is the node's did:key.
func (n *Node) DID() string { return n.did }

// Connected returns the participants with a task stream open to the node
// now, sorted by did:key, or nil if the node does not aggregate.
func (n *Node) Connected() []engine.Peer {
	if n.tasks == nil {
		return nil
	}
	return n.tasks.Connected()
}

// Shutdown stops the node in the reverse order of Start; see Start.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(n.stops) - 1; i >= 0; i-- {
		errs = append(errs, n.stops[i]())
	}
	n.stops = nil
	n.wg.Wait()
	if n.addr != "" {
		os.Remove(filepath.Join(n.dir, AddrFile))
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}
