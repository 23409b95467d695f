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
//! the statistical guarantee. The flooding noise itself and the width formula are the engine's
//! ([`henn_he::rlwe::flood`], shared with the prediction service's outputs).

use super::params::{log2_sum, FLOOD_STAT_BITS};
use super::slot::he;
use crate::error::TwoPcError;
use henn_he::bfv::{BfvParameters, Encryptor, Evaluator, Plaintext};
use henn_he::rlwe::Ciphertext;
use henn_ring::sampler::Csprng;

/// `(F, output level)` for answers of `cts` ciphertexts whose noise is at most `2^noise_bits`;
/// an error if the flooded noise does not fit the top level.
pub fn flooding_plan(
    params: &BfvParameters,
    noise_bits: f64,
    cts: usize,
) -> Result<(u32, usize), TwoPcError> {
    let n = params.degree();
    let top = params.max_level();
    let flood_bits =
        henn_he::rlwe::flood::uniform_flood_bits(noise_bits, n * cts.max(1), FLOOD_STAT_BITS);
    let q = params.rlwe().q_basis();
    let log_q_level =
        |l: usize| -> f64 { (0..=l).map(|i| (q.modulus(i).value() as f64).log2()).sum() };
    let log_t = (params.plaintext_modulus() as f64).log2();
    let b_pk = henn_he::rlwe::flood::pk_noise_bits(n);
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
    henn_he::rlwe::flood::add_flooding_noise(params.rlwe(), &ct, flood_bits, rng).map_err(he)
}
