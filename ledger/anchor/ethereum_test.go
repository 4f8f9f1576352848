package anchor

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/ledger"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
)

var (
	_ Backend = (*ethclient.Client)(nil)
	_ Backend = simulated.Client(nil)

	// What ledger.AnchorVerifier asks for.
	_ interface {
		VerifyAnchor(context.Context, *ledger.AnchorPublished) error
	} = (*Ethereum)(nil)
)

const testOrigin = "cohort/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

// revertCode is EVM code that always reverts: PUSH1 0 PUSH1 0 REVERT.
var revertCode = []byte{0x60, 0x00, 0x60, 0x00, 0xfd}

// revertAddr holds revertCode on test chains.
var revertAddr = common.HexToAddress("0x00000000000000000000000000000000000ffff1")

func testKey(t *testing.T, seed string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newChain starts a simulated chain (no HTTP) funding the keys' accounts.
func newChain(t *testing.T, keys ...*ecdsa.PrivateKey) *simulated.Backend {
	t.Helper()
	alloc := types.GenesisAlloc{revertAddr: {Code: revertCode, Balance: new(big.Int)}}
	for _, k := range keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: DevBalance()}
	}
	sim := simulated.NewBackend(alloc)
	t.Cleanup(func() { sim.Close() })
	return sim
}

func newEthereum(t *testing.T, client Backend, key *ecdsa.PrivateKey, opts Options) *Ethereum {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 2 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	e, err := NewEthereum(client, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type result struct {
	a   *ledger.AnchorPublished
	err error
}

func anchorAsync(ctx context.Context, e *Ethereum, origin string, size uint64, root [32]byte) <-chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := e.Anchor(ctx, origin, size, root)
		ch <- result{a, err}
	}()
	return ch
}

// waitSent waits until the pool's next nonce for from is nonce: a
// transaction with nonce-1 was sent.
func waitSent(t *testing.T, c simulated.Client, from common.Address, nonce uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := c.PendingNonceAt(context.Background(), from)
		if err != nil {
			t.Fatal(err)
		}
		if got == nonce {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("next nonce of %s is %d, want %d", from, got, nonce)
		}
		time.Sleep(time.Millisecond)
	}
}

// notYet fails if ch delivers within a few poll intervals.
func notYet(t *testing.T, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Anchor returned %s: %+v, %v", what, r.a, r.err)
	case <-time.After(30 * time.Millisecond):
	}
}

// commitUntil seals blocks until ch delivers.
func commitUntil(t *testing.T, sim *simulated.Backend, ch <-chan result) result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case r := <-ch:
			return r
		case <-time.After(3 * time.Millisecond):
			sim.Commit()
		}
	}
	t.Fatal("Anchor did not return")
	return result{}
}

func header(t *testing.T, c simulated.Client, n uint64) *types.Header {
	t.Helper()
	h, err := c.HeaderByNumber(context.Background(), new(big.Int).SetUint64(n))
	if err != nil {
		t.Fatalf("header %d: %v", n, err)
	}
	return h
}

// anchorOnce anchors (origin, size, root) with one confirmation, sealing
// the block itself.
func anchorOnce(t *testing.T, sim *simulated.Backend, e *Ethereum, origin string, size uint64, root [32]byte) *ledger.AnchorPublished {
	t.Helper()
	n, err := sim.Client().PendingNonceAt(context.Background(), e.Address())
	if err != nil {
		t.Fatal(err)
	}
	ch := anchorAsync(context.Background(), e, origin, size, root)
	waitSent(t, sim.Client(), e.Address(), n+1)
	sim.Commit()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.a
	case <-time.After(10 * time.Second):
		t.Fatal("Anchor did not return")
		return nil
	}
}

func wantVerifyError(t *testing.T, err, sentinel error, block uint64, reason ...string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want a *VerifyError wrapping %v", err, sentinel)
	}
	if ve.Block != block {
		t.Errorf("VerifyError.Block = %d, want %d", ve.Block, block)
	}
	for _, s := range reason {
		if !strings.Contains(ve.Reason, s) {
			t.Errorf("VerifyError reason %q does not mention %q", ve.Reason, s)
		}
	}
	if !strings.Contains(err.Error(), ve.Tx.Hex()) {
		t.Errorf("error %q does not name the transaction", err)
	}
}

func TestAnchorVerify(t *testing.T) {
	t.Parallel()
	key := testKey(t, "anchor")
	sim := newChain(t, key)
	c := sim.Client()
	e := newEthereum(t, c, key, Options{})
	root := [32]byte{1, 2, 3}

	sim.Commit() // the anchor goes in block 2
	ch := anchorAsync(context.Background(), e, testOrigin, 77, root)
	waitSent(t, c, e.Address(), 1)
	notYet(t, ch, "before its transaction was mined")
	hash := sim.Commit()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	a := r.a

	block, err := c.BlockByNumber(context.Background(), big.NewInt(2))
	if err != nil {
		t.Fatal(err)
	}
	if block.Hash() != hash || len(block.Transactions()) != 1 {
		t.Fatalf("block 2 %s holds %d transactions; head was %s", block.Hash(), len(block.Transactions()), hash)
	}
	tx := block.Transactions()[0]
	want := ledger.AnchorPublished{
		Origin: testOrigin, Size: 77, Root: root, Chain: "eip155", ChainID: DevChainID,
		Tx: tx.Hash(), Block: 2, BlockHash: hash, Confirmations: 1,
	}
	if *a != want {
		t.Fatalf("Anchor = %+v\nwant %+v", *a, want)
	}
	data, _ := EncodeCalldata(testOrigin, 77, root)
	if tx.Type() != types.DynamicFeeTxType || !bytes.Equal(tx.Data(), data) || tx.Value().Sign() != 0 ||
		tx.To() == nil || *tx.To() != e.Address() || tx.ChainId().Uint64() != DevChainID {
		t.Fatalf("anchor transaction: type %d, to %v, value %v, chain %v, data %x", tx.Type(), tx.To(), tx.Value(), tx.ChainId(), tx.Data())
	}
	if from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx); err != nil || from != e.Address() {
		t.Fatalf("sender %s (%v), want %s", from, err, e.Address())
	}
	if err := e.VerifyAnchor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	// A verifier without a key, requiring the sender, agrees.
	from := e.Address()
	v := newEthereum(t, c, nil, Options{From: &from})
	if err := v.VerifyAnchor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Anchor(context.Background(), testOrigin, 1, root); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Anchor without a key: error %v, want ErrNoKey", err)
	}

	// The anchor survives the ledger's encoding.
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back ledger.AnchorPublished
	if err := back.UnmarshalBinary(b); err != nil || back != *a {
		t.Fatalf("ledger round trip: %+v, %v", back, err)
	}

	// A second anchor takes the next nonce.
	a2 := anchorOnce(t, sim, e, testOrigin, 78, root)
	if a2.Block != 3 || a2.Tx == a.Tx {
		t.Fatalf("second anchor %+v", a2)
	}
	if err := e.VerifyAnchor(context.Background(), a2); err != nil {
		t.Fatal(err)
	}
}

func TestAnchorBadInput(t *testing.T) {
	t.Parallel()
	key := testKey(t, "bad input")
	sim := newChain(t, key)
	e := newEthereum(t, sim.Client(), key, Options{})
	if _, err := e.Anchor(context.Background(), "", 1, [32]byte{}); !errors.Is(err, ErrCalldata) {
		t.Errorf("empty origin: error %v, want ErrCalldata", err)
	}
	if _, err := e.Anchor(context.Background(), "a\nb", 1, [32]byte{}); !errors.Is(err, ErrCalldata) {
		t.Errorf("origin with a newline: error %v, want ErrCalldata", err)
	}
	if err := e.VerifyAnchor(context.Background(), nil); err == nil {
		t.Error("VerifyAnchor(nil) succeeded")
	}
	if _, err := NewEthereum(nil, key, Options{}); err == nil {
		t.Error("NewEthereum(nil backend) succeeded")
	}
	if _, err := NewEthereum(sim.Client(), key, Options{Timeout: -1}); err == nil {
		t.Error("NewEthereum with a negative timeout succeeded")
	}
	if _, err := NewEthereum(sim.Client(), &ecdsa.PrivateKey{}, Options{}); err == nil {
		t.Error("NewEthereum with an empty key succeeded")
	}
}

func TestConfirmations(t *testing.T) {
	t.Parallel()
	key := testKey(t, "confirmations")
	sim := newChain(t, key)
	c := sim.Client()
	e := newEthereum(t, c, key, Options{Confirmations: 3})

	ch := anchorAsync(context.Background(), e, testOrigin, 5, [32]byte{5})
	waitSent(t, c, e.Address(), 1)
	b1 := sim.Commit()
	notYet(t, ch, "with 1 confirmation of 3")
	sim.Commit()
	notYet(t, ch, "with 2 confirmations of 3")
	sim.Commit()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.a.Block != 1 || r.a.BlockHash != b1 || r.a.Confirmations != 3 {
		t.Fatalf("Anchor = block %d (%x), %d confirmations; want block 1 (%x), 3", r.a.Block, r.a.BlockHash, r.a.Confirmations, b1)
	}
	if err := e.VerifyAnchor(context.Background(), r.a); err != nil {
		t.Fatal(err)
	}
	strict := newEthereum(t, c, nil, Options{Confirmations: 5})
	wantVerifyError(t, strict.VerifyAnchor(context.Background(), r.a), ErrConfirmations, 1, "3 confirmations, 5 required")
	sim.Commit()
	sim.Commit()
	if err := strict.VerifyAnchor(context.Background(), r.a); err != nil {
		t.Fatalf("with 5 confirmations: %v", err)
	}
}

func TestFinalized(t *testing.T) {
	t.Parallel()
	key := testKey(t, "finalized")
	sim := newChain(t, key)
	c := sim.Client()
	e := newEthereum(t, c, key, Options{Finalized: true})

	ch := anchorAsync(context.Background(), e, testOrigin, 9, [32]byte{9})
	waitSent(t, c, e.Address(), 1)
	sim.Commit()
	notYet(t, ch, "before finality")
	plain := newEthereum(t, c, nil, Options{})
	a := &ledger.AnchorPublished{Origin: testOrigin, Size: 9, Root: [32]byte{9}, Chain: "eip155", ChainID: DevChainID,
		Block: 1, BlockHash: header(t, c, 1).Hash()}
	blk, err := c.BlockByNumber(context.Background(), big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	a.Tx = blk.Transactions()[0].Hash()
	if err := plain.VerifyAnchor(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	wantVerifyError(t, e.VerifyAnchor(context.Background(), a), ErrConfirmations, 1, "not finalized")

	// The simulated chain finalizes every 32nd block.
	r := commitUntil(t, sim, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.a.Block != 1 || r.a.Confirmations < 32 {
		t.Fatalf("Anchor = block %d, %d confirmations; want block 1, at least 32", r.a.Block, r.a.Confirmations)
	}
	if err := e.VerifyAnchor(context.Background(), r.a); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAfterReorg(t *testing.T) {
	t.Parallel()
	key := testKey(t, "reorg")
	sim := newChain(t, key)
	c := sim.Client()
	e := newEthereum(t, c, key, Options{})

	parent := sim.Commit()
	a := anchorOnce(t, sim, e, testOrigin, 3, [32]byte{3})
	if a.Block != 2 {
		t.Fatalf("anchor in block %d, want 2", a.Block)
	}
	old := common.Hash(a.BlockHash)

	// Rewound to block 1, the chain no longer has block 2.
	if err := sim.Fork(parent); err != nil {
		t.Fatal(err)
	}
	wantVerifyError(t, e.VerifyAnchor(context.Background(), a), ErrNotCanonical, 2,
		"block 2 recorded with hash "+old.Hex(), "ends at block 1")

	// A longer chain without the transaction replaces it.
	sim.Rollback()
	sim.Commit()
	sim.Commit()
	now := header(t, c, 2).Hash()
	if now == old {
		t.Fatal("the fork did not replace block 2")
	}
	wantVerifyError(t, e.VerifyAnchor(context.Background(), a), ErrNotCanonical, 2,
		"block 2 recorded with hash "+old.Hex(), "canonical hash "+now.Hex())
}

func TestAnchorThroughReorg(t *testing.T) {
	t.Parallel()
	key := testKey(t, "anchor through reorg")
	sim := newChain(t, key)
	c := sim.Client()
	ctx := context.Background()
	e := newEthereum(t, c, key, Options{Confirmations: 3})
	genesis := header(t, c, 0).Hash()

	ch := anchorAsync(ctx, e, testOrigin, 11, [32]byte{11})
	waitSent(t, c, e.Address(), 1)
	old := sim.Commit()
	blk, err := c.BlockByHash(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	tx := blk.Transactions()[0]
	sim.Commit()
	notYet(t, ch, "with 2 confirmations of 3")

	// Replace blocks 1 and 2 with a chain where the transaction comes later.
	if err := sim.Fork(genesis); err != nil {
		t.Fatal(err)
	}
	sim.Rollback()
	sim.Commit()
	notYet(t, ch, "after its block was dropped")
	if err := c.SendTransaction(ctx, tx); err != nil && !strings.Contains(err.Error(), "already known") {
		t.Fatal(err)
	}
	r := commitUntil(t, sim, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	rcpt, err := c.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if r.a.Tx != tx.Hash() || r.a.BlockHash == old || r.a.BlockHash != rcpt.BlockHash || r.a.Block != rcpt.BlockNumber.Uint64() {
		t.Fatalf("Anchor = tx %x in block %d (%x); want tx %s in block %d (%s), not %s",
			r.a.Tx, r.a.Block, r.a.BlockHash, tx.Hash(), rcpt.BlockNumber, rcpt.BlockHash, old)
	}
	if r.a.Confirmations < 3 {
		t.Fatalf("Anchor saw %d confirmations, want at least 3", r.a.Confirmations)
	}
	if err := e.VerifyAnchor(ctx, r.a); err != nil {
		t.Fatal(err)
	}
}

func TestForgedAnchors(t *testing.T) {
	t.Parallel()
	key, other := testKey(t, "forged"), testKey(t, "other")
	sim := newChain(t, key, other)
	c := sim.Client()
	ctx := context.Background()
	e := newEthereum(t, c, key, Options{})
	a := anchorOnce(t, sim, e, testOrigin, 21, [32]byte{21})
	b := anchorOnce(t, sim, e, testOrigin, 22, [32]byte{22})
	sim.Commit()
	if err := e.VerifyAnchor(ctx, a); err != nil {
		t.Fatal(err)
	}

	// Transactions that are not well-formed anchors, in block 4.
	chainID := big.NewInt(DevChainID)
	signer := types.LatestSignerForChainID(chainID)
	self := crypto.PubkeyToAddress(key.PublicKey)
	data, _ := EncodeCalldata(testOrigin, 21, [32]byte{21})
	head := header(t, c, 3)
	feeCap := new(big.Int).Add(new(big.Int).Lsh(head.BaseFee, 1), big.NewInt(1e9))
	sign := func(inner types.TxData) *types.Transaction {
		tx, err := types.SignNewTx(key, signer, inner)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendTransaction(ctx, tx); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	noData := sign(&types.DynamicFeeTx{ChainID: chainID, Nonce: 2, GasTipCap: big.NewInt(1e9), GasFeeCap: feeCap, Gas: 21000, To: &self})
	legacy := sign(&types.LegacyTx{Nonce: 3, GasPrice: feeCap, Gas: 100000, To: &self, Data: data})
	elsewhere := sign(&types.DynamicFeeTx{ChainID: chainID, Nonce: 4, GasTipCap: big.NewInt(1e9), GasFeeCap: feeCap, Gas: 100000, To: &common.Address{1}, Data: data})
	reverted := sign(&types.DynamicFeeTx{ChainID: chainID, Nonce: 5, GasTipCap: big.NewInt(1e9), GasFeeCap: feeCap, Gas: 100000, To: &revertAddr, Data: data})
	waitSent(t, c, self, 6)
	b4 := sim.Commit()
	sim.Commit()
	in4 := func(tx *types.Transaction) *ledger.AnchorPublished {
		f := *a
		f.Tx, f.Block, f.BlockHash = tx.Hash(), 4, b4
		return &f
	}

	otherAddr := crypto.PubkeyToAddress(other.PublicKey)
	for _, tc := range []struct {
		name     string
		verifier *Ethereum
		forge    func(f *ledger.AnchorPublished) *ledger.AnchorPublished
		sentinel error
		block    uint64
		reason   []string
	}{
		{"root", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Root[0] ^= 1; return f },
			ErrMismatch, 1, []string{"root 14", "calldata has 15"}},
		{"size", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Size = 20; return f },
			ErrMismatch, 1, []string{"size 20 recorded, calldata has 21"}},
		{"origin", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Origin = "cohort/mallory"; return f },
			ErrMismatch, 1, []string{`origin "cohort/mallory" recorded, calldata has "` + testOrigin + `"`}},
		{"unknown tx", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Tx[0] ^= 1; return f },
			ErrNotFound, 1, []string{"does not know the transaction"}},
		{"another anchor's tx", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Tx = b.Tx; return f },
			ErrMismatch, 1, []string{"size 21 recorded, calldata has 22"}},
		{"another anchor's tx and size", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished {
			f.Tx, f.Size, f.Root = b.Tx, b.Size, b.Root
			return f
		}, ErrMismatch, 1, []string{"included in block 2", "recorded block 1"}},
		{"block hash", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.BlockHash[31] ^= 1; return f },
			ErrNotCanonical, 1, []string{"block 1 recorded with hash", "canonical hash " + common.Hash(a.BlockHash).Hex()}},
		{"block number", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Block = 2; return f },
			ErrNotCanonical, 2, []string{"block 2 recorded with hash " + common.Hash(a.BlockHash).Hex()}},
		{"future block", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Block = 99; return f },
			ErrNotCanonical, 99, []string{"ends at block 5"}},
		{"chain ID", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.ChainID = 1; return f },
			ErrMismatch, 1, []string{"chain ID 1 recorded, the node serves chain 1337"}},
		{"chain family", e, func(f *ledger.AnchorPublished) *ledger.AnchorPublished { f.Chain = "bip122"; return f },
			ErrMismatch, 1, []string{`chain family "bip122"`}},
		{"sender", newEthereum(t, c, nil, Options{From: &otherAddr}), func(f *ledger.AnchorPublished) *ledger.AnchorPublished { return f },
			ErrMismatch, 1, []string{"sent from " + self.Hex() + ", want " + otherAddr.Hex()}},
		{"recipient", newEthereum(t, c, nil, Options{To: &otherAddr}), func(f *ledger.AnchorPublished) *ledger.AnchorPublished { return f },
			ErrMismatch, 1, []string{"sent to " + self.Hex() + ", want " + otherAddr.Hex()}},
		{"no calldata", e, func(*ledger.AnchorPublished) *ledger.AnchorPublished { return in4(noData) },
			ErrCalldata, 4, []string{"0 bytes"}},
		{"legacy tx", e, func(*ledger.AnchorPublished) *ledger.AnchorPublished { return in4(legacy) },
			ErrMismatch, 4, []string{"transaction type 0, want 2"}},
		{"sent elsewhere", e, func(*ledger.AnchorPublished) *ledger.AnchorPublished { return in4(elsewhere) },
			ErrMismatch, 4, []string{"sent to 0x0100000000000000000000000000000000000000, want " + self.Hex()}},
		{"reverted", newEthereum(t, c, nil, Options{To: &revertAddr}), func(*ledger.AnchorPublished) *ledger.AnchorPublished { return in4(reverted) },
			ErrReverted, 4, []string{"receipt status 0"}},
	} {
		f := *a
		err := tc.verifier.VerifyAnchor(ctx, tc.forge(&f))
		t.Run(tc.name, func(t *testing.T) { wantVerifyError(t, err, tc.sentinel, tc.block, tc.reason...) })
	}
}

// fixedGas lets a transaction that will revert be sent.
type fixedGas struct{ simulated.Client }

func (fixedGas) EstimateGas(context.Context, ethereum.CallMsg) (uint64, error) { return 100000, nil }

func TestAnchorReverted(t *testing.T) {
	t.Parallel()
	key := testKey(t, "reverted")
	sim := newChain(t, key)
	ctx := context.Background()

	// The node refuses to estimate gas for a transaction that reverts.
	e := newEthereum(t, sim.Client(), key, Options{To: &revertAddr})
	if _, err := e.Anchor(ctx, testOrigin, 1, [32]byte{}); err == nil || !strings.Contains(err.Error(), "estimating gas") {
		t.Fatalf("Anchor to a reverting contract: error %v, want a gas estimation error", err)
	}

	// Sent regardless, it is mined and reverts.
	e = newEthereum(t, fixedGas{sim.Client()}, key, Options{To: &revertAddr, Confirmations: 3})
	ch := anchorAsync(ctx, e, testOrigin, 1, [32]byte{})
	waitSent(t, sim.Client(), e.Address(), 1)
	sim.Commit()
	r := <-ch
	if !errors.Is(r.err, ErrReverted) || !strings.Contains(r.err.Error(), "in block 1") {
		t.Fatalf("Anchor = %+v, %v; want ErrReverted in block 1", r.a, r.err)
	}
}

func TestAnchorTimeout(t *testing.T) {
	t.Parallel()
	key := testKey(t, "timeout")
	sim := newChain(t, key)
	ctx := context.Background()

	// Nobody seals blocks: Options.Timeout ends the wait.
	e := newEthereum(t, sim.Client(), key, Options{Timeout: 100 * time.Millisecond})
	_, err := e.Anchor(ctx, testOrigin, 1, [32]byte{})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not included yet") {
		t.Fatalf("Anchor error %v, want ErrTimeout, not included yet", err)
	}
	// The error names the transaction, which is still pending.
	waitSent(t, sim.Client(), e.Address(), 1)
	sim.Commit()
	blk, err2 := sim.Client().BlockByNumber(ctx, big.NewInt(1))
	if err2 != nil || len(blk.Transactions()) != 1 {
		t.Fatalf("block 1: %v", err2)
	}
	if tx := blk.Transactions()[0]; !strings.Contains(err.Error(), tx.Hash().Hex()) {
		t.Errorf("error %q does not name tx %s", err, tx.Hash().Hex())
	}

	// The caller's cancellation is not a timeout.
	cctx, cancel := context.WithCancel(ctx)
	e = newEthereum(t, sim.Client(), key, Options{Confirmations: 2})
	ch := anchorAsync(cctx, e, testOrigin, 2, [32]byte{})
	waitSent(t, sim.Client(), e.Address(), 2)
	cancel()
	r := <-ch
	if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, ErrTimeout) {
		t.Fatalf("Anchor error %v, want context.Canceled", r.err)
	}
}

func TestAnchorDroppedByReorg(t *testing.T) {
	t.Parallel()
	key := testKey(t, "dropped")
	sim := newChain(t, key)
	c := sim.Client()
	ctx := context.Background()
	genesis := header(t, c, 0).Hash()
	e := newEthereum(t, c, key, Options{Confirmations: 2, Timeout: 500 * time.Millisecond})

	ch := anchorAsync(ctx, e, testOrigin, 13, [32]byte{13})
	waitSent(t, c, e.Address(), 1)
	b1 := sim.Commit()
	time.Sleep(100 * time.Millisecond) // Anchor sees its transaction in block 1
	if err := sim.Fork(genesis); err != nil {
		t.Fatal(err)
	}
	sim.Rollback()
	r := <-ch
	want := "not included: block 1 (" + b1.Hex() + "), which held it, was dropped by a reorganisation"
	if !errors.Is(r.err, ErrTimeout) || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("Anchor error %v, want ErrTimeout saying %q", r.err, want)
	}
}
