//! The versioned binary wire format of the service: evaluation-key uploads, encrypted inputs
//! and outputs, and the client's secret-key file.
//!
//! Every message starts with `b"HNSV"`, a version `u16` ([`WIRE_VERSION`]), a kind `u8`
//! ([`WireKind`]) and a reserved zero byte; integers are little endian. HE objects inside are
//! in the engine's own format ([`henn_he::serialization`], which checks its header, the
//! parameter fingerprint, every count and every residue). Readers here check every length
//! against the bytes left and every count against what the model's plan expects *before*
//! allocating, and reject trailing bytes: malformed input is an error, never a panic.
//!
//! | kind | payload |
//! |---|---|
//! | keys (1) | model name (`u16` length + UTF-8), RLWE fingerprint `u64`, flags `u8` (bit 0: relinearization key present), [`u64` length + relinearization key], `u64` length + Galois keys |
//! | input (2) | messages `u32`, primes `u32`, then per message and prime: `u32` length + seeded ciphertext |
//! | output (3) | messages `u32`, primes `u32`, then per message and prime: `u32` length + ciphertext |
//! | secret key (4) | RLWE fingerprint `u64`, 32-byte seed of the secret key |

use std::sync::Arc;

use henn_he::bfv::{BfvParameters, SeededCiphertext};
use henn_he::rlwe::{Ciphertext, GaloisKeys, RelinearizationKey};
use henn_he::serialization::HeSerialize;
use henn_infer::backend::bfv::EvaluationKeys;

use crate::error::{ServeError, ServeResult};

/// Magic bytes of every service message.
pub const WIRE_MAGIC: &[u8; 4] = b"HNSV";
/// Version of the wire format.
pub const WIRE_VERSION: u16 = 1;
/// Longest model name accepted.
pub const MAX_MODEL_NAME: usize = 64;

/// Kinds of service messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WireKind {
    /// Evaluation keys uploaded by a client.
    EvaluationKeys = 1,
    /// Encrypted input (seeded ciphertexts).
    EncryptedInput = 2,
    /// Encrypted output (ciphertexts).
    EncryptedOutput = 3,
    /// The client's secret-key file.
    SecretKey = 4,
}

impl WireKind {
    fn what(self) -> &'static str {
        match self {
            WireKind::EvaluationKeys => "evaluation keys",
            WireKind::EncryptedInput => "encrypted input",
            WireKind::EncryptedOutput => "encrypted output",
            WireKind::SecretKey => "secret key file",
        }
    }
}

/// Whether a model name is acceptable: 1 to [`MAX_MODEL_NAME`] characters from
/// `[A-Za-z0-9._-]`, not starting with a dot.
pub fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MODEL_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn header(kind: WireKind) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(WIRE_MAGIC);
    v.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    v.push(kind as u8);
    v.push(0);
    v
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn open(bytes: &'a [u8], kind: WireKind) -> ServeResult<Self> {
        let mut r = Reader {
            buf: bytes,
            what: kind.what(),
        };
        if r.take(4)? != WIRE_MAGIC {
            return Err(r.err("bad magic (not a henn service message)"));
        }
        let version = r.u16()?;
        if version != WIRE_VERSION {
            return Err(r.err(format!(
                "unsupported wire version {version} (this build reads {WIRE_VERSION})"
            )));
        }
        let k = r.u8()?;
        if k != kind as u8 {
            return Err(r.err(format!("message kind {k}, expected {}", kind as u8)));
        }
        if r.u8()? != 0 {
            return Err(r.err("reserved byte is not zero"));
        }
        Ok(r)
    }
    fn err(&self, detail: impl std::fmt::Display) -> ServeError {
        ServeError::malformed(self.what, detail)
    }
    fn take(&mut self, len: usize) -> ServeResult<&'a [u8]> {
        if self.buf.len() < len {
            return Err(self.err(format!(
                "truncated: {len} bytes needed, {} left",
                self.buf.len()
            )));
        }
        let (a, b) = self.buf.split_at(len);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> ServeResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> ServeResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> ServeResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> ServeResult<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A length-prefixed blob; the length is checked against the bytes left.
    fn blob_u32(&mut self) -> ServeResult<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn blob_u64(&mut self) -> ServeResult<&'a [u8]> {
        let len = usize::try_from(self.u64()?).map_err(|_| self.err("length overflows"))?;
        self.take(len)
    }
    fn finish(&self) -> ServeResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!("{} trailing bytes", self.buf.len())))
        }
    }
}

/// Encodes an evaluation-key upload for `model` (keys serialized for `params`, the BFV
/// parameters of the model's first plaintext prime; keys depend only on the RLWE part).
pub fn encode_evaluation_keys(
    model: &str,
    params: &BfvParameters,
    keys: &EvaluationKeys,
) -> ServeResult<Vec<u8>> {
    if !valid_model_name(model) {
        return Err(ServeError::BadRequest(format!(
            "invalid model name {model:?}"
        )));
    }
    let mut v = header(WireKind::EvaluationKeys);
    v.extend_from_slice(&(model.len() as u16).to_le_bytes());
    v.extend_from_slice(model.as_bytes());
    v.extend_from_slice(&params.rlwe().fingerprint().to_le_bytes());
    v.push(u8::from(keys.relinearization.is_some()));
    if let Some(r) = &keys.relinearization {
        let b = r.to_bytes(params);
        v.extend_from_slice(&(b.len() as u64).to_le_bytes());
        v.extend_from_slice(&b);
    }
    let g = keys.galois.to_bytes(params);
    v.extend_from_slice(&(g.len() as u64).to_le_bytes());
    v.extend_from_slice(&g);
    Ok(v)
}

/// Reads only the model name of an evaluation-key upload (to find the parameters).
pub fn evaluation_keys_model(bytes: &[u8]) -> ServeResult<String> {
    let mut r = Reader::open(bytes, WireKind::EvaluationKeys)?;
    read_name(&mut r)
}

fn read_name(r: &mut Reader<'_>) -> ServeResult<String> {
    let len = r.u16()? as usize;
    if len > MAX_MODEL_NAME {
        return Err(r.err(format!("model name of {len} bytes")));
    }
    let name = std::str::from_utf8(r.take(len)?)
        .map_err(|_| r.err("model name is not UTF-8"))?
        .to_string();
    if !valid_model_name(&name) {
        return Err(r.err(format!("invalid model name {name:?}")));
    }
    Ok(name)
}

/// Decodes and validates an evaluation-key upload against the model's parameters: the RLWE
/// fingerprint must match and every key must deserialize (the engine checks counts, Galois
/// elements and residues). Returns the model name and the keys.
pub fn decode_evaluation_keys(
    params: &Arc<BfvParameters>,
    bytes: &[u8],
) -> ServeResult<(String, EvaluationKeys)> {
    let mut r = Reader::open(bytes, WireKind::EvaluationKeys)?;
    let name = read_name(&mut r)?;
    let fingerprint = r.u64()?;
    if fingerprint != params.rlwe().fingerprint() {
        return Err(r.err(format!(
            "keys made for other parameters (fingerprint {fingerprint:#018x}, model {name} uses {:#018x})",
            params.rlwe().fingerprint()
        )));
    }
    let flags = r.u8()?;
    if flags > 1 {
        return Err(r.err(format!("unknown flags {flags:#04x}")));
    }
    let relinearization = if flags & 1 == 1 {
        let b = r.blob_u64()?;
        Some(
            RelinearizationKey::from_bytes(params, b)
                .map_err(|e| r.err(format!("relinearization key: {e}")))?,
        )
    } else {
        None
    };
    let b = r.blob_u64()?;
    let galois =
        GaloisKeys::from_bytes(params, b).map_err(|e| r.err(format!("Galois keys: {e}")))?;
    r.finish()?;
    Ok((
        name,
        EvaluationKeys {
            relinearization,
            galois,
        },
    ))
}

/// Encodes an encrypted input: `cts[m][j]` is message `m` modulo plaintext prime `j`
/// (serialized with `params[j]`).
pub fn encode_input(
    params: &[Arc<BfvParameters>],
    cts: &[Vec<SeededCiphertext>],
) -> ServeResult<Vec<u8>> {
    let mut v = header(WireKind::EncryptedInput);
    v.extend_from_slice(&(cts.len() as u32).to_le_bytes());
    v.extend_from_slice(&(params.len() as u32).to_le_bytes());
    for msg in cts {
        if msg.len() != params.len() {
            return Err(ServeError::BadRequest(format!(
                "{} ciphertexts for {} plaintext primes",
                msg.len(),
                params.len()
            )));
        }
        for (c, p) in msg.iter().zip(params) {
            let b = c.to_bytes(p);
            v.extend_from_slice(&(b.len() as u32).to_le_bytes());
            v.extend_from_slice(&b);
        }
    }
    Ok(v)
}

/// Decodes an encrypted input for a plan expecting `messages` messages, one seeded
/// ciphertext per plaintext prime of `params` each (every ciphertext is checked against its
/// prime's parameters, so a ciphertext made for other parameters is rejected).
pub fn decode_input(
    params: &[Arc<BfvParameters>],
    messages: usize,
    bytes: &[u8],
) -> ServeResult<Vec<Vec<SeededCiphertext>>> {
    let mut r = Reader::open(bytes, WireKind::EncryptedInput)?;
    let m = r.u32()? as usize;
    let k = r.u32()? as usize;
    if m != messages || k != params.len() {
        return Err(r.err(format!(
            "{m} messages x {k} primes, the model expects {messages} x {}",
            params.len()
        )));
    }
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let mut msg = Vec::with_capacity(k);
        for (j, p) in params.iter().enumerate() {
            let b = r.blob_u32()?;
            msg.push(
                SeededCiphertext::from_bytes(p, b)
                    .map_err(|e| r.err(format!("message {i}, prime {j}: {e}")))?,
            );
        }
        out.push(msg);
    }
    r.finish()?;
    Ok(out)
}

/// Encodes an encrypted output: `cts[m][j]` is output message `m` modulo prime `j`.
pub fn encode_output(
    params: &[Arc<BfvParameters>],
    cts: &[Vec<Ciphertext>],
) -> ServeResult<Vec<u8>> {
    let mut v = header(WireKind::EncryptedOutput);
    v.extend_from_slice(&(cts.len() as u32).to_le_bytes());
    v.extend_from_slice(&(params.len() as u32).to_le_bytes());
    for msg in cts {
        if msg.len() != params.len() {
            return Err(ServeError::Evaluation(format!(
                "{} ciphertexts for {} plaintext primes",
                msg.len(),
                params.len()
            )));
        }
        for (c, p) in msg.iter().zip(params) {
            let b = c.to_bytes(p);
            v.extend_from_slice(&(b.len() as u32).to_le_bytes());
            v.extend_from_slice(&b);
        }
    }
    Ok(v)
}

/// Decodes an encrypted output of `messages` messages (client side; validated like inputs).
pub fn decode_output(
    params: &[Arc<BfvParameters>],
    messages: usize,
    bytes: &[u8],
) -> ServeResult<Vec<Vec<Ciphertext>>> {
    let mut r = Reader::open(bytes, WireKind::EncryptedOutput)?;
    let m = r.u32()? as usize;
    let k = r.u32()? as usize;
    if m != messages || k != params.len() {
        return Err(r.err(format!(
            "{m} messages x {k} primes, the plan announced {messages} x {}",
            params.len()
        )));
    }
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let mut msg = Vec::with_capacity(k);
        for (j, p) in params.iter().enumerate() {
            let b = r.blob_u32()?;
            msg.push(
                Ciphertext::from_bytes(p, b)
                    .map_err(|e| r.err(format!("message {i}, prime {j}: {e}")))?,
            );
        }
        out.push(msg);
    }
    r.finish()?;
    Ok(out)
}

/// Encodes the client's secret-key file: the RLWE fingerprint and the key's 32-byte seed.
pub fn encode_secret_key(rlwe_fingerprint: u64, seed: &[u8; 32]) -> Vec<u8> {
    let mut v = header(WireKind::SecretKey);
    v.extend_from_slice(&rlwe_fingerprint.to_le_bytes());
    v.extend_from_slice(seed);
    v
}

/// Decodes a secret-key file made for parameters with fingerprint `rlwe_fingerprint`.
pub fn decode_secret_key(rlwe_fingerprint: u64, bytes: &[u8]) -> ServeResult<[u8; 32]> {
    let mut r = Reader::open(bytes, WireKind::SecretKey)?;
    let f = r.u64()?;
    if f != rlwe_fingerprint {
        return Err(r.err("secret key made for other parameters"));
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(r.take(32)?);
    r.finish()?;
    Ok(seed)
}
