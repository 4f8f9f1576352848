package sealed

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// testRand returns a deterministic reader for seed.
func testRand(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed, 's', 'e', 'a', 'l', 'e', 'd'})
}

// testIdentity returns party i's Ed25519 identity key.
func testIdentity(i uint32) ed25519.PrivateKey {
	var seed [32]byte
	seed[0], seed[1] = 'i', byte(i)
	return ed25519.NewKeyFromSeed(seed[:])
}

func testPublic(i uint32) ed25519.PublicKey {
	return testIdentity(i).Public().(ed25519.PublicKey)
}

var testContext = []byte("cohort/test/job-1")

// testParty is one party's key and announcement.
type testParty struct {
	key *Key
	ann *Announcement
}

// testParties returns n parties with indices 0..n-1 in ctx, keys drawn from
// seed.
func testParties(t testing.TB, n int, seed byte, ctx []byte) []testParty {
	t.Helper()
	r := testRand(seed)
	out := make([]testParty, n)
	for i := range out {
		k, a, err := NewKey(r, testIdentity(uint32(i)), uint32(i), ctx)
		if err != nil {
			t.Fatalf("NewKey(party %d): %v", i, err)
		}
		if k.Party() != uint32(i) || a.Party != uint32(i) {
			t.Fatalf("party %d: key of party %d, announcement of party %d", i, k.Party(), a.Party)
		}
		out[i] = testParty{k, a}
	}
	return out
}

// testPayload is the plaintext party from sends party to.
func testPayload(from, to uint32) []byte {
	if from == 1 {
		return nil // an empty payload
	}
	p := make([]byte, 100*int(from)+int(to))
	for i := range p {
		p[i] = byte(i) ^ byte(from<<4|to)
	}
	return p
}

func TestSealOpenRoundTrip(t *testing.T) {
	const n = 4
	ps := testParties(t, n, 1, testContext)
	r := testRand(2)
	for i := range ps {
		for j := range ps {
			if err := ps[j].ann.Verify(testPublic(uint32(j)), testContext); err != nil {
				t.Fatalf("party %d verifying party %d: %v", i, j, err)
			}
		}
	}
	boxes := map[[2]uint32]*Box{}
	for i := range ps {
		for j := range ps {
			if i == j {
				continue
			}
			from, to := uint32(i), uint32(j)
			b, err := ps[i].key.Seal(r, ps[j].ann, testPayload(from, to))
			if err != nil {
				t.Fatalf("Seal(%d -> %d): %v", i, j, err)
			}
			if b.From != from || b.To != to {
				t.Fatalf("Seal(%d -> %d) gave a box from %d to %d", i, j, b.From, b.To)
			}
			if got, want := len(b.Ciphertext), len(testPayload(from, to))+Overhead; got != want {
				t.Fatalf("Seal(%d -> %d): ciphertext of %d bytes, want %d", i, j, got, want)
			}
			// Relay through the wire encoding.
			enc, err := b.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Box
			if err := got.UnmarshalBinary(enc); err != nil {
				t.Fatal(err)
			}
			boxes[[2]uint32{from, to}] = &got
		}
	}
	for k, b := range boxes {
		from, to := k[0], k[1]
		pt, err := ps[to].key.Open(ps[from].ann, b)
		if err != nil {
			t.Fatalf("Open(%d -> %d): %v", from, to, err)
		}
		if !bytes.Equal(pt, testPayload(from, to)) {
			t.Fatalf("Open(%d -> %d) = %x, want %x", from, to, pt, testPayload(from, to))
		}
	}
}

func TestSealFreshNonces(t *testing.T) {
	ps := testParties(t, 2, 1, testContext)
	r := testRand(3)
	b1, err := ps[0].key.Seal(r, ps[1].ann, []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := ps[0].key.Seal(r, ps[1].ann, []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b1.Ciphertext[:NonceSize], b2.Ciphertext[:NonceSize]) || bytes.Equal(b1.Ciphertext, b2.Ciphertext) {
		t.Fatal("two seals of one plaintext share a nonce or a ciphertext")
	}
}

// wantDecrypt opens b by key with announcement from and checks that it fails
// with ErrDecrypt, naming the box's parties.
func wantDecrypt(t *testing.T, key *Key, from *Announcement, b *Box) {
	t.Helper()
	pt, err := key.Open(from, b)
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open = %x, %v; want ErrDecrypt", pt, err)
	}
	if pt != nil {
		t.Fatalf("Open returned %x with an error", pt)
	}
	if want := fmt.Sprintf("(from party %d to party %d)", b.From, b.To); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestOpenFailures(t *testing.T) {
	ps := testParties(t, 3, 1, testContext)
	r := testRand(4)
	seal := func() *Box {
		t.Helper()
		b, err := ps[0].key.Seal(r, ps[1].ann, []byte("a threshold share"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	clone := func(b *Box) *Box {
		return &Box{From: b.From, To: b.To, Ciphertext: bytes.Clone(b.Ciphertext)}
	}
	b := seal()
	if _, err := ps[1].key.Open(ps[0].ann, b); err != nil {
		t.Fatalf("untampered box: %v", err)
	}

	t.Run("FlippedByte", func(t *testing.T) {
		for i := range b.Ciphertext {
			for _, bit := range []byte{0x01, 0x80} {
				x := clone(b)
				x.Ciphertext[i] ^= bit
				wantDecrypt(t, ps[1].key, ps[0].ann, x)
			}
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		for _, n := range []int{0, 1, NonceSize, Overhead - 1, Overhead, len(b.Ciphertext) - 1} {
			x := clone(b)
			x.Ciphertext = x.Ciphertext[:n]
			wantDecrypt(t, ps[1].key, ps[0].ann, x)
		}
		x := clone(b)
		x.Ciphertext = append(x.Ciphertext, 0)
		wantDecrypt(t, ps[1].key, ps[0].ann, x)
	})
	t.Run("FromChanged", func(t *testing.T) {
		x := clone(b)
		x.From = 2
		wantDecrypt(t, ps[1].key, ps[2].ann, x) // as if party 2 had sent it
		wantDecrypt(t, ps[1].key, ps[0].ann, x) // announcement of another party
	})
	t.Run("ToChanged", func(t *testing.T) {
		x := clone(b)
		x.To = 2
		wantDecrypt(t, ps[2].key, ps[0].ann, x) // redirected to party 2
		wantDecrypt(t, ps[1].key, ps[0].ann, x) // not addressed to party 1
	})
	t.Run("ThirdParty", func(t *testing.T) {
		wantDecrypt(t, ps[2].key, ps[0].ann, b)
	})
	t.Run("SenderOpens", func(t *testing.T) {
		wantDecrypt(t, ps[0].key, ps[1].ann, b)
		x := clone(b)
		x.From, x.To = 1, 0
		wantDecrypt(t, ps[0].key, ps[1].ann, x) // the reverse direction
	})
	t.Run("OtherContext", func(t *testing.T) {
		// The same seeds give the same X25519 keys in another context: only
		// the context differs.
		other := testParties(t, 3, 1, []byte("cohort/test/job-2"))
		if other[1].ann.Public != ps[1].ann.Public {
			t.Fatal("test setup: keys differ")
		}
		wantDecrypt(t, other[1].key, other[0].ann, b)
	})
	t.Run("SubstitutedKey", func(t *testing.T) {
		// An announcement of party 0 with another X25519 key (as a relay
		// that swapped keys would give, were announcements not verified).
		other := testParties(t, 1, 9, testContext)
		wantDecrypt(t, ps[1].key, other[0].ann, b)
	})
	t.Run("LowOrderSender", func(t *testing.T) {
		a := *ps[0].ann
		a.Public = [32]byte{}
		wantDecrypt(t, ps[1].key, &a, b)
	})
}

func TestSealErrors(t *testing.T) {
	ps := testParties(t, 2, 1, testContext)
	r := testRand(5)
	if _, err := ps[0].key.Seal(r, ps[0].ann, []byte("x")); err == nil {
		t.Error("sealing for oneself succeeded")
	}
	if _, err := ps[0].key.Seal(nil, ps[1].ann, []byte("x")); err == nil {
		t.Error("Seal with a nil reader succeeded")
	}
	if _, err := ps[0].key.Seal(r, nil, []byte("x")); err == nil {
		t.Error("Seal with a nil announcement succeeded")
	}
	if _, err := ps[0].key.Seal(io.LimitReader(r, NonceSize-1), ps[1].ann, []byte("x")); err == nil {
		t.Error("Seal with a short reader succeeded")
	}
	if _, err := ps[0].key.Seal(r, ps[1].ann, make([]byte, MaxPlaintext+1)); err == nil {
		t.Error("Seal of MaxPlaintext+1 bytes succeeded")
	}
	a := *ps[1].ann
	a.Public = [32]byte{1}
	if _, err := ps[0].key.Seal(r, &a, []byte("x")); !errors.Is(err, ErrPublicKey) {
		t.Errorf("Seal to a low-order key: %v, want ErrPublicKey", err)
	}
	b, err := ps[0].key.Seal(r, ps[1].ann, make([]byte, MaxPlaintext))
	if err != nil {
		t.Fatalf("Seal of MaxPlaintext bytes: %v", err)
	}
	pt, err := ps[1].key.Open(ps[0].ann, b)
	if err != nil || len(pt) != MaxPlaintext {
		t.Fatalf("Open of MaxPlaintext bytes: %d bytes, %v", len(pt), err)
	}
}

// testLowOrder are encodings of X25519 points of low order (on the curve and
// on its twist), canonical ones first.
var testLowOrder = []string{
	"0000000000000000000000000000000000000000000000000000000000000000", // 0
	"0100000000000000000000000000000000000000000000000000000000000000", // 1
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (non-canonical 0)
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1 (non-canonical 1)
	"cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880", // top bit set
}

func TestVerify(t *testing.T) {
	ps := testParties(t, 2, 1, testContext)
	a := ps[0].ann
	if err := a.Verify(testPublic(0), testContext); err != nil {
		t.Fatalf("valid announcement: %v", err)
	}
	wantErr := func(t *testing.T, a *Announcement, identity ed25519.PublicKey, ctx []byte, want error) {
		t.Helper()
		err := a.Verify(identity, ctx)
		if !errors.Is(err, want) {
			t.Fatalf("Verify = %v, want %v", err, want)
		}
		if name := fmt.Sprintf("party %d", a.Party); !strings.Contains(err.Error(), name) {
			t.Fatalf("error %q does not name %s", err, name)
		}
	}
	t.Run("WrongIdentity", func(t *testing.T) {
		wantErr(t, a, testPublic(1), testContext, ErrSignature)
		wantErr(t, a, testPublic(1)[:31], testContext, ErrSignature)
		wantErr(t, a, nil, testContext, ErrSignature)
	})
	t.Run("TamperedPublic", func(t *testing.T) {
		for _, i := range []int{0, 17, 30} {
			x := *a
			x.Public[i] ^= 1
			wantErr(t, &x, testPublic(0), testContext, ErrSignature)
		}
		x := *a
		x.Public = ps[1].ann.Public
		wantErr(t, &x, testPublic(0), testContext, ErrSignature)
	})
	t.Run("TamperedParty", func(t *testing.T) {
		x := *a
		x.Party = 1
		wantErr(t, &x, testPublic(0), testContext, ErrSignature)
		wantErr(t, &x, testPublic(1), testContext, ErrSignature)
	})
	t.Run("TamperedSig", func(t *testing.T) {
		for _, sig := range [][]byte{nil, a.Sig[:63], append(bytes.Clone(a.Sig), 0)} {
			x := *a
			x.Sig = sig
			wantErr(t, &x, testPublic(0), testContext, ErrSignature)
		}
		x := *a
		x.Sig = bytes.Clone(a.Sig)
		x.Sig[10] ^= 4
		wantErr(t, &x, testPublic(0), testContext, ErrSignature)
	})
	t.Run("OtherContext", func(t *testing.T) {
		for _, ctx := range [][]byte{nil, []byte("cohort/test/job-2"), testContext[:len(testContext)-1], append(bytes.Clone(testContext), 0)} {
			wantErr(t, a, testPublic(0), ctx, ErrSignature)
		}
	})
	t.Run("LowOrder", func(t *testing.T) {
		for _, h := range testLowOrder {
			var x Announcement
			x.Party = 0
			if _, err := hex.Decode(x.Public[:], []byte(h)); err != nil {
				t.Fatal(err)
			}
			// Correctly signed: only the point is wrong.
			x.Sig = ed25519.Sign(testIdentity(0), announceSigned(testContext, 0, &x.Public))
			wantErr(t, &x, testPublic(0), testContext, ErrPublicKey)
			if err := x.Verify(testPublic(0), testContext); errors.Is(err, ErrSignature) {
				t.Fatalf("%s: %v also wraps ErrSignature", h, err)
			}
		}
	})
}

// ed25519Signer is a crypto.Signer around an Ed25519 key that can misbehave.
type ed25519Signer struct {
	key ed25519.PrivateKey
	bad bool // return a wrong signature
	err error
}

func (s ed25519Signer) Public() crypto.PublicKey { return s.key.Public() }

func (s ed25519Signer) Sign(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	sig, err := s.key.Sign(rand, msg, opts)
	if s.bad {
		sig[0] ^= 1
	}
	return sig, err
}

func TestNewKeyErrors(t *testing.T) {
	r := testRand(6)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		t.Fatal(err)
	}
	signErr := errors.New("signer offline")
	for _, tc := range []struct {
		name   string
		rand   io.Reader
		signer crypto.Signer
		ctx    []byte
		want   error
	}{
		{"NilRand", nil, testIdentity(0), testContext, nil},
		{"ShortRand", io.LimitReader(r, 31), testIdentity(0), testContext, io.ErrUnexpectedEOF},
		{"NilSigner", r, nil, testContext, nil},
		{"ECDSASigner", r, ecKey, testContext, nil},
		{"EmptyContext", r, testIdentity(0), nil, nil},
		{"SignerFails", r, ed25519Signer{key: testIdentity(0), err: signErr}, testContext, signErr},
		{"BadSignature", r, ed25519Signer{key: testIdentity(0), bad: true}, testContext, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, a, err := NewKey(tc.rand, tc.signer, 0, tc.ctx)
			if err == nil || k != nil || a != nil {
				t.Fatalf("NewKey = %v, %v, %v; want an error", k, a, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("NewKey error %v does not wrap %v", err, tc.want)
			}
		})
	}
	// A working custom signer.
	k, a, err := NewKey(r, ed25519Signer{key: testIdentity(3)}, 3, testContext)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(testPublic(3), testContext); err != nil || k.Party() != 3 {
		t.Fatalf("custom signer: party %d, %v", k.Party(), err)
	}
}

func TestNewKeyCopiesContext(t *testing.T) {
	ctx := bytes.Clone(testContext)
	ps := testParties(t, 2, 1, ctx)
	ctx[0] ^= 0xff
	b, err := ps[0].key.Seal(testRand(7), ps[1].ann, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	orig := testParties(t, 2, 1, testContext)
	if _, err := orig[1].key.Open(orig[0].ann, b); err != nil {
		t.Fatalf("key kept the caller's context slice: %v", err)
	}
}

func TestKeyDoesNotPrintSecret(t *testing.T) {
	ps := testParties(t, 1, 1, testContext)
	k := ps[0].key
	secret := k.priv.Bytes()
	out := fmt.Sprintf("%v|%+v|%#v|%s|%v|%+v|%#v|%x|%q", k, k, k, k, *k, *k, *k, *k, *k)
	for _, enc := range []string{hex.EncodeToString(secret), string(secret), fmt.Sprint(secret)} {
		if strings.Contains(out, enc) {
			t.Fatalf("printing a Key leaks its secret: %s", out)
		}
	}
	if want := "sealed.Key(party 0)"; k.String() != want || k.GoString() != want {
		t.Fatalf("String = %q, GoString = %q, want %q", k.String(), k.GoString(), want)
	}
	if got := fmt.Sprintf("%v", k); got != "sealed.Key(party 0)" {
		t.Fatalf("%%v = %q", got)
	}
}
