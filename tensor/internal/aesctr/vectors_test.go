package aesctr

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
)

var vectorsPath = filepath.Join("..", "..", "..", "testdata", "maskstream", "vectors.json")

// vectorFile is the format of testdata/maskstream/vectors.json, described in
// docs/wire/mask-stream.md.
type vectorFile struct {
	Spec    string   `json:"spec"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name      string   `json:"name"`
	Seed      string   `json:"seed"`      // 32 bytes, hex
	Label     string   `json:"label"`     // HKDF info, UTF-8
	Key       string   `json:"key"`       // 16 bytes, hex
	Counter   string   `json:"counter"`   // first block index, decimal uint64
	Keystream string   `json:"keystream"` // 256 bytes from block Counter, hex
	U32       []string `json:"u32"`       // 64 words, 8 hex digits each
	U64       []string `json:"u64"`       // 32 words, 16 hex digits each
}

// refHKDF computes HKDF-SHA256 (RFC 5869) with an empty salt directly from
// HMAC, independently of crypto/hkdf, for L <= 32.
func refHKDF(ikm []byte, info string, l int) []byte {
	ext := hmac.New(sha256.New, make([]byte, sha256.Size)) // empty salt = HashLen zeros
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)[:l]
}

const fixedRandomSeed = "9ab0f5509b1eee37a4723ce2897be2bdcfdd89c18b3d0db9bd4d4aab54afabe4"

func makeVectors(t *testing.T) vectorFile {
	var zero, seq, rnd [SeedSize]byte
	for i := range seq {
		seq[i] = byte(i)
	}
	if _, err := hex.Decode(rnd[:], []byte(fixedRandomSeed)); err != nil {
		t.Fatal(err)
	}
	seeds := []struct {
		name string
		seed *[SeedSize]byte
	}{{"zero-seed", &zero}, {"sequential-seed", &seq}, {"random-seed", &rnd}}
	labels := []string{LabelMask, LabelRounding}
	type cs struct {
		seed, label int
		ctr         uint64
	}
	var cases []cs
	for si := range seeds {
		for li := range labels {
			cases = append(cases, cs{si, li, 0})
		}
	}
	cases = append(cases,
		cs{1, 0, 1000003},   // arbitrary nonzero counter
		cs{0, 0, 1<<32 - 2}, // crosses a 32-bit boundary of the counter
		cs{2, 1, 1<<64 - 2}, // crosses 2^64: the counter is 128 bits wide
	)
	f := vectorFile{Spec: "docs/wire/mask-stream.md"}
	for _, c := range cases {
		seed := seeds[c.seed]
		var key [KeySize]byte
		copy(key[:], refHKDF(seed.seed[:], labels[c.label], KeySize))
		ks := refKeystream(t, &key, c.ctr, 256)
		v := vector{
			Name:      fmt.Sprintf("%s/%s/ctr=%d", seed.name, labels[c.label], c.ctr),
			Seed:      hex.EncodeToString(seed.seed[:]),
			Label:     labels[c.label],
			Key:       hex.EncodeToString(key[:]),
			Counter:   strconv.FormatUint(c.ctr, 10),
			Keystream: hex.EncodeToString(ks),
		}
		for i := 0; i < 64; i++ {
			v.U32 = append(v.U32, fmt.Sprintf("%08x", binary.LittleEndian.Uint32(ks[4*i:])))
		}
		for i := 0; i < 32; i++ {
			v.U64 = append(v.U64, fmt.Sprintf("%016x", binary.LittleEndian.Uint64(ks[8*i:])))
		}
		f.Vectors = append(f.Vectors, v)
	}
	return f
}

// TestVectors checks testdata/maskstream/vectors.json against the
// independent reference (HMAC-based HKDF, crypto/aes + cipher.NewCTR), against
// DeriveKey, and against every kernel set. With -update it rewrites the file.
func TestVectors(t *testing.T) {
	want := makeVectors(t)
	if golden.Update() {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestVectors -update to create it)", err)
	}
	var got vectorFile
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Vectors) != len(want.Vectors) {
		t.Fatalf("%d vectors in file, reference has %d", len(got.Vectors), len(want.Vectors))
	}
	for i, v := range got.Vectors {
		w := want.Vectors[i]
		wb, _ := json.Marshal(w)
		vb, _ := json.Marshal(v)
		if !bytes.Equal(wb, vb) {
			t.Fatalf("vector %d (%s) differs from the reference:\n got %s\nwant %s", i, v.Name, vb, wb)
		}
		checkVector(t, v)
	}
}

// checkVector runs DeriveKey and every kernel set on one vector.
func checkVector(t *testing.T, v vector) {
	t.Helper()
	var seed [SeedSize]byte
	if n, err := hex.Decode(seed[:], []byte(v.Seed)); err != nil || n != SeedSize {
		t.Fatalf("%s: bad seed", v.Name)
	}
	key := DeriveKey(&seed, v.Label)
	if hex.EncodeToString(key[:]) != v.Key {
		t.Fatalf("%s: DeriveKey = %x, want %s", v.Name, key, v.Key)
	}
	ctr, err := strconv.ParseUint(v.Counter, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kernelSets() {
		s := schedule(k, &key)
		w32 := make([]uint32, 64)
		k.Expand32(w32, s, ctr)
		ks := make([]byte, 0, 256)
		for i, w := range w32 {
			if fmt.Sprintf("%08x", w) != v.U32[i] {
				t.Fatalf("%s: %s Expand32 word %d = %08x, want %s", v.Name, k.Name, i, w, v.U32[i])
			}
			ks = binary.LittleEndian.AppendUint32(ks, w)
		}
		if hex.EncodeToString(ks) != v.Keystream {
			t.Fatalf("%s: %s keystream mismatch", v.Name, k.Name)
		}
		w64 := make([]uint64, 32)
		k.Expand64(w64, s, ctr)
		for i, w := range w64 {
			if fmt.Sprintf("%016x", w) != v.U64[i] {
				t.Fatalf("%s: %s Expand64 word %d = %016x, want %s", v.Name, k.Name, i, w, v.U64[i])
			}
		}
		// Masking zeros with Add gives the words, with Sub their negation.
		a, d := make([]uint32, 64), make([]uint64, 32)
		k.ExpandAdd32(a, s, ctr)
		k.ExpandSub64(d, s, ctr)
		for i := range a {
			if a[i] != w32[i] || (i < 32 && d[i] != -w64[i]) {
				t.Fatalf("%s: %s ExpandAdd32/ExpandSub64 mismatch at %d", v.Name, k.Name, i)
			}
		}
	}
}
