package sealed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
)

// goldenPlaintext is the payload of the golden box.
var goldenPlaintext = []byte("threshold share of party 2 for party 5")

// goldenValues returns the golden announcement (party 2's) and box (from
// party 2 to party 5), drawn from a seeded reader, and party 5's key and
// announcement.
func goldenValues(t testing.TB) (ann *Announcement, box *Box, recv *Key, recvAnn *Announcement) {
	t.Helper()
	r := testRand(42)
	k2, a2, err := NewKey(r, testIdentity(2), 2, testContext)
	if err != nil {
		t.Fatal(err)
	}
	k5, a5, err := NewKey(r, testIdentity(5), 5, testContext)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k2.Seal(r, a5, goldenPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	return a2, b, k5, a5
}

// checkGolden compares got with testdata/name.hex, rewriting the file first
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".hex"), got, false)
}

// TestGolden checks the encodings of a fixed announcement and box against
// testdata, decodes the files back, and opens the decoded box: the files
// pin the key generation, the signed bytes, the KDF and the AEAD as well as
// the layout.
func TestGolden(t *testing.T) {
	ann, box, recv, recvAnn := goldenValues(t)
	enc, err := ann.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "announcement", enc)
	enc, err = box.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "box", enc)

	var a Announcement
	if err := a.UnmarshalBinary(golden.ReadHex(t, filepath.Join("testdata", "announcement"+".hex"))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&a, ann) {
		t.Fatalf("decoded %+v, want %+v", a, *ann)
	}
	if err := a.Verify(testPublic(2), testContext); err != nil {
		t.Fatalf("golden announcement: %v", err)
	}
	var b Box
	if err := b.UnmarshalBinary(golden.ReadHex(t, filepath.Join("testdata", "box"+".hex"))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&b, box) {
		t.Fatalf("decoded %+v, want %+v", b, *box)
	}
	pt, err := recv.Open(&a, &b)
	if err != nil || !bytes.Equal(pt, goldenPlaintext) {
		t.Fatalf("golden box opens to %q, %v; want %q", pt, err, goldenPlaintext)
	}
	if err := recvAnn.Verify(testPublic(5), testContext); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenLayout checks the golden files against the layout of
// docs/wire/sealed.md, independently of the encoder.
func TestGoldenLayout(t *testing.T) {
	ann, box, _, _ := goldenValues(t)
	want := []byte{1, 1, 0, 0, 0, 2}
	want = append(want, ann.Public[:]...)
	want = append(want, ann.Sig...)
	if got := golden.ReadHex(t, filepath.Join("testdata", "announcement"+".hex")); !bytes.Equal(got, want) || len(got) != 102 {
		t.Fatalf("announcement.hex\n got %x\nwant %x", got, want)
	}
	want = []byte{1, 2, 0, 0, 0, 2, 0, 0, 0, 5}
	want = binary.BigEndian.AppendUint32(want, uint32(len(goldenPlaintext)+28))
	want = append(want, box.Ciphertext...)
	if got := golden.ReadHex(t, filepath.Join("testdata", "box"+".hex")); !bytes.Equal(got, want) {
		t.Fatalf("box.hex\n got %x\nwant %x", got, want)
	}
}

func TestMarshalErrors(t *testing.T) {
	ann, box, _, _ := goldenValues(t)
	for _, sig := range [][]byte{nil, ann.Sig[:63], append(bytes.Clone(ann.Sig), 0)} {
		a := *ann
		a.Sig = sig
		if _, err := a.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Announcement with a %d-byte signature: %v, want ErrMalformed", len(sig), err)
		}
	}
	for _, n := range []int{0, Overhead - 1, MaxCiphertext + 1} {
		b := *box
		b.Ciphertext = make([]byte, n)
		if _, err := b.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Box with a %d-byte ciphertext: %v, want ErrMalformed", n, err)
		}
	}
	// The limits themselves encode.
	for _, n := range []int{Overhead, MaxCiphertext} {
		b := Box{From: 1, To: 2, Ciphertext: make([]byte, n)}
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatalf("Box with a %d-byte ciphertext: %v", n, err)
		}
		var got Box
		if err := got.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(got, b) {
			t.Fatalf("Box with a %d-byte ciphertext does not round-trip: %v", n, err)
		}
	}
	// AppendBinary appends.
	prefix := []byte("prefix")
	out, err := ann.AppendBinary(bytes.Clone(prefix))
	enc, _ := ann.MarshalBinary()
	if err != nil || !bytes.Equal(out, append(bytes.Clone(prefix), enc...)) {
		t.Fatalf("Announcement.AppendBinary = %x, %v", out, err)
	}
	out, err = box.AppendBinary(bytes.Clone(prefix))
	enc, _ = box.MarshalBinary()
	if err != nil || !bytes.Equal(out, append(bytes.Clone(prefix), enc...)) {
		t.Fatalf("Box.AppendBinary = %x, %v", out, err)
	}
}

// with returns a copy of b with b[i] set to v.
func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

// withLen returns a copy of the box encoding b with its length field set to n.
func withLen(b []byte, n uint32) []byte {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[10:], n)
	return c
}

func TestUnmarshalErrors(t *testing.T) {
	annEnc := golden.ReadHex(t, filepath.Join("testdata", "announcement"+".hex"))
	boxEnc := golden.ReadHex(t, filepath.Join("testdata", "box"+".hex"))
	cases := []struct {
		name string
		box  bool
		in   []byte
		want string
	}{
		{"AnnEmpty", false, nil, "0 bytes, shorter than the header"},
		{"AnnVersionOnly", false, annEnc[:1], "1 bytes, shorter than the header"},
		{"AnnVersion", false, with(annEnc, 0, 2), "unsupported version 2"},
		{"AnnVersion0", false, with(annEnc, 0, 0), "unsupported version 0"},
		{"AnnType", false, with(annEnc, 1, 2), "type byte 2, want 1"},
		{"AnnIsBox", false, boxEnc, "type byte 2, want 1"},
		{"AnnTruncated", false, annEnc[:101], "101 bytes, want 102"},
		{"AnnHeaderOnly", false, annEnc[:2], "2 bytes, want 102"},
		{"AnnTrailing", false, append(bytes.Clone(annEnc), 0), "103 bytes, want 102"},
		{"BoxEmpty", true, nil, "0 bytes, shorter than the header"},
		{"BoxVersion", true, with(boxEnc, 0, 0xff), "unsupported version 255"},
		{"BoxType", true, with(boxEnc, 1, 1), "type byte 1, want 2"},
		{"BoxIsAnn", true, annEnc, "type byte 1, want 2"},
		{"BoxFixedTruncated", true, boxEnc[:13], "13 bytes, shorter than the fixed fields"},
		{"BoxTruncated", true, boxEnc[:len(boxEnc)-1], "ciphertext length 66, but 65 bytes follow"},
		{"BoxTrailing", true, append(bytes.Clone(boxEnc), 0), "ciphertext length 66, but 67 bytes follow"},
		{"BoxShortCiphertext", true, withLen(boxEnc[:14+27], 27), "ciphertext length 27, want 28 to 16777244"},
		{"BoxZeroCiphertext", true, withLen(boxEnc[:14], 0), "ciphertext length 0, want 28 to 16777244"},
		{"BoxHugeLength", true, withLen(boxEnc, MaxCiphertext+1), "ciphertext length 16777245, want 28 to 16777244"},
		{"BoxMaxLength", true, withLen(boxEnc, 0xffffffff), "ciphertext length 4294967295, want 28 to 16777244"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			msg := "Announcement"
			if tc.box {
				msg = "Box"
				x := Box{From: 7, Ciphertext: []byte{1}}
				err = x.UnmarshalBinary(tc.in)
				if x.From != 7 || !bytes.Equal(x.Ciphertext, []byte{1}) {
					t.Errorf("failed decode changed the box to %+v", x)
				}
			} else {
				x := Announcement{Party: 7}
				err = x.UnmarshalBinary(tc.in)
				if x.Party != 7 || x.Sig != nil {
					t.Errorf("failed decode changed the announcement to %+v", x)
				}
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
			if want := "sealed: malformed message: " + msg + ": " + tc.want; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
		})
	}
}

func TestUnmarshalCopies(t *testing.T) {
	annEnc := golden.ReadHex(t, filepath.Join("testdata", "announcement"+".hex"))
	boxEnc := golden.ReadHex(t, filepath.Join("testdata", "box"+".hex"))
	var a Announcement
	var b Box
	if err := a.UnmarshalBinary(annEnc); err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalBinary(boxEnc); err != nil {
		t.Fatal(err)
	}
	sig, ct := bytes.Clone(a.Sig), bytes.Clone(b.Ciphertext)
	clear(annEnc)
	clear(boxEnc)
	if !bytes.Equal(a.Sig, sig) || !bytes.Equal(b.Ciphertext, ct) {
		t.Fatal("decoded values alias the input")
	}
}

// fuzzSeeds adds the golden encodings and a few edge cases to f.
func fuzzSeeds(f *testing.F) {
	annEnc := golden.ReadHex(f, filepath.Join("testdata", "announcement.hex"))
	boxEnc := golden.ReadHex(f, filepath.Join("testdata", "box.hex"))
	f.Add(annEnc)
	f.Add(boxEnc)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 28})
	f.Add(withLen(boxEnc, 0xffffffff))
	f.Add(annEnc[:50])
}

func FuzzAnnouncementUnmarshal(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var a Announcement
		if err := a.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "sealed: malformed message: Announcement: ") {
				t.Fatalf("error %q is not ErrMalformed naming Announcement", err)
			}
			return
		}
		out, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x but cannot re-encode: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("not canonical:\n  in %x\n out %x", in, out)
		}
		// Verification of a decoded announcement fails cleanly.
		if err := a.Verify(testPublic(0), testContext); err != nil && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrPublicKey) {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func FuzzBoxUnmarshal(f *testing.F) {
	fuzzSeeds(f)
	sender, _, recv, _ := goldenValues(f)
	golden := golden.ReadHex(f, filepath.Join("testdata", "box.hex"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var b Box
		if err := b.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "sealed: malformed message: Box: ") {
				t.Fatalf("error %q is not ErrMalformed naming Box", err)
			}
			return
		}
		out, err := b.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x but cannot re-encode: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("not canonical:\n  in %x\n out %x", in, out)
		}
		// Opening a decoded box never panics, and only the golden box opens.
		pt, err := recv.Open(sender, &b)
		if err == nil && (!bytes.Equal(in, golden) || !bytes.Equal(pt, goldenPlaintext)) {
			t.Fatalf("forged box %x opens to %q", in, pt)
		}
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open: %v", err)
		}
	})
}
