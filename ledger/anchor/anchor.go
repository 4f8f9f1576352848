// Package anchor publishes ledger checkpoints on a public chain and checks
// such publications, so that a ledger's history cannot later be rewritten
// without the rewrite showing.
//
// An anchor is a transaction whose calldata (see [EncodeCalldata] and
// docs/wire/anchor.md) names a checkpoint: the log's origin, its size and
// its root hash. [Ethereum] sends such a transaction on an Ethereum chain,
// waits for it to be confirmed and describes where it landed in a
// [ledger.AnchorPublished], which the caller records in its ledger.
// [Ethereum.VerifyAnchor] checks a recorded anchor against the chain.
//
// [DevChain] runs an in-process development chain (go-ethereum's simulated
// backend) with a loopback JSON-RPC endpoint, for demonstrations and tests.
package anchor

import (
	"context"
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/ledger"
	"github.com/ethereum/go-ethereum/common"
)

// Anchorer publishes checkpoints on a chain and verifies published ones.
type Anchorer interface {
	// Anchor publishes the checkpoint (origin, size, root), waits until the
	// publication is confirmed and returns where it landed.
	Anchor(ctx context.Context, origin string, size uint64, root [32]byte) (*ledger.AnchorPublished, error)
	// VerifyAnchor checks that a is on the chain as recorded. It returns a
	// *VerifyError if the chain contradicts a, and another error if the
	// chain could not be asked.
	VerifyAnchor(ctx context.Context, a *ledger.AnchorPublished) error
}

// Errors. Those describing an anchor the chain contradicts come wrapped in
// a *VerifyError.
var (
	// ErrCalldata reports calldata that is not a well-formed anchor.
	ErrCalldata = errors.New("anchor: malformed calldata")
	// ErrMismatch reports an anchor whose transaction, receipt or chain
	// differs from what the anchor records.
	ErrMismatch = errors.New("anchor: mismatch")
	// ErrNotFound reports a transaction the chain does not know.
	ErrNotFound = errors.New("anchor: transaction not found")
	// ErrNotCanonical reports an anchor whose block is no longer on the
	// canonical chain (a reorganisation dropped it).
	ErrNotCanonical = errors.New("anchor: block not canonical")
	// ErrReverted reports an anchor transaction that was included but failed
	// (receipt status 0).
	ErrReverted = errors.New("anchor: transaction reverted")
	// ErrConfirmations reports an anchor with fewer confirmations than
	// required, or not yet finalized when finality is required.
	ErrConfirmations = errors.New("anchor: not enough confirmations")
	// ErrTimeout reports that Anchor gave up waiting for its transaction
	// after Options.Timeout.
	ErrTimeout = errors.New("anchor: timed out")
	// ErrNoKey reports an Anchor call on an Ethereum without a signing key.
	ErrNoKey = errors.New("anchor: no signing key")
)

// VerifyError is the evidence that a chain contradicts an anchor: which
// transaction and block, what differed, and a sentinel (ErrMismatch,
// ErrNotCanonical, ...) that errors.Is finds.
type VerifyError struct {
	Tx     common.Hash // the anchor's transaction
	Block  uint64      // the anchor's block number
	Reason string      // what differed, recorded value against the chain's
	Err    error       // the sentinel
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%v: tx %s in block %d: %s", e.Err, e.Tx.Hex(), e.Block, e.Reason)
}

// Unwrap returns the sentinel.
func (e *VerifyError) Unwrap() error { return e.Err }
