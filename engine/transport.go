package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
)

// ErrClosed is returned by a Conn or Listener used after Close, or whose
// other end has gone away.
var ErrClosed = errors.New("engine: connection closed")

// Peer is the authenticated identity at the other end of a Conn: a site's
// or an aggregator's Ed25519 public key and a display name. The key is what
// the engine trusts; the name is only for people.
type Peer struct {
	Name string
	Key  ed25519.PublicKey
}

// Transport connects the sites of a job to its aggregator.
//
// Sites dial out; the aggregator only accepts. A hospital's node never has
// to be reachable from outside: it opens one long-lived connection to each
// aggregator it works with and receives its tasks on it. The in-memory
// transport (NewMemNetwork) serves simulations and tests; the node package
// implements the same interfaces over gRPC streams with mTLS.
//
// Messages of any size up to MaxMessage travel whole through Send and Recv;
// an implementation cuts them into frames of at most MaxFrame payload bytes
// (SplitMessage, Assembler) so that a 10^7-parameter model never needs one
// huge transport message.
type Transport interface {
	// Dial opens a connection from the site self to the aggregator at
	// addr. It returns once the connection is authenticated both ways.
	Dial(ctx context.Context, addr string, self Peer) (Conn, error)
}

// Listener is the aggregator's side of a Transport: it yields one Conn per
// site that dialled in.
type Listener interface {
	// Accept waits for the next site's connection.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address sites dial.
	Addr() string
	// Close stops accepting; established connections stay open.
	Close() error
}

// Conn is one authenticated, ordered, reliable connection between a site
// and an aggregator. Send and Recv may be called concurrently with each
// other, but each by one goroutine at a time.
type Conn interface {
	// Peer is the authenticated identity of the other end.
	Peer() Peer
	// Send delivers m whole. It does not retain m or its Body after
	// returning.
	Send(ctx context.Context, m *Message) error
	// Recv returns the next message. The Body is the caller's to keep.
	Recv(ctx context.Context) (*Message, error)
	// Close ends the connection; the other end's Recv returns ErrClosed.
	Close() error
}
