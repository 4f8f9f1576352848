package secagg

import (
	"cmp"
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cohort-mpc/cohort/tensor"
)

// Server is the aggregator's side of one SecAgg+ round: it collects each
// step's messages (Add...), then closes the step and produces what goes back
// to the clients. It does no I/O and reads no clock: the caller decides when
// a step's deadline has passed and closes it; whoever has not sent by then
// has dropped out.
//
// A message that fails validation is refused with a *PartyError naming its
// sender; the sender is excluded from the rest of the round and listed in
// Result.Misbehaved, and the round goes on if enough parties remain. Closing
// a step with fewer than T parties ends the round with ErrTooFewSurvivors
// and no output. A Server is not safe for concurrent use.
//
// The running sum lives in a tensor.Accumulator of the backend (device
// memory for a GPU backend): call Close when the round is over, whether it
// finished or not.
type Server struct {
	params     *Params
	round      RoundID
	roster     []ed25519.PublicKey
	neighbours [][]uint32 // by party, sorted
	next       int        // 1..5 collecting that step, 6 done, 0 failed

	excluded  map[uint32]*PartyError
	adverts   map[uint32]*AdvertiseKeys // U1
	shareMsgs map[uint32]*ShareKeys     // U2
	maskSet   map[uint32][]uint32       // pairwise masks each party in U2 applies, symmetric
	inputs    map[uint32]bool           // U3
	acc       tensor.Accumulator        // the sum of the masked inputs
	failed    error                     // the backend's failure, wrapping ErrBackend
	survivors []uint32                  // U3, sorted, once step 3 is closed
	sigs      map[uint32]ConsistencySig // U4
	reveals   map[uint32]*UnmaskShares  // U5
}

// Result is the output of a round: the sum of the contributors' quantised
// inputs (Sum32 or Sum64, as the round's ring), the contributors, and the
// parties refused for invalid messages.
type Result struct {
	Sum32        []uint32
	Sum64        []uint64
	Contributors []uint32
	Misbehaved   []*PartyError
}

// NewServer prepares the aggregator for the round. roster holds every
// party's Ed25519 identity key by index.
func NewServer(p *Params, round RoundID, roster []ed25519.PublicKey, backend tensor.Backend) (*Server, error) {
	if len(roster) != p.N() {
		return nil, fmt.Errorf("%w: roster has %d keys for N = %d parties", ErrParams, len(roster), p.N())
	}
	acc, err := tensor.NewAccumulator(backend, p.RingBits(), p.Dim())
	if err != nil {
		return nil, fmt.Errorf("%w: the sum of %d words: %w", ErrBackend, p.Dim(), err)
	}
	g := p.Graph(round)
	nb := make([][]uint32, p.N())
	for i := range nb {
		nb[i] = g.Neighbours(uint32(i))
	}
	return &Server{
		params: p, round: round, roster: roster, neighbours: nb, next: 1, acc: acc,
		excluded: map[uint32]*PartyError{}, adverts: map[uint32]*AdvertiseKeys{}, shareMsgs: map[uint32]*ShareKeys{},
		inputs: map[uint32]bool{}, sigs: map[uint32]ConsistencySig{}, reveals: map[uint32]*UnmaskShares{},
	}, nil
}

// accept checks that messages of step n are being collected and that sender
// is a party of the round that has not been excluded or sent this step yet.
func (s *Server) accept(n int, step string, round RoundID, sender uint32, seen bool) error {
	if s.failed != nil {
		return s.failed
	}
	if s.next != n {
		return fmt.Errorf("%w: %s received while the server is at step %d", ErrStep, step, s.next)
	}
	if int(sender) >= s.params.N() {
		return bad(sender, step, "no such party (N = %d)", s.params.N())
	}
	if e := s.excluded[sender]; e != nil {
		return bad(sender, step, "party was excluded earlier: %v", e.Err)
	}
	if round != s.round {
		return s.exclude(bad(sender, step, "message for another round"))
	}
	if seen {
		return s.exclude(bad(sender, step, "second message for the step"))
	}
	return nil
}

// exclude records a party's invalid message and returns the error.
func (s *Server) exclude(err error) error {
	if pe, ok := err.(*PartyError); ok && s.excluded[pe.Party] == nil {
		s.excluded[pe.Party] = pe
	}
	return err
}

// AddAdvertiseKeys collects a step 1 message.
func (s *Server) AddAdvertiseKeys(m *AdvertiseKeys) error {
	if err := s.accept(1, "AdvertiseKeys", m.Round, m.Sender, s.adverts[m.Sender] != nil); err != nil {
		return err
	}
	if !verify(s.roster[m.Sender], advertiseSigned(m.Round, m.Sender, &m.EncKey, &m.MaskKey), &m.Sig) {
		return s.exclude(bad(m.Sender, "AdvertiseKeys", "signature does not verify under the party's identity key"))
	}
	c := *m
	s.adverts[m.Sender] = &c
	return nil
}

// parties returns the keys of m, sorted, leaving out excluded parties.
func parties[V any](s *Server, m map[uint32]V) []uint32 {
	var out []uint32
	for p := range maps.Keys(m) {
		if s.excluded[p] == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// close moves from step n to n+1 if at least T parties remain in set.
func (s *Server) close(n int, what string, set []uint32) error {
	if s.failed != nil {
		return s.failed
	}
	if s.next != n {
		return fmt.Errorf("%w: closing step %d while the server is at step %d", ErrStep, n, s.next)
	}
	if len(set) < s.params.T() {
		s.next = 0
		return fmt.Errorf("%w: %d parties %s, threshold %d", ErrTooFewSurvivors, len(set), what, s.params.T())
	}
	s.next = n + 1
	return nil
}

// KeyList closes step 1 and returns the keys to send every party.
func (s *Server) KeyList() (*KeyList, error) {
	u1 := parties(s, s.adverts)
	if err := s.close(1, "advertised keys", u1); err != nil {
		return nil, err
	}
	out := &KeyList{Round: s.round, Keys: make([]AdvertiseKeys, len(u1))}
	for i, p := range u1 {
		out.Keys[i] = *s.adverts[p]
	}
	return out, nil
}

// AddShareKeys collects a step 2 message. Shares may only go to neighbours
// that advertised keys.
func (s *Server) AddShareKeys(m *ShareKeys) error {
	if err := s.accept(2, "ShareKeys", m.Round, m.Sender, s.shareMsgs[m.Sender] != nil); err != nil {
		return err
	}
	if s.adverts[m.Sender] == nil || s.excluded[m.Sender] != nil {
		return s.exclude(bad(m.Sender, "ShareKeys", "party did not advertise keys"))
	}
	for i, e := range m.Shares {
		if i > 0 && e.Peer <= m.Shares[i-1].Peer {
			return s.exclude(bad(m.Sender, "ShareKeys", "Shares not in increasing order of Peer"))
		}
		if _, ok := slices.BinarySearch(s.neighbours[m.Sender], e.Peer); !ok || s.adverts[e.Peer] == nil {
			return s.exclude(bad(m.Sender, "ShareKeys", "shares for party %d, not a neighbour that advertised keys", e.Peer))
		}
		if len(e.Ciphertext) == 0 || len(e.Ciphertext) > MaxCiphertext {
			return s.exclude(bad(m.Sender, "ShareKeys", "ciphertext for party %d has %d bytes", e.Peer, len(e.Ciphertext)))
		}
	}
	s.shareMsgs[m.Sender] = m
	return nil
}

// ShareBundles closes step 2 and returns, for every party that sent shares,
// the bundle to send it. A pair of neighbours is in each other's bundles
// only if both sent the other shares, so the pairwise masks the two apply
// always match.
func (s *Server) ShareBundles() (map[uint32]*ShareBundle, error) {
	u2 := parties(s, s.shareMsgs)
	if err := s.close(2, "sent shares", u2); err != nil {
		return nil, err
	}
	sent := func(from, to uint32) []byte {
		m := s.shareMsgs[from]
		if m == nil || s.excluded[from] != nil {
			return nil
		}
		i, ok := slices.BinarySearchFunc(m.Shares, to, func(e EncryptedShare, p uint32) int { return cmp.Compare(e.Peer, p) })
		if !ok {
			return nil
		}
		return m.Shares[i].Ciphertext
	}
	s.maskSet = make(map[uint32][]uint32, len(u2))
	out := make(map[uint32]*ShareBundle, len(u2))
	for _, u := range u2 {
		b := &ShareBundle{Round: s.round, Receiver: u}
		for _, v := range s.neighbours[u] {
			in, back := sent(v, u), sent(u, v)
			if in != nil && back != nil {
				b.Shares = append(b.Shares, EncryptedShare{Peer: v, Ciphertext: in})
				s.maskSet[u] = append(s.maskSet[u], v)
			}
		}
		out[u] = b
	}
	return out, nil
}

// Close releases the backend memory of the sum. It is safe to call more
// than once, and after Finish.
func (s *Server) Close() error {
	if s.acc == nil {
		return nil
	}
	err := s.acc.Close()
	s.acc = nil
	return err
}

// fail records a backend failure, which ends the round.
func (s *Server) fail(what string, err error) error {
	s.failed = fmt.Errorf("%w: %s: %w", ErrBackend, what, err)
	s.next = 0
	return s.failed
}

// AddMaskedInput collects a step 3 message and adds it to the running sum at
// once, so the server holds one vector however many parties there are. A
// failure of the backend (wrapping ErrBackend, not a *PartyError) ends the
// round.
func (s *Server) AddMaskedInput(m *MaskedInput) error {
	if s.failed != nil {
		return s.failed
	}
	if err := s.accept(3, "MaskedInput", m.Round, m.Sender, s.inputs[m.Sender]); err != nil {
		return err
	}
	if _, ok := s.maskSet[m.Sender]; !ok {
		return s.exclude(bad(m.Sender, "MaskedInput", "party received no shares in step 2"))
	}
	d := s.params.Dim()
	switch {
	case s.params.RingBits() == 32 && len(m.Words32) == d && m.Words64 == nil:
		if err := s.acc.AddU32(m.Words32); err != nil {
			return s.fail("adding a masked input", err)
		}
	case s.params.RingBits() == 64 && len(m.Words64) == d && m.Words32 == nil:
		if err := s.acc.AddU64(m.Words64); err != nil {
			return s.fail("adding a masked input", err)
		}
	default:
		return s.exclude(bad(m.Sender, "MaskedInput", "want %d words in Z/2^%d, got %d 32-bit and %d 64-bit words",
			d, s.params.RingBits(), len(m.Words32), len(m.Words64)))
	}
	s.inputs[m.Sender] = true
	return nil
}

// SurvivorList closes step 3 and returns the list of parties whose input
// was received, for every survivor to sign.
func (s *Server) SurvivorList() (*SurvivorList, error) {
	// An input once added stays in the sum, so a survivor excluded later for
	// a bad message still counts as one.
	var u3 []uint32
	for p := range s.inputs {
		u3 = append(u3, p)
	}
	slices.Sort(u3)
	if err := s.close(3, "sent masked inputs", u3); err != nil {
		return nil, err
	}
	s.survivors = u3
	return &SurvivorList{Round: s.round, Survivors: slices.Clone(u3)}, nil
}

// AddConsistencySig collects a step 4 message.
func (s *Server) AddConsistencySig(m *ConsistencySig) error {
	_, seen := s.sigs[m.Sender]
	if err := s.accept(4, "ConsistencySig", m.Round, m.Sender, seen); err != nil {
		return err
	}
	if _, ok := slices.BinarySearch(s.survivors, m.Sender); !ok {
		return s.exclude(bad(m.Sender, "ConsistencySig", "party is not a survivor"))
	}
	if !verify(s.roster[m.Sender], consistencySigned(s.round, s.survivors), &m.Sig) {
		return s.exclude(bad(m.Sender, "ConsistencySig", "signature is not over the survivor list"))
	}
	s.sigs[m.Sender] = *m
	return nil
}

// UnmaskRequest closes step 4 and returns the signed survivor list.
func (s *Server) UnmaskRequest() (*UnmaskRequest, error) {
	u4 := parties(s, s.sigs)
	if err := s.close(4, "confirmed the survivor list", u4); err != nil {
		return nil, err
	}
	out := &UnmaskRequest{Round: s.round, Survivors: slices.Clone(s.survivors)}
	for _, p := range u4 {
		out.Signatures = append(out.Signatures, s.sigs[p])
	}
	return out, nil
}

// AddUnmaskShares collects a step 5 message: one share for each party whose
// shares the sender holds, of the right kind and index.
func (s *Server) AddUnmaskShares(m *UnmaskShares) error {
	if err := s.accept(5, "UnmaskShares", m.Round, m.Sender, s.reveals[m.Sender] != nil); err != nil {
		return err
	}
	if _, ok := s.sigs[m.Sender]; !ok {
		return s.exclude(bad(m.Sender, "UnmaskShares", "party did not confirm the survivor list"))
	}
	held := s.maskSet[m.Sender]
	if len(m.Shares) != len(held) {
		return s.exclude(bad(m.Sender, "UnmaskShares", "%d shares, the party holds shares of %d parties", len(m.Shares), len(held)))
	}
	for i, r := range m.Shares {
		if r.Of != held[i] {
			return s.exclude(bad(m.Sender, "UnmaskShares", "share %d is of party %d, want party %d", i, r.Of, held[i]))
		}
		want := MaskKeyShare
		if s.inputs[r.Of] {
			want = SelfSeedShare
		}
		if r.Kind != want {
			return s.exclude(bad(m.Sender, "UnmaskShares", "share of party %d has kind %d, want %d", r.Of, r.Kind, want))
		}
		if idx := s.shareIndex(r.Of, m.Sender); r.Share.Index != idx {
			return s.exclude(bad(m.Sender, "UnmaskShares", "share of party %d has index %d, want %d", r.Of, r.Share.Index, idx))
		}
	}
	s.reveals[m.Sender] = m
	return nil
}

// shareIndex is the Shamir index of holder's shares of owner's secrets.
func (s *Server) shareIndex(owner, holder uint32) uint32 {
	i, _ := slices.BinarySearch(s.neighbours[owner], holder)
	return uint32(i + 1)
}

// Finish closes step 5: it reconstructs every survivor's self-mask seed and
// every dropped party's mask-agreement key from the revealed shares, removes
// all masks from the sum, and returns it.
func (s *Server) Finish() (*Result, error) {
	if s.failed != nil {
		return nil, s.failed
	}
	if s.next != 5 {
		return nil, fmt.Errorf("%w: Finish while the server is at step %d", ErrStep, s.next)
	}
	s.next = 0
	// Collect the shares of each party's secret, in holder order.
	shares := map[uint32][]Share{}
	for _, holder := range parties(s, s.reveals) {
		for _, r := range s.reveals[holder].Shares {
			shares[r.Of] = append(shares[r.Of], r.Share)
		}
	}
	// The masks to remove: every survivor's self mask, and the pairwise
	// masks of each party that received a bundle and sent no input
	// (excluded ones included: its neighbours masked with it). Survivor v
	// added the pair's mask if v < u and subtracted it otherwise, so the
	// server subtracts or adds it back. The reconstructions and key
	// agreements are independent: they run on every core.
	var jobs []unmaskJob
	for _, u := range s.survivors {
		jobs = append(jobs, unmaskJob{party: u, self: true})
	}
	for _, u := range slices.Sorted(maps.Keys(s.maskSet)) {
		if s.inputs[u] {
			continue
		}
		j := unmaskJob{party: u}
		for _, v := range s.maskSet[u] {
			if s.inputs[v] {
				j.applied = append(j.applied, v)
			}
		}
		if len(j.applied) > 0 {
			jobs = append(jobs, j)
		}
	}
	parallel(len(jobs), func(i int) { s.unmaskSeeds(&jobs[i], shares[jobs[i].party]) })
	var add, sub []tensor.Seed
	defer func() {
		clear(add)
		clear(sub)
		for i := range jobs {
			clear(jobs[i].add)
			clear(jobs[i].sub)
		}
	}()
	for i := range jobs {
		if jobs[i].err != nil {
			return nil, jobs[i].err
		}
		add = append(add, jobs[i].add...)
		sub = append(sub, jobs[i].sub...)
	}
	if err := s.acc.AddMasks(add, sub); err != nil {
		return nil, s.fail("removing the masks", err)
	}
	res := &Result{Contributors: slices.Clone(s.survivors)}
	var err error
	if s.params.RingBits() == 32 {
		res.Sum32 = make([]uint32, s.params.Dim())
		err = s.acc.ReadU32(res.Sum32)
	} else {
		res.Sum64 = make([]uint64, s.params.Dim())
		err = s.acc.ReadU64(res.Sum64)
	}
	if err != nil {
		return nil, s.fail("reading the sum", err)
	}
	if err := s.Close(); err != nil {
		return nil, s.fail("releasing the sum", err)
	}
	for _, p := range slices.Sorted(maps.Keys(s.excluded)) {
		res.Misbehaved = append(res.Misbehaved, s.excluded[p])
	}
	s.next = 6
	return res, nil
}

// recover reconstructs party u's secret from its shares, or says why not.
func (s *Server) recover(u uint32, shares []Share, what string) ([32]byte, error) {
	if len(shares) < s.params.T() {
		return [32]byte{}, fmt.Errorf("%w: %d shares of party %d's %s, threshold %d", ErrTooFewSurvivors, len(shares), u, what, s.params.T())
	}
	return recoverSecret(shares, s.params.T())
}

// unmaskJob is the work of Finish for one party: the recovery of its
// self-mask seed (a survivor) or of its mask-agreement key and its pairwise
// seeds with the survivors that applied them (a party that sent no input).
type unmaskJob struct {
	party    uint32
	self     bool
	applied  []uint32      // survivors that masked with party
	add, sub []tensor.Seed // the seeds whose masks Finish adds or subtracts
	err      error
}

// unmaskSeeds does job j from the revealed shares of its party.
func (s *Server) unmaskSeeds(j *unmaskJob, shares []Share) {
	u := j.party
	if j.self {
		seed, err := s.recover(u, shares, "self-mask seed")
		if err != nil {
			j.err = err
			return
		}
		j.sub = append(j.sub, tensor.Seed(seed))
		clear(seed[:])
		return
	}
	secret, err := s.recover(u, shares, "mask-agreement key")
	if err != nil {
		j.err = err
		return
	}
	sk, err := ecdh.X25519().NewPrivateKey(secret[:])
	clear(secret[:])
	if err != nil || [32]byte(sk.PublicKey().Bytes()) != s.adverts[u].MaskKey {
		j.err = fmt.Errorf("%w: the shares of party %d's mask-agreement key do not reconstruct its advertised key", ErrBadMessage, u)
		return
	}
	for _, v := range j.applied {
		seed, err := pairwiseSeed(sk, &s.adverts[v].MaskKey, s.round, u, v)
		if err != nil {
			j.err = err
			return
		}
		// v added the pair's mask if v < u and subtracted it otherwise.
		if v < u {
			j.sub = append(j.sub, seed)
		} else {
			j.add = append(j.add, seed)
		}
		clear(seed[:])
	}
}

// parallel calls f(0), ..., f(n-1) on up to GOMAXPROCS goroutines and
// returns when all have returned.
func parallel(n int, f func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}
