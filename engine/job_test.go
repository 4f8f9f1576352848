package engine

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/federated/train"
	"github.com/cohort-mpc/cohort/protocols/mhe"
)

func loadJob(t *testing.T, name string) (*Job, error) {
	t.Helper()
	return LoadJob(filepath.Join("testdata", "jobs", name))
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var je *JobError
	if !errors.As(err, &je) || !errors.Is(err, ErrJob) {
		t.Fatalf("error %v (%T) is not a *JobError wrapping ErrJob", err, err)
	}
	return je.Problems
}

func TestJobFull(t *testing.T) {
	j, err := loadJob(t, "full.toml")
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "clinic-mlp" || j.Seed != 42 || j.Rounds != 30 {
		t.Errorf("header: %q %d %d", j.Name, j.Seed, j.Rounds)
	}
	d := j.Dataset
	if d.Builtin != "" || d.Path != filepath.Join("testdata", "jobs", "sites", "clinic.csv") || d.Classes != 3 {
		t.Errorf("dataset: %+v", d)
	}
	s := d.Schema
	if len(s.Columns) != 5 || s.Columns[3].Type != data.Category || s.Columns[0].Type != data.Int ||
		s.Label != "outcome" || !reflect.DeepEqual(s.Features, []string{"age", "bmi", "smoker"}) ||
		s.Header != data.HeaderNames || s.Comma != ';' ||
		s.Missing.Action != data.MissingFill || s.Missing.Value != 0.5 || len(s.Missing.Tokens) != 2 {
		t.Errorf("schema: %+v", s)
	}
	if j.Model.Kind != ModelMLP || !reflect.DeepEqual(j.Model.Hidden, []int{32, 16}) {
		t.Errorf("model: %+v", j.Model)
	}
	if j.Sites != (SitesSpec{Count: 10, Quorum: 6}) || j.Sites.PerRound(50) != 10 || j.Sites.PerRound(7) != 7 {
		t.Errorf("sites: %+v", j.Sites)
	}
	wantLocal := train.LocalConfig{Optimizer: train.SGD, Epochs: 2, BatchSize: 16, LearningRate: 0.05, Momentum: 0.5, L2: 1e-4}
	if j.Local != wantLocal {
		t.Errorf("local: %+v", j.Local)
	}
	if j.Strategy != (StrategySpec{Name: FedAdam, ServerLR: 0.01, Beta1: 0.8, Beta2: 0.95, Tau: 1e-2}) {
		t.Errorf("strategy: %+v", j.Strategy)
	}
	if j.Privacy != SecAgg || j.SecAgg != (SecAggSpec{K: 6, T: 4, Dropout: DefaultDropout, Corruption: DefaultCorruption, RingBits: 64, Lo: -4, Hi: 4, Bits: 40}) {
		t.Errorf("secagg: %v %+v", j.Privacy, j.SecAgg)
	}
	if j.RecordDP == nil || *j.RecordDP != (RecordDP{Epsilon: 3, Delta: 1e-6, Clip: 0.5}) {
		t.Errorf("record DP: %+v", j.RecordDP)
	}
	if j.SiteDP == nil || *j.SiteDP != (SiteDP{Clip: 2, NoiseMultiplier: 0.8}) {
		t.Errorf("site DP: %+v", j.SiteDP)
	}
	if j.Deadlines != (Deadlines{Decision: 2 * time.Minute, Setup: 30 * time.Second, Train: 10 * time.Minute, Recovery: 45 * time.Second}) {
		t.Errorf("deadlines: %+v", j.Deadlines)
	}
	// The specs build the real objects.
	m, err := j.Model.New(3, 3)
	if err != nil || m.Outputs() != 3 {
		t.Errorf("model.New: %v", err)
	}
	st, err := j.Strategy.New(j.Local)
	if err != nil || !strings.HasPrefix(st.Name(), "fedadam") {
		t.Errorf("strategy.New: %v", err)
	}
	lit, err := j.SecAgg.Literal(10, 100)
	if err != nil || lit.K != 6 || lit.T != 4 || lit.N != 10 || lit.Dim != 100 || lit.RingBits != 64 {
		t.Errorf("secagg literal %+v, %v", lit, err)
	}
}

func TestJobMinimalDefaults(t *testing.T) {
	j, err := loadJob(t, "minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Job{
		Name:    "job",
		Rounds:  DefaultRounds,
		Dataset: DatasetSpec{Name: BreastCancer, Builtin: BreastCancer, Schema: data.BreastCancerSchema(), Classes: 2},
		Model:   ModelSpec{Kind: ModelLogReg},
		Sites:   SitesSpec{Fraction: DefaultSiteFraction, Quorum: DefaultQuorum},
		Local: train.LocalConfig{Optimizer: train.SGD, Epochs: DefaultEpochs, BatchSize: DefaultBatchSize,
			LearningRate: DefaultLearningRate},
		Strategy: StrategySpec{Name: FedAvg},
		Privacy:  SecAgg,
		SecAgg: SecAggSpec{Dropout: DefaultDropout, Corruption: DefaultCorruption, RingBits: DefaultRingBits,
			Lo: DefaultFixedLo, Hi: DefaultFixedHi},
		Deadlines: Deadlines{Decision: DefaultDecision, Setup: DefaultSetup, Train: DefaultTrain, Recovery: DefaultRecovery},
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("got  %+v\nwant %+v", j, want)
	}
	if n := j.Sites.PerRound(7); n != 7 {
		t.Errorf("PerRound(7) = %d", n)
	}
	lit, err := j.SecAgg.Literal(100, 31)
	if err != nil || lit.K < 2 || lit.T <= lit.K/2 {
		t.Errorf("ChooseKT literal %+v, %v", lit, err)
	}
}

func TestJobOtherModes(t *testing.T) {
	j, err := loadJob(t, "mhe.toml")
	if err != nil {
		t.Fatal(err)
	}
	if j.Privacy != MHE || j.MHE != (MHESpec{Preset: mhe.PresetLarge, Threshold: 3}) ||
		j.Strategy.Name != FedProx || j.Local.ProxMu != DefaultProxMu || j.Local.Optimizer != train.Adam ||
		j.Sites.Fraction != 0.5 || j.Sites.PerRound(10) != 5 || j.Sites.PerRound(3) != 2 {
		t.Errorf("mhe job: %+v", j)
	}
	j, err = loadJob(t, "plain_unsafe.toml")
	if err != nil {
		t.Fatal(err)
	}
	if j.Privacy != Plain || j.Dataset.Classes != 0 {
		t.Errorf("plain job: %+v", j)
	}
}

func TestJobPlainRefused(t *testing.T) {
	_, err := loadJob(t, "plain.toml")
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Key != "privacy.mode" || !strings.Contains(ps[0].Msg, "unsafe_plain = true") {
		t.Errorf("problems: %v", ps)
	}
	// unsafe_plain = false is no better than leaving it out.
	_, err = ParseJob(strings.NewReader("[dataset]\nbuiltin = \"diabetes\"\n[model]\nkind = \"linreg\"\n[privacy]\nmode = \"plain\"\nunsafe_plain = false\n"))
	if ps := problems(t, err); len(ps) != 1 || ps[0].Key != "privacy.mode" {
		t.Errorf("problems: %v", ps)
	}
}

func TestJobUnknownKeys(t *testing.T) {
	_, err := loadJob(t, "unknown_keys.toml")
	want := []Problem{
		{Msg: `unknown key "colour"`},
		{Msg: `unknown key "local.learnign_rate"`},
		{Msg: `unknown key "deadline"`},
		{Msg: `unknown key "deadline.train"`},
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if !strings.Contains(err.Error(), `engine: job: unknown key "local.learnign_rate"`) {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestJobMistakes(t *testing.T) {
	_, err := loadJob(t, "mistakes.toml")
	want := []Problem{
		{"name", "must have 1 to 128 bytes, got 0"},
		{"rounds", "must be at least 1, got 0"},
		{"dataset.label", "not used with a built-in dataset"},
		{"dataset.builtin", `unknown dataset "iris", want one of "breast_cancer", "digits", "diabetes"`},
		{"model.hidden", `not used by model "linreg"`},
		{"sites.fraction", "must be in (0, 1], got 1.5"},
		{"sites.quorum", "must be at least 2, got 1"},
		{"local.optimizer", `unknown optimizer "rmsprop", want one of "sgd", "adam"`},
		{"local.epochs", "must be at least 1, got 0"},
		{"local.batch_size", "must be at least 0 (0 is full batch), got -1"},
		{"local.learning_rate", "must be positive and finite, got -0.1"},
		{"strategy.momentum", "must be in [0, 1), got 1"},
		{"strategy.tau", `not used by strategy "fedavgm"`},
		{"local.prox_mu", `only with strategy "fedprox"`},
		{"privacy.mode", `"plain" shows every site's update to the aggregator: set privacy.unsafe_plain = true to allow it`},
		{"secagg", `not used unless privacy.mode is "secagg"`},
		{"dp.record.epsilon", "must be set: the budget the job may spend at each site"},
		{"dp.record.delta", "must be in (0, 1), got 2"},
		{"local.batch_size", "DP-SGD (dp.record) needs a batch size of at least 1"},
		{"dp.site.clip", "must be positive and finite, got 0"},
		{"dp.site.noise_multiplier", "must be set"},
		{"deadlines.setup", "must be in (0, 24h], got -5s"},
		{"deadlines.train", `must be a duration such as "30s" or "5m", got "forever"`},
	}
	got := problems(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d problems:", len(got))
		for _, p := range got {
			t.Errorf("  {%q, %q},", p.Key, p.Msg)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(got) || lines[1] != "engine: job: rounds: must be at least 1, got 0" {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestJobSmallMistakes(t *testing.T) {
	base := "[dataset]\nbuiltin = \"breast_cancer\"\n[model]\nkind = \"logreg\"\n"
	for _, c := range []struct{ extra, key string }{
		{"[secagg]\nk = 5\nt = 3\n", "secagg.k"},
		{"[secagg]\nk = 4\nt = 2\n", "secagg.t"},
		{"[secagg]\nk = 4\n", "secagg"},
		{"[secagg]\ndropout = 0.5\n", "secagg"},
		{"[secagg]\nring_bits = 16\n", "secagg.ring_bits"},
		{"[secagg]\nlo = 1.0\nhi = -1.0\n", "secagg"},
		{"[sites]\ncount = 2\n", "secagg"},
		{"[sites]\ncount = 4\nfraction = 0.5\n[secagg]\nk = 3\nt = 2\n", "sites"},
		{"[sites]\ncount = 4\n", "secagg"},
		{"[mhe]\npreset = \"small\"\n", "mhe"},
		{"[privacy]\nmode = \"mhe\"\n[mhe]\npreset = \"huge\"\n", "mhe.preset"},
		{"[privacy]\nmode = \"mhe\"\n[sites]\ncount = 3\n[mhe]\nthreshold = 4\n", "mhe.threshold"},
		{"[privacy]\nmode = \"secret\"\n", "privacy.mode"},
		{"[privacy]\nunsafe_plain = true\n", "privacy.unsafe_plain"},
		{"[strategy]\nname = \"fedsgd\"\n", "strategy.name"},
		{"[strategy]\nname = \"fedadagrad\"\nbeta2 = 0.9\n", "strategy.beta2"},
		{"[strategy]\nname = \"fedprox\"\n[local]\nprox_mu = 0.0\n", "local.prox_mu"},
		{"[local]\noptimizer = \"adam\"\nmomentum = 0.9\n", "local.momentum"},
		{"[local]\noptimizer = \"adam\"\n[dp.record]\nepsilon = 1.0\n", "local.optimizer"},
		{"[deadlines]\nrecovery = \"48h\"\n", "deadlines.recovery"},
		{"seed = -1\n", "seed"},
		{"rounds = \"ten\"\n", "rounds"},
		{"[sites]\ncount = 3\n[secagg]\nk = 2\nt = 1\n", "secagg.t"},
	} {
		_, err := ParseJob(strings.NewReader(c.extra + base))
		if err == nil {
			t.Errorf("%q: accepted", c.extra)
			continue
		}
		if ps := problems(t, err); len(ps) != 1 || ps[0].Key != c.key {
			t.Errorf("%q: problems %q, want one at %q", c.extra, ps, c.key)
		}
	}
	for _, c := range []struct{ body, key string }{
		{"[model]\nkind = \"logreg\"\n", "dataset"},
		{"[dataset]\nbuiltin = \"digits\"\npath = \"x.csv\"\n[model]\nkind = \"softmax\"\n", "dataset"},
		{"[dataset]\nbuiltin = \"digits\"\n", "model.kind"},
		{"[dataset]\nbuiltin = \"digits\"\n[model]\nkind = \"logreg\"\n", "model.kind"},
		{"[dataset]\nbuiltin = \"diabetes\"\n[model]\nkind = \"mlp\"\nhidden = [4]\n", "model.kind"},
		{"[dataset]\nbuiltin = \"digits\"\n[model]\nkind = \"mlp\"\n", "model.hidden"},
		{"[dataset]\nbuiltin = \"digits\"\n[model]\nkind = \"mlp\"\nhidden = [4, 0]\n", "model.hidden[1]"},
		{"[dataset]\npath = \"a.csv\"\nlabel = \"y\"\n[[dataset.columns]]\nname = \"x\"\n[[dataset.columns]]\nname = \"x\"\ntype = \"date\"\n[model]\nkind = \"linreg\"\n", ""},
		{"[dataset]\npath = \"a.csv\"\nlabel = \"z\"\nfeatures = [\"w\"]\n[[dataset.columns]]\nname = \"x\"\n[model]\nkind = \"linreg\"\n", ""},
	} {
		_, err := ParseJob(strings.NewReader(c.body))
		if err == nil {
			t.Errorf("%q: accepted", c.body)
			continue
		}
		ps := problems(t, err)
		if c.key != "" && (len(ps) != 1 || ps[0].Key != c.key) {
			t.Errorf("%q: problems %q, want one at %q", c.body, ps, c.key)
		}
		if c.key == "" {
			t.Logf("%q: %q", c.body, ps)
		}
	}
}

func TestJobCSVClasses(t *testing.T) {
	csv := "[dataset]\npath = \"/abs/a.csv\"\nlabel = \"y\"\nclass_names = [\"a\", \"b\"]\n" +
		"[[dataset.columns]]\nname = \"x\"\n[[dataset.columns]]\nname = \"y\"\ntype = \"int\"\n[model]\nkind = \"logreg\"\n"
	j, err := ParseJob(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if j.Dataset.Classes != 2 || j.Dataset.Path != "/abs/a.csv" {
		t.Errorf("dataset %+v", j.Dataset)
	}
	// A category label without categories: the classes are known only
	// from the data, so any classifier is accepted.
	cat := "[dataset]\npath = \"a.csv\"\nlabel = \"y\"\n" +
		"[[dataset.columns]]\nname = \"x\"\n[[dataset.columns]]\nname = \"y\"\ntype = \"category\"\n[model]\nkind = \"softmax\"\n"
	if j, err := ParseJob(strings.NewReader(cat)); err != nil || j.Dataset.Classes != -1 {
		t.Errorf("category label: %v", err)
	}
}

func TestJobNotTOML(t *testing.T) {
	_, err := ParseJob(strings.NewReader("rounds = = 3\n"))
	if ps := problems(t, err); len(ps) != 1 {
		t.Errorf("problems %q", ps)
	}
	_, err = LoadJob(filepath.Join("testdata", "jobs", "missing.toml"))
	if !errors.Is(err, ErrJob) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseJob(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "jobs", "*.toml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("rounds = 1e400\n[sites]\ncount = 9223372036854775807\n[secagg]\nlo = nan\nhi = inf\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJob(strings.NewReader(string(b)))
		if (j == nil) == (err == nil) {
			t.Fatalf("job %v and error %v", j, err)
		}
		if err != nil {
			if !errors.Is(err, ErrJob) {
				t.Fatalf("error %v does not wrap ErrJob", err)
			}
			return
		}
		if j.Rounds < 1 || j.Local.Epochs < 1 || j.Sites.Quorum < 2 || j.Deadlines.Train <= 0 {
			t.Fatalf("accepted an invalid job: %+v", j)
		}
	})
}

func TestJobSmallSecAgg(t *testing.T) {
	// Three sites (the demo): ChooseKT cannot meet its targets, the
	// complete graph with a majority threshold is accepted.
	j, err := ParseJob(strings.NewReader("[dataset]\nbuiltin = \"breast_cancer\"\n[model]\nkind = \"logreg\"\n" +
		"[sites]\ncount = 3\n[secagg]\nk = 2\nt = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if lit, err := j.SecAgg.Literal(3, 31); err != nil || lit.K != 2 || lit.T != 2 {
		t.Errorf("literal %+v, %v", lit, err)
	}
}

func TestJobDatasetName(t *testing.T) {
	for _, tc := range []struct{ dataset, want, problem string }{
		{"builtin = \"digits\"", "digits", ""},
		{"builtin = \"digits\"\nname = \"mnist-8x8\"", "mnist-8x8", ""},
		{"path = \"data/Clinic Rows.csv\"\nlabel = \"y\"\n[[dataset.columns]]\nname = \"y\"\n", "", ""},
		{"path = \"data/clinic.csv.gz\"\nlabel = \"y\"\n[[dataset.columns]]\nname = \"y\"\n", "clinic", ""},
		{"builtin = \"digits\"\nname = \"Bad Name\"", "", "dataset.name: \"Bad Name\": want 1 to 64"},
		{"builtin = \"digits\"\nname = \"-x\"", "", "dataset.name: \"-x\""},
	} {
		model := "softmax"
		if strings.Contains(tc.dataset, "path") {
			model = "linreg"
		}
		j, err := ParseJob(strings.NewReader("[model]\nkind = \"" + model + "\"\n[dataset]\n" + tc.dataset + "\n"))
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("%q: error %v, want %q", tc.dataset, err, tc.problem)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.dataset, err)
			continue
		}
		if j.Dataset.Name != tc.want {
			t.Errorf("%q: name %q, want %q", tc.dataset, j.Dataset.Name, tc.want)
		}
	}
}
