package bench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	s, err := Lookup("tensor")
	if err != nil || s.Name != "tensor" {
		t.Fatalf("Lookup(tensor) = %q, %v", s.Name, err)
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknownSuite) {
		t.Fatalf("Lookup(nope) error = %v, want ErrUnknownSuite", err)
	}
}

// TestTensorQuick runs the suite at its smallest sizes and checks that every
// case the suite promises is reported, with ratio = value/limit.
func TestTensorQuick(t *testing.T) {
	s, _ := Lookup("tensor")
	seen := map[string]bool{}
	err := s.Run(context.Background(), Options{Quick: true, Reps: 1}, func(r Result) {
		if r.Suite != "tensor" || r.Case == "" || r.Metric == "" || r.Unit == "" {
			t.Errorf("incomplete result %+v", r)
		}
		if r.Limit > 0 && math.Abs(r.Ratio-r.Value/r.Limit) > 1e-9*r.Ratio {
			t.Errorf("%s %s: ratio %v, want value/limit = %v", r.Case, r.Metric, r.Ratio, r.Value/r.Limit)
		}
		if r.Limit == 0 && r.Ratio != 0 {
			t.Errorf("%s %s: ratio %v without a limit", r.Case, r.Metric, r.Ratio)
		}
		if r.Metric == "throughput" && !(r.Value > 0) {
			t.Errorf("%s: throughput %v", r.Case, r.Value)
		}
		seen[r.Case] = true
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"expand-add-u32", "expand-add-u32-par", "ring-add-u32", "ring-add-u32-generic", "sum64-u32", "quantize-f32"} {
		if !seen[c] {
			t.Errorf("case %s not reported", c)
		}
	}
}

func TestTensorCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := Lookup("tensor")
	if err := s.Run(ctx, Options{Quick: true}, func(Result) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestMedians(t *testing.T) {
	calls := 0
	d, err := medians(context.Background(), 3, func() { calls++; time.Sleep(time.Millisecond) })
	if err != nil {
		t.Fatal(err)
	}
	if d[0] < time.Millisecond || d[0] > 50*time.Millisecond {
		t.Fatalf("median of a 1 ms sleep = %v", d[0])
	}
	if calls < 3 {
		t.Fatalf("%d calls for 3 samples", calls)
	}
}

// TestSecAggQuick runs one small round through the suite: it must complete
// (the suite checks the dequantised sum itself) and report every case.
func TestSecAggQuick(t *testing.T) {
	s, err := Lookup("secagg")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Result{}
	opt := Options{Quick: true, Params: 5000, SecAgg: SecAggOptions{Clients: 9, Dropout: 0.12, K: 4, T: 3}}
	if err := s.Run(context.Background(), opt, func(r Result) { seen[r.Case] = r }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"client-total", "client-mask", "server-total", "server-unmask", "upload", "download"} {
		if _, ok := seen[c]; !ok {
			t.Errorf("case %s not reported", c)
		}
	}
	// A 32-bit ring sends four bytes a parameter, plus keys and shares.
	if up := seen["upload"].Value; up < 4 || up > 5 {
		t.Errorf("upload %v bytes per parameter, want a little over 4", up)
	}
	if r := seen["client-mask"]; r.Limit <= 0 || r.Ratio <= 0 {
		t.Errorf("client-mask has no limit: %+v", r)
	}
}

// TestMHEQuick runs a small job through the mhe suite: the pipeline checks
// its own result, and the released sum must be as precise as the flooding
// predicts.
func TestMHEQuick(t *testing.T) {
	s, err := Lookup("mhe")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Result{}
	opt := Options{Quick: true, Params: 3000, MHE: MHEOptions{Parties: 3, Threshold: 2}}
	if err := s.Run(context.Background(), opt, func(r Result) { seen[r.Case] = r }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"setup-per-party", "encrypt-per-party", "upload-per-party", "aggregate", "server-release", "max-abs-error", "max-rel-error"} {
		if _, ok := seen[c]; !ok {
			t.Errorf("case %s not reported", c)
		}
	}
	if e := seen["max-abs-error"].Value; !(e > 0 && e < 1e-4) {
		t.Errorf("max absolute error %g, want within (0, 1e-4)", e)
	}
	if r := seen["encrypt-per-party"]; r.Limit <= 0 || r.Ratio <= 0 {
		t.Errorf("encrypt-per-party has no baseline: %+v", r)
	}
}

// TestFederatedQuick runs every scenario once with few rounds: each must
// train without error and beat chance clearly.
func TestFederatedQuick(t *testing.T) {
	s, err := Lookup("federated")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	opt := Options{Quick: true, Reps: 1, Federated: FederatedOptions{DataDir: "../testdata/datasets"}}
	if err := s.Run(context.Background(), opt, func(r Result) { got[r.Case+"/"+r.Metric] = r.Value }); err != nil {
		t.Fatal(err)
	}
	for c, floor := range map[string]float64{
		"breast-cancer-logreg-fedavg/accuracy": 0.85,
		"digits-mlp-fedavg/accuracy":           0.5,
		"breast-cancer-logreg-dp3/accuracy":    0.7,
	} {
		if got[c] < floor {
			t.Errorf("%s = %v after 3 rounds, want at least %v", c, got[c], floor)
		}
	}
	if got["epoch-mlp/time"] <= 0 {
		t.Error("no epoch time for the MLP")
	}
}
