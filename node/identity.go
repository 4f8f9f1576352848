package node

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cohort-mpc/cohort/identity"
)

// Files of a node folder.
const (
	KeyFile    = "node.key"  // the Ed25519 identity key, PKCS #8 PEM, mode 0600
	CertFile   = "node.crt"  // the self-signed TLS certificate for that key
	ConfigFile = "node.toml" // the node's configuration
	LedgerDir  = "ledger"    // the node's ledger (package ledger)
)

// ErrPeer reports a TLS peer that is not allowed: its certificate is not a
// pinned did:key's, or it is malformed.
var ErrPeer = errors.New("node: peer refused")

// certValidity is how long a node's self-signed certificate is valid. The
// certificate only carries the key: trust comes from pinning the did:key.
const certValidity = 10 * 365 * 24 * time.Hour

// SelfSignedCert makes the node's TLS certificate: self-signed by key, its
// subject the node's name, its URI SAN the node's did:key.
func SelfSignedCert(key ed25519.PrivateKey, name string, now time.Time, rand io.Reader) ([]byte, error) {
	pub := key.Public().(ed25519.PublicKey)
	did, err := url.Parse(identity.DID(pub))
	if err != nil {
		return nil, err
	}
	serial, err := randSerial(rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{did},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, fmt.Errorf("node: certificate: %w", err)
	}
	return der, nil
}

// Certificate makes a self-signed certificate for key, valid from now
// (SelfSignedCert), as a tls.Certificate: what a researcher's client, a
// test or a benchmark presents without a node folder.
func Certificate(key ed25519.PrivateKey, name string, rand io.Reader) (tls.Certificate, error) {
	der, err := SelfSignedCert(key, name, time.Now(), rand)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func randSerial(rand io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b[:]), nil
}

// LoadTLS loads a node folder's key and certificate as a TLS certificate,
// checking that the certificate is for the key.
func LoadTLS(dir string) (tls.Certificate, error) {
	key, err := identity.LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	b, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return tls.Certificate{}, fmt.Errorf("node: %s holds no CERTIFICATE PEM block", CertFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node: %s: %w", CertFile, err)
	}
	if pub, ok := cert.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(key.Public()) {
		return tls.Certificate{}, fmt.Errorf("node: %s is not the certificate of %s", CertFile, KeyFile)
	}
	return tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key, Leaf: cert}, nil
}

// PeerDID returns the did:key of the peer that presented rawCerts: a single
// self-signed Ed25519 certificate, valid at now, whose URI SAN (if any)
// names the same key.
func PeerDID(rawCerts [][]byte, now time.Time) (string, error) {
	if len(rawCerts) != 1 {
		return "", fmt.Errorf("%w: %d certificates presented, want exactly one", ErrPeer, len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return "", fmt.Errorf("%w: certificate: %v", ErrPeer, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: a %T key, not Ed25519", ErrPeer, cert.PublicKey)
	}
	did := identity.DID(pub)
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return did, fmt.Errorf("%w: %s: certificate is not self-signed by its key: %v", ErrPeer, did, err)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return did, fmt.Errorf("%w: %s: certificate valid from %s to %s", ErrPeer, did, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	for _, u := range cert.URIs {
		if u.Scheme == "did" && u.String() != did {
			return did, fmt.Errorf("%w: certificate of %s names %s", ErrPeer, did, u)
		}
	}
	return did, nil
}

// PinnedPeers returns a tls.Config VerifyPeerCertificate function that
// accepts only the did:keys in allowed; each refusal is reported to refused
// (if not nil) with who and why before the handshake fails.
func PinnedPeers(allowed []string, now func() time.Time, refused func(did string, err error)) func([][]byte, [][]*x509.Certificate) error {
	allowed = slices.Clone(allowed)
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		did, err := PeerDID(rawCerts, now())
		if err == nil && !slices.Contains(allowed, did) {
			err = fmt.Errorf("%w: %s is not in the allowlist", ErrPeer, did)
		}
		if err != nil && refused != nil {
			refused(did, err)
		}
		return err
	}
}

// TLSConfig returns the mutual-TLS configuration of a node: its own
// certificate, and peers accepted by pinned did:key only (no CA). The same
// configuration serves both sides of a connection.
func TLSConfig(cert tls.Certificate, allowed []string, refused func(did string, err error)) *tls.Config {
	return &tls.Config{
		Certificates:          []tls.Certificate{cert},
		MinVersion:            tls.VersionTLS13,
		ClientAuth:            tls.RequireAnyClientCert,
		InsecureSkipVerify:    true, // no CA: VerifyPeerCertificate pins the peer's key
		VerifyPeerCertificate: PinnedPeers(allowed, time.Now, refused),
	}
}
