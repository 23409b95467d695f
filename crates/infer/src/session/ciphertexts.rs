//! Encrypted inputs (seeded ciphertexts, half size) and encrypted outputs, per scheme, with
//! their wire format (see [`super::wire`]). Decoding checks every count against the model's
//! layout and every ciphertext against its parameters (so one made for other parameters is
//! rejected).

use henn_he::bfv::SeededCiphertext as BfvSeeded;
use henn_he::ckks::{Ciphertext as CkksCiphertext, SeededCiphertext as CkksSeeded};
use henn_he::rlwe::Ciphertext as BfvCiphertextPart;
use henn_he::serialization::{CkksSerialize, HeSerialize};

use super::public::{PublicModel, SchemeContext};
use super::wire::{Reader, WireKind, WireScheme, Writer};
use crate::error::{InferError, InferResult};

/// An encrypted input: one entry per input message of the plan.
#[derive(Clone, Debug)]
pub enum EncryptedInput {
    /// BFV: per message, one seeded ciphertext per plaintext prime.
    Bfv(Vec<Vec<BfvSeeded>>),
    /// CKKS: one seeded ciphertext per message.
    Ckks(Vec<CkksSeeded>),
}

/// An encrypted output: one entry per output message of the plan.
#[derive(Clone, Debug)]
pub enum EncryptedOutput {
    /// BFV: per message, one ciphertext per plaintext prime.
    Bfv(Vec<Vec<BfvCiphertextPart>>),
    /// CKKS: one ciphertext per message.
    Ckks(Vec<CkksCiphertext>),
}

fn scheme_of(ctx: &SchemeContext) -> (WireScheme, usize) {
    match ctx {
        SchemeContext::Bfv(p) => (WireScheme::Bfv, p.len()),
        SchemeContext::Ckks(_) => (WireScheme::Ckks, 1),
    }
}

fn open<'a>(
    ctx: &SchemeContext,
    bytes: &'a [u8],
    kind: WireKind,
    messages: usize,
) -> InferResult<Reader<'a>> {
    let (mut r, scheme) = Reader::open(bytes, kind)?;
    let (want, parts) = scheme_of(ctx);
    if scheme != want {
        return Err(r.err(format!("{scheme:?} message for a {want:?} model")));
    }
    let m = r.u32()? as usize;
    let k = r.u32()? as usize;
    if m != messages || k != parts {
        return Err(r.err(format!(
            "{m} messages x {k} parts, the model expects {messages} x {parts}"
        )));
    }
    Ok(r)
}

fn mismatch(what: &str) -> InferError {
    InferError::InvalidInput(format!("{what} does not match the model's scheme"))
}

impl EncryptedInput {
    /// Number of messages.
    pub fn messages(&self) -> usize {
        match self {
            EncryptedInput::Bfv(m) => m.len(),
            EncryptedInput::Ckks(m) => m.len(),
        }
    }

    /// The wire message.
    pub fn to_bytes(&self, ctx: &SchemeContext) -> InferResult<Vec<u8>> {
        let (scheme, parts) = scheme_of(ctx);
        let mut w = Writer::new(WireKind::EncryptedInput, scheme);
        w.u32(self.messages() as u32);
        w.u32(parts as u32);
        match (self, ctx) {
            (EncryptedInput::Bfv(msgs), SchemeContext::Bfv(params)) => {
                for m in msgs {
                    if m.len() != params.len() {
                        return Err(mismatch("a BFV message"));
                    }
                    for (c, p) in m.iter().zip(params) {
                        w.blob_u32(&c.to_bytes(p));
                    }
                }
            }
            (EncryptedInput::Ckks(msgs), SchemeContext::Ckks(p)) => {
                for c in msgs {
                    w.blob_u32(&c.to_ckks_bytes(p));
                }
            }
            _ => return Err(mismatch("the encrypted input")),
        }
        Ok(w.buf)
    }

    /// Decodes an encrypted input for `public` (its input message count).
    pub fn from_bytes(
        ctx: &SchemeContext,
        public: &PublicModel,
        bytes: &[u8],
    ) -> InferResult<Self> {
        let messages = public.input.placements.len();
        let mut r = open(ctx, bytes, WireKind::EncryptedInput, messages)?;
        let out = match ctx {
            SchemeContext::Bfv(params) => {
                let mut out = Vec::with_capacity(messages);
                for i in 0..messages {
                    let mut msg = Vec::with_capacity(params.len());
                    for (j, p) in params.iter().enumerate() {
                        let b = r.blob_u32()?;
                        msg.push(
                            BfvSeeded::from_bytes(p, b)
                                .map_err(|e| r.err(format!("message {i}, prime {j}: {e}")))?,
                        );
                    }
                    out.push(msg);
                }
                EncryptedInput::Bfv(out)
            }
            SchemeContext::Ckks(p) => {
                let mut out = Vec::with_capacity(messages);
                for i in 0..messages {
                    let b = r.blob_u32()?;
                    let c = CkksSeeded::from_ckks_bytes(p, b)
                        .map_err(|e| r.err(format!("message {i}: {e}")))?;
                    if c.level() != p.max_level() {
                        return Err(r.err(format!(
                            "message {i} at level {}, fresh inputs are at level {}",
                            c.level(),
                            p.max_level()
                        )));
                    }
                    out.push(c);
                }
                EncryptedInput::Ckks(out)
            }
        };
        r.finish()?;
        Ok(out)
    }
}

impl EncryptedOutput {
    /// Number of messages.
    pub fn messages(&self) -> usize {
        match self {
            EncryptedOutput::Bfv(m) => m.len(),
            EncryptedOutput::Ckks(m) => m.len(),
        }
    }

    /// The wire message.
    pub fn to_bytes(&self, ctx: &SchemeContext) -> InferResult<Vec<u8>> {
        let (scheme, parts) = scheme_of(ctx);
        let mut w = Writer::new(WireKind::EncryptedOutput, scheme);
        w.u32(self.messages() as u32);
        w.u32(parts as u32);
        match (self, ctx) {
            (EncryptedOutput::Bfv(msgs), SchemeContext::Bfv(params)) => {
                for m in msgs {
                    if m.len() != params.len() {
                        return Err(mismatch("a BFV message"));
                    }
                    for (c, p) in m.iter().zip(params) {
                        w.blob_u32(&c.to_bytes(p));
                    }
                }
            }
            (EncryptedOutput::Ckks(msgs), SchemeContext::Ckks(p)) => {
                for c in msgs {
                    w.blob_u32(&c.to_ckks_bytes(p));
                }
            }
            _ => return Err(mismatch("the encrypted output")),
        }
        Ok(w.buf)
    }

    /// Decodes an encrypted output for `public` (its output message count).
    pub fn from_bytes(
        ctx: &SchemeContext,
        public: &PublicModel,
        bytes: &[u8],
    ) -> InferResult<Self> {
        let messages = public.output.messages;
        let mut r = open(ctx, bytes, WireKind::EncryptedOutput, messages)?;
        let out = match ctx {
            SchemeContext::Bfv(params) => {
                let mut out = Vec::with_capacity(messages);
                for i in 0..messages {
                    let mut msg = Vec::with_capacity(params.len());
                    for (j, p) in params.iter().enumerate() {
                        let b = r.blob_u32()?;
                        msg.push(
                            BfvCiphertextPart::from_bytes(p, b)
                                .map_err(|e| r.err(format!("message {i}, prime {j}: {e}")))?,
                        );
                    }
                    out.push(msg);
                }
                EncryptedOutput::Bfv(out)
            }
            SchemeContext::Ckks(p) => {
                let mut out = Vec::with_capacity(messages);
                for i in 0..messages {
                    let b = r.blob_u32()?;
                    out.push(
                        CkksCiphertext::from_ckks_bytes(p, b)
                            .map_err(|e| r.err(format!("message {i}: {e}")))?,
                    );
                }
                EncryptedOutput::Ckks(out)
            }
        };
        r.finish()?;
        Ok(out)
    }
}
