package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
)

// ErrRefused is wrapped by every *Refusal: the node's answer to a job its
// dataset registry or its policy does not allow.
var ErrRefused = errors.New("node: job refused")

// The rules a Refusal names.
const (
	// Policy rules, named after the keys of a [[policy]] block.
	RulePolicy      = "policy"      // the dataset has no policy
	RuleResearchers = "researchers" // the job's researcher is not listed
	RuleModes       = "modes"       // the job's privacy mode is not allowed
	RuleMinSites    = "min_sites"   // the job's roster is too small
	RuleRequireDP   = "require_dp"  // the job has no record-level DP
	RuleEpsilonCap  = "epsilon_cap" // the job asks more ε than is left
	// Registry rules (Registry.SiteData).
	RuleRegistered = "registered" // no dataset of the job's name
	RuleFile       = "file"       // the dataset's file changed or is gone
	RuleFeatures   = "features"   // the job's features do not fit
	RuleClasses    = "classes"    // the job's classes do not fit
)

// Refusal is why a node refuses a job. Its text, the reason the aggregator
// is told and the node's ledger records, names the failed rule and never the
// node's files or rows.
type Refusal struct {
	// Dataset is the job's dataset name.
	Dataset string
	// Rule is the rule that refused the job (the Rule constants).
	Rule string
	// Reason is the whole text of the error.
	Reason string
}

// Error returns the reason.
func (r *Refusal) Error() string { return r.Reason }

// Unwrap returns ErrRefused.
func (r *Refusal) Unwrap() error { return ErrRefused }

// Privacy modes a policy may allow by default: the ones that never show a
// site's update to the aggregator.
var defaultModes = []engine.PrivacyMode{engine.SecAgg, engine.MHE}

// DatasetPolicy is what a node allows of the jobs on one of its datasets
// (a [[policy]] block of node.toml).
type DatasetPolicy struct {
	// Dataset is the registered name the policy is for.
	Dataset string `toml:"dataset"`
	// Researchers are the did:keys of the researchers whose signed jobs
	// may use the dataset; none means nobody.
	Researchers []string `toml:"researchers"`
	// Modes are the privacy modes allowed: "secagg", "mhe", "plain". Left
	// out, it allows secagg and mhe; plain only when listed.
	Modes []string `toml:"modes"`
	// MinSites is the fewest sites a job's roster may have; 0 or left out
	// means no minimum.
	MinSites int `toml:"min_sites"`
	// EpsilonCap caps the record-level ε all jobs together may spend on
	// the dataset; 0 or left out means no cap. A cap implies RequireDP: a
	// job without record-level DP spends an unbounded ε.
	EpsilonCap float64 `toml:"epsilon_cap"`
	// RequireDP refuses jobs without record-level DP (dp.record).
	RequireDP bool `toml:"require_dp"`
}

// modes returns the allowed modes, the default filled in.
func (p *DatasetPolicy) modes() []engine.PrivacyMode {
	if p.Modes == nil {
		return defaultModes
	}
	m := make([]engine.PrivacyMode, len(p.Modes))
	for i, s := range p.Modes {
		m[i] = engine.PrivacyMode(s)
	}
	return m
}

// EpsilonCaps returns the ε cap of each dataset whose policy sets one, for
// OpenBudget.
func (c *Config) EpsilonCaps() map[string]float64 {
	caps := map[string]float64{}
	for _, p := range c.Policies {
		if p.EpsilonCap > 0 {
			caps[p.Dataset] = p.EpsilonCap
		}
	}
	return caps
}

// policy is the engine.Policy of NewPolicy.
type policy struct {
	byDataset map[string]compiledPolicy
	budget    *Budget
}

type compiledPolicy struct {
	DatasetPolicy
	researchers map[string]bool // canonical did:keys
	modes       []engine.PrivacyMode
}

// NewPolicy returns the policy cfg's [[policy]] blocks describe. Its Decide
// accepts a job only if a policy names the job's dataset and all of its
// rules pass: the job is signed by a listed researcher, its privacy mode is
// allowed, its roster has at least MinSites sites, it has record-level DP
// if the policy requires it or caps ε, and its record-level ε fits in what
// is left of the cap as budget counts it (budget nil: nothing spent). A
// refusal is a *Refusal that names the failed rule, e.g.
// `policy for dataset "bc": privacy mode "plain" is not allowed (allowed:
// secagg, mhe)`.
func NewPolicy(cfg *Config, budget *Budget) engine.Policy {
	p := &policy{byDataset: map[string]compiledPolicy{}, budget: budget}
	for _, dp := range cfg.Policies {
		cp := compiledPolicy{DatasetPolicy: dp, researchers: map[string]bool{}, modes: dp.modes()}
		for _, r := range dp.Researchers {
			if pub, err := identity.ParseDID(r); err == nil {
				cp.researchers[identity.DID(pub)] = true
			}
		}
		p.byDataset[dp.Dataset] = cp
	}
	return p
}

// Decide implements engine.Policy.
func (p *policy) Decide(_ context.Context, prop *engine.Proposed) error {
	name := prop.Job.Dataset.Name
	pol, ok := p.byDataset[name]
	if !ok {
		return &Refusal{Dataset: name, Rule: RulePolicy, Reason: fmt.Sprintf("no policy for dataset %q: refusing", name)}
	}
	refuse := func(rule, format string, a ...any) error {
		return &Refusal{Dataset: name, Rule: rule, Reason: fmt.Sprintf("policy for dataset %q: ", name) + fmt.Sprintf(format, a...)}
	}
	job := prop.Job
	switch {
	case prop.Researcher == nil:
		return refuse(RuleResearchers, "the job has no researcher signature")
	case len(prop.Researcher) != ed25519.PublicKeySize:
		return refuse(RuleResearchers, "the job's researcher key has %d bytes", len(prop.Researcher))
	}
	if did := identity.DID(prop.Researcher); !pol.researchers[did] {
		return refuse(RuleResearchers, "researcher %s is not allowed", did)
	}
	if !slices.Contains(pol.modes, job.Privacy) {
		names := make([]string, len(pol.modes))
		for i, m := range pol.modes {
			names[i] = string(m)
		}
		return refuse(RuleModes, "privacy mode %q is not allowed (allowed: %s)", job.Privacy, strings.Join(names, ", "))
	}
	if len(prop.Roster) < pol.MinSites {
		return refuse(RuleMinSites, "the job has %d sites, the policy wants at least %d", len(prop.Roster), pol.MinSites)
	}
	if job.RecordDP == nil {
		switch {
		case pol.RequireDP:
			return refuse(RuleRequireDP, "the job has no record-level DP (dp.record), the policy requires it")
		case pol.EpsilonCap > 0:
			return refuse(RuleEpsilonCap, "the job has no record-level DP (dp.record), the policy caps record-level ε at %.6g", pol.EpsilonCap)
		}
		return nil
	}
	if pol.EpsilonCap > 0 {
		spent := 0.0
		if p.budget != nil {
			var err error
			if spent, err = p.budget.Spent(name); err != nil {
				return err
			}
		}
		if left := pol.EpsilonCap - spent; job.RecordDP.Epsilon > left {
			return refuse(RuleEpsilonCap, "record-level ε: the job asks %.6g, %.6g of the cap %.6g is spent, %.6g left",
				job.RecordDP.Epsilon, spent, pol.EpsilonCap, max(left, 0))
		}
	}
	return nil
}
