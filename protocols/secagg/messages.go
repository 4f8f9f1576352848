package secagg

// Wire types of one SecAgg+ round. Every message carries the round ID (the
// public round seed) and the index of the party it is from or for, so that a
// message replayed from another round, or sent for another party, is refused.
// Parties are numbered 0..N-1 in the order of the round's roster.
//
// Each type implements encoding.BinaryMarshaler and BinaryUnmarshaler with a
// versioned, canonical encoding (wire.go; docs/wire/secagg.md): decoding then
// re-encoding gives the same bytes, and decoding never panics.

// RoundID identifies a round. It is the public seed the neighbour graph is
// derived from, and it is bound into every signature, key derivation and
// message.
type RoundID [32]byte

// AdvertiseKeys is step 1, client to server: the party's two X25519 public
// keys for the round, signed with its long-term Ed25519 identity key.
type AdvertiseKeys struct {
	Round   RoundID
	Sender  uint32
	EncKey  [32]byte // X25519 public key for encrypting shares to this party
	MaskKey [32]byte // X25519 public key for agreeing on pairwise mask seeds
	Sig     [64]byte // Ed25519 over advertiseSigned(Round, Sender, EncKey, MaskKey)
}

// KeyList is the server's reply to step 1: the AdvertiseKeys of every party
// that advertised, in increasing Sender order. A client keeps those of its
// neighbours, after checking their signatures.
type KeyList struct {
	Round RoundID
	Keys  []AdvertiseKeys
}

// EncryptedShare is one party's Shamir shares for one neighbour, encrypted
// for that neighbour (see ShareKeys).
type EncryptedShare struct {
	Peer       uint32 // the receiver in ShareKeys, the sender in ShareBundle
	Ciphertext []byte
}

// ShareKeys is step 2, client to server: for each neighbour, the shares of
// the sender's mask-agreement secret key and of its self-mask seed, sealed
// with an AEAD keyed from the X25519 secret of the two parties' EncKeys and
// bound to the round, the sender and the receiver. Sorted by Peer.
type ShareKeys struct {
	Round  RoundID
	Sender uint32
	Shares []EncryptedShare
}

// ShareBundle is the server's reply to step 2 for one party: the encrypted
// shares its neighbours sent it, sorted by Peer (the sender). The parties
// listed are the neighbours the receiver masks its input with.
type ShareBundle struct {
	Round    RoundID
	Receiver uint32
	Shares   []EncryptedShare
}

// MaskedInput is step 3, client to server: the party's quantised input plus
// its self mask plus its pairwise masks, in Z/2^32 (Words32) or Z/2^64
// (Words64); exactly one of them is set, as the round's parameters say.
type MaskedInput struct {
	Round   RoundID
	Sender  uint32
	Words32 []uint32
	Words64 []uint64
}

// SurvivorList is step 4, server to clients: the parties whose masked input
// the server received, in increasing order.
type SurvivorList struct {
	Round     RoundID
	Survivors []uint32
}

// ConsistencySig is step 4, client to server: the party's signature over
// the survivor list it was sent.
type ConsistencySig struct {
	Round  RoundID
	Sender uint32
	Sig    [64]byte // Ed25519 over consistencySigned(Round, Survivors)
}

// UnmaskRequest is step 5, server to clients: the survivor list with the
// signatures of the parties that confirmed it, at least T of them. A client
// checks every signature is over the list it signed itself.
type UnmaskRequest struct {
	Round      RoundID
	Survivors  []uint32
	Signatures []ConsistencySig
}

// ShareKind says which secret a revealed share is of.
type ShareKind uint8

const (
	// SelfSeedShare is a share of a survivor's self-mask seed.
	SelfSeedShare ShareKind = 1
	// MaskKeyShare is a share of a dropped party's mask-agreement secret key.
	MaskKeyShare ShareKind = 2
)

// RevealedShare is the share a client held of one neighbour's secret.
type RevealedShare struct {
	Of    uint32    // the party whose secret this is a share of
	Kind  ShareKind // SelfSeedShare if Of survived, MaskKeyShare if it dropped
	Share Share     // the decrypted Shamir share
}

// UnmaskShares is step 5, client to server: for each neighbour that sent it
// shares, one share: of the self seed if the neighbour survived, of the
// mask-agreement key if it dropped. Never both for one party. Sorted by Of.
type UnmaskShares struct {
	Round  RoundID
	Sender uint32
	Shares []RevealedShare
}

// Share is one party's Shamir share of a 32-byte secret: the evaluation at
// x = Index (1-based) of a degree T-1 polynomial over the scalar field of
// edwards25519, one for each 16-byte half of the secret.
type Share struct {
	Index uint32
	Lo    [32]byte // canonical little-endian scalar: share of secret[0:16]
	Hi    [32]byte // share of secret[16:32]
}

// SharePlaintext is what an EncryptedShare decrypts to: the sender's shares
// of its two secrets for the receiver.
type SharePlaintext struct {
	Round    RoundID
	Sender   uint32
	Receiver uint32
	MaskKey  Share // share of the sender's mask-agreement X25519 secret key
	SelfSeed Share // share of the sender's self-mask seed
}
