// Package tensor holds cohort's compute kernels: the arithmetic that secure
// aggregation and federated training spend their time in.
//
// A Backend offers
//
//   - ring vectors over Z/2^32 ([]uint32) and Z/2^64 ([]uint64): add, sub,
//     neg, add-scalar and a cache-blocked Sum of many vectors;
//   - vectors modulo a prime (any modulus below 2^62), constant time in the
//     values, with parameters validated once by NewModulus;
//   - a fixed-point codec that quantises float32/float64 into a ring with
//     clipping and unbiased stochastic rounding driven by a seeded stream, and
//     dequantises sums of up to a declared number of vectors, with parameters
//     validated once by NewFixedPoint;
//   - mask streams: AES-128-CTR keystreams derived from a 32-byte Seed, fused
//     with add or subtract into the destination (the byte layout is a wire
//     contract, docs/wire/mask-stream.md);
//   - float helpers for aggregation: weighted sums, L2 norms and clipping.
//
// The CPU backend picks its kernels once, when it is made: AVX2 (and AES-NI or
// VAES) assembly on amd64 where the processor has it, portable Go otherwise or
// when built with the purego tag or asked for with CPUConfig.Generic. Both
// paths give bit-identical results. Large operations are split into chunks of
// a fixed size, independent of the number of workers, and run on one worker
// pool, so results never depend on how many cores ran them.
//
// Vectors are caller-allocated slices. Passing slices of different lengths to
// an element-wise operation is a programmer error and panics; so does using a
// backend after its shutdown function has been called.
package tensor
