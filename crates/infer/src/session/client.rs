//! [`ClientSession`]: the data owner's side. It holds the secret key (derived from a 32-byte
//! seed drawn from the OS CSPRNG; the seed is zeroized on drop), makes the evaluation keys of
//! the plan, encrypts inputs (seeded, half size) and decrypts and decodes outputs. It never
//! sees a weight: everything it needs is the [`PublicModel`].

use henn_ring::sampler::{self, Seed};
use zeroize::Zeroizing;

use super::ciphertexts::{EncryptedInput, EncryptedOutput};
use super::keys::EvaluationKeys;
use super::public::{InputEncoding, PublicModel, SchemeContext};
use super::wire::{Reader, WireKind, WireScheme, Writer};
use crate::backend::bfv::{BfvCiphertext, BfvCrtEncryptor};
use crate::backend::ckks::CkksSlotEncryptor;
use crate::backend::{secret_key_from_seed, SlotEncoding, SlotEncryptor};
use crate::error::{InferError, InferResult};

/// The client's half of the scheme: the secret key, no weights and no evaluation keys.
enum ClientBackend {
    Bfv(Box<BfvCrtEncryptor>),
    Ckks(Box<CkksSlotEncryptor>),
}

/// The client's session (see the module docs).
pub struct ClientSession {
    public: PublicModel,
    ctx: SchemeContext,
    seed: Zeroizing<Seed>,
    backend: ClientBackend,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("model", &self.public.model)
            .finish_non_exhaustive()
    }
}

/// A decrypted prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Predicted class (argmax of the logits).
    pub class: usize,
    /// Logits in the model's real units.
    pub logits: Vec<f64>,
    /// BFV: the exact integer logits (equal to the quantized model's).
    pub integer_logits: Option<Vec<i128>>,
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Decrypts and decodes every output message.
fn decrypt_all<E: SlotEncryptor>(e: &E, cts: &[E::Ciphertext]) -> InferResult<Vec<Vec<E::Value>>> {
    Ok(cts
        .iter()
        .map(|ct| e.decode(&e.decrypt(ct)?))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The logits at the output layout's `(message, slot)` places.
fn output_slots<V: Copy>(decoded: &[Vec<V>], slots: &[(usize, usize)]) -> InferResult<Vec<V>> {
    slots
        .iter()
        .map(|&(m, s)| {
            decoded
                .get(m)
                .and_then(|d| d.get(s))
                .copied()
                .ok_or_else(|| InferError::InvalidInput(format!("no output slot ({m}, {s})")))
        })
        .collect()
}

impl ClientSession {
    /// A session with a fresh secret key (seed from the OS CSPRNG) for `public`, validated first.
    pub fn new(public: PublicModel) -> InferResult<Self> {
        Self::from_seed(public, sampler::fresh_seed())
    }

    /// A session whose secret key is derived from `seed`.
    pub fn from_seed(public: PublicModel, seed: Seed) -> InferResult<Self> {
        let ctx = public.validate()?;
        let seed = Zeroizing::new(seed);
        let backend = match &ctx {
            SchemeContext::Bfv(params) => {
                let rlwe = params[0].rlwe();
                let sk = secret_key_from_seed(rlwe, &seed);
                let primes: Vec<u64> = params.iter().map(|p| p.plaintext_modulus()).collect();
                ClientBackend::Bfv(Box::new(BfvCrtEncryptor::new(rlwe, &primes, &sk)?))
            }
            SchemeContext::Ckks(params) => {
                let sk = secret_key_from_seed(params.rlwe(), &seed);
                ClientBackend::Ckks(Box::new(CkksSlotEncryptor::new(params, &sk)?))
            }
        };
        Ok(Self {
            public,
            ctx,
            seed,
            backend,
        })
    }

    /// The public model.
    pub fn public(&self) -> &PublicModel {
        &self.public
    }

    /// The engine's parameters.
    pub fn context(&self) -> &SchemeContext {
        &self.ctx
    }

    /// Exactly the evaluation keys the plan needs (and the public key when the model's outputs
    /// are re-randomized, [`super::public::OutputPrivacy`]).
    pub fn evaluation_keys(&self) -> InferResult<EvaluationKeys> {
        let spec = self.public.keys.to_key_spec();
        let mut rng = sampler::os_rng();
        let (relinearization, galois) = match &self.backend {
            ClientBackend::Bfv(b) => {
                let k = b.make_evaluation_keys(&spec, &mut rng)?;
                (k.relinearization, k.galois)
            }
            ClientBackend::Ckks(b) => {
                let k = b.make_evaluation_keys(&spec, &mut rng)?;
                (k.relinearization, k.galois)
            }
        };
        let public = self.public.output_privacy.map(|_| match &self.backend {
            ClientBackend::Bfv(b) => b.public_key(&mut rng),
            ClientBackend::Ckks(b) => b.public_key(&mut rng),
        });
        Ok(EvaluationKeys {
            relinearization,
            galois,
            public,
        })
    }

    /// The evaluation-key upload message.
    pub fn evaluation_key_bytes(&self) -> InferResult<Vec<u8>> {
        Ok(self.evaluation_keys()?.to_bytes(&self.ctx, &self.public))
    }

    /// Places the input's values into the plan's input messages.
    fn messages<V: Copy + Default>(&self, values: &[V]) -> Vec<Vec<V>> {
        let g = self.ctx.geometry();
        self.public
            .input
            .placements
            .iter()
            .map(|m| {
                let mut slots = vec![V::default(); g.rows * g.row_len];
                for &(s, e) in m {
                    slots[s] = values[e];
                }
                slots
            })
            .collect()
    }

    /// Encrypts one real input (flattened, `public().input_len()` values).
    pub fn encrypt(&self, x: &[f32]) -> InferResult<EncryptedInput> {
        let len = self.public.input_len();
        if x.len() != len {
            return Err(InferError::InvalidInput(format!(
                "input of {} values, the model takes {len}",
                x.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(InferError::InvalidInput(format!(
                "input value {i} is {}",
                x[i]
            )));
        }
        match (&self.backend, &self.public.input.encoding) {
            (ClientBackend::Bfv(b), InputEncoding::Quantized { scale, limit }) => {
                let q: Vec<i128> = x
                    .iter()
                    .map(|&v| {
                        let r = (f64::from(v) / scale).round();
                        i128::from((r as i64).clamp(-limit, *limit))
                    })
                    .collect();
                let cts = self
                    .messages(&q)
                    .iter()
                    .map(|m| b.encrypt_seeded(&b.encode(m, b.max_level())?))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(EncryptedInput::Bfv(cts))
            }
            (ClientBackend::Ckks(b), InputEncoding::Real) => {
                let v: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let cts = self
                    .messages(&v)
                    .iter()
                    .map(|m| b.encrypt_seeded(&b.encode(m, b.max_level())?))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(EncryptedInput::Ckks(cts))
            }
            _ => Err(InferError::InvalidInput(
                "input encoding does not match the scheme".into(),
            )),
        }
    }

    /// Decrypts and decodes an output into logits and the class.
    pub fn decrypt(&self, out: &EncryptedOutput) -> InferResult<Prediction> {
        let o = &self.public.output;
        if out.messages() != o.messages {
            return Err(InferError::InvalidInput(format!(
                "{} output messages, the model returns {}",
                out.messages(),
                o.messages
            )));
        }
        let values: Vec<f64>;
        let mut integer_logits = None;
        match (&self.backend, out) {
            (ClientBackend::Bfv(b), EncryptedOutput::Bfv(msgs)) => {
                let cts: Vec<BfvCiphertext> = msgs
                    .iter()
                    .map(|parts| BfvCiphertext {
                        parts: parts.clone(),
                    })
                    .collect();
                let ints = output_slots(&decrypt_all(b.as_ref(), &cts)?, &o.slots)?;
                values = ints.iter().map(|&v| v as f64).collect();
                integer_logits = Some(ints);
            }
            (ClientBackend::Ckks(b), EncryptedOutput::Ckks(msgs)) => {
                values = output_slots(&decrypt_all(b.as_ref(), msgs)?, &o.slots)?;
            }
            _ => {
                return Err(InferError::InvalidInput(
                    "output does not match the model's scheme".into(),
                ))
            }
        }
        let logits: Vec<f64> = values.iter().map(|&v| v * o.scale).collect();
        Ok(Prediction {
            class: argmax(&logits),
            logits,
            integer_logits,
        })
    }

    /// Decodes an output message received from a server, then decrypts it.
    pub fn decrypt_bytes(&self, bytes: &[u8]) -> InferResult<Prediction> {
        self.decrypt(&EncryptedOutput::from_bytes(
            &self.ctx,
            &self.public,
            bytes,
        )?)
    }

    /// The encrypted-input message of one real input.
    pub fn encrypt_bytes(&self, x: &[f32]) -> InferResult<Vec<u8>> {
        self.encrypt(x)?.to_bytes(&self.ctx)
    }

    /// The secret-key file: the RLWE fingerprint and the 32-byte seed (keep it as secret as
    /// the key; write it with owner-only permissions).
    pub fn secret_key_bytes(&self) -> Zeroizing<Vec<u8>> {
        let (scheme, fingerprint) = match &self.ctx {
            SchemeContext::Bfv(p) => (WireScheme::Bfv, p[0].rlwe().fingerprint()),
            SchemeContext::Ckks(p) => (WireScheme::Ckks, p.rlwe().fingerprint()),
        };
        let mut w = Writer::new(WireKind::SecretKey, scheme);
        w.u64(fingerprint);
        w.buf.extend_from_slice(&self.seed[..]);
        Zeroizing::new(w.buf)
    }

    /// A session from a secret-key file made by [`ClientSession::secret_key_bytes`] for the
    /// same model parameters.
    pub fn from_secret_key_bytes(public: PublicModel, bytes: &[u8]) -> InferResult<Self> {
        let ctx = public.validate()?;
        let (mut r, scheme) = Reader::open(bytes, WireKind::SecretKey)?;
        let (want, fingerprint) = match &ctx {
            SchemeContext::Bfv(p) => (WireScheme::Bfv, p[0].rlwe().fingerprint()),
            SchemeContext::Ckks(p) => (WireScheme::Ckks, p.rlwe().fingerprint()),
        };
        if scheme != want || r.u64()? != fingerprint {
            return Err(r.err("the secret key was made for other parameters"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(r.take(32)?);
        r.finish()?;
        Self::from_seed(public, *seed)
    }
}
