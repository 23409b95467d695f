//! The protocol driver: a client and a server running a whole network in DELPHI's two phases
//! (Mishra et al., USENIX Security 2020, §4; AutoPrivacy, Lou et al. 2020, §2) over one
//! [`Channel`] on any `Read + Write` stream (TCP in practice).
//!
//! # Design
//!
//! Every activation `x` is additively shared over `Z_p`: the client holds `c`, the server
//! `x − c`. The driver keeps one invariant: **the client's share is known in the offline
//! phase** (it depends only on the client's random masks and the server's masks), the server's
//! share only online. Then, per operation ([`crate::network::Op`]):
//!
//! | op | offline | online |
//! |---|---|---|
//! | linear `M·x + b` | client sends `Enc(c)`, server returns `Enc(M·c − s)` ([`crate::linear`]); client share `M·c − s` | server: `M·(x − c) + s + b`, local |
//! | average pool, shortcut add | local on the client's share | local on the server's share |
//! | ReLU + truncation | ReLU protocol offline with the client's share `a = c` and the server's fresh mask `r`; the client picks its next mask `r'` | server sends its share's labels; client evaluates to `y − r`, sends `y − r − r'`; server share `y − r'` |
//! | square | Beaver square pairs `(α, α²)` from HE ([`crate::beaver`]); client picks `r'` | server sends `e_s = x_s − α_s`; client sends `e_c` and `z_c − r'`; server share `z_s + z_c − r'` |
//!
//! The input: offline the client's share is a uniform mask `r₀`, online it sends `x − r₀`. The
//! output: online the server sends its share of the logits; only the client learns them.
//! Everything in the offline column is input-independent, so the client can run it ahead for a
//! pool of future predictions ([`Client::preprocess`]); a prediction takes one pooled
//! preprocessing (or runs one first).
//!
//! The ReLU protocol is pluggable ([`ReluProtocol`], [`relu`]); one instance per distinct
//! truncation width is set up per session.
//!
//! # Threat model
//!
//! Semi-honest (honest-but-curious) client and server, as DELPHI. The **server** sees: the
//! client's evaluation keys, HE ciphertexts under the client's key (IND-CPA), OT messages, and
//! online the values `x − r₀`, `y − r − r'` and `e_c`, `z_c − r'`, each masked by a fresh
//! uniform value only the client knows; it learns nothing about the input or the result. The
//! **client** sees decryptions `M·c − s` (uniform: `s` is the server's fresh mask; flooded, so
//! independent of `M`), garbled circuits with decoding bits only for its masked outputs, the
//! server's masked openings, and the final logits. Public: the architecture, the layer shapes,
//! the weights' bit width, the fixed-point scales and the HE parameters (the
//! [`PublicNetwork`], whose fingerprint both sides check). Not protected: the transport (no
//! authentication or encryption; use TLS or a private link), a malicious party (no
//! consistency checks), and what the logits themselves reveal about the model.
//!
//! Robustness: every peer message is length-bounded by the [`Channel`] before allocation,
//! type-checked, and parsed against the agreed description (counts, lengths, field range);
//! any violation ends the session with [`TwoPcError::Protocol`], never a panic.
//!
//! # Messages
//!
//! Frames as in [`crate::channel`]; all integers little endian; a vector of field elements is
//! `u64` per element, each `< p`.
//!
//! | phase | direction | type | payload |
//! |---|---|---|---|
//! | hello | client → server | [`MessageType::DRIVER_HELLO`] | magic `HENN2PC\0`, `u32` [`DRIVER_VERSION`], 32-byte expected fingerprint (all zero: any) |
//! | hello | server → client | [`MessageType::DRIVER_HELLO_REPLY`] | `u8` status (0 ok, 1 fingerprint mismatch), 32-byte fingerprint, the [`PublicNetwork`] as JSON |
//! | setup | client → server | [`MessageType::DRIVER_KEYS`] | one message per linear layer: its [`crate::linear::EvaluationKeys`]; then, with squares, the triple public key |
//! | setup | both | OT / GC | the ReLU instances' base OTs, ascending truncation width |
//! | control | client → server | [`MessageType::DRIVER_CONTROL`] | `u8` command (1 offline, 2 online, 3 bye), `u32` count (offline) |
//! | offline | client ↔ server | `DRIVER_LINEAR_REQUEST` / `_RESPONSE` | per linear layer, `Enc(c)` / `Enc(M·c − s)` ([`crate::linear`] formats) |
//! | offline | both | OT / GC | per ReLU layer, the ReLU protocol's offline messages |
//! | offline | client ↔ server | `DRIVER_TRIPLE_REQUEST` / `_RESPONSE` | per square layer and batch of `n` pairs ([`crate::beaver`] formats) |
//! | online | client → server | [`MessageType::DRIVER_INPUT`] | `x − r₀` |
//! | online | both | OT / GC | per ReLU layer, the ReLU protocol's online messages |
//! | online | client → server | [`MessageType::DRIVER_RELU_REMASK`] | `y − r − r'` |
//! | online | server → client | [`MessageType::DRIVER_SQUARE_OPEN_SERVER`] | `e_s` |
//! | online | client → server | [`MessageType::DRIVER_SQUARE_OPEN_CLIENT`] | `e_c` then `z_c − r'` |
//! | online | server → client | [`MessageType::DRIVER_OUTPUT`] | the server's share of the logits |

mod client;
pub mod loopback;
pub mod relu;
mod server;
pub mod spec;

pub use client::{Client, Prediction};
pub use loopback::{run_loopback, LoopbackReport};
pub use relu::{ReluCosts, ReluProtocol};
pub use server::{serve_connections, Server, SessionSummary, MAX_POOL};
pub use spec::{ModelOptions, PolicyChoice, ProtocolSpec, PublicNetwork, ServerModel};

use std::time::Instant;

use serde::Serialize;

use crate::channel::{ByteCounters, Channel, MessageType, Phase};
use crate::error::TwoPcError;
use crate::share::ShareField;

/// Version of the driver's messages (in the hello and the fingerprint).
pub const DRIVER_VERSION: u32 = 1;

/// Magic bytes opening the client's hello.
pub const HELLO_MAGIC: [u8; 8] = *b"HENN2PC\0";

/// Largest number of preprocessings one offline command may ask for.
pub const MAX_OFFLINE_BATCH: u32 = 1024;

impl MessageType {
    /// Driver hello, client to server.
    pub const DRIVER_HELLO: Self = Self(0x0401);
    /// Driver hello reply, server to client.
    pub const DRIVER_HELLO_REPLY: Self = Self(0x0402);
    /// Evaluation keys of one linear layer (or the triple public key), client to server.
    pub const DRIVER_KEYS: Self = Self(0x0403);
    /// A command, client to server.
    pub const DRIVER_CONTROL: Self = Self(0x0404);
    /// `Enc(c)` of one linear layer, client to server.
    pub const DRIVER_LINEAR_REQUEST: Self = Self(0x0405);
    /// `Enc(M·c − s)` of one linear layer, server to client.
    pub const DRIVER_LINEAR_RESPONSE: Self = Self(0x0406);
    /// A triple request, client to server.
    pub const DRIVER_TRIPLE_REQUEST: Self = Self(0x0407);
    /// A triple response, server to client.
    pub const DRIVER_TRIPLE_RESPONSE: Self = Self(0x0408);
    /// The masked input `x − r₀`, client to server.
    pub const DRIVER_INPUT: Self = Self(0x0409);
    /// The re-masked ReLU output `y − r − r'`, client to server.
    pub const DRIVER_RELU_REMASK: Self = Self(0x040a);
    /// The server's square opening `e_s`.
    pub const DRIVER_SQUARE_OPEN_SERVER: Self = Self(0x040b);
    /// The client's square opening `e_c` and re-masked share `z_c − r'`.
    pub const DRIVER_SQUARE_OPEN_CLIENT: Self = Self(0x040c);
    /// The server's share of the output, server to client.
    pub const DRIVER_OUTPUT: Self = Self(0x040d);
}

/// Client commands.
pub(crate) const CMD_OFFLINE: u8 = 1;
pub(crate) const CMD_ONLINE: u8 = 2;
pub(crate) const CMD_BYE: u8 = 3;

/// Wall time and bytes of one phase, seen from the client (`client_to_server` is what the
/// client sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PhaseStats {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Bytes client → server (frame headers included).
    pub client_to_server: u64,
    /// Bytes server → client.
    pub server_to_client: u64,
}

impl PhaseStats {
    /// Both directions.
    pub fn bytes(&self) -> u64 {
        self.client_to_server + self.server_to_client
    }

    /// Component-wise sum.
    pub fn add(&mut self, o: &PhaseStats) {
        self.seconds += o.seconds;
        self.client_to_server += o.client_to_server;
        self.server_to_client += o.server_to_client;
    }
}

/// Wall-clock seconds one party spent on one op of the network, per phase, summed over the
/// predictions of a session (the per-layer breakdown of `henn bench 2pc`). The client's time of
/// an op includes waiting for the server's part of it (HE evaluation offline); online, the
/// server's local linear layers show in the server's column only.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OpTiming {
    /// The op: a linear layer's name, or `relu`, `square`, `avgpool`, `save`, `add`.
    pub op: String,
    /// Output values of the op.
    pub len: usize,
    /// Seconds in offline phases.
    pub offline_s: f64,
    /// Seconds in online phases.
    pub online_s: f64,
}

/// One zeroed [`OpTiming`] per op of `ops` (`lens` the ops' output lengths).
pub(crate) fn op_timings(ops: &[crate::network::PublicOp], lens: &[usize]) -> Vec<OpTiming> {
    use crate::network::PublicOp;
    ops.iter()
        .zip(lens)
        .map(|(op, &len)| OpTiming {
            op: match op {
                PublicOp::Linear { name, .. } => name.clone(),
                PublicOp::AvgPool { .. } => "avgpool".into(),
                PublicOp::SaveShortcut => "save".into(),
                PublicOp::AddShortcut { .. } => "add".into(),
                PublicOp::Relu { .. } => "relu".into(),
                PublicOp::Square => "square".into(),
            },
            len,
            ..OpTiming::default()
        })
        .collect()
}

/// Measures a phase on a channel: wall time and the counter difference.
pub(crate) struct PhaseMeter {
    start: Instant,
    before: ByteCounters,
    client: bool,
}

impl PhaseMeter {
    pub(crate) fn start<S>(ch: &Channel<S>, client: bool) -> Self
    where
        S: std::io::Read + std::io::Write,
    {
        Self {
            start: Instant::now(),
            before: ch.counters(),
            client,
        }
    }

    pub(crate) fn finish<S>(self, ch: &Channel<S>) -> PhaseStats
    where
        S: std::io::Read + std::io::Write,
    {
        let now = ch.counters();
        let diff = |f: fn(&ByteCounters, Phase) -> u64| {
            f(&now, Phase::Offline) + f(&now, Phase::Online)
                - f(&self.before, Phase::Offline)
                - f(&self.before, Phase::Online)
        };
        let (sent, received) = (diff(ByteCounters::sent), diff(ByteCounters::received));
        let (c2s, s2c) = if self.client {
            (sent, received)
        } else {
            (received, sent)
        };
        PhaseStats {
            seconds: self.start.elapsed().as_secs_f64(),
            client_to_server: c2s,
            server_to_client: s2c,
        }
    }
}

/// Field elements as `u64` little endian.
pub(crate) fn encode_elements(v: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * v.len());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Parses `bytes` as exactly `n` field elements, each below `p`.
pub(crate) fn decode_elements(
    field: &ShareField,
    bytes: &[u8],
    n: usize,
) -> Result<Vec<u64>, TwoPcError> {
    if bytes.len() != 8 * n {
        return Err(TwoPcError::Protocol(format!(
            "{} bytes where {n} field elements were expected",
            bytes.len()
        )));
    }
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            let v = u64::from_le_bytes(a);
            if v >= field.modulus() {
                Err(TwoPcError::Protocol(format!(
                    "value {v} is not a field element"
                )))
            } else {
                Ok(v)
            }
        })
        .collect()
}

/// Receives a vector of exactly `n` field elements.
pub(crate) fn recv_elements<S: std::io::Read + std::io::Write>(
    ch: &mut Channel<S>,
    ty: MessageType,
    field: &ShareField,
    n: usize,
) -> Result<Vec<u64>, TwoPcError> {
    let b = ch.recv_exact(ty, 8 * n)?;
    decode_elements(field, &b, n)
}

/// Local (public) linear ops on one party's share over `Z_p`.
pub(crate) mod local {
    use crate::error::TwoPcError;
    use crate::network::{avg_pool, shortcut, PublicOp};
    use crate::share::ShareField;

    /// Applies `op` to the share `x` in place if it is local (average pooling, saving or adding
    /// a shortcut: the same on either party's share); returns whether it was.
    pub(crate) fn apply(
        f: &ShareField,
        op: &PublicOp,
        x: &mut Vec<u64>,
        stack: &mut Vec<Vec<u64>>,
    ) -> Result<bool, TwoPcError> {
        match *op {
            PublicOp::AvgPool {
                channels,
                height,
                width,
                window,
                stride,
                multiplier,
            } => *x = pool(f, x, (channels, height, width, window, stride), multiplier),
            PublicOp::SaveShortcut => stack.push(x.clone()),
            PublicOp::AddShortcut { shift, from, to } => {
                let saved = stack.pop().ok_or_else(|| {
                    TwoPcError::Config("shortcut without a saved activation".into())
                })?;
                *x = add_shortcut(f, x, &saved, shift, from, to);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn pool(
        f: &ShareField,
        x: &[u64],
        dims: (usize, usize, usize, usize, usize),
        multiplier: i64,
    ) -> Vec<u64> {
        let m = f.from_signed(multiplier);
        avg_pool(x, dims, 0u64, |a, b| f.add(a, b), |a| f.mul(a, m))
    }

    fn add_shortcut(
        f: &ShareField,
        x: &[u64],
        saved: &[u64],
        shift: u32,
        from: (usize, usize, usize),
        to: (usize, usize, usize),
    ) -> Vec<u64> {
        let s = shortcut(saved, from, to, 0u64);
        let m = f.from_signed(1i64 << shift);
        x.iter()
            .zip(&s)
            .map(|(&a, &b)| f.add(a, f.mul(b, m)))
            .collect()
    }
}
