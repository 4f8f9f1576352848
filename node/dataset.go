package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
)

// DatasetsDir is the folder of a node folder that holds its dataset
// registry: one NAME.toml per registered dataset.
const DatasetsDir = "datasets"

// DefaultTestFraction is the share of a dataset's rows held out for
// evaluation when AddOptions.TestFraction is 0.
const DefaultTestFraction = 0.2

// Limits of schema inference.
const (
	// MaxClasses is the largest number of classes an Int label is taken
	// to have: an Int label with values in 0..k-1, k ≤ MaxClasses, is a
	// class index; any other Int label is a regression target.
	MaxClasses = 1000
	// MaxCategories bounds the distinct values of a category column. A
	// column with more is most likely an identifier, and its values would
	// be written into the registered schema.
	MaxCategories = 1000
)

// ErrDataset is wrapped by the errors of the dataset registry: a CSV file
// that cannot be registered, a name that is not valid or already taken, a
// registration that cannot be read.
var ErrDataset = errors.New("node: dataset")

// AddOptions are the settings of AddDataset.
type AddOptions struct {
	// Label names the target column (required).
	Label string
	// TestFraction is the share of the rows held out for evaluation, in
	// (0, 1); 0 means DefaultTestFraction.
	TestFraction float64
	// Replace allows replacing a dataset already registered under the
	// name (after its file changed, say).
	Replace bool
	// Now is the registration time recorded (zero: time.Now()).
	Now time.Time
}

// DatasetInfo is a registered dataset: where its rows are, the fingerprint
// of the file, and what the registry inferred of it. Only its schema and row
// counts are ever shared; its rows never leave the node.
type DatasetInfo struct {
	// Name is what jobs call the dataset (engine.DatasetSpec.Name).
	Name string
	// File is the CSV file's absolute path.
	File string
	// SHA256 is the hash of the file's bytes at registration.
	SHA256 [32]byte
	// Rows is the number of data rows.
	Rows int
	// Schema is the inferred schema: every column in file order with its
	// type (and, for a category column, its sorted distinct values), the
	// label, the features (file order without the label) and
	// data.HeaderNames.
	Schema data.Schema
	// Classes is the number of classes of the label: the number of
	// categories of a category label, max+1 of an Int label whose values
	// are in 0..MaxClasses-1, else 0 (a regression target).
	Classes int
	// TestFraction is the share of the rows held out for evaluation.
	TestFraction float64
	// Registered is when the dataset was registered.
	Registered time.Time
}

// datasetFile is the layout of DIR/datasets/NAME.toml.
type datasetFile struct {
	Name         string          `toml:"name"`
	File         string          `toml:"file"`
	SHA256       string          `toml:"sha256"`
	Rows         int             `toml:"rows"`
	Label        string          `toml:"label"`
	Features     []string        `toml:"features"`
	Classes      int             `toml:"classes"`
	TestFraction float64         `toml:"test_fraction"`
	Registered   time.Time       `toml:"registered"`
	Columns      []datasetColumn `toml:"column"`
}

type datasetColumn struct {
	Name       string   `toml:"name"`
	Type       string   `toml:"type"`
	Categories []string `toml:"categories,omitempty"`
}

// AddDataset registers the CSV file at csvPath (its first line names the
// columns; a name ending in ".gz" is decompressed) under name in the node
// folder dir, writing dir/datasets/NAME.toml atomically. It infers each
// column's type: Int if every value is an integer, Float if every value is a
// finite number, else a category whose categories are the sorted distinct
// values. It refuses a file with a missing value (one of
// data.DefaultMissingTokens), naming its line and column, a label that is
// not a column, a name that engine.ValidDatasetName refuses, and a name
// already registered unless opt.Replace.
func AddDataset(dir, name, csvPath string, opt AddOptions) (*DatasetInfo, error) {
	if !engine.ValidDatasetName(name) {
		return nil, fmt.Errorf("%w: name %q: want 1 to 64 of a-z, 0-9, '_', '-' and '.', starting with a letter or digit", ErrDataset, name)
	}
	if opt.Label == "" {
		return nil, fmt.Errorf("%w: %s: no label column given", ErrDataset, name)
	}
	frac := opt.TestFraction
	if frac == 0 {
		frac = DefaultTestFraction
	}
	if !(frac > 0 && frac < 1) {
		return nil, fmt.Errorf("%w: %s: test fraction %v is not in (0, 1)", ErrDataset, name, opt.TestFraction)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrDataset, dir)
	}
	regPath := datasetPath(dir, name)
	if _, err := os.Stat(regPath); err == nil && !opt.Replace {
		return nil, fmt.Errorf("%w: a dataset named %q is already registered (%s): replace it explicitly", ErrDataset, name, regPath)
	}
	abs, err := filepath.Abs(csvPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	info, err := inferFile(abs, opt.Label)
	if err != nil {
		return nil, err
	}
	info.Name, info.File, info.TestFraction = name, abs, frac
	info.Registered = opt.Now
	if info.Registered.IsZero() {
		info.Registered = time.Now()
	}
	info.Registered = info.Registered.UTC().Truncate(time.Second)
	// The file must load as the registry will load it for a job.
	if _, err := loadRows(info, info.Schema); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataset, abs, err)
	}
	b, err := encodeDataset(info)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, DatasetsDir), name+".toml", b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	return info, nil
}

func datasetPath(dir, name string) string {
	return filepath.Join(dir, DatasetsDir, name+".toml")
}

// openData opens a registered file for reading, through gzip if its name
// ends in ".gz"; every byte read from the file, compressed or not, is also
// written to h.
func openData(path string, h io.Writer) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = io.TeeReader(f, h)
	if !strings.HasSuffix(path, ".gz") {
		return r, f.Close, nil
	}
	z, err := gzip.NewReader(r)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return z, func() error { z.Close(); return f.Close() }, nil
}

// colStats is what inference has learnt of a column so far.
type colStats struct {
	isInt, isFloat bool
	min, max       int64               // of the integer values
	values         map[string]struct{} // distinct values, nil past MaxCategories
}

// inferFile reads a CSV file once, hashing it and inferring its schema.
func inferFile(path, label string) (*DatasetInfo, error) {
	h := sha256.New()
	r, closeFn, err := openData(path, h)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	defer closeFn()
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrDataset, path, fmt.Sprintf(format, a...))
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	read := func() ([]string, int, error) {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, 0, err
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fail("line %d: %v", pe.Line, pe.Err)
			}
			return nil, 0, fmt.Errorf("%w: %s: %w", ErrDataset, path, err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		return rec, line, nil
	}
	names, _, err := read()
	if err == io.EOF {
		return nil, fail("empty file: want a first line of column names")
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	labelCol := -1
	for i, n := range names {
		switch {
		case n == "":
			return nil, fail("line 1: column %d has no name", i+1)
		case seen[n]:
			return nil, fail("line 1: duplicate column %q", n)
		}
		seen[n] = true
		if n == label {
			labelCol = i
		}
	}
	if labelCol < 0 {
		return nil, fail("no label column %q (the columns are %s)", label, strings.Join(quoteAll(names), ", "))
	}
	if len(names) < 2 {
		return nil, fail("no feature columns besides the label %q", label)
	}
	stats := make([]colStats, len(names))
	for i := range stats {
		stats[i] = colStats{isInt: true, isFloat: true, min: math.MaxInt64, max: math.MinInt64, values: map[string]struct{}{}}
	}
	missing := data.DefaultMissingTokens()
	rows := 0
	for {
		rec, line, err := read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) != len(names) {
			return nil, fail("line %d: %d fields, the header has %d", line, len(rec), len(names))
		}
		for i, v := range rec {
			if slices.Contains(missing, v) {
				return nil, fail("line %d: column %q: missing value %q: fill in or drop the missing values before registering", line, names[i], v)
			}
			s := &stats[i]
			if s.isInt {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					s.min, s.max = min(s.min, n), max(s.max, n)
				} else {
					s.isInt = false
				}
			}
			if s.isFloat && !s.isInt {
				if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
					s.isFloat = false
				}
			}
			if s.values != nil {
				s.values[v] = struct{}{}
				if len(s.values) > MaxCategories {
					s.values = nil
				}
			}
			if !s.isFloat && s.values == nil {
				return nil, fail("column %q: more than %d distinct values that are not all numbers: an identifier? Drop it before registering", names[i], MaxCategories)
			}
		}
		rows++
	}
	if rows == 0 {
		return nil, fail("no rows after the header")
	}
	// Read what the CSV reader left, so that the hash covers the file.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataset, path, err)
	}
	info := &DatasetInfo{Rows: rows}
	copy(info.SHA256[:], h.Sum(nil))
	s := &info.Schema
	s.Label, s.Header = label, data.HeaderNames
	for i, n := range names {
		col := data.Column{Name: n}
		switch st := &stats[i]; {
		case st.isInt:
			col.Type = data.Int
			if i == labelCol && st.min >= 0 && st.max < MaxClasses {
				info.Classes = int(st.max) + 1
			}
		case st.isFloat:
			col.Type = data.Float
		default:
			col.Type = data.Category
			col.Categories = make([]string, 0, len(st.values))
			for v := range st.values {
				col.Categories = append(col.Categories, v)
			}
			slices.Sort(col.Categories)
			if i == labelCol {
				info.Classes = len(col.Categories)
			}
		}
		s.Columns = append(s.Columns, col)
		if i != labelCol {
			s.Features = append(s.Features, n)
		}
	}
	return info, nil
}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

func encodeDataset(d *DatasetInfo) ([]byte, error) {
	f := datasetFile{
		Name:         d.Name,
		File:         d.File,
		SHA256:       hex.EncodeToString(d.SHA256[:]),
		Rows:         d.Rows,
		Label:        d.Schema.Label,
		Features:     d.Schema.Features,
		Classes:      d.Classes,
		TestFraction: d.TestFraction,
		Registered:   d.Registered,
	}
	for _, c := range d.Schema.Columns {
		f.Columns = append(f.Columns, datasetColumn{Name: c.Name, Type: c.Type.String(), Categories: c.Categories})
	}
	var buf bytes.Buffer
	buf.WriteString("# A dataset registered with cohort dataset add. Jobs name it by its name;\n" +
		"# only its schema and row count are ever shared, never its rows.\n")
	if err := toml.NewEncoder(&buf).Encode(f); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataset, d.Name, err)
	}
	return buf.Bytes(), nil
}

// decodeDataset parses and checks a registration file.
func decodeDataset(b []byte) (*DatasetInfo, error) {
	var f datasetFile
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("unknown key %s", und[0])
	}
	d := &DatasetInfo{Name: f.Name, File: f.File, Rows: f.Rows, Classes: f.Classes, TestFraction: f.TestFraction, Registered: f.Registered}
	switch h, err := hex.DecodeString(f.SHA256); {
	case err != nil || len(h) != sha256.Size:
		return nil, fmt.Errorf("sha256: want %d hex digits, got %q", 2*sha256.Size, f.SHA256)
	default:
		copy(d.SHA256[:], h)
	}
	switch {
	case !engine.ValidDatasetName(f.Name):
		return nil, fmt.Errorf("name: %q is not a dataset name", f.Name)
	case !filepath.IsAbs(f.File):
		return nil, fmt.Errorf("file: %q is not an absolute path", f.File)
	case f.Rows < 1:
		return nil, fmt.Errorf("rows: must be at least 1, got %d", f.Rows)
	case !(f.TestFraction > 0 && f.TestFraction < 1):
		return nil, fmt.Errorf("test_fraction: must be in (0, 1), got %v", f.TestFraction)
	case f.Classes < 0 || f.Classes > max(MaxClasses, MaxCategories):
		return nil, fmt.Errorf("classes: must be in 0..%d, got %d", max(MaxClasses, MaxCategories), f.Classes)
	}
	s := &d.Schema
	s.Label, s.Header = f.Label, data.HeaderNames
	var features []string
	for i, c := range f.Columns {
		col := data.Column{Name: c.Name, Categories: c.Categories}
		switch c.Type {
		case "int":
			col.Type = data.Int
		case "float":
			col.Type = data.Float
		case "category":
			col.Type = data.Category
			if len(c.Categories) == 0 {
				return nil, fmt.Errorf("column[%d].categories: a category column lists its categories", i)
			}
		default:
			return nil, fmt.Errorf("column[%d].type: unknown type %q", i, c.Type)
		}
		if col.Type != data.Category && c.Categories != nil {
			return nil, fmt.Errorf("column[%d].categories: only for type \"category\"", i)
		}
		if c.Name == f.Label {
			if col.Type == data.Category && f.Classes != len(c.Categories) {
				return nil, fmt.Errorf("classes: %d, but the label has %d categories", f.Classes, len(c.Categories))
			}
			if col.Type == data.Float && f.Classes != 0 {
				return nil, fmt.Errorf("classes: %d, but the label is a float column", f.Classes)
			}
		} else {
			features = append(features, c.Name)
		}
		s.Columns = append(s.Columns, col)
	}
	if !slices.ContainsFunc(s.Columns, func(c data.Column) bool { return c.Name == f.Label }) {
		return nil, fmt.Errorf("label: no column %q", f.Label)
	}
	if !slices.Equal(features, f.Features) {
		return nil, fmt.Errorf("features: %q, want the columns other than the label in order, %q", f.Features, features)
	}
	s.Features = features
	if _, err := data.Load(strings.NewReader(""), *s); errors.Is(err, data.ErrSchema) {
		return nil, err
	}
	return d, nil
}

// LookupDataset returns the dataset registered under name in the node
// folder dir. A name that is not registered gives an error wrapping both
// ErrDataset and fs.ErrNotExist.
func LookupDataset(dir, name string) (*DatasetInfo, error) {
	if !engine.ValidDatasetName(name) {
		return nil, fmt.Errorf("%w: %q is not a dataset name: %w", ErrDataset, name, fs.ErrNotExist)
	}
	path := datasetPath(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	d, err := decodeDataset(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataset, path, err)
	}
	if d.Name != name {
		return nil, fmt.Errorf("%w: %s: name: %q, want the file's name %q", ErrDataset, path, d.Name, name)
	}
	return d, nil
}

// Datasets lists the datasets registered in the node folder dir, sorted by
// name. A folder without a registry has none.
func Datasets(dir string) ([]DatasetInfo, error) {
	entries, err := os.ReadDir(filepath.Join(dir, DatasetsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	var out []DatasetInfo
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".toml")
		if !ok || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		d, err := LookupDataset(dir, name)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DatasetInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// errChanged reports a registered file whose bytes no longer hash to what
// was registered.
var errChanged = errors.New("the file changed since it was registered")

// loadRows loads a registered file with schema s, hashing the bytes it
// reads: a file that changed since info was made gives errChanged, even if
// it no longer parses.
func loadRows(info *DatasetInfo, s data.Schema) (*data.Dataset, error) {
	h := sha256.New()
	r, closeFn, err := openData(info.File, h)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	d, loadErr := data.Load(r, s)
	if _, err := io.Copy(io.Discard, r); err != nil && loadErr == nil {
		return nil, err
	}
	if [32]byte(h.Sum(nil)) != info.SHA256 {
		return nil, errChanged
	}
	if loadErr != nil {
		return nil, loadErr
	}
	if d.All.Rows != info.Rows {
		return nil, fmt.Errorf("%d rows, %d registered", d.All.Rows, info.Rows)
	}
	return d, nil
}

// SplitRows splits a registered dataset's rows into training and test rows
// as Registry.SiteData does, so that every job holds out the same rows:
// data.StratifiedTrainTest if classes > 0, else data.TrainTest, with the
// generator rand.New(rand.NewPCG(seed1, seed2)) whose seeds are the first
// two big-endian uint64s of the file's SHA-256.
func SplitRows(rows *federated.Batch, classes int, testFraction float64, fileHash [32]byte) (train, test federated.Batch, err error) {
	rng := rand.New(rand.NewPCG(binary.BigEndian.Uint64(fileHash[:8]), binary.BigEndian.Uint64(fileHash[8:16])))
	if classes > 0 {
		return data.StratifiedTrainTest(rows, testFraction, rng)
	}
	return data.TrainTest(rows, testFraction, rng)
}

// Registry is a node's dataset registry as the engine's data source: it
// finds the rows of each job by the name of its dataset. Registrations are
// read for each job, so datasets added while the node runs are found. A
// Registry is safe for concurrent use.
type Registry struct {
	dir string
}

var _ engine.DataSource = (*Registry)(nil)

// OpenRegistry opens the dataset registry of the node folder dir, checking
// every registration in it.
func OpenRegistry(dir string) (*Registry, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrDataset, dir)
	}
	if _, err := Datasets(dir); err != nil {
		return nil, err
	}
	return &Registry{dir: dir}, nil
}

// SiteData implements engine.DataSource: it returns the training and test
// rows (split by SplitRows) of the dataset registered under
// job.Dataset.Name. It refuses the job, with a *Refusal, when no such
// dataset is registered, when its file changed since it was registered,
// when a feature the job names (job.Dataset.Schema.Features, or all its
// columns but the label) is not a feature column of the dataset or is a
// category in one and not the other, and when the classes do not fit: a
// regression job needs a numeric label; a classifier of k classes needs an
// Int label with values in 0..k-1 or a category label whose categories are
// among the job's. The rows are loaded with the features in the job's
// order, and category values are encoded as the job declares them.
func (r *Registry) SiteData(ctx context.Context, job *engine.Job) (engine.SiteData, error) {
	if err := ctx.Err(); err != nil {
		return engine.SiteData{}, err
	}
	name := job.Dataset.Name
	refuse := func(rule, format string, a ...any) (engine.SiteData, error) {
		return engine.SiteData{}, &Refusal{Dataset: name, Rule: rule, Reason: fmt.Sprintf(format, a...)}
	}
	if name == "" {
		return refuse(RuleRegistered, "the job names no dataset")
	}
	info, err := LookupDataset(r.dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return refuse(RuleRegistered, "no dataset named %q is registered at this node", name)
	}
	if err != nil {
		return engine.SiteData{}, err
	}
	fit, ref := fitJob(info, job)
	if ref != nil {
		return engine.SiteData{}, ref
	}
	s := info.Schema
	s.Features = fit.features
	d, err := loadRows(info, s)
	switch {
	case errors.Is(err, errChanged):
		return refuse(RuleFile, "dataset %q changed since it was registered; run cohort dataset add --replace", name)
	case errors.Is(err, fs.ErrNotExist):
		return refuse(RuleFile, "dataset %q: its file is gone; register it again with cohort dataset add --replace", name)
	case err != nil:
		// The path stays at the node: only the reason is told.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return refuse(RuleFile, "dataset %q: its file cannot be read: %v", name, err)
	}
	train, test, err := SplitRows(&d.All, info.Classes, info.TestFraction, info.SHA256)
	if err != nil {
		return engine.SiteData{}, fmt.Errorf("%w: %s: %w", ErrDataset, name, err)
	}
	fit.apply(&train)
	fit.apply(&test)
	return engine.SiteData{Dataset: name, Train: &train, Test: &test}, nil
}

// jobFit is how a registered dataset's rows fit a job: the features to
// load, in the job's order, and the re-encoding of category values from the
// dataset's categories to the job's (nil where it is the identity).
type jobFit struct {
	features []string
	featMap  [][]float64 // per feature position
	labelMap []float64
}

func (f *jobFit) apply(b *federated.Batch) {
	for j, m := range f.featMap {
		if m == nil {
			continue
		}
		for i := range b.Rows {
			x := &b.X[i*b.Cols+j]
			*x = m[int(*x)]
		}
	}
	if f.labelMap != nil {
		for i := range b.Y {
			b.Y[i] = f.labelMap[int(b.Y[i])]
		}
	}
}

// categoryMap maps the index of each of have in want; it returns the first
// value of have not in want if there is one, and a nil map for the
// identity.
func categoryMap(have, want []string) ([]float64, string, bool) {
	m := make([]float64, len(have))
	identity := true
	for k, v := range have {
		i := slices.Index(want, v)
		if i < 0 {
			return nil, v, false
		}
		m[k] = float64(i)
		identity = identity && i == k
	}
	if identity {
		return nil, "", true
	}
	return m, "", true
}

func fitJob(info *DatasetInfo, job *engine.Job) (*jobFit, *Refusal) {
	name := info.Name
	refuse := func(rule, format string, a ...any) (*jobFit, *Refusal) {
		return nil, &Refusal{Dataset: name, Rule: rule, Reason: fmt.Sprintf("dataset %q: ", name) + fmt.Sprintf(format, a...)}
	}
	js := job.Dataset.Schema
	jobCols := make(map[string]data.Column, len(js.Columns))
	for _, c := range js.Columns {
		jobCols[c.Name] = c
	}
	regCols := make(map[string]data.Column, len(info.Schema.Columns))
	for _, c := range info.Schema.Columns {
		regCols[c.Name] = c
	}
	features := js.Features
	if features == nil {
		for _, c := range js.Columns {
			if c.Name != js.Label {
				features = append(features, c.Name)
			}
		}
	}
	fit := &jobFit{features: features, featMap: make([][]float64, len(features))}
	for i, f := range features {
		rc, ok := regCols[f]
		switch {
		case !ok:
			return refuse(RuleFeatures, "the job's feature %q is not one of its columns", f)
		case f == info.Schema.Label:
			return refuse(RuleFeatures, "the job's feature %q is its label", f)
		}
		jc := jobCols[f]
		if (jc.Type == data.Category) != (rc.Type == data.Category) {
			return refuse(RuleFeatures, "column %q is %s in the job, %s in the dataset", f, jc.Type, rc.Type)
		}
		if jc.Type == data.Category && jc.Categories != nil {
			m, v, ok := categoryMap(rc.Categories, jc.Categories)
			if !ok {
				return refuse(RuleFeatures, "column %q: value %q is not one of the job's categories", f, v)
			}
			fit.featMap[i] = m
		}
	}
	label := regCols[info.Schema.Label]
	jl, jobHasLabel := jobCols[js.Label]
	switch classes := job.Dataset.Classes; {
	case classes == 0:
		if label.Type == data.Category {
			return refuse(RuleClasses, "the job wants a regression target, its label %q is a category", label.Name)
		}
	case label.Type == data.Category:
		if jobHasLabel && jl.Type != data.Category {
			return refuse(RuleClasses, "the job's label is a class index, its label %q is a category", label.Name)
		}
		if classes > 0 {
			m, v, ok := categoryMap(label.Categories, jl.Categories)
			if !ok {
				return refuse(RuleClasses, "label %q: value %q is not one of the job's classes", label.Name, v)
			}
			fit.labelMap = m
		}
	case classes < 0 || jobHasLabel && jl.Type == data.Category:
		return refuse(RuleClasses, "the job's label is a category, its label %q is %s", label.Name, label.Type)
	case info.Classes == 0:
		return refuse(RuleClasses, "the job has %d classes, its label %q is not a class index", classes, label.Name)
	case info.Classes > classes:
		return refuse(RuleClasses, "the job has %d classes, its label %q goes up to %d", classes, label.Name, info.Classes-1)
	}
	return fit, nil
}
