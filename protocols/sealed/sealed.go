package sealed

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Every error of this package that a peer or the relay can
// cause wraps one of these.
var (
	// ErrMalformed is an Announcement or a Box that cannot be decoded, or
	// that has no encoding.
	ErrMalformed = errors.New("sealed: malformed message")
	// ErrSignature is an Announcement whose signature does not verify
	// under the claimed party's identity key and the caller's context.
	ErrSignature = errors.New("sealed: invalid announcement signature")
	// ErrPublicKey is an Announcement whose X25519 public key is not a
	// canonical encoding or is of low order (its agreement with any key
	// would be predictable).
	ErrPublicKey = errors.New("sealed: invalid X25519 public key")
	// ErrDecrypt is a Box that does not open: it was tampered with, or
	// sealed by another party, for another party or in another context.
	ErrDecrypt = errors.New("sealed: box decryption failed")
)

// Sizes.
const (
	// MaxPlaintext bounds the length in bytes of a sealed payload.
	MaxPlaintext = 16 << 20
	// NonceSize is the length of the random nonce that starts a
	// Box.Ciphertext.
	NonceSize = 12
	// Overhead is how much longer a Box.Ciphertext is than its plaintext:
	// the nonce and the 16-byte GCM tag.
	Overhead = NonceSize + 16
	// MaxCiphertext bounds the length of a Box.Ciphertext.
	MaxCiphertext = MaxPlaintext + Overhead
)

// Domain-separation labels.
const (
	// labelAnnounce starts the bytes an Announcement's signature covers.
	labelAnnounce = "cohort/sealed/v1/announce"
	// labelBox is the HKDF salt of a box key, and starts its info.
	labelBox = "cohort/sealed/v1"
)

// Key is one party's X25519 key pair for one context (a job), with the
// party's index and the context. Its private half is secret: a Key prints
// only its party, never the private key.
type Key struct {
	party   uint32
	context []byte
	priv    *ecdh.PrivateKey
	public  [32]byte
}

// Announcement is a party's X25519 public key for one context, signed with
// the party's Ed25519 identity key. The context is not part of the
// announcement: the receiver supplies it to Verify.
type Announcement struct {
	Party  uint32   // the party's index in the job's roster
	Public [32]byte // X25519 public key
	// Sig is the Ed25519 signature (64 bytes) of
	//	"cohort/sealed/v1/announce" || 0x00 || BE32(len(context)) || context || BE32(Party) || Public
	Sig []byte
}

// Box is a payload sealed by party From for party To.
type Box struct {
	From, To uint32
	// Ciphertext is the random nonce (NonceSize bytes) followed by the
	// AES-256-GCM encryption of the payload and its tag.
	Ciphertext []byte
}

// NewKey returns a fresh X25519 key pair for party in context, with its
// private key read from rand (32 bytes), and the Announcement of its public
// key signed by signer. The signer must hold an Ed25519 key (its Public is
// an ed25519.PublicKey) and sign the message itself (crypto.Hash(0)); it is
// given rand. The context must not be empty, and should name the job
// uniquely: keys, announcements and boxes of one context are useless in
// another.
func NewKey(rand io.Reader, signer crypto.Signer, party uint32, context []byte) (*Key, *Announcement, error) {
	if rand == nil {
		return nil, nil, errors.New("sealed: nil random source")
	}
	if len(context) == 0 {
		return nil, nil, errors.New("sealed: empty context")
	}
	if signer == nil {
		return nil, nil, errors.New("sealed: nil signer")
	}
	identity, ok := signer.Public().(ed25519.PublicKey)
	if !ok || len(identity) != ed25519.PublicKeySize {
		return nil, nil, errors.New("sealed: signer does not hold an Ed25519 key")
	}
	var seed [32]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, nil, fmt.Errorf("sealed: reading X25519 private key: %w", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, nil, fmt.Errorf("sealed: X25519 private key: %w", err)
	}
	k := &Key{party: party, context: append([]byte(nil), context...), priv: priv}
	copy(k.public[:], priv.PublicKey().Bytes())
	// A clamped scalar never gives a low-order public key, but check as a
	// receiver will.
	if err := checkPublic(&k.public); err != nil {
		return nil, nil, fmt.Errorf("sealed: party %d: %w", party, err)
	}
	msg := announceSigned(context, party, &k.public)
	sig, err := signer.Sign(rand, msg, crypto.Hash(0))
	if err != nil {
		return nil, nil, fmt.Errorf("sealed: signing announcement of party %d: %w", party, err)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(identity, msg, sig) {
		return nil, nil, fmt.Errorf("sealed: signer returned an invalid signature for party %d", party)
	}
	a := &Announcement{Party: party, Public: k.public, Sig: sig}
	return k, a, nil
}

// Party returns the index of the party that owns k.
func (k *Key) Party() uint32 { return k.party }

// String returns a description of k naming only its party.
func (k Key) String() string { return fmt.Sprintf("sealed.Key(party %d)", k.party) }

// GoString is String, so that %#v does not print the private key.
func (k Key) GoString() string { return k.String() }

// Verify checks that a is party a.Party's announcement for context: that
// a.Sig is a valid Ed25519 signature by identity (the party's identity key)
// and that a.Public is a canonical X25519 public key not of low order. It
// fails with ErrPublicKey or ErrSignature, naming the party. Seal and Open
// trust the announcements they are given: verify every one first, under the
// context of the Key that will use it.
func (a *Announcement) Verify(identity ed25519.PublicKey, context []byte) error {
	if err := checkPublic(&a.Public); err != nil {
		return fmt.Errorf("sealed: announcement of party %d: %w", a.Party, err)
	}
	if len(identity) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: announcement of party %d: identity key of %d bytes", ErrSignature, a.Party, len(identity))
	}
	if len(a.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: announcement of party %d: signature of %d bytes", ErrSignature, a.Party, len(a.Sig))
	}
	if !ed25519.Verify(identity, announceSigned(context, a.Party, &a.Public), a.Sig) {
		return fmt.Errorf("%w: announcement of party %d", ErrSignature, a.Party)
	}
	return nil
}

// Seal encrypts plaintext (at most MaxPlaintext bytes) from k's party for
// party to.Party, whose announcement the caller has verified under k's
// context. The nonce is read from rand. The receiver cannot be k's own
// party.
func (k *Key) Seal(rand io.Reader, to *Announcement, plaintext []byte) (*Box, error) {
	if k == nil || k.priv == nil || to == nil {
		return nil, errors.New("sealed: Seal with a nil key or announcement")
	}
	if rand == nil {
		return nil, errors.New("sealed: nil random source")
	}
	if to.Party == k.party {
		return nil, fmt.Errorf("sealed: sealing for party %d by itself", k.party)
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("sealed: plaintext of %d bytes for party %d exceeds MaxPlaintext", len(plaintext), to.Party)
	}
	b := &Box{From: k.party, To: to.Party}
	aead, err := k.aead(&to.Public, b.From, b.To, &k.public, &to.Public)
	if err != nil {
		return nil, fmt.Errorf("sealed: sealing from party %d to party %d: %w", b.From, b.To, err)
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(rand, out); err != nil {
		return nil, fmt.Errorf("sealed: reading nonce: %w", err)
	}
	var ad [boxADSize]byte
	b.Ciphertext = aead.Seal(out, out[:NonceSize], plaintext, b.additionalData(&ad))
	return b, nil
}

// Open decrypts b, a box from party from.Party for k's party; from is the
// sender's announcement, which the caller has verified under k's context.
// Any failure (tampering, a box of another sender, for another receiver or
// of another context) is ErrDecrypt, naming the sender and the receiver.
func (k *Key) Open(from *Announcement, b *Box) ([]byte, error) {
	if k == nil || k.priv == nil || from == nil || b == nil {
		return nil, errors.New("sealed: Open with a nil key, announcement or box")
	}
	switch {
	case b.To != k.party:
		return nil, fmt.Errorf("%w (from party %d to party %d): opened by party %d", ErrDecrypt, b.From, b.To, k.party)
	case b.From != from.Party:
		return nil, fmt.Errorf("%w (from party %d to party %d): announcement of party %d", ErrDecrypt, b.From, b.To, from.Party)
	case b.From == b.To:
		return nil, fmt.Errorf("%w (from party %d to party %d): box for its sender", ErrDecrypt, b.From, b.To)
	case len(b.Ciphertext) < Overhead || len(b.Ciphertext) > MaxCiphertext:
		return nil, fmt.Errorf("%w (from party %d to party %d): ciphertext of %d bytes", ErrDecrypt, b.From, b.To, len(b.Ciphertext))
	}
	aead, err := k.aead(&from.Public, b.From, b.To, &from.Public, &k.public)
	if err != nil {
		return nil, fmt.Errorf("%w (from party %d to party %d): %w", ErrDecrypt, b.From, b.To, err)
	}
	var ad [boxADSize]byte
	pt, err := aead.Open(nil, b.Ciphertext[:NonceSize], b.Ciphertext[NonceSize:], b.additionalData(&ad))
	if err != nil {
		return nil, fmt.Errorf("%w (from party %d to party %d)", ErrDecrypt, b.From, b.To)
	}
	return pt, nil
}

// aead returns the AES-256-GCM instance of the boxes from party from to
// party to, of k's context, where peer is the other party's public key and
// fromPub, toPub are the sender's and the receiver's:
//
//	key = HKDF-SHA256(IKM  = X25519(k, peer),
//	                  salt = "cohort/sealed/v1",
//	                  info = "cohort/sealed/v1" || 0x00 || BE32(len(context)) || context ||
//	                         BE32(from) || BE32(to) || fromPub || toPub,
//	                  L    = 32)
func (k *Key) aead(peer *[32]byte, from, to uint32, fromPub, toPub *[32]byte) (cipher.AEAD, error) {
	if err := checkCanonical(peer); err != nil {
		return nil, err
	}
	pk, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	z, err := k.priv.ECDH(pk)
	if err != nil {
		// crypto/ecdh fails X25519 only on the all-zero output.
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	defer clear(z)
	info := make([]byte, 0, len(labelBox)+1+4+len(k.context)+8+64)
	info = append(info, labelBox...)
	info = append(info, 0)
	info = binary.BigEndian.AppendUint32(info, uint32(len(k.context)))
	info = append(info, k.context...)
	info = binary.BigEndian.AppendUint32(info, from)
	info = binary.BigEndian.AppendUint32(info, to)
	info = append(info, fromPub[:]...)
	info = append(info, toPub[:]...)
	key, err := hkdf.Key(sha256.New, z, []byte(labelBox), string(info), 32)
	if err != nil {
		return nil, fmt.Errorf("HKDF: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("GCM: %w", err)
	}
	return aead, nil
}

// announceSigned returns the bytes an Announcement's signature covers:
//
//	"cohort/sealed/v1/announce" || 0x00 || BE32(len(context)) || context || BE32(party) || public
func announceSigned(context []byte, party uint32, public *[32]byte) []byte {
	b := make([]byte, 0, len(labelAnnounce)+1+4+len(context)+4+32)
	b = append(b, labelAnnounce...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(context)))
	b = append(b, context...)
	b = binary.BigEndian.AppendUint32(b, party)
	b = append(b, public[:]...)
	return b
}

// checkPublic returns an error wrapping ErrPublicKey unless p is the
// canonical encoding of an X25519 public key (see checkCanonical) that is not
// of low order.
func checkPublic(p *[32]byte) error {
	if err := checkCanonical(p); err != nil {
		return err
	}
	// X25519 clamps every scalar to a multiple of the cofactor 8, so its
	// output is all zero exactly when the point is of low order (on the
	// curve or on its twist); crypto/ecdh refuses that output.
	var probe [32]byte
	probe[0] = 9
	sk, err := ecdh.X25519().NewPrivateKey(probe[:])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	pk, err := ecdh.X25519().NewPublicKey(p[:])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	if _, err := sk.ECDH(pk); err != nil {
		return fmt.Errorf("%w: low order", ErrPublicKey)
	}
	return nil
}

// checkCanonical returns an error wrapping ErrPublicKey unless p is a
// canonical X25519 encoding: a little-endian u below 2^255 - 19, top bit
// clear. Public keys are public: the check need not be constant time.
func checkCanonical(p *[32]byte) error {
	if p[31]&0x80 != 0 {
		return fmt.Errorf("%w: top bit set", ErrPublicKey)
	}
	// u >= 2^255 - 19 = 7fff…ffed (little-endian ed ff … ff 7f).
	high := p[31] == 0x7f && p[0] >= 0xed
	for _, c := range p[1:31] {
		high = high && c == 0xff
	}
	if high {
		return fmt.Errorf("%w: not reduced modulo 2^255-19", ErrPublicKey)
	}
	return nil
}
