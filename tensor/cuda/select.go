package cuda

import (
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/tensor"
)

// ErrBackendKind is returned, wrapped, by Choose and Select for an unknown
// kind.
var ErrBackendKind = errors.New("tensor/cuda: unknown backend kind")

// Fallback says that --backend auto is using the CPU backend; the reason
// (the fallback error of Choose or Select) goes with it.
const Fallback = "CUDA unavailable, using the CPU backend"

// Choose returns the CUDA backend that --backend kind asks for, its CPU
// half configured by cpu: none for "cpu"; for "cuda" the backend on device
// 0, or the error that makes it unavailable; for "auto" the backend where it
// can be used, and otherwise none and New's error as fallback (typically one
// wrapping driver.ErrUnavailable), which says why. When b is nil, shutdown
// does nothing; otherwise call it once every operation on b has returned.
func Choose(kind string, cpu tensor.CPUConfig) (b *Backend, shutdown func(), fallback, err error) {
	nothing := func() {}
	switch kind {
	case "cpu":
		return nil, nothing, nil, nil
	case "cuda", "auto":
		g, stop, err := New(Config{CPU: cpu})
		switch {
		case err == nil:
			return g, func() { _ = stop() }, nil, nil
		case kind == "cuda":
			return nil, nil, nil, err
		}
		return nil, nothing, err, nil
	}
	return nil, nil, nil, fmt.Errorf("%w %q: want cuda, cpu or auto", ErrBackendKind, kind)
}

// Select returns the backend that --backend kind names: the CUDA backend
// Choose returns, or else the CPU backend configured by cpu, with fallback
// saying why CUDA is not used when "auto" fell back. Call shutdown once
// every operation on the backend has returned.
func Select(kind string, cpu tensor.CPUConfig) (b tensor.Backend, shutdown func(), fallback, err error) {
	g, shutdown, fallback, err := Choose(kind, cpu)
	if err != nil {
		return nil, nil, nil, err
	}
	if g != nil {
		return g, shutdown, nil, nil
	}
	c, stop, err := tensor.NewCPU(cpu)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, stop, fallback, nil
}
