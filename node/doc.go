// Package node is the daemon a data owner runs beside its data, and the
// aggregator researchers submit jobs to. One node folder holds its identity
// (Init: an Ed25519 key, a self-signed TLS certificate for it, a commented
// node.toml), its ledger, its registered datasets and, for an aggregator,
// its jobs; Start runs it and Shutdown stops it.
//
// Every connection is TLS 1.3 with both sides' self-signed certificates,
// peers pinned by did:key and no certificate authority (TLSConfig): an
// unknown or mismatched peer is refused at the handshake, with who and why
// logged. The gRPC services (package nodepb, docs/wire/node.md) are
// authorised by role: Tasks for the participants listed as peers, Jobs for
// the researchers. A participant dials out to each aggregator (Dialer) and
// receives its tasks on one long-lived stream, which the aggregator's
// TaskServer hands to the engine as a Conn; engine messages travel as
// bounded frames with HTTP/2 flow control.
//
// On the data owner's side, the dataset registry (AddDataset, Registry) is
// the engine's source of rows, NewPolicy decides proposals by the config's
// [[policy]] blocks, and Budget keeps the record-level ε spent per dataset,
// rebuilt from the ledger. On the aggregator's side, Jobs queues, runs,
// follows and resumes the researchers' signed jobs and writes their results
// with ledger receipts. Loopback runs the transport in one process for tests
// and benchmarks.
package node
