//! Automorphisms of ciphertexts and relinearization, both scheme-independent.
//!
//! `σ_k(c_0) + σ_k(c_1)·σ_k(s) = σ_k(m)`: applying `σ_k` to both polynomials (an index
//! permutation in NTT form) and key-switching `σ_k(c_1)` from `σ_k(s)` back to `s` gives an
//! encryption of `σ_k(m)`. Many elements at once share one decomposition (hoisting; see
//! [`super::keyswitch`]).

use super::ciphertext::Ciphertext;
use super::keys::{GaloisKeys, RelinearizationKey};
use super::keyswitch::{self, DecomposedPoly};
use super::params::RlweParameters;
use crate::HeError;

fn require_two(ct: &Ciphertext) -> Result<(), HeError> {
    if ct.polys.len() != 2 {
        return Err(HeError::InvalidCiphertext(
            "relinearize before applying an automorphism".into(),
        ));
    }
    Ok(())
}

/// Decomposes `c_1` of `ct` once, for any number of automorphisms afterwards.
pub fn hoist(params: &RlweParameters, ct: &Ciphertext) -> Result<DecomposedPoly, HeError> {
    require_two(ct)?;
    let mut c1 = ct.polys[1].clone();
    c1.ntt_backward(&params.level(ct.level).q);
    Ok(keyswitch::decompose(params, &c1, &ct.polys[1], ct.level))
}

/// Applies `σ_k` to `ct` using a decomposition made by [`hoist`] of the same ciphertext.
pub fn apply_galois_decomposed(
    params: &RlweParameters,
    ct: &Ciphertext,
    decomposed: &DecomposedPoly,
    keys: &GaloisKeys,
    k: usize,
) -> Result<Ciphertext, HeError> {
    require_two(ct)?;
    if decomposed.level != ct.level {
        return Err(HeError::LevelMismatch(decomposed.level, ct.level));
    }
    let (g, key) = keys.get(k)?;
    // The key is stored permuted by σ^{-1} (see `GaloisKeys`): the inner product reads the
    // digits in place and σ is applied once, after ModDown, to `c_0 + k_0` and `k_1`.
    let (x0, x1) = keyswitch::inner_product(params, decomposed, key);
    let c0 = keyswitch::mod_down_add_automorphism(params, x0, ct.level, Some(&ct.polys[0]), g);
    let c1 = keyswitch::mod_down_add_automorphism(params, x1, ct.level, None, g);
    Ok(Ciphertext {
        polys: vec![c0, c1],
        level: ct.level,
    })
}

/// Applies `σ_k` to a ciphertext.
pub fn apply_galois(
    params: &RlweParameters,
    ct: &Ciphertext,
    keys: &GaloisKeys,
    k: usize,
) -> Result<Ciphertext, HeError> {
    keys.get(k)?;
    let d = hoist(params, ct)?;
    apply_galois_decomposed(params, ct, &d, keys, k)
}

/// Applies each `σ_k`, `k ∈ elements`, to one ciphertext with a single decomposition.
pub fn apply_galois_hoisted(
    params: &RlweParameters,
    ct: &Ciphertext,
    keys: &GaloisKeys,
    elements: &[usize],
) -> Result<Vec<Ciphertext>, HeError> {
    for &k in elements {
        keys.get(k)?;
    }
    let d = hoist(params, ct)?;
    elements
        .iter()
        .map(|&k| apply_galois_decomposed(params, ct, &d, keys, k))
        .collect()
}

/// Relinearizes a three-polynomial ciphertext `(c_0, c_1, c_2)` given `c_2` in coefficient form.
pub(crate) fn relinearize_with_coeff(
    params: &RlweParameters,
    c0: henn_ring::RnsPoly,
    c1: henn_ring::RnsPoly,
    c2_coeff: &henn_ring::RnsPoly,
    level: usize,
    rlk: &RelinearizationKey,
) -> Ciphertext {
    let (c0, c1) = keyswitch::key_switch_coeff_add(params, c2_coeff, level, &rlk.0, (&c0, &c1));
    Ciphertext {
        polys: vec![c0, c1],
        level,
    }
}

/// Relinearizes `(c_0, c_1, c_2)` to `(c_0', c_1')` under `s` (key switching `c_2` from `s²`).
pub fn relinearize(
    params: &RlweParameters,
    ct: &Ciphertext,
    rlk: &RelinearizationKey,
) -> Result<Ciphertext, HeError> {
    match ct.polys.len() {
        2 => Ok(ct.clone()),
        3 => {
            let q = &params.level(ct.level).q;
            let mut c2 = ct.polys[2].clone();
            c2.ntt_backward(q);
            // c_2 is at hand in both forms: no forward transform is repeated
            let (c0, c1) = keyswitch::key_switch_add(
                params,
                &c2,
                &ct.polys[2],
                ct.level,
                &rlk.0,
                (&ct.polys[0], &ct.polys[1]),
            );
            Ok(Ciphertext {
                polys: vec![c0, c1],
                level: ct.level,
            })
        }
        n => Err(HeError::InvalidCiphertext(format!("{n} polynomials"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlwe::{encryption, keyswitch, KeyGenerator};
    use henn_ring::{column_rotation_element, row_swap_element, sampler, Form};
    use std::sync::Arc;

    /// The σ^{-1}-permuted Galois keys with σ applied after ModDown give bit-for-bit the
    /// ciphertext of the textbook order (σ on both polynomials, then key switching `σ(c_1)`
    /// with the unpermuted key), hoisted or not, for one- and two-prime digits.
    #[test]
    fn output_side_automorphism_equals_textbook_rotation() {
        for (log_n, q_bits, p_bits, dnum) in [
            (11, &[50u32, 50, 50][..], &[49u32][..], 3),
            (11, &[40, 40, 40, 40][..], &[41, 41][..], 2),
        ] {
            let (q, p) = RlweParameters::generate_primes(log_n, q_bits, p_bits).unwrap();
            let params = Arc::new(RlweParameters::insecure_new(log_n, &q, &p, dnum).unwrap());
            let n = params.degree();
            let mut keygen = KeyGenerator::new(&params);
            let elements = vec![
                column_rotation_element(1, n),
                column_rotation_element(-3, n),
                row_swap_element(n),
            ];
            let gk = keygen.galois_keys(&elements).unwrap();
            let mut rng = sampler::os_rng();
            let qb = params.q_basis();
            let m = sampler::uniform_poly(&mut rng, qb, qb.len(), Form::Coefficient);
            let (ct, _) = encryption::encrypt_sk(keygen.secret_key(), &m, &mut rng);
            let hoisted = apply_galois_hoisted(&params, &ct, &gk, &elements).unwrap();
            for (&k, h) in elements.iter().zip(&hoisted) {
                let single = apply_galois(&params, &ct, &gk, k).unwrap();
                assert_eq!(&single, h, "k = {k}");
                let (g, key) = gk.get(k).unwrap();
                let original = key.permuted(g, false);
                let q = &params.level(ct.level).q;
                let c1 = ct.polys[1].automorphism(g, q);
                let (k0, k1) = keyswitch::key_switch(&params, &c1, ct.level, &original);
                let mut c0 = ct.polys[0].automorphism(g, q);
                c0.add_assign(&k0, q);
                assert_eq!(h.polys[0], c0, "k = {k}, c0");
                assert_eq!(h.polys[1], k1, "k = {k}, c1");
            }
        }
    }
}
