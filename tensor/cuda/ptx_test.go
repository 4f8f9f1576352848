package cuda

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEmbeddedPTXIsCurrent checks that the embedded PTX was generated from
// the kernel sources in the tree: `make ptx` records their SHA-256 sums in
// ptx/sources.sha256, and a kernel changed without regenerating the PTX
// fails here (the build cannot run nvcc, so this is the check instead).
func TestEmbeddedPTXIsCurrent(t *testing.T) {
	sums, err := embedded.ReadFile("ptx/sources.sha256")
	if err != nil {
		t.Fatalf("reading ptx/sources.sha256 (run make ptx): %v", err)
	}
	recorded := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("ptx/sources.sha256: malformed line %q", sc.Text())
		}
		recorded[name] = sum
	}
	var sources []string
	for _, pat := range []string{"*.cu", "*.cuh"} {
		m, err := filepath.Glob(filepath.Join("kernels", pat))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, m...)
	}
	if len(sources) == 0 {
		t.Fatal("no kernel sources found in kernels/")
	}
	for _, path := range sources {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		name := filepath.Base(path)
		switch got, ok := recorded[name]; {
		case !ok:
			t.Errorf("%s is not in ptx/sources.sha256: run make ptx", name)
		case got != hex.EncodeToString(h[:]):
			t.Errorf("%s changed since its PTX was generated: run make ptx", name)
		}
		delete(recorded, name)
	}
	for name := range recorded {
		t.Errorf("ptx/sources.sha256 lists %s, which is not in kernels/: run make ptx", name)
	}
}

// TestEmbeddedPTXHasKernels checks that every kernel the backend looks up
// is an entry of the embedded module of its family.
func TestEmbeddedPTXHasKernels(t *testing.T) {
	entry := regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)
	for _, f := range families {
		p, err := ptxFor(&Config{}, f)
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, m := range entry.FindAllSubmatch(p, -1) {
			have = append(have, string(m[1]))
		}
		for _, name := range kernelNames()[f] {
			if !slices.Contains(have, name) {
				t.Errorf("%s.ptx has no entry %s (entries: %v)", f, name, have)
			}
		}
		if !bytes.Contains(p, []byte(".target sm_")) {
			t.Errorf("%s.ptx names no target", f)
		}
	}
}
