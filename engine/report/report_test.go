package report

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var nan = math.NaN()

// sampleRounds returns three rounds of a classification job with DP.
func sampleRounds() []Round {
	return []Round{
		{Round: 1, Contributors: 3, TrainLoss: 0.693147, Loss: 0.65, Accuracy: 0.7, AUC: 0.75, Epsilon: 0.5, Duration: 1234567 * time.Microsecond},
		{Round: 2, Contributors: 2, TrainLoss: 0.5, Loss: 0.45678, Accuracy: 0.81234, AUC: nan, Epsilon: 0.9, Duration: 987 * time.Millisecond},
		{Round: 3, Contributors: 3, TrainLoss: 0.41, Loss: 0.40004, Accuracy: 0.8456, AUC: 0.9125, Epsilon: 1.254, Duration: 61500 * time.Millisecond},
	}
}

func TestWriteTable(t *testing.T) {
	sites := []Site{
		{Name: "hospital-a", Rows: 1200, Rounds: 3, Epsilon: 1.254},
		{Name: "b", Rows: 80, Rounds: 2, Epsilon: 0.9},
	}
	var b strings.Builder
	if err := WriteTable(&b, sampleRounds(), sites); err != nil {
		t.Fatal(err)
	}
	const want = `round  sites  train loss  test loss  accuracy    AUC     ε    time
-----  -----  ----------  ---------  --------  -----  ----  ------
    1      3      0.6931     0.6500     0.700  0.750  0.50  1.235s
    2      2      0.5000     0.4568     0.812      -  0.90   987ms
    3      3      0.4100     0.4000     0.846  0.912  1.25  1m1.5s

site        rows  rounds     ε
----------  ----  ------  ----
hospital-a  1200       3  1.25
b             80       2  0.90
`
	if got := b.String(); got != want {
		t.Errorf("WriteTable wrote\n%s\nwant\n%s", got, want)
	}
}

func TestWriteTableOmitsNaNColumns(t *testing.T) {
	rounds := []Round{
		{Round: 1, Contributors: 2, TrainLoss: nan, Loss: 12.5, Accuracy: nan, AUC: nan, Epsilon: nan, Duration: 2 * time.Millisecond},
		{Round: 2, Contributors: 2, TrainLoss: nan, Loss: 3.25, Accuracy: nan, AUC: nan, Epsilon: nan, Duration: 1400 * time.Microsecond},
	}
	sites := []Site{{Name: "x", Rows: 10, Rounds: 2, Epsilon: nan}}
	var b strings.Builder
	if err := WriteTable(&b, rounds, sites); err != nil {
		t.Fatal(err)
	}
	const want = `round  sites  test loss  time
-----  -----  ---------  ----
    1      2    12.5000   2ms
    2      2     3.2500   1ms

site  rows  rounds
----  ----  ------
x       10       2
`
	if got := b.String(); got != want {
		t.Errorf("WriteTable wrote\n%s\nwant\n%s", got, want)
	}
}

func TestWriteTableEmpty(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, nil, nil); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Errorf("WriteTable(nil, nil) wrote %q, want nothing", b.String())
	}
	if err := WriteTable(&b, nil, []Site{{Name: "s", Rows: 1, Rounds: 0, Epsilon: nan}}); err != nil {
		t.Fatal(err)
	}
	const want = "site  rows  rounds\n----  ----  ------\ns        1       0\n"
	if b.String() != want {
		t.Errorf("WriteTable with sites only wrote %q, want %q", b.String(), want)
	}
}

type failWriter struct{}

var errFail = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestWriteTableWriteError(t *testing.T) {
	if err := WriteTable(failWriter{}, sampleRounds(), nil); !errors.Is(err, errFail) {
		t.Errorf("WriteTable to a failing writer returned %v, want it to wrap %v", err, errFail)
	}
}

// decodePNG decodes a PNG and checks its size and that it is not blank.
func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding PNG: %v", err)
	}
	if got := img.Bounds(); got != image.Rect(0, 0, 800, 500) {
		t.Fatalf("PNG bounds %v, want 800x500", got)
	}
	colors := map[[4]uint32]bool{}
	for y := 0; y < 500; y += 3 {
		for x := 0; x < 800; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colors) < 3 {
		t.Errorf("PNG has %d distinct colours, want a drawing", len(colors))
	}
	return img
}

// countColour returns the number of pixels of img within 16/255 of c in
// each channel.
func countColour(img image.Image, c [3]uint32) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			near := func(v, w uint32) bool { d := int(v>>8) - int(w); return d >= -16 && d <= 16 }
			if near(r, c[0]) && near(g, c[1]) && near(bl, c[2]) {
				n++
			}
		}
	}
	return n
}

var (
	testLossColour = [3]uint32{0x1f, 0x77, 0xb4}
	accuracyColour = [3]uint32{0x2c, 0xa0, 0x2c}
)

func TestPlotPNG(t *testing.T) {
	var buf bytes.Buffer
	if err := PlotPNG(&buf, "demo: logistic regression, 3 sites", sampleRounds()); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, buf.Bytes())
	if n := countColour(img, testLossColour); n < 50 {
		t.Errorf("%d pixels of the test-loss colour, want a curve", n)
	}
	if n := countColour(img, accuracyColour); n < 50 {
		t.Errorf("%d pixels of the accuracy colour, want a curve", n)
	}
}

func TestPlotPNGLeavesOutNaNSeries(t *testing.T) {
	// A regression job: no accuracy, no AUC, so only the loss panel.
	rounds := []Round{
		{Round: 1, TrainLoss: nan, Loss: 4, Accuracy: nan, AUC: nan, Epsilon: nan},
		{Round: 2, TrainLoss: nan, Loss: 2, Accuracy: nan, AUC: nan, Epsilon: nan},
		{Round: 3, TrainLoss: nan, Loss: math.Inf(1), Accuracy: nan, AUC: nan, Epsilon: nan},
	}
	var buf bytes.Buffer
	if err := PlotPNG(&buf, "", rounds); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, buf.Bytes())
	if n := countColour(img, testLossColour); n < 50 {
		t.Errorf("%d pixels of the test-loss colour, want a curve", n)
	}
	if n := countColour(img, accuracyColour); n != 0 {
		t.Errorf("%d pixels of the accuracy colour, want none", n)
	}
}

func TestPlotPNGOneRound(t *testing.T) {
	var buf bytes.Buffer
	if err := PlotPNG(&buf, "one", sampleRounds()[:1]); err != nil {
		t.Fatal(err)
	}
	decodePNG(t, buf.Bytes())
}

func TestPlotPNGNoData(t *testing.T) {
	var buf bytes.Buffer
	err := PlotPNG(&buf, "t", nil)
	if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "no rounds") {
		t.Errorf("PlotPNG(nil) = %v, want ErrNoData naming no rounds", err)
	}
	allNaN := []Round{{Round: 1, TrainLoss: nan, Loss: nan, Accuracy: nan, AUC: nan, Epsilon: 1}}
	if err := PlotPNG(&buf, "t", allNaN); !errors.Is(err, ErrNoData) {
		t.Errorf("PlotPNG(all NaN) = %v, want ErrNoData", err)
	}
	if buf.Len() != 0 {
		t.Errorf("PlotPNG wrote %d bytes on error", buf.Len())
	}
}

func TestRoundTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{1, 5, "1 2 3 4 5"},
		{0, 1, "0 1"},
		{0.5, 3.5, "1 2 3"},
		{1, 12, "2 4 6 8 10 12"},
		{1, 40, "5 10 15 20 25 30 35 40"},
		{1, 100, "10 20 30 40 50 60 70 80 90 100"},
		{1, 1000, "100 200 300 400 500 600 700 800 900 1000"},
		{1.2, 1.8, ""},
	} {
		var got []string
		for _, tk := range (roundTicks{}).Ticks(tc.lo, tc.hi) {
			got = append(got, tk.Label)
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("Ticks(%v, %v) = %q, want %q", tc.lo, tc.hi, s, tc.want)
		}
	}
}

func TestSavePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "curves.png")
	if err := SavePNG(path, "curves", sampleRounds()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodePNG(t, data)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "curves.png" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only curves.png", names)
	}
}

func TestSavePNGErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.png")
	if err := SavePNG(path, "t", nil); !errors.Is(err, ErrNoData) {
		t.Errorf("SavePNG(nil) = %v, want ErrNoData", err)
	}
	// The target is a directory, so the rename fails.
	target := filepath.Join(dir, "isdir")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SavePNG(target, "t", sampleRounds()); err == nil {
		t.Error("SavePNG onto a non-empty directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "isdir" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only isdir", names)
	}
}
