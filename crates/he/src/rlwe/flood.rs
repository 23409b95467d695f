//! Circuit privacy of an evaluated ciphertext: re-randomization with a fresh public-key
//! encryption of zero and noise flooding (Gentry's thesis §21 "circuit privacy"; the flooding
//! lemma as used by Asharov et al., EUROCRYPT 2012, §2, and by Gazelle/DELPHI for their HE
//! layers). Scheme-independent: BFV and CKKS ciphertexts are both RLWE ciphertexts
//! `(c_0, c_1)` with phase `c_0 + c_1·s`.
//!
//! A server that evaluated a circuit with its own secrets (weights) on a client's ciphertexts
//! returns `(c_0, c_1)` whose `c_1` is a deterministic function of those secrets and of the
//! client's randomness, and whose noise `e` depends on both. The client knows its secret key and
//! its randomness, so unprotected it learns more about the secrets than the decrypted result.
//! Two steps, applied to the ciphertext **at the level it is returned at** (after the modulus
//! switch, so the rounding noise of the switch is covered too):
//!
//! 1. [`rerandomize`]: add `(b·u + e_0, a·u + e_1)`, a fresh encryption of zero under the
//!    client's public key `(b, a) = (−a·s + e, a)` modulo `Q_ℓ` (the public key restricted to
//!    the level's primes is still an RLWE sample modulo `Q_ℓ`). `c_1` becomes pseudorandom
//!    (RLWE with the server's ternary `u`), independent of the circuit; the phase gains
//!    `u·e + e_0 + e_1·s`, at most `B_pk = 19·(2n+1)` per coefficient ([`pk_noise_bits`]).
//! 2. [`add_flooding_noise`]: add independent uniform noise in `[−2^F, 2^F)` to every
//!    coefficient of `c_0`. For a noise `e` with `|e_i| ≤ B`, the statistical distance between
//!    `e + U` and `U` is at most `Σ_i |e_i|/2^(F+1) ≤ N·B/2^(F+1)` over the `N` flooded
//!    coefficients, so [`uniform_flood_bits`]`(log2 B, N, κ)` `= ⌈log2 B⌉ + κ + ⌈log2 N⌉`
//!    makes it `≤ 2^(−κ)`: the returned phase is then within `2^(−κ)` of one that depends
//!    only on the result. [`FLOOD_STAT_BITS`] `κ = 40` is the statistical parameter used
//!    throughout (as DELPHI and the 2PC layers of this project).
//!
//! The caller must leave room: the flooded phase must still decrypt, i.e. for BFV
//! `B + B_pk + 2^F < Q_ℓ/(2t)`, and for CKKS `2^F` relative to the scale must stay below the
//! precision the result needs.

use super::ciphertext::Ciphertext;
use super::keys::PublicKey;
use super::params::RlweParameters;
use crate::HeError;
use henn_ring::sampler::{self, Csprng};
use henn_ring::{Form, RnsPoly};

/// Statistical security parameter `κ` of noise flooding, in bits: the flooded answer is within
/// statistical distance `2^(−κ)` of one whose noise does not depend on the evaluator's secrets.
pub const FLOOD_STAT_BITS: u32 = 40;

/// `log2` of the worst-case phase noise a fresh public-key encryption of zero adds
/// (`|u·e + e_0 + e_1·s| ≤ 19·(2n+1)` for ternary `u, s` and the 19-bounded Gaussian).
pub fn pk_noise_bits(n: usize) -> f64 {
    (19.0 * (2.0 * n as f64 + 1.0)).log2()
}

/// The flooding width `F = ⌈log2 B⌉ + κ + ⌈log2 N⌉` for a noise of at most `2^noise_bits` on
/// each of `coefficients` flooded coefficients (see the module docs).
pub fn uniform_flood_bits(noise_bits: f64, coefficients: usize, stat_bits: u32) -> u32 {
    noise_bits.max(0.0).ceil() as u32
        + stat_bits
        + (coefficients.max(1) as f64).log2().ceil() as u32
}

/// A fresh encryption of zero under `pk` at `level` (computed modulo `Q_ℓ` directly: the public
/// key's first `ℓ + 1` residues), NTT form.
pub fn encrypt_zero(
    params: &RlweParameters,
    pk: &PublicKey,
    level: usize,
    rng: &mut Csprng,
) -> Result<Ciphertext, HeError> {
    if level > params.max_level() {
        return Err(HeError::InvalidCiphertext(format!(
            "level {level} above maximum {}",
            params.max_level()
        )));
    }
    let q = params.q_basis();
    let n = params.degree();
    let limbs = level + 1;
    let mut u = RnsPoly::from_signed(q, limbs, &sampler::ternary(rng, n));
    u.ntt_forward(q);
    let mut c0 = RnsPoly::from_signed(q, limbs, &sampler::gaussian(rng, n));
    c0.ntt_forward(q);
    let mut c1 = RnsPoly::from_signed(q, limbs, &sampler::gaussian(rng, n));
    c1.ntt_forward(q);
    c0.mul_accumulate(&pk.b, &u, q);
    c1.mul_accumulate(&pk.a, &u, q);
    u.data_mut().iter_mut().for_each(|x| *x = 0);
    Ciphertext::from_polys(params, vec![c0, c1], level)
}

/// `ct` plus a fresh encryption of zero under `pk` at `ct`'s level (step 1 of the module docs).
pub fn rerandomize(
    params: &RlweParameters,
    pk: &PublicKey,
    ct: &Ciphertext,
    rng: &mut Csprng,
) -> Result<Ciphertext, HeError> {
    if ct.len() != 2 {
        return Err(HeError::InvalidCiphertext(
            "re-randomization needs a relinearized (2-polynomial) ciphertext".into(),
        ));
    }
    let zero = encrypt_zero(params, pk, ct.level(), rng)?;
    let q = params.q_basis();
    let mut polys = ct.polys().to_vec();
    for (p, z) in polys.iter_mut().zip(zero.polys()) {
        p.add_assign(z, q);
    }
    Ciphertext::from_polys(params, polys, ct.level())
}

/// `ct` with independent uniform noise in `[−2^F, 2^F)` added to every coefficient of `c_0`
/// at `ct`'s level (step 2 of the module docs); `F = flood_bits`.
pub fn add_flooding_noise(
    params: &RlweParameters,
    ct: &Ciphertext,
    flood_bits: u32,
    rng: &mut Csprng,
) -> Result<Ciphertext, HeError> {
    let level = ct.level();
    let q = params.q_basis().prefix(level + 1);
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
    // 64-bit words from the CSPRNG, four per 32-byte draw
    let mut pool = [0u64; 4];
    let mut left = 0usize;
    let mut next = |rng: &mut Csprng| -> u64 {
        if left == 0 {
            let b = sampler::fresh_seed_from(rng);
            for (i, x) in pool.iter_mut().enumerate() {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[8 * i..8 * i + 8]);
                *x = u64::from_le_bytes(a);
            }
            left = 4;
        }
        left -= 1;
        std::mem::take(&mut pool[left])
    };
    for c in 0..n {
        for (k, x) in w.iter_mut().enumerate() {
            *x = next(rng);
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
    w.iter_mut().for_each(|x| *x = 0);
    let mut noise = RnsPoly::from_reduced(n, level + 1, Form::Coefficient, data)
        .map_err(|e| HeError::InvalidCiphertext(format!("flooding polynomial: {e}")))?;
    noise.ntt_forward(&q);
    let mut polys = ct.polys().to_vec();
    polys[0].add_assign(&noise, &q);
    Ciphertext::from_polys(params, polys, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfv::{BfvParametersBuilder, Decryptor, Encryptor, Evaluator, Plaintext};
    use crate::rlwe::KeyGenerator;

    #[test]
    fn flooded_rerandomized_ciphertext_decrypts_and_changes() {
        let params = BfvParametersBuilder::new()
            .log_n(5)
            .q_bits(&[60, 60, 60])
            .p_bits(&[61])
            .plaintext_modulus(257)
            .insecure_build()
            .unwrap();
        let mut keygen = KeyGenerator::new(params.rlwe());
        let pk = keygen.public_key();
        let enc = Encryptor::with_public_key(&params, &pk);
        let dec = Decryptor::new(&params, keygen.secret_key());
        let eval = Evaluator::new(&params);
        let m: Vec<u64> = (0..32).map(|i| (i * 7) % 257).collect();
        let pt = Plaintext::from_coefficients(&params, &m).unwrap();
        let mut ct = enc.encrypt(&pt).unwrap();
        eval.drop_to_level_assign(&mut ct, 1).unwrap();
        let before = dec.noise_budget(&ct).unwrap();
        let mut rng = sampler::rng_from_seed(&[7; 32]);
        let r = rerandomize(params.rlwe(), &pk, &ct, &mut rng).unwrap();
        assert_ne!(r.polys()[1], ct.polys()[1], "c_1 must be re-randomized");
        // room at level 1: ~120 − 8 bits; flood with 2^60
        let f = add_flooding_noise(params.rlwe(), &r, 60, &mut rng).unwrap();
        assert_eq!(
            dec.decrypt(&f).unwrap(),
            dec.decrypt(&ct).unwrap(),
            "flooded answer decrypts the same"
        );
        let after = dec.noise_budget(&f).unwrap();
        assert!(
            before >= after + 50,
            "flooding at 2^60 must cost ≥ 50 bits of budget (before {before}, after {after})"
        );
        // flooding beyond the room destroys the message: the noise really is added
        let g = add_flooding_noise(params.rlwe(), &r, 118, &mut rng).unwrap();
        assert_ne!(dec.decrypt(&g).unwrap(), dec.decrypt(&ct).unwrap());
    }

    #[test]
    fn flood_bits_formula() {
        assert_eq!(uniform_flood_bits(10.2, 8192, 40), 11 + 40 + 13);
        assert_eq!(uniform_flood_bits(-3.0, 1, 40), 40);
    }
}
