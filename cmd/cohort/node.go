package main

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
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
		},
	}
}
