package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
)

// testMessage returns a message whose encoding is size bytes long
// (size ≥ messageHeader), with a body of random bytes from seed.
func testMessage(size int, seed uint64) *Message {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rng := rand.NewChaCha8(key)
	m := &Message{Kind: KindSAMasked, Round: uint32(seed), Attempt: uint32(seed >> 32)}
	rng.Read(m.Job[:])
	if n := size - messageHeader; n > 0 {
		m.Body = make([]byte, n)
		rng.Read(m.Body)
	}
	return m
}

// sameMessage reports how got differs from want, or "".
func sameMessage(got, want *Message) string {
	if got.Job != want.Job || got.Kind != want.Kind || got.Round != want.Round || got.Attempt != want.Attempt {
		return fmt.Sprintf("header %v %v %d %d, want %v %v %d %d",
			got.Job, got.Kind, got.Round, got.Attempt, want.Job, want.Kind, want.Round, want.Attempt)
	}
	if !bytes.Equal(got.Body, want.Body) {
		return fmt.Sprintf("body of %d bytes differs from the %d bytes sent", len(got.Body), len(want.Body))
	}
	return ""
}

// splitAll returns copies of the frames SplitMessage emits.
func splitAll(t testing.TB, m *Message, stream uint64) []*Frame {
	t.Helper()
	var frames []*Frame
	err := SplitMessage(m, stream, func(f *Frame) error {
		g := *f
		g.Payload = bytes.Clone(f.Payload)
		frames = append(frames, &g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func TestSplitMessage(t *testing.T) {
	for _, size := range []int{messageHeader, messageHeader + 1, MaxFrame - 1, MaxFrame, MaxFrame + 1, 3*MaxFrame + 5} {
		m := testMessage(size, uint64(size))
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		frames := splitAll(t, m, 9)
		wantCount := (size + MaxFrame - 1) / MaxFrame
		if len(frames) != wantCount {
			t.Fatalf("size %d: %d frames, want %d", size, len(frames), wantCount)
		}
		var joined []byte
		for i, f := range frames {
			wantLen := MaxFrame
			if i == wantCount-1 {
				wantLen = size - (wantCount-1)*MaxFrame
			}
			if f.Stream != 9 || f.Index != uint32(i) || f.Count != uint32(wantCount) || f.Total != uint32(size) || len(f.Payload) != wantLen {
				t.Fatalf("size %d frame %d: stream %d index %d count %d total %d payload %d, want 9 %d %d %d %d",
					size, i, f.Stream, f.Index, f.Count, f.Total, len(f.Payload), i, wantCount, size, wantLen)
			}
			joined = append(joined, f.Payload...)
		}
		if !bytes.Equal(joined, enc) {
			t.Fatalf("size %d: payloads do not join to the encoded message", size)
		}
	}
}

func TestSplitMessageErrors(t *testing.T) {
	m := testMessage(2*MaxFrame+1, 1)
	if err := SplitMessage(m, 0, func(*Frame) error { return nil }); err == nil || !strings.Contains(err.Error(), "stream 0") {
		t.Errorf("stream 0: error %v", err)
	}
	if err := SplitMessage(&Message{}, 1, func(*Frame) error { return nil }); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("invalid kind: error %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	err := SplitMessage(m, 1, func(*Frame) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("emit failing at frame 2: error %v after %d calls, want stop after 2", err, calls)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	frames := []*Frame{
		{Stream: 1, Count: 1, Total: 0, Payload: nil},
		{Stream: 1, Count: 1, Total: 3, Payload: []byte{1, 2, 3}},
		{Stream: 1<<64 - 1, Count: 1, Total: MaxFrame, Payload: make([]byte, MaxFrame)},
		{Stream: 5, Index: 0, Count: 2, Total: MaxFrame + 1, Payload: make([]byte, MaxFrame)},
		{Stream: 5, Index: 1, Count: 2, Total: MaxFrame + 1, Payload: []byte{0xee}},
		{Stream: 6, Index: 511, Count: 512, Total: MaxMessage, Payload: make([]byte, MaxFrame)},
	}
	for _, f := range frames {
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatalf("%d/%d of %d: %v", f.Index, f.Count, f.Total, err)
		}
		if len(b) != frameHeader+len(f.Payload) {
			t.Fatalf("%d/%d of %d: %d bytes, want %d", f.Index, f.Count, f.Total, len(b), frameHeader+len(f.Payload))
		}
		var g Frame
		if err := g.UnmarshalBinary(b); err != nil {
			t.Fatalf("%d/%d of %d: %v", f.Index, f.Count, f.Total, err)
		}
		if g.Stream != f.Stream || g.Index != f.Index || g.Count != f.Count || g.Total != f.Total || !bytes.Equal(g.Payload, f.Payload) {
			t.Fatalf("decoded %d %d/%d of %d, want %d %d/%d of %d", g.Stream, g.Index, g.Count, g.Total, f.Stream, f.Index, f.Count, f.Total)
		}
		if len(g.Payload) > 0 && &g.Payload[0] == &b[frameHeader] {
			t.Fatal("decoded payload aliases the input")
		}
		pre := []byte("prefix")
		a, err := f.AppendBinary(bytes.Clone(pre))
		if err != nil || !bytes.Equal(a, append(pre, b...)) {
			t.Fatalf("AppendBinary after a prefix: %v", err)
		}
	}
}

// frameBytes encodes a frame header by hand, as docs/wire/engine.md lays it
// out, followed by payload.
func frameBytes(version byte, stream uint64, index, count, total uint32, payload []byte) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint64(b, stream)
	b = binary.BigEndian.AppendUint32(b, index)
	b = binary.BigEndian.AppendUint32(b, count)
	b = binary.BigEndian.AppendUint32(b, total)
	return append(b, payload...)
}

func TestFrameUnmarshalRejects(t *testing.T) {
	big := make([]byte, MaxFrame)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "frame of 0 bytes is shorter than its 21-byte header"},
		{"short header", frameBytes(1, 1, 0, 1, 0, nil)[:20], "frame of 20 bytes is shorter than its 21-byte header"},
		{"version 0", frameBytes(0, 1, 0, 1, 0, nil), "frame version 0, want 1"},
		{"version 2", frameBytes(2, 1, 0, 1, 0, nil), "frame version 2, want 1"},
		{"stream 0", frameBytes(1, 0, 0, 1, 0, nil), "stream 0"},
		{"total over limit", frameBytes(1, 1, 0, 513, MaxMessage+1, big), "message of 536870913 bytes exceeds the 536870912-byte limit"},
		{"total max uint32", frameBytes(1, 1, 0, 4096, 1<<32-1, big), "message of 4294967295 bytes exceeds"},
		{"count 0", frameBytes(1, 1, 0, 0, 0, nil), "count 0 for a 0-byte message, want 1"},
		{"count too large", frameBytes(1, 1, 0, 2, 5, []byte{1, 2, 3, 4, 5}), "count 2 for a 5-byte message, want 1"},
		{"count too small", frameBytes(1, 1, 0, 1, MaxFrame+1, big), "count 1 for a 1048577-byte message, want 2"},
		{"index at count", frameBytes(1, 1, 1, 1, 1, []byte{1}), "index 1 of 1 frames"},
		{"index far out", frameBytes(1, 1, 1<<31, 2, MaxFrame+1, []byte{1}), "index 2147483648 of 2 frames"},
		{"payload short", frameBytes(1, 1, 0, 1, 3, []byte{1, 2}), "frame 0 of 1 of a 3-byte message carries 2 bytes, want 3"},
		{"payload long", frameBytes(1, 1, 0, 1, 3, []byte{1, 2, 3, 4}), "frame 0 of 1 of a 3-byte message carries 4 bytes, want 3"},
		{"middle frame short", frameBytes(1, 1, 0, 2, MaxFrame+1, big[1:]), "frame 0 of 2 of a 1048577-byte message carries 1048575 bytes, want 1048576"},
		{"last frame long", frameBytes(1, 1, 1, 2, MaxFrame+1, []byte{1, 2}), "frame 1 of 2 of a 1048577-byte message carries 2 bytes, want 1"},
		{"payload over MaxFrame", frameBytes(1, 1, 0, 1, MaxFrame, append(big, 0)), "frame 0 of 1 of a 1048576-byte message carries 1048577 bytes, want 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Frame{Stream: 42, Payload: []byte{9}}
			err := f.UnmarshalBinary(tc.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.want)
			}
			if f.Stream != 42 || !bytes.Equal(f.Payload, []byte{9}) {
				t.Fatal("a refused frame changed the destination")
			}
		})
	}
}

func TestFrameMarshalRejects(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Count: 1}, "stream 0"},
		{Frame{Stream: 1, Count: 2, Total: 3, Payload: []byte{1, 2, 3}}, "count 2 for a 3-byte message, want 1"},
		{Frame{Stream: 1, Count: 1, Total: 3, Payload: []byte{1, 2}}, "carries 2 bytes, want 3"},
		{Frame{Stream: 1, Index: 1, Count: 1, Total: 3, Payload: []byte{1, 2, 3}}, "index 1 of 1 frames"},
	} {
		if _, err := tc.f.MarshalBinary(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.f, err, tc.want)
		}
	}
}

func TestAssemblerRoundTrip(t *testing.T) {
	var a Assembler
	sizes := []int{messageHeader, messageHeader + 1, MaxFrame - 1, MaxFrame, MaxFrame + 1, 3*MaxFrame + 5, 100}
	for i, size := range sizes {
		want := testMessage(size, uint64(i))
		frames := splitAll(t, want, uint64(i+1))
		for j, f := range frames {
			got, err := a.Add(f)
			if err != nil {
				t.Fatalf("size %d frame %d: %v", size, j, err)
			}
			if last := j == len(frames)-1; (got != nil) != last {
				t.Fatalf("size %d frame %d of %d: message %v", size, j, len(frames), got != nil)
			}
			if got != nil {
				if d := sameMessage(got, want); d != "" {
					t.Fatalf("size %d: %s", size, d)
				}
				if len(frames) == 1 && len(got.Body) > 0 && &got.Body[0] == &f.Payload[messageHeader] {
					t.Fatalf("size %d: body aliases the frame", size)
				}
			}
		}
	}
}

// TestAssemblerRejects feeds a frame the Assembler must refuse after a
// given prefix, then checks the state is unchanged: the right frame is
// still accepted and the message comes out whole.
func TestAssemblerRejects(t *testing.T) {
	m := testMessage(2*MaxFrame+7, 3) // three frames
	good := splitAll(t, m, 2)
	prior := splitAll(t, testMessage(40, 4), 1)[0]
	mod := func(f *Frame, edit func(g *Frame)) *Frame {
		g := *f
		g.Payload = bytes.Clone(f.Payload)
		edit(&g)
		return &g
	}
	for _, tc := range []struct {
		name  string
		after int // frames of good already added
		bad   *Frame
		want  string
	}{
		{"stream repeated", 0, mod(good[0], func(g *Frame) { g.Stream = 1 }), "frame 0 of stream 1, want frame 0 of stream 2"},
		{"stream skipped", 0, mod(good[0], func(g *Frame) { g.Stream = 3 }), "frame 0 of stream 3, want frame 0 of stream 2"},
		{"starts mid-message", 0, good[1], "frame 1 of stream 2, want frame 0 of stream 2"},
		{"index repeated", 1, good[0], "frame 0 of stream 2, want frame 1 of stream 2"},
		{"index skipped", 1, good[2], "frame 2 of stream 2, want frame 1 of stream 2"},
		{"next stream early", 1, mod(good[0], func(g *Frame) { g.Stream = 3 }), "frame 0 of stream 3, want frame 1 of stream 2"},
		{"other stream", 2, mod(good[2], func(g *Frame) { g.Stream = 3 }), "frame 2 of stream 3, want frame 2 of stream 2"},
		{"total changed", 1, mod(good[1], func(g *Frame) { g.Total, g.Count = 2*MaxFrame+1, 3; g.Payload = g.Payload[:MaxFrame] }),
			"frame 1 of stream 2 says 3 frames of a 2097153-byte message, frame 0 said 3 of 2097159 bytes"},
		{"count changed", 1, mod(good[1], func(g *Frame) { g.Total, g.Count = 4*MaxFrame, 4 }),
			"frame 1 of stream 2 says 4 frames of a 4194304-byte message, frame 0 said 3 of 2097159 bytes"},
		{"payload short", 2, mod(good[2], func(g *Frame) { g.Payload = g.Payload[1:] }), "carries 6 bytes, want 7"},
		{"payload long", 1, mod(good[1], func(g *Frame) { g.Payload = append(g.Payload, 0) }), "carries 1048577 bytes, want 1048576"},
		{"total over limit", 0, mod(good[0], func(g *Frame) { g.Total, g.Count = MaxMessage+1, 513 }), "message of 536870913 bytes exceeds the 536870912-byte limit"},
		{"shorter than a message", 0, &Frame{Stream: 2, Count: 1, Total: 25, Payload: make([]byte, 25)},
			"frame of a 25-byte message, shorter than the 26-byte message header"},
		{"stream 0", 0, mod(good[0], func(g *Frame) { g.Stream = 0 }), "frame: stream 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Assembler
			if got, err := a.Add(prior); err != nil || got == nil {
				t.Fatalf("stream 1: %v", err)
			}
			for _, f := range good[:tc.after] {
				if _, err := a.Add(f); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := a.Add(tc.bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) || got != nil {
				t.Fatalf("error %v, want ErrMalformed saying %q", err, tc.want)
			}
			for i, f := range good[tc.after:] {
				got, err := a.Add(f)
				if err != nil {
					t.Fatalf("after the refusal, frame %d: %v", tc.after+i, err)
				}
				if got != nil {
					if d := sameMessage(got, m); d != "" {
						t.Fatal(d)
					}
				}
			}
		})
	}
}

// TestAssemblerDecodeFailure: a message whose frames all arrive but which
// does not decode is refused, and the next stream is expected.
func TestAssemblerDecodeFailure(t *testing.T) {
	var a Assembler
	bad := make([]byte, MaxFrame+messageHeader)
	bad[0] = 1 // version, kind 0
	frames := []*Frame{
		{Stream: 1, Index: 0, Count: 2, Total: uint32(len(bad)), Payload: bad[:MaxFrame]},
		{Stream: 1, Index: 1, Count: 2, Total: uint32(len(bad)), Payload: bad[MaxFrame:]},
	}
	if got, err := a.Add(frames[0]); got != nil || err != nil {
		t.Fatalf("frame 0: %v %v", got, err)
	}
	if _, err := a.Add(frames[1]); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "unknown message kind 0") {
		t.Fatalf("error %v, want an unknown kind", err)
	}
	single := &Frame{Stream: 2, Count: 1, Total: messageHeader, Payload: bytes.Repeat([]byte{2}, messageHeader)}
	if _, err := a.Add(single); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "message version 2") {
		t.Fatalf("error %v, want a bad version", err)
	}
	want := testMessage(30, 7)
	got, err := a.Add(splitAll(t, want, 3)[0])
	if err != nil || got == nil {
		t.Fatalf("stream 3 after two refused messages: %v", err)
	}
	if d := sameMessage(got, want); d != "" {
		t.Fatal(d)
	}
}

// TestAssemblerGrowsWithPayload: a first frame claiming a MaxMessage total
// makes the Assembler hold about one frame, not 512 MiB.
func TestAssemblerGrowsWithPayload(t *testing.T) {
	var a Assembler
	f := &Frame{Stream: 1, Count: MaxMessage / MaxFrame, Total: MaxMessage, Payload: make([]byte, MaxFrame)}
	allocs := testing.AllocsPerRun(1, func() {
		a = Assembler{}
		if _, err := a.Add(f); err != nil {
			t.Fatal(err)
		}
	})
	if cap(a.buf) > 2*MaxFrame || allocs > 2 {
		t.Fatalf("after one frame of a %d-byte message: buffer capacity %d, %v allocations", MaxMessage, cap(a.buf), allocs)
	}
	f.Index = 1
	if _, err := a.Add(f); err != nil {
		t.Fatal(err)
	}
	if len(a.buf) != 2*MaxFrame || cap(a.buf) > 4*MaxFrame {
		t.Fatalf("after two frames: buffer length %d capacity %d", len(a.buf), cap(a.buf))
	}
}

// The golden example: one message and its single frame.
func goldenMessage() *Message {
	m := &Message{Kind: KindSAMasked, Round: 0x01020304, Attempt: 2, Body: []byte("cohort engine wire example")}
	for i := range m.Job {
		m.Job[i] = 0xa0 + byte(i)
	}
	return m
}

const goldenStream = 0x0102030405060708

var goldenDir = filepath.Join("testdata", "wire")

// TestGoldenWire checks the encodings of the golden message and of its
// frame against testdata/wire/{message,frame}.hex, decodes them back, and
// spot-checks the bytes against docs/wire/engine.md independently of the
// encoders. With -update it rewrites the files.
func TestGoldenWire(t *testing.T) {
	m := goldenMessage()
	msg, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frames := splitAll(t, m, goldenStream)
	if len(frames) != 1 {
		t.Fatalf("%d frames", len(frames))
	}
	frame, err := frames[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if golden.Update() {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"message": msg, "frame": frame} {
			if err := os.WriteFile(filepath.Join(goldenDir, name+".hex"), []byte(golden.Hex(b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantMsg, wantFrame := golden.ReadHex(t, filepath.Join(goldenDir, "message.hex")), golden.ReadHex(t, filepath.Join(goldenDir, "frame.hex"))
	if !bytes.Equal(msg, wantMsg) {
		t.Fatalf("message encoding differs from message.hex\n got %x\nwant %x", msg, wantMsg)
	}
	if !bytes.Equal(frame, wantFrame) {
		t.Fatalf("frame encoding differs from frame.hex\n got %x\nwant %x", frame, wantFrame)
	}

	// Layout, by hand.
	hand := []byte{1, byte(KindSAMasked)}
	for i := range 16 {
		hand = append(hand, 0xa0+byte(i))
	}
	hand = append(hand, 1, 2, 3, 4, 0, 0, 0, 2)
	hand = append(hand, "cohort engine wire example"...)
	if !bytes.Equal(wantMsg, hand) {
		t.Fatalf("message.hex does not follow the documented layout\n got %x\nwant %x", wantMsg, hand)
	}
	if byte(KindSAMasked) != 10 {
		t.Fatalf("KindSAMasked is %d, documented as 10", KindSAMasked)
	}
	handFrame := append([]byte{1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, byte(len(hand))}, hand...)
	if !bytes.Equal(wantFrame, handFrame) {
		t.Fatalf("frame.hex does not follow the documented layout\n got %x\nwant %x", wantFrame, handFrame)
	}

	var f Frame
	if err := f.UnmarshalBinary(wantFrame); err != nil {
		t.Fatal(err)
	}
	var a Assembler
	a.stream = goldenStream - 1
	got, err := a.Add(&f)
	if err != nil || got == nil {
		t.Fatalf("assembling frame.hex: %v", err)
	}
	if d := sameMessage(got, m); d != "" {
		t.Fatal(d)
	}
}

// TestKindsDocumented checks the kinds table of docs/wire/engine.md against
// Kind's values and names.
func TestKindsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "wire", "engine.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // value → name
	for line := range strings.Lines(string(doc)) {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		v, name := strings.TrimSpace(cells[1]), strings.Trim(strings.TrimSpace(cells[2]), "`")
		if strings.HasPrefix(strings.TrimSpace(cells[3]), "`Kind") {
			rows[v] = name
		}
	}
	for k := KindInvalid + 1; k < kindEnd; k++ {
		if name, ok := rows[fmt.Sprint(uint8(k))]; !ok || name != k.String() {
			t.Errorf("kind %d (%v) documented as %q", k, k, name)
		}
	}
	if len(rows) != int(kindEnd)-1 {
		t.Errorf("%d kinds documented, want %d", len(rows), kindEnd-1)
	}
}

func FuzzMessage(f *testing.F) {
	for _, m := range []*Message{goldenMessage(), testMessage(messageHeader, 1), testMessage(200, 2)} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		c, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(c, b) {
			t.Fatalf("re-encoding differs\n got %x\nwant %x", c, b)
		}
	})
}

func FuzzFrame(f *testing.F) {
	seeds := splitAll(f, goldenMessage(), goldenStream)
	seeds = append(seeds, splitAll(f, testMessage(MaxFrame+30, 3), 1)[1])
	seeds = append(seeds, &Frame{Stream: 1, Count: 1})
	for _, s := range seeds {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Frame
		if err := g.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		c, err := g.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		if !bytes.Equal(c, b) {
			t.Fatalf("re-encoding differs\n got %x\nwant %x", c, b)
		}
	})
}

// fuzzFrames turns fuzz input into a sequence of frames, 7 bytes each: the
// stream as a signed step from the previous frame's, the index, the count,
// a total picked near a frame boundary, a payload length (the right one,
// one off, or arbitrary), and a fill byte. First frames start like a
// message, so that some sequences decode.
func fuzzFrames(b []byte) []*Frame {
	bases := [...]uint32{0, messageHeader, 100, MaxFrame, 2 * MaxFrame, 3 * MaxFrame, MaxMessage, MaxMessage + 1}
	var frames []*Frame
	stream := uint64(0)
	for len(b) >= 7 && len(frames) < 12 {
		r := b[:7]
		b = b[7:]
		stream += uint64(int64(int8(r[0])))
		f := &Frame{Stream: stream, Index: uint32(r[1]), Count: uint32(r[2])}
		f.Total = bases[r[3]%8] + uint32(int32(int8(r[4])))
		if r[3]&0x80 != 0 {
			f.Count = frameCount(f.Total)
		}
		n := int(r[5])
		if f.Count > 0 && f.Index < f.Count && f.Total <= MaxMessage {
			right := framePayloadLen(f.Index, f.Count, f.Total)
			switch r[5] % 4 {
			case 0, 1:
				n = right
			case 2:
				n = right + 1
			case 3:
				n = right - 1
			}
		}
		n = max(0, min(n, MaxFrame+1))
		f.Payload = bytes.Repeat([]byte{r[6]}, n)
		if f.Index == 0 && n >= 2 {
			f.Payload[0], f.Payload[1] = messageVersion, r[6]%byte(kindEnd+1)
		}
		frames = append(frames, f)
	}
	return frames
}

func FuzzAssembler(f *testing.F) {
	seed := func(frames []*Frame) {
		var b []byte
		prev := uint64(0)
		for _, fr := range frames {
			// The base nearest the total, with the count derived from it.
			sel, adj := byte(0), int64(0)
			for i, base := range [...]int64{0, messageHeader, 100, MaxFrame, 2 * MaxFrame, 3 * MaxFrame} {
				if d := int64(fr.Total) - base; d >= -128 && d <= 127 {
					sel, adj = 0x80|byte(i), d
				}
			}
			b = append(b, byte(fr.Stream-prev), byte(fr.Index), byte(fr.Count), sel, byte(int8(adj)), 0, 7)
			prev = fr.Stream
		}
		f.Add(b)
	}
	seed(splitAll(f, testMessage(100, 1), 1))
	seed(append(splitAll(f, testMessage(90, 1), 1), splitAll(f, testMessage(2*MaxFrame+5, 2), 2)...))
	seed(append(splitAll(f, testMessage(MaxFrame+120, 1), 1), splitAll(f, testMessage(3*MaxFrame-3, 2), 2)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assembler
		var cur []byte // payloads of the message being assembled, as accepted
		for i, fr := range fuzzFrames(b) {
			before := a
			m, err := a.Add(fr)
			switch {
			case err != nil:
				if !errors.Is(err, ErrMalformed) || m != nil {
					t.Fatalf("frame %d: %v, %v", i, m, err)
				}
				if a.stream == before.stream && a.next == before.next && len(a.buf) == len(before.buf) {
					continue // refused: state unchanged
				}
				// The last frame of a message that does not decode.
				if a.next != 0 || a.stream != fr.Stream || fr.Index != fr.Count-1 {
					t.Fatalf("frame %d: refused, state moved from %d/%d to %d/%d", i, before.stream, before.next, a.stream, a.next)
				}
				cur = nil
			case m == nil:
				cur = append(cur, fr.Payload...)
				if a.next != fr.Index+1 || !bytes.Equal(a.buf, cur) {
					t.Fatalf("frame %d: accepted, state %d/%d with %d bytes", i, a.stream, a.next, len(a.buf))
				}
			default:
				cur = append(cur, fr.Payload...)
				enc, err := m.MarshalBinary()
				if err != nil || !bytes.Equal(enc, cur) || len(cur) != int(fr.Total) {
					t.Fatalf("frame %d: message does not re-encode to the %d bytes accepted (%v)", i, len(cur), err)
				}
				cur = nil
			}
		}
	})
}
