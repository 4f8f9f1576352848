package data

import (
	"fmt"
	"slices"

	"github.com/cohort-mpc/cohort/federated"
)

// ColumnType is how the values of a column are parsed.
type ColumnType int

const (
	// Float is a finite decimal number.
	Float ColumnType = iota
	// Int is an integer (written as an integer or as a float with no
	// fractional part, e.g. "3" or "3.0").
	Int
	// Category is one of a set of strings, encoded as its index in the
	// column's Categories.
	Category
)

// String returns the type's name.
func (t ColumnType) String() string {
	switch t {
	case Float:
		return "float"
	case Int:
		return "int"
	case Category:
		return "category"
	}
	return fmt.Sprintf("ColumnType(%d)", int(t))
}

// Column declares one column of a CSV file.
type Column struct {
	// Name identifies the column in Schema.Label, Schema.Features and a
	// header line.
	Name string
	// Type says how values are parsed.
	Type ColumnType
	// Categories lists the allowed values of a Category column; a value is
	// encoded as its index here. If nil, the categories are the distinct
	// values found in the file, sorted. Declare them explicitly whenever
	// several sites load their own files, so that every site uses the same
	// encoding. Ignored for other types.
	Categories []string
}

// HeaderMode says what the first line of a file holds.
type HeaderMode int

const (
	// HeaderNone: there is no header; columns are in Schema.Columns order.
	HeaderNone HeaderMode = iota
	// HeaderNames: the first line names the columns. Columns are matched
	// to the schema by name and may come in any order; every schema column
	// must appear exactly once and no other column may appear.
	HeaderNames
	// HeaderShape: the first line is "rows,features,class0,class1,..." as
	// in scikit-learn's bundled CSV files (e.g. "569,30,malignant,benign").
	// Columns are in Schema.Columns order; the number of features must be
	// the number of non-label columns, the number of data rows must match,
	// and the class names become the dataset's ClassNames.
	HeaderShape
)

// MissingAction is what to do with a row that has a missing value.
type MissingAction int

const (
	// MissingRefuse refuses the file with a *RowError (the default).
	MissingRefuse MissingAction = iota
	// MissingDrop drops the row.
	MissingDrop
	// MissingFill replaces a missing feature with MissingPolicy.Value. A
	// missing label is still refused.
	MissingFill
)

// defaultMissingTokens is never written.
var defaultMissingTokens = []string{"", "NA", "N/A", "NaN", "nan", "?"}

// DefaultMissingTokens returns the field values treated as missing when
// MissingPolicy.Tokens is nil (compared after trimming spaces): "", "NA",
// "N/A", "NaN", "nan" and "?".
func DefaultMissingTokens() []string { return slices.Clone(defaultMissingTokens) }

// MissingPolicy says which values are missing and what to do about them. Only
// the label and feature columns are subject to it; a missing value in a column
// that is neither is ignored.
type MissingPolicy struct {
	// Action is what to do with a row with a missing value.
	Action MissingAction
	// Value replaces missing features when Action is MissingFill.
	Value float64
	// Tokens are the field values that mean "missing"; nil means
	// DefaultMissingTokens().
	Tokens []string
}

// Schema declares the layout of a site's CSV file.
type Schema struct {
	// Columns lists every column of the file, in file order (unless
	// Header is HeaderNames, which matches columns by name).
	Columns []Column
	// Label names the target column. If empty, the dataset has no targets
	// (Y is all zeros), as for a feature-only file.
	Label string
	// Features names the feature columns, in the order they take in each
	// row of the batch. If nil, every column except Label, in Columns
	// order.
	Features []string
	// ClassNames, if not nil, makes the label (an Int or Float column) a
	// class index in 0..len(ClassNames)-1, so the dataset is a
	// classification problem with these classes. A Category label takes
	// its class names from its Categories instead, and HeaderShape from the
	// header. Otherwise the label is a regression target.
	ClassNames []string
	// Missing is the missing-value policy.
	Missing MissingPolicy
	// Header says what the first line holds.
	Header HeaderMode
	// Comma is the field separator; 0 means ','. With ' ', runs of spaces
	// separate fields.
	Comma rune
}

// Dataset is a loaded dataset.
type Dataset struct {
	// Features names the columns of All.X.
	Features []string
	// Classes is the number of classes, 0 for regression.
	Classes int
	// ClassNames names the classes (len Classes); nil for regression.
	ClassNames []string
	// All holds every row.
	All federated.Batch
}

// Subset returns a dataset with copies of rows idx of d (in that order) and
// d's feature and class names. It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	return &Dataset{
		Features:   d.Features,
		Classes:    d.Classes,
		ClassNames: d.ClassNames,
		All:        Gather(&d.All, idx),
	}
}

// Partition returns one dataset per element of parts, each a Subset of d.
func (d *Dataset) Partition(parts [][]int) []*Dataset {
	out := make([]*Dataset, len(parts))
	for i, p := range parts {
		out[i] = d.Subset(p)
	}
	return out
}

// Gather returns a new batch holding copies of rows idx of b, in that order.
// It panics if an index is out of range.
func Gather(b *federated.Batch, idx []int) federated.Batch {
	out := federated.Batch{
		X:    make([]float64, len(idx)*b.Cols),
		Y:    make([]float64, len(idx)),
		Rows: len(idx),
		Cols: b.Cols,
	}
	for j, i := range idx {
		if i < 0 || i >= b.Rows {
			panic(fmt.Sprintf("data: Gather: row %d out of range [0,%d)", i, b.Rows))
		}
		copy(out.X[j*b.Cols:(j+1)*b.Cols], b.X[i*b.Cols:(i+1)*b.Cols])
		out.Y[j] = b.Y[i]
	}
	return out
}

// ClassCounts returns how many of the labels y fall in each class
// 0..classes-1. Labels that are not a class index in that range are not
// counted.
func ClassCounts(y []float64, classes int) []int {
	c := make([]int, classes)
	for _, v := range y {
		k := int(v)
		if float64(k) == v && k >= 0 && k < classes {
			c[k]++
		}
	}
	return c
}

// compiled is a validated schema.
type compiled struct {
	s        Schema
	index    map[string]int // column name -> index in s.Columns
	label    int            // index in s.Columns, -1 if none
	features []int          // indices in s.Columns
	role     []int          // per column: -2 unused, -1 label, else feature position
	tokens   []string
	comma    rune
}

func compile(s Schema) (*compiled, error) {
	c := &compiled{s: s, index: make(map[string]int, len(s.Columns)), label: -1}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("%w: no columns", ErrSchema)
	}
	for i, col := range s.Columns {
		if col.Name == "" {
			return nil, fmt.Errorf("%w: column %d has no name", ErrSchema, i)
		}
		if _, dup := c.index[col.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate column %q", ErrSchema, col.Name)
		}
		switch col.Type {
		case Float, Int:
		case Category:
			seen := make(map[string]bool, len(col.Categories))
			for _, v := range col.Categories {
				if seen[v] {
					return nil, fmt.Errorf("%w: column %q: duplicate category %q", ErrSchema, col.Name, v)
				}
				seen[v] = true
			}
		default:
			return nil, fmt.Errorf("%w: column %q: unknown type %v", ErrSchema, col.Name, col.Type)
		}
		c.index[col.Name] = i
	}
	c.role = make([]int, len(s.Columns))
	for i := range c.role {
		c.role[i] = -2
	}
	if s.Label != "" {
		i, ok := c.index[s.Label]
		if !ok {
			return nil, fmt.Errorf("%w: label %q is not a column", ErrSchema, s.Label)
		}
		c.label = i
		c.role[i] = -1
		if s.Columns[i].Type == Category && s.ClassNames != nil {
			return nil, fmt.Errorf("%w: ClassNames given for Category label %q (its Categories are the classes)", ErrSchema, s.Label)
		}
	} else if s.ClassNames != nil {
		return nil, fmt.Errorf("%w: ClassNames without a label", ErrSchema)
	}
	if s.ClassNames != nil && len(s.ClassNames) == 0 {
		return nil, fmt.Errorf("%w: empty ClassNames", ErrSchema)
	}
	if s.Features == nil {
		for i := range s.Columns {
			if i != c.label {
				c.features = append(c.features, i)
			}
		}
	} else {
		for _, name := range s.Features {
			i, ok := c.index[name]
			switch {
			case !ok:
				return nil, fmt.Errorf("%w: feature %q is not a column", ErrSchema, name)
			case i == c.label:
				return nil, fmt.Errorf("%w: %q is both label and feature", ErrSchema, name)
			case c.role[i] >= 0:
				return nil, fmt.Errorf("%w: duplicate feature %q", ErrSchema, name)
			}
			c.role[i] = len(c.features)
			c.features = append(c.features, i)
		}
	}
	for j, i := range c.features {
		c.role[i] = j
	}
	switch s.Header {
	case HeaderNone, HeaderNames, HeaderShape:
	default:
		return nil, fmt.Errorf("%w: unknown header mode %d", ErrSchema, s.Header)
	}
	if s.Header == HeaderShape && (c.label < 0 || s.Columns[c.label].Type == Category) {
		return nil, fmt.Errorf("%w: HeaderShape needs an Int or Float label", ErrSchema)
	}
	switch s.Missing.Action {
	case MissingRefuse, MissingDrop, MissingFill:
	default:
		return nil, fmt.Errorf("%w: unknown missing-value action %d", ErrSchema, s.Missing.Action)
	}
	c.tokens = s.Missing.Tokens
	if c.tokens == nil {
		c.tokens = defaultMissingTokens
	}
	c.comma = s.Comma
	if c.comma == 0 {
		c.comma = ','
	}
	if c.comma == '"' || c.comma == '\r' || c.comma == '\n' || c.comma == 0xFFFD {
		return nil, fmt.Errorf("%w: invalid separator %q", ErrSchema, c.comma)
	}
	return c, nil
}

func (c *compiled) missing(v string) bool {
	return slices.Contains(c.tokens, v)
}

func (c *compiled) featureNames() []string {
	out := make([]string, len(c.features))
	for j, i := range c.features {
		out[j] = c.s.Columns[i].Name
	}
	return out
}
