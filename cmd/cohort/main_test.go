package main

import (
	"context"
	"os"
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
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
