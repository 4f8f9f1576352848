package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of cohort and of the Go toolchain that built it",
		Action: func(c *cli.Context) error {
			version, goVersion := "(devel)", "unknown"
			if info, ok := debug.ReadBuildInfo(); ok {
				goVersion = info.GoVersion
				if v := info.Main.Version; v != "" {
					version = v
				}
			}
			fmt.Fprintf(c.App.Writer, "cohort %s (%s)\n", version, goVersion)
			return nil
		},
	}
}
