package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDIDVector checks the did:key spec's Ed25519 test vector
// (w3c-ccg did-method-key, "ed25519-x25519.json").
func TestDIDVector(t *testing.T) {
	const did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
	pub, err := ParseDID(did)
	if err != nil {
		t.Fatal(err)
	}
	if got := DID(pub); got != did {
		t.Fatalf("round trip: %s", got)
	}
	if len(pub) != ed25519.PublicKeySize {
		t.Fatalf("key length %d", len(pub))
	}
}

func TestBase58(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"", ""},
		{"\x00", "1"},
		{"\x00\x00\x01", "112"},
		{"Hello World!", "2NEpo7TZRRrLZSi2U"},
		{"The quick brown fox jumps over the lazy dog.", "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"},
	} {
		if got := base58Encode([]byte(c.in)); got != c.out {
			t.Errorf("encode %q = %q, want %q", c.in, got, c.out)
		}
		b, err := base58Decode(c.out)
		if err != nil || !bytes.Equal(b, []byte(c.in)) {
			t.Errorf("decode %q = %q, %v", c.out, b, err)
		}
	}
	if _, err := base58Decode("0OIl"); err == nil {
		t.Error("decoded characters outside the alphabet")
	}
}

func TestParseDIDRejects(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	good := DID(pub)
	for _, s := range []string{"", "did:key:", "did:web:example.com", good[:len(good)-1], good + "1",
		"did:key:z1" + good[len("did:key:z"):], "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"} {
		if _, err := ParseDID(s); !errors.Is(err, ErrBadDID) {
			t.Errorf("ParseDID(%q) = %v, want ErrBadDID", s, err)
		}
	}
}

func FuzzParseDID(f *testing.F) {
	f.Add("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp")
	f.Add("did:key:z111")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParseDID(s)
		if err != nil {
			return
		}
		if DID(pub) != s {
			t.Fatalf("accepted %q which re-encodes as %q", s, DID(pub))
		}
	})
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.key")
	key, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveKey(p, key); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	got, err := LoadKey(p)
	if err != nil || !got.Equal(key) {
		t.Fatalf("load: %v", err)
	}
	if err := SaveKey(p, key); err == nil {
		t.Fatal("overwrote an existing key file")
	}
	bad := filepath.Join(dir, "bad.key")
	_ = os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadKey(bad); err == nil {
		t.Fatal("loaded garbage")
	}
}
