// Command cohort is the command-line interface of cohort: it runs nodes, jobs,
// ledger audits and benchmark suites. Business logic lives in the library
// packages; this command parses flags, prints results and sets exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
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

// backendUsage says what the --backend values do.
const backendUsage = "tensor backend: cuda (fails where CUDA cannot be used), cpu, or auto (CUDA where it can be used, else the CPU)"

// backendFlag is the --backend flag of the commands that run tensor
// kernels, with default value def (a --backend value, or "" where the
// command finds its default elsewhere). more, if not empty, is added to
// its usage.
func backendFlag(def, more string) *cli.StringFlag {
	usage := backendUsage
	if more != "" {
		usage += "; " + more
	}
	return &cli.StringFlag{Name: "backend", Value: def, Usage: usage}
}

// checkBackend returns a usage error unless kind is a --backend value.
func checkBackend(kind string) error {
	switch kind {
	case "cuda", "cpu", "auto":
		return nil
	}
	return usageError{fmt.Sprintf("--backend %q: want cuda, cpu or auto", kind)}
}

// selectBackend returns the tensor backend that kind (a --backend value)
// names, on every core, and the function that shuts it down, to be called
// once everything that uses the backend has stopped. It logs at Info why
// auto fell back to the CPU, if it did, and the backend's name.
func selectBackend(kind string, log *slog.Logger) (tensor.Backend, func(), error) {
	b, shutdown, fallback, err := openBackend(kind)
	if err != nil {
		return nil, nil, err
	}
	if fallback != nil {
		log.Info(cuda.Fallback, "reason", fallback)
	}
	log.Info("tensor backend", "backend", b.Name())
	return b, shutdown, nil
}

// openBackend is selectBackend without the logging: fallback, if not nil,
// says why auto fell back to the CPU.
func openBackend(kind string) (b tensor.Backend, shutdown func(), fallback, err error) {
	if err := checkBackend(kind); err != nil {
		return nil, nil, nil, err
	}
	b, shutdown, fallback, err = cuda.Select(kind, tensor.CPUConfig{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--backend %s: %w", kind, err)
	}
	return b, shutdown, fallback, nil
}
