package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run the cohort command as a user would, from a
// shell-like script with its stdout, stderr and exit code checked.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cohort": func() { os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	datasets, err := filepath.Abs("../../testdata/datasets")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("DATASETS", datasets) // the repository's copy of the shipped data
			return nil
		},
	})
}
