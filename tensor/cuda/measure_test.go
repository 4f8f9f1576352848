package cuda

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// wantMeasurements lists, in Measure's order, every measurement with its
// elements, bytes and keystream bytes for buffers of words uint32 words,
// and the copy it is held to.
func wantMeasurements(words int) []Measurement {
	s := int64(4 * words)
	n32, n64 := words, words/2
	return []Measurement{
		{Name: MeasureCopyDtoD, Elements: n32, Bytes: 2 * s},
		{Name: "cohort_add_u32", Elements: n32, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_sub_u32", Elements: n32, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_add_u64", Elements: n64, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_sub_u64", Elements: n64, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_sum_u32", Elements: n32, Bytes: 9 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_sum_u64", Elements: n64, Bytes: 9 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_mod_add", Elements: n64, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_mod_mul", Elements: n64, Bytes: 3 * s, Limit: MeasureCopyDtoD},
		{Name: "cohort_aesctr_expand_add_u32", Elements: n32, Bytes: 2 * s, Keystream: s, Limit: MeasureCopyDtoD},
		{Name: "cohort_aesctr_expand_add_u64", Elements: n64, Bytes: 2 * s, Keystream: s, Limit: MeasureCopyDtoD},
		{Name: "cohort_quantize_f32_u32", Elements: n32, Bytes: 2 * s, Keystream: s, Limit: MeasureCopyDtoD},
		{Name: "cohort_dequantize_u32_f32", Elements: n32, Bytes: 2 * s, Limit: MeasureCopyDtoD},
		{Name: MeasureCopyHtoD, Elements: n32, Bytes: 2 * s},
		{Name: MeasureHostAddU32, Elements: n32, Bytes: 3 * s, Limit: MeasureCopyHtoD},
	}
}

// TestFakeMeasure runs Measure on the fake driver and checks every
// measurement: name, order, counts, and times. The fake's events are 0.5 ms
// apart per record on a stream, so a device kernel timed between
// consecutive events takes exactly 0.5 ms.
func TestFakeMeasure(t *testing.T) {
	b := newFake(t)
	const words, reps = 320, 3
	got, err := b.Measure(context.Background(), MeasureConfig{Words: words, Reps: reps})
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	want := wantMeasurements(words)
	if len(got) != len(want) {
		t.Fatalf("Measure returned %d measurements, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Elements != w.Elements || g.Bytes != w.Bytes || g.Keystream != w.Keystream || g.Limit != w.Limit {
			t.Errorf("measurement %d = {%s elements %d bytes %d keystream %d limit %q}, want {%s %d %d %d %q}",
				i, g.Name, g.Elements, g.Bytes, g.Keystream, g.Limit, w.Name, w.Elements, w.Bytes, w.Keystream, w.Limit)
		}
		if g.Detail == "" {
			t.Errorf("%s: no detail", g.Name)
		}
		switch g.Name {
		case MeasureCopyHtoD, MeasureHostAddU32:
			if g.Time <= 0 {
				t.Errorf("%s: time %v, want positive", g.Name, g.Time)
			}
		default:
			if g.Time != 500*time.Microsecond {
				t.Errorf("%s: time %v, want the fake's 0.5 ms between consecutive events", g.Name, g.Time)
			}
		}
		if g.Time > 0 {
			if tp := g.Throughput(); tp != float64(g.Bytes)/g.Time.Seconds() {
				t.Errorf("%s: Throughput() = %v, want %v", g.Name, tp, float64(g.Bytes)/g.Time.Seconds())
			}
			if kr := g.KeystreamRate(); kr != float64(g.Keystream)/g.Time.Seconds() {
				t.Errorf("%s: KeystreamRate() = %v, want %v", g.Name, kr, float64(g.Keystream)/g.Time.Seconds())
			}
		}
	}
}

// TestFakeMeasureMemory checks that Measure frees what it allocates, and
// reports a failed allocation, with the fake's device memory capped at the
// buffers of the device kernels.
func TestFakeMeasureMemory(t *testing.T) {
	b := newFake(t)
	const words = 64
	need := (measureVectors+1)*4*words + 8*measureVectors
	t.Setenv("FAKE_CUDA_MEM_LIMIT", strconv.Itoa(need))
	for i := range 2 { // a leak in the first run makes the second fail
		if _, err := b.Measure(context.Background(), MeasureConfig{Words: words, Reps: 1}); err != nil {
			t.Fatalf("Measure %d with %d bytes of device memory: %v", i, need, err)
		}
	}
	t.Setenv("FAKE_CUDA_MEM_LIMIT", strconv.Itoa(need-1))
	_, err := b.Measure(context.Background(), MeasureConfig{Words: words, Reps: 1})
	var e *driver.Error
	if !errors.As(err, &e) || e.Code != driver.CodeOutOfMemory {
		t.Fatalf("Measure with %d bytes of device memory: %v, want CUDA_ERROR_OUT_OF_MEMORY", need-1, err)
	}
}

func TestFakeMeasureCancelled(t *testing.T) {
	b := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Measure(ctx, MeasureConfig{Words: 64, Reps: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Measure with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestFakeMeasureConfig(t *testing.T) {
	b := newFake(t)
	for _, cfg := range []MeasureConfig{{Words: 100}, {Words: -64}, {Words: 64, Reps: -1}} {
		if _, err := b.Measure(context.Background(), cfg); !errors.Is(err, ErrMeasureConfig) {
			t.Errorf("Measure(%+v): %v, want ErrMeasureConfig", cfg, err)
		}
	}
}

// TestFakeCheckWords checks the sanity check itself: it must catch a wrong
// word at each place it reads.
func TestFakeCheckWords(t *testing.T) {
	b := newFake(t)
	const words = 64
	p, err := b.ctx.Alloc(4 * words)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.ctx.Free(p); err != nil {
			t.Error(err)
		}
	}()
	if err := b.ctx.Memset8(p, 0x24, 4*words); err != nil {
		t.Fatal(err)
	}
	if err := b.checkWords(p, words, 0x24242424, "k"); err != nil {
		t.Fatalf("checkWords of a right buffer: %v", err)
	}
	for _, i := range []int{0, words / 2, words - 1} {
		if err := driver.CopyToDevice(b.ctx, p.Add(4*i), []uint32{0x24242425}); err != nil {
			t.Fatal(err)
		}
		err := b.checkWords(p, words, 0x24242424, "k")
		if !errors.Is(err, ErrWrongResult) {
			t.Errorf("checkWords with word %d wrong: %v, want ErrWrongResult", i, err)
		}
		if err := driver.CopyToDevice(b.ctx, p.Add(4*i), []uint32{0x24242424}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGPUMeasure runs Measure on device 0 at a small size and logs the
// figures. It skips where CUDA is unavailable unless COHORT_REQUIRE_GPU=1.
func TestGPUMeasure(t *testing.T) {
	b := newGPU(t, tensor.CPUConfig{Workers: 1})
	const words = 1 << 22
	ms, err := b.Measure(context.Background(), MeasureConfig{Words: words, Reps: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := wantMeasurements(words)
	if len(ms) != len(want) {
		t.Fatalf("Measure returned %d measurements, want %d", len(ms), len(want))
	}
	for i, m := range ms {
		if m.Name != want[i].Name || m.Bytes != want[i].Bytes || !(m.Time > 0) {
			t.Errorf("measurement %d: %+v, want %s with %d bytes and a positive time", i, m, want[i].Name, want[i].Bytes)
		}
		t.Logf("%-30s %8.1f GB/s  %v", m.Name, m.Throughput()/1e9, m.Time)
	}
}
