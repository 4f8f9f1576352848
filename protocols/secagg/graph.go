package secagg

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// graphLabel prefixes every hash of the graph stream (docs/wire/secagg-graph.md).
const graphLabel = "cohort/secagg/v1/graph"

// Graph is the neighbour graph of one round: a K-regular circulant graph
// over a pseudorandom cyclic order of the parties 0..N-1 derived from the
// round ID. Each party is joined to the K/2 parties before it and the K/2
// after it on the cycle; when K = N-1 the graph is complete and no order is
// drawn. The construction is specified in docs/wire/secagg-graph.md, so any
// implementation computes the same graph from the public round seed.
//
// A Graph is immutable and safe for concurrent use. Building one costs O(N)
// (about N/4 SHA-256 calls); each query after that costs O(K).
type Graph struct {
	n, k  int
	order []uint32 // order[i] is the party at position i of the cycle; nil when complete
	pos   []uint32 // pos[party] is the party's position on the cycle; nil when complete
}

// Graph returns the neighbour graph of round. Build it once per round when
// many parties' neighbourhoods are needed (a server); Params.Neighbours
// rebuilds it on every call.
func (p *Params) Graph(round RoundID) *Graph {
	return newGraph(p.lit.N, p.lit.K, &round)
}

// Neighbours returns party's neighbours in the round's graph, sorted
// increasing, never including party. Every party computes the same graph
// from the public round seed. It builds the round's Graph, O(N), on each
// call. It panics if party >= N.
func (p *Params) Neighbours(round RoundID, party uint32) []uint32 {
	return p.Graph(round).Neighbours(party)
}

// newGraph builds the graph of n parties and degree k (validated by
// NewParams: k = n-1, or k even with 2 <= k < n-1).
func newGraph(n, k int, round *RoundID) *Graph {
	g := &Graph{n: n, k: k}
	if k >= n-1 {
		return g
	}
	g.order = graphOrder(n, round)
	g.pos = make([]uint32, n)
	for i, party := range g.order {
		g.pos[party] = uint32(i)
	}
	return g
}

// N returns the number of parties.
func (g *Graph) N() int { return g.n }

// K returns the degree: every party has exactly K neighbours.
func (g *Graph) K() int { return g.k }

// Complete reports whether every party is every other's neighbour (K = N-1).
func (g *Graph) Complete() bool { return g.order == nil }

// Neighbours returns party's K neighbours, sorted increasing, never
// including party. It panics if party >= N.
func (g *Graph) Neighbours(party uint32) []uint32 {
	return g.AppendNeighbours(make([]uint32, 0, g.k), party)
}

// AppendNeighbours appends party's K neighbours, sorted increasing, to dst
// and returns the extended slice. It panics if party >= N.
func (g *Graph) AppendNeighbours(dst []uint32, party uint32) []uint32 {
	g.check(party)
	if g.order == nil {
		for v := range uint32(g.n) {
			if v != party {
				dst = append(dst, v)
			}
		}
		return dst
	}
	start := len(dst)
	p := int(g.pos[party])
	for j := 1; j <= g.k/2; j++ {
		dst = append(dst, g.order[(p+j)%g.n], g.order[(p-j+g.n)%g.n])
	}
	slices.Sort(dst[start:])
	return dst
}

// Adjacent reports whether a and b are neighbours; a party is not its own
// neighbour. It costs O(1). It panics if a or b >= N.
func (g *Graph) Adjacent(a, b uint32) bool {
	g.check(a)
	g.check(b)
	if a == b {
		return false
	}
	if g.order == nil {
		return true
	}
	d := int(g.pos[a]) - int(g.pos[b])
	if d < 0 {
		d = -d
	}
	return min(d, g.n-d) <= g.k/2
}

func (g *Graph) check(party uint32) {
	if uint64(party) >= uint64(g.n) {
		panic(fmt.Sprintf("secagg: party %d out of range for a graph of N = %d parties", party, g.n))
	}
}

// graphOrder returns the cyclic order of the parties: the identity
// permutation of 0..n-1 shuffled by Fisher–Yates, i from n-1 down to 1
// swapping order[i] with order[j] for j uniform in [0, i] drawn from the
// round's graph stream.
func graphOrder(n int, round *RoundID) []uint32 {
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	s := newGraphStream(round)
	for i := n - 1; i >= 1; i-- {
		j := s.uniform(uint64(i) + 1)
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// graphStream is the deterministic word stream of a round's graph: block c
// is SHA-256(graphLabel || round || BE64(c)), c = 0, 1, 2, ..., read as four
// big-endian uint64 words in order.
type graphStream struct {
	in    [len(graphLabel) + 32 + 8]byte
	block [sha256.Size]byte
	ctr   uint64
	used  int // bytes of block consumed
}

func newGraphStream(round *RoundID) *graphStream {
	s := &graphStream{used: sha256.Size}
	copy(s.in[:], graphLabel)
	copy(s.in[len(graphLabel):], round[:])
	return s
}

// next returns the next word of the stream.
func (s *graphStream) next() uint64 {
	if s.used == sha256.Size {
		binary.BigEndian.PutUint64(s.in[len(s.in)-8:], s.ctr)
		s.block = sha256.Sum256(s.in[:])
		s.ctr++
		s.used = 0
	}
	w := binary.BigEndian.Uint64(s.block[s.used:])
	s.used += 8
	return w
}

// uniform returns an unbiased value in [0, m) for m >= 1 by rejection: a word
// w is accepted when w < 2^64 - (2^64 mod m) and gives w mod m; a rejected
// word is discarded and the next one drawn.
func (s *graphStream) uniform(m uint64) uint64 {
	r := -m % m // 2^64 mod m
	for {
		if w := s.next(); w <= math.MaxUint64-r {
			return w % m
		}
	}
}
