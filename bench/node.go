package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/node"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/testdata/datasets"
)

func nodeSuite() Suite {
	return Suite{
		Name: "node",
		Doc:  "the gRPC node transport over loopback mutual TLS: a 10^7-parameter model transfer against raw TLS, and federated rounds against the in-process network",
		Run:  runNode,
	}
}

// The size of the model the transfer case moves (in parameters), full and
// with Quick.
const (
	nodeTransferParams      = 10_000_000
	nodeTransferParamsQuick = 100_000
)

// nodeRoundSizes are the model sizes (in parameters) the round cases train.
func nodeRoundSizes(quick bool) []int {
	if quick {
		return []int{1_000, 10_000}
	}
	return []int{1_000, 1_000_000}
}

// nodeSites is the number of sites of the round cases.
const nodeSites = 3

func runNode(ctx context.Context, opt Options, emit func(Result)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	params := nodeTransferParams
	if opt.Quick {
		params = nodeTransferParamsQuick
	}
	if err := benchTransfer(ctx, params, opt.reps(), emit); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	b, shutdown, err := tensor.NewCPU(tensor.CPUConfig{Workers: opt.Workers})
	if err != nil {
		return err
	}
	defer shutdown()
	for _, d := range nodeRoundSizes(opt.Quick) {
		if err := benchRound(ctx, b, d, opt.reps(), emit); err != nil {
			return fmt.Errorf("round of %d parameters: %w", d, err)
		}
	}
	return nil
}

// nodeKey is the fixed key of party i of the suite (the aggregator is 100).
func nodeKey(i int) ed25519.PrivateKey {
	var seed [32]byte
	seed[0], seed[1] = byte(i), 0xbe
	return ed25519.NewKeyFromSeed(seed[:])
}

func nodePeer(k ed25519.PrivateKey, name string) engine.Peer {
	return engine.Peer{Name: name, Key: k.Public().(ed25519.PublicKey)}
}

// benchTransfer moves one model of params float64s (in a KindPlainVector
// message) between an aggregator and a site, both ways, over the gRPC
// Loopback and over engine.MemNetwork, and the same bytes over a bare TLS
// connection with the node's TLS settings, each the median of reps.
func benchTransfer(ctx context.Context, params, reps int, emit func(Result)) error {
	agg, site := nodeKey(100), nodeKey(0)
	aggPeer, sitePeer := nodePeer(agg, "aggregator"), nodePeer(site, "site-1")

	lb, err := node.NewLoopback(agg, []ed25519.PrivateKey{site}, nil)
	if err != nil {
		return err
	}
	defer lb.Close()
	gs, ga, err := connect(ctx, lb.Transport(0), lb.Listener(), sitePeer)
	if err != nil {
		return fmt.Errorf("gRPC loopback: %w", err)
	}
	defer gs.Close()
	defer ga.Close()

	mem := engine.NewMemNetwork()
	ln, err := mem.Listen("aggregator", aggPeer)
	if err != nil {
		return err
	}
	defer ln.Close()
	ms, ma, err := connect(ctx, mem, ln, sitePeer)
	if err != nil {
		return fmt.Errorf("in-process network: %w", err)
	}
	defer ms.Close()
	defer ma.Close()

	body := make([]byte, 8*params)
	rng := mrand.New(mrand.NewPCG(8, 8))
	for i := 0; i+8 <= len(body); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			body[i+j] = byte(v >> (8 * j))
		}
	}
	pipe, err := newTLSPipe(ctx, agg, site, len(body))
	if err != nil {
		return fmt.Errorf("raw TLS: %w", err)
	}
	defer pipe.Close()

	msg := &engine.Message{Kind: engine.KindPlainVector, Round: 1, Body: body}
	var first error
	move := func(from, to engine.Conn) timed {
		return func() {
			if first == nil {
				first = transfer(ctx, from, to, msg)
			}
		}
	}
	raw := func() {
		if first == nil {
			first = pipe.copy(body)
		}
	}
	d, err := medians(ctx, reps, move(ga, gs), move(gs, ga), move(ma, ms), move(ms, ma), raw)
	if err == nil {
		err = first
	}
	if err != nil {
		return err
	}
	n := len(body)
	note := fmt.Sprintf("%d float64s (%d bytes) in one message; Loopback gRPC, mutual TLS over 127.0.0.1, %d-byte frames",
		params, n, engine.MaxFrame)
	for i, dir := range []string{"transfer-agg-to-site", "transfer-site-to-agg"} {
		got, tlsRate, memRate := rate(n, d[i]), rate(n, d[4]), rate(n, d[i+2])
		emit(Result{Suite: "node", Case: dir, N: params, Metric: "throughput", Value: got, Unit: "B/s",
			Limit: tlsRate, Ratio: got / tlsRate,
			Note: note + "; limit: the same bytes over bare TLS 1.3 (" + pipe.suite + ", the node's TLS settings) on 127.0.0.1 TCP"})
		emit(Result{Suite: "node", Case: dir, N: params, Metric: "vs-memnetwork", Value: got, Unit: "B/s",
			Limit: memRate, Ratio: got / memRate,
			Note: "limit: the same message through engine.MemNetwork (same framing, in process)"})
	}
	return nil
}

// connect dials the site self through t and accepts it on ln, returning
// the site's end and the aggregator's.
func connect(ctx context.Context, t engine.Transport, ln engine.Listener, self engine.Peer) (site, agg engine.Conn, err error) {
	type accepted struct {
		c   engine.Conn
		err error
	}
	ac := make(chan accepted, 1)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		c, err := ln.Accept(actx)
		ac <- accepted{c, err}
	}()
	site, err = t.Dial(ctx, ln.Addr(), self)
	if err != nil {
		cancel()
		if a := <-ac; a.err == nil {
			a.c.Close()
		}
		return nil, nil, err
	}
	a := <-ac
	if a.err != nil {
		site.Close()
		return nil, nil, a.err
	}
	return site, a.c, nil
}

// transfer sends m from one end and receives it at the other, checking
// that it arrived whole.
func transfer(ctx context.Context, from, to engine.Conn, m *engine.Message) error {
	errc := make(chan error, 1)
	go func() { errc <- from.Send(ctx, m) }()
	got, err := to.Recv(ctx)
	if err != nil {
		from.Close() // unblocks a Send stuck on a dead connection
		<-errc
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if got.Kind != m.Kind || got.Round != m.Round || len(got.Body) != len(m.Body) {
		return fmt.Errorf("sent a %v message of %d bytes, received a %v message of %d bytes",
			m.Kind, len(m.Body), got.Kind, len(got.Body))
	}
	// A full comparison would be timed too: check one byte in every
	// frame's worth, and the last.
	for i := 0; i < len(m.Body); i += engine.MaxFrame - 1 {
		if got.Body[i] != m.Body[i] {
			return fmt.Errorf("byte %d of the body arrived changed", i)
		}
	}
	if n := len(m.Body); n > 0 && got.Body[n-1] != m.Body[n-1] {
		return errors.New("the last byte of the body arrived changed")
	}
	return nil
}

// tlsPipe is a bare TLS connection over 127.0.0.1 TCP with the TLS
// settings of a node (node.TLSConfig: TLS 1.3, mutual authentication,
// pinned Ed25519 keys): the limit of what the gRPC transport can carry.
type tlsPipe struct {
	client, server *tls.Conn
	dst            []byte
	suite          string
}

func newTLSPipe(ctx context.Context, server, client ed25519.PrivateKey, size int) (*tlsPipe, error) {
	sc, err := node.Certificate(server, "aggregator", rand.Reader)
	if err != nil {
		return nil, err
	}
	cc, err := node.Certificate(client, "site-1", rand.Reader)
	if err != nil {
		return nil, err
	}
	did := func(k ed25519.PrivateKey) string { return identity.DID(k.Public().(ed25519.PublicKey)) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	type accepted struct {
		c   *tls.Conn
		err error
	}
	done := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- accepted{nil, err}
			return
		}
		s := tls.Server(c, node.TLSConfig(sc, []string{did(client)}, nil))
		if err := s.HandshakeContext(ctx); err != nil {
			c.Close()
			done <- accepted{nil, err}
			return
		}
		done <- accepted{s, nil}
	}()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-done
		return nil, err
	}
	c := tls.Client(raw, node.TLSConfig(cc, []string{did(server)}, nil))
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		<-done
		return nil, err
	}
	a := <-done
	if a.err != nil {
		c.Close()
		return nil, a.err
	}
	return &tlsPipe{client: c, server: a.c, dst: make([]byte, size),
		suite: tls.CipherSuiteName(c.ConnectionState().CipherSuite)}, nil
}

// copy writes src from the client in frame-sized writes and reads it whole
// at the server.
func (p *tlsPipe) copy(src []byte) error {
	errc := make(chan error, 1)
	go func() {
		for b := src; len(b) > 0; {
			n := min(len(b), engine.MaxFrame)
			if _, err := p.client.Write(b[:n]); err != nil {
				errc <- err
				return
			}
			b = b[n:]
		}
		errc <- nil
	}()
	_, err := io.ReadFull(p.server, p.dst[:len(src)])
	if err != nil {
		p.client.Close()
	}
	if werr := <-errc; err == nil {
		err = werr
	}
	return err
}

func (p *tlsPipe) Close() error {
	return errors.Join(p.client.Close(), p.server.Close())
}

// benchRound runs the same secagg job, on an MLP of about d parameters with
// nodeSites sites, over the gRPC Loopback and over engine.MemNetwork, and
// reports the median time of one training round on each. Local training
// is kept small (32 rows, one epoch) so that the transport's share shows,
// as it would with a larger model.
func benchRound(ctx context.Context, b tensor.Backend, d, reps int, emit func(Result)) error {
	// A breast-cancer MLP with one hidden layer of width h has 32h+1
	// parameters (30 features, one sigmoid output).
	hidden := max(1, (d-1+16)/32)
	// The transports take turns, two jobs each, so that a slow phase of
	// the machine does not fall on one of them only. Each job's first
	// round is a warm-up.
	const turns = 2
	job := nodeJobFile(hidden, (reps+turns-1)/turns+1)
	rows, err := nodeSiteRows()
	if err != nil {
		return err
	}
	agg := nodeKey(100)
	var keys []ed25519.PrivateKey
	for i := range nodeSites {
		keys = append(keys, nodeKey(i))
	}
	var g, m []time.Duration
	var perRound []float64
	var model []float64
	var name string
	for range turns {
		res, bytes, err := roundsOverGRPC(ctx, b, job, agg, keys, rows)
		if err != nil {
			return fmt.Errorf("over gRPC: %w", err)
		}
		g, perRound = append(g, roundTimes(res)...), append(perRound, bytes)
		model, name = res.Params, res.Model.Name()
		mem := engine.NewMemNetwork()
		ln, err := mem.Listen("aggregator", nodePeer(agg, "aggregator"))
		if err != nil {
			return err
		}
		runtime.GC()
		res, err = runNodeJob(ctx, b, job, agg, keys, rows, ln, func(int) engine.Transport { return mem }, nil)
		if err != nil {
			return fmt.Errorf("in process: %w", err)
		}
		m = append(m, roundTimes(res)...)
		// Both ran the same seeded secagg job: the same model, or one of
		// the transports changed what it carried.
		if !slices.Equal(model, res.Params) {
			return errors.New("the job's model over gRPC differs from the in-process one")
		}
	}
	if len(g) == 0 || len(m) == 0 {
		return fmt.Errorf("%d and %d timed rounds", len(g), len(m))
	}
	gt, mt := medianDur(g), medianDur(m)
	emit(Result{Suite: "node", Case: "round", N: len(model), Metric: "time", Value: gt, Unit: "s", Limit: mt, Ratio: gt / mt,
		Note: fmt.Sprintf("%s, secagg, %d sites, %d train rows each, 1 epoch; median of %d rounds over Loopback gRPC; limit: the same rounds over engine.MemNetwork; ratio: gRPC/in-process",
			name, nodeSites, rows[0].Train.Rows, len(g))})
	emit(Result{Suite: "node", Case: "round", N: len(model), Metric: "bytes", Value: median(perRound), Unit: "B",
		Note: "frame bytes one training round carried over gRPC, both ways, all sites"})
	return nil
}

// roundsOverGRPC runs jobFile over a new Loopback and returns its result
// and the frame bytes one training round carried.
func roundsOverGRPC(ctx context.Context, b tensor.Backend, jobFile []byte, agg ed25519.PrivateKey, keys []ed25519.PrivateKey,
	rows []engine.SiteData) (*engine.Result, float64, error) {
	lb, err := node.NewLoopback(agg, keys, nil)
	if err != nil {
		return nil, 0, err
	}
	defer lb.Close()
	// The Loopback's ends share one TransportStats: BytesOut counts what
	// the aggregator and the sites sent, each byte once.
	var committed []uint64 // frame bytes sent when each round committed
	progress := func(p engine.Progress) {
		if p.Phase == "committed" {
			committed = append(committed, lb.Stats.BytesOut.Load())
		}
	}
	runtime.GC()
	res, err := runNodeJob(ctx, b, jobFile, agg, keys, rows, lb.Listener(), lb.Transport, progress)
	if err != nil {
		return nil, 0, err
	}
	if len(committed) < 2 {
		return nil, 0, fmt.Errorf("%d rounds committed, want at least 2", len(committed))
	}
	return res, float64(committed[len(committed)-1]-committed[0]) / float64(len(committed)-1), nil
}

// roundTimes are the durations of a job's training rounds but the first.
func roundTimes(r *engine.Result) []time.Duration {
	var out []time.Duration
	for _, rec := range r.Rounds[min(1, len(r.Rounds)):] {
		out = append(out, rec.Duration)
	}
	return out
}

// nodeJobFile is the round cases' job: secagg over the breast-cancer data
// with an MLP of one hidden layer.
func nodeJobFile(hidden, rounds int) []byte {
	return testjob.Spec{Name: "bench-node", Seed: 5, Rounds: rounds, Mode: "secagg",
		Model: fmt.Sprintf("kind = \"mlp\"\nhidden = [%d]", hidden), LearningRate: 0.01,
		Deadlines: "decision = \"60s\"\nsetup = \"60s\"\ntrain = \"120s\"\nrecovery = \"60s\""}.File()
}

// nodeSiteRows gives each site 40 rows of the embedded breast-cancer data
// (every nodeSites-th row), a fifth of them held out.
func nodeSiteRows() ([]engine.SiteData, error) {
	ds, err := data.BreastCancerFS(datasets.FS)
	if err != nil {
		return nil, err
	}
	const perSite = 40
	out := make([]engine.SiteData, nodeSites)
	for i := range out {
		var idx []int
		for r := i; r < ds.All.Rows && len(idx) < perSite; r += nodeSites {
			idx = append(idx, r)
		}
		rows := data.Gather(&ds.All, idx)
		tr, te, err := data.StratifiedTrainTest(&rows, 0.2, mrand.New(mrand.NewPCG(uint64(i), 5)))
		if err != nil {
			return nil, err
		}
		out[i] = engine.SiteData{Dataset: "breast_cancer", Train: &tr, Test: &te}
	}
	return out, nil
}

// runNodeJob runs jobFile with an aggregator on ln and one site per key,
// each dialling through transport(i), and returns the job's result.
func runNodeJob(ctx context.Context, b tensor.Backend, jobFile []byte, agg ed25519.PrivateKey, keys []ed25519.PrivateKey,
	rows []engine.SiteData, ln engine.Listener, transport func(int) engine.Transport, progress func(engine.Progress)) (*engine.Result, error) {
	a, shutdown, err := engine.NewAggregator(engine.AggregatorConfig{Self: nodePeer(agg, "aggregator"), Backend: b,
		Seed: [32]byte{5}, Progress: progress}, ln)
	if err != nil {
		return nil, err
	}
	defer shutdown()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var roster []engine.Peer
	for i, k := range keys {
		p := nodePeer(k, fmt.Sprintf("site-%d", i+1))
		roster = append(roster, p)
		s, err := engine.NewSite(engine.SiteConfig{Self: p, Signer: k, Data: rows[i], Policy: engine.AcceptAll,
			Backend: b, Seed: [32]byte{byte(i), 5}})
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Run(sctx, transport(i), ln.Addr())
		}()
	}
	return a.Run(ctx, jobFile, roster)
}
