package node

import (
	"crypto/ed25519"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/identity"
)

// testDID is the did:key of the test researcher with key seed seed.
func testKey(seed byte) (ed25519.PrivateKey, string) {
	var s [ed25519.SeedSize]byte
	s[0] = seed
	k := ed25519.NewKeyFromSeed(s[:])
	return k, identity.DID(k.Public().(ed25519.PublicKey))
}

func TestParseConfigPolicies(t *testing.T) {
	_, did := testKey(1)
	cfg, err := ParseConfig([]byte(`name = "a"
[[policy]]
dataset = "breast_cancer"
researchers = ["` + did + `"]
modes = ["secagg", "plain"]
min_sites = 3
epsilon_cap = 8.0
require_dp = true

[[policy]]
dataset = "not-registered.yet"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []DatasetPolicy{
		{Dataset: "breast_cancer", Researchers: []string{did}, Modes: []string{"secagg", "plain"}, MinSites: 3, EpsilonCap: 8, RequireDP: true},
		{Dataset: "not-registered.yet"},
	}
	if !reflect.DeepEqual(cfg.Policies, want) {
		t.Errorf("policies\n %+v\nwant\n %+v", cfg.Policies, want)
	}
	if caps := cfg.EpsilonCaps(); !reflect.DeepEqual(caps, map[string]float64{"breast_cancer": 8}) {
		t.Errorf("EpsilonCaps: %v", caps)
	}
}

func TestParseConfigRefusesPolicies(t *testing.T) {
	_, did := testKey(1)
	p := "name = \"a\"\n[[policy]]\ndataset = \"a\"\n[[policy]]\ndataset = \"b\"\n"
	for _, c := range []struct{ toml, want string }{
		{p + "modes = [\"secagg\", \"open\"]\n", `node: config: policy[1].modes[1]: unknown privacy mode "open", want "secagg", "mhe" or "plain"`},
		{p + "modes = [\"mhe\", \"mhe\"]\n", `node: config: policy[1].modes[1]: "mhe" is listed twice`},
		{p + "modes = []\n", `node: config: policy[1].modes: empty: list the privacy modes allowed, or leave the key out for secagg and mhe`},
		{p + "researchers = [\"" + did + "\", \"did:key:z6Mk\"]\n", `node: config: policy[1].researchers[1]: `},
		{p + "min_sites = -1\n", `node: config: policy[1].min_sites: must be at least 1, got -1`},
		{p + "epsilon_cap = -0.5\n", `node: config: policy[1].epsilon_cap: must be finite and at least 0 (0 is no cap), got -0.5`},
		{p + "epsilon_cap = nan\n", `node: config: policy[1].epsilon_cap: must be finite and at least 0 (0 is no cap), got NaN`},
		{p + "epsilon_cap = inf\n", `node: config: policy[1].epsilon_cap: must be finite and at least 0 (0 is no cap), got +Inf`},
		{p + "[[policy]]\ndataset = \"a\"\n", `node: config: policy[2].dataset: a second policy for dataset "a" (the first is policy[0])`},
		{p + "[[policy]]\ndataset = \"A\"\n", `node: config: policy[2].dataset: "A": want 1 to 64 of a-z`},
		{p + "[[policy]]\n", `node: config: policy[2].dataset: "": want`},
		{p + "cap = 1\n", `node: config: unknown key policy.cap`},
		{p + "min_sites = \"3\"\n", `node: config: `},
	} {
		_, err := ParseConfig([]byte(c.toml))
		if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n %v\nwant %q", c.toml, err, c.want)
		}
	}
}

// The template's commented [[policy]] block parses once uncommented.
func TestConfigTemplatePolicy(t *testing.T) {
	var block []string
	for _, line := range strings.Split(configTemplate, "\n") {
		if strings.HasPrefix(line, "# [[policy]]") || len(block) > 0 && strings.HasPrefix(line, "# ") {
			block = append(block, strings.TrimPrefix(line, "# "))
		}
	}
	_, did := testKey(2)
	toml := "name = \"a\"\n" + strings.Replace(strings.Join(block, "\n"), "did:key:z6Mk...", did, 1)
	cfg, err := ParseConfig([]byte(toml))
	if err != nil {
		t.Fatalf("%s\n%v", toml, err)
	}
	want := []DatasetPolicy{{Dataset: "breast_cancer", Researchers: []string{did}, Modes: []string{"secagg", "mhe"}, MinSites: 3, EpsilonCap: 8, RequireDP: true}}
	if !reflect.DeepEqual(cfg.Policies, want) {
		t.Errorf("template policy %+v", cfg.Policies)
	}
}
