// Package federated will hold what a training job computes, independent of
// how bytes move: datasets and schemas, models with loss and gradients, local
// training, aggregation strategies that work from sums alone, differential
// privacy with its accountant, and metrics.
package federated
