package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cohort-mpc/cohort/federated"
	"github.com/cohort-mpc/cohort/federated/data"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/testdata/datasets"
)

// SimAddr is the in-memory address of a simulation's aggregator.
const SimAddr = "aggregator"

// SimConfig configures an in-process simulation: one aggregator and Sites
// virtual sites, each a real Site with its own key and rows, over the
// in-memory transport.
type SimConfig struct {
	// JobFile is the job, as a researcher would submit it.
	JobFile []byte
	// Dir resolves a relative dataset path in the job ("" = working dir).
	Dir string
	// Sites is the number of virtual sites (≥ 2).
	Sites int
	// Partition splits the dataset's rows over the sites: "iid" (default),
	// "dirichlet:α" (label skew, Dirichlet(α) class proportions per site)
	// or "quantity:α" (Dirichlet(α) site sizes).
	Partition string
	// Names, if set, names the sites (len Sites); default site-0001, ...
	Names []string
	// TestFraction of each site's rows is held out for evaluation
	// (default 0.2; sites with fewer than 5 rows hold none out).
	TestFraction float64
	// Seed fixes the partition, the sites' keys and their randomness.
	Seed uint64
	// Backend is shared by all sites.
	Backend tensor.Backend
	// AggregatorKey, if set, is the aggregator's public key as the sites
	// see it on their connections (witnessing needs it: it is the key of
	// the aggregator's ledger).
	AggregatorKey ed25519.PublicKey
	// Witness, if set, gives site i (with private key key) the ledger with
	// which it witnesses the aggregator's.
	Witness func(site int, key ed25519.PrivateKey) (Witness, error)
}

// Simulation is a set of virtual sites ready to serve an aggregator.
type Simulation struct {
	Net   *MemNetwork
	Sites []*Site
	Peers []Peer
	Job   *Job
	cfg   SimConfig
}

// NewSimulation loads the job's dataset, partitions it and makes the sites.
func NewSimulation(cfg SimConfig) (*Simulation, error) {
	job, err := ParseJob(bytes.NewReader(cfg.JobFile))
	if err != nil {
		return nil, err
	}
	if cfg.Sites < 2 {
		return nil, fmt.Errorf("engine: simulation: %d sites, want at least 2", cfg.Sites)
	}
	if cfg.Names != nil && len(cfg.Names) != cfg.Sites {
		return nil, fmt.Errorf("engine: simulation: %d names for %d sites", len(cfg.Names), cfg.Sites)
	}
	if cfg.Backend == nil {
		return nil, errors.New("engine: simulation needs a tensor backend")
	}
	if cfg.TestFraction == 0 {
		cfg.TestFraction = 0.2
	}
	ds, err := LoadDataset(job, cfg.Dir)
	if err != nil {
		return nil, err
	}
	parts, err := partition(ds, job, cfg)
	if err != nil {
		return nil, err
	}
	sim := &Simulation{Net: NewMemNetwork(), Job: job, cfg: cfg}
	for i, idx := range parts {
		rows := data.Gather(&ds.All, idx)
		tr, te := rows, federated.Batch{Cols: rows.Cols}
		if rows.Rows >= 5 {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
			if job.Dataset.Classes > 0 {
				tr, te, err = data.StratifiedTrainTest(&rows, cfg.TestFraction, rng)
			} else {
				tr, te, err = data.TrainTest(&rows, cfg.TestFraction, rng)
			}
			if err != nil {
				return nil, fmt.Errorf("engine: site %d: %w", i, err)
			}
		}
		name := fmt.Sprintf("site-%04d", i+1)
		if cfg.Names != nil {
			name = cfg.Names[i]
		}
		seed := simSeed(cfg.Seed, "site", i)
		key := ed25519.NewKeyFromSeed(seed[:])
		peer := Peer{Name: name, Key: key.Public().(ed25519.PublicKey)}
		var w Witness
		if cfg.Witness != nil {
			if w, err = cfg.Witness(i, key); err != nil {
				return nil, fmt.Errorf("engine: site %d: witness: %w", i, err)
			}
		}
		site, err := NewSite(SiteConfig{Self: peer, Signer: key, Data: SiteData{Dataset: job.Dataset.Builtin + job.Dataset.Path, Train: &tr, Test: &te},
			Policy: AcceptAll, Backend: cfg.Backend, Seed: simSeed(cfg.Seed, "site-rand", i), Witness: w})
		if err != nil {
			return nil, err
		}
		sim.Sites = append(sim.Sites, site)
		sim.Peers = append(sim.Peers, peer)
	}
	return sim, nil
}

func simSeed(seed uint64, label string, i int) [32]byte {
	h := sha256.New()
	h.Write([]byte("cohort/engine/simulation/" + label))
	h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, seed), uint64(i)))
	return [32]byte(h.Sum(nil))
}

// LoadDataset loads the rows a job names: a built-in dataset from the copy
// embedded in the binary, or the job's CSV file (relative to dir).
func LoadDataset(job *Job, dir string) (*data.Dataset, error) {
	switch job.Dataset.Builtin {
	case BreastCancer:
		return data.BreastCancerFS(datasets.FS)
	case Digits:
		return data.DigitsFS(datasets.FS)
	case Diabetes:
		return data.DiabetesFS(datasets.FS)
	case "":
		p := job.Dataset.Path
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		return data.LoadFile(p, job.Dataset.Schema)
	}
	return nil, fmt.Errorf("engine: unknown built-in dataset %q", job.Dataset.Builtin)
}

func partition(ds *data.Dataset, job *Job, cfg SimConfig) ([][]int, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	n := ds.All.Rows
	if n < cfg.Sites {
		return nil, fmt.Errorf("engine: simulation: %d rows cannot feed %d sites", n, cfg.Sites)
	}
	kind, arg, _ := strings.Cut(cfg.Partition, ":")
	alpha := 0.0
	if arg != "" {
		var err error
		if alpha, err = strconv.ParseFloat(arg, 64); err != nil || !(alpha > 0) {
			return nil, fmt.Errorf("engine: partition %q: want a positive α after the colon", cfg.Partition)
		}
	}
	minSize := max(1, min(10, n/cfg.Sites/2))
	switch kind {
	case "", "iid":
		return data.IID(n, cfg.Sites, rng)
	case "dirichlet", "label":
		if alpha == 0 {
			alpha = 0.5
		}
		if job.Dataset.Classes <= 0 {
			return nil, fmt.Errorf("engine: partition %q needs a classification dataset", cfg.Partition)
		}
		return data.LabelSkew(ds.All.Y, cfg.Sites, alpha, minSize, rng)
	case "quantity":
		if alpha == 0 {
			alpha = 0.5
		}
		return data.QuantitySkew(n, cfg.Sites, alpha, minSize, rng)
	}
	return nil, fmt.Errorf("engine: unknown partition %q (want iid, dirichlet:α or quantity:α)", cfg.Partition)
}

// Start runs every site's connection loop against the simulation's
// aggregator address until the returned stop function is called; stop
// waits for them.
func (s *Simulation) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, site := range s.Sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			site.Run(ctx, s.Net, SimAddr)
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// Listen opens the aggregator's listener on the simulation's network.
func (s *Simulation) Listen() (Listener, error) {
	return s.Net.Listen(SimAddr, Peer{Name: "aggregator", Key: s.cfg.AggregatorKey})
}

// Simulate runs the job of cfg from proposal to result with an aggregator
// configured by agg (its Backend defaults to cfg's).
func Simulate(ctx context.Context, cfg SimConfig, agg AggregatorConfig) (*Result, error) {
	sim, err := NewSimulation(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := sim.Listen()
	if err != nil {
		return nil, err
	}
	if agg.Backend == nil {
		agg.Backend = cfg.Backend
	}
	a, shutdown, err := NewAggregator(agg, ln)
	if err != nil {
		return nil, err
	}
	stop := sim.Start(ctx)
	defer stop()
	defer shutdown()
	return a.Run(ctx, cfg.JobFile, sim.Peers)
}
