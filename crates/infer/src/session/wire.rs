//! The versioned binary formats of what client and server exchange: evaluation keys, encrypted
//! inputs and outputs, and the client's secret-key file.
//!
//! Every message starts with `b"HNSV"`, a version `u16` ([`WIRE_VERSION`]), a kind `u8`
//! ([`WireKind`]), and a scheme byte (1 BFV, 2 CKKS); integers are little endian. HE objects
//! inside are in the engine's own format ([`henn_he::serialization`], which checks its header,
//! the parameter fingerprint, every count and every residue). Readers check every length
//! against the bytes left and every count against what the model expects *before*
//! allocating, and reject trailing bytes: malformed input is an error, never a panic.
//!
//! | kind | payload |
//! |---|---|
//! | keys (1) | model name (`u16` length + UTF-8), RLWE fingerprint `u64`, flags `u8` (bit 0: relinearization key present), [`u64` length + relinearization key], `u64` length + Galois keys |
//! | input (2) | messages `u32`, parts `u32` (BFV: plaintext primes; CKKS: 1), then per message and part: `u32` length + seeded ciphertext |
//! | output (3) | messages `u32`, parts `u32`, then per message and part: `u32` length + ciphertext |
//! | secret key (4) | RLWE fingerprint `u64`, 32-byte seed of the secret key |

/// Magic bytes of every message.
pub const WIRE_MAGIC: &[u8; 4] = b"HNSV";
/// Version of the wire format (2: scheme byte in the header).
pub const WIRE_VERSION: u16 = 2;
/// Longest model name accepted.
pub const MAX_MODEL_NAME: usize = 64;

use crate::error::{InferError, InferResult};

/// Kinds of messages.
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

/// Scheme tag of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WireScheme {
    /// BFV.
    Bfv = 1,
    /// CKKS.
    Ckks = 2,
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

/// A message being written.
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(kind: WireKind, scheme: WireScheme) -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(WIRE_MAGIC);
        buf.extend_from_slice(&WIRE_VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.push(scheme as u8);
        Self { buf }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn name(&mut self, name: &str) {
        self.buf
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(name.as_bytes());
    }
    pub(crate) fn blob_u32(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn blob_u64(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

/// A message being read (see the module docs).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Checks magic, version and kind; returns the reader and the scheme.
    pub(crate) fn open(bytes: &'a [u8], kind: WireKind) -> InferResult<(Self, WireScheme)> {
        let mut r = Reader {
            buf: bytes,
            what: kind.what(),
        };
        if r.take(4)? != WIRE_MAGIC {
            return Err(r.err("bad magic (not a henn message)"));
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
        let scheme = match r.u8()? {
            1 => WireScheme::Bfv,
            2 => WireScheme::Ckks,
            s => return Err(r.err(format!("unknown scheme {s}"))),
        };
        Ok((r, scheme))
    }
    pub(crate) fn err(&self, detail: impl std::fmt::Display) -> InferError {
        InferError::Malformed {
            what: self.what,
            detail: detail.to_string(),
        }
    }
    pub(crate) fn take(&mut self, len: usize) -> InferResult<&'a [u8]> {
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
    pub(crate) fn u8(&mut self) -> InferResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> InferResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> InferResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> InferResult<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A model name (checked with [`valid_model_name`]).
    pub(crate) fn name(&mut self) -> InferResult<String> {
        let len = self.u16()? as usize;
        if len > MAX_MODEL_NAME {
            return Err(self.err(format!("model name of {len} bytes")));
        }
        let name = std::str::from_utf8(self.take(len)?)
            .map_err(|_| self.err("model name is not UTF-8"))?
            .to_string();
        if !valid_model_name(&name) {
            return Err(self.err(format!("invalid model name {name:?}")));
        }
        Ok(name)
    }
    /// A length-prefixed blob; the length is checked against the bytes left.
    pub(crate) fn blob_u32(&mut self) -> InferResult<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub(crate) fn blob_u64(&mut self) -> InferResult<&'a [u8]> {
        let len = usize::try_from(self.u64()?).map_err(|_| self.err("length overflows"))?;
        self.take(len)
    }
    pub(crate) fn finish(&self) -> InferResult<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!("{} trailing bytes", self.buf.len())))
        }
    }
}

/// Reads only the model name of an evaluation-key upload (to find the model's parameters
/// before decoding the keys).
pub fn evaluation_keys_model(bytes: &[u8]) -> InferResult<String> {
    let (mut r, _) = Reader::open(bytes, WireKind::EvaluationKeys)?;
    r.name()
}

/// The model name of an evaluation-key upload from its first bytes, as they arrive: `Ok(None)`
/// while the bytes so far are a valid beginning but do not yet hold the name, an error as soon
/// as they cannot begin an upload (magic, version, kind, scheme, name length or characters).
pub fn evaluation_keys_model_prefix(prefix: &[u8]) -> InferResult<Option<String>> {
    let header = 8;
    let mut expected = WIRE_MAGIC.to_vec();
    expected.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    expected.push(WireKind::EvaluationKeys as u8);
    let known = prefix.len().min(expected.len());
    if prefix[..known] != expected[..known] {
        // Let the full reader name the field.
        return Reader::open(prefix, WireKind::EvaluationKeys).map(|_| None);
    }
    if prefix.len() >= header && !matches!(prefix[7], 1 | 2) {
        return Reader::open(prefix, WireKind::EvaluationKeys).map(|_| None);
    }
    let Some(len) = prefix.get(header..header + 2) else {
        return Ok(None);
    };
    let len = u16::from_le_bytes([len[0], len[1]]) as usize;
    if len > MAX_MODEL_NAME {
        return Err(InferError::Malformed {
            what: WireKind::EvaluationKeys.what(),
            detail: format!("model name of {len} bytes"),
        });
    }
    if prefix.len() < header + 2 + len {
        return Ok(None);
    }
    evaluation_keys_model(&prefix[..header + 2 + len]).map(Some)
}
