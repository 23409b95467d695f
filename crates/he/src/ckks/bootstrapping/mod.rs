//! CKKS bootstrapping (Cheon, Han, Kim, Kim, Song, EUROCRYPT 2018; with the improvements of
//! Chen–Chillotti–Song EUROCRYPT 2019, Han–Ki CT-RSA 2020, Bossuat–Mouchet–Troncoso-Pastoriza–
//! Hubaux EUROCRYPT 2021 and the sparse-secret encapsulation of Bossuat–Troncoso-Pastoriza–
//! Hubaux, ePrint 2022/024).
//!
//! # Algorithm
//!
//! A ciphertext at level 0 encrypts `m` (coefficients) modulo `q_0` at scale `Δ`.
//! [`Bootstrapper::bootstrap`] refreshes it to [`BootstrappingParameters::output_level`]:
//!
//! 1. **Scale-up**: multiply by the integer `round(Δ_in/Δ)` so the scale is
//!    `Δ_in = q_0/2^ratio` (exact; [`BootstrappingPreset::log_message_ratio`]).
//! 2. **Encapsulated ModRaise** ([`mod_raise`], ePrint 2022/024 §4): key-switch `c_1` from the
//!    dense main secret `s` to an ephemeral sparse secret `s'` (Hamming weight `h = 32`) modulo
//!    `q_0·p_0`; lift both polynomials from `q_0` to the whole chain `Q_L`; key-switch back to
//!    `s` modulo `Q_L·P`. The phase is now `t = m + q_0·I` with `I` as small as a weight-32
//!    secret gives (`|I_j| < K = 12` except with probability `2^-45` per
//!    coefficient, `2^-29` per bootstrap: see [`BOOTSTRAP_128BIT_LOGN16`]), whatever the weight of `s`.
//! 3. **CoeffsToSlots** ([`dft`]): the inverse special FFT, factored into
//!    `cts_q_bits.len()` sparse matrices (BSGS with hoisted rotations and pre-encoded
//!    diagonals, [`linear_transform`]), scaled by `Δ_e/(2q_0K)`; one conjugation splits the
//!    packed coefficients into the real parts `t_j/(q_0K)` and `t_{j+n/2}/(q_0K)`, both in
//!    `[-1, 1]`.
//! 4. **EvalMod** ([`eval_mod`]): `y → cos(2π(Ky - 1/4)/2^r)` by a Chebyshev interpolant
//!    (BSGS evaluation), then `r` double-angle steps: `sin(2π t/q_0) ≈ 2π m/q_0`.
//! 5. **SlotsToCoeffs**: recombine `re + i·im` and apply the special FFT factors, scaled by
//!    `q_0/(2πΔ_in)·Δ/Δ_e'`, which yields `m` at scale `Δ`.
//!
//! # Security
//!
//! The main secret is the engine's uniform ternary secret; the whole chain `Q·P` is checked
//! against the HE standard's 128-bit bound ([`crate::rlwe::params::max_log_qp_128`]) for
//! secure presets. Bootstrapping publishes, besides the usual relinearization and Galois
//! keys (RLWE samples under `s` modulo `Q·P`):
//!
//! * the key `s → s'`: RLWE samples under the sparse `s'` (`h = 32`) modulo `q_0·p_0` only
//!   (≈ 2^121 at `n = 2^16`). This is the setting of ePrint 2022/024 and of Lattigo's
//!   dense-secret sets (`N16QP1767H32768H32`: `h = 32`, 60-bit `q_0`, 61-bit `p_0`), whose
//!   security argument (§4 of the paper: a small modulus makes the sparse-secret RLWE instance
//!   hard) is the one relied on here; the engine has no sparse-secret table of its own and
//!   does not re-derive that estimate.
//! * the key `s' → s`: RLWE samples under the dense `s` modulo `Q·P`, covered by the main
//!   check.
//!
//! The ephemeral secret exists only during key generation (zeroized on drop). The evaluator
//! holding [`BootstrappingKeys`] holds no secret.
//!
//! # Precision and failure
//!
//! The error has three parts: the sine's cubic term `(2πx)²/6` relative, with
//! `|x| ≈ Δ_in·|coefficient|/q_0`; EvalMod's approximation and rounding error multiplied by
//! `q_0/(2πΔ_in)`; and the key-switching and rescaling noise. A coefficient with `|I| >= K`
//! makes bootstrapping fail (the interpolant is only valid on `[-K, K]`).

//!
//! # Cost (profile at `n = 2^16`, one thread)
//!
//! Stage shares of one bootstrap (`bootstrap_sweep 16 8 30 2`, i.e.
//! [`BOOTSTRAP_128BIT_LOGN16`] without the security check; commit 2f58836, 2026-12-04, load
//! average 11-12 on the 2-core machine, so only ratios count): ModRaise 3 %,
//! CoeffsToSlots 46 %, EvalMod 34 % (two polynomials of 14 relinearizations each),
//! SlotsToCoeffs 17 %. By kernel (`perf record` started after key generation and setup,
//! commit 14311f9, before the larger buffer pool): the exact base conversions of ModUp/ModDown
//! (`dot_constants_sub`) 13 %, the key-switching inner product 10 %, tfhe-ntt kernels 16 %,
//! other pulp-dispatched SIMD kernels (pointwise products) 17 %, `memset` 6 % and the
//! kernel's page-fault / `munmap` paths about 12 %: temporaries beyond the ring's per-thread
//! buffer pool, which is why the pool now holds 128 MiB (one top-level ModUp).
//! Same-run alternation against main (34dd5c0), `B, N, B, N`: CPU time per bootstrap
//! 9.45 / 8.99 s → 7.04 / 6.74 s (−25 %), wall 28.8 / 27.2 s → 21.3 / 20.4 s at that load,
//! precision unchanged (25.1 / 22.0 bits), peak 8967 → 9093 MiB.

pub mod bench;
pub mod bootstrapper;
pub mod dft;
pub mod eval_mod;
pub mod keys;
pub mod linear_transform;
pub mod mod_raise;
pub mod params;

pub use bench::{run_bootstrap_bench, BootstrapBenchReport};
pub use bootstrapper::{required_rotations, Bootstrapper, StageTimes};
pub use eval_mod::EvalModPolynomial;
pub use keys::BootstrappingKeys;
pub use linear_transform::{EncodedLinearTransform, LinearTransform};
pub use mod_raise::mod_raise;
pub use params::{
    BootstrappingParameters, BootstrappingPreset, BOOTSTRAP_128BIT_LOGN16,
    BOOTSTRAP_LOGN10_INSECURE_TEST, BOOTSTRAP_PRESETS,
};
