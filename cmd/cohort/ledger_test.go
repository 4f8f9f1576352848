package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/ledger/anchor"
)

// TestLedgerAnchorRPC anchors a demo aggregator's ledger on a development
// chain over its HTTP JSON-RPC, as an operator would against a real chain,
// then verifies the ledger with the anchor checked on chain; asking for
// more confirmations than the chain has, or checking a demo's anchor (made
// on the demo's own chain) against this chain, fails.
func TestLedgerAnchorRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cohort := func(args ...string) (string, string, int) {
		var out, errw bytes.Buffer
		code := run(ctx, append([]string{"cohort"}, args...), &out, &errw)
		return out.String(), errw.String(), code
	}
	// A node folder with a few entries in its ledger.
	node := filepath.Join(dir, "node")
	nodeKey, err := identity.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := openNode(node, nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, &ledger.Note{Data: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "eth.key")
	if err := anchor.SaveKey(keyFile, key); err != nil {
		t.Fatal(err)
	}
	dev, err := anchor.StartDevChain(ctx, anchor.DevOptions{Listen: "127.0.0.1:0", BlockTime: 50 * time.Millisecond,
		Funded: []common.Address{crypto.PubkeyToAddress(key.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	out, stderr, code := cohort("ledger", "anchor", "--dir", node, "--rpc", dev.URL(), "--key", keyFile, "--confirmations", "2")
	if code != 0 {
		t.Fatalf("anchor: %s", stderr)
	}
	m := regexp.MustCompile(`(?m)^  chain eip155:1337, tx 0x[0-9a-f]{64}, block ([0-9]+) \(0x[0-9a-f]{64}\), ([0-9]+) confirmations\n  recorded as entry [0-9]+$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("anchor printed:\n%s", out)
	}
	out, stderr, code = cohort("ledger", "verify", "--dir", node, "--rpc", dev.URL(), "--confirmations", "2")
	if code != 0 || !strings.Contains(out, "anchors       1, checked on chain") {
		t.Fatalf("verify on chain (%d): %s%s", code, out, stderr)
	}
	// More confirmations than the chain has: refused.
	if _, stderr, code = cohort("ledger", "verify", "--dir", node, "--rpc", dev.URL(), "--confirmations", "100000"); code != 1 ||
		!strings.Contains(stderr, "entry 5: anchor on chain") {
		t.Fatalf("verify with too few confirmations (%d): %s", code, stderr)
	}
	// A demo's anchor was made on the demo's own chain, which is not this
	// one: checked here, its block is not canonical.
	demo := filepath.Join(dir, "demo")
	if _, stderr, code := cohort("demo", "--rounds", "1", "--out", demo); code != 0 {
		t.Fatalf("demo: %s", stderr)
	}
	if _, stderr, code = cohort("ledger", "verify", "--dir", filepath.Join(demo, "nodes", "aggregator"), "--rpc", dev.URL()); code != 1 ||
		!regexp.MustCompile(`^cohort: ledger: verify: entry [0-9]+: anchor on chain: .*not canonical`).MatchString(stderr) {
		t.Fatalf("verify of another chain's anchor (%d): %s", code, stderr)
	}
}
