package secagg

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func graphParams(t testing.TB, n, k int) *Params {
	t.Helper()
	p, err := NewParams(ParamsLiteral{N: n, K: k, T: k/2 + 1, RingBits: 32, Dim: 1, Lo: -1, Hi: 1})
	if err != nil {
		t.Fatalf("NewParams(N=%d, K=%d): %v", n, k, err)
	}
	return p
}

// TestGraphVector pins the test vector of docs/wire/secagg-graph.md.
func TestGraphVector(t *testing.T) {
	p := graphParams(t, 10, 4)
	g := p.Graph(RoundID{})
	wantOrder := []uint32{0, 8, 7, 9, 4, 5, 1, 3, 2, 6}
	if !slices.Equal(g.order, wantOrder) {
		t.Errorf("cyclic order = %v, want %v", g.order, wantOrder)
	}
	want := [10][]uint32{
		{2, 6, 7, 8},
		{2, 3, 4, 5},
		{0, 1, 3, 6},
		{1, 2, 5, 6},
		{1, 5, 7, 9},
		{1, 3, 4, 9},
		{0, 2, 3, 8},
		{0, 4, 8, 9},
		{0, 6, 7, 9},
		{4, 5, 7, 8},
	}
	for party, w := range want {
		if got := p.Neighbours(RoundID{}, uint32(party)); !slices.Equal(got, w) {
			t.Errorf("Neighbours(zero round, %d) = %v, want %v", party, got, w)
		}
		if got := g.Neighbours(uint32(party)); !slices.Equal(got, w) {
			t.Errorf("Graph.Neighbours(%d) = %v, want %v", party, got, w)
		}
	}
}

// TestGraphStreamVector pins the first block of the stream of the zero round.
func TestGraphStreamVector(t *testing.T) {
	s := newGraphStream(&RoundID{})
	block, _ := hex.DecodeString("e66d2e37ab608fec975a3153f85761bbe9f5b00ad2b6391316a8bbcb1858c71b")
	for i := range 4 {
		want := binary.BigEndian.Uint64(block[8*i:])
		if got := s.next(); got != want {
			t.Fatalf("word %d = %#x, want %#x", i, got, want)
		}
	}
	if s.ctr != 1 {
		t.Fatalf("counter after one block = %d, want 1", s.ctr)
	}
}

// TestGraphStructure checks, for many sizes and rounds, that the graph is a
// K-regular simple undirected graph, that Adjacent agrees with Neighbours,
// and that the cyclic order is a permutation.
func TestGraphStructure(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := [][2]int{{2, 1}, {3, 2}, {4, 2}, {4, 3}, {5, 2}, {5, 4}, {6, 4}, {6, 5}, {7, 2}, {7, 4}, {7, 6},
		{10, 4}, {10, 8}, {10, 9}, {11, 10}, {33, 6}, {50, 6}, {50, 49}, {101, 20}, {1000, 86}}
	for _, c := range cases {
		n, k := c[0], c[1]
		p := graphParams(t, n, k)
		for r := range 3 {
			var round RoundID
			if r > 0 {
				for i := range round {
					round[i] = byte(rng.Uint32())
				}
			}
			g := p.Graph(round)
			if g.N() != n || g.K() != k || g.Complete() != (k == n-1) {
				t.Fatalf("N=%d K=%d: Graph reports N=%d K=%d complete=%v", n, k, g.N(), g.K(), g.Complete())
			}
			if !g.Complete() {
				sorted := slices.Clone(g.order)
				slices.Sort(sorted)
				for i, v := range sorted {
					if v != uint32(i) {
						t.Fatalf("N=%d: order %v is not a permutation", n, g.order)
					}
				}
			}
			adj := make([][]uint32, n)
			for a := range uint32(n) {
				adj[a] = g.Neighbours(a)
				if len(adj[a]) != k || !slices.IsSorted(adj[a]) || slices.Contains(adj[a], a) {
					t.Fatalf("N=%d K=%d: Neighbours(%d) = %v", n, k, a, adj[a])
				}
				for i := 1; i < k; i++ {
					if adj[a][i] == adj[a][i-1] {
						t.Fatalf("N=%d K=%d: Neighbours(%d) = %v has a duplicate", n, k, a, adj[a])
					}
				}
			}
			for a := range uint32(n) {
				for b := range uint32(n) {
					_, in := slices.BinarySearch(adj[a], b)
					if g.Adjacent(a, b) != in {
						t.Fatalf("N=%d K=%d: Adjacent(%d, %d) = %v, Neighbours(%d) = %v", n, k, a, b, !in, a, adj[a])
					}
					if g.Adjacent(a, b) != g.Adjacent(b, a) {
						t.Fatalf("N=%d K=%d: Adjacent is not symmetric at (%d, %d)", n, k, a, b)
					}
				}
			}
		}
	}
}

// TestGraphRounds checks that the graph depends on the round, and only on it.
func TestGraphRounds(t *testing.T) {
	p := graphParams(t, 100, 6)
	var r1, r2 RoundID
	r2[31] = 1
	a, b := p.Graph(r1), p.Graph(r1)
	if !slices.Equal(a.order, b.order) {
		t.Fatal("same round, different graphs")
	}
	if c := p.Graph(r2); slices.Equal(a.order, c.order) {
		t.Fatal("rounds differing in one bit give the same graph")
	}
}

// TestGraphUniform checks that the cyclic order is a uniform permutation:
// over many rounds, the position of every party is roughly uniform.
func TestGraphUniform(t *testing.T) {
	const n, rounds = 7, 7000
	var counts [n][n]int
	var round RoundID
	for r := range rounds {
		binary.BigEndian.PutUint64(round[:], uint64(r))
		for i, party := range graphOrder(n, &round) {
			counts[party][i]++
		}
	}
	// Chi-square over 49 cells, 36 degrees of freedom: 99.99% quantile ~ 75.
	exp := float64(rounds) / n
	chi := 0.0
	for _, row := range counts {
		for _, c := range row {
			chi += (float64(c) - exp) * (float64(c) - exp) / exp
		}
	}
	if chi > 75 {
		t.Fatalf("positions far from uniform: chi-square %.1f, counts %v", chi, counts)
	}
}

// TestGraphUniformRejection draws from a range where about half the words
// are rejected and checks the results stay in range and are balanced.
func TestGraphUniformRejection(t *testing.T) {
	s := newGraphStream(&RoundID{7})
	m := uint64(1)<<63 + 1
	low := 0
	for range 4000 {
		v := s.uniform(m)
		if v >= m {
			t.Fatalf("uniform(%d) = %d", m, v)
		}
		if v < m/2 {
			low++
		}
	}
	if low < 1800 || low > 2200 {
		t.Fatalf("%d of 4000 draws in the lower half", low)
	}
	if s.ctr < 1500 {
		t.Fatalf("only %d blocks used for 4000 draws: rejection not exercised", s.ctr)
	}
	for _, m := range []uint64{1, 2, 3, math.MaxUint64} {
		if v := s.uniform(m); v >= m {
			t.Fatalf("uniform(%d) = %d", m, v)
		}
	}
}

func TestGraphPanics(t *testing.T) {
	for _, k := range []int{4, 9} {
		g := graphParams(t, 10, k).Graph(RoundID{})
		for _, f := range []func(){
			func() { g.Neighbours(10) },
			func() { g.Adjacent(0, 10) },
			func() { g.Adjacent(math.MaxUint32, 0) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("K=%d: no panic for a party out of range", k)
					}
				}()
				f()
			}()
		}
	}
}

func TestGraphAppendNeighbours(t *testing.T) {
	g := graphParams(t, 50, 6).Graph(RoundID{3})
	dst := []uint32{99}
	dst = g.AppendNeighbours(dst, 7)
	if dst[0] != 99 || !slices.Equal(dst[1:], g.Neighbours(7)) {
		t.Fatalf("AppendNeighbours = %v", dst)
	}
	if n := testing.AllocsPerRun(100, func() { dst = g.AppendNeighbours(dst[:0], 7) }); n != 0 {
		t.Fatalf("AppendNeighbours allocates %v times", n)
	}
}

func BenchmarkGraph(b *testing.B) {
	for _, c := range [][2]int{{50, 6}, {1000, 86}} {
		p := graphParams(b, c[0], c[1])
		b.Run("build/N="+strconv.Itoa(c[0]), func(b *testing.B) {
			for i := range b.N {
				p.Graph(RoundID{byte(i)})
			}
		})
		g := p.Graph(RoundID{})
		b.Run("neighbours/N="+strconv.Itoa(c[0]), func(b *testing.B) {
			var dst []uint32
			for i := range b.N {
				dst = g.AppendNeighbours(dst[:0], uint32(i%c[0]))
			}
		})
	}
}
