package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame is one piece of an encoded Message on a connection. A message of
// Total bytes travels as Count frames: every frame but the last carries
// MaxFrame bytes of it, the last the rest.
//
// Encoding (big endian): version (1 byte, 1), stream (8), index (4), count
// (4), total (4), then the payload to the end.
type Frame struct {
	// Stream is the message's sequence number on its connection: 1 for
	// the first message, one more for each message after it.
	Stream uint64
	// Index is the frame's position in its message, 0 to Count-1.
	Index uint32
	// Count is the number of frames of the message: max(1,
	// ceil(Total/MaxFrame)).
	Count uint32
	// Total is the length of the encoded message, at most MaxMessage.
	Total uint32
	// Payload is MaxFrame bytes of the message, or the rest of it in the
	// last frame.
	Payload []byte
}

const (
	frameVersion = 1
	frameHeader  = 1 + 8 + 4 + 4 + 4
)

// frameCount is the number of frames of a message of total bytes.
func frameCount(total uint32) uint32 {
	if total == 0 {
		return 1
	}
	return (total + MaxFrame - 1) / MaxFrame
}

// framePayloadLen is the payload length of frame index of a message of
// total bytes cut into count frames.
func framePayloadLen(index, count, total uint32) int {
	if index+1 < count {
		return MaxFrame
	}
	return int(total) - int(count-1)*MaxFrame
}

// check reports what makes f inconsistent, or nil.
func (f *Frame) check() error {
	if f.Stream == 0 {
		return errors.New("stream 0")
	}
	if f.Total > MaxMessage {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte limit", f.Total, MaxMessage)
	}
	if want := frameCount(f.Total); f.Count != want {
		return fmt.Errorf("count %d for a %d-byte message, want %d", f.Count, f.Total, want)
	}
	if f.Index >= f.Count {
		return fmt.Errorf("index %d of %d frames", f.Index, f.Count)
	}
	if want := framePayloadLen(f.Index, f.Count, f.Total); len(f.Payload) != want {
		return fmt.Errorf("frame %d of %d of a %d-byte message carries %d bytes, want %d",
			f.Index, f.Count, f.Total, len(f.Payload), want)
	}
	return nil
}

// AppendBinary appends the encoding of f to b. It fails if the fields are
// inconsistent: Stream 0, Total over MaxMessage, Count not that of Total,
// Index not below Count, or a payload of the wrong length.
func (f *Frame) AppendBinary(b []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("engine: cannot encode frame: %w", err)
	}
	b = append(b, frameVersion)
	b = binary.BigEndian.AppendUint64(b, f.Stream)
	b = binary.BigEndian.AppendUint32(b, f.Index)
	b = binary.BigEndian.AppendUint32(b, f.Count)
	b = binary.BigEndian.AppendUint32(b, f.Total)
	return append(b, f.Payload...), nil
}

// MarshalBinary encodes f, failing as AppendBinary does.
func (f *Frame) MarshalBinary() ([]byte, error) {
	return f.AppendBinary(make([]byte, 0, frameHeader+len(f.Payload)))
}

// UnmarshalBinary decodes a frame. It refuses a truncated header, an
// unknown version, and every inconsistency AppendBinary refuses. The
// Payload is a copy.
func (f *Frame) UnmarshalBinary(b []byte) error {
	if len(b) < frameHeader {
		return fmt.Errorf("%w: frame of %d bytes is shorter than its %d-byte header", ErrMalformed, len(b), frameHeader)
	}
	if b[0] != frameVersion {
		return fmt.Errorf("%w: frame version %d, want %d", ErrMalformed, b[0], frameVersion)
	}
	g := Frame{
		Stream: binary.BigEndian.Uint64(b[1:]),
		Index:  binary.BigEndian.Uint32(b[9:]),
		Count:  binary.BigEndian.Uint32(b[13:]),
		Total:  binary.BigEndian.Uint32(b[17:]),
	}
	// Check the length before copying, so that a frame far over MaxFrame
	// costs no allocation.
	g.Payload = b[frameHeader:]
	if err := g.check(); err != nil {
		return fmt.Errorf("%w: frame: %w", ErrMalformed, err)
	}
	g.Payload = append([]byte(nil), g.Payload...)
	*f = g
	return nil
}

// SplitMessage encodes m and calls emit for each of its frames in order,
// their Stream set to stream, which must not be 0. It stops at the first
// error emit returns and returns it.
//
// emit must not keep f or f.Payload after it returns: the frames share one
// Frame value and their payloads alias one buffer.
func SplitMessage(m *Message, stream uint64, emit func(f *Frame) error) error {
	if stream == 0 {
		return errors.New("engine: cannot split a message as stream 0")
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	total := uint32(len(b)) // MarshalBinary bounds it by MaxMessage.
	f := Frame{Stream: stream, Count: frameCount(total), Total: total}
	for f.Index = 0; f.Index < f.Count; f.Index++ {
		n := framePayloadLen(f.Index, f.Count, total)
		f.Payload = b[:n:n]
		b = b[n:]
		if err := emit(&f); err != nil {
			return err
		}
	}
	return nil
}

// Assembler puts the messages of one connection back together from their
// frames, which must arrive in order: the frames of stream 1, then of
// stream 2, and so on, each message's frames by index.
//
// It grows its buffer only as payload arrives, so a frame claiming a large
// Total costs no more memory than the bytes actually received. The zero
// Assembler expects the first frame of stream 1.
type Assembler struct {
	stream uint64 // the stream of the message being assembled, or the last one completed
	next   uint32 // the index expected next; 0 when between messages
	count  uint32 // the Count of the message being assembled
	total  uint32 // the Total of the message being assembled
	buf    []byte // the payload received so far of a message of several frames
}

// Add takes the next frame of the connection. It returns the message when f
// is its last frame, and nil before that. Add does not keep f or its
// Payload.
//
// Add refuses, with an error wrapping ErrMalformed, a frame that is
// inconsistent in itself (see Frame.AppendBinary), of a stream other than
// the one expected, out of order, disagreeing with the earlier frames of its
// message on Count or Total, or of a message too short to decode; the
// Assembler is then as it was before the call. When the last frame arrives
// but the message fails to decode, Add returns the error and expects the
// next stream.
func (a *Assembler) Add(f *Frame) (*Message, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%w: frame: %w", ErrMalformed, err)
	}
	if a.next == 0 {
		if f.Stream != a.stream+1 || f.Index != 0 {
			return nil, fmt.Errorf("%w: frame %d of stream %d, want frame 0 of stream %d",
				ErrMalformed, f.Index, f.Stream, a.stream+1)
		}
		if f.Total < messageHeader {
			return nil, fmt.Errorf("%w: frame of a %d-byte message, shorter than the %d-byte message header",
				ErrMalformed, f.Total, messageHeader)
		}
		if f.Count == 1 {
			a.stream = f.Stream
			m := new(Message)
			if err := m.UnmarshalBinary(f.Payload); err != nil {
				return nil, err
			}
			return m, nil
		}
		a.stream, a.next, a.count, a.total = f.Stream, 1, f.Count, f.Total
		a.buf = append([]byte(nil), f.Payload...)
		return nil, nil
	}
	if f.Stream != a.stream || f.Index != a.next {
		return nil, fmt.Errorf("%w: frame %d of stream %d, want frame %d of stream %d",
			ErrMalformed, f.Index, f.Stream, a.next, a.stream)
	}
	if f.Count != a.count || f.Total != a.total {
		return nil, fmt.Errorf("%w: frame %d of stream %d says %d frames of a %d-byte message, frame 0 said %d of %d bytes",
			ErrMalformed, f.Index, f.Stream, f.Count, f.Total, a.count, a.total)
	}
	if cap(a.buf)-len(a.buf) < len(f.Payload) {
		// Double (append grows large slices by only 1.25x, copying the
		// message several times over), but never past Total.
		nb := make([]byte, len(a.buf), min(int(a.total), 2*cap(a.buf)+len(f.Payload)))
		copy(nb, a.buf)
		a.buf = nb
	}
	a.buf = append(a.buf, f.Payload...)
	if a.next++; a.next < a.count {
		return nil, nil
	}
	b := a.buf
	a.next, a.count, a.total, a.buf = 0, 0, 0, nil
	m := new(Message)
	if err := m.UnmarshalBinary(b[:messageHeader]); err != nil {
		return nil, err
	}
	m.Body = b[messageHeader:] // b is the Assembler's own: no second copy
	return m, nil
}
