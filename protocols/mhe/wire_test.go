package mhe

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// wireSamples holds one encoding of each message type, from a small job.
type wireSamples struct {
	p                                       *Params
	pk, kgs, ths, vec, req, rsh, otherParam []byte
}

var (
	wireOnce sync.Once
	wireS    *wireSamples
)

func samples(tb testing.TB) *wireSamples {
	wireOnce.Do(func() {
		p, err := NewParams(PresetSmall)
		if err != nil {
			panic(err)
		}
		s := &wireSamples{p: p}
		var seed JobSeed
		pt, _ := NewParty(p, seed, 1, 2, 2, testRand(1))
		kg, _ := pt.KeyGenShare()
		ths, _ := pt.ThresholdShares()
		s.kgs, _ = kg.MarshalBinary()
		s.ths, _ = ths[0].MarshalBinary()
		f := newReleaseFixture(tb, 1)
		f.j.p = p
		s.pk, _ = p.MarshalPublicKey(f.recv.PublicKey())
		s.vec, _ = p.MarshalVector(f.req.Aggregate)
		s.req, _ = p.MarshalReleaseRequest(f.req)
		rs, _ := f.j.parties[0].ReleaseShare(f.req)
		s.rsh, _ = rs.MarshalBinary()
		large, _ := NewParams(PresetLarge)
		recv, _ := NewReceiver(large, testRand(3))
		s.otherParam, _ = large.MarshalPublicKey(recv.PublicKey())
		wireS = s
	})
	if wireS == nil || len(wireS.rsh) == 0 {
		tb.Fatal("could not build wire samples")
	}
	return wireS
}

type decodeFunc func(p *Params, b []byte) ([]byte, error)

// decoders decodes each type and re-encodes what it decoded.
var decoders = map[string]decodeFunc{
	"PublicKey": func(p *Params, b []byte) ([]byte, error) {
		v, err := p.UnmarshalPublicKey(b)
		if err != nil {
			return nil, err
		}
		return p.MarshalPublicKey(v)
	},
	"KeyGenShare": func(p *Params, b []byte) ([]byte, error) {
		var m KeyGenShare
		if err := m.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return m.MarshalBinary()
	},
	"ThresholdShare": func(p *Params, b []byte) ([]byte, error) {
		var m ThresholdShare
		if err := m.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return m.MarshalBinary()
	},
	"Vector": func(p *Params, b []byte) ([]byte, error) {
		v, err := p.UnmarshalVector(b)
		if err != nil {
			return nil, err
		}
		return p.MarshalVector(v)
	},
	"ReleaseRequest": func(p *Params, b []byte) ([]byte, error) {
		v, err := p.UnmarshalReleaseRequest(b)
		if err != nil {
			return nil, err
		}
		return p.MarshalReleaseRequest(v)
	},
	"ReleaseShare": func(p *Params, b []byte) ([]byte, error) {
		var m ReleaseShare
		if err := m.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return m.MarshalBinary()
	},
}

func (s *wireSamples) of(name string) []byte {
	return map[string][]byte{"PublicKey": s.pk, "KeyGenShare": s.kgs, "ThresholdShare": s.ths, "Vector": s.vec,
		"ReleaseRequest": s.req, "ReleaseShare": s.rsh}[name]
}

func TestWireRoundTrip(t *testing.T) {
	s := samples(t)
	for name, dec := range decoders {
		in := s.of(name)
		out, err := dec(s.p, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("%s: re-encoding differs", name)
		}
		// Truncations, a flipped version and type, a coefficient ≥ Q.
		for _, cut := range []int{0, 1, wireHeaderSize - 1, wireHeaderSize, len(in) / 2, len(in) - 1} {
			if _, err := dec(s.p, in[:cut]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s truncated to %d: %v", name, cut, err)
			}
		}
		for _, at := range []int{0, 1, 10} {
			b := bytes.Clone(in)
			b[at] ^= 0x40
			if _, err := dec(s.p, b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s with byte %d flipped: %v", name, at, err)
			}
		}
		b := bytes.Clone(in)
		for i := len(b) - 8; i < len(b); i++ {
			b[i] = 0xff
		}
		if _, err := dec(s.p, b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with a coefficient ≥ Q: %v", name, err)
		}
		if _, err := dec(s.p, append(bytes.Clone(in), 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with a trailing byte: %v", name, err)
		}
	}
	// A key made under other parameters is refused by the local decoder.
	if _, err := s.p.UnmarshalPublicKey(s.otherParam); !errors.Is(err, ErrMalformed) {
		t.Fatalf("foreign parameters: %v", err)
	}
}

// wireFuzz is the body of every FuzzUnmarshal<Type>: decoding never panics,
// fails only with ErrMalformed naming the type, and whatever decodes
// re-encodes to exactly the input.
func wireFuzz(f *testing.F, name string) {
	s := samples(f)
	for n := range decoders {
		f.Add(s.of(n))
	}
	f.Add(s.otherParam)
	f.Add([]byte{})
	f.Add([]byte{wireVersion})
	in := s.of(name)
	f.Add(in[:wireHeaderSize+40])
	dec := decoders[name]
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := dec(s.p, b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(name)) {
				t.Fatalf("error %q does not name %s", err, name)
			}
			return
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("not canonical")
		}
	})
}

func FuzzUnmarshalPublicKey(f *testing.F)      { wireFuzz(f, "PublicKey") }
func FuzzUnmarshalKeyGenShare(f *testing.F)    { wireFuzz(f, "KeyGenShare") }
func FuzzUnmarshalThresholdShare(f *testing.F) { wireFuzz(f, "ThresholdShare") }
func FuzzUnmarshalVector(f *testing.F)         { wireFuzz(f, "Vector") }
func FuzzUnmarshalReleaseRequest(f *testing.F) { wireFuzz(f, "ReleaseRequest") }
func FuzzUnmarshalReleaseShare(f *testing.F)   { wireFuzz(f, "ReleaseShare") }
