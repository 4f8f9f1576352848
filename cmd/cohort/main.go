// Command cohort is the command-line interface of cohort: it runs nodes, jobs,
// ledger audits and benchmark suites. Business logic lives in the library
// packages; this command parses flags, prints results and sets exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// usageError marks an error in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "cohort",
		Usage:     "secure multi-party computation and federated learning across data owners",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are printed once, below, with the exit code chosen here.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			benchCommand(),
			datasetCommand(),
			demoCommand(),
			dpCommand(),
			jobCommand(), keyCommand(),
			ledgerCommand(),
			nodeCommand(),
			simulateCommand(),
			versionCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
	}
	if err := app.RunContext(ctx, flagsFirst(app.Commands, args)); err != nil {
		fmt.Fprintf(stderr, "cohort: %v\n", err)
		if _, ok := err.(usageError); ok {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// flagsFirst moves the flags that follow a command's positional arguments in
// front of them, so that "cohort bench tensor --json" means what
// "cohort bench --json tensor" does (urfave/cli stops parsing flags at the
// first positional argument). Everything after "--" stays positional.
func flagsFirst(cmds []*cli.Command, args []string) []string {
	// Find the command the arguments name, through subcommands.
	var cmd *cli.Command
	depth := 1
	for depth < len(args) {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[depth]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		depth++
	}
	if cmd == nil || len(cmd.Subcommands) > 0 || depth >= len(args) {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, positional []string
	rest := args[depth:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
			flags = append(flags, rest[i+1])
			i++
		}
	}
	out := append([]string{}, args[:depth]...)
	return append(append(out, flags...), positional...)
}
