//! The client/server split of [`BfvCrtBackend`] for a prediction service (LoLa section 1:
//! the data owner encrypts, the model owner evaluates, only the data owner decrypts).
//!
//! * The **client** derives its secret key from a 32-byte seed ([`secret_key_from_seed`]), so
//!   that the key file holds only the seed; [`BfvCrtBackend::client`] builds a backend that
//!   encrypts (seeded), decrypts and, once, generates the evaluation keys of a [`KeySpec`].
//! * The **server** never sees the client's secret: [`BfvCrtBackend::server`] builds a backend
//!   from the public parameters and uploaded [`EvaluationKeys`] only; it holds no secret key at
//!   all, and its `encrypt`/`decrypt` fail with an error (the executor never calls them).
//! * Prepared plaintexts (weights and masks encoded once, see the module docs of
//!   [`super`]) can be shared between the per-key server backends of one model
//!   ([`BfvCrtBackend::share_prepared_plaintexts`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use henn_he::bfv::{galois_elements, BatchEncoder, BfvParameters, Decryptor, Encryptor, Evaluator};
use henn_he::rlwe::{GaloisKeys, RelinearizationKey, RlweParameters, SecretKey};
use henn_ring::sampler::{self, Csprng, Seed};

use super::{engine, BfvCrtBackend, EvaluationKeys, Instance, KeySpec, PlaintextCache};
use crate::backend::{BackendError, BackendResult};

/// The secret key derived from a 32-byte seed with the ChaCha20 CSPRNG (the seed is the key
/// material: keep it as secret as the key).
pub fn secret_key_from_seed(rlwe: &Arc<RlweParameters>, seed: &Seed) -> SecretKey {
    SecretKey::generate(rlwe, &mut sampler::rng_from_seed(seed))
}

fn plaintext_space(primes: &[u64]) -> BackendResult<i128> {
    if primes.is_empty() {
        return Err(BackendError::InvalidParameters(
            "at least one plaintext prime is needed".into(),
        ));
    }
    let mut modulus: u128 = 1;
    for &t in primes {
        modulus = modulus
            .checked_mul(u128::from(t))
            .filter(|&m| m < 1u128 << 126)
            .ok_or_else(|| {
                BackendError::InvalidParameters("product of plaintext primes too large".into())
            })?;
    }
    Ok(modulus as i128)
}

fn instances(
    rlwe: &Arc<RlweParameters>,
    primes: &[u64],
    sk: Option<&SecretKey>,
) -> BackendResult<Vec<Instance>> {
    primes
        .iter()
        .map(|&t| {
            let params = BfvParameters::new(rlwe.clone(), t).map_err(engine)?;
            if !params.supports_batching() {
                return Err(BackendError::InvalidParameters(format!(
                    "plaintext prime {t} does not support batching (needs t ≡ 1 mod 2n)"
                )));
            }
            Ok(Instance {
                encoder: BatchEncoder::new(&params).map_err(engine)?,
                evaluator: Evaluator::new(&params),
                secret: sk.map(|sk| {
                    (
                        Encryptor::with_secret_key(&params, sk),
                        Decryptor::new(&params, sk),
                    )
                }),
                t: i128::from(t),
                params,
            })
        })
        .collect()
}

fn assemble(
    rlwe: &Arc<RlweParameters>,
    primes: &[u64],
    sk: Option<&SecretKey>,
    keys: EvaluationKeys,
) -> BackendResult<BfvCrtBackend> {
    let modulus = plaintext_space(primes)?;
    Ok(BfvCrtBackend {
        row_len: rlwe.degree() / 2,
        instances: instances(rlwe, primes, sk)?,
        keys,
        modulus,
        cache_mode: Mutex::new(PlaintextCache::Off),
        cache: Mutex::new(HashMap::new()),
    })
}

/// The Galois elements a [`KeySpec`] needs for parameters `params` (column rotations by the
/// spec's steps, and the row swap when asked for).
pub fn required_galois_elements(params: &BfvParameters, spec: &KeySpec) -> Vec<usize> {
    let steps: Vec<i64> = spec.rotation_steps.iter().map(|&s| s as i64).collect();
    galois_elements(params, &steps, spec.row_swap)
}

impl BfvCrtBackend {
    /// Client side: a backend holding the client's secret key `sk` and no evaluation keys;
    /// it encrypts, decrypts and makes the evaluation keys of a plan
    /// ([`BfvCrtBackend::make_evaluation_keys`]).
    pub fn client(
        rlwe: &Arc<RlweParameters>,
        primes: &[u64],
        sk: &SecretKey,
    ) -> BackendResult<Self> {
        let keys = EvaluationKeys {
            relinearization: None,
            galois: GaloisKeys::generate(sk, &[], &mut sampler::os_rng()).map_err(engine)?,
        };
        assemble(rlwe, primes, Some(sk), keys)
    }

    /// Client side: generates exactly the evaluation keys of `spec` for secret key `sk`
    /// (one key set for all plaintext primes, see the module docs of [`super`]).
    pub fn make_evaluation_keys(
        &self,
        sk: &SecretKey,
        spec: &KeySpec,
        rng: &mut Csprng,
    ) -> BackendResult<EvaluationKeys> {
        let elements = required_galois_elements(&self.instances[0].params, spec);
        let galois = GaloisKeys::generate(sk, &elements, rng).map_err(engine)?;
        let relinearization = spec
            .relinearization
            .then(|| RelinearizationKey::generate(sk, rng));
        Ok(EvaluationKeys {
            relinearization,
            galois,
        })
    }

    /// Server side: a backend built from public parameters and the client's uploaded
    /// evaluation keys, without the client's secret key (see the module docs).
    pub fn server(
        rlwe: &Arc<RlweParameters>,
        primes: &[u64],
        keys: EvaluationKeys,
    ) -> BackendResult<Self> {
        assemble(rlwe, primes, None, keys)
    }

    /// Copies the prepared (memoised) plaintexts of `from` — another backend of the same
    /// parameters that ran the same plan with [`PlaintextCache::Record`] — into `self` and
    /// freezes `self`'s cache. Shares the encodings (`Arc`), no copy of the data.
    pub fn share_prepared_plaintexts(&self, from: &BfvCrtBackend) -> BackendResult<()> {
        if from.primes() != self.primes() || from.row_len != self.row_len {
            return Err(BackendError::InvalidParameters(
                "prepared plaintexts come from a backend with other parameters".into(),
            ));
        }
        let entries: Vec<_> = from
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(entries);
        self.set_plaintext_cache(PlaintextCache::Frozen);
        Ok(())
    }
}
