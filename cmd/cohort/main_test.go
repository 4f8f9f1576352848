package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flipbyte": flipByte,
		},
	})
}

// flipByte is the script command "flipbyte FILE OFFSET": it inverts the
// lowest bit of the byte at OFFSET (negative: from the end) of FILE, as an
// attacker tampering with a file would.
func flipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("offset %s is outside the %d bytes of %s", args[1], len(b), args[0])
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(path, b, 0o644))
}
