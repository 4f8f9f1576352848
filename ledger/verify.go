package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
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

// VerifyError names what failed verification: the entry (or -1), the
// check, and the expected and actual values where there are some.
type VerifyError struct {
	Entry int64  // the first bad entry, or -1 when the failure is not about one
	Where string // what else it is about: a tile, a checkpoint, a file
	Check string
	Want  string
	Got   string
	Err   error
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

// Unwrap returns ErrVerify and the underlying error.
func (e *VerifyError) Unwrap() []error { return []error{ErrVerify, e.Err} }

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
// (OpenDir).
type Source interface {
	// PublicKey is the key the ledger says it belongs to.
	PublicKey() (ed25519.PublicKey, error)
	// Size is the number of entries to verify.
	Size() uint64
	// Entries calls fn with each entry of [0, Size) in order.
	Entries(ctx context.Context, fn func(i uint64, entry []byte) error) error
	// StoredNode returns the tree node (level, index) as the source
	// stores it; ok is false for levels the source does not store.
	StoredNode(level uint, index uint64) (hash []byte, ok bool, err error)
	// Checkpoints returns the kept signed checkpoints, the latest last.
	Checkpoints() ([][]byte, error)
	// Anchors returns the anchor receipts the source lists beside the
	// entries (nil when it lists none).
	Anchors() ([]AnchorJSON, bool, error)
	// Witnesses returns the witness keys the source lists beside the
	// entries (nil, false when it lists none).
	Witnesses() ([]string, bool, error)
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// LogKey pins the log's key; nil trusts the key the ledger names (the
	// report says so).
	LogKey ed25519.PublicKey
	// Witnesses are trusted witness verifier keys besides those the log's
	// checkpoint-cosigned entries name.
	Witnesses []string
	// Checkpoints are other signed checkpoints of this log (from a witness,
	// say): each must agree with the tree, or it proves a fork.
	Checkpoints [][]byte
	// Anchors, if not nil, checks each anchor on its chain; otherwise
	// anchors are checked against the log only.
	Anchors AnchorVerifier
}

// Report is what Verify checked.
type Report struct {
	Origin        string
	Pinned        bool
	Size          uint64
	Root          [32]byte
	Signed        uint64 // the size of the latest signed checkpoint
	Types         map[Type]int
	Checkpoints   []uint64
	Cosignatures  map[string]int // by witness name
	Anchors       int
	AnchorsOnline bool
	Alarms        []string
	Elapsed       time.Duration
}

// String formats the report for people.
func (r *Report) String() string {
	var b strings.Builder
	trust := "not pinned: --vkey pins the key it must have"
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
	sort.Strings(names)
	cos := make([]string, len(names))
	for i, n := range names {
		cos[i] = fmt.Sprintf("%s ×%d", n, r.Cosignatures[n])
	}
	if len(cos) == 0 {
		cos = []string{"none"}
	}
	fmt.Fprintf(&b, "cosignatures  %s\n", strings.Join(cos, ", "))
	where := "against the log only (give --rpc to check them on chain)"
	if r.AnchorsOnline {
		where = "on chain"
	}
	fmt.Fprintf(&b, "anchors       %d, checked %s\n", r.Anchors, where)
	if len(r.Alarms) == 0 {
		fmt.Fprintf(&b, "alarms        none\n")
	}
	for _, a := range r.Alarms {
		fmt.Fprintf(&b, "ALARM         %s\n", a)
	}
	fmt.Fprintf(&b, "checked in    %v\n", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

// Verify re-derives everything a ledger claims: each entry's encoding,
// index and chain link, its leaf hash and every stored tree node, the
// roots, every checkpoint's signature and agreement with the tree (a
// disagreeing one proves a fork), every cosignature, every anchor, and
// the witness entries. It stops at the first failure, a *VerifyError.
func Verify(ctx context.Context, src Source, opts VerifyOptions) (*Report, error) {
	start := time.Now()
	fail := func(entry int64, where, check, want, got string, err error) error {
		return &VerifyError{Entry: entry, Where: where, Check: check, Want: want, Got: got, Err: err}
	}
	pub, err := src.PublicKey()
	if err != nil {
		return nil, fail(-1, "", "log key", "", "", err)
	}
	if opts.LogKey != nil && !opts.LogKey.Equal(pub) {
		return nil, fail(-1, "", "log key", Origin(opts.LogKey), Origin(pub), nil)
	}
	rep := &Report{Origin: Origin(pub), Pinned: opts.LogKey != nil, Size: src.Size(), Types: map[Type]int{}, Cosignatures: map[string]int{}}
	lv := LogVerifier(pub)
	size := src.Size()

	// The checkpoints to hold against the tree, by size.
	kept, err := src.Checkpoints()
	if err != nil {
		return rep, fail(-1, "checkpoints", "read", "", "", err)
	}
	type cpAt struct {
		signed []byte
		c      Checkpoint
		where  string
	}
	var cps []cpAt
	for i, b := range append(slices.Clone(kept), opts.Checkpoints...) {
		where := "kept checkpoint"
		if i >= len(kept) {
			where = fmt.Sprintf("checkpoint %d given", i-len(kept)+1)
		}
		c, _, err := OpenCheckpoint(b, lv)
		if err != nil {
			return rep, fail(-1, where, "signature", "", "", err)
		}
		if c.Size > size {
			return rep, fail(-1, where, "size", fmt.Sprintf("at most %d", size), strconv.FormatUint(c.Size, 10), nil)
		}
		cps = append(cps, cpAt{b, c, where + " at " + strconv.FormatUint(c.Size, 10)})
	}
	if len(kept) == 0 {
		return rep, fail(-1, "checkpoints", "the ledger keeps no signed checkpoint", "", "", nil)
	}
	latest := cps[len(kept)-1].c
	rep.Signed = latest.Size
	need := map[uint64][32]byte{0: [32]byte(rfc6962.DefaultHasher.EmptyRoot())}
	for _, c := range cps {
		if _, ok := need[c.c.Size]; !ok {
			need[c.c.Size] = [32]byte{}
		}
	}
	have := map[uint64]bool{0: true}

	// One pass over the entries.
	rng := rangeFactory.NewEmptyRange(0)
	var prev [32]byte
	var nodeErr error
	witnessKeys := map[string]bool{}
	entryWitnesses := map[string]bool{} // named by checkpoint-cosigned entries
	for _, w := range opts.Witnesses {
		witnessKeys[w] = true
	}
	var anchors []AnchorJSON
	var deferred []func() error // checks that need roots of later sizes
	ownWitness, _ := WitnessVerifier(WitnessKey(pub))
	rootAt := func(i uint64, s uint64) ([32]byte, error) {
		if !have[s] {
			if _, ok := need[s]; !ok {
				return [32]byte{}, fail(int64(i), "", fmt.Sprintf("refers to a checkpoint at size %d that the ledger does not keep", s), "", "", nil)
			}
			return [32]byte{}, fail(int64(i), "", fmt.Sprintf("refers to size %d, which is not before it", s), "", "", nil)
		}
		return need[s], nil
	}
	err = src.Entries(ctx, func(i uint64, b []byte) error {
		var e Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return fail(int64(i), "", "decode", "", "", err)
		}
		if e.Index != i {
			return fail(int64(i), "", "index (an entry removed, reordered or duplicated here)", strconv.FormatUint(i, 10), strconv.FormatUint(e.Index, 10), nil)
		}
		if e.Prev != prev {
			return fail(int64(i), "", "prev hash (the entry before it changed)", short(prev[:]), short(e.Prev[:]), nil)
		}
		ev, err := e.Event()
		if err != nil {
			return fail(int64(i), "", "body", "", "", err)
		}
		if body, err := ev.MarshalBinary(); err != nil || !bytes.Equal(body, e.Body) {
			return fail(int64(i), "", "body is not in canonical form", "", "", err)
		}
		rep.Types[e.Type]++
		lh := LeafHash(b)
		prev = lh
		if err := rng.Append(lh[:], func(id compact.NodeID, h []byte) {
			if nodeErr != nil {
				return
			}
			stored, ok, err := src.StoredNode(id.Level, id.Index)
			switch {
			case err != nil:
				nodeErr = fail(int64(i), fmt.Sprintf("tree node (%d, %d)", id.Level, id.Index), "read", "", "", err)
			case ok && !bytes.Equal(stored, h):
				lo, hi := id.Coverage()
				what := fmt.Sprintf("stored tree node (level %d, index %d) over entries [%d, %d)", id.Level, id.Index, lo, hi)
				nodeErr = fail(int64(i), what, "hash", short(h), short(stored), nil)
			}
		}); err != nil {
			return fail(int64(i), "", "tree", "", "", err)
		}
		if nodeErr != nil {
			return nodeErr
		}
		n := i + 1
		if _, ok := need[n]; ok {
			root, err := rng.GetRootHash(nil)
			if err != nil {
				return fail(int64(i), "", "root", "", "", err)
			}
			need[n] = [32]byte(root)
			have[n] = true
		}
		switch v := ev.(type) {
		case *CheckpointCosigned:
			root, err := rootAt(i, v.Size)
			if err != nil {
				return err
			}
			if root != v.Root {
				return fail(int64(i), "", "cosigned root", short(root[:]), short(v.Root[:]), nil)
			}
			wv, err := WitnessVerifier(v.Witness)
			if err != nil {
				return fail(int64(i), "", "witness key", "", "", err)
			}
			text := Checkpoint{Origin: rep.Origin, Size: v.Size, Root: v.Root}.Text()
			if _, err := note.Open([]byte(text+"\n"+v.Signature), note.VerifierList(wv)); err != nil {
				return fail(int64(i), "", "cosignature by "+wv.Name(), "", "", err)
			}
			witnessKeys[v.Witness] = true
			entryWitnesses[v.Witness] = true
		case *AnchorPublished:
			if v.Origin != rep.Origin {
				return fail(int64(i), "", "anchor origin", rep.Origin, v.Origin, nil)
			}
			root, err := rootAt(i, v.Size)
			if err != nil {
				return err
			}
			if root != v.Root {
				return fail(int64(i), "", "anchored root", short(root[:]), short(v.Root[:]), nil)
			}
			anchors = append(anchors, anchorJSON(i, v))
			if opts.Anchors != nil {
				a := *v
				deferred = append(deferred, func() error {
					if err := opts.Anchors.VerifyAnchor(ctx, &a); err != nil {
						return fail(int64(i), "", "anchor on chain", "", "", err)
					}
					return nil
				})
			}
		case *Witnessed:
			key, err := OriginKey(v.Origin)
			if err != nil {
				return fail(int64(i), "", "witnessed origin", "", "", err)
			}
			c, n, err := OpenCheckpoint(v.Checkpoint, LogVerifier(key))
			if err != nil {
				return fail(int64(i), "", "witnessed checkpoint", "", "", err)
			}
			if c.Size != v.Size || c.Root != v.Root {
				return fail(int64(i), "", "witnessed checkpoint", fmt.Sprintf("%d %s", v.Size, short(v.Root[:])), fmt.Sprintf("%d %s", c.Size, short(c.Root[:])), nil)
			}
			if _, err := note.Open([]byte(n.Text+"\n"+v.Cosignature), note.VerifierList(ownWitness)); err != nil {
				return fail(int64(i), "", "this node's cosignature", "", "", err)
			}
		case *WitnessAlarm:
			rep.Alarms = append(rep.Alarms, fmt.Sprintf("entry %d: refused a checkpoint of %s: %s", i, v.Origin, v.Reason))
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return rep, fail(-1, "", "root", "", "", err)
	}
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	rep.Root = [32]byte(root)

	// Checkpoints against the tree; cosignatures on them.
	var wvs []note.Verifier
	for k := range witnessKeys {
		wv, err := WitnessVerifier(k)
		if err != nil {
			return rep, fail(-1, "witness key", k, "", "", err)
		}
		wvs = append(wvs, wv)
	}
	for _, c := range cps {
		if got := need[c.c.Size]; got != c.c.Root {
			return rep, fail(-1, c.where, "root (two signed checkpoints disagree: a fork)", short(got[:]), short(c.c.Root[:]), ErrFork)
		}
		_, n, err := OpenCheckpoint(c.signed, lv, wvs...)
		if err != nil {
			return rep, fail(-1, c.where, "cosignatures", "", "", err)
		}
		if len(n.UnverifiedSigs) > 0 {
			return rep, fail(-1, c.where, "signature by "+n.UnverifiedSigs[0].Name+" cannot be checked: no such witness key in the ledger or given", "", "", nil)
		}
		for _, s := range n.Sigs {
			if s.Name != lv.Name() {
				rep.Cosignatures[s.Name]++
			}
		}
		rep.Checkpoints = append(rep.Checkpoints, c.c.Size)
	}
	for _, f := range deferred {
		if err := f(); err != nil {
			return rep, err
		}
	}
	rep.Anchors, rep.AnchorsOnline = len(anchors), opts.Anchors != nil
	if listed, ok, err := src.Anchors(); err != nil {
		return rep, fail(-1, exportAnchors, "read", "", "", err)
	} else if ok && !slices.Equal(listed, anchors) {
		return rep, fail(-1, exportAnchors, "the receipts differ from the anchor entries", fmt.Sprint(anchors), fmt.Sprint(listed), nil)
	}
	if listed, ok, err := src.Witnesses(); err != nil {
		return rep, fail(-1, exportWitnesses, "read", "", "", err)
	} else if ok {
		var want []string
		for k := range entryWitnesses {
			want = append(want, k)
		}
		slices.Sort(want)
		if !slices.Equal(listed, want) {
			return rep, fail(-1, exportWitnesses, "the list differs from the cosigners in the entries", strings.Join(want, " "), strings.Join(listed, " "), nil)
		}
	}
	slices.Sort(rep.Checkpoints)
	rep.Checkpoints = slices.Compact(rep.Checkpoints)
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// Source returns the live ledger as a verification source: entries and
// every stored tree node from Pebble, the kept checkpoints.
func (l *Log) Source() Source { return liveSource{l} }

type liveSource struct{ l *Log }

func (s liveSource) PublicKey() (ed25519.PublicKey, error) { return s.l.pub, nil }
func (s liveSource) Size() uint64                          { return s.l.Size() }

// Entries reads the entry keys in order; a key missing or out of place is
// a failure at the position where it should be.
func (s liveSource) Entries(ctx context.Context, fn func(uint64, []byte) error) error {
	size := s.l.Size()
	it, err := s.l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(0), UpperBound: entryKey(size)})
	if err != nil {
		return err
	}
	defer it.Close()
	want := uint64(0)
	for it.First(); it.Valid(); it.Next() {
		if want%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if k := it.Key(); len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != want {
			return &VerifyError{Entry: int64(want), Check: "the entry is missing from the store"}
		}
		if err := fn(want, it.Value()); err != nil {
			return err
		}
		want++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if want != size {
		return &VerifyError{Entry: int64(want), Check: "the entry is missing from the store"}
	}
	return nil
}

func (s liveSource) StoredNode(level uint, index uint64) ([]byte, bool, error) {
	h, err := s.l.node(level, index)
	return h, err == nil, err
}

func (s liveSource) Checkpoints() ([][]byte, error) {
	sizes, err := s.l.Checkpoints()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(sizes))
	for i, sz := range sizes {
		if out[i], err = s.l.CheckpointAt(sz); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (liveSource) Anchors() ([]AnchorJSON, bool, error) { return nil, false, nil }
func (liveSource) Witnesses() ([]string, bool, error)   { return nil, false, nil }

// OpenDir opens an export written by Log.Export for verification.
func OpenDir(dir string) (Source, error) {
	vk, err := os.ReadFile(filepath.Join(dir, exportVKey))
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	vkey := strings.TrimSuffix(string(vk), "\n")
	name, _, _ := strings.Cut(vkey, "+")
	pub, err := OriginKey(name)
	if err != nil {
		return nil, err
	}
	if VerifierKey(pub) != vkey || string(vk) != vkey+"\n" {
		return nil, fmt.Errorf("%w: %s is not the verifier key of %s", ErrMalformed, exportVKey, name)
	}
	cp, err := os.ReadFile(filepath.Join(dir, exportCheckpoint))
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	c, _, err := OpenCheckpoint(cp, LogVerifier(pub))
	if err != nil {
		return nil, fmt.Errorf("ledger: %s: %w", exportCheckpoint, err)
	}
	return &dirSource{dir: dir, pub: pub, size: c.Size, latest: cp}, nil
}

type dirSource struct {
	dir    string
	pub    ed25519.PublicKey
	size   uint64
	latest []byte
	// The last hash tile read, by level.
	tiles map[uint]struct {
		n uint64
		b []byte
	}
}

func (s *dirSource) PublicKey() (ed25519.PublicKey, error) { return s.pub, nil }
func (s *dirSource) Size() uint64                          { return s.size }

func (s *dirSource) read(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(rel)))
}

func (s *dirSource) Entries(ctx context.Context, fn func(uint64, []byte) error) error {
	for n := uint64(0); n*tlogTileWidth < s.size; n++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w := int(min(s.size-n*tlogTileWidth, tlogTileWidth))
		b, err := s.read(EntriesPath(n, w))
		if err != nil {
			return &VerifyError{Entry: int64(n * tlogTileWidth), Where: EntriesPath(n, w), Check: "read", Err: err}
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
			return &VerifyError{Entry: int64(n*tlogTileWidth) + int64(len(es)), Where: EntriesPath(n, w), Check: "bundle", Err: perr}
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
	if s.tiles == nil {
		s.tiles = map[uint]struct {
			n uint64
			b []byte
		}{}
	}
	t, ok := s.tiles[tl]
	if !ok || t.n != n {
		count := s.size >> level
		w := int(min(count-n*tlogTileWidth, tlogTileWidth))
		b, err := s.read(TilePath(tl, n, w))
		if err != nil {
			return nil, false, err
		}
		if len(b) != 32*w {
			return nil, false, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrMalformed, TilePath(tl, n, w), len(b), 32*w)
		}
		t.n, t.b = n, b
		s.tiles[tl] = t
	}
	off := 32 * (index % tlogTileWidth)
	return t.b[off : off+32], true, nil
}

func (s *dirSource) Checkpoints() ([][]byte, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, exportCheckpoints))
	if err != nil {
		return nil, err
	}
	var sizes []uint64
	for _, e := range ents {
		sz, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || strconv.FormatUint(sz, 10) != e.Name() {
			return nil, fmt.Errorf("%w: %s/%s is not named by a size", ErrMalformed, exportCheckpoints, e.Name())
		}
		sizes = append(sizes, sz)
	}
	slices.Sort(sizes)
	var out [][]byte
	for _, sz := range sizes {
		b, err := s.read(exportCheckpoints + "/" + strconv.FormatUint(sz, 10))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) == 0 || !bytes.Equal(out[len(out)-1], s.latest) {
		return nil, fmt.Errorf("%w: %s is not the latest of %s/", ErrMalformed, exportCheckpoint, exportCheckpoints)
	}
	return out, nil
}

func (s *dirSource) Anchors() ([]AnchorJSON, bool, error) {
	b, err := s.read(exportAnchors)
	if err != nil {
		return nil, false, err
	}
	var a []AnchorJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %v", ErrMalformed, exportAnchors, err)
	}
	if a == nil {
		a = []AnchorJSON{}
	}
	return a, true, nil
}

func (s *dirSource) Witnesses() ([]string, bool, error) {
	ws, err := readLines(filepath.Join(s.dir, exportWitnesses))
	if err != nil {
		return nil, false, err
	}
	if ws == nil {
		ws = []string{}
	}
	return ws, true, nil
}
