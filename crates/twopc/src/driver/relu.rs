//! The pluggable ReLU protocol of the driver: every variant has DELPHI's offline / online
//! shape (offline: the server's output masks `r` and the client's input shares `a`; online:
//! the server's input shares `b`; the client ends with `⌊ReLU(a + b)/2^t⌋ − r`).
//!
//! [`ReluProtocol::GarbledCircuit`] is the half-gates circuit of [`crate::gc::protocol`],
//! [`ReluProtocol::Millionaire`] the OT-based comparison of [`crate::millionaire`] (same
//! function, same share conventions). A new protocol is a new variant of [`ReluProtocol`] and
//! of the four enums below; the driver only calls `setup`, `offline` and `online`.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::block::os_rng;
use crate::channel::Channel;
use crate::error::TwoPcError;
use crate::gc::protocol::{ClientPrepared, ReluClient, ReluConfig, ReluServer, ServerPrepared};
use crate::millionaire;
use crate::share::ShareField;

/// Which two-party ReLU protocol a network uses (part of the network fingerprint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReluProtocol {
    /// DELPHI's garbled circuit (half-gates, free-XOR; [`crate::gc::protocol`]), the server
    /// garbling.
    GarbledCircuit,
    /// The OT-based comparison (millionaire) ReLU of CrypTFlow2 / Cheetah
    /// ([`crate::millionaire`]): fewer bytes and a faster online phase.
    Millionaire,
}

impl ReluProtocol {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            ReluProtocol::GarbledCircuit => "garbled-circuit",
            ReluProtocol::Millionaire => "millionaire",
        }
    }
}

/// Per-ReLU costs of a protocol (for reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReluCosts {
    /// AND gates per ReLU (garbled circuits).
    pub and_gates: u64,
    /// OTs per ReLU.
    pub ots: u64,
}

/// The server's side of one ReLU protocol instance (one truncation width).
pub(crate) enum ServerRelu {
    Garbled(Box<ReluServer>),
    Millionaire(Box<millionaire::ReluServer>),
}

/// The server's offline state of one ReLU layer.
pub(crate) enum ServerReluPrepared {
    Garbled(ServerPrepared),
    Millionaire(millionaire::ServerPrepared),
}

/// The client's side of one ReLU protocol instance.
pub(crate) enum ClientRelu {
    Garbled(Box<ReluClient>),
    Millionaire(Box<millionaire::ReluClient>),
}

/// The client's offline state of one ReLU layer.
pub(crate) enum ClientReluPrepared {
    Garbled(ClientPrepared),
    Millionaire(millionaire::ClientPrepared),
}

impl ClientReluPrepared {
    /// Bytes the client stores until the online phase.
    pub(crate) fn stored_bytes(&self) -> usize {
        match self {
            ClientReluPrepared::Garbled(p) => p.table_bytes(),
            ClientReluPrepared::Millionaire(p) => p.stored_bytes(),
        }
    }
}

impl ServerRelu {
    pub(crate) fn setup<S: Read + Write>(
        kind: ReluProtocol,
        ch: &mut Channel<S>,
        field: ShareField,
        frac_bits: u32,
        chunk: usize,
    ) -> Result<Self, TwoPcError> {
        match kind {
            ReluProtocol::GarbledCircuit => {
                let cfg = ReluConfig::new(field, frac_bits, chunk)?;
                Ok(ServerRelu::Garbled(Box::new(ReluServer::setup(
                    ch,
                    cfg,
                    os_rng(),
                )?)))
            }
            ReluProtocol::Millionaire => {
                let cfg = ReluConfig::new(field, frac_bits, chunk)?;
                Ok(ServerRelu::Millionaire(Box::new(
                    millionaire::ReluServer::setup(ch, cfg, os_rng())?,
                )))
            }
        }
    }

    pub(crate) fn costs(&self, field: &ShareField) -> ReluCosts {
        match self {
            ServerRelu::Garbled(s) => ReluCosts {
                and_gates: s.and_gates_per_relu() as u64,
                ots: field.bits() as u64,
            },
            ServerRelu::Millionaire(s) => {
                let c = s.costs();
                ReluCosts {
                    and_gates: c.and_gates_per_relu as u64,
                    ots: (c.ots_per_relu + c.reverse_ots_per_relu) as u64,
                }
            }
        }
    }

    pub(crate) fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        r: &[u64],
    ) -> Result<ServerReluPrepared, TwoPcError> {
        match self {
            ServerRelu::Garbled(s) => Ok(ServerReluPrepared::Garbled(s.offline(ch, r)?)),
            ServerRelu::Millionaire(s) => Ok(ServerReluPrepared::Millionaire(s.offline(ch, r)?)),
        }
    }

    pub(crate) fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ServerReluPrepared,
        b: &[u64],
    ) -> Result<(), TwoPcError> {
        match (self, prepared) {
            (ServerRelu::Garbled(s), ServerReluPrepared::Garbled(p)) => s.online(ch, p, b),
            (ServerRelu::Millionaire(s), ServerReluPrepared::Millionaire(p)) => s.online(ch, p, b),
            _ => Err(TwoPcError::Config(
                "ReLU preprocessing of another protocol".into(),
            )),
        }
    }
}

impl ClientRelu {
    pub(crate) fn setup<S: Read + Write>(
        kind: ReluProtocol,
        ch: &mut Channel<S>,
        field: ShareField,
        frac_bits: u32,
        chunk: usize,
    ) -> Result<Self, TwoPcError> {
        match kind {
            ReluProtocol::GarbledCircuit => {
                let cfg = ReluConfig::new(field, frac_bits, chunk)?;
                Ok(ClientRelu::Garbled(Box::new(ReluClient::setup(
                    ch,
                    cfg,
                    os_rng(),
                )?)))
            }
            ReluProtocol::Millionaire => {
                let cfg = ReluConfig::new(field, frac_bits, chunk)?;
                Ok(ClientRelu::Millionaire(Box::new(
                    millionaire::ReluClient::setup(ch, cfg, os_rng())?,
                )))
            }
        }
    }

    pub(crate) fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<ClientReluPrepared, TwoPcError> {
        match self {
            ClientRelu::Garbled(c) => Ok(ClientReluPrepared::Garbled(c.offline(ch, a)?)),
            ClientRelu::Millionaire(c) => Ok(ClientReluPrepared::Millionaire(c.offline(ch, a)?)),
        }
    }

    pub(crate) fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ClientReluPrepared,
    ) -> Result<Vec<u64>, TwoPcError> {
        match (self, prepared) {
            (ClientRelu::Garbled(c), ClientReluPrepared::Garbled(p)) => c.online(ch, p),
            (ClientRelu::Millionaire(c), ClientReluPrepared::Millionaire(p)) => c.online(ch, p),
            _ => Err(TwoPcError::Config(
                "ReLU preprocessing of another protocol".into(),
            )),
        }
    }
}
