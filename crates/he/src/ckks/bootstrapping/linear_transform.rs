//! Linear maps on the slot vector in diagonal form, evaluated homomorphically by the
//! baby-step giant-step algorithm with hoisted baby-step rotations and pre-encoded diagonals
//! (Halevi–Shoup, CRYPTO 2014 / 2018; Bossuat, Mouchet, Troncoso-Pastoriza, Hubaux,
//! EUROCRYPT 2021, §4 — *BMTH21*).
//!
//! A matrix `A` on `s` slots is `A·x = Σ_k d_k ⊙ rot_k(x)` with the diagonals
//! `d_k[j] = A[j][j + k mod s]` and `rot_k(x)[j] = x[j + k]` (a left rotation by `k`). Writing
//! `k = g + b` with `g` a multiple of the baby-step count `n_1` and `0 <= b < n_1`,
//!
//! `A·x = Σ_g rot_g( Σ_b rot_{-g}(d_{g+b}) ⊙ rot_b(x) )`,
//!
//! so the baby rotations `rot_b(x)` are shared by every giant step (and hoisted: one ModUp for
//! all of them), and only one rotation per giant step remains. The pre-rotated diagonals
//! `rot_{-g}(d_{g+b})` are encoded once, at the level where the transform is applied and at
//! scale `q_ℓ`, so the final rescale gives back the input's scale exactly.

use crate::ckks::{
    rotation_galois_element, Ciphertext, CkksParameters, Complex64, Encoder, Evaluator, Plaintext,
};
use crate::rlwe::{self, keyswitch, GaloisKeys};
use crate::HeError;
use henn_ring::{GaloisElement, RnsBasis, RnsPoly};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `acc += σ(x)` for `x`, `acc` in NTT form over `basis` (`σ(x)[j] = x[π(j)]` with `π` the
/// automorphism's NTT index permutation): the gather and the addition in one pass.
fn add_permuted(acc: &mut RnsPoly, x: &RnsPoly, galois: &GaloisElement, basis: &RnsBasis) {
    let n = acc.degree();
    let perm = galois.ntt_permutation();
    acc.data_mut()
        .par_chunks_mut(n)
        .zip(x.data().par_chunks(n))
        .enumerate()
        .for_each(|(i, (a, x))| {
            let m = basis.modulus(i);
            for (aj, &pj) in a.iter_mut().zip(perm) {
                *aj = m.add(*aj, x[pj as usize]);
            }
        });
}

/// A linear map on `slots` complex slots, stored by its non-zero diagonals.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearTransform {
    slots: usize,
    diagonals: BTreeMap<usize, Vec<Complex64>>,
}

fn rotated(v: &[Complex64], k: usize) -> Vec<Complex64> {
    let s = v.len();
    (0..s).map(|j| v[(j + k) % s]).collect()
}

impl LinearTransform {
    /// The zero map.
    pub fn zero(slots: usize) -> Self {
        Self {
            slots,
            diagonals: BTreeMap::new(),
        }
    }

    /// The identity.
    pub fn identity(slots: usize) -> Self {
        let mut t = Self::zero(slots);
        t.diagonals.insert(0, vec![Complex64::new(1.0, 0.0); slots]);
        t
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Adds `value` at position `(row, row + offset mod s)`.
    pub fn add_entry(&mut self, row: usize, offset: i64, value: Complex64) {
        let s = self.slots as i64;
        let k = offset.rem_euclid(s) as usize;
        let d = self
            .diagonals
            .entry(k)
            .or_insert_with(|| vec![Complex64::new(0.0, 0.0); self.slots]);
        d[row] += value;
    }

    /// The diagonals by offset (`0..slots`).
    pub fn diagonals(&self) -> &BTreeMap<usize, Vec<Complex64>> {
        &self.diagonals
    }

    /// `self ∘ first` (apply `first`, then `self`): diagonal `a + b` of the product collects
    /// `d_a ⊙ rot_a(e_b)`.
    pub fn compose(&self, first: &Self) -> Self {
        let mut out = Self::zero(self.slots);
        for (&a, da) in &self.diagonals {
            for (&b, eb) in &first.diagonals {
                let k = (a + b) % self.slots;
                let r = rotated(eb, a);
                let d = out
                    .diagonals
                    .entry(k)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); self.slots]);
                for ((o, x), y) in d.iter_mut().zip(da).zip(&r) {
                    *o += x * y;
                }
            }
        }
        out.diagonals
            .retain(|_, d| d.iter().any(|z| z.norm() > 1e-300));
        out
    }

    /// Multiplies the map by a constant.
    pub fn scaled(mut self, c: f64) -> Self {
        for d in self.diagonals.values_mut() {
            for z in d.iter_mut() {
                *z *= c;
            }
        }
        self
    }

    /// `A·x` in the clear.
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] unless `x` has `slots` values.
    pub fn apply(&self, x: &[Complex64]) -> Result<Vec<Complex64>, HeError> {
        if x.len() != self.slots {
            return Err(HeError::LengthMismatch {
                what: "linear transform input",
                expected: self.slots,
                got: x.len(),
            });
        }
        let mut y = vec![Complex64::new(0.0, 0.0); self.slots];
        for (&k, d) in &self.diagonals {
            for (j, o) in y.iter_mut().enumerate() {
                *o += d[j] * x[(j + k) % self.slots];
            }
        }
        Ok(y)
    }

    /// The baby-step count `n_1` (a power of two) minimising the number of key switches:
    /// hoisted baby rotations count half, giant rotations one (BMTH21 §4.3).
    pub fn best_baby_steps(&self) -> usize {
        let mut best = (f64::INFINITY, 1);
        let mut n1 = 1;
        while n1 <= self.slots {
            let (babies, giants) = self.split(n1);
            let cost = 0.5 * babies.len() as f64 + giants.len() as f64;
            if cost < best.0 {
                best = (cost, n1);
            }
            n1 *= 2;
        }
        best.1
    }

    /// The rotation amounts a BSGS evaluation with [`best_baby_steps`](Self::best_baby_steps)
    /// needs (non-zero baby and giant steps).
    pub fn rotations(&self) -> Vec<i64> {
        let (babies, giants) = self.split(self.best_baby_steps());
        let mut r: Vec<i64> = babies.iter().chain(&giants).map(|&k| k as i64).collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Non-zero baby and giant steps for `n_1`.
    fn split(&self, n1: usize) -> (Vec<usize>, Vec<usize>) {
        let mut babies: Vec<usize> = self
            .diagonals
            .keys()
            .map(|&k| k % n1)
            .filter(|&b| b != 0)
            .collect();
        let mut giants: Vec<usize> = self
            .diagonals
            .keys()
            .map(|&k| k - k % n1)
            .filter(|&g| g != 0)
            .collect();
        babies.sort_unstable();
        babies.dedup();
        giants.sort_unstable();
        giants.dedup();
        (babies, giants)
    }
}

/// A [`LinearTransform`] with its pre-rotated diagonals encoded at one level (scale `q_ℓ`),
/// ready for [`evaluate`](Self::evaluate).
#[derive(Clone, Debug)]
pub struct EncodedLinearTransform {
    params: Arc<CkksParameters>,
    level: usize,
    /// Non-zero baby steps (rotation amounts).
    babies: Vec<usize>,
    /// For each giant step `g`: the `(b, rot_{-g}(d_{g+b}))` with `b` indexing `0 ∪ babies`.
    giants: Vec<(usize, Vec<(usize, Plaintext)>)>,
}

impl EncodedLinearTransform {
    /// Encodes `transform` at `level` with the baby-step count of
    /// [`LinearTransform::best_baby_steps`].
    ///
    /// # Errors
    /// Encoding errors; [`HeError::InvalidSlots`] unless the transform has the parameters'
    /// slot count; [`HeError::LevelTooLow`] at level 0 (a rescale follows).
    pub fn new(
        params: &Arc<CkksParameters>,
        transform: &LinearTransform,
        level: usize,
    ) -> Result<Self, HeError> {
        let slots = params.slots();
        if transform.slots() != slots {
            return Err(HeError::InvalidSlots {
                slots: transform.slots(),
                max_slots: slots,
            });
        }
        if level == 0 {
            return Err(HeError::LevelTooLow {
                operation: "linear transform",
                needed: 1,
                level,
            });
        }
        let n1 = transform.best_baby_steps();
        let (babies, _) = transform.split(n1);
        let encoder = Encoder::new(params);
        let scale = params.q_moduli()[level] as f64;
        let mut by_giant: BTreeMap<usize, Vec<(usize, Plaintext)>> = BTreeMap::new();
        for (&k, d) in transform.diagonals() {
            let (g, b) = (k - k % n1, k % n1);
            // rot_{-g}(d)[j] = d[j - g]
            let pre = rotated(d, (slots - g) % slots);
            let pt = encoder.encode(&pre, level, scale)?;
            by_giant.entry(g).or_default().push((b, pt));
        }
        Ok(Self {
            params: params.clone(),
            level,
            babies,
            giants: by_giant.into_iter().collect(),
        })
    }

    /// The level the input must be at (the output is one level lower).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Every rotation amount the evaluation needs a Galois key for.
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = self.babies.iter().map(|&b| b as i64).collect();
        r.extend(
            self.giants
                .iter()
                .map(|(g, _)| *g as i64)
                .filter(|&g| g != 0),
        );
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Number of encoded diagonals.
    pub fn diagonal_count(&self) -> usize {
        self.giants.iter().map(|(_, d)| d.len()).sum()
    }

    /// Bytes held by the encoded diagonals.
    pub fn byte_size(&self) -> usize {
        self.giants
            .iter()
            .flat_map(|(_, d)| d.iter())
            .map(|(_, pt)| pt.poly().data().len() * 8)
            .sum()
    }

    /// `A·ct` then one rescale, with the giant steps accumulated in the extended basis `QP`
    /// (BMTH21 §4, Algorithm 6 "double hoisting", giant-step half): the baby rotations share
    /// one hoisted decomposition; for each giant step `g` the partial sum
    /// `Σ_b rot_{-g}(d_{g+b}) ⊙ rot_b(x)` is decomposed and multiplied with the key of `g`,
    /// and the products are permuted by `σ_g` and summed modulo `Q_ℓ·P` *before* any ModDown,
    /// so the whole transform ends with one ModDown per polynomial instead of two per giant
    /// step (`ModDown` commutes with `σ_g`, and `ModDown(P·c_0 + x) = c_0 + ModDown(x)`, so the
    /// rotated `c_0` terms are summed modulo `Q_ℓ` and added during that ModDown). The single
    /// rounding by `P` also adds one rounding error instead of one per giant step. The input
    /// is dropped to the transform's level if above it.
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] for an input below the transform's level; missing Galois
    /// keys; malformed ciphertexts.
    pub fn evaluate(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, HeError> {
        let ct = self.input(eval, ct)?;
        let steps: Vec<i64> = self.babies.iter().map(|&b| b as i64).collect();
        let rotated = eval.rotate_hoisted(&ct, &steps, keys)?;
        let baby = |b: usize| -> &Ciphertext {
            if b == 0 {
                &ct
            } else {
                let i = self.babies.binary_search(&b).unwrap_or(0);
                &rotated[i]
            }
        };
        let rlwe = self.params.rlwe();
        let level = self.level;
        let context = rlwe.level(level);
        let n = self.params.degree();
        // the g = 0 partial sum (no rotation), and the lazy giant-step sums:
        // Σ σ_g(c_0) modulo Q_ℓ, Σ σ_g(x_0) and Σ σ_g(x_1) modulo Q_ℓ·P
        let mut unrotated: Option<Ciphertext> = None;
        let mut lazy: Option<[RnsPoly; 3]> = None;
        for (g, terms) in &self.giants {
            let Some(acc) = self.partial_sum(terms, &baby)? else {
                continue;
            };
            if *g == 0 {
                unrotated = Some(acc);
                continue;
            }
            let element = rotation_galois_element(n, *g as i64)? as usize;
            let (galois, key) = keys.get(element)?;
            let polys = acc.rlwe().polys();
            let mut c1 = polys[1].clone();
            c1.ntt_backward(&context.q);
            let decomposed = keyswitch::decompose(rlwe, &c1, &polys[1], level);
            drop(c1);
            let (x0, x1) = keyswitch::inner_product(rlwe, &decomposed, key);
            drop(decomposed);
            match lazy.as_mut() {
                None => {
                    lazy = Some([
                        polys[0].automorphism(galois, &context.q),
                        x0.automorphism(galois, &context.qp),
                        x1.automorphism(galois, &context.qp),
                    ])
                }
                Some([c0, y, z]) => {
                    add_permuted(c0, &polys[0], galois, &context.q);
                    add_permuted(y, &x0, galois, &context.qp);
                    add_permuted(z, &x1, galois, &context.qp);
                }
            }
        }
        let scale = ct.scale() * self.params.q_moduli()[level] as f64;
        let total = match (lazy, unrotated) {
            (None, Some(u)) => u,
            (None, None) => {
                eval.mul_real_with_scale(&ct, 0.0, self.params.q_moduli()[level] as f64)?
            }
            (Some([mut c0, y, z]), u) => {
                let mut c1_addend = None;
                if let Some(u) = &u {
                    let p = u.rlwe().polys();
                    c0.add_assign(&p[0], &context.q);
                    c1_addend = Some(&p[1]);
                }
                let add = |poly| keyswitch::ModDownAddend { poly, galois: None };
                let out0 = keyswitch::mod_down_add(rlwe, y, level, Some(add(&c0)));
                let out1 = keyswitch::mod_down_add(rlwe, z, level, c1_addend.map(add));
                let inner = rlwe::Ciphertext::from_polys(rlwe, vec![out0, out1], level)?;
                Ciphertext::from_rlwe(inner, scale)?
            }
        };
        eval.rescale(&total)
    }

    /// The input dropped to the transform's level.
    fn input(&self, eval: &Evaluator, ct: &Ciphertext) -> Result<Ciphertext, HeError> {
        if ct.level() < self.level {
            return Err(HeError::LevelTooLow {
                operation: "linear transform",
                needed: self.level,
                level: ct.level(),
            });
        }
        eval.drop_to_level(ct, self.level)
    }

    /// `Σ_b pt_b ⊙ baby(b)` over the terms of one giant step (`None` if there are none),
    /// limb-major: each output limb stays in cache while every term is accumulated into it,
    /// so the accumulator is written once instead of read and written once per diagonal (the
    /// products are memory-bound at `n = 2^16`).
    fn partial_sum<'a>(
        &self,
        terms: &[(usize, Plaintext)],
        baby: &dyn Fn(usize) -> &'a Ciphertext,
    ) -> Result<Option<Ciphertext>, HeError> {
        let Some((b0, pt0)) = terms.first() else {
            return Ok(None);
        };
        let first = baby(*b0);
        let level = self.level;
        let malformed = terms.iter().any(|(b, pt)| {
            let c = baby(*b);
            c.len() != 2 || c.level() != level || pt.level < level
        });
        if malformed {
            return Err(HeError::InvalidParameters(
                "linear transform: baby steps must be relinearized at the transform's level".into(),
            ));
        }
        let n = self.params.degree();
        let basis = self.params.rlwe().q_basis();
        let limbs = level + 1;
        let babies: Vec<&RnsPoly> = terms
            .iter()
            .flat_map(|(b, _)| baby(*b).rlwe().polys().iter().take(2))
            .collect();
        let mut polys = Vec::with_capacity(2);
        for k in 0..2 {
            let mut out = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
            out.par_chunks_mut(n).enumerate().for_each(|(j, o)| {
                o.fill(0);
                let ntt = basis.ntt(j);
                for (t, (_, pt)) in terms.iter().enumerate() {
                    ntt.mul_accumulate(o, babies[2 * t + k].limb(j), pt.poly().limb(j));
                }
            });
            let poly = RnsPoly::from_reduced(n, limbs, henn_ring::Form::Ntt, out)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, henn_ring::Form::Ntt));
            polys.push(poly);
        }
        let inner = rlwe::Ciphertext::from_polys(self.params.rlwe(), polys, level)?;
        Ok(Some(Ciphertext::from_rlwe(
            inner,
            first.scale() * pt0.scale(),
        )?))
    }

    /// The same product with every giant rotation a full key switch (two ModDowns per giant
    /// step, BMTH21 §4 single hoisting): the reference [`evaluate`](Self::evaluate) is checked
    /// and benchmarked against.
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate).
    pub fn evaluate_single_hoisted(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, HeError> {
        let ct = self.input(eval, ct)?;
        let steps: Vec<i64> = self.babies.iter().map(|&b| b as i64).collect();
        let rotated = eval.rotate_hoisted(&ct, &steps, keys)?;
        let baby = |b: usize| -> &Ciphertext {
            if b == 0 {
                &ct
            } else {
                let i = self.babies.binary_search(&b).unwrap_or(0);
                &rotated[i]
            }
        };
        let mut total: Option<Ciphertext> = None;
        for (g, terms) in &self.giants {
            let Some(mut acc) = self.partial_sum(terms, &baby)? else {
                continue;
            };
            if *g != 0 {
                acc = eval.rotate(&acc, *g as i64, keys)?;
            }
            match total.as_mut() {
                None => total = Some(acc),
                Some(t) => eval.add_assign(t, &acc)?,
            }
        }
        let total = match total {
            Some(t) => t,
            None => {
                eval.mul_real_with_scale(&ct, 0.0, self.params.q_moduli()[self.level] as f64)?
            }
        };
        eval.rescale(&total)
    }
}
