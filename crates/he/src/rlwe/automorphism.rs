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
    let (x0, x1) = keyswitch::inner_product(params, decomposed, key, Some(g));
    let q = &params.level(ct.level).q;
    let mut c0 = ct.polys[0].automorphism(g, q);
    c0.add_assign(&keyswitch::mod_down(params, &x0, ct.level), q);
    let c1 = keyswitch::mod_down(params, &x1, ct.level);
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
    let q = &params.level(level).q;
    let (k0, k1) = keyswitch::key_switch_coeff(params, c2_coeff, level, &rlk.0);
    let mut c0 = c0;
    let mut c1 = c1;
    c0.add_assign(&k0, q);
    c1.add_assign(&k1, q);
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
            Ok(relinearize_with_coeff(
                params,
                ct.polys[0].clone(),
                ct.polys[1].clone(),
                &c2,
                ct.level,
                rlk,
            ))
        }
        n => Err(HeError::InvalidCiphertext(format!("{n} polynomials"))),
    }
}
