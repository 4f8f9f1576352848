package data

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cohort-mpc/cohort/federated"
)

// RowError is the error for a line of a file that does not fit its schema.
// It wraps ErrRow.
type RowError struct {
	// Line is the 1-based line number in the file.
	Line int
	// Column is the column at fault, or "" if the fault is the row's.
	Column string
	// Reason says what is wrong.
	Reason string
}

// Error returns e.g. `data: line 17: column "radius": "abc" is not a number`.
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("data: line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("data: line %d: column %q: %s", e.Line, e.Column, e.Reason)
}

// Unwrap returns ErrRow.
func (e *RowError) Unwrap() error { return ErrRow }

// LoadFile loads the file at path with Load, decompressing it first if its
// name ends in ".gz".
func LoadFile(path string, s Schema) (*Dataset, error) {
	return loadFS(nil, path, s)
}

// LoadFS is LoadFile reading path from fsys.
func LoadFS(fsys fs.FS, path string, s Schema) (*Dataset, error) {
	if fsys == nil {
		return nil, fmt.Errorf("data: %s: no file system", path)
	}
	return loadFS(fsys, path, s)
}

func loadFS(fsys fs.FS, path string, s Schema) (*Dataset, error) {
	var f fs.File
	var err error
	if fsys == nil {
		f, err = os.Open(path)
	} else {
		f, err = fsys.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		defer z.Close()
		r = z
	}
	d, err := Load(r, s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Load reads a CSV file that must fit schema s and returns its dataset. A row
// that does not fit (wrong number of fields, a value of the wrong type, a
// label that is not a class, a missing value under MissingRefuse) is refused
// with a *RowError, which wraps ErrRow and carries the line number and the
// reason. An inconsistent schema gives ErrSchema, a header that does not fit
// ErrHeader.
func Load(r io.Reader, s Schema) (*Dataset, error) {
	c, err := compile(s)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(r)
	cr.Comma = c.comma
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	ncol := len(s.Columns)
	// pos[j] is the schema column of field j of a row.
	pos := make([]int, ncol)
	for i := range pos {
		pos[i] = i
	}
	classNames := s.ClassNames
	declaredRows := -1

	read := func() ([]string, int, error) {
		rec, err := cr.Read()
		if err != nil {
			if err == io.EOF {
				return nil, 0, err
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, &RowError{Line: pe.Line, Reason: pe.Err.Error()}
			}
			return nil, 0, fmt.Errorf("data: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if c.comma == ' ' {
			for len(rec) > 1 && rec[len(rec)-1] == "" {
				rec = rec[:len(rec)-1]
			}
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		return rec, line, nil
	}

	if s.Header != HeaderNone {
		rec, line, err := read()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no header line", ErrHeader)
		}
		if err != nil {
			return nil, err
		}
		switch s.Header {
		case HeaderNames:
			if len(rec) != ncol {
				return nil, fmt.Errorf("%w: line %d: %d columns, schema has %d", ErrHeader, line, len(rec), ncol)
			}
			seen := make([]bool, ncol)
			for j, name := range rec {
				i, ok := c.index[name]
				if !ok {
					return nil, fmt.Errorf("%w: line %d: unknown column %q", ErrHeader, line, name)
				}
				if seen[i] {
					return nil, fmt.Errorf("%w: line %d: duplicate column %q", ErrHeader, line, name)
				}
				seen[i] = true
				pos[j] = i
			}
		case HeaderShape:
			if len(rec) < 3 {
				return nil, fmt.Errorf("%w: line %d: want rows,features,class names", ErrHeader, line)
			}
			rows, err1 := strconv.Atoi(rec[0])
			feats, err2 := strconv.Atoi(rec[1])
			if err1 != nil || err2 != nil || rows < 0 {
				return nil, fmt.Errorf("%w: line %d: want rows,features,class names, got %q", ErrHeader, line, strings.Join(rec, ","))
			}
			if feats != ncol-1 {
				return nil, fmt.Errorf("%w: line %d: header says %d features, schema has %d non-label columns", ErrHeader, line, feats, ncol-1)
			}
			names := slices.Clone(rec[2:])
			if classNames != nil && !slices.Equal(classNames, names) {
				return nil, fmt.Errorf("%w: line %d: class names %q, schema says %q", ErrHeader, line, names, classNames)
			}
			classNames = names
			declaredRows = rows
		}
	}

	nf := len(c.features)
	classes := len(classNames)
	labelCol := Column{}
	if c.label >= 0 {
		labelCol = s.Columns[c.label]
	}
	// Category columns: declared index maps, or discovered values.
	catIndex := make([]map[string]int, ncol)
	discovered := make([]bool, ncol)
	for i, col := range s.Columns {
		if col.Type != Category {
			continue
		}
		catIndex[i] = make(map[string]int, len(col.Categories))
		for k, v := range col.Categories {
			catIndex[i][v] = k
		}
		discovered[i] = col.Categories == nil
	}
	if c.label >= 0 && labelCol.Type == Category && !discovered[c.label] {
		classNames = labelCol.Categories
		classes = len(classNames)
	}
	type cell struct{ row, feat int }
	var filled []cell // filled cells of discovered Category features

	var X, Y []float64
	rows, records := 0, 0
	row := make([]float64, nf)
rowLoop:
	for {
		rec, line, err := read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		records++
		if len(rec) != ncol {
			return nil, &RowError{Line: line, Reason: fmt.Sprintf("has %d fields, want %d", len(rec), ncol)}
		}
		var y float64
		nfilled := len(filled)
		for j, field := range rec {
			i := pos[j]
			role := c.role[i]
			col := s.Columns[i]
			if c.missing(field) {
				if role == -2 {
					continue
				}
				switch s.Missing.Action {
				case MissingDrop:
					filled = filled[:nfilled]
					continue rowLoop
				case MissingFill:
					if role >= 0 {
						row[role] = s.Missing.Value
						if discovered[i] {
							filled = append(filled, cell{rows, role})
						}
						continue
					}
					fallthrough
				default:
					return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("missing value %q", field)}
				}
			}
			var v float64
			switch col.Type {
			case Float, Int:
				f, err := strconv.ParseFloat(field, 64)
				switch {
				case err != nil && !errors.Is(err, strconv.ErrRange):
					return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("%q is not a number", field)}
				case err != nil || math.IsInf(f, 0) || math.IsNaN(f):
					return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("%q is not a finite number", field)}
				case col.Type == Int && f != math.Trunc(f):
					return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("%q is not an integer", field)}
				}
				v = f
			case Category:
				k, ok := catIndex[i][field]
				if !ok {
					if !discovered[i] {
						return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("%q is not one of the declared categories", field)}
					}
					k = len(catIndex[i])
					catIndex[i][field] = k
				}
				v = float64(k)
			}
			switch {
			case role >= 0:
				row[role] = v
			case role == -1:
				if classes > 0 && col.Type != Category && (v != math.Trunc(v) || v < 0 || v >= float64(classes)) {
					return nil, &RowError{Line: line, Column: col.Name, Reason: fmt.Sprintf("label %q is not a class in 0..%d", field, classes-1)}
				}
				y = v
			}
		}
		X = append(X, row...)
		Y = append(Y, y)
		rows++
	}
	if declaredRows >= 0 && records != declaredRows {
		return nil, fmt.Errorf("%w: header says %d rows, file has %d", ErrHeader, declaredRows, records)
	}

	// Discovered categories are renumbered in sorted order, so the
	// encoding depends only on the set of values.
	skip := make(map[cell]bool, len(filled))
	for _, f := range filled {
		skip[f] = true
	}
	for i := range s.Columns {
		if !discovered[i] || c.role[i] == -2 {
			continue
		}
		names := make([]string, len(catIndex[i]))
		for v, k := range catIndex[i] {
			names[k] = v
		}
		sorted := slices.Clone(names)
		slices.Sort(sorted)
		perm := make([]float64, len(names))
		for k, v := range names {
			p, _ := slices.BinarySearch(sorted, v)
			perm[k] = float64(p)
		}
		if role := c.role[i]; role >= 0 {
			for r := range rows {
				if !skip[cell{r, role}] {
					X[r*nf+role] = perm[int(X[r*nf+role])]
				}
			}
		} else {
			for r := range Y {
				Y[r] = perm[int(Y[r])]
			}
			classNames = sorted
			classes = len(sorted)
		}
	}
	if X == nil {
		X = []float64{}
	}
	if Y == nil {
		Y = []float64{}
	}
	return &Dataset{
		Features:   c.featureNames(),
		Classes:    classes,
		ClassNames: slices.Clip(slices.Clone(classNames)),
		All:        federated.Batch{X: X, Y: Y, Rows: rows, Cols: nf},
	}, nil
}
