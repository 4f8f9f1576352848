//go:build !amd64 || purego

package ring

// Native returns the fastest kernels for this machine and whether they are
// SIMD kernels. In this build (not amd64, or the purego tag) it always
// returns Generic() and false.
func Native() (Kernels, bool) {
	return Generic(), false
}

// Streaming returns Generic() in this build.
func Streaming() Kernels { return Generic() }

// sumPassSIMD is never called in this build; it falls back to the portable
// pass so that the shared Sum driver compiles.
func sumPassSIMD[T word](out []T, in [5][]T, k int) {
	sumPassGeneric(out, in, k)
}
