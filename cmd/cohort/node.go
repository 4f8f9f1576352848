package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cohort-mpc/cohort/node"
)

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "set up and run the node a data owner keeps beside its data",
		Subcommands: []*cli.Command{
			{
				Name:      "init",
				Usage:     "make a node folder: an Ed25519 identity, its TLS certificate and a commented config",
				ArgsUsage: " ",
				Description: "Writes DIR/node.key (the node's Ed25519 key, mode 0600), DIR/node.crt (a self-signed TLS\n" +
					"certificate for it) and DIR/node.toml (the configuration, with comments), and prints the\n" +
					"node's did:key: the name other nodes pin it by. It never overwrites an existing node.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "the node folder to make", Required: true},
					&cli.StringFlag{Name: "name", Usage: "the node's display name", Required: true},
				},
				Action: func(c *cli.Context) error {
					id, err := node.Init(c.String("dir"), c.String("name"), time.Now(), rand.Reader)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "node %q is %s\n", c.String("name"), id.DID)
					for _, f := range []struct{ name, what string }{
						{node.KeyFile, "its Ed25519 key (keep it secret; mode 0600)"},
						{node.CertFile, "its self-signed TLS certificate"},
						{node.ConfigFile, "its configuration: add the did:keys of its peers and aggregators"},
					} {
						fmt.Fprintf(c.App.Writer, "  %-28s %s\n", filepath.Join(id.Dir, f.name), f.what)
					}
					return nil
				},
			},
			{
				Name:      "start",
				Usage:     "run the node of a folder until SIGTERM or SIGINT",
				ArgsUsage: " ",
				Description: "Runs the node: if its config has listen, it aggregates (serving its peers' task streams\n" +
					"and its researchers' jobs over gRPC with mutual TLS); if it lists aggregators, it dials\n" +
					"each and works for it on its registered datasets, deciding proposals by its policy. It\n" +
					"logs to stderr and writes its gRPC address to DIR/node.addr. SIGTERM or SIGINT stops it\n" +
					"gracefully: a running round is abandoned and the job resumes when the node restarts;\n" +
					"the tensor backend is released last, once the node has stopped. --backend overrides\n" +
					"the config's backend.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "the node folder (cohort node init)", Required: true},
					&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
					&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
					backendFlag("", "default: node.toml's backend, else auto"),
					&cli.StringFlag{Name: "insecure-seed", Hidden: true, Usage: "64 hex digits fixing the node's randomness (tests only)"},
				},
				Action: func(c *cli.Context) error { return nodeStart(c) },
			},
		},
	}
}

func nodeStart(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.String("log-format") {
	case "text":
		h = slog.NewTextHandler(c.App.ErrWriter, hopts)
	case "json":
		h = slog.NewJSONHandler(c.App.ErrWriter, hopts)
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.String("log-format"))
	}
	log := slog.New(h)
	kind := c.String("backend")
	if !c.IsSet("backend") {
		cfg, err := node.LoadConfig(c.String("dir"))
		if err != nil {
			return err
		}
		kind = cmp.Or(cfg.Backend, "auto")
	}
	if err := checkBackend(kind); err != nil {
		return err
	}
	opt := node.Options{Log: log}
	if s := c.String("insecure-seed"); s != "" {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("--insecure-seed: want 64 hex digits")
		}
		opt.Seed = [32]byte(b)
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The backend is shut down after the node: this defer runs after
	// n.Shutdown has returned, or after a failed Start has undone itself.
	backend, shutdown, err := selectBackend(kind, log)
	if err != nil {
		return err
	}
	defer shutdown()
	opt.Backend = backend
	n, err := node.Start(ctx, c.String("dir"), opt)
	if err != nil {
		return err
	}
	if n.Addr() != "" {
		fmt.Fprintf(c.App.Writer, "node %s listening on %s, tensor backend %s\n", n.DID(), n.Addr(), backend.Name())
	} else {
		fmt.Fprintf(c.App.Writer, "node %s running, tensor backend %s\n", n.DID(), backend.Name())
	}
	<-ctx.Done()
	fmt.Fprintln(c.App.Writer, "stopping")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.Shutdown(sctx)
}
