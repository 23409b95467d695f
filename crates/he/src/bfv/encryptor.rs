//! BFV encryption, decryption and noise measurement (Fan–Vercauteren 2012, "Somewhat practical
//! fully homomorphic encryption"; full-RNS decryption as in HPS19 §3.2).

use super::encoder::Plaintext;
use super::params::BfvParameters;
use crate::rlwe::{self, Ciphertext, PublicKey, SecretKey};
use crate::HeError;
use henn_ring::sampler::{Seed, SharedCsprng};
use henn_ring::{Form, RnsPoly};
use num_bigint::BigUint;
use num_traits::{One, Zero};
use std::sync::Arc;

/// `round(Q·m/t) = Δ·m + round((Q mod t)·m/t)` modulo each `q_i`, coefficient form, level `L`.
pub(crate) fn scale_message(params: &BfvParameters, pt: &Plaintext, level: usize) -> RnsPoly {
    let q = &params.rlwe().level(level).q;
    let n = params.degree();
    let lv = params.level(level);
    let t = params.plaintext_modulus() as u128;
    let r = lv.q_mod_t as u128;
    let corr: Vec<u64> = pt
        .coeffs
        .iter()
        .map(|&m| ((r * m as u128 + t / 2) / t) as u64)
        .collect();
    let mut poly = RnsPoly::zero(n, level + 1, Form::Coefficient);
    for i in 0..=level {
        let m = q.modulus(i);
        let d = lv.delta[i];
        let ds = m.shoup(d);
        for ((o, &x), &c) in poly.limb_mut(i).iter_mut().zip(&pt.coeffs).zip(&corr) {
            *o = m.add(m.mul_shoup(m.reduce(x), d, ds), m.reduce(c));
        }
    }
    poly
}

/// A half-size secret-key ciphertext: `c_0` and the seed of `c_1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededCiphertext {
    pub(crate) c0: RnsPoly,
    pub(crate) seed: Seed,
}

impl SeededCiphertext {
    /// Expands to a full ciphertext by regenerating `c_1` from the seed (the evaluator's side).
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] / [`HeError::InvalidCiphertext`] for a ciphertext that does
    /// not fit `params` (as [`crate::ckks::SeededCiphertext::expand`]).
    pub fn expand(&self, params: &BfvParameters) -> Result<Ciphertext, HeError> {
        let a = rlwe::encryption::expand_seed(params.rlwe(), &self.seed);
        Ciphertext::from_polys(params.rlwe(), vec![self.c0.clone(), a], params.max_level())
    }
}

enum EncryptionKey {
    Public(PublicKey),
    Secret(SecretKey),
}

/// Encrypts plaintexts with a public or a secret key, with an OS-seeded ChaCha20 CSPRNG.
pub struct Encryptor {
    params: Arc<BfvParameters>,
    key: EncryptionKey,
    rng: SharedCsprng,
}

impl Encryptor {
    /// Public-key encryptor.
    pub fn with_public_key(params: &Arc<BfvParameters>, pk: &PublicKey) -> Self {
        Self {
            params: params.clone(),
            key: EncryptionKey::Public(pk.clone()),
            rng: SharedCsprng::from_os(),
        }
    }

    /// Secret-key encryptor (smaller noise; enables seeded half-size ciphertexts).
    pub fn with_secret_key(params: &Arc<BfvParameters>, sk: &SecretKey) -> Self {
        Self {
            params: params.clone(),
            key: EncryptionKey::Secret(sk.clone()),
            rng: SharedCsprng::from_os(),
        }
    }

    fn check_plaintext(&self, pt: &Plaintext) -> Result<(), HeError> {
        if pt.coeffs.len() != self.params.degree() {
            return Err(HeError::LengthMismatch {
                what: "plaintext coefficients",
                expected: self.params.degree(),
                got: pt.coeffs.len(),
            });
        }
        Ok(())
    }

    /// Encrypts at the top level; the result is in NTT form.
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] for a plaintext of another degree (as
    /// [`crate::ckks::Encryptor::encrypt`]).
    pub fn encrypt(&self, pt: &Plaintext) -> Result<Ciphertext, HeError> {
        self.check_plaintext(pt)?;
        let m = scale_message(&self.params, pt, self.params.max_level());
        Ok(match &self.key {
            EncryptionKey::Public(pk) => {
                rlwe::encryption::encrypt_pk(self.params.rlwe(), pk, &m, &mut self.rng.child())
            }
            EncryptionKey::Secret(sk) => {
                rlwe::encryption::encrypt_sk(sk, &m, &mut self.rng.child()).0
            }
        })
    }

    /// Secret-key encryption in seeded (half-size) form.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] for a public-key encryptor; otherwise as
    /// [`encrypt`](Self::encrypt).
    pub fn encrypt_seeded(&self, pt: &Plaintext) -> Result<SeededCiphertext, HeError> {
        self.check_plaintext(pt)?;
        let m = scale_message(&self.params, pt, self.params.max_level());
        match &self.key {
            EncryptionKey::Secret(sk) => {
                let (mut ct, seed) = rlwe::encryption::encrypt_sk(sk, &m, &mut self.rng.child());
                Ok(SeededCiphertext {
                    c0: ct.polys.swap_remove(0),
                    seed,
                })
            }
            EncryptionKey::Public(_) => Err(HeError::InvalidParameters(
                "seeded encryption needs the secret key".into(),
            )),
        }
    }
}

/// Decrypts and measures noise.
pub struct Decryptor {
    params: Arc<BfvParameters>,
    sk: SecretKey,
}

impl Decryptor {
    /// A decryptor for `sk`.
    pub fn new(params: &Arc<BfvParameters>, sk: &SecretKey) -> Self {
        Self {
            params: params.clone(),
            sk: sk.clone(),
        }
    }

    /// Decrypts: `m = [round(t/Q_ℓ · [c_0 + c_1·s]_{Q_ℓ})]_t`, computed in RNS as
    /// `Σ_i x_i·⌊t·c_i/q_i⌋ + ⌊x_i·u_i/q_i⌋ + round(Σ_i frac)` (HPS19 §3.2, with Shoup
    /// quotients for the exact integer parts).
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] / [`HeError::CiphertextSize`] / [`HeError::LengthMismatch`]
    /// for a ciphertext that does not fit the parameters (as [`crate::ckks::Decryptor::decrypt`]).
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext, HeError> {
        self.check(ct)?;
        let x = rlwe::encryption::phase(&self.sk, ct);
        let level = ct.level;
        let dc = &self.params.level(level).decrypt;
        let q = &self.params.rlwe().level(level).q;
        let t = self.params.t();
        let n = self.params.degree();
        let coeffs = (0..n)
            .map(|c| {
                let mut acc: u128 = 0;
                let mut frac = 0.0f64;
                for i in 0..=level {
                    let m = q.modulus(i);
                    let xi = x.limb(i)[c];
                    let (u, us) = dc.frac[i];
                    let (rem, quot) = m.mul_shoup_with_quotient(xi, u, us);
                    acc += xi as u128 * dc.int_mod_t[i] as u128 + quot as u128;
                    frac += rem as f64 * dc.inv_q[i];
                }
                acc += (frac + 0.5) as u128; // frac >= 0: no libm round
                t.reduce_u128(acc)
            })
            .collect();
        Ok(Plaintext { coeffs })
    }

    fn check(&self, ct: &Ciphertext) -> Result<(), HeError> {
        let max_level = self.params.max_level();
        if ct.level > max_level {
            return Err(HeError::InvalidLevel {
                level: ct.level,
                max_level,
            });
        }
        if !(2..=3).contains(&ct.polys.len()) {
            return Err(HeError::CiphertextSize {
                operation: "decryption",
                expected: 2,
                got: ct.polys.len(),
            });
        }
        let n = self.params.degree();
        if let Some(p) = ct
            .polys
            .iter()
            .find(|p| p.degree() != n || p.num_limbs() != ct.level + 1)
        {
            return Err(HeError::LengthMismatch {
                what: "ciphertext polynomial (degree x limbs)",
                expected: n * (ct.level + 1),
                got: p.degree() * p.num_limbs(),
            });
        }
        Ok(())
    }

    /// SEAL's invariant noise budget in bits: `log2(Q_ℓ) − log2(‖[t·(c_0 + c_1·s)]_{Q_ℓ}‖_∞) − 1`,
    /// clamped at 0. Decryption is correct while it is positive.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt).
    pub fn noise_budget(&self, ct: &Ciphertext) -> Result<u32, HeError> {
        self.check(ct)?;
        let mut x = rlwe::encryption::phase(&self.sk, ct);
        let level = ct.level;
        let q = self.params.rlwe().level(level).q.clone();
        x.mul_scalar_assign(self.params.plaintext_modulus() as i64, &q);
        let moduli = q.moduli();
        let big_q: BigUint = moduli.iter().fold(BigUint::one(), |a, &m| a * m);
        let half = &big_q >> 1;
        let puncts: Vec<BigUint> = moduli.iter().map(|&m| &big_q / m).collect();
        let invs: Vec<u64> = (0..moduli.len())
            .map(|i| {
                let m = q.modulus(i);
                let p = (&puncts[i] % moduli[i])
                    .iter_u64_digits()
                    .next()
                    .unwrap_or(0);
                m.inv(p).unwrap_or(0)
            })
            .collect();
        let mut max = BigUint::zero();
        for c in 0..self.params.degree() {
            let mut v = BigUint::zero();
            for i in 0..moduli.len() {
                let m = q.modulus(i);
                v += &puncts[i] * m.mul(x.limb(i)[c], invs[i]);
            }
            v %= &big_q;
            let abs = if v > half { &big_q - v } else { v };
            if abs > max {
                max = abs;
            }
        }
        let bits_q = big_q.bits() as i64;
        let bits_noise = max.bits() as i64;
        Ok((bits_q - bits_noise - 1).max(0) as u32)
    }
}
