package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/cohort-mpc/cohort/identity"
)

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "make the key with which a researcher signs jobs",
		Subcommands: []*cli.Command{
			{
				Name:      "generate",
				Usage:     "write a new Ed25519 key and print its did:key",
				ArgsUsage: " ",
				Description: "Writes a new Ed25519 private key to --out (PKCS #8 PEM, mode 0600) and prints its\n" +
					"did:key: the aggregator's operator adds it to the researchers of its node.toml. The\n" +
					"cohort job commands sign and authenticate with it (--key or COHORT_KEY). It never\n" +
					"overwrites a file.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Usage: "the key FILE to write (required)"},
					&cli.StringFlag{Name: "name", Usage: "who the key is for, shown beside the did:key"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return usageError{fmt.Sprintf("key generate: takes no arguments, got %q", c.Args().First())}
					}
					out := c.String("out")
					if out == "" {
						return usageError{"key generate: --out FILE is required: where to write the key"}
					}
					if _, err := os.Lstat(out); err == nil {
						return fmt.Errorf("key generate: %s already exists: not overwriting it", out)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("key generate: %w", err)
					}
					key, err := identity.GenerateKey(rand.Reader)
					if err != nil {
						return fmt.Errorf("key generate: %w", err)
					}
					if err := identity.SaveKey(out, key); err != nil {
						return fmt.Errorf("key generate: %w", err)
					}
					did := identity.DID(key.Public().(ed25519.PublicKey))
					w := c.App.Writer
					fmt.Fprintln(w, did)
					comment := ""
					if name := c.String("name"); name != "" {
						comment = "  # " + name
					}
					fmt.Fprintf(w, "wrote %s (keep it secret; mode 0600)\n", out)
					fmt.Fprintf(w, "the aggregator's node.toml must list it:\n  researchers = [%q]%s\n", did, comment)
					return nil
				},
			},
		},
	}
}
