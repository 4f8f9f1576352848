package anchor

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/cohort-mpc/cohort/ledger"
	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

// ChainEIP155 is the chain family of Ethereum anchors: their ChainID is an
// EIP-155 chain ID.
const ChainEIP155 = "eip155"

// Defaults for Options.
const (
	DefaultConfirmations = 1
	DefaultPollInterval  = 2 * time.Second
	DefaultTimeout       = 15 * time.Minute
)

// Backend is the part of an Ethereum JSON-RPC client that Ethereum uses.
// *ethclient.Client and the Client of go-ethereum's simulated backend
// satisfy it.
type Backend interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BlockNumber(ctx context.Context) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	EstimateGas(ctx context.Context, call ethereum.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionByHash(ctx context.Context, hash common.Hash) (tx *types.Transaction, isPending bool, err error)
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// Options configure an Ethereum. The zero value asks for the defaults.
type Options struct {
	// Confirmations is how many blocks must hold or follow the anchor's
	// block, that block included, before Anchor returns, and before
	// VerifyAnchor accepts an anchor. 0 means DefaultConfirmations (1: the
	// receipt's block itself).
	Confirmations uint64
	// Finalized makes Anchor also wait, and VerifyAnchor also require,
	// that the anchor's block be at or below the chain's finalized block.
	Finalized bool
	// PollInterval is how often Anchor polls for its receipt and the
	// chain's head. 0 means DefaultPollInterval.
	PollInterval time.Duration
	// Timeout bounds a whole Anchor call, waiting included. 0 means
	// DefaultTimeout; a chain with 12-second blocks needs more for more than
	// about 60 confirmations.
	Timeout time.Duration
	// To is the anchor transactions' recipient; nil means the sender
	// itself. The transactions carry no value. VerifyAnchor requires the
	// same recipient.
	To *common.Address
	// From, if set, is the account VerifyAnchor requires anchors to be
	// sent from. Anchor sends from its key's account regardless.
	From *common.Address
}

// Ethereum anchors checkpoints on an Ethereum chain: each anchor is an
// EIP-1559 (type 2) transaction carrying EncodeCalldata's bytes. It is safe
// for concurrent use; concurrent Anchor calls send one at a time.
type Ethereum struct {
	client Backend
	key    *ecdsa.PrivateKey // nil: VerifyAnchor only
	from   common.Address
	opts   Options
	sendMu sync.Mutex // serialises choosing a nonce and sending
}

var _ Anchorer = (*Ethereum)(nil)

// NewEthereum returns an Ethereum that talks to the chain through client
// and signs with key, a secp256k1 key. With a nil key it can only verify.
func NewEthereum(client Backend, key *ecdsa.PrivateKey, opts Options) (*Ethereum, error) {
	if client == nil {
		return nil, errors.New("anchor: nil backend")
	}
	if opts.PollInterval < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("anchor: negative poll interval %v or timeout %v", opts.PollInterval, opts.Timeout)
	}
	if opts.Confirmations == 0 {
		opts.Confirmations = DefaultConfirmations
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.To != nil {
		to := *opts.To
		opts.To = &to
	}
	if opts.From != nil {
		from := *opts.From
		opts.From = &from
	}
	e := &Ethereum{client: client, opts: opts}
	if key != nil {
		k, err := secp256k1Key(key)
		if err != nil {
			return nil, err
		}
		e.key = k
		e.from = crypto.PubkeyToAddress(k.PublicKey)
	}
	return e, nil
}

// secp256k1Key checks that key is a secp256k1 key and returns a copy of it.
func secp256k1Key(key *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	// go-ethereum keeps secp256k1 keys as big.Int scalars, the deprecated
	// form: ecdsa.PrivateKey.Bytes does not support the curve.
	//lint:ignore SA1019 see above
	if key.D == nil || key.X == nil || key.Y == nil || key.Curve == nil {
		return nil, errors.New("anchor: incomplete private key")
	}
	k, err := crypto.ToECDSA(crypto.FromECDSA(key))
	if err != nil || k.X.Cmp(key.X) != 0 || k.Y.Cmp(key.Y) != 0 {
		return nil, errors.New("anchor: not a secp256k1 private key")
	}
	return k, nil
}

// Address returns the account Anchor sends from (the zero address without
// a key).
func (e *Ethereum) Address() common.Address { return e.from }

// Anchor publishes the checkpoint (origin, size, root) in a transaction and
// waits until its receipt reports success, its block has
// Options.Confirmations confirmations (and is finalized if
// Options.Finalized), and that block is still canonical. If a
// reorganisation drops the block, Anchor waits for the transaction to be
// included again, up to Options.Timeout. Once the transaction is sent, the
// errors name its hash.
func (e *Ethereum) Anchor(ctx context.Context, origin string, size uint64, root [32]byte) (*ledger.AnchorPublished, error) {
	if e.key == nil {
		return nil, ErrNoKey
	}
	data, err := EncodeCalldata(origin, size, root)
	if err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	chainID, err := e.chainID(ctx)
	if err != nil {
		return nil, e.stopped(parent, ctx, "getting the chain ID", err)
	}
	tx, err := e.send(ctx, chainID, data)
	if err != nil {
		return nil, e.stopped(parent, ctx, "sending", err)
	}
	a, err := e.wait(ctx, tx.Hash())
	if err != nil {
		return nil, e.stopped(parent, ctx, "waiting for tx "+tx.Hash().Hex(), err)
	}
	a.Origin, a.Size, a.Root = origin, size, root
	a.Chain, a.ChainID = ChainEIP155, chainID.Uint64()
	return a, nil
}

// stopped describes an error of Anchor's step what, telling a caller's
// cancellation from Options.Timeout running out.
func (e *Ethereum) stopped(parent, ctx context.Context, what string, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("anchor: %s: %w", what, context.Cause(parent))
	case ctx.Err() != nil:
		return fmt.Errorf("%w after %v: %s: %w", ErrTimeout, e.opts.Timeout, what, err)
	}
	return fmt.Errorf("anchor: %s: %w", what, err)
}

func (e *Ethereum) chainID(ctx context.Context) (*big.Int, error) {
	id, err := e.client.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	if id == nil || id.Sign() <= 0 || !id.IsUint64() {
		return nil, fmt.Errorf("chain ID %v out of range", id)
	}
	return id, nil
}

// send builds, signs and sends the anchor transaction carrying data.
func (e *Ethereum) send(ctx context.Context, chainID *big.Int, data []byte) (*types.Transaction, error) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	nonce, err := e.client.PendingNonceAt(ctx, e.from)
	if err != nil {
		return nil, fmt.Errorf("nonce of %s: %w", e.from.Hex(), err)
	}
	tip, err := e.client.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("gas tip: %w", err)
	}
	head, err := e.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("head block: %w", err)
	}
	if head.BaseFee == nil {
		return nil, errors.New("head block has no base fee: the chain does not take EIP-1559 transactions")
	}
	feeCap := new(big.Int).Add(new(big.Int).Lsh(head.BaseFee, 1), tip)
	to := e.from
	if e.opts.To != nil {
		to = *e.opts.To
	}
	gas, err := e.client.EstimateGas(ctx, ethereum.CallMsg{
		From: e.from, To: &to, GasTipCap: tip, GasFeeCap: feeCap, Value: new(big.Int), Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("estimating gas for a transaction from %s: %w", e.from.Hex(), err)
	}
	tx, err := types.SignNewTx(e.key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas,
		To: &to, Value: new(big.Int), Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if err := e.client.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("tx %s: %w", tx.Hash().Hex(), err)
	}
	return tx, nil
}

// wait polls until the transaction hash is confirmed as Options ask, and
// returns where it landed, without what was anchored. A failed poll is
// retried; the last failure and the state seen are reported when ctx ends.
func (e *Ethereum) wait(ctx context.Context, hash common.Hash) (*ledger.AnchorPublished, error) {
	state, was := "not included yet", ""
	var lastErr error
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%s (last error: %v): %w", state, lastErr, ctx.Err())
			}
			return nil, fmt.Errorf("%s: %w", state, ctx.Err())
		case <-timer.C:
		}
		a, where, st, err := e.poll(ctx, hash)
		switch {
		case errors.Is(err, ErrReverted):
			return nil, err
		case err != nil:
			lastErr = err
		case a != nil:
			return a, nil
		case where != "":
			state, was, lastErr = st, where, nil
		case was != "":
			state, lastErr = "not included: "+was+", which held it, was dropped by a reorganisation", nil
		default:
			state, lastErr = st, nil
		}
		timer.Reset(e.opts.PollInterval)
	}
}

// poll looks once at the transaction hash. It returns the anchor once it
// is confirmed; otherwise where the transaction is ("" if not included) and
// the state of things.
func (e *Ethereum) poll(ctx context.Context, hash common.Hash) (a *ledger.AnchorPublished, where, state string, err error) {
	r, err := e.client.TransactionReceipt(ctx, hash)
	if errors.Is(err, ethereum.NotFound) {
		return nil, "", "not included yet", nil
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("receipt: %w", err)
	}
	if r.BlockNumber == nil || r.TxHash != hash {
		return nil, "", "", fmt.Errorf("receipt for tx %s in block %v does not answer the query", r.TxHash.Hex(), r.BlockNumber)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return nil, "", "", fmt.Errorf("%w: in block %v (%s), receipt status %d", ErrReverted, r.BlockNumber, r.BlockHash.Hex(), r.Status)
	}
	block := r.BlockNumber.Uint64()
	where = fmt.Sprintf("block %d (%s)", block, r.BlockHash.Hex())
	head, err := e.client.BlockNumber(ctx)
	if err != nil {
		return nil, "", "", fmt.Errorf("block number: %w", err)
	}
	confs := confirmations(head, block)
	state = fmt.Sprintf("in %s, %d of %d confirmations", where, confs, e.opts.Confirmations)
	if confs < e.opts.Confirmations {
		return nil, where, state, nil
	}
	if e.opts.Finalized {
		fin, err := e.finalized(ctx)
		if err != nil {
			return nil, "", "", err
		}
		if fin < block {
			return nil, where, fmt.Sprintf("%s, not finalized (finalized block %d)", state, fin), nil
		}
	}
	h, err := e.client.HeaderByNumber(ctx, r.BlockNumber)
	if err != nil && !errors.Is(err, ethereum.NotFound) {
		return nil, "", "", fmt.Errorf("header %d: %w", block, err)
	}
	if err != nil || h.Hash() != r.BlockHash {
		return nil, where, state + ", but the block is no longer canonical", nil
	}
	return &ledger.AnchorPublished{Tx: hash, Block: block, BlockHash: r.BlockHash, Confirmations: confs}, where, "", nil
}

// finalized returns the number of the chain's finalized block.
func (e *Ethereum) finalized(ctx context.Context) (uint64, error) {
	h, err := e.client.HeaderByNumber(ctx, big.NewInt(int64(rpc.FinalizedBlockNumber)))
	if err != nil {
		return 0, fmt.Errorf("finalized block: %w", err)
	}
	return h.Number.Uint64(), nil
}

// confirmations is how many blocks from block to head, both included, the
// chain has.
func confirmations(head, block uint64) uint64 {
	if head < block {
		return 0
	}
	return head - block + 1
}

// VerifyAnchor checks a against the chain: the chain ID; that a's block is
// canonical with the recorded hash; that the transaction is a mined type-2
// transaction on this chain from Options.From (if set) to Options.To (nil:
// its sender) whose calldata decodes to a's origin, size and root; that its
// receipt reports success in a's block; and that the block has
// Options.Confirmations confirmations now (and is finalized if
// Options.Finalized). It returns a *VerifyError if the chain contradicts a,
// and another error if the chain could not be asked.
//
// The node must still index the transaction: a node that keeps only recent
// transactions indexed reports older anchors as ErrNotFound.
func (e *Ethereum) VerifyAnchor(ctx context.Context, a *ledger.AnchorPublished) error {
	if a == nil {
		return errors.New("anchor: verify: nil anchor")
	}
	txHash := common.Hash(a.Tx)
	fail := func(err error, format string, args ...any) error {
		return &VerifyError{Tx: txHash, Block: a.Block, Reason: fmt.Sprintf(format, args...), Err: err}
	}
	asking := func(what string, err error) error {
		return fmt.Errorf("anchor: verify tx %s: %s: %w", txHash.Hex(), what, err)
	}
	if a.Chain != ChainEIP155 {
		return fail(ErrMismatch, "chain family %q recorded, want %q", a.Chain, ChainEIP155)
	}
	chainID, err := e.chainID(ctx)
	if err != nil {
		return asking("chain ID", err)
	}
	if a.ChainID != chainID.Uint64() {
		return fail(ErrMismatch, "chain ID %d recorded, the node serves chain %d", a.ChainID, chainID)
	}

	// The recorded block must be canonical, whatever the transaction says.
	h, err := e.client.HeaderByNumber(ctx, new(big.Int).SetUint64(a.Block))
	if errors.Is(err, ethereum.NotFound) {
		head, err := e.client.BlockNumber(ctx)
		if err != nil {
			return asking("block number", err)
		}
		return fail(ErrNotCanonical, "block %d recorded with hash %s, the canonical chain ends at block %d",
			a.Block, common.Hash(a.BlockHash).Hex(), head)
	}
	if err != nil {
		return asking(fmt.Sprintf("header %d", a.Block), err)
	}
	if h.Hash() != a.BlockHash {
		return fail(ErrNotCanonical, "block %d recorded with hash %s, canonical hash %s",
			a.Block, common.Hash(a.BlockHash).Hex(), h.Hash().Hex())
	}

	// The transaction must say what a says.
	tx, pending, err := e.client.TransactionByHash(ctx, txHash)
	if errors.Is(err, ethereum.NotFound) {
		return fail(ErrNotFound, "the node does not know the transaction (nodes that index only recent transactions forget old ones)")
	}
	if err != nil {
		return asking("transaction", err)
	}
	if pending {
		return fail(ErrConfirmations, "the transaction is pending")
	}
	if tx.Hash() != txHash {
		return fail(ErrMismatch, "the node answered with transaction %s", tx.Hash().Hex())
	}
	if tx.Type() != types.DynamicFeeTxType {
		return fail(ErrMismatch, "transaction type %d, want %d (EIP-1559)", tx.Type(), types.DynamicFeeTxType)
	}
	if tx.ChainId().Cmp(chainID) != 0 {
		return fail(ErrMismatch, "transaction for chain %v, the node serves chain %v", tx.ChainId(), chainID)
	}
	origin, size, root, problem := decodeCalldata(tx.Data())
	if problem != "" {
		return fail(ErrCalldata, "%s", problem)
	}
	var diffs []string
	if origin != a.Origin {
		diffs = append(diffs, fmt.Sprintf("origin %q recorded, calldata has %q", a.Origin, origin))
	}
	if size != a.Size {
		diffs = append(diffs, fmt.Sprintf("size %d recorded, calldata has %d", a.Size, size))
	}
	if root != a.Root {
		diffs = append(diffs, fmt.Sprintf("root %x recorded, calldata has %x", a.Root, root))
	}
	if len(diffs) > 0 {
		return fail(ErrMismatch, "%s", strings.Join(diffs, "; "))
	}
	sender, err := types.Sender(types.LatestSignerForChainID(chainID), tx)
	if err != nil {
		return fail(ErrMismatch, "transaction signature: %v", err)
	}
	if e.opts.From != nil && sender != *e.opts.From {
		return fail(ErrMismatch, "sent from %s, want %s", sender.Hex(), e.opts.From.Hex())
	}
	wantTo := sender
	if e.opts.To != nil {
		wantTo = *e.opts.To
	}
	if tx.To() == nil {
		return fail(ErrMismatch, "transaction creates a contract, want it sent to %s", wantTo.Hex())
	}
	if *tx.To() != wantTo {
		return fail(ErrMismatch, "sent to %s, want %s", tx.To().Hex(), wantTo.Hex())
	}

	// The receipt must put it in the recorded block, successfully.
	r, err := e.client.TransactionReceipt(ctx, txHash)
	if errors.Is(err, ethereum.NotFound) {
		return fail(ErrNotFound, "the node has the transaction but no receipt")
	}
	if err != nil {
		return asking("receipt", err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return fail(ErrReverted, "receipt status %d", r.Status)
	}
	if r.BlockNumber == nil || r.BlockNumber.Cmp(new(big.Int).SetUint64(a.Block)) != 0 || r.BlockHash != a.BlockHash {
		return fail(ErrMismatch, "included in block %v (%s), recorded block %d (%s)",
			r.BlockNumber, r.BlockHash.Hex(), a.Block, common.Hash(a.BlockHash).Hex())
	}

	// And it must be buried deep enough.
	head, err := e.client.BlockNumber(ctx)
	if err != nil {
		return asking("block number", err)
	}
	if confs := confirmations(head, a.Block); confs < e.opts.Confirmations {
		return fail(ErrConfirmations, "%d confirmations, %d required", confs, e.opts.Confirmations)
	}
	if e.opts.Finalized {
		fin, err := e.finalized(ctx)
		if err != nil {
			return asking("finality", err)
		}
		if fin < a.Block {
			return fail(ErrConfirmations, "block %d not finalized (finalized block %d)", a.Block, fin)
		}
	}
	return nil
}
