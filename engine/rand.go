package engine

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// Randomness. Every random choice a party makes comes from a ChaCha8
// stream (a cryptographically strong generator) keyed by HKDF-SHA256 from
// the party's 32-byte secret seed, a label, the job and the round. Training
// and DP noise use (job, round) only: a retried round trains the same
// update from the same global model, so it reveals nothing new and the DP
// accountant charges it once. Protocol secrets (SecAgg+ keys and masks, mhe
// encryption and decryption-share noise) also bind the attempt, which a site
// only ever moves forward, so no key or mask is used twice.

const (
	labelTrain    = "cohort/engine/train/v1"
	labelProtocol = "cohort/engine/protocol/v1"
	labelSetup    = "cohort/engine/setup/v1"
	labelAgg      = "cohort/engine/aggregator/v1"
)

// stream returns a ChaCha8 generator keyed from seed, label and the
// (job, round, attempt) context.
func stream(seed *[32]byte, label string, job JobID, round, attempt uint32) *rand.ChaCha8 {
	info := make([]byte, 0, len(label)+1+16+8)
	info = append(info, label...)
	info = append(info, 0)
	info = append(info, job[:]...)
	info = binary.BigEndian.AppendUint32(info, round)
	info = binary.BigEndian.AppendUint32(info, attempt)
	k, err := hkdf.Key(sha256.New, seed[:], nil, string(info), 32)
	if err != nil {
		panic("engine: hkdf: " + err.Error()) // 32 bytes of SHA-256 output cannot fail
	}
	return rand.NewChaCha8([32]byte(k))
}
