//go:build !amd64 || purego

package quant

// Native returns Generic() and false: no assembly is compiled for this
// architecture or with the purego build tag.
func Native() (Kernels, bool) {
	return Generic(), false
}
