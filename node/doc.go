// Package node is the daemon a data owner runs beside its data. So far it
// holds the node's identity and transport security: a node folder (Init:
// an Ed25519 key, a self-signed TLS certificate for it, a commented
// node.toml), its configuration (ParseConfig, strict: unknown keys and
// malformed did:keys are errors naming the key), and mutual TLS in which
// peers are pinned by did:key with no certificate authority (TLSConfig,
// PinnedPeers): an unknown or mismatched peer is refused at the handshake,
// with who and why reported. The gRPC services, the dataset registry and
// the policy engine that bind the engine to the network come next.
package node
