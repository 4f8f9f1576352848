// Package ledger will be each node's embedded, verifiable record of what
// happened with its data and its jobs: a Pebble-backed append-only log with a
// hash chain and an RFC 6962 Merkle tree, C2SP signed checkpoints and
// cosignatures, inclusion and consistency proofs, tlog-tiles export, offline
// verification, and anchoring to a public chain.
package ledger
