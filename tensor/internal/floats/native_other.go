//go:build !amd64 || purego

package floats

// Native returns the fastest kernels for this machine and whether they are
// SIMD kernels. In this build (not amd64, or the purego tag) it always
// returns Generic() and false.
func Native() (Kernels, bool) {
	return Generic(), false
}
