package secagg

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
	"github.com/cohort-mpc/cohort/tensor/cuda/cudatest"
)

// TestRoundCUDAServerMatchesCPU runs a SecAgg+ round with n = 100 parties,
// ten of which drop out after sharing their keys (so the server rebuilds
// their pairwise masks) and two after sending their inputs, once with the
// server on the CPU backend and once on the CUDA backend, the clients on the
// CPU both times: the two results must be equal bit for bit and equal to
// the plain ring sum of the contributors' inputs. "fake" runs the real
// kernels on the CPU through the fake driver; "gpu" runs on a real device
// (skipped without one unless COHORT_REQUIRE_GPU=1).
func TestRoundCUDAServerMatchesCPU(t *testing.T) {
	for _, where := range []string{"fake", "gpu"} {
		t.Run(where, func(t *testing.T) {
			var cfg cuda.Config
			if where == "fake" {
				cfg.Library = cudatest.FakeLibrary(t)
			} else {
				cudatest.RequireDriver(t)
			}
			g, stop, err := cuda.New(cfg)
			if err != nil {
				t.Fatalf("cuda.New: %v", err)
			}
			t.Cleanup(func() {
				if err := stop(); err != nil {
					t.Error(err)
				}
			})
			const n = 100
			d := 3001
			if where == "gpu" {
				d = 1_000_003
			}
			// Thirty neighbours each (ChooseKT would pick 90 for these
			// dropout and corruption rates: slower, and no different for
			// the server's sum).
			const k, thr = 30, 16
			perm := rand.New(rand.NewPCG(5, 5)).Perm(n)
			var afterKeys, afterInput []uint32
			for _, p := range perm[:10] {
				afterKeys = append(afterKeys, uint32(p))
			}
			for _, p := range perm[10:12] {
				afterInput = append(afterInput, uint32(p))
			}
			dr := drops{3: afterKeys, 4: afterInput}
			for _, bits := range []int{32, 64} {
				t.Run(fmt.Sprintf("Z/2^%d", bits), func(t *testing.T) {
					f := newFixture(t, ParamsLiteral{N: n, K: k, T: thr, RingBits: bits, Dim: d, Lo: -1, Hi: 1})
					var in32 [][]uint32
					var in64 [][]uint64
					if bits == 32 {
						in32 = randInputs32(n, d, 11)
					} else {
						in64 = randInputs64(n, d, 11)
					}
					want, err := f.runRound(t, in32, in64, dr)
					if err != nil {
						t.Fatalf("CPU server: %v", err)
					}
					f.server = g
					got, err := f.runRound(t, in32, in64, dr)
					if err != nil {
						t.Fatalf("CUDA server: %v", err)
					}
					if !slices.Equal(got.Contributors, want.Contributors) || len(got.Contributors) != n-10 {
						t.Fatalf("contributors %v, CPU server %v", got.Contributors, want.Contributors)
					}
					if !slices.Equal(got.Sum32, want.Sum32) || !slices.Equal(got.Sum64, want.Sum64) {
						t.Fatalf("the CUDA server's sum differs from the CPU server's")
					}
					if bits == 32 {
						checkSum(t, got, in32, got.Contributors)
					} else {
						checkSum64(t, got, in64, got.Contributors)
					}
				})
			}
		})
	}
}

func randInputs64(n, d int, seed uint64) [][]uint64 {
	r := rand.New(rand.NewPCG(seed, 4))
	out := make([][]uint64, n)
	for i := range out {
		out[i] = make([]uint64, d)
		for j := range out[i] {
			out[i][j] = r.Uint64()
		}
	}
	return out
}

// checkSum64 is checkSum in Z/2^64.
func checkSum64(t *testing.T, res *Result, inputs [][]uint64, contributors []uint32) {
	t.Helper()
	want := make([]uint64, len(inputs[0]))
	for _, p := range contributors {
		for j, v := range inputs[p] {
			want[j] += v
		}
	}
	if !slices.Equal(res.Sum64, want) {
		t.Fatalf("the sum is not the plain ring sum of the contributors' inputs")
	}
}

// failingBackend is a CPU backend whose accumulators fail on the second
// input, as a GPU that ran out of memory or lost its context would.
type failingBackend struct{ tensor.Backend }

func (f failingBackend) NewAccumulator(bits, n int) (tensor.Accumulator, error) {
	return &failingAccumulator{HostAccumulator: tensor.NewHostAccumulator(f.Backend, bits, n, "")}, nil
}

type failingAccumulator struct {
	*tensor.HostAccumulator
	adds int
}

var errDevice = errors.New("device lost")

func (a *failingAccumulator) AddU32(v []uint32) error {
	if a.adds++; a.adds == 2 {
		return errDevice
	}
	return a.HostAccumulator.AddU32(v)
}

// TestRoundBackendFailure checks that a failure of the server's backend ends
// the round with ErrBackend, blaming no party.
func TestRoundBackendFailure(t *testing.T) {
	f := newFixture(t, ParamsLiteral{N: 5, K: 4, T: 3, RingBits: 32, Dim: 10, Lo: -1, Hi: 1})
	f.server = failingBackend{f.backend}
	_, err := f.runRound(t, randInputs32(5, 10, 1), nil, nil)
	if !errors.Is(err, ErrBackend) || !errors.Is(err, errDevice) {
		t.Fatalf("round with a failing backend: %v, want ErrBackend wrapping the device's error", err)
	}
	var pe *PartyError
	if errors.As(err, &pe) {
		t.Fatalf("a backend failure blamed party %d", pe.Party)
	}
}
