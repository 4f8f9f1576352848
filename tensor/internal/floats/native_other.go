//go:build !amd64 || purego

package floats

// Native returns the fastest kernels for this machine and whether they are
// SIMD kernels. In this build (not amd64, or the purego tag) it always
// returns Generic() and false.
func Native() (Kernels, bool) {
	return Generic(), false
}

// wsPass runs one pass of a weighted sum in Go; this build has no assembly.
func wsPass[F float32 | float64](_ bool, out, acc, w []F, vs [][]F, off int) {
	wsPassGeneric(out, acc, w, vs, off)
}
