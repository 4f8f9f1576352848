package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/node/nodepb"
)

// Loopback runs the node transport inside one process: an aggregator's
// gRPC server on 127.0.0.1 with mutual TLS, and one Dialer per site, each
// with its own certificate. The engine runs over it exactly as between
// node processes; tests and benchmarks use it.
type Loopback struct {
	Stats   *TransportStats
	tasks   *TaskServer
	srv     *grpc.Server
	dialers []*Dialer
	errc    chan error
}

// NewLoopback starts the aggregator's server for agg, admitting the sites
// whose keys are given; Transport(i) is site i's Dialer.
func NewLoopback(agg ed25519.PrivateKey, sites []ed25519.PrivateKey, log *slog.Logger) (*Loopback, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	aggCert, err := Certificate(agg, "aggregator", rand.Reader)
	if err != nil {
		return nil, err
	}
	var dids []string
	for _, k := range sites {
		dids = append(dids, identity.DID(k.Public().(ed25519.PublicKey)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &Loopback{Stats: new(TransportStats), errc: make(chan error, 1)}
	lb.tasks = NewTaskServer(ln.Addr().String(), lb.Stats, log)
	lb.srv = grpc.NewServer(serverOptions(TLSConfig(aggCert, dids, nil), &authorizer{sites: dids}, log)...)
	nodepb.RegisterTasksServer(lb.srv, lb.tasks)
	go func() { lb.errc <- lb.srv.Serve(ln) }()
	aggDID := identity.DID(agg.Public().(ed25519.PublicKey))
	for i, k := range sites {
		c, err := Certificate(k, fmt.Sprintf("site-%d", i+1), rand.Reader)
		if err != nil {
			lb.Close()
			return nil, err
		}
		lb.dialers = append(lb.dialers, NewDialer(c, map[string]string{lb.tasks.Addr(): aggDID}, lb.Stats, log))
	}
	return lb, nil
}

// Listener is the aggregator's engine.Listener.
func (lb *Loopback) Listener() engine.Listener { return lb.tasks }

// Addr is the address the sites dial.
func (lb *Loopback) Addr() string { return lb.tasks.Addr() }

// Transport is site i's engine.Transport.
func (lb *Loopback) Transport(i int) engine.Transport { return lb.dialers[i] }

// Connected returns the sites connected now.
func (lb *Loopback) Connected() []engine.Peer { return lb.tasks.Connected() }

// Close stops the server and closes the sites' connections.
func (lb *Loopback) Close() error {
	var errs []error
	for _, d := range lb.dialers {
		errs = append(errs, d.Close())
	}
	lb.tasks.Close()
	lb.srv.Stop()
	if err := <-lb.errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
