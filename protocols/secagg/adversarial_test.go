package secagg

import (
	"crypto/ed25519"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
)

// Adversarial tests: a malicious server against honest clients, malicious
// clients against an honest server, dropouts at the threshold, sizes, the
// distribution of a masked vector, and golden vectors for the masks.

// The -update-masks flag rewrites testdata/secagg/masks (go test -run
// TestGoldenMasks -update-masks). Registered the same way as wire_test.go's
// -update, so a second registration of the name is never attempted.
func init() {
	if flag.Lookup("update-masks") == nil {
		flag.Bool("update-masks", false, "rewrite the golden mask vectors in testdata/secagg/masks")
	}
}

func updateMasks() bool {
	f := flag.Lookup("update-masks")
	return f != nil && f.Value.String() == "true"
}

var masksGoldenDir = filepath.Join("..", "..", "testdata", "secagg", "masks")

// ---------------------------------------------------------------------------
// A round driven step by step.

// advRound drives one round step by step, so that a test can alter, drop,
// replay or duplicate any message between the clients and the server, or
// play the server itself. Every message goes through its wire encoding.
type advRound struct {
	t   *testing.T
	f   *fixture
	srv *Server
	cl  []*Client
	in  [][]uint32

	gone    map[uint32]bool // parties that send nothing more
	kl      *KeyList
	bundles map[uint32]*ShareBundle
	masked  map[uint32]*MaskedInput // as sent
	sl      *SurvivorList
	req     *UnmaskRequest
	maxSigs int // > 0: forward only the first maxSigs signatures of the UnmaskRequest
}

// newAdvRound prepares a round of f with the given ring inputs; randFor
// gives each client its randomness (nil: the same readers as runRound).
func newAdvRound(t *testing.T, f *fixture, in [][]uint32, randFor func(i int) io.Reader) *advRound {
	t.Helper()
	if randFor == nil {
		randFor = func(i int) io.Reader { return newTestRand(uint64(1000 + i)) }
	}
	srv, err := NewServer(f.p, f.round, f.roster, f.backend)
	if err != nil {
		t.Fatal(err)
	}
	r := &advRound{t: t, f: f, srv: srv, in: in, gone: map[uint32]bool{}, masked: map[uint32]*MaskedInput{}}
	for i := range f.p.N() {
		c, err := NewClient(f.p, f.round, uint32(i), f.keys[i], f.roster, f.backend, randFor(i))
		if err != nil {
			t.Fatal(err)
		}
		r.cl = append(r.cl, c)
	}
	return r
}

// adv is newAdvRound with random inputs drawn from seed.
func (f *fixture) adv(t *testing.T, seed uint64) *advRound {
	return newAdvRound(t, f, randInputs32(f.p.N(), f.p.Dim(), seed), nil)
}

func (r *advRound) all() []uint32 {
	out := make([]uint32, len(r.cl))
	for i := range out {
		out[i] = uint32(i)
	}
	return out
}

// advertise runs step 1 for every party not gone; mod (if not nil) may alter
// each message, or send others to the server first. It returns the server's
// refusals by party.
func (r *advRound) advertise(mod func(uint32, *AdvertiseKeys)) map[uint32]error {
	r.t.Helper()
	errs := map[uint32]error{}
	for _, p := range r.all() {
		if r.gone[p] {
			continue
		}
		m, err := r.cl[p].AdvertiseKeys()
		if err != nil {
			r.t.Fatalf("party %d: AdvertiseKeys: %v", p, err)
		}
		if mod != nil {
			mod(p, m)
		}
		if err := r.srv.AddAdvertiseKeys(relay(r.t, m)); err != nil {
			errs[p] = err
		}
	}
	return errs
}

func (r *advRound) keyList() error {
	kl, err := r.srv.KeyList()
	if err != nil {
		return err
	}
	r.kl = wire(r.t, kl)
	return nil
}

// shareKeys runs step 2 for the parties not gone that are in the key list.
func (r *advRound) shareKeys(mod func(uint32, *ShareKeys)) map[uint32]error {
	r.t.Helper()
	errs := map[uint32]error{}
	for _, k := range r.kl.Keys {
		p := k.Sender
		if r.gone[p] {
			continue
		}
		m, err := r.cl[p].ShareKeys(wire(r.t, r.kl))
		if err != nil {
			r.t.Fatalf("party %d: ShareKeys: %v", p, err)
		}
		if mod != nil {
			mod(p, m)
		}
		if err := r.srv.AddShareKeys(relay(r.t, m)); err != nil {
			errs[p] = err
		}
	}
	return errs
}

func (r *advRound) shareBundles() error {
	b, err := r.srv.ShareBundles()
	if err != nil {
		return err
	}
	r.bundles = map[uint32]*ShareBundle{}
	for p, m := range b {
		r.bundles[p] = wire(r.t, m)
	}
	return nil
}

// maskedInputs runs step 3 for the parties not gone that have a bundle.
func (r *advRound) maskedInputs(mod func(uint32, *MaskedInput)) map[uint32]error {
	r.t.Helper()
	errs := map[uint32]error{}
	for _, p := range r.all() {
		if r.gone[p] || r.bundles[p] == nil {
			continue
		}
		m, err := r.cl[p].MaskedInputQuantized(wire(r.t, r.bundles[p]), slices.Clone(r.in[p]), nil)
		if err != nil {
			r.t.Fatalf("party %d: MaskedInputQuantized: %v", p, err)
		}
		if mod != nil {
			mod(p, m)
		}
		m = relay(r.t, m)
		r.masked[p] = m
		if err := r.srv.AddMaskedInput(m); err != nil {
			errs[p] = err
		}
	}
	return errs
}

func (r *advRound) survivorList() error {
	sl, err := r.srv.SurvivorList()
	if err != nil {
		return err
	}
	r.sl = wire(r.t, sl)
	return nil
}

// consistency runs step 4 for the survivors not gone.
func (r *advRound) consistency(mod func(uint32, *ConsistencySig)) map[uint32]error {
	r.t.Helper()
	errs := map[uint32]error{}
	for _, p := range r.sl.Survivors {
		if r.gone[p] {
			continue
		}
		m, err := r.cl[p].ConsistencyCheck(wire(r.t, r.sl))
		if err != nil {
			r.t.Fatalf("party %d: ConsistencyCheck: %v", p, err)
		}
		if mod != nil {
			mod(p, m)
		}
		if err := r.srv.AddConsistencySig(relay(r.t, m)); err != nil {
			errs[p] = err
		}
	}
	return errs
}

func (r *advRound) unmaskRequest() error {
	req, err := r.srv.UnmaskRequest()
	if err != nil {
		return err
	}
	if r.maxSigs > 0 && len(req.Signatures) > r.maxSigs {
		req.Signatures = req.Signatures[:r.maxSigs]
	}
	r.req = wire(r.t, req)
	return nil
}

// unmask runs step 5 for the signers of the request that are not gone. With
// maxSigs set, every survivor is asked, not only the signers forwarded.
func (r *advRound) unmask(mod func(uint32, *UnmaskShares)) map[uint32]error {
	r.t.Helper()
	errs := map[uint32]error{}
	asked := r.sl.Survivors
	if r.maxSigs == 0 {
		asked = nil
		for _, s := range r.req.Signatures {
			asked = append(asked, s.Sender)
		}
	}
	for _, p := range asked {
		if r.gone[p] || r.cl[p].next != 5 {
			continue
		}
		m, err := r.cl[p].Unmask(wire(r.t, r.req))
		if err != nil {
			r.t.Fatalf("party %d: Unmask: %v", p, err)
		}
		if mod != nil {
			mod(p, m)
		}
		if err := r.srv.AddUnmaskShares(relay(r.t, m)); err != nil {
			errs[p] = err
		}
	}
	return errs
}

// relay is wire for a message on its way to the server that a test may have
// made invalid: if it does not encode, the server gets it as it is, in
// memory, so that the server's own checks are what is tested.
func relay[T any, PT interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](t testing.TB, m *T) *T {
	t.Helper()
	if _, err := PT(m).MarshalBinary(); err != nil {
		return m
	}
	return wire[T, PT](t, m)
}

// sumIs reports whether res.Sum32 is the exact ring sum of the given
// parties' inputs.
func sumIs(res *Result, in [][]uint32, parties []uint32) bool {
	want := make([]uint32, len(in[0]))
	for _, p := range parties {
		for j, v := range in[p] {
			want[j] += v
		}
	}
	return slices.Equal(res.Sum32, want)
}

// bugExcludedAtStep3 is the report of a server bug the tests below find.
// noErrs fails the test if the server refused a message.
func (r *advRound) noErrs(step string, errs map[uint32]error) {
	r.t.Helper()
	for p, err := range errs {
		r.t.Fatalf("%s: server refused party %d: %v", step, p, err)
	}
}

func (r *advRound) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// through runs steps 1..step honestly, closing each, so that the clients
// are ready for step+1.
func (r *advRound) through(step int) {
	r.t.Helper()
	if step >= 1 {
		r.noErrs("AdvertiseKeys", r.advertise(nil))
		r.must(r.keyList())
	}
	if step >= 2 {
		r.noErrs("ShareKeys", r.shareKeys(nil))
		r.must(r.shareBundles())
	}
	if step >= 3 {
		r.noErrs("MaskedInput", r.maskedInputs(nil))
		r.must(r.survivorList())
	}
	if step >= 4 {
		r.noErrs("ConsistencySig", r.consistency(nil))
		r.must(r.unmaskRequest())
	}
	if step >= 5 {
		r.noErrs("UnmaskShares", r.unmask(nil))
	}
}

// runFrom runs the honest steps after step (through 5) and Finish.
func (r *advRound) runFrom(step int) (*Result, error) {
	r.t.Helper()
	var err error
	steps := []func(){
		func() { r.noErrs("AdvertiseKeys", r.advertise(nil)); err = r.keyList() },
		func() { r.noErrs("ShareKeys", r.shareKeys(nil)); err = r.shareBundles() },
		func() { r.noErrs("MaskedInput", r.maskedInputs(nil)); err = r.survivorList() },
		func() { r.noErrs("ConsistencySig", r.consistency(nil)); err = r.unmaskRequest() },
		func() { r.noErrs("UnmaskShares", r.unmask(nil)) },
	}
	for _, s := range steps[step:] {
		if s(); err != nil {
			return nil, err
		}
	}
	return r.srv.Finish()
}

// without returns 0..n-1 less the given parties.
func without(n int, out ...uint32) []uint32 {
	var l []uint32
	for i := range uint32(n) {
		if !slices.Contains(out, i) {
			l = append(l, i)
		}
	}
	return l
}

// wantPartyErr asserts that err is a *PartyError naming party that wraps
// target.
func wantPartyErr(t *testing.T, err error, party uint32, target error) {
	t.Helper()
	var pe *PartyError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *PartyError naming party %d", err, err, party)
	}
	if pe.Party != party {
		t.Fatalf("error names party %d, want %d: %v", pe.Party, party, err)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %v does not wrap %v", err, target)
	}
}

// wantMisbehaved asserts that res names exactly the given parties as
// misbehaving.
func wantMisbehaved(t *testing.T, res *Result, parties ...uint32) {
	t.Helper()
	var got []uint32
	for _, e := range res.Misbehaved {
		got = append(got, e.Party)
		if !errors.Is(e, ErrBadMessage) && !errors.Is(e, ErrMalformed) && !errors.Is(e, ErrDecrypt) {
			t.Errorf("Misbehaved entry %v wraps none of ErrBadMessage, ErrMalformed, ErrDecrypt", e)
		}
	}
	if !slices.Equal(got, parties) {
		t.Fatalf("Misbehaved names %v, want %v", got, parties)
	}
}

// revealLog records everything clients reveal, to check that no client
// ever reveals both kinds of share of one party.
type revealLog map[uint32]map[uint32]ShareKind // holder -> of -> kind

func (l revealLog) add(t *testing.T, m *UnmaskShares) {
	t.Helper()
	if m == nil {
		return
	}
	if l[m.Sender] == nil {
		l[m.Sender] = map[uint32]ShareKind{}
	}
	for _, s := range m.Shares {
		if k, ok := l[m.Sender][s.Of]; ok && k != s.Kind {
			t.Fatalf("party %d revealed both a self-seed share and a mask-key share of party %d", m.Sender, s.Of)
		}
		l[m.Sender][s.Of] = s.Kind
	}
}

// count returns how many holders revealed a share of party of, by kind.
func (l revealLog) count(of uint32) (self, key int) {
	for _, m := range l {
		switch m[of] {
		case SelfSeedShare:
			self++
		case MaskKeyShare:
			key++
		}
	}
	return self, key
}

// signList is a party's valid consistency signature over list in round.
func (f *fixture) signList(t *testing.T, round RoundID, party uint32, list []uint32) ConsistencySig {
	t.Helper()
	sig, err := sign(f.keys[party], consistencySigned(round, list))
	if err != nil {
		t.Fatal(err)
	}
	return ConsistencySig{Round: round, Sender: party, Sig: sig}
}

// ---------------------------------------------------------------------------
// 1. A malicious server against honest clients at the unmasking step.

// advMaliciousLit: complete graph of 6, T = 3 > K/2, so that a server could
// gather T signatures over each of two lists from two halves of the parties.
var advMaliciousLit = ParamsLiteral{N: 6, K: 5, T: 3, RingBits: 32, Dim: 8, Lo: -1, Hi: 1}

// splitView plays a server that, after step 3, tells groupA that every party
// survived (listA) and groupB that party 0 dropped (listB), and collects each
// group's signatures over its own list.
func splitView(t *testing.T) (r *advRound, listA, listB []uint32, reqA, reqB *UnmaskRequest) {
	f := newFixture(t, advMaliciousLit)
	r = f.adv(t, 11)
	r.through(3)
	listA = r.sl.Survivors
	listB = without(6, 0)
	reqA = &UnmaskRequest{Round: f.round, Survivors: listA}
	reqB = &UnmaskRequest{Round: f.round, Survivors: listB}
	for _, p := range []uint32{0, 1, 2} {
		m, err := r.cl[p].ConsistencyCheck(wire(t, &SurvivorList{Round: f.round, Survivors: listA}))
		if err != nil {
			t.Fatalf("party %d: %v", p, err)
		}
		reqA.Signatures = append(reqA.Signatures, *m)
	}
	for _, p := range []uint32{3, 4, 5} {
		m, err := r.cl[p].ConsistencyCheck(wire(t, &SurvivorList{Round: f.round, Survivors: listB}))
		if err != nil {
			t.Fatalf("party %d: %v", p, err)
		}
		reqB.Signatures = append(reqB.Signatures, *m)
	}
	return r, listA, listB, reqA, reqB
}

// TestAdvUnmaskConflictingLists: a client that signed one survivor list
// refuses to unmask for a different one, even one that carries T valid
// signatures of other parties over it.
func TestAdvUnmaskConflictingLists(t *testing.T) {
	r, _, _, reqA, reqB := splitView(t)
	// Party 1 signed listA and is asked with listB and T valid signatures
	// over listB.
	if m, err := r.cl[1].Unmask(wire(t, reqB)); !errors.Is(err, ErrConflict) || m != nil {
		t.Fatalf("party 1, request over another list: %v, %v; want ErrConflict and nothing revealed", m, err)
	}
	// Party 2 signed listA and is asked with listB but the signatures over
	// listA, its own among them: the list itself must match.
	mixed := &UnmaskRequest{Round: reqB.Round, Survivors: reqB.Survivors, Signatures: reqA.Signatures}
	if m, err := r.cl[2].Unmask(wire(t, mixed)); !errors.Is(err, ErrConflict) || m != nil {
		t.Fatalf("party 2, another list with signatures over its own: %v, %v; want ErrConflict and nothing revealed", m, err)
	}
	for _, p := range []uint32{3, 4} { // signed listB, asked with listA
		m, err := r.cl[p].Unmask(wire(t, reqA))
		if !errors.Is(err, ErrConflict) || m != nil {
			t.Fatalf("party %d, request over another list: %v, %v; want ErrConflict and nothing revealed", p, m, err)
		}
	}
	// A list with the same parties, but the signer's own list's signatures
	// attached to a shorter list.
	forged := wire(t, reqB)
	forged.Signatures = reqA.Signatures[1:]
	if m, err := r.cl[5].Unmask(forged); err == nil || m != nil {
		t.Fatalf("party 5: request over its list with signatures over another: %v, %v; want an error", m, err)
	}
	// A client that refused once reveals nothing afterwards, even when
	// asked properly.
	if m, err := r.cl[1].Unmask(wire(t, reqA)); err == nil || m != nil {
		t.Fatalf("party 1 after a refusal: %v, %v; want an error", m, err)
	}
}

// TestAdvUnmaskSecondRequest: a client answers one unmasking request only;
// a second one (the same, or over another list) is ErrConflict and reveals
// nothing.
func TestAdvUnmaskSecondRequest(t *testing.T) {
	f := newFixture(t, advMaliciousLit)
	r := f.adv(t, 12)
	r.through(4)
	log := revealLog{}
	for _, p := range r.sl.Survivors {
		m, err := r.cl[p].Unmask(wire(t, r.req))
		if err != nil {
			t.Fatal(err)
		}
		log.add(t, m)
		// The same request again, then one over a list without party
		// (p+1)%6, signed by everyone else.
		m, err = r.cl[p].Unmask(wire(t, r.req))
		if !errors.Is(err, ErrConflict) || m != nil {
			t.Fatalf("party %d, second request: %v, %v; want ErrConflict and nothing", p, m, err)
		}
		log.add(t, m)
		other := without(6, (p+1)%6)
		req := &UnmaskRequest{Round: f.round, Survivors: other}
		for _, q := range other {
			req.Signatures = append(req.Signatures, f.signList(t, f.round, q, other))
		}
		m, err = r.cl[p].Unmask(wire(t, req))
		if err == nil || m != nil {
			t.Fatalf("party %d, third request over another list: %v, %v; want an error and nothing", p, m, err)
		}
		log.add(t, m)
	}
}

// TestAdvUnmaskBadSignatures: a request whose signatures are not all valid
// over the client's list, or fewer than T, is refused.
func TestAdvUnmaskBadSignatures(t *testing.T) {
	other := RoundID{0xee}
	cases := []struct {
		name string
		mod  func(f *fixture, req *UnmaskRequest)
		want error // nil: any error
	}{
		{"flipped-bit", func(f *fixture, req *UnmaskRequest) { req.Signatures[2].Sig[10] ^= 0x04 }, nil},
		{"zero-signature", func(f *fixture, req *UnmaskRequest) { req.Signatures[0].Sig = [64]byte{} }, nil},
		{"wrong-signer", func(f *fixture, req *UnmaskRequest) {
			// Party 4's slot carries party 3's valid signature.
			req.Signatures[4].Sig = req.Signatures[3].Sig
		}, nil},
		{"signature-over-other-list", func(f *fixture, req *UnmaskRequest) {
			req.Signatures[1] = f.signList(t, f.round, 1, without(6, 5))
		}, nil},
		{"signature-from-other-round", func(f *fixture, req *UnmaskRequest) {
			req.Signatures[1] = f.signList(t, other, 1, req.Survivors)
		}, nil},
		{"other-round-signature-relabelled", func(f *fixture, req *UnmaskRequest) {
			req.Signatures[1] = f.signList(t, other, 1, req.Survivors)
			req.Signatures[1].Round = f.round
		}, nil},
		{"fewer-than-T", func(f *fixture, req *UnmaskRequest) {
			req.Signatures = req.Signatures[:f.p.T()-1]
		}, ErrTooFewSurvivors},
		{"none", func(f *fixture, req *UnmaskRequest) { req.Signatures = nil }, ErrTooFewSurvivors},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, advMaliciousLit)
			r := f.adv(t, 13)
			r.through(4)
			if len(r.req.Signatures) != 6 {
				t.Fatalf("%d signatures, want 6", len(r.req.Signatures))
			}
			req := wire(t, r.req)
			tc.mod(f, req)
			req = wire(t, req)
			for _, p := range r.sl.Survivors {
				m, err := r.cl[p].Unmask(req)
				if err == nil || m != nil {
					t.Fatalf("party %d: %v, %v; want a refusal and nothing revealed", p, m, err)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("party %d: %v, want %v", p, err, tc.want)
				}
			}
		})
	}
}

// TestAdvUnmaskDuplicateSignatures: T copies of one valid signature are one
// confirmation, not T. The wire decoder refuses such a list (Senders must
// increase), so this passes the request to the client in memory, as an
// engine that built it itself could.
func TestAdvUnmaskDuplicateSignatures(t *testing.T) {
	f := newFixture(t, advMaliciousLit)
	r := f.adv(t, 14)
	r.through(4)
	req := wire(t, r.req)
	one := req.Signatures[0]
	req.Signatures = nil
	for range f.p.T() {
		req.Signatures = append(req.Signatures, one)
	}
	m, err := r.cl[1].Unmask(req)
	if err == nil || m != nil {
		t.Fatal("Client.Unmask accepted a request with T copies of one party's signature")
	}
}

// TestAdvNeverBothShares plays a server that splits the survivors into two
// groups with different views of whether party 0 survived, and asks each
// group to unmask with its own consistent, T-times-signed request, then
// with the other group's. No client ever reveals both kinds of share of one
// party, and since T > K/2 the server never holds T shares of both of party
// 0's secrets.
func TestAdvNeverBothShares(t *testing.T) {
	r, _, _, reqA, reqB := splitView(t)
	log := revealLog{}
	for _, p := range r.all() {
		own, other := reqA, reqB
		if p >= 3 {
			own, other = reqB, reqA
		}
		m, err := r.cl[p].Unmask(wire(t, own))
		if err != nil {
			t.Fatalf("party %d, its own request: %v", p, err)
		}
		log.add(t, m)
		for _, req := range []*UnmaskRequest{other, own} {
			m, err := r.cl[p].Unmask(wire(t, req))
			log.add(t, m)
			if err == nil || m != nil {
				t.Fatalf("party %d, another request after unmasking: %v; want a refusal", p, err)
			}
		}
	}
	self, key := log.count(0)
	if self == 0 || key == 0 {
		t.Fatalf("party 0: %d self-seed and %d mask-key shares revealed; the split should give some of each", self, key)
	}
	if self >= advMaliciousLit.T && key >= advMaliciousLit.T {
		t.Fatalf("party 0: %d self-seed and %d mask-key shares revealed, threshold %d: the server can remove both masks",
			self, key, advMaliciousLit.T)
	}
}

// ---------------------------------------------------------------------------
// 2. Tampered share ciphertexts.

func TestAdvTamperedShareCiphertext(t *testing.T) {
	lit := ParamsLiteral{N: 5, K: 4, T: 3, RingBits: 32, Dim: 4, Lo: -1, Hi: 1}
	cases := []struct {
		name string
		mod  func(b *ShareBundle) uint32 // returns the sender the client must name
	}{
		{"first-byte", func(b *ShareBundle) uint32 { b.Shares[1].Ciphertext[0] ^= 1; return b.Shares[1].Peer }},
		{"middle-byte", func(b *ShareBundle) uint32 {
			c := b.Shares[0].Ciphertext
			c[len(c)/2] ^= 0x80
			return b.Shares[0].Peer
		}},
		{"tag-byte", func(b *ShareBundle) uint32 {
			c := b.Shares[2].Ciphertext
			c[len(c)-1] ^= 0x10
			return b.Shares[2].Peer
		}},
		{"truncated", func(b *ShareBundle) uint32 {
			b.Shares[0].Ciphertext = b.Shares[0].Ciphertext[:len(b.Shares[0].Ciphertext)-1]
			return b.Shares[0].Peer
		}},
		{"tag-only", func(b *ShareBundle) uint32 {
			b.Shares[3].Ciphertext = b.Shares[3].Ciphertext[:16]
			return b.Shares[3].Peer
		}},
		{"swapped-senders", func(b *ShareBundle) uint32 {
			b.Shares[0].Ciphertext, b.Shares[1].Ciphertext = b.Shares[1].Ciphertext, b.Shares[0].Ciphertext
			return b.Shares[0].Peer
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, lit)
			r := f.adv(t, 21)
			r.through(2)
			const recv = 2
			b := wire(t, r.bundles[recv])
			if len(b.Shares) != 4 {
				t.Fatalf("bundle of party %d has %d shares, want 4", recv, len(b.Shares))
			}
			sender := tc.mod(b)
			m, err := r.cl[recv].MaskedInputQuantized(wire(t, b), slices.Clone(r.in[recv]), nil)
			if m != nil {
				t.Fatal("a masked input was returned despite a tampered share")
			}
			wantPartyErr(t, err, sender, ErrDecrypt)
			// The client does not go on.
			if _, err := r.cl[recv].MaskedInputQuantized(r.bundles[recv], slices.Clone(r.in[recv]), nil); err == nil {
				t.Fatal("the client accepted step 3 again after refusing a bundle")
			}
		})
	}
	// An untampered bundle with a ciphertext replayed from another round
	// (same identities and pair) does not open either.
	t.Run("other-round", func(t *testing.T) {
		f := newFixture(t, lit)
		r := f.adv(t, 22)
		r.through(2)
		g := *f
		g.round = RoundID{0x42}
		r2 := newAdvRound(t, &g, r.in, nil)
		r2.through(2)
		const recv = 1
		b := wire(t, r.bundles[recv])
		b2 := r2.bundles[recv]
		b.Shares[0].Ciphertext = b2.Shares[0].Ciphertext
		_, err := r.cl[recv].MaskedInputQuantized(wire(t, b), slices.Clone(r.in[recv]), nil)
		wantPartyErr(t, err, b.Shares[0].Peer, ErrDecrypt)
	})
}

// TestAdvShareBundleDuplicatePeer: a bundle listing one sender twice (which
// the wire decoder refuses; here passed in memory) must not make the client
// count that neighbour twice toward T or apply its pairwise mask twice.
func TestAdvShareBundleDuplicatePeer(t *testing.T) {
	f := newFixture(t, ParamsLiteral{N: 5, K: 4, T: 3, RingBits: 32, Dim: 4, Lo: -1, Hi: 1})
	r := f.adv(t, 23)
	r.through(2)
	b := wire(t, r.bundles[0])
	b.Shares = []EncryptedShare{b.Shares[0], b.Shares[0], b.Shares[1]} // 2 distinct senders < T
	m, err := r.cl[0].MaskedInputQuantized(b, slices.Clone(r.in[0]), nil)
	if err == nil || m != nil {
		t.Fatal("Client.MaskedInputQuantized accepted a ShareBundle that lists one sender twice")
	}
}

// ---------------------------------------------------------------------------
// 3. Wrong signatures.

var advLit7 = ParamsLiteral{N: 7, K: 4, T: 3, RingBits: 32, Dim: 33, Lo: -1, Hi: 1}

func TestAdvBadAdvertiseSignature(t *testing.T) {
	for _, field := range []string{"Sig", "EncKey", "MaskKey"} {
		t.Run(field, func(t *testing.T) {
			f := newFixture(t, advLit7)
			r := f.adv(t, 31)
			const bad = 2
			var genuine *AdvertiseKeys
			errs := r.advertise(func(p uint32, m *AdvertiseKeys) {
				if p != bad {
					return
				}
				genuine = wire(t, m)
				switch field {
				case "Sig":
					m.Sig[5] ^= 1
				case "EncKey":
					m.EncKey[0] ^= 1
				case "MaskKey":
					m.MaskKey[31] ^= 0x20
				}
			})
			if len(errs) != 1 {
				t.Fatalf("server refused %v, want only party %d", errs, bad)
			}
			wantPartyErr(t, errs[bad], bad, ErrBadMessage)
			// Excluded: even its genuine message is refused now.
			if err := r.srv.AddAdvertiseKeys(genuine); err == nil {
				t.Fatal("the server accepted a message from a party it excluded")
			}
			r.gone[bad] = true
			r.must(r.keyList())
			for _, k := range r.kl.Keys {
				if k.Sender == bad {
					t.Fatal("the excluded party is in the key list")
				}
			}
			res, err := r.runFrom(1)
			if err != nil {
				t.Fatal(err)
			}
			checkSum(t, res, r.in, without(7, bad))
			wantMisbehaved(t, res, bad)
		})
	}
}

func TestAdvKeyListAltered(t *testing.T) {
	cases := []struct {
		name string
		mod  func(kl *KeyList, i int)
	}{
		{"mask-key", func(kl *KeyList, i int) { kl.Keys[i].MaskKey[3] ^= 1 }},
		{"enc-key", func(kl *KeyList, i int) { kl.Keys[i].EncKey[30] ^= 0x40 }},
		{"sig", func(kl *KeyList, i int) { kl.Keys[i].Sig[63] ^= 0x01 }},
		{"keys-of-another-party", func(kl *KeyList, i int) {
			// Another party's valid keys and signature, relabelled.
			j := (i + 1) % len(kl.Keys)
			s := kl.Keys[i].Sender
			kl.Keys[i] = kl.Keys[j]
			kl.Keys[i].Sender = s
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, advLit7)
			r := f.adv(t, 32)
			r.through(1)
			const me = 0
			nb := f.p.Neighbours(f.round, me)
			kl := wire(t, r.kl)
			i := slices.IndexFunc(kl.Keys, func(k AdvertiseKeys) bool { return k.Sender == nb[1] })
			tc.mod(kl, i)
			m, err := r.cl[me].ShareKeys(wire(t, kl))
			if m != nil {
				t.Fatal("shares were sent despite an altered key list")
			}
			wantPartyErr(t, err, serverParty, ErrBadMessage)
		})
	}
	t.Run("own-keys", func(t *testing.T) {
		f := newFixture(t, advLit7)
		r := f.adv(t, 33)
		r.through(1)
		kl := wire(t, r.kl)
		kl.Keys[4].MaskKey[0] ^= 1
		if m, err := r.cl[4].ShareKeys(kl); err == nil || m != nil {
			t.Fatalf("party 4 accepted a key list with its own key altered: %v", err)
		}
	})
}

// ---------------------------------------------------------------------------
// 4. Replays from another round, and duplicates.

// TestAdvReplayClient: every client step refuses a message for another
// round.
func TestAdvReplayClient(t *testing.T) {
	other := RoundID{0x99, 1}
	otherAdvert := func(t *testing.T, f *fixture, p uint32) AdvertiseKeys {
		c, err := NewClient(f.p, other, p, f.keys[p], f.roster, f.backend, newTestRand(77))
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.AdvertiseKeys()
		if err != nil {
			t.Fatal(err)
		}
		return *m
	}
	const me = 0
	cases := []struct {
		name string
		step int // the client step the altered message is for
		run  func(t *testing.T, f *fixture, r *advRound) (any, error)
	}{
		{"KeyList", 2, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			kl := wire(t, r.kl)
			kl.Round = other
			return r.cl[me].ShareKeys(kl)
		}},
		{"KeyList-entry-from-other-round", 2, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			kl := wire(t, r.kl)
			v := f.p.Neighbours(f.round, me)[0]
			kl.Keys[v] = otherAdvert(t, f, v) // a genuine, signed message of the other round
			return r.cl[me].ShareKeys(wire(t, kl))
		}},
		{"KeyList-entry-relabelled", 2, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			kl := wire(t, r.kl)
			v := f.p.Neighbours(f.round, me)[0]
			kl.Keys[v] = otherAdvert(t, f, v)
			kl.Keys[v].Round = f.round
			return r.cl[me].ShareKeys(wire(t, kl))
		}},
		{"ShareBundle", 3, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			b := wire(t, r.bundles[me])
			b.Round = other
			return r.cl[me].MaskedInputQuantized(b, slices.Clone(r.in[me]), nil)
		}},
		{"ShareBundle-for-another-party", 3, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			return r.cl[me].MaskedInputQuantized(wire(t, r.bundles[me+1]), slices.Clone(r.in[me]), nil)
		}},
		{"SurvivorList", 4, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			sl := wire(t, r.sl)
			sl.Round = other
			return r.cl[me].ConsistencyCheck(sl)
		}},
		{"UnmaskRequest", 5, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			req := wire(t, r.req)
			req.Round = other
			return r.cl[me].Unmask(req)
		}},
		{"UnmaskRequest-all-from-other-round", 5, func(t *testing.T, f *fixture, r *advRound) (any, error) {
			req := &UnmaskRequest{Round: other, Survivors: r.sl.Survivors}
			for _, p := range r.sl.Survivors {
				req.Signatures = append(req.Signatures, f.signList(t, other, p, r.sl.Survivors))
			}
			return r.cl[me].Unmask(wire(t, req))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, advLit7)
			r := f.adv(t, 41)
			r.through(tc.step - 1)
			m, err := tc.run(t, f, r)
			if err == nil {
				t.Fatal("the client accepted a message for another round or party")
			}
			if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrConflict) {
				t.Fatalf("%v: want ErrBadMessage or ErrConflict", err)
			}
			if !isNil(m) {
				t.Fatalf("the client returned %v along with its refusal", m)
			}
		})
	}
}

func isNil(v any) bool {
	switch m := v.(type) {
	case *ShareKeys:
		return m == nil
	case *MaskedInput:
		return m == nil
	case *ConsistencySig:
		return m == nil
	case *UnmaskShares:
		return m == nil
	}
	return v == nil
}

// TestAdvReplayServer: at every step, the server refuses a message from
// another round, and a second message from one party, and excludes the
// party; the round completes without it.
func TestAdvReplayServer(t *testing.T) {
	other := RoundID{0x55}
	lit := ParamsLiteral{N: 7, K: 6, T: 4, RingBits: 32, Dim: 19, Lo: -1, Hi: 1}
	const bad = 3
	for _, kind := range []string{"other-round", "duplicate"} {
		for step := 1; step <= 5; step++ {
			t.Run(fmt.Sprintf("%s/step%d", kind, step), func(t *testing.T) {
				f := newFixture(t, lit)
				r := f.adv(t, uint64(40+step))
				r.through(step - 1)
				// send delivers m's copy with the replay or duplicate
				// applied: for other-round before the genuine message,
				// for duplicate after it.
				var refused error
				first := kind == "other-round"
				hook := func(p uint32, add func() error, alter func()) {
					if p != bad {
						return
					}
					if first {
						alter()
						refused = add()
						alter()
					} else {
						if err := add(); err != nil {
							t.Fatalf("genuine message refused: %v", err)
						}
						refused = add()
					}
				}
				var errs map[uint32]error
				switch step {
				case 1:
					errs = r.advertise(func(p uint32, m *AdvertiseKeys) {
						hook(p, func() error { return r.srv.AddAdvertiseKeys(wire(t, m)) }, func() { m.Round, other = other, m.Round })
					})
					r.must(r.keyList())
				case 2:
					errs = r.shareKeys(func(p uint32, m *ShareKeys) {
						hook(p, func() error { return r.srv.AddShareKeys(wire(t, m)) }, func() { m.Round, other = other, m.Round })
					})
					r.must(r.shareBundles())
				case 3:
					errs = r.maskedInputs(func(p uint32, m *MaskedInput) {
						hook(p, func() error { return r.srv.AddMaskedInput(wire(t, m)) }, func() { m.Round, other = other, m.Round })
					})
					r.must(r.survivorList())
				case 4:
					errs = r.consistency(func(p uint32, m *ConsistencySig) {
						hook(p, func() error { return r.srv.AddConsistencySig(wire(t, m)) }, func() { m.Round, other = other, m.Round })
					})
					r.must(r.unmaskRequest())
				case 5:
					errs = r.unmask(func(p uint32, m *UnmaskShares) {
						hook(p, func() error { return r.srv.AddUnmaskShares(wire(t, m)) }, func() { m.Round, other = other, m.Round })
					})
				}
				wantPartyErr(t, refused, bad, ErrBadMessage)
				// The genuine message after a replay, or the third copy
				// after a duplicate, is refused too: the party is out.
				for p, err := range errs {
					if p != bad {
						t.Fatalf("party %d refused: %v", p, err)
					}
				}
				if first && errs[bad] == nil {
					t.Fatal("the genuine message of a party excluded for a replay was accepted")
				}
				r.gone[bad] = true
				res, err := r.runFrom(step)
				if err != nil {
					t.Fatal(err)
				}
				// An input once in the sum stays there: a party excluded
				// after its masked input was accepted is a contributor.
				contributors := without(7, bad)
				if step >= 4 || (step == 3 && !first) {
					contributors = without(7)
				}
				checkSum(t, res, r.in, contributors)
				wantMisbehaved(t, res, bad)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// 5. Misbehaving parties mid-round.

func TestAdvBadMaskedInput(t *testing.T) {
	lit := ParamsLiteral{N: 7, K: 6, T: 4, RingBits: 32, Dim: 21, Lo: -1, Hi: 1}
	cases := []struct {
		name string
		mod  func(m *MaskedInput)
	}{
		{"short", func(m *MaskedInput) { m.Words32 = m.Words32[:20] }},
		{"long", func(m *MaskedInput) { m.Words32 = append(m.Words32, 1) }},
		{"empty", func(m *MaskedInput) { m.Words32 = nil }},
		{"wrong-ring", func(m *MaskedInput) {
			m.Words64 = make([]uint64, len(m.Words32))
			m.Words32 = nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, lit)
			r := f.adv(t, 51)
			r.through(2)
			const bad = 5
			errs := r.maskedInputs(func(p uint32, m *MaskedInput) {
				if p == bad {
					tc.mod(m)
				}
			})
			if len(errs) != 1 {
				t.Fatalf("refused %v, want party %d only", errs, bad)
			}
			wantPartyErr(t, errs[bad], bad, ErrBadMessage)
			r.must(r.survivorList())
			if slices.Contains(r.sl.Survivors, bad) {
				t.Fatal("the refused party is on the survivor list")
			}
			res, err := r.runFrom(3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Contributors, without(7, bad)) {
				t.Fatalf("contributors %v", res.Contributors)
			}
			wantMisbehaved(t, res, bad)
			if !sumIs(res, r.in, without(7, bad)) {
				t.Fatal("the sum holds the excluded party's pairwise masks")
			}
		})
	}
}

func TestAdvBadUnmaskShares(t *testing.T) {
	lit := ParamsLiteral{N: 7, K: 6, T: 4, RingBits: 32, Dim: 17, Lo: -1, Hi: 1}
	cases := []struct {
		name string
		mod  func(m *UnmaskShares)
	}{
		{"wrong-kind", func(m *UnmaskShares) { m.Shares[1].Kind = MaskKeyShare }},
		{"wrong-index", func(m *UnmaskShares) { m.Shares[0].Share.Index++ }},
		{"zero-index", func(m *UnmaskShares) { m.Shares[2].Share.Index = 0 }},
		{"missing-share", func(m *UnmaskShares) { m.Shares = m.Shares[:len(m.Shares)-1] }},
		{"no-shares", func(m *UnmaskShares) { m.Shares = nil }},
		{"wrong-party", func(m *UnmaskShares) { m.Shares[len(m.Shares)-1].Of = 6 }}, // sender 6 holds no share of itself
		{"extra-share", func(m *UnmaskShares) {
			m.Shares = append(m.Shares, RevealedShare{Of: 6, Kind: SelfSeedShare, Share: m.Shares[0].Share})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, lit)
			r := f.adv(t, 52)
			r.through(4)
			const bad = 6 // it holds shares of 0..5; Of = 6 is itself
			errs := r.unmask(func(p uint32, m *UnmaskShares) {
				if p == bad {
					tc.mod(m)
				}
			})
			if len(errs) != 1 {
				t.Fatalf("refused %v, want party %d only", errs, bad)
			}
			wantPartyErr(t, errs[bad], bad, ErrBadMessage)
			res, err := r.srv.Finish()
			if err != nil {
				t.Fatal(err)
			}
			checkSum(t, res, r.in, without(7)) // every party's input was in
			wantMisbehaved(t, res, bad)
		})
	}
	// Too many bad revealers: each secret has 6 holders, T = 4, so three
	// excluded revealers leave 3 shares and the round must fail cleanly.
	t.Run("too-many-bad", func(t *testing.T) {
		f := newFixture(t, lit)
		r := f.adv(t, 53)
		r.through(4)
		errs := r.unmask(func(p uint32, m *UnmaskShares) {
			if p >= 4 {
				m.Shares[0].Share.Index++
			}
		})
		if len(errs) != 3 {
			t.Fatalf("refused %v, want parties 4, 5, 6", errs)
		}
		res, err := r.srv.Finish()
		if !errors.Is(err, ErrTooFewSurvivors) || res != nil {
			t.Fatalf("Finish: %v, %v; want ErrTooFewSurvivors and no result", res, err)
		}
	})
}

// ---------------------------------------------------------------------------
// 6. Dropouts at the threshold and one past it, at every step.

// TestAdvDropoutThreshold: n = 10, K = 6, T = 4. Any two dropouts leave
// every party at least T = 4 of its 6 neighbours, so the round completes
// exactly when party 0 loses two neighbours (the most it can); a third
// neighbour of party 0 gone leaves it T-1 and the round must end with
// ErrTooFewSurvivors and no result (party 0 cannot mask, or its self-mask
// seed cannot be recovered, depending on the step).
func TestAdvDropoutThreshold(t *testing.T) {
	const n, k, thr, d = 10, 6, 4, 64
	for step := 1; step <= 5; step++ {
		f := newFixture(t, ParamsLiteral{N: n, K: k, T: thr, RingBits: 32, Dim: d, Lo: -1, Hi: 1})
		nb := f.p.Neighbours(f.round, 0)
		in := randInputs32(n, d, uint64(60+step))
		t.Run(fmt.Sprintf("step%d/at-threshold", step), func(t *testing.T) {
			dropped := nb[:k-thr]
			res, err := f.runRound(t, in, nil, drops{step: dropped})
			if err != nil {
				t.Fatal(err)
			}
			want := without(n, dropped...)
			if step >= 4 { // dropped after sending their input
				want = without(n)
			}
			checkSum(t, res, in, want)
		})
		t.Run(fmt.Sprintf("step%d/one-past", step), func(t *testing.T) {
			dropped := nb[:k-thr+1]
			res, err := f.runRound(t, in, nil, drops{step: dropped})
			if !errors.Is(err, ErrTooFewSurvivors) || res != nil {
				t.Fatalf("%d of party 0's neighbours dropped before step %d: %v, %v; want ErrTooFewSurvivors and no result",
					len(dropped), step, res, err)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 7. Sizes.

func TestAdvSizes(t *testing.T) {
	cases := []struct {
		n, k, thr, d int
		long         bool
		maxSigs      int
	}{
		{2, 1, 1, 5, false, 0},
		{3, 2, 2, 9, false, 0},
		{10, 6, 4, 100, false, 0},
		// Every client checks every signature of the unmasking request,
		// O(n^2) verifications for n in-process clients, so for n >= 100
		// the request is cut to 2T signatures (still valid: at least T,
		// all over the same list) to keep -race fast.
		{100, 20, 12, 10, false, 24},
		{10, 6, 4, 1_000_000, true, 0},
		{1000, 20, 12, 10, true, 24},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("n=%d,k=%d,t=%d,d=%d", tc.n, tc.k, tc.thr, tc.d), func(t *testing.T) {
			if tc.long && testing.Short() {
				t.Skip("long; skipped with -short")
			}
			f := newFixture(t, ParamsLiteral{N: tc.n, K: tc.k, T: tc.thr, RingBits: 32, Dim: tc.d, Lo: -1, Hi: 1})
			r := f.adv(t, uint64(tc.n))
			r.maxSigs = tc.maxSigs
			res, err := r.runFrom(0)
			if err != nil {
				t.Fatal(err)
			}
			checkSum(t, res, r.in, without(tc.n))
		})
	}
}

// ---------------------------------------------------------------------------
// 8. A masked vector looks uniform.

// chiSquare255At1e6 is the upper 1e-6 quantile of the chi-square
// distribution with 255 degrees of freedom (Wilson–Hilferty: 377.25).
const chiSquare255At1e6 = 377.25

// chiSquare returns the chi-square statistic of 256 counts against the
// uniform distribution.
func chiSquare(counts *[256]int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	e := float64(total) / 256
	var x float64
	for _, c := range counts {
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

// byteHistograms returns, for the bytes of words (little-endian), the
// histogram of all bytes and one per byte position in the word.
func byteHistograms(words []uint32) (all [256]int, pos [4][256]int) {
	for _, w := range words {
		for i := range 4 {
			b := byte(w >> (8 * i))
			all[b]++
			pos[i][b]++
		}
	}
	return all, pos
}

// checkUniform fails the test if any histogram of words is above the
// threshold.
func checkUniform(t *testing.T, what string, words []uint32) {
	t.Helper()
	all, pos := byteHistograms(words)
	if x := chiSquare(&all); x > chiSquare255At1e6 {
		t.Errorf("%s: chi-square of the byte histogram is %.1f > %.1f", what, x, chiSquare255At1e6)
	}
	for i := range pos {
		if x := chiSquare(&pos[i]); x > chiSquare255At1e6 {
			t.Errorf("%s: chi-square of byte %d of each word is %.1f > %.1f", what, i, x, chiSquare255At1e6)
		}
	}
}

// maskedVector runs a fixed round of 3 parties through step 3 with every
// input equal to fill and returns party 0's masked input.
func maskedVector(t *testing.T, d int, fill uint32) []uint32 {
	f := newFixture(t, ParamsLiteral{N: 3, K: 2, T: 2, RingBits: 32, Dim: d, Lo: -1, Hi: 1})
	in := make([][]uint32, 3)
	for i := range in {
		in[i] = make([]uint32, d)
		for j := range in[i] {
			in[i][j] = fill
		}
	}
	r := newAdvRound(t, f, in, nil)
	r.through(3)
	return r.masked[0].Words32
}

// TestAdvMaskedUniform applies a chi-square test to the byte histograms of
// one masked vector (n = 3, d = 2^16, fixed seeds, all-zero input): over
// all 2^18 bytes, and separately over byte 0, 1, 2 and 3 of each 32-bit
// word, each against the uniform distribution at p ≈ 1e-6 (threshold
// 377.25 for 255 degrees of freedom).
//
// What it can show: that the masked vector has no gross bias in its
// marginal byte distribution — it would catch masks that are not applied,
// that cancel within one party's vector, a PRG stuck on a short period or
// with zeroed or biased bytes, or masking applied to part of the vector
// only (the last check shows that clearing one byte in 1% of the words is
// caught). What it cannot show: cryptographic indistinguishability, which
// rests on AES-CTR and HKDF being pseudorandom and on the key agreement;
// dependence between words, between positions far apart, or between
// rounds; or anything about other seeds: the seeds are fixed, so the test
// is deterministic and passes or fails always.
func TestAdvMaskedUniform(t *testing.T) {
	const d = 1 << 16
	zero := maskedVector(t, d, 0)
	checkUniform(t, "all-zero input", zero)
	full := maskedVector(t, d, ^uint32(0))
	checkUniform(t, "all-max input", full)
	// The same seeds give the same masks whatever the input: the masked
	// vectors differ by exactly the inputs' difference, -1 in every word.
	for j := range zero {
		if full[j] != zero[j]-1 {
			t.Fatalf("word %d: masked all-max %#x, masked all-zero %#x: masks depend on the input", j, full[j], zero[j])
		}
	}
	// The test has power: a vector with the top byte of 1% of its words
	// cleared fails it.
	biased := slices.Clone(zero)
	for j := 0; j < d; j += 100 {
		biased[j] &= 0x00ffffff
	}
	_, pos := byteHistograms(biased)
	if x := chiSquare(&pos[3]); x <= chiSquare255At1e6 {
		t.Fatalf("a vector with the top byte of 1%% of its words cleared passes the test (%.1f)", x)
	}
	// And so does the input itself, unmasked.
	all, _ := byteHistograms(make([]uint32, d))
	if x := chiSquare(&all); x <= chiSquare255At1e6 {
		t.Fatal("an all-zero vector passes the test")
	}
}

// ---------------------------------------------------------------------------
// 9. Golden vectors for the masks of a fixed round.

// goldenMasks is testdata/secagg/masks/round.json.
type goldenMasks struct {
	Comment        string   `json:"comment"`
	Round          string   `json:"round"`
	PairwiseSeed01 string   `json:"pairwise_seed_0_1"`
	Masked32       []string `json:"masked_input_0_u32"` // the first 16 words, hex
	Masked64       []string `json:"masked_input_0_u64"`
}

const goldenMasksComment = "SecAgg+ round of N=3, K=2, T=2, Dim=16, round ID bytes 0x00..0x1f, " +
	"identity i from seed {0x1d, i, 0...}, client i's randomness ChaCha8 seeded {'m', i, 0...}; all inputs zero. " +
	"pairwise_seed_0_1: HKDF mask seed of parties 0 and 1; masked_input_0_*: the first 16 words of party 0's " +
	"masked input in Z/2^32 and Z/2^64 (self mask + pairwise masks). Regenerate: go test -run TestGoldenMasks -update-masks"

// goldenMaskRound runs the fixed round through step 3 in ring bits and
// returns party 0's and party 1's clients and party 0's masked input.
func goldenMaskRound(t *testing.T, bits int) (*advRound, *MaskedInput) {
	t.Helper()
	const n, d = 3, 16
	p, err := NewParams(ParamsLiteral{N: n, K: 2, T: 2, RingBits: bits, Dim: d, Lo: -1, Hi: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, p.Literal())
	for i := range f.round {
		f.round[i] = byte(i)
	}
	f.keys, f.roster = nil, nil
	for i := range n {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = 0x1d, byte(i)
		k := ed25519.NewKeyFromSeed(seed)
		f.keys = append(f.keys, k)
		f.roster = append(f.roster, k.Public().(ed25519.PublicKey))
	}
	randFor := func(i int) io.Reader {
		var s [32]byte
		s[0], s[1] = 'm', byte(i)
		return rand.NewChaCha8(s)
	}
	r := newAdvRound(t, f, nil, randFor)
	r.through(2)
	var q32 []uint32
	var q64 []uint64
	if bits == 32 {
		q32 = make([]uint32, d)
	} else {
		q64 = make([]uint64, d)
	}
	m, err := r.cl[0].MaskedInputQuantized(r.bundles[0], q32, q64)
	if err != nil {
		t.Fatal(err)
	}
	return r, m
}

func TestGoldenMasks(t *testing.T) {
	r32, m32 := goldenMaskRound(t, 32)
	r64, m64 := goldenMaskRound(t, 64)
	// The pairwise seed, from both sides; the same in both rings (the
	// keys come from the same readers).
	seed := func(r *advRound, a, b uint32) [32]byte {
		pk := r.kl.Keys[b].MaskKey
		s, err := pairwiseSeed(r.cl[a].maskSK, &pk, r.f.round, a, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s01 := seed(r32, 0, 1)
	if seed(r32, 1, 0) != s01 || seed(r64, 0, 1) != s01 {
		t.Fatal("the pairwise seed of parties 0 and 1 differs between the two sides or the two rings")
	}
	// Party 0's masked zero input is its self mask plus its masks with 1
	// and 2 (0 < both, so both are added).
	want32 := make([]uint32, 16)
	for _, s := range []tensor.Seed{r32.cl[0].selfSeed, s01, seed(r32, 0, 2)} {
		r32.f.backend.ExpandAddU32(want32, &s)
	}
	want64 := make([]uint64, 16)
	for _, s := range []tensor.Seed{r64.cl[0].selfSeed, seed(r64, 0, 1), seed(r64, 0, 2)} {
		r64.f.backend.ExpandAddU64(want64, &s)
	}
	if !slices.Equal(m32.Words32, want32) || !slices.Equal(m64.Words64, want64) {
		t.Fatal("party 0's masked zero input is not PRG(self seed) + PRG(seed 0,1) + PRG(seed 0,2)")
	}
	got := goldenMasks{
		Comment:        goldenMasksComment,
		Round:          hex.EncodeToString(r32.f.round[:]),
		PairwiseSeed01: hex.EncodeToString(s01[:]),
	}
	for _, w := range m32.Words32 {
		got.Masked32 = append(got.Masked32, fmt.Sprintf("%08x", w))
	}
	for _, w := range m64.Words64 {
		got.Masked64 = append(got.Masked64, fmt.Sprintf("%016x", w))
	}
	path := filepath.Join(masksGoldenDir, "round.json")
	if updateMasks() {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(masksGoldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenMasks -update-masks to create it)", err)
	}
	var want goldenMasks
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if want.Round != got.Round {
		t.Fatalf("round %s, golden %s", got.Round, want.Round)
	}
	if want.PairwiseSeed01 != got.PairwiseSeed01 {
		t.Errorf("pairwise seed of parties 0 and 1: %s, golden %s", got.PairwiseSeed01, want.PairwiseSeed01)
	}
	if !slices.Equal(want.Masked32, got.Masked32) {
		t.Errorf("party 0's masked input (Z/2^32): %v, golden %v", got.Masked32, want.Masked32)
	}
	if !slices.Equal(want.Masked64, got.Masked64) {
		t.Errorf("party 0's masked input (Z/2^64): %v, golden %v", got.Masked64, want.Masked64)
	}
}
