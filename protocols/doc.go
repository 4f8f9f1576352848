// Package protocols groups the cryptographic protocols that cohort runs
// between parties. Each lives in its own subpackage as a value with explicit
// steps, typed messages with binary encodings, and randomness passed in as an
// io.Reader; none of them opens a socket or starts goroutines it does not own:
//
//   - protocols/secagg: SecAgg+ secure aggregation with dropout recovery.
//   - protocols/mhe: multiparty threshold CKKS on Lattigo.
//   - protocols/sealed: end-to-end sealed payloads between parties, relayed
//     by an untrusted aggregator (the mhe threshold shares).
//   - protocols/dkg: distributed key generation and threshold signatures.
//
// This package holds what they share: PartyError, the error that names the
// party whose message was refused, so a caller can exclude it whichever
// protocol refused it.
package protocols
