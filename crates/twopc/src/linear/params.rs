//! Per-layer HE parameters (AutoPrivacy's knob, Lou et al. 2020 §3): ring degree, ciphertext
//! and special primes, plaintext modulus and encoding chosen per linear layer, loaded from a
//! JSON policy and validated, with a DELPHI-style uniform default.
//!
//! # Validation
//! 1. **Security**: the engine's 128-bit check on `log2(QP)` (HE standard, Albrecht et al.
//!    2018, Table 1) through [`BfvParametersBuilder::build`].
//! 2. **Plaintext modulus**: it must be the share prime `p` (shares live in `Z_p`); slot
//!    encoding also needs `p ≡ 1 mod 2n`.
//! 3. **Packing**: the layer must fit the encoding's packing at this `n`.
//! 4. **Noise budget**: a worst-case bound `B_M` on the noise of `Enc(M·r)` (below), the
//!    flooding width `F` derived from it, and the room `Q_L / (2p)` of the top level must
//!    satisfy `2^(F+1) + B_pk < Q_L/(2p)`; the output level is the lowest `ℓ` with
//!    `(2^(F+1) + B_pk)·Q_ℓ/Q_L + (L−ℓ)·(n+1)/2 < Q_ℓ/(4p)`.
//!
//! # Noise bound (worst case, "real" BFV noise `e` with phase `= (Q/p)·m + e`)
//! * fresh secret-key encryption: `B_0 = 19 + 1/2` (Gaussian tail cut 19, rounding of `Q·m/p`);
//! * hybrid key switching (rotation): adds `B_ks = dnum·n·19·2^(bits(digit) − bits(P)) + (n+1)/2`;
//! * ct × pt: `‖pt‖₁·B`, with `‖pt‖₁ ≤ n·p/2` for a slot-encoded plaintext and
//!   `‖pt‖₁ ≤ nnz·w_max` for a kernel polynomial with `nnz` weight coefficients;
//! * sums add bounds; each giant step adds `B_ks`; fold steps double and add `B_ks`.
//!
//! # Flooding (statistical circuit privacy)
//! `F = ⌈log2 B_M⌉ + κ + ⌈log2(n·out_cts)⌉` with `κ` = [`FLOOD_STAT_BITS`] `= 40`: each output
//! coefficient gets independent uniform noise in `[−2^F, 2^F)`, so the statistical distance of
//! `e + U` from `U` is at most `|e|/2^F ≤ 2^(−κ)/(n·out_cts)` per coefficient and at most
//! `2^(−κ)` for the whole response (union bound). The output is also re-randomized with a fresh
//! public-key encryption of zero, so `c_1` is pseudorandom (RLWE) and independent of `M`.

use super::coeff;
use super::layer::{LayerShape, LinearLayer};
use super::packing::Packing;
use super::slot;
use crate::error::TwoPcError;
use crate::share::DEFAULT_SHARE_PRIME;
use henn_he::bfv::{BfvParameters, BfvParametersBuilder};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Statistical security parameter `κ` of noise flooding (bits): the engine's
/// [`henn_he::rlwe::flood::FLOOD_STAT_BITS`].
pub use henn_he::rlwe::flood::FLOOD_STAT_BITS;

/// How a layer's values are packed into plaintexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Batched slots with rotations (Gazelle / DELPHI), see [`super::slot`].
    Slot,
    /// Coefficients, rotation-free (Cheetah), see [`super::coeff`].
    Coefficient,
}

/// The HE parameters of one linear layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerHeParams {
    /// `log2(n)`.
    pub log_n: u32,
    /// Bit sizes of the ciphertext primes.
    pub q_bits: Vec<u32>,
    /// Bit sizes of the special primes (hybrid key switching).
    pub p_bits: Vec<u32>,
    /// Plaintext modulus (must be the share prime).
    pub plaintext_modulus: u64,
    /// Encoding.
    pub encoding: Encoding,
    /// Decomposition number (default: one digit per ciphertext prime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnum: Option<usize>,
}

impl LayerHeParams {
    /// DELPHI-style uniform default: `n = 2^14`, six 54-bit `q` primes and two 57-bit special
    /// primes (the engine's `BFV_128BIT_LOGN14_LOGQP438`), slot encoding, `t = p`. With a
    /// 41-bit `p` the slot-encoded products need the 324-bit `Q` of this set to fit flooding
    /// (see the module docs); `n = 2^13` fits the coefficient encoding of small layers.
    pub fn delphi_default() -> Self {
        let p = henn_he::bfv::BFV_128BIT_LOGN14_LOGQP438;
        Self {
            log_n: p.log_n,
            q_bits: p.q_bits.to_vec(),
            p_bits: p.p_bits.to_vec(),
            plaintext_modulus: DEFAULT_SHARE_PRIME,
            encoding: Encoding::Slot,
            dnum: Some(p.dnum),
        }
    }

    /// The engine preset `BFV_128BIT_LOGN13_LOGQP218` with the given encoding.
    pub fn logn13(encoding: Encoding) -> Self {
        let p = henn_he::bfv::BFV_128BIT_LOGN13_LOGQP218;
        Self {
            log_n: p.log_n,
            q_bits: p.q_bits.to_vec(),
            p_bits: p.p_bits.to_vec(),
            plaintext_modulus: DEFAULT_SHARE_PRIME,
            encoding,
            dnum: Some(p.dnum),
        }
    }

    /// Small **insecure** parameters for tests only (`n = 2^7`, three 60-bit primes): the name
    /// says it; [`LayerHeContext::new`] rejects them, only
    /// [`LayerHeContext::new_insecure_test`] accepts them.
    pub fn insecure_test(encoding: Encoding) -> Self {
        Self {
            log_n: 7,
            q_bits: vec![60, 60, 60],
            p_bits: vec![61],
            plaintext_modulus: DEFAULT_SHARE_PRIME,
            encoding,
            dnum: None,
        }
    }

    /// The engine's parameter builder for this setting.
    pub(crate) fn builder(&self) -> BfvParametersBuilder {
        let mut b = BfvParametersBuilder::new()
            .log_n(self.log_n)
            .q_bits(&self.q_bits)
            .p_bits(&self.p_bits)
            .plaintext_modulus(self.plaintext_modulus);
        if let Some(d) = self.dnum {
            b = b.dnum(d);
        }
        b
    }
}

/// Everything both parties derive from a layer's shape and HE parameters: the BFV parameters,
/// the packing, the noise bound, the flooding width and the output level.
#[derive(Clone, Debug)]
pub struct LayerHeContext {
    /// The per-layer setting.
    pub setting: LayerHeParams,
    /// BFV parameters.
    pub params: Arc<BfvParameters>,
    /// The layer's public shape.
    pub shape: LayerShape,
    /// Whether the layer adds its input (identity shortcut, local on shares).
    pub residual: bool,
    /// Public bound on the absolute weights.
    pub weight_bound: u64,
    /// Where values sit in the ciphertexts.
    pub packing: Packing,
    /// `log2` of the worst-case noise bound of `Enc(M·r)` before flooding.
    pub noise_bits: f64,
    /// Flooding width `F`: uniform noise in `[−2^F, 2^F)`.
    pub flood_bits: u32,
    /// Level of the output ciphertexts after modulus switching.
    pub output_level: usize,
}

/// The public description of a layer the client needs: shape, residual flag and weight bound
/// (the quantization's bit width; the weights themselves stay with the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicLayer {
    /// Shape.
    pub shape: LayerShape,
    /// Identity shortcut.
    pub residual: bool,
    /// Bound on `|w|`.
    pub weight_bound: u64,
}

impl PublicLayer {
    /// The public part of a layer, with the weight bound rounded up to `2^k − 1` (a bit width).
    pub fn of(layer: &LinearLayer) -> Self {
        let w = layer.max_abs_weight();
        let bits = 64 - w.leading_zeros();
        Self {
            shape: layer.shape(),
            residual: layer.is_residual(),
            weight_bound: if bits >= 63 {
                u64::MAX >> 1
            } else {
                (1u64 << bits) - 1
            },
        }
    }
}

pub(crate) fn log2_sum(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (1.0 + (lo - hi).exp2()).log2()
}

impl LayerHeContext {
    /// Builds and validates a layer's context with 128-bit secure parameters.
    pub fn new(layer: &PublicLayer, setting: &LayerHeParams) -> Result<Self, TwoPcError> {
        let params = setting.builder().build().map_err(|e| {
            TwoPcError::Config(format!("layer HE parameters rejected by the engine: {e}"))
        })?;
        Self::with_params(layer, setting, params)
    }

    /// As [`LayerHeContext::new`] but **without** the security check, for tests only (noise,
    /// modulus and packing are still validated).
    pub fn new_insecure_test(
        layer: &PublicLayer,
        setting: &LayerHeParams,
    ) -> Result<Self, TwoPcError> {
        let params = setting
            .builder()
            .insecure_build()
            .map_err(|e| TwoPcError::Config(format!("layer HE parameters: {e}")))?;
        Self::with_params(layer, setting, params)
    }

    fn with_params(
        layer: &PublicLayer,
        setting: &LayerHeParams,
        params: Arc<BfvParameters>,
    ) -> Result<Self, TwoPcError> {
        let t = params.plaintext_modulus();
        if t != DEFAULT_SHARE_PRIME {
            return Err(TwoPcError::Config(format!(
                "plaintext modulus {t} is not the share prime {DEFAULT_SHARE_PRIME}"
            )));
        }
        let n = params.degree();
        let top = params.max_level();
        let packing = match setting.encoding {
            Encoding::Slot => {
                if !params.supports_batching() {
                    return Err(TwoPcError::Config(format!(
                        "slot encoding needs p ≡ 1 mod 2n (n = {n})"
                    )));
                }
                slot::packing(&layer.shape, n)?
            }
            // inputs at the top level; outputs assumed at two primes for the split heuristic
            Encoding::Coefficient => coeff::packing(&layer.shape, n, top + 1, 2.min(top + 1))?,
        };
        let noise_bits = noise_bound_bits(layer, &params, setting, &packing)?;
        let (flood_bits, output_level) =
            super::flood::flooding_plan(&params, noise_bits, packing.output_cts)?;
        Ok(Self {
            setting: setting.clone(),
            params,
            shape: layer.shape.clone(),
            residual: layer.residual,
            weight_bound: layer.weight_bound,
            packing,
            noise_bits,
            flood_bits,
            output_level,
        })
    }
}

/// `log2` of the worst-case noise bound of `Enc(M·r)` (module docs).
fn noise_bound_bits(
    layer: &PublicLayer,
    params: &BfvParameters,
    setting: &LayerHeParams,
    packing: &Packing,
) -> Result<f64, TwoPcError> {
    let n = params.degree() as f64;
    let b0 = 19.5f64.log2();
    let wb = (layer.weight_bound.max(1) as f64).log2();
    match setting.encoding {
        Encoding::Slot => {
            let rl = params.rlwe();
            let q = rl.q_basis();
            let dnum = rl.dnum();
            let alpha = q.len().div_ceil(dnum);
            let digit_bits: f64 = (0..alpha.min(q.len()))
                .map(|i| (q.modulus(i).value() as f64).log2())
                .sum();
            let p_bits = (0..rl.p_basis().len())
                .map(|i| (rl.p_basis().modulus(i).value() as f64).log2())
                .sum::<f64>();
            let b_ks = log2_sum(
                (dnum as f64 * n * 19.0).log2() + digit_bits - p_bits,
                ((n + 1.0) / 2.0).log2(),
            );
            let b_in = log2_sum(b0, b_ks);
            let pt_l1 = n.log2() + (params.plaintext_modulus() as f64 / 2.0).log2();
            let (terms, giants) = slot::slot_cost(&layer.shape);
            let mut b = log2_sum(
                (terms as f64).log2() + pt_l1 + b_in,
                (giants as f64).log2() + b_ks,
            );
            if let LayerShape::Dense { inputs, outputs } = layer.shape {
                let folds = (inputs.next_power_of_two() / outputs.next_power_of_two()).max(1);
                for _ in 0..folds.trailing_zeros() {
                    b = log2_sum(b + 1.0, b_ks);
                }
            }
            Ok(b)
        }
        Encoding::Coefficient => {
            let (_, terms, nnz) = coeff::coeff_cost(&layer.shape, packing)?;
            Ok((terms as f64).log2() + (nnz as f64).log2() + wb + b0)
        }
    }
}
