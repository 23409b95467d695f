//! The server's online linear layers (DELPHI §4, online phase: `M·(x − r) + s + b` on the
//! server's share) as `i64` arithmetic with delayed modular reduction.
//!
//! The share is lifted to its signed representative `|x| < p/2`, every product `w·x` is exact in
//! `i64` as long as `|w|·p/2 < 2^62`, and the accumulator is reduced modulo `p` only after `K`
//! products with `K·|w|_max·p/2 ≤ 2^62` (so `|acc| < p + 2^62 < 2^63` never overflows). For the
//! zoo's networks (`p < 2^41`, `|w| < 2^10`) `K` exceeds every fan-in and the reduction runs once
//! per output. The convolution is direct, over a zero-padded copy of the input, with the output
//! row as the innermost loop (contiguous for stride 1, so the compiler vectorizes it). Networks
//! whose weights are too wide for this bound fall back to the exact `i128` reference
//! ([`super::linear_i128`]); the result is the same residue either way.

use crate::linear::{Conv2d, Dense, Kernel, LinearLayer};
use crate::share::ShareField;

/// Products per accumulator between reductions (`None`: a single product may overflow `i64`).
fn terms_between_reductions(field: &ShareField, max_abs_w: u64) -> Option<usize> {
    let half = (field.modulus() / 2) as u128;
    let prod = (max_abs_w.max(1) as u128) * half;
    let k = (1u128 << 62) / prod;
    (k >= 1).then_some(k.min(usize::MAX as u128) as usize)
}

/// `M·x + b + add mod p` for `x` and `add` in `Z_p` (reduced), `M`, `b` the layer's integer
/// weights and bias.
pub(crate) fn linear_mod(
    field: &ShareField,
    layer: &LinearLayer,
    x: &[u64],
    add: &[u64],
) -> Vec<u64> {
    let p = field.modulus() as i64;
    let finish = |acc: Vec<i64>, bias: &dyn Fn(usize) -> i64| -> Vec<u64> {
        acc.into_iter()
            .zip(add)
            .enumerate()
            .map(|(i, (v, &m))| {
                let v = (v % p + bias(i) % p).rem_euclid(p) as u64;
                field.add(v, m)
            })
            .collect()
    };
    let signed: Vec<i64> = x.iter().map(|&v| field.to_signed(v)).collect();
    match terms_between_reductions(field, layer.max_abs_weight()) {
        None => {
            let wide: Vec<i128> = signed.iter().map(|&v| v as i128).collect();
            let pp = p as i128;
            super::linear_i128(layer, &wide)
                .into_iter()
                .zip(add)
                .map(|(v, &m)| field.add(v.rem_euclid(pp) as u64, m))
                .collect()
        }
        Some(k) => match layer.kernel() {
            Kernel::Conv(c) => {
                let (_, ow) = c.output_hw();
                let plane = c.output_hw().0 * ow;
                let acc = conv_i64(&c, &signed, k, p);
                finish(acc, &|i| c.bias[i / plane])
            }
            Kernel::Dense(d) => {
                let acc = dense_i64(d, &signed, k, p);
                finish(acc, &|i| d.bias[i])
            }
        },
    }
}

/// `Σ w·x` per output of a convolution, reduced modulo `p` every `k` products (results not
/// yet reduced, `|v| < 2^63`).
fn conv_i64(c: &Conv2d, x: &[i64], k: usize, p: i64) -> Vec<i64> {
    let (oh, ow) = c.output_hw();
    let (pt, pb, pl, pr) = c.pad;
    let (hp, wp) = (c.height + pt + pb, c.width + pl + pr);
    let mut xp = vec![0i64; c.in_channels * hp * wp];
    for ci in 0..c.in_channels {
        for y in 0..c.height {
            let src = &x[(ci * c.height + y) * c.width..][..c.width];
            xp[(ci * hp + y + pt) * wp + pl..][..c.width].copy_from_slice(src);
        }
    }
    let (kh, kw, s) = (c.kernel_h, c.kernel_w, c.stride);
    let mut out = vec![0i64; c.out_channels * oh * ow];
    for (o, acc) in out.chunks_exact_mut(oh * ow).enumerate() {
        let mut since = 0usize;
        for ci in 0..c.in_channels {
            let xc = &xp[ci * hp * wp..][..hp * wp];
            for ky in 0..kh {
                for kx in 0..kw {
                    let w = c.weight(o, ci, ky, kx);
                    if w == 0 {
                        continue;
                    }
                    if since == k {
                        acc.iter_mut().for_each(|v| *v %= p);
                        since = 0;
                    }
                    since += 1;
                    for oy in 0..oh {
                        let row = &xc[(oy * s + ky) * wp + kx..];
                        let dst = &mut acc[oy * ow..][..ow];
                        if s == 1 {
                            for (d, &v) in dst.iter_mut().zip(&row[..ow]) {
                                *d += w * v;
                            }
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate() {
                                *d += w * row[ox * s];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// `Σ w·x` per output of a dense layer, reduced modulo `p` every `k` products.
fn dense_i64(d: &Dense, x: &[i64], k: usize, p: i64) -> Vec<i64> {
    (0..d.outputs)
        .map(|o| {
            let row = &d.weights[o * d.inputs..(o + 1) * d.inputs];
            let mut acc = 0i64;
            for (wc, xc) in row.chunks(k).zip(x.chunks(k)) {
                let part: i64 = wc.iter().zip(xc).map(|(&w, &v)| w * v).sum();
                acc = (acc + part % p) % p;
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::zoo;
    use crate::share::DEFAULT_SHARE_PRIME;
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    fn reference(field: &ShareField, layer: &LinearLayer, x: &[u64], add: &[u64]) -> Vec<u64> {
        let wide: Vec<i128> = x.iter().map(|&v| field.to_signed(v) as i128).collect();
        let p = field.modulus() as i128;
        crate::network::linear_i128(layer, &wide)
            .into_iter()
            .zip(add)
            .map(|(v, &m)| field.add(v.rem_euclid(p) as u64, m))
            .collect()
    }

    /// Every linear layer of the zoo networks (strides 1 and 2, padding, 1×1, dense) on
    /// uniform shares, including the extreme representatives `±(p−1)/2`.
    #[test]
    fn matches_the_i128_reference_on_uniform_shares() {
        let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let p = field.modulus();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for net in [zoo::tiny(2), zoo::tiny_relu(2), zoo::seven_cnet(2)] {
            for (name, layer) in net.linear_layers() {
                let n = layer.kernel();
                let (inputs, outputs) = match n {
                    Kernel::Conv(c) => {
                        let (oh, ow) = c.output_hw();
                        (c.in_channels * c.height * c.width, c.out_channels * oh * ow)
                    }
                    Kernel::Dense(d) => (d.inputs, d.outputs),
                };
                let mut x: Vec<u64> = (0..inputs).map(|_| rng.next_u64() % p).collect();
                x[0] = p / 2;
                x[inputs - 1] = p / 2 + 1;
                let add: Vec<u64> = (0..outputs).map(|_| rng.next_u64() % p).collect();
                assert_eq!(
                    linear_mod(&field, layer, &x, &add),
                    reference(&field, layer, &x, &add),
                    "{} {name}",
                    net.name
                );
            }
        }
    }

    /// Weights so wide that reductions happen every few products, and wider still (the
    /// `i128` fallback), agree with the reference too.
    #[test]
    fn wide_weights_reduce_early_or_fall_back() {
        let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let p = field.modulus();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        for bits in [20u32, 21, 23, 40] {
            let w = |rng: &mut rand_chacha::ChaCha20Rng| {
                (rng.next_u64() % (1 << bits)) as i64 - (1 << (bits - 1))
            };
            let conv = Conv2d {
                in_channels: 3,
                out_channels: 2,
                height: 5,
                width: 4,
                kernel_h: 3,
                kernel_w: 3,
                stride: 2,
                pad: (1, 0, 1, 2),
                weights: (0..2 * 3 * 9).map(|_| w(&mut rng)).collect(),
                bias: vec![w(&mut rng), -5],
            };
            let dense = Dense {
                inputs: 40,
                outputs: 3,
                weights: (0..120).map(|_| w(&mut rng)).collect(),
                bias: vec![1, -2, w(&mut rng)],
            };
            for layer in [LinearLayer::Conv2d(conv), LinearLayer::Dense(dense)] {
                let (inputs, outputs) = match layer.kernel() {
                    Kernel::Conv(c) => {
                        let (oh, ow) = c.output_hw();
                        (c.in_channels * c.height * c.width, c.out_channels * oh * ow)
                    }
                    Kernel::Dense(d) => (d.inputs, d.outputs),
                };
                let x: Vec<u64> = (0..inputs)
                    .map(|i| {
                        if i % 3 == 0 {
                            p / 2
                        } else {
                            rng.next_u64() % p
                        }
                    })
                    .collect();
                let add: Vec<u64> = (0..outputs).map(|_| rng.next_u64() % p).collect();
                assert_eq!(
                    linear_mod(&field, &layer, &x, &add),
                    reference(&field, &layer, &x, &add),
                    "{bits}-bit weights"
                );
            }
        }
    }
}
