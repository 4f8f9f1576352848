// Package sealed carries private, authenticated payloads from one party of a
// job to another through a relay that sees every byte, such as cohort's
// aggregator.
//
// Each party makes a Key for the job with NewKey: a fresh X25519 key pair,
// and an Announcement of its public half signed with the party's long-term
// Ed25519 identity key and bound to the job's context (any byte string that
// names the job uniquely, e.g. its ID). The relay forwards the
// announcements; every party checks each one with Verify against the
// sender's identity key before using it.
//
// A party then seals a payload for another with Key.Seal and the receiver's
// verified announcement, and the receiver opens the Box with Key.Open and
// the sender's verified announcement. The AES-256-GCM key of a box is
// derived with HKDF-SHA256 from the static-static X25519 agreement of the
// two parties' job keys, the context, the sender's and the receiver's
// indices and both public keys, so a box opens only for the party it was
// sealed for, only as coming from the party that sealed it (the relay
// cannot forge or redirect one), and only in the job it was sealed in. The
// sender and receiver indices are also the additional data of the AEAD.
//
// Every box between the same two parties in one job is sealed under the
// same key with a fresh random 96-bit nonce, so a Key must not seal more
// than 2^32 boxes for one receiver. The scheme gives no forward secrecy
// within a job: whoever later learns either party's job key can open every
// box between them, so a Key should live no longer than its job. It does
// not hide payload lengths, nor stop the relay from dropping, delaying or
// replaying a box: callers that care must number their payloads inside the
// plaintext.
//
// The wire formats of Announcement and Box are in docs/wire/sealed.md.
package sealed
