// Package engine runs federated jobs from proposal to finished model.
//
// A Site is a data owner's side: it dials its aggregator through a Transport,
// decides proposals with its Policy, and computes on its own rows. An
// Aggregator accepts the sites' connections on a Listener and drives a job:
// proposal and decisions, round 0 (federated standardisation statistics and,
// in mhe mode, threshold key generation), the training rounds (sampling,
// local training with DP, SecAgg+ masking, multiparty CKKS encryption or
// plain vectors, collection under per-phase deadlines, dropout recovery,
// retries below quorum, the strategy update) and a final evaluation. It
// reports auditable events to a Recorder and persists the job's state in a
// Store (Pebble) after every round, so that Resume continues a job with the
// same result as an uninterrupted run.
//
// The in-memory transport (MemNetwork) and Simulate run thousands of virtual
// sites in one process; the node package binds the same Site and Aggregator
// to gRPC. A job is described by a TOML file that ParseJob and LoadJob
// validate in full, reporting every mistake with its key.
//
// The package holds no cryptography or model mathematics itself: it calls
// protocols/secagg, protocols/mhe, protocols/sealed and federated.
package engine
