// Package kernels holds the CUDA C sources of the GPU tensor backend (*.cu,
// *.cuh) and checks their logic on the CPU.
//
// The sources are compiled to PTX by nvcc on a GPU machine (`make ptx`, see
// README.md). They are written in a subset of CUDA C that also compiles as
// C11 with an ordinary C compiler through emu/cuda_emu.h, and the package's
// tests build them that way into a shared library, run every kernel
// sequentially over several launch geometries and compare the results bit
// for bit with the Go CPU backend. The package has no Go API.
package kernels
