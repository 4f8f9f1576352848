package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Keys of the Pebble store (docs/ARCHITECTURE.md, ledger section):
//
//	"m"                      meta: version, public key
//	"s"                      state: size and the compact range of [0, size)
//	"e" index(8)             an entry, exactly as hashed
//	"t" tile(8)              the perfect Merkle nodes of levels 0-7 over leaves
//	                         [256·tile, 256·tile+256): see tileBlob
//	"n" level(1) index(8)    a perfect Merkle subtree's hash, level >= 8
//	"c" size(8)              a signed (and cosigned) checkpoint at that size
//	"w" origin               the last checkpoint this node witnessed for origin
const (
	prefixMeta       = 'm'
	prefixState      = 's'
	prefixEntry      = 'e'
	prefixNode       = 'n'
	prefixTile       = 't'
	prefixCheckpoint = 'c'
	prefixWitness    = 'w'
	metaVersion      = 1
	// cacheLevel is the lowest Merkle level kept in memory: nodes at or
	// above it are 1/128 of the tree, so a proof reads at most cacheLevel
	// keys from Pebble.
	cacheLevel = 8
)

func entryKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixEntry}, i)
}

func tileKey(t uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixTile}, t)
}

// A tile blob holds the lower eight levels of the tree over 256 leaves:
// a uint16 count W of leaves present, then, for level l = 0..7, 256>>l
// hash slots (level l at slot offset 512 - 512>>l); a node is present when
// the leaves it covers are all below W, and its slot is zero otherwise.
// A proof reads one blob for its lower levels and memory for the rest.
const (
	tileLeaves = 1 << cacheLevel
	tileSlots  = 2*tileLeaves - 2
	tileSize   = 2 + 32*tileSlots
)

func tileSlot(level uint, local uint64) int { return 512 - 512>>level + int(local) }

func nodeKey(level uint, i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixNode, byte(level)}, i)
}

func checkpointKey(size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixCheckpoint}, size)
}

// Options tune a ledger. The zero value is usable.
type Options struct {
	// FS is the file system; nil means the operating system's.
	FS vfs.FS
	// MaxBatch bounds the entries committed with one fsync (default 8192).
	MaxBatch int
	// MaxBatchBytes bounds the bytes committed with one fsync (default 16 MiB).
	MaxBatchBytes int
	// Now is the clock stamped on entries (default time.Now).
	Now func() time.Time
	// ReadOnly opens an existing ledger for reading only; no key is needed.
	ReadOnly bool
	// CacheSize is Pebble's block cache (default 64 MiB): with it the
	// lower Merkle levels that proofs read stay in memory.
	CacheSize int64
}

// Log is a node's ledger: an append-only log of typed entries in Pebble,
// chained by hash and committed to by an RFC 6962 Merkle tree whose perfect
// subtrees are persisted, so proofs read O(log n) keys.
//
// Appends are group-committed: Add queues an entry and a single goroutine
// writes whatever is queued as one Pebble batch with one fsync. A crash
// leaves exactly a prefix of whole batches.
//
// A Log is safe for concurrent use. Close stops the committer (pending adds
// fail with ErrClosed) and then closes the store.
type Log struct {
	db       *pebble.DB
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey // nil when read-only
	origin   string
	signer   note.Signer   // nil when read-only
	verifier note.Verifier // checkpoints of this log
	opts     Options
	reqs     chan *Future
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.Once
	// addMu orders Add's send against Close: senders hold it shared, Close
	// exclusively while it marks the log closed, so nothing is queued after
	// the committer's final drain.
	addMu struct {
		sync.RWMutex
		closed bool
	}

	// mu guards the committed state, which the committer goroutine alone
	// changes and readers consult for sizes, roots and upper nodes.
	mu struct {
		sync.RWMutex
		size  uint64
		root  [32]byte
		last  [32]byte   // leaf hash of entry size-1
		upper [][][]byte // upper[l-cacheLevel][i]: node (l, i) for l >= cacheLevel
		err   error      // sticky: set when a commit failed
	}
	// rng is the compact range of [0, size); only the committer uses it.
	rng *compact.Range
	// edge is the blob of the tile at the right edge (size>>8), which the
	// next commit extends; only the committer uses it.
	edge []byte
	// ckMu serialises checkpoint and cosignature writes.
	ckMu sync.Mutex
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Open opens (creating it if needed) the ledger in dir, owned by the node
// whose key is priv. A ledger created by another key is refused. With
// opts.ReadOnly, priv may be nil and the ledger must exist.
func Open(dir string, priv ed25519.PrivateKey, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 8192
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 16 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 64 << 20
	}
	if !o.ReadOnly && len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("ledger: open: a writable ledger needs its node's Ed25519 private key")
	}
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	po := &pebble.Options{
		FS:                          markerSyncFS{fs},
		Logger:                      quietLogger{},
		ReadOnly:                    o.ReadOnly,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		BytesPerSync:                4 << 20,
		WALBytesPerSync:             0,
		ErrorIfNotExists:            o.ReadOnly,
		CacheSize:                   o.CacheSize,
	}
	db, err := openStore(dir, po)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l := &Log{db: db, opts: o, priv: priv}
	if err := l.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l.origin = Origin(l.pub)
	l.verifier = LogVerifier(l.pub)
	if !o.ReadOnly {
		l.signer = logSigner(priv)
		l.reqs = make(chan *Future, 2*o.MaxBatch)
		l.stop = make(chan struct{})
		l.done = make(chan struct{})
		go l.commitLoop()
	}
	return l, nil
}

// load reads the meta and state keys and the upper-node cache, writing the
// meta key of a new ledger.
func (l *Log) load() error {
	meta, closer, err := l.db.Get([]byte{prefixMeta})
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if l.opts.ReadOnly {
			return errors.New("not a ledger (no meta key)")
		}
		l.pub = l.priv.Public().(ed25519.PublicKey)
		m := append([]byte{metaVersion}, l.pub...)
		if err := l.guard(func() error { return l.db.Set([]byte{prefixMeta}, m, pebble.Sync) }); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		ok := len(meta) == 1+ed25519.PublicKeySize && meta[0] == metaVersion
		l.pub = append(ed25519.PublicKey(nil), meta[1:]...)
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("%w: meta key of %d bytes", ErrMalformed, len(meta))
		}
		if l.priv != nil && !l.pub.Equal(l.priv.Public()) {
			return fmt.Errorf("ledger belongs to %s, not to this key", Origin(l.pub))
		}
	}
	var size uint64
	var hashes [][]byte
	st, closer, err := l.db.Get([]byte{prefixState})
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		size, hashes, err = decodeState(st)
		_ = closer.Close()
		if err != nil {
			return err
		}
	}
	l.rng, err = rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return fmt.Errorf("%w: state: %v", ErrMalformed, err)
	}
	l.mu.size = size
	l.edge = make([]byte, tileSize)
	if size%tileLeaves != 0 {
		b, closer, err := l.db.Get(tileKey(size / tileLeaves))
		if err != nil {
			return fmt.Errorf("edge tile %d: %w", size/tileLeaves, err)
		}
		ok := len(b) == tileSize && uint64(binary.BigEndian.Uint16(b)) == size%tileLeaves
		copy(l.edge, b)
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("%w: edge tile %d does not match size %d", ErrMalformed, size/tileLeaves, size)
		}
	}
	if size > 0 {
		root, err := l.rng.GetRootHash(nil)
		if err != nil {
			return err
		}
		l.mu.root = [32]byte(root)
		last, err := l.node(0, size-1)
		if err != nil {
			return err
		}
		l.mu.last = [32]byte(last)
	} else {
		l.mu.root = [32]byte(rfc6962.DefaultHasher.EmptyRoot())
	}
	for level := uint(cacheLevel); size>>level > 0; level++ {
		n := size >> level
		row := make([][]byte, 0, n+n/8+1)
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: nodeKey(level, 0), UpperBound: nodeKey(level, n)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			if uint64(len(row)) != binary.BigEndian.Uint64(it.Key()[2:]) || len(it.Value()) != 32 {
				_ = it.Close()
				return fmt.Errorf("%w: node (%d, %d) missing or bad", ErrMalformed, level, len(row))
			}
			row = append(row, append([]byte(nil), it.Value()...))
		}
		if err := it.Close(); err != nil {
			return err
		}
		if uint64(len(row)) != n {
			return fmt.Errorf("%w: %d nodes at level %d, want %d", ErrMalformed, len(row), level, n)
		}
		l.mu.upper = append(l.mu.upper, row)
	}
	return nil
}

func encodeState(size uint64, hashes [][]byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9+32*len(hashes)), size)
	b = append(b, byte(len(hashes)))
	for _, h := range hashes {
		b = append(b, h...)
	}
	return b
}

func decodeState(b []byte) (uint64, [][]byte, error) {
	if len(b) < 9 || len(b) != 9+32*int(b[8]) {
		return 0, nil, fmt.Errorf("%w: state of %d bytes", ErrMalformed, len(b))
	}
	size := binary.BigEndian.Uint64(b)
	hashes := make([][]byte, b[8])
	for i := range hashes {
		hashes[i] = append([]byte(nil), b[9+32*i:9+32*i+32]...)
	}
	return size, hashes, nil
}

// Close stops the committer, failing adds still queued with ErrClosed, and
// closes the store. It is safe to call more than once.
func (l *Log) Close() error {
	var err error
	l.closeMu.Do(func() {
		if l.stop != nil {
			l.addMu.Lock()
			l.addMu.closed = true
			l.addMu.Unlock()
			close(l.stop)
			<-l.done
		}
		err = l.db.Close()
	})
	return err
}

// Origin returns the log's checkpoint origin, "cohort/<did:key>".
func (l *Log) Origin() string { return l.origin }

// PublicKey returns the key of the node that owns the log.
func (l *Log) PublicKey() ed25519.PublicKey { return l.pub }

// VerifierKey returns the log's signed-note verifier key.
func (l *Log) VerifierKey() string { return VerifierKey(l.pub) }

// Size returns the number of committed entries.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.size
}

// Root returns the committed size and its Merkle root.
func (l *Log) Root() (uint64, [32]byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.size, l.mu.root
}

// Future is the outcome of an Add: the entry's index once committed.
type Future struct {
	typ   Type
	body  []byte
	done  chan struct{}
	index uint64
	err   error
}

// Wait waits for the entry's batch to commit and returns its index.
func (f *Future) Wait(ctx context.Context) (uint64, error) {
	select {
	case <-f.done:
		return f.index, f.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Add queues an entry with the given type and body and returns its future.
// The entry is durable once Wait returns without error.
func (l *Log) Add(ctx context.Context, t Type, body []byte) *Future {
	f := &Future{typ: t, body: body, done: make(chan struct{})}
	fail := func(err error) *Future {
		f.err = err
		close(f.done)
		return f
	}
	switch {
	case l.reqs == nil:
		return fail(fmt.Errorf("%w: read-only", ErrClosed))
	case len(body) > MaxBodySize:
		return fail(fmt.Errorf("%w: %d-byte body of a %v entry (at most %d)", ErrTooLarge, len(body), t, MaxBodySize))
	case t < 1 || t > maxType:
		return fail(fmt.Errorf("%w: unknown entry type %d", ErrMalformed, uint8(t)))
	}
	if err := l.broken(); err != nil {
		return fail(err)
	}
	l.addMu.RLock()
	defer l.addMu.RUnlock()
	if l.addMu.closed {
		return fail(ErrClosed)
	}
	select {
	case l.reqs <- f:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return f
}

// AddEvent queues an event's entry.
func (l *Log) AddEvent(ctx context.Context, ev Event) *Future {
	body, err := ev.MarshalBinary()
	if err != nil {
		f := &Future{err: err, done: make(chan struct{})}
		close(f.done)
		return f
	}
	return l.Add(ctx, ev.EntryType(), body)
}

// Append adds an event and waits for it to commit.
func (l *Log) Append(ctx context.Context, ev Event) (uint64, error) {
	return l.AddEvent(ctx, ev).Wait(ctx)
}

func (l *Log) broken() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.err
}

// commitLoop is the committer goroutine: it takes what is queued, up to the
// batch limits, and commits it with one fsync.
func (l *Log) commitLoop() {
	defer close(l.done)
	batch := make([]*Future, 0, l.opts.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case f := <-l.reqs:
			batch = append(batch, f)
		case <-l.stop:
			l.drain()
			return
		}
		n := len(batch[0].body)
	gather:
		for len(batch) < l.opts.MaxBatch && n < l.opts.MaxBatchBytes {
			select {
			case f := <-l.reqs:
				batch = append(batch, f)
				n += len(f.body)
			default:
				break gather
			}
		}
		err := l.broken()
		if err == nil {
			err = l.commit(batch)
		}
		for _, f := range batch {
			f.err = err
			close(f.done)
		}
	}
}

// drain fails the adds still queued at Close.
func (l *Log) drain() {
	for {
		select {
		case f := <-l.reqs:
			f.err = ErrClosed
			close(f.done)
		default:
			return
		}
	}
}

// commit writes a batch of entries, their Merkle nodes and the new state
// in one Pebble batch with one fsync, then publishes the new state.
func (l *Log) commit(batch []*Future) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pf, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = l.fail(errors.New(string(pf)))
		}
	}()
	l.mu.RLock()
	size, last := l.mu.size, l.mu.last
	l.mu.RUnlock()
	b := l.db.NewBatch()
	defer b.Close()
	now := l.opts.Now()
	var upper []compact.NodeID
	var upperHash [][]byte
	edgeTile := size / tileLeaves
	visit := func(id compact.NodeID, h []byte) {
		if id.Level >= cacheLevel {
			_ = b.Set(nodeKey(id.Level, id.Index), h, nil)
			upper = append(upper, id)
			upperHash = append(upperHash, h)
			return
		}
		t := id.Index >> (cacheLevel - id.Level)
		if t != edgeTile { // the edge tile filled up: write it, start the next
			binary.BigEndian.PutUint16(l.edge, tileLeaves)
			_ = b.Set(tileKey(edgeTile), l.edge, nil)
			clear(l.edge)
			edgeTile = t
		}
		copy(l.edge[2+32*tileSlot(id.Level, id.Index-t<<(cacheLevel-id.Level)):], h)
	}
	var buf []byte
	for i, f := range batch {
		e := Entry{Index: size + uint64(i), Type: f.typ, Time: now, Prev: last, Body: f.body}
		var err error
		buf, err = e.appendBinary(buf[:0])
		if err != nil {
			return l.fail(err)
		}
		if err := b.Set(entryKey(e.Index), buf, nil); err != nil {
			return l.fail(err)
		}
		last = LeafHash(buf)
		// The range keeps the slice it is given: pass a copy.
		if err := l.rng.Append(append([]byte(nil), last[:]...), visit); err != nil {
			return l.fail(err)
		}
		f.index = e.Index
	}
	newSize := size + uint64(len(batch))
	if edgeTile < newSize/tileLeaves { // the batch ended by filling it
		binary.BigEndian.PutUint16(l.edge, tileLeaves)
		_ = b.Set(tileKey(edgeTile), l.edge, nil)
		clear(l.edge)
	}
	if w := newSize % tileLeaves; w != 0 {
		binary.BigEndian.PutUint16(l.edge, uint16(w))
		_ = b.Set(tileKey(newSize/tileLeaves), l.edge, nil)
	}
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return l.fail(err)
	}
	if err := b.Set([]byte{prefixState}, encodeState(newSize, l.rng.Hashes()), nil); err != nil {
		return l.fail(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.size, l.mu.root, l.mu.last = newSize, [32]byte(root), last
	for i, id := range upper {
		row := int(id.Level - cacheLevel)
		for len(l.mu.upper) <= row {
			l.mu.upper = append(l.mu.upper, nil)
		}
		l.mu.upper[row] = append(l.mu.upper[row], upperHash[i])
	}
	return nil
}

// fail makes a commit failure sticky: the in-memory range may no longer
// match the store, so nothing more is appended until the ledger is
// reopened from what was durably committed.
func (l *Log) fail(err error) error {
	err = fmt.Errorf("%w: %v", ErrBroken, err)
	l.mu.Lock()
	l.mu.err = err
	l.mu.Unlock()
	return err
}

// Entry returns the encoded entry at index i.
func (l *Log) Entry(i uint64) ([]byte, error) {
	if size := l.Size(); i >= size {
		return nil, fmt.Errorf("%w: entry %d of a %d-entry log", ErrRange, i, size)
	}
	v, closer, err := l.db.Get(entryKey(i))
	if err != nil {
		return nil, fmt.Errorf("ledger: entry %d: %w", i, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Entries calls fn with each encoded entry in [start, end) in order. The
// slice passed to fn is only valid during the call.
func (l *Log) Entries(start, end uint64, fn func(i uint64, entry []byte) error) error {
	if size := l.Size(); end > size || start > end {
		return fmt.Errorf("%w: entries [%d, %d) of a %d-entry log", ErrRange, start, end, size)
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(start), UpperBound: entryKey(end)})
	if err != nil {
		return err
	}
	want := start
	for it.First(); it.Valid(); it.Next() {
		if i := binary.BigEndian.Uint64(it.Key()[1:]); i != want {
			_ = it.Close()
			return fmt.Errorf("%w: entry %d is missing from the store", ErrMalformed, want)
		}
		if err := fn(want, it.Value()); err != nil {
			_ = it.Close()
			return err
		}
		want++
	}
	if err := it.Close(); err != nil {
		return err
	}
	if want != end {
		return fmt.Errorf("%w: entry %d is missing from the store", ErrMalformed, want)
	}
	return nil
}

// node returns the hash of the perfect subtree (level, index), which must
// be within the committed tree.
func (l *Log) node(level uint, index uint64) ([]byte, error) {
	if level >= cacheLevel {
		l.mu.RLock()
		row := int(level - cacheLevel)
		if row < len(l.mu.upper) && index < uint64(len(l.mu.upper[row])) {
			h := l.mu.upper[row][index]
			l.mu.RUnlock()
			return h, nil
		}
		l.mu.RUnlock()
	}
	if level < cacheLevel {
		t := index >> (cacheLevel - level)
		blob, err := l.tile(t)
		if err != nil {
			return nil, err
		}
		return tileNode(blob, t, level, index)
	}
	v, closer, err := l.db.Get(nodeKey(level, index))
	if err != nil {
		return nil, fmt.Errorf("ledger: node (%d, %d): %w", level, index, err)
	}
	defer closer.Close()
	if len(v) != 32 {
		return nil, fmt.Errorf("%w: node (%d, %d) of %d bytes", ErrMalformed, level, index, len(v))
	}
	return append([]byte(nil), v...), nil
}

// tile returns the blob of tile t.
func (l *Log) tile(t uint64) ([]byte, error) {
	v, closer, err := l.db.Get(tileKey(t))
	if err != nil {
		return nil, fmt.Errorf("ledger: tile %d: %w", t, err)
	}
	defer closer.Close()
	if len(v) != tileSize {
		return nil, fmt.Errorf("%w: tile %d of %d bytes", ErrMalformed, t, len(v))
	}
	return append([]byte(nil), v...), nil
}

// tileNode picks node (level, index) out of the blob of tile t.
func tileNode(blob []byte, t uint64, level uint, index uint64) ([]byte, error) {
	local := index - t<<(cacheLevel-level)
	w := uint64(binary.BigEndian.Uint16(blob))
	if (local+1)<<level > w {
		return nil, fmt.Errorf("%w: node (%d, %d) is not in tile %d of width %d", ErrMalformed, level, index, t, w)
	}
	off := 2 + 32*tileSlot(level, local)
	return append([]byte(nil), blob[off:off+32]...), nil
}

// nodes reads the hashes of ids, reading each tile blob once.
func (l *Log) nodes(ids []compact.NodeID) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	var blobs [2]struct {
		t    uint64
		blob []byte
	}
	for i, id := range ids {
		var err error
		if id.Level >= cacheLevel {
			if hs[i], err = l.node(id.Level, id.Index); err != nil {
				return nil, err
			}
			continue
		}
		t := id.Index >> (cacheLevel - id.Level)
		slot := &blobs[0]
		if slot.blob != nil && slot.t != t {
			slot = &blobs[1]
		}
		if slot.blob == nil || slot.t != t {
			if slot.blob, err = l.tile(t); err != nil {
				return nil, err
			}
			slot.t = t
		}
		if hs[i], err = tileNode(slot.blob, t, id.Level, id.Index); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

// RootAt returns the Merkle root of the first size entries.
func (l *Log) RootAt(size uint64) ([32]byte, error) {
	cur, root := l.Root()
	switch {
	case size > cur:
		return [32]byte{}, fmt.Errorf("%w: root at size %d of a %d-entry log", ErrRange, size, cur)
	case size == cur:
		return root, nil
	case size == 0:
		return [32]byte(rfc6962.DefaultHasher.EmptyRoot()), nil
	}
	hs, err := l.nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return [32]byte{}, err
	}
	h := hs[len(hs)-1]
	for i := len(hs) - 2; i >= 0; i-- {
		h = rfc6962.DefaultHasher.HashChildren(hs[i], h)
	}
	return [32]byte(h), nil
}

// InclusionProof returns the RFC 6962 inclusion proof of entry index in the
// tree of the first size entries.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if cur := l.Size(); size > cur || index >= size {
		return nil, fmt.Errorf("%w: inclusion of entry %d in size %d of a %d-entry log", ErrRange, index, size, cur)
	}
	pn, err := proofInclusion(index, size)
	if err != nil {
		return nil, err
	}
	return l.rehash(pn)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of the first size1 and size2 entries.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if cur := l.Size(); size2 > cur || size1 > size2 {
		return nil, fmt.Errorf("%w: consistency of sizes %d and %d of a %d-entry log", ErrRange, size1, size2, cur)
	}
	pn, err := proofConsistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return l.rehash(pn)
}

// quietLogger drops Pebble's informational lines and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	log.Printf("ledger: pebble: "+format, args...)
}

// Fatalf panics with a pebbleFatal instead of exiting: Pebble calls it on
// the committing goroutine when a commit fails (a write or sync of the
// WAL), and commit turns that into ErrBroken. Elsewhere the panic ends the
// process as Pebble intends.
func (quietLogger) Fatalf(format string, args ...any) {
	panic(pebbleFatal(fmt.Sprintf(format, args...)))
}

type pebbleFatal string

// openStore opens the Pebble store, turning a panic of Pebble's on a disk
// error into an error (Pebble cleans up before it panics).
func openStore(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fatalError(r)
		}
	}()
	return pebble.Open(dir, po)
}

// guard runs a write to the store other than a commit's, refusing it on a
// broken log and turning a panic of Pebble's on a disk error into an error
// that breaks the log.
func (l *Log) guard(write func() error) (err error) {
	if err := l.broken(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = l.fail(fatalError(r))
		}
	}()
	return write()
}

// fatalError returns the error of a panic of Pebble's on a disk error: its
// Fatalf (a pebbleFatal) or an error it panics with, as when it cannot
// sync a directory. Other panics go on.
func fatalError(r any) error {
	switch v := r.(type) {
	case pebbleFatal:
		return errors.New(string(v))
	case runtime.Error:
		panic(r)
	case error:
		return v
	}
	panic(r)
}

// markerSyncFS syncs a directory before Pebble creates a marker file in
// it, so that a crash cannot keep a marker (of the current MANIFEST, say)
// but lose the file it names, which leaves a store that does not open.
// Pebble v2.1.7 creates a MANIFEST and its marker with one directory sync
// after both; TestCrashFaultInjection found stores that would not reopen.
type markerSyncFS struct{ vfs.FS }

func (fs markerSyncFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if strings.HasPrefix(fs.PathBase(name), "marker.") {
		d, err := fs.OpenDir(fs.PathDir(name))
		if err != nil {
			return nil, err
		}
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return fs.FS.Create(name, category)
}
