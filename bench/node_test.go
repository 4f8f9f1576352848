package bench

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math"
	"testing"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/node"
)

// TestNodeQuick runs the node suite at its quick sizes and checks that every
// case is reported, well formed: known case, metric and unit, positive
// figures, ratio = value/limit. It asserts nothing about speed.
func TestNodeQuick(t *testing.T) {
	s, err := Lookup("node")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // case/metric → unit
		"transfer-agg-to-site/throughput":    "B/s",
		"transfer-agg-to-site/vs-memnetwork": "B/s",
		"transfer-site-to-agg/throughput":    "B/s",
		"transfer-site-to-agg/vs-memnetwork": "B/s",
		"round/time":                         "s",
		"round/bytes":                        "B",
	}
	seen := map[string]int{}
	rounds := map[int]bool{}
	err = s.Run(context.Background(), Options{Quick: true, Reps: 1}, func(r Result) {
		key := r.Case + "/" + r.Metric
		unit, ok := want[key]
		switch {
		case r.Suite != "node":
			t.Errorf("%s: suite %q", key, r.Suite)
		case !ok:
			t.Errorf("unexpected result %+v", r)
		case r.Unit != unit:
			t.Errorf("%s: unit %q, want %q", key, r.Unit, unit)
		}
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("%s: value %v", key, r.Value)
		}
		if r.N <= 0 {
			t.Errorf("%s: n = %d", key, r.N)
		}
		if r.Metric != "bytes" && !(r.Limit > 0) {
			t.Errorf("%s: no limit: %+v", key, r)
		}
		if r.Limit > 0 && math.Abs(r.Ratio-r.Value/r.Limit) > 1e-9*r.Ratio {
			t.Errorf("%s: ratio %v, want value/limit = %v", key, r.Ratio, r.Value/r.Limit)
		}
		if r.Limit == 0 && r.Ratio != 0 {
			t.Errorf("%s: ratio %v without a limit", key, r.Ratio)
		}
		if r.Note == "" {
			t.Errorf("%s: no note", key)
		}
		if r.Case == "transfer-agg-to-site" && r.N != nodeTransferParamsQuick {
			t.Errorf("%s: n = %d, want %d", key, r.N, nodeTransferParamsQuick)
		}
		if key == "round/time" {
			rounds[r.N] = true
		}
		seen[key]++
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range want {
		if n := seen[key]; n == 0 {
			t.Errorf("%s not reported", key)
		}
	}
	// The round cases train MLPs of 32h+1 parameters, h the hidden width
	// nearest d/32.
	for _, n := range []int{993, 9985} {
		if !rounds[n] {
			t.Errorf("no round of %d parameters; have %v", n, rounds)
		}
	}
	if seen["round/time"] != 2 {
		t.Errorf("%d round cases, want 2", seen["round/time"])
	}
}

func TestNodeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := Lookup("node")
	if err := s.Run(ctx, Options{Quick: true}, func(Result) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v, want context.Canceled", err)
	}
}

// BenchmarkNodeTransfer moves the suite's 10^7-parameter model from the
// aggregator to a site over the gRPC Loopback, for profiling:
//
//	go test -run X -bench NodeTransfer -cpuprofile cpu.out ./bench/
func BenchmarkNodeTransfer(b *testing.B) {
	ctx := context.Background()
	agg, site := nodeKey(100), nodeKey(0)
	lb, err := node.NewLoopback(agg, []ed25519.PrivateKey{site}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer lb.Close()
	s, a, err := connect(ctx, lb.Transport(0), lb.Listener(), nodePeer(site, "site-1"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	defer a.Close()
	m := &engine.Message{Kind: engine.KindPlainVector, Round: 1, Body: make([]byte, 8*nodeTransferParams)}
	b.SetBytes(int64(len(m.Body)))
	for b.Loop() {
		if err := transfer(ctx, a, s, m); err != nil {
			b.Fatal(err)
		}
	}
}
