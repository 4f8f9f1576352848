package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/node/nodepb"
)

// HTTP/2 flow-control windows of a node's connections. gRPC's defaults
// (64 KiB, grown by bandwidth estimation) hold a loopback transfer far
// below what TLS can carry; a window of several frames keeps the pipe full
// while still bounding what a slow reader makes the sender buffer.
const (
	streamWindow = 8 << 20
	connWindow   = 16 << 20
)

// Keepalive: a connection that has been silent this long is pinged, and
// dropped if the ping is not answered, so that a vanished peer is noticed
// even without a TCP reset.
const (
	keepaliveTime    = 15 * time.Second
	keepaliveTimeout = 10 * time.Second
)

// TransportStats counts what a node's task streams carried; safe for
// concurrent use.
type TransportStats struct {
	FramesIn, FramesOut     atomic.Uint64
	BytesIn, BytesOut       atomic.Uint64
	MessagesIn, MessagesOut atomic.Uint64
	Refused                 atomic.Uint64 // malformed or replayed frames that closed a stream
}

// frameStream is what a Tasks.Connect stream is on either side.
type frameStream interface {
	Send(*nodepb.Frame) error
	Recv() (*nodepb.Frame, error)
}

// streamConn is an engine.Conn over a Tasks.Connect stream: messages are cut
// into frames (engine.SplitMessage) and put back together
// (engine.Assembler); one goroutine reads the stream.
type streamConn struct {
	peer   engine.Peer
	s      frameStream
	stats  *TransportStats
	log    *slog.Logger
	cancel context.CancelFunc // ends the stream

	sendMu struct {
		sync.Mutex
		next uint64 // the stream number of the next message sent
	}

	msgs      chan *engine.Message
	done      chan struct{} // closed when the conn is closed or the stream ends
	closeOnce sync.Once
	err       error // why the stream ended; set before done is closed
}

func newStreamConn(p engine.Peer, s frameStream, cancel context.CancelFunc, stats *TransportStats, log *slog.Logger) *streamConn {
	c := &streamConn{peer: p, s: s, stats: stats, log: log, cancel: cancel, msgs: make(chan *engine.Message, 1), done: make(chan struct{})}
	c.sendMu.next = 1
	go c.read()
	return c
}

func (c *streamConn) Peer() engine.Peer {
	return engine.Peer{Name: c.peer.Name, Key: slices.Clone(c.peer.Key)}
}

// read assembles the peer's frames into messages until the stream ends or
// a frame is refused, which ends the stream: the peer reconnects and the
// engine carries on from its persisted state.
func (c *streamConn) read() {
	var a engine.Assembler
	for {
		pf, err := c.s.Recv()
		if err != nil {
			c.end(err)
			return
		}
		c.stats.FramesIn.Add(1)
		c.stats.BytesIn.Add(uint64(len(pf.Data)))
		var f engine.Frame
		if err = f.UnmarshalBinary(pf.Data); err == nil {
			var m *engine.Message
			if m, err = a.Add(&f); err == nil && m != nil {
				c.stats.MessagesIn.Add(1)
				select {
				case c.msgs <- m:
				case <-c.done:
					return
				}
			}
		}
		if err != nil {
			c.stats.Refused.Add(1)
			c.log.Warn("refused a frame; closing the stream", "peer", c.peer.Name, "err", err)
			c.end(status.Errorf(codes.InvalidArgument, "node: refused a frame from %s: %v", c.peer.Name, err))
			return
		}
	}
}

// end closes the conn with err as the reason.
func (c *streamConn) end(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.done)
		c.cancel()
	})
}

func (c *streamConn) Send(ctx context.Context, m *engine.Message) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	stream := c.sendMu.next
	c.sendMu.next++
	err := engine.SplitMessage(m, stream, func(f *engine.Frame) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		if err := c.s.Send(&nodepb.Frame{Data: b}); err != nil {
			return fmt.Errorf("%w: %v", engine.ErrClosed, err)
		}
		c.stats.FramesOut.Add(1)
		c.stats.BytesOut.Add(uint64(len(b)))
		return nil
	})
	if err != nil {
		// Half a message on the stream leaves the peer's assembler
		// waiting for the rest: the stream is finished either way.
		c.end(err)
		return err
	}
	c.stats.MessagesOut.Add(1)
	return nil
}

func (c *streamConn) Recv(ctx context.Context) (*engine.Message, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.done:
		// Deliver what was assembled before the end.
		select {
		case m := <-c.msgs:
			return m, nil
		default:
		}
		return nil, c.closedErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *streamConn) closedErr() error {
	if c.err == nil || errors.Is(c.err, engine.ErrClosed) {
		return engine.ErrClosed
	}
	return fmt.Errorf("%w: %v", engine.ErrClosed, c.err)
}

func (c *streamConn) Close() error {
	c.end(engine.ErrClosed)
	return nil
}

// TaskServer is an aggregator's side of the Tasks service: each
// participant's Connect stream becomes an engine.Conn that Accept returns.
// It is the engine.Listener an engine.Aggregator runs on.
type TaskServer struct {
	nodepb.UnimplementedTasksServer
	addr     string
	stats    *TransportStats
	log      *slog.Logger
	incoming chan *streamConn
	closed   chan struct{}
	once     sync.Once

	mu struct {
		sync.Mutex
		conns map[string]*streamConn // by did:key: the live stream of each participant
	}
}

var _ engine.Listener = (*TaskServer)(nil)

// NewTaskServer returns a TaskServer whose Addr is addr; register it on a
// gRPC server with nodepb.RegisterTasksServer.
func NewTaskServer(addr string, stats *TransportStats, log *slog.Logger) *TaskServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stats == nil {
		stats = new(TransportStats)
	}
	t := &TaskServer{addr: addr, stats: stats, log: log, incoming: make(chan *streamConn), closed: make(chan struct{})}
	t.mu.conns = map[string]*streamConn{}
	return t
}

// Connect serves one participant's stream until it ends.
func (t *TaskServer) Connect(s grpc.BidiStreamingServer[nodepb.Frame, nodepb.Frame]) error {
	caller, err := CallerFrom(s.Context())
	if err != nil {
		return err
	}
	// Headers now, so that the participant's Dial returns only once the
	// stream is authenticated and accepted.
	if err := s.SendHeader(metadata.Pairs("cohort-node", "tasks/v1")); err != nil {
		return err
	}
	// The stream ends when this handler returns, which it does once c is
	// done; a client that goes away ends c through its Recv.
	c := newStreamConn(caller.Peer(), s, func() {}, t.stats, t.log)
	t.mu.Lock()
	if old := t.mu.conns[caller.DID]; old != nil {
		old.end(errors.New("replaced by a new connection"))
	}
	t.mu.conns[caller.DID] = c
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.mu.conns[caller.DID] == c {
			delete(t.mu.conns, caller.DID)
		}
		t.mu.Unlock()
	}()
	select {
	case t.incoming <- c:
		t.log.Info("participant connected", "peer", caller.Name, "did", caller.DID)
	case <-c.done:
		// Ended before the engine took it: a refused frame, or replaced.
	case <-t.closed:
		c.end(engine.ErrClosed)
		return status.Error(codes.Unavailable, "node: not accepting tasks connections")
	}
	<-c.done
	t.log.Info("participant disconnected", "peer", caller.Name, "did", caller.DID, "reason", c.err)
	if st, ok := status.FromError(c.err); ok && st.Code() == codes.InvalidArgument {
		return c.err // the peer learns which frame was refused and why
	}
	return nil
}

// Accept returns the next participant's connection.
func (t *TaskServer) Accept(ctx context.Context) (engine.Conn, error) {
	select {
	case c := <-t.incoming:
		return c, nil
	case <-t.closed:
		return nil, engine.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr is the address participants dial.
func (t *TaskServer) Addr() string { return t.addr }

// Close stops accepting connections.
func (t *TaskServer) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

// Connected returns the participants connected now, sorted by did:key.
func (t *TaskServer) Connected() []engine.Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	dids := make([]string, 0, len(t.mu.conns))
	for d := range t.mu.conns {
		dids = append(dids, d)
	}
	slices.Sort(dids)
	out := make([]engine.Peer, len(dids))
	for i, d := range dids {
		out[i] = t.mu.conns[d].Peer()
	}
	return out
}

// Dialer is a participant's engine.Transport: it opens a Tasks.Connect
// stream to an aggregator over mutual TLS, pinning the aggregator's
// did:key. It keeps one gRPC connection per aggregator address.
type Dialer struct {
	cert  tls.Certificate
	dids  map[string]string // aggregator address → did:key
	stats *TransportStats
	log   *slog.Logger

	mu struct {
		sync.Mutex
		conns map[string]*grpc.ClientConn
	}
}

var _ engine.Transport = (*Dialer)(nil)

// NewDialer returns a Dialer presenting cert and accepting, at each
// address, only the aggregator whose did:key aggregators gives for it.
func NewDialer(cert tls.Certificate, aggregators map[string]string, stats *TransportStats, log *slog.Logger) *Dialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if stats == nil {
		stats = new(TransportStats)
	}
	d := &Dialer{cert: cert, dids: aggregators, stats: stats, log: log}
	d.mu.conns = map[string]*grpc.ClientConn{}
	return d
}

func (d *Dialer) clientConn(addr string) (*grpc.ClientConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cc := d.mu.conns[addr]; cc != nil {
		return cc, nil
	}
	did, ok := d.dids[addr]
	if !ok {
		return nil, fmt.Errorf("node: no aggregator configured at %s", addr)
	}
	tcfg := TLSConfig(d.cert, []string{did}, func(got string, err error) {
		d.log.Warn("refused the aggregator at the TLS handshake", "addr", addr, "want", did, "did", got, "err", err)
	})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tcfg)),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", addr, err)
	}
	d.mu.conns[addr] = cc
	return cc, nil
}

// Dial opens a task stream to the aggregator at addr. It returns once the
// aggregator has authenticated and accepted the stream; the stream lives
// until the returned Conn is closed, not until ctx ends.
func (d *Dialer) Dial(ctx context.Context, addr string, self engine.Peer) (engine.Conn, error) {
	cc, err := d.clientConn(addr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	s, err := nodepb.NewTasksClient(cc).Connect(sctx, grpc.WaitForReady(false))
	if err == nil {
		_, err = s.Header()
	}
	if !stop() || err != nil {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%w: aggregator %s: %v", engine.ErrClosed, addr, err)
	}
	key, err := identity.ParseDID(d.dids[addr])
	if err != nil {
		cancel()
		return nil, err
	}
	name := addr
	if p, ok := peer.FromContext(s.Context()); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if c, err := callerOf(info.State); err == nil && c.Name != "" {
				name = c.Name
			}
		}
	}
	return newStreamConn(engine.Peer{Name: name, Key: ed25519.PublicKey(key)}, s, cancel, d.stats, d.log), nil
}

// Close closes the Dialer's gRPC connections.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for addr, cc := range d.mu.conns {
		errs = append(errs, cc.Close())
		delete(d.mu.conns, addr)
	}
	return errors.Join(errs...)
}

// serverOptions are the gRPC server options of every node: mutual TLS with
// cfg, bounded messages, the flow-control windows, keepalive, and the
// authorization interceptors.
func serverOptions(cfg *tls.Config, auth *authorizer, log *slog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(cfg)),
		grpc.MaxRecvMsgSize(maxGRPCMessage),
		grpc.MaxSendMsgSize(maxGRPCMessage),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(auth.unary, logUnary(log)),
		grpc.ChainStreamInterceptor(auth.stream, logStream(log)),
	}
}

// logUnary and logStream log every call that fails, with its caller.
func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			c, _ := CallerFrom(ctx)
			log.Info("call failed", "method", info.FullMethod, "caller", c.DID, "err", err)
		}
		return resp, err
	}
}

func logStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		if err != nil && status.Code(err) != codes.Canceled {
			c, _ := CallerFrom(ss.Context())
			log.Info("stream ended with an error", "method", info.FullMethod, "caller", c.DID, "err", err)
		}
		return err
	}
}
