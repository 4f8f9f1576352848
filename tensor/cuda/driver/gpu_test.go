package driver

import (
	"testing"
)

// openGPU opens the system's CUDA driver and returns its device 0, skipping
// the test (failing it with COHORT_REQUIRE_GPU=1) where there is none.
func openGPU(t *testing.T) (*Driver, Device) {
	t.Helper()
	d, err := Open("")
	if err == nil {
		err = d.Init()
	}
	var dev Device
	if err == nil {
		dev, err = d.Device(0)
	}
	if err != nil {
		needGPU(t, err)
	}
	return d, dev
}

func TestGPU(t *testing.T) {
	d, dev := openGPU(t)
	c, err := d.NewContext(dev)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	t.Run("Device", func(t *testing.T) {
		v, err := d.Version()
		if err != nil || v < 11000 {
			t.Fatalf("Version() = %d, %v; want CUDA 11 or later", v, err)
		}
		name, err := dev.Name()
		if err != nil || name == "" {
			t.Fatalf("Name() = %q, %v", name, err)
		}
		major, minor, err := dev.ComputeCapability()
		if err != nil || major < 5 {
			t.Fatalf("ComputeCapability() = %d.%d, %v; the test PTX targets sm_50", major, minor, err)
		}
		sms, err := dev.Multiprocessors()
		if err != nil || sms <= 0 {
			t.Fatalf("Multiprocessors() = %d, %v", sms, err)
		}
		mem, err := dev.TotalMem()
		if err != nil || mem <= 0 {
			t.Fatalf("TotalMem() = %d, %v", mem, err)
		}
		t.Logf("driver %d.%d, %s, sm_%d%d, %d SMs, %.1f GiB", v/1000, v%1000/10, name, major, minor, sms, float64(mem)/(1<<30))
	})
	t.Run("Copies", func(t *testing.T) { testCopies(t, c) })
	t.Run("TypedCopies", func(t *testing.T) { testTypedCopies(t, c) })
	t.Run("Launch", func(t *testing.T) { testLaunch(t, c) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, c) })
	t.Run("Events", func(t *testing.T) { t.Logf("1 MiB memset x2: %v", testEvents(t, c)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, d, dev) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, c) })
}
