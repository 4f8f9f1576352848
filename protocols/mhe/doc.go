// Package mhe is cohort's second privacy mode: threshold multiparty CKKS on
// Lattigo v6 (github.com/tuneinsight/lattigo/v6/multiparty). The aggregator
// holds only ciphertexts under a key no single party has; a result is
// released only when t of the N parties agree, and only to the receiver
// whose public key they switch it to.
//
// Like protocols/secagg, every side is a value with explicit steps, typed
// messages with a versioned binary encoding, randomness from an io.Reader
// (32 bytes per step key a BLAKE2b stream; work split over cores uses one
// derived stream per ciphertext, so results do not depend on the core
// count), and no network code.
//
// # Steps
//
// Setup (once per job, public seed JobSeed):
//
//	party i:     NewParty → KeyGenShare → aggregator      (e_i − a·s_i, a from the seed)
//	party i:     ThresholdShares → party j, privately    (Shamir shares of s_i, degree t−1)
//	party j:     AddThresholdShare × N                    (its share of s = Σ s_i)
//	aggregator:  NewKeyAggregator, Add × N, PublicKey     (collective key (Σ e_i − a·s, a))
//
// Aggregation (per round): each party Encryptor.Encrypt(vec, weight) →
// Vector (⌈d/N⌉ ciphertexts); the aggregator Sum.Add each (optionally with a
// small integer weight), Sum.Result.
//
// Release: the aggregator picks exactly t active parties and sends each the
// same ReleaseRequest (aggregate, receiver key, active set, round). Each
// turns its threshold share into an additive share with Lattigo's Combiner
// and returns a ReleaseShare (Lattigo's public-key-switching share, made
// here with the package's own samplers so that randomness comes from the
// caller). Release.Add checks and sums them; Release.Finish gives the
// aggregate under the receiver's key; Receiver.Decrypt decodes it.
//
// Evaluation keys (optional, for computing on ciphertexts; aggregation and
// release need none, so their presets keep no P modulus and ciphertexts stay
// small) use a second parameter family, ComputeParams (PresetCompute: N =
// 2^14, five Q moduli, one P modulus, log QP ≈ 296 ≤ 438), and a separate
// secret s_i per party:
//
//	party i:     NewComputeParty → PublicKeyShare, RelinShareRound1,
//	             GaloisShares(elements) → aggregator
//	aggregator:  NewEvalKeyAggregator, AddPublicKeyShare/AddRelinShare/
//	             AddGaloisShare × N, RelinRound1 → every party
//	party i:     RelinShareRound2(round-1 sum) → aggregator
//	aggregator:  AddRelinShare × N, PublicKey, EvaluationKeySet
//
// The common reference polynomials come from the job seed, the parties'
// randomness from their io.Reader. As in Lattigo, evaluation-key
// generation uses each party's full secret s_i, so all N parties must take
// part: the t-out-of-N thresholdizer applies to decryption, not to these
// keys. Threshold release of ComputeParams ciphertexts is not wired yet.
//
// # Parameters
//
// Both presets use the conjugate-invariant ring Z[X+X⁻¹]/(X^2N+1), which
// puts N real values in each ciphertext, and a single Q modulus of 60 bits
// with no P: aggregation needs only additions, and release is a public-key
// switch, which needs no key-switching key. Encryption happens directly at
// this only level, so a ciphertext is 2·N·8 bytes: 16 bytes per value, 16
// MiB for 2^20 values. Security by the HE standard's table (Albrecht et al.
// 2018, uniform ternary secret, classical 128-bit): log QP ≈ 60 ≤ 218 for
// N = 2^13 (PresetSmall) and ≤ 438 for N = 2^14 (PresetLarge);
// NewParamsFromLiteral refuses any literal above the bound.
//
// # Noise flooding and its security
//
// Decryption of CKKS is approximate: a receiver that learns m + e for a
// ciphertext noise e that depends on the secret key can recover the key
// (Li–Micciancio, Eurocrypt 2021; Lattigo SECURITY.md). So every
// decryption share carries fresh Gaussian noise of standard deviation
// σ_f = 2^28 (truncated at 12σ_f), sampled by the party itself: even if the
// receiver colludes with the other t−1 active parties, one honest party's
// flooding covers the ciphertext noise.
//
// Bound. The key-dependent noise of an aggregate of n fresh encryptions
// under the collective key (u·Σe_i + e0 + e1·Σs_i per encryption) has
// standard deviation about √(4/3)·n·σ·√N per coefficient: 2^12.2 by this
// estimate and 2^12.7 measured (TestAggregateNoise asserts ≤ 2^13) for
// n = 10, N = 2^14, σ = 3.2. Its variance is thus V ≤ 2^26, against
// σ_f² = 2^56 for the flooding.
//
// Bits of security. Following Li, Micciancio, Schultz and Sorrell (Crypto
// 2022), key recovery is a search problem, for which a bound on the Rényi
// divergence of order 2 suffices: between the released values with and
// without the key-dependent noise e it is R₂ = exp(Σ_j e_j²/σ_f²) ≈
// exp(k·V/σ_f²) for k released coefficients. An attacker who recovers the
// key with probability ε from the real releases does so with probability
// ≥ ε²/R₂ from releases that carry no key-dependent noise, which reduce to
// RLWE. For k ≤ 2^28 coefficients per collective key (2^14 ciphertexts of
// N = 2^14: 256 releases of 2^20 values) R₂ ≤ e^(1/4), and key-recovery
// security stays within about one bit of the parameters' 128-bit RLWE
// security (c ≈ 127 in that paper's split of computational bits c and
// statistical bits s). Statistical indistinguishability of the released
// values (s bits, as decision problems need) is not claimed: it would need
// σ_f ≥ 2^s·B, beyond any useful precision with one 60-bit modulus. Jobs
// that release more than 2^28 coefficients, or sum more than about 10
// parties with integer weights (V grows with Σw²·n), should use a fresh
// collective key; weights applied by the parties in Encrypt do not grow V.
//
// Precision. The released value of one slot has error of standard deviation
// σ_f·√(2tN)/Δ (Params.ReleaseErrorStd): 8.5e-6 for t = 10, N = 2^14,
// Δ = 2^54, so the maximum over 2^20 values stays below 5e-5 (the tests
// assert 1e-4 over 2^20 values, ≥ 16 bits for values in [-1, 1]). The
// scale leaves (Q/4)/Δ ≈ 15 of worst-case headroom per slot: a sum must
// stay within ±Params.MaxAbsSum.
//
// # Retries
//
// Lattigo's SECURITY.md (Mouchet et al. 2024; Okada et al. 2025; Colin de
// Verdière et al. 2026) shows that decryption shares of one ciphertext under
// different active sets leak the secret shares. A Party therefore releases
// at most one share per aggregate (identified by its hash), whatever the
// request: if an active party drops out, the round's aggregate is lost and
// the engine must aggregate afresh.
//
// # Wire
//
// Every message has MarshalBinary/UnmarshalBinary (or Params.Marshal… and
// Params.Unmarshal… where the type is Lattigo's) with a 20-byte header:
// version, type, parameter fingerprint, log N, log scale, Q. Polynomials use
// Lattigo's encoding, checked for shape before Lattigo decodes them and for
// canonical coefficients after. Decoders never panic; they are fuzzed.
package mhe
