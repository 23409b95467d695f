//! EvalMod: the homomorphic reduction modulo `q_0`, approximated by a scaled sine
//! (Cheon, Han, Kim, Kim, Song, EUROCRYPT 2018, *CHKKS18b*): for `x = t/q_0` with `t = m + q_0·I`
//! and `|m| << q_0`, `sin(2πx)/(2π) ≈ m/q_0`.
//!
//! As in Han–Ki (CT-RSA 2020) and Lattigo's `Cos1`, the sine is obtained from a cosine of a
//! scaled-down argument and `r` double-angle steps:
//! `p(y) ≈ cos(2π(K·y - 1/4)/2^r)` on `y = x/K ∈ [-1, 1]` by Chebyshev interpolation, then
//! `c ← 2c² - 1` `r` times gives `cos(2πx - π/2) = sin(2πx)`.
//!
//! The Chebyshev series `Σ c_k T_k(y)` is evaluated with the baby-step giant-step recursion
//! (Bossuat et al. EUROCRYPT 2021 §5; Lattigo's `polynomial_evaluator`): the baby powers
//! `T_1..T_g` and the giant powers `T_g, T_{2g}, T_{4g}, …` are computed with
//! `T_{a+b} = 2T_aT_b - T_{|a-b|}`, and `p = q·T_G + r` is split recursively, where
//! `T_{G+k} = 2T_GT_k - T_{G-k}` gives `q_0 = c_G`, `q_k = 2c_{G+k}`, `r_{G-k} -= c_{G+k}`.
//! Every branch is evaluated at a target scale chosen so that sums add ciphertexts of exactly
//! equal scale (leaves multiply each `T_k` by its coefficient encoded at
//! `τ·q_ℓ/scale(T_k)`).

use crate::ckks::crt::reduce_f64;
use crate::ckks::{Ciphertext, CkksParameters, Evaluator};
use crate::rlwe::RelinearizationKey;
use crate::HeError;
use henn_ring::{Form, RnsBasis, RnsPoly};
use rayon::prelude::*;
use std::f64::consts::PI;

/// `round(c)` modulo each of the first `limbs` primes of `basis`, with Shoup companions.
fn constants(c: f64, basis: &RnsBasis, limbs: usize) -> Result<Vec<(u64, u64)>, HeError> {
    let r = c.round();
    if !r.is_finite() {
        return Err(HeError::InvalidConstant {
            value: c,
            reason: "not finite after scaling",
        });
    }
    Ok((0..limbs)
        .map(|i| {
            let m = basis.modulus(i);
            let v = reduce_f64(r, m.value());
            (v, m.shoup(v))
        })
        .collect())
}

/// In place: `ct ← 2·ct - K·sub + c` limb-wise, for the integer constant `K` (per-limb
/// residues `k`, if `sub` is given; `sub` at `ct`'s level or above, read without a copy) and
/// the constant `round(c)` added to the first polynomial. The step `T_{a+b} = 2T_aT_b -
/// T_{a-b}` (and `2T_a² - 1`, `2c² - 1`) in one pass instead of a scalar product, a level
/// drop, a scalar product and a subtraction, each on a copy.
fn double_sub_add(
    ct: &mut Ciphertext,
    sub: Option<(&Ciphertext, &[(u64, u64)])>,
    c: &[(u64, u64)],
    basis: &RnsBasis,
) {
    let n = ct.inner.polys[0].degree();
    let limbs = ct.level() + 1;
    for (p, poly) in ct.inner.polys.iter_mut().enumerate() {
        let other = sub.map(|(s, k)| (&s.inner.polys[p], k));
        poly.data_mut()[..limbs * n]
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, limb)| {
                let m = basis.modulus(i);
                let add = if p == 0 { c[i].0 } else { 0 };
                match other {
                    Some((s, k)) => {
                        let (w, ws) = k[i];
                        for (x, &y) in limb.iter_mut().zip(s.limb(i)) {
                            let d = m.sub(m.add(*x, *x), m.mul_shoup(y, w, ws));
                            *x = m.add(d, add);
                        }
                    }
                    None => {
                        for x in limb.iter_mut() {
                            *x = m.add(m.add(*x, *x), add);
                        }
                    }
                }
            });
    }
}

fn ceil_log2(k: usize) -> usize {
    if k <= 1 {
        0
    } else {
        (usize::BITS - (k - 1).leading_zeros()) as usize
    }
}

/// The EvalMod polynomial: Chebyshev coefficients of the scaled cosine and the number of
/// double-angle steps.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalModPolynomial {
    k: f64,
    double_angle: u32,
    coeffs: Vec<f64>,
    baby: usize,
}

impl EvalModPolynomial {
    /// Interpolates `cos(2π(K·y - 1/4)/2^r)` at the `degree + 1` Chebyshev nodes of `[-1, 1]`.
    pub fn new(k: f64, degree: usize, double_angle: u32) -> Self {
        let count = degree + 1;
        let f = |y: f64| (2.0 * PI * (k * y - 0.25) / 2f64.powi(double_angle as i32)).cos();
        let values: Vec<f64> = (0..count)
            .map(|j| f((PI * (j as f64 + 0.5) / count as f64).cos()))
            .collect();
        let coeffs = (0..count)
            .map(|i| {
                let s: f64 = values
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v * (PI * i as f64 * (j as f64 + 0.5) / count as f64).cos())
                    .sum();
                s * if i == 0 { 1.0 } else { 2.0 } / count as f64
            })
            .collect();
        let log_deg = ceil_log2(count);
        let baby = 1usize << log_deg.div_ceil(2).max(1);
        Self {
            k,
            double_angle,
            coeffs,
            baby,
        }
    }

    /// The interval bound `K`.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// The Chebyshev coefficients `c_0..c_d`.
    pub fn coefficients(&self) -> &[f64] {
        &self.coeffs
    }

    /// `Σ c_k T_k(y)` then the double angles, in the clear (≈ `sin(2πK·y)`).
    pub fn evaluate_clear(&self, y: f64) -> f64 {
        // Clenshaw
        let (mut b1, mut b2) = (0.0, 0.0);
        for &c in self.coeffs.iter().skip(1).rev() {
            let b0 = 2.0 * y * b1 - b2 + c;
            b2 = b1;
            b1 = b0;
        }
        let mut v = y * b1 - b2 + self.coeffs[0];
        for _ in 0..self.double_angle {
            v = 2.0 * v * v - 1.0;
        }
        v
    }

    /// Levels consumed by [`evaluate`](Self::evaluate).
    pub fn depth(&self) -> usize {
        let start = 1000usize;
        let level_of_t = |k: usize| start - ceil_log2(k);
        start - self.node_level(self.coeffs.len(), &level_of_t) + self.double_angle as usize
    }

    fn giants(&self) -> Vec<usize> {
        let mut g = vec![self.baby];
        while 2 * g[g.len() - 1] < self.coeffs.len() {
            let last = g[g.len() - 1];
            g.push(2 * last);
        }
        g
    }

    /// The largest giant `G` with `G < len` (so `deg >= G` and `deg < 2G`).
    fn split_at(&self, len: usize) -> usize {
        self.giants()
            .into_iter()
            .filter(|&g| g < len)
            .max()
            .unwrap_or(self.baby)
    }

    /// Output level of the recursion on `len` coefficients.
    fn node_level(&self, len: usize, level_of_t: &dyn Fn(usize) -> usize) -> usize {
        if len <= self.baby {
            return (1..len.max(2)).map(level_of_t).min().unwrap_or(0) - 1;
        }
        let g = self.split_at(len);
        let q = self.node_level(len - g, level_of_t);
        let r = self.node_level(g, level_of_t);
        (q.min(level_of_t(g)) - 1).min(r)
    }

    /// Evaluates the polynomial and the double angles on `ct` (slots `y ∈ [-1, 1]`, real).
    /// The output is [`depth`](Self::depth) levels lower; its scale is `ct`'s scale after
    /// the double-angle squarings (`τ ← τ²/q_ℓ`).
    ///
    /// # Errors
    /// [`HeError::LevelTooLow`] if the ciphertext has fewer levels than the depth; the
    /// evaluator's errors.
    pub fn evaluate(
        &self,
        params: &CkksParameters,
        eval: &Evaluator,
        rlk: &RelinearizationKey,
        ct: &Ciphertext,
    ) -> Result<Ciphertext, HeError> {
        if ct.level() < self.depth() {
            return Err(HeError::LevelTooLow {
                operation: "EvalMod",
                needed: self.depth(),
                level: ct.level(),
            });
        }
        let basis = Basis::new(self, eval, rlk, ct)?;
        let q = params.q_moduli();
        let mut out = self.evaluate_node(&self.coeffs, ct.scale(), &basis, eval, rlk, &q)?;
        let basis = params.rlwe().q_basis();
        for _ in 0..self.double_angle {
            let mut sq = eval.square(&out, rlk)?;
            let minus_one = constants(-sq.scale(), basis, sq.level() + 1)?;
            double_sub_add(&mut sq, None, &minus_one, basis);
            out = eval.rescale(&sq)?;
        }
        Ok(out)
    }

    fn evaluate_node(
        &self,
        c: &[f64],
        tau: f64,
        basis: &Basis,
        eval: &Evaluator,
        rlk: &RelinearizationKey,
        q: &[u64],
    ) -> Result<Ciphertext, HeError> {
        let level_of_t = |k: usize| basis.get(k).map(|t| t.level()).unwrap_or(0);
        let params = eval.params();
        if c.len() <= self.baby {
            let level = self.node_level(c.len(), &level_of_t) + 1;
            let top = q[level] as f64;
            let acc = if c.len() > 1 {
                leaf_sum(c, tau * top, basis, level, params.rlwe().q_basis())?
            } else {
                let t = eval.drop_to_level(basis.get(1)?, level)?;
                let zero = eval.mul_real_with_scale(&t, 0.0, tau * top / t.scale())?;
                eval.add_real(&zero, c[0])?
            };
            return eval.rescale(&acc);
        }
        let g = self.split_at(c.len());
        let mut qc = vec![0.0; c.len() - g];
        let mut rc = c[..g].to_vec();
        qc[0] = c[g];
        for k in 1..c.len() - g {
            qc[k] = 2.0 * c[g + k];
            rc[g - k] -= c[g + k];
        }
        let tg = basis.get(g)?;
        let level = self.node_level(qc.len(), &level_of_t).min(tg.level());
        let tau_q = tau * q[level] as f64 / tg.scale();
        let qct = self.evaluate_node(&qc, tau_q, basis, eval, rlk, q)?;
        if qct.level() < level || qct.len() != 2 {
            return Err(HeError::InvalidParameters(
                "EvalMod: quotient below its level".into(),
            ));
        }
        // the product at `level`, reading both operands in place (no level-drop copies)
        let prod = eval.relinearize(&eval.tensor_at(&qct, tg, level), rlk)?;
        drop(qct);
        let prod = eval.rescale(&prod)?;
        let rct = self.evaluate_node(&rc, tau, basis, eval, rlk, q)?;
        // equal scales up to rounding of the bookkeeping: align the label exactly
        let level = prod.level().min(rct.level());
        let mut prod = if prod.level() > level {
            eval.drop_to_level(&prod, level)?
        } else {
            prod
        };
        prod.set_scale(rct.scale())?;
        let rct = if rct.level() > level {
            eval.drop_to_level(&rct, level)?
        } else {
            rct
        };
        eval.add_assign(&mut prod, &rct)?;
        Ok(prod)
    }
}

/// A leaf of the recursion at `level`: `Σ_{k>=1} c_k·T_k + c_0` at scale `scale`, each
/// `T_k` multiplied by the integer `round(c_k·scale/Δ_k)` and read in place at its own level
/// (at or above `level`), all terms summed limb by limb in one pass (no per-term copy,
/// level drop or accumulator pass).
fn leaf_sum(
    c: &[f64],
    scale: f64,
    powers: &Basis,
    level: usize,
    qb: &RnsBasis,
) -> Result<Ciphertext, HeError> {
    let limbs = level + 1;
    let mut terms: Vec<(&Ciphertext, Vec<(u64, u64)>)> = Vec::with_capacity(c.len());
    for (k, &ck) in c.iter().enumerate().skip(1) {
        let t = powers.get(k)?;
        if t.level() < level || t.len() != 2 {
            return Err(HeError::InvalidParameters(
                "EvalMod: Chebyshev power below its leaf".into(),
            ));
        }
        terms.push((t, constants(ck * scale / t.scale(), qb, limbs)?));
    }
    let c0 = constants(c[0] * scale, qb, limbs)?;
    let n = qb.degree();
    let mut polys = Vec::with_capacity(2);
    for p in 0..2 {
        let mut data = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        data.par_chunks_mut(n).enumerate().for_each(|(i, out)| {
            let m = qb.modulus(i);
            out.fill(if p == 0 { c0[i].0 } else { 0 });
            for (t, k) in &terms {
                let (w, ws) = k[i];
                for (o, &x) in out.iter_mut().zip(t.inner.polys[p].limb(i)) {
                    *o = m.add(*o, m.mul_shoup(x, w, ws));
                }
            }
        });
        // the length is right by construction
        polys.push(
            RnsPoly::from_reduced(n, limbs, Form::Ntt, data)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt)),
        );
    }
    Ok(Ciphertext {
        inner: crate::rlwe::Ciphertext { polys, level },
        scale,
    })
}

/// The Chebyshev powers `T_1..T_g` and `T_{2g}, T_{4g}, …` of one ciphertext.
struct Basis {
    powers: Vec<Option<Ciphertext>>,
}

impl Basis {
    fn new(
        poly: &EvalModPolynomial,
        eval: &Evaluator,
        rlk: &RelinearizationKey,
        ct: &Ciphertext,
    ) -> Result<Self, HeError> {
        let giants = poly.giants();
        let max = *giants.last().unwrap_or(&poly.baby);
        let mut powers: Vec<Option<Ciphertext>> = vec![None; max + 1];
        powers[1] = Some(ct.clone());
        let mut wanted: Vec<usize> = (2..=poly.baby).collect();
        wanted.extend(giants.iter().copied().filter(|&g| g > poly.baby));
        for k in wanted {
            // a = largest power of two below k (k/2 for powers of two), b = k - a
            let a = if k.is_power_of_two() {
                k / 2
            } else {
                1 << (usize::BITS - 1 - k.leading_zeros())
            };
            let b = k - a;
            let ta = powers[a]
                .as_ref()
                .ok_or(HeError::InvalidParameters("Chebyshev basis order".into()))?;
            let tb = powers[b]
                .as_ref()
                .ok_or(HeError::InvalidParameters("Chebyshev basis order".into()))?;
            let mut prod = eval.multiply(ta, tb, rlk)?;
            let limbs = prod.level() + 1;
            let qb = eval.params().rlwe().q_basis();
            if a == b {
                // 2·T_a² - 1
                let minus_one = constants(-prod.scale(), qb, limbs)?;
                double_sub_add(&mut prod, None, &minus_one, qb);
            } else {
                // 2·T_a·T_b - T_{a-b}, with T_{a-b} (a lower power: at the product's level
                // or above) times the integer round(Δ_prod/Δ_{a-b})
                let td = powers[a - b]
                    .as_ref()
                    .ok_or(HeError::InvalidParameters("Chebyshev basis order".into()))?;
                if td.level() < prod.level() || td.len() != 2 {
                    return Err(HeError::InvalidParameters("Chebyshev basis order".into()));
                }
                let k = constants(prod.scale() / td.scale(), qb, limbs)?;
                let zero = vec![(0, 0); limbs];
                double_sub_add(&mut prod, Some((td, &k)), &zero, qb);
            }
            powers[k] = Some(eval.rescale(&prod)?);
        }
        Ok(Self { powers })
    }

    fn get(&self, k: usize) -> Result<&Ciphertext, HeError> {
        self.powers
            .get(k)
            .and_then(|p| p.as_ref())
            .ok_or(HeError::InvalidParameters(format!(
                "Chebyshev power T_{k} not computed"
            )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_polynomial_approximates_the_sine_near_integers() {
        let p = EvalModPolynomial::new(12.0, 30, 3);
        let mut worst: f64 = 0.0;
        for i in -11..=11 {
            for j in 0..50 {
                let x = i as f64 + (j as f64 - 25.0) * 1e-4;
                let err = (p.evaluate_clear(x / 12.0) - (2.0 * PI * x).sin()).abs();
                worst = worst.max(err);
            }
        }
        assert!(worst < 1e-9, "worst {worst:e}");
        assert_eq!(p.depth(), 9);
    }
}
