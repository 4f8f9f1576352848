package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/model"
	"github.com/cohort-mpc/cohort/federated/train"
	"github.com/cohort-mpc/cohort/protocols/mhe"
	"github.com/cohort-mpc/cohort/protocols/secagg"
)

// ErrJob is wrapped by every error ParseJob and LoadJob return for a job
// file that cannot be read, decoded or validated.
var ErrJob = errors.New("engine: job")

// Problem is one mistake in a job file: the dotted key at fault (empty for
// the file as a whole) and what is wrong with it.
type Problem struct {
	Key string
	Msg string
}

// String returns "key: msg", or "msg" alone when Key is empty.
func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// JobError lists every mistake found in a job file, in file-section order.
// It wraps ErrJob.
type JobError struct {
	Problems []Problem
}

// Error returns one line per problem, each "engine: job: key: msg".
func (e *JobError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "engine: job: " + p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrJob.
func (e *JobError) Unwrap() error { return ErrJob }

// PrivacyMode is how site updates are protected while they are aggregated.
type PrivacyMode string

const (
	// SecAgg is SecAgg+ pairwise masking (protocols/secagg); the default.
	SecAgg PrivacyMode = "secagg"
	// MHE is multiparty threshold CKKS encryption (protocols/mhe).
	MHE PrivacyMode = "mhe"
	// Plain sends updates in the clear to the aggregator. A job must
	// also set privacy.unsafe_plain = true to use it.
	Plain PrivacyMode = "plain"
)

// Built-in dataset names.
const (
	BreastCancer = "breast_cancer"
	Digits       = "digits"
	Diabetes     = "diabetes"
)

// Model kinds.
const (
	ModelLogReg  = "logreg"
	ModelSoftmax = "softmax"
	ModelLinReg  = "linreg"
	ModelMLP     = "mlp"
)

// Strategy names.
const (
	FedAvg     = "fedavg"
	FedAvgM    = "fedavgm"
	FedProx    = "fedprox"
	FedAdam    = "fedadam"
	FedYogi    = "fedyogi"
	FedAdagrad = "fedadagrad"
)

// Defaults filled in by ParseJob for keys a job file leaves out.
const (
	DefaultRounds          = 10
	DefaultSiteFraction    = 1.0 // every site takes part in every round
	DefaultQuorum          = 2
	DefaultEpochs          = 1
	DefaultBatchSize       = 32
	DefaultLearningRate    = 0.1
	DefaultProxMu          = 0.01 // strategy fedprox only
	DefaultFedAvgMLR       = 1.0
	DefaultFedAvgMMomentum = 0.9
	DefaultServerLR        = 0.1 // fedadam, fedyogi, fedadagrad
	DefaultServerBeta1     = 0.9
	DefaultServerBeta2     = 0.99
	DefaultServerTau       = 1e-3
	DefaultDropout         = 0.05 // secagg.dropout, for ChooseKT
	DefaultCorruption      = 0.05 // secagg.corruption, for ChooseKT
	DefaultRingBits        = 32
	DefaultFixedLo         = -1.0
	DefaultFixedHi         = 1.0
	DefaultMHEPreset       = mhe.PresetSmall
	DefaultDelta           = 1e-5 // dp.record.delta
	DefaultClip            = 1.0  // dp.record.clip and dp.site.clip
	DefaultDecision        = 5 * time.Minute
	DefaultSetup           = time.Minute
	DefaultTrain           = 5 * time.Minute
	DefaultRecovery        = time.Minute
)

// Job is a validated job description with every default filled in. Build it
// with ParseJob or LoadJob.
type Job struct {
	// Name labels the job in logs and the ledger (default "job").
	Name string
	// Seed seeds the model initialisation and site sampling; 0 means the
	// aggregator draws one at proposal time.
	Seed uint64
	// Rounds is the number of training rounds (≥ 1, default 10).
	Rounds int
	// Dataset says what each site trains on.
	Dataset DatasetSpec
	// Model is the model to train.
	Model ModelSpec
	// Sites says how many sites take part in each round.
	Sites SitesSpec
	// Local configures local training. With strategy fedprox its ProxMu is
	// the proximal μ (default 0.01); other strategies require it to be 0.
	Local train.LocalConfig
	// Strategy is the server-side update rule.
	Strategy StrategySpec
	// Privacy is the aggregation mode (default SecAgg).
	Privacy PrivacyMode
	// SecAgg holds the secagg settings; used when Privacy is SecAgg.
	SecAgg SecAggSpec
	// MHE holds the mhe settings; used when Privacy is MHE.
	MHE MHESpec
	// RecordDP, if not nil, trains with DP-SGD at every site.
	RecordDP *RecordDP
	// SiteDP, if not nil, clips and noises every site's update (DP-FedAvg).
	SiteDP *SiteDP
	// Deadlines bound each phase.
	Deadlines Deadlines
}

// DatasetSpec names a built-in dataset or a CSV file and its schema.
type DatasetSpec struct {
	// Name is what a node's dataset registry calls the data: the job
	// file's dataset.name, or else the built-in's name, or else the CSV
	// file's name without its extension. A node trains on the dataset it
	// registered under this name (cohort dataset add).
	Name string
	// Builtin is BreastCancer, Digits or Diabetes, or "" for a CSV file.
	Builtin string
	// Path is the CSV file (relative paths are relative to the job file for
	// LoadJob, to the working directory for ParseJob); "" for a built-in.
	Path string
	// Schema is the CSV schema; for a built-in, that dataset's schema.
	Schema data.Schema
	// Classes is the number of classes: 0 for regression, -1 when only the
	// data can tell (a Category label without declared categories).
	Classes int
}

// ModelSpec names a model.
type ModelSpec struct {
	// Kind is ModelLogReg, ModelSoftmax, ModelLinReg or ModelMLP.
	Kind string
	// Hidden holds the MLP's hidden-layer widths (1 to model.MaxHidden).
	Hidden []int
}

// New builds the model for features inputs and classes classes (0 for
// regression).
func (m ModelSpec) New(features, classes int) (*model.Net, error) {
	switch m.Kind {
	case ModelLogReg:
		return model.NewLogReg(features)
	case ModelSoftmax:
		return model.NewSoftmaxReg(features, classes)
	case ModelLinReg:
		return model.NewLinReg(features)
	case ModelMLP:
		return model.NewMLP(features, m.Hidden, classes)
	}
	return nil, fmt.Errorf("%w: model.kind: unknown model %q", ErrJob, m.Kind)
}

// SitesSpec says which sites take part in a round: Count of them if Count
// > 0, else a Fraction of all sites (at least Quorum).
type SitesSpec struct {
	// Fraction of the sites sampled per round, in (0, 1]; default 1.
	Fraction float64
	// Count of sites sampled per round; 0 means use Fraction.
	Count int
	// Quorum is the fewest contributors a round may release (≥ 2,
	// default 2); below it the round fails.
	Quorum int
}

// PerRound returns how many of total sites take part in a round:
// Count (at most total), or ⌈Fraction·total⌉ but at least Quorum and at
// most total.
func (s SitesSpec) PerRound(total int) int {
	if s.Count > 0 {
		return min(s.Count, total)
	}
	n := int(math.Ceil(s.Fraction * float64(total)))
	return min(max(n, s.Quorum), total)
}

// StrategySpec is the server strategy and its settings, defaults filled in.
type StrategySpec struct {
	// Name is one of FedAvg (default), FedAvgM, FedProx, FedAdam, FedYogi
	// and FedAdagrad.
	Name string
	// ServerLR is the server learning rate of fedavgm (default 1) and the
	// adaptive optimisers (default 0.1).
	ServerLR float64
	// Momentum is fedavgm's server momentum (default 0.9).
	Momentum float64
	// Beta1, Beta2 and Tau are the adaptive optimisers' settings (defaults
	// 0.9, 0.99, 1e-3; fedadagrad has no Beta2).
	Beta1, Beta2, Tau float64
}

// New returns a fresh strategy (each holds its own server state).
func (s StrategySpec) New(local train.LocalConfig) (train.Strategy, error) {
	c := train.ServerOptConfig{LR: s.ServerLR, Beta1: s.Beta1, Beta2: s.Beta2, Tau: s.Tau}
	switch s.Name {
	case FedAvg:
		return train.FedAvg{}, nil
	case FedProx:
		return train.FedProx{Mu: local.ProxMu}, nil
	case FedAvgM:
		return train.NewFedAvgM(s.ServerLR, s.Momentum)
	case FedAdam:
		return train.NewFedAdam(c)
	case FedYogi:
		return train.NewFedYogi(c)
	case FedAdagrad:
		return train.NewFedAdagrad(c)
	}
	return nil, fmt.Errorf("%w: strategy.name: unknown strategy %q", ErrJob, s.Name)
}

// SecAggSpec holds the SecAgg+ settings.
type SecAggSpec struct {
	// K and T are the neighbour degree and threshold; both 0 means
	// ChooseKT picks them for each round's number of sites from Dropout
	// and Corruption.
	K, T int
	// Dropout and Corruption are the assumed rates for ChooseKT (defaults
	// 0.05 and 0.05; 2·Dropout + Corruption < 1). ChooseKT's targets
	// (2^-20 failure, 2^-40 leakage) cannot be met by few sites: with the
	// defaults it needs about 50 sites per round, so smaller jobs set K and
	// T, e.g. the complete graph K = n−1 with T = ⌊K/2⌋+1.
	Dropout, Corruption float64
	// RingBits is 32 (default) or 64.
	RingBits int
	// Lo and Hi are the fixed-point clipping range (default −1, 1).
	Lo, Hi float64
	// Bits per quantised value; 0 picks the largest the ring allows.
	Bits int
}

// Literal returns the secagg parameters for a round of n sites and dim
// values, choosing K and T with secagg.ChooseKT unless the job fixed them.
// Check the result with secagg.NewParams.
func (s SecAggSpec) Literal(n, dim int) (secagg.ParamsLiteral, error) {
	k, t := s.K, s.T
	if k == 0 {
		var err error
		if k, t, err = secagg.ChooseKT(n, s.Dropout, s.Corruption); err != nil {
			return secagg.ParamsLiteral{}, err
		}
	}
	return secagg.ParamsLiteral{N: n, K: k, T: t, RingBits: s.RingBits, Dim: dim, Lo: s.Lo, Hi: s.Hi, Bits: s.Bits}, nil
}

// MHESpec holds the multiparty-encryption settings.
type MHESpec struct {
	// Preset is the parameter set (default mhe.PresetSmall).
	Preset mhe.Preset
	// Threshold is the number of sites whose decryption shares release
	// an aggregate; 0 means a majority of each round's sites.
	Threshold int
}

// RecordDP is record-level DP (DP-SGD; see train.DPSGDConfig).
type RecordDP struct {
	// Epsilon is the budget the whole job may spend at one site (> 0,
	// required).
	Epsilon float64
	// Delta is in (0, 1) (default 1e-5).
	Delta float64
	// Clip is the per-example gradient norm bound (default 1).
	Clip float64
}

// SiteDP is site-level DP (DP-FedAvg; see train.SiteDPConfig).
type SiteDP struct {
	// Clip is the update norm bound (default 1).
	Clip float64
	// NoiseMultiplier is z ≥ 0 (required).
	NoiseMultiplier float64
}

// Deadlines bound each phase of a job; a site that misses one is dropped
// from the round.
type Deadlines struct {
	// Decision bounds the sites' policy decisions on the proposal
	// (default 5m).
	Decision time.Duration
	// Setup bounds protocol key setup (default 1m).
	Setup time.Duration
	// Train bounds local training and upload of the masked or encrypted
	// update (default 5m).
	Train time.Duration
	// Recovery bounds unmasking or decryption-share collection (default 1m).
	Recovery time.Duration
}

// The TOML layout. Every leaf that needs checking beyond its TOML type is
// decoded as is and validated afterwards, so that all mistakes are reported
// together.
type jobFile struct {
	Name    string `toml:"name"`
	Seed    int64  `toml:"seed"`
	Rounds  int    `toml:"rounds"`
	Dataset struct {
		Name       string   `toml:"name"`
		Builtin    string   `toml:"builtin"`
		Path       string   `toml:"path"`
		Label      string   `toml:"label"`
		Features   []string `toml:"features"`
		Header     string   `toml:"header"`
		Comma      string   `toml:"comma"`
		ClassNames []string `toml:"class_names"`
		Columns    []struct {
			Name       string   `toml:"name"`
			Type       string   `toml:"type"`
			Categories []string `toml:"categories"`
		} `toml:"columns"`
		Missing struct {
			Action string   `toml:"action"`
			Value  float64  `toml:"value"`
			Tokens []string `toml:"tokens"`
		} `toml:"missing"`
	} `toml:"dataset"`
	Model struct {
		Kind   string `toml:"kind"`
		Hidden []int  `toml:"hidden"`
	} `toml:"model"`
	Sites struct {
		Fraction float64 `toml:"fraction"`
		Count    int     `toml:"count"`
		Quorum   int     `toml:"quorum"`
	} `toml:"sites"`
	Local struct {
		Optimizer    string  `toml:"optimizer"`
		Epochs       int     `toml:"epochs"`
		BatchSize    int     `toml:"batch_size"`
		LearningRate float64 `toml:"learning_rate"`
		Momentum     float64 `toml:"momentum"`
		L2           float64 `toml:"l2"`
		ProxMu       float64 `toml:"prox_mu"`
	} `toml:"local"`
	Strategy struct {
		Name     string  `toml:"name"`
		ServerLR float64 `toml:"server_lr"`
		Momentum float64 `toml:"momentum"`
		Beta1    float64 `toml:"beta1"`
		Beta2    float64 `toml:"beta2"`
		Tau      float64 `toml:"tau"`
	} `toml:"strategy"`
	Privacy struct {
		Mode        string `toml:"mode"`
		UnsafePlain bool   `toml:"unsafe_plain"`
	} `toml:"privacy"`
	SecAgg struct {
		K          int     `toml:"k"`
		T          int     `toml:"t"`
		Dropout    float64 `toml:"dropout"`
		Corruption float64 `toml:"corruption"`
		RingBits   int     `toml:"ring_bits"`
		Lo         float64 `toml:"lo"`
		Hi         float64 `toml:"hi"`
		Bits       int     `toml:"bits"`
	} `toml:"secagg"`
	MHE struct {
		Preset    string `toml:"preset"`
		Threshold int    `toml:"threshold"`
	} `toml:"mhe"`
	DP struct {
		Record struct {
			Epsilon float64 `toml:"epsilon"`
			Delta   float64 `toml:"delta"`
			Clip    float64 `toml:"clip"`
		} `toml:"record"`
		Site struct {
			Clip            float64 `toml:"clip"`
			NoiseMultiplier float64 `toml:"noise_multiplier"`
		} `toml:"site"`
	} `toml:"dp"`
	Deadlines struct {
		Decision string `toml:"decision"`
		Setup    string `toml:"setup"`
		Train    string `toml:"train"`
		Recovery string `toml:"recovery"`
	} `toml:"deadlines"`
}

// maxJobBytes bounds the size of a job file.
const maxJobBytes = 1 << 20

// LoadJob reads and validates the job file at path. A relative
// dataset.path is taken relative to the job file's directory.
func LoadJob(path string) (*Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJob, err)
	}
	defer f.Close()
	j, err := ParseJob(f)
	if err != nil {
		return nil, err
	}
	if j.Dataset.Path != "" && !filepath.IsAbs(j.Dataset.Path) {
		j.Dataset.Path = filepath.Join(filepath.Dir(path), j.Dataset.Path)
	}
	return j, nil
}

// ParseJob decodes a TOML job file (at most 1 MiB) and validates all of it.
// On any mistake it returns a *JobError listing every problem found, each
// with its key: unknown keys, missing or out-of-range values, settings that
// the chosen strategy, model, dataset or privacy mode does not use or
// cannot work with. A file that is not TOML, or holds a value of the wrong
// TOML type, stops the decoder and is reported as that single problem.
// Keys left out take the documented defaults (the Default constants and the
// field docs of Job).
func ParseJob(r io.Reader) (*Job, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJobBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJob, err)
	}
	if len(b) > maxJobBytes {
		return nil, &JobError{Problems: []Problem{{Msg: fmt.Sprintf("file larger than %d bytes", maxJobBytes)}}}
	}
	var f jobFile
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, &JobError{Problems: []Problem{decodeProblem(err)}}
	}
	v := &validator{md: md}
	for _, k := range md.Undecoded() {
		v.add("", fmt.Sprintf("unknown key %q", k.String()))
	}
	j := v.job(&f)
	if len(v.problems) > 0 {
		return nil, &JobError{Problems: v.problems}
	}
	return j, nil
}

// decodeProblem turns a decoder error into a Problem, with the key when the
// decoder names it.
func decodeProblem(err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Position.Line > 0 {
			msg = fmt.Sprintf("line %d: %s", pe.Position.Line, msg)
		}
		return Problem{Key: pe.LastKey, Msg: msg}
	}
	// Type mismatches read `toml: line 1 (last key "rounds"): incompatible types: …`.
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if i := strings.Index(msg, `(last key "`); i >= 0 {
		rest := msg[i+len(`(last key "`):]
		if k := strings.Index(rest, `"): `); k >= 0 {
			return Problem{Key: rest[:k], Msg: strings.TrimSpace(msg[:i]) + ": " + rest[k+len(`"): `):]}
		}
	}
	return Problem{Msg: msg}
}

type validator struct {
	md       toml.MetaData
	problems []Problem
}

func (v *validator) add(key, msg string) { v.problems = append(v.problems, Problem{key, msg}) }

func (v *validator) addf(key, format string, a ...any) { v.add(key, fmt.Sprintf(format, a...)) }

func (v *validator) set(key string) bool { return v.md.IsDefined(strings.Split(key, ".")...) }

// notUsed reports each of keys that is set, saying why it is not used.
func (v *validator) notUsed(why string, keys ...string) {
	for _, k := range keys {
		if v.set(k) {
			v.add(k, "not used "+why)
		}
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// positive checks x > 0 and finite.
func (v *validator) positive(key string, x float64) {
	if !(x > 0) || math.IsInf(x, 0) {
		v.addf(key, "must be positive and finite, got %v", x)
	}
}

// nonNeg checks x ≥ 0 and finite.
func (v *validator) nonNeg(key string, x float64) {
	if !(x >= 0) || math.IsInf(x, 0) {
		v.addf(key, "must be at least 0 and finite, got %v", x)
	}
}

// fraction checks x in [0, 1).
func (v *validator) fraction(key string, x float64) {
	if !(x >= 0 && x < 1) {
		v.addf(key, "must be in [0, 1), got %v", x)
	}
}

// orDefault returns x, or def when key is not set.
func (v *validator) orDefault(key string, x, def float64) float64 {
	if v.set(key) {
		return x
	}
	return def
}

func (v *validator) intOrDefault(key string, x, def int) int {
	if v.set(key) {
		return x
	}
	return def
}

func quoted(allowed ...string) string {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ", ")
}

func (v *validator) job(f *jobFile) *Job {
	j := &Job{Name: f.Name, Rounds: v.intOrDefault("rounds", f.Rounds, DefaultRounds)}
	if !v.set("name") {
		j.Name = "job"
	} else if f.Name == "" || len(f.Name) > 128 {
		v.addf("name", "must have 1 to 128 bytes, got %d", len(f.Name))
	}
	if f.Seed < 0 {
		v.addf("seed", "must be at least 0, got %d", f.Seed)
	}
	j.Seed = uint64(max(f.Seed, 0))
	if j.Rounds < 1 {
		v.addf("rounds", "must be at least 1, got %d", j.Rounds)
	}
	j.Dataset = v.dataset(f)
	j.Dataset.Name = v.datasetName(f, j.Dataset)
	j.Model = v.model(f, j.Dataset.Classes)
	j.Sites = v.sites(f)
	j.Local = v.local(f)
	j.Strategy = v.strategy(f, &j.Local)
	j.Privacy = v.privacy(f)
	if j.Privacy == SecAgg {
		j.SecAgg = v.secagg(f, j.Sites)
	} else {
		v.notUsed("unless privacy.mode is \"secagg\"", "secagg")
	}
	if j.Privacy == MHE {
		j.MHE = v.mhe(f, j.Sites)
	} else {
		v.notUsed("unless privacy.mode is \"mhe\"", "mhe")
	}
	j.RecordDP, j.SiteDP = v.dp(f, j.Local)
	j.Deadlines = Deadlines{
		Decision: v.duration("deadlines.decision", f.Deadlines.Decision, DefaultDecision),
		Setup:    v.duration("deadlines.setup", f.Deadlines.Setup, DefaultSetup),
		Train:    v.duration("deadlines.train", f.Deadlines.Train, DefaultTrain),
		Recovery: v.duration("deadlines.recovery", f.Deadlines.Recovery, DefaultRecovery),
	}
	return j
}

// datasetName is the name a node's registry knows the job's data by.
func (v *validator) datasetName(f *jobFile, d DatasetSpec) string {
	name := f.Dataset.Name
	switch {
	case v.set("dataset.name"):
		if !ValidDatasetName(name) {
			v.addf("dataset.name", "%q: want 1 to 64 of a-z, 0-9, '_', '-' and '.', starting with a letter or digit", name)
		}
		return name
	case d.Builtin != "":
		return d.Builtin
	}
	base := filepath.Base(d.Path)
	name = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), filepath.Ext(strings.TrimSuffix(base, ".gz")))
	if !ValidDatasetName(name) {
		name = ""
	}
	return name
}

// ValidDatasetName reports whether name can name a dataset: 1 to 64 of
// a-z, 0-9, '_', '-' and '.', starting with a letter or digit.
func ValidDatasetName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (v *validator) dataset(f *jobFile) DatasetSpec {
	d := &f.Dataset
	csvKeys := []string{"dataset.label", "dataset.features", "dataset.header", "dataset.comma",
		"dataset.class_names", "dataset.columns", "dataset.missing"}
	switch {
	case v.set("dataset.builtin") && v.set("dataset.path"):
		v.add("dataset", "set builtin or path, not both")
		return DatasetSpec{Classes: -1}
	case v.set("dataset.builtin"):
		v.notUsed("with a built-in dataset", csvKeys...)
		switch d.Builtin {
		case BreastCancer:
			return DatasetSpec{Builtin: d.Builtin, Schema: data.BreastCancerSchema(), Classes: 2}
		case Digits:
			return DatasetSpec{Builtin: d.Builtin, Schema: data.DigitsSchema(), Classes: 10}
		case Diabetes:
			return DatasetSpec{Builtin: d.Builtin, Schema: data.DiabetesSchema(), Classes: 0}
		}
		v.addf("dataset.builtin", "unknown dataset %q, want one of %s", d.Builtin, quoted(BreastCancer, Digits, Diabetes))
		return DatasetSpec{Classes: -1}
	case !v.set("dataset.path"):
		v.add("dataset", "set builtin (one of "+quoted(BreastCancer, Digits, Diabetes)+") or path (a CSV file)")
		return DatasetSpec{Classes: -1}
	}
	spec := DatasetSpec{Path: d.Path, Classes: 0}
	if d.Path == "" {
		v.add("dataset.path", "must not be empty")
	}
	s := &spec.Schema
	if len(d.Columns) == 0 {
		v.add("dataset.columns", "must list the file's columns")
	}
	seen := map[string]data.ColumnType{}
	for i, c := range d.Columns {
		key := fmt.Sprintf("dataset.columns[%d]", i)
		col := data.Column{Name: c.Name, Categories: c.Categories}
		switch c.Type {
		case "float", "":
			col.Type = data.Float
		case "int":
			col.Type = data.Int
		case "category":
			col.Type = data.Category
		default:
			v.addf(key+".type", "unknown type %q, want one of %s", c.Type, quoted("float", "int", "category"))
		}
		if c.Name == "" {
			v.add(key+".name", "must not be empty")
		} else if _, dup := seen[c.Name]; dup {
			v.addf(key+".name", "duplicate column %q", c.Name)
		}
		if len(c.Categories) > 0 && col.Type != data.Category {
			v.add(key+".categories", "only for type \"category\"")
		}
		seen[c.Name] = col.Type
		s.Columns = append(s.Columns, col)
	}
	s.Label = d.Label
	if d.Label == "" {
		v.add("dataset.label", "must name the label column")
	} else if _, ok := seen[d.Label]; !ok && len(d.Columns) > 0 {
		v.addf("dataset.label", "no column %q", d.Label)
	}
	s.Features = d.Features
	for i, name := range d.Features {
		if _, ok := seen[name]; !ok && len(d.Columns) > 0 {
			v.addf(fmt.Sprintf("dataset.features[%d]", i), "no column %q", name)
		} else if name == d.Label {
			v.addf(fmt.Sprintf("dataset.features[%d]", i), "%q is the label", name)
		}
	}
	switch d.Header {
	case "names", "":
		s.Header = data.HeaderNames
	case "none":
		s.Header = data.HeaderNone
	case "shape":
		s.Header = data.HeaderShape
	default:
		v.addf("dataset.header", "unknown header %q, want one of %s", d.Header, quoted("names", "none", "shape"))
	}
	switch rs := []rune(d.Comma); {
	case !v.set("dataset.comma"):
	case len(rs) == 1 && rs[0] != '"' && rs[0] != '\n' && rs[0] != '\r':
		s.Comma = rs[0]
	default:
		v.addf("dataset.comma", "must be one character other than a quote or newline, got %q", d.Comma)
	}
	s.ClassNames = d.ClassNames
	switch d.Missing.Action {
	case "refuse", "":
		s.Missing.Action = data.MissingRefuse
	case "drop":
		s.Missing.Action = data.MissingDrop
	case "fill":
		s.Missing.Action = data.MissingFill
	default:
		v.addf("dataset.missing.action", "unknown action %q, want one of %s", d.Missing.Action, quoted("refuse", "drop", "fill"))
	}
	if v.set("dataset.missing.value") && s.Missing.Action != data.MissingFill {
		v.add("dataset.missing.value", "only with action \"fill\"")
	}
	if !finite(d.Missing.Value) {
		v.addf("dataset.missing.value", "must be finite, got %v", d.Missing.Value)
	}
	s.Missing.Value = d.Missing.Value
	s.Missing.Tokens = d.Missing.Tokens
	// Classes: declared class names, a category label's categories, or
	// the header's (known only once the data is read).
	if t, ok := seen[d.Label]; ok {
		switch {
		case t == data.Category && len(d.ClassNames) > 0:
			v.add("dataset.class_names", "a category label takes its classes from its categories")
		case t == data.Category:
			spec.Classes = -1
			for _, c := range d.Columns {
				if c.Name == d.Label && len(c.Categories) > 0 {
					spec.Classes = len(c.Categories)
				}
			}
		case len(d.ClassNames) > 0:
			spec.Classes = len(d.ClassNames)
		case s.Header == data.HeaderShape:
			spec.Classes = -1
		}
	}
	if len(v.problems) == 0 {
		// The data package has the last word on the schema.
		if _, err := data.Load(strings.NewReader(""), *s); errors.Is(err, data.ErrSchema) {
			v.add("dataset", strings.TrimPrefix(err.Error(), "data: "))
		}
	}
	return spec
}

func (v *validator) model(f *jobFile, classes int) ModelSpec {
	m := ModelSpec{Kind: f.Model.Kind, Hidden: f.Model.Hidden}
	if !v.set("model.kind") {
		v.add("model.kind", "must be set to one of "+quoted(ModelLogReg, ModelSoftmax, ModelLinReg, ModelMLP))
		return m
	}
	task := func(want string, ok bool) {
		if !ok && classes >= 0 {
			got := fmt.Sprintf("%d classes", classes)
			if classes == 0 {
				got = "a regression target"
			}
			v.addf("model.kind", "%q needs %s, the dataset has %s", m.Kind, want, got)
		}
	}
	switch m.Kind {
	case ModelLogReg:
		task("2 classes", classes == 2)
	case ModelSoftmax, ModelMLP:
		task("at least 2 classes", classes >= 2)
	case ModelLinReg:
		task("a regression target", classes == 0)
	default:
		v.addf("model.kind", "unknown model %q, want one of %s", m.Kind, quoted(ModelLogReg, ModelSoftmax, ModelLinReg, ModelMLP))
		return m
	}
	if m.Kind != ModelMLP {
		v.notUsed("by model \""+m.Kind+"\"", "model.hidden")
		return m
	}
	if len(m.Hidden) < 1 || len(m.Hidden) > model.MaxHidden {
		v.addf("model.hidden", "must list 1 to %d layer widths, got %d", model.MaxHidden, len(m.Hidden))
	}
	for i, h := range m.Hidden {
		if h < 1 || h > 1<<16 {
			v.addf(fmt.Sprintf("model.hidden[%d]", i), "must be in 1..65536, got %d", h)
		}
	}
	return m
}

func (v *validator) sites(f *jobFile) SitesSpec {
	s := SitesSpec{
		Fraction: v.orDefault("sites.fraction", f.Sites.Fraction, DefaultSiteFraction),
		Count:    f.Sites.Count,
		Quorum:   v.intOrDefault("sites.quorum", f.Sites.Quorum, DefaultQuorum),
	}
	if v.set("sites.fraction") && v.set("sites.count") {
		v.add("sites", "set fraction or count, not both")
	}
	if v.set("sites.fraction") && !(s.Fraction > 0 && s.Fraction <= 1) {
		v.addf("sites.fraction", "must be in (0, 1], got %v", s.Fraction)
	}
	if v.set("sites.count") {
		s.Fraction = 0
		if s.Count < 2 {
			v.addf("sites.count", "must be at least 2, got %d", s.Count)
		}
	}
	if s.Quorum < 2 {
		v.addf("sites.quorum", "must be at least 2, got %d", s.Quorum)
	} else if s.Count >= 2 && s.Quorum > s.Count {
		v.addf("sites.quorum", "must be at most sites.count = %d, got %d", s.Count, s.Quorum)
	}
	return s
}

func (v *validator) local(f *jobFile) train.LocalConfig {
	l := &f.Local
	c := train.LocalConfig{
		Epochs:       v.intOrDefault("local.epochs", l.Epochs, DefaultEpochs),
		BatchSize:    v.intOrDefault("local.batch_size", l.BatchSize, DefaultBatchSize),
		LearningRate: v.orDefault("local.learning_rate", l.LearningRate, DefaultLearningRate),
		Momentum:     l.Momentum,
		L2:           l.L2,
		ProxMu:       l.ProxMu,
	}
	switch l.Optimizer {
	case "sgd", "":
		c.Optimizer = train.SGD
	case "adam":
		c.Optimizer = train.Adam
		v.notUsed("by optimizer \"adam\"", "local.momentum")
	default:
		v.addf("local.optimizer", "unknown optimizer %q, want one of %s", l.Optimizer, quoted("sgd", "adam"))
	}
	if c.Epochs < 1 {
		v.addf("local.epochs", "must be at least 1, got %d", c.Epochs)
	}
	if c.BatchSize < 0 {
		v.addf("local.batch_size", "must be at least 0 (0 is full batch), got %d", c.BatchSize)
	}
	v.positive("local.learning_rate", c.LearningRate)
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		v.addf("local.momentum", "must be in [0, 1), got %v", c.Momentum)
	}
	v.nonNeg("local.l2", c.L2)
	return c
}

func (v *validator) strategy(f *jobFile, local *train.LocalConfig) StrategySpec {
	in := &f.Strategy
	s := StrategySpec{Name: in.Name}
	if !v.set("strategy.name") {
		s.Name = FedAvg
	}
	all := []string{"strategy.server_lr", "strategy.momentum", "strategy.beta1", "strategy.beta2", "strategy.tau"}
	var used []string
	switch s.Name {
	case FedAvg, FedProx:
	case FedAvgM:
		used = all[:2]
		s.ServerLR = v.orDefault(all[0], in.ServerLR, DefaultFedAvgMLR)
		s.Momentum = v.orDefault(all[1], in.Momentum, DefaultFedAvgMMomentum)
		v.positive(all[0], s.ServerLR)
		v.fraction(all[1], s.Momentum)
	case FedAdam, FedYogi, FedAdagrad:
		used = []string{all[0], all[2], all[3], all[4]}
		s.ServerLR = v.orDefault(all[0], in.ServerLR, DefaultServerLR)
		s.Beta1 = v.orDefault(all[2], in.Beta1, DefaultServerBeta1)
		s.Tau = v.orDefault(all[4], in.Tau, DefaultServerTau)
		v.positive(all[0], s.ServerLR)
		v.fraction(all[2], s.Beta1)
		v.positive(all[4], s.Tau)
		if s.Name == FedAdagrad {
			used = slices.Delete(used, 2, 3)
		} else {
			s.Beta2 = v.orDefault(all[3], in.Beta2, DefaultServerBeta2)
			v.fraction(all[3], s.Beta2)
		}
	default:
		v.addf("strategy.name", "unknown strategy %q, want one of %s", s.Name,
			quoted(FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad))
		return s
	}
	for _, k := range all {
		if !slices.Contains(used, k) {
			v.notUsed("by strategy \""+s.Name+"\"", k)
		}
	}
	if s.Name == FedProx {
		local.ProxMu = v.orDefault("local.prox_mu", local.ProxMu, DefaultProxMu)
		v.positive("local.prox_mu", local.ProxMu)
	} else if v.set("local.prox_mu") {
		v.add("local.prox_mu", "only with strategy \"fedprox\"")
	}
	return s
}

func (v *validator) privacy(f *jobFile) PrivacyMode {
	m := PrivacyMode(f.Privacy.Mode)
	if !v.set("privacy.mode") {
		m = SecAgg
	}
	switch m {
	case SecAgg, MHE:
		v.notUsed("unless privacy.mode is \"plain\"", "privacy.unsafe_plain")
	case Plain:
		if !f.Privacy.UnsafePlain {
			v.add("privacy.mode", "\"plain\" shows every site's update to the aggregator: set privacy.unsafe_plain = true to allow it")
		}
	default:
		v.addf("privacy.mode", "unknown mode %q, want one of %s", f.Privacy.Mode, quoted(string(SecAgg), string(MHE), string(Plain)))
	}
	return m
}

func (v *validator) secagg(f *jobFile, sites SitesSpec) SecAggSpec {
	in := &f.SecAgg
	s := SecAggSpec{
		K: in.K, T: in.T,
		Dropout:    v.orDefault("secagg.dropout", in.Dropout, DefaultDropout),
		Corruption: v.orDefault("secagg.corruption", in.Corruption, DefaultCorruption),
		RingBits:   v.intOrDefault("secagg.ring_bits", in.RingBits, DefaultRingBits),
		Lo:         v.orDefault("secagg.lo", in.Lo, DefaultFixedLo),
		Hi:         v.orDefault("secagg.hi", in.Hi, DefaultFixedHi),
		Bits:       in.Bits,
	}
	switch {
	case v.set("secagg.k") != v.set("secagg.t"):
		v.add("secagg", "set both k and t, or neither (ChooseKT picks them)")
	case v.set("secagg.k"):
		v.notUsed("when k and t are set", "secagg.dropout", "secagg.corruption")
		if n := sites.Count; n >= 2 {
			if s.K != n-1 && (s.K < 2 || s.K > n-2 || s.K%2 != 0) {
				v.addf("secagg.k", "must be an even degree in 2..%d or %d (the complete graph), got %d", n-2, n-1, s.K)
			}
		} else if s.K < 2 || s.K%2 != 0 {
			v.addf("secagg.k", "must be an even number of at least 2 (an odd complete graph needs sites.count), got %d", s.K)
		}
		if s.K >= 1 && (s.T <= s.K/2 || s.T > s.K) {
			v.addf("secagg.t", "must be in %d..k = %d (more than half of k), got %d", s.K/2+1, s.K, s.T)
		}
	default:
		v.fraction("secagg.dropout", s.Dropout)
		v.fraction("secagg.corruption", s.Corruption)
		if s.Dropout >= 0 && s.Corruption >= 0 && 2*s.Dropout+s.Corruption >= 1 {
			v.addf("secagg", "2·dropout + corruption must be below 1, got %v", 2*s.Dropout+s.Corruption)
		} else if n := sites.Count; n >= 3 && s.Dropout >= 0 && s.Dropout < 1 && s.Corruption >= 0 && s.Corruption < 1 {
			if _, _, err := secagg.ChooseKT(n, s.Dropout, s.Corruption); err != nil {
				v.add("secagg", strings.TrimPrefix(err.Error(), "secagg: invalid parameters: ")+
					fmt.Sprintf("; set k and t instead, e.g. the complete graph k = %d, t = %d", n-1, (n-1)/2+1))
			}
		} else if n == 2 {
			v.add("secagg", "ChooseKT needs at least 3 sites per round: set k = 1 and t = 1 (the complete graph), or more sites")
		}
	}
	if s.RingBits != 32 && s.RingBits != 64 {
		v.addf("secagg.ring_bits", "must be 32 or 64, got %d", s.RingBits)
	}
	if !finite(s.Lo) || !finite(s.Hi) || !(s.Lo < s.Hi) {
		v.addf("secagg", "need finite lo < hi, got lo = %v, hi = %v", s.Lo, s.Hi)
	}
	if s.Bits < 0 || s.Bits > s.RingBits {
		v.addf("secagg.bits", "must be in 0..ring_bits (0 picks the largest), got %d", s.Bits)
	}
	return s
}

func (v *validator) mhe(f *jobFile, sites SitesSpec) MHESpec {
	s := MHESpec{Preset: mhe.Preset(f.MHE.Preset), Threshold: f.MHE.Threshold}
	if !v.set("mhe.preset") {
		s.Preset = DefaultMHEPreset
	}
	if _, err := s.Preset.Literal(); err != nil {
		ps := make([]string, 0, 2)
		for _, p := range mhe.Presets() {
			ps = append(ps, string(p))
		}
		v.addf("mhe.preset", "unknown preset %q, want one of %s", f.MHE.Preset, quoted(ps...))
	}
	if s.Threshold < 0 {
		v.addf("mhe.threshold", "must be at least 0 (0 is a majority), got %d", s.Threshold)
	} else if v.set("mhe.threshold") && s.Threshold < 1 {
		v.add("mhe.threshold", "must be at least 1 when set")
	} else if sites.Count >= 2 && s.Threshold > sites.Count {
		v.addf("mhe.threshold", "must be at most sites.count = %d, got %d", sites.Count, s.Threshold)
	}
	return s
}

func (v *validator) dp(f *jobFile, local train.LocalConfig) (*RecordDP, *SiteDP) {
	var rec *RecordDP
	var site *SiteDP
	if v.set("dp.record") {
		in := &f.DP.Record
		rec = &RecordDP{
			Epsilon: in.Epsilon,
			Delta:   v.orDefault("dp.record.delta", in.Delta, DefaultDelta),
			Clip:    v.orDefault("dp.record.clip", in.Clip, DefaultClip),
		}
		if !v.set("dp.record.epsilon") {
			v.add("dp.record.epsilon", "must be set: the budget the job may spend at each site")
		} else {
			v.positive("dp.record.epsilon", rec.Epsilon)
		}
		if !(rec.Delta > 0 && rec.Delta < 1) {
			v.addf("dp.record.delta", "must be in (0, 1), got %v", rec.Delta)
		}
		v.positive("dp.record.clip", rec.Clip)
		if local.Optimizer != train.SGD {
			v.add("local.optimizer", "DP-SGD (dp.record) needs \"sgd\"")
		}
		if local.BatchSize < 1 {
			v.add("local.batch_size", "DP-SGD (dp.record) needs a batch size of at least 1")
		}
	}
	if v.set("dp.site") {
		in := &f.DP.Site
		site = &SiteDP{Clip: v.orDefault("dp.site.clip", in.Clip, DefaultClip), NoiseMultiplier: in.NoiseMultiplier}
		v.positive("dp.site.clip", site.Clip)
		if !v.set("dp.site.noise_multiplier") {
			v.add("dp.site.noise_multiplier", "must be set")
		} else {
			v.nonNeg("dp.site.noise_multiplier", site.NoiseMultiplier)
		}
	}
	return rec, site
}

func (v *validator) duration(key, s string, def time.Duration) time.Duration {
	if !v.set(key) {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.addf(key, "must be a duration such as \"30s\" or \"5m\", got %q", s)
		return def
	}
	if d <= 0 || d > 24*time.Hour {
		v.addf(key, "must be in (0, 24h], got %v", d)
	}
	return d
}
