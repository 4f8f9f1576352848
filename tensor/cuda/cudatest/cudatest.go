// Package cudatest provides test backends for code that runs on the CUDA
// tensor backend: a fake libcuda.so.1 that runs the real kernels on the CPU
// (so a test of a GPU code path can run, and fail, on any machine with a C
// compiler), and the real driver for tests on a GPU machine.
package cudatest

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// FakeLibrary compiles tensor/cuda/testdata/fakekernels.c, the driver
// package's fake libcuda with the cohort kernels compiled as C through the
// kernels' emulation header, into a shared library in a temporary folder of
// t and returns its path, for cuda.Config.Library. It skips t, saying why,
// where there is no C compiler or the platform is not linux/amd64 or
// linux/arm64, and fails it if the sources do not build.
func FakeLibrary(t testing.TB) string {
	t.Helper()
	lib, skip, err := buildFake(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
	return lib
}

// BuildFakeLibrary is FakeLibrary for a package's TestMain or a test that
// shares one build: it builds into dir and returns the library's path, or
// an empty path and why it cannot be built here. It panics if the C
// compiler rejects the sources (a bug, not a missing tool).
func BuildFakeLibrary(dir string) (lib, skip string) {
	lib, skip, err := buildFake(dir)
	if err != nil {
		panic(err)
	}
	return lib, skip
}

func buildFake(dir string) (lib, skip string, err error) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		return "", fmt.Sprintf("the fake libcuda runs on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH), nil
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", fmt.Sprintf("no C compiler to build the fake libcuda: %v", err), nil
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", "", errors.New("cudatest: cannot locate its own source to find the fake libcuda")
	}
	src := filepath.Join(filepath.Dir(self), "..", "testdata", "fakekernels.c")
	lib = filepath.Join(dir, "libfakekernels.so")
	// -Bsymbolic: the library's calls to its own kernels bind to its own
	// copy, whose thread-local launch coordinates EMU_LAUNCH sets, even when
	// another copy was loaded with RTLD_GLOBAL (an interposed kernel would
	// see gridDim 0 and loop forever).
	args := []string{"-O2", "-std=c11", "-ffp-contract=off", "-Wall", "-Wextra", "-shared", "-fPIC",
		"-Wl,-Bsymbolic", "-o", lib, src}
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return lib, "", nil
}

// RequireDriver opens and initialises the real CUDA driver (libcuda.so.1),
// or skips t with the reason CUDA is unavailable; with COHORT_REQUIRE_GPU=1
// set it fails t instead, so that a GPU machine cannot pass by skipping.
func RequireDriver(t testing.TB) {
	t.Helper()
	d, err := driver.Open("")
	if err == nil {
		err = d.Init()
	}
	if err == nil {
		var n int
		if n, err = d.Devices(); err == nil && n == 0 {
			err = driver.ErrUnavailable
		}
	}
	if err != nil {
		if driver.RequireGPU() {
			t.Fatalf("GPU required (COHORT_REQUIRE_GPU=1): %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
}
