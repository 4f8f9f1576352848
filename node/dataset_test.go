package node

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/testdata/datasets"
)

// clinicCSV has an Int id, an Int age, a Float weight, a category and an
// Int label of three classes.
const clinicCSV = `id,age,weight,smoker,outcome
1,34,70.5,no,0
2,51,82,yes,1
3, 29 ,65.25,no,2
4,62,90,yes,1
5,45,77.5,never,0
6,38,68,no,1
`

var regTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func writeCSV(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAddDatasetInfers(t *testing.T) {
	dir := t.TempDir()
	csv := writeCSV(t, dir, "clinic.csv", clinicCSV)
	info, err := AddDataset(dir, "clinic", csv, AddOptions{Label: "outcome", Now: regTime.Add(123 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	want := &DatasetInfo{
		Name:   "clinic",
		File:   csv,
		SHA256: sha256.Sum256([]byte(clinicCSV)),
		Rows:   6,
		Schema: data.Schema{
			Columns: []data.Column{
				{Name: "id", Type: data.Int},
				{Name: "age", Type: data.Int},
				{Name: "weight", Type: data.Float},
				{Name: "smoker", Type: data.Category, Categories: []string{"never", "no", "yes"}},
				{Name: "outcome", Type: data.Int},
			},
			Label:    "outcome",
			Features: []string{"id", "age", "weight", "smoker"},
			Header:   data.HeaderNames,
		},
		Classes:      3,
		TestFraction: 0.2,
		Registered:   regTime,
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("AddDataset:\n got %+v\nwant %+v", info, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, DatasetsDir, "clinic.toml"))
	if err != nil {
		t.Fatal(err)
	}
	wantTOML := `# A dataset registered with cohort dataset add. Jobs name it by its name;
# only its schema and row count are ever shared, never its rows.
name = "clinic"
file = "` + csv + `"
sha256 = "` + fmt.Sprintf("%x", want.SHA256) + `"
rows = 6
label = "outcome"
features = ["id", "age", "weight", "smoker"]
classes = 3
test_fraction = 0.2
registered = 2026-03-04T05:06:07Z

[[column]]
  name = "id"
  type = "int"

[[column]]
  name = "age"
  type = "int"

[[column]]
  name = "weight"
  type = "float"

[[column]]
  name = "smoker"
  type = "category"
  categories = ["never", "no", "yes"]

[[column]]
  name = "outcome"
  type = "int"
`
	if string(b) != wantTOML {
		t.Errorf("registration file:\n%s\nwant\n%s", b, wantTOML)
	}
	got, err := LookupDataset(dir, "clinic")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LookupDataset:\n got %+v\nwant %+v", got, want)
	}
}

func TestAddDatasetClasses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		csv     string
		typ     data.ColumnType
		classes int
	}{
		{"x,y\n1,a\n2,b\n3,a\n", data.Category, 2},
		{"x,y\n1,0.5\n2,1\n", data.Float, 0},
		{"x,y\n1,1.0\n2,0\n", data.Float, 0}, // "1.0" is not written as an integer
		{"x,y\n1,-1\n2,1\n", data.Int, 0},
		{"x,y\n1,999\n2,0\n", data.Int, 1000},
		{"x,y\n1,1000\n2,0\n", data.Int, 0},
		{"x,y\n1,1\n2,1\n", data.Int, 2},
		{"x,y\n1,inf\n2,1\n", data.Category, 2},
	} {
		csv := writeCSV(t, dir, "d.csv", c.csv)
		info, err := AddDataset(dir, "d", csv, AddOptions{Label: "y", Replace: true, TestFraction: 0.5})
		if err != nil {
			t.Errorf("%q: %v", c.csv, err)
			continue
		}
		if got := info.Schema.Columns[1].Type; got != c.typ || info.Classes != c.classes || info.TestFraction != 0.5 {
			t.Errorf("%q: label %v with %d classes, want %v with %d", c.csv, got, info.Classes, c.typ, c.classes)
		}
	}
}

func TestAddDatasetRefuses(t *testing.T) {
	dir := t.TempDir()
	good := writeCSV(t, dir, "good.csv", clinicCSV)
	if _, err := AddDataset(dir, "clinic", good, AddOptions{Label: "outcome"}); err != nil {
		t.Fatal(err)
	}
	many := "x,id\n"
	for i := range MaxCategories + 1 {
		many += fmt.Sprintf("%d,p%d\n", i, i)
	}
	for _, c := range []struct {
		name, csv string
		opt       AddOptions
		want      string
	}{
		{"ok", "a,b\n1,2\n3,NA\n", AddOptions{Label: "b"}, `line 3: column "b": missing value "NA": fill in or drop the missing values before registering`},
		{"ok", "a,b\n1,2\n,3\n", AddOptions{Label: "b"}, `line 3: column "a": missing value "": fill in`},
		{"ok", "a,b\n1,2\n?,3\n", AddOptions{Label: "b"}, `line 3: column "a": missing value "?"`},
		{"ok", "a,b\n1,2\n", AddOptions{Label: "c"}, `no label column "c" (the columns are "a", "b")`},
		{"ok", "a,b\n1,2\n", AddOptions{}, `node: dataset: ok: no label column given`},
		{"Bad", "a,b\n1,2\n", AddOptions{Label: "b"}, `node: dataset: name "Bad": want 1 to 64 of a-z`},
		{"_x", "a,b\n1,2\n", AddOptions{Label: "b"}, `node: dataset: name "_x"`},
		{"clinic", "a,b\n1,2\n", AddOptions{Label: "b"}, `a dataset named "clinic" is already registered`},
		{"ok", "", AddOptions{Label: "b"}, `empty file: want a first line of column names`},
		{"ok", "a,b\n", AddOptions{Label: "b"}, `no rows after the header`},
		{"ok", "b\n1\n", AddOptions{Label: "b"}, `no feature columns besides the label "b"`},
		{"ok", "a,b\n1,2\n1,2,3\n", AddOptions{Label: "b"}, `line 3: 3 fields, the header has 2`},
		{"ok", "a,a\n1,2\n", AddOptions{Label: "a"}, `line 1: duplicate column "a"`},
		{"ok", "a,,b\n1,2,3\n", AddOptions{Label: "b"}, `line 1: column 2 has no name`},
		{"ok", "a,b\n1,\"2\n", AddOptions{Label: "b"}, `line 2: extraneous or missing " in quoted-field`},
		{"ok", "a,b\n1,2\n", AddOptions{Label: "b", TestFraction: 1}, `test fraction 1 is not in (0, 1)`},
		{"ok", "a,b\n1,2\n", AddOptions{Label: "b", TestFraction: -0.1}, `test fraction -0.1 is not in (0, 1)`},
		{"ok", many, AddOptions{Label: "x"}, `column "id": more than 1000 distinct values that are not all numbers`},
	} {
		csv := writeCSV(t, dir, "f.csv", c.csv)
		_, err := AddDataset(dir, c.name, csv, c.opt)
		if !errors.Is(err, ErrDataset) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.csv, err, c.want)
		}
	}
	if _, err := LookupDataset(dir, "ok"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused dataset was registered: %v", err)
	}
	// --replace replaces.
	other := writeCSV(t, dir, "other.csv", "a,b\n1,2\n3,4\n")
	if _, err := AddDataset(dir, "clinic", other, AddOptions{Label: "b", Replace: true}); err != nil {
		t.Fatal(err)
	}
	if d, err := LookupDataset(dir, "clinic"); err != nil || d.Rows != 2 || d.File != other {
		t.Errorf("replaced: %+v, %v", d, err)
	}
	if _, err := AddDataset(filepath.Join(dir, "nope"), "x", other, AddOptions{Label: "b"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing node folder: %v", err)
	}
}

func TestDatasetsList(t *testing.T) {
	dir := t.TempDir()
	if ds, err := Datasets(dir); err != nil || ds != nil {
		t.Fatalf("empty registry: %v, %v", ds, err)
	}
	if _, err := OpenRegistry(dir); err != nil {
		t.Fatalf("empty registry: %v", err)
	}
	if _, err := OpenRegistry(filepath.Join(dir, "nope")); !errors.Is(err, ErrDataset) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no node folder: %v", err)
	}
	csv := writeCSV(t, dir, "d.csv", "a,b\n1,2\n3,4\n")
	for _, name := range []string{"b", "a.b", "a", "a-1"} {
		if _, err := AddDataset(dir, name, csv, AddOptions{Label: "b", Now: regTime}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Datasets(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if want := []string{"a", "a-1", "a.b", "b"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Datasets: %q, want %q", names, want)
	}
	// A registration that does not check out is reported, by file.
	bad := filepath.Join(dir, DatasetsDir, "a.toml")
	b, _ := os.ReadFile(bad)
	for _, c := range []struct{ from, to, want string }{
		{`rows = 2`, `rows = 0`, "rows: must be at least 1, got 0"},
		{`name = "a"`, `name = "b"`, `name: "b", want the file's name "a"`},
		{`label = "b"`, `label = "c"`, `label: no column "c"`},
		{`features = ["a"]`, `features = []`, `features: [], want the columns other than the label in order, ["a"]`},
		{`type = "int"`, `type = "date"`, `column[0].type: unknown type "date"`},
		{`rows = 2`, "rows = 2\nextra = 1", `unknown key extra`},
		{`test_fraction = 0.2`, `test_fraction = 1.0`, `test_fraction: must be in (0, 1), got 1`},
	} {
		if err := os.WriteFile(bad, []byte(strings.Replace(string(b), c.from, c.to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Datasets(dir); !errors.Is(err, ErrDataset) || !strings.Contains(err.Error(), bad+": "+c.want) {
			t.Errorf("%s → %s: %v", c.from, c.to, err)
		}
		if _, err := OpenRegistry(dir); !errors.Is(err, ErrDataset) {
			t.Errorf("OpenRegistry: %v", err)
		}
	}
}

// breastCancerCSV writes the shipped breast-cancer data with a header of
// its schema's column names and returns its path and rows.
func breastCancerCSV(t *testing.T, dir string) (string, *data.Dataset) {
	t.Helper()
	d, err := data.BreastCancerFS(datasets.FS)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, c := range data.BreastCancerSchema().Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.Name)
	}
	b.WriteByte('\n')
	for r := range d.All.Rows {
		for _, x := range d.All.Row(r) {
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64) + ",")
		}
		b.WriteString(strconv.Itoa(int(d.All.Y[r])) + "\n")
	}
	return writeCSV(t, dir, "bc.csv", b.String()), d
}

func parseJob(t *testing.T, s string) *engine.Job {
	t.Helper()
	j, err := engine.ParseJob(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestSiteDataBuiltinJob(t *testing.T) {
	dir := t.TempDir()
	csv, bc := breastCancerCSV(t, dir)
	info, err := AddDataset(dir, "breast_cancer", csv, AddOptions{Label: "target"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 569 || info.Classes != 2 || len(info.Schema.Features) != 30 {
		t.Fatalf("registered %d rows, %d classes, %d features", info.Rows, info.Classes, len(info.Schema.Features))
	}
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	job := parseJob(t, "[dataset]\nbuiltin = \"breast_cancer\"\n[model]\nkind = \"logreg\"\n")
	sd, err := reg.SiteData(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// Stratified: 42 of the 212 malignant and 71 of the 357 benign rows.
	if sd.Dataset != "breast_cancer" || sd.Train.Rows != 456 || sd.Test.Rows != 113 || sd.Train.Cols != 30 || sd.Test.Cols != 30 {
		t.Fatalf("SiteData: dataset %q, %d×%d train, %d×%d test", sd.Dataset, sd.Train.Rows, sd.Train.Cols, sd.Test.Rows, sd.Test.Cols)
	}
	if got := data.ClassCounts(sd.Test.Y, 2); got[0] != 42 || got[1] != 71 {
		t.Errorf("test classes %v, want [42 71]", got)
	}
	// Anyone can reproduce the split from the rows and the file's hash.
	train, test, err := SplitRows(&bc.All, 2, 0.2, info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*sd.Train, train) || !reflect.DeepEqual(*sd.Test, test) {
		t.Error("SiteData's split differs from SplitRows's")
	}
	// The same rows are held out in every job.
	again, err := reg.SiteData(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, sd) {
		t.Error("a second job got another split")
	}
	// Another hash, another split.
	h := info.SHA256
	h[0] ^= 1
	_, other, _ := SplitRows(&bc.All, 2, 0.2, h)
	if other.Rows != test.Rows || reflect.DeepEqual(other, test) {
		t.Error("the split does not depend on the hash")
	}
}

func TestSplitRowsRegression(t *testing.T) {
	b := federated.Batch{X: make([]float64, 10), Y: []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Rows: 10, Cols: 1}
	var h [32]byte
	train, test, err := SplitRows(&b, 0, 0.3, h)
	if err != nil {
		t.Fatal(err)
	}
	if train.Rows != 7 || test.Rows != 3 {
		t.Fatalf("%d train, %d test rows", train.Rows, test.Rows)
	}
	// Rows keep their order; together they are all the rows.
	seen := map[float64]bool{}
	for _, y := range append(append([]float64{}, train.Y...), test.Y...) {
		seen[y] = true
	}
	if len(seen) != 10 {
		t.Errorf("split lost rows: train %v test %v", train.Y, test.Y)
	}
	_, test2, _ := SplitRows(&b, 0, 0.3, h)
	if !reflect.DeepEqual(test, test2) {
		t.Errorf("not reproducible: %v, %v", test.Y, test2.Y)
	}
	if _, _, err := SplitRows(&b, 0, 1.5, h); !errors.Is(err, data.ErrPartition) {
		t.Errorf("fraction 1.5: %v", err)
	}
}

const clinicJob = `
[dataset]
name = "clinic"
path = "elsewhere.csv"
label = "outcome"
features = ["smoker", "weight"]
class_names = ["a", "b", "c"]
[[dataset.columns]]
name = "id"
type = "int"
[[dataset.columns]]
name = "weight"
[[dataset.columns]]
name = "smoker"
type = "category"
categories = ["yes", "no", "never", "former"]
[[dataset.columns]]
name = "outcome"
type = "int"
[dataset.missing]
action = "drop"
[model]
kind = "softmax"
`

func TestSiteDataCSVJob(t *testing.T) {
	dir := t.TempDir()
	csv := writeCSV(t, dir, "clinic.csv", clinicCSV)
	info, err := AddDataset(dir, "clinic", csv, AddOptions{Label: "outcome", TestFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	job := parseJob(t, clinicJob)
	sd, err := reg.SiteData(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// The job's features, in its order, its categories' encoding (yes 0,
	// no 1, never 2); the split is the registered data's.
	all := federated.Batch{
		X:    []float64{1, 70.5, 0, 82, 1, 65.25, 0, 90, 2, 77.5, 1, 68},
		Y:    []float64{0, 1, 2, 1, 0, 1},
		Rows: 6, Cols: 2,
	}
	train, test, err := SplitRows(&all, 3, 0.5, info.SHA256) // the split depends on the labels alone
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*sd.Train, train) || !reflect.DeepEqual(*sd.Test, test) {
		t.Errorf("SiteData:\ntrain %v\ntest %v\nwant\ntrain %v\ntest %v", sd.Train, sd.Test, train, test)
	}
	if sd.Train.Rows != 2 || sd.Test.Rows != 4 { // stratified: 1 of 2, 2 of 3, 1 of 1
		t.Errorf("%d train, %d test rows", sd.Train.Rows, sd.Test.Rows)
	}
}

func TestSiteDataRefuses(t *testing.T) {
	dir := t.TempDir()
	csv := writeCSV(t, dir, "clinic.csv", clinicCSV)
	if _, err := AddDataset(dir, "clinic", csv, AddOptions{Label: "outcome"}); err != nil {
		t.Fatal(err)
	}
	catCSV := writeCSV(t, dir, "cat.csv", "x,y\n1,a\n2,b\n3,a\n")
	if _, err := AddDataset(dir, "cat", catCSV, AddOptions{Label: "y"}); err != nil {
		t.Fatal(err)
	}
	floatCSV := writeCSV(t, dir, "float.csv", "x,y\n1,0.5\n2,1\n3,2\n")
	if _, err := AddDataset(dir, "float", floatCSV, AddOptions{Label: "y"}); err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	catJob := "[dataset]\nname = \"cat\"\npath = \"c.csv\"\nlabel = \"y\"\n[[dataset.columns]]\nname = \"x\"\n" +
		"[[dataset.columns]]\nname = \"y\"\ntype = \"category\"\ncategories = [\"a\", \"c\"]\n[model]\nkind = \"logreg\"\n"
	intJob := "[dataset]\nname = \"cat\"\npath = \"c.csv\"\nlabel = \"y\"\nclass_names = [\"a\", \"b\"]\n[[dataset.columns]]\nname = \"x\"\n" +
		"[[dataset.columns]]\nname = \"y\"\ntype = \"int\"\n[model]\nkind = \"logreg\"\n"
	for _, c := range []struct {
		job, rule, want string
	}{
		{strings.Replace(clinicJob, `name = "clinic"`, `name = "other"`, 1), RuleRegistered,
			`no dataset named "other" is registered at this node`},
		{strings.Replace(clinicJob, `"smoker", "weight"`, `"smoker", "height"`, 1) + "[[dataset.columns]]\nname = \"height\"\n", RuleFeatures,
			`dataset "clinic": the job's feature "height" is not one of its columns`},
		{strings.Replace(clinicJob, `categories = ["yes", "no", "never", "former"]`, `categories = ["yes", "no"]`, 1), RuleFeatures,
			`dataset "clinic": column "smoker": value "never" is not one of the job's categories`},
		{strings.Replace(clinicJob, "name = \"weight\"\n", "name = \"weight\"\ntype = \"category\"\n", 1), RuleFeatures,
			`dataset "clinic": column "weight" is category in the job, float in the dataset`},
		{strings.Replace(strings.Replace(clinicJob, "kind = \"softmax\"", "kind = \"linreg\"", 1), `class_names = ["a", "b", "c"]`, "", 1), "", ""}, // a regression on an int label
		{strings.Replace(clinicJob, `class_names = ["a", "b", "c"]`, `class_names = ["a", "b"]`, 1), RuleClasses,
			`dataset "clinic": the job has 2 classes, its label "outcome" goes up to 2`},
		{strings.Replace(clinicJob, `class_names = ["a", "b", "c"]`, `class_names = ["a", "b", "c", "d"]`, 1), "", ""},
		{catJob, RuleClasses, `dataset "cat": label "y": value "b" is not one of the job's classes`},
		{strings.Replace(catJob, `"a", "c"`, `"b", "a"`, 1), "", ""},
		{intJob, RuleClasses, `dataset "cat": the job's label is a class index, its label "y" is a category`},
		{strings.Replace(strings.Replace(intJob, `class_names = ["a", "b"]`+"\n", "", 1), "logreg", "linreg", 1), RuleClasses,
			`dataset "cat": the job wants a regression target, its label "y" is a category`},
		{strings.Replace(intJob, `name = "cat"`, `name = "float"`, 1), RuleClasses,
			`dataset "float": the job has 2 classes, its label "y" is not a class index`},
		{strings.Replace(catJob, `name = "cat"`, `name = "clinic"`, 1), RuleFeatures,
			`dataset "clinic": the job's feature "x" is not one of its columns`},
	} {
		_, err := reg.SiteData(context.Background(), parseJob(t, c.job))
		var r *Refusal
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.job, err)
		case c.want == "":
		case !errors.As(err, &r) || !errors.Is(err, ErrRefused) || r.Rule != c.rule || err.Error() != c.want:
			t.Errorf("%s: %v (%#v), want %s: %q", c.job, err, r, c.rule, c.want)
		}
	}
	// The job whose label is the feature of the dataset.
	labelJob := "[dataset]\nname = \"cat\"\npath = \"c.csv\"\nlabel = \"x\"\n[[dataset.columns]]\nname = \"x\"\n" +
		"[[dataset.columns]]\nname = \"y\"\ntype = \"category\"\n[model]\nkind = \"linreg\"\n"
	if _, err := reg.SiteData(context.Background(), parseJob(t, labelJob)); err == nil ||
		err.Error() != `dataset "cat": the job's feature "y" is its label` {
		t.Errorf("label as a feature: %v", err)
	}
}

func TestSiteDataFileChecks(t *testing.T) {
	dir := t.TempDir()
	csv := writeCSV(t, dir, "clinic.csv", clinicCSV)
	if _, err := AddDataset(dir, "clinic", csv, AddOptions{Label: "outcome"}); err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	job := parseJob(t, clinicJob)
	if _, err := reg.SiteData(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ content, want string }{
		// One value changed: same schema, other rows.
		{strings.Replace(clinicCSV, "70.5", "70.6", 1), `dataset "clinic" changed since it was registered; run cohort dataset add --replace`},
		// No longer parses: still reported as changed.
		{clinicCSV + "7,x\n", `dataset "clinic" changed since it was registered; run cohort dataset add --replace`},
	} {
		writeCSV(t, dir, "clinic.csv", c.content)
		_, err := reg.SiteData(context.Background(), job)
		var r *Refusal
		if !errors.As(err, &r) || r.Rule != RuleFile || err.Error() != c.want {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
	os.Remove(csv)
	_, err = reg.SiteData(context.Background(), job)
	if want := `dataset "clinic": its file is gone; register it again with cohort dataset add --replace`; err == nil || err.Error() != want {
		t.Errorf("file gone: %v, want %q", err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := reg.SiteData(ctx, job); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAddDatasetGzip(t *testing.T) {
	dir := t.TempDir()
	var buf strings.Builder
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(clinicCSV))
	zw.Close()
	path := writeCSV(t, dir, "clinic.csv.gz", buf.String())
	info, err := AddDataset(dir, "clinic", path, AddOptions{Label: "outcome"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 6 || info.SHA256 != sha256.Sum256([]byte(buf.String())) {
		t.Errorf("gzip: %d rows, hash %x", info.Rows, info.SHA256)
	}
	reg, _ := OpenRegistry(dir)
	if sd, err := reg.SiteData(context.Background(), parseJob(t, clinicJob)); err != nil || sd.Train.Rows+sd.Test.Rows != 6 {
		t.Errorf("gzip SiteData: %v", err)
	}
}
