//! [`ServerSession`]: the model owner's side for one client. It holds the compiled model and
//! the client's evaluation keys — no secret key — and runs the plan on encrypted inputs.
//!
//! * **Prepared plaintexts**: the weights and masks a plan multiplies by do not depend on the
//!   input, so the first run of a model records their encodings and every later session of the
//!   same model (any client's keys) shares them, frozen; a request then only performs HE
//!   operations.
//! * **Outputs** are modulus-switched (BFV) or dropped (CKKS) to the compiled model's output
//!   level before they are returned: smaller downloads, and the returned ciphertexts carry no
//!   more modulus than decryption needs.
//! * **Circuit privacy** (when the compiled model has [`OutputPrivacy`], the default): every
//!   returned ciphertext is then, at the output level, re-randomized with a fresh encryption of
//!   zero under the client's public key and flooded with uniform noise of the compiled width
//!   ([`henn_he::rlwe::flood`]), so its `c_1` and its noise do not depend on the weights beyond
//!   what the result reveals (statistical distance `2^(−κ)`).

use std::sync::Arc;

use super::ciphertexts::{EncryptedInput, EncryptedOutput};
use super::compiled::{CompiledModel, CompiledNetwork, Prepared};
use super::keys::EvaluationKeys;
use super::public::{OutputPrivacy, SchemeContext};
use crate::backend::bfv::{self, BfvCrtBackend, PlaintextCache};
use crate::backend::ckks::{CkksBackend, CkksEvaluationKeys};
use crate::backend::SlotBackend;
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::plan::{execute, Step};
use henn_he::rlwe::{PublicKey, RlweParameters};

enum ServerBackend {
    Bfv(Arc<BfvCrtBackend>),
    Ckks(Arc<CkksBackend>),
}

/// A server's session for one client's keys (see the module docs).
pub struct ServerSession {
    model: Arc<CompiledModel>,
    backend: ServerBackend,
    /// The client's public key and the flooding parameters, when outputs are protected.
    privacy: Option<(PublicKey, OutputPrivacy)>,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("model", &self.model.public().model)
            .finish_non_exhaustive()
    }
}

impl ServerSession {
    /// A session of `model` with a client's (validated) evaluation keys.
    pub fn new(model: Arc<CompiledModel>, keys: EvaluationKeys) -> InferResult<Self> {
        let privacy =
            match (model.public().output_privacy, keys.public) {
                (Some(p), Some(pk)) => Some((pk, p)),
                (None, _) => None,
                (Some(_), None) => return Err(InferError::InvalidInput(
                    "the model's outputs are re-randomized: the keys need the client's public key"
                        .into(),
                )),
            };
        let prepared = model.prepared.lock().unwrap_or_else(|e| e.into_inner());
        let backend = match model.context() {
            SchemeContext::Bfv(params) => {
                let primes: Vec<u64> = params.iter().map(|p| p.plaintext_modulus()).collect();
                let b = BfvCrtBackend::server(
                    params[0].rlwe(),
                    &primes,
                    bfv::EvaluationKeys {
                        relinearization: keys.relinearization,
                        galois: keys.galois,
                    },
                )?;
                match &*prepared {
                    Some(Prepared::Bfv(p)) => b.share_prepared_plaintexts(p)?,
                    _ => b.set_plaintext_cache(PlaintextCache::Record),
                }
                ServerBackend::Bfv(Arc::new(b))
            }
            SchemeContext::Ckks(params) => {
                let b = CkksBackend::server(
                    params,
                    CkksEvaluationKeys {
                        relinearization: keys.relinearization,
                        galois: keys.galois,
                    },
                )?;
                match &*prepared {
                    Some(Prepared::Ckks(p)) => b.share_prepared_plaintexts(p)?,
                    _ => b.set_plaintext_cache(PlaintextCache::Record),
                }
                ServerBackend::Ckks(Arc::new(b))
            }
        };
        drop(prepared);
        Ok(Self {
            model,
            backend,
            privacy,
        })
    }

    /// Decodes a key-upload message for `model` and opens a session with it.
    pub fn from_key_bytes(model: Arc<CompiledModel>, bytes: &[u8]) -> InferResult<Self> {
        let keys = EvaluationKeys::from_bytes(model.context(), model.public(), bytes)?;
        Self::new(model, keys)
    }

    /// The compiled model.
    pub fn model(&self) -> &Arc<CompiledModel> {
        &self.model
    }

    /// Runs the plan on one encrypted input.
    pub fn run(&self, input: &EncryptedInput) -> InferResult<EncryptedOutput> {
        self.run_with(input, |_, _| {})
    }

    /// Runs the plan, calling `on_step(index, step)` after every step (per-step timings).
    pub fn run_with(
        &self,
        input: &EncryptedInput,
        mut on_step: impl FnMut(usize, &Step),
    ) -> InferResult<EncryptedOutput> {
        let m = &self.model;
        let messages = m.public().input.placements.len();
        if input.messages() != messages {
            return Err(InferError::InvalidInput(format!(
                "{} input messages, the plan takes {messages}",
                input.messages()
            )));
        }
        let level = m.public().parameters.output_level();
        let rlwe = match m.context() {
            SchemeContext::Bfv(p) => p[0].rlwe(),
            SchemeContext::Ckks(p) => p.rlwe(),
        };
        let out = match (&self.backend, input, m.network()) {
            (
                ServerBackend::Bfv(b),
                EncryptedInput::Bfv(msgs),
                CompiledNetwork::Bfv { net, .. },
            ) => {
                let cts = msgs
                    .iter()
                    .map(|s| b.expand_seeded(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let x = EncryptedVector::new(m.plan.input.clone(), cts, true)?;
                let y = execute(b.as_ref(), net, &m.plan, x, |i, s, _, _| on_step(i, s))?;
                self.check_output(&y.repr)?;
                self.freeze(|| Prepared::Bfv(b.clone()), b.cached_plaintexts());
                let outs = y
                    .cts
                    .iter()
                    .map(|c| {
                        let top = b.level(c);
                        b.drop_level(c, top.saturating_sub(level)).map(|c| c.parts)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let outs = outs
                    .into_iter()
                    .map(|parts| {
                        parts
                            .into_iter()
                            .map(|c| self.protect(rlwe, c))
                            .collect::<InferResult<Vec<_>>>()
                    })
                    .collect::<InferResult<Vec<_>>>()?;
                EncryptedOutput::Bfv(outs)
            }
            (
                ServerBackend::Ckks(b),
                EncryptedInput::Ckks(msgs),
                CompiledNetwork::Ckks { net, .. },
            ) => {
                let cts = msgs
                    .iter()
                    .map(|s| b.expand_seeded(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let x = EncryptedVector::new(m.plan.input.clone(), cts, true)?;
                let y = execute(b.as_ref(), net, &m.plan, x, |i, s, _, _| on_step(i, s))?;
                self.check_output(&y.repr)?;
                self.freeze(|| Prepared::Ckks(b.clone()), b.cached_plaintexts());
                let outs = y
                    .cts
                    .iter()
                    .map(|c| {
                        let top = b.level(c);
                        b.drop_level(c, top.saturating_sub(level))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let outs = outs
                    .into_iter()
                    .map(|c| {
                        let scale = c.scale();
                        let inner = self.protect(rlwe, c.rlwe().clone())?;
                        henn_he::ckks::Ciphertext::from_rlwe(inner, scale).map_err(he)
                    })
                    .collect::<InferResult<Vec<_>>>()?;
                EncryptedOutput::Ckks(outs)
            }
            _ => {
                return Err(InferError::InvalidInput(
                    "input does not match the model's scheme".into(),
                ))
            }
        };
        Ok(out)
    }

    /// Decodes an encrypted-input message, runs it, and encodes the output message.
    pub fn run_bytes(&self, bytes: &[u8]) -> InferResult<Vec<u8>> {
        let m = &self.model;
        let input = EncryptedInput::from_bytes(m.context(), m.public(), bytes)?;
        self.run(&input)?.to_bytes(m.context())
    }

    /// Re-randomizes and floods one returned ciphertext (at its output level) when the model's
    /// outputs are protected; otherwise returns it unchanged.
    fn protect(
        &self,
        rlwe: &RlweParameters,
        ct: henn_he::rlwe::Ciphertext,
    ) -> InferResult<henn_he::rlwe::Ciphertext> {
        let Some((pk, p)) = &self.privacy else {
            return Ok(ct);
        };
        let mut rng = henn_ring::sampler::os_rng();
        let ct = henn_he::rlwe::flood::rerandomize(rlwe, pk, &ct, &mut rng).map_err(he)?;
        henn_he::rlwe::flood::add_flooding_noise(rlwe, &ct, p.flood_bits, &mut rng).map_err(he)
    }

    fn check_output(&self, repr: &crate::representation::Representation) -> InferResult<()> {
        if *repr != self.model.output_repr {
            return Err(InferError::InvalidRepresentation(
                "output representation differs from the compiled one".into(),
            ));
        }
        Ok(())
    }

    /// After the first run of a model, freezes this session's recorded encodings and shares
    /// them with every later session.
    fn freeze(&self, prepared: impl FnOnce() -> Prepared, recorded: usize) {
        let mut slot = self
            .model
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if slot.is_none() && recorded > 0 {
            match &self.backend {
                ServerBackend::Bfv(b) => b.set_plaintext_cache(PlaintextCache::Frozen),
                ServerBackend::Ckks(b) => b.set_plaintext_cache(PlaintextCache::Frozen),
            }
            *slot = Some(prepared());
        }
    }
}

fn he(e: henn_he::HeError) -> InferError {
    InferError::from(crate::backend::BackendError::Engine(Box::new(e)))
}
