package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohort-mpc/cohort/identity"
)

// Origin is the checkpoint origin (and signed-note key name) of the ledger
// of the node with public key pub: "cohort/<did:key>".
func Origin(pub ed25519.PublicKey) string { return "cohort/" + identity.DID(pub) }

// OriginKey returns the public key named by a cohort origin.
func OriginKey(origin string) (ed25519.PublicKey, error) {
	did, ok := strings.CutPrefix(origin, "cohort/")
	if !ok {
		return nil, fmt.Errorf("%w: origin %q does not start with cohort/", ErrMalformed, origin)
	}
	pub, err := identity.ParseDID(did)
	if err != nil {
		return nil, fmt.Errorf("ledger: origin %q: %w", origin, err)
	}
	return pub, nil
}

// VerifierKey returns the signed-note verifier key (name+hash+keydata) of
// the ledger of the node with public key pub.
func VerifierKey(pub ed25519.PublicKey) string {
	vkey, err := note.NewEd25519VerifierKey(Origin(pub), pub)
	if err != nil { // only for invalid names, and origins are valid
		panic("ledger: verifier key: " + err.Error())
	}
	return vkey
}

// LogVerifier returns the signed-note verifier of checkpoints signed by the
// node with public key pub.
func LogVerifier(pub ed25519.PublicKey) note.Verifier {
	v, err := note.NewVerifier(VerifierKey(pub))
	if err != nil {
		panic("ledger: verifier: " + err.Error())
	}
	return v
}

// skey formats an Ed25519 key as a signed-note signer key.
func skey(name string, priv ed25519.PrivateKey) string {
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic("ledger: signer key: " + err.Error())
	}
	// vkey is name+hash+keydata (keydata is base64 and may hold '+'); the
	// signer key repeats name and hash.
	hash := vkey[len(name)+1 : len(name)+9]
	return "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...))
}

func logSigner(priv ed25519.PrivateKey) note.Signer {
	s, err := note.NewSigner(skey(Origin(priv.Public().(ed25519.PublicKey)), priv))
	if err != nil {
		panic("ledger: signer: " + err.Error())
	}
	return s
}

// WitnessName is the name under which a node cosigns other logs'
// checkpoints (its key name in C2SP tlog-cosignature lines).
func WitnessName(pub ed25519.PublicKey) string { return "cohort-witness/" + identity.DID(pub) }

// WitnessKey returns the C2SP cosignature/v1 verifier key of the witness
// with public key pub.
func WitnessKey(pub ed25519.PublicKey) string {
	vkey, err := note.NewEd25519VerifierKey(WitnessName(pub), pub)
	if err != nil {
		panic("ledger: witness key: " + err.Error())
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		panic("ledger: witness key: " + err.Error())
	}
	return cvkey
}

// WitnessVerifier returns the verifier of cosignatures by the witness whose
// cosignature/v1 verifier key is vkey.
func WitnessVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: witness key %q: %v", ErrMalformed, vkey, err)
	}
	return v, nil
}

func cosigner(priv ed25519.PrivateKey) *fnote.Signer {
	s, err := fnote.NewSignerForCosignatureV1(skey(WitnessName(priv.Public().(ed25519.PublicKey)), priv))
	if err != nil {
		panic("ledger: cosigner: " + err.Error())
	}
	return s
}
