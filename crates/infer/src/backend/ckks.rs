//! The CKKS slot backend over `henn_he::ckks`: approximate real slots (Cheon–Kim–Kim–Song
//! 2017, full-RNS form of Cheon–Han–Kim–Kim–Song 2018), one cyclic row of `n/2` slots.
//!
//! LoLa (Brutzkus et al. 2019, section 5) names HEAAN/CKKS as the scheme that tolerates
//! message growth; with CKKS the network's *float* weights are used directly, no quantization.
//!
//! Design choices (documented here once):
//!
//! * **Two halves**, as for BFV: [`CkksSlotEvaluator`] (the server's [`SlotEvaluator`]) from
//!   public parameters and the client's [`CkksEvaluationKeys`], no secret key;
//!   [`CkksSlotEncryptor`] (the client's [`SlotEncryptor`]) with the secret key, no weights;
//!   [`CkksBackend`] keeps both side by side for benchmarks and tests.
//! * **Geometry.** One row of `n/2` slots ([`SlotEncoding::rows`] is 1); `rotate(ct, k)` is
//!   the automorphism `X → X^{5^k}` (slot `j` receives slot `j + k`);
//!   [`SlotEvaluator::swap_rows`] is the identity.
//! * **Scales.** A plaintext of the trait is a *slot vector at a level*; it is encoded at the
//!   scale the operation needs, lazily, and memoised per scale:
//!   - `mul_plain(ct, p)` encodes `p` at scale `q_ℓ`, the prime the following
//!     [`SlotEvaluator::rescale`] divides by, so that product + rescale gives back the scale
//!     of `ct` exactly (Lattigo's convention for constants;
//!     [`henn_he::ckks::Evaluator::mul_real`] does the same for `mul_scalar`);
//!   - `add_plain(ct, p)` encodes `p` at the scale of `ct`;
//!   - fresh encryptions use the default scale `Δ`.
//!
//!   Ciphertext × ciphertext products square the scale; rescaling divides by `q_ℓ ≈ Δ`, so
//!   scales stay within a factor `1 ± 2^-10` of `Δ` for primes close to `Δ`. Operands of an
//!   addition always have the same history in LoLa's plans, hence equal scales.
//! * **Levels.** Binary operations require equal levels, as in the clear backend (the planner
//!   keeps them aligned and [`SlotEvaluator::drop_level`] aligns explicitly); a mismatch is
//!   reported as [`BackendError::LevelMismatch`], never repaired silently.
//! * **Prepared plaintexts** keyed by plan step, as in the BFV backend
//!   ([`super::prepared`], [`CkksSlotEvaluator::set_plaintext_cache`]).
//! * **Seeded encryption** (secret key, `c_1` expanded from a 32-byte seed) halves the upload.
//! * Errors of the engine become [`BackendError::Engine`].

use henn_he::HeError;
use std::sync::{Arc, Mutex};

use henn_he::ckks::{
    galois_elements, Ciphertext, CkksParameters, Decryptor, Encoder, Encryptor, Evaluator,
    Plaintext,
};
use henn_he::rlwe::{GaloisKeys, PublicKey, RelinearizationKey, SecretKey};
use henn_he::serialization::HeSerialize;
use henn_ring::sampler;

pub use super::bfv::KeySpec;
pub use super::prepared::PlaintextCache;
use super::prepared::{PlaintextStore, PreparedPlaintexts};
use super::{
    normalize_step, BackendError, BackendResult, Joined, PlaintextKey, SlotEncoding, SlotEncryptor,
    SlotEvaluator,
};

fn engine(e: HeError) -> BackendError {
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

/// A client's seeded (half-size) CKKS ciphertext (the engine's
/// [`henn_he::ckks::SeededCiphertext`]).
pub type SeededCkksCiphertext = henn_he::ckks::SeededCiphertext;

fn scale_key(scale: f64) -> u64 {
    scale.to_bits()
}

/// The Galois elements of `spec`'s rotation steps for `params` (step 0 needs none).
pub fn required_galois_elements(
    params: &CkksParameters,
    spec: &KeySpec,
) -> BackendResult<Vec<usize>> {
    let steps: Vec<i64> = spec
        .rotation_steps
        .iter()
        .map(|&s| normalize_step(s as isize, params.slots()) as i64)
        .filter(|&s| s != 0)
        .collect();
    galois_elements(params, &steps, false).map_err(engine)
}

/// Parameters and encoder, shared by both halves.
struct Codec {
    params: Arc<CkksParameters>,
    encoder: Encoder,
}

impl Codec {
    fn new(params: &Arc<CkksParameters>) -> BackendResult<Self> {
        if params.slots() != params.degree() / 2 {
            return Err(BackendError::InvalidParameters(format!(
                "{} slots: the CKKS backend needs full packing (n/2 = {})",
                params.slots(),
                params.degree() / 2
            )));
        }
        Ok(Self {
            encoder: Encoder::new(params),
            params: params.clone(),
        })
    }

    fn check_encode(&self, values: &[f64], level: usize) -> BackendResult<()> {
        let slots = self.params.slots();
        if values.len() > slots {
            return Err(BackendError::TooManyValues {
                got: values.len(),
                slots,
            });
        }
        let max = self.params.max_level();
        if level > max {
            return Err(BackendError::LevelsExhausted {
                level: max,
                wanted: level - max,
            });
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(BackendError::InvalidParameters(format!(
                "slot value {v} is not finite"
            )));
        }
        Ok(())
    }

    fn make(&self, values: &[f64], level: usize) -> BackendResult<CkksPlaintext> {
        self.check_encode(values, level)?;
        Ok(Arc::new(CkksPlaintextData {
            source: Source::Values(values.to_vec()),
            level,
            encodings: Mutex::new(Vec::new()),
        }))
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

    fn decode_plain(&self, p: &Plaintext) -> BackendResult<Vec<f64>> {
        Ok(self
            .encoder
            .decode(p)
            .map_err(engine)?
            .iter()
            .map(|z| z.re)
            .collect())
    }

    fn packed_bytes(&self, limbs: usize) -> usize {
        let n = self.params.degree();
        self.params.q_moduli()[..limbs]
            .iter()
            .map(|&q| (n * (64 - q.leading_zeros()) as usize).div_ceil(8))
            .sum()
    }
}

/// The client's half: the secret key, encryptor and decryptor (see the module docs). It holds
/// no weights and no evaluation keys.
pub struct CkksSlotEncryptor {
    codec: Codec,
    encryptor: Encryptor,
    decryptor: Decryptor,
    sk: SecretKey,
}

impl std::fmt::Debug for CkksSlotEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkksSlotEncryptor")
            .field("n", &self.codec.params.degree())
            .finish_non_exhaustive()
    }
}

impl CkksSlotEncryptor {
    /// The client's half for secret key `sk`. The slot count must be `n/2`.
    pub fn new(params: &Arc<CkksParameters>, sk: &SecretKey) -> BackendResult<Self> {
        Ok(Self {
            codec: Codec::new(params)?,
            encryptor: Encryptor::with_secret_key(params, sk),
            decryptor: Decryptor::new(params, sk),
            sk: sk.clone(),
        })
    }
    /// The client's public key (Regev/BFV public-key encryption of zero under the secret key),
    /// uploaded only when the compiled model floods its outputs: the server re-randomizes each
    /// answer with a fresh encryption of zero under it ([`henn_he::rlwe::flood`]).
    pub fn public_key(&self, rng: &mut sampler::Csprng) -> PublicKey {
        PublicKey::generate(&self.sk, rng)
    }

    /// Exactly the evaluation keys of `spec` (`spec.row_swap` is ignored: CKKS has one row).
    pub fn make_evaluation_keys(
        &self,
        spec: &KeySpec,
        rng: &mut sampler::Csprng,
    ) -> BackendResult<CkksEvaluationKeys> {
        let elements = required_galois_elements(&self.codec.params, spec)?;
        let galois = GaloisKeys::generate(&self.sk, &elements, rng).map_err(engine)?;
        let relinearization = spec
            .relinearization
            .then(|| RelinearizationKey::generate(&self.sk, rng));
        Ok(CkksEvaluationKeys {
            relinearization,
            galois,
        })
    }

    /// The CKKS parameters.
    pub fn params(&self) -> &Arc<CkksParameters> {
        &self.codec.params
    }

    /// Secret-key encryption at the default scale in seeded (half-size) form.
    pub fn encrypt_seeded(&self, pt: &CkksPlaintext) -> BackendResult<SeededCkksCiphertext> {
        let encoded = self.codec.encoded(pt, self.codec.params.default_scale())?;
        self.encryptor.encrypt_seeded(&encoded).map_err(engine)
    }

    /// Bytes of a seeded ciphertext on the wire: `c_0`, the 32-byte seed, level and scale.
    pub fn seeded_bytes(&self, ct: &SeededCkksCiphertext) -> usize {
        self.codec.packed_bytes(ct.level() + 1) + 32 + 1 + 8
    }
}

/// The server's half: public parameters, the client's evaluation keys and prepared weight
/// plaintexts; no secret key (see the module docs).
pub struct CkksSlotEvaluator {
    codec: Codec,
    evaluator: Evaluator,
    keys: CkksEvaluationKeys,
    prepared: PlaintextStore<CkksPlaintext>,
}

impl std::fmt::Debug for CkksSlotEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.codec.params;
        f.debug_struct("CkksSlotEvaluator")
            .field("n", &p.degree())
            .field("levels", &p.max_level())
            .field("scale", &p.default_scale())
            .finish_non_exhaustive()
    }
}

impl CkksSlotEvaluator {
    /// The server's half from public parameters and a client's evaluation keys. The slot
    /// count must be `n/2`.
    pub fn new(params: &Arc<CkksParameters>, keys: CkksEvaluationKeys) -> BackendResult<Self> {
        Ok(Self {
            codec: Codec::new(params)?,
            evaluator: Evaluator::new(params),
            keys,
            prepared: PlaintextStore::new(params.fingerprint()),
        })
    }

    /// The CKKS parameters.
    pub fn params(&self) -> &Arc<CkksParameters> {
        &self.codec.params
    }

    /// The evaluation keys.
    pub fn evaluation_keys(&self) -> &CkksEvaluationKeys {
        &self.keys
    }

    /// Bytes of the serialized (seeded) evaluation keys: what the client uploads once.
    pub fn evaluation_key_bytes(&self) -> BackendResult<usize> {
        let p = &self.codec.params;
        Ok(self.keys.galois.to_bytes(p).len()
            + self
                .keys
                .relinearization
                .as_ref()
                .map_or(0, |r| r.to_bytes(p).len()))
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
    pub fn prepared_plaintexts(&self) -> Option<Arc<PreparedPlaintexts<CkksPlaintext>>> {
        self.prepared.prepared()
    }

    /// Uses `prepared` (frozen), made by an evaluator of the same parameters that ran the same
    /// plan with [`PlaintextCache::Record`]; shares the encodings (`Arc`), no copy.
    pub fn share_prepared_plaintexts(
        &self,
        prepared: Arc<PreparedPlaintexts<CkksPlaintext>>,
    ) -> BackendResult<()> {
        self.prepared.share(prepared)
    }

    /// Bytes of a ciphertext on the wire: bit-packed residues of every polynomial, plus level,
    /// size and scale (download size of one message).
    pub fn ciphertext_bytes(&self, ct: &Ciphertext) -> usize {
        ct.len() * self.codec.packed_bytes(ct.level() + 1) + 2 + 8
    }

    /// Expands a seeded ciphertext received from the client (validating it).
    pub fn expand_seeded(&self, seeded: &SeededCkksCiphertext) -> BackendResult<Ciphertext> {
        seeded.expand(&self.codec.params).map_err(engine)
    }

    /// The scale a plaintext factor of a ct × pt product at `level` is encoded at: the prime
    /// the following rescale divides by (`Δ` at level 0).
    fn product_scale(&self, level: usize) -> f64 {
        if level == 0 {
            self.codec.params.default_scale()
        } else {
            self.codec.params.q_moduli()[level] as f64
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
            BackendError::InvalidParameters("no relinearization key was uploaded".into())
        })
    }
}

/// Both halves share the slot geometry and encoding (see the module docs).
macro_rules! shared_encoding {
    ($half:ty) => {
        impl SlotEncoding for $half {
            type Value = f64;
            type Ciphertext = Ciphertext;
            type Plaintext = CkksPlaintext;
            fn rows(&self) -> usize {
                1
            }
            fn row_len(&self) -> usize {
                self.codec.params.slots()
            }
            fn max_level(&self) -> usize {
                self.codec.params.max_level()
            }
            fn encode(&self, values: &[f64], level: usize) -> BackendResult<CkksPlaintext> {
                self.codec.make(values, level)
            }
            fn level(&self, ct: &Ciphertext) -> usize {
                ct.level()
            }
        }
    };
}

shared_encoding!(CkksSlotEncryptor);
shared_encoding!(CkksSlotEvaluator);

impl SlotEncryptor for CkksSlotEncryptor {
    fn decode(&self, pt: &CkksPlaintext) -> BackendResult<Vec<f64>> {
        let encoded = match &pt.source {
            Source::Decrypted(p) => return self.codec.decode_plain(p),
            Source::Values(_) => self.codec.encoded(pt, self.codec.params.default_scale())?,
        };
        self.codec.decode_plain(&encoded)
    }

    fn encrypt(&self, pt: &CkksPlaintext) -> BackendResult<Ciphertext> {
        let encoded = self.codec.encoded(pt, self.codec.params.default_scale())?;
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
}

impl SlotEvaluator for CkksSlotEvaluator {
    fn encode_prepared(
        &self,
        key: PlaintextKey,
        values: &[f64],
        level: usize,
    ) -> BackendResult<CkksPlaintext> {
        self.codec.check_encode(values, level)?;
        self.prepared
            .get_or_encode(key, values, level, || self.codec.make(values, level))
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.add(a, b).map_err(engine)
    }

    fn add_assign(&self, acc: &mut Ciphertext, b: &Ciphertext) -> BackendResult<()> {
        self.same_level(acc, b.level())?;
        self.evaluator.add_assign(acc, b).map_err(engine)
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.sub(a, b).map_err(engine)
    }

    fn add_plain(&self, a: &Ciphertext, p: &CkksPlaintext) -> BackendResult<Ciphertext> {
        self.same_level(a, p.level)?;
        let e = self.codec.encoded(p, a.scale())?;
        self.evaluator.add_plain(a, &e).map_err(engine)
    }

    fn mul_plain(&self, a: &Ciphertext, p: &CkksPlaintext) -> BackendResult<Ciphertext> {
        self.same_level(a, p.level)?;
        let e = self.codec.encoded(p, self.product_scale(a.level()))?;
        self.evaluator.mul_plain(a, &e).map_err(engine)
    }

    fn mul_plain_add_assign(
        &self,
        acc: &mut Ciphertext,
        a: &Ciphertext,
        p: &CkksPlaintext,
    ) -> BackendResult<()> {
        self.same_level(a, p.level)?;
        self.same_level(acc, a.level())?;
        let e = self.codec.encoded(p, self.product_scale(a.level()))?;
        self.evaluator
            .mul_plain_accumulate(acc, a, &e)
            .map_err(engine)
    }

    fn mul_scalar(&self, a: &Ciphertext, s: f64) -> BackendResult<Ciphertext> {
        self.evaluator.mul_real(a, s).map_err(engine)
    }

    fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> BackendResult<Ciphertext> {
        self.same_level(a, b.level())?;
        self.evaluator.multiply(a, b, self.relin()?).map_err(engine)
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

/// Both halves side by side (benchmarks and tests): `encryptor` for the client's operations,
/// `evaluator` for the server's.
pub type CkksBackend = Joined<CkksSlotEncryptor, CkksSlotEvaluator>;

impl CkksBackend {
    /// Generates a fresh secret key for `params`, the client half, exactly the evaluation keys
    /// of `spec`, and the server half built from those keys.
    pub fn generate(params: &Arc<CkksParameters>, spec: &KeySpec) -> BackendResult<Self> {
        let sk = SecretKey::generate(params.rlwe(), &mut sampler::os_rng());
        let encryptor = CkksSlotEncryptor::new(params, &sk)?;
        let keys = encryptor.make_evaluation_keys(spec, &mut sampler::os_rng())?;
        Ok(Self {
            evaluator: CkksSlotEvaluator::new(params, keys)?,
            encryptor,
        })
    }
}

/// Bits above the largest ciphertext prime given to the special prime `P` (the engine's note
/// on hoisting: the key-switching error of a hoisted rotation grows with `q_j/P`).
pub const SPECIAL_PRIME_MARGIN_BITS: u32 = 6;

/// Smallest scale `2^MIN_LOG_SCALE` [`chain_for_depth`] trades precision down to in exchange
/// for fewer key-switching digits (smaller evaluation keys, faster rotations): at `2^25` the
/// LoLa networks' logits keep a relative error near `10^-3` (measured with
/// `henn bench lola --scheme ckks`), far below the margins between classes.
pub const MIN_LOG_SCALE: u32 = 25;

/// Most ciphertext primes per key-switching digit [`chain_for_depth`] considers.
pub const MAX_PRIMES_PER_DIGIT: usize = 3;

/// A CKKS modulus chain for a plan: prime sizes, scale and gadget decomposition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CkksChain {
    /// Bit sizes of the ciphertext primes `q_0, …, q_L` (`q_0` carries the headroom).
    pub q_bits: Vec<u32>,
    /// Bit sizes of the special primes `P`.
    pub p_bits: Vec<u32>,
    /// `log2` of the default scale `Δ` (also the size of `q_1, …, q_L`).
    pub log_scale: u32,
    /// Key-switching digits (`dnum`): `⌈(L+1)/dnum⌉` consecutive primes per digit.
    pub dnum: usize,
}

/// The chain for `depth` rescalings at 128-bit security for `n = 2^log_n` (HE standard bound
/// on `log2(QP)`), with `headroom_bits` of integer part at the last level
/// (`|m| < 2^(headroom_bits − 1)`): `q_0` of `s + headroom` bits, `depth` primes of `s` bits,
/// and special primes covering the largest digit plus [`SPECIAL_PRIME_MARGIN_BITS`].
///
/// With `α` primes per digit the bound gives `s = ⌊(B − 2·headroom − margin)/(depth + 1 + α)⌋`
/// (capped at 50 bits). Hybrid key switching (Han–Ki, CT-RSA 2020) costs `dnum = ⌈(L+1)/α⌉`
/// digits per key and per switch, so the chain takes the largest `α ≤`
/// [`MAX_PRIMES_PER_DIGIT`] that keeps `s >=` [`MIN_LOG_SCALE`] (`α = 1` when none does,
/// down to a scale of `2^20`).
pub fn chain_for_depth(log_n: u32, depth: usize, headroom_bits: u32) -> BackendResult<CkksChain> {
    let bound = henn_he::rlwe::params::max_log_qp_128(log_n).ok_or_else(|| {
        BackendError::InvalidParameters(format!("no 128-bit bound for log_n = {log_n}"))
    })?;
    let fixed = 2 * headroom_bits + SPECIAL_PRIME_MARGIN_BITS;
    let primes = depth + 1;
    let scale_for = |alpha: usize| (bound.saturating_sub(fixed) / (primes + alpha) as u32).min(50);
    let alpha = (1..=MAX_PRIMES_PER_DIGIT.min(primes))
        .rev()
        .find(|&a| scale_for(a) >= MIN_LOG_SCALE)
        .unwrap_or(1);
    let s = scale_for(alpha);
    if s < 20 || s + headroom_bits > 60 {
        return Err(BackendError::InvalidParameters(format!(
            "depth {depth} with {headroom_bits} headroom bits does not fit log2(QP) <= {bound} \
             at n = 2^{log_n} with a scale of at least 2^20"
        )));
    }
    let mut q_bits = vec![s + headroom_bits];
    q_bits.extend(std::iter::repeat_n(s, depth));
    // The largest digit is the first: q_0 and α − 1 primes of s bits.
    let p_total = alpha as u32 * s + headroom_bits + SPECIAL_PRIME_MARGIN_BITS;
    let p_count = p_total.div_ceil(60);
    let p_bits = (0..p_count)
        .map(|i| p_total / p_count + u32::from(i < p_total % p_count))
        .collect();
    Ok(CkksChain {
        q_bits,
        p_bits,
        log_scale: s,
        dnum: primes.div_ceil(alpha),
    })
}

/// 128-bit secure CKKS parameters from [`chain_for_depth`] (security checked by the engine).
pub fn parameters_for_depth(
    log_n: u32,
    depth: usize,
    headroom_bits: u32,
) -> BackendResult<Arc<CkksParameters>> {
    parameters_for_chain(log_n, &chain_for_depth(log_n, depth, headroom_bits)?)
}

/// 128-bit secure CKKS parameters of a chain at `n = 2^log_n` (security checked by the engine).
pub fn parameters_for_chain(log_n: u32, chain: &CkksChain) -> BackendResult<Arc<CkksParameters>> {
    henn_he::ckks::CkksParametersBuilder::new()
        .log_n(log_n)
        .q_bits(&chain.q_bits)
        .p_bits(&chain.p_bits)
        .dnum(chain.dnum)
        .log_scale(chain.log_scale)
        .build()
        .map_err(engine)
}
