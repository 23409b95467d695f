//! Homomorphic operations on CKKS ciphertexts (CKKS17 §3.4–4; full-RNS rescaling of
//! CHKKS18 §3.3) on top of the RLWE layer's key switching.
//!
//! Every operation returns a new ciphertext (the `_assign` variants work in place) and tracks
//! the scale. The names and fallibility are those of [`crate::bfv::Evaluator`] for the same
//! operation (`add`/`sub`/`negate`/`add_plain`/`sub_plain`/`mul_plain`/`mul_integer` and their
//! `_assign` forms, `multiply`, `square`, `relinearize`, `rotate`, `rotate_hoisted`,
//! `drop_to_level`), all returning `Result`; `rescale` (divide by `q_ℓ`) has no BFV
//! counterpart, whose one-level step is modulus switching (`drop_level`).
//!
//! | operation | scale of the result | level of the result |
//! |---|---|---|
//! | `add`, `sub` (ct or pt) | equal scales required | lower of the two |
//! | `mul_plain`, `multiply`, `square` | product of the scales | lower of the two |
//! | `mul_integer` | unchanged | unchanged |
//! | `mul_real(c)` | `Δ·q_ℓ` (`c` encoded at scale `q_ℓ`, so `rescale` restores `Δ` exactly) | unchanged |
//! | `rescale` | `Δ / q_ℓ` | `ℓ - 1` |
//! | `drop_to_level` | unchanged | lower |
//! | rotations, conjugation | unchanged | unchanged |
//!
//! Error growth (canonical embedding, CKKS17 Lemmas 2–3): additions add errors; a product
//! `ct_1·ct_2` has error `m_1·e_2 + m_2·e_1 + e_1·e_2 + e_ks` where the key-switching error
//! `e_ks` of hybrid key switching is `≈ dnum·n·σ·q_digit/P + n` (Han–Ki 2020 §3); rescaling
//! divides the error by `q_ℓ` and adds a rounding error `≤ √(n/3)·(1 + 8√h)/2`-ish
//! (CKKS17 Lemma 2, `B_scale`). Rotations add `e_ks`. The tests check each operation against
//! the clear computation with explicit tolerances.

use super::ciphertext::Ciphertext;
use super::crt::reduce_f64;
use super::encoder::{conjugation_galois_element, rotation_galois_element};
use super::params::CkksParameters;
use super::plaintext::Plaintext;
use crate::rlwe::{self, automorphism, GaloisKeys, RelinearizationKey};
use crate::HeError;
use henn_ring::{Form, RnsPoly};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::Arc;

/// Relative tolerance when comparing scales: floating-point rounding of the scale
/// bookkeeping (products and quotients of primes taken in different orders) only.
const SCALE_TOLERANCE: f64 = 1e-12;

fn check_scales(operation: &'static str, left: f64, right: f64) -> Result<(), HeError> {
    if (left - right).abs() > SCALE_TOLERANCE * left.abs().max(right.abs()) {
        return Err(HeError::ScaleMismatch {
            operation,
            left,
            right,
        });
    }
    Ok(())
}

/// The Galois elements needed to rotate by each of `steps` (and to conjugate if asked), for
/// [`crate::rlwe::KeyGenerator::galois_keys`].
///
/// # Errors
/// [`HeError::InvalidDegree`] if the ring degree is unusable (never for built parameters).
pub fn galois_elements(
    params: &CkksParameters,
    steps: &[i64],
    conjugate: bool,
) -> Result<Vec<usize>, HeError> {
    let n = params.degree();
    let mut elements = steps
        .iter()
        .map(|&k| rotation_galois_element(n, k).map(|g| g as usize))
        .collect::<Result<Vec<_>, _>>()?;
    if conjugate {
        elements.push(conjugation_galois_element(n)? as usize);
    }
    elements.sort_unstable();
    elements.dedup();
    Ok(elements)
}

/// Evaluates CKKS operations for one parameter set.
#[derive(Clone, Debug)]
pub struct Evaluator {
    params: Arc<CkksParameters>,
}

impl Evaluator {
    /// An evaluator for `params`.
    pub fn new(params: &Arc<CkksParameters>) -> Self {
        Self {
            params: params.clone(),
        }
    }

    /// The parameters.
    pub(crate) fn params(&self) -> &Arc<CkksParameters> {
        &self.params
    }

    fn basis(&self) -> &henn_ring::RnsBasis {
        self.params.rlwe().q_basis()
    }

    fn check(&self, operation: &'static str, ct: &Ciphertext) -> Result<(), HeError> {
        self.params.check_level(ct.level())?;
        let n = self.params.degree();
        if let Some(poly) = ct.inner.polys.iter().find(|p| p.degree() != n) {
            return Err(HeError::LengthMismatch {
                what: "ciphertext ring degree",
                expected: n,
                got: poly.degree(),
            });
        }
        if !(2..=3).contains(&ct.len()) {
            return Err(HeError::CiphertextSize {
                operation,
                expected: 2,
                got: ct.len(),
            });
        }
        Ok(())
    }

    fn check_relinearized(&self, operation: &'static str, ct: &Ciphertext) -> Result<(), HeError> {
        self.check(operation, ct)?;
        if ct.len() != 2 {
            return Err(HeError::CiphertextSize {
                operation,
                expected: 2,
                got: ct.len(),
            });
        }
        Ok(())
    }

    /// Drops `ct` to `level` without rescaling (modulus dropping: the message and its scale
    /// are unchanged, the primes `q_{level+1}..q_ℓ` are discarded).
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] if `level` is above the ciphertext's level.
    pub fn drop_to_level(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext, HeError> {
        self.check("level drop", ct)?;
        if level > ct.level() {
            return Err(HeError::LevelTooLow {
                operation: "level drop",
                needed: level,
                level: ct.level(),
            });
        }
        // copy only the limbs kept (not the whole ciphertext, then truncate)
        let n = self.params.degree();
        let words = (level + 1) * n;
        let polys = ct
            .inner
            .polys
            .iter()
            .map(|p| {
                let mut data = henn_ring::buffer_pool::take_for_overwrite(words);
                data.copy_from_slice(&p.data()[..words]);
                // the length is right by construction
                RnsPoly::from_reduced(n, level + 1, p.form(), data)
                    .unwrap_or_else(|_| RnsPoly::zero(n, level + 1, p.form()))
            })
            .collect();
        Ok(Ciphertext {
            inner: rlwe::Ciphertext { polys, level },
            scale: ct.scale,
        })
    }

    /// Drops `ct` to `level` in place without rescaling (as [`drop_to_level`](Self::drop_to_level)).
    ///
    /// # Errors
    /// As [`drop_to_level`](Self::drop_to_level).
    pub fn drop_to_level_assign(&self, ct: &mut Ciphertext, level: usize) -> Result<(), HeError> {
        self.check("level drop", ct)?;
        if level > ct.level() {
            return Err(HeError::LevelTooLow {
                operation: "level drop",
                needed: level,
                level: ct.level(),
            });
        }
        for p in ct.inner.polys.iter_mut() {
            p.truncate_limbs(level + 1);
        }
        ct.inner.level = level;
        Ok(())
    }

    /// Both operands at the lower of their levels (borrowed when already there).
    fn aligned<'a>(
        &self,
        a: &'a Ciphertext,
        b: &'a Ciphertext,
    ) -> Result<(Cow<'a, Ciphertext>, Cow<'a, Ciphertext>), HeError> {
        let level = a.level().min(b.level());
        let at = |c: &'a Ciphertext| -> Result<Cow<'a, Ciphertext>, HeError> {
            if c.level() == level {
                Ok(Cow::Borrowed(c))
            } else {
                Ok(Cow::Owned(self.drop_to_level(c, level)?))
            }
        };
        Ok((at(a)?, at(b)?))
    }

    fn add_sub(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        subtract: bool,
    ) -> Result<Ciphertext, HeError> {
        let operation = if subtract { "subtraction" } else { "addition" };
        self.check(operation, a)?;
        self.check(operation, b)?;
        check_scales(operation, a.scale, b.scale)?;
        let (a, b) = self.aligned(a, b)?;
        let mut a = a.into_owned();
        let basis = self.basis().clone();
        for (i, pb) in b.inner.polys.iter().enumerate() {
            if i < a.inner.polys.len() {
                if subtract {
                    a.inner.polys[i].sub_assign(pb, &basis);
                } else {
                    a.inner.polys[i].add_assign(pb, &basis);
                }
            } else {
                let mut extra = pb.clone();
                if subtract {
                    extra.neg_assign(&basis);
                }
                a.inner.polys.push(extra);
            }
        }
        Ok(a)
    }

    /// `a + b` (CKKS17 §3.4 `Add`). Scales must agree; the result is at the lower level.
    ///
    /// # Errors
    /// [`HeError::ScaleMismatch`]; malformed ciphertexts.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.add_sub(a, b, false)
    }

    /// `a - b`. Scales must agree.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.add_sub(a, b, true)
    }

    /// `-a`.
    ///
    /// # Errors
    /// Malformed ciphertext.
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext, HeError> {
        let mut out = a.clone();
        self.negate_assign(&mut out)?;
        Ok(out)
    }

    /// `a = -a` in place.
    ///
    /// # Errors
    /// As [`negate`](Self::negate).
    pub fn negate_assign(&self, a: &mut Ciphertext) -> Result<(), HeError> {
        self.check("negation", a)?;
        for poly in a.inner.polys.iter_mut() {
            poly.neg_assign(self.basis());
        }
        Ok(())
    }

    fn plain_at_level(&self, pt: &Plaintext, level: usize) -> Result<RnsPoly, HeError> {
        if pt.level < level {
            return Err(HeError::LevelTooLow {
                operation: "plaintext operand",
                needed: level,
                level: pt.level,
            });
        }
        let mut poly = pt.poly.clone();
        poly.truncate_limbs(level + 1);
        Ok(poly)
    }

    /// `ct + pt`. Scales must agree; a plaintext above the ciphertext's level is used modulo
    /// the ciphertext's primes, a lower one drops the ciphertext.
    ///
    /// # Errors
    /// [`HeError::ScaleMismatch`]; malformed operands.
    pub fn add_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        self.check("plaintext addition", ct)?;
        check_scales("plaintext addition", ct.scale, pt.scale)?;
        let mut out = self.drop_to_level(ct, ct.level().min(pt.level))?;
        let poly = self.plain_at_level(pt, out.level())?;
        out.inner.polys[0].add_assign(&poly, self.basis());
        Ok(out)
    }

    /// `ct - pt`. Scales must agree.
    ///
    /// # Errors
    /// As [`add_plain`](Self::add_plain).
    pub fn sub_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        self.check("plaintext subtraction", ct)?;
        check_scales("plaintext subtraction", ct.scale, pt.scale)?;
        let mut out = self.drop_to_level(ct, ct.level().min(pt.level))?;
        let poly = self.plain_at_level(pt, out.level())?;
        out.inner.polys[0].sub_assign(&poly, self.basis());
        Ok(out)
    }

    /// `ct += pt` in place (as [`add_plain`](Self::add_plain): a plaintext below the
    /// ciphertext's level drops the ciphertext to it).
    ///
    /// # Errors
    /// As [`add_plain`](Self::add_plain).
    pub fn add_plain_assign(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<(), HeError> {
        *ct = self.add_plain(ct, pt)?;
        Ok(())
    }

    /// `ct -= pt` in place.
    ///
    /// # Errors
    /// As [`sub_plain`](Self::sub_plain).
    pub fn sub_plain_assign(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<(), HeError> {
        *ct = self.sub_plain(ct, pt)?;
        Ok(())
    }

    /// `ct ·= pt` in place (as [`mul_plain`](Self::mul_plain)).
    ///
    /// # Errors
    /// As [`mul_plain`](Self::mul_plain).
    pub fn mul_plain_assign(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<(), HeError> {
        *ct = self.mul_plain(ct, pt)?;
        Ok(())
    }

    /// `ct · pt` (slotwise product); the scale becomes `Δ_ct·Δ_pt` (rescale afterwards).
    ///
    /// # Errors
    /// Malformed operands.
    pub fn mul_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        self.check("plaintext product", ct)?;
        let level = ct.level().min(pt.level);
        let (n, limbs) = (self.params.degree(), level + 1);
        let basis = self.basis();
        let plain = &pt.poly.data()[..limbs * n];
        // One output allocation; neither operand is copied.
        let polys = ct
            .inner
            .polys
            .iter()
            .map(|c| {
                // every word is written (each limb cleared in cache by `mul_into`)
                let mut o = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
                o.par_chunks_mut(n)
                    .zip(c.data()[..limbs * n].par_chunks(n))
                    .zip(plain.par_chunks(n))
                    .enumerate()
                    .for_each(|(j, ((o, x), y))| basis.ntt(j).mul_into(o, x, y));
                RnsPoly::from_reduced(n, limbs, Form::Ntt, o)
                    .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
            })
            .collect();
        Ok(Ciphertext {
            inner: rlwe::Ciphertext { polys, level },
            scale: ct.scale * pt.scale,
        })
    }

    /// `acc += ct · pt` in place (the fused multiply-accumulate of diagonal matrix-vector
    /// products: no temporary ciphertext, the plaintext read at the ciphertext's level without
    /// a copy). `acc` and `ct` must be at the same level with the same number of polynomials,
    /// `pt` at that level or above, and `acc`'s scale must equal `Δ_ct·Δ_pt`.
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] on a level mismatch, [`HeError::CiphertextSize`],
    /// [`HeError::ScaleMismatch`]; malformed operands.
    pub fn mul_plain_accumulate(
        &self,
        acc: &mut Ciphertext,
        ct: &Ciphertext,
        pt: &Plaintext,
    ) -> Result<(), HeError> {
        const OP: &str = "plaintext multiply-accumulate";
        self.check(OP, acc)?;
        self.check(OP, ct)?;
        let level = ct.level();
        if acc.level() != level || pt.level < level {
            return Err(HeError::LevelTooLow {
                operation: OP,
                needed: level.max(acc.level()),
                level: acc.level().min(pt.level),
            });
        }
        if acc.len() != ct.len() {
            return Err(HeError::CiphertextSize {
                operation: OP,
                expected: ct.len(),
                got: acc.len(),
            });
        }
        check_scales(OP, acc.scale, ct.scale * pt.scale)?;
        let basis = self.basis();
        let n = self.params.degree();
        let limbs = level + 1;
        let plain = &pt.poly.data()[..limbs * n];
        for (a, c) in acc.inner.polys.iter_mut().zip(&ct.inner.polys) {
            a.data_mut()[..limbs * n]
                .par_chunks_mut(n)
                .zip(c.data()[..limbs * n].par_chunks(n))
                .zip(plain.par_chunks(n))
                .enumerate()
                .for_each(|(j, ((o, x), y))| basis.ntt(j).mul_accumulate(o, x, y));
        }
        Ok(())
    }

    /// `acc += b` in place; `b` must be at `acc`'s level with an agreeing scale (a third
    /// polynomial of `b` is appended).
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] on a level mismatch, [`HeError::ScaleMismatch`];
    /// malformed operands.
    pub fn add_assign(&self, acc: &mut Ciphertext, b: &Ciphertext) -> Result<(), HeError> {
        self.add_sub_assign(acc, b, false)
    }

    /// `acc -= b` in place; as [`add_assign`](Self::add_assign) (a third polynomial of `b`
    /// is appended negated).
    ///
    /// # Errors
    /// As [`add_assign`](Self::add_assign).
    pub fn sub_assign(&self, acc: &mut Ciphertext, b: &Ciphertext) -> Result<(), HeError> {
        self.add_sub_assign(acc, b, true)
    }

    fn add_sub_assign(
        &self,
        acc: &mut Ciphertext,
        b: &Ciphertext,
        subtract: bool,
    ) -> Result<(), HeError> {
        let op = if subtract { "subtraction" } else { "addition" };
        self.check(op, acc)?;
        self.check(op, b)?;
        check_scales(op, acc.scale, b.scale)?;
        if acc.level() != b.level() {
            return Err(HeError::LevelTooLow {
                operation: op,
                needed: acc.level().max(b.level()),
                level: acc.level().min(b.level()),
            });
        }
        let basis = self.basis();
        for (i, pb) in b.inner.polys.iter().enumerate() {
            match (acc.inner.polys.get_mut(i), subtract) {
                (Some(pa), false) => pa.add_assign(pb, basis),
                (Some(pa), true) => pa.sub_assign(pb, basis),
                (None, false) => acc.inner.polys.push(pb.clone()),
                (None, true) => {
                    let mut extra = pb.clone();
                    extra.neg_assign(basis);
                    acc.inner.polys.push(extra);
                }
            }
        }
        Ok(())
    }

    /// `ct · c` for an integer `c` (exact; the scale is unchanged).
    ///
    /// # Errors
    /// Malformed ciphertext.
    pub fn mul_integer(&self, ct: &Ciphertext, c: i64) -> Result<Ciphertext, HeError> {
        let mut out = ct.clone();
        self.mul_integer_assign(&mut out, c)?;
        Ok(out)
    }

    /// `ct ·= c` in place for an integer `c`.
    ///
    /// # Errors
    /// As [`mul_integer`](Self::mul_integer).
    pub fn mul_integer_assign(&self, ct: &mut Ciphertext, c: i64) -> Result<(), HeError> {
        self.check("integer product", ct)?;
        for poly in ct.inner.polys.iter_mut() {
            poly.mul_scalar_assign(c, self.basis());
        }
        Ok(())
    }

    /// `ct · c` for a real `c`, encoded as the integer `round(c·scale)`; the result has scale
    /// `Δ_ct·scale`.
    ///
    /// # Errors
    /// [`HeError::InvalidConstant`] if `c·scale` is not finite; malformed ciphertext.
    pub fn mul_real_with_scale(
        &self,
        ct: &Ciphertext,
        c: f64,
        scale: f64,
    ) -> Result<Ciphertext, HeError> {
        self.check("real product", ct)?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(HeError::InvalidScale { scale });
        }
        let scaled = (c * scale).round();
        if !scaled.is_finite() {
            return Err(HeError::InvalidConstant {
                value: c,
                reason: "not finite after scaling",
            });
        }
        let basis = self.basis();
        let constants: Vec<u64> = (0..=ct.level())
            .map(|i| reduce_f64(scaled, basis.modulus(i).value()))
            .collect();
        let mut out = ct.clone();
        for poly in out.inner.polys.iter_mut() {
            poly.mul_limb_constants_assign(&constants, basis);
        }
        out.scale = ct.scale * scale;
        Ok(out)
    }

    /// `ct · c` for a real `c`, encoded at scale `q_ℓ` (the last prime of the ciphertext), so
    /// that a following [`rescale`](Self::rescale) gives back exactly the scale of `ct`
    /// (Lattigo's constant-multiplication convention). At level 0 the scale is the default `Δ`.
    ///
    /// # Errors
    /// As [`mul_real_with_scale`](Self::mul_real_with_scale).
    pub fn mul_real(&self, ct: &Ciphertext, c: f64) -> Result<Ciphertext, HeError> {
        self.check("real product", ct)?;
        let scale = if ct.level() == 0 {
            self.params.default_scale()
        } else {
            self.basis().modulus(ct.level()).value() as f64
        };
        self.mul_real_with_scale(ct, c, scale)
    }

    /// `ct + c` for a real `c` (added to every slot at the ciphertext's scale).
    ///
    /// # Errors
    /// [`HeError::InvalidConstant`] if `c·Δ` is not finite; malformed ciphertext.
    pub fn add_real(&self, ct: &Ciphertext, c: f64) -> Result<Ciphertext, HeError> {
        self.check("real addition", ct)?;
        let scaled = (c * ct.scale).round();
        if !scaled.is_finite() {
            return Err(HeError::InvalidConstant {
                value: c,
                reason: "not finite after scaling",
            });
        }
        // The constant polynomial `round(cΔ)` has every NTT evaluation equal to itself.
        let basis = self.basis();
        let mut out = ct.clone();
        let n = self.params.degree();
        out.inner.polys[0]
            .data_mut()
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, limb)| {
                let m = basis.modulus(i);
                let r = reduce_f64(scaled, m.value());
                for x in limb.iter_mut() {
                    *x = m.add(*x, r);
                }
            });
        Ok(out)
    }

    /// The tensor product `(a_0 b_0, a_0 b_1 + a_1 b_0, a_1 b_1)` (CKKS17 §3.4 `Mult` before
    /// relinearization); the scale is `Δ_a·Δ_b`.
    ///
    /// # Errors
    /// [`HeError::CiphertextSize`] unless both operands have two polynomials.
    pub fn mul_without_relinearization(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
    ) -> Result<Ciphertext, HeError> {
        self.check_relinearized("ciphertext product", a)?;
        self.check_relinearized("ciphertext product", b)?;
        Ok(self.tensor_at(a, b, a.level().min(b.level())))
    }

    /// The tensor product of two relinearized ciphertexts at `level` (at most both levels),
    /// reading the operands' first `level + 1` limbs in place (no level-drop copies) and
    /// writing the three products limb by limb into fresh buffers (no zero fill, no operand
    /// copy); a square takes `2·a_0·a_1` by a doubling instead of a second product.
    pub(crate) fn tensor_at(&self, a: &Ciphertext, b: &Ciphertext, level: usize) -> Ciphertext {
        let basis = self.basis();
        let n = self.params.degree();
        let limbs = level + 1;
        let (a0, a1) = (&a.inner.polys[0], &a.inner.polys[1]);
        let (b0, b1) = (&b.inner.polys[0], &b.inner.polys[1]);
        let square = std::ptr::eq(a, b);
        let mut d0 = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        let mut d1 = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        let mut d2 = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        d0.par_chunks_mut(n)
            .zip(d1.par_chunks_mut(n))
            .zip(d2.par_chunks_mut(n))
            .enumerate()
            .for_each(|(j, ((o0, o1), o2))| {
                let ntt = basis.ntt(j);
                ntt.mul_into(o0, a0.limb(j), b0.limb(j));
                ntt.mul_into(o1, a0.limb(j), b1.limb(j));
                if square {
                    let m = ntt.modulus();
                    for x in o1.iter_mut() {
                        *x = m.add(*x, *x);
                    }
                } else {
                    ntt.mul_accumulate(o1, a1.limb(j), b0.limb(j));
                }
                ntt.mul_into(o2, a1.limb(j), b1.limb(j));
            });
        // the lengths are right by construction
        let wrap = |d| {
            RnsPoly::from_reduced(n, limbs, Form::Ntt, d)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
        };
        Ciphertext {
            inner: rlwe::Ciphertext {
                polys: vec![wrap(d0), wrap(d1), wrap(d2)],
                level,
            },
            scale: a.scale * b.scale,
        }
    }

    /// Relinearizes a three-polynomial ciphertext with the relinearization key (hybrid key
    /// switching of `c_2` from `s²` to `s`).
    ///
    /// # Errors
    /// Malformed ciphertext.
    pub fn relinearize(
        &self,
        ct: &Ciphertext,
        rlk: &RelinearizationKey,
    ) -> Result<Ciphertext, HeError> {
        self.check("relinearization", ct)?;
        let inner = automorphism::relinearize(self.params.rlwe(), &ct.inner, rlk)?;
        Ok(Ciphertext {
            inner,
            scale: ct.scale,
        })
    }

    /// `a · b` relinearized (CKKS17 §3.4 `Mult`); the scale is `Δ_a·Δ_b` — follow with
    /// [`rescale`](Self::rescale).
    ///
    /// # Errors
    /// As [`mul_without_relinearization`](Self::mul_without_relinearization).
    pub fn multiply(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinearizationKey,
    ) -> Result<Ciphertext, HeError> {
        let product = self.mul_without_relinearization(a, b)?;
        self.relinearize(&product, rlk)
    }

    /// `a²` relinearized.
    ///
    /// # Errors
    /// As [`multiply`](Self::multiply).
    pub fn square(&self, a: &Ciphertext, rlk: &RelinearizationKey) -> Result<Ciphertext, HeError> {
        self.multiply(a, a, rlk)
    }

    /// Rescaling (CKKS17 §3.4 `RS`, full-RNS form of CHKKS18 §3.3): divides the ciphertext by
    /// its last prime `q_ℓ` with rounding and drops that prime; the scale becomes `Δ / q_ℓ`.
    ///
    /// In NTT form: the last limb is brought to coefficients, offset by `⌊q_ℓ/2⌋` (so the
    /// division rounds instead of flooring), reduced into every other prime, transformed, and
    /// `c_i ← (c_i − [c + ⌊q_ℓ/2⌋]_{q_ℓ} + ⌊q_ℓ/2⌋)·q_ℓ^{-1} mod q_i` (Lattigo's
    /// `DivRoundByLastModulusNTT`).
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] at level 0.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        self.check("rescale", ct)?;
        let level = ct.level();
        if level == 0 {
            return Err(HeError::LevelTooLow {
                operation: "rescale",
                needed: 1,
                level,
            });
        }
        let rlwe_params = self.params.rlwe();
        let context = rlwe_params.level(level);
        let basis = &context.q;
        let n = self.params.degree();
        let last = basis.modulus(level);
        let q_last = last.value();
        let half = q_last >> 1;
        // The output limbs are written straight into fresh buffers (the input is not copied
        // first), with pooled scratch limbs.
        let polys = ct
            .inner
            .polys
            .iter()
            .map(|poly| {
                let mut top = henn_ring::buffer_pool::take_for_overwrite(n);
                top.copy_from_slice(poly.limb(level));
                basis.ntt(level).backward(&mut top);
                for x in top.iter_mut() {
                    *x = last.add(*x, half);
                }
                let mut data = henn_ring::buffer_pool::take_for_overwrite(level * n);
                data.par_chunks_mut(n)
                    .zip(poly.data()[..level * n].par_chunks(n))
                    .enumerate()
                    .for_each(|(i, (out, limb))| {
                        let m = basis.modulus(i);
                        let half_i = m.reduce(half);
                        let mut t = henn_ring::buffer_pool::take_for_overwrite(n);
                        for (t, &x) in t.iter_mut().zip(&top) {
                            *t = m.sub(m.reduce(x), half_i);
                        }
                        basis.ntt(i).forward(&mut t);
                        let w = context.q_last_inv[i];
                        let ws = m.shoup(w);
                        for ((o, &a), &b) in out.iter_mut().zip(limb).zip(&t) {
                            *o = m.mul_shoup(m.sub(a, b), w, ws);
                        }
                        henn_ring::buffer_pool::give(t);
                    });
                henn_ring::buffer_pool::give(top);
                // the length is right by construction
                RnsPoly::from_reduced(n, level, Form::Ntt, data)
                    .unwrap_or_else(|_| RnsPoly::zero(n, level, Form::Ntt))
            })
            .collect();
        Ok(Ciphertext {
            inner: rlwe::Ciphertext {
                polys,
                level: level - 1,
            },
            scale: ct.scale / q_last as f64,
        })
    }

    /// `a · b`, relinearized and rescaled: the usual multiplication step.
    ///
    /// # Errors
    /// As [`multiply`](Self::multiply) and [`rescale`](Self::rescale).
    pub fn mul_and_rescale(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinearizationKey,
    ) -> Result<Ciphertext, HeError> {
        let product = self.multiply(a, b, rlk)?;
        self.rescale(&product)
    }

    /// Rotates the slots left by `steps` (slot `j` receives slot `j + steps`; negative steps
    /// rotate right) with the automorphism `X → X^{5^steps}` and key switching (CKKS17 §4.2).
    ///
    /// # Errors
    /// [`HeError::MissingGaloisKey`] if `keys` lacks the element (see
    /// [`galois_elements`]); [`HeError::CiphertextSize`] before relinearization.
    pub fn rotate(
        &self,
        ct: &Ciphertext,
        steps: i64,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, HeError> {
        self.check_relinearized("rotation", ct)?;
        let k = rotation_galois_element(self.params.degree(), steps)? as usize;
        let inner = automorphism::apply_galois(self.params.rlwe(), &ct.inner, keys, k)?;
        Ok(Ciphertext {
            inner,
            scale: ct.scale,
        })
    }

    /// Rotations of one ciphertext by each of `steps`, sharing one decomposition of `c_1`
    /// (hoisting: Halevi–Shoup 2018 §5, Bossuat et al. 2021 §4.2): one ModUp for all
    /// rotations instead of one each.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn rotate_hoisted(
        &self,
        ct: &Ciphertext,
        steps: &[i64],
        keys: &GaloisKeys,
    ) -> Result<Vec<Ciphertext>, HeError> {
        self.check_relinearized("rotation", ct)?;
        let n = self.params.degree();
        let elements = steps
            .iter()
            .map(|&s| rotation_galois_element(n, s).map(|g| g as usize))
            .collect::<Result<Vec<_>, _>>()?;
        let rotated =
            automorphism::apply_galois_hoisted(self.params.rlwe(), &ct.inner, keys, &elements)?;
        Ok(rotated
            .into_iter()
            .map(|inner| Ciphertext {
                inner,
                scale: ct.scale,
            })
            .collect())
    }

    /// Complex conjugation of every slot (`X → X^{-1}`, CKKS17 §4.2).
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn conjugate(&self, ct: &Ciphertext, keys: &GaloisKeys) -> Result<Ciphertext, HeError> {
        self.check_relinearized("conjugation", ct)?;
        let k = conjugation_galois_element(self.params.degree())? as usize;
        let inner = automorphism::apply_galois(self.params.rlwe(), &ct.inner, keys, k)?;
        Ok(Ciphertext {
            inner,
            scale: ct.scale,
        })
    }
}
