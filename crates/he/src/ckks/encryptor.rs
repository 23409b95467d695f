//! CKKS encryption and decryption (CKKS17 §3.4 `Enc`/`Dec`) on the RLWE layer.
//!
//! Encryption encrypts zero at the top level with [`crate::rlwe::encryption`], drops to the
//! plaintext's level and adds the plaintext in NTT form, so a plaintext at any level and scale
//! can be encrypted. The fresh error is `e_0 + e_1·s + u·e` for public-key encryption (`u`
//! ternary, `e_i` Gaussian σ = 3.2), below `8√2·σ·n + 6σ√n + 16σ√(hn)` in the canonical
//! embedding with overwhelming probability (CKKS17 Lemma 1), i.e. at most `2^-21` per slot at
//! `n = 2^13`, `Δ = 2^40` — in practice about `2^-30` (see the tests).

use super::ciphertext::Ciphertext;
use super::params::CkksParameters;
use super::plaintext::{Encoder, Plaintext};
use super::Complex64;
use crate::rlwe::{encryption, PublicKey, SecretKey};
use crate::HeError;
use henn_ring::sampler::{self, Seed, SharedCsprng};
use henn_ring::{Form, RnsPoly};
use std::sync::Arc;

enum EncryptionKey {
    Public(PublicKey),
    Secret(SecretKey),
}

/// Encrypts CKKS plaintexts under a public or a secret key, with an OS-seeded CSPRNG.
pub struct Encryptor {
    params: Arc<CkksParameters>,
    key: EncryptionKey,
    rng: SharedCsprng,
}

impl Encryptor {
    /// Public-key encryptor (what a client uses once the key is published).
    pub fn with_public_key(params: &Arc<CkksParameters>, pk: &PublicKey) -> Self {
        Self {
            params: params.clone(),
            key: EncryptionKey::Public(pk.clone()),
            rng: SharedCsprng::from_os(),
        }
    }

    /// Secret-key encryptor (smaller fresh noise: `e` only).
    pub fn with_secret_key(params: &Arc<CkksParameters>, sk: &SecretKey) -> Self {
        Self {
            params: params.clone(),
            key: EncryptionKey::Secret(sk.clone()),
            rng: SharedCsprng::from_os(),
        }
    }

    /// A plaintext this encryptor can encrypt: level within the chain, one NTT-form limb per
    /// prime of its level, degree `n`.
    fn check_plaintext(&self, plaintext: &Plaintext) -> Result<(), HeError> {
        self.params.check_level(plaintext.level)?;
        if plaintext.poly.num_limbs() != plaintext.level + 1
            || plaintext.poly.degree() != self.params.degree()
            || plaintext.poly.form() != Form::Ntt
        {
            return Err(HeError::LengthMismatch {
                what: "plaintext polynomial limbs",
                expected: plaintext.level + 1,
                got: plaintext.poly.num_limbs(),
            });
        }
        Ok(())
    }

    /// Encrypts `plaintext` at its level and scale.
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] for a plaintext above the parameters' top level;
    /// [`HeError::LengthMismatch`] for a polynomial of the wrong shape.
    pub fn encrypt(&self, plaintext: &Plaintext) -> Result<Ciphertext, HeError> {
        self.check_plaintext(plaintext)?;
        let n = self.params.degree();
        let rlwe_params = self.params.rlwe();
        let zero = RnsPoly::zero(n, rlwe_params.max_level() + 1, Form::Coefficient);
        let mut ct = match &self.key {
            EncryptionKey::Public(pk) => {
                encryption::encrypt_pk(rlwe_params, pk, &zero, &mut self.rng.child())
            }
            EncryptionKey::Secret(sk) => encryption::encrypt_sk(sk, &zero, &mut self.rng.child()).0,
        };
        for poly in ct.polys.iter_mut() {
            poly.truncate_limbs(plaintext.level + 1);
        }
        ct.level = plaintext.level;
        ct.polys[0].add_assign(&plaintext.poly, rlwe_params.q_basis());
        Ok(Ciphertext {
            inner: ct,
            scale: plaintext.scale,
        })
    }

    /// Secret-key encryption in seeded form: `c_1 = a` is expanded from a 32-byte seed, so only
    /// `c_0`, the seed, the level and the scale travel (half the bytes; as BFV's
    /// [`crate::bfv::Encryptor::encrypt_seeded`], same construction).
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] for a public-key encryptor (its `c_1` is not uniform from a
    /// seed); otherwise as [`encrypt`](Self::encrypt).
    pub fn encrypt_seeded(&self, plaintext: &Plaintext) -> Result<SeededCiphertext, HeError> {
        let EncryptionKey::Secret(sk) = &self.key else {
            return Err(HeError::InvalidParameters(
                "seeded encryption needs a secret-key encryptor".into(),
            ));
        };
        self.check_plaintext(plaintext)?;
        let n = self.params.degree();
        let rlwe_params = self.params.rlwe();
        let zero = RnsPoly::zero(n, rlwe_params.max_level() + 1, Form::Coefficient);
        let (ct, seed) = encryption::encrypt_sk(sk, &zero, &mut self.rng.child());
        let mut c0 = ct.polys[0].clone();
        c0.truncate_limbs(plaintext.level + 1);
        c0.add_assign(&plaintext.poly, rlwe_params.q_basis());
        Ok(SeededCiphertext {
            c0,
            seed,
            level: plaintext.level,
            scale: plaintext.scale,
        })
    }

    /// Encodes complex slots at the top level and the default scale, then encrypts.
    ///
    /// # Errors
    /// As [`Encoder::encode`] and [`encrypt`](Self::encrypt).
    pub fn encrypt_values(&self, values: &[Complex64]) -> Result<Ciphertext, HeError> {
        let pt = Encoder::new(&self.params).encode(
            values,
            self.params.max_level(),
            self.params.default_scale(),
        )?;
        self.encrypt(&pt)
    }

    /// Encodes real slots at the top level and the default scale, then encrypts.
    ///
    /// # Errors
    /// As [`encrypt_values`](Self::encrypt_values).
    pub fn encrypt_real(&self, values: &[f64]) -> Result<Ciphertext, HeError> {
        let complex: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encrypt_values(&complex)
    }
}

/// A secret-key CKKS ciphertext in seeded form (see [`Encryptor::encrypt_seeded`]): `c_0` at
/// its level, the seed of `c_1`, and the scale.
#[derive(Clone, Debug)]
pub struct SeededCiphertext {
    pub(crate) c0: RnsPoly,
    pub(crate) seed: Seed,
    pub(crate) level: usize,
    pub(crate) scale: f64,
}

impl SeededCiphertext {
    /// Level of the ciphertext.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Scale of the encrypted message.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Expands `c_1` from the seed (the evaluator's side).
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] or [`HeError::LengthMismatch`] for a ciphertext that does
    /// not fit `params`.
    pub fn expand(&self, params: &CkksParameters) -> Result<Ciphertext, HeError> {
        params.check_level(self.level)?;
        let q = params.rlwe().q_basis();
        if self.c0.num_limbs() != self.level + 1 || self.c0.degree() != params.degree() {
            return Err(HeError::LengthMismatch {
                what: "seeded ciphertext limbs",
                expected: self.level + 1,
                got: self.c0.num_limbs(),
            });
        }
        let mut a = sampler::uniform_poly(
            &mut sampler::rng_from_seed(&self.seed),
            q,
            q.len(),
            Form::Ntt,
        );
        a.truncate_limbs(self.level + 1);
        let inner = crate::rlwe::Ciphertext::from_polys(
            params.rlwe(),
            vec![self.c0.clone(), a],
            self.level,
        )?;
        Ciphertext::from_rlwe(inner, self.scale)
    }
}

/// Decrypts CKKS ciphertexts (`c_0 + c_1·s [+ c_2·s²]` modulo `Q_ℓ`, CKKS17 §3.4) and decodes
/// the result through the centered CRT lift.
pub struct Decryptor {
    params: Arc<CkksParameters>,
    sk: SecretKey,
}

impl Decryptor {
    /// A decryptor holding (a zeroize-on-drop clone of) the secret key.
    pub fn new(params: &Arc<CkksParameters>, sk: &SecretKey) -> Self {
        Self {
            params: params.clone(),
            sk: sk.clone(),
        }
    }

    /// Decrypts into a plaintext (NTT form) at the ciphertext's level and scale.
    ///
    /// # Errors
    /// [`HeError::InvalidLevel`] / [`HeError::CiphertextSize`] for a malformed ciphertext.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext, HeError> {
        let mut poly = self.phase(ct)?;
        poly.ntt_forward(self.params.rlwe().q_basis());
        Ok(Plaintext {
            poly,
            level: ct.level(),
            scale: ct.scale,
        })
    }

    /// Decrypts and decodes into complex slots.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt).
    pub fn decrypt_values(&self, ct: &Ciphertext) -> Result<Vec<Complex64>, HeError> {
        let poly = self.phase(ct)?;
        Encoder::new(&self.params).decode_coefficients(&poly, ct.scale)
    }

    /// Decrypts and decodes, keeping the real parts.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt).
    pub fn decrypt_real(&self, ct: &Ciphertext) -> Result<Vec<f64>, HeError> {
        Ok(self.decrypt_values(ct)?.iter().map(|z| z.re).collect())
    }

    fn phase(&self, ct: &Ciphertext) -> Result<RnsPoly, HeError> {
        self.params.check_level(ct.level())?;
        let n = self.params.degree();
        if let Some(poly) = ct.inner.polys.iter().find(|p| p.degree() != n) {
            return Err(HeError::LengthMismatch {
                what: "ciphertext ring degree",
                expected: n,
                got: poly.degree(),
            });
        }
        if !(2..=3).contains(&ct.len()) {
            return Err(HeError::CiphertextSize {
                operation: "decryption",
                expected: 2,
                got: ct.len(),
            });
        }
        Ok(encryption::phase(&self.sk, &ct.inner))
    }
}
