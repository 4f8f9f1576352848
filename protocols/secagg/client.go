package secagg

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"
	"io"
	"slices"

	"github.com/cohort-mpc/cohort/protocols"
	"github.com/cohort-mpc/cohort/tensor"
)

// Client is one party's side of one SecAgg+ round: a value with one method
// per step, each taking what the server sent and returning what to send it.
// It does no I/O; randomness comes from the io.Reader it is given, so a seeded
// reader reproduces a round exactly. A Client is not safe for concurrent use.
//
// The steps, in order: AdvertiseKeys, ShareKeys, MaskedInput (or
// MaskedInputQuantized), ConsistencyCheck, Unmask. Each may be called once; a
// step that fails leaves the client unable to continue the round.
type Client struct {
	params  *Params
	round   RoundID
	me      uint32
	signer  crypto.Signer
	roster  []ed25519.PublicKey
	backend tensor.Backend
	rand    io.Reader

	graph      *Graph
	neighbours []uint32 // sorted; share index of neighbours[i] is i+1
	next       int      // the next step: 1..5, 6 when done, 0 when failed

	encSK, maskSK *ecdh.PrivateKey
	selfSeed      [32]byte

	peers    map[uint32]*AdvertiseKeys // neighbours that advertised valid keys
	held     map[uint32]*SharePlaintext
	maskedBy []uint32 // neighbours whose shares arrived: the pairwise masks applied
	signed   []uint32 // the survivor list signed in step 4
}

// NewClient prepares party me for the round. roster holds every party's
// Ed25519 identity key by index; signer signs with me's key. The backend
// runs the masking; rand supplies every secret the client makes.
func NewClient(p *Params, round RoundID, me uint32, signer crypto.Signer, roster []ed25519.PublicKey,
	backend tensor.Backend, rand io.Reader) (*Client, error) {
	if len(roster) != p.N() {
		return nil, fmt.Errorf("%w: roster has %d keys for N = %d parties", ErrParams, len(roster), p.N())
	}
	if int(me) >= p.N() {
		return nil, fmt.Errorf("%w: party %d out of range for N = %d", ErrParams, me, p.N())
	}
	if pub, ok := signer.Public().(ed25519.PublicKey); !ok || !pub.Equal(roster[me]) {
		return nil, fmt.Errorf("%w: signer's key is not party %d's key in the roster", ErrParams, me)
	}
	g := p.Graph(round)
	return &Client{
		params: p, round: round, me: me, signer: signer, roster: roster, backend: backend, rand: rand,
		graph: g, neighbours: g.Neighbours(me), next: 1,
	}, nil
}

// step checks that step n is the next one and marks the client failed until
// the step succeeds.
func (c *Client) step(n int, name string) error {
	if c.next != n {
		if c.next == 0 {
			return fmt.Errorf("%w: %s after a failed step", ErrStep, name)
		}
		return fmt.Errorf("%w: %s is step %d, the client is at step %d", ErrStep, name, n, c.next)
	}
	c.next = 0
	return nil
}

func (c *Client) checkRound(r RoundID, from uint32, step string) error {
	if r != c.round {
		return bad(from, step, "message for another round")
	}
	return nil
}

// AdvertiseKeys is step 1: it makes the round's key pairs and self-mask seed
// and returns the signed public keys.
func (c *Client) AdvertiseKeys() (*AdvertiseKeys, error) {
	if err := c.step(1, "AdvertiseKeys"); err != nil {
		return nil, err
	}
	var err error
	if c.encSK, err = newX25519(c.rand); err != nil {
		return nil, err
	}
	if c.maskSK, err = newX25519(c.rand); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.rand, c.selfSeed[:]); err != nil {
		return nil, fmt.Errorf("secagg: reading the self-mask seed: %w", err)
	}
	m := &AdvertiseKeys{Round: c.round, Sender: c.me}
	copy(m.EncKey[:], c.encSK.PublicKey().Bytes())
	copy(m.MaskKey[:], c.maskSK.PublicKey().Bytes())
	if m.Sig, err = sign(c.signer, advertiseSigned(c.round, c.me, &m.EncKey, &m.MaskKey)); err != nil {
		return nil, err
	}
	c.next = 2
	return m, nil
}

// ShareKeys is step 2: it checks the neighbours' signed keys in the server's
// list and returns, encrypted for each, its shares of this party's
// mask-agreement key and self-mask seed. Fewer than T neighbours with valid
// keys ends the round (ErrTooFewSurvivors).
func (c *Client) ShareKeys(keys *KeyList) (*ShareKeys, error) {
	if err := c.step(2, "ShareKeys"); err != nil {
		return nil, err
	}
	if err := c.checkRound(keys.Round, serverParty, "KeyList"); err != nil {
		return nil, err
	}
	c.peers = make(map[uint32]*AdvertiseKeys, len(c.neighbours))
	own := false
	for i := range keys.Keys {
		k := &keys.Keys[i]
		if k.Sender == c.me {
			own = k.EncKey == [32]byte(c.encSK.PublicKey().Bytes()) && k.MaskKey == [32]byte(c.maskSK.PublicKey().Bytes())
			continue
		}
		if _, ok := slices.BinarySearch(c.neighbours, k.Sender); !ok {
			continue
		}
		if k.Round != c.round || int(k.Sender) >= len(c.roster) ||
			!verify(c.roster[k.Sender], advertiseSigned(k.Round, k.Sender, &k.EncKey, &k.MaskKey), &k.Sig) {
			return nil, bad(serverParty, "KeyList", "keys of party %d do not carry its signature for this round", k.Sender)
		}
		c.peers[k.Sender] = k
	}
	if !own {
		return nil, bad(serverParty, "KeyList", "this party's own keys are missing or altered")
	}
	if len(c.peers) < c.params.T() {
		return nil, fmt.Errorf("%w: %d of %d neighbours advertised keys, threshold %d", ErrTooFewSurvivors, len(c.peers), len(c.neighbours), c.params.T())
	}
	var maskSecret [32]byte
	copy(maskSecret[:], c.maskSK.Bytes())
	keyShares, err := splitSecret(&maskSecret, c.params.T(), len(c.neighbours), c.rand)
	clear(maskSecret[:])
	if err != nil {
		return nil, err
	}
	seedShares, err := splitSecret(&c.selfSeed, c.params.T(), len(c.neighbours), c.rand)
	if err != nil {
		return nil, err
	}
	out := &ShareKeys{Round: c.round, Sender: c.me}
	for i, v := range c.neighbours {
		peer, ok := c.peers[v]
		if !ok {
			continue
		}
		pt := SharePlaintext{Round: c.round, Sender: c.me, Receiver: v, MaskKey: keyShares[i], SelfSeed: seedShares[i]}
		b, err := pt.MarshalBinary()
		if err != nil {
			return nil, err
		}
		ct, err := sealShares(c.encSK, &peer.EncKey, c.round, c.me, v, b)
		clear(b)
		if err != nil {
			return nil, err
		}
		out.Shares = append(out.Shares, EncryptedShare{Peer: v, Ciphertext: ct})
	}
	c.next = 3
	return out, nil
}

// MaskedInput is step 3 for a float input: it quantises x with the round's
// fixed-point encoding (rounding randomness from the client's reader) and
// returns it masked.
func (c *Client) MaskedInput(bundle *ShareBundle, x []float64) (*MaskedInput, error) {
	if c.next != 3 {
		return nil, c.step(3, "MaskedInput")
	}
	if len(x) != c.params.Dim() {
		return nil, fmt.Errorf("%w: input has %d values, the round has Dim = %d", ErrParams, len(x), c.params.Dim())
	}
	var seed tensor.Seed
	if _, err := io.ReadFull(c.rand, seed[:]); err != nil {
		return nil, fmt.Errorf("secagg: reading the rounding seed: %w", err)
	}
	fp := c.params.FixedPoint()
	if c.params.RingBits() == 32 {
		q := make([]uint32, len(x))
		c.backend.QuantizeF64U32(fp, q, x, &seed)
		return c.MaskedInputQuantized(bundle, q, nil)
	}
	q := make([]uint64, len(x))
	c.backend.QuantizeF64U64(fp, q, x, &seed)
	return c.MaskedInputQuantized(bundle, nil, q)
}

// MaskedInputQuantized is step 3 for an input already in the ring: q32 in
// Z/2^32 or q64 in Z/2^64, as the round's RingBits says (the other nil). It
// opens the shares the neighbours sent, then adds the self mask and the
// pairwise masks in place, so the returned message holds the caller's slice.
func (c *Client) MaskedInputQuantized(bundle *ShareBundle, q32 []uint32, q64 []uint64) (*MaskedInput, error) {
	if err := c.step(3, "MaskedInput"); err != nil {
		return nil, err
	}
	if (c.params.RingBits() == 32) != (q32 != nil) || (q32 == nil) == (q64 == nil) ||
		max(len(q32), len(q64)) != c.params.Dim() {
		return nil, fmt.Errorf("%w: want one input of Dim = %d words in Z/2^%d", ErrParams, c.params.Dim(), c.params.RingBits())
	}
	if err := c.checkRound(bundle.Round, serverParty, "ShareBundle"); err != nil {
		return nil, err
	}
	if bundle.Receiver != c.me {
		return nil, bad(serverParty, "ShareBundle", "bundle for party %d", bundle.Receiver)
	}
	c.held = make(map[uint32]*SharePlaintext, len(bundle.Shares))
	for i, s := range bundle.Shares {
		if i > 0 && s.Peer <= bundle.Shares[i-1].Peer {
			return nil, bad(serverParty, "ShareBundle", "shares not in increasing order of sender")
		}
		peer, ok := c.peers[s.Peer]
		if !ok {
			return nil, bad(serverParty, "ShareBundle", "shares from party %d, which is not a neighbour with keys", s.Peer)
		}
		b, err := openShares(c.encSK, &peer.EncKey, c.round, s.Peer, c.me, s.Ciphertext)
		if err != nil {
			return nil, &PartyError{Party: s.Peer, Step: "ShareKeys", Err: err}
		}
		var pt SharePlaintext
		err = pt.UnmarshalBinary(b)
		clear(b)
		if err != nil {
			return nil, &PartyError{Party: s.Peer, Step: "ShareKeys", Err: err}
		}
		idx := c.shareIndex(s.Peer)
		if pt.Round != c.round || pt.Sender != s.Peer || pt.Receiver != c.me || pt.MaskKey.Index != idx || pt.SelfSeed.Index != idx {
			return nil, bad(s.Peer, "ShareKeys", "decrypted shares are bound to another round, pair or index")
		}
		c.held[s.Peer] = &pt
		c.maskedBy = append(c.maskedBy, s.Peer)
	}
	if len(c.maskedBy) < c.params.T() {
		return nil, fmt.Errorf("%w: shares from %d neighbours, threshold %d", ErrTooFewSurvivors, len(c.maskedBy), c.params.T())
	}
	self := tensor.Seed(c.selfSeed)
	if q32 != nil {
		c.backend.ExpandAddU32(q32, &self)
	} else {
		c.backend.ExpandAddU64(q64, &self)
	}
	for _, v := range c.maskedBy {
		seed, err := pairwiseSeed(c.maskSK, &c.peers[v].MaskKey, c.round, c.me, v)
		if err != nil {
			return nil, &PartyError{Party: v, Step: "AdvertiseKeys", Err: err}
		}
		switch {
		case q32 != nil && c.me < v:
			c.backend.ExpandAddU32(q32, &seed)
		case q32 != nil:
			c.backend.ExpandSubU32(q32, &seed)
		case c.me < v:
			c.backend.ExpandAddU64(q64, &seed)
		default:
			c.backend.ExpandSubU64(q64, &seed)
		}
		clear(seed[:])
	}
	c.next = 4
	return &MaskedInput{Round: c.round, Sender: c.me, Words32: q32, Words64: q64}, nil
}

// shareIndex returns the Shamir index of this party's shares of neighbour v's
// secrets: one more than this party's position among v's neighbours.
func (c *Client) shareIndex(v uint32) uint32 {
	i, _ := slices.BinarySearch(c.graph.Neighbours(v), c.me)
	return uint32(i + 1)
}

// ConsistencyCheck is step 4: it signs the server's list of survivors, after
// checking that this party is on it and that it is long enough to go on.
func (c *Client) ConsistencyCheck(list *SurvivorList) (*ConsistencySig, error) {
	if err := c.step(4, "ConsistencyCheck"); err != nil {
		return nil, err
	}
	if err := c.checkRound(list.Round, serverParty, "SurvivorList"); err != nil {
		return nil, err
	}
	if _, ok := slices.BinarySearch(list.Survivors, c.me); !ok {
		return nil, bad(serverParty, "SurvivorList", "this party sent its input but is not on the list")
	}
	if len(list.Survivors) < c.params.T() {
		return nil, fmt.Errorf("%w: %d survivors, threshold %d", ErrTooFewSurvivors, len(list.Survivors), c.params.T())
	}
	c.signed = slices.Clone(list.Survivors)
	sig, err := sign(c.signer, consistencySigned(c.round, c.signed))
	if err != nil {
		return nil, err
	}
	c.next = 5
	return &ConsistencySig{Round: c.round, Sender: c.me, Sig: sig}, nil
}

// Unmask is step 5: given the survivor list signed by at least T survivors,
// all over the list this party signed, it reveals for each neighbour whose
// shares it holds the share of its self-mask seed if it survived, or of its
// mask-agreement key if it dropped; never both for one party, and only once.
func (c *Client) Unmask(req *UnmaskRequest) (*UnmaskShares, error) {
	if c.next == 6 {
		c.next = 0
		return nil, fmt.Errorf("%w: a second unmasking request", ErrConflict)
	}
	if err := c.step(5, "Unmask"); err != nil {
		return nil, err
	}
	if err := c.checkRound(req.Round, serverParty, "UnmaskRequest"); err != nil {
		return nil, err
	}
	if !slices.Equal(req.Survivors, c.signed) {
		return nil, fmt.Errorf("%w: the survivor list to unmask differs from the one this party signed", ErrConflict)
	}
	msg := consistencySigned(c.round, c.signed)
	valid := 0
	for i := range req.Signatures {
		s := &req.Signatures[i]
		if i > 0 && s.Sender <= req.Signatures[i-1].Sender {
			return nil, fmt.Errorf("%w: signatures not in increasing order of signer", ErrConflict)
		}
		if _, ok := slices.BinarySearch(c.signed, s.Sender); !ok || s.Round != c.round || !verify(c.roster[s.Sender], msg, &s.Sig) {
			return nil, fmt.Errorf("%w: signature of party %d is not over the list this party signed", ErrConflict, s.Sender)
		}
		valid++
	}
	if valid < c.params.T() {
		return nil, fmt.Errorf("%w: %d parties confirmed the survivor list, threshold %d", ErrTooFewSurvivors, valid, c.params.T())
	}
	out := &UnmaskShares{Round: c.round, Sender: c.me}
	for _, v := range c.maskedBy {
		pt := c.held[v]
		if _, survived := slices.BinarySearch(c.signed, v); survived {
			out.Shares = append(out.Shares, RevealedShare{Of: v, Kind: SelfSeedShare, Share: pt.SelfSeed})
		} else {
			out.Shares = append(out.Shares, RevealedShare{Of: v, Kind: MaskKeyShare, Share: pt.MaskKey})
		}
	}
	clear(c.selfSeed[:])
	c.next = 6
	return out, nil
}

// serverParty names the server in a PartyError raised by a client.
const serverParty = protocols.Server
