// Package node will be the daemon a data owner runs beside its data: gRPC
// services, did:key identity and pinned mutual TLS, configuration, the dataset
// registry and the policy engine. It binds the engine to the network and holds
// no protocol logic.
package node
