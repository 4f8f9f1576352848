package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cohort-mpc/cohort/federated"
)

// TestSiteDP checks the site side of DP-FedAvg: without noise the update is
// clipped to the bound and weighted 1; with noise, the spread across sites
// of one coordinate matches the site's share of the noise.
func TestSiteDP(t *testing.T) {
	big := func(ctx context.Context, m federated.Model, p []float64, b *federated.Batch, rng *rand.Rand) (Update, error) {
		return Update{Delta: []float64{30, 40}, Samples: 500}, nil // norm 50
	}
	f, err := SiteDP(big, SiteDPConfig{Clip: 5, Sites: 4})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	u, err := f(context.Background(), nil, nil, nil, rng)
	if err != nil {
		t.Fatal(err)
	}
	if u.Samples != 1 || math.Abs(u.Delta[0]-3) > 1e-12 || math.Abs(u.Delta[1]-4) > 1e-12 {
		t.Fatalf("clipped update %v weight %d, want [3 4] weight 1", u.Delta, u.Samples)
	}
	f, err = SiteDP(big, SiteDPConfig{Clip: 5, NoiseMultiplier: 2, Sites: 4})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	var s, ss float64
	for range n {
		u, _ := f(context.Background(), nil, nil, nil, rng)
		x := u.Delta[0] - 3
		s += x
		ss += x * x
	}
	mean, sd := s/n, math.Sqrt(ss/n-(s/n)*(s/n))
	if want := 2 * 5 / 2.0; math.Abs(sd-want) > 0.05*want || math.Abs(mean) > 0.1 {
		t.Fatalf("noise mean %v std %v, want 0 and %v (σ·C/√sites)", mean, sd, want)
	}
	if _, err := SiteDP(big, SiteDPConfig{Clip: 0, Sites: 1}); err == nil {
		t.Fatal("a zero clip was accepted")
	}
}
