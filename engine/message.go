package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error a decoder of engine bytes returns:
// a message, frame or body that is truncated, too large, of an unknown
// version or kind, or not in canonical form.
var ErrMalformed = errors.New("engine: malformed message")

// Size limits of the engine's wire format.
const (
	// MaxMessage bounds an encoded message: a 10^7-parameter model in
	// mhe mode (16 bytes per value) fits with room to spare.
	MaxMessage = 512 << 20
	// MaxFrame bounds the payload of one frame.
	MaxFrame = 1 << 20
)

// JobID identifies a job: the first 16 bytes of the SHA-256 of its
// proposal.
type JobID [16]byte

func (id JobID) String() string { return fmt.Sprintf("%x", id[:]) }

// Kind is the type of a message's body.
type Kind uint8

// Message kinds. The direction is in each comment (A: aggregator, S: site).
const (
	KindInvalid Kind = iota
	KindProposal
	KindDecision
	KindRoundStart
	KindAbort
	KindFinish

	// SecAgg+ steps (bodies are protocols/secagg messages).
	KindSAAdvertise   // S→A AdvertiseKeys
	KindSAKeyList     // A→S KeyList
	KindSAShareKeys   // S→A ShareKeys
	KindSABundle      // A→S ShareBundle
	KindSAMasked      // S→A MaskedInput
	KindSASurvivors   // A→S SurvivorList
	KindSAConsistency // S→A ConsistencySig
	KindSAUnmaskReq   // A→S UnmaskRequest
	KindSAUnmask      // S→A UnmaskShares

	// Multiparty CKKS (bodies are protocols/mhe messages).
	KindMHESetup      // A→S MHESetup: the roster's sealing keys
	KindMHEKeyGen     // S→A MHEKeyGen: key-generation share and sealed threshold shares
	KindMHEShares     // A→S MHEShares: the sealed threshold shares for one site
	KindMHEReady      // S→A empty: the site holds every threshold share
	KindMHEPublicKey  // A→S the collective public key
	KindMHEVector     // S→A an encrypted vector
	KindMHEReleaseReq // A→S ReleaseRequest
	KindMHERelease    // S→A ReleaseShare

	// Plain mode.
	KindPlainVector // S→A the update in the clear

	// Witnessing (bodies: a C2SP tlog-witness add-checkpoint request, and a
	// CosignReply).
	KindCheckpoint  // A→S the aggregator's ledger checkpoint to cosign
	KindCosignature // S→A CosignReply

	// KindGone (S→A, empty body) answers a message for a job the site does
	// not hold (it restarted and lost the job's state, or the job ended
	// there): the aggregator leaves the site out of the job from then on.
	KindGone

	kindEnd
)

var kindNames = [...]string{
	KindInvalid: "invalid", KindProposal: "proposal", KindDecision: "decision",
	KindRoundStart: "round-start", KindAbort: "abort", KindFinish: "finish",
	KindSAAdvertise: "secagg-advertise", KindSAKeyList: "secagg-key-list",
	KindSAShareKeys: "secagg-share-keys", KindSABundle: "secagg-bundle",
	KindSAMasked: "secagg-masked", KindSASurvivors: "secagg-survivors",
	KindSAConsistency: "secagg-consistency", KindSAUnmaskReq: "secagg-unmask-request",
	KindSAUnmask: "secagg-unmask", KindCheckpoint: "checkpoint", KindCosignature: "cosignature", KindGone: "gone", KindMHESetup: "mhe-setup", KindMHEKeyGen: "mhe-keygen",
	KindMHEShares: "mhe-shares", KindMHEReady: "mhe-ready", KindMHEPublicKey: "mhe-public-key",
	KindMHEVector: "mhe-vector", KindMHEReleaseReq: "mhe-release-request",
	KindMHERelease: "mhe-release", KindPlainVector: "plain-vector",
}

func (k Kind) String() string {
	if k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is the envelope of everything the engine sends: which job, which
// round and attempt, what kind of body, and the body's bytes.
//
// Encoding (big endian): version (1 byte, 1), kind (1), job (16), round
// (4), attempt (4), then the body to the end. Round 0 is the job's setup.
type Message struct {
	Job     JobID
	Kind    Kind
	Round   uint32
	Attempt uint32
	Body    []byte
}

const (
	messageVersion = 1
	messageHeader  = 1 + 1 + 16 + 4 + 4
)

// MarshalBinary encodes the message.
func (m *Message) MarshalBinary() ([]byte, error) {
	if m.Kind == KindInvalid || m.Kind >= kindEnd {
		return nil, fmt.Errorf("engine: cannot encode a message of %v", m.Kind)
	}
	if len(m.Body) > MaxMessage-messageHeader {
		return nil, fmt.Errorf("engine: %v body of %d bytes exceeds the %d-byte message limit", m.Kind, len(m.Body), MaxMessage)
	}
	b := make([]byte, messageHeader, messageHeader+len(m.Body))
	b[0] = messageVersion
	b[1] = byte(m.Kind)
	copy(b[2:18], m.Job[:])
	binary.BigEndian.PutUint32(b[18:], m.Round)
	binary.BigEndian.PutUint32(b[22:], m.Attempt)
	return append(b, m.Body...), nil
}

// UnmarshalBinary decodes a message. The Body is a copy.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) < messageHeader {
		return fmt.Errorf("%w: message of %d bytes is shorter than its %d-byte header", ErrMalformed, len(b), messageHeader)
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("%w: message of %d bytes exceeds the %d-byte limit", ErrMalformed, len(b), MaxMessage)
	}
	if b[0] != messageVersion {
		return fmt.Errorf("%w: message version %d, want %d", ErrMalformed, b[0], messageVersion)
	}
	k := Kind(b[1])
	if k == KindInvalid || k >= kindEnd {
		return fmt.Errorf("%w: unknown message kind %d", ErrMalformed, b[1])
	}
	*m = Message{Kind: k, Round: binary.BigEndian.Uint32(b[18:]), Attempt: binary.BigEndian.Uint32(b[22:])}
	copy(m.Job[:], b[2:18])
	m.Body = append([]byte(nil), b[messageHeader:]...)
	return nil
}
