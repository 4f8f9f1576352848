//go:build !amd64 || purego

package aesctr

// Native returns the SIMD kernel set and true when one is available for this
// build and CPU. In this build (not amd64, or the purego tag) there is none:
// it returns Generic() and false.
func Native() (Kernels, bool) { return Generic(), false }

// variants lists every native kernel set usable on this machine.
func variants() []Kernels { return nil }
