//! Circuit privacy of the server's answers: re-randomization with a fresh public-key
//! encryption of zero, uniform noise flooding, and the choice of the flooding width and the
//! output level (shared by the linear layers and the Beaver triples).
//!
//! With a worst-case bound `B` on the noise that depends on the server's secrets, the flooding
//! width is `F = ⌈log2 B⌉ + κ + ⌈log2(n·cts)⌉` (`κ` = [`FLOOD_STAT_BITS`]): uniform noise in
//! `[−2^F, 2^F)` on each of the `n·cts` coefficients puts the answer within statistical distance
//! `2^(−κ)` of one whose noise is independent of those secrets. It must fit the top level:
//! `2^(F+1) + B_pk < Q_L/(2p)` (`B_pk = 19·(2n+1)`, the re-randomizer's noise). The answer is
//! then switched to the lowest level `ℓ` with
//! `(2^(F+1) + B_pk)·Q_ℓ/Q_L + (L−ℓ)·(n+1)/2 < Q_ℓ/(4p)` (each switch adds at most `(n+1)/2`
//! rounding noise); switching is a public function of the flooded ciphertext, so it keeps
//! the statistical guarantee.

use super::params::{log2_sum, FLOOD_STAT_BITS};
use super::slot::he;
use crate::error::TwoPcError;
use henn_he::bfv::{BfvParameters, Encryptor, Evaluator, Plaintext};
use henn_he::rlwe::Ciphertext;
use henn_ring::sampler::Csprng;
use henn_ring::{Form, RnsPoly};
use rand_chacha::rand_core::RngCore;

/// `(F, output level)` for answers of `cts` ciphertexts whose noise is at most `2^noise_bits`;
/// an error if the flooded noise does not fit the top level.
pub fn flooding_plan(
    params: &BfvParameters,
    noise_bits: f64,
    cts: usize,
) -> Result<(u32, usize), TwoPcError> {
    let n = params.degree();
    let top = params.max_level();
    let flood_bits = noise_bits.max(0.0).ceil() as u32
        + FLOOD_STAT_BITS
        + ((n * cts.max(1)) as f64).log2().ceil() as u32;
    let q = params.rlwe().q_basis();
    let log_q_level =
        |l: usize| -> f64 { (0..=l).map(|i| (q.modulus(i).value() as f64).log2()).sum() };
    let log_t = (params.plaintext_modulus() as f64).log2();
    let b_pk = (19.0 * (2.0 * n as f64 + 1.0)).log2();
    let total = log2_sum(flood_bits as f64 + 1.0, b_pk);
    let room_top = log_q_level(top) - log_t - 1.0;
    if total >= room_top {
        return Err(TwoPcError::Config(format!(
            "noise budget exceeded: the server's result has noise ≤ 2^{noise_bits:.1}, flooding 2^{flood_bits} (κ = {FLOOD_STAT_BITS}) needs 2^{total:.1} < Q/(2p) = 2^{room_top:.1}; use a larger Q or n, or the other encoding"
        )));
    }
    let ms = ((n as f64 + 1.0) / 2.0).log2();
    let output_level = (0..=top)
        .find(|&l| {
            let drops = (top - l) as f64;
            let scaled = total - (log_q_level(top) - log_q_level(l));
            let noise = if drops > 0.0 {
                log2_sum(scaled, ms + drops.log2())
            } else {
                scaled
            };
            noise < log_q_level(l) - log_t - 2.0
        })
        .unwrap_or(top);
    Ok((flood_bits, output_level))
}

/// Adds a fresh public-key encryption of zero and uniform noise in `[−2^F, 2^F)` to every
/// coefficient of `c_0` (at the ciphertext's level, before modulus switching).
pub fn flood(
    params: &BfvParameters,
    eval: &Evaluator,
    rerandomizer: &Encryptor,
    ct: Ciphertext,
    flood_bits: u32,
    rng: &mut Csprng,
) -> Result<Ciphertext, TwoPcError> {
    let zero = Plaintext::from_coefficients(params, &[]).map_err(he)?;
    let mut zero_ct = rerandomizer.encrypt(&zero).map_err(he)?;
    eval.drop_to_level_assign(&mut zero_ct, ct.level())
        .map_err(he)?;
    let ct = eval.add(&ct, &zero_ct).map_err(he)?;
    let level = ct.level();
    let q = params.rlwe().q_basis().prefix(level + 1);
    let n = params.degree();
    let bits = flood_bits as usize + 1; // magnitude in [0, 2^(F+1)), minus 2^F
    let words = bits.div_ceil(64);
    let top_mask = if bits.is_multiple_of(64) {
        u64::MAX
    } else {
        (1u64 << (bits % 64)) - 1
    };
    let moduli: Vec<u64> = q.moduli();
    // 2^F mod q_i
    let offset: Vec<u64> = moduli
        .iter()
        .map(|&m| {
            let mut x = 1u128;
            for _ in 0..flood_bits {
                x = (x * 2) % m as u128;
            }
            x as u64
        })
        .collect();
    let mut data = vec![0u64; n * (level + 1)];
    let mut w = vec![0u64; words];
    for c in 0..n {
        for (k, x) in w.iter_mut().enumerate() {
            *x = rng.next_u64();
            if k == words - 1 {
                *x &= top_mask;
            }
        }
        for (i, &m) in moduli.iter().enumerate() {
            let m128 = m as u128;
            let mut acc = 0u128;
            for &x in w.iter().rev() {
                acc = ((acc << 64) | x as u128) % m128;
            }
            let v = (acc + m128 - offset[i] as u128) % m128;
            data[i * n + c] = v as u64;
        }
    }
    let mut noise = RnsPoly::from_reduced(n, level + 1, Form::Coefficient, data)
        .map_err(|e| TwoPcError::Config(format!("flooding polynomial: {e}")))?;
    noise.ntt_forward(&q);
    let mut polys = ct.polys().to_vec();
    polys[0].add_assign(&noise, &q);
    w.iter_mut().for_each(|x| *x = 0);
    Ciphertext::from_polys(params.rlwe(), polys, level).map_err(he)
}
