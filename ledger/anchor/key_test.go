package anchor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

const testKeyHex = "8a1f9a8f95be41cd7ccb6168179afb4504aefe388d1e14474d32c45c72ce7b7a"

func TestKeyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key")
	if err := SaveKey(path, key); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("loaded key differs from the saved one")
	}
	if err := SaveKey(path, key); !errors.Is(err, fs.ErrExist) {
		t.Errorf("SaveKey over an existing file: error %v, want fs.ErrExist", err)
	}

	// go-ethereum's format (no newline) loads too, and so does ours.
	geth := filepath.Join(dir, "geth")
	if err := crypto.SaveECDSA(geth, key); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadKey(geth); err != nil || !got.Equal(key) {
		t.Fatalf("LoadKey(crypto.SaveECDSA file) = %v", err)
	}
	if got, err := crypto.LoadECDSA(path); err != nil || !got.Equal(key) {
		t.Fatalf("crypto.LoadECDSA(SaveKey file) = %v", err)
	}
}

func TestLoadKeyFormats(t *testing.T) {
	want, err := crypto.HexToECDSA(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, text := range []string{
		testKeyHex,
		testKeyHex + "\n",
		"  \n\t" + testKeyHex + " \r\n\n",
		"0x" + testKeyHex,
		strings.ToUpper(testKeyHex),
	} {
		path := filepath.Join(dir, "ok")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadKey(path)
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("case %d: wrong key", i)
		}
	}
}

func TestLoadKeyRejects(t *testing.T) {
	dir := t.TempDir()
	zero := strings.Repeat("0", 64)
	n := "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141" // the group order
	for name, text := range map[string]string{
		"empty":        "",
		"short":        testKeyHex[:62],
		"long":         testKeyHex + "00",
		"not hex":      "g" + testKeyHex[1:],
		"inner space":  testKeyHex[:32] + " " + testKeyHex[33:],
		"zero":         zero,
		"order":        n,
		"two keys":     testKeyHex + "\n" + testKeyHex,
		"huge":         strings.Repeat(" ", 5000) + testKeyHex,
		"keystore":     `{"address":"00","crypto":{}}`,
		"0x only":      "0x",
		"double 0x":    "0x0x" + testKeyHex[4:],
		"key in quote": `"` + testKeyHex + `"`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path)
		if err == nil {
			t.Errorf("%s: LoadKey accepted the file", name)
			continue
		}
		if strings.Contains(err.Error(), testKeyHex[4:20]) || strings.Contains(err.Error(), "'g'") {
			t.Errorf("%s: error quotes the key: %v", name, err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist", err)
	}
}

func TestSaveKeyRejects(t *testing.T) {
	dir := t.TempDir()
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]*ecdsa.PrivateKey{"nil": nil, "P-256": p256, "empty": {}} {
		path := filepath.Join(dir, name)
		if err := SaveKey(path, key); err == nil {
			t.Errorf("%s: SaveKey accepted the key", name)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: SaveKey left a file (%v)", name, err)
		}
	}
}
