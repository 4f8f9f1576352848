// Package report renders the results of a federated job for people: an
// aligned plain-text table of per-round metrics and per-site totals, and a
// PNG plot of the training curves.
//
// The package knows nothing of the engine; callers convert the engine's
// results into [Round] and [Site] values.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ErrNoData is returned, wrapped, by [PlotPNG] and [SavePNG] when there is
// nothing to plot.
var ErrNoData = errors.New("report: no data to plot")

// Round is one round's results.
type Round struct {
	// Round is the round number, counted from 1.
	Round int
	// Contributors is the number of sites whose update was aggregated.
	Contributors int
	// TrainLoss is the mean training loss of the round; NaN if unknown.
	TrainLoss float64
	// Loss, Accuracy and AUC are the test metrics of the global model after
	// the round; NaN if not applicable.
	Loss, Accuracy, AUC float64
	// Epsilon is the ε spent so far per site (the maximum over sites) with
	// record-level differential privacy; NaN without differential privacy.
	Epsilon float64
	// Duration is the wall-clock time the round took.
	Duration time.Duration
}

// Times returns the mean and the longest duration of rounds (0, 0 for
// none).
func Times(rounds []Round) (mean, longest time.Duration) {
	if len(rounds) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, r := range rounds {
		sum += r.Duration
		longest = max(longest, r.Duration)
	}
	return sum / time.Duration(len(rounds)), longest
}

// Site is one site's totals.
type Site struct {
	// Name is the site's name.
	Name string
	// Rows is the number of training records the site holds.
	Rows int
	// Rounds is the number of rounds the site contributed to.
	Rounds int
	// Epsilon is the ε the site spent; NaN without differential privacy.
	Epsilon float64
}

// column is one column of a text table.
type column struct {
	header string
	left   bool // left-align instead of right-align
	cells  []string
}

// WriteTable writes an aligned plain-text table of rounds and then, after a
// blank line, a table of sites. The rounds table has the columns round,
// sites, train loss, test loss, accuracy, AUC, ε and time; a metric column
// whose value is NaN in every row is left out, and a NaN in a column that is
// kept is written as "-". Losses are written with four decimals, accuracy
// and AUC with three, ε with two, and durations rounded to the millisecond.
// The sites table has the columns site, rows, rounds and ε, the last left
// out when every site's ε is NaN. A table with no rows is not written.
func WriteTable(w io.Writer, rounds []Round, sites []Site) error {
	var b strings.Builder
	if len(rounds) > 0 {
		writeColumns(&b, roundColumns(rounds))
	}
	if len(sites) > 0 {
		if len(rounds) > 0 {
			b.WriteByte('\n')
		}
		writeColumns(&b, siteColumns(sites))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: writing table: %w", err)
	}
	return nil
}

// roundColumns returns the columns of the rounds table.
func roundColumns(rounds []Round) []column {
	metrics := []struct {
		header, format string
		value          func(Round) float64
	}{
		{"train loss", "%.4f", func(r Round) float64 { return r.TrainLoss }},
		{"test loss", "%.4f", func(r Round) float64 { return r.Loss }},
		{"accuracy", "%.3f", func(r Round) float64 { return r.Accuracy }},
		{"AUC", "%.3f", func(r Round) float64 { return r.AUC }},
		{"ε", "%.2f", func(r Round) float64 { return r.Epsilon }},
	}
	round := column{header: "round"}
	sites := column{header: "sites"}
	for _, r := range rounds {
		round.cells = append(round.cells, strconv.Itoa(r.Round))
		sites.cells = append(sites.cells, strconv.Itoa(r.Contributors))
	}
	cols := []column{round, sites}
	for _, m := range metrics {
		col := column{header: m.header}
		allNaN := true
		for _, r := range rounds {
			v := m.value(r)
			if !math.IsNaN(v) {
				allNaN = false
			}
			col.cells = append(col.cells, formatFloat(m.format, v))
		}
		if !allNaN {
			cols = append(cols, col)
		}
	}
	elapsed := column{header: "time"}
	for _, r := range rounds {
		elapsed.cells = append(elapsed.cells, r.Duration.Round(time.Millisecond).String())
	}
	return append(cols, elapsed)
}

// siteColumns returns the columns of the sites table.
func siteColumns(sites []Site) []column {
	name := column{header: "site", left: true}
	rows := column{header: "rows"}
	contributed := column{header: "rounds"}
	eps := column{header: "ε"}
	allNaN := true
	for _, s := range sites {
		name.cells = append(name.cells, s.Name)
		rows.cells = append(rows.cells, strconv.Itoa(s.Rows))
		contributed.cells = append(contributed.cells, strconv.Itoa(s.Rounds))
		eps.cells = append(eps.cells, formatFloat("%.2f", s.Epsilon))
		if !math.IsNaN(s.Epsilon) {
			allNaN = false
		}
	}
	cols := []column{name, rows, contributed}
	if !allNaN {
		cols = append(cols, eps)
	}
	return cols
}

// formatFloat formats v with format, or returns "-" for NaN.
func formatFloat(format string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// writeColumns writes cols as a table: a header line, a rule of dashes and
// one line per row, with columns separated by two spaces and no trailing
// spaces. All columns must have the same number of cells.
func writeColumns(b *strings.Builder, cols []column) {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = utf8.RuneCountInString(c.header)
		for _, cell := range c.cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	writeLine := func(cell func(i int) string) {
		var line strings.Builder
		for i, c := range cols {
			if i > 0 {
				line.WriteString("  ")
			}
			s := cell(i)
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s))
			if c.left {
				line.WriteString(s)
				line.WriteString(pad)
			} else {
				line.WriteString(pad)
				line.WriteString(s)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	writeLine(func(i int) string { return cols[i].header })
	writeLine(func(i int) string { return strings.Repeat("-", widths[i]) })
	if len(cols) == 0 {
		return
	}
	for row := range cols[0].cells {
		writeLine(func(i int) string { return cols[i].cells[row] })
	}
}

// Size of the PNG: 600×375 points at 96 dots per inch is 800×500 pixels.
const (
	plotDPI    = 96
	plotWidth  = 600 * vg.Inch / 72
	plotHeight = 375 * vg.Inch / 72
)

// series is one curve of a panel.
type series struct {
	name   string
	color  color.Color
	dashed bool
	value  func(Round) float64
}

// PlotPNG writes a PNG image of 800×500 pixels of the training curves of
// rounds: test loss and train loss on an upper panel, accuracy and AUC on a
// lower panel, sharing the x axis "round", under title. NaN and infinite
// values are skipped; a series with no finite value is left out, as is a
// panel with no series. PlotPNG returns an error wrapping [ErrNoData] when
// rounds is empty or holds no finite metric at all.
func PlotPNG(w io.Writer, title string, rounds []Round) error {
	if len(rounds) == 0 {
		return fmt.Errorf("%w: no rounds", ErrNoData)
	}
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b Round) int { return a.Round - b.Round })
	xmin, xmax := float64(sorted[0].Round), float64(sorted[len(sorted)-1].Round)
	if xmin == xmax {
		xmin, xmax = xmin-0.5, xmax+0.5
	}

	var panels []*plot.Plot
	for _, spec := range []struct {
		ylabel    string
		legendTop bool
		series    []series
	}{
		{ylabel: "loss", legendTop: true, series: []series{
			{name: "test loss", color: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, value: func(r Round) float64 { return r.Loss }},
			{name: "train loss", color: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, dashed: true, value: func(r Round) float64 { return r.TrainLoss }},
		}},
		{ylabel: "accuracy / AUC", legendTop: false, series: []series{
			{name: "accuracy", color: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, value: func(r Round) float64 { return r.Accuracy }},
			{name: "AUC", color: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, dashed: true, value: func(r Round) float64 { return r.AUC }},
		}},
	} {
		p, err := newPanel(sorted, spec.ylabel, spec.legendTop, spec.series)
		if err != nil {
			return err
		}
		if p != nil {
			p.X.Min, p.X.Max = xmin, xmax
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		return fmt.Errorf("%w: no finite loss, accuracy or AUC in %d rounds", ErrNoData, len(rounds))
	}
	panels[len(panels)-1].X.Label.Text = "round"

	img := vgimg.NewWith(vgimg.UseWH(plotWidth, plotHeight), vgimg.UseDPI(plotDPI))
	dc := draw.New(img)
	if title != "" {
		style := plot.New().Title.TextStyle
		style.Font.Size = vg.Points(14)
		style.YAlign = draw.YTop
		pad := vg.Points(6)
		dc.FillText(style, vg.Point{X: dc.Center().X, Y: dc.Max.Y - pad}, title)
		dc = draw.Crop(dc, 0, 0, 0, -(style.Rectangle(title).Size().Y + 2*pad))
	}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{
		Rows:      len(panels),
		Cols:      1,
		PadY:      vg.Points(6),
		PadTop:    vg.Points(4),
		PadBottom: vg.Points(4),
		PadLeft:   vg.Points(4),
		PadRight:  vg.Points(10),
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("report: writing PNG: %w", err)
	}
	return nil
}

// newPanel returns a plot of the given series of rounds, sorted by round, or
// nil if none of the series has a finite value.
func newPanel(rounds []Round, ylabel string, legendTop bool, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = roundTicks{}
	p.Legend.Top = legendTop
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.Legend.XOffs = -vg.Points(6)
	if legendTop {
		p.Legend.YOffs = -vg.Points(4)
	} else {
		p.Legend.YOffs = vg.Points(4)
	}
	p.Add(plotter.NewGrid())
	n := 0
	for _, s := range ss {
		var xys plotter.XYs
		for _, r := range rounds {
			if v := s.value(r); !math.IsNaN(v) && !math.IsInf(v, 0) {
				xys = append(xys, plotter.XY{X: float64(r.Round), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("report: plotting %s: %w", s.name, err)
		}
		line.LineStyle = draw.LineStyle{Color: s.color, Width: vg.Points(1.5)}
		if s.dashed {
			line.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		points.GlyphStyle = draw.GlyphStyle{Color: s.color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	return p, nil
}

// roundTicks marks whole round numbers on the x axis, at most about ten of
// them, at steps of 1, 2 or 5 times a power of ten.
type roundTicks struct{}

// Ticks implements plot.Ticker.
func (roundTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := math.Ceil(lo), math.Floor(hi)
	if !(first <= last) || math.IsInf(first, 0) || math.IsInf(last, 0) {
		return nil
	}
	step := 1.0
	for i := 0; (last-first)/step > 10; i++ {
		step = []float64{2, 5, 10}[i%3] * math.Pow(10, float64(i/3))
	}
	first = math.Ceil(first/step) * step
	var ticks []plot.Tick
	for v := first; v <= last; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// SavePNG writes the plot of [PlotPNG] to the file path. It writes to
// path+".tmp" and renames that to path, so path is never left half-written;
// on error the temporary file is removed.
func SavePNG(path, title string, rounds []Round) error {
	var buf bytes.Buffer
	if err := PlotPNG(&buf, title, rounds); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("report: saving plot: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: saving plot: %w", err)
	}
	return nil
}
