package data

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// File names of the datasets shipped in the repository's testdata/datasets.
const (
	BreastCancerFile   = "breast_cancer.csv"
	DigitsFile         = "digits.csv.gz"
	DiabetesDataFile   = "diabetes_data_raw.csv.gz"
	DiabetesTargetFile = "diabetes_target.csv.gz"
)

// breastCancerFeatures are scikit-learn's names for the 30 features.
var breastCancerFeatures = func() []string {
	base := []string{"radius", "texture", "perimeter", "area", "smoothness",
		"compactness", "concavity", "concave points", "symmetry", "fractal dimension"}
	var out []string
	for _, f := range base {
		out = append(out, "mean "+f)
	}
	for _, f := range base {
		out = append(out, f+" error")
	}
	for _, f := range base {
		out = append(out, "worst "+f)
	}
	return out
}()

// BreastCancerSchema is the schema of breast_cancer.csv: a
// "569,30,malignant,benign" header, 30 Float features and an Int label
// (0 = malignant, 1 = benign).
func BreastCancerSchema() Schema {
	cols := make([]Column, 0, 31)
	for _, f := range breastCancerFeatures {
		cols = append(cols, Column{Name: f, Type: Float})
	}
	cols = append(cols, Column{Name: "target", Type: Int})
	return Schema{Columns: cols, Label: "target", Header: HeaderShape}
}

// BreastCancer loads Breast Cancer Wisconsin (Diagnostic) from
// dir/breast_cancer.csv: 569 rows, 30 features, 2 classes (212 malignant,
// 357 benign).
func BreastCancer(dir string) (*Dataset, error) {
	d, err := BreastCancerFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return d, nil
}

// BreastCancerFS is BreastCancer reading breast_cancer.csv from fsys.
func BreastCancerFS(fsys fs.FS) (*Dataset, error) {
	return LoadFS(fsys, BreastCancerFile, BreastCancerSchema())
}

// DigitsSchema is the schema of digits.csv.gz: 64 Int pixel columns
// "pixel_R_C" (values 0..16) and an Int label, the digit 0..9.
func DigitsSchema() Schema {
	cols := make([]Column, 0, 65)
	for r := range 8 {
		for c := range 8 {
			cols = append(cols, Column{Name: fmt.Sprintf("pixel_%d_%d", r, c), Type: Int})
		}
	}
	cols = append(cols, Column{Name: "target", Type: Int})
	names := make([]string, 10)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return Schema{Columns: cols, Label: "target", ClassNames: names}
}

// Digits loads the UCI optical digits (8x8 images) from dir/digits.csv.gz:
// 1797 rows, 64 features, 10 classes.
func Digits(dir string) (*Dataset, error) {
	d, err := DigitsFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return d, nil
}

// DigitsFS is Digits reading digits.csv.gz from fsys.
func DigitsFS(fsys fs.FS) (*Dataset, error) {
	return LoadFS(fsys, DigitsFile, DigitsSchema())
}

// DiabetesSchema is the schema of diabetes_data_raw.csv.gz: ten
// space-separated Float features (age, sex, bmi, bp, s1..s6) and no label;
// the targets are in a separate file (see Diabetes).
func DiabetesSchema() Schema {
	names := []string{"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}
	cols := make([]Column, len(names))
	for i, n := range names {
		cols[i] = Column{Name: n, Type: Float}
	}
	return Schema{Columns: cols, Comma: ' '}
}

// Diabetes loads the diabetes progression data (Efron et al. 2004) from
// dir/diabetes_data_raw.csv.gz and its targets from
// dir/diabetes_target.csv.gz: 442 rows, 10 features, a regression target.
func Diabetes(dir string) (*Dataset, error) {
	d, err := DiabetesFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return d, nil
}

// DiabetesFS is Diabetes reading its two files from fsys.
func DiabetesFS(fsys fs.FS) (*Dataset, error) {
	d, err := LoadFS(fsys, DiabetesDataFile, DiabetesSchema())
	if err != nil {
		return nil, err
	}
	ts := Schema{Columns: []Column{{Name: "target", Type: Float}}, Label: "target", Comma: ' '}
	t, err := LoadFS(fsys, DiabetesTargetFile, ts)
	if err != nil {
		return nil, err
	}
	if t.All.Rows != d.All.Rows {
		return nil, fmt.Errorf("%w: %s has %d rows, %s has %d", ErrHeader, DiabetesTargetFile, t.All.Rows, DiabetesDataFile, d.All.Rows)
	}
	d.All.Y = t.All.Y
	return d, nil
}
