//! BFV homomorphic operations on NTT-form ciphertexts.
//!
//! * additions, negation, ct × plaintext operand and ct × scalar are pointwise;
//! * ct × ct uses the HPS19 full-RNS tensor (Halevi, Polyakov, Shoup, CT-RSA 2019, §4):
//!   exact extension of both operands from `Q_ℓ` to `Q_ℓ ∪ R`, tensor product in NTT form,
//!   scale-and-round by `t/Q_ℓ` into `R`, exact conversion back to `Q_ℓ`, then
//!   relinearization by hybrid key switching;
//! * rotations are Galois automorphisms with key switching, optionally hoisted;
//! * level dropping is BFV modulus switching `c ↦ round(c / q_ℓ)` (SEAL's
//!   `mod_switch_to_next`), which keeps the message and shrinks ciphertexts and later costs.
//!
//! Names and fallibility match [`crate::ckks::Evaluator`] for the same operation (`add`, `sub`,
//! `negate`, `add_plain`, `sub_plain`, `mul_plain`, `mul_integer` and their `_assign` forms,
//! `multiply`, `square`, `relinearize`, `rotate`, `rotate_hoisted`, `drop_to_level`): every
//! operation returns `Result`, and a malformed ciphertext (level outside the chain, fewer than
//! two polynomials) is an error, not a panic. BFV-only: `drop_level` (one modulus switch;
//! CKKS's one-level step is `rescale`, which also divides the message) and `rotate_rows`.

use super::encoder::{Plaintext, PlaintextOperand};
use super::encryptor::scale_message;
use super::params::BfvParameters;
use crate::rlwe::{self, Ciphertext, GaloisKeys, RelinearizationKey};
use crate::HeError;
use henn_ring::{column_rotation_element, row_swap_element, Form, RnsPoly};
use rayon::prelude::*;
use std::sync::Arc;

/// The Galois elements needed for the given column rotation steps (and the row swap).
pub fn galois_elements(params: &BfvParameters, steps: &[i64], row_swap: bool) -> Vec<usize> {
    let n = params.degree();
    let mut v: Vec<usize> = steps
        .iter()
        .map(|&s| column_rotation_element(s, n))
        .filter(|&g| g != 1)
        .collect();
    if row_swap {
        v.push(row_swap_element(n));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Evaluates BFV operations. Allocating variants return new ciphertexts; `_assign` variants
/// work in place.
#[derive(Clone, Debug)]
pub struct Evaluator {
    params: Arc<BfvParameters>,
}

impl Evaluator {
    /// An evaluator for `params`.
    pub fn new(params: &Arc<BfvParameters>) -> Self {
        Self {
            params: params.clone(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<BfvParameters> {
        &self.params
    }

    fn q(&self, level: usize) -> &henn_ring::RnsBasis {
        &self.params.rlwe().level(level).q
    }

    fn check_pair(&self, a: &Ciphertext, b: &Ciphertext) -> Result<(), HeError> {
        self.check("binary operation", a)?;
        self.check("binary operation", b)?;
        if a.level != b.level {
            return Err(HeError::LevelMismatch(a.level, b.level));
        }
        Ok(())
    }

    /// `a += b` (same level; sizes may differ).
    pub fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<(), HeError> {
        self.check_pair(a, b)?;
        let q = self.q(a.level).clone();
        while a.polys.len() < b.polys.len() {
            a.polys
                .push(RnsPoly::zero(self.params.degree(), a.level + 1, Form::Ntt));
        }
        for (x, y) in a.polys.iter_mut().zip(&b.polys) {
            x.add_assign(y, &q);
        }
        Ok(())
    }

    /// `a + b`.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.add_assign(&mut r, b)?;
        Ok(r)
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<(), HeError> {
        self.check_pair(a, b)?;
        let q = self.q(a.level).clone();
        while a.polys.len() < b.polys.len() {
            a.polys
                .push(RnsPoly::zero(self.params.degree(), a.level + 1, Form::Ntt));
        }
        for (x, y) in a.polys.iter_mut().zip(&b.polys) {
            x.sub_assign(y, &q);
        }
        Ok(())
    }

    /// `a - b`.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.sub_assign(&mut r, b)?;
        Ok(r)
    }

    /// A ciphertext this evaluator can operate on: its level exists in the parameters' chain
    /// and it has at least two polynomials of the parameters' degree.
    fn check(&self, operation: &'static str, a: &Ciphertext) -> Result<(), HeError> {
        let max_level = self.params.rlwe().max_level();
        if a.level > max_level {
            return Err(HeError::InvalidLevel {
                level: a.level,
                max_level,
            });
        }
        if a.polys.len() < 2 {
            return Err(HeError::CiphertextSize {
                operation,
                expected: 2,
                got: a.polys.len(),
            });
        }
        let n = self.params.degree();
        if let Some(p) = a.polys.iter().find(|p| p.degree() != n) {
            return Err(HeError::LengthMismatch {
                what: "ciphertext ring degree",
                expected: n,
                got: p.degree(),
            });
        }
        Ok(())
    }

    /// `a = -a`.
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] / [`HeError::CiphertextSize`] for a malformed ciphertext.
    pub fn negate_assign(&self, a: &mut Ciphertext) -> Result<(), HeError> {
        self.check("negation", a)?;
        let q = self.q(a.level).clone();
        for x in &mut a.polys {
            x.neg_assign(&q);
        }
        Ok(())
    }

    /// `-a`.
    ///
    /// # Errors
    /// As [`negate_assign`](Self::negate_assign).
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.negate_assign(&mut r)?;
        Ok(r)
    }

    fn add_sub_plain_assign(
        &self,
        a: &mut Ciphertext,
        pt: &Plaintext,
        subtract: bool,
    ) -> Result<(), HeError> {
        self.check(
            if subtract {
                "plaintext subtraction"
            } else {
                "plaintext addition"
            },
            a,
        )?;
        if pt.coeffs.len() != self.params.degree() {
            return Err(HeError::InvalidPlaintext("wrong degree".into()));
        }
        let q = self.q(a.level).clone();
        let mut m = scale_message(&self.params, pt, a.level);
        m.ntt_forward(&q);
        if subtract {
            a.polys[0].sub_assign(&m, &q);
        } else {
            a.polys[0].add_assign(&m, &q);
        }
        Ok(())
    }

    /// `a += pt` (adds `round(Q_ℓ·m/t)` to `c_0`).
    ///
    /// # Errors
    /// [`HeError::InvalidPlaintext`] for a plaintext of another degree; malformed ciphertext.
    pub fn add_plain_assign(&self, a: &mut Ciphertext, pt: &Plaintext) -> Result<(), HeError> {
        self.add_sub_plain_assign(a, pt, false)
    }

    /// `a + pt`.
    ///
    /// # Errors
    /// As [`add_plain_assign`](Self::add_plain_assign).
    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.add_plain_assign(&mut r, pt)?;
        Ok(r)
    }

    /// `a -= pt` (subtracts `round(Q_ℓ·m/t)` from `c_0`).
    ///
    /// # Errors
    /// As [`add_plain_assign`](Self::add_plain_assign).
    pub fn sub_plain_assign(&self, a: &mut Ciphertext, pt: &Plaintext) -> Result<(), HeError> {
        self.add_sub_plain_assign(a, pt, true)
    }

    /// `a - pt`.
    ///
    /// # Errors
    /// As [`add_plain_assign`](Self::add_plain_assign).
    pub fn sub_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.sub_plain_assign(&mut r, pt)?;
        Ok(r)
    }

    /// `a · pt` for a pre-transformed plaintext: one pointwise product per polynomial.
    pub fn mul_plain_assign(
        &self,
        a: &mut Ciphertext,
        pt: &PlaintextOperand,
    ) -> Result<(), HeError> {
        self.check("plaintext product", a)?;
        if pt.level < a.level {
            return Err(HeError::LevelMismatch(pt.level, a.level));
        }
        let q = self.q(a.level).clone();
        for x in &mut a.polys {
            x.mul_assign(&pt.poly, &q);
        }
        Ok(())
    }

    /// `a · pt` (writes the products directly into the new ciphertext).
    pub fn mul_plain(&self, a: &Ciphertext, pt: &PlaintextOperand) -> Result<Ciphertext, HeError> {
        self.check("plaintext product", a)?;
        if pt.level < a.level {
            return Err(HeError::LevelMismatch(pt.level, a.level));
        }
        let q = self.q(a.level);
        Ok(Ciphertext {
            polys: a.polys.iter().map(|x| x.mul(&pt.poly, q)).collect(),
            level: a.level,
        })
    }

    /// `a · c` for an integer scalar (reduced modulo `t` to `(-t/2, t/2]` first).
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] / [`HeError::CiphertextSize`] for a malformed ciphertext.
    pub fn mul_integer_assign(&self, a: &mut Ciphertext, c: i64) -> Result<(), HeError> {
        self.check("integer product", a)?;
        let t = self.params.t();
        let c = t.center(t.reduce_i64(c));
        let q = self.q(a.level).clone();
        for x in &mut a.polys {
            x.mul_scalar_assign(c, &q);
        }
        Ok(())
    }

    /// `a · c`.
    ///
    /// # Errors
    /// As [`mul_integer_assign`](Self::mul_integer_assign).
    pub fn mul_integer(&self, a: &Ciphertext, c: i64) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.mul_integer_assign(&mut r, c)?;
        Ok(r)
    }

    /// Extends an NTT-form polynomial modulo `Q_ℓ` to `Q_ℓ ∪ R` in NTT form (exact lift).
    fn extend_to_qr(&self, x_ntt: &RnsPoly, level: usize) -> RnsPoly {
        let mc = &self.params.level(level).mult;
        let n = self.params.degree();
        let q = self.q(level);
        let mut coeff = x_ntt.clone();
        coeff.ntt_backward(q);
        // one buffer for the result: the NTT limbs of Q_ℓ, then those of R converted in place
        let ql = x_ntt.num_limbs();
        let limbs = ql + mc.r.len();
        let mut data = henn_ring::buffer_pool::take_zeroed(limbs * n);
        data[..ql * n].copy_from_slice(x_ntt.data());
        let r_part = &mut data[ql * n..];
        mc.q_to_r.convert_exact(coeff.data(), r_part);
        r_part
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(j, limb)| mc.r.ntt(j).forward(limb));
        RnsPoly::from_reduced(n, limbs, Form::Ntt, data)
            .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
    }

    /// Scale-and-round `t/Q_ℓ` of a coefficient-form polynomial modulo `Q_ℓ ∪ R`, result modulo
    /// `Q_ℓ` (coefficient form).
    fn scale_down(&self, d: &RnsPoly, level: usize) -> RnsPoly {
        let mc = &self.params.level(level).mult;
        let n = self.params.degree();
        let ql = level + 1;
        let q = self.q(level);
        // per coefficient: Σ_i ⌊x_i u_i / q_i⌋ + round(Σ_i frac_i)
        let extra: Vec<u64> = (0..n)
            .into_par_iter()
            .map(|c| {
                let mut s = 0u64;
                let mut f = 0.0f64;
                for i in 0..ql {
                    let (u, us) = mc.frac[i];
                    let (rem, quot) = q.modulus(i).mul_shoup_with_quotient(d.limb(i)[c], u, us);
                    s += quot;
                    f += rem as f64 * mc.inv_q[i];
                }
                // `f >= 0`: truncating `f + 1/2` rounds without a libm call.
                s + (f + 0.5) as u64
            })
            .collect();
        let mut out_r = henn_ring::buffer_pool::take_zeroed(mc.r.len() * n);
        out_r.par_chunks_mut(n).enumerate().for_each(|(j, out)| {
            let rj = mc.r.modulus(j);
            let w = &mc.omega[j];
            let tq = mc.t_q_inv[j];
            let xr = d.limb(ql + j);
            for (c, o) in out.iter_mut().enumerate() {
                let mut acc = xr[c] as u128 * tq as u128 + extra[c] as u128;
                for (i, &wi) in w.iter().enumerate() {
                    acc += d.limb(i)[c] as u128 * wi as u128;
                }
                *o = rj.reduce_u128(acc);
            }
        });
        let mut out_q = henn_ring::buffer_pool::take_zeroed(ql * n);
        mc.r_to_q.convert_exact(&out_r, &mut out_q);
        henn_ring::buffer_pool::give(out_r);
        RnsPoly::from_reduced(n, ql, Form::Coefficient, out_q)
            .unwrap_or_else(|_| RnsPoly::zero(n, ql, Form::Coefficient))
    }

    /// `a · b` relinearized (HPS19 tensor + hybrid key switching).
    pub fn multiply(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinearizationKey,
    ) -> Result<Ciphertext, HeError> {
        self.check_pair(a, b)?;
        if a.polys.len() != 2 || b.polys.len() != 2 {
            return Err(HeError::InvalidCiphertext(
                "multiply expects relinearized ciphertexts".into(),
            ));
        }
        let level = a.level;
        let mc = &self.params.level(level).mult;
        let qr = &mc.qr;
        let same = std::ptr::eq(a, b) || a == b;
        let ea: Vec<RnsPoly> = a
            .polys
            .par_iter()
            .map(|p| self.extend_to_qr(p, level))
            .collect();
        let eb_owned: Vec<RnsPoly> = if same {
            Vec::new()
        } else {
            b.polys
                .par_iter()
                .map(|p| self.extend_to_qr(p, level))
                .collect()
        };
        let eb: &[RnsPoly] = if same { &ea } else { &eb_owned };
        let d0 = ea[0].mul(&eb[0], qr);
        let mut d1 = ea[0].mul(&eb[1], qr);
        if same {
            d1.mul_scalar_assign(2, qr);
        } else {
            d1.mul_accumulate(&ea[1], &eb[0], qr);
        }
        let d2 = ea[1].mul(&eb[1], qr);
        let mut ds = [d0, d1, d2];
        ds.par_iter_mut().for_each(|d| d.ntt_backward(qr));
        let mut scaled: Vec<RnsPoly> = ds.par_iter().map(|d| self.scale_down(d, level)).collect();
        let c2 = scaled
            .pop()
            .unwrap_or_else(|| RnsPoly::zero(1, 1, Form::Coefficient));
        let q = self.q(level);
        scaled.par_iter_mut().for_each(|p| p.ntt_forward(q));
        let c1 = scaled
            .pop()
            .unwrap_or_else(|| RnsPoly::zero(1, 1, Form::Coefficient));
        let c0 = scaled
            .pop()
            .unwrap_or_else(|| RnsPoly::zero(1, 1, Form::Coefficient));
        Ok(rlwe::automorphism::relinearize_with_coeff(
            self.params.rlwe(),
            c0,
            c1,
            &c2,
            level,
            rlk,
        ))
    }

    /// `a²` relinearized (saves the extension of the second operand).
    pub fn square(&self, a: &Ciphertext, rlk: &RelinearizationKey) -> Result<Ciphertext, HeError> {
        self.multiply(a, a, rlk)
    }

    /// Rotates both rows of the slot matrix left by `step` (right if negative).
    pub fn rotate(
        &self,
        a: &Ciphertext,
        step: i64,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, HeError> {
        let g = column_rotation_element(step, self.params.degree());
        if g == 1 {
            return Ok(a.clone());
        }
        rlwe::automorphism::apply_galois(self.params.rlwe(), a, keys, g)
    }

    /// Swaps the two rows of the slot matrix.
    pub fn rotate_rows(&self, a: &Ciphertext, keys: &GaloisKeys) -> Result<Ciphertext, HeError> {
        rlwe::automorphism::apply_galois(
            self.params.rlwe(),
            a,
            keys,
            row_swap_element(self.params.degree()),
        )
    }

    /// Hoisted column rotations: one decomposition of `a`, then one inner product and ModDown
    /// per step. Returns the rotations in the order of `steps`.
    pub fn rotate_hoisted(
        &self,
        a: &Ciphertext,
        steps: &[i64],
        keys: &GaloisKeys,
    ) -> Result<Vec<Ciphertext>, HeError> {
        let n = self.params.degree();
        let elements: Vec<usize> = steps
            .iter()
            .map(|&s| column_rotation_element(s, n))
            .collect();
        for &g in &elements {
            if g != 1 {
                keys.get(g)?;
            }
        }
        let rl = self.params.rlwe();
        let d = rlwe::automorphism::hoist(rl, a)?;
        elements
            .iter()
            .map(|&g| {
                if g == 1 {
                    Ok(a.clone())
                } else {
                    rlwe::automorphism::apply_galois_decomposed(rl, a, &d, keys, g)
                }
            })
            .collect()
    }

    /// Modulus switching to the next level: `c ↦ round(c / q_ℓ)` modulo `Q_{ℓ-1}` (NTT form:
    /// only the last limb is inverse-transformed; the correction is transformed per limb).
    pub fn drop_level_assign(&self, a: &mut Ciphertext) -> Result<(), HeError> {
        self.check("modulus switching", a)?;
        if a.level == 0 {
            return Err(HeError::LevelMismatch(0, 0));
        }
        let level = a.level;
        let ctx = self.params.rlwe().level(level);
        let n = self.params.degree();
        let last = ctx.q.modulus(level);
        let half = last.value() >> 1;
        for poly in &mut a.polys {
            let mut x_last = poly.limb(level).to_vec();
            ctx.q.ntt(level).backward(&mut x_last);
            for x in x_last.iter_mut() {
                *x = last.add(*x, half);
            }
            poly.data_mut()[..level * n]
                .par_chunks_mut(n)
                .enumerate()
                .for_each(|(i, limb)| {
                    let op = ctx.q.ntt(i);
                    let m = op.modulus();
                    let half_i = m.reduce(half);
                    let mut corr: Vec<u64> =
                        x_last.iter().map(|&x| m.sub(m.reduce(x), half_i)).collect();
                    op.forward(&mut corr);
                    let w = ctx.q_last_inv[i];
                    let ws = m.shoup(w);
                    for (o, &c) in limb.iter_mut().zip(&corr) {
                        *o = m.mul_shoup(m.sub(*o, c), w, ws);
                    }
                });
            poly.truncate_limbs(level);
        }
        a.level -= 1;
        Ok(())
    }

    /// Drops one level (allocating).
    pub fn drop_level(&self, a: &Ciphertext) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.drop_level_assign(&mut r)?;
        Ok(r)
    }

    /// Modulus-switches `a` down until it is at `level` (the message is kept).
    ///
    /// # Errors
    /// [`HeError::LevelMismatch`] if `level` is above the ciphertext's level; malformed
    /// ciphertext.
    pub fn drop_to_level_assign(&self, a: &mut Ciphertext, level: usize) -> Result<(), HeError> {
        self.check("level drop", a)?;
        if level > a.level {
            return Err(HeError::LevelMismatch(level, a.level));
        }
        while a.level > level {
            self.drop_level_assign(a)?;
        }
        Ok(())
    }

    /// `a` modulus-switched down to `level` (allocating).
    ///
    /// # Errors
    /// As [`drop_to_level_assign`](Self::drop_to_level_assign).
    pub fn drop_to_level(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext, HeError> {
        let mut r = a.clone();
        self.drop_to_level_assign(&mut r, level)?;
        Ok(r)
    }

    /// Relinearizes a three-polynomial ciphertext.
    pub fn relinearize(
        &self,
        a: &Ciphertext,
        rlk: &RelinearizationKey,
    ) -> Result<Ciphertext, HeError> {
        rlwe::automorphism::relinearize(self.params.rlwe(), a, rlk)
    }
}
