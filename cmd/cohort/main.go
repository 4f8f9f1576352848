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
			versionCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
	}
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "cohort: %v\n", err)
		if _, ok := err.(usageError); ok {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}
