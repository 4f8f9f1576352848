package data

import (
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func smallSchema() Schema {
	return Schema{
		Columns: []Column{
			{Name: "radius", Type: Float},
			{Name: "count", Type: Int},
			{Name: "site", Type: Category, Categories: []string{"a", "b", "c"}},
			{Name: "y", Type: Int},
		},
		Label:      "y",
		ClassNames: []string{"no", "yes"},
	}
}

func TestLoadSmall(t *testing.T) {
	in := "1.5,2,b,1\n-3e2, 4.0 ,c,0\n\n0,0,a,1\n"
	d, err := Load(strings.NewReader(in), smallSchema())
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{1.5, 2, 1, -300, 4, 2, 0, 0, 0}
	if d.All.Rows != 3 || d.All.Cols != 3 || !slices.Equal(d.All.X, wantX) || !slices.Equal(d.All.Y, []float64{1, 0, 1}) {
		t.Fatalf("got %+v", d.All)
	}
	if d.Classes != 2 || !slices.Equal(d.Features, []string{"radius", "count", "site"}) {
		t.Fatalf("classes %d features %q", d.Classes, d.Features)
	}
}

func TestLoadRefusesRows(t *testing.T) {
	good := "1,2,a,0\n"
	cases := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"not a number", good + good + "abc,2,a,0\n", 3, `data: line 3: column "radius": "abc" is not a number`},
		{"not finite", good + "Inf,2,a,0\n", 2, `data: line 2: column "radius": "Inf" is not a finite number`},
		{"overflow", "1e400,2,a,0\n", 1, `data: line 1: column "radius": "1e400" is not a finite number`},
		{"not an integer", good + "1,2.5,a,0\n", 2, `data: line 2: column "count": "2.5" is not an integer`},
		{"unknown category", "1,2,z,0\n", 1, `data: line 1: column "site": "z" is not one of the declared categories`},
		{"label not a class", good + good + good + "1,2,a,2\n", 4, `data: line 4: column "y": label "2" is not a class in 0..1`},
		{"label negative", "1,2,a,-1\n", 1, `data: line 1: column "y": label "-1" is not a class in 0..1`},
		{"too few fields", good + "1,2,a\n", 2, `data: line 2: has 3 fields, want 4`},
		{"too many fields", "1,2,a,0,5\n", 1, `data: line 1: has 5 fields, want 4`},
		{"missing", good + "\n\n1,,a,0\n", 4, `data: line 4: column "count": missing value ""`},
		{"missing NA", "NA,1,a,0\n", 1, `data: line 1: column "radius": missing value "NA"`},
		{"bad quote", good + "1,\"2,a,0\n", 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(c.in), smallSchema())
			if !errors.Is(err, ErrRow) {
				t.Fatalf("err = %v, want ErrRow", err)
			}
			var re *RowError
			if !errors.As(err, &re) || re.Line != c.line {
				t.Fatalf("err = %v, want line %d", err, c.line)
			}
			if c.msg != "" && err.Error() != c.msg {
				t.Fatalf("err = %q\nwant  %q", err, c.msg)
			}
		})
	}
}

func TestLoadMissingPolicies(t *testing.T) {
	in := "1,2,a,0\n?,3,b,1\n4,,c,1\n5,6,,0\n7,8,a,\n"
	s := smallSchema()

	s.Missing = MissingPolicy{Action: MissingDrop}
	d, err := Load(strings.NewReader(in), s)
	if err != nil {
		t.Fatal(err)
	}
	if d.All.Rows != 1 || !slices.Equal(d.All.X, []float64{1, 2, 0}) {
		t.Fatalf("drop: %+v", d.All)
	}

	s.Missing = MissingPolicy{Action: MissingFill, Value: -1}
	_, err = Load(strings.NewReader(in), s)
	var re *RowError
	if !errors.As(err, &re) || re.Line != 5 || re.Column != "y" {
		t.Fatalf("fill with a missing label: err = %v, want line 5 column y", err)
	}
	d, err = Load(strings.NewReader(in[:strings.LastIndex(in[:len(in)-1], "\n")+1]), s)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 2, 0, -1, 3, 1, 4, -1, 2, 5, 6, -1}
	if d.All.Rows != 4 || !slices.Equal(d.All.X, want) || !slices.Equal(d.All.Y, []float64{0, 1, 1, 0}) {
		t.Fatalf("fill: %+v", d.All)
	}

	// Custom tokens: "" is then a value (and here not a number).
	s.Missing = MissingPolicy{Action: MissingDrop, Tokens: []string{"-"}}
	d, err = Load(strings.NewReader("1,2,a,0\n-,2,a,0\n"), s)
	if err != nil || d.All.Rows != 1 {
		t.Fatalf("custom token: %v %+v", err, d)
	}
	if _, err := Load(strings.NewReader("1,,a,0\n"), s); !errors.As(err, &re) || re.Reason != `"" is not a number` {
		t.Fatalf("custom token: err = %v", err)
	}

	// A missing value in a column that is neither label nor feature is ignored.
	s = smallSchema()
	s.Features = []string{"radius"}
	d, err = Load(strings.NewReader("1,?,,0\n"), s)
	if err != nil || d.All.Cols != 1 || d.All.X[0] != 1 {
		t.Fatalf("unused column: %v %+v", err, d)
	}
	// ... but its values are still type-checked.
	if _, err := Load(strings.NewReader("1,x,a,0\n"), s); !errors.Is(err, ErrRow) {
		t.Fatalf("unused column type: err = %v", err)
	}
}

func TestLoadHeaderNames(t *testing.T) {
	s := smallSchema()
	s.Header = HeaderNames
	s.Features = []string{"site", "radius"}
	d, err := Load(strings.NewReader("y, site ,count,radius\n1,c,2,0.5\n0,a,3,1.5\n"), s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.All.X, []float64{2, 0.5, 0, 1.5}) || !slices.Equal(d.All.Y, []float64{1, 0}) {
		t.Fatalf("got %+v", d.All)
	}
	for _, h := range []string{"y,site,count\n", "y,site,count,radius,extra\n", "y,site,count,count\n", "y,site,count,rad\n", ""} {
		if _, err := Load(strings.NewReader(h), s); !errors.Is(err, ErrHeader) {
			t.Errorf("header %q: err = %v, want ErrHeader", h, err)
		}
	}
	// Line numbers count the header.
	_, err = Load(strings.NewReader("y,site,count,radius\n1,c,2,0.5\n1,c,2,x\n"), s)
	var re *RowError
	if !errors.As(err, &re) || re.Line != 3 || re.Column != "radius" {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadHeaderShape(t *testing.T) {
	s := Schema{
		Columns: []Column{{Name: "a", Type: Float}, {Name: "b", Type: Float}, {Name: "y", Type: Int}},
		Label:   "y",
		Header:  HeaderShape,
	}
	d, err := Load(strings.NewReader("2,2,neg,pos,other\n1,2,0\n3,4,2\n"), s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Classes != 3 || d.ClassNames[2] != "other" || d.All.Rows != 2 {
		t.Fatalf("got %+v", d)
	}
	for _, in := range []string{
		"3,2,neg,pos\n1,2,0\n3,4,1\n", // row count
		"2,3,neg,pos\n1,2,0\n3,4,1\n", // feature count
		"x,2,neg,pos\n1,2,0\n3,4,1\n", // not a number
		"2,2\n1,2,0\n3,4,1\n",         // no class names
		"",                            // no header
	} {
		if _, err := Load(strings.NewReader(in), s); !errors.Is(err, ErrHeader) {
			t.Errorf("%q: err = %v, want ErrHeader", in, err)
		}
	}
	if _, err := Load(strings.NewReader("2,2,neg,pos\n1,2,0\n3,4,2\n"), s); !errors.Is(err, ErrRow) {
		t.Errorf("label outside header classes: err = %v", err)
	}
	s.ClassNames = []string{"neg", "pos"}
	if _, err := Load(strings.NewReader("2,2,neg,yes\n1,2,0\n3,4,1\n"), s); !errors.Is(err, ErrHeader) {
		t.Errorf("class names differ from schema: err = %v", err)
	}
}

func TestLoadDiscoveredCategories(t *testing.T) {
	s := Schema{
		Columns: []Column{{Name: "c", Type: Category}, {Name: "x", Type: Float}, {Name: "y", Type: Category}},
		Label:   "y",
		Missing: MissingPolicy{Action: MissingFill, Value: 7},
	}
	d, err := Load(strings.NewReader("zeta,1,dog\nalpha,2,cat\n,3,dog\nmu,4,ant\n"), s)
	if err != nil {
		t.Fatal(err)
	}
	// c: alpha=0 mu=1 zeta=2, the missing one filled with 7; y: ant=0 cat=1 dog=2.
	if !slices.Equal(d.All.X, []float64{2, 1, 0, 2, 7, 3, 1, 4}) || !slices.Equal(d.All.Y, []float64{2, 1, 2, 0}) {
		t.Fatalf("got %+v", d.All)
	}
	if d.Classes != 3 || !slices.Equal(d.ClassNames, []string{"ant", "cat", "dog"}) {
		t.Fatalf("classes %d %q", d.Classes, d.ClassNames)
	}
	// Declared label categories are the classes, in declared order.
	s.Columns[2].Categories = []string{"dog", "cat", "ant"}
	d, err = Load(strings.NewReader("zeta,1,dog\nalpha,2,ant\n"), s)
	if err != nil || !slices.Equal(d.All.Y, []float64{0, 2}) || !slices.Equal(d.ClassNames, []string{"dog", "cat", "ant"}) {
		t.Fatalf("declared: %v %+v", err, d)
	}
}

func TestLoadSpaceSeparated(t *testing.T) {
	s := Schema{Columns: []Column{{Name: "a", Type: Float}, {Name: "b", Type: Int}}, Comma: ' '}
	d, err := Load(strings.NewReader("1 2\n  3   4  \n"), s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.All.X, []float64{1, 2, 3, 4}) || !slices.Equal(d.All.Y, []float64{0, 0}) {
		t.Fatalf("got %+v", d.All)
	}
}

func TestLoadSchemaErrors(t *testing.T) {
	f := func(n string) Column { return Column{Name: n, Type: Float} }
	bad := []Schema{
		{},
		{Columns: []Column{f("a"), f("a")}},
		{Columns: []Column{f("")}},
		{Columns: []Column{f("a")}, Label: "b"},
		{Columns: []Column{f("a"), f("b")}, Label: "a", Features: []string{"a"}},
		{Columns: []Column{f("a"), f("b")}, Features: []string{"b", "b"}},
		{Columns: []Column{f("a"), f("b")}, Features: []string{"c"}},
		{Columns: []Column{f("a")}, ClassNames: []string{"x"}},
		{Columns: []Column{f("a"), f("b")}, Label: "a", ClassNames: []string{}},
		{Columns: []Column{{Name: "a", Type: Category, Categories: []string{"x", "x"}}}},
		{Columns: []Column{{Name: "a", Type: ColumnType(9)}}},
		{Columns: []Column{f("a")}, Header: HeaderShape},
		{Columns: []Column{f("a")}, Header: HeaderMode(7)},
		{Columns: []Column{f("a")}, Missing: MissingPolicy{Action: MissingAction(5)}},
		{Columns: []Column{f("a")}, Comma: '"'},
	}
	for i, s := range bad {
		if _, err := Load(strings.NewReader("1\n"), s); !errors.Is(err, ErrSchema) {
			t.Errorf("schema %d: err = %v, want ErrSchema", i, err)
		}
	}
}

func TestLoadFileGzip(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "x.csv")
	zipped := filepath.Join(dir, "x.csv.gz")
	content := "1,2,a,0\n3,4,b,1\n"
	if err := os.WriteFile(plain, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(zipped)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(content))
	zw.Close()
	f.Close()
	a, err := LoadFile(plain, smallSchema())
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadFile(zipped, smallSchema())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.All.X, b.All.X) || !slices.Equal(a.All.Y, b.All.Y) || a.All.Rows != 2 {
		t.Fatalf("plain %+v gzip %+v", a.All, b.All)
	}
	if _, err := LoadFile(filepath.Join(dir, "none.csv"), smallSchema()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadFile(plain+".bad.gz", smallSchema()); err == nil {
		t.Fatal("no error for a missing gzip file")
	}
	os.WriteFile(plain+"2.gz", []byte(content), 0o644)
	if _, err := LoadFile(plain+"2.gz", smallSchema()); err == nil {
		t.Fatal("no error for a .gz file that is not gzip")
	}
	// Errors carry the path.
	os.WriteFile(plain, []byte("1,2,a,0\nx,4,b,1\n"), 0o644)
	if _, err := LoadFile(plain, smallSchema()); !errors.Is(err, ErrRow) || !strings.Contains(err.Error(), "x.csv: data: line 2:") {
		t.Fatalf("err = %v", err)
	}
}
