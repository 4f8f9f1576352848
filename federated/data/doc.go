// Package data loads a site's tabular data against a declared schema, computes
// standardisation from federated statistics, partitions datasets across
// simulated sites, and splits a site's data into training and test sets.
//
// Loading is strict: a row that does not fit the schema is refused with its
// line number and the reason (a *RowError wrapping ErrRow), unless the
// schema's missing-value policy says to drop or fill it.
//
// Standardisation never looks at one site's data alone: each site computes
// its Stats (count, per-feature sums and sums of squares), the sums are
// combined (in plain form with Stats.Add, or as the flat Stats.Vector through
// secure aggregation), and every site builds the same Standardizer from the
// total.
//
// Partitioners (IID, LabelSkew, QuantitySkew) and the train/test splits are
// seeded through a caller-supplied *rand.Rand, so simulations are
// reproducible.
package data

import "errors"

// Errors returned by this package, always wrapped with details; test for
// them with errors.Is.
var (
	// ErrSchema reports a schema that is itself inconsistent (unknown or
	// duplicate column names, a label that is also a feature, ...).
	ErrSchema = errors.New("data: invalid schema")
	// ErrHeader reports a header line that does not fit the schema, or a
	// file whose shape does not match what its header declares.
	ErrHeader = errors.New("data: header does not fit schema")
	// ErrRow reports a data row that does not fit the schema. The wrapping
	// error is a *RowError with the line number and the reason.
	ErrRow = errors.New("data: row does not fit schema")
	// ErrStats reports statistics that cannot be used (no rows, a vector
	// of the wrong length, non-finite values).
	ErrStats = errors.New("data: invalid statistics")
	// ErrPartition reports a partition or split that cannot be made with
	// the given arguments.
	ErrPartition = errors.New("data: cannot partition")
)
