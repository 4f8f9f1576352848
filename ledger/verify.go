package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// ErrVerify is wrapped by every verification failure (*VerifyError).
var ErrVerify = errors.New("ledger: verify")

// VerifyError names what failed verification: the first bad entry (or -1),
// what else it is about (a tile, a checkpoint, a file), the check, and the
// expected and actual values where there are some.
type VerifyError struct {
	Entry int64  // the first bad entry, or -1 when the failure is not about one
	Where string // a tree node or tile, a checkpoint, a file of an export
	Check string // what was checked
	Want  string
	Got   string
	Err   error // the underlying error, if any (ErrFork for a fork)
	// Evidence holds, for a fork, the two signed checkpoints that cannot
	// both be true: one that agrees with the entries, and one that does not.
	Evidence [][]byte
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("ledger: verify: ")
	if e.Entry >= 0 {
		fmt.Fprintf(&b, "entry %d: ", e.Entry)
	}
	if e.Where != "" {
		b.WriteString(e.Where + ": ")
	}
	b.WriteString(e.Check)
	if e.Want != "" || e.Got != "" {
		fmt.Fprintf(&b, ": want %s, got %s", e.Want, e.Got)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns ErrVerify and the underlying error, if any.
func (e *VerifyError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrVerify}
	}
	return []error{ErrVerify, e.Err}
}

func short(h []byte) string {
	if len(h) > 8 {
		return fmt.Sprintf("%x…", h[:8])
	}
	return fmt.Sprintf("%x", h)
}

// AnchorVerifier checks an anchor against its chain (ledger/anchor's
// Ethereum does).
type AnchorVerifier interface {
	VerifyAnchor(ctx context.Context, a *AnchorPublished) error
}

// Source is a ledger to verify: a live one (Log.Source) or an export
// (OpenDir). Verify calls its methods from one goroutine.
type Source interface {
	// PublicKey is the key the ledger says it belongs to.
	PublicKey() (ed25519.PublicKey, error)
	// Size is the number of entries to verify.
	Size() uint64
	// Entries calls fn with each entry of [0, Size) in order, stopping at
	// the first error. An entry it cannot read is a *VerifyError naming
	// the position where the entry should be.
	Entries(ctx context.Context, fn func(i uint64, entry []byte) error) error
	// StoredNode returns the tree node (level, index) as the source
	// stores it; ok is false for levels the source does not store.
	StoredNode(level uint, index uint64) (hash []byte, ok bool, err error)
	// Checkpoints returns the kept signed checkpoints of sizes up to Size,
	// by size, the latest last.
	Checkpoints() ([][]byte, error)
	// Anchors returns the anchor receipts the source lists beside the
	// entries; ok is false when it lists none.
	Anchors() (receipts []AnchorJSON, ok bool, err error)
	// Witnesses returns the witness keys the source lists beside the
	// entries; ok is false when it lists none.
	Witnesses() (keys []string, ok bool, err error)
}

// VerifyOptions tune Verify. The zero value verifies a ledger against the
// key it names (trust on first use), anchors against the log only.
type VerifyOptions struct {
	// LogKey pins the log's key.
	LogKey ed25519.PublicKey
	// Origin pins the log's origin (and so its key) as an alternative to
	// LogKey. With neither, the key the ledger names is trusted on first
	// use, and the report says so.
	Origin string
	// Witnesses are trusted witness verifier keys (cosignature/v1) besides
	// those the log's checkpoint-cosigned entries name.
	Witnesses []string
	// Checkpoints are other signed checkpoints of this log (from a witness,
	// say): each must agree with the tree, or it proves a fork.
	Checkpoints [][]byte
	// Anchors, if not nil, checks each anchor on its chain too; otherwise
	// anchors are checked against the log only.
	Anchors AnchorVerifier
	// Progress, if not nil, is called now and then with the entries
	// checked so far and the total.
	Progress func(done, total uint64)
}

// Alarm is a witness-alarm entry: this node, as a witness, refused a
// checkpoint of another log.
type Alarm struct {
	Entry  uint64 // index of the witness-alarm entry
	Origin string // the log whose checkpoint was refused
	Reason string
}

// Report is what Verify checked.
type Report struct {
	Origin       string
	Pinned       bool // the log's key was pinned (VerifyOptions), not trusted on first use
	Size         uint64
	Root         [32]byte
	Signed       uint64       // the size of the latest kept checkpoint
	Types        map[Type]int // entries by type
	Checkpoints  []uint64     // sizes of the checkpoints checked (kept and given)
	Cosignatures map[string]int
	// Anchors is the number of anchor-published entries, each checked
	// against the log; AnchorsOnChain of them were checked on chain too.
	Anchors        int
	AnchorsOnChain int
	Alarms         []Alarm
	Elapsed        time.Duration
}

// String formats the report for people.
func (r *Report) String() string {
	var b strings.Builder
	trust := "trusted on first use: not pinned"
	if r.Pinned {
		trust = "pinned"
	}
	fmt.Fprintf(&b, "origin        %s (%s)\n", r.Origin, trust)
	types := make([]string, 0, len(r.Types))
	for t := Type(1); t <= maxType; t++ {
		if n := r.Types[t]; n > 0 {
			types = append(types, fmt.Sprintf("%s %d", t, n))
		}
	}
	fmt.Fprintf(&b, "entries       %d: %s\n", r.Size, strings.Join(types, ", "))
	fmt.Fprintf(&b, "root          %x\n", r.Root)
	if r.Signed == r.Size {
		fmt.Fprintf(&b, "signed        the latest checkpoint covers every entry\n")
	} else {
		fmt.Fprintf(&b, "signed        the latest checkpoint covers %d entries; %d after it are not signed yet\n", r.Signed, r.Size-r.Signed)
	}
	fmt.Fprintf(&b, "checkpoints   %d, each signed and agreeing with the tree\n", len(r.Checkpoints))
	names := make([]string, 0, len(r.Cosignatures))
	for n := range r.Cosignatures {
		names = append(names, n)
	}
	slices.Sort(names)
	cos := make([]string, len(names))
	for i, n := range names {
		cos[i] = fmt.Sprintf("%s ×%d", n, r.Cosignatures[n])
	}
	if len(cos) == 0 {
		cos = []string{"none"}
	}
	fmt.Fprintf(&b, "cosignatures  %s\n", strings.Join(cos, ", "))
	switch {
	case r.Anchors == 0:
		fmt.Fprintf(&b, "anchors       0\n")
	case r.AnchorsOnChain == r.Anchors:
		fmt.Fprintf(&b, "anchors       %d, checked on chain\n", r.Anchors)
	case r.AnchorsOnChain == 0:
		fmt.Fprintf(&b, "anchors       %d, checked against the log only, not on chain\n", r.Anchors)
	default:
		fmt.Fprintf(&b, "anchors       %d, %d of them checked on chain\n", r.Anchors, r.AnchorsOnChain)
	}
	if len(r.Alarms) == 0 {
		fmt.Fprintf(&b, "alarms        none\n")
	}
	for _, a := range r.Alarms {
		fmt.Fprintf(&b, "ALARM         entry %d: refused a checkpoint of %s: %s\n", a.Entry, a.Origin, a.Reason)
	}
	fmt.Fprintf(&b, "checked in    %v\n", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

func verifyFail(entry int64, where, check, want, got string, err error) *VerifyError {
	return &VerifyError{Entry: entry, Where: where, Check: check, Want: want, Got: got, Err: err}
}

// signedAt is a signed checkpoint to hold against the tree.
type signedAt struct {
	signed []byte
	c      Checkpoint
	where  string
	kept   bool
}

// Verify re-derives everything a ledger claims and stops at the first
// failure, a *VerifyError (docs/wire/ledger-export.md lists the checks):
//
//  1. each entry decodes strictly, its index is its position, its prev
//     hash is the previous entry's leaf hash, and its body decodes as its
//     type and re-encodes to the same bytes;
//  2. its leaf hash, and every tree node it completes, equal the hashes the
//     source stores;
//  3. every kept checkpoint, and each one in opts, is signed by the log and
//     signs the tree's root at its size (one that does not proves a fork),
//     and every cosignature on a kept checkpoint verifies;
//  4. checkpoint-cosigned, anchor-published and witnessed entries hold;
//  5. what an export lists beside the entries (anchors, witnesses) agrees
//     with them.
//
// A report is returned with the error too, filled as far as Verify got.
func Verify(ctx context.Context, src Source, opts VerifyOptions) (*Report, error) {
	start := time.Now()
	pub, err := src.PublicKey()
	if err != nil {
		return nil, verifyFail(-1, "", "log key", "", "", err)
	}
	rep := &Report{Origin: Origin(pub), Pinned: opts.LogKey != nil || opts.Origin != "", Size: src.Size(),
		Types: map[Type]int{}, Cosignatures: map[string]int{}}
	if opts.LogKey != nil && !opts.LogKey.Equal(pub) {
		return rep, verifyFail(-1, "", "log key", Origin(opts.LogKey), rep.Origin, nil)
	}
	if opts.Origin != "" && opts.Origin != rep.Origin {
		return rep, verifyFail(-1, "", "log origin", opts.Origin, rep.Origin, nil)
	}
	lv := LogVerifier(pub)
	size := src.Size()

	// The checkpoints to hold against the tree, and the roots they need.
	kept, err := src.Checkpoints()
	if err != nil {
		return rep, verifyFail(-1, exportCheckpoints, "read", "", "", err)
	}
	if len(kept) == 0 {
		return rep, verifyFail(-1, exportCheckpoints, "the ledger keeps no signed checkpoint", "", "", nil)
	}
	var cps []signedAt
	for i, b := range append(slices.Clone(kept), opts.Checkpoints...) {
		where := "kept checkpoint"
		if i >= len(kept) {
			where = fmt.Sprintf("given checkpoint %d", i-len(kept)+1)
		}
		c, _, err := OpenCheckpoint(b, lv)
		if err != nil {
			// Name it by the size it claims, if its text has one.
			if lines := strings.SplitN(string(b), "\n", 3); len(lines) == 3 {
				if _, err := strconv.ParseUint(lines[1], 10, 64); err == nil {
					where += " at " + lines[1]
				}
			}
			return rep, verifyFail(-1, where, "signature", "", "", err)
		}
		where += " at " + strconv.FormatUint(c.Size, 10)
		if c.Size > size {
			return rep, verifyFail(-1, where, "size", fmt.Sprintf("at most %d", size), strconv.FormatUint(c.Size, 10), nil)
		}
		cps = append(cps, signedAt{signed: b, c: c, where: where, kept: i < len(kept)})
	}
	latest := cps[len(kept)-1]
	rep.Signed = latest.c.Size
	roots := map[uint64]*[32]byte{0: (*[32]byte)(rfc6962.DefaultHasher.EmptyRoot())}
	for _, c := range cps {
		if _, ok := roots[c.c.Size]; !ok {
			roots[c.c.Size] = nil // wanted; set when the pass reaches it
		}
	}

	// One pass over the entries.
	v := &verifier{
		ctx:         ctx,
		src:         src,
		opts:        opts,
		rep:         rep,
		rng:         rangeFactory.NewEmptyRange(0),
		roots:       roots,
		witnessKeys: map[string]bool{},
		cosigners:   map[string]bool{},
	}
	v.ownWitness, _ = WitnessVerifier(WitnessKey(pub))
	for _, w := range opts.Witnesses {
		v.witnessKeys[w] = true
	}
	if opts.Progress != nil {
		opts.Progress(0, size)
	}
	if err := src.Entries(ctx, v.entry); err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) || ctx.Err() != nil {
			return rep, err
		}
		return rep, verifyFail(int64(v.next), "", "read", "", "", err)
	}
	if v.next != size {
		return rep, verifyFail(int64(v.next), "", "the entry is missing", "", "", nil)
	}
	if opts.Progress != nil {
		opts.Progress(size, size)
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if size > 0 {
		if root, err = v.rng.GetRootHash(nil); err != nil {
			return rep, verifyFail(-1, "", "root", "", "", err)
		}
	}
	rep.Root = [32]byte(root)

	// The latest checkpoint signs the root of the entries; any other that
	// signs another root at its size proves a fork.
	if got := *roots[latest.c.Size]; got != latest.c.Root {
		return rep, verifyFail(-1, latest.where, "root (the entries do not hash to the root it signs)", short(latest.c.Root[:]), short(got[:]), nil)
	}
	for _, c := range cps {
		if got := *roots[c.c.Size]; got != c.c.Root {
			agreeing := latest.signed
			for _, o := range cps {
				if o.c.Size == c.c.Size && o.c.Root == got {
					agreeing = o.signed
					break
				}
			}
			ve := verifyFail(-1, c.where, "root (two signed checkpoints disagree: a fork)", short(got[:]), short(c.c.Root[:]), ErrFork)
			ve.Evidence = [][]byte{agreeing, c.signed}
			return rep, ve
		}
	}
	// Cosignatures on the kept checkpoints, by the witnesses the entries
	// name or the options give.
	var wvs []note.Verifier
	for _, k := range slices.Sorted(maps.Keys(v.witnessKeys)) {
		wv, err := WitnessVerifier(k)
		if err != nil {
			return rep, verifyFail(-1, "witness key "+strconv.Quote(k), "parse", "", "", err)
		}
		wvs = append(wvs, wv)
	}
	for _, c := range cps {
		_, n, err := OpenCheckpoint(c.signed, lv, wvs...)
		if err != nil {
			return rep, verifyFail(-1, c.where, "cosignatures", "", "", err)
		}
		if c.kept && len(n.UnverifiedSigs) > 0 {
			return rep, verifyFail(-1, c.where, "signature by "+n.UnverifiedSigs[0].Name+" cannot be checked: no such witness key in the ledger or given", "", "", nil)
		}
		for _, s := range n.Sigs {
			if c.kept && s.Name != lv.Name() {
				rep.Cosignatures[s.Name]++
			}
		}
		rep.Checkpoints = append(rep.Checkpoints, c.c.Size)
	}
	slices.Sort(rep.Checkpoints)
	rep.Checkpoints = slices.Compact(rep.Checkpoints)

	// Anchors on chain.
	rep.Anchors = len(v.anchors)
	if opts.Anchors != nil {
		for i, a := range v.anchored {
			if err := opts.Anchors.VerifyAnchor(ctx, a); err != nil {
				return rep, verifyFail(int64(v.anchors[i].Entry), "", "anchor on chain", "", "", err)
			}
			rep.AnchorsOnChain++
		}
	}

	// What the source lists beside the entries.
	if listed, ok, err := src.Anchors(); err != nil {
		return rep, verifyFail(-1, exportAnchors, "read", "", "", err)
	} else if ok {
		for i := range max(len(listed), len(v.anchors)) {
			switch {
			case i >= len(listed):
				return rep, verifyFail(int64(v.anchors[i].Entry), exportAnchors, "the anchor entry has no receipt", "", "", nil)
			case i >= len(v.anchors):
				return rep, verifyFail(-1, exportAnchors, fmt.Sprintf("receipt %d has no anchor entry", i), "", fmt.Sprintf("%+v", listed[i]), nil)
			case listed[i] != v.anchors[i]:
				field, want, got := v.anchors[i].diff(listed[i])
				return rep, verifyFail(int64(v.anchors[i].Entry), exportAnchors, "the receipt's "+field+" differs from the anchor entry's", want, got, nil)
			}
		}
	}
	if listed, ok, err := src.Witnesses(); err != nil {
		return rep, verifyFail(-1, exportWitnesses, "read", "", "", err)
	} else if ok {
		want := slices.Sorted(maps.Keys(v.cosigners))
		if !slices.Equal(listed, want) {
			return rep, verifyFail(-1, exportWitnesses, "the list differs from the cosigners in the entries", strings.Join(want, " "), strings.Join(listed, " "), nil)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// verifier is the state of Verify's pass over the entries.
type verifier struct {
	ctx        context.Context
	src        Source
	opts       VerifyOptions
	rep        *Report
	next       uint64 // the index of the next entry
	prev       [32]byte
	rng        *compact.Range
	nodeErr    error
	roots      map[uint64]*[32]byte // the roots at the sizes of checkpoints, once reached
	ownWitness note.Verifier
	// witnessKeys are the trusted witness keys; cosigners those the
	// checkpoint-cosigned entries name.
	witnessKeys, cosigners map[string]bool
	anchors                []AnchorJSON
	anchored               []*AnchorPublished
}

// entry checks entry i, in order: encoding, index, chain link, body; leaf
// hash and the tree nodes it completes; then what its type claims.
func (v *verifier) entry(i uint64, b []byte) error {
	if i != v.next {
		return verifyFail(int64(v.next), "", "the entry is missing", "", "", nil)
	}
	if i%4096 == 0 && i > 0 {
		if err := v.ctx.Err(); err != nil {
			return err
		}
		if v.opts.Progress != nil {
			v.opts.Progress(i, v.rep.Size)
		}
	}
	at := int64(i)
	var e Entry
	if err := e.UnmarshalBinary(b); err != nil {
		return verifyFail(at, "", "decode", "", "", err)
	}
	if e.Index != i {
		return verifyFail(at, "", "index (an entry removed, reordered or duplicated here)", strconv.FormatUint(i, 10), strconv.FormatUint(e.Index, 10), nil)
	}
	if e.Prev != v.prev {
		return verifyFail(at, "", "prev hash (the entry before it changed)", short(v.prev[:]), short(e.Prev[:]), nil)
	}
	ev, err := e.Event()
	if err != nil {
		return verifyFail(at, "", "body", "", "", err)
	}
	if body, err := ev.MarshalBinary(); err != nil || !bytes.Equal(body, e.Body) {
		return verifyFail(at, "", "body is not in canonical form", "", "", err)
	}
	v.rep.Types[e.Type]++
	lh := LeafHash(b)
	v.prev = lh
	if err := v.rng.Append(lh[:], func(id compact.NodeID, h []byte) { v.node(at, id, h) }); err != nil {
		return verifyFail(at, "", "tree", "", "", err)
	}
	if v.nodeErr != nil {
		return v.nodeErr
	}
	v.next = i + 1
	if r, ok := v.roots[v.next]; ok && r == nil {
		root, err := v.rng.GetRootHash(nil)
		if err != nil {
			return verifyFail(at, "", "root", "", "", err)
		}
		v.roots[v.next] = (*[32]byte)(root)
	}
	return v.event(at, ev)
}

// node compares a tree node the pass completed with the stored one.
func (v *verifier) node(at int64, id compact.NodeID, h []byte) {
	if v.nodeErr != nil {
		return
	}
	stored, ok, err := v.src.StoredNode(id.Level, id.Index)
	switch {
	case err != nil:
		v.nodeErr = verifyFail(at, fmt.Sprintf("stored tree node (level %d, index %d)", id.Level, id.Index), "read", "", "", err)
	case ok && !bytes.Equal(stored, h):
		lo, hi := id.Coverage()
		where := fmt.Sprintf("stored tree node (level %d, index %d) over entries [%d, %d)", id.Level, id.Index, lo, hi)
		if id.Level%tlogTileHeight == 0 {
			where += fmt.Sprintf(", in %s", TilePath(id.Level/tlogTileHeight, id.Index/tlogTileWidth, tileWidth(v.rep.Size>>id.Level, id.Index/tlogTileWidth)))
		}
		v.nodeErr = verifyFail(at, where, "hash", short(h), short(stored), nil)
	}
}

// rootAt is the root at a size an entry at refers to: a kept checkpoint's
// size, before the entry.
func (v *verifier) rootAt(at int64, size uint64) ([32]byte, error) {
	r, ok := v.roots[size]
	switch {
	case !ok:
		return [32]byte{}, verifyFail(at, "", fmt.Sprintf("refers to a checkpoint at size %d that the ledger does not keep", size), "", "", nil)
	case r == nil:
		return [32]byte{}, verifyFail(at, "", fmt.Sprintf("refers to size %d, which is not before it", size), "", "", nil)
	}
	return *r, nil
}

// event checks what an entry of a witness or anchor type claims.
func (v *verifier) event(at int64, ev Event) error {
	switch e := ev.(type) {
	case *CheckpointCosigned:
		root, err := v.rootAt(at, e.Size)
		if err != nil {
			return err
		}
		if root != e.Root {
			return verifyFail(at, "", "cosigned root", short(root[:]), short(e.Root[:]), nil)
		}
		wv, err := WitnessVerifier(e.Witness)
		if err != nil {
			return verifyFail(at, "", "witness key", "", "", err)
		}
		text := Checkpoint{Origin: v.rep.Origin, Size: e.Size, Root: e.Root}.Text()
		if _, err := note.Open([]byte(text+"\n"+e.Signature), note.VerifierList(wv)); err != nil {
			return verifyFail(at, "", "cosignature by "+wv.Name(), "", "", err)
		}
		v.witnessKeys[e.Witness] = true
		v.cosigners[e.Witness] = true
	case *AnchorPublished:
		if e.Origin != v.rep.Origin {
			return verifyFail(at, "", "anchor origin", v.rep.Origin, e.Origin, nil)
		}
		root, err := v.rootAt(at, e.Size)
		if err != nil {
			return err
		}
		if root != e.Root {
			return verifyFail(at, "", "anchored root", short(root[:]), short(e.Root[:]), nil)
		}
		v.anchors = append(v.anchors, anchorJSON(uint64(at), e))
		if v.opts.Anchors != nil {
			v.anchored = append(v.anchored, e)
		}
	case *Witnessed:
		key, err := OriginKey(e.Origin)
		if err != nil {
			return verifyFail(at, "", "witnessed origin", "", "", err)
		}
		c, n, err := OpenCheckpoint(e.Checkpoint, LogVerifier(key))
		if err != nil {
			return verifyFail(at, "", "witnessed checkpoint", "", "", err)
		}
		if c.Size != e.Size || c.Root != e.Root {
			return verifyFail(at, "", "witnessed checkpoint", fmt.Sprintf("%d %s", e.Size, short(e.Root[:])), fmt.Sprintf("%d %s", c.Size, short(c.Root[:])), nil)
		}
		if _, err := note.Open([]byte(n.Text+"\n"+e.Cosignature), note.VerifierList(v.ownWitness)); err != nil {
			return verifyFail(at, "", "this node's cosignature", "", "", err)
		}
	case *WitnessAlarm:
		v.rep.Alarms = append(v.rep.Alarms, Alarm{Entry: uint64(at), Origin: e.Origin, Reason: e.Reason})
	}
	return nil
}

// Source returns the live ledger, as of now, as a verification source: its
// entries, the tree nodes it stores and its kept checkpoints.
func (l *Log) Source() Source { return &liveSource{l: l, size: l.Size()} }

type liveSource struct {
	l    *Log
	size uint64
	// The tile blob read last: nodes of levels below cacheLevel are read
	// from blobs, in order.
	tile uint64
	blob []byte
}

func (s *liveSource) PublicKey() (ed25519.PublicKey, error) { return s.l.pub, nil }
func (s *liveSource) Size() uint64                          { return s.size }

// Entries reads the entry keys in order; a key missing or out of place is
// a failure at the position where it should be.
func (s *liveSource) Entries(ctx context.Context, fn func(uint64, []byte) error) error {
	it, err := s.l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(0), UpperBound: entryKey(s.size)})
	if err != nil {
		return err
	}
	defer it.Close()
	want := uint64(0)
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != want {
			return verifyFail(int64(want), "", "the entry is missing from the store", "", "", nil)
		}
		if err := fn(want, it.Value()); err != nil {
			return err
		}
		want++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if want != s.size {
		return verifyFail(int64(want), "", "the entry is missing from the store", "", "", nil)
	}
	return nil
}

func (s *liveSource) StoredNode(level uint, index uint64) ([]byte, bool, error) {
	if level >= cacheLevel {
		h, err := s.l.node(level, index)
		return h, err == nil, err
	}
	t := index >> (cacheLevel - level)
	if s.blob == nil || s.tile != t {
		blob, err := s.l.tile(t)
		if err != nil {
			return nil, false, err
		}
		s.tile, s.blob = t, blob
	}
	h, err := tileNode(s.blob, t, level, index)
	return h, err == nil, err
}

func (s *liveSource) Checkpoints() ([][]byte, error) {
	sizes, err := s.l.Checkpoints()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, sz := range sizes {
		if sz > s.size {
			break
		}
		b, err := s.l.CheckpointAt(sz)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (*liveSource) Anchors() ([]AnchorJSON, bool, error) { return nil, false, nil }
func (*liveSource) Witnesses() ([]string, bool, error)   { return nil, false, nil }

// OpenDir opens an export written by Log.Export for verification. It reads
// log.vkey and the checkpoint, whose signature must verify with that key;
// Verify reads the rest.
func OpenDir(dir string) (Source, error) {
	vk, err := os.ReadFile(filepath.Join(dir, exportVKey))
	if err != nil {
		return nil, verifyFail(-1, exportVKey, "read", "", "", err)
	}
	pub, err := parseVKey(vk)
	if err != nil {
		return nil, verifyFail(-1, exportVKey, "parse", "", "", err)
	}
	cp, err := os.ReadFile(filepath.Join(dir, exportCheckpoint))
	if err != nil {
		return nil, verifyFail(-1, exportCheckpoint, "read", "", "", err)
	}
	c, _, err := OpenCheckpoint(cp, LogVerifier(pub))
	if err != nil {
		return nil, verifyFail(-1, exportCheckpoint, "signature by the log's key in "+exportVKey, "", "", err)
	}
	return &dirSource{dir: dir, pub: pub, size: c.Size, latest: cp}, nil
}

type dirSource struct {
	dir    string
	pub    ed25519.PublicKey
	size   uint64
	latest []byte
	// The hash tile read last, by level: the pass reads each level's
	// tiles in order.
	tiles []dirTile
}

type dirTile struct {
	n      uint64
	hashes [][]byte
}

func (s *dirSource) PublicKey() (ed25519.PublicKey, error) { return s.pub, nil }
func (s *dirSource) Size() uint64                          { return s.size }

func (s *dirSource) read(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(rel)))
}

func (s *dirSource) Entries(ctx context.Context, fn func(uint64, []byte) error) error {
	for n := uint64(0); n*tlogTileWidth < s.size; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := tileWidth(s.size, n)
		p := EntriesPath(n, w)
		b, err := s.read(p)
		if err != nil {
			return verifyFail(int64(n*tlogTileWidth), p, "read", "", "", err)
		}
		// The entries are checked before the count, so that a removed or
		// duplicated entry is found where it happened.
		es, perr := parseBundle(b, w)
		for j, e := range es {
			if err := fn(n*tlogTileWidth+uint64(j), e); err != nil {
				return err
			}
		}
		if perr != nil {
			return verifyFail(int64(n*tlogTileWidth)+int64(len(es)), p, "bundle", "", "", perr)
		}
	}
	return nil
}

// StoredNode reads the node from its hash tile: the tiles hold levels 0,
// 8, 16, ... of the tree.
func (s *dirSource) StoredNode(level uint, index uint64) ([]byte, bool, error) {
	if level%tlogTileHeight != 0 {
		return nil, false, nil
	}
	tl := level / tlogTileHeight
	n := index / tlogTileWidth
	for uint(len(s.tiles)) <= tl {
		s.tiles = append(s.tiles, dirTile{})
	}
	t := &s.tiles[tl]
	if t.hashes == nil || t.n != n {
		count := s.size >> level
		if index >= count {
			return nil, false, fmt.Errorf("%w: node (%d, %d) is beyond the exported tree", ErrRange, level, index)
		}
		w := tileWidth(count, n)
		p := TilePath(tl, n, w)
		b, err := s.read(p)
		if err != nil {
			return nil, false, err
		}
		hs, err := parseTile(b, w)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", p, err)
		}
		t.n, t.hashes = n, hs
	}
	return t.hashes[index%tlogTileWidth], true, nil
}

func (s *dirSource) Checkpoints() ([][]byte, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, exportCheckpoints))
	if err != nil {
		return nil, err
	}
	var sizes []uint64
	for _, e := range ents {
		sz, err := parseSizeName(e.Name())
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, sz)
	}
	slices.Sort(sizes)
	lv := LogVerifier(s.pub)
	var out [][]byte
	for _, sz := range sizes {
		name := exportCheckpoints + "/" + strconv.FormatUint(sz, 10)
		b, err := s.read(name)
		if err != nil {
			return nil, err
		}
		// A note that does not open is Verify's to report; one that does
		// must be at the size its file is named by.
		if c, _, err := OpenCheckpoint(b, lv); err == nil && c.Size != sz {
			return nil, fmt.Errorf("%w: %s holds the checkpoint at size %d", ErrMalformed, name, c.Size)
		}
		out = append(out, b)
	}
	if len(out) == 0 || sizes[len(sizes)-1] != s.size || !bytes.Equal(out[len(out)-1], s.latest) {
		return nil, fmt.Errorf("%w: %s is not the latest of %s/", ErrMalformed, exportCheckpoint, exportCheckpoints)
	}
	return out, nil
}

func (s *dirSource) Anchors() ([]AnchorJSON, bool, error) {
	b, err := s.read(exportAnchors)
	if err != nil {
		return nil, false, err
	}
	a, err := parseAnchors(b)
	return a, err == nil, err
}

func (s *dirSource) Witnesses() ([]string, bool, error) {
	b, err := s.read(exportWitnesses)
	if err != nil {
		return nil, false, err
	}
	ws, err := parseWitnesses(b)
	return ws, err == nil, err
}
