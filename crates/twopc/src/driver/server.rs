//! The server's state machine: hello, setup, then offline / online commands until bye.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use henn_he::rlwe::PublicKey;
use henn_he::serialization::HeSerialize;
use henn_ring::sampler::os_rng;

use super::relu::{ReluCosts, ServerRelu, ServerReluPrepared};
use super::spec::ServerModel;
use super::{
    decode_elements, encode_elements, local, op_timings, recv_elements, OpTiming, PhaseMeter,
    PhaseStats, CMD_BYE, CMD_OFFLINE, CMD_ONLINE, DRIVER_VERSION, HELLO_MAGIC, MAX_OFFLINE_BATCH,
};
use crate::beaver::{square_finish, square_open, BeaverServer, Party, TripleRequest, TripleShares};
use crate::channel::{Channel, ChannelConfig, MessageType, PayloadReader, Phase};
use crate::error::TwoPcError;
use crate::linear::{uniform_elements, EvaluationKeys, LinearLayer, LinearServer, OfflineRequest};
use crate::network::Op;
use crate::share::ShareField;

/// Most preprocessings the server keeps for one client (each holds the server's masks and
/// garbling state: about 0.7 KB per ReLU).
pub const MAX_POOL: usize = 64;

/// What a finished session did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionSummary {
    /// Predictions run.
    pub predictions: usize,
    /// Preprocessings run.
    pub preprocessings: usize,
    /// Setup (keys, base OTs).
    pub setup: PhaseStats,
    /// All offline phases.
    pub offline: PhaseStats,
    /// All online phases.
    pub online: PhaseStats,
    /// The server's seconds per op of the network, per phase (summed over the session).
    pub op_times: Vec<OpTiming>,
}

/// The server's offline state of one prediction.
struct Prepared {
    masks: Vec<Vec<u64>>,
    relus: Vec<(ServerReluPrepared, Vec<u64>)>,
    squares: Vec<TripleShares>,
}

/// The server side of a session (holds the weights).
pub struct Server<S: Read + Write> {
    ch: Channel<S>,
    model: Arc<ServerModel>,
    linear: Vec<LinearServer>,
    relus: Vec<ServerRelu>,
    beaver: Option<BeaverServer>,
    pool: VecDeque<Prepared>,
    summary: SessionSummary,
}

/// `M·x + b + s` over `Z_p` for the server's share `x` (`i64` products with delayed
/// reduction, [`crate::network::fast`]).
fn linear_online(field: &ShareField, layer: &LinearLayer, x: &[u64], s: &[u64]) -> Vec<u64> {
    crate::network::fast::linear_mod(field, layer, x, s)
}

impl<S: Read + Write> Server<S> {
    /// Answers the client's hello (refusing a client that expects another network) and runs
    /// the setup: the client's evaluation keys per linear layer, the triple key, the ReLU
    /// protocols' base OTs.
    pub fn accept(mut ch: Channel<S>, model: Arc<ServerModel>) -> Result<Self, TwoPcError> {
        let meter = PhaseMeter::start(&ch, false);
        ch.set_phase(Phase::Offline);
        let spec = &model.spec;
        let hello = ch.recv_exact(MessageType::DRIVER_HELLO, 8 + 4 + 32)?;
        let mut r = PayloadReader::new(&hello);
        if r.take(8)? != HELLO_MAGIC {
            return Err(TwoPcError::Protocol("not a henn 2PC client".into()));
        }
        let version = u32::from_le_bytes(r.take(4)?.try_into().unwrap_or([0; 4]));
        let expected = r.take(32)?;
        r.finish()?;
        let mismatch = version != DRIVER_VERSION
            || (expected.iter().any(|&b| b != 0) && expected != spec.fingerprint);
        let mut reply = vec![mismatch as u8];
        reply.extend_from_slice(&spec.fingerprint);
        if !mismatch {
            reply.extend_from_slice(&spec.public.to_bytes());
        }
        ch.send(MessageType::DRIVER_HELLO_REPLY, &reply)?;
        if version != DRIVER_VERSION {
            return Err(TwoPcError::Protocol(format!(
                "client speaks driver version {version}, this server {DRIVER_VERSION}"
            )));
        }
        if mismatch {
            return Err(TwoPcError::Protocol(
                "client expects another network (fingerprint mismatch)".into(),
            ));
        }
        let mut linear = Vec::with_capacity(spec.contexts.len());
        for ((_, layer), ctx) in model
            .network
            .linear_layers()
            .into_iter()
            .zip(&spec.contexts)
        {
            let keys = EvaluationKeys::from_bytes(ctx, &ch.recv(MessageType::DRIVER_KEYS)?)?;
            linear.push(LinearServer::new(layer, ctx, keys)?);
        }
        let beaver = match &spec.beaver {
            Some(bctx) => {
                let b = ch.recv(MessageType::DRIVER_KEYS)?;
                let pk = PublicKey::from_bytes(&bctx.params, &b)
                    .map_err(|e| TwoPcError::Protocol(format!("bad triple public key: {e}")))?;
                Some(BeaverServer::new(bctx, &pk)?)
            }
            None => None,
        };
        let mut relus = Vec::with_capacity(spec.relu_fracs.len());
        for &f in &spec.relu_fracs {
            relus.push(ServerRelu::setup(
                spec.public.relu,
                &mut ch,
                spec.field,
                f,
                spec.public.relu_chunk,
            )?);
        }
        let summary = SessionSummary {
            setup: meter.finish(&ch),
            op_times: op_timings(&spec.public.ops, &spec.lens),
            ..SessionSummary::default()
        };
        Ok(Self {
            ch,
            model,
            linear,
            relus,
            beaver,
            pool: VecDeque::new(),
            summary,
        })
    }

    /// The channel, abandoning the session (for tests of malformed server messages).
    pub fn into_channel(self) -> Channel<S> {
        self.ch
    }

    /// Per-ReLU costs of the session's ReLU protocol.
    pub fn relu_costs(&self) -> ReluCosts {
        self.relus
            .first()
            .map(|r| r.costs(&self.model.spec.field))
            .unwrap_or_default()
    }

    /// Serves commands until the client says bye; returns what the session did. A protocol
    /// violation or I/O failure ends the session with the error.
    pub fn run(mut self) -> Result<SessionSummary, TwoPcError> {
        loop {
            let cmd = self.ch.recv_exact(MessageType::DRIVER_CONTROL, 5)?;
            let count = u32::from_le_bytes([cmd[1], cmd[2], cmd[3], cmd[4]]);
            match cmd[0] {
                CMD_OFFLINE => {
                    if count == 0
                        || count > MAX_OFFLINE_BATCH
                        || self.pool.len() + count as usize > MAX_POOL
                    {
                        return Err(TwoPcError::Protocol(format!(
                            "offline request for {count} preprocessings ({} pooled, at most {MAX_POOL})",
                            self.pool.len()
                        )));
                    }
                    for _ in 0..count {
                        let meter = PhaseMeter::start(&self.ch, false);
                        let p = self.offline()?;
                        self.pool.push_back(p);
                        self.summary.offline.add(&meter.finish(&self.ch));
                        self.summary.preprocessings += 1;
                    }
                }
                CMD_ONLINE => {
                    let p = self.pool.pop_front().ok_or_else(|| {
                        TwoPcError::Protocol("online phase without a preprocessing".into())
                    })?;
                    let meter = PhaseMeter::start(&self.ch, false);
                    self.ch.set_phase(Phase::Online);
                    let r = self.online(p);
                    self.ch.set_phase(Phase::Offline);
                    r?;
                    self.summary.online.add(&meter.finish(&self.ch));
                    self.summary.predictions += 1;
                }
                CMD_BYE => return Ok(self.summary),
                c => return Err(TwoPcError::Protocol(format!("unknown command {c}"))),
            }
        }
    }

    fn offline(&mut self) -> Result<Prepared, TwoPcError> {
        let model = Arc::clone(&self.model);
        let spec = &model.spec;
        let field = spec.field;
        let mut rng = os_rng();
        let mut p = Prepared {
            masks: Vec::new(),
            relus: Vec::new(),
            squares: Vec::new(),
        };
        let mut li = 0;
        for (oi, (op, &len)) in model.network.ops.iter().zip(&spec.lens).enumerate() {
            let started = Instant::now();
            match op {
                Op::Linear { .. } => {
                    let ctx = &spec.contexts[li];
                    let req = OfflineRequest::from_bytes(
                        ctx,
                        &self.ch.recv(MessageType::DRIVER_LINEAR_REQUEST)?,
                    )?;
                    let (resp, s) = self.linear[li].respond(&req)?;
                    self.ch
                        .send(MessageType::DRIVER_LINEAR_RESPONSE, &resp.to_bytes(ctx))?;
                    p.masks.push(s);
                    li += 1;
                }
                Op::Relu { frac_bits } => {
                    let r = uniform_elements(&field, &mut rng, len);
                    let i = spec.relu_index(*frac_bits)?;
                    let prep = self.relus[i].offline(&mut self.ch, &r)?;
                    p.relus.push((prep, r));
                }
                Op::Square => {
                    let (beaver, bctx) = match (&self.beaver, &spec.beaver) {
                        (Some(b), Some(c)) => (b, c),
                        _ => return Err(TwoPcError::Config("no triple context".into())),
                    };
                    let mut shares = TripleShares {
                        a: Vec::new(),
                        b: Vec::new(),
                        c: Vec::new(),
                    };
                    for _ in 0..len.div_ceil(bctx.batch()) {
                        let req = TripleRequest::from_bytes(
                            bctx,
                            &self.ch.recv(MessageType::DRIVER_TRIPLE_REQUEST)?,
                            true,
                        )?;
                        let (resp, s) = beaver.respond(&req)?;
                        self.ch
                            .send(MessageType::DRIVER_TRIPLE_RESPONSE, &resp.to_bytes(bctx))?;
                        shares.a.extend(s.a);
                        shares.b.extend(s.b);
                        shares.c.extend(s.c);
                    }
                    shares.a.truncate(len);
                    shares.b.truncate(len);
                    shares.c.truncate(len);
                    p.squares.push(shares);
                }
                _ => {}
            }
            if let Some(t) = self.summary.op_times.get_mut(oi) {
                t.offline_s += started.elapsed().as_secs_f64();
            }
        }
        Ok(p)
    }

    fn online(&mut self, p: Prepared) -> Result<(), TwoPcError> {
        let model = Arc::clone(&self.model);
        let spec = &model.spec;
        let field = spec.field;
        let mut x = recv_elements(
            &mut self.ch,
            MessageType::DRIVER_INPUT,
            &field,
            spec.public.input_len(),
        )?;
        let mut masks = p.masks.into_iter();
        let mut relus = p.relus.into_iter();
        let mut squares = p.squares.into_iter();
        let mut stack: Vec<Vec<u64>> = Vec::new();
        let missing = || TwoPcError::Config("preprocessing does not match the network".into());
        for (oi, (op, &len)) in model.network.ops.iter().zip(&spec.lens).enumerate() {
            let started = Instant::now();
            let public = spec.public.ops.get(oi).ok_or_else(missing)?;
            if local::apply(&field, public, &mut x, &mut stack)? {
                if let Some(t) = self.summary.op_times.get_mut(oi) {
                    t.online_s += started.elapsed().as_secs_f64();
                }
                continue;
            }
            x = match op {
                Op::Linear { layer, .. } => {
                    linear_online(&field, layer, &x, &masks.next().ok_or_else(missing)?)
                }
                Op::Relu { frac_bits } => {
                    let (prep, r) = relus.next().ok_or_else(missing)?;
                    let i = spec.relu_index(*frac_bits)?;
                    self.relus[i].online(&mut self.ch, prep, &x)?;
                    let m =
                        recv_elements(&mut self.ch, MessageType::DRIVER_RELU_REMASK, &field, len)?;
                    m.iter().zip(&r).map(|(&a, &b)| field.add(a, b)).collect()
                }
                Op::Square => {
                    let t = squares.next().ok_or_else(missing)?;
                    let e_s = square_open(&field, &x, &t)?;
                    self.ch.send(
                        MessageType::DRIVER_SQUARE_OPEN_SERVER,
                        &encode_elements(&e_s),
                    )?;
                    let b = self
                        .ch
                        .recv_exact(MessageType::DRIVER_SQUARE_OPEN_CLIENT, 16 * len)?;
                    let e_c = decode_elements(&field, &b[..8 * len], len)?;
                    let m = decode_elements(&field, &b[8 * len..], len)?;
                    let z = square_finish(&field, Party::Server, &e_s, &e_c, &t)?;
                    z.iter().zip(&m).map(|(&a, &b)| field.add(a, b)).collect()
                }
                _ => return Err(missing()),
            };
            if let Some(t) = self.summary.op_times.get_mut(oi) {
                t.online_s += started.elapsed().as_secs_f64();
            }
        }
        self.ch
            .send(MessageType::DRIVER_OUTPUT, &encode_elements(&x))
    }
}

/// Accepts clients on `listener` one after another, each served to its end (bye, error or
/// deadline), until `stop` is set (checked every 50 ms between clients). `on_session` gets
/// each session's outcome. Returns the number of sessions served.
pub fn serve_connections(
    listener: &TcpListener,
    model: Arc<ServerModel>,
    config: ChannelConfig,
    stop: &AtomicBool,
    mut on_session: impl FnMut(Result<SessionSummary, TwoPcError>),
) -> Result<usize, TwoPcError> {
    listener.set_nonblocking(true)?;
    let mut sessions = 0;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                let outcome = Channel::tcp(stream, config)
                    .and_then(|ch| Server::accept(ch, Arc::clone(&model)))
                    .and_then(Server::run);
                sessions += 1;
                on_session(outcome);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TwoPcError::Io(e)),
        }
    }
    Ok(sessions)
}
