package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/internal/testjob"
	"github.com/cohort-mpc/cohort/node/nodepb"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/testdata/datasets"
)

func seededKey(i int) ed25519.PrivateKey {
	var seed [32]byte
	seed[0], seed[1] = byte(i), 0xc0
	return ed25519.NewKeyFromSeed(seed[:])
}

func newLoopback(t *testing.T, sites int) (*Loopback, ed25519.PrivateKey, []ed25519.PrivateKey) {
	t.Helper()
	agg := seededKey(100)
	var keys []ed25519.PrivateKey
	for i := range sites {
		keys = append(keys, seededKey(i))
	}
	lb, err := NewLoopback(agg, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	return lb, agg, keys
}

func peerOf(k ed25519.PrivateKey, name string) engine.Peer {
	return engine.Peer{Name: name, Key: k.Public().(ed25519.PublicKey)}
}

// TestStreamMessages sends messages of many sizes both ways, several
// frames each, and checks they arrive whole and in order.
func TestStreamMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lb, agg, keys := newLoopback(t, 1)
	site, err := lb.Transport(0).Dial(ctx, lb.Addr(), peerOf(keys[0], "site-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	server, err := lb.Listener().Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := server.Peer(); !got.Key.Equal(keys[0].Public()) || got.Name != "site-1" {
		t.Errorf("aggregator sees %q %x", got.Name, got.Key)
	}
	if got := site.Peer(); !got.Key.Equal(agg.Public()) || got.Name != "aggregator" {
		t.Errorf("site sees %q %x", got.Name, got.Key)
	}
	if got := lb.Connected(); len(got) != 1 || !got[0].Key.Equal(keys[0].Public()) {
		t.Errorf("Connected = %v", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, engine.MaxFrame - 26, engine.MaxFrame - 25, engine.MaxFrame, 3*engine.MaxFrame + 5, 40 << 20}
	var msgs []*engine.Message
	for i, n := range sizes {
		body := make([]byte, n)
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		msgs = append(msgs, &engine.Message{Job: engine.JobID{byte(i)}, Kind: engine.KindPlainVector, Round: uint32(i), Attempt: 3, Body: body})
	}
	for _, dir := range []struct {
		name     string
		from, to engine.Conn
	}{{"site→aggregator", site, server}, {"aggregator→site", server, site}} {
		errc := make(chan error, 1)
		go func() {
			for _, m := range msgs {
				if err := dir.from.Send(ctx, m); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for i, want := range msgs {
			got, err := dir.to.Recv(ctx)
			if err != nil {
				t.Fatalf("%s: message %d: %v", dir.name, i, err)
			}
			if got.Job != want.Job || got.Kind != want.Kind || got.Round != want.Round || got.Attempt != want.Attempt || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("%s: message %d (%d bytes) arrived changed (%d bytes)", dir.name, i, len(want.Body), len(got.Body))
			}
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
	}
	// The other end's Recv ends with ErrClosed once one side closes.
	site.Close()
	if _, err := server.Recv(ctx); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Recv after the site closed: %v, want ErrClosed", err)
	}
	if err := site.Send(ctx, msgs[0]); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
}

// TestUnlistedSiteRefused: a key the aggregator does not list fails the
// TLS handshake, and an aggregator other than the pinned one is refused by
// the site.
func TestUnlistedSiteRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lb, agg, _ := newLoopback(t, 1)
	stranger := seededKey(50)
	cert, err := Certificate(stranger, "stranger", crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDialer(cert, map[string]string{lb.Addr(): didOf(agg)}, nil, nil)
	defer d.Close()
	if c, err := d.Dial(ctx, lb.Addr(), peerOf(stranger, "stranger")); err == nil {
		c.Close()
		t.Fatal("an unlisted site connected")
	} else if !errors.Is(err, engine.ErrClosed) {
		t.Errorf("unlisted site: %v", err)
	}
	// A site that pins another aggregator key refuses this one.
	site := seededKey(0)
	cert, err = Certificate(site, "site-1", crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refusedDID string
	d2 := NewDialer(cert, map[string]string{lb.Addr(): didOf(seededKey(77))}, nil, nil)
	d2.log = slogFunc(func(msg string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] == "did" {
				refusedDID = fmt.Sprint(args[i+1])
			}
		}
	})
	defer d2.Close()
	if c, err := d2.Dial(ctx, lb.Addr(), peerOf(site, "site-1")); err == nil {
		c.Close()
		t.Fatal("a site accepted an aggregator it does not pin")
	}
	mu.Lock()
	defer mu.Unlock()
	if refusedDID != didOf(agg) {
		t.Errorf("the refusal names %q, want the aggregator's did %s", refusedDID, didOf(agg))
	}
	if n := len(lb.Connected()); n != 0 {
		t.Errorf("%d connected", n)
	}
}

// rawStream opens a Connect stream as site key without the engine's
// framing, to send arbitrary bytes.
func rawStream(t *testing.T, ctx context.Context, lb *Loopback, i int) nodepb.Tasks_ConnectClient {
	t.Helper()
	cc, err := lb.dialers[i].clientConn(lb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	s, err := nodepb.NewTasksClient(cc).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Header(); err != nil {
		t.Fatal(err)
	}
	return s
}

func frameBytes(t *testing.T, stream uint64, m *engine.Message) [][]byte {
	t.Helper()
	var out [][]byte
	if err := engine.SplitMessage(m, stream, func(f *engine.Frame) error {
		b, err := f.MarshalBinary()
		out = append(out, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBadFramesRefused: a malformed frame, a replayed frame, a frame out of
// order and an oversized gRPC message each end that stream with a clear
// error, the aggregator gets nothing from them, and a proper connection
// works afterwards.
func TestBadFramesRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lb, _, keys := newLoopback(t, 1)
	accepted := make(chan engine.Conn, 16)
	go func() {
		for {
			c, err := lb.Listener().Accept(ctx)
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	good := &engine.Message{Kind: engine.KindPlainVector, Body: []byte("update")}
	valid := frameBytes(t, 1, good)[0]
	big := &engine.Message{Kind: engine.KindPlainVector, Body: make([]byte, 2*engine.MaxFrame)}
	bigFrames := frameBytes(t, 1, big)
	cases := []struct {
		name   string
		frames [][]byte
		code   codes.Code
		want   string
	}{
		{"garbage", [][]byte{[]byte("not a frame")}, codes.InvalidArgument, "shorter than its"},
		{"replayed", [][]byte{valid, valid}, codes.InvalidArgument, "want frame 0 of stream 2"},
		{"skipped", [][]byte{frameBytes(t, 2, good)[0]}, codes.InvalidArgument, "want frame 0 of stream 1"},
		{"out of order", [][]byte{bigFrames[1]}, codes.InvalidArgument, "want frame 0 of stream 1"},
		{"version", [][]byte{append([]byte{9}, valid[1:]...)}, codes.InvalidArgument, "frame version 9"},
		{"oversized", [][]byte{make([]byte, maxGRPCMessage+1)}, codes.ResourceExhausted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := lb.Stats.Refused.Load()
			s := rawStream(t, ctx, lb, 0)
			conn := <-accepted
			for _, f := range tc.frames {
				if err := s.Send(&nodepb.Frame{Data: f}); err != nil {
					break // the server may already have ended the stream
				}
			}
			_, err := s.Recv()
			if status.Code(err) != tc.code {
				t.Fatalf("stream ended with %v, want code %v", err, tc.code)
			}
			if tc.want != "" && !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			// The aggregator's conn delivers the good message sent before
			// a replay, then ends.
			n := 0
			for {
				m, err := conn.Recv(ctx)
				if err != nil {
					if !errors.Is(err, engine.ErrClosed) {
						t.Errorf("aggregator's Recv: %v", err)
					}
					break
				}
				if !bytes.Equal(m.Body, good.Body) {
					t.Errorf("aggregator got %q", m.Body)
				}
				n++
			}
			if want := map[string]int{"replayed": 1}[tc.name]; n != want {
				t.Errorf("aggregator got %d messages, want %d", n, want)
			}
			if tc.code == codes.InvalidArgument && lb.Stats.Refused.Load() != before+1 {
				t.Errorf("refused count %d, want %d", lb.Stats.Refused.Load(), before+1)
			}
		})
	}
	// The server is unharmed: a proper connection carries a message.
	c, err := lb.Transport(0).Dial(ctx, lb.Addr(), peerOf(keys[0], "site-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server := <-accepted
	if err := c.Send(ctx, good); err != nil {
		t.Fatal(err)
	}
	if m, err := server.Recv(ctx); err != nil || !bytes.Equal(m.Body, good.Body) {
		t.Fatalf("after the refusals: %v %v", m, err)
	}
}

// testJob is a small breast-cancer job in the given mode.
func testJob(mode string, rounds int) []byte {
	return testjob.Spec{Name: "transport-test", Seed: 11, Rounds: rounds, Mode: mode}.File()
}

// siteRows splits the embedded breast-cancer data over n sites (every
// n-th row) with a fifth of each held out.
func siteRows(t *testing.T, n int) []engine.SiteData {
	t.Helper()
	ds, err := data.BreastCancerFS(datasets.FS)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]engine.SiteData, n)
	for i := range n {
		var idx []int
		for r := i; r < ds.All.Rows; r += n {
			idx = append(idx, r)
		}
		rows := data.Gather(&ds.All, idx)
		tr, te, err := data.StratifiedTrainTest(&rows, 0.2, rand.New(rand.NewPCG(uint64(i), 9)))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = engine.SiteData{Dataset: "breast_cancer", Train: &tr, Test: &te}
	}
	return out
}

// runJob runs jobFile with sites keyed keys on rows, the aggregator on ln
// and the sites dialling through transport(i).
func runJob(ctx context.Context, t *testing.T, b tensor.Backend, jobFile []byte, agg ed25519.PrivateKey, keys []ed25519.PrivateKey,
	rows []engine.SiteData, ln engine.Listener, transport func(int) engine.Transport) *engine.Result {
	t.Helper()
	a, shutdown, err := engine.NewAggregator(engine.AggregatorConfig{Self: peerOf(agg, "aggregator"), Backend: b, Seed: [32]byte{3}}, ln)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var roster []engine.Peer
	for i, k := range keys {
		p := peerOf(k, fmt.Sprintf("site-%d", i+1))
		roster = append(roster, p)
		s, err := engine.NewSite(engine.SiteConfig{Self: p, Signer: k, Data: rows[i], Policy: engine.AcceptAll, Backend: b, Seed: [32]byte{byte(i), 4}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Run(sctx, transport(i), ln.Addr())
		}()
	}
	res, err := a.Run(ctx, jobFile, roster)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestJobOverGRPC runs the same seeded job over the gRPC transport and over
// the in-memory network: in secagg mode the models are identical, in mhe
// mode equal within CKKS's error.
func TestJobOverGRPC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two federated jobs per mode")
	}
	for _, mode := range []string{"secagg", "mhe"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			b, shutdown, err := tensor.NewCPU(tensor.CPUConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown()
			lb, agg, keys := newLoopback(t, 3)
			rows := siteRows(t, 3)
			job := testJob(mode, 3)
			overGRPC := runJob(ctx, t, b, job, agg, keys, rows, lb.Listener(), lb.Transport)
			mem := engine.NewMemNetwork()
			ln, err := mem.Listen("aggregator", peerOf(agg, "aggregator"))
			if err != nil {
				t.Fatal(err)
			}
			inProcess := runJob(ctx, t, b, job, agg, keys, rows, ln, func(int) engine.Transport { return mem })
			if len(overGRPC.Params) == 0 || len(overGRPC.Params) != len(inProcess.Params) {
				t.Fatalf("%d and %d parameters", len(overGRPC.Params), len(inProcess.Params))
			}
			switch mode {
			case "secagg":
				if !slices.Equal(overGRPC.Params, inProcess.Params) {
					t.Errorf("the models differ:\ngRPC       %v\nin-process %v", overGRPC.Params[:4], inProcess.Params[:4])
				}
			case "mhe":
				for i := range overGRPC.Params {
					if d := overGRPC.Params[i] - inProcess.Params[i]; d > 1e-6 || d < -1e-6 {
						t.Fatalf("parameter %d: %v over gRPC, %v in process", i, overGRPC.Params[i], inProcess.Params[i])
					}
				}
			}
			t.Logf("%d rounds; messages in %d out %d, bytes in %d out %d", len(overGRPC.Rounds), lb.Stats.MessagesIn.Load(), lb.Stats.MessagesOut.Load(), lb.Stats.BytesIn.Load(), lb.Stats.BytesOut.Load())
			last := overGRPC.Rounds[len(overGRPC.Rounds)-1]
			if !(last.Test.Accuracy > 0.85) {
				t.Errorf("final accuracy %v", last.Test.Accuracy)
			}
			if lb.Stats.MessagesIn.Load() == 0 || lb.Stats.MessagesOut.Load() == 0 {
				t.Errorf("no messages counted: %+v", lb.Stats)
			}
		})
	}
}

func didOf(k ed25519.PrivateKey) string { return identity.DID(k.Public().(ed25519.PublicKey)) }

// slogFunc is a logger that calls fn with each record's message and
// attributes as key-value pairs.
func slogFunc(fn func(msg string, args ...any)) *slog.Logger {
	return slog.New(&funcHandler{fn: fn})
}

type funcHandler struct{ fn func(string, ...any) }

func (h *funcHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *funcHandler) Handle(_ context.Context, r slog.Record) error {
	var args []any
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	h.fn(r.Message, args...)
	return nil
}
func (h *funcHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *funcHandler) WithGroup(string) slog.Handler      { return h }
