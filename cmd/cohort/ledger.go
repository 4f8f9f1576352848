package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/urfave/cli/v2"

	"github.com/cohort-mpc/cohort/identity"
	"github.com/cohort-mpc/cohort/ledger"
	"github.com/cohort-mpc/cohort/ledger/anchor"
)

func ledgerCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "the node folder (its DIR/ledger and DIR/node.key)"}
	return &cli.Command{
		Name:  "ledger",
		Usage: "read, prove, export, verify and anchor a node's ledger",
		Description: "A node's ledger records what happened with its data and its jobs: an append-only log\n" +
			"of typed entries, chained by hash, committed to by an RFC 6962 Merkle tree, with C2SP\n" +
			"signed checkpoints that the other nodes of a job cosign, and anchors on a public chain.",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "print the ledger's entries, one a line",
				ArgsUsage: " ",
				Description: "Prints the log's origin, size and root, then each entry: index, time, type and\n" +
					"what it says. --from and --count pick a range; --json prints one JSON object a line.",
				Flags: []cli.Flag{dirFlag,
					&cli.Uint64Flag{Name: "from", Usage: "first entry"},
					&cli.Uint64Flag{Name: "count", Usage: "entries to print (0: all)"},
					&cli.BoolFlag{Name: "json", Usage: "one JSON object per entry"},
				},
				Action: func(c *cli.Context) error {
					l, err := openLedger(c, false)
					if err != nil {
						return err
					}
					defer l.Close()
					return showLedger(c.App.Writer, l, c.Uint64("from"), c.Uint64("count"), c.Bool("json"))
				},
			},
			{
				Name:      "prove",
				Usage:     "write a self-contained proof of one entry (C2SP tlog-proof)",
				ArgsUsage: "INDEX",
				Description: "Writes the entry, its Merkle inclusion proof and the latest signed checkpoint (signing\n" +
					"one if none covers the entry yet) in the C2SP tlog-proof format. Anyone holding the\n" +
					"log's verifier key can check it with cohort ledger verify --proof FILE --vkey KEY.",
				Flags: []cli.Flag{dirFlag, &cli.StringFlag{Name: "out", Usage: "write the proof to FILE (default: stdout)"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{"ledger prove: want one entry index"}
					}
					index, err := strconv.ParseUint(c.Args().First(), 10, 64)
					if err != nil {
						return usageError{fmt.Sprintf("ledger prove: entry index %q is not a number", c.Args().First())}
					}
					l, err := openLedger(c, true)
					if err != nil {
						return err
					}
					defer l.Close()
					p, err := l.Prove(c.Context, index)
					if err != nil {
						return err
					}
					return writeOut(c, p)
				},
			},
			{
				Name:      "export",
				Usage:     "write the ledger as a static C2SP tlog-tiles log",
				ArgsUsage: " ",
				Description: "Signs a checkpoint of the whole log and writes it with the Merkle tiles, the entry\n" +
					"bundles, every kept checkpoint with its cosignatures, the anchor receipts and the log's\n" +
					"verifier key (log.vkey) to --out, which must not exist. Any tlog-tiles client can read it;\n" +
					"cohort ledger verify --export DIR checks all of it.",
				Flags: []cli.Flag{dirFlag, &cli.StringFlag{Name: "out", Usage: "the new DIR to write", Required: true}},
				Action: func(c *cli.Context) error {
					l, err := openLedger(c, true)
					if err != nil {
						return err
					}
					defer l.Close()
					if _, err := l.Checkpoint(c.Context); err != nil {
						return err
					}
					cp, err := l.Export(c.Context, c.String("out"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "exported %d entries of %s to %s\nroot %x\n", cp.Size, cp.Origin, c.String("out"), cp.Root)
					return nil
				},
			},
			{
				Name:      "verify",
				Usage:     "check a ledger (live or exported), or one entry's proof, and print a report",
				ArgsUsage: " ",
				Description: "Re-derives every entry's hash, the chain links, the Merkle tree and root, and checks every\n" +
					"checkpoint's signature and cosignature and every anchor. The first failure is named (the\n" +
					"entry, tile or checkpoint, and what was wrong) and the exit code is 1.\n\n" +
					"  --dir DIR       a node's live ledger (the node must not be running)\n" +
					"  --export DIR    a folder written by cohort ledger export\n" +
					"  --proof FILE    one entry's tlog-proof, with --vkey the log's verifier key\n\n" +
					"With --rpc, anchors are checked on the chain (transaction, receipt, canonical block,\n" +
					"confirmations); without it only against the log itself.",
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "export", Usage: "an exported DIR"},
					&cli.StringFlag{Name: "proof", Usage: "a tlog-proof FILE (with --vkey)"},
					&cli.StringFlag{Name: "vkey", Usage: "the log's verifier key, or a FILE holding it: pins which log this must be"},
					&cli.StringSliceFlag{Name: "witness", Usage: "a trusted witness's cosignature verifier KEY (repeatable)"},
					&cli.StringSliceFlag{Name: "checkpoint", Usage: "another signed checkpoint FILE of this log that must be consistent (repeatable)"},
					&cli.StringFlag{Name: "rpc", Usage: "an Ethereum JSON-RPC URL to check anchors on chain"},
					&cli.Uint64Flag{Name: "confirmations", Value: 1, Usage: "confirmations an anchor must have on chain"},
				},
				Action: verifyAction,
			},
			{
				Name:      "anchor",
				Usage:     "publish the ledger's checkpoint on an Ethereum chain and record the receipt",
				ArgsUsage: " ",
				Description: "Signs a checkpoint of the whole log and sends a type-2 transaction carrying\n" +
					"cohort-anchor/v1, the origin, the size and the root (docs/wire/anchor.md) from the account\n" +
					"of --key, waits for the receipt and --confirmations blocks, then records an\n" +
					"anchor-published entry in the ledger.",
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "rpc", Usage: "the chain's JSON-RPC URL", Required: true},
					&cli.StringFlag{Name: "key", Usage: "a FILE holding the paying account's hex secp256k1 key", Required: true},
					&cli.Uint64Flag{Name: "confirmations", Value: 1, Usage: "blocks, the receipt's included, to wait for"},
					&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up after this long"},
				},
				Action: anchorAction,
			},
			{
				Name:   "devchain",
				Usage:  "run a local development chain (go-ethereum's simulated backend) for anchoring",
				Hidden: true,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8545", Usage: "JSON-RPC ADDR"},
					&cli.DurationFlag{Name: "block-time", Value: time.Second, Usage: "time between blocks"},
					&cli.StringFlag{Name: "key-out", Usage: "write a funded account's key to FILE", Required: true},
				},
				Action: devchainAction,
			},
		},
	}
}

// openLedger opens the ledger of the node folder --dir, writable (with the
// node's key) or read-only.
func openLedger(c *cli.Context, writable bool) (*ledger.Log, error) {
	dir := c.String("dir")
	if dir == "" {
		return nil, usageError{fmt.Sprintf("ledger %s: --dir is required", c.Command.Name)}
	}
	path := filepath.Join(dir, nodeLedgerDir)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no ledger in %s: %w", dir, err)
	}
	if !writable {
		return ledger.Open(path, nil, &ledger.Options{ReadOnly: true})
	}
	key, err := identity.LoadKey(filepath.Join(dir, nodeKeyFile))
	if err != nil {
		return nil, err
	}
	return ledger.Open(path, key, nil)
}

func writeOut(c *cli.Context, b []byte) error {
	if out := c.String("out"); out != "" {
		return os.WriteFile(out, b, 0o644)
	}
	_, err := c.App.Writer.Write(b)
	return err
}

// entryJSON is one line of cohort ledger show --json.
type entryJSON struct {
	Index   uint64 `json:"index"`
	Time    string `json:"time"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	Leaf    string `json:"leaf_hash"`
}

func showLedger(w io.Writer, l *ledger.Log, from, count uint64, asJSON bool) error {
	size, root := l.Root()
	end := size
	if count > 0 && from+count < end {
		end = from + count
	}
	if from > size {
		return fmt.Errorf("--from %d is past the end of a %d-entry ledger", from, size)
	}
	enc := json.NewEncoder(w)
	if !asJSON {
		fmt.Fprintf(w, "origin %s\nsize   %d\nroot   %x\n\n", l.Origin(), size, root)
	}
	return l.Entries(from, end, func(i uint64, b []byte) error {
		var e ledger.Entry
		if err := e.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		summary := "(body does not decode)"
		if ev, err := e.Event(); err == nil {
			summary = ledger.Summary(ev)
		}
		if asJSON {
			lh := ledger.LeafHash(b)
			return enc.Encode(entryJSON{Index: i, Time: e.Time.Format(time.RFC3339Nano), Type: e.Type.String(), Summary: summary, Leaf: fmt.Sprintf("%x", lh)})
		}
		_, err := fmt.Fprintf(w, "%6d  %s  %-19s  %s\n", i, e.Time.Format("2006-01-02 15:04:05.000"), e.Type, summary)
		return err
	})
}

// readVKey takes a verifier key or a file holding one: a name that is an
// existing file is read, anything else is the key itself.
func readVKey(s string) (string, error) {
	if st, err := os.Stat(s); err != nil || st.IsDir() {
		return strings.TrimSpace(s), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("--vkey: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func verifyAction(c *cli.Context) error {
	ctx := c.Context
	w := c.App.Writer
	var pinned ed25519.PublicKey
	if v := c.String("vkey"); v != "" {
		vkey, err := readVKey(v)
		if err != nil {
			return err
		}
		name, _, _ := strings.Cut(vkey, "+")
		if pinned, err = ledger.OriginKey(name); err != nil {
			return fmt.Errorf("--vkey: %w", err)
		}
		if ledger.VerifierKey(pinned) != vkey {
			return fmt.Errorf("--vkey %q is not the verifier key of %s", vkey, name)
		}
	}
	if p := c.String("proof"); p != "" {
		if pinned == nil {
			return usageError{"ledger verify --proof needs --vkey, the verifier key of the log that made it"}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		e, cp, err := ledger.VerifyProof(b, ledger.LogVerifier(pinned))
		if err != nil {
			return err
		}
		summary := "(body does not decode)"
		if ev, err := e.Event(); err == nil {
			summary = ledger.Summary(ev)
		}
		fmt.Fprintf(w, "ok: entry %d is in %s at size %d (root %x)\n  %s  %s  %s\n", e.Index, cp.Origin, cp.Size, cp.Root,
			e.Time.Format(time.RFC3339), e.Type, summary)
		return nil
	}
	opts := ledger.VerifyOptions{LogKey: pinned, Witnesses: c.StringSlice("witness")}
	for _, f := range c.StringSlice("checkpoint") {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		opts.Checkpoints = append(opts.Checkpoints, b)
	}
	if rpc := c.String("rpc"); rpc != "" {
		client, err := ethclient.DialContext(ctx, rpc)
		if err != nil {
			return fmt.Errorf("--rpc %s: %w", rpc, err)
		}
		defer client.Close()
		v, err := anchor.NewEthereum(client, nil, anchor.Options{Confirmations: c.Uint64("confirmations")})
		if err != nil {
			return err
		}
		opts.Anchors = v
	}
	var src ledger.Source
	switch {
	case c.String("export") != "" && c.String("dir") != "":
		return usageError{"ledger verify: give --dir or --export, not both"}
	case c.String("export") != "":
		s, err := ledger.OpenDir(c.String("export"))
		if err != nil {
			return err
		}
		src = s
	case c.String("dir") != "":
		l, err := openLedger(c, false)
		if err != nil {
			return err
		}
		defer l.Close()
		src = l.Source()
	default:
		return usageError{"ledger verify: give --dir, --export or --proof"}
	}
	rep, err := ledger.Verify(ctx, src, opts)
	if rep != nil {
		fmt.Fprint(w, rep.String())
	}
	if err != nil {
		return err
	}
	if !rep.Pinned {
		fmt.Fprintln(w, "hint: --vkey KEY pins the key the log must have (log.vkey in an export)")
	}
	if rep.Anchors > rep.AnchorsOnChain {
		fmt.Fprintln(w, "hint: --rpc URL checks the anchors on their chain")
	}
	fmt.Fprintln(w, "ok")
	return nil
}

func anchorAction(c *cli.Context) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	l, err := openLedger(c, true)
	if err != nil {
		return err
	}
	defer l.Close()
	key, err := anchor.LoadKey(c.String("key"))
	if err != nil {
		return err
	}
	client, err := ethclient.DialContext(ctx, c.String("rpc"))
	if err != nil {
		return fmt.Errorf("--rpc %s: %w", c.String("rpc"), err)
	}
	defer client.Close()
	eth, err := anchor.NewEthereum(client, key, anchor.Options{Confirmations: c.Uint64("confirmations"), Timeout: c.Duration("timeout")})
	if err != nil {
		return err
	}
	signed, err := l.Checkpoint(ctx)
	if err != nil {
		return err
	}
	cp, _, err := ledger.OpenCheckpoint(signed, ledger.LogVerifier(l.PublicKey()))
	if err != nil {
		return err
	}
	a, err := eth.Anchor(ctx, cp.Origin, cp.Size, cp.Root)
	if err != nil {
		return err
	}
	i, err := l.Append(ctx, a)
	if err != nil {
		return fmt.Errorf("anchored in tx 0x%x but recording it failed: %w", a.Tx, err)
	}
	fmt.Fprintf(c.App.Writer, "anchored checkpoint %d (root %x)\n  chain %s:%d, tx 0x%x, block %d (0x%x), %d confirmations\n  recorded as entry %d\n",
		cp.Size, cp.Root, a.Chain, a.ChainID, a.Tx, a.Block, a.BlockHash, a.Confirmations, i)
	return nil
}

func devchainAction(c *cli.Context) error {
	key, err := crypto.GenerateKey()
	if err != nil {
		return err
	}
	if err := anchor.SaveKey(c.String("key-out"), key); err != nil {
		return err
	}
	dev, err := anchor.StartDevChain(c.Context, anchor.DevOptions{Listen: c.String("listen"), BlockTime: c.Duration("block-time"),
		Funded: []common.Address{crypto.PubkeyToAddress(key.PublicKey)}})
	if err != nil {
		return err
	}
	defer dev.Close()
	fmt.Fprintf(c.App.Writer, "development chain at %s; funded account %s (key in %s)\n", dev.URL(), crypto.PubkeyToAddress(key.PublicKey), c.String("key-out"))
	<-c.Context.Done()
	if errors.Is(c.Context.Err(), context.Canceled) {
		return nil
	}
	return c.Context.Err()
}
