package anchor

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
)

// DevChainID is the chain ID of a DevChain (that of go-ethereum's
// simulated backend).
const DevChainID = 1337

// DevOptions configure a DevChain.
type DevOptions struct {
	// Listen is the loopback host:port of the JSON-RPC endpoint over HTTP;
	// "" means "127.0.0.1:0", port 0 a free port.
	Listen string
	// BlockTime, if positive, makes the chain seal a block every BlockTime;
	// otherwise blocks are sealed only by Commit.
	BlockTime time.Duration
	// Funded accounts start with DevBalance wei each.
	Funded []common.Address
}

// DevBalance is the balance, in wei, of DevOptions.Funded accounts: 1000
// ether.
func DevBalance() *big.Int { return new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether)) }

// DevChain is an in-process Ethereum development chain: go-ethereum's
// simulated backend, with its JSON-RPC served over HTTP on loopback. Its
// state lives in memory and is lost on Close. It is for demonstrations and
// tests only: anyone who can reach the endpoint can use it.
type DevChain struct {
	sim *simulated.Backend
	url string

	mu     sync.Mutex // serialises block production, forks and Close
	closed bool

	stop chan struct{} // closed by Close to stop block production
	done chan struct{} // closed when block production has stopped
}

// StartDevChain starts a development chain. ctx bounds the start only; the
// chain runs until Close.
func StartDevChain(ctx context.Context, opts DevOptions) (*DevChain, error) {
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("anchor: dev chain: listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("anchor: dev chain: listen address %q is not loopback", listen)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("anchor: dev chain: listen port %q: %w", portText, err)
	}
	alloc := make(types.GenesisAlloc, len(opts.Funded))
	for _, a := range opts.Funded {
		alloc[a] = types.Account{Balance: DevBalance()}
	}

	// The simulated backend does not tell which port its HTTP server got,
	// so for port 0 pick a free one and try again should another process
	// take it first.
	var sim *simulated.Backend
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("anchor: dev chain: %w", err)
		}
		p := int(port)
		if port == 0 {
			if p, err = freePort(host); err != nil {
				return nil, fmt.Errorf("anchor: dev chain: %w", err)
			}
		}
		sim, err = newSimulated(alloc, host, p)
		if err == nil {
			listen = net.JoinHostPort(host, strconv.Itoa(p))
			break
		}
		if port != 0 || attempt == 2 {
			return nil, fmt.Errorf("anchor: dev chain on %s: %w", net.JoinHostPort(host, strconv.Itoa(p)), err)
		}
	}
	d := &DevChain{sim: sim, url: "http://" + listen}
	if opts.BlockTime > 0 {
		d.stop, d.done = make(chan struct{}), make(chan struct{})
		go d.produce(opts.BlockTime)
	}
	return d, nil
}

// freePort returns a TCP port on host that was free a moment ago.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// newSimulated starts a simulated backend serving eth, net and web3 over
// HTTP on host:port. simulated.NewBackend panics when its node does not
// start (the port was taken); that panic is returned as an error.
func newSimulated(alloc types.GenesisAlloc, host string, port int) (sim *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			sim, err = nil, fmt.Errorf("starting the simulated backend: %v", r)
		}
	}()
	return simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost = host
		nc.HTTPPort = port
		nc.HTTPModules = []string{"eth", "net", "web3"}
		nc.HTTPVirtualHosts = []string{"localhost"}
	}), nil
}

// produce seals a block every period until Close.
func (d *DevChain) produce(period time.Duration) {
	defer close(d.done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.Commit()
		}
	}
}

// URL returns the chain's JSON-RPC endpoint, "http://host:port".
func (d *DevChain) URL() string { return d.url }

// Client returns an in-process client of the chain.
func (d *DevChain) Client() simulated.Client { return d.sim.Client() }

// Commit seals a block with the pending transactions and returns the new
// head's hash (the zero hash after Close).
func (d *DevChain) Commit() common.Hash {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return common.Hash{}
	}
	return d.sim.Commit()
}

// Fork rewinds the chain to the block parent: blocks after it leave the
// canonical chain, and their transactions return to the pool unless
// Rollback drops them. The blocks Commit seals next build on parent. There
// must be no pending transaction.
func (d *DevChain) Fork(parent common.Hash) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("anchor: dev chain closed")
	}
	if err := d.sim.Fork(parent); err != nil {
		return fmt.Errorf("anchor: dev chain: fork at %s: %w", parent.Hex(), err)
	}
	return nil
}

// Rollback drops the pending transactions.
func (d *DevChain) Rollback() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.sim.Rollback()
	}
}

// Close stops the chain: first block production (waiting for a block being
// sealed), then the in-process client, the HTTP endpoint and the chain
// itself. Clients of URL and of Client fail afterwards; close them before
// or after, as convenient. Close is idempotent.
func (d *DevChain) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	if d.stop != nil {
		close(d.stop)
		<-d.done
	}
	if err := d.sim.Close(); err != nil {
		return fmt.Errorf("anchor: dev chain: close: %w", err)
	}
	return nil
}
