// Package engine will run jobs from proposal to finished model: proposals,
// policy decisions, protocol setup, rounds with deadlines and dropouts, and
// persistence of the aggregator's job state. It drives the federated and
// protocols packages over a Transport (in memory for simulation and tests,
// gRPC through the node package) and reports auditable events to a Recorder.
//
// A job is described by a TOML file that ParseJob and LoadJob validate in
// full, reporting every mistake with its key.
//
// It holds no cryptography or model mathematics itself.
package engine
