package secagg

// Cryptographic primitives of a SecAgg+ round: X25519 key generation from a
// caller's reader, the bytes the Ed25519 signatures cover, the pairwise mask
// seeds, the AEAD that carries Shamir shares between neighbours, and t-of-n
// Shamir sharing of 32-byte secrets over the scalar field of edwards25519.
//
// Shamir sharing uses kyber v3's share package over scalarField, a
// constant-time implementation of the edwards25519 scalar field (order
// ℓ = 2^252 + 27742317777372353535851937790883648493) written here. Its
// encodings and its Pick are those of kyber's edwards25519 suite
// (edwards25519.NewBlakeSHA256Ed25519), so the shares are bit-identical to
// that suite's for the same random stream; it avoids the suite's extra module
// dependencies (go.dedis.ch/fixbuf, golang.org/x/crypto).

import (
	"cmp"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/cohort-mpc/cohort/tensor"
	"go.dedis.ch/kyber/v3"
	"go.dedis.ch/kyber/v3/share"
)

// ErrDecrypt is returned (wrapped, naming the sender and the receiver) when
// an encrypted share does not open: it was tampered with, or it was sealed
// under another key, round, sender or receiver.
var ErrDecrypt = errors.New("secagg: share decryption failed")

// ErrLowOrderKey is returned (wrapped) when an X25519 agreement with a peer's
// public key gives the all-zero output, i.e. the peer sent a low-order point.
var ErrLowOrderKey = errors.New("secagg: low-order X25519 public key")

// ErrShareRecovery is returned (wrapped) when Shamir shares cannot be
// recombined: fewer than the threshold, zero or duplicate indices,
// non-canonical scalars, or shares that are not of one 32-byte secret.
var ErrShareRecovery = errors.New("secagg: cannot recover secret from shares")

// ErrSharing is returned (wrapped) when a secret cannot be split: invalid
// threshold or share count, or a failing random source.
var ErrSharing = errors.New("secagg: cannot split secret")

// Domain-separation labels. Each is followed by a zero byte in the signed
// messages, and by the big-endian party indices in the HKDF info strings.
const (
	labelAdvertise   = "cohort/secagg/v1/advertise"
	labelConsistency = "cohort/secagg/v1/consistency"
	labelMask        = "cohort/secagg/v1/mask"
	labelShare       = "cohort/secagg/v1/share"
)

// maxShares bounds the share count n of splitSecret and the share indices
// recoverSecret accepts.
const maxShares = 1 << 16

// newX25519 reads 32 bytes from rand and returns the X25519 private key.
func newX25519(rand io.Reader) (*ecdh.PrivateKey, error) {
	if rand == nil {
		return nil, errors.New("secagg: nil random source")
	}
	var b [32]byte
	defer clear(b[:])
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("secagg: reading X25519 private key: %w", err)
	}
	k, err := ecdh.X25519().NewPrivateKey(b[:])
	if err != nil {
		return nil, fmt.Errorf("secagg: X25519 private key: %w", err)
	}
	return k, nil
}

// advertiseSigned returns the bytes the Ed25519 signature of an
// AdvertiseKeys covers:
//
//	"cohort/secagg/v1/advertise" || 0x00 || round || BE32(sender) || encKey || maskKey
func advertiseSigned(round RoundID, sender uint32, encKey, maskKey *[32]byte) []byte {
	b := make([]byte, 0, len(labelAdvertise)+1+32+4+32+32)
	b = append(b, labelAdvertise...)
	b = append(b, 0)
	b = append(b, round[:]...)
	b = binary.BigEndian.AppendUint32(b, sender)
	b = append(b, encKey[:]...)
	b = append(b, maskKey[:]...)
	return b
}

// consistencySigned returns the bytes the Ed25519 signature of a
// ConsistencySig covers:
//
//	"cohort/secagg/v1/consistency" || 0x00 || round || BE32(len(survivors)) || BE32(survivors[i])...
func consistencySigned(round RoundID, survivors []uint32) []byte {
	b := make([]byte, 0, len(labelConsistency)+1+32+4+4*len(survivors))
	b = append(b, labelConsistency...)
	b = append(b, 0)
	b = append(b, round[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(survivors)))
	for _, s := range survivors {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	return b
}

// sign signs msg with s, which must hold an Ed25519 key (its Public is an
// ed25519.PublicKey); it signs the message itself (opts crypto.Hash(0)).
func sign(s crypto.Signer, msg []byte) ([64]byte, error) {
	var out [64]byte
	if s == nil {
		return out, errors.New("secagg: nil signer")
	}
	if k, ok := s.(ed25519.PrivateKey); ok && len(k) != ed25519.PrivateKeySize {
		return out, fmt.Errorf("secagg: Ed25519 private key of %d bytes", len(k))
	}
	if k, ok := s.(*ed25519.PrivateKey); ok && (k == nil || len(*k) != ed25519.PrivateKeySize) {
		return out, errors.New("secagg: invalid Ed25519 private key")
	}
	if pub, ok := s.Public().(ed25519.PublicKey); !ok || len(pub) != ed25519.PublicKeySize {
		return out, errors.New("secagg: signer does not hold an Ed25519 key")
	}
	sig, err := s.Sign(cryptorand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return out, fmt.Errorf("secagg: signing: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return out, fmt.Errorf("secagg: signer returned %d signature bytes", len(sig))
	}
	copy(out[:], sig)
	return out, nil
}

// verify reports whether sig is a valid Ed25519 signature of msg by pub. It
// returns false for a public key of the wrong size or a nil signature.
func verify(pub ed25519.PublicKey, msg []byte, sig *[64]byte) bool {
	if len(pub) != ed25519.PublicKeySize || sig == nil {
		return false
	}
	return ed25519.Verify(pub, msg, sig[:])
}

// x25519 returns the X25519 shared secret of sk and the peer public key,
// refusing the all-zero output with ErrLowOrderKey.
func x25519(sk *ecdh.PrivateKey, peer *[32]byte) ([]byte, error) {
	if sk == nil || peer == nil {
		return nil, errors.New("secagg: nil X25519 key")
	}
	if sk.Curve() != ecdh.X25519() {
		return nil, errors.New("secagg: private key is not an X25519 key")
	}
	pk, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return nil, fmt.Errorf("secagg: X25519 public key: %w", err)
	}
	z, err := sk.ECDH(pk)
	if err != nil {
		// crypto/ecdh fails X25519 only on the all-zero output.
		return nil, fmt.Errorf("%w: %w", ErrLowOrderKey, err)
	}
	var zero [32]byte
	if subtle.ConstantTimeCompare(z, zero[:]) == 1 {
		return nil, ErrLowOrderKey
	}
	return z, nil
}

// pairwiseSeed returns the mask seed parties a and b share:
//
//	HKDF-SHA256(IKM = X25519(maskSK, peerMaskPub), salt = round,
//	            info = "cohort/secagg/v1/mask" || BE32(min(a,b)) || BE32(max(a,b)))
//
// It is the same for (a, b) and (b, a). It fails with ErrLowOrderKey when the
// agreement gives the all-zero output, and refuses a == b.
func pairwiseSeed(maskSK *ecdh.PrivateKey, peerMaskPub *[32]byte, round RoundID, a, b uint32) (tensor.Seed, error) {
	var seed tensor.Seed
	if a == b {
		return seed, fmt.Errorf("secagg: pairwise seed of party %d with itself", a)
	}
	lo, hi := min(a, b), max(a, b)
	z, err := x25519(maskSK, peerMaskPub)
	if err != nil {
		return seed, fmt.Errorf("secagg: mask agreement of parties %d and %d: %w", lo, hi, err)
	}
	defer clear(z)
	info := make([]byte, 0, len(labelMask)+8)
	info = append(info, labelMask...)
	info = binary.BigEndian.AppendUint32(info, lo)
	info = binary.BigEndian.AppendUint32(info, hi)
	k, err := hkdf.Key(sha256.New, z, round[:], string(info), len(seed))
	if err != nil {
		return seed, fmt.Errorf("secagg: HKDF: %w", err)
	}
	copy(seed[:], k)
	clear(k)
	return seed, nil
}

// shareAEAD returns the AES-256-GCM instance and the additional data for the
// shares sender seals for receiver:
//
//	key = HKDF-SHA256(IKM = X25519(encSK, peerEncPub), salt = round,
//	                  info = "cohort/secagg/v1/share" || BE32(sender) || BE32(receiver))
//	AAD = round || BE32(sender) || BE32(receiver)
func shareAEAD(encSK *ecdh.PrivateKey, peerEncPub *[32]byte, round RoundID, sender, receiver uint32) (cipher.AEAD, []byte, error) {
	if sender == receiver {
		return nil, nil, fmt.Errorf("secagg: shares of party %d for itself", sender)
	}
	z, err := x25519(encSK, peerEncPub)
	if err != nil {
		return nil, nil, err
	}
	defer clear(z)
	info := make([]byte, 0, len(labelShare)+8)
	info = append(info, labelShare...)
	info = binary.BigEndian.AppendUint32(info, sender)
	info = binary.BigEndian.AppendUint32(info, receiver)
	key, err := hkdf.Key(sha256.New, z, round[:], string(info), 32)
	if err != nil {
		return nil, nil, fmt.Errorf("secagg: HKDF: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, fmt.Errorf("secagg: AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, fmt.Errorf("secagg: GCM: %w", err)
	}
	aad := make([]byte, 0, 32+8)
	aad = append(aad, round[:]...)
	aad = binary.BigEndian.AppendUint32(aad, sender)
	aad = binary.BigEndian.AppendUint32(aad, receiver)
	return aead, aad, nil
}

// sealShares encrypts plaintext (a marshalled SharePlaintext) from sender to
// receiver with AES-256-GCM under a zero nonce; see shareAEAD for the key and
// the additional data. The key is unique to the two parties' EncKeys, the
// round, the sender and the receiver, so it must seal exactly one message:
// a party seals its shares for each neighbour once per round. encSK is the
// sender's EncKey secret, peerEncPub the receiver's EncKey. The result is
// len(plaintext)+16 bytes.
func sealShares(encSK *ecdh.PrivateKey, peerEncPub *[32]byte, round RoundID, sender, receiver uint32, plaintext []byte) ([]byte, error) {
	aead, aad, err := shareAEAD(encSK, peerEncPub, round, sender, receiver)
	if err != nil {
		return nil, fmt.Errorf("secagg: sealing shares from party %d to party %d: %w", sender, receiver, err)
	}
	var nonce [12]byte
	return aead.Seal(nil, nonce[:], plaintext, aad), nil
}

// openShares decrypts what sealShares sealed from sender to receiver. encSK
// is the receiver's EncKey secret, peerEncPub the sender's EncKey. Any
// failure (tampering, wrong key, round, sender or receiver, a low-order
// key) is ErrDecrypt, wrapped naming the sender and the receiver.
func openShares(encSK *ecdh.PrivateKey, peerEncPub *[32]byte, round RoundID, sender, receiver uint32, ciphertext []byte) ([]byte, error) {
	aead, aad, err := shareAEAD(encSK, peerEncPub, round, sender, receiver)
	if err != nil {
		return nil, fmt.Errorf("%w (from party %d to party %d): %w", ErrDecrypt, sender, receiver, err)
	}
	var nonce [12]byte
	if len(ciphertext) < aead.Overhead() {
		return nil, fmt.Errorf("%w (from party %d to party %d): ciphertext of %d bytes", ErrDecrypt, sender, receiver, len(ciphertext))
	}
	pt, err := aead.Open(nil, nonce[:], ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w (from party %d to party %d)", ErrDecrypt, sender, receiver)
	}
	return pt, nil
}

// readerStream is the cipher.Stream kyber wants, reading its key stream from
// an io.Reader. After a read error it records the error and produces 0x01
// bytes, so that rejection sampling still ends; the caller checks err.
type readerStream struct {
	r   io.Reader
	err error
}

func (s *readerStream) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("secagg: readerStream: output smaller than input")
	}
	var buf [64]byte
	for off := 0; off < len(src); off += len(buf) {
		n := min(len(buf), len(src)-off)
		if s.err == nil {
			_, s.err = io.ReadFull(s.r, buf[:n])
		}
		if s.err != nil {
			for i := range buf[:n] {
				buf[i] = 1
			}
		}
		subtle.XORBytes(dst[off:off+n], src[off:off+n], buf[:n])
	}
	clear(buf[:])
}

// splitSecret returns t-of-n Shamir shares of secret, with Index 1..n: the
// secret's halves secret[0:16] and secret[16:32], read as little-endian
// integers below 2^128, are the constant terms of two random polynomials of
// degree t-1 over the edwards25519 scalar field (coefficients drawn from rand,
// the Lo polynomial first), and share i holds their values at x = i. It
// needs 1 <= t <= n <= 65536.
func splitSecret(secret *[32]byte, t, n int, rand io.Reader) ([]Share, error) {
	if secret == nil || rand == nil {
		return nil, fmt.Errorf("%w: nil secret or random source", ErrSharing)
	}
	if t < 1 || n < t || n > maxShares {
		return nil, fmt.Errorf("%w: threshold %d of %d shares", ErrSharing, t, n)
	}
	stream := &readerStream{r: rand}
	var g scalarField
	out := make([]Share, n)
	for half := range 2 {
		var s scalar
		s.setLE16((*[16]byte)(secret[16*half : 16*half+16]))
		poly := share.NewPriPoly(g, t, &s, stream)
		for i, ps := range poly.Shares(n) {
			v := ps.V.(*scalar)
			out[i].Index = uint32(ps.I + 1)
			if half == 0 {
				v.putLE(&out[i].Lo)
			} else {
				v.putLE(&out[i].Hi)
			}
			v.Zero()
		}
		for _, c := range poly.Coefficients() {
			c.Zero()
		}
	}
	if stream.err != nil {
		clear(out)
		return nil, fmt.Errorf("%w: reading randomness: %w", ErrSharing, stream.err)
	}
	return out, nil
}

// recoverSecret recombines t or more shares of one secret, with distinct
// indices in 1..65536, into the secret by Lagrange interpolation at 0 (of
// the t shares with the lowest indices). It fails with ErrShareRecovery on
// fewer than t shares, a zero, duplicate or too large index, a
// non-canonical scalar, or when the result is not a split 32-byte secret
// (either half at least 2^128). Shares of different secrets, or randomly
// altered ones, fail that check with overwhelming probability; but Shamir
// shares are not verifiable: an adversary who alters a share can shift the
// result undetected, and shares beyond the t used are not checked.
func recoverSecret(shares []Share, t int) ([32]byte, error) {
	var out [32]byte
	if t < 1 || t > maxShares {
		return out, fmt.Errorf("%w: threshold %d", ErrShareRecovery, t)
	}
	if len(shares) < t {
		return out, fmt.Errorf("%w: %d shares, threshold %d", ErrShareRecovery, len(shares), t)
	}
	seen := make(map[uint32]struct{}, len(shares))
	for i := range shares {
		idx := shares[i].Index
		if idx == 0 || idx > maxShares {
			return out, fmt.Errorf("%w: share index %d", ErrShareRecovery, idx)
		}
		if _, dup := seen[idx]; dup {
			return out, fmt.Errorf("%w: duplicate share index %d", ErrShareRecovery, idx)
		}
		seen[idx] = struct{}{}
	}
	// The t shares with the lowest indices, as kyber's share.RecoverSecret
	// takes them. Indices are public.
	use := make([]*Share, len(shares))
	for i := range shares {
		use[i] = &shares[i]
	}
	slices.SortFunc(use, func(a, b *Share) int { return cmp.Compare(a.Index, b.Index) })
	use = use[:t]

	ys := make([]scalar, 2*t) // Lo values, then Hi values
	defer func() {
		for i := range ys {
			ys[i].Zero()
		}
	}()
	for i, sh := range use {
		if !ys[i].setCanonical(&sh.Lo) || !ys[t+i].setCanonical(&sh.Hi) {
			return out, fmt.Errorf("%w: non-canonical scalar in share %d", ErrShareRecovery, sh.Index)
		}
	}
	lambda := lagrangeAtZero(use)
	var buf [32]byte
	defer clear(buf[:])
	var high byte
	for half := range 2 {
		var acc, term scalar
		for i := range t {
			term.Mul(&lambda[i], &ys[half*t+i])
			acc.Add(&acc, &term)
		}
		acc.putLE(&buf)
		acc.Zero()
		term.Zero()
		for _, b := range buf[16:] {
			high |= b
		}
		copy(out[16*half:16*half+16], buf[:16])
	}
	if high != 0 {
		clear(out[:])
		return out, fmt.Errorf("%w: shares are not of one 32-byte secret", ErrShareRecovery)
	}
	return out, nil
}

// lagrangeAtZero returns the Lagrange coefficients at x = 0 of the points
// x_i = shares[i].Index (distinct, non-zero, public):
// λ_i = Π_{j≠i} x_j / (x_j - x_i), the same values share.RecoverSecret uses,
// with one field inversion for all of them (Montgomery's batch inversion).
func lagrangeAtZero(shares []*Share) []scalar {
	t := len(shares)
	xs := make([]scalar, t)
	for i, sh := range shares {
		xs[i].SetInt64(int64(sh.Index))
	}
	num := make([]scalar, t)
	den := make([]scalar, t)
	var d scalar
	for i := range t {
		num[i].One()
		den[i].One()
		for j := range t {
			if j == i {
				continue
			}
			num[i].Mul(&num[i], &xs[j])
			den[i].Mul(&den[i], d.Sub(&xs[j], &xs[i]))
		}
	}
	// prefix[i] = den[0]·…·den[i]; invert the product once, then peel.
	prefix := make([]scalar, t)
	prefix[0] = den[0]
	for i := 1; i < t; i++ {
		prefix[i].Mul(&prefix[i-1], &den[i])
	}
	var inv scalar
	inv.Inv(&prefix[t-1])
	for i := t - 1; i >= 0; i-- {
		var di scalar // den[i]^-1
		if i > 0 {
			di.Mul(&inv, &prefix[i-1])
		} else {
			di = inv
		}
		inv.Mul(&inv, &den[i])
		num[i].Mul(&num[i], &di)
	}
	return num
}

// The scalar field of edwards25519, ℓ = 2^252 + 27742317777372353535851937790883648493.
//
// A scalar holds its value v < ℓ in Montgomery form v·2^256 mod ℓ, as four
// little-endian 64-bit limbs. All arithmetic is constant time in the values;
// Pick's rejection sampling branches only on discarded candidates, and Inv's
// square-and-multiply only on the public exponent ℓ-2.

// scalarL is ℓ in little-endian 64-bit limbs.
var scalarL = [4]uint64{0x5812631a5cf5d3ed, 0x14def9dea2f79cd6, 0, 0x1000000000000000}

const (
	scalarM0Inv = 0xd2b51da312547e1b // -ℓ^-1 mod 2^64
)

var (
	scalarR1 = [4]uint64{0xd6ec31748d98951d, 0xc6ef5bf4737dcf70, 0xfffffffffffffffe, 0x0fffffffffffffff} // 2^256 mod ℓ
	scalarR2 = [4]uint64{0xa40611e3449c0f01, 0xd00e1ba768859347, 0xceec73d217f5be65, 0x0399411b7c309a3d} // 2^512 mod ℓ
	scalarR3 = [4]uint64{0x2a9e49687b83a2db, 0x278324e6aef7f3ec, 0x8065dc6c04ec5b65, 0x0e530b773599cec7} // 2^768 mod ℓ
)

// scalarField is the kyber.Group of the edwards25519 scalar field, for the
// share package. It has scalars only: Point returns nil.
type scalarField struct{}

var _ kyber.Group = scalarField{}

func (scalarField) String() string       { return "edwards25519-scalars" }
func (scalarField) ScalarLen() int       { return 32 }
func (scalarField) Scalar() kyber.Scalar { return new(scalar) }
func (scalarField) PointLen() int        { return 0 }
func (scalarField) Point() kyber.Point   { return nil }

// scalar is an element of the edwards25519 scalar field; see scalarField.
type scalar struct {
	m [4]uint64 // Montgomery form, < ℓ
}

var _ kyber.Scalar = (*scalar)(nil)

// mulAdd returns the 128-bit t + a·b + c as (hi, lo).
func mulAdd(t, a, b, c uint64) (uint64, uint64) {
	hi, lo := bits.Mul64(a, b)
	var cc uint64
	lo, cc = bits.Add64(lo, t, 0)
	hi += cc
	lo, cc = bits.Add64(lo, c, 0)
	hi += cc
	return hi, lo
}

// reduceOnce returns v - ℓ if v >= ℓ, else v, in constant time; v < 2ℓ.
func reduceOnce(v *[4]uint64) {
	var d [4]uint64
	var b uint64
	d[0], b = bits.Sub64(v[0], scalarL[0], 0)
	d[1], b = bits.Sub64(v[1], scalarL[1], b)
	d[2], b = bits.Sub64(v[2], scalarL[2], b)
	d[3], b = bits.Sub64(v[3], scalarL[3], b)
	// b == 1: v < ℓ, keep v.
	mask := -b
	for i := range v {
		v[i] = v[i]&mask | d[i]&^mask
	}
}

// montMul sets z = a·b·2^-256 mod ℓ, fully reduced, for a < 2^256 and b < ℓ.
func montMul(z, a, b *[4]uint64) {
	var t [6]uint64
	for i := range 4 {
		var c uint64
		for j := range 4 {
			c, t[j] = mulAdd(t[j], a[j], b[i], c)
		}
		var cc uint64
		t[4], cc = bits.Add64(t[4], c, 0)
		t[5] = cc
		m := t[0] * scalarM0Inv
		c, _ = mulAdd(t[0], m, scalarL[0], 0)
		for j := 1; j < 4; j++ {
			c, t[j-1] = mulAdd(t[j], m, scalarL[j], c)
		}
		t[3], cc = bits.Add64(t[4], c, 0)
		t[4] = t[5] + cc
	}
	// t < 2ℓ < 2^254, so t[4] == 0.
	r := [4]uint64{t[0], t[1], t[2], t[3]}
	reduceOnce(&r)
	*z = r
}

// toMont sets s to x mod ℓ for any x < 2^256 given in limbs.
func (s *scalar) toMont(x *[4]uint64) { montMul(&s.m, x, &scalarR2) }

// limbsLE reads 32 little-endian bytes as limbs.
func limbsLE(b *[32]byte) [4]uint64 {
	return [4]uint64{
		binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]),
		binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:]),
	}
}

// setLE16 sets s to the little-endian 128-bit integer b.
func (s *scalar) setLE16(b *[16]byte) {
	var buf [32]byte
	copy(buf[:], b[:])
	x := limbsLE(&buf)
	s.toMont(&x)
	clear(buf[:])
}

// setCanonical sets s to the little-endian b and reports whether b < ℓ (if
// not, s is left zero). Constant time in b except for the result.
func (s *scalar) setCanonical(b *[32]byte) bool {
	x := limbsLE(b)
	var bw uint64
	_, bw = bits.Sub64(x[0], scalarL[0], 0)
	_, bw = bits.Sub64(x[1], scalarL[1], bw)
	_, bw = bits.Sub64(x[2], scalarL[2], bw)
	_, bw = bits.Sub64(x[3], scalarL[3], bw)
	if bw == 0 { // x >= ℓ
		s.m = [4]uint64{}
		return false
	}
	s.toMont(&x)
	return true
}

// putLE writes the canonical 32-byte little-endian encoding of s.
func (s *scalar) putLE(b *[32]byte) {
	var v [4]uint64
	montMul(&v, &s.m, &[4]uint64{1})
	for i := range v {
		binary.LittleEndian.PutUint64(b[8*i:], v[i])
	}
}

// Equal reports whether s == s2, in constant time.
func (s *scalar) Equal(s2 kyber.Scalar) bool {
	o := s2.(*scalar)
	var d uint64
	for i := range s.m {
		d |= s.m[i] ^ o.m[i]
	}
	return (d|-d)>>63 == 0
}

// Set sets s = a.
func (s *scalar) Set(a kyber.Scalar) kyber.Scalar { s.m = a.(*scalar).m; return s }

// Clone returns a copy of s.
func (s *scalar) Clone() kyber.Scalar { c := *s; return &c }

// SetInt64 sets s = v mod ℓ.
func (s *scalar) SetInt64(v int64) kyber.Scalar {
	u := uint64(v)
	neg := v < 0
	if neg {
		u = -u
	}
	s.toMont(&[4]uint64{u})
	if neg {
		s.Neg(s)
	}
	return s
}

// Zero sets s = 0.
func (s *scalar) Zero() kyber.Scalar { s.m = [4]uint64{}; return s }

// One sets s = 1.
func (s *scalar) One() kyber.Scalar { s.m = scalarR1; return s }

// Add sets s = a + b.
func (s *scalar) Add(a, b kyber.Scalar) kyber.Scalar {
	x, y := &a.(*scalar).m, &b.(*scalar).m
	var r [4]uint64
	var c uint64
	r[0], c = bits.Add64(x[0], y[0], 0)
	r[1], c = bits.Add64(x[1], y[1], c)
	r[2], c = bits.Add64(x[2], y[2], c)
	r[3], _ = bits.Add64(x[3], y[3], c) // < 2ℓ < 2^254: no carry out
	reduceOnce(&r)
	s.m = r
	return s
}

// Sub sets s = a - b.
func (s *scalar) Sub(a, b kyber.Scalar) kyber.Scalar {
	x, y := &a.(*scalar).m, &b.(*scalar).m
	var r [4]uint64
	var bw uint64
	r[0], bw = bits.Sub64(x[0], y[0], 0)
	r[1], bw = bits.Sub64(x[1], y[1], bw)
	r[2], bw = bits.Sub64(x[2], y[2], bw)
	r[3], bw = bits.Sub64(x[3], y[3], bw)
	mask := -bw
	var c uint64
	r[0], c = bits.Add64(r[0], scalarL[0]&mask, 0)
	r[1], c = bits.Add64(r[1], scalarL[1]&mask, c)
	r[2], c = bits.Add64(r[2], scalarL[2]&mask, c)
	r[3], _ = bits.Add64(r[3], scalarL[3]&mask, c)
	s.m = r
	return s
}

// Neg sets s = -a.
func (s *scalar) Neg(a kyber.Scalar) kyber.Scalar {
	var z scalar
	return s.Sub(&z, a)
}

// Mul sets s = a·b.
func (s *scalar) Mul(a, b kyber.Scalar) kyber.Scalar {
	montMul(&s.m, &a.(*scalar).m, &b.(*scalar).m)
	return s
}

// Div sets s = a/b (0 if b == 0).
func (s *scalar) Div(a, b kyber.Scalar) kyber.Scalar {
	var i scalar
	i.Inv(b)
	return s.Mul(a, &i)
}

// Inv sets s = a^-1 = a^(ℓ-2) (0 if a == 0).
func (s *scalar) Inv(a kyber.Scalar) kyber.Scalar {
	base := a.(*scalar).m
	e := scalarL
	e[0] -= 2 // ℓ's lowest limb is above 2: no borrow
	acc := scalarR1
	for i := 255; i >= 0; i-- {
		montMul(&acc, &acc, &acc)
		if e[i/64]>>(i%64)&1 == 1 { // public exponent bit
			montMul(&acc, &acc, &base)
		}
	}
	s.m = acc
	return s
}

// Pick sets s to a uniform non-zero scalar from rand, exactly as kyber's
// edwards25519 suite does (util/random.Int): 32 stream bytes read as a
// big-endian integer, masked to 253 bits, until one is in 1..ℓ-1.
func (s *scalar) Pick(rand cipher.Stream) kyber.Scalar {
	var b [32]byte
	defer clear(b[:])
	for {
		clear(b[:])
		rand.XORKeyStream(b[:], b[:])
		b[0] &= 0x1f
		x := [4]uint64{
			binary.BigEndian.Uint64(b[24:]), binary.BigEndian.Uint64(b[16:]),
			binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[0:]),
		}
		var bw uint64
		_, bw = bits.Sub64(x[0], scalarL[0], 0)
		_, bw = bits.Sub64(x[1], scalarL[1], bw)
		_, bw = bits.Sub64(x[2], scalarL[2], bw)
		_, bw = bits.Sub64(x[3], scalarL[3], bw)
		nz := x[0] | x[1] | x[2] | x[3]
		if bw == 1 && nz != 0 { // 0 < x < ℓ; rejected candidates are discarded
			s.toMont(&x)
			return s
		}
	}
}

// SetBytes sets s to the little-endian integer b reduced mod ℓ.
func (s *scalar) SetBytes(b []byte) kyber.Scalar {
	// 32-byte chunks, the most significant first: acc = acc·2^256 + chunk,
	// in Montgomery form (montMul(acc, R2) is acc·2^256 in that form).
	var acc [4]uint64
	n := (len(b) + 31) / 32
	for c := n - 1; c >= 0; c-- {
		var buf [32]byte
		lo := 32 * c
		hi := min(lo+32, len(b))
		copy(buf[:], b[lo:hi])
		x := limbsLE(&buf)
		clear(buf[:])
		var xm, t [4]uint64
		montMul(&xm, &x, &scalarR2)
		montMul(&t, &acc, &scalarR2)
		var cc uint64
		var r [4]uint64
		r[0], cc = bits.Add64(t[0], xm[0], 0)
		r[1], cc = bits.Add64(t[1], xm[1], cc)
		r[2], cc = bits.Add64(t[2], xm[2], cc)
		r[3], _ = bits.Add64(t[3], xm[3], cc)
		reduceOnce(&r)
		acc = r
	}
	s.m = acc
	return s
}

// String returns the hex of the canonical little-endian encoding.
func (s *scalar) String() string {
	var b [32]byte
	s.putLE(&b)
	return hex.EncodeToString(b[:])
}

// MarshalSize returns 32.
func (s *scalar) MarshalSize() int { return 32 }

// MarshalBinary returns the canonical 32-byte little-endian encoding.
func (s *scalar) MarshalBinary() ([]byte, error) {
	var b [32]byte
	s.putLE(&b)
	return b[:], nil
}

// UnmarshalBinary sets s from a canonical 32-byte little-endian encoding.
func (s *scalar) UnmarshalBinary(buf []byte) error {
	if len(buf) != 32 {
		return fmt.Errorf("secagg: scalar of %d bytes", len(buf))
	}
	if !s.setCanonical((*[32]byte)(buf)) {
		return errors.New("secagg: non-canonical scalar")
	}
	return nil
}

// MarshalTo writes the encoding of s to w.
func (s *scalar) MarshalTo(w io.Writer) (int, error) {
	var b [32]byte
	s.putLE(&b)
	return w.Write(b[:])
}

// UnmarshalFrom reads an encoding of s from r.
func (s *scalar) UnmarshalFrom(r io.Reader) (int, error) {
	var b [32]byte
	n, err := io.ReadFull(r, b[:])
	if err != nil {
		return n, err
	}
	return n, s.UnmarshalBinary(b[:])
}
