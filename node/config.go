package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/identity"
)

// ErrConfig reports a configuration mistake; the message names the key.
var ErrConfig = errors.New("node: config")

// Config is a node's configuration (node.toml).
type Config struct {
	// Name is the node's display name; its identity is its key.
	Name string `toml:"name"`
	// Listen is where the node accepts its peers when it aggregates.
	Listen string `toml:"listen"`
	// Metrics, if set, serves Prometheus metrics at this address.
	Metrics string `toml:"metrics"`
	// Backend is the tensor backend cohort node start computes on:
	// "cuda", "cpu", or "auto" (CUDA where it can be used, else the CPU);
	// empty means auto. Its --backend overrides it. Start itself does not
	// read it: it uses Options.Backend.
	Backend string `toml:"backend"`
	// Peers are the did:keys of the nodes allowed to connect.
	Peers []string `toml:"peers"`
	// Researchers are the did:keys allowed to submit jobs here.
	Researchers []string `toml:"researchers"`
	// Aggregators are the aggregators this node works with: it dials out
	// to each and receives its tasks on that connection.
	Aggregators []Aggregator `toml:"aggregator"`
	// Policies say what jobs may do with each dataset ([[policy]]
	// blocks); a dataset without one is used by no job.
	Policies []DatasetPolicy `toml:"policy"`
}

// Aggregator is an aggregator a node dials.
type Aggregator struct {
	Address string `toml:"address"`
	DID     string `toml:"did"`
}

// LoadConfig reads and checks dir's node.toml.
func LoadConfig(dir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return ParseConfig(b)
}

// ParseConfig parses and checks a node.toml. Unknown keys, malformed
// did:keys and addresses are errors that name the key.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%w: unknown key %s", ErrConfig, strings.Join(keys, ", "))
	}
	if strings.TrimSpace(c.Name) == "" {
		return nil, fmt.Errorf("%w: name is empty", ErrConfig)
	}
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"metrics", c.Metrics}} {
		if a.addr == "" {
			continue
		}
		if err := checkAddr(a.addr); err != nil {
			return nil, fmt.Errorf("%w: %s = %q: %v", ErrConfig, a.key, a.addr, err)
		}
	}
	switch c.Backend {
	case "", "auto", "cpu", "cuda":
	default:
		return nil, fmt.Errorf("%w: backend = %q: want \"cuda\", \"cpu\" or \"auto\"", ErrConfig, c.Backend)
	}
	for _, l := range []struct {
		key  string
		dids []string
	}{{"peers", c.Peers}, {"researchers", c.Researchers}} {
		for i, d := range l.dids {
			if _, err := identity.ParseDID(d); err != nil {
				return nil, fmt.Errorf("%w: %s[%d]: %v", ErrConfig, l.key, i, err)
			}
		}
	}
	for i, a := range c.Aggregators {
		if err := checkAddr(a.Address); err != nil {
			return nil, fmt.Errorf("%w: aggregator[%d].address = %q: %v", ErrConfig, i, a.Address, err)
		}
		if _, err := identity.ParseDID(a.DID); err != nil {
			return nil, fmt.Errorf("%w: aggregator[%d].did: %v", ErrConfig, i, err)
		}
	}
	if err := checkPolicies(c.Policies); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkPolicies checks the [[policy]] blocks. Datasets need not be
// registered yet.
func checkPolicies(ps []DatasetPolicy) error {
	seen := map[string]int{}
	for i, p := range ps {
		key := fmt.Sprintf("policy[%d]", i)
		if !engine.ValidDatasetName(p.Dataset) {
			return fmt.Errorf("%w: %s.dataset: %q: want 1 to 64 of a-z, 0-9, '_', '-' and '.', starting with a letter or digit", ErrConfig, key, p.Dataset)
		}
		if j, dup := seen[p.Dataset]; dup {
			return fmt.Errorf("%w: %s.dataset: a second policy for dataset %q (the first is policy[%d])", ErrConfig, key, p.Dataset, j)
		}
		seen[p.Dataset] = i
		for j, d := range p.Researchers {
			if _, err := identity.ParseDID(d); err != nil {
				return fmt.Errorf("%w: %s.researchers[%d]: %v", ErrConfig, key, j, err)
			}
		}
		if p.Modes != nil && len(p.Modes) == 0 {
			return fmt.Errorf("%w: %s.modes: empty: list the privacy modes allowed, or leave the key out for secagg and mhe", ErrConfig, key)
		}
		for j, m := range p.Modes {
			switch engine.PrivacyMode(m) {
			case engine.SecAgg, engine.MHE, engine.Plain:
			default:
				return fmt.Errorf("%w: %s.modes[%d]: unknown privacy mode %q, want \"secagg\", \"mhe\" or \"plain\"", ErrConfig, key, j, m)
			}
			if slices.Contains(p.Modes[:j], m) {
				return fmt.Errorf("%w: %s.modes[%d]: %q is listed twice", ErrConfig, key, j, m)
			}
		}
		if p.MinSites < 0 {
			return fmt.Errorf("%w: %s.min_sites: must be at least 1, got %d", ErrConfig, key, p.MinSites)
		}
		if !(p.EpsilonCap >= 0) || math.IsInf(p.EpsilonCap, 1) {
			return fmt.Errorf("%w: %s.epsilon_cap: must be finite and at least 0 (0 is no cap), got %v", ErrConfig, key, p.EpsilonCap)
		}
	}
	return nil
}

func checkAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host (use 127.0.0.1 or 0.0.0.0 to listen everywhere)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not 0 to 65535", port)
	}
	return nil
}

// Identity is what Init made: the node's did:key and its folder.
type Identity struct {
	Dir string
	DID string
	Key ed25519.PrivateKey
}

// Init makes a node folder: an Ed25519 key (mode 0600), a self-signed TLS
// certificate for it and a commented node.toml. It refuses a folder that
// already holds a key, so an identity is never overwritten.
func Init(dir, name string, now time.Time, rand io.Reader) (*Identity, error) {
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "\"\n\\") {
		return nil, fmt.Errorf("%w: name %q: want a non-empty name without quotes, backslashes or newlines", ErrConfig, name)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		return nil, fmt.Errorf("node: %s already holds a node (%s): not overwriting its identity", dir, KeyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	key, err := identity.GenerateKey(rand)
	if err != nil {
		return nil, err
	}
	der, err := SelfSignedCert(key, name, now, rand)
	if err != nil {
		return nil, err
	}
	did := identity.DID(key.Public().(ed25519.PublicKey))
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, configTemplate, did, now.UTC().Format(time.RFC3339), name)
	// The key goes last: a folder with a key is a node, so the other files
	// must be there first.
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{ConfigFile, cfg.Bytes(), 0o644},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if _, err := ParseConfig(cfg.Bytes()); err != nil { // the template must parse
		return nil, err
	}
	if err := identity.SaveKey(filepath.Join(dir, KeyFile), key); err != nil {
		return nil, err
	}
	return &Identity{Dir: dir, DID: did, Key: key}, nil
}

const configTemplate = `# cohort node configuration.
#
# This node is %s
# (its did:key, from node.key; created %s). Peers pin it by that name:
# there is no certificate authority, and an unknown or mismatched key is
# refused at the TLS handshake.

# The name people see; the key is what others trust.
name = %q

# Where this node accepts peers when it aggregates jobs. Hospitals that only
# take part in jobs need not listen anywhere: they dial out to aggregators.
listen = "127.0.0.1:7400"

# Prometheus metrics ("" for none), e.g. "127.0.0.1:9400".
metrics = ""

# The tensor backend: "cuda" (fail to start where CUDA cannot be used),
# "cpu", or "auto" (CUDA where it can be used, else the CPU). cohort node
# start --backend overrides it.
backend = "auto"

# The did:keys of the nodes allowed to connect here.
peers = []

# The did:keys of the researchers allowed to submit jobs here.
researchers = []

# The aggregators this node works with; it keeps a connection open to each.
# [[aggregator]]
# address = "aggregator.example.org:7400"
# did = "did:key:z6Mk..."

# What jobs may do with each dataset registered here (cohort dataset add);
# a dataset without a policy is used by no job. One block per dataset:
# [[policy]]
# dataset = "breast_cancer"
# researchers = ["did:key:z6Mk..."]  # whose signed jobs may use it; [] is nobody
# modes = ["secagg", "mhe"]          # privacy modes allowed ("plain" only if listed)
# min_sites = 3                      # the fewest sites a job may have
# epsilon_cap = 8.0                  # record-level ε of all jobs together (0: no cap);
#                                    # a cap refuses jobs without record-level DP
# require_dp = true                  # refuse jobs without record-level DP
`
