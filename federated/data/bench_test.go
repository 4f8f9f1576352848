package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkLoadDigits(b *testing.B) {
	f, err := os.Open(filepath.Join(testdataDir, DigitsFile))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Load(bytes.NewReader(raw), DigitsSchema()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSiteStatsDigits(b *testing.B) {
	d, err := Digits(testdataDir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * len(d.All.X)))
	for b.Loop() {
		SiteStats(&d.All)
	}
}

func BenchmarkStandardizeDigits(b *testing.B) {
	d, err := Digits(testdataDir)
	if err != nil {
		b.Fatal(err)
	}
	z, err := NewStandardizer(SiteStats(&d.All), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(8 * len(d.All.X)))
	for b.Loop() {
		z.Transform(&d.All)
	}
}
