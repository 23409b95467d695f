//! Encrypted inputs (seeded ciphertexts, half size) and encrypted outputs, per scheme, with
//! their wire format (see [`super::wire`]). Decoding checks every count against the model's
//! layout and every ciphertext against its parameters (so one made for other parameters is
//! rejected).

use henn_he::bfv::{BfvParameters, SeededCiphertext as BfvSeeded};
use henn_he::ckks::{Ciphertext as CkksCiphertext, CkksParameters, SeededCiphertext as CkksSeeded};
use henn_he::rlwe::Ciphertext as BfvCiphertextPart;
use henn_he::serialization::HeSerialize;

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

/// Writes `kind` with BFV messages (`bfv`, one ciphertext per plaintext prime each) or CKKS
/// messages (`ckks`), whichever matches `ctx`.
fn write<B: HeSerialize<BfvParameters>, C: HeSerialize<CkksParameters>>(
    kind: WireKind,
    ctx: &SchemeContext,
    bfv: Option<&[Vec<B>]>,
    ckks: Option<&[C]>,
) -> InferResult<Vec<u8>> {
    let (scheme, parts) = scheme_of(ctx);
    let mut w = Writer::new(kind, scheme);
    match (ctx, bfv, ckks) {
        (SchemeContext::Bfv(params), Some(msgs), None) => {
            w.u32(msgs.len() as u32);
            w.u32(parts as u32);
            for m in msgs {
                if m.len() != params.len() {
                    return Err(mismatch("a BFV message"));
                }
                for (c, p) in m.iter().zip(params) {
                    w.blob_u32(&c.to_bytes(p));
                }
            }
        }
        (SchemeContext::Ckks(p), None, Some(msgs)) => {
            w.u32(msgs.len() as u32);
            w.u32(parts as u32);
            for c in msgs {
                w.blob_u32(&c.to_bytes(p));
            }
        }
        _ => return Err(mismatch("the ciphertexts")),
    }
    Ok(w.buf)
}

/// Reads `messages` BFV messages of one ciphertext per prime of `params`.
fn read_bfv<B: HeSerialize<BfvParameters>>(
    r: &mut Reader<'_>,
    params: &[std::sync::Arc<BfvParameters>],
    messages: usize,
) -> InferResult<Vec<Vec<B>>> {
    let mut out = Vec::with_capacity(messages);
    for i in 0..messages {
        let mut msg = Vec::with_capacity(params.len());
        for (j, p) in params.iter().enumerate() {
            let b = r.blob_u32()?;
            msg.push(
                B::from_bytes(p, b).map_err(|e| r.err(format!("message {i}, prime {j}: {e}")))?,
            );
        }
        out.push(msg);
    }
    Ok(out)
}

/// Reads `messages` CKKS ciphertexts.
fn read_ckks<C: HeSerialize<CkksParameters>>(
    r: &mut Reader<'_>,
    p: &std::sync::Arc<CkksParameters>,
    messages: usize,
) -> InferResult<Vec<C>> {
    (0..messages)
        .map(|i| {
            let b = r.blob_u32()?;
            C::from_bytes(p, b).map_err(|e| r.err(format!("message {i}: {e}")))
        })
        .collect()
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
        match self {
            EncryptedInput::Bfv(m) => {
                write::<_, CkksSeeded>(WireKind::EncryptedInput, ctx, Some(m), None)
            }
            EncryptedInput::Ckks(m) => {
                write::<BfvSeeded, _>(WireKind::EncryptedInput, ctx, None, Some(m))
            }
        }
    }

    /// Decodes an encrypted input for `public` (its input message count; CKKS inputs must be
    /// fresh, at the top level).
    pub fn from_bytes(
        ctx: &SchemeContext,
        public: &PublicModel,
        bytes: &[u8],
    ) -> InferResult<Self> {
        let messages = public.input.placements.len();
        let mut r = open(ctx, bytes, WireKind::EncryptedInput, messages)?;
        let out = match ctx {
            SchemeContext::Bfv(params) => EncryptedInput::Bfv(read_bfv(&mut r, params, messages)?),
            SchemeContext::Ckks(p) => {
                let cts: Vec<CkksSeeded> = read_ckks(&mut r, p, messages)?;
                if let Some((i, c)) = cts
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.level() != p.max_level())
                {
                    return Err(r.err(format!(
                        "message {i} at level {}, fresh inputs are at level {}",
                        c.level(),
                        p.max_level()
                    )));
                }
                EncryptedInput::Ckks(cts)
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
        match self {
            EncryptedOutput::Bfv(m) => {
                write::<_, CkksCiphertext>(WireKind::EncryptedOutput, ctx, Some(m), None)
            }
            EncryptedOutput::Ckks(m) => {
                write::<BfvCiphertextPart, _>(WireKind::EncryptedOutput, ctx, None, Some(m))
            }
        }
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
            SchemeContext::Bfv(params) => EncryptedOutput::Bfv(read_bfv(&mut r, params, messages)?),
            SchemeContext::Ckks(p) => EncryptedOutput::Ckks(read_ckks(&mut r, p, messages)?),
        };
        r.finish()?;
        Ok(out)
    }
}
