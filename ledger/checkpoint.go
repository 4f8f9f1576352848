package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	flog "github.com/transparency-dev/formats/log"
	tproof "github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/cockroachdb/pebble/v2"
)

// ErrSignature reports a missing or invalid signature or cosignature.
var ErrSignature = errors.New("ledger: signature")

// Checkpoint is the content of a C2SP tlog-checkpoint: a log's origin, its
// size and the Merkle root of that many entries.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
}

// Text returns the checkpoint's note text.
func (c Checkpoint) Text() string {
	return string(flog.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Root[:]}.Marshal())
}

// OpenCheckpoint verifies a signed checkpoint note with the log's verifier
// (plus any witnesses' verifiers, whose signatures are then listed in the
// returned note's Sigs) and parses it. The note must carry the log's
// signature, no extension lines, a 32-byte root, and be in canonical form.
func OpenCheckpoint(signed []byte, logVerifier note.Verifier, witnesses ...note.Verifier) (Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, note.VerifierList(append([]note.Verifier{logVerifier}, witnesses...)...))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint: %v", ErrSignature, err)
	}
	signedByLog := false
	for _, s := range n.Sigs {
		if s.Name == logVerifier.Name() && s.Hash == logVerifier.KeyHash() {
			signedByLog = true
		}
	}
	if !signedByLog {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint is not signed by %s", ErrSignature, logVerifier.Name())
	}
	var fc flog.Checkpoint
	rest, err := fc.Unmarshal([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint has extension lines", ErrMalformed)
	}
	if len(fc.Hash) != 32 {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint root of %d bytes", ErrMalformed, len(fc.Hash))
	}
	c := Checkpoint{Origin: fc.Origin, Size: fc.Size, Root: [32]byte(fc.Hash)}
	if c.Text() != n.Text {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint is not in canonical form", ErrMalformed)
	}
	if c.Origin != logVerifier.Name() {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint of origin %q, signed as %q", ErrMalformed, c.Origin, logVerifier.Name())
	}
	return c, n, nil
}

// Checkpoint signs the log's current size and root (a C2SP tlog-checkpoint
// as a signed note), keeps it, and returns it with any cosignatures it has
// collected. Signing the same size twice returns the kept note.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if l.signer == nil {
		return nil, fmt.Errorf("%w: read-only ledger cannot sign", ErrClosed)
	}
	size, root := l.Root()
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	if b, err := l.checkpointAtLocked(size); err == nil {
		return b, nil
	} else if !errors.Is(err, ErrRange) {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: Checkpoint{Origin: l.origin, Size: size, Root: root}.Text()}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("ledger: sign checkpoint: %w", err)
	}
	if err := l.guard(func() error { return l.db.Set(checkpointKey(size), signed, pebble.Sync) }); err != nil {
		return nil, fmt.Errorf("ledger: store checkpoint: %w", err)
	}
	return signed, nil
}

// CheckpointAt returns the kept checkpoint at size (ErrRange if none).
func (l *Log) CheckpointAt(size uint64) ([]byte, error) {
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	return l.checkpointAtLocked(size)
}

func (l *Log) checkpointAtLocked(size uint64) ([]byte, error) {
	v, closer, err := l.db.Get(checkpointKey(size))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: no checkpoint at size %d", ErrRange, size)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint at %d: %w", size, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Checkpoints returns the sizes of the kept checkpoints, ascending.
func (l *Log) Checkpoints() ([]uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCheckpoint}, UpperBound: []byte{prefixCheckpoint + 1}})
	if err != nil {
		return nil, err
	}
	var sizes []uint64
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) == 9 {
			sizes = append(sizes, binary.BigEndian.Uint64(it.Key()[1:]))
		}
	}
	return sizes, it.Close()
}

// LatestCheckpoint returns the kept checkpoint of the largest size.
func (l *Log) LatestCheckpoint() ([]byte, error) {
	sizes, err := l.Checkpoints()
	if err != nil {
		return nil, err
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("%w: no checkpoint yet", ErrRange)
	}
	return l.CheckpointAt(sizes[len(sizes)-1])
}

// AddCosignature checks a witness's cosignature (its note signature lines,
// as a C2SP tlog-witness reply carries them) on the kept checkpoint at
// size, records a checkpoint-cosigned entry, and keeps the cosignature with
// the checkpoint.
func (l *Log) AddCosignature(ctx context.Context, size uint64, witnessKey string, sigs []byte) error {
	wv, err := WitnessVerifier(witnessKey)
	if err != nil {
		return err
	}
	line, err := signatureLine(sigs, wv)
	if err != nil {
		return err
	}
	signed, err := l.CheckpointAt(size)
	if err != nil {
		return err
	}
	if bytes.Contains(signed, []byte(line)) {
		return nil
	}
	c, n, err := OpenCheckpoint(append(append([]byte(nil), signed...), line...), l.verifier, wv)
	if err != nil {
		return err
	}
	if !hasSig(n, wv) {
		return fmt.Errorf("%w: cosignature by %s does not verify on checkpoint %d", ErrSignature, wv.Name(), size)
	}
	if _, err := l.Append(ctx, &CheckpointCosigned{Size: c.Size, Root: c.Root, Witness: witnessKey, Signature: line}); err != nil {
		return err
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	cur, err := l.checkpointAtLocked(size)
	if err != nil {
		return err
	}
	if bytes.Contains(cur, []byte(line)) {
		return nil
	}
	return l.guard(func() error { return l.db.Set(checkpointKey(size), append(cur, line...), pebble.Sync) })
}

// signatureLine picks out the one signature line of verifier v in sigs
// (lines of the form "— name base64\n").
func signatureLine(sigs []byte, v note.Verifier) (string, error) {
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if name, _, ok := strings.Cut(strings.TrimPrefix(line, "— "), " "); ok && strings.HasPrefix(line, "— ") && name == v.Name() &&
			strings.HasSuffix(line, "\n") {
			return line, nil
		}
	}
	return "", fmt.Errorf("%w: no signature line by %s", ErrSignature, v.Name())
}

func hasSig(n *note.Note, v note.Verifier) bool {
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

// Prove returns a self-contained proof of entry index in the C2SP
// tlog-proof format: the entry itself (as the extra data), its inclusion
// proof and the latest kept checkpoint (signed now if none covers it).
func (l *Log) Prove(ctx context.Context, index uint64) ([]byte, error) {
	entry, err := l.Entry(index)
	if err != nil {
		return nil, err
	}
	signed, err := l.LatestCheckpoint()
	var c Checkpoint
	if err == nil {
		c, _, err = OpenCheckpoint(signed, l.verifier)
	}
	if err != nil || c.Size <= index {
		if signed, err = l.Checkpoint(ctx); err != nil {
			return nil, err
		}
		if c, _, err = OpenCheckpoint(signed, l.verifier); err != nil {
			return nil, err
		}
	}
	p, err := l.InclusionProof(index, c.Size)
	if err != nil {
		return nil, err
	}
	tp := tproof.TLogProof{Index: index, Checkpoint: signed, ExtraData: entry}
	for _, h := range p {
		tp.Hashes = append(tp.Hashes, [32]byte(h))
	}
	return tp.Marshal(), nil
}

// VerifyProof checks a tlog-proof made by Prove against the verifier of the
// log that made it and returns the proven entry and the checkpoint.
func VerifyProof(b []byte, logVerifier note.Verifier) (*Entry, Checkpoint, error) {
	var tp tproof.TLogProof
	if err := tp.Unmarshal(b); err != nil {
		return nil, Checkpoint{}, fmt.Errorf("%w: tlog-proof: %v", ErrMalformed, err)
	}
	if !bytes.Equal(tp.Marshal(), b) {
		return nil, Checkpoint{}, fmt.Errorf("%w: tlog-proof is not in canonical form", ErrMalformed)
	}
	if tp.ExtraData == nil {
		return nil, Checkpoint{}, fmt.Errorf("%w: tlog-proof carries no entry", ErrMalformed)
	}
	c, _, err := OpenCheckpoint(tp.Checkpoint, logVerifier)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	var e Entry
	if err := e.UnmarshalBinary(tp.ExtraData); err != nil {
		return nil, Checkpoint{}, err
	}
	if e.Index != tp.Index {
		return nil, Checkpoint{}, fmt.Errorf("%w: proof of index %d carries entry %d", ErrProof, tp.Index, e.Index)
	}
	hs := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		hs[i] = tp.Hashes[i][:]
	}
	if err := VerifyInclusion(tp.ExtraData, tp.Index, c.Size, hs, c.Root); err != nil {
		return nil, Checkpoint{}, err
	}
	return &e, c, nil
}
