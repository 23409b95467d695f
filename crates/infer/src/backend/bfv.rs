//! The BFV [`SlotBackend`] over `henn_he`, with plaintext spaces larger than one prime.
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
//! * **One secret key for all primes.** The RLWE layer (ring, `Q`, `P`, keys, key switching)
//!   does not depend on `t`, so all instances share one [`RlweParameters`] and one key set:
//!   the client uploads one relinearization key and one Galois key per rotation, not one per
//!   prime. (Every ciphertext is still a fresh RLWE sample under that key.)
//! * **Prepared plaintexts.** Weight and mask plaintexts do not depend on the input, so the
//!   backend can memoise encodings ([`BfvCrtBackend::set_plaintext_cache`]): run the plan once
//!   on an encrypted zero with recording on ([`PlaintextCache::Record`]) and freeze it
//!   ([`PlaintextCache::Frozen`]); afterwards a request only performs HE operations.
//!   Plaintext operands (NTT form modulo `Q_ℓ`) are computed lazily, once, on first use in a
//!   ct × pt product, so the client's own encodings never pay for them.
//! * **Parallelism** with rayon across the CRT instances (and inside the engine across limbs).
//! * Errors of the engine become [`BackendError::Engine`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use henn_he::bfv::{
    galois_elements, BatchEncoder, BfvParameters, Decryptor, Encryptor, Evaluator, Plaintext,
    PlaintextOperand, SeededCiphertext,
};
use henn_he::rlwe::{Ciphertext, GaloisKeys, KeyGenerator, RelinearizationKey, RlweParameters};
use henn_he::serialization::HeSerialize;
use henn_he::HeError;
use rayon::prelude::*;

use super::{normalize_step, BackendError, BackendResult, SlotBackend};

pub mod split;

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

/// The backend's plaintext type (shared so memoised encodings are not copied).
pub type BfvPlaintext = Arc<BfvPlaintextData>;

/// Memoisation mode of encodings (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaintextCache {
    /// No memoisation.
    Off,
    /// Look up, and store every new encoding (server preparation).
    Record,
    /// Look up only (serving: client inputs are never stored).
    Frozen,
}

/// The evaluation keys a plan needs (uploaded by the client, used by the server).
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Relinearization key, when the plan multiplies ciphertexts.
    pub relinearization: Option<RelinearizationKey>,
    /// Galois keys for the plan's rotation steps (and the row swap).
    pub galois: GaloisKeys,
}

struct Instance {
    params: Arc<BfvParameters>,
    encoder: BatchEncoder,
    evaluator: Evaluator,
    /// Client side only: the secret-key encryptor and the decryptor.
    secret: Option<(Encryptor, Decryptor)>,
    t: i128,
}

impl Instance {
    fn secret(&self) -> BackendResult<&(Encryptor, Decryptor)> {
        self.secret.as_ref().ok_or_else(|| {
            BackendError::InvalidParameters(
                "this is a server backend: it holds no secret key to encrypt or decrypt".into(),
            )
        })
    }
}

/// BFV with a CRT plaintext space `Z_T`, `T = ∏ t_j` (see the module docs).
pub struct BfvCrtBackend {
    instances: Vec<Instance>,
    keys: EvaluationKeys,
    modulus: i128,
    row_len: usize,
    cache_mode: Mutex<PlaintextCache>,
    cache: Mutex<HashMap<(u64, usize), BfvPlaintext>>,
}

impl std::fmt::Debug for BfvCrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BfvCrtBackend")
            .field("primes", &self.primes())
            .field("row_len", &self.row_len)
            .finish()
    }
}

/// Key material a backend is built with: which rotations and whether relinearization is needed.
#[derive(Clone, Debug, Default)]
pub struct KeySpec {
    /// Column rotation steps (in `0..n/2`).
    pub rotation_steps: Vec<usize>,
    /// Whether the row-swap key is needed.
    pub row_swap: bool,
    /// Whether the relinearization key is needed.
    pub relinearization: bool,
}

impl BfvCrtBackend {
    /// Generates a secret key for `rlwe` and exactly the evaluation keys of `spec`, and one BFV
    /// instance per plaintext prime. Every prime must be `≡ 1 mod 2n` (batching) and their
    /// product below `2^126`.
    pub fn generate(
        rlwe: &Arc<RlweParameters>,
        primes: &[u64],
        spec: &KeySpec,
    ) -> BackendResult<Self> {
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
        let mut keygen = KeyGenerator::new(rlwe);
        let mut instances = Vec::with_capacity(primes.len());
        for &t in primes {
            let params = BfvParameters::new(rlwe.clone(), t).map_err(engine)?;
            if !params.supports_batching() {
                return Err(BackendError::InvalidParameters(format!(
                    "plaintext prime {t} does not support batching (needs t ≡ 1 mod 2n)"
                )));
            }
            instances.push(Instance {
                encoder: BatchEncoder::new(&params).map_err(engine)?,
                evaluator: Evaluator::new(&params),
                secret: Some((
                    Encryptor::with_secret_key(&params, keygen.secret_key()),
                    Decryptor::new(&params, keygen.secret_key()),
                )),
                t: i128::from(t),
                params,
            });
        }
        let steps: Vec<i64> = spec.rotation_steps.iter().map(|&s| s as i64).collect();
        let elements = galois_elements(&instances[0].params, &steps, spec.row_swap);
        let galois = keygen.galois_keys(&elements).map_err(engine)?;
        let relinearization = spec.relinearization.then(|| keygen.relinearization_key());
        Ok(Self {
            row_len: rlwe.degree() / 2,
            instances,
            keys: EvaluationKeys {
                relinearization,
                galois,
            },
            modulus: modulus as i128,
            cache_mode: Mutex::new(PlaintextCache::Off),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The plaintext primes.
    pub fn primes(&self) -> Vec<u64> {
        self.instances
            .iter()
            .map(|i| i.params.plaintext_modulus())
            .collect()
    }

    /// `T = ∏ t_j`: results are exact while every slot value stays in `(-T/2, T/2]`.
    pub fn plaintext_modulus(&self) -> i128 {
        self.modulus
    }

    /// Parameters of the instance for prime `j`.
    pub fn params(&self, j: usize) -> Option<&Arc<BfvParameters>> {
        self.instances.get(j).map(|i| &i.params)
    }

    /// The evaluation keys.
    pub fn evaluation_keys(&self) -> &EvaluationKeys {
        &self.keys
    }

    /// Bytes of the serialized (seeded) evaluation keys: what the client uploads once.
    pub fn evaluation_key_bytes(&self) -> usize {
        let p = &self.instances[0].params;
        self.keys.galois.to_bytes(p).len()
            + self
                .keys
                .relinearization
                .as_ref()
                .map_or(0, |r| r.to_bytes(p).len())
    }

    /// Sets the memoisation mode of encodings; [`PlaintextCache::Off`] also empties the cache.
    pub fn set_plaintext_cache(&self, mode: PlaintextCache) {
        *self.cache_mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
        if mode == PlaintextCache::Off {
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// Number of memoised plaintexts.
    pub fn cached_plaintexts(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Client side: secret-key encryption in seeded (half-size) form, one per prime.
    pub fn encrypt_seeded(&self, pt: &BfvPlaintext) -> BackendResult<Vec<SeededCiphertext>> {
        self.instances
            .par_iter()
            .zip(&pt.pts)
            .map(|(inst, p)| inst.secret()?.0.encrypt_seeded(p).map_err(engine))
            .collect()
    }

    /// Server side: expands seeded ciphertexts (one per prime) received from the client.
    pub fn expand_seeded(&self, seeded: &[SeededCiphertext]) -> BackendResult<BfvCiphertext> {
        if seeded.len() != self.instances.len() {
            return Err(BackendError::InvalidParameters(format!(
                "{} seeded ciphertexts for {} plaintext primes",
                seeded.len(),
                self.instances.len()
            )));
        }
        Ok(BfvCiphertext {
            parts: self
                .instances
                .iter()
                .zip(seeded)
                .map(|(i, s)| s.expand(&i.params).map_err(engine))
                .collect::<BackendResult<_>>()?,
        })
    }

    /// Bytes of a serialized seeded ciphertext set (upload size of one message).
    pub fn seeded_bytes(&self, seeded: &[SeededCiphertext]) -> usize {
        self.instances
            .iter()
            .zip(seeded)
            .map(|(i, s)| s.to_bytes(&i.params).len())
            .sum()
    }

    /// Bytes of a serialized ciphertext (download size of one message).
    pub fn ciphertext_bytes(&self, ct: &BfvCiphertext) -> usize {
        self.instances
            .iter()
            .zip(&ct.parts)
            .map(|(i, c)| c.to_bytes(&i.params).len())
            .sum()
    }

    /// Remaining noise budget in bits (the smallest over the primes), client side.
    pub fn noise_budget(&self, ct: &BfvCiphertext) -> BackendResult<u32> {
        let mut min = u32::MAX;
        for (i, c) in self.instances.iter().zip(&ct.parts) {
            min = min.min(i.secret()?.1.noise_budget(c).map_err(engine)?);
        }
        Ok(if min == u32::MAX { 0 } else { min })
    }

    fn check(&self, a: &BfvCiphertext) -> BackendResult<()> {
        if a.parts.len() != self.instances.len() {
            return Err(BackendError::InvalidParameters(format!(
                "ciphertext has {} parts for {} plaintext primes",
                a.parts.len(),
                self.instances.len()
            )));
        }
        Ok(())
    }

    /// Applies `f` to every (instance, part) in parallel.
    fn map1(
        &self,
        a: &BfvCiphertext,
        f: impl Fn(&Instance, &Ciphertext) -> Result<Ciphertext, HeError> + Sync + Send,
    ) -> BackendResult<BfvCiphertext> {
        self.check(a)?;
        let parts = self
            .instances
            .par_iter()
            .zip(&a.parts)
            .map(|(i, c)| f(i, c).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn map2(
        &self,
        a: &BfvCiphertext,
        b: &BfvCiphertext,
        f: impl Fn(&Instance, &Ciphertext, &Ciphertext) -> Result<Ciphertext, HeError> + Sync + Send,
    ) -> BackendResult<BfvCiphertext> {
        self.check(a)?;
        self.check(b)?;
        let parts = self
            .instances
            .par_iter()
            .zip(a.parts.par_iter().zip(&b.parts))
            .map(|(i, (x, y))| f(i, x, y).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn operands<'a>(&self, p: &'a BfvPlaintext) -> BackendResult<&'a [PlaintextOperand]> {
        let ops = p.operands.get_or_init(|| {
            self.instances
                .par_iter()
                .zip(&p.pts)
                .map(|(i, pt)| pt.to_operand(&i.params, p.level).map_err(|e| e.to_string()))
                .collect()
        });
        ops.as_deref()
            .map_err(|e| BackendError::Engine(e.clone().into()))
    }

    fn encode_uncached(&self, values: &[i128], level: usize) -> BackendResult<BfvPlaintextData> {
        let pts = self
            .instances
            .par_iter()
            .map(|i| {
                let v: Vec<u64> = values.iter().map(|&x| x.rem_euclid(i.t) as u64).collect();
                i.encoder.encode_u64(&v).map_err(engine)
            })
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvPlaintextData {
            pts,
            level,
            operands: OnceLock::new(),
        })
    }

    fn relin(&self) -> BackendResult<&RelinearizationKey> {
        self.keys.relinearization.as_ref().ok_or_else(|| {
            BackendError::InvalidParameters("no relinearization key was generated".into())
        })
    }
}

impl SlotBackend for BfvCrtBackend {
    type Value = i128;
    type Ciphertext = BfvCiphertext;
    type Plaintext = BfvPlaintext;

    fn rows(&self) -> usize {
        2
    }

    fn row_len(&self) -> usize {
        self.row_len
    }

    fn max_level(&self) -> usize {
        self.instances[0].params.max_level()
    }

    fn encode(&self, values: &[i128], level: usize) -> BackendResult<BfvPlaintext> {
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
        let mode = *self.cache_mode.lock().unwrap_or_else(|e| e.into_inner());
        if mode == PlaintextCache::Off {
            return Ok(Arc::new(self.encode_uncached(values, level)?));
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        values.hash(&mut h);
        let key = (h.finish(), level);
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let p = Arc::new(self.encode_uncached(values, level)?);
        if mode == PlaintextCache::Record {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, p.clone());
        }
        Ok(p)
    }

    fn decode(&self, pt: &BfvPlaintext) -> BackendResult<Vec<i128>> {
        if pt.pts.len() != self.instances.len() {
            return Err(BackendError::InvalidParameters(
                "one plaintext per prime expected".into(),
            ));
        }
        let residues: Vec<Vec<u64>> = self
            .instances
            .par_iter()
            .zip(&pt.pts)
            .map(|(i, p)| i.encoder.decode_u64(p).map_err(engine))
            .collect::<BackendResult<_>>()?;
        let moduli = self.primes();
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

    fn encrypt(&self, pt: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        let parts = self
            .instances
            .par_iter()
            .zip(&pt.pts)
            .map(|(i, p)| i.secret()?.0.encrypt(p).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn decrypt(&self, ct: &BfvCiphertext) -> BackendResult<BfvPlaintext> {
        self.check(ct)?;
        let pts = self
            .instances
            .par_iter()
            .zip(&ct.parts)
            .map(|(i, c)| i.secret()?.1.decrypt(c).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(Arc::new(BfvPlaintextData {
            pts,
            level: self.level(ct),
            operands: OnceLock::new(),
        }))
    }

    fn level(&self, ct: &BfvCiphertext) -> usize {
        ct.parts.first().map_or(0, Ciphertext::level)
    }

    fn add(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        self.map2(a, b, |i, x, y| i.evaluator.add(x, y))
    }

    fn add_assign(&self, acc: &mut BfvCiphertext, b: &BfvCiphertext) -> BackendResult<()> {
        self.check(acc)?;
        self.check(b)?;
        self.instances
            .par_iter()
            .zip(acc.parts.par_iter_mut().zip(&b.parts))
            .try_for_each(|(i, (x, y))| i.evaluator.add_assign(x, y).map_err(engine))
    }

    fn sub(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        self.map2(a, b, |i, x, y| i.evaluator.sub(x, y))
    }

    fn add_plain(&self, a: &BfvCiphertext, p: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        self.check(a)?;
        let parts = self
            .instances
            .par_iter()
            .zip(a.parts.par_iter().zip(&p.pts))
            .map(|(i, (x, pt))| {
                let mut r = x.clone();
                i.evaluator.add_plain_assign(&mut r, pt).map_err(engine)?;
                Ok(r)
            })
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn mul_plain(&self, a: &BfvCiphertext, p: &BfvPlaintext) -> BackendResult<BfvCiphertext> {
        self.check(a)?;
        let ops = self.operands(p)?;
        let parts = self
            .instances
            .par_iter()
            .zip(a.parts.par_iter().zip(ops))
            .map(|(i, (x, o))| i.evaluator.mul_plain(x, o).map_err(engine))
            .collect::<BackendResult<Vec<_>>>()?;
        Ok(BfvCiphertext { parts })
    }

    fn mul_plain_add_assign(
        &self,
        acc: &mut BfvCiphertext,
        a: &BfvCiphertext,
        p: &BfvPlaintext,
    ) -> BackendResult<()> {
        self.check(acc)?;
        self.check(a)?;
        let ops = self.operands(p)?;
        self.instances
            .par_iter()
            .zip(acc.parts.par_iter_mut().zip(a.parts.par_iter().zip(ops)))
            .try_for_each(|(i, (acc, (x, o)))| {
                let t = i.evaluator.mul_plain(x, o)?;
                i.evaluator.add_assign(acc, &t)
            })
            .map_err(engine)
    }

    fn mul_scalar(&self, a: &BfvCiphertext, s: i128) -> BackendResult<BfvCiphertext> {
        self.map1(a, |i, x| {
            let c = s.rem_euclid(i.t);
            let c = if c > i.t / 2 { c - i.t } else { c };
            i.evaluator.mul_integer(x, c as i64)
        })
    }

    fn mul(&self, a: &BfvCiphertext, b: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let rlk = self.relin()?;
        self.map2(a, b, |i, x, y| i.evaluator.multiply(x, y, rlk))
    }

    fn square(&self, a: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let rlk = self.relin()?;
        self.map1(a, |i, x| i.evaluator.square(x, rlk))
    }

    fn rotate(&self, a: &BfvCiphertext, steps: isize) -> BackendResult<BfvCiphertext> {
        let k = normalize_step(steps, self.row_len) as i64;
        self.map1(a, |i, x| i.evaluator.rotate(x, k, &self.keys.galois))
    }

    fn rotate_hoisted(
        &self,
        a: &BfvCiphertext,
        steps: &[isize],
    ) -> BackendResult<Vec<BfvCiphertext>> {
        self.check(a)?;
        let ks: Vec<i64> = steps
            .iter()
            .map(|&s| normalize_step(s, self.row_len) as i64)
            .collect();
        let per_prime = self
            .instances
            .par_iter()
            .zip(&a.parts)
            .map(|(i, x)| {
                i.evaluator
                    .rotate_hoisted(x, &ks, &self.keys.galois)
                    .map_err(engine)
            })
            .collect::<BackendResult<Vec<Vec<Ciphertext>>>>()?;
        let mut out: Vec<BfvCiphertext> = (0..steps.len())
            .map(|_| BfvCiphertext {
                parts: Vec::with_capacity(self.instances.len()),
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
        self.map1(a, |i, x| i.evaluator.rotate_rows(x, &self.keys.galois))
    }

    fn rescale(&self, a: &BfvCiphertext) -> BackendResult<BfvCiphertext> {
        let level = self.level(a);
        if level == 0 {
            return Err(BackendError::LevelsExhausted { level, wanted: 1 });
        }
        self.map1(a, |i, x| i.evaluator.drop_level(x))
    }

    fn drop_level(&self, a: &BfvCiphertext, levels: usize) -> BackendResult<BfvCiphertext> {
        let level = self.level(a);
        if levels > level {
            return Err(BackendError::LevelsExhausted {
                level,
                wanted: levels,
            });
        }
        self.map1(a, |i, x| {
            let mut r = x.clone();
            i.evaluator.drop_to_level_assign(&mut r, level - levels)?;
            Ok(r)
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
