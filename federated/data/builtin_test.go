package data

import (
	"slices"
	"testing"
)

const testdataDir = "../../testdata/datasets"

func TestBreastCancer(t *testing.T) {
	d, err := BreastCancer(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	if d.All.Rows != 569 || d.All.Cols != 30 || len(d.All.X) != 569*30 || len(d.All.Y) != 569 {
		t.Fatalf("shape %dx%d (len X %d, Y %d), want 569x30", d.All.Rows, d.All.Cols, len(d.All.X), len(d.All.Y))
	}
	if d.Classes != 2 || !slices.Equal(d.ClassNames, []string{"malignant", "benign"}) {
		t.Fatalf("classes %d %q", d.Classes, d.ClassNames)
	}
	if c := ClassCounts(d.All.Y, 2); c[0] != 212 || c[1] != 357 {
		t.Fatalf("class counts %v, want [212 357]", c)
	}
	if len(d.Features) != 30 || d.Features[0] != "mean radius" || d.Features[29] != "worst fractal dimension" {
		t.Fatalf("features %q", d.Features)
	}
	// First row of the file: 17.99,10.38,...,0.1189,0.
	if r := d.All.Row(0); r[0] != 17.99 || r[1] != 10.38 || r[29] != 0.1189 || d.All.Y[0] != 0 {
		t.Fatalf("row 0 = %v, y %v", r, d.All.Y[0])
	}
}

func TestDigits(t *testing.T) {
	d, err := Digits(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	if d.All.Rows != 1797 || d.All.Cols != 64 || len(d.All.X) != 1797*64 {
		t.Fatalf("shape %dx%d, want 1797x64", d.All.Rows, d.All.Cols)
	}
	if d.Classes != 10 || len(d.ClassNames) != 10 || d.ClassNames[9] != "9" {
		t.Fatalf("classes %d %q", d.Classes, d.ClassNames)
	}
	c := ClassCounts(d.All.Y, 10)
	total := 0
	for k, n := range c {
		if n < 170 || n > 190 {
			t.Errorf("class %d has %d rows", k, n)
		}
		total += n
	}
	if total != 1797 {
		t.Fatalf("labels counted %d, want 1797", total)
	}
	for _, v := range d.All.X {
		if v < 0 || v > 16 {
			t.Fatalf("pixel %v outside 0..16", v)
		}
	}
}

func TestDiabetes(t *testing.T) {
	d, err := Diabetes(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	if d.All.Rows != 442 || d.All.Cols != 10 || len(d.All.Y) != 442 {
		t.Fatalf("shape %dx%d, %d targets, want 442x10", d.All.Rows, d.All.Cols, len(d.All.Y))
	}
	if d.Classes != 0 || d.ClassNames != nil {
		t.Fatalf("regression data set has classes %d %q", d.Classes, d.ClassNames)
	}
	// First row: 59 2 32.1 101.0 157 93.2 38.0 4.0 4.8598 87, target 151.
	want := []float64{59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87}
	if !slices.Equal(d.All.Row(0), want) || d.All.Y[0] != 151 {
		t.Fatalf("row 0 = %v, y %v", d.All.Row(0), d.All.Y[0])
	}
	if d.Features[2] != "bmi" {
		t.Fatalf("features %q", d.Features)
	}
}
