// Package golden holds the helpers of the golden-vector tests: the -update
// flag that rewrites the vectors, and reading, writing and comparing them
// as hex (binary formats) or as they are (text formats).
package golden

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The -update flag is registered in init, after every package-level
// variable of the test binary, so that a test file defining a flag of the
// same name shares it rather than registering it twice.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden test vectors")
	}
}

// Update reports whether the test binary was run with -update.
func Update() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// Hex formats b as lowercase hex, 64 digits a line.
func Hex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for len(h) > 64 {
		sb.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	sb.WriteString(h + "\n")
	return sb.String()
}

// ReadHex reads a file written by Hex (any white space is ignored).
func ReadHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// Check compares got with the golden file at path, hex-encoded unless
// text, first rewriting the file with -update.
func Check(t testing.TB, path string, got []byte, text bool) {
	t.Helper()
	enc := got
	if !text {
		enc = []byte(Hex(got))
	}
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(enc, want) {
		t.Fatalf("%s differs from the golden vector:\n got %s\nwant %s", path, enc, want)
	}
}
