package cuda

import (
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/tensor"
)

// ErrBackendKind is returned, wrapped, by Select for an unknown kind.
var ErrBackendKind = errors.New("tensor/cuda: unknown backend kind")

// Select returns the backend that --backend kind names: "cpu" the CPU
// backend configured by cpu; "cuda" the CUDA backend on device 0, or the
// error that makes it unavailable; "auto" the CUDA backend where it can be
// used and otherwise (on any error of New, typically one wrapping
// driver.ErrUnavailable) the CPU backend, with note saying why CUDA is not
// used.
// Call shutdown once every operation on the backend has returned.
func Select(kind string, cpu tensor.CPUConfig) (b tensor.Backend, shutdown func(), note string, err error) {
	newCPU := func() (tensor.Backend, func(), error) {
		c, stop, err := tensor.NewCPU(cpu)
		if err != nil {
			return nil, nil, err
		}
		return c, stop, nil
	}
	switch kind {
	case "cpu":
		b, shutdown, err = newCPU()
		return b, shutdown, "", err
	case "cuda", "auto":
		g, stop, err := New(Config{CPU: cpu})
		if err == nil {
			return g, func() { _ = stop() }, "", nil
		}
		if kind == "cuda" {
			return nil, nil, "", err
		}
		b, shutdown, cerr := newCPU()
		if cerr != nil {
			return nil, nil, "", cerr
		}
		return b, shutdown, fmt.Sprintf("CUDA unavailable, using the CPU backend: %v", err), nil
	}
	return nil, nil, "", fmt.Errorf("%w %q: want cuda, cpu or auto", ErrBackendKind, kind)
}
