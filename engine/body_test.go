package engine

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"testing"
)

func sampleBodies(t testing.TB) map[string][]byte {
	t.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	key2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	p, err := (&Proposal{JobFile: []byte("rounds = 1\n"), Seed: 9, Roster: []Peer{{Name: "a", Key: key}, {Name: "b", Key: key2}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	researcher := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	job := []byte("rounds = 2\n")
	sp, err := (&Proposal{JobFile: job, Seed: 3, Roster: []Peer{{Name: "a", Key: key}},
		Researcher: researcher.Public().(ed25519.PublicKey), Signature: SignJob(researcher, job)}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dec := &Decision{Accept: true, Reason: "ok", TrainRows: 10, TestRows: 3, Sealing: []byte{1, 2}}
	if err := SignDecision(researcher, JobID{4}, dec); err != nil {
		t.Fatal(err)
	}
	d, err := dec.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := (&RoundStart{Purpose: PurposeTrain, Members: []uint32{0, 2}, Scale: 7, Model: []float64{1, -2}, Standardizer: []float64{0, 1}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	st := &JobState{ID: JobID{1}, Proposal: p, Decisions: []Decision{{Accept: true, TrainRows: 3}}, Next: 2, Attempts: 4,
		Model: []float64{0.5}, Standardizer: []float64{1, 2}, Strategy: []byte{9},
		History:    []RoundRecord{{Round: 1, Attempt: 3, Contributors: []uint32{0}, TrainLoss: 0.1, Epsilon: math.NaN()}},
		MHEParties: []uint32{0}, MHET: 1, MHEKey: []byte{7}, Err: ""}
	sb, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"proposal": p, "signed-proposal": sp, "decision": d, "round": rs, "state": sb,
		"setup":  (&mheSetupBody{Parties: []uint32{0, 1}, T: 2, Keys: [][]byte{{1}, {2}}}).marshal(),
		"lists":  marshalByteLists([]byte{1}, nil, []byte{2, 3}),
		"floats": encodeFloats([]float64{1, 2.5}),
		"cosign": mustMarshal(t, &CosignReply{Status: Cosigned, Cosignature: []byte("— w sig\n")})}
}

// decodeAny decodes b as the named body and re-encodes it.
func decodeAny(name string, b []byte) ([]byte, error) {
	switch name {
	case "proposal", "signed-proposal":
		var p Proposal
		if err := p.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return p.MarshalBinary()
	case "decision":
		var d Decision
		if err := d.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return d.MarshalBinary()
	case "round":
		var s RoundStart
		if err := s.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return s.MarshalBinary()
	case "state":
		var s JobState
		if err := s.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return s.MarshalBinary()
	case "setup":
		var s mheSetupBody
		if err := s.unmarshal(b); err != nil {
			return nil, err
		}
		return s.marshal(), nil
	case "lists":
		l, err := unmarshalByteLists(b, "lists", 1<<16)
		if err != nil {
			return nil, err
		}
		return marshalByteLists(l...), nil
	case "floats":
		v, err := decodeFloats(b, "floats", -1)
		if err != nil {
			return nil, err
		}
		return encodeFloats(v), nil
	case "cosign":
		var c CosignReply
		if err := c.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return c.MarshalBinary()
	}
	panic("unknown body " + name)
}

var bodyNames = []string{"proposal", "decision", "round", "state", "setup", "lists", "floats", "cosign", "signed-proposal"}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBodiesRoundTrip(t *testing.T) {
	for name, b := range sampleBodies(t) {
		out, err := decodeAny(name, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: re-encoding differs", name)
		}
		// Every strict prefix and one trailing byte are refused as malformed.
		for i := 0; i < len(b); i++ {
			if _, err := decodeAny(name, b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: prefix of %d bytes: %v", name, i, err)
			}
		}
		if _, err := decodeAny(name, append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: trailing byte accepted: %v", name, err)
		}
	}
}

func TestBodiesRefuse(t *testing.T) {
	var s RoundStart
	for _, rs := range []*RoundStart{
		{Purpose: 9, Members: []uint32{0}, Scale: 1},
		{Purpose: PurposeTrain, Members: []uint32{2, 1}, Scale: 1},
		{Purpose: PurposeTrain, Members: []uint32{1}, Scale: 0},
	} {
		b, _ := rs.MarshalBinary()
		if err := s.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v accepted: %v", rs, err)
		}
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	b, _ := (&Proposal{Roster: []Peer{{Name: "a", Key: key}, {Name: "b", Key: key}}}).MarshalBinary()
	var p Proposal
	if err := p.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("repeated roster key accepted: %v", err)
	}
	if _, err := decodeFloats(encodeFloats([]float64{math.Inf(1)}), "v", -1); !errors.Is(err, ErrMalformed) {
		t.Errorf("infinite value accepted: %v", err)
	}
	if _, err := decodeFloats(encodeFloats([]float64{1}), "v", 2); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong length accepted: %v", err)
	}
}

// FuzzBodies: no engine body decoder panics on any input, every error is
// ErrMalformed, and what decodes re-encodes to the same bytes.
func FuzzBodies(f *testing.F) {
	for i, name := range bodyNames {
		f.Add(uint8(i), sampleBodies(f)[name])
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		name := bodyNames[int(which)%len(bodyNames)]
		out, err := decodeAny(name, b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: error %v is not ErrMalformed", name, err)
			}
			return
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("%s: %x re-encodes to %x", name, b, out)
		}
	})
}
