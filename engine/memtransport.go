package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrAddrInUse is returned by MemNetwork.Listen for an address that
// already has a listener.
var ErrAddrInUse = errors.New("engine: address already in use")

// memQueue is the number of frames a connection buffers in each direction
// before Send waits for the other end's Recv.
const memQueue = 64

// MemNetwork is an in-process network: aggregators Listen on names, sites
// Dial them. Connections carry frames over buffered channels, cut and
// reassembled by the same SplitMessage and Assembler as a network
// transport; a sender blocks while its peer's queue is full.
//
// A MemNetwork is safe for concurrent use. The zero value is an empty
// network.
type MemNetwork struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

var _ Transport = (*MemNetwork)(nil)

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{listeners: make(map[string]*memListener)}
}

// Listen starts accepting connections at addr for the aggregator self. It
// fails with ErrAddrInUse if addr already has a listener; once that one is
// closed, addr is free again.
func (n *MemNetwork) Listen(addr string, self Peer) (Listener, error) {
	if addr == "" {
		return nil, errors.New("engine: listen on an empty address")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners == nil {
		n.listeners = make(map[string]*memListener)
	}
	if _, ok := n.listeners[addr]; ok {
		return nil, fmt.Errorf("%w: %q", ErrAddrInUse, addr)
	}
	l := &memListener{
		net:      n,
		addr:     addr,
		self:     clonePeer(self),
		incoming: make(chan *memConn),
		closed:   make(chan struct{}),
	}
	n.listeners[addr] = l
	return l, nil
}

// Dial connects the site self to the listener at addr. It returns once the
// listener has accepted the connection, or with ctx.Err() if ctx ends
// first. It fails with an error wrapping ErrClosed, naming addr, if nobody
// listens there or the listener closes while Dial waits.
func (n *MemNetwork) Dial(ctx context.Context, addr string, self Peer) (Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("%w: nobody listens at %q", ErrClosed, addr)
	}
	site, agg := memPipe(clonePeer(self), l.self)
	select {
	case <-l.closed:
		return nil, fmt.Errorf("%w: nobody listens at %q", ErrClosed, addr)
	default:
	}
	select {
	case l.incoming <- agg:
		return site, nil
	case <-l.closed:
		return nil, fmt.Errorf("%w: nobody listens at %q", ErrClosed, addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func clonePeer(p Peer) Peer {
	return Peer{Name: p.Name, Key: slices.Clone(p.Key)}
}

// memListener is a MemNetwork's Listener. Dial hands the aggregator's end of
// each new connection to Accept over incoming, unbuffered, so that no
// connection is left behind when the listener closes.
type memListener struct {
	net       *MemNetwork
	addr      string
	self      Peer
	incoming  chan *memConn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *memListener) Accept(ctx context.Context) (Conn, error) {
	select {
	case <-l.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-l.incoming:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *memListener) Addr() string { return l.addr }

func (l *memListener) Close() error {
	l.closeOnce.Do(func() {
		l.net.mu.Lock()
		if l.net.listeners[l.addr] == l {
			delete(l.net.listeners, l.addr)
		}
		l.net.mu.Unlock()
		close(l.closed)
	})
	return nil
}

// memConn is one end of an in-memory connection. Each end closes its own
// closed channel; frames the other end queued before closing are still
// delivered to Recv, after which Recv returns ErrClosed.
type memConn struct {
	peer      Peer
	out       chan<- *Frame
	in        <-chan *Frame
	closed    chan struct{} // this end closed
	peerGone  chan struct{} // the other end closed
	closeOnce sync.Once
	stream    uint64    // the stream of the last message sent; Send's goroutine only
	asm       Assembler // Recv's goroutine only
}

// memPipe returns the two ends of a new connection between a and b: the
// first is a's, whose Peer is b.
func memPipe(a, b Peer) (*memConn, *memConn) {
	ab := make(chan *Frame, memQueue)
	ba := make(chan *Frame, memQueue)
	aClosed, bClosed := make(chan struct{}), make(chan struct{})
	ca := &memConn{peer: b, out: ab, in: ba, closed: aClosed, peerGone: bClosed}
	cb := &memConn{peer: a, out: ba, in: ab, closed: bClosed, peerGone: aClosed}
	return ca, cb
}

func (c *memConn) Peer() Peer { return c.peer }

// done reports whether either end has closed.
func (c *memConn) done() bool {
	select {
	case <-c.closed:
		return true
	case <-c.peerGone:
		return true
	default:
		return false
	}
}

// Send queues the frames of m for the other end, waiting while its queue is
// full. If ctx ends after part of m is queued, the connection cannot carry
// another message whole, so Send closes it.
func (c *memConn) Send(ctx context.Context, m *Message) error {
	if c.done() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sent := false
	err := SplitMessage(m, c.stream+1, func(f *Frame) error {
		g := *f
		g.Payload = append([]byte(nil), f.Payload...)
		select {
		case c.out <- &g:
			sent = true
			return nil
		case <-c.closed:
			return ErrClosed
		case <-c.peerGone:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if sent {
		c.stream++
		if err != nil {
			c.Close()
		}
	}
	return err
}

// Recv returns the next message. It returns ErrClosed at once if this end
// is closed, and once the frames already queued have been read if the other
// end is.
func (c *memConn) Recv(ctx context.Context) (*Message, error) {
	for {
		f, err := c.nextFrame(ctx)
		if err != nil {
			return nil, err
		}
		m, err := c.asm.Add(f)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
		}
	}
}

func (c *memConn) nextFrame(ctx context.Context) (*Frame, error) {
	select {
	case <-c.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case f := <-c.in:
		return f, nil
	case <-c.closed:
		return nil, ErrClosed
	case <-c.peerGone:
		// The other end closed after queuing its last frames: they are
		// all in c.in by now.
		select {
		case f := <-c.in:
			return f, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *memConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
