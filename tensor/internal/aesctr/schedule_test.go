package aesctr

import "testing"

func TestRoundKeyWords(t *testing.T) {
	// FIPS-197 Appendix A.1.
	key := [KeySize]byte{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c}
	w := RoundKeyWords(&key)
	for i, want := range map[int]uint32{0: 0x2b7e1516, 3: 0x09cf4f3c, 4: 0xa0fafe17, 5: 0x88542cb1, 6: 0x23a33939,
		7: 0x2a6c7605, 8: 0xf2c295f2, 20: 0xd4d1c6f8, 40: 0xd014f9a8, 41: 0xc9ee2589, 42: 0xe13f0cc8, 43: 0xb6630ca6} {
		if w[i] != want {
			t.Errorf("w[%d] = %#08x, want %#08x", i, w[i], want)
		}
	}
}

// TestSub checks the computed S-box against FIPS-197 Figure 7 entries and
// that it is a permutation.
func TestSub(t *testing.T) {
	for x, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0x10: 0xca, 0xff: 0x16, 0x80: 0xcd, 0x9a: 0xb8} {
		if got := sub(x); got != want {
			t.Errorf("S[%#02x] = %#02x, want %#02x", x, got, want)
		}
	}
	var seen [256]bool
	for x := range 256 {
		seen[sub(byte(x))] = true
	}
	for y, ok := range seen {
		if !ok {
			t.Fatalf("S-box misses %#02x: not a permutation", y)
		}
	}
}

func BenchmarkRoundKeyWords(b *testing.B) {
	var key [KeySize]byte
	for b.Loop() {
		key[0]++
		RoundKeyWords(&key)
	}
}
