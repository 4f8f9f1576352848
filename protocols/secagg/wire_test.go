package secagg

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
)

var wireGoldenDir = filepath.Join("..", "..", "testdata", "secagg", "wire")

// wireMsg is a message type of this file: a value that marshals, and a
// pointer to it that unmarshals.
type wireMsg[T any] interface {
	*T
	encoding.BinaryUnmarshaler
}

// ---------------------------------------------------------------------------
// Fixed examples (the golden vectors).

func wireFill(b []byte, start byte) {
	for i := range b {
		b[i] = start + byte(i)
	}
}

func wireRound() RoundID {
	var r RoundID
	wireFill(r[:], 0xa0)
	return r
}

func wireExampleAdvertise(sender uint32) AdvertiseKeys {
	m := AdvertiseKeys{Round: wireRound(), Sender: sender}
	wireFill(m.EncKey[:], byte(0x10+sender))
	wireFill(m.MaskKey[:], byte(0x40+sender))
	wireFill(m.Sig[:], byte(0x80+sender))
	return m
}

func wireExampleShare(index uint32, start byte) Share {
	s := Share{Index: index}
	wireFill(s.Lo[:], start)
	wireFill(s.Hi[:], start+0x20)
	s.Lo[31] &= 0x0f // below ℓ
	s.Hi[31] &= 0x0f
	return s
}

func wireExampleSig(sender uint32) ConsistencySig {
	m := ConsistencySig{Round: wireRound(), Sender: sender}
	wireFill(m.Sig[:], byte(0x60+sender))
	return m
}

// wireGolden is one fixed example of every message type, by file name.
func wireGolden() map[string]encoding.BinaryMarshaler {
	return map[string]encoding.BinaryMarshaler{
		"AdvertiseKeys": wireExampleAdvertise(7),
		"KeyList": KeyList{Round: wireRound(), Keys: []AdvertiseKeys{
			wireExampleAdvertise(0), wireExampleAdvertise(2), wireExampleAdvertise(5),
		}},
		"ShareKeys": ShareKeys{Round: wireRound(), Sender: 3, Shares: []EncryptedShare{
			{Peer: 1, Ciphertext: []byte{0xc1, 0xc2, 0xc3, 0xc4, 0xc5}},
			{Peer: 4, Ciphertext: nil},
			{Peer: 0x102, Ciphertext: []byte("sealed share plaintext")},
		}},
		"ShareBundle": ShareBundle{Round: wireRound(), Receiver: 4, Shares: []EncryptedShare{
			{Peer: 3, Ciphertext: []byte{0xde, 0xad, 0xbe, 0xef}},
			{Peer: 9, Ciphertext: []byte{0x01}},
		}},
		"MaskedInput":    MaskedInput{Round: wireRound(), Sender: 2, Words32: []uint32{0, 1, 0xdeadbeef, 0xffffffff, 0x01020304}},
		"MaskedInput64":  MaskedInput{Round: wireRound(), Sender: 2, Words64: []uint64{0, 1, 0xffffffffffffffff, 0x0102030405060708}},
		"SurvivorList":   SurvivorList{Round: wireRound(), Survivors: []uint32{0, 1, 3, 0x100, MaxParties - 1}},
		"ConsistencySig": wireExampleSig(6),
		"UnmaskRequest": UnmaskRequest{Round: wireRound(), Survivors: []uint32{1, 2, 5},
			Signatures: []ConsistencySig{wireExampleSig(1), wireExampleSig(5)}},
		"UnmaskShares": UnmaskShares{Round: wireRound(), Sender: 5, Shares: []RevealedShare{
			{Of: 1, Kind: SelfSeedShare, Share: wireExampleShare(3, 0x11)},
			{Of: 4, Kind: MaskKeyShare, Share: wireExampleShare(2, 0x22)},
		}},
		"Share": wireExampleShare(12, 0x33),
		"SharePlaintext": SharePlaintext{Round: wireRound(), Sender: 8, Receiver: 9,
			MaskKey: wireExampleShare(4, 0x44), SelfSeed: wireExampleShare(4, 0x55)},
	}
}

// wireNew returns a pointer to a zero value of the same type as m.
func wireNew(m encoding.BinaryMarshaler) encoding.BinaryUnmarshaler {
	return reflect.New(reflect.TypeOf(m)).Interface().(encoding.BinaryUnmarshaler)
}

func wireReadHex(t testing.TB, name string) []byte {
	return golden.ReadHex(t, filepath.Join(wireGoldenDir, name+".hex"))
}

// TestGoldenWire checks the encoding of one fixed example of every message
// type byte for byte against testdata/secagg/wire/<Type>.hex, and decodes
// the file back to the example. With -update it rewrites the files.
func TestGoldenWire(t *testing.T) {
	for name, m := range wireGolden() {
		t.Run(name, func(t *testing.T) {
			got, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(wireGoldenDir, name+".hex"), got, false)
			want := wireReadHex(t, name)
			p := wireNew(m)
			if err := p.UnmarshalBinary(want); err != nil {
				t.Fatal(err)
			}
			if v := reflect.ValueOf(p).Elem().Interface(); !reflect.DeepEqual(v, m) {
				t.Fatalf("decoded %+v, want %+v", v, m)
			}
		})
	}
}

// TestGoldenWireLayout spot-checks the golden bytes against the layout of
// docs/wire/secagg.md, independently of the encoder.
func TestGoldenWireLayout(t *testing.T) {
	b := wireReadHex(t, "MaskedInput")
	want := []byte{1, wireTypeMaskedInput}
	want = append(want, wireRoundBytes()...)
	want = append(want, 0, 0, 0, 2, 32, 0, 0, 0, 5)
	want = append(want, 0, 0, 0, 0, 1, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde, 0xff, 0xff, 0xff, 0xff, 4, 3, 2, 1)
	if !bytes.Equal(b, want) {
		t.Fatalf("MaskedInput.hex\n got %x\nwant %x", b, want)
	}
	b = wireReadHex(t, "SurvivorList")
	want = []byte{1, wireTypeSurvivorList}
	want = append(want, wireRoundBytes()...)
	want = append(want, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0xff, 0xff)
	if !bytes.Equal(b, want) {
		t.Fatalf("SurvivorList.hex\n got %x\nwant %x", b, want)
	}
	// Distinct type bytes, all version 1.
	seen := map[byte]string{}
	for name := range wireGolden() {
		b := wireReadHex(t, name)
		if b[0] != 1 {
			t.Errorf("%s: version %d", name, b[0])
		}
		if other, ok := seen[b[1]]; ok && strings.TrimSuffix(name, "64") != strings.TrimSuffix(other, "64") {
			t.Errorf("%s and %s share type byte %d", name, other, b[1])
		}
		seen[b[1]] = name
	}
}

func wireRoundBytes() []byte { r := wireRound(); return r[:] }

// ---------------------------------------------------------------------------
// Round trips.

// wireRoundTrip checks decode(encode(m)) == m and encode(decode(b)) == b,
// and that AppendBinary appends the same bytes after a prefix.
func wireRoundTrip[T encoding.BinaryMarshaler, P wireMsg[T]](t *testing.T, m T) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("%T: MarshalBinary: %v", m, err)
	}
	var got T
	if err := P(&got).UnmarshalBinary(b); err != nil {
		t.Fatalf("%T: UnmarshalBinary: %v", m, err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("%T: round trip\n got %+v\nwant %+v", m, got, m)
	}
	b2, err := got.MarshalBinary()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%T: re-encoding differs (%v)", m, err)
	}
	prefix := []byte("prefix")
	b3, err := any(m).(encoding.BinaryAppender).AppendBinary(slices.Clip(prefix))
	if err != nil || !bytes.Equal(b3[:len(prefix)], prefix) || !bytes.Equal(b3[len(prefix):], b) {
		t.Fatalf("%T: AppendBinary differs (%v)", m, err)
	}
	return b
}

func wireRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 's', 'w'}))
}

func wireRandBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// wireRandParties returns n distinct party indices below limit, sorted.
func wireRandParties(r *rand.Rand, n int, limit uint32) []uint32 {
	set := map[uint32]bool{}
	for len(set) < n {
		set[r.Uint32N(limit)] = true
	}
	out := make([]uint32, 0, n)
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	if n == 0 {
		return nil
	}
	return out
}

var wireEllBig, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// wireScalarLE returns x as 32 little-endian bytes.
func wireScalarLE(x *big.Int) [32]byte {
	var s [32]byte
	x.FillBytes(s[:])
	slices.Reverse(s[:])
	return s
}

func wireRandScalar(r *rand.Rand) [32]byte {
	switch r.IntN(8) {
	case 0:
		return wireScalarLE(new(big.Int).Sub(wireEllBig, big.NewInt(1)))
	case 1:
		return [32]byte{}
	}
	var s [32]byte
	wireRandBytes(r, s[:])
	s[31] &= 0x0f
	return s
}

func wireRandShare(r *rand.Rand) Share {
	return Share{Index: 1 + r.Uint32N(MaxParties), Lo: wireRandScalar(r), Hi: wireRandScalar(r)}
}

func wireRandEnc(r *rand.Rand, n int) []EncryptedShare {
	if n == 0 {
		return nil
	}
	peers := wireRandParties(r, n, MaxParties)
	out := make([]EncryptedShare, n)
	for i := range out {
		out[i].Peer = peers[i]
		if l := r.IntN(MaxCiphertext + 1); r.IntN(4) != 0 {
			out[i].Ciphertext = make([]byte, l)
			wireRandBytes(r, out[i].Ciphertext)
			if l == 0 {
				out[i].Ciphertext = nil
			}
		}
	}
	return out
}

func TestWireRoundTrip(t *testing.T) {
	r := wireRand(1)
	for iter := 0; iter < 40; iter++ {
		n := []int{0, 1, 2, 5, 17, 100}[iter%6]
		var round RoundID
		wireRandBytes(r, round[:])
		sender := r.Uint32N(MaxParties)

		ak := AdvertiseKeys{Round: round, Sender: sender}
		wireRandBytes(r, ak.EncKey[:])
		wireRandBytes(r, ak.MaskKey[:])
		wireRandBytes(r, ak.Sig[:])
		wireRoundTrip(t, ak)

		kl := KeyList{Round: round}
		for _, p := range wireRandParties(r, n, MaxParties) {
			k := ak
			k.Sender = p
			wireRandBytes(r, k.Sig[:])
			kl.Keys = append(kl.Keys, k)
		}
		wireRoundTrip(t, kl)

		wireRoundTrip(t, ShareKeys{Round: round, Sender: sender, Shares: wireRandEnc(r, n)})
		wireRoundTrip(t, ShareBundle{Round: round, Receiver: sender, Shares: wireRandEnc(r, n)})

		w32 := make([]uint32, r.IntN(300))
		for i := range w32 {
			w32[i] = r.Uint32()
		}
		wireRoundTrip(t, MaskedInput{Round: round, Sender: sender, Words32: w32})
		w64 := make([]uint64, r.IntN(300))
		for i := range w64 {
			w64[i] = r.Uint64()
		}
		wireRoundTrip(t, MaskedInput{Round: round, Sender: sender, Words64: w64})

		wireRoundTrip(t, SurvivorList{Round: round, Survivors: wireRandParties(r, n, MaxParties)})

		cs := ConsistencySig{Round: round, Sender: sender}
		wireRandBytes(r, cs.Sig[:])
		wireRoundTrip(t, cs)

		ur := UnmaskRequest{Round: round, Survivors: wireRandParties(r, n, MaxParties)}
		for _, p := range wireRandParties(r, n, MaxParties) {
			s := cs
			s.Sender = p
			ur.Signatures = append(ur.Signatures, s)
		}
		wireRoundTrip(t, ur)

		us := UnmaskShares{Round: round, Sender: sender}
		for _, p := range wireRandParties(r, n, MaxParties) {
			us.Shares = append(us.Shares, RevealedShare{Of: p, Kind: ShareKind(1 + r.IntN(2)), Share: wireRandShare(r)})
		}
		wireRoundTrip(t, us)

		wireRoundTrip(t, wireRandShare(r))
		wireRoundTrip(t, SharePlaintext{Round: round, Sender: sender, Receiver: r.Uint32N(MaxParties),
			MaskKey: wireRandShare(r), SelfSeed: wireRandShare(r)})
	}
}

// TestWireEmpty: empty lists encode as a zero count and decode as nil; an
// empty MaskedInput vector keeps its ring and decodes as an empty non-nil
// slice.
func TestWireEmpty(t *testing.T) {
	wireRoundTrip(t, KeyList{})
	wireRoundTrip(t, ShareKeys{})
	wireRoundTrip(t, ShareBundle{})
	wireRoundTrip(t, SurvivorList{})
	wireRoundTrip(t, UnmaskRequest{})
	wireRoundTrip(t, UnmaskShares{})
	wireRoundTrip(t, AdvertiseKeys{})
	wireRoundTrip(t, ConsistencySig{})

	// Empty (non-nil) lists encode like nil ones.
	a, _ := SurvivorList{Survivors: []uint32{}}.MarshalBinary()
	b, _ := SurvivorList{}.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Error("empty and nil Survivors encode differently")
	}
	a, _ = ShareKeys{Shares: []EncryptedShare{{Ciphertext: []byte{}}}}.MarshalBinary()
	b, _ = ShareKeys{Shares: []EncryptedShare{{}}}.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Error("empty and nil Ciphertext encode differently")
	}

	for _, m := range []MaskedInput{{Words32: []uint32{}}, {Words64: []uint64{}}} {
		b := wireRoundTrip(t, m)
		var got MaskedInput
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if (got.Words32 == nil) == (got.Words64 == nil) {
			t.Errorf("empty vector decoded as Words32=%v Words64=%v", got.Words32, got.Words64)
		}
	}
}

// TestWireMaxSize round-trips messages at the limits.
func TestWireMaxSize(t *testing.T) {
	r := wireRand(2)
	// Full-length lists of every party; with -short, the last 4096.
	n := MaxParties
	if testing.Short() {
		n = 4096
	}
	all := make([]uint32, n)
	for i := range all {
		all[i] = uint32(MaxParties - n + i)
	}
	wireRoundTrip(t, SurvivorList{Survivors: all})

	keys := make([]AdvertiseKeys, n)
	for i := range keys {
		keys[i].Sender = all[i]
	}
	wireRoundTrip(t, KeyList{Keys: keys})

	sigs := make([]ConsistencySig, n)
	for i := range sigs {
		sigs[i].Sender = all[i]
	}
	wireRoundTrip(t, UnmaskRequest{Survivors: all, Signatures: sigs})

	enc := make([]EncryptedShare, 300)
	for i := range enc {
		enc[i] = EncryptedShare{Peer: MaxParties - 300 + uint32(i), Ciphertext: make([]byte, MaxCiphertext)}
		wireRandBytes(r, enc[i].Ciphertext)
	}
	wireRoundTrip(t, ShareKeys{Sender: MaxParties - 1, Shares: enc})
	wireRoundTrip(t, ShareBundle{Receiver: MaxParties - 1, Shares: enc})

	maxShare := Share{Index: MaxParties, Lo: wireScalarLE(new(big.Int).Sub(wireEllBig, big.NewInt(1)))}
	maxShare.Hi = maxShare.Lo
	wireRoundTrip(t, maxShare)
	wireRoundTrip(t, SharePlaintext{Sender: MaxParties - 1, Receiver: MaxParties - 1, MaskKey: maxShare, SelfSeed: maxShare})
	wireRoundTrip(t, UnmaskShares{Sender: MaxParties - 1, Shares: []RevealedShare{{Of: MaxParties - 1, Kind: MaskKeyShare, Share: maxShare}}})

	wireRoundTrip(t, MaskedInput{Sender: MaxParties - 1, Words32: make([]uint32, 1<<20)})
	wireRoundTrip(t, MaskedInput{Sender: MaxParties - 1, Words64: make([]uint64, 1<<19)})
}

// TestWireMaskedInputLengths round-trips every length 0..1024 in both rings
// and checks the words are little-endian.
func TestWireMaskedInputLengths(t *testing.T) {
	r := wireRand(3)
	for n := 0; n <= 1024; n++ {
		w32 := make([]uint32, n)
		w64 := make([]uint64, n)
		for i := range w32 {
			w32[i], w64[i] = r.Uint32(), r.Uint64()
		}
		b := wireRoundTrip(t, MaskedInput{Sender: 1, Words32: w32})
		body := b[len(b)-4*n:]
		for i, w := range w32 {
			if binary.LittleEndian.Uint32(body[4*i:]) != w {
				t.Fatalf("n=%d: word %d not little-endian", n, i)
			}
		}
		b = wireRoundTrip(t, MaskedInput{Sender: 1, Words64: w64})
		body = b[len(b)-8*n:]
		for i, w := range w64 {
			if binary.LittleEndian.Uint64(body[8*i:]) != w {
				t.Fatalf("n=%d: word %d not little-endian", n, i)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Scalars.

func TestWireCanonicalScalar(t *testing.T) {
	check := func(x *big.Int) {
		t.Helper()
		s := wireScalarLE(x)
		if got, want := wireCanonicalScalar(&s), x.Cmp(wireEllBig) < 0; got != want {
			t.Fatalf("wireCanonicalScalar(%x) = %v, want %v", x, got, want)
		}
	}
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, d := range []int64{-3, -2, -1, 0, 1, 2} {
		check(new(big.Int).Add(wireEllBig, big.NewInt(d)))
	}
	check(big.NewInt(0))
	check(big.NewInt(1))
	check(max)
	check(new(big.Int).Lsh(big.NewInt(1), 252))
	check(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 252), big.NewInt(1)))
	// Same top limb as ℓ, lower limbs above and below.
	check(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), new(big.Int).Lsh(big.NewInt(1), 128)))
	r := wireRand(4)
	for i := 0; i < 20000; i++ {
		var s [32]byte
		wireRandBytes(r, s[:])
		switch i % 3 {
		case 0:
			s[31] = 0x10
		case 1:
			s[31] &= 0x1f
		}
		be := s
		slices.Reverse(be[:])
		check(new(big.Int).SetBytes(be[:]))
	}
}

// ---------------------------------------------------------------------------
// Malformed input.

// wireB builds raw messages for the malformed-input tests.
type wireB []byte

func wireHdr(typ byte) wireB                          { return wireB{1, typ} }
func (b wireB) u8(v byte) wireB                       { return append(b, v) }
func (b wireB) u32(v uint32) wireB                    { return binary.BigEndian.AppendUint32(b, v) }
func (b wireB) raw(v ...byte) wireB                   { return append(b, v...) }
func (b wireB) zeros(n int) wireB                     { return append(b, make([]byte, n)...) }
func (b wireB) round() wireB                          { return b.zeros(32) }
func (b wireB) scalar(s [32]byte) wireB               { return append(b, s[:]...) }
func (b wireB) share(i uint32, lo, hi [32]byte) wireB { return b.u32(i).scalar(lo).scalar(hi) }

func wireEllLE(d int64) [32]byte { return wireScalarLE(new(big.Int).Add(wireEllBig, big.NewInt(d))) }

var wireOK = [32]byte{1}

type wireBad struct {
	name string
	dec  encoding.BinaryUnmarshaler
	in   []byte
	want string // substring of the error, after "secagg: malformed message: "
}

func wireBadCases() []wireBad {
	adv := func(sender uint32) wireB { return wireB{}.round().u32(sender).zeros(32 + 32 + 64) }
	sig := func(sender uint32) wireB { return wireB{}.round().u32(sender).zeros(64) }
	ff := [32]byte{}
	for i := range ff {
		ff[i] = 0xff
	}
	return []wireBad{
		{"empty", &AdvertiseKeys{}, nil, "AdvertiseKeys.version: truncated"},
		{"only version", &KeyList{}, []byte{1}, "KeyList.type: truncated"},
		{"version 0", &ShareKeys{}, wireB{0, wireTypeShareKeys}.round().u32(0).u32(0), "ShareKeys.version: unsupported version 0"},
		{"version 2", &ShareKeys{}, wireB{2, wireTypeShareKeys}.round().u32(0).u32(0), "ShareKeys.version: unsupported version 2"},
		{"wrong type", &ShareBundle{}, wireHdr(wireTypeShareKeys).round().u32(0).u32(0), "ShareBundle.type: type byte 3, want 4"},
		{"type 0", &Share{}, wireB{1, 0}.share(1, wireOK, wireOK), "Share.type: type byte 0, want 10"},
		{"trailing", &ConsistencySig{}, wireHdr(wireTypeConsistencySig).raw(sig(0)...).u8(0), "ConsistencySig: 1 trailing bytes"},
		{"trailing list", &SurvivorList{}, wireHdr(wireTypeSurvivorList).round().u32(1).u32(1).u32(2), "SurvivorList: 4 trailing bytes"},
		{"truncated round", &MaskedInput{}, wireHdr(wireTypeMaskedInput).zeros(31), "MaskedInput.Round: truncated"},
		{"truncated sig", &AdvertiseKeys{}, wireHdr(wireTypeAdvertiseKeys).raw(adv(1)[:130]...), "AdvertiseKeys.Sig: truncated"},

		// Party indices.
		{"sender too big", &AdvertiseKeys{}, wireHdr(wireTypeAdvertiseKeys).raw(adv(MaxParties)...), "AdvertiseKeys.Sender: party index 65536 not below MaxParties"},
		{"receiver too big", &ShareBundle{}, wireHdr(wireTypeShareBundle).round().u32(0xffffffff).u32(0), "ShareBundle.Receiver: party index 4294967295 not below MaxParties"},
		{"plaintext receiver", &SharePlaintext{}, wireHdr(wireTypeSharePlaintext).round().u32(1).u32(MaxParties).share(1, wireOK, wireOK).share(1, wireOK, wireOK), "SharePlaintext.Receiver: party index"},
		{"survivor too big", &SurvivorList{}, wireHdr(wireTypeSurvivorList).round().u32(2).u32(1).u32(MaxParties), "SurvivorList.Survivors[1]: party index 65536"},

		// Ordering.
		{"keys unsorted", &KeyList{}, wireHdr(wireTypeKeyList).round().u32(2).raw(adv(5)...).raw(adv(3)...), "KeyList.Keys[1].Sender: not above the previous"},
		{"keys duplicate", &KeyList{}, wireHdr(wireTypeKeyList).round().u32(3).raw(adv(1)...).raw(adv(5)...).raw(adv(5)...), "KeyList.Keys[2].Sender: not above the previous"},
		{"peers unsorted", &ShareKeys{}, wireHdr(wireTypeShareKeys).round().u32(0).u32(4).u32(1).u32(0).u32(2).u32(0).u32(7).u32(0).u32(3).u32(0), "ShareKeys.Shares[3].Peer: not above the previous"},
		{"peers duplicate", &ShareBundle{}, wireHdr(wireTypeShareBundle).round().u32(0).u32(2).u32(1).u32(1).u8(9).u32(1).u32(0), "ShareBundle.Shares[1].Peer: not above the previous"},
		{"survivors duplicate", &SurvivorList{}, wireHdr(wireTypeSurvivorList).round().u32(2).u32(4).u32(4), "SurvivorList.Survivors[1]: not above the previous"},
		{"request survivors", &UnmaskRequest{}, wireHdr(wireTypeUnmaskRequest).round().u32(2).u32(4).u32(3).u32(0), "UnmaskRequest.Survivors[1]: not above the previous"},
		{"request signatures", &UnmaskRequest{}, wireHdr(wireTypeUnmaskRequest).round().u32(0).u32(2).raw(sig(2)...).raw(sig(2)...), "UnmaskRequest.Signatures[1].Sender: not above the previous"},
		{"revealed unsorted", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(2).u32(3).u8(1).share(1, wireOK, wireOK).u32(2).u8(2).share(1, wireOK, wireOK), "UnmaskShares.Shares[1].Of: not above the previous"},

		// Counts and lengths.
		{"keys above limit", &KeyList{}, wireHdr(wireTypeKeyList).round().u32(MaxParties + 1), "KeyList.Keys: count 65537 above the limit 65536"},
		{"keys do not fit", &KeyList{}, wireHdr(wireTypeKeyList).round().u32(MaxParties).raw(adv(0)...), "KeyList.Keys: count 65536 does not fit in the remaining 164 bytes"},
		{"shares do not fit", &ShareKeys{}, wireHdr(wireTypeShareKeys).round().u32(0).u32(2).u32(1).u32(0), "ShareKeys.Shares: count 2 does not fit in the remaining 8 bytes"},
		{"survivors huge", &SurvivorList{}, wireHdr(wireTypeSurvivorList).round().u32(0xffffffff), "SurvivorList.Survivors: count 4294967295 above the limit"},
		{"signatures do not fit", &UnmaskRequest{}, wireHdr(wireTypeUnmaskRequest).round().u32(0).u32(1).raw(sig(0)[:99]...), "UnmaskRequest.Signatures: count 1 does not fit"},
		{"revealed do not fit", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(MaxParties), "UnmaskShares.Shares: count 65536 does not fit in the remaining 0 bytes"},
		{"ciphertext too long", &ShareKeys{}, wireHdr(wireTypeShareKeys).round().u32(0).u32(1).u32(1).u32(MaxCiphertext + 1).zeros(MaxCiphertext + 1), "ShareKeys.Shares[0].Ciphertext: length 1025 above MaxCiphertext"},
		{"ciphertext truncated", &ShareBundle{}, wireHdr(wireTypeShareBundle).round().u32(0).u32(2).u32(1).u32(1).u8(7).u32(2).u32(3).u8(1).u8(2), "ShareBundle.Shares[1].Ciphertext: truncated"},
		{"ciphertext length truncated", &ShareBundle{}, wireHdr(wireTypeShareBundle).round().u32(0).u32(1).u32(1).raw(0, 0, 0), "ShareBundle.Shares: count 1 does not fit"},

		// MaskedInput.
		{"ring 16", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(16).u32(0), "MaskedInput.Ring: ring byte 16, want 32 or 64"},
		{"ring 0", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(0).u32(0), "MaskedInput.Ring: ring byte 0"},
		{"ring missing", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0), "MaskedInput.Ring: truncated"},
		{"count missing", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(32).raw(0, 0), "MaskedInput.Words: truncated"},
		{"dim above limit", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(32).u32(MaxDim + 1), "MaskedInput.Words: count 268435457 above the limit 268435456"},
		{"words do not fit", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(64).u32(2).zeros(15), "MaskedInput.Words: count 2 does not fit in the remaining 15 bytes"},
		{"words trailing", &MaskedInput{}, wireHdr(wireTypeMaskedInput).round().u32(0).u8(32).u32(2).zeros(9), "MaskedInput: 1 trailing bytes"},

		// Shares.
		{"index 0", &Share{}, wireHdr(wireTypeShare).share(0, wireOK, wireOK), "Share.Index: zero"},
		{"index too big", &Share{}, wireHdr(wireTypeShare).share(MaxParties+1, wireOK, wireOK), "Share.Index: above MaxParties"},
		{"lo = ell", &Share{}, wireHdr(wireTypeShare).share(1, wireEllLE(0), wireOK), "Share.Lo: scalar not below the group order"},
		{"hi = ell+1", &Share{}, wireHdr(wireTypeShare).share(1, wireOK, wireEllLE(1)), "Share.Hi: scalar not below the group order"},
		{"hi = 2^256-1", &Share{}, wireHdr(wireTypeShare).share(1, wireOK, ff), "Share.Hi: scalar not below the group order"},
		{"share truncated", &Share{}, wireHdr(wireTypeShare).u32(1).zeros(40), "Share.Hi: truncated"},
		{"plaintext mask key", &SharePlaintext{}, wireHdr(wireTypeSharePlaintext).round().u32(1).u32(2).share(1, ff, wireOK).share(1, wireOK, wireOK), "SharePlaintext.MaskKey.Lo: scalar not below the group order"},
		{"plaintext self seed", &SharePlaintext{}, wireHdr(wireTypeSharePlaintext).round().u32(1).u32(2).share(1, wireOK, wireOK).share(0, wireOK, wireOK), "SharePlaintext.SelfSeed.Index: zero"},
		{"kind 0", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(1).u32(3).u8(0).share(1, wireOK, wireOK), "UnmaskShares.Shares[0].Kind: share kind 0, want 1 or 2"},
		{"kind 3", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(2).u32(3).u8(1).share(1, wireOK, wireOK).u32(4).u8(3).share(1, wireOK, wireOK), "UnmaskShares.Shares[1].Kind: share kind 3"},
		{"revealed scalar", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(1).u32(3).u8(2).share(1, wireOK, wireEllLE(0)), "UnmaskShares.Shares[0].Share.Hi: scalar not below the group order"},
		{"revealed index", &UnmaskShares{}, wireHdr(wireTypeUnmaskShares).round().u32(0).u32(1).u32(3).u8(2).share(0, wireOK, wireOK), "UnmaskShares.Shares[0].Share.Index: zero"},
	}
}

// TestWireMalformed decodes each kind of bad input and checks the error
// wraps ErrMalformed, names the field, and leaves the receiver unchanged.
func TestWireMalformed(t *testing.T) {
	for _, c := range wireBadCases() {
		t.Run(c.name, func(t *testing.T) {
			before := reflect.ValueOf(c.dec).Elem().Interface()
			err := c.dec.UnmarshalBinary(c.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if want := "secagg: malformed message: " + c.want; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("got  %q\nwant %q", err, want)
			}
			if after := reflect.ValueOf(c.dec).Elem().Interface(); !reflect.DeepEqual(before, after) {
				t.Fatal("receiver modified on error")
			}
		})
	}
}

// TestWireTruncatedAndExtended decodes every proper prefix of every golden
// vector, and each with a byte appended, into every message type: all must
// fail with ErrMalformed. Every golden vector decodes only as its own type.
func TestWireTruncatedAndExtended(t *testing.T) {
	golden := wireGolden()
	for name := range golden {
		b := wireReadHex(t, name)
		for other, om := range golden {
			for i := 0; i <= len(b)+1; i++ {
				in := b[:min(i, len(b))]
				if i == len(b)+1 {
					in = append(slices.Clip(b), 0)
				}
				err := wireNew(om).UnmarshalBinary(in)
				same := strings.TrimSuffix(name, "64") == strings.TrimSuffix(other, "64") && i == len(b)
				if same && err != nil {
					t.Fatalf("%s as %s: %v", name, other, err)
				}
				if !same && !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s[:%d] as %s: got %v, want ErrMalformed", name, i, other, err)
				}
			}
		}
	}
}

// TestWireMarshalInvalid: values with no encoding are refused with the same
// errors the decoder gives.
func TestWireMarshalInvalid(t *testing.T) {
	bad := Share{Index: 1, Lo: wireEllLE(0)}
	cases := []struct {
		m    encoding.BinaryMarshaler
		want string
	}{
		{AdvertiseKeys{Sender: MaxParties}, "AdvertiseKeys.Sender: party index 65536 not below MaxParties"},
		{KeyList{Keys: []AdvertiseKeys{{Sender: 2}, {Sender: 1}}}, "KeyList.Keys[1].Sender: not above the previous"},
		{KeyList{Keys: []AdvertiseKeys{{Sender: MaxParties}}}, "KeyList.Keys[0].Sender: party index"},
		{ShareKeys{Sender: MaxParties}, "ShareKeys.Sender: party index"},
		{ShareKeys{Shares: []EncryptedShare{{Peer: 1}, {Peer: 1}}}, "ShareKeys.Shares[1].Peer: not above the previous"},
		{ShareKeys{Shares: []EncryptedShare{{Peer: 1, Ciphertext: make([]byte, MaxCiphertext+1)}}}, "ShareKeys.Shares[0].Ciphertext: length 1025 above MaxCiphertext"},
		{ShareBundle{Receiver: 1 << 20}, "ShareBundle.Receiver: party index"},
		{ShareBundle{Shares: []EncryptedShare{{Peer: 5}, {Peer: 4}}}, "ShareBundle.Shares[1].Peer: not above the previous"},
		{MaskedInput{}, "MaskedInput.Words32: neither Words32 nor Words64 set"},
		{MaskedInput{Words32: []uint32{}, Words64: []uint64{}}, "MaskedInput.Words32: both Words32 and Words64 set"},
		{MaskedInput{Sender: MaxParties, Words32: []uint32{1}}, "MaskedInput.Sender: party index"},
		{SurvivorList{Survivors: []uint32{3, 3}}, "SurvivorList.Survivors[1]: not above the previous"},
		{SurvivorList{Survivors: make([]uint32, MaxParties+1)}, "SurvivorList.Survivors: count 65537 above the limit 65536"},
		{ConsistencySig{Sender: MaxParties}, "ConsistencySig.Sender: party index"},
		{UnmaskRequest{Survivors: []uint32{2, 1}}, "UnmaskRequest.Survivors[1]: not above the previous"},
		{UnmaskRequest{Signatures: []ConsistencySig{{Sender: 2}, {Sender: 1}}}, "UnmaskRequest.Signatures[1].Sender: not above the previous"},
		{UnmaskShares{Shares: []RevealedShare{{Of: 1, Kind: 3, Share: wireExampleShare(1, 0)}}}, "UnmaskShares.Shares[0].Kind: share kind 3, want 1 or 2"},
		{UnmaskShares{Shares: []RevealedShare{{Of: 1, Kind: 1, Share: bad}}}, "UnmaskShares.Shares[0].Share.Lo: scalar not below the group order"},
		{UnmaskShares{Shares: []RevealedShare{{Of: 2, Kind: 1, Share: wireExampleShare(1, 0)}, {Of: 1, Kind: 1, Share: wireExampleShare(1, 0)}}}, "UnmaskShares.Shares[1].Of: not above the previous"},
		{Share{}, "Share.Index: zero"},
		{bad, "Share.Lo: scalar not below the group order"},
		{SharePlaintext{MaskKey: wireExampleShare(1, 0), SelfSeed: bad}, "SharePlaintext.SelfSeed.Lo: scalar not below the group order"},
		{SharePlaintext{Receiver: MaxParties, MaskKey: wireExampleShare(1, 0), SelfSeed: wireExampleShare(1, 0)}, "SharePlaintext.Receiver: party index"},
	}
	for _, c := range cases {
		b, err := c.m.MarshalBinary()
		if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "secagg: malformed message: "+c.want) {
			t.Errorf("%T: got (%x, %v), want error %q", c.m, b, err, c.want)
		}
	}
}

// TestWireMaxDimMarshal: a vector longer than MaxDim is refused. The slice
// is allocated but never touched, so it costs address space only.
func TestWireMaxDimMarshal(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1 GiB of address space")
	}
	_, err := MaskedInput{Words32: make([]uint32, MaxDim+1)}.MarshalBinary()
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "MaskedInput.Words: count 268435457 above MaxDim") {
		t.Fatalf("got %v", err)
	}
}

// TestWireDecodeAllocs: a message whose count promises more than its bytes
// hold fails before allocating for the count.
func TestWireDecodeAllocs(t *testing.T) {
	in := wireHdr(wireTypeMaskedInput).round().u32(0).u8(64).u32(MaxDim).zeros(1 << 10)
	var m MaskedInput
	if n := wireAllocBytes(func() { _ = m.UnmarshalBinary(in) }); n > 4096 {
		t.Errorf("failed MaskedInput decode allocated %d bytes", n)
	}
	in = wireHdr(wireTypeKeyList).round().u32(MaxParties).zeros(1000)
	var kl KeyList
	if n := wireAllocBytes(func() { _ = kl.UnmarshalBinary(in) }); n > 4096 {
		t.Errorf("failed KeyList decode allocated %d bytes", n)
	}
	// A ShareKeys with many small ciphertexts makes one allocation for
	// them all (plus the message, its list and the decoder, which escape
	// through unmarshalWire): a handful, not one per ciphertext.
	sk := ShareKeys{}
	for i := 0; i < 1000; i++ {
		sk.Shares = append(sk.Shares, EncryptedShare{Peer: uint32(i), Ciphertext: []byte{byte(i), 1, 2}})
	}
	b, _ := sk.MarshalBinary()
	allocs := testing.AllocsPerRun(10, func() {
		var s ShareKeys
		if err := s.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("ShareKeys decode: %v allocations", allocs)
	}
}

// wireAllocBytes returns the bytes f allocates (averaged over a few runs).
func wireAllocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 4; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / 4
}

// ---------------------------------------------------------------------------
// Benchmarks.

func wireBenchInput() MaskedInput {
	r := wireRand(5)
	w := make([]uint32, 1_000_000)
	for i := range w {
		w[i] = r.Uint32()
	}
	return MaskedInput{Sender: 1, Words32: w}
}

func BenchmarkWireMaskedInputMarshal(b *testing.B) {
	m := wireBenchInput()
	b.SetBytes(4 * int64(len(m.Words32)))
	for b.Loop() {
		if _, err := m.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWireMaskedInputAppend(b *testing.B) {
	m := wireBenchInput()
	buf := make([]byte, 0, 4*len(m.Words32)+64)
	b.SetBytes(4 * int64(len(m.Words32)))
	for b.Loop() {
		if _, err := m.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWireMaskedInputUnmarshal(b *testing.B) {
	m := wireBenchInput()
	enc, _ := m.MarshalBinary()
	b.SetBytes(4 * int64(len(m.Words32)))
	for b.Loop() {
		var v MaskedInput
		if err := v.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
