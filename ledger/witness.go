package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/note"
)

// Witness errors.
var (
	// ErrConflict: the request's old size is not the size this witness last
	// cosigned for the origin (C2SP tlog-witness answers 409 Conflict).
	ErrConflict = errors.New("ledger: witness: old size conflict")
	// ErrFork: the checkpoint is not consistent with the one this witness
	// last cosigned. An alarm entry with the evidence has been recorded.
	ErrFork = errors.New("ledger: witness: inconsistent checkpoint (fork)")
)

// ConflictError carries the size this witness last cosigned, so the log can
// retry with a consistency proof from it.
type ConflictError struct {
	Origin string
	Latest uint64
	Old    uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("ledger: witness: old size %d for %s, but the last cosigned size is %d", e.Old, e.Origin, e.Latest)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// ForkError carries the evidence of an inconsistent checkpoint.
type ForkError struct {
	Origin  string
	Trusted []byte // the last checkpoint cosigned (signed note)
	Refused []byte // the refused checkpoint (signed note)
	Reason  string
	Alarm   uint64 // the index of the witness-alarm entry in this ledger
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("ledger: witness: refused a checkpoint of %s: %s (alarm entry %d)", e.Origin, e.Reason, e.Alarm)
}

func (e *ForkError) Unwrap() error { return ErrFork }

// AddCheckpointRequest is the body of a C2SP tlog-witness add-checkpoint
// request: the size the log believes this witness last cosigned, a
// consistency proof from it, and the new signed checkpoint.
type AddCheckpointRequest struct {
	Old        uint64
	Proof      [][]byte
	Checkpoint []byte
}

// MarshalBinary encodes the request as tlog-witness specifies: "old N",
// one base64 proof hash per line, an empty line, then the checkpoint.
func (r *AddCheckpointRequest) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.Old)
	for _, h := range r.Proof {
		if len(h) != 32 {
			return nil, fmt.Errorf("%w: proof hash of %d bytes", ErrMalformed, len(h))
		}
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes(), nil
}

// maxProofHashes bounds a consistency proof (2 per level of a 2^64 tree).
const maxProofHashes = 128

// UnmarshalBinary decodes a request, strictly: the encoding must be the
// canonical one.
func (r *AddCheckpointRequest) UnmarshalBinary(b []byte) error {
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return fmt.Errorf("%w: add-checkpoint request without an empty line", ErrMalformed)
	}
	lines := strings.Split(string(head), "\n")
	oldStr, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return fmt.Errorf("%w: add-checkpoint request does not start with \"old \"", ErrMalformed)
	}
	old, err := strconv.ParseUint(oldStr, 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != oldStr {
		return fmt.Errorf("%w: add-checkpoint old size %q", ErrMalformed, oldStr)
	}
	if len(lines)-1 > maxProofHashes {
		return fmt.Errorf("%w: %d proof hashes (at most %d)", ErrMalformed, len(lines)-1, maxProofHashes)
	}
	var proof [][]byte
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("%w: proof line %q is not a base64 SHA-256 hash", ErrMalformed, l)
		}
		proof = append(proof, h)
	}
	*r = AddCheckpointRequest{Old: old, Proof: proof, Checkpoint: append([]byte(nil), cp...)}
	return nil
}

// witnessState is what this node last cosigned for an origin.
type witnessState struct {
	size   uint64
	root   [32]byte
	signed []byte
}

func witnessKey(origin string) []byte { return append([]byte{prefixWitness}, origin...) }

func (l *Log) witnessStateLocked(origin string) (witnessState, bool, error) {
	v, closer, err := l.db.Get(witnessKey(origin))
	if errors.Is(err, pebble.ErrNotFound) {
		return witnessState{}, false, nil
	}
	if err != nil {
		return witnessState{}, false, err
	}
	defer closer.Close()
	if len(v) < 40 {
		return witnessState{}, false, fmt.Errorf("%w: witness state of %s", ErrMalformed, origin)
	}
	return witnessState{size: binary.BigEndian.Uint64(v), root: [32]byte(v[8:40]), signed: append([]byte(nil), v[40:]...)}, true, nil
}

// Witnessed returns the checkpoint (signed note) this node last cosigned
// for origin, and whether there is one.
func (l *Log) Witnessed(origin string) ([]byte, bool, error) {
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	st, ok, err := l.witnessStateLocked(origin)
	return st.signed, ok, err
}

// AddCheckpoint is this node's witness: it verifies a checkpoint of the log
// owned by logKey against the last one it cosigned for that log (by the
// request's consistency proof), records a witnessed entry and returns its
// cosignature line (C2SP tlog-cosignature). A checkpoint that is not
// consistent is refused with a *ForkError after a witness-alarm entry with
// the evidence is recorded; a stale old size gets a *ConflictError.
func (l *Log) AddCheckpoint(ctx context.Context, logKey ed25519.PublicKey, req *AddCheckpointRequest) ([]byte, error) {
	if l.priv == nil {
		return nil, fmt.Errorf("%w: read-only ledger cannot witness", ErrClosed)
	}
	lv := LogVerifier(logKey)
	c, n, err := OpenCheckpoint(req.Checkpoint, lv)
	if err != nil {
		return nil, err
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	st, seen, err := l.witnessStateLocked(c.Origin)
	if err != nil {
		return nil, err
	}
	if req.Old != st.size {
		return nil, &ConflictError{Origin: c.Origin, Latest: st.size, Old: req.Old}
	}
	alarm := func(reason string) error {
		ev := &WitnessAlarm{Origin: c.Origin, Reason: reason, Trusted: st.signed, Refused: req.Checkpoint}
		for _, h := range req.Proof {
			ev.Proof = append(ev.Proof, [32]byte(h))
		}
		i, err := l.Append(ctx, ev)
		if err != nil {
			return fmt.Errorf("ledger: witness: %s, and recording the alarm failed: %w", reason, err)
		}
		return &ForkError{Origin: c.Origin, Trusted: st.signed, Refused: req.Checkpoint, Reason: reason, Alarm: i}
	}
	switch {
	case c.Size < st.size:
		return nil, alarm(fmt.Sprintf("size %d is smaller than the cosigned size %d (rollback)", c.Size, st.size))
	case seen && c.Size == st.size:
		if c.Root != st.root {
			return nil, alarm(fmt.Sprintf("two roots at size %d: cosigned %x, now %x", c.Size, st.root, c.Root))
		}
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: a proof between equal sizes must be empty", ErrMalformed)
		}
	case seen:
		if err := VerifyConsistency(st.size, c.Size, req.Proof, st.root, c.Root); err != nil {
			return nil, alarm(fmt.Sprintf("not consistent with the cosigned size %d: %v", st.size, err))
		}
	case len(req.Proof) != 0:
		return nil, fmt.Errorf("%w: a first checkpoint comes with no proof", ErrMalformed)
	}
	cs := cosigner(l.priv)
	out, err := note.Sign(&note.Note{Text: n.Text}, cs)
	if err != nil {
		return nil, fmt.Errorf("ledger: witness: cosign: %w", err)
	}
	line := string(out[len(n.Text)+1:])
	if _, err := l.Append(ctx, &Witnessed{Origin: c.Origin, Size: c.Size, Root: c.Root, Checkpoint: req.Checkpoint, Cosignature: line}); err != nil {
		return nil, err
	}
	v := binary.BigEndian.AppendUint64(nil, c.Size)
	v = append(append(v, c.Root[:]...), req.Checkpoint...)
	if err := l.guard(func() error { return l.db.Set(witnessKey(c.Origin), v, pebble.Sync) }); err != nil {
		return nil, fmt.Errorf("ledger: witness: store state: %w", err)
	}
	return []byte(line), nil
}

// WitnessKey returns this node's cosignature verifier key.
func (l *Log) WitnessKey() string { return WitnessKey(l.pub) }
