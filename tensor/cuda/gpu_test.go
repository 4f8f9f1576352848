package cuda

import (
	"testing"

	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda/driver"
)

// TestGPUMatchesCPU runs the comparisons of TestFakeMatchesCPU on device 0
// of the real driver with the embedded PTX. It skips where CUDA is
// unavailable (no driver, no device, no PTX embedded) unless
// COHORT_REQUIRE_GPU=1, where that fails it.
func TestGPUMatchesCPU(t *testing.T) {
	b, stop, err := New(Config{CPU: tensor.CPUConfig{Workers: 1}})
	if err != nil {
		if driver.RequireGPU() {
			t.Fatalf("GPU required: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	t.Logf("backend %s", b.Name())
	compareWithCPU(t, b)
}
