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
    Ciphertext, CkksError, CkksParameters, Complex64, Encoder, Evaluator, Plaintext,
};
use crate::rlwe::GaloisKeys;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// [`CkksError::LengthMismatch`] unless `x` has `slots` values.
    pub fn apply(&self, x: &[Complex64]) -> Result<Vec<Complex64>, CkksError> {
        if x.len() != self.slots {
            return Err(CkksError::LengthMismatch {
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
    /// Encoding errors; [`CkksError::InvalidSlots`] unless the transform has the parameters'
    /// slot count; [`CkksError::LevelTooLow`] at level 0 (a rescale follows).
    pub fn new(
        params: &Arc<CkksParameters>,
        transform: &LinearTransform,
        level: usize,
    ) -> Result<Self, CkksError> {
        let slots = params.slots();
        if transform.slots() != slots {
            return Err(CkksError::InvalidSlots {
                slots: transform.slots(),
                max_slots: slots,
            });
        }
        if level == 0 {
            return Err(CkksError::LevelTooLow {
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

    /// `A·ct` then one rescale: BSGS with the baby rotations hoisted (one ModUp) and the giant
    /// rotations applied to the unrescaled partial sums. The input is dropped to the
    /// transform's level if above it.
    ///
    /// # Errors
    /// [`CkksError::LevelTooLow`] for an input below the transform's level; missing Galois
    /// keys; malformed ciphertexts.
    pub fn evaluate(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, CkksError> {
        if ct.level() < self.level {
            return Err(CkksError::LevelTooLow {
                operation: "linear transform",
                needed: self.level,
                level: ct.level(),
            });
        }
        let ct = eval.drop_to_level(ct, self.level)?;
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
            let mut acc: Option<Ciphertext> = None;
            for (b, pt) in terms {
                match acc.as_mut() {
                    None => acc = Some(eval.mul_plain(baby(*b), pt)?),
                    Some(a) => eval.mul_plain_accumulate(a, baby(*b), pt)?,
                }
            }
            let Some(mut acc) = acc else { continue };
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
