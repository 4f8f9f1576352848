package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
	"github.com/cohort-mpc/cohort/tensor/cuda/cudatest"
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
	err := s.Run(context.Background(), Options{Quick: true, Reps: 1, Backend: "cpu"}, func(r Result) {
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

// tensorBackendRow runs the quick tensor suite with opt and returns its
// backend row and the cases it reported.
func tensorBackendRow(t *testing.T, opt Options) (Result, map[string]bool, error) {
	t.Helper()
	s, _ := Lookup("tensor")
	var backend Result
	seen := map[string]bool{}
	err := s.Run(context.Background(), opt, func(r Result) {
		if r.Case == "backend" {
			backend = r
		}
		seen[r.Case] = true
	})
	return backend, seen, err
}

// TestTensorBackendKinds checks --backend on this machine: cpu runs the CPU
// cases without a note about CUDA; where CUDA is unavailable, auto runs them
// with the reason in the backend row and cuda fails with it; an unknown
// kind is refused.
func TestTensorBackendKinds(t *testing.T) {
	opt := Options{Quick: true, Reps: 1, Backend: "cpu"}
	row, seen, err := tensorBackendRow(t, opt)
	if err != nil {
		t.Fatalf("--backend cpu: %v", err)
	}
	if row.Metric != "workers" || strings.Contains(row.Note, "CUDA") || !seen["ring-add-u32"] {
		t.Errorf("--backend cpu: backend row %+v, cases %v; want the CPU cases and no CUDA note", row, seen)
	}

	opt.Backend = "gpu"
	if _, _, err := tensorBackendRow(t, opt); !errors.Is(err, cuda.ErrBackendKind) {
		t.Errorf("--backend gpu: %v, want cuda.ErrBackendKind", err)
	}

	g, stop, newErr := cuda.New(cuda.Config{CPU: tensor.CPUConfig{Workers: 1}})
	if newErr == nil {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		t.Skipf("CUDA is available (%s): the fallback cannot be tested here", g.Name())
	}
	opt.Backend = "cuda"
	if _, _, err := tensorBackendRow(t, opt); err == nil || !strings.Contains(err.Error(), newErr.Error()) {
		t.Errorf("--backend cuda without CUDA: %v, want an error with the reason %q", err, newErr)
	}
	for _, kind := range []string{"auto", ""} {
		opt.Backend = kind
		row, seen, err := tensorBackendRow(t, opt)
		if err != nil {
			t.Fatalf("--backend %q: %v", kind, err)
		}
		want := "CUDA unavailable, using the CPU backend: " + newErr.Error()
		if row.Metric != "workers" || !strings.Contains(row.Note, want) || !seen["ring-add-u32"] {
			t.Errorf("--backend %q without CUDA: backend row %+v, cases %v; want the CPU cases and the note %q", kind, row, seen, want)
		}
	}
}

// fakeCUDA returns a CUDA backend on the fake libcuda
// (cudatest.FakeLibrary: the real kernels run on the CPU), shut down when t
// ends, and the library's path.
func fakeCUDA(t *testing.T) (*cuda.Backend, string) {
	t.Helper()
	lib := cudatest.FakeLibrary(t)
	g, stop, err := cuda.New(cuda.Config{Library: lib, CPU: tensor.CPUConfig{Workers: 1}})
	if err != nil {
		t.Fatalf("cuda.New on the fake driver: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return g, lib
}

// TestTensorCUDARows runs the device half of the suite on the fake driver
// and checks its rows: every kernel's throughput against the copy of the
// same run, keystream rows for the AES kernels, and the host path against
// the host-to-device copy.
func TestTensorCUDARows(t *testing.T) {
	g, lib := fakeCUDA(t)
	rows := map[string]Result{}
	var order []string
	err := runTensorCUDA(context.Background(), Options{Quick: true, Reps: 1}, g, lib, func(r Result) {
		key := r.Case + "/" + r.Metric
		if _, dup := rows[key]; dup {
			t.Errorf("row %s twice", key)
		}
		rows[key] = r
		order = append(order, key)
	})
	if err != nil {
		t.Fatal(err)
	}
	const n32, n64 = 1 << 20, 1 << 19
	want := []struct {
		key   string
		n     int
		limit string // the case whose throughput is the limit
	}{
		{"backend/driver", 0, ""},
		{"cuMemcpyDtoDAsync/throughput", n32, ""},
		{"cohort_add_u32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cohort_sub_u32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cohort_add_u64/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_sub_u64/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_sum_u32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cohort_sum_u64/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_mod_add/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_mod_mul/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_aesctr_expand_add_u32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cohort_aesctr_expand_add_u32/keystream", n32, ""},
		{"cohort_aesctr_expand_add_u64/throughput", n64, "cuMemcpyDtoDAsync"},
		{"cohort_aesctr_expand_add_u64/keystream", n64, ""},
		{"cohort_quantize_f32_u32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cohort_quantize_f32_u32/keystream", n32, ""},
		{"cohort_dequantize_u32_f32/throughput", n32, "cuMemcpyDtoDAsync"},
		{"cuMemcpyHtoD/throughput", n32, ""},
		{"AddU32/throughput", n32, "cuMemcpyHtoD"},
	}
	if len(order) != len(want) {
		t.Errorf("rows %v, want %d", order, len(want))
	}
	for i, w := range want {
		r, ok := rows[w.key]
		if !ok {
			t.Errorf("row %s missing", w.key)
			continue
		}
		if i < len(order) && order[i] != w.key {
			t.Errorf("row %d is %s, want %s", i, order[i], w.key)
		}
		if r.Suite != "tensor" || r.N != w.n || !(r.Value > 0) || r.Unit == "" || r.Note == "" {
			t.Errorf("%s: %+v, want n %d, a positive value, a unit and a note", w.key, r, w.n)
		}
		var limit float64
		if w.limit != "" {
			limit = rows[w.limit+"/throughput"].Value
		}
		if r.Limit != limit || (limit > 0 && math.Abs(r.Ratio-r.Value/limit) > 1e-9*r.Ratio) || (limit == 0 && r.Ratio != 0) {
			t.Errorf("%s: limit %v ratio %v, want limit %v (%s) and ratio value/limit", w.key, r.Limit, r.Ratio, limit, w.limit)
		}
	}
	// The fake's events are 0.5 ms apart: the device rows are exact.
	if r := rows["cohort_add_u32/throughput"]; r.Value != 12*n32/0.5e-3 || r.Ratio != 1.5 {
		t.Errorf("cohort_add_u32: %v B/s, ratio %v; want %v (12 bytes an element in 0.5 ms) and 1.5", r.Value, r.Ratio, 12*n32/0.5e-3)
	}
	if r := rows["cohort_aesctr_expand_add_u32/keystream"]; r.Value != 4*n32/0.5e-3 || !strings.Contains(r.Note, "200 GB/s") {
		t.Errorf("expand-add keystream row %+v, want %v B/s and the 200 GB/s target in the note", r, 4*n32/0.5e-3)
	}
	if r := rows["backend/driver"]; !strings.Contains(r.Note, g.Name()) || !strings.Contains(r.Note, "supports CUDA") {
		t.Errorf("backend row %+v does not name the device and the driver version", r)
	}
}

// secaggRows runs the secagg suite body on gpu (nil: the CPU server alone)
// and returns its rows by case/metric, in order.
func secaggRows(t *testing.T, opt Options, gpu *cuda.Backend) (map[string]Result, []string) {
	t.Helper()
	rows := map[string]Result{}
	var order []string
	err := runSecAggOn(context.Background(), opt, gpu, "", func(r Result) {
		key := r.Case + "/" + r.Metric
		if _, dup := rows[key]; dup {
			t.Errorf("row %s twice", key)
		}
		if r.Suite != "secagg" || r.Note == "" || r.Unit == "" {
			t.Errorf("incomplete row %+v", r)
		}
		rows[key] = r
		order = append(order, key)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, order
}

// secaggCPURows are the rows of the CPU server, in order, of any run.
var secaggCPURows = []string{
	"backend/workers", "client-total/time", "client-mask/time",
	"server-total/time", "server-collection/time", "server-after-last-input/time", "server-unmask/time",
}

// checkServerRows checks the relations between one server's rows: Finish
// is part of the work after the last input, which with the collection is
// part of its total.
func checkServerRows(t *testing.T, rows map[string]Result, prefix string) {
	t.Helper()
	total, collect := rows[prefix+"server-total/time"].Value, rows[prefix+"server-collection/time"].Value
	after, unmask := rows[prefix+"server-after-last-input/time"].Value, rows[prefix+"server-unmask/time"].Value
	if !(unmask > 0 && collect > 0 && unmask <= after && after+collect <= total) {
		t.Errorf("%sserver: total %v, collection %v, after last input %v, unmask %v; want 0 < unmask <= after, after+collection <= total",
			prefix, total, collect, after, unmask)
	}
	if r := rows[prefix+"server-unmask/time"]; r.Limit <= 0 || r.Ratio != r.Value/r.Limit {
		t.Errorf("%sserver-unmask has no limit: %+v", prefix, r)
	}
}

// TestSecAggCPURows checks the rows of --backend cpu: the cases of the CPU
// server and no CUDA row.
func TestSecAggCPURows(t *testing.T) {
	opt := Options{Quick: true, Reps: 1, Backend: "cpu", Params: 2000, SecAgg: SecAggOptions{Clients: 12, Dropout: 0.2, K: 6, T: 4}}
	s, _ := Lookup("secagg")
	rows := map[string]Result{}
	var order []string
	if err := s.Run(context.Background(), opt, func(r Result) {
		rows[r.Case+"/"+r.Metric] = r
		order = append(order, r.Case+"/"+r.Metric)
	}); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(secaggCPURows), "upload/bytes-per-param", "download/bytes-per-param")
	if !slices.Equal(order, want) {
		t.Errorf("rows %v, want %v", order, want)
	}
	if r := rows["backend/workers"]; strings.Contains(r.Note, "CUDA") || strings.Contains(r.Note, "cuda") {
		t.Errorf("--backend cpu: backend row %+v mentions CUDA", r)
	}
	checkServerRows(t, rows, "")
}

// TestSecAggCUDARows runs a round with a second server on the CUDA backend
// over the fake driver: its rows exist, its uploads are counted, and its
// result equals the CPU server's (runSecAggOn fails otherwise).
func TestSecAggCUDARows(t *testing.T) {
	g, _ := fakeCUDA(t)
	const clients, dim = 12, 2000
	opt := Options{Quick: true, Reps: 1, Params: dim, SecAgg: SecAggOptions{Clients: clients, Dropout: 0.2, K: 6, T: 4}}
	rows, order := secaggRows(t, opt, g)
	want := append(slices.Clone(secaggCPURows),
		"cuda/server-total/time", "cuda/server-collection/time",
		"cuda/server-upload/bytes", "cuda/server-upload/time", "cuda/server-upload/throughput",
		"cuda/server-after-last-input/time", "cuda/server-unmask/time", "cuda/speedup/unmask-speedup", "cuda/speedup/after-last-input-speedup",
		"upload/bytes-per-param", "download/bytes-per-param")
	if !slices.Equal(order, want) {
		t.Errorf("rows %v, want %v", order, want)
	}
	checkServerRows(t, rows, "")
	checkServerRows(t, rows, "cuda/")
	if r := rows["backend/workers"]; !strings.Contains(r.Note, g.Name()) {
		t.Errorf("backend row %+v does not name the CUDA backend %q", r, g.Name())
	}
	if r := rows["cuda/server-total/time"]; !strings.Contains(r.Note, g.Name()) {
		t.Errorf("cuda/server-total %+v does not name the CUDA accumulator", r)
	}
	// 20% of 12 drop: 10 inputs of 2000 words reach the device.
	survivors := clients - 2
	upBytes := rows["cuda/server-upload/bytes"]
	if upBytes.Value != float64(survivors*dim*4) || !strings.Contains(upBytes.Note, fmt.Sprintf("the %d masked inputs", survivors)) {
		t.Errorf("upload bytes row %+v, want %d bytes of %d inputs", upBytes, survivors*dim*4, survivors)
	}
	upTime, upRate := rows["cuda/server-upload/time"].Value, rows["cuda/server-upload/throughput"].Value
	// The fake's events are 0.5 ms apart: each upload takes 0.5 ms.
	if math.Abs(upTime-float64(survivors)*0.5e-3) > 1e-12 || math.Abs(upRate-upBytes.Value/upTime) > 1e-9*upRate {
		t.Errorf("upload time %v s and throughput %v B/s, want %v s (0.5 ms an input) and bytes/time = %v",
			upTime, upRate, float64(survivors)*0.5e-3, upBytes.Value/upTime)
	}
	sp := rows["cuda/speedup/unmask-speedup"]
	if want := rows["server-unmask/time"].Value / rows["cuda/server-unmask/time"].Value; sp.Value != want ||
		sp.Unit != "x" || !strings.Contains(sp.Note, ">= 4 x") {
		t.Errorf("unmask speedup row %+v, want %v x with the issue 9 target", sp, want)
	}
	sp = rows["cuda/speedup/after-last-input-speedup"]
	if want := rows["server-after-last-input/time"].Value / rows["cuda/server-after-last-input/time"].Value; sp.Value != want || sp.Unit != "x" {
		t.Errorf("after-last-input speedup row %+v, want %v x", sp, want)
	}
}

// TestSecAggBackendKinds: --backend cuda without CUDA fails with the reason,
// auto falls back to the CPU server alone and says why.
func TestSecAggBackendKinds(t *testing.T) {
	g, stop, newErr := cuda.New(cuda.Config{CPU: tensor.CPUConfig{Workers: 1}})
	if newErr == nil {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		t.Skipf("CUDA is available (%s): the fallback cannot be tested here", g.Name())
	}
	s, _ := Lookup("secagg")
	opt := Options{Quick: true, Reps: 1, Backend: "cuda", Params: 100, SecAgg: SecAggOptions{Clients: 5, K: 4, T: 3}}
	if err := s.Run(context.Background(), opt, func(Result) {}); err == nil || !strings.Contains(err.Error(), newErr.Error()) {
		t.Errorf("--backend cuda without CUDA: %v, want an error with the reason %q", err, newErr)
	}
	opt.Backend = "auto"
	var backend Result
	cudaRows := 0
	if err := s.Run(context.Background(), opt, func(r Result) {
		if r.Case == "backend" {
			backend = r
		}
		if strings.HasPrefix(r.Case, "cuda/") {
			cudaRows++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if want := "CUDA unavailable, using the CPU backend: " + newErr.Error(); !strings.Contains(backend.Note, want) || cudaRows != 0 {
		t.Errorf("--backend auto without CUDA: backend row %+v and %d cuda rows, want the note %q and none", backend, cudaRows, want)
	}
}

// TestSecAggServersDiffer checks the comparisons of the two servers: equal
// outputs pass, and any difference is an ErrServersDiffer naming it.
func TestSecAggServersDiffer(t *testing.T) {
	if err := sameBytes("KeyList", "CPU", "CUDA", []byte{1, 2, 3}, []byte{1, 2, 3}); err != nil {
		t.Errorf("same bytes: %v", err)
	}
	for _, b := range [][]byte{{1, 2, 4}, {1, 2}, {1, 2, 3, 0}, nil} {
		err := sameBytes("KeyList", "CPU", "CUDA", []byte{1, 2, 3}, b)
		if !errors.Is(err, ErrServersDiffer) || !strings.Contains(err.Error(), "KeyList") {
			t.Errorf("sameBytes(1 2 3, %v) = %v, want ErrServersDiffer naming the message", b, err)
		}
	}
	if err := sameBytes("KeyList", "CPU", "CUDA", []byte{1, 2, 3}, []byte{1, 2, 4}); err == nil || !strings.Contains(err.Error(), "at byte 2") {
		t.Errorf("sameBytes at byte 2: %v", err)
	}

	base := func() *secagg.Result {
		return &secagg.Result{Sum32: []uint32{1, 2, 3}, Contributors: []uint32{0, 2},
			Misbehaved: []*secagg.PartyError{{Party: 1, Step: "ShareKeys", Err: errors.New("bad")}}}
	}
	if err := sameResult("CPU", "CUDA", base(), base()); err != nil {
		t.Errorf("equal results: %v", err)
	}
	for name, change := range map[string]func(r *secagg.Result){
		"word":        func(r *secagg.Result) { r.Sum32[2] ^= 1 << 31 },
		"length":      func(r *secagg.Result) { r.Sum32 = r.Sum32[:2] },
		"ring":        func(r *secagg.Result) { r.Sum32, r.Sum64 = nil, []uint64{1, 2, 3} },
		"contributor": func(r *secagg.Result) { r.Contributors[1] = 3 },
		"misbehaved":  func(r *secagg.Result) { r.Misbehaved = nil },
		"error":       func(r *secagg.Result) { r.Misbehaved[0].Party = 2 },
	} {
		r := base()
		change(r)
		if err := sameResult("CPU", "CUDA", base(), r); !errors.Is(err, ErrServersDiffer) {
			t.Errorf("%s differs: %v, want ErrServersDiffer", name, err)
		}
	}
	r := base()
	r.Sum32[1] = 7
	if err := sameResult("CPU", "CUDA", base(), r); err == nil || !strings.Contains(err.Error(), "word 1 of the sum is 0x2 and 0x7") {
		t.Errorf("word 1 differs: %v", err)
	}
}
