package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/engine"
	"github.com/cohort-mpc/cohort/ledger"
)

func TestPolicyDecide(t *testing.T) {
	researcher, did := testKey(1)
	stranger, strangerDID := testKey(2)
	cfg, err := ParseConfig([]byte(`name = "a"
[[policy]]
dataset = "breast_cancer"
researchers = ["` + did + `"]
min_sites = 3
epsilon_cap = 8.0

[[policy]]
dataset = "open"
researchers = ["` + strangerDID + `", "` + did + `"]
modes = ["plain", "secagg"]

[[policy]]
dataset = "dp-only"
researchers = ["` + did + `"]
require_dp = true

[[policy]]
dataset = "nobody"
researchers = []
`))
	if err != nil {
		t.Fatal(err)
	}
	l := openLedger(t, t.TempDir())
	defer l.Close()
	record(t, l, &ledger.BudgetSpent{Dataset: "breast_cancer", Epsilon: 6.5, Total: 6.5})
	budget, err := OpenBudget(l, cfg.EpsilonCaps())
	if err != nil {
		t.Fatal(err)
	}
	pol := NewPolicy(cfg, budget)

	const base = "[dataset]\nbuiltin = \"breast_cancer\"\n[model]\nkind = \"logreg\"\n"
	const dp = "[dp.record]\nepsilon = 1.5\n"
	named := func(name string) string {
		return strings.Replace(base, "[model]", "name = \""+name+"\"\n[model]", 1)
	}
	plain := "[privacy]\nmode = \"plain\"\nunsafe_plain = true\n"
	mhe := "[privacy]\nmode = \"mhe\"\n"
	me := researcher.Public().(ed25519.PublicKey)
	for _, c := range []struct {
		job        string
		researcher ed25519.PublicKey
		sites      int
		rule, want string
	}{
		{base + dp, me, 3, "", ""},
		{base + mhe + dp, me, 5, "", ""},
		{base + dp, nil, 3, RuleResearchers, `policy for dataset "breast_cancer": the job has no researcher signature`},
		{base + dp, me[:31], 3, RuleResearchers, `policy for dataset "breast_cancer": the job's researcher key has 31 bytes`},
		{base + dp, stranger.Public().(ed25519.PublicKey), 3, RuleResearchers,
			`policy for dataset "breast_cancer": researcher ` + strangerDID + ` is not allowed`},
		{base + plain + dp, me, 3, RuleModes, `policy for dataset "breast_cancer": privacy mode "plain" is not allowed (allowed: secagg, mhe)`},
		{base + dp, me, 2, RuleMinSites, `policy for dataset "breast_cancer": the job has 2 sites, the policy wants at least 3`},
		{base, me, 3, RuleEpsilonCap, `policy for dataset "breast_cancer": the job has no record-level DP (dp.record), the policy caps record-level ε at 8`},
		{base + "[dp.record]\nepsilon = 3.0\n", me, 3, RuleEpsilonCap,
			`policy for dataset "breast_cancer": record-level ε: the job asks 3, 6.5 of the cap 8 is spent, 1.5 left`},
		{named("digits") + dp, me, 3, RulePolicy, `no policy for dataset "digits": refusing`},
		{named("open") + plain, stranger.Public().(ed25519.PublicKey), 1, "", ""},
		{named("open") + mhe, me, 1, RuleModes, `policy for dataset "open": privacy mode "mhe" is not allowed (allowed: plain, secagg)`},
		{named("dp-only"), me, 2, RuleRequireDP, `policy for dataset "dp-only": the job has no record-level DP (dp.record), the policy requires it`},
		{named("dp-only") + "[dp.record]\nepsilon = 100.0\n", me, 2, "", ""},
		{named("nobody") + dp, me, 3, RuleResearchers, `policy for dataset "nobody": researcher ` + did + ` is not allowed`},
	} {
		job := parseJob(t, c.job)
		err := pol.Decide(context.Background(), &engine.Proposed{Job: job, Researcher: c.researcher, Roster: make([]engine.Peer, c.sites)})
		var r *Refusal
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: refused: %v", c.job, err)
		case c.want == "":
		case !errors.As(err, &r) || !errors.Is(err, ErrRefused) || r.Rule != c.rule || r.Dataset != job.Dataset.Name || err.Error() != c.want:
			t.Errorf("%q:\n %v (%+v)\nwant %s: %q", c.job, err, r, c.rule, c.want)
		}
	}
	// Spending more of the cap refuses what was accepted.
	if err := budget.Charge("breast_cancer", 0.5); err != nil {
		t.Fatal(err)
	}
	err = pol.Decide(context.Background(), &engine.Proposed{Job: parseJob(t, base+dp), Researcher: me, Roster: make([]engine.Peer, 3)})
	if want := `policy for dataset "breast_cancer": record-level ε: the job asks 1.5, 7 of the cap 8 is spent, 1 left`; err == nil || err.Error() != want {
		t.Errorf("%v, want %q", err, want)
	}
	// Without a budget nothing is spent.
	if err := NewPolicy(cfg, nil).Decide(context.Background(), &engine.Proposed{Job: parseJob(t, base+"[dp.record]\nepsilon = 8.0\n"),
		Researcher: me, Roster: make([]engine.Peer, 3)}); err != nil {
		t.Errorf("no budget: %v", err)
	}
}
