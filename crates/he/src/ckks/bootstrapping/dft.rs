//! The homomorphic DFT of bootstrapping: CoeffsToSlots and SlotsToCoeffs as products of the
//! sparse butterfly factors of the CKKS "special FFT" (Chen, Chillotti, Song, EUROCRYPT 2019,
//! §3, *CCS19*; grouped into a few levels as in BMTH21 §4.1).
//!
//! Decoding is `U = S_{s/2} ··· S_2 S_1 · BR` (bit reversal, then `log2 s` butterfly stages;
//! see [`crate::ckks::encoder`]); each stage `S_h` has three diagonals (`0`, `+h`, `-h`). The
//! bit reversal is not sparse, so it is left out of both transforms: CoeffsToSlots outputs the
//! coefficients in bit-reversed order, EvalMod works slot-wise, and SlotsToCoeffs consumes the
//! bit-reversed order. Consecutive stages are merged (their product has at most
//! `2^{k+1} - 1` diagonals for `k` stages) so that each transform uses one level per group.

use super::linear_transform::LinearTransform;
use crate::ckks::Complex64;

/// The twiddles `ζ^{(5^j mod 8h)·M/(8h)}`, `j < h`, of the stage of half-length `h` (the same
/// as the encoder's), for a ring of degree `n` with `slots` slots.
fn stage_twiddles(n: usize, h: usize) -> Vec<Complex64> {
    let m = 2 * n;
    let lenq = 8 * h;
    let mut power = 1usize;
    (0..h)
        .map(|_| {
            let exponent = (power % lenq) * (m / lenq);
            power = power * 5 % m;
            let angle = 2.0 * std::f64::consts::PI * exponent as f64 / m as f64;
            Complex64::new(angle.cos(), angle.sin())
        })
        .collect()
}

/// The decoding butterfly stage `S_h`: `out[c+j] = u + w_j v`, `out[c+j+h] = u - w_j v` with
/// `u = x[c+j]`, `v = x[c+j+h]`.
pub fn decode_stage(n: usize, slots: usize, h: usize) -> LinearTransform {
    let w = stage_twiddles(n, h);
    let mut t = LinearTransform::zero(slots);
    let one = Complex64::new(1.0, 0.0);
    for c in (0..slots).step_by(2 * h) {
        for (j, &wj) in w.iter().enumerate() {
            t.add_entry(c + j, 0, one);
            t.add_entry(c + j, h as i64, wj);
            t.add_entry(c + j + h, -(h as i64), one);
            t.add_entry(c + j + h, 0, -wj);
        }
    }
    t
}

/// The inverse of [`decode_stage`] times two: `out[c+j] = u + v`,
/// `out[c+j+h] = (u - v)·conj(w_j)`.
pub fn encode_stage(n: usize, slots: usize, h: usize) -> LinearTransform {
    let w = stage_twiddles(n, h);
    let mut t = LinearTransform::zero(slots);
    let one = Complex64::new(1.0, 0.0);
    for c in (0..slots).step_by(2 * h) {
        for (j, &wj) in w.iter().enumerate() {
            t.add_entry(c + j, 0, one);
            t.add_entry(c + j, h as i64, one);
            t.add_entry(c + j + h, -(h as i64), wj.conj());
            t.add_entry(c + j + h, 0, -wj.conj());
        }
    }
    t
}

/// Splits `items` into `groups` consecutive runs, the first ones longer.
fn split_groups<T: Clone>(items: &[T], groups: usize) -> Vec<Vec<T>> {
    let groups = groups.clamp(1, items.len().max(1));
    let base = items.len() / groups;
    let extra = items.len() % groups;
    let mut out = Vec::with_capacity(groups);
    let mut at = 0;
    for g in 0..groups {
        let len = base + usize::from(g < extra);
        out.push(items[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Multiplies stages given in application order into one map.
fn product(slots: usize, stages: &[LinearTransform]) -> LinearTransform {
    stages
        .iter()
        .fold(LinearTransform::identity(slots), |acc, s| s.compose(&acc))
}

/// CoeffsToSlots in `levels` matrices (application order), times `factor`:
/// `factor · BR · U^{-1}` where `U^{-1}` is the encoder's slots → packed-coefficients map
/// (including its `1/s`). The factor is spread evenly over the matrices so each keeps its
/// entries near 1 (the diagonals are encoded at the scale of one prime).
pub fn coeffs_to_slots(n: usize, slots: usize, levels: usize, factor: f64) -> Vec<LinearTransform> {
    // U^{-1} = BR · (1/s) · S_1^{-1} ··· S_{s/2}^{-1}; each encode_stage is 2·S_h^{-1}.
    let mut halves = Vec::new();
    let mut h = slots / 2;
    while h >= 1 {
        halves.push(h);
        h /= 2;
    }
    let stages: Vec<LinearTransform> = halves.iter().map(|&h| encode_stage(n, slots, h)).collect();
    let total = factor / slots as f64;
    let groups = split_groups(&stages, levels);
    let per = total.abs().powf(1.0 / groups.len() as f64);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let c = if i == 0 { per * total.signum() } else { per };
            product(slots, g).scaled(c)
        })
        .collect()
}

/// SlotsToCoeffs in `levels` matrices (application order), times `factor`:
/// `factor · U · BR` (`U` the encoder's packed-coefficients → slots map), i.e. the stages
/// `S_1, ..., S_{s/2}` applied to a bit-reversed input.
pub fn slots_to_coeffs(n: usize, slots: usize, levels: usize, factor: f64) -> Vec<LinearTransform> {
    let mut stages = Vec::new();
    let mut h = 1;
    while h < slots {
        stages.push(decode_stage(n, slots, h));
        h *= 2;
    }
    let groups = split_groups(&stages, levels);
    let per = factor.abs().powf(1.0 / groups.len() as f64);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let c = if i == 0 { per * factor.signum() } else { per };
            product(slots, g).scaled(c)
        })
        .collect()
}

/// The bit-reversal permutation of a slot vector (for clear reference computations).
pub fn bit_reverse(values: &[Complex64]) -> Vec<Complex64> {
    let n = values.len();
    if n <= 1 {
        return values.to_vec();
    }
    let shift = usize::BITS - n.trailing_zeros();
    (0..n).map(|i| values[i.reverse_bits() >> shift]).collect()
}
