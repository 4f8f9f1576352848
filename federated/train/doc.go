// Package train holds the learning side of a federated job that does not
// depend on how bytes move: local training at a site (mini-batch SGD or Adam,
// with L2 and FedProx's proximal term), server strategies that update the
// global model from sums alone (FedAvg, FedAvgM, FedProx, FedAdam, FedYogi,
// FedAdagrad), metrics that combine across sites as sums (loss, accuracy,
// confusion counts, AUC from score histograms), and an in-process simulation
// of federated rounds with plain aggregation.
//
// Secure aggregation reveals only the sum of the participants' vectors, so
// every strategy here consumes Σ_k n_k·Δ_k and Σ_k n_k: each site weights its
// own update (Update.Weighted) before it is summed.
package train

import "errors"

// Errors returned by this package; test with errors.Is.
var (
	// ErrConfig reports an invalid configuration or argument.
	ErrConfig = errors.New("train: invalid configuration")
	// ErrNoData reports a site or test set without rows.
	ErrNoData = errors.New("train: no data")
	// ErrDiverged reports a non-finite loss during training.
	ErrDiverged = errors.New("train: training diverged")
	// ErrShape reports counts or vectors of mismatched shapes.
	ErrShape = errors.New("train: mismatched shapes")
)
