package anchor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// goldenCalldata is the vector of docs/wire/anchor.md: origin
// "cohort/example", size 42, root 00 01 .. 1f.
const goldenCalldata = "636f686f72742d616e63686f722f7631" + // "cohort-anchor/v1"
	"000e" + "636f686f72742f6578616d706c65" + // BE16(14) "cohort/example"
	"000000000000002a" + // BE64(42)
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" // root

func goldenRoot() (r [32]byte) {
	for i := range r {
		r[i] = byte(i)
	}
	return r
}

func TestCalldataGolden(t *testing.T) {
	b, err := EncodeCalldata("cohort/example", 42, goldenRoot())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != goldenCalldata {
		t.Fatalf("EncodeCalldata = %s, want %s", got, goldenCalldata)
	}
	if len(b) != 72 {
		t.Fatalf("calldata is %d bytes, want 72", len(b))
	}
	origin, size, root, err := DecodeCalldata(b)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "cohort/example" || size != 42 || root != goldenRoot() {
		t.Fatalf("DecodeCalldata = %q, %d, %x", origin, size, root)
	}
}

func TestCalldataOrigin(t *testing.T) {
	var root [32]byte
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"a", true},
		{strings.Repeat("o", MaxOrigin), true},
		{"", false},
		{strings.Repeat("o", MaxOrigin+1), false},
		{"cohort/a\nb", false},
		{"cohort/a\n", false},
	} {
		b, err := EncodeCalldata(tc.origin, 7, root)
		if tc.ok != (err == nil) {
			t.Errorf("EncodeCalldata(origin of %d bytes) error %v, want ok=%v", len(tc.origin), err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrCalldata) {
				t.Errorf("EncodeCalldata error %v does not wrap ErrCalldata", err)
			}
			continue
		}
		if len(b) != 58+len(tc.origin) {
			t.Errorf("EncodeCalldata(origin of %d bytes) is %d bytes, want %d", len(tc.origin), len(b), 58+len(tc.origin))
		}
		if origin, size, _, err := DecodeCalldata(b); err != nil || origin != tc.origin || size != 7 {
			t.Errorf("DecodeCalldata(EncodeCalldata(origin of %d bytes)) = %d bytes, %d, %v", len(tc.origin), len(origin), size, err)
		}
	}
}

func TestDecodeCalldataRejects(t *testing.T) {
	good, _ := hex.DecodeString(goldenCalldata)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, b := range map[string][]byte{
		"empty":          nil,
		"magic only":     []byte(Magic),
		"truncated":      good[:len(good)-1],
		"trailing byte":  append(bytes.Clone(good), 0),
		"wrong magic":    mod(func(b []byte) []byte { b[15] = '2'; return b }),
		"length +1":      mod(func(b []byte) []byte { b[17]++; return b }),
		"length -1":      mod(func(b []byte) []byte { b[17]--; return b }),
		"length 0":       append([]byte(Magic), make([]byte, 2+8+32)...),
		"newline origin": mod(func(b []byte) []byte { b[18+6] = '\n'; return b }),
		"huge length":    mod(func(b []byte) []byte { b[16], b[17] = 0xff, 0xff; return b }),
	} {
		if _, _, _, err := DecodeCalldata(b); !errors.Is(err, ErrCalldata) {
			t.Errorf("%s: DecodeCalldata error %v, want ErrCalldata", name, err)
		}
	}
	long := append([]byte(Magic), 0x04, 0x01) // 1025-byte origin
	long = append(long, bytes.Repeat([]byte("o"), 1025)...)
	long = append(long, make([]byte, 40)...)
	if _, _, _, err := DecodeCalldata(long); !errors.Is(err, ErrCalldata) || !strings.Contains(err.Error(), "1025") {
		t.Errorf("1025-byte origin: DecodeCalldata error %v, want ErrCalldata naming the length", err)
	}
}

func FuzzDecodeCalldata(f *testing.F) {
	good, _ := hex.DecodeString(goldenCalldata)
	f.Add(good)
	b, _ := EncodeCalldata("cohort/did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", 1<<40, [32]byte{31: 1})
	f.Add(b)
	b, _ = EncodeCalldata(strings.Repeat("x", MaxOrigin), 0, [32]byte{})
	f.Add(b)
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		origin, size, root, err := DecodeCalldata(b)
		if err != nil {
			if !errors.Is(err, ErrCalldata) {
				t.Fatalf("error %v does not wrap ErrCalldata", err)
			}
			return
		}
		again, err := EncodeCalldata(origin, size, root)
		if err != nil {
			t.Fatalf("decoded anchor does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}
