//! The BFV slot backend over `henn_he`, with plaintext spaces larger than one prime.
//!
//! LoLa (Brutzkus et al. 2019, section 3.1 and the MNIST experiments) needs plaintext values
//! beyond one NTT-friendly prime (four primes around `2^20` for MNIST). This backend runs one
//! BFV instance per plaintext prime `t_j` (every prime `≡ 1 mod 2n`, so each instance has
//! `2 × n/2` batching slots) and combines the decrypted residues by the Chinese remainder
//! theorem into the centred range `(-T/2, T/2]`, `T = ∏ t_j` ([`henn_he::bfv::crt`]).
//! Slot values are `i128` so that `T` may exceed 64 bits.
//!
//! Design choices (documented here once):
//!
//! * **Two halves** (LoLa section 1: the data owner encrypts, the model owner evaluates):
//!   [`BfvCrtEvaluator`] (the server's [`SlotEvaluator`]) is built from the public parameters
//!   and the client's [`EvaluationKeys`] and holds no secret key at all; [`BfvCrtEncryptor`]
//!   (the client's [`SlotEncryptor`]) holds the secret key, encrypts (seeded), decrypts and
//!   makes the evaluation keys of a [`KeySpec`], and never holds a weight. [`BfvCrtBackend`]
//!   keeps both side by side for benchmarks and tests.
//! * **One secret key for all primes.** The RLWE layer (ring, `Q`, `P`, keys, key switching)
//!   does not depend on `t`, so all instances share one [`RlweParameters`] and one key set:
//!   the client uploads one relinearization key and one Galois key per rotation, not one per
//!   prime. (Every ciphertext is still a fresh RLWE sample under that key.)
//! * **Prepared plaintexts** keyed by plan step ([`super::prepared`]): run the plan once with
//!   [`PlaintextCache::Record`] and freeze it; afterwards a request only performs HE
//!   operations, and other evaluators of the same model share the frozen set
//!   ([`BfvCrtEvaluator::share_prepared_plaintexts`]). Plaintext operands (NTT form modulo
//!   `Q_ℓ`) are computed lazily, once, on first use in a ct × pt product, so the client's own
//!   encodings never pay for them.
//! * **Parallelism** with rayon across the CRT instances (and inside the engine across limbs).
//! * Errors of the engine become [`BackendError::Engine`].

use std::sync::{Arc, OnceLock};

use henn_he::bfv::{
    galois_elements, BatchEncoder, BfvParameters, Decryptor, Encryptor, Evaluator, Plaintext,
    PlaintextOperand, SeededCiphertext,
};
use henn_he::rlwe::{
    Ciphertext, GaloisKeys, PublicKey, RelinearizationKey, RlweParameters, SecretKey,
};
use henn_he::serialization::HeSerialize;
use henn_he::HeError;
use henn_ring::sampler::{self, Csprng};
use rayon::prelude::*;

pub use super::prepared::PlaintextCache;
use super::prepared::{PlaintextStore, PreparedPlaintexts};
use super::{
    normalize_step, BackendError, BackendResult, Joined, PlaintextKey, SlotEncoding, SlotEncryptor,
    SlotEvaluator,
};

fn engine(e: HeError) -> BackendError {
    BackendError::Engine(Box::new(e))
}

/// One ciphertext per plaintext prime (`parts[j]` encrypts the slots modulo `t_j`).
#[derive(Clone, Debug)]
pub struct BfvCiphertext {
    /// Per-prime ciphertexts.
    pub parts: Vec<Ciphertext>,
}

/// An encoded slot vector: one BFV plaintext per prime, and (lazily) its pre-transformed
/// multiplication operands at `level`.
#[derive(Debug)]
pub struct BfvPlaintextData {
    pts: Vec<Plaintext>,
    level: usize,
    operands: OnceLock<Result<Vec<PlaintextOperand>, String>>,
}

/// The backend's plaintext type (shared so prepared encodings are not copied).
pub type BfvPlaintext = Arc<BfvPlaintextData>;

/// The evaluation keys a plan needs (uploaded by the client, used by the server).
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Relinearization key, when the plan multiplies ciphertexts.
    pub relinearization: Option<RelinearizationKey>,
    /// Galois keys for the plan's rotation steps (and the row swap).
    pub galois: GaloisKeys,
}

/// Key material a plan needs: which rotations and whether relinearization is needed.
#[derive(Clone, Debug, Default)]
pub struct KeySpec {
    /// Column rotation steps (in `0..n/2`).
    pub rotation_steps: Vec<usize>,
    /// Whether the row-swap key is needed.
    pub row_swap: bool,
    /// Whether the relinearization key is needed.
    pub relinearization: bool,
}

/// One plaintext prime's parameters and batch encoder.
struct Prime {
    params: Arc<BfvParameters>,
    encoder: BatchEncoder,
    t: i128,
}

/// The CRT plaintext space both halves share: per-prime parameters and encoders, `T`.
struct Crt {
    primes: Vec<Prime>,
    modulus: i128,
    row_len: usize,
}

impl Crt {
    fn new(rlwe: &Arc<RlweParameters>, primes: &[u64]) -> BackendResult<Self> {
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
        let primes = primes
            .iter()
            .map(|&t| {
                let params = BfvParameters::new(rlwe.clone(), t).map_err(engine)?;
                if !params.supports_batching() {
                    return Err(BackendError::InvalidParameters(format!(
                        "plaintext prime {t} does not support batching (needs t ≡ 1 mod 2n)"
                    )));
                }
                Ok(Prime {
                    encoder: BatchEncoder::new(&params).map_err(engine)?,
                    t: i128::from(t),
                    params,
                })
            })
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(Self {
            primes,
            modulus: modulus as i128,
            row_len: rlwe.degree() / 2,
        })
    }

    fn moduli(&self) -> Vec<u64> {
        self.primes
            .iter()
            .map(|p| p.params.plaintext_modulus())
            .collect()
    }

    fn slots(&self) -> usize {
        2 * self.row_len
    }

    fn max_level(&self) -> usize {
        self.primes[0].params.max_level()
    }

    /// Fingerprint of the ring and the primes (the origin of prepared plaintexts).
    fn fingerprint(&self) -> u64 {
        let mut h = self.primes[0].params.rlwe().fingerprint();
        for t in self.moduli() {
            h = (h ^ t).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    fn check(&self, a: &BfvCiphertext) -> BackendResult<()> {
        if a.parts.len() != self.primes.len() {
            return Err(BackendError::InvalidParameters(format!(
                "ciphertext has {} parts for {} plaintext primes",
                a.parts.len(),
                self.primes.len()
            )));
        }
        Ok(())
    }

    fn check_encode(&self, values: &[i128], level: usize) -> BackendResult<()> {
        if values.len() > self.slots() {
            return Err(BackendError::TooManyValues {
                got: values.len(),
                slots: self.slots(),
            });
        }
        if level > self.max_level() {
            return Err(BackendError::LevelsExhausted {
                level: self.max_level(),
                wanted: level - self.max_level(),
            });
        }
        Ok(())
    }

    fn encode(&self, values: &[i128], level: usize) -> BackendResult<BfvPlaintext> {
        self.check_encode(values, level)?;
        let pts = self
            .primes
            .par_iter()
            .map(|i| {
                let v: Vec<u64> = values.iter().map(|&x| x.rem_euclid(i.t) as u64).collect();
                i.encoder.encode_u64(&v).map_err(engine)
            })
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(Arc::new(BfvPlaintextData {
            pts,
            level,
            operands: OnceLock::new(),
        }))
    }

    fn decode(&self, pt: &BfvPlaintext) -> BackendResult<Vec<i128>> {
        if pt.pts.len() != self.primes.len() {
            return Err(BackendError::InvalidParameters(
                "one plaintext per prime expected".into(),
            ));
        }
        let residues: Vec<Vec<u64>> = self
            .primes
            .par_iter()
            .zip(&pt.pts)
            .map(|(i, p)| i.encoder.decode_u64(p).map_err(engine))
            .collect::<BackendResult<_>>()?;
        let moduli = self.moduli();
        let product = self.modulus as u128;
        let mut r = vec![0u64; moduli.len()];
        Ok((0..self.slots())
            .map(|s| {
                for (x, res) in r.iter_mut().zip(&residues) {
                    *x = res[s];
                }
                henn_he::bfv::crt::crt_combine(&r, &moduli, product)
            })
            .collect())
    }

    fn level(ct: &BfvCiphertext) -> usize {
        ct.parts.first().map_or(0, Ciphertext::level)
    }
}

/// The Galois elements a [`KeySpec`] needs for parameters `params` (column rotations by the
/// spec's steps, and the row swap when asked for).
pub fn required_galois_elements(params: &BfvParameters, spec: &KeySpec) -> Vec<usize> {
    let steps: Vec<i64> = spec.rotation_steps.iter().map(|&s| s as i64).collect();
    galois_elements(params, &steps, spec.row_swap)
}

/// The client's half: the secret key, one encryptor and decryptor per prime (see the module
/// docs). It holds no weights and no evaluation keys.
pub struct BfvCrtEncryptor {
    crt: Crt,
    secret: Vec<(Encryptor, Decryptor)>,
    sk: SecretKey,
}

impl std::fmt::Debug for BfvCrtEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfvCrtEncryptor")
            .field("primes", &self.crt.moduli())
            .finish_non_exhaustive()
    }
}

impl BfvCrtEncryptor {
    /// The client's half for secret key `sk` (every prime `≡ 1 mod 2n`, product below
    /// `2^126`).
    pub fn new(rlwe: &Arc<RlweParameters>, primes: &[u64], sk: &SecretKey) -> BackendResult<Self> {
        let crt = Crt::new(rlwe, primes)?;
        let secret = crt
            .primes
            .iter()
            .map(|p| {
                (
                    Encryptor::with_secret_key(&p.params, sk),
                    Decryptor::new(&p.params, sk),
                )
            })
            .collect();
        Ok(Self {
            crt,
            secret,
            sk: sk.clone(),
        })
    }
    /// The client's public key (Regev/BFV public-key encryption of zero under the secret key),
    /// uploaded only when the compiled model floods its outputs: the server re-randomizes each
    /// answer with a fresh encryption of zero under it ([`henn_he::rlwe::flood`]).
    pub fn public_key(&self, rng: &mut Csprng) -> PublicKey {
        PublicKey::generate(&self.sk, rng)
    }

    /// Exactly the evaluation keys of `spec` (one key set for all plaintext primes, see the
    /// module docs).
    pub fn make_evaluation_keys(
        &self,
        spec: &KeySpec,
        rng: &mut Csprng,
    ) -> BackendResult<EvaluationKeys> {
        let elements = required_galois_elements(&self.crt.primes[0].params, spec);
        let galois = GaloisKeys::generate(&self.sk, &elements, rng).map_err(engine)?;
        let relinearization = spec
            .relinearization
            .then(|| RelinearizationKey::generate(&self.sk, rng));
        Ok(EvaluationKeys {
            relinearization,
            galois,
        })
    }

    /// The plaintext primes.
    pub fn primes(&self) -> Vec<u64> {
        self.crt.moduli()
    }

    /// `T = ∏ t_j`.
    pub fn plaintext_modulus(&self) -> i128 {
        self.crt.modulus
    }

    /// Secret-key encryption in seeded (half-size) form, one per prime.
    pub fn encrypt_seeded(&self, pt: &BfvPlaintext) -> BackendResult<Vec<SeededCiphertext>> {
        self.secret
            .par_iter()
            .zip(&pt.pts)
            .map(|((e, _), p)| e.encrypt_seeded(p).map_err(engine))
            .collect()
    }

    /// Bytes of a serialized seeded ciphertext set (upload size of one message).
    pub fn seeded_bytes(&self, seeded: &[SeededCiphertext]) -> usize {
        self.crt
            .primes
            .iter()
            .zip(seeded)
            .map(|(i, s)| s.to_bytes(&i.params).len())
            .sum()
    }

    /// Remaining noise budget in bits (the smallest over the primes).
    pub fn noise_budget(&self, ct: &BfvCiphertext) -> BackendResult<u32> {
        self.crt.check(ct)?;
        let mut min = None::<u32>;
        for ((_, d), c) in self.secret.iter().zip(&ct.parts) {
            let b = d.noise_budget(c).map_err(engine)?;
            min = Some(min.map_or(b, |m| m.min(b)));
        }
        Ok(min.unwrap_or(0))
    }
}

/// The server's half: public parameters, the client's evaluation keys and prepared weight
/// plaintexts; no secret key (see the module docs).
pub struct BfvCrtEvaluator {
    crt: Crt,
    evaluators: Vec<Evaluator>,
    keys: EvaluationKeys,
    prepared: PlaintextStore<BfvPlaintext>,
}

impl std::fmt::Debug for BfvCrtEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfvCrtEvaluator")
            .field("primes", &self.crt.moduli())
            .field("row_len", &self.crt.row_len)
            .finish_non_exhaustive()
    }
}

impl BfvCrtEvaluator {
    /// The server's half from public parameters and a client's evaluation keys.
    pub fn new(
        rlwe: &Arc<RlweParameters>,
        primes: &[u64],
        keys: EvaluationKeys,
    ) -> BackendResult<Self> {
        let crt = Crt::new(rlwe, primes)?;
        Ok(Self {
            evaluators: crt
                .primes
                .iter()
                .map(|p| Evaluator::new(&p.params))
                .collect(),
            prepared: PlaintextStore::new(crt.fingerprint()),
            crt,
            keys,
        })
    }

    /// The plaintext primes.
    pub fn primes(&self) -> Vec<u64> {
        self.crt.moduli()
    }

    /// `T = ∏ t_j`: results are exact while every slot value stays in `(-T/2, T/2]`.
    pub fn plaintext_modulus(&self) -> i128 {
        self.crt.modulus
    }

    /// Parameters of the instance for prime `j`.
    pub fn params(&self, j: usize) -> Option<&Arc<BfvParameters>> {
        self.crt.primes.get(j).map(|i| &i.params)
    }

    /// The evaluation keys.
    pub fn evaluation_keys(&self) -> &EvaluationKeys {
        &self.keys
    }

    /// Bytes of the serialized (seeded) evaluation keys: what the client uploads once.
    pub fn evaluation_key_bytes(&self) -> usize {
        let p = &self.crt.primes[0].params;
        self.keys.galois.to_bytes(p).len()
            + self
                .keys
                .relinearization
                .as_ref()
                .map_or(0, |r| r.to_bytes(p).len())
    }

    /// Sets the mode of the prepared plaintexts ([`PlaintextStore::set_mode`]).
    pub fn set_plaintext_cache(&self, mode: PlaintextCache) {
        self.prepared.set_mode(mode);
    }

    /// Number of prepared plaintexts.
    pub fn cached_plaintexts(&self) -> usize {
        self.prepared.len()
    }

    /// The frozen prepared plaintexts, to share with other evaluators of the same model.
    pub fn prepared_plaintexts(&self) -> Option<Arc<PreparedPlaintexts<BfvPlaintext>>> {
        self.prepared.prepared()
    }

    /// Uses `prepared` (frozen), made by an evaluator of the same parameters that ran the same
    /// plan with [`PlaintextCache::Record`]; shares the encodings (`Arc`), no copy.
    pub fn share_prepared_plaintexts(
        &self,
        prepared: Arc<PreparedPlaintexts<BfvPlaintext>>,
    ) -> BackendResult<()> {
        self.prepared.share(prepared)
    }

    /// Expands seeded ciphertexts (one per prime) received from the client.
    pub fn expand_seeded(&self, seeded: &[SeededCiphertext]) -> BackendResult<BfvCiphertext> {
        if seeded.len() != self.crt.primes.len() {
            return Err(BackendError::InvalidParameters(format!(
                "{} seeded ciphertexts for {} plaintext primes",
                seeded.len(),
                self.crt.primes.len()
            )));
        }
        Ok(BfvCiphertext {
            parts: self
                .crt
                .primes
                .iter()
                .zip(seeded)
                .map(|(i, s)| s.expand(&i.params).map_err(engine))
                .collect::<BackendResult<_>>()?,
        })
    }

    /// Bytes of a serialized ciphertext (download size of one message).
    pub fn ciphertext_bytes(&self, ct: &BfvCiphertext) -> usize {
        self.crt
            .primes
            .iter()
            .zip(&ct.parts)
            .map(|(i, c)| c.to_bytes(&i.params).len())
            .sum()
    }

    /// Applies `f` to every (prime, evaluator, part) in parallel.
    fn map1(
        &self,
        a: &BfvCiphertext,
        f: impl Fn(&Prime, &Evaluator, &Ciphertext) -> Result<Ciphertext, HeError> + Sync + Send,
    ) -> BackendResult<BfvCiphertext> {
        self.crt.check(a)?;
        let parts = self
            .crt
            .primes
            .par_iter()
            .zip(self.evaluators.par_iter().zip(&a.parts))
            .map(|(p, (e, c))| f(p, e, c).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn map2(
        &self,
        a: &BfvCiphertext,
        b: &BfvCiphertext,
        f: impl Fn(&Evaluator, &Ciphertext, &Ciphertext) -> Result<Ciphertext, HeError> + Sync + Send,
    ) -> BackendResult<BfvCiphertext> {
        self.crt.check(a)?;
        self.crt.check(b)?;
        let parts = self
            .evaluators
            .par_iter()
            .zip(a.parts.par_iter().zip(&b.parts))
            .map(|(e, (x, y))| f(e, x, y).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn operands<'a>(&self, p: &'a BfvPlaintext) -> BackendResult<&'a [PlaintextOperand]> {
        let ops = p.operands.get_or_init(|| {
            self.crt
                .primes
                .par_iter()
                .zip(&p.pts)
                .map(|(i, pt)| pt.to_operand(&i.params, p.level).map_err(|e| e.to_string()))
                .collect()
        });
        ops.as_deref()
            .map_err(|e| BackendError::Engine(e.clone().into()))
    }

    fn relin(&self) -> BackendResult<&RelinearizationKey> {
        self.keys.relinearization.as_ref().ok_or_else(|| {
            BackendError::InvalidParameters("no relinearization key was uploaded".into())
        })
    }
}

/// Both halves share the slot geometry and encoding (see the module docs).
macro_rules! shared_encoding {
    ($half:ty) => {
        impl SlotEncoding for $half {
            type Value = i128;
            type Ciphertext = BfvCiphertext;
            type Plaintext = BfvPlaintext;
            fn rows(&self) -> usize {
                2
            }
            fn row_len(&self) -> usize {
                self.crt.row_len
            }
            fn max_level(&self) -> usize {
                self.crt.max_level()
            }
            fn encode(&self, values: &[i128], level: usize) -> BackendResult<BfvPlaintext> {
                self.crt.encode(values, level)
            }
            fn level(&self, ct: &BfvCiphertext) -> usize {
                Crt::level(ct)
            }
        }
    };
}

shared_encoding!(BfvCrtEncryptor);
shared_encoding!(BfvCrtEvaluator);

impl SlotEncryptor for BfvCrtEncryptor {
    fn decode(&self, pt: &BfvPlaintext) -> BackendResult<Vec<i128>> {
        self.crt.decode(pt)
    }

    fn encrypt(&self, pt: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        let parts = self
            .secret
            .par_iter()
            .zip(&pt.pts)
            .map(|((e, _), p)| e.encrypt(p).map_err(engine))
            .collect::<BackendResult<_>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn decrypt(&self, ct: &BfvCiphertext) -> BackendResult<BfvPlaintext> {
        self.crt.check(ct)?;
        let pts = self
            .secret
            .par_iter()
            .zip(&ct.parts)
            .map(|((_, d), c)| d.decrypt(c).map_err(engine))
            .collect::<BackendResult<_>>()?;
        Ok(Arc::new(BfvPlaintextData {
            pts,
            level: Crt::level(ct),
            operands: OnceLock::new(),
        }))
    }
}

impl SlotEvaluator for BfvCrtEvaluator {
    fn encode_prepared(
        &self,
        key: PlaintextKey,
        values: &[i128],
        level: usize,
    ) -> BackendResult<BfvPlaintext> {
        self.crt.check_encode(values, level)?;
        self.prepared
            .get_or_encode(key, values, level, || self.crt.encode(values, level))
    }

    fn add(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        self.map2(a, b, |e, x, y| e.add(x, y))
    }

    fn add_assign(&self, acc: &mut BfvCiphertext, b: &BfvCiphertext) -> BackendResult<()> {
        self.crt.check(acc)?;
        self.crt.check(b)?;
        self.evaluators
            .par_iter()
            .zip(acc.parts.par_iter_mut().zip(&b.parts))
            .try_for_each(|(e, (x, y))| e.add_assign(x, y).map_err(engine))
    }

    fn sub(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        self.map2(a, b, |e, x, y| e.sub(x, y))
    }

    fn add_plain(&self, a: &BfvCiphertext, p: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        self.crt.check(a)?;
        let parts = self
            .evaluators
            .par_iter()
            .zip(a.parts.par_iter().zip(&p.pts))
            .map(|(e, (x, pt))| {
                let mut r = x.clone();
                e.add_plain_assign(&mut r, pt).map_err(engine)?;
                Ok(r)
            })
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn mul_plain(&self, a: &BfvCiphertext, p: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        self.crt.check(a)?;
        let ops = self.operands(p)?;
        let parts = self
            .evaluators
            .par_iter()
            .zip(a.parts.par_iter().zip(ops))
            .map(|(e, (x, o))| e.mul_plain(x, o).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn mul_plain_add_assign(
        &self,
        acc: &mut BfvCiphertext,
        a: &BfvCiphertext,
        p: &BfvPlaintext,
    ) -> BackendResult<()> {
        self.crt.check(acc)?;
        self.crt.check(a)?;
        let ops = self.operands(p)?;
        self.evaluators
            .par_iter()
            .zip(acc.parts.par_iter_mut().zip(a.parts.par_iter().zip(ops)))
            .try_for_each(|(e, (acc, (x, o)))| {
                let t = e.mul_plain(x, o)?;
                e.add_assign(acc, &t)
            })
            .map_err(engine)
    }

    fn mul_scalar(&self, a: &BfvCiphertext, s: i128) -> BackendResult<BfvCiphertext> {
        self.map1(a, |p, e, x| {
            let c = s.rem_euclid(p.t);
            let c = if c > p.t / 2 { c - p.t } else { c };
            e.mul_integer(x, c as i64)
        })
    }

    fn mul(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let rlk = self.relin()?;
        self.map2(a, b, |e, x, y| e.multiply(x, y, rlk))
    }

    fn square(&self, a: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let rlk = self.relin()?;
        self.map1(a, |_, e, x| e.square(x, rlk))
    }

    fn rotate(&self, a: &BfvCiphertext, steps: isize) -> BackendResult<BfvCiphertext> {
        let k = normalize_step(steps, self.crt.row_len) as i64;
        self.map1(a, |_, e, x| e.rotate(x, k, &self.keys.galois))
    }

    fn rotate_hoisted(
        &self,
        a: &BfvCiphertext,
        steps: &[isize],
    ) -> BackendResult<Vec<BfvCiphertext>> {
        self.crt.check(a)?;
        let ks: Vec<i64> = steps
            .iter()
            .map(|&s| normalize_step(s, self.crt.row_len) as i64)
            .collect();
        let per_prime = self
            .evaluators
            .par_iter()
            .zip(&a.parts)
            .map(|(e, x)| e.rotate_hoisted(x, &ks, &self.keys.galois).map_err(engine))
            .collect::<BackendResult<Vec<Vec<Ciphertext>>>>()?;
        let mut out: Vec<BfvCiphertext> = (0..steps.len())
            .map(|_| BfvCiphertext {
                parts: Vec::with_capacity(self.evaluators.len()),
            })
            .collect();
        for rotations in per_prime {
            for (o, c) in out.iter_mut().zip(rotations) {
                o.parts.push(c);
            }
        }
        Ok(out)
    }

    fn swap_rows(&self, a: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        self.map1(a, |_, e, x| e.rotate_rows(x, &self.keys.galois))
    }

    fn rescale(&self, a: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let level = Crt::level(a);
        if level == 0 {
            return Err(BackendError::LevelsExhausted { level, wanted: 1 });
        }
        self.map1(a, |_, e, x| e.drop_level(x))
    }

    fn drop_level(&self, a: &BfvCiphertext, levels: usize) -> BackendResult<BfvCiphertext> {
        let level = Crt::level(a);
        if levels > level {
            return Err(BackendError::LevelsExhausted {
                level,
                wanted: levels,
            });
        }
        self.map1(a, |_, e, x| {
            let mut r = x.clone();
            e.drop_to_level_assign(&mut r, level - levels)?;
            Ok(r)
        })
    }
}

/// Both halves side by side (benchmarks and tests): `encryptor` for the client's operations,
/// `evaluator` for the server's.
pub type BfvCrtBackend = Joined<BfvCrtEncryptor, BfvCrtEvaluator>;

impl BfvCrtBackend {
    /// Generates a fresh secret key for `rlwe`, the client half, exactly the evaluation keys
    /// of `spec`, and the server half built from those keys. Every prime must be `≡ 1 mod 2n`
    /// (batching) and their product below `2^126`.
    pub fn generate(
        rlwe: &Arc<RlweParameters>,
        primes: &[u64],
        spec: &KeySpec,
    ) -> BackendResult<Self> {
        let sk = SecretKey::generate(rlwe, &mut sampler::os_rng());
        let encryptor = BfvCrtEncryptor::new(rlwe, primes, &sk)?;
        let keys = encryptor.make_evaluation_keys(spec, &mut sampler::os_rng())?;
        Ok(Self {
            evaluator: BfvCrtEvaluator::new(rlwe, primes, keys)?,
            encryptor,
        })
    }
}

/// Chooses plaintext primes for a CRT space of at least `bits` bits (LoLa section 3.1 / 4.4):
/// the fewest primes of at most `max_prime_bits` bits, all of (about) equal size, each
/// `≡ 1 mod 2n` (batching), the largest such primes below `2^b` for the per-prime size `b`.
/// Results are exact while every *output* slot value `v` satisfies `2|v| < ∏ t_j` (BFV computes
/// in `Z_T`, so intermediate values may wrap; only the decoded outputs must fit).
pub fn plaintext_primes(bits: u32, n: usize, max_prime_bits: u32) -> BackendResult<Vec<u64>> {
    let min_bits = (2 * n as u64 + 1).ilog2() + 1;
    if bits > 126 {
        return Err(BackendError::InvalidParameters(format!(
            "a {bits}-bit plaintext space does not fit the i128 slot values (at most 126 bits)"
        )));
    }
    if max_prime_bits > 40 || max_prime_bits < min_bits {
        return Err(BackendError::InvalidParameters(format!(
            "plaintext primes of {max_prime_bits} bits: need {min_bits}..=40 for n = {n}"
        )));
    }
    let step = 2 * n as u64;
    let mut count = bits.div_ceil(max_prime_bits).max(1) as usize;
    loop {
        // Per-prime size from the even split up to the maximum; then one more prime.
        for per in bits.div_ceil(count as u32).max(min_bits)..=max_prime_bits {
            let mut out = Vec::with_capacity(count);
            // Largest candidates k·2n + 1 below 2^per, going down.
            let mut k = ((1u64 << per) - 1) / step;
            while out.len() < count && k > 0 {
                let p = k * step + 1;
                if henn_ring::prime::is_prime(p) {
                    out.push(p);
                }
                k -= 1;
            }
            let total: f64 = out.iter().map(|&p| (p as f64).log2()).sum();
            if out.len() == count && total >= f64::from(bits) && total < 127.0 {
                return Ok(out);
            }
        }
        count += 1;
        if count > 8 {
            return Err(BackendError::InvalidParameters(format!(
                "no product of at most 8 primes of {max_prime_bits} bits reaches {bits} bits"
            )));
        }
    }
}
