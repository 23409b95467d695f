//! RLWE encryption of a scheme-encoded message polynomial and the decryption phase.
//! Public-key encryption follows Lyubashevsky–Peikert–Regev / FV: `(b·u + e_0 + m, a·u + e_1)`
//! with ternary `u`; secret-key encryption is `(-a·s + e + m, a)` with `a` from a seed.

use super::ciphertext::Ciphertext;
use super::keys::{PublicKey, SecretKey};
use henn_ring::sampler::{self, Csprng, Seed};
use henn_ring::{Form, RnsPoly};

/// Encrypts `m` (coefficient form modulo `Q_L`, already scaled by the scheme) under the public
/// key. Returns a level-`L` ciphertext in NTT form.
pub fn encrypt_pk(
    params: &super::RlweParameters,
    pk: &PublicKey,
    m: &RnsPoly,
    rng: &mut Csprng,
) -> Ciphertext {
    let q = params.q_basis();
    let n = params.degree();
    let limbs = q.len();
    let mut u = RnsPoly::from_signed(q, limbs, &sampler::ternary(rng, n));
    u.ntt_forward(q);
    let mut c0 = RnsPoly::from_signed(q, limbs, &sampler::gaussian(rng, n));
    c0.add_assign(m, q);
    c0.ntt_forward(q);
    let mut c1 = RnsPoly::from_signed(q, limbs, &sampler::gaussian(rng, n));
    c1.ntt_forward(q);
    c0.mul_accumulate(&pk.b, &u, q);
    c1.mul_accumulate(&pk.a, &u, q);
    u.zeroize_poly();
    Ciphertext {
        polys: vec![c0, c1],
        level: params.max_level(),
    }
}

/// Encrypts `m` (coefficient form modulo `Q_L`, scaled) under the secret key; `c_1 = a` is
/// expanded from the returned seed, so `(c_0, seed)` is a complete half-size ciphertext.
pub fn encrypt_sk(sk: &SecretKey, m: &RnsPoly, rng: &mut Csprng) -> (Ciphertext, Seed) {
    let params = sk.params();
    let q = params.q_basis();
    let n = params.degree();
    let seed = sampler::fresh_seed_from(rng);
    let a = sampler::uniform_poly(&mut sampler::rng_from_seed(&seed), q, q.len(), Form::Ntt);
    let mut c0 = RnsPoly::from_signed(q, q.len(), &sampler::gaussian(rng, n));
    c0.add_assign(m, q);
    c0.ntt_forward(q);
    let mut as_ = a.clone();
    as_.mul_assign(sk.ntt_qp(), q);
    c0.sub_assign(&as_, q);
    (
        Ciphertext {
            polys: vec![c0, a],
            level: params.max_level(),
        },
        seed,
    )
}

/// Regenerates `c_1 = a` of a seeded secret-key ciphertext at the top level.
pub(crate) fn expand_seed(params: &super::RlweParameters, seed: &Seed) -> RnsPoly {
    let q = params.q_basis();
    sampler::uniform_poly(&mut sampler::rng_from_seed(seed), q, q.len(), Form::Ntt)
}

/// The decryption phase `Σ_i c_i·s^i` modulo `Q_ℓ`, in coefficient form.
pub fn phase(sk: &SecretKey, ct: &Ciphertext) -> RnsPoly {
    let params = sk.params();
    let q = &params.level(ct.level).q;
    let mut acc = ct.polys[0].clone();
    let mut s_pow = sk.ntt_qp().clone();
    for (i, c) in ct.polys.iter().enumerate().skip(1) {
        if i > 1 {
            let s = sk.ntt_qp().clone();
            s_pow.mul_assign(&s, params.qp_basis());
        }
        acc.mul_accumulate(c, &s_pow, q);
    }
    henn_ring::Zeroize::zeroize(&mut s_pow);
    acc.ntt_backward(q);
    acc
}

trait ZeroizePoly {
    fn zeroize_poly(&mut self);
}

impl ZeroizePoly for RnsPoly {
    fn zeroize_poly(&mut self) {
        henn_ring::Zeroize::zeroize(self);
    }
}
