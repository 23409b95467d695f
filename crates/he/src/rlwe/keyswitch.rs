//! Hybrid key switching with hoisting.
//!
//! Key switching of a polynomial `c` (level `ℓ`) under a [`KeySwitchingKey`] from `s'` to `s`:
//! 1. **Decompose / ModUp** (hoistable): split `c` into digits `[c]_{Q_j}` and raise each to
//!    `Q_ℓ·P` by fast base conversion (BEHZ16), then NTT. The digit's own limbs are the input's
//!    NTT limbs, so only the new limbs are transformed.
//! 2. **Inner product**: `Σ_j d_j·(b_j, a_j)` pointwise in NTT form.
//! 3. **ModDown**: divide by `P` with rounding via an exact centred `P → Q_ℓ` conversion
//!    (HPS19 §2.3), so the result is `round(x/P)`, not `floor(x/P)`.
//!
//! Digits are lifted from their centred representatives (`(-Q_j/2, Q_j/2]`, exact conversion
//! of HPS19 §2.3), which keeps the key-switching error zero-mean and also centred after an
//! automorphism, as hoisting requires.
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

/// The ModUp digits of one polynomial at one level, each modulo `Q_ℓ·P` in NTT form, with
/// their Shoup companions `floor(d·2^64/q)` when the SIMD inner product is used (computed once
/// here, shared by both key polynomials and by every hoisted rotation).
#[derive(Clone, Debug)]
pub struct DecomposedPoly {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly>,
    /// Per digit, its companions (same layout as the digit); empty when the portable
    /// `u128` inner product is used instead.
    pub(crate) companions: Vec<RnsPoly>,
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
    let digits: Vec<RnsPoly> = ctx
        .digits
        .par_iter()
        .map(|digit| {
            let limbs = ctx.qp.len();
            let input = &c_coeff.data()[digit.range.start * n..digit.range.end * n];
            // One buffer: the digit's own NTT limbs copied to their position and the converted
            // limbs (targets are all limbs outside the digit, in order) written around them
            // (no insertion moving the tail afterwards).
            let mut data = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
            let (at, end) = (digit.range.start * n, digit.range.end * n);
            let (lo, rest) = data.split_at_mut(at);
            let (own, hi) = rest.split_at_mut(end - at);
            own.copy_from_slice(&c_ntt.data()[at..end]);
            // Centred lift: the digit is raised from its representative in (-Q_j/2, Q_j/2], so
            // automorphisms (sign flips) keep it centred and the hoisted inner product carries no
            // `Q_j·e_j/P` term from a [0, Q_j) representative.
            digit.conv.convert_exact_split(input, lo, hi);
            data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
                if !digit.range.contains(&i) {
                    ctx.qp.ntt(i).forward(limb);
                }
            });
            RnsPoly::from_reduced(n, limbs, Form::Ntt, data)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
        })
        .collect();
    let companions = if henn_ring::simd::avx512_available() {
        digit_companions(params, &digits, level)
    } else {
        Vec::new()
    };
    DecomposedPoly {
        level,
        digits,
        companions,
    }
}

/// Shoup companions of every digit limb (see [`henn_ring::simd::shoup_companions`]).
fn digit_companions(params: &RlweParameters, digits: &[RnsPoly], level: usize) -> Vec<RnsPoly> {
    let ctx = params.level(level);
    let n = params.degree();
    digits
        .par_iter()
        .map(|d| {
            let limbs = d.num_limbs();
            let mut data = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
            data.par_chunks_mut(n)
                .zip(d.data().par_chunks(n))
                .enumerate()
                .for_each(|(i, (o, x))| {
                    henn_ring::simd::shoup_companions(ctx.qp.ntt(i).modulus(), x, o);
                });
            RnsPoly::from_reduced(n, limbs, Form::Ntt, data)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
        })
        .collect()
}

/// Inner product of the digits with a key, modulo `Q_ℓ·P` in NTT form (step 2). For an
/// automorphism the key is the σ^{-1}-permuted one held by [`super::GaloisKeys`], and σ is
/// applied to the result after ModDown.
pub fn inner_product(
    params: &RlweParameters,
    decomposed: &DecomposedPoly,
    key: &KeySwitchingKey,
) -> (RnsPoly, RnsPoly) {
    let level = decomposed.level;
    let ctx = params.level(level);
    let n = params.degree();
    let limbs = ctx.qp.len();
    if decomposed.companions.len() == decomposed.digits.len() {
        // every word is written by the SIMD kernel: no zero fill
        let mut d0 = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        let mut d1 = henn_ring::buffer_pool::take_for_overwrite(limbs * n);
        d0.par_chunks_mut(n)
            .zip(d1.par_chunks_mut(n))
            .enumerate()
            .for_each(|(i, (a0, a1))| {
                let kl = params.key_limb(level, i);
                let digits: Vec<henn_ring::simd::ShoupDigit<'_>> = decomposed
                    .digits
                    .iter()
                    .zip(&decomposed.companions)
                    .enumerate()
                    .map(|(j, (d, dw))| {
                        (d.limb(i), dw.limb(i), key.b[j].limb(kl), key.a[j].limb(kl))
                    })
                    .collect();
                henn_ring::simd::inner_product_shoup(
                    ctx.qp.ntt(i).modulus(),
                    &digits,
                    None,
                    a0,
                    a1,
                );
            });
        let wrap = |d| {
            RnsPoly::from_reduced(n, limbs, Form::Ntt, d)
                .unwrap_or_else(|_| RnsPoly::zero(n, limbs, Form::Ntt))
        };
        return (wrap(d0), wrap(d1));
    }
    let mut p0 = RnsPoly::zero(n, limbs, Form::Ntt);
    let mut p1 = RnsPoly::zero(n, limbs, Form::Ntt);
    p0.data_mut()
        .par_chunks_mut(n)
        .zip(p1.data_mut().par_chunks_mut(n))
        .enumerate()
        .for_each(|(i, (a0, a1))| {
            let kl = params.key_limb(level, i);
            let digits: Vec<(&[u64], &[u64], &[u64])> = decomposed
                .digits
                .iter()
                .enumerate()
                .map(|(j, d)| (d.limb(i), key.b[j].limb(kl), key.a[j].limb(kl)))
                .collect();
            lazy_inner_product_limb(ctx.qp.ntt(i).modulus(), &digits, a0, a1);
        });
    (p0, p1)
}

/// Most digits whose products can be summed in a `u128` before one reduction: every product
/// is below `q^2 < 2^124` (`q < 2^62`), so fifteen of them plus a residue stay below `2^128`.
const LAZY_DIGITS: usize = 15;

/// One limb of the inner product: `a0[k] += Σ_j d_j[k]·b_j[k]`, `a1[k] += Σ_j d_j[k]·a_j[k]`,
/// with the products of up to [`LAZY_DIGITS`] digits summed exactly in 128 bits and reduced
/// once (lazy reduction, as in SEAL's and Lattigo's key-switching inner products); the
/// portable path when AVX-512 is absent.
fn lazy_inner_product_limb(
    m: &henn_ring::Modulus,
    digits: &[(&[u64], &[u64], &[u64])],
    a0: &mut [u64],
    a1: &mut [u64],
) {
    let n = a0.len();
    for chunk in digits.chunks(LAZY_DIGITS) {
        for k in 0..n {
            let at = k;
            let mut s0 = a0[k] as u128;
            let mut s1 = a1[k] as u128;
            for &(d, b, a) in chunk {
                let x = d[at] as u128;
                s0 += x * b[k] as u128;
                s1 += x * a[k] as u128;
            }
            a0[k] = m.reduce_u128(s0);
            a1[k] = m.reduce_u128(s1);
        }
    }
}

/// ModDown (step 3): from `x` modulo `Q_ℓ·P` (NTT) to `round(x / P)` modulo `Q_ℓ` (NTT).
pub fn mod_down(params: &RlweParameters, x: &RnsPoly, level: usize) -> RnsPoly {
    mod_down_add(params, x.clone(), level, None)
}

/// A polynomial modulo `Q_ℓ` in NTT form to add to a ModDown result, optionally read through
/// an automorphism's NTT index permutation (`addend[perm[c]]`), so `σ(c_0) + ModDown(x)` needs
/// no intermediate `σ(c_0)`.
pub struct ModDownAddend<'a> {
    /// The polynomial (at least `ℓ + 1` limbs, NTT form).
    pub poly: &'a RnsPoly,
    /// The automorphism to apply to it first, if any.
    pub galois: Option<&'a GaloisElement>,
}

/// ModDown of `x` in place (its storage is reused for the result), fused with an optional
/// addition: returns `round(x / P) [+ addend]` modulo `Q_ℓ` in NTT form.
pub fn mod_down_add(
    params: &RlweParameters,
    mut x: RnsPoly,
    level: usize,
    addend: Option<ModDownAddend<'_>>,
) -> RnsPoly {
    let ctx = params.level(level);
    let n = params.degree();
    let q_len = level + 1;
    let p_len = ctx.qp.len() - q_len;
    debug_assert_eq!(x.num_limbs(), q_len + p_len);
    let mut conv = henn_ring::buffer_pool::take_for_overwrite(q_len * n);
    {
        let (q_part, p_part) = x.data_mut().split_at_mut(q_len * n);
        p_part.par_chunks_mut(n).enumerate().for_each(|(k, limb)| {
            ctx.qp.ntt(q_len + k).backward(limb);
        });
        // Exact centred `[x]_P ∈ (-P/2, P/2]`, so `(x - [x]_P)/P = round(x/P)` (no −½ bias).
        ctx.mod_down.convert_exact(p_part, &mut conv);
        q_part
            .par_chunks_mut(n)
            .zip(conv.par_chunks_mut(n))
            .enumerate()
            .for_each(|(i, (o, c))| {
                let op = ctx.q.ntt(i);
                op.forward(c);
                let m = op.modulus();
                let w = ctx.p_inv_mod_q[i];
                let add = addend
                    .as_ref()
                    .map(|a| (a.poly.limb(i), a.galois.map(|g| g.ntt_permutation())));
                henn_ring::simd::sub_mul_add(m, o, c, (w, m.shoup(w)), add);
            });
    }
    henn_ring::buffer_pool::give(conv);
    x.truncate_limbs(q_len);
    x
}

/// ModDown fused with an addition and an automorphism: returns `σ(round(x / P) + addend)`
/// modulo `Q_ℓ` in NTT form (`addend` at least `ℓ + 1` limbs, NTT form). The last step of
/// ModDown reads its inputs through `σ`'s index permutation and writes the output in order,
/// so the automorphism costs no separate pass (the Galois-key path of
/// [`super::automorphism`]).
pub fn mod_down_add_automorphism(
    params: &RlweParameters,
    mut x: RnsPoly,
    level: usize,
    addend: Option<&RnsPoly>,
    galois: &GaloisElement,
) -> RnsPoly {
    let ctx = params.level(level);
    let n = params.degree();
    let q_len = level + 1;
    debug_assert_eq!(x.num_limbs(), ctx.qp.len());
    let mut conv = henn_ring::buffer_pool::take_for_overwrite(q_len * n);
    let mut out = henn_ring::buffer_pool::take_for_overwrite(q_len * n);
    {
        let (q_part, p_part) = x.data_mut().split_at_mut(q_len * n);
        p_part.par_chunks_mut(n).enumerate().for_each(|(k, limb)| {
            ctx.qp.ntt(q_len + k).backward(limb);
        });
        ctx.mod_down.convert_exact(p_part, &mut conv);
        out.par_chunks_mut(n)
            .zip(conv.par_chunks_mut(n))
            .zip(q_part.par_chunks(n))
            .enumerate()
            .for_each(|(i, ((r, c), o))| {
                let op = ctx.q.ntt(i);
                op.forward(c);
                let m = op.modulus();
                let w = ctx.p_inv_mod_q[i];
                let add = addend.map(|a| a.limb(i));
                henn_ring::simd::sub_mul_add_permuted(m, o, c, (w, m.shoup(w)), add, galois, r);
            });
    }
    henn_ring::buffer_pool::give(conv);
    drop(x);
    RnsPoly::from_reduced(n, q_len, Form::Ntt, out)
        .unwrap_or_else(|_| RnsPoly::zero(n, q_len, Form::Ntt))
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
    let (x0, x1) = inner_product(params, &d, key);
    (
        mod_down_add(params, x0, level, None),
        mod_down_add(params, x1, level, None),
    )
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
    let (x0, x1) = inner_product(params, &d, key);
    (
        mod_down_add(params, x0, level, None),
        mod_down_add(params, x1, level, None),
    )
}

/// [`key_switch_coeff`] fused with the addition of `(c_0, c_1)` (NTT form, level ℓ): returns
/// `(c_0 + k_0, c_1 + k_1)`, as relinearization needs, without intermediate polynomials.
pub fn key_switch_coeff_add(
    params: &RlweParameters,
    c_coeff: &RnsPoly,
    level: usize,
    key: &KeySwitchingKey,
    (c0, c1): (&RnsPoly, &RnsPoly),
) -> (RnsPoly, RnsPoly) {
    let mut c_ntt = c_coeff.clone();
    c_ntt.ntt_forward(&params.level(level).q);
    key_switch_add(params, c_coeff, &c_ntt, level, key, (c0, c1))
}

/// [`key_switch_coeff_add`] for a polynomial given in both forms (coefficient and NTT, level
/// ℓ), e.g. the NTT-form `c_2` of a CKKS tensor product and its inverse transform: no
/// transform is repeated.
pub fn key_switch_add(
    params: &RlweParameters,
    c_coeff: &RnsPoly,
    c_ntt: &RnsPoly,
    level: usize,
    key: &KeySwitchingKey,
    (c0, c1): (&RnsPoly, &RnsPoly),
) -> (RnsPoly, RnsPoly) {
    let d = decompose(params, c_coeff, c_ntt, level);
    let (x0, x1) = inner_product(params, &d, key);
    let add = |poly| Some(ModDownAddend { poly, galois: None });
    (
        mod_down_add(params, x0, level, add(c0)),
        mod_down_add(params, x1, level, add(c1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlwe::KeyGenerator;
    use henn_ring::sampler;
    use std::sync::Arc;

    /// The SIMD Shoup inner product (digit companions) and the portable `u128` one agree.
    #[test]
    fn shoup_and_portable_inner_products_agree() {
        let (q, p) = RlweParameters::generate_primes(10, &[50, 50, 50, 50], &[51, 51]).unwrap();
        let params = Arc::new(RlweParameters::insecure_new(10, &q, &p, 2).unwrap());
        let mut keygen = KeyGenerator::new(&params);
        let rlk = keygen.relinearization_key();
        let mut rng = sampler::os_rng();
        let level = params.max_level();
        let qb = &params.level(level).q;
        let c = sampler::uniform_poly(&mut rng, qb, qb.len(), Form::Coefficient);
        let mut c_ntt = c.clone();
        c_ntt.ntt_forward(qb);
        let mut d = decompose(&params, &c, &c_ntt, level);
        if d.companions.is_empty() {
            d.companions = digit_companions(&params, &d.digits, level);
        }
        let simd = inner_product(&params, &d, &rlk.0);
        d.companions.clear();
        let portable = inner_product(&params, &d, &rlk.0);
        assert_eq!(simd, portable);
    }
}
