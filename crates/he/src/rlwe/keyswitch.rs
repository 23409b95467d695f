//! Hybrid key switching with hoisting.
//!
//! Key switching of a polynomial `c` (level `ℓ`) under a [`KeySwitchingKey`] from `s'` to `s`:
//! 1. **Decompose / ModUp** (hoistable): split `c` into digits `[c]_{Q_j}` and raise each to
//!    `Q_ℓ·P` by fast base conversion (BEHZ16), then NTT. The digit's own limbs are the input's
//!    NTT limbs, so only the new limbs are transformed.
//! 2. **Inner product**: `Σ_j d_j·(b_j, a_j)` pointwise in NTT form.
//! 3. **ModDown**: divide by `P` with rounding via a `P → Q_ℓ` conversion.
//!
//! Hoisting (Halevi–Shoup, "Faster homomorphic linear transformations in HElib", CRYPTO 2018,
//! §5; Bossuat, Mouchet, Troncoso-Pastoriza, Hubaux, "Efficient bootstrapping for approximate
//! homomorphic encryption with non-sparse keys", EUROCRYPT 2021, §4.2): automorphisms commute
//! with the decomposition up to a multiple of `Q_j` that the gadget absorbs, so for many
//! rotations of one ciphertext step 1 runs once and each rotation only permutes the
//! decomposed digits in NTT form before its own inner product and ModDown.

use super::keys::KeySwitchingKey;
use super::params::RlweParameters;
use henn_ring::{Form, GaloisElement, RnsPoly};
use rayon::prelude::*;

/// The ModUp digits of one polynomial at one level, each modulo `Q_ℓ·P` in NTT form.
#[derive(Clone, Debug)]
pub struct DecomposedPoly {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly>,
}

impl DecomposedPoly {
    /// The level the decomposition was made at.
    pub fn level(&self) -> usize {
        self.level
    }
}

/// Decomposes `c` (level `ℓ`, given both in coefficient and NTT form modulo `Q_ℓ`) into the
/// hybrid gadget digits raised to `Q_ℓ·P` in NTT form (step 1 above).
pub fn decompose(
    params: &RlweParameters,
    c_coeff: &RnsPoly,
    c_ntt: &RnsPoly,
    level: usize,
) -> DecomposedPoly {
    let ctx = params.level(level);
    let n = params.degree();
    let digits = ctx
        .digits
        .par_iter()
        .map(|digit| {
            let mut out = vec![0u64; ctx.qp.len() * n];
            let input = &c_coeff.data()[digit.range.start * n..digit.range.end * n];
            let mut converted = vec![0u64; digit.targets.len() * n];
            digit.conv.convert_approx(input, &mut converted);
            // place converted limbs and transform them; copy the digit's own NTT limbs
            let mut limbs: Vec<(usize, &mut [u64])> = out.chunks_mut(n).enumerate().collect();
            limbs.par_iter_mut().for_each(|(i, limb)| {
                if digit.range.contains(i) {
                    limb.copy_from_slice(c_ntt.limb(*i));
                } else {
                    let t = digit
                        .targets
                        .iter()
                        .position(|x| x == i)
                        .unwrap_or_default();
                    limb.copy_from_slice(&converted[t * n..(t + 1) * n]);
                    ctx.qp.ntt(*i).forward(limb);
                }
            });
            let mut poly = RnsPoly::zero(n, 0, Form::Ntt);
            poly.extend_limbs(&out);
            poly
        })
        .collect();
    DecomposedPoly { level, digits }
}

/// Inner product of (optionally automorphism-permuted) digits with a key, modulo `Q_ℓ·P` in
/// NTT form (step 2).
pub fn inner_product(
    params: &RlweParameters,
    decomposed: &DecomposedPoly,
    key: &KeySwitchingKey,
    galois: Option<&GaloisElement>,
) -> (RnsPoly, RnsPoly) {
    let level = decomposed.level;
    let ctx = params.level(level);
    let n = params.degree();
    let limbs = ctx.qp.len();
    let mut acc0 = vec![0u64; limbs * n];
    let mut acc1 = vec![0u64; limbs * n];
    acc0.par_chunks_mut(n)
        .zip(acc1.par_chunks_mut(n))
        .enumerate()
        .for_each(|(i, (a0, a1))| {
            let op = ctx.qp.ntt(i);
            let kl = params.key_limb(level, i);
            let mut scratch = vec![0u64; if galois.is_some() { n } else { 0 }];
            for (j, d) in decomposed.digits.iter().enumerate() {
                let src = d.limb(i);
                let src: &[u64] = match galois {
                    Some(g) => {
                        for (o, &p) in scratch.iter_mut().zip(g.ntt_permutation()) {
                            *o = src[p as usize];
                        }
                        &scratch
                    }
                    None => src,
                };
                op.mul_accumulate(a0, src, key.b[j].limb(kl));
                op.mul_accumulate(a1, src, key.a[j].limb(kl));
            }
        });
    let mut p0 = RnsPoly::zero(n, 0, Form::Ntt);
    p0.extend_limbs(&acc0);
    let mut p1 = RnsPoly::zero(n, 0, Form::Ntt);
    p1.extend_limbs(&acc1);
    (p0, p1)
}

/// ModDown (step 3): from `x` modulo `Q_ℓ·P` (NTT) to `round(x / P)` modulo `Q_ℓ` (NTT).
pub fn mod_down(params: &RlweParameters, x: &RnsPoly, level: usize) -> RnsPoly {
    let ctx = params.level(level);
    let n = params.degree();
    let q_len = level + 1;
    let p_len = ctx.qp.len() - q_len;
    let mut p_part = x.data()[q_len * n..].to_vec();
    p_part.par_chunks_mut(n).enumerate().for_each(|(k, limb)| {
        ctx.qp.ntt(q_len + k).backward(limb);
    });
    debug_assert_eq!(p_part.len(), p_len * n);
    let mut conv = vec![0u64; q_len * n];
    ctx.mod_down.convert_approx(&p_part, &mut conv);
    let mut out = x.data()[..q_len * n].to_vec();
    out.par_chunks_mut(n)
        .zip(conv.par_chunks_mut(n))
        .enumerate()
        .for_each(|(i, (o, c))| {
            let op = ctx.q.ntt(i);
            op.forward(c);
            let m = op.modulus();
            let w = ctx.p_inv_mod_q[i];
            let ws = m.shoup(w);
            for (a, &b) in o.iter_mut().zip(c.iter()) {
                *a = m.mul_shoup(m.sub(*a, b), w, ws);
            }
        });
    let mut poly = RnsPoly::zero(n, 0, Form::Ntt);
    poly.extend_limbs(&out);
    poly
}

/// Full key switching of `c` (NTT form, level ℓ): returns `(k_0, k_1)` modulo `Q_ℓ` in NTT form
/// with `k_0 + k_1·s ≈ c·s'`.
pub fn key_switch(
    params: &RlweParameters,
    c_ntt: &RnsPoly,
    level: usize,
    key: &KeySwitchingKey,
) -> (RnsPoly, RnsPoly) {
    let mut c_coeff = c_ntt.clone();
    c_coeff.ntt_backward(&params.level(level).q);
    let d = decompose(params, &c_coeff, c_ntt, level);
    let (x0, x1) = inner_product(params, &d, key, None);
    (mod_down(params, &x0, level), mod_down(params, &x1, level))
}

/// Key switching of a polynomial already in coefficient form (e.g. the `c_2` of a tensor
/// product); `c_ntt` may be supplied to save transforms.
pub fn key_switch_coeff(
    params: &RlweParameters,
    c_coeff: &RnsPoly,
    level: usize,
    key: &KeySwitchingKey,
) -> (RnsPoly, RnsPoly) {
    let mut c_ntt = c_coeff.clone();
    c_ntt.ntt_forward(&params.level(level).q);
    let d = decompose(params, c_coeff, &c_ntt, level);
    let (x0, x1) = inner_product(params, &d, key, None);
    (mod_down(params, &x0, level), mod_down(params, &x1, level))
}
