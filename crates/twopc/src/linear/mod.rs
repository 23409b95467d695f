//! HE linear layers of DELPHI's offline phase (Mishra et al., USENIX Security 2020, §4), on
//! henn's BFV, with slot encoding ([`slot`], Gazelle/DELPHI) or rotation-free coefficient
//! encoding ([`coeff`], Cheetah), per-layer parameters ([`params`]) and the plain reference
//! ([`layer`]).
//!
//! # Protocol (one linear layer `y = M·x + b`, offline, input-independent)
//! 1. *Setup* (once per key): the client generates a BFV secret key and sends
//!    [`EvaluationKeys`]: the public key (for the server's re-randomization) and, for slot
//!    encoding only, Galois keys for the packing's rotation steps. No relinearization key.
//! 2. *Client → server* ([`OfflineRequest`]): `Enc(r)` for a uniform `r ∈ Z_p^in`, packed as
//!    the public [`packing::Packing`] says, as seeded secret-key ciphertexts (`c_0` and a
//!    32-byte seed: half size), one per input ciphertext of the packing.
//! 3. *Server*: computes `Enc(M·r)` homomorphically, adds `Enc(−s)` for a uniform
//!    `s ∈ Z_p^n` in **every** slot/coefficient of every output ciphertext (positions the
//!    client does not read are masked too: they hold other linear combinations of `M`), adds a
//!    fresh public-key encryption of zero, adds uniform flooding noise in `[−2^F, 2^F)` to every
//!    coefficient ([`params`] documents `F`), and switches the modulus down to the output level.
//! 4. *Server → client* ([`OfflineResponse`]): the output ciphertexts at the output level.
//!    The server keeps `s` restricted to the output positions: its share
//!    ([`LinearServer::respond`]).
//! 5. *Client*: decrypts and reads `M·r − s` at the output positions (plus `r` for a residual
//!    layer, whose identity shortcut is local on shares).
//!
//! Online (not in this module) the client sends `x − r` and the server computes
//! `M·(x − r) + s + b`; together with the client's `M·r − s` these are shares of `M·x + b`.
//!
//! # Threat model
//! Semi-honest (honest-but-curious) parties, as DELPHI. The server sees only ciphertexts under
//! the client's key (IND-CPA under RLWE) and learns nothing about `r`. The client sees the
//! decryption of a ciphertext whose every plaintext position is masked by uniform `s` and whose
//! noise is statistically independent of `M` (flooding, `2^{−40}` statistical distance) and
//! whose `c_1` is re-randomized: it learns `M·r − s` and nothing else about `M`. Public: the
//! layer shapes, the weight bit width and the HE parameters.
//!
//! # Messages
//! Each message is `u32` count, then per ciphertext a `u32` length and the engine's serialized
//! object (magic, version, kind, parameter fingerprint, payload). Counts, lengths, levels and
//! parameter fingerprints are checked against the layer's context; anything else is a
//! [`TwoPcError::Protocol`] error.

pub mod coeff;
pub mod examples;
pub mod flood;
pub mod layer;
pub mod packing;
pub mod params;
pub mod policy;
pub mod slot;

pub use layer::{fold_batch_norm, BatchNorm, Conv2d, Dense, Kernel, LayerShape, LinearLayer, Pool};
pub use params::{Encoding, LayerHeContext, LayerHeParams, PublicLayer, FLOOD_STAT_BITS};
pub use policy::{choose_encodings, HePolicy, LayerPolicy, MeasuredCost, SecurityCheck};

use crate::error::TwoPcError;
use crate::share::ShareField;
use coeff::CoeffPlan;
use henn_he::bfv::{
    BatchEncoder, BfvParameters, Decryptor, Encryptor, Evaluator, Plaintext, SeededCiphertext,
};
use henn_he::rlwe::{Ciphertext, GaloisKeys, KeyGenerator, PublicKey};
use henn_he::serialization::HeSerialize;
use henn_ring::sampler::{os_rng, Csprng};
use rand_chacha::rand_core::RngCore;
use slot::{he, SlotPlan};

/// `len` elements uniform in `Z_p` (rejection sampling on masked words from a CSPRNG).
pub fn uniform_elements(field: &ShareField, rng: &mut Csprng, len: usize) -> Vec<u64> {
    let p = field.modulus();
    let mask = u64::MAX >> p.leading_zeros();
    (0..len)
        .map(|_| loop {
            let x = rng.next_u64() & mask;
            if x < p {
                break x;
            }
        })
        .collect()
}

/// The client's keys sent to the server: public key and (slot encoding) Galois keys.
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Public key (re-randomization of the outputs).
    pub public: PublicKey,
    /// Galois keys for the packing's rotation steps (slot encoding only).
    pub galois: Option<GaloisKeys>,
}

/// `Enc(r)` from the client.
#[derive(Clone, Debug)]
pub struct OfflineRequest {
    /// One seeded ciphertext per input ciphertext of the packing.
    pub inputs: Vec<SeededCiphertext>,
}

/// `Enc(M·r − s)` from the server, at the output level.
#[derive(Clone, Debug)]
pub struct OfflineResponse {
    /// One ciphertext per output ciphertext of the packing.
    pub outputs: Vec<Ciphertext>,
}

/// Upper bound on one serialized ciphertext or key (bytes), so a peer cannot make us allocate
/// without bound: 2^26 (the largest Galois key set is sent per element).
const MAX_ITEM_BYTES: usize = 1 << 28;

pub(crate) fn frame(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let items: Vec<Vec<u8>> = items.collect();
    let mut out = Vec::with_capacity(4 + items.iter().map(|i| i.len() + 4).sum::<usize>());
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_le_bytes());
        out.extend_from_slice(&i);
    }
    out
}

pub(crate) fn unframe(bytes: &[u8], expect: usize) -> Result<Vec<&[u8]>, TwoPcError> {
    let bad = |m: &str| TwoPcError::Protocol(m.to_string());
    let read_u32 = |b: &[u8], at: usize| -> Result<usize, TwoPcError> {
        b.get(at..at + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
            .ok_or_else(|| bad("truncated message"))
    };
    let count = read_u32(bytes, 0)?;
    if count != expect {
        return Err(TwoPcError::Protocol(format!(
            "{count} ciphertexts where the layer's packing has {expect}"
        )));
    }
    let mut at = 4;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = read_u32(bytes, at)?;
        at += 4;
        if len > MAX_ITEM_BYTES {
            return Err(bad("item too large"));
        }
        let item = bytes
            .get(at..at + len)
            .ok_or_else(|| bad("truncated message"))?;
        out.push(item);
        at += len;
    }
    if at != bytes.len() {
        return Err(bad("trailing bytes after the last ciphertext"));
    }
    Ok(out)
}

fn deser<T: HeSerialize<BfvParameters>>(ctx: &LayerHeContext, b: &[u8]) -> Result<T, TwoPcError> {
    T::from_bytes(&ctx.params, b).map_err(|e| TwoPcError::Protocol(format!("bad ciphertext: {e}")))
}

impl EvaluationKeys {
    /// Serializes (public key, then Galois keys if any).
    pub fn to_bytes(&self, ctx: &LayerHeContext) -> Vec<u8> {
        let p = &ctx.params;
        let mut items = vec![self.public.to_bytes(p)];
        if let Some(g) = &self.galois {
            items.push(g.to_bytes(p));
        }
        frame(items.into_iter())
    }

    /// Parses and validates keys for `ctx` (Galois keys must cover the packing's steps).
    pub fn from_bytes(ctx: &LayerHeContext, bytes: &[u8]) -> Result<Self, TwoPcError> {
        let slot = ctx.setting.encoding == Encoding::Slot;
        let items = unframe(bytes, if slot { 2 } else { 1 })?;
        let public = deser(ctx, items[0])?;
        let galois = if slot {
            let g: GaloisKeys = deser(ctx, items[1])?;
            let need =
                henn_he::bfv::galois_elements(&ctx.params, &ctx.packing.rotation_steps, false);
            let have = g.elements();
            if let Some(m) = need.iter().find(|e| !have.contains(e)) {
                return Err(TwoPcError::Protocol(format!(
                    "missing Galois key for element {m}"
                )));
            }
            Some(g)
        } else {
            None
        };
        Ok(Self { public, galois })
    }
}

impl OfflineRequest {
    /// Serializes.
    pub fn to_bytes(&self, ctx: &LayerHeContext) -> Vec<u8> {
        frame(self.inputs.iter().map(|c| c.to_bytes(&ctx.params)))
    }

    /// Parses and validates against `ctx`.
    pub fn from_bytes(ctx: &LayerHeContext, bytes: &[u8]) -> Result<Self, TwoPcError> {
        let items = unframe(bytes, ctx.packing.inputs.len())?;
        let inputs = items
            .into_iter()
            .map(|b| deser(ctx, b))
            .collect::<Result<_, _>>()?;
        Ok(Self { inputs })
    }
}

impl OfflineResponse {
    /// Serializes.
    pub fn to_bytes(&self, ctx: &LayerHeContext) -> Vec<u8> {
        frame(self.outputs.iter().map(|c| c.to_bytes(&ctx.params)))
    }

    /// Parses and validates against `ctx` (count, level and size of every ciphertext).
    pub fn from_bytes(ctx: &LayerHeContext, bytes: &[u8]) -> Result<Self, TwoPcError> {
        let items = unframe(bytes, ctx.packing.output_cts)?;
        let outputs: Vec<Ciphertext> = items
            .into_iter()
            .map(|b| deser(ctx, b))
            .collect::<Result<_, _>>()?;
        check_outputs(ctx, &outputs)?;
        Ok(Self { outputs })
    }
}

fn check_outputs(ctx: &LayerHeContext, outputs: &[Ciphertext]) -> Result<(), TwoPcError> {
    if outputs.len() != ctx.packing.output_cts {
        return Err(TwoPcError::Protocol(format!(
            "{} output ciphertexts, expected {}",
            outputs.len(),
            ctx.packing.output_cts
        )));
    }
    if let Some(c) = outputs
        .iter()
        .find(|c| c.level() != ctx.output_level || c.len() != 2)
    {
        return Err(TwoPcError::Protocol(format!(
            "output ciphertext at level {} with {} polynomials, expected level {} with 2",
            c.level(),
            c.len(),
            ctx.output_level
        )));
    }
    Ok(())
}

fn field_of(ctx: &LayerHeContext) -> Result<ShareField, TwoPcError> {
    ShareField::new(ctx.params.plaintext_modulus())
}

/// Encodes per-position values (slots of row 0, or coefficients) as a plaintext.
fn encode_positions(
    ctx: &LayerHeContext,
    encoder: Option<&BatchEncoder>,
    values: &[u64],
) -> Result<Plaintext, TwoPcError> {
    match encoder {
        Some(e) => e.encode_u64(values).map_err(he),
        None => Plaintext::from_coefficients(&ctx.params, values).map_err(he),
    }
}

/// The client of one layer: holds the secret key.
pub struct LinearClient {
    ctx: LayerHeContext,
    keygen: KeyGenerator,
    encryptor: Encryptor,
    decryptor: Decryptor,
    encoder: Option<BatchEncoder>,
}

impl LinearClient {
    /// A client with a fresh secret key for `ctx`.
    pub fn new(ctx: &LayerHeContext) -> Result<Self, TwoPcError> {
        let keygen = KeyGenerator::new(ctx.params.rlwe());
        let encryptor = Encryptor::with_secret_key(&ctx.params, keygen.secret_key());
        let decryptor = Decryptor::new(&ctx.params, keygen.secret_key());
        let encoder = match ctx.setting.encoding {
            Encoding::Slot => Some(BatchEncoder::new(&ctx.params).map_err(he)?),
            Encoding::Coefficient => None,
        };
        Ok(Self {
            ctx: ctx.clone(),
            keygen,
            encryptor,
            decryptor,
            encoder,
        })
    }

    /// The layer context.
    pub fn context(&self) -> &LayerHeContext {
        &self.ctx
    }

    /// The keys the server needs (public key; Galois keys for the rotation steps if slots).
    pub fn evaluation_keys(&mut self) -> Result<EvaluationKeys, TwoPcError> {
        let public = self.keygen.public_key();
        let galois = match self.ctx.setting.encoding {
            Encoding::Slot => {
                let elems = henn_he::bfv::galois_elements(
                    &self.ctx.params,
                    &self.ctx.packing.rotation_steps,
                    false,
                );
                Some(self.keygen.galois_keys(&elems).map_err(he)?)
            }
            Encoding::Coefficient => None,
        };
        Ok(EvaluationKeys { public, galois })
    }

    /// A uniform mask `r ∈ Z_p^in` from the OS-seeded CSPRNG.
    pub fn sample_mask(&self) -> Result<Vec<u64>, TwoPcError> {
        Ok(uniform_elements(
            &field_of(&self.ctx)?,
            &mut os_rng(),
            self.ctx.shape.input_len(),
        ))
    }

    /// `Enc(r)`, packed.
    pub fn request(&self, r: &[u64]) -> Result<OfflineRequest, TwoPcError> {
        let field = field_of(&self.ctx)?;
        if r.len() != self.ctx.shape.input_len() || r.iter().any(|&v| v >= field.modulus()) {
            return Err(TwoPcError::Config(format!(
                "mask must be {} elements of Z_p",
                self.ctx.shape.input_len()
            )));
        }
        let inputs = self
            .ctx
            .packing
            .scatter_inputs(r)
            .iter()
            .map(|v| {
                let pt = encode_positions(&self.ctx, self.encoder.as_ref(), v)?;
                self.encryptor.encrypt_seeded(&pt).map_err(he)
            })
            .collect::<Result<_, _>>()?;
        Ok(OfflineRequest { inputs })
    }

    /// Decrypts the response: the client's share `M·r − s` (plus `r` for a residual layer).
    pub fn finish(&self, r: &[u64], resp: &OfflineResponse) -> Result<Vec<u64>, TwoPcError> {
        check_outputs(&self.ctx, &resp.outputs)?;
        let field = field_of(&self.ctx)?;
        let decoded: Vec<Vec<u64>> = resp
            .outputs
            .iter()
            .map(|c| {
                let pt = self.decryptor.decrypt(c).map_err(he)?;
                match &self.encoder {
                    Some(e) => e.decode_u64(&pt).map_err(he),
                    None => Ok(pt.coefficients().to_vec()),
                }
            })
            .collect::<Result<_, TwoPcError>>()?;
        let mut share = self.ctx.packing.gather_outputs(&decoded);
        if self.ctx.residual {
            if r.len() != share.len() {
                return Err(TwoPcError::Config("residual mask length mismatch".into()));
            }
            for (s, &v) in share.iter_mut().zip(r) {
                *s = field.add(*s, v);
            }
        }
        Ok(share)
    }

    /// Test hook: the noise budget (bits) of an unflooded server result.
    #[cfg(test)]
    pub(crate) fn noise_budget(&self, ct: &Ciphertext) -> Result<u32, TwoPcError> {
        self.decryptor.noise_budget(ct).map_err(he)
    }
}

enum Plan {
    Slot(SlotPlan),
    Coeff(CoeffPlan),
}

/// The server of one layer: holds the weights and the client's public/evaluation keys only.
pub struct LinearServer {
    ctx: LayerHeContext,
    plan: Plan,
    eval: Evaluator,
    encoder: Option<BatchEncoder>,
    keys: EvaluationKeys,
    rerandomizer: Encryptor,
}

impl LinearServer {
    /// Prepares the layer (weights encoded once) for the client's keys.
    pub fn new(
        layer: &LinearLayer,
        ctx: &LayerHeContext,
        keys: EvaluationKeys,
    ) -> Result<Self, TwoPcError> {
        layer.validate()?;
        let public = PublicLayer::of(layer);
        if public.shape != ctx.shape
            || public.residual != ctx.residual
            || public.weight_bound > ctx.weight_bound
        {
            return Err(TwoPcError::Config(
                "layer does not match the context's public description".into(),
            ));
        }
        let field = field_of(ctx)?;
        let top = ctx.params.max_level();
        let (plan, encoder) = match ctx.setting.encoding {
            Encoding::Slot => {
                let enc = BatchEncoder::new(&ctx.params).map_err(he)?;
                if keys.galois.is_none() {
                    return Err(TwoPcError::Config("slot encoding needs Galois keys".into()));
                }
                (
                    Plan::Slot(SlotPlan::new(layer, &field, &enc, top)?),
                    Some(enc),
                )
            }
            Encoding::Coefficient => (
                Plan::Coeff(CoeffPlan::new(
                    layer,
                    &field,
                    &ctx.params,
                    &ctx.packing,
                    top,
                )?),
                None,
            ),
        };
        Ok(Self {
            ctx: ctx.clone(),
            plan,
            eval: Evaluator::new(&ctx.params),
            encoder,
            rerandomizer: Encryptor::with_public_key(&ctx.params, &keys.public),
            keys,
        })
    }

    /// `Enc(M·r)` without masking or flooding (what [`LinearServer::respond`] starts from).
    pub(crate) fn evaluate(&self, req: &OfflineRequest) -> Result<Vec<Ciphertext>, TwoPcError> {
        if req.inputs.len() != self.ctx.packing.inputs.len() {
            return Err(TwoPcError::Protocol(format!(
                "{} input ciphertexts, expected {}",
                req.inputs.len(),
                self.ctx.packing.inputs.len()
            )));
        }
        let inputs: Vec<Ciphertext> = req
            .inputs
            .iter()
            .map(|s| s.expand(&self.ctx.params).map_err(he))
            .collect::<Result<_, TwoPcError>>()?;
        match &self.plan {
            Plan::Slot(p) => {
                let gk = self
                    .keys
                    .galois
                    .as_ref()
                    .ok_or_else(|| TwoPcError::Config("no Galois keys".into()))?;
                Ok(vec![p.evaluate(&self.eval, &inputs[0], gk)?])
            }
            Plan::Coeff(p) => p.evaluate(&self.eval, &inputs),
        }
    }

    /// Answers `Enc(r)` with `Enc(M·r − s)` (masked everywhere, re-randomized, flooded,
    /// modulus-switched) and returns the server's share `s` at the output positions.
    pub fn respond(&self, req: &OfflineRequest) -> Result<(OfflineResponse, Vec<u64>), TwoPcError> {
        self.respond_at(req, self.ctx.output_level)
    }

    /// [`LinearServer::respond`] switching down to `level` only (tests inspect the flooding
    /// at the top level, where it is not yet hidden by the rounding of modulus switching).
    pub(crate) fn respond_at(
        &self,
        req: &OfflineRequest,
        level: usize,
    ) -> Result<(OfflineResponse, Vec<u64>), TwoPcError> {
        let field = field_of(&self.ctx)?;
        let mut rng = os_rng();
        let n = self.ctx.params.degree();
        let mut masks = Vec::with_capacity(self.ctx.packing.output_cts);
        let mut outputs = Vec::with_capacity(self.ctx.packing.output_cts);
        for mut ct in self.evaluate(req)? {
            let s = uniform_elements(&field, &mut rng, n);
            let neg: Vec<u64> = s.iter().map(|&v| field.sub(0, v)).collect();
            let pt = encode_positions(&self.ctx, self.encoder.as_ref(), &neg)?;
            self.eval.add_plain_assign(&mut ct, &pt).map_err(he)?;
            let mut ct = flood::flood(
                &self.ctx.params,
                &self.eval,
                &self.rerandomizer,
                ct,
                self.ctx.flood_bits,
                &mut rng,
            )?;
            self.eval.drop_to_level_assign(&mut ct, level).map_err(he)?;
            masks.push(s);
            outputs.push(ct);
        }
        let share = self.ctx.packing.gather_outputs(&masks);
        Ok((OfflineResponse { outputs }, share))
    }

    /// The layer context.
    pub fn context(&self) -> &LayerHeContext {
        &self.ctx
    }
}

#[cfg(test)]
pub(crate) mod tests;
