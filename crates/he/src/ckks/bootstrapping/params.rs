//! Named bootstrapping parameter sets (Lattigo's `bootstrapping.DefaultParametersDense` style):
//! the modulus chain split into the levels left for computation, the SlotsToCoeffs levels, the
//! EvalMod levels and the CoeffsToSlots levels, plus the EvalMod approximation and the
//! ephemeral sparse secret of the encapsulated ModRaise.

use super::eval_mod::EvalModPolynomial;
use crate::ckks::{CkksParameters, CkksParametersBuilder};
use crate::rlwe::RlweParameters;
use crate::HeError;
use std::sync::Arc;

/// A named bootstrapping parameter set. The ciphertext primes are, from `q_0` upwards:
/// `residual_q_bits` (`q_0` and the levels left after bootstrapping), `stc_q_bits` (one prime
/// per SlotsToCoeffs matrix), `eval_mod_q_bits` (the EvalMod polynomial and its double-angle
/// steps) and `cts_q_bits` (one prime per CoeffsToSlots matrix, consumed first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootstrappingPreset {
    /// Name, e.g. `BOOTSTRAP_128BIT_LOGN16`.
    pub name: &'static str,
    /// `log2(n)`; bootstrapping uses all `n/2` complex slots.
    pub log_n: u32,
    /// `q_0` and the primes of the levels left for computation after bootstrapping.
    pub residual_q_bits: &'static [u32],
    /// Primes of the SlotsToCoeffs matrices (lowest level first).
    pub stc_q_bits: &'static [u32],
    /// Primes of EvalMod (lowest level first); their count is the EvalMod depth.
    pub eval_mod_q_bits: &'static [u32],
    /// Primes of the CoeffsToSlots matrices (lowest level first).
    pub cts_q_bits: &'static [u32],
    /// Special primes of hybrid key switching.
    pub p_bits: &'static [u32],
    /// Decomposition number of hybrid key switching.
    pub dnum: usize,
    /// `log2(Δ)` of the scale of computations and of bootstrapped ciphertexts.
    pub log_scale: u32,
    /// `log2(q_0 / Δ_in)`: the input is brought to scale `Δ_in = q_0 / 2^ratio` before
    /// ModRaise (Lattigo's `LogMessageRatio`); larger ratios shrink the sine's cubic error,
    /// smaller ones the amplification of EvalMod's error by `q_0/(2πΔ_in)`.
    pub log_message_ratio: u32,
    /// Hamming weight of the ephemeral sparse secret of the encapsulated ModRaise.
    pub ephemeral_hamming_weight: usize,
    /// EvalMod interval: `|I| + 1/2 <= k` for the ModRaise overflow `I`.
    pub k: u32,
    /// Degree of the Chebyshev interpolant of the scaled cosine.
    pub sine_degree: usize,
    /// Number of double-angle steps `cos 2θ = 2cos²θ - 1`.
    pub double_angle: u32,
    /// Whether the set passes the engine's 128-bit check (test sets are insecure).
    pub secure: bool,
}

/// 128-bit set at `n = 2^16` with a dense ternary main secret: 9 levels of 40 bits left after
/// bootstrapping (`q_0` of 60 bits), SlotsToCoeffs in 3 levels of 42 bits, EvalMod in 9 levels
/// of 60 bits (Chebyshev degree 30, 3 double angles, `K = 12` for the `h = 32` ephemeral
/// secret, message ratio 2^8), CoeffsToSlots in 3 levels of 56 bits (the same stage partition as SlotsToCoeffs,
/// so both share their rotation keys), seven 61-bit special primes (`dnum = 4`, digits of at
/// most seven primes). `log2(QP) = 1681 <= 1772`.
///
/// Measured with `henn bench bootstrap` on the shared 2-core machine (load average 1.0-1.4,
/// commit 190244f, 3 runs each, message ratio 2^10): 17.5 s median on one thread (keygen
/// 23.1 s), 9.7 s on two threads (keygen 13.7 s); 23.2 bits mean / 20.0 bits minimum
/// precision over 2^15 slots; 2.75 GB of seeded keys (39 Galois keys), 2.98 GB of
/// pre-encoded diagonals, 9.0 GB peak memory (9.5 GB with two threads).
///
/// Message ratio 2^8 (from a sweep of this chain at `n = 2^14`, 2 runs each: ratio 2^10
/// 26.2 / 23.1 bits, 2^9 27.1 / 24.0, 2^8 27.3 / 24.3-24.5, 2^7 25.5 / 22.7; EvalMod's
/// approximation error, amplified by `q_0/(2πΔ_in)`, dominates above 2^8, the sine's cubic
/// term below): at `n = 2^16`, one thread, **25.1 bits mean / 22.0 bits minimum** (commits
/// 1b37886 and 1e9c1f6, 2 and 3 runs), 8.97 GiB peak (`VmHWM`; 9.19 GB by `/usr/bin/time`),
/// same keys and diagonals; latency 17.1 s and 21.8 s (CPU 17.5 s) at load 2.5, so no
/// measurable speed-up over 190244f yet (see `bootstrap_phases` for the stage profile).
///
/// 2026-12-04, commit 2f58836 against main 34dd5c0 in the same run (`bootstrap_sweep 16 8 30
/// 2`, this chain without the security check, alternated `B, N, B, N`, load average 11-12.7):
/// **6.7-7.0 s of CPU per bootstrap on one thread** (main: 9.0-9.5 s), wall 20.4-21.3 s
/// (main: 27.2-28.8 s) because the process had about a third of the machine; 25.1 / 22.0-22.1
/// bits; 9093 MiB peak (`VmHWM`; main 8967 MiB: the larger buffer pool).
///
/// Failure: `|I_j| >= K = 12` for a sum of 33 independent uniforms on `[-1/2, 1/2]` (32
/// sparse-secret terms and `c_0`) has probability `2^-45.1` per coefficient, `2^-29.1` per
/// bootstrap by the union bound over `2^16` coefficients (`K = 16`, Lattigo's choice, gives
/// `2^-105.7` but needs a higher degree and one more level).
pub const BOOTSTRAP_128BIT_LOGN16: BootstrappingPreset = BootstrappingPreset {
    name: "BOOTSTRAP_128BIT_LOGN16",
    log_n: 16,
    residual_q_bits: &[60, 40, 40, 40, 40, 40, 40, 40, 40, 40],
    stc_q_bits: &[42, 42, 42],
    eval_mod_q_bits: &[60, 60, 60, 60, 60, 60, 60, 60, 60],
    cts_q_bits: &[56, 56, 56],
    p_bits: &[61, 61, 61, 61, 61, 61, 61],
    dnum: 4,
    log_scale: 40,
    log_message_ratio: 8,
    ephemeral_hamming_weight: 32,
    k: 12,
    sine_degree: 30,
    double_angle: 3,
    secure: true,
};

/// Insecure test set at `n = 2^10` (512 slots) with the same structure: 2 levels left,
/// SlotsToCoeffs and CoeffsToSlots in 3 levels each, EvalMod in 9 levels.
pub const BOOTSTRAP_LOGN10_INSECURE_TEST: BootstrappingPreset = BootstrappingPreset {
    name: "BOOTSTRAP_LOGN10_INSECURE_TEST",
    log_n: 10,
    residual_q_bits: &[60, 40, 40],
    stc_q_bits: &[42, 42, 42],
    eval_mod_q_bits: &[60, 60, 60, 60, 60, 60, 60, 60, 60],
    cts_q_bits: &[56, 56, 56],
    p_bits: &[61, 61, 61],
    dnum: 6,
    log_scale: 40,
    log_message_ratio: 12,
    ephemeral_hamming_weight: 32,
    k: 12,
    sine_degree: 30,
    double_angle: 3,
    secure: false,
};

/// All bootstrapping presets.
pub const BOOTSTRAP_PRESETS: [BootstrappingPreset; 2] =
    [BOOTSTRAP_128BIT_LOGN16, BOOTSTRAP_LOGN10_INSECURE_TEST];

/// Built bootstrapping parameters: the CKKS parameters of the whole chain, the small RLWE
/// parameters `(q_0, p_0)` of the sparse-secret encapsulation, and the level layout.
#[derive(Debug, Clone)]
pub struct BootstrappingParameters {
    preset: BootstrappingPreset,
    ckks: Arc<CkksParameters>,
    encapsulation: Arc<RlweParameters>,
}

impl BootstrappingParameters {
    /// Builds a preset. Presets marked `secure` go through the engine's 128-bit check
    /// ([`CkksParametersBuilder::build`]); the others are built insecurely and must only be
    /// used in tests.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] or [`HeError::Insecure`] for malformed or insecure parameters, and
    /// if the EvalMod level count does not match the polynomial's depth.
    pub fn new(preset: BootstrappingPreset) -> Result<Self, HeError> {
        let q_bits: Vec<u32> = preset
            .residual_q_bits
            .iter()
            .chain(preset.stc_q_bits)
            .chain(preset.eval_mod_q_bits)
            .chain(preset.cts_q_bits)
            .copied()
            .collect();
        if preset.residual_q_bits.is_empty()
            || preset.stc_q_bits.is_empty()
            || preset.cts_q_bits.is_empty()
        {
            return Err(HeError::InvalidParameters(
                "bootstrapping needs q_0, SlotsToCoeffs and CoeffsToSlots levels".into(),
            ));
        }
        let builder = CkksParametersBuilder::new()
            .log_n(preset.log_n)
            .q_bits(&q_bits)
            .p_bits(preset.p_bits)
            .dnum(preset.dnum)
            .log_scale(preset.log_scale);
        let ckks = if preset.secure {
            builder.build()?
        } else {
            builder.insecure_build()?
        };
        let depth =
            EvalModPolynomial::new(preset.k as f64, preset.sine_degree, preset.double_angle)
                .depth();
        if depth != preset.eval_mod_q_bits.len() {
            return Err(HeError::InvalidParameters(format!(
                "EvalMod needs {depth} levels, the preset gives {}",
                preset.eval_mod_q_bits.len()
            )));
        }
        let q0 = ckks.q_moduli()[0];
        let p0 = ckks.rlwe().p_basis().modulus(0).value();
        // Encapsulation modulus q_0·p_0 only (ePrint 2022/024 §4): the key to the sparse
        // secret is an RLWE sample under that secret modulo q_0·p_0, nothing larger.
        let encapsulation = Arc::new(RlweParameters::insecure_new(preset.log_n, &[q0], &[p0], 1)?);
        Ok(Self {
            preset,
            ckks,
            encapsulation,
        })
    }

    /// The preset.
    pub fn preset(&self) -> &BootstrappingPreset {
        &self.preset
    }

    /// The CKKS parameters of the whole modulus chain (what the client encrypts under).
    pub fn ckks(&self) -> &Arc<CkksParameters> {
        &self.ckks
    }

    /// The RLWE parameters `(q_0; p_0)` of the encapsulation key switch.
    pub fn encapsulation(&self) -> &Arc<RlweParameters> {
        &self.encapsulation
    }

    /// Level of a bootstrapped ciphertext (number of multiplications left).
    pub fn output_level(&self) -> usize {
        self.preset.residual_q_bits.len() - 1
    }

    /// Level at which SlotsToCoeffs starts (= EvalMod's output level).
    pub fn stc_start_level(&self) -> usize {
        self.output_level() + self.preset.stc_q_bits.len()
    }

    /// Level at which EvalMod starts (= CoeffsToSlots' output level).
    pub fn eval_mod_start_level(&self) -> usize {
        self.stc_start_level() + self.preset.eval_mod_q_bits.len()
    }

    /// Level at which CoeffsToSlots starts (the top level).
    pub fn cts_start_level(&self) -> usize {
        self.ckks.max_level()
    }

    /// The scale `Δ_in = 2^{round(log2 q_0)} / 2^ratio` the input is brought to before
    /// ModRaise.
    pub fn input_scale(&self) -> f64 {
        let q0 = self.ckks.q_moduli()[0] as f64;
        2f64.powi(q0.log2().round() as i32 - self.preset.log_message_ratio as i32)
    }
}
