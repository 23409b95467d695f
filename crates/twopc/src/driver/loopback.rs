//! Both parties in one process over a loopback TCP pair (benchmarks): the server on a thread,
//! the client on the caller's.

use std::net::TcpStream;
use std::sync::Arc;

use super::client::{Client, Prediction};
use super::server::{Server, SessionSummary};
use super::spec::ServerModel;
use super::PhaseStats;
use crate::channel::{loopback_pair, ChannelConfig};
use crate::error::TwoPcError;
use crate::linear::policy::SecurityCheck;

/// What a loopback run measured (seen from the client).
#[derive(Clone, Debug)]
pub struct LoopbackReport {
    /// One result per input.
    pub predictions: Vec<Prediction>,
    /// Setup (keys, base OTs).
    pub setup: PhaseStats,
    /// All offline phases.
    pub offline: PhaseStats,
    /// All online phases.
    pub online: PhaseStats,
    /// The server's view of the session.
    pub server: SessionSummary,
    /// AND gates per ReLU and OTs per ReLU of the ReLU protocol.
    pub relu_costs: super::ReluCosts,
    /// The client's seconds per op and phase (the server's are in `server.op_times`).
    pub client_op_times: Vec<super::OpTiming>,
}

/// Runs `inputs` (quantized) through the protocol on loopback. With `ahead`, all offline
/// phases run first (the pool), then all online phases; otherwise each prediction runs its
/// offline phase right before its online phase.
pub fn run_loopback(
    model: Arc<ServerModel>,
    inputs: &[Vec<i64>],
    ahead: bool,
    config: ChannelConfig,
    check: SecurityCheck,
) -> Result<LoopbackReport, TwoPcError> {
    let (cs, cc) = loopback_pair(config)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || -> Result<SessionSummary, TwoPcError> {
        let s = Server::accept(cs, model)?;
        let _ = tx.send(s.relu_costs());
        s.run()
    });
    let client = (|| -> Result<_, TwoPcError> {
        let mut c: Client<TcpStream> = Client::connect(cc, None, check)?;
        let mut offline = PhaseStats::default();
        if ahead && !inputs.is_empty() {
            let n = inputs.len().min(super::server::MAX_POOL) as u32;
            offline.add(&c.preprocess(n)?);
        }
        let mut predictions = Vec::with_capacity(inputs.len());
        for x in inputs {
            let pooled = c.pooled() > 0;
            let p = c.predict_quantized(x)?;
            if !pooled {
                offline.add(&p.offline);
            }
            predictions.push(p);
        }
        let setup = c.setup_stats();
        let times = c.op_times().to_vec();
        c.close()?;
        Ok((predictions, setup, offline, times))
    })();
    let server = server
        .join()
        .map_err(|_| TwoPcError::Config("server thread panicked".into()))?;
    let (predictions, setup, offline, client_op_times) = client?;
    let server = server?;
    let mut online = PhaseStats::default();
    for p in &predictions {
        online.add(&p.online);
    }
    Ok(LoopbackReport {
        predictions,
        setup,
        offline,
        online,
        server,
        relu_costs: rx.recv().unwrap_or_default(),
        client_op_times,
    })
}
