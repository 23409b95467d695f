//! CKKS parameters: the shared RLWE parameters (ring, ciphertext primes `q_0..q_L`, special
//! primes `P`, `dnum`) plus the default scale `Δ` and the slot count, and named 128-bit
//! presets in Lattigo's style.
//!
//! In the full-RNS variant (CHKKS18 §3) the scale is not a modulus but a real number tracked
//! alongside each ciphertext; rescaling divides by the last prime `q_ℓ`, so the primes
//! `q_1..q_L` are chosen as close as possible to `Δ` (the engine's prime generator walks down
//! from `2^bits`, so the 40-bit primes of the presets are within `2^-17` relative of `2^40`)
//! and the scale stays near `Δ` level after level. `q_0` is larger than `Δ` to hold the
//! integer part of the result at level 0 (`|m| < q_0 / (2Δ)`).

use super::crt::CrtLift;
use super::encoder::CkksEncoder;
use crate::rlwe::{RlweParameters, RlweParametersBuilder};
use crate::HeError;
use std::sync::Arc;

/// A named CKKS parameter set meeting 128-bit classical security (HE standard bound on
/// `log2(QP)` for a ternary secret and σ = 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CkksPreset {
    /// Name, e.g. `CKKS_128BIT_LOGN13_LOGQP218`.
    pub name: &'static str,
    /// `log2(n)`.
    pub log_n: u32,
    /// Bit sizes of the ciphertext primes `q_0..q_L` (`q_0` first).
    pub q_bits: &'static [u32],
    /// Bit sizes of the special primes of hybrid key switching.
    pub p_bits: &'static [u32],
    /// Decomposition number of hybrid key switching.
    pub dnum: usize,
    /// `log2(Δ)`, the default scale.
    pub log_scale: u32,
}

// Sizing of the special modulus `P`. Hoisted rotations apply the automorphism to the ModUp
// digits, which are lifted from `[0, q_j)`; a negated coefficient then differs from the lift of
// the negated digit by `q_j`, which adds `(q_j/P)·w·e_j` to the key-switching error, where `w`
// is the fixed 0/±1 pattern of negated positions, so the term is only small if `P >> q_j`.
// With `P ≈ q_0` (an earlier 49/49-bit choice) one slot of a rotated ciphertext was measured
// at 2^-20 at `n = 2^13`, `Δ = 2^40`; the presets keep `P` at least 2^6 above every digit.
// (The remaining worst slot, about 2^-22, comes from the RLWE layer's ModDown dividing by `P`
// with a floor rather than a rounding: a bias of 1/2 per coefficient of `k_1`, multiplied by
// `s`, is a smooth random walk concentrated on slot 0. Reported to the engine owner.)

/// n = 8192, log2(QP) = 218: `q_0` of 45 bits, three 40-bit rescaling primes (depth 3 at
/// `Δ = 2^40`; 4 bits of integer part at level 0, `|m| < 16`) and one 53-bit special prime
/// (2^8 above the largest digit); `dnum = 4`, one prime per digit.
pub const CKKS_128BIT_LOGN13_LOGQP218: CkksPreset = CkksPreset {
    name: "CKKS_128BIT_LOGN13_LOGQP218",
    log_n: 13,
    q_bits: &[45, 40, 40, 40],
    p_bits: &[53],
    dnum: 4,
    log_scale: 40,
};

/// n = 16384, log2(QP) = 434 (bound 438): `q_0` of 54 bits, eight 40-bit rescaling primes
/// (depth 8 at `Δ = 2^40`, `|m| < 2^13` at level 0) and one 60-bit special prime, `dnum = 9`.
pub const CKKS_128BIT_LOGN14_LOGQP438: CkksPreset = CkksPreset {
    name: "CKKS_128BIT_LOGN14_LOGQP438",
    log_n: 14,
    q_bits: &[54, 40, 40, 40, 40, 40, 40, 40, 40],
    p_bits: &[60],
    dnum: 9,
    log_scale: 40,
};

/// n = 32768, log2(QP) = 780 (bound 881): `q_0` of 60 bits, fifteen 40-bit rescaling primes
/// (depth 15) and two 60-bit special primes; `dnum = 8` digits of two primes (at most 100
/// bits, 2^20 below `P`).
pub const CKKS_128BIT_LOGN15_LOGQP881: CkksPreset = CkksPreset {
    name: "CKKS_128BIT_LOGN15_LOGQP881",
    log_n: 15,
    q_bits: &[
        60, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    ],
    p_bits: &[60, 60],
    dnum: 8,
    log_scale: 40,
};

/// All CKKS presets.
pub const CKKS_PRESETS: [CkksPreset; 3] = [
    CKKS_128BIT_LOGN13_LOGQP218,
    CKKS_128BIT_LOGN14_LOGQP438,
    CKKS_128BIT_LOGN15_LOGQP881,
];

/// CKKS parameters, shared as `Arc<CkksParameters>`: the RLWE parameters, the default scale,
/// the slot encoder and the CRT lift of the ciphertext basis used by decoding.
#[derive(Debug)]
pub struct CkksParameters {
    rlwe: Arc<RlweParameters>,
    scale: f64,
    encoder: CkksEncoder,
    lift: CrtLift,
}

/// Builder for [`CkksParameters`] (fhe.rs / Lattigo style).
#[derive(Clone, Debug, Default)]
pub struct CkksParametersBuilder {
    rlwe: RlweParametersBuilder,
    scale: Option<f64>,
    slots: Option<usize>,
}

impl CkksParametersBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from a named preset.
    pub fn preset(preset: CkksPreset) -> Self {
        Self::new()
            .log_n(preset.log_n)
            .q_bits(preset.q_bits)
            .p_bits(preset.p_bits)
            .dnum(preset.dnum)
            .log_scale(preset.log_scale)
    }

    /// `log2(n)`.
    pub fn log_n(mut self, log_n: u32) -> Self {
        self.rlwe = self.rlwe.log_n(log_n);
        self
    }

    /// Bit sizes of the ciphertext primes `q_0..q_L` (generated deterministically, largest
    /// first, so primes of the scale's size lie just below `Δ`).
    pub fn q_bits(mut self, bits: &[u32]) -> Self {
        self.rlwe = self.rlwe.q_bits(bits);
        self
    }

    /// Bit sizes of the special primes.
    pub fn p_bits(mut self, bits: &[u32]) -> Self {
        self.rlwe = self.rlwe.p_bits(bits);
        self
    }

    /// Explicit ciphertext and special primes (instead of bit sizes).
    pub fn primes(mut self, q: &[u64], p: &[u64]) -> Self {
        self.rlwe = self.rlwe.primes(q, p);
        self
    }

    /// Decomposition number (default: one digit per ciphertext prime).
    pub fn dnum(mut self, dnum: usize) -> Self {
        self.rlwe = self.rlwe.dnum(dnum);
        self
    }

    /// Default scale `Δ = 2^log_scale`.
    pub fn log_scale(mut self, log_scale: u32) -> Self {
        self.scale = Some(2f64.powi(log_scale as i32));
        self
    }

    /// Default scale `Δ` (any finite real > 1).
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = Some(scale);
        self
    }

    /// Number of slots (a power of two `<= n/2`; default `n/2`; fewer is sparse packing).
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = Some(slots);
        self
    }

    /// Builds parameters, refusing anything below 128-bit security.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] / [`HeError::Insecure`] for malformed or insecure RLWE parameters,
    /// [`HeError::InvalidParameters`] / [`HeError::InvalidScale`] /
    /// [`HeError::InvalidSlots`] for the CKKS-specific fields.
    pub fn build(&self) -> Result<Arc<CkksParameters>, HeError> {
        self.require_log_n()?;
        CkksParameters::new(self.rlwe.build()?, self.scale, self.slots)
    }

    /// Builds parameters **without** the security check. Only for tests.
    ///
    /// # Errors
    /// As [`build`](Self::build), except the security check.
    pub fn insecure_build(&self) -> Result<Arc<CkksParameters>, HeError> {
        self.require_log_n()?;
        CkksParameters::new(self.rlwe.insecure_build()?, self.scale, self.slots)
    }

    fn require_log_n(&self) -> Result<(), HeError> {
        if self.rlwe.has_log_n() {
            Ok(())
        } else {
            Err(HeError::InvalidParameters("log_n not set".into()))
        }
    }
}

impl CkksParameters {
    /// Wraps RLWE parameters with a default scale (`None`: the bit size of `q_1`, or of `q_0`
    /// with a single prime) and a slot count (`None`: `n/2`).
    ///
    /// # Errors
    /// [`HeError::InvalidScale`] unless `1 < scale < q_0`; [`HeError::InvalidSlots`].
    pub fn new(
        rlwe: Arc<RlweParameters>,
        scale: Option<f64>,
        slots: Option<usize>,
    ) -> Result<Arc<Self>, HeError> {
        let moduli = rlwe.q_basis().moduli();
        let scale = scale.unwrap_or_else(|| {
            let reference = moduli.get(1).copied().unwrap_or(moduli[0]);
            2f64.powi((63 - reference.leading_zeros()) as i32)
        });
        if !(scale.is_finite() && scale > 1.0 && scale < moduli[0] as f64) {
            return Err(HeError::InvalidScale { scale });
        }
        let n = rlwe.degree();
        let encoder = CkksEncoder::with_slots(n, slots.unwrap_or(n / 2))?;
        let lift = CrtLift::new(&moduli)?;
        Ok(Arc::new(Self {
            rlwe,
            scale,
            encoder,
            lift,
        }))
    }

    /// A 64-bit FNV-1a fingerprint of the RLWE parameters, the default scale and the slot
    /// count (not cryptographic: deserialization uses it to reject objects made for other
    /// parameters).
    pub fn fingerprint(&self) -> u64 {
        let mut h = crate::rlwe::params::Fnv::new();
        h.write(b"CKKS");
        h.write(&self.rlwe.fingerprint().to_le_bytes());
        h.write(&self.scale.to_bits().to_le_bytes());
        h.write(&(self.slots() as u64).to_le_bytes());
        h.finish()
    }

    /// The shared RLWE parameters (for key generation).
    pub fn rlwe(&self) -> &Arc<RlweParameters> {
        &self.rlwe
    }

    /// Default scale `Δ` of fresh plaintexts.
    pub fn default_scale(&self) -> f64 {
        self.scale
    }

    /// Ring degree `n`.
    pub fn degree(&self) -> usize {
        self.rlwe.degree()
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.encoder.slots()
    }

    /// Highest level `L` (fresh ciphertexts have `L + 1` primes; each rescale uses one).
    pub fn max_level(&self) -> usize {
        self.rlwe.max_level()
    }

    /// The ciphertext primes `q_0..q_L`.
    pub fn q_moduli(&self) -> Vec<u64> {
        self.rlwe.q_basis().moduli()
    }

    /// The slot encoder.
    pub fn encoder(&self) -> &CkksEncoder {
        &self.encoder
    }

    /// The centered CRT lift of the ciphertext basis.
    pub fn crt_lift(&self) -> &CrtLift {
        &self.lift
    }

    /// Checks `level <= L`.
    pub(crate) fn check_level(&self, level: usize) -> Result<(), HeError> {
        if level > self.max_level() {
            return Err(HeError::InvalidLevel {
                level,
                max_level: self.max_level(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_128_bit_secure_and_build() {
        for preset in [CKKS_128BIT_LOGN13_LOGQP218, CKKS_128BIT_LOGN14_LOGQP438] {
            let params = CkksParametersBuilder::preset(preset).build().unwrap();
            let bound = crate::rlwe::params::max_log_qp_128(preset.log_n).unwrap();
            assert!(params.rlwe().log_qp_bits() <= bound, "{}", preset.name);
            assert!(params.rlwe().is_secure());
            assert_eq!(params.max_level(), preset.q_bits.len() - 1);
            // Rescaling primes are within 2^-17 relative of the scale (largest first below
            // 2^40, ≡ 1 mod 2n).
            for &q in &params.q_moduli()[1..] {
                let ratio = q as f64 / params.default_scale();
                assert!(
                    (ratio - 1.0).abs() < 2f64.powi(-17),
                    "{} prime {q}",
                    preset.name
                );
            }
        }
        // The name's log2(QP) is the bound; the sum of bit sizes must not exceed it, and P
        // must exceed every hybrid digit by 2^6 (see the note above the presets).
        for preset in CKKS_PRESETS {
            let bits: u32 = preset.q_bits.iter().chain(preset.p_bits).sum();
            let bound = crate::rlwe::params::max_log_qp_128(preset.log_n).unwrap();
            assert!(bits <= bound, "{}: {bits} > {bound}", preset.name);
            let alpha = preset.q_bits.len().div_ceil(preset.dnum);
            let digit_max: u32 = preset
                .q_bits
                .chunks(alpha)
                .map(|c| c.iter().sum::<u32>())
                .max()
                .unwrap();
            let p_bits: u32 = preset.p_bits.iter().sum();
            assert!(p_bits >= digit_max + 6, "{}: P too small", preset.name);
        }
    }

    #[test]
    fn insecure_parameters_are_refused_by_build() {
        let builder = CkksParametersBuilder::new()
            .log_n(10)
            .q_bits(&[50, 40, 40])
            .p_bits(&[51])
            .log_scale(40);
        assert!(matches!(builder.build(), Err(HeError::Insecure(_))));
        assert!(builder.insecure_build().is_ok());
    }

    #[test]
    fn rejects_bad_scale_and_slots() {
        let base = CkksParametersBuilder::new()
            .log_n(10)
            .q_bits(&[50, 40])
            .p_bits(&[51]);
        assert!(matches!(
            base.clone().scale(f64::NAN).insecure_build(),
            Err(HeError::InvalidScale { .. })
        ));
        assert!(matches!(
            base.clone().log_scale(55).insecure_build(),
            Err(HeError::InvalidScale { .. })
        ));
        assert!(matches!(
            base.clone().slots(3).insecure_build(),
            Err(HeError::InvalidSlots { .. })
        ));
        assert!(matches!(
            CkksParametersBuilder::new().insecure_build(),
            Err(HeError::InvalidParameters(_))
        ));
    }
}
