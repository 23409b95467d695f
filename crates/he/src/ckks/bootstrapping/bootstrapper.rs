//! The bootstrapping procedure (full-slot complex variant): encapsulated ModRaise,
//! CoeffsToSlots, EvalMod on the real and imaginary parts, SlotsToCoeffs.

use super::dft;
use super::eval_mod::EvalModPolynomial;
use super::keys::BootstrappingKeys;
use super::linear_transform::{EncodedLinearTransform, LinearTransform};
use super::mod_raise::mod_raise;
use super::params::BootstrappingParameters;
use crate::ckks::{Ciphertext, Evaluator, Plaintext};
use crate::rlwe::{self, keyswitch};
use crate::HeError;
use henn_ring::RnsPoly;
use std::f64::consts::PI;
use std::sync::Arc;
use std::time::Instant;

/// Wall-clock seconds of the stages of one bootstrap ([`Bootstrapper::bootstrap_timed`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Scale-up and encapsulated ModRaise (two key switches).
    pub mod_raise_s: f64,
    /// CoeffsToSlots (the linear transforms and the conjugation).
    pub coeffs_to_slots_s: f64,
    /// EvalMod of the real and imaginary parts (run concurrently with several threads).
    pub eval_mod_s: f64,
    /// SlotsToCoeffs.
    pub slots_to_coeffs_s: f64,
}

/// The encoded factors of both linear transforms.
struct Transforms {
    cts: Vec<EncodedLinearTransform>,
    stc: Vec<EncodedLinearTransform>,
}

/// The clear factors of CoeffsToSlots and SlotsToCoeffs (application order) with the level
/// each is applied at.
type ClearTransforms = (Vec<(LinearTransform, usize)>, Vec<(LinearTransform, usize)>);

fn clear_transforms(params: &BootstrappingParameters) -> ClearTransforms {
    let ckks = params.ckks();
    let preset = params.preset();
    let n = ckks.degree();
    let slots = ckks.slots();
    let q0 = ckks.q_moduli()[0] as f64;
    let eval_scale = ckks.q_moduli()[params.eval_mod_start_level()] as f64;
    // CoeffsToSlots output: y/2 = packed(t)/(2·q_0·K) at scale Δ_e (the first EvalMod prime).
    let cts_factor = eval_scale / (2.0 * q0 * preset.k as f64);
    let cts = dft::coeffs_to_slots(n, slots, preset.cts_q_bits.len(), cts_factor)
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, params.cts_start_level() - i))
        .collect();
    // SlotsToCoeffs: sin(2πx) ≈ 2π·m/q_0 → m/Δ_in, and from EvalMod's scale to Δ.
    let eval_out_scale = eval_mod_output_scale(params);
    let stc_factor = q0 / (2.0 * PI * params.input_scale()) * ckks.default_scale() / eval_out_scale;
    let stc = dft::slots_to_coeffs(n, slots, preset.stc_q_bits.len(), stc_factor)
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, params.stc_start_level() - i))
        .collect();
    (cts, stc)
}

fn build_transforms(params: &BootstrappingParameters) -> Result<Transforms, HeError> {
    let (cts, stc) = clear_transforms(params);
    let encode = |list: Vec<(LinearTransform, usize)>| -> Result<Vec<_>, HeError> {
        list.iter()
            .map(|(t, level)| EncodedLinearTransform::new(params.ckks(), t, *level))
            .collect()
    };
    Ok(Transforms {
        cts: encode(cts)?,
        stc: encode(stc)?,
    })
}

/// The scale of EvalMod's output: `Δ_e` through the double-angle squarings `τ ← τ²/q_ℓ`.
fn eval_mod_output_scale(params: &BootstrappingParameters) -> f64 {
    let q = params.ckks().q_moduli();
    let mut tau = q[params.eval_mod_start_level()] as f64;
    let mut level = params.stc_start_level() + params.preset().double_angle as usize;
    for _ in 0..params.preset().double_angle {
        tau = tau * tau / q[level] as f64;
        level -= 1;
    }
    tau
}

/// Every rotation amount the linear transforms of `params` use (for key generation).
///
/// # Errors
/// Encoding errors of the diagonals (never for built parameters).
pub fn required_rotations(params: &BootstrappingParameters) -> Result<Vec<i64>, HeError> {
    let (cts, stc) = clear_transforms(params);
    let mut r: Vec<i64> = cts
        .iter()
        .chain(&stc)
        .flat_map(|(lt, _)| lt.rotations())
        .collect();
    r.sort_unstable();
    r.dedup();
    Ok(r)
}

/// Refreshes CKKS ciphertexts: takes a ciphertext at any level (it is dropped to level 0)
/// and returns an encryption of the same slots at
/// [`BootstrappingParameters::output_level`] and the default scale. Holds only evaluation
/// keys.
pub struct Bootstrapper {
    params: BootstrappingParameters,
    keys: Arc<BootstrappingKeys>,
    eval: Evaluator,
    transforms: Transforms,
    eval_mod: EvalModPolynomial,
    /// `X^{n/2}` (the slot-wise factor `i`) in NTT form at the top level, scale 1.
    imaginary_unit: Plaintext,
}

impl Bootstrapper {
    /// Pre-encodes the diagonals of both transforms at their levels and the EvalMod
    /// polynomial.
    ///
    /// # Errors
    /// Encoding errors; [`HeError::InvalidParameters`] if a Galois key is missing.
    pub fn new(
        params: &BootstrappingParameters,
        keys: Arc<BootstrappingKeys>,
    ) -> Result<Self, HeError> {
        let transforms = build_transforms(params)?;
        let elements = keys.galois.elements();
        for r in required_rotations(params)? {
            let g = crate::ckks::rotation_galois_element(params.ckks().degree(), r)? as usize;
            if !elements.contains(&g) {
                return Err(HeError::InvalidParameters(format!(
                    "bootstrapping keys lack the rotation by {r}"
                )));
            }
        }
        let preset = params.preset();
        let eval_mod =
            EvalModPolynomial::new(preset.k as f64, preset.sine_degree, preset.double_angle);
        let ckks = params.ckks();
        let basis = ckks.rlwe().q_basis();
        let n = ckks.degree();
        let mut mono = vec![0i64; n];
        mono[n / 2] = 1;
        let mut poly = RnsPoly::from_signed(basis, basis.len(), &mono);
        poly.ntt_forward(basis);
        let imaginary_unit = Plaintext {
            poly,
            level: ckks.max_level(),
            scale: 1.0,
        };
        Ok(Self {
            params: params.clone(),
            keys,
            eval: Evaluator::new(ckks),
            transforms,
            eval_mod,
            imaginary_unit,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &BootstrappingParameters {
        &self.params
    }

    /// The evaluation keys.
    pub fn keys(&self) -> &Arc<BootstrappingKeys> {
        &self.keys
    }

    /// Bytes held by the pre-encoded diagonals.
    pub fn diagonal_bytes(&self) -> usize {
        self.transforms
            .cts
            .iter()
            .chain(&self.transforms.stc)
            .map(|t| t.byte_size())
            .sum()
    }

    fn times_i(&self, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.eval.mul_plain(ct, &self.imaginary_unit)
    }

    /// Scale-up, encapsulated ModRaise: `ct` at level 0 → under `s'` modulo `q_0` → raised
    /// to the top level → back under `s`. The result's phase is `m + q_0·I` with `I` bounded
    /// by the sparse secret's weight.
    pub fn mod_raise(&self, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        let ckks = self.params.ckks();
        let ct = self.eval.drop_to_level(ct, 0)?;
        let ct = if ct.len() == 3 {
            self.eval.relinearize(&ct, &self.keys.relinearization)?
        } else {
            ct
        };
        // Bring the scale to Δ_in = q_0 / 2^ratio with an exact integer factor.
        let target = self.params.input_scale();
        let factor = (target / ct.scale()).round();
        let mut ct = if (2.0..9.0e15).contains(&factor) {
            let mut up = self.eval.mul_integer(&ct, factor as i64)?;
            up.set_scale(ct.scale() * factor)?;
            up
        } else {
            ct
        };
        if ct.scale() > 2.0 * target {
            return Err(HeError::InvalidScale { scale: ct.scale() });
        }
        // Dense → sparse modulo q_0 (encapsulation parameters share q_0 and its NTT).
        let enc = self.params.encapsulation();
        let c = ct.rlwe().polys();
        let (k0, k1) = keyswitch::key_switch(enc, &c[1], 0, &self.keys.dense_to_sparse);
        let mut c0 = c[0].clone();
        c0.add_assign(&k0, enc.q_basis());
        let sparse = rlwe::Ciphertext::from_polys(ckks.rlwe(), vec![c0, k1], 0)?;
        ct = Ciphertext::from_rlwe(sparse, ct.scale())?;
        // ModRaise under s', then sparse → dense at the top level.
        let top = self.params.cts_start_level();
        let raised = mod_raise(ckks, &ct, top)?;
        let r = raised.rlwe().polys();
        let main = ckks.rlwe();
        let (k0, k1) = keyswitch::key_switch(main, &r[1], top, &self.keys.sparse_to_dense);
        let mut c0 = r[0].clone();
        c0.add_assign(&k0, &main.level(top).q);
        let dense = rlwe::Ciphertext::from_polys(main, vec![c0, k1], top)?;
        Ciphertext::from_rlwe(dense, raised.scale())
    }

    /// CoeffsToSlots on a raised ciphertext: returns the real and imaginary parts
    /// `(t_k / (q_0 K), t_{k+n/2} / (q_0 K))` (bit-reversed slot order) at the EvalMod level and
    /// scale.
    pub fn coeffs_to_slots(
        &self,
        raised: &Ciphertext,
    ) -> Result<(Ciphertext, Ciphertext), HeError> {
        let eval_scale = self.params.ckks().q_moduli()[self.params.eval_mod_start_level()] as f64;
        let mut ct = raised.clone();
        ct.set_scale(eval_scale)?;
        // Single hoisting (a full key switch per giant step): measured faster at n = 2^16
        // than accumulating the giant steps modulo Q·P (`bootstrap_phases`, same process,
        // CPU time of the first factor: 0.74-0.94 s against 0.83-1.11 s), with equal
        // results; see `EncodedLinearTransform::evaluate_single_hoisted`.
        for t in &self.transforms.cts {
            ct = t.evaluate_single_hoisted(&self.eval, &ct, &self.keys.galois)?;
        }
        let conj = self.eval.conjugate(&ct, &self.keys.galois)?;
        let re = self.eval.add(&ct, &conj)?;
        let diff = self.eval.sub(&conj, &ct)?;
        let im = self.times_i(&diff)?;
        Ok((re, im))
    }

    /// EvalMod on one part: `y → sin(2πK·y)` (≈ `2π·m/q_0`).
    pub fn eval_mod(&self, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.eval_mod.evaluate(
            self.params.ckks(),
            &self.eval,
            &self.keys.relinearization,
            ct,
        )
    }

    /// SlotsToCoeffs of `re + i·im`: back to the slot encoding, at the output level and the
    /// default scale.
    pub fn slots_to_coeffs(&self, re: &Ciphertext, im: &Ciphertext) -> Result<Ciphertext, HeError> {
        let im = self.times_i(im)?;
        let mut ct = self.eval.add(re, &im)?;
        for t in &self.transforms.stc {
            ct = t.evaluate_single_hoisted(&self.eval, &ct, &self.keys.galois)?;
        }
        ct.set_scale(self.params.ckks().default_scale())?;
        Ok(ct)
    }

    /// Bootstraps `ct` (module docs of [`super`]).
    ///
    /// # Errors
    /// [`HeError::InvalidScale`] for an input scale above `Δ_in`; evaluator errors
    /// (malformed ciphertexts, missing keys).
    pub fn bootstrap(&self, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.bootstrap_timed(ct).map(|(out, _)| out)
    }

    /// [`bootstrap`](Self::bootstrap) with the wall-clock time of each stage.
    ///
    /// # Errors
    /// As [`bootstrap`](Self::bootstrap).
    pub fn bootstrap_timed(&self, ct: &Ciphertext) -> Result<(Ciphertext, StageTimes), HeError> {
        let t = Instant::now();
        let raised = self.mod_raise(ct)?;
        let mod_raise_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (re, im) = self.coeffs_to_slots(&raised)?;
        let coeffs_to_slots_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (re, im) = rayon::join(|| self.eval_mod(&re), || self.eval_mod(&im));
        let (re, im) = (re?, im?);
        let eval_mod_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let out = self.slots_to_coeffs(&re, &im)?;
        let slots_to_coeffs_s = t.elapsed().as_secs_f64();
        Ok((
            out,
            StageTimes {
                mod_raise_s,
                coeffs_to_slots_s,
                eval_mod_s,
                slots_to_coeffs_s,
            },
        ))
    }
}
