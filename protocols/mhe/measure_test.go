package mhe

import (
	"os"
	"testing"
	"time"
)

// TestMeasureLarge prints the figures of the scenario (N = 10,
// d = 2^20, PresetLarge, t = 10) when MHE_MEASURE=1:
//
//	MHE_MEASURE=1 go test ./protocols/mhe -run TestMeasureLarge -v
func TestMeasureLarge(t *testing.T) {
	if os.Getenv("MHE_MEASURE") == "" {
		t.Skip("set MHE_MEASURE=1")
	}
	const n, d = 10, 1 << 20
	p := mustParams(t, PresetLarge)
	t0 := time.Now()
	j := setupJob(t, p, n, n, 1)
	t.Logf("setup (all %d parties + aggregator, one process): %v", n, time.Since(t0))
	want := make([]float64, d)
	sum, _ := NewSum(p, 1, d)
	var encTime time.Duration
	var upload int
	for i := range n {
		x := randVec(newRand(uint64(i)), d)
		for k := range x {
			want[k] += x[k]
		}
		t1 := time.Now()
		v, err := j.enc.Encrypt(1, uint32(i), x, 1, testRand(uint64(i)))
		encTime += time.Since(t1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.MarshalVector(v)
		upload = len(b)
		if err := sum.Add(v, 1); err != nil {
			t.Fatal(err)
		}
	}
	agg, _ := sum.Result()
	recv, _ := NewReceiver(p, testRand(77))
	active := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	req := &ReleaseRequest{Job: j.seed, Round: 1, Active: active, Receiver: recv.PublicKey(), Aggregate: agg}
	var shares []*ReleaseShare
	var shareTime time.Duration
	for _, a := range active {
		t1 := time.Now()
		s, err := j.parties[a].ReleaseShare(req)
		shareTime += time.Since(t1)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	t2 := time.Now()
	rel, err := NewRelease(p, req, n, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shares {
		if err := rel.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	out, err := rel.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tCombine := time.Since(t2)
	t3 := time.Now()
	got, err := recv.Decrypt(out)
	if err != nil {
		t.Fatal(err)
	}
	tDecode := time.Since(t3)
	a, r := maxErr(got, want)
	sb, _ := shares[0].MarshalBinary()
	t.Logf("encrypt per party: %v; upload per party: %d bytes (%.2f MiB)", encTime/n, upload, float64(upload)/(1<<20))
	t.Logf("release share per party: %v (%d bytes)", shareTime/n, len(sb))
	t.Logf("server combine (NewRelease incl. request hash + %d Add): %v; receiver decrypt+decode: %v; total %v", n, tCombine, tDecode, tCombine+tDecode)
	t.Logf("max abs error %.3g, max rel error (|sum| > 1e-3) %.3g", a, r)
}
