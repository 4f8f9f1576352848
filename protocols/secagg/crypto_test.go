package secagg

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
	"go.dedis.ch/kyber/v3"
	"go.dedis.ch/kyber/v3/group/edwards25519"
	"go.dedis.ch/kyber/v3/share"
)

func seeded(s byte) io.Reader { return rand.NewChaCha8([32]byte{s, 's', 'e', 'c', 'a', 'g', 'g'}) }

func mustX25519(t testing.TB, r io.Reader) *ecdh.PrivateKey {
	t.Helper()
	k, err := newX25519(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub32(k *ecdh.PrivateKey) *[32]byte { return (*[32]byte)(k.PublicKey().Bytes()) }

// ---- scalar field ----

var bigL, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func limbsToBig(x [4]uint64) *big.Int {
	r := new(big.Int)
	for i := 3; i >= 0; i-- {
		r.Lsh(r, 64)
		r.Or(r, new(big.Int).SetUint64(x[i]))
	}
	return r
}

func scalarToBig(t *testing.T, s kyber.Scalar) *big.Int {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil || len(b) != 32 {
		t.Fatalf("MarshalBinary: %v, %d bytes", err, len(b))
	}
	le := make([]byte, 32)
	for i := range b {
		le[31-i] = b[i]
	}
	v := new(big.Int).SetBytes(le)
	if v.Cmp(bigL) >= 0 {
		t.Fatalf("non-canonical encoding %x", b)
	}
	return v
}

func bigToLE(v *big.Int, n int) []byte {
	be := v.FillBytes(make([]byte, n))
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func TestScalarConstants(t *testing.T) {
	if limbsToBig(scalarL).Cmp(bigL) != 0 {
		t.Fatal("ℓ")
	}
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	m := new(big.Int).ModInverse(bigL, two64)
	m.Sub(two64, m)
	if m.Uint64() != scalarM0Inv {
		t.Fatalf("m0inv %x", m)
	}
	for k, c := range [][4]uint64{scalarR1, scalarR2, scalarR3} {
		want := new(big.Int).Exp(big.NewInt(2), big.NewInt(256*int64(k+1)), bigL)
		if limbsToBig(c).Cmp(want) != 0 {
			t.Fatalf("R%d", k+1)
		}
	}
}

func TestScalarArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	max128 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	edges := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), new(big.Int).Sub(bigL, big.NewInt(1)),
		new(big.Int).Sub(bigL, big.NewInt(2)), max128, new(big.Int).Lsh(big.NewInt(1), 252)}
	vals := append([]*big.Int{}, edges...)
	for range 60 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		vals = append(vals, new(big.Int).Mod(new(big.Int).SetBytes(b), bigL))
	}
	mk := func(v *big.Int) *scalar {
		var s scalar
		if err := s.UnmarshalBinary(bigToLE(v, 32)); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	mod := func(v *big.Int) *big.Int { return v.Mod(v, bigL) }
	for _, x := range vals {
		a := mk(x)
		if got := scalarToBig(t, a); got.Cmp(x) != 0 {
			t.Fatalf("round trip %v: %v", x, got)
		}
		if got := scalarToBig(t, new(scalar).Neg(a)); got.Cmp(mod(new(big.Int).Neg(x))) != 0 {
			t.Fatalf("neg %v", x)
		}
		inv := new(big.Int).ModInverse(x, bigL)
		if inv == nil {
			inv = new(big.Int)
		}
		if got := scalarToBig(t, new(scalar).Inv(a)); got.Cmp(inv) != 0 {
			t.Fatalf("inv %v", x)
		}
		for _, y := range vals {
			b := mk(y)
			if got := scalarToBig(t, new(scalar).Add(a, b)); got.Cmp(mod(new(big.Int).Add(x, y))) != 0 {
				t.Fatalf("add %v %v", x, y)
			}
			if got := scalarToBig(t, new(scalar).Sub(a, b)); got.Cmp(mod(new(big.Int).Sub(x, y))) != 0 {
				t.Fatalf("sub %v %v", x, y)
			}
			if got := scalarToBig(t, new(scalar).Mul(a, b)); got.Cmp(mod(new(big.Int).Mul(x, y))) != 0 {
				t.Fatalf("mul %v %v", x, y)
			}
			if a.Equal(b) != (x.Cmp(y) == 0) {
				t.Fatalf("equal %v %v", x, y)
			}
		}
		// Aliasing.
		c := mk(x)
		c.Mul(c, c)
		if scalarToBig(t, c).Cmp(mod(new(big.Int).Mul(x, x))) != 0 {
			t.Fatal("aliased mul")
		}
	}
	if d := new(scalar).Div(mk(big.NewInt(6)), mk(big.NewInt(3))); scalarToBig(t, d).Int64() != 2 {
		t.Fatal("div")
	}
	if scalarToBig(t, new(scalar).One()).Int64() != 1 || scalarToBig(t, new(scalar).Zero()).Sign() != 0 {
		t.Fatal("one/zero")
	}
	for _, v := range []int64{0, 1, 2, 1 << 40, -1, -7, -1 << 63, 1<<63 - 1} {
		want := mod(big.NewInt(v))
		if got := scalarToBig(t, new(scalar).SetInt64(v)); got.Cmp(want) != 0 {
			t.Fatalf("SetInt64(%d)", v)
		}
	}
	// SetBytes reduces any length.
	for n := 0; n <= 100; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff
			}
		}
		le := append([]byte{}, b...)
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			le[i], le[j] = le[j], le[i]
		}
		want := mod(new(big.Int).SetBytes(le))
		var s scalar
		if got := scalarToBig(t, s.SetBytes(b)); got.Cmp(want) != 0 {
			t.Fatalf("SetBytes of %d bytes", n)
		}
	}
	// Non-canonical encodings are refused.
	for _, v := range []*big.Int{bigL, new(big.Int).Add(bigL, big.NewInt(1)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), new(big.Int).Lsh(big.NewInt(1), 253)} {
		var s scalar
		if err := s.UnmarshalBinary(bigToLE(v, 32)); err == nil {
			t.Fatalf("accepted non-canonical %v", v)
		}
	}
	var s scalar
	if s.UnmarshalBinary(make([]byte, 31)) == nil {
		t.Fatal("accepted 31 bytes")
	}
	// Marshaling helpers.
	a := mk(vals[20])
	var buf bytes.Buffer
	if n, err := a.MarshalTo(&buf); n != 32 || err != nil {
		t.Fatal(n, err)
	}
	enc, _ := a.MarshalBinary()
	if a.String() != hex.EncodeToString(enc) || a.MarshalSize() != 32 {
		t.Fatal("String/MarshalSize")
	}
	var b scalar
	if n, err := b.UnmarshalFrom(&buf); n != 32 || err != nil || !b.Equal(a) || !a.Clone().Equal(a) || !new(scalar).Set(a).Equal(a) {
		t.Fatal("UnmarshalFrom/Clone/Set")
	}
	var g scalarField
	if g.ScalarLen() != 32 || g.String() == "" || !g.Scalar().Equal(new(scalar)) || g.Point() != nil || g.PointLen() != 0 {
		t.Fatal("group")
	}
}

// TestScalarPick checks Pick against kyber's util/random.Int algorithm,
// written with math/big.
func TestScalarPick(t *testing.T) {
	s1 := &readerStream{r: seeded(9)}
	s2 := &readerStream{r: seeded(9)}
	for range 200 {
		var want *big.Int
		for {
			b := make([]byte, 32)
			s2.XORKeyStream(b, b)
			b[0] &= 0x1f
			v := new(big.Int).SetBytes(b)
			if v.Sign() > 0 && v.Cmp(bigL) < 0 {
				want = v
				break
			}
		}
		var s scalar
		if got := scalarToBig(t, s.Pick(s1)); got.Cmp(want) != 0 {
			t.Fatalf("Pick %v, want %v", got, want)
		}
	}
}

// ---- keys and signatures ----

func TestNewX25519Reproducible(t *testing.T) {
	a, b := mustX25519(t, seeded(1)), mustX25519(t, seeded(1))
	if !a.Equal(b) || !bytes.Equal(a.PublicKey().Bytes(), b.PublicKey().Bytes()) {
		t.Fatal("same seed gave different keys")
	}
	// The key is the 32 bytes read.
	raw := make([]byte, 32)
	io.ReadFull(seeded(1), raw)
	if !bytes.Equal(a.Bytes(), raw) {
		t.Fatal("key is not the bytes read")
	}
	r := seeded(1)
	k1, k2 := mustX25519(t, r), mustX25519(t, r)
	if k1.Equal(k2) || k1.Equal(mustX25519(t, seeded(2))) {
		t.Fatal("distinct draws gave equal keys")
	}
	if _, err := newX25519(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("short reader accepted")
	}
	if _, err := newX25519(nil); err == nil {
		t.Fatal("nil reader accepted")
	}
}

func TestSignedMessages(t *testing.T) {
	var round RoundID
	for i := range round {
		round[i] = byte(i)
	}
	var enc, mask [32]byte
	enc[0], mask[0] = 0xee, 0x33
	m := advertiseSigned(round, 0x01020304, &enc, &mask)
	want := append([]byte("cohort/secagg/v1/advertise\x00"), round[:]...)
	want = append(want, 1, 2, 3, 4)
	want = append(append(want, enc[:]...), mask[:]...)
	if !bytes.Equal(m, want) {
		t.Fatalf("advertiseSigned layout: %x", m)
	}
	c := consistencySigned(round, []uint32{1, 0x0a0b0c0d})
	wantC := append([]byte("cohort/secagg/v1/consistency\x00"), round[:]...)
	wantC = append(wantC, 0, 0, 0, 2, 0, 0, 0, 1, 0xa, 0xb, 0xc, 0xd)
	if !bytes.Equal(c, wantC) {
		t.Fatalf("consistencySigned layout: %x", c)
	}
	// Every field is bound.
	seen := map[string]bool{string(m): true, string(c): true}
	add := func(b []byte) {
		if seen[string(b)] {
			t.Fatalf("collision: %x", b)
		}
		seen[string(b)] = true
	}
	r2 := round
	r2[31] ^= 1
	e2, m2 := enc, mask
	e2[31] ^= 1
	m2[31] ^= 1
	add(advertiseSigned(r2, 0x01020304, &enc, &mask))
	add(advertiseSigned(round, 0x01020305, &enc, &mask))
	add(advertiseSigned(round, 0x01020304, &e2, &mask))
	add(advertiseSigned(round, 0x01020304, &enc, &m2))
	add(advertiseSigned(round, 0x01020304, &mask, &enc))
	add(consistencySigned(r2, []uint32{1, 0x0a0b0c0d}))
	add(consistencySigned(round, []uint32{1}))
	add(consistencySigned(round, []uint32{0x0a0b0c0d, 1}))
	add(consistencySigned(round, nil))
	add(consistencySigned(round, []uint32{1, 0x0a0b0c0d, 0}))
}

type errSigner struct{ ed25519.PrivateKey }

func (e errSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("hsm offline")
}

type shortSigner struct{ ed25519.PrivateKey }

func (e shortSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 10), nil
}

func TestSignVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	pub2, _, _ := ed25519.GenerateKey(seeded(6))
	msg := consistencySigned(RoundID{1}, []uint32{0, 1, 2})
	sig, err := sign(priv, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !verify(pub, msg, &sig) {
		t.Fatal("valid signature refused")
	}
	if sig2, _ := sign(&priv, msg); sig2 != sig {
		t.Fatal("*ed25519.PrivateKey signer differs")
	}
	if verify(pub2, msg, &sig) {
		t.Fatal("wrong key accepted")
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-1] ^= 1
	if verify(pub, bad, &sig) {
		t.Fatal("modified message accepted")
	}
	for i := range 64 {
		s2 := sig
		s2[i] ^= 0x80
		if verify(pub, msg, &s2) {
			t.Fatalf("modified signature byte %d accepted", i)
		}
	}
	if verify(pub[:31], msg, &sig) || verify(nil, msg, &sig) || verify(pub, msg, nil) {
		t.Fatal("bad sizes accepted")
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(7))
	var nilKey *ed25519.PrivateKey
	for name, s := range map[string]crypto.Signer{
		"nil": nil, "short key": priv[:40], "ptr nil": nilKey, "ecdsa": ec,
		"failing": errSigner{priv}, "short sig": shortSigner{priv},
	} {
		if _, err := sign(s, msg); err == nil {
			t.Errorf("%s: sign succeeded", name)
		}
	}
}

// ---- pairwise seeds ----

func TestPairwiseSeed(t *testing.T) {
	r := seeded(10)
	keys := make([]*ecdh.PrivateKey, 4)
	for i := range keys {
		keys[i] = mustX25519(t, r)
	}
	round := RoundID{42}
	seeds := map[tensor.Seed]string{}
	for _, rd := range []RoundID{round, {43}} {
		for a := range uint32(4) {
			for b := a + 1; b < 4; b++ {
				ab, err := pairwiseSeed(keys[a], pub32(keys[b]), rd, a, b)
				if err != nil {
					t.Fatal(err)
				}
				ba, err := pairwiseSeed(keys[b], pub32(keys[a]), rd, b, a)
				if err != nil {
					t.Fatal(err)
				}
				if ab != ba {
					t.Fatalf("seed of (%d,%d) not symmetric", a, b)
				}
				if _, dup := seeds[ab]; dup {
					t.Fatalf("seed of (%d,%d) repeats", a, b)
				}
				seeds[ab] = ""
				// Same keys, other party indices: other seed.
				other, _ := pairwiseSeed(keys[a], pub32(keys[b]), rd, a+10, b+10)
				if other == ab {
					t.Fatal("party indices not bound")
				}
			}
		}
	}
	// Independent derivation from the design.
	z, _ := keys[0].ECDH(keys[3].PublicKey())
	info := append([]byte("cohort/secagg/v1/mask"), 0, 0, 0, 0, 0, 0, 0, 3)
	want, _ := hkdf.Key(sha256.New, z, round[:], string(info), 32)
	got, _ := pairwiseSeed(keys[3], pub32(keys[0]), round, 3, 0)
	if !bytes.Equal(got[:], want) {
		t.Fatal("seed does not follow the design")
	}
	// Known answer for the seeded keys.
	if h := hex.EncodeToString(got[:]); h != "5395b4f7b7cea5ec17ddac5fd61bac757c3952abd11b2f70c065bfe6b76a3194" {
		t.Fatalf("pairwise seed known answer: %s", h)
	}
	// Low-order peer keys and misuse.
	for _, p := range []*[32]byte{{}, {1}} {
		if _, err := pairwiseSeed(keys[0], p, round, 0, 1); !errors.Is(err, ErrLowOrderKey) {
			t.Fatalf("low-order key %x: %v", p[0], err)
		}
	}
	if _, err := pairwiseSeed(keys[0], pub32(keys[1]), round, 1, 1); err == nil {
		t.Fatal("a == b accepted")
	}
	if _, err := pairwiseSeed(nil, pub32(keys[1]), round, 0, 1); err == nil {
		t.Fatal("nil key accepted")
	}
	p256, _ := ecdh.P256().GenerateKey(seeded(3))
	if _, err := pairwiseSeed(p256, pub32(keys[1]), round, 0, 1); err == nil {
		t.Fatal("P-256 key accepted")
	}
}

// ---- share encryption ----

func TestSealOpen(t *testing.T) {
	r := seeded(20)
	s, rcv, other := mustX25519(t, r), mustX25519(t, r), mustX25519(t, r)
	round := RoundID{7}
	pt := []byte("marshalled SharePlaintext: some bytes of shares")
	ct, err := sealShares(s, pub32(rcv), round, 3, 9, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != len(pt)+16 || bytes.Contains(ct, pt[:16]) {
		t.Fatal("ciphertext shape")
	}
	got, err := openShares(rcv, pub32(s), round, 3, 9, ct)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	// Independent derivation from the design.
	z, _ := s.ECDH(rcv.PublicKey())
	key, _ := hkdf.Key(sha256.New, z, round[:], "cohort/secagg/v1/share\x00\x00\x00\x03\x00\x00\x00\x09", 32)
	blk, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(blk)
	aad := append(round[:], 0, 0, 0, 3, 0, 0, 0, 9)
	if want := gcm.Seal(nil, make([]byte, 12), pt, aad); !bytes.Equal(want, ct) {
		t.Fatal("ciphertext does not follow the design")
	}
	expectFail := func(name string, got []byte, err error) {
		t.Helper()
		if !errors.Is(err, ErrDecrypt) || got != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(err.Error(), "party") {
			t.Fatalf("%s: error does not name the parties: %v", name, err)
		}
	}
	for i := range 8 * len(ct) {
		bad := bytes.Clone(ct)
		bad[i/8] ^= 1 << (i % 8)
		got, err := openShares(rcv, pub32(s), round, 3, 9, bad)
		expectFail("bit flip", got, err)
	}
	got, err = openShares(rcv, pub32(s), round, 4, 9, ct)
	expectFail("wrong sender", got, err)
	got, err = openShares(rcv, pub32(s), round, 3, 8, ct)
	expectFail("wrong receiver", got, err)
	got, err = openShares(rcv, pub32(s), round, 9, 3, ct)
	expectFail("swapped", got, err)
	got, err = openShares(rcv, pub32(s), RoundID{8}, 3, 9, ct)
	expectFail("wrong round", got, err)
	got, err = openShares(other, pub32(s), round, 3, 9, ct)
	expectFail("wrong receiver key", got, err)
	got, err = openShares(rcv, pub32(other), round, 3, 9, ct)
	expectFail("wrong sender key", got, err)
	for _, n := range []int{0, 1, 15, 16, len(ct) - 1} {
		got, err = openShares(rcv, pub32(s), round, 3, 9, ct[:n])
		expectFail("truncated", got, err)
	}
	got, err = openShares(rcv, pub32(s), round, 3, 9, append(bytes.Clone(ct), 0))
	expectFail("extended", got, err)
	got, err = openShares(rcv, &[32]byte{}, round, 3, 9, ct)
	expectFail("low-order", got, err)
	if _, err := sealShares(s, &[32]byte{}, round, 3, 9, pt); !errors.Is(err, ErrLowOrderKey) {
		t.Fatalf("seal to low-order key: %v", err)
	}
	if _, err := sealShares(s, pub32(rcv), round, 3, 3, pt); err == nil {
		t.Fatal("seal to self accepted")
	}
	// Empty plaintext is fine.
	ct0, err := sealShares(s, pub32(rcv), round, 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := openShares(rcv, pub32(s), round, 1, 2, ct0); err != nil || len(got) != 0 {
		t.Fatal("empty round trip", err)
	}
}

// ---- Shamir ----

func randSecret(r *rand.Rand) [32]byte {
	var s [32]byte
	for i := range s {
		s[i] = byte(r.Uint32())
	}
	return s
}

func TestSplitRecoverAllSubsets(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rd := seeded(30)
	secrets := [][32]byte{{}, randSecret(r)}
	var ff [32]byte
	for i := range ff {
		ff[i] = 0xff
	}
	secrets = append(secrets, ff)
	for n := 1; n <= 7; n++ {
		for th := 1; th <= n; th++ {
			for _, secret := range secrets {
				shares, err := splitSecret(&secret, th, n, rd)
				if err != nil {
					t.Fatal(err)
				}
				for i, sh := range shares {
					if sh.Index != uint32(i+1) {
						t.Fatalf("index %d at %d", sh.Index, i)
					}
					var s scalar
					if !s.setCanonical(&sh.Lo) || !s.setCanonical(&sh.Hi) {
						t.Fatal("non-canonical share")
					}
				}
				for mask := 1; mask < 1<<n; mask++ {
					var sub []Share
					for i := range n {
						if mask>>i&1 == 1 {
							sub = append(sub, shares[i])
						}
					}
					r.Shuffle(len(sub), func(i, j int) { sub[i], sub[j] = sub[j], sub[i] })
					got, err := recoverSecret(sub, th)
					if len(sub) < th {
						if !errors.Is(err, ErrShareRecovery) {
							t.Fatalf("n=%d t=%d: %d shares: %v", n, th, len(sub), err)
						}
						continue
					}
					if err != nil || got != secret {
						t.Fatalf("n=%d t=%d subset %b: %v", n, th, mask, err)
					}
				}
			}
		}
	}
}

func TestSplitRecoverLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	secret := randSecret(r)
	shares, err := splitSecret(&secret, 20, 40, seeded(31))
	if err != nil {
		t.Fatal(err)
	}
	for it := range 30 {
		perm := r.Perm(40)
		k := 20 + it%21
		sub := make([]Share, k)
		for i := range sub {
			sub[i] = shares[perm[i]]
		}
		got, err := recoverSecret(sub, 20)
		if err != nil || got != secret {
			t.Fatalf("subset of %d: %v", k, err)
		}
		if _, err := recoverSecret(sub[:19], 20); !errors.Is(err, ErrShareRecovery) {
			t.Fatalf("19 shares: %v", err)
		}
		// 19 shares with threshold 19 give another value (the polynomial has degree 19).
		if got, err := recoverSecret(sub[:19], 19); err == nil && got == secret {
			t.Fatal("19 shares recovered the secret")
		}
	}
}

func TestRecoverErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	secret := randSecret(r)
	shares, err := splitSecret(&secret, 3, 5, seeded(32))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, sub []Share, th int) {
		t.Helper()
		got, err := recoverSecret(sub, th)
		if !errors.Is(err, ErrShareRecovery) || got != ([32]byte{}) {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), hex.EncodeToString(secret[:4])) {
			t.Fatalf("%s: secret in error", name)
		}
	}
	cp := func() []Share { return append([]Share(nil), shares[:3]...) }
	check("fewer than t", shares[:2], 3)
	check("none", nil, 3)
	check("t=0", shares, 0)
	s := cp()
	s[1].Index = s[0].Index
	check("duplicate index", s, 3)
	s = cp()
	s[2].Index = 0
	check("zero index", s, 3)
	s = cp()
	s[2].Index = 1 << 20
	check("huge index", s, 3)
	s = cp()
	copy(s[0].Lo[:], bigToLE(bigL, 32))
	check("non-canonical Lo", s, 3)
	s = cp()
	for i := range s[1].Hi {
		s[1].Hi[i] = 0xff
	}
	check("non-canonical Hi", s, 3)
	for i := range 3 {
		s = cp()
		// Small changes shift the secret undetected (Shamir shares are not
		// verifiable); a change around 2^160 takes a half past 2^128.
		s[i].Lo[20] ^= 1
		check("altered Lo", s, 3)
		s = cp()
		s[i].Hi[20] ^= 1
		check("altered Hi", s, 3)
		s = cp()
		s[i].Index = 5
		check("wrong index", s, 3)
	}
	other, _ := splitSecret(&secret, 3, 5, seeded(33))
	check("mixed splits", []Share{shares[0], shares[1], other[2]}, 3)
	for _, c := range []struct{ t, n int }{{0, 3}, {4, 3}, {1, 0}, {-1, 2}, {2, maxShares + 1}} {
		if _, err := splitSecret(&secret, c.t, c.n, seeded(1)); !errors.Is(err, ErrSharing) {
			t.Fatalf("split t=%d n=%d: %v", c.t, c.n, err)
		}
	}
	if _, err := splitSecret(&secret, 2, 3, bytes.NewReader(make([]byte, 40))); !errors.Is(err, ErrSharing) {
		t.Fatalf("short reader: %v", err)
	}
	if _, err := splitSecret(nil, 2, 3, seeded(1)); !errors.Is(err, ErrSharing) {
		t.Fatal("nil secret")
	}
}

// TestSplitKnownAnswer: the expected shares were produced with kyber v3.1.0's
// edwards25519.NewBlakeSHA256Ed25519 suite and share.NewPriPoly, fed the same
// ChaCha8 stream (the Lo polynomial first).
func TestSplitKnownAnswer(t *testing.T) {
	var secret [32]byte
	for i := range secret {
		secret[i] = byte(i)
	}
	want := []struct {
		idx    uint32
		lo, hi string
	}{
		{1, "45b79763e4cb0d29c106d85231d51586a4ca83c96778844d0ad8afcd1215880e", "fc7a57116f060a3183842059174cb4102be703e2512ab69ec6b37326ef8e7b08"},
		{2, "3be188c753dc1c53ee7cf37c5fb81a756b44e38a9ba6c86e8ce26e42d52a9b0c", "30f596c554875856506c8852739c93ee6cbf7c430c3d344aa86501e9b89ee009"},
		{3, "cf52cb8b6c9945dd6508542c75b0fbf0546d1e449b8acc63861f3d5e4741390a", "ac7fd02fc59701877fd05107300ebcb8c5886a242f387a02a515a9475d2f2f04"},
		{4, "010c5fb02e0388c727a9f96072bdb8f9604535f56624902cf88e1a2169586207", "5deef9acda9a171be74d741a2c9b0c843543cd84ba1b88c7bcc36a42dc406707"},
		{5, "d10c44359a19e411345fe41a57df518f8fcc279efe7313c9e130078b3a701604", "566d1de07a2d88bab047f8e88849a63bbceea464aee75d99ef6f46d935d38803"},
	}
	shares, err := splitSecret(&secret, 3, 5, rand.NewChaCha8([32]byte{'c', 'o', 'h', 'o', 'r', 't'}))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		sh := shares[i]
		if sh.Index != w.idx || hex.EncodeToString(sh.Lo[:]) != w.lo || hex.EncodeToString(sh.Hi[:]) != w.hi {
			t.Fatalf("share %d: %d %x %x", i, sh.Index, sh.Lo, sh.Hi)
		}
	}
	if got, err := recoverSecret(shares[2:], 3); err != nil || got != secret {
		t.Fatal("recover", err)
	}
}

func TestReaderStream(t *testing.T) {
	src := bytes.Repeat([]byte{0xaa}, 150)
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	s := &readerStream{r: bytes.NewReader(src)}
	out := make([]byte, 150)
	s.XORKeyStream(out[:100], data)
	s.XORKeyStream(out[100:], make([]byte, 50))
	for i := range 100 {
		if out[i] != byte(i)^0xaa {
			t.Fatal("xor")
		}
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	s.XORKeyStream(out[:10], make([]byte, 10))
	if s.err == nil || out[0] != 1 {
		t.Fatal("exhausted reader not recorded")
	}
}

// ---- benchmarks ----

func BenchmarkSplitSecret(b *testing.B) {
	for _, c := range []struct{ t, n int }{{4, 6}, {20, 40}} {
		b.Run(benchName(c.t, c.n), func(b *testing.B) {
			secret := [32]byte{1, 2, 3}
			rd := seeded(40)
			b.SetBytes(32)
			for b.Loop() {
				if _, err := splitSecret(&secret, c.t, c.n, rd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRecoverSecret(b *testing.B) {
	for _, c := range []struct{ t, n int }{{4, 6}, {20, 40}} {
		b.Run(benchName(c.t, c.n), func(b *testing.B) {
			secret := [32]byte{1, 2, 3}
			shares, err := splitSecret(&secret, c.t, c.n, seeded(41))
			if err != nil {
				b.Fatal(err)
			}
			sub := shares[c.n-c.t:]
			b.SetBytes(32)
			for b.Loop() {
				if _, err := recoverSecret(sub, c.t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchName(t, n int) string { return fmt.Sprintf("t=%d,n=%d", t, n) }

func BenchmarkPairwiseSeed(b *testing.B) {
	r := seeded(42)
	k1, k2 := mustX25519(b, r), mustX25519(b, r)
	p := pub32(k2)
	b.SetBytes(32)
	for b.Loop() {
		if _, err := pairwiseSeed(k1, p, RoundID{1}, 0, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealOpenShares(b *testing.B) {
	r := seeded(43)
	k1, k2 := mustX25519(b, r), mustX25519(b, r)
	pt := make([]byte, 180)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		ct, err := sealShares(k1, pub32(k2), RoundID{1}, 0, 1, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := openShares(k2, pub32(k1), RoundID{1}, 0, 1, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecoverMatchesKyber checks the batch-inverted interpolation against
// kyber's share.RecoverSecret over the same field.
func TestRecoverMatchesKyber(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var g scalarField
	for it := range 100 {
		n := 1 + r.IntN(30)
		th := 1 + r.IntN(n)
		secret := randSecret(r)
		if it%3 == 0 {
			// Not a valid split: random scalars, so the halves need not be < 2^128.
			for i := range secret {
				secret[i] = byte(r.Uint32())
			}
		}
		shares, err := splitSecret(&secret, th, n, seeded(byte(it)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range shares {
			if it%3 == 0 {
				var s scalar
				s.SetBytes([]byte{byte(r.Uint32()), byte(r.Uint32()), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9})
				s.putLE(&shares[i].Lo)
			}
		}
		perm := r.Perm(n)
		k := th + r.IntN(n-th+1)
		sub := make([]Share, k)
		ps := make([]*share.PriShare, k)
		for i := range sub {
			sub[i] = shares[perm[i]]
			var v scalar
			v.setCanonical(&sub[i].Lo)
			ps[i] = &share.PriShare{I: int(sub[i].Index - 1), V: &v}
		}
		want, err := share.RecoverSecret(g, ps, th, k)
		if err != nil {
			t.Fatal(err)
		}
		var wb [32]byte
		want.(*scalar).putLE(&wb)
		got, err := recoverSecret(sub, th)
		if it%3 != 0 {
			if err != nil || got != secret || !bytes.Equal(wb[:16], got[:16]) {
				t.Fatalf("it %d: %v", it, err)
			}
			continue
		}
		low := true
		for _, b := range wb[16:] {
			low = low && b == 0
		}
		if low == (err != nil) || (err == nil && !bytes.Equal(wb[:16], got[:16])) {
			t.Fatalf("it %d: kyber %x, got %x %v", it, wb, got, err)
		}
	}
}

// TestScalarFieldMatchesKyberSuite checks scalarField against kyber's own
// edwards25519 suite: splits from the same stream are bit-identical, and so
// are the field operations.
func TestScalarFieldMatchesKyberSuite(t *testing.T) {
	suite := edwards25519.NewBlakeSHA256Ed25519()
	r := rand.New(rand.NewPCG(13, 14))
	for it := range 100 {
		secret := randSecret(r)
		n := 1 + r.IntN(12)
		th := 1 + r.IntN(n)
		seed := [32]byte{byte(it), 'k'}
		got, err := splitSecret(&secret, th, n, rand.NewChaCha8(seed))
		if err != nil {
			t.Fatal(err)
		}
		stream := &readerStream{r: rand.NewChaCha8(seed)}
		for half := range 2 {
			var b [32]byte
			copy(b[:16], secret[16*half:16*half+16])
			poly := share.NewPriPoly(suite, th, suite.Scalar().SetBytes(b[:]), stream)
			for i, ps := range poly.Shares(n) {
				want, _ := ps.V.MarshalBinary()
				have := got[i].Lo
				if half == 1 {
					have = got[i].Hi
				}
				if !bytes.Equal(want, have[:]) {
					t.Fatalf("it %d: share %d half %d differs from the kyber suite", it, i, half)
				}
			}
		}
		var a, b [32]byte
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		ka, kb := suite.Scalar().SetBytes(a[:]), suite.Scalar().SetBytes(b[:])
		ma, mb := new(scalar).SetBytes(a[:]), new(scalar).SetBytes(b[:])
		for op, pair := range [][2]kyber.Scalar{
			{ka, ma}, {kb, mb},
			{suite.Scalar().Mul(ka, kb), new(scalar).Mul(ma, mb)},
			{suite.Scalar().Add(ka, kb), new(scalar).Add(ma, mb)},
			{suite.Scalar().Sub(ka, kb), new(scalar).Sub(ma, mb)},
			{suite.Scalar().Neg(ka), new(scalar).Neg(ma)},
			{suite.Scalar().Inv(ka), new(scalar).Inv(ma)},
			{suite.Scalar().Div(ka, kb), new(scalar).Div(ma, mb)},
		} {
			x, _ := pair[0].MarshalBinary()
			y, _ := pair[1].MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatalf("it %d: op %d differs from the kyber suite", it, op)
			}
		}
	}
}
