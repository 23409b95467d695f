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

/// The stage half-lengths `1, 2, …, s/2` split into `levels` consecutive groups (the first
/// ones longer). CoeffsToSlots and SlotsToCoeffs use the same partition, so their merged
/// factors have the same diagonal offsets and share every rotation key.
pub fn stage_partition(slots: usize, levels: usize) -> Vec<Vec<usize>> {
    let mut halves = Vec::new();
    let mut h = 1;
    while h < slots {
        halves.push(h);
        h *= 2;
    }
    let groups = levels.clamp(1, halves.len().max(1));
    let base = halves.len() / groups;
    let extra = halves.len() % groups;
    let mut out = Vec::with_capacity(groups);
    let mut at = 0;
    for g in 0..groups {
        let len = base + usize::from(g < extra);
        out.push(halves[at..at + len].to_vec());
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

/// Scales group `i` of `groups` so that the product of the factors is `total`, evenly.
fn spread(total: f64, groups: usize, i: usize) -> f64 {
    let per = total.abs().powf(1.0 / groups as f64);
    if i == 0 {
        per * total.signum()
    } else {
        per
    }
}

/// CoeffsToSlots in `levels` matrices (application order), times `factor`:
/// `factor · BR · U^{-1}` where `U^{-1}` is the encoder's slots → packed-coefficients map
/// (including its `1/s`). The factor is spread evenly over the matrices so each keeps its
/// entries near 1 (the diagonals are encoded at the scale of one prime).
pub fn coeffs_to_slots(n: usize, slots: usize, levels: usize, factor: f64) -> Vec<LinearTransform> {
    // U^{-1} = BR · (1/s) · S_1^{-1} ··· S_{s/2}^{-1}; each encode_stage is 2·S_h^{-1}, applied
    // from h = s/2 down to h = 1.
    let total = factor / slots as f64;
    let groups = stage_partition(slots, levels);
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            let stages: Vec<LinearTransform> =
                g.iter().rev().map(|&h| encode_stage(n, slots, h)).collect();
            product(slots, &stages).scaled(spread(total, groups.len(), i))
        })
        .collect()
}

/// SlotsToCoeffs in `levels` matrices (application order), times `factor`:
/// `factor · U · BR` (`U` the encoder's packed-coefficients → slots map), i.e. the stages
/// `S_1, ..., S_{s/2}` applied to a bit-reversed input.
pub fn slots_to_coeffs(n: usize, slots: usize, levels: usize, factor: f64) -> Vec<LinearTransform> {
    let groups = stage_partition(slots, levels);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let stages: Vec<LinearTransform> =
                g.iter().map(|&h| decode_stage(n, slots, h)).collect();
            product(slots, &stages).scaled(spread(factor, groups.len(), i))
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
