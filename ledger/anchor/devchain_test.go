package anchor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
)

func TestDevChainHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := testKey(t, "dev chain")
	from := crypto.PubkeyToAddress(key.PublicKey)
	dev, err := StartDevChain(ctx, DevOptions{BlockTime: 20 * time.Millisecond, Funded: []common.Address{from}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := dev.Close(); err != nil {
			t.Error(err)
		}
		if err := dev.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if h := dev.Commit(); h != (common.Hash{}) {
			t.Errorf("Commit after Close = %s", h)
		}
	}()
	if !strings.HasPrefix(dev.URL(), "http://127.0.0.1:") || strings.HasSuffix(dev.URL(), ":0") {
		t.Fatalf("URL() = %q", dev.URL())
	}

	client, err := ethclient.Dial(dev.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	id, err := client.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Uint64() != DevChainID {
		t.Fatalf("chain ID %v over HTTP, want %d", id, DevChainID)
	}
	balance, err := client.BalanceAt(ctx, from, nil)
	if err != nil || balance.Cmp(DevBalance()) != 0 {
		t.Fatalf("balance of the funded account %v (%v), want %v", balance, err, DevBalance())
	}

	e := newEthereum(t, client, key, Options{Confirmations: 2, PollInterval: 5 * time.Millisecond})
	a, err := e.Anchor(ctx, testOrigin, 1234, [32]byte{0xaa})
	if err != nil {
		t.Fatal(err)
	}
	if a.ChainID != DevChainID || a.Confirmations < 2 || a.Size != 1234 {
		t.Fatalf("Anchor = %+v", a)
	}
	if err := e.VerifyAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The in-process client sees the same chain.
	v := newEthereum(t, dev.Client(), nil, Options{Confirmations: 2})
	if err := v.VerifyAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func TestDevChainForkRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dev, err := StartDevChain(ctx, DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	genesis, err := dev.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	h1 := dev.Commit()
	dev.Commit()
	if err := dev.Fork(genesis.Hash()); err != nil {
		t.Fatal(err)
	}
	dev.Rollback()
	if n, err := dev.Client().BlockNumber(ctx); err != nil || n != 0 {
		t.Fatalf("after Fork at genesis: block number %d (%v), want 0", n, err)
	}
	if h := dev.Commit(); h == h1 {
		t.Fatal("the forked block 1 is the old one")
	}
	if err := dev.Fork(common.Hash{1}); err == nil {
		t.Fatal("Fork at an unknown block succeeded")
	}
}

func TestDevChainListen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, listen := range []string{"0.0.0.0:0", "192.0.2.1:0", "example.com:0", "127.0.0.1", "127.0.0.1:99999"} {
		if dev, err := StartDevChain(ctx, DevOptions{Listen: listen}); err == nil {
			dev.Close()
			t.Errorf("StartDevChain(%q) succeeded", listen)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if dev, err := StartDevChain(cctx, DevOptions{}); err == nil {
		dev.Close()
		t.Error("StartDevChain with a cancelled context succeeded")
	}

	// A taken port is an error, not a panic.
	dev, err := StartDevChain(ctx, DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	taken := strings.TrimPrefix(dev.URL(), "http://")
	if dev2, err := StartDevChain(ctx, DevOptions{Listen: taken}); err == nil {
		dev2.Close()
		t.Errorf("StartDevChain on the taken %s succeeded", taken)
	} else if !strings.Contains(err.Error(), taken) {
		t.Errorf("error %v does not name %s", err, taken)
	}
}
