// Package datasets embeds the datasets shipped with cohort (see
// PROVENANCE.md), so that the CLI's demo and simulations run from the binary
// alone, without the source tree.
package datasets

import "embed"

// FS holds breast_cancer.csv, digits.csv.gz, diabetes_data_raw.csv.gz and
// diabetes_target.csv.gz.
//
//go:embed *.csv *.csv.gz
var FS embed.FS
