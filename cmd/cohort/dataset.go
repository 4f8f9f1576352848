package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/cohort-mpc/cohort/node"
)

func datasetCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "the node folder (made by cohort node init)", Required: true}
	return &cli.Command{
		Name:  "dataset",
		Usage: "register a node's datasets, which jobs then name",
		Description: "A node trains only on datasets registered in its folder (DIR/datasets/NAME.toml): a CSV\n" +
			"file, its SHA-256 and the schema inferred from it. Jobs name a dataset; its rows never\n" +
			"leave the node, only its schema and row counts are shared.",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "register a CSV file under a name",
				ArgsUsage: "NAME",
				Description: "Reads FILE (its first line names the columns), infers each column's type (int, float,\n" +
					"or a category of its distinct values), and registers it as NAME with its SHA-256, so\n" +
					"that a changed file is noticed. A file with missing values is refused: fill them in or\n" +
					"drop those rows first. The label's classes are a category label's categories, or k for\n" +
					"an int label with values 0..k-1; any other label is a regression target.",
				Flags: []cli.Flag{dirFlag,
					&cli.StringFlag{Name: "csv", Usage: "the CSV `FILE`", Required: true},
					&cli.StringFlag{Name: "label", Usage: "the target `COLUMN`", Required: true},
					&cli.Float64Flag{Name: "test-fraction", Usage: "share of the rows held out for evaluation", Value: node.DefaultTestFraction},
					&cli.BoolFlag{Name: "replace", Usage: "replace a dataset registered under NAME"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{"dataset add: want one dataset NAME"}
					}
					dir := c.String("dir")
					if err := checkNodeDir(dir); err != nil {
						return err
					}
					name := c.Args().First()
					d, err := node.AddDataset(dir, name, c.String("csv"), node.AddOptions{
						Label: c.String("label"), TestFraction: c.Float64("test-fraction"), Replace: c.Bool("replace"),
					})
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "registered %q at %s: %d rows, %d features, label %q (%s); only its schema and row count are ever shared\n",
						d.Name, dir, d.Rows, len(d.Schema.Features), d.Schema.Label, classes(d.Classes))
					return nil
				},
			},
			{
				Name:      "list",
				Usage:     "list the registered datasets",
				ArgsUsage: " ",
				Flags:     []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					dir := c.String("dir")
					if err := checkNodeDir(dir); err != nil {
						return err
					}
					ds, err := node.Datasets(dir)
					if err != nil {
						return err
					}
					if len(ds) == 0 {
						fmt.Fprintf(c.App.Writer, "no datasets registered at %s: add one with cohort dataset add\n", dir)
						return nil
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tROWS\tFEATURES\tCLASSES\tFILE")
					for _, d := range ds {
						fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", d.Name, d.Rows, len(d.Schema.Features), classes(d.Classes), d.File)
					}
					return w.Flush()
				},
			},
		},
	}
}

// classes describes a dataset's label.
func classes(k int) string {
	if k == 0 {
		return "regression"
	}
	if k == 1 {
		return "1 class"
	}
	return fmt.Sprintf("%d classes", k)
}

// checkNodeDir checks that dir is a node folder, so that a mistyped --dir
// does not start a registry of its own.
func checkNodeDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, node.ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not a node folder (it has no %s): make one with cohort node init", dir, node.ConfigFile)
	} else if err != nil {
		return err
	}
	return nil
}
