// Package identity holds a node's long-term Ed25519 identity: its key file
// and its W3C did:key name (https://w3c-ccg.github.io/did-method-key/).
//
// A node's did:key names it everywhere: in peer allowlists, as the origin of
// its ledger ("cohort/<did:key>") and as the name of its signed-note keys.
package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrBadDID reports a string that is not an Ed25519 did:key.
var ErrBadDID = errors.New("identity: not an Ed25519 did:key")

// didPrefix is "did:key:" followed by the multibase code of base58btc.
const didPrefix = "did:key:z"

// ed25519Multicodec is the unsigned-varint multicodec code 0xed of an
// Ed25519 public key.
var ed25519Multicodec = [2]byte{0xed, 0x01}

// DID returns the did:key of an Ed25519 public key. It panics if pub is not
// 32 bytes long (a programmer error).
func DID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		panic("identity: DID of a public key that is not 32 bytes")
	}
	b := make([]byte, 0, 2+ed25519.PublicKeySize)
	b = append(append(b, ed25519Multicodec[:]...), pub...)
	return didPrefix + base58Encode(b)
}

// ParseDID returns the Ed25519 public key named by a did:key.
func ParseDID(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, didPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: %q does not start with %q", ErrBadDID, short(s), didPrefix)
	}
	b, err := base58Decode(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadDID, short(s), err)
	}
	if len(b) != 2+ed25519.PublicKeySize || b[0] != ed25519Multicodec[0] || b[1] != ed25519Multicodec[1] {
		return nil, fmt.Errorf("%w: %q does not hold an Ed25519 key", ErrBadDID, short(s))
	}
	pub := ed25519.PublicKey(b[2:])
	if DID(pub) != s { // one spelling per key (no leading-zero games)
		return nil, fmt.Errorf("%w: %q is not in canonical form", ErrBadDID, short(s))
	}
	return pub, nil
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// GenerateKey returns a fresh Ed25519 private key drawn from rand.
func GenerateKey(rand io.Reader) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return priv, nil
}

const pemType = "PRIVATE KEY"

// SaveKey writes key to a new file at path as a PKCS #8 PEM block with mode
// 0600. It refuses to overwrite an existing file.
func SaveKey(path string, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("identity: encode key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("identity: save key: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: pemType, Bytes: der})
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return fmt.Errorf("identity: save key %s: %w", path, werr)
	}
	return nil
}

// LoadKey reads an Ed25519 private key written by SaveKey (any PKCS #8 PEM
// Ed25519 key, as openssl genpkey -algorithm ed25519 writes it).
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: load key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemType {
		return nil, fmt.Errorf("identity: load key %s: no %q PEM block", path, pemType)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: load key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity: load key %s: a %T, not an Ed25519 key", path, k)
	}
	return priv, nil
}
