//! [`ServerSession`]: the model owner's side for one client. It holds the compiled model and
//! an evaluator built from the client's evaluation keys — no secret key — and runs the plan on
//! encrypted inputs.
//!
//! * **Prepared plaintexts**: the weights and masks a plan multiplies by do not depend on the
//!   input, so the first run of a model records their encodings (keyed by plan step,
//!   [`crate::backend::prepared`]) and every later session of the same model (any client's
//!   keys) shares them, frozen; a request then only performs HE operations.
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
use crate::backend::bfv::{self, BfvCiphertext, BfvCrtEvaluator, PlaintextCache};
use crate::backend::ckks::{CkksEvaluationKeys, CkksSlotEvaluator};
use crate::backend::SlotEvaluator;
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::network::IntNetwork;
use crate::plan::{execute, Step};
use henn_he::rlwe::{PublicKey, RlweParameters};

/// The evaluator of a session (the server's half of the scheme: no secret key).
enum ServerEvaluator {
    Bfv(BfvCrtEvaluator),
    Ckks(CkksSlotEvaluator),
}

/// A server's session for one client's keys (see the module docs).
pub struct ServerSession {
    model: Arc<CompiledModel>,
    evaluator: ServerEvaluator,
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
        let evaluator = match model.context() {
            SchemeContext::Bfv(params) => {
                let primes: Vec<u64> = params.iter().map(|p| p.plaintext_modulus()).collect();
                let e = BfvCrtEvaluator::new(
                    params[0].rlwe(),
                    &primes,
                    bfv::EvaluationKeys {
                        relinearization: keys.relinearization,
                        galois: keys.galois,
                    },
                )?;
                match &*prepared {
                    Some(Prepared::Bfv(p)) => e.share_prepared_plaintexts(p.clone())?,
                    _ => e.set_plaintext_cache(PlaintextCache::Record),
                }
                ServerEvaluator::Bfv(e)
            }
            SchemeContext::Ckks(params) => {
                let e = CkksSlotEvaluator::new(
                    params,
                    CkksEvaluationKeys {
                        relinearization: keys.relinearization,
                        galois: keys.galois,
                    },
                )?;
                match &*prepared {
                    Some(Prepared::Ckks(p)) => e.share_prepared_plaintexts(p.clone())?,
                    _ => e.set_plaintext_cache(PlaintextCache::Record),
                }
                ServerEvaluator::Ckks(e)
            }
        };
        drop(prepared);
        Ok(Self {
            model,
            evaluator,
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
        on_step: impl FnMut(usize, &Step),
    ) -> InferResult<EncryptedOutput> {
        let m = &self.model;
        let messages = m.public().input.placements.len();
        if input.messages() != messages {
            return Err(InferError::InvalidInput(format!(
                "{} input messages, the plan takes {messages}",
                input.messages()
            )));
        }
        let rlwe = match m.context() {
            SchemeContext::Bfv(p) => p[0].rlwe(),
            SchemeContext::Ckks(p) => p.rlwe(),
        };
        let out = match (&self.evaluator, input, m.network()) {
            (
                ServerEvaluator::Bfv(e),
                EncryptedInput::Bfv(msgs),
                CompiledNetwork::Bfv { net, .. },
            ) => {
                let cts = msgs
                    .iter()
                    .map(|s| e.expand_seeded(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let outs = self.evaluate(e, net, cts, on_step)?;
                let outs = outs
                    .into_iter()
                    .map(|c: BfvCiphertext| {
                        c.parts
                            .into_iter()
                            .map(|c| self.protect(rlwe, c))
                            .collect::<InferResult<Vec<_>>>()
                    })
                    .collect::<InferResult<Vec<_>>>()?;
                EncryptedOutput::Bfv(outs)
            }
            (
                ServerEvaluator::Ckks(e),
                EncryptedInput::Ckks(msgs),
                CompiledNetwork::Ckks { net, .. },
            ) => {
                let cts = msgs
                    .iter()
                    .map(|s| e.expand_seeded(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let outs = self
                    .evaluate(e, net, cts, on_step)?
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
        self.freeze();
        Ok(out)
    }

    /// The plan on expanded input ciphertexts, checked against the compiled output layout and
    /// lowered to the output level.
    fn evaluate<E: SlotEvaluator>(
        &self,
        e: &E,
        net: &IntNetwork<E::Value>,
        cts: Vec<E::Ciphertext>,
        mut on_step: impl FnMut(usize, &Step),
    ) -> InferResult<Vec<E::Ciphertext>> {
        let m = &self.model;
        let x = EncryptedVector::new(m.plan.input.clone(), cts, true)?;
        let y = execute(e, net, &m.plan, x, |i, s, _, _| on_step(i, s))?;
        if y.repr != m.output_repr {
            return Err(InferError::InvalidRepresentation(
                "output representation differs from the compiled one".into(),
            ));
        }
        let level = m.public().parameters.output_level();
        Ok(y.cts
            .iter()
            .map(|c| e.drop_level(c, e.level(c).saturating_sub(level)))
            .collect::<Result<Vec<_>, _>>()?)
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

    /// After the first run of a model, freezes this session's recorded encodings and shares
    /// them with every later session.
    fn freeze(&self) {
        let mut slot = self
            .model
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match (&*slot, &self.evaluator) {
            (None, _) => {}
            // A session opened before the first run finished recorded its own copy: share the
            // model's set instead (equal parameters by construction; on an error it keeps its
            // own, which is as correct).
            (Some(Prepared::Bfv(p)), ServerEvaluator::Bfv(e)) => {
                if e.prepared_plaintexts().is_none() {
                    let _ = e.share_prepared_plaintexts(p.clone());
                }
                return;
            }
            (Some(Prepared::Ckks(p)), ServerEvaluator::Ckks(e)) => {
                if e.prepared_plaintexts().is_none() {
                    let _ = e.share_prepared_plaintexts(p.clone());
                }
                return;
            }
            (Some(_), _) => return,
        }
        *slot = match &self.evaluator {
            ServerEvaluator::Bfv(e) if e.cached_plaintexts() > 0 => {
                e.set_plaintext_cache(PlaintextCache::Frozen);
                e.prepared_plaintexts().map(Prepared::Bfv)
            }
            ServerEvaluator::Ckks(e) if e.cached_plaintexts() > 0 => {
                e.set_plaintext_cache(PlaintextCache::Frozen);
                e.prepared_plaintexts().map(Prepared::Ckks)
            }
            _ => None,
        };
    }
}

fn he(e: henn_he::HeError) -> InferError {
    InferError::from(crate::backend::BackendError::Engine(Box::new(e)))
}
