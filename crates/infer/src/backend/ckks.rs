//! The CKKS [`SlotBackend`] over `henn_he::ckks`: approximate real slots (Cheon–Kim–Kim–Song
//! 2017, full-RNS form of Cheon–Han–Kim–Kim–Song 2018), one cyclic row of `n/2` slots.
//!
//! LoLa (Brutzkus et al. 2019, section 5) names HEAAN/CKKS as the scheme that tolerates
//! message growth; with CKKS the network's *float* weights are used directly, no quantization.
//!
//! Design choices (documented here once):
//!
//! * **Geometry.** One row of `n/2` slots ([`SlotBackend::rows`] is 1); `rotate(ct, k)` is the
//!   automorphism `X → X^{5^k}` (slot `j` receives slot `j + k`); [`SlotBackend::swap_rows`]
//!   is the identity.
//! * **Scales.** A plaintext of the trait is a *slot vector at a level*; it is encoded at the
//!   scale the operation needs, lazily, and memoised per scale:
//!   - `mul_plain(ct, p)` encodes `p` at scale `q_ℓ`, the prime the following
//!     [`SlotBackend::rescale`] divides by, so that product + rescale gives back the scale of
//!     `ct` exactly (Lattigo's convention for constants; [`henn_he::ckks::Evaluator::mul_real`]
//!     does the same for `mul_scalar`);
//!   - `add_plain(ct, p)` encodes `p` at the scale of `ct`;
//!   - fresh encryptions use the default scale `Δ`.
//!
//!   Ciphertext × ciphertext products square the scale; rescaling divides by `q_ℓ ≈ Δ`, so
//!   scales stay within a factor `1 ± 2^-10` of `Δ` for primes close to `Δ`. Operands of an
//!   addition always have the same history in LoLa's plans, hence equal scales.
//! * **Levels.** Binary operations require equal levels, as in the clear backend (the planner
//!   keeps them aligned and [`SlotBackend::drop_level`] aligns explicitly); a mismatch is
//!   reported as [`BackendError::LevelMismatch`], never repaired silently.
//! * **Prepared plaintexts** as in the BFV backend ([`CkksBackend::set_plaintext_cache`]):
//!   run the plan once on an encrypted zero with [`PlaintextCache::Record`], then freeze.
//! * **Seeded encryption** (secret key, `c_1` expanded from a 32-byte seed) halves the upload.
//! * Errors of the engine become [`BackendError::Engine`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use henn_he::bfv::BfvParameters;
use henn_he::ckks::{
    galois_elements, Ciphertext, CkksError, CkksParameters, Decryptor, Encoder, Encryptor,
    Evaluator, Plaintext,
};
use henn_he::rlwe::{self, GaloisKeys, KeyGenerator, RelinearizationKey, SecretKey};
use henn_he::serialization::HeSerialize;
use henn_ring::sampler::{self, Seed, SharedCsprng};
use henn_ring::{Form, RnsPoly};

pub use super::bfv::{KeySpec, PlaintextCache};
use super::{normalize_step, BackendError, BackendResult, SlotBackend};

fn engine(e: CkksError) -> BackendError {
    BackendError::Engine(Box::new(e))
}

fn he(e: henn_he::HeError) -> BackendError {
    BackendError::Engine(Box::new(e))
}

/// Where a plaintext's slots come from.
#[derive(Debug)]
enum Source {
    /// Values encoded by the backend (weights, masks, biases, client inputs).
    Values(Vec<f64>),
    /// A decrypted (already encoded) plaintext.
    Decrypted(Plaintext),
}

/// A slot vector at a level, with its encodings memoised per scale (see the module docs).
#[derive(Debug)]
pub struct CkksPlaintextData {
    source: Source,
    level: usize,
    encodings: Mutex<Vec<(u64, Arc<Plaintext>)>>,
}

impl CkksPlaintextData {
    /// The level the plaintext was made for.
    pub fn level(&self) -> usize {
        self.level
    }
}

/// The backend's plaintext type (shared so memoised encodings are not copied).
pub type CkksPlaintext = Arc<CkksPlaintextData>;

/// The evaluation keys a plan needs (uploaded by the client, used by the server).
#[derive(Clone, Debug)]
pub struct CkksEvaluationKeys {
    /// Relinearization key, when the plan multiplies ciphertexts.
    pub relinearization: Option<RelinearizationKey>,
    /// Galois keys for the plan's rotation steps.
    pub galois: GaloisKeys,
}

/// A client's seeded (half-size) CKKS ciphertext: `c_0`, the seed of `c_1 = a`, the level and
/// the scale.
#[derive(Clone, Debug)]
pub struct SeededCkksCiphertext {
    c0: RnsPoly,
    seed: Seed,
    level: usize,
    scale: f64,
}

/// CKKS with one row of `n/2` real slots (see the module docs).
pub struct CkksBackend {
    params: Arc<CkksParameters>,
    encoder: Encoder,
    evaluator: Evaluator,
    encryptor: Encryptor,
    decryptor: Decryptor,
    secret: SecretKey,
    rng: SharedCsprng,
    keys: CkksEvaluationKeys,
    cache_mode: Mutex<PlaintextCache>,
    cache: Mutex<HashMap<(u64, usize), CkksPlaintext>>,
}

impl std::fmt::Debug for CkksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksBackend")
            .field("n", &self.params.degree())
            .field("levels", &self.params.max_level())
            .field("scale", &self.params.default_scale())
            .finish()
    }
}

fn scale_key(scale: f64) -> u64 {
    scale.to_bits()
}

impl CkksBackend {
    /// Generates a secret key for `params` and exactly the evaluation keys of `spec`
    /// (`spec.row_swap` is ignored: CKKS has one row). The slot count must be `n/2`.
    pub fn generate(params: &Arc<CkksParameters>, spec: &KeySpec) -> BackendResult<Self> {
        if params.slots() != params.degree() / 2 {
            return Err(BackendError::InvalidParameters(format!(
                "{} slots: the CKKS backend needs full packing (n/2 = {})",
                params.slots(),
                params.degree() / 2
            )));
        }
        let mut keygen = KeyGenerator::new(params.rlwe());
        let steps: Vec<i64> = spec
            .rotation_steps
            .iter()
            .map(|&s| normalize_step(s as isize, params.slots()) as i64)
            .filter(|&s| s != 0)
            .collect();
        let elements = galois_elements(params, &steps, false).map_err(engine)?;
        let galois = keygen.galois_keys(&elements).map_err(he)?;
        let relinearization = spec.relinearization.then(|| keygen.relinearization_key());
        let secret = keygen.secret_key().clone();
        Ok(Self {
            encoder: Encoder::new(params),
            evaluator: Evaluator::new(params),
            encryptor: Encryptor::with_secret_key(params, &secret),
            decryptor: Decryptor::new(params, &secret),
            secret,
            rng: SharedCsprng::from_os(),
            keys: CkksEvaluationKeys {
                relinearization,
                galois,
            },
            params: params.clone(),
            cache_mode: Mutex::new(PlaintextCache::Off),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The CKKS parameters.
    pub fn params(&self) -> &Arc<CkksParameters> {
        &self.params
    }

    /// The evaluation keys.
    pub fn evaluation_keys(&self) -> &CkksEvaluationKeys {
        &self.keys
    }

    /// Bytes of the serialized (seeded) evaluation keys: what the client uploads once. Keys are
    /// RLWE objects, serialized with the engine's format (the BFV wrapper only supplies the
    /// RLWE parameters; its plaintext modulus does not enter the bytes).
    pub fn evaluation_key_bytes(&self) -> BackendResult<usize> {
        let wrapper = BfvParameters::new(self.params.rlwe().clone(), 3).map_err(he)?;
        Ok(self.keys.galois.to_bytes(&wrapper).len()
            + self
                .keys
                .relinearization
                .as_ref()
                .map_or(0, |r| r.to_bytes(&wrapper).len()))
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

    fn packed_bytes(&self, limbs: usize) -> usize {
        let n = self.params.degree();
        self.params.q_moduli()[..limbs]
            .iter()
            .map(|&q| (n * (64 - q.leading_zeros()) as usize).div_ceil(8))
            .sum()
    }

    /// Bytes of a ciphertext on the wire: bit-packed residues of every polynomial, plus level,
    /// size and scale (download size of one message).
    pub fn ciphertext_bytes(&self, ct: &Ciphertext) -> usize {
        ct.len() * self.packed_bytes(ct.level() + 1) + 2 + 8
    }

    /// Bytes of a seeded ciphertext on the wire: `c_0`, the 32-byte seed, level and scale.
    pub fn seeded_bytes(&self, ct: &SeededCkksCiphertext) -> usize {
        self.packed_bytes(ct.level + 1) + ct.seed.len() + 1 + 8
    }

    /// Client side: secret-key encryption at the default scale in seeded (half-size) form.
    pub fn encrypt_seeded(&self, pt: &CkksPlaintext) -> BackendResult<SeededCkksCiphertext> {
        let scale = self.params.default_scale();
        let encoded = self.encoded(pt, scale)?;
        let rlwe_params = self.params.rlwe();
        let n = self.params.degree();
        let zero = RnsPoly::zero(n, rlwe_params.max_level() + 1, Form::Coefficient);
        let (ct, seed) =
            { rlwe::encryption::encrypt_sk(&self.secret, &zero, &mut self.rng.child()) };
        let mut c0 = ct.polys().first().cloned().ok_or_else(|| {
            BackendError::InvalidParameters("encryption returned no polynomial".into())
        })?;
        c0.truncate_limbs(encoded.level() + 1);
        c0.add_assign(encoded.poly(), rlwe_params.q_basis());
        Ok(SeededCkksCiphertext {
            c0,
            seed,
            level: encoded.level(),
            scale,
        })
    }

    /// Server side: expands a seeded ciphertext received from the client (validating it).
    pub fn expand_seeded(&self, seeded: &SeededCkksCiphertext) -> BackendResult<Ciphertext> {
        let rlwe_params = self.params.rlwe();
        let q = rlwe_params.q_basis();
        let mut a = sampler::uniform_poly(
            &mut sampler::rng_from_seed(&seeded.seed),
            q,
            q.len(),
            Form::Ntt,
        );
        a.truncate_limbs(seeded.level + 1);
        let inner =
            rlwe::Ciphertext::from_polys(rlwe_params, vec![seeded.c0.clone(), a], seeded.level)
                .map_err(he)?;
        Ciphertext::from_rlwe(inner, seeded.scale).map_err(engine)
    }

    /// The encoding of `p` at `scale` (memoised in `p`).
    fn encoded(&self, p: &CkksPlaintext, scale: f64) -> BackendResult<Arc<Plaintext>> {
        let key = scale_key(scale);
        // No lock is held while encoding: the encoder may run rayon jobs, and a rayon worker
        // blocked on this lock could not run the jobs its holder waits for.
        let memoised = |encodings: &[(u64, Arc<Plaintext>)]| {
            encodings
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, e)| e.clone())
        };
        if let Some(e) = memoised(&p.encodings.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(e);
        }
        let e = Arc::new(match &p.source {
            Source::Values(v) => self
                .encoder
                .encode_real(v, p.level, scale)
                .map_err(engine)?,
            Source::Decrypted(pt) => {
                if scale_key(pt.scale()) != key {
                    return Err(BackendError::InvalidParameters(format!(
                        "a decrypted plaintext at scale {} cannot be used at scale {scale}",
                        pt.scale()
                    )));
                }
                pt.clone()
            }
        });
        let mut encodings = p.encodings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = memoised(&encodings) {
            return Ok(first);
        }
        encodings.push((key, e.clone()));
        Ok(e)
    }

    /// The scale a plaintext factor of a ct × pt product at `level` is encoded at: the prime
    /// the following rescale divides by (`Δ` at level 0).
    fn product_scale(&self, level: usize) -> f64 {
        if level == 0 {
            self.params.default_scale()
        } else {
            self.params.q_moduli()[level] as f64
        }
    }

    fn same_level(&self, a: &Ciphertext, b: usize) -> BackendResult<()> {
        if a.level() != b {
            return Err(BackendError::LevelMismatch {
                left: a.level(),
                right: b,
            });
        }
        Ok(())
    }

    fn relin(&self) -> BackendResult<&RelinearizationKey> {
        self.keys.relinearization.as_ref().ok_or_else(|| {
            BackendError::InvalidParameters("no relinearization key was generated".into())
        })
    }
}

impl SlotBackend for CkksBackend {
    type Value = f64;
    type Ciphertext = Ciphertext;
    type Plaintext = CkksPlaintext;

    fn rows(&self) -> usize {
        1
    }

    fn row_len(&self) -> usize {
        self.params.slots()
    }

    fn max_level(&self) -> usize {
        self.params.max_level()
    }

    fn encode(&self, values: &[f64], level: usize) -> BackendResult<CkksPlaintext> {
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
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(BackendError::InvalidParameters(format!(
                "slot value {v} is not finite"
            )));
        }
        let make = || {
            Arc::new(CkksPlaintextData {
                source: Source::Values(values.to_vec()),
                level,
                encodings: Mutex::new(Vec::new()),
            })
        };
        let mode = *self.cache_mode.lock().unwrap_or_else(|e| e.into_inner());
        if mode == PlaintextCache::Off {
            return Ok(make());
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        values.len().hash(&mut h);
        for v in values {
            v.to_bits().hash(&mut h);
        }
        let key = (h.finish(), level);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = cache.get(&key) {
            return Ok(p.clone());
        }
        let p = make();
        if mode == PlaintextCache::Record {
            cache.insert(key, p.clone());
        }
        Ok(p)
    }

    fn decode(&self, pt: &CkksPlaintext) -> BackendResult<Vec<f64>> {
        let encoded = match &pt.source {
            Source::Decrypted(p) => return self.decode_plain(p),
            Source::Values(_) => self.encoded(pt, self.params.default_scale())?,
        };
        self.decode_plain(&encoded)
    }

    fn encrypt(&self, pt: &CkksPlaintext) -> BackendResult<Ciphertext> {
        let encoded = self.encoded(pt, self.params.default_scale())?;
        self.encryptor.encrypt(&encoded).map_err(engine)
    }

    fn decrypt(&self, ct: &Ciphertext) -> BackendResult<CkksPlaintext> {
        let pt = self.decryptor.decrypt(ct).map_err(engine)?;
        Ok(Arc::new(CkksPlaintextData {
            level: pt.level(),
            source: Source::Decrypted(pt),
            encodings: Mutex::new(Vec::new()),
        }))
    }

    fn level(&self, ct: &Ciphertext) -> usize {
        ct.level()
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.add(a, b).map_err(engine)
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.sub(a, b).map_err(engine)
    }

    fn add_plain(&self, a: &Ciphertext, p: &CkksPlaintext) -> BackendResult<Ciphertext> {
        self.same_level(a, p.level)?;
        let e = self.encoded(p, a.scale())?;
        self.evaluator.add_plain(a, &e).map_err(engine)
    }

    fn mul_plain(&self, a: &Ciphertext, p: &CkksPlaintext) -> BackendResult<Ciphertext> {
        self.same_level(a, p.level)?;
        let e = self.encoded(p, self.product_scale(a.level()))?;
        self.evaluator.mul_plain(a, &e).map_err(engine)
    }

    fn mul_scalar(&self, a: &Ciphertext, s: f64) -> BackendResult<Ciphertext> {
        self.evaluator.mul_real(a, s).map_err(engine)
    }

    fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.mul(a, b, self.relin()?).map_err(engine)
    }

    fn square(&self, a: &Ciphertext) -> BackendResult<Ciphertext> {
        self.evaluator.square(a, self.relin()?).map_err(engine)
    }

    fn rotate(&self, a: &Ciphertext, steps: isize) -> BackendResult<Ciphertext> {
        let k = normalize_step(steps, self.row_len());
        if k == 0 {
            return Ok(a.clone());
        }
        self.evaluator
            .rotate(a, k as i64, &self.keys.galois)
            .map_err(engine)
    }

    fn rotate_hoisted(&self, a: &Ciphertext, steps: &[isize]) -> BackendResult<Vec<Ciphertext>> {
        let ks: Vec<usize> = steps
            .iter()
            .map(|&s| normalize_step(s, self.row_len()))
            .collect();
        let nonzero: Vec<i64> = ks.iter().filter(|&&k| k != 0).map(|&k| k as i64).collect();
        let mut rotated = if nonzero.is_empty() {
            Vec::new()
        } else {
            self.evaluator
                .rotate_hoisted(a, &nonzero, &self.keys.galois)
                .map_err(engine)?
        }
        .into_iter();
        ks.iter()
            .map(|&k| {
                if k == 0 {
                    Ok(a.clone())
                } else {
                    rotated.next().ok_or_else(|| {
                        BackendError::InvalidParameters("hoisted rotation count".into())
                    })
                }
            })
            .collect()
    }

    fn swap_rows(&self, a: &Ciphertext) -> BackendResult<Ciphertext> {
        Ok(a.clone())
    }

    fn rescale(&self, a: &Ciphertext) -> BackendResult<Ciphertext> {
        if a.level() == 0 {
            return Err(BackendError::LevelsExhausted {
                level: 0,
                wanted: 1,
            });
        }
        self.evaluator.rescale(a).map_err(engine)
    }

    fn drop_level(&self, a: &Ciphertext, levels: usize) -> BackendResult<Ciphertext> {
        let level = a.level();
        if levels > level {
            return Err(BackendError::LevelsExhausted {
                level,
                wanted: levels,
            });
        }
        self.evaluator
            .drop_to_level(a, level - levels)
            .map_err(engine)
    }
}

impl CkksBackend {
    fn decode_plain(&self, p: &Plaintext) -> BackendResult<Vec<f64>> {
        Ok(self
            .encoder
            .decode(p)
            .map_err(engine)?
            .iter()
            .map(|z| z.re)
            .collect())
    }
}

/// Bits above the largest ciphertext prime given to the special prime `P` (the engine's note
/// on hoisting: the key-switching error of a hoisted rotation grows with `q_j/P`).
pub const SPECIAL_PRIME_MARGIN_BITS: u32 = 6;

/// The bit sizes `(q_bits, p_bits, log_scale)` of the largest scale that fits `depth`
/// rescalings at 128-bit security for `n = 2^log_n` (HE standard bound on `log2(QP)`), with
/// `headroom_bits` of integer part at the last level (`|m| < 2^(headroom_bits − 1)`):
/// `q_0` of `s + headroom` bits, `depth` primes of `s` bits, one special prime of
/// `s + headroom + 6` bits, one digit per prime. `s` is capped at 50 bits and at
/// `61 − headroom − 6` (the engine's largest prime).
pub fn chain_for_depth(
    log_n: u32,
    depth: usize,
    headroom_bits: u32,
) -> BackendResult<(Vec<u32>, Vec<u32>, u32)> {
    let bound = henn_he::rlwe::params::max_log_qp_128(log_n).ok_or_else(|| {
        BackendError::InvalidParameters(format!("no 128-bit bound for log_n = {log_n}"))
    })?;
    let fixed = 2 * headroom_bits + SPECIAL_PRIME_MARGIN_BITS;
    let per = (depth + 2) as u32;
    // Capped at 50 bits, and so that the special prime stays within 61 bits.
    let s = (bound.saturating_sub(fixed) / per)
        .min(50)
        .min(61u32.saturating_sub(headroom_bits + SPECIAL_PRIME_MARGIN_BITS));
    if s < 20 || s + headroom_bits + SPECIAL_PRIME_MARGIN_BITS > 61 {
        return Err(BackendError::InvalidParameters(format!(
            "depth {depth} with {headroom_bits} headroom bits does not fit log2(QP) <= {bound} \
             at n = 2^{log_n} with a scale of at least 2^20"
        )));
    }
    let mut q = vec![s + headroom_bits];
    q.extend(std::iter::repeat_n(s, depth));
    Ok((q, vec![s + headroom_bits + SPECIAL_PRIME_MARGIN_BITS], s))
}

/// 128-bit secure CKKS parameters from [`chain_for_depth`] (security checked by the engine).
pub fn parameters_for_depth(
    log_n: u32,
    depth: usize,
    headroom_bits: u32,
) -> BackendResult<Arc<CkksParameters>> {
    let (q, p, s) = chain_for_depth(log_n, depth, headroom_bits)?;
    henn_he::ckks::CkksParametersBuilder::new()
        .log_n(log_n)
        .q_bits(&q)
        .p_bits(&p)
        .dnum(q.len())
        .log_scale(s)
        .build()
        .map_err(engine)
}
