//! The client's state machine: hello, setup, preprocessing pool, predictions.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::Instant;

use henn_he::serialization::HeSerialize;
use henn_ring::sampler::os_rng;
use serde::Serialize;

use super::relu::{ClientRelu, ClientReluPrepared};
use super::spec::ProtocolSpec;
use super::{
    encode_elements, local, op_timings, recv_elements, OpTiming, PhaseMeter, PhaseStats, CMD_BYE,
    CMD_OFFLINE, CMD_ONLINE, DRIVER_VERSION, HELLO_MAGIC,
};
use crate::beaver::{
    square_finish, square_open, BeaverClient, Party, TripleResponse, TripleShares,
};
use crate::channel::{Channel, MessageType, Phase};
use crate::error::TwoPcError;
use crate::linear::policy::SecurityCheck;
use crate::linear::{uniform_elements, LinearClient, OfflineResponse};
use crate::network::{argmax, PublicOp};

/// The client's offline state of one prediction.
struct Prepared {
    input_mask: Vec<u64>,
    relus: Vec<(ClientReluPrepared, Vec<u64>)>,
    /// Square pairs, the client's input share, the next mask.
    squares: Vec<(TripleShares, Vec<u64>, Vec<u64>)>,
    output: Vec<u64>,
    stats: PhaseStats,
    stored_bytes: usize,
}

/// One prediction's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The logits (fixed point at the network's output scale).
    pub logits: Vec<i64>,
    /// Their argmax.
    pub class: usize,
    /// The offline phase this prediction used.
    pub offline: PhaseStats,
    /// The online phase.
    pub online: PhaseStats,
    /// Bytes the client stored between the phases (garbled tables and labels).
    pub client_stored_bytes: usize,
}

/// The client side of a session (holds the HE secret keys).
pub struct Client<S: Read + Write> {
    ch: Channel<S>,
    spec: ProtocolSpec,
    linear: Vec<LinearClient>,
    relus: Vec<ClientRelu>,
    beaver: Option<BeaverClient>,
    pool: VecDeque<Prepared>,
    setup: PhaseStats,
    op_times: Vec<OpTiming>,
}

impl<S: Read + Write> Client<S> {
    /// Hello (with the fingerprint of the network the client expects, if any), validation of
    /// the server's public description (128-bit HE parameters unless `check` is the test
    /// setting), and setup: keys per linear layer, the triple key, the ReLU base OTs.
    pub fn connect(
        mut ch: Channel<S>,
        expected: Option<[u8; 32]>,
        check: SecurityCheck,
    ) -> Result<Self, TwoPcError> {
        let meter = PhaseMeter::start(&ch, true);
        ch.set_phase(Phase::Offline);
        let mut hello = HELLO_MAGIC.to_vec();
        hello.extend_from_slice(&DRIVER_VERSION.to_le_bytes());
        hello.extend_from_slice(&expected.unwrap_or([0; 32]));
        ch.send(MessageType::DRIVER_HELLO, &hello)?;
        let reply = ch.recv(MessageType::DRIVER_HELLO_REPLY)?;
        if reply.len() < 33 {
            return Err(TwoPcError::Protocol("hello reply too short".into()));
        }
        let mut fp = [0u8; 32];
        fp.copy_from_slice(&reply[1..33]);
        match reply[0] {
            0 => {}
            1 => {
                return Err(TwoPcError::Protocol(format!(
                    "the server serves another network (fingerprint {}) or driver version",
                    hex(&fp)
                )))
            }
            s => return Err(TwoPcError::Protocol(format!("hello status {s}"))),
        }
        let spec = ProtocolSpec::from_bytes(&reply[33..], check)?;
        if spec.fingerprint != fp {
            return Err(TwoPcError::Protocol(
                "network description does not match its fingerprint".into(),
            ));
        }
        if let Some(e) = expected {
            if e != fp {
                return Err(TwoPcError::Protocol(format!(
                    "server network fingerprint {} is not the expected {}",
                    hex(&fp),
                    hex(&e)
                )));
            }
        }
        let mut linear = Vec::with_capacity(spec.contexts.len());
        for ctx in &spec.contexts {
            let mut c = LinearClient::new(ctx)?;
            let keys = c.evaluation_keys()?;
            ch.send(MessageType::DRIVER_KEYS, &keys.to_bytes(ctx))?;
            linear.push(c);
        }
        let beaver = match &spec.beaver {
            Some(bctx) => {
                let mut b = BeaverClient::new(bctx)?;
                let pk = b.public_key();
                ch.send(MessageType::DRIVER_KEYS, &pk.to_bytes(&bctx.params))?;
                Some(b)
            }
            None => None,
        };
        let mut relus = Vec::with_capacity(spec.relu_fracs.len());
        for &f in &spec.relu_fracs {
            relus.push(ClientRelu::setup(
                spec.public.relu,
                &mut ch,
                spec.field,
                f,
                spec.public.relu_chunk,
            )?);
        }
        let setup = meter.finish(&ch);
        let op_times = op_timings(&spec.public.ops, &spec.lens);
        Ok(Self {
            ch,
            op_times,
            spec,
            linear,
            relus,
            beaver,
            pool: VecDeque::new(),
            setup,
        })
    }

    /// The agreed description and contexts.
    pub fn spec(&self) -> &ProtocolSpec {
        &self.spec
    }

    /// Setup cost (hello, keys, base OTs).
    pub fn setup_stats(&self) -> PhaseStats {
        self.setup
    }

    /// The client's seconds per op of the network, per phase, summed over the session's
    /// preprocessings and predictions (offline: including the wait for the server's HE work).
    pub fn op_times(&self) -> &[OpTiming] {
        &self.op_times
    }

    /// Preprocessings waiting in the pool.
    pub fn pooled(&self) -> usize {
        self.pool.len()
    }

    /// The channel's byte counters.
    pub fn counters(&self) -> crate::channel::ByteCounters {
        self.ch.counters()
    }

    /// Runs `count` input-independent offline phases ahead (the pool of future predictions);
    /// returns their total cost.
    pub fn preprocess(&mut self, count: u32) -> Result<PhaseStats, TwoPcError> {
        let mut cmd = vec![CMD_OFFLINE];
        cmd.extend_from_slice(&count.to_le_bytes());
        self.ch.send(MessageType::DRIVER_CONTROL, &cmd)?;
        let mut total = PhaseStats::default();
        for _ in 0..count {
            let meter = PhaseMeter::start(&self.ch, true);
            let mut p = self.offline()?;
            p.stats = meter.finish(&self.ch);
            total.add(&p.stats);
            self.pool.push_back(p);
        }
        Ok(total)
    }

    fn offline(&mut self) -> Result<Prepared, TwoPcError> {
        let field = self.spec.field;
        let mut rng = os_rng();
        let input_mask = uniform_elements(&field, &mut rng, self.spec.public.input_len());
        let mut c = input_mask.clone();
        let mut p = Prepared {
            input_mask,
            relus: Vec::new(),
            squares: Vec::new(),
            output: Vec::new(),
            stats: PhaseStats::default(),
            stored_bytes: 0,
        };
        let mut stack: Vec<Vec<u64>> = Vec::new();
        let mut li = 0;
        let ops = self.spec.public.ops.clone();
        for (oi, (op, &len)) in ops.iter().zip(&self.spec.lens).enumerate() {
            let started = Instant::now();
            if local::apply(&field, op, &mut c, &mut stack)? {
                if let Some(t) = self.op_times.get_mut(oi) {
                    t.offline_s += started.elapsed().as_secs_f64();
                }
                continue;
            }
            c = match op {
                PublicOp::Linear { .. } => {
                    let ctx = &self.spec.contexts[li];
                    let req = self.linear[li].request(&c)?;
                    self.ch
                        .send(MessageType::DRIVER_LINEAR_REQUEST, &req.to_bytes(ctx))?;
                    let resp = OfflineResponse::from_bytes(
                        ctx,
                        &self.ch.recv(MessageType::DRIVER_LINEAR_RESPONSE)?,
                    )?;
                    let out = self.linear[li].finish(&c, &resp)?;
                    li += 1;
                    out
                }
                PublicOp::Relu { frac_bits } => {
                    let i = self.spec.relu_index(*frac_bits)?;
                    let prep = self.relus[i].offline(&mut self.ch, &c)?;
                    p.stored_bytes += prep.stored_bytes();
                    let next = uniform_elements(&field, &mut rng, len);
                    p.relus.push((prep, next.clone()));
                    next
                }
                PublicOp::Square => {
                    let (beaver, bctx) = match (&self.beaver, &self.spec.beaver) {
                        (Some(b), Some(ctx)) => (b, ctx),
                        _ => return Err(TwoPcError::Config("no triple context".into())),
                    };
                    let mut shares = TripleShares {
                        a: Vec::new(),
                        b: Vec::new(),
                        c: Vec::new(),
                    };
                    for _ in 0..len.div_ceil(bctx.batch()) {
                        let (req, pending) = beaver.request(true)?;
                        self.ch
                            .send(MessageType::DRIVER_TRIPLE_REQUEST, &req.to_bytes(bctx))?;
                        let resp = TripleResponse::from_bytes(
                            bctx,
                            &self.ch.recv(MessageType::DRIVER_TRIPLE_RESPONSE)?,
                        )?;
                        let s = beaver.finish(pending, &resp)?;
                        shares.a.extend(s.a);
                        shares.b.extend(s.b);
                        shares.c.extend(s.c);
                    }
                    shares.a.truncate(len);
                    shares.b.truncate(len);
                    shares.c.truncate(len);
                    let next = uniform_elements(&field, &mut rng, len);
                    p.squares.push((shares, c, next.clone()));
                    next
                }
                _ => c,
            };
            if let Some(t) = self.op_times.get_mut(oi) {
                t.offline_s += started.elapsed().as_secs_f64();
            }
        }
        p.output = c;
        Ok(p)
    }

    /// One prediction on a quantized input (`round(x · 2^input_frac_bits)`), using a pooled
    /// preprocessing or running one first. Only the client learns the logits.
    pub fn predict_quantized(&mut self, input: &[i64]) -> Result<Prediction, TwoPcError> {
        let field = self.spec.field;
        if input.len() != self.spec.public.input_len() {
            return Err(TwoPcError::Config(format!(
                "input of {} values for a network taking {}",
                input.len(),
                self.spec.public.input_len()
            )));
        }
        if self.pool.is_empty() {
            self.preprocess(1)?;
        }
        let p = self
            .pool
            .pop_front()
            .ok_or_else(|| TwoPcError::Config("empty preprocessing pool".into()))?;
        let meter = PhaseMeter::start(&self.ch, true);
        let mut cmd = vec![CMD_ONLINE];
        cmd.extend_from_slice(&0u32.to_le_bytes());
        self.ch.send(MessageType::DRIVER_CONTROL, &cmd)?;
        self.ch.set_phase(Phase::Online);
        let result = self.online(input, &p.input_mask, p.relus, p.squares);
        self.ch.set_phase(Phase::Offline);
        let out_s = result?;
        let online = meter.finish(&self.ch);
        let logits: Vec<i64> = p
            .output
            .iter()
            .zip(&out_s)
            .map(|(&a, &b)| field.to_signed(field.add(a, b)))
            .collect();
        Ok(Prediction {
            class: argmax(&logits),
            logits,
            offline: p.stats,
            online,
            client_stored_bytes: p.stored_bytes,
        })
    }

    /// [`Client::predict_quantized`] on a real-valued input, quantized at the network's input
    /// scale.
    pub fn predict(&mut self, input: &[f32]) -> Result<Prediction, TwoPcError> {
        let s = (self.spec.public.input_frac_bits as f64).exp2();
        let q = input
            .iter()
            .map(|&v| {
                let q = (v as f64 * s).round();
                if q.is_finite() && q.abs() < (1u64 << 40) as f64 {
                    Ok(q as i64)
                } else {
                    Err(TwoPcError::Config(format!("input value {v} out of range")))
                }
            })
            .collect::<Result<Vec<i64>, _>>()?;
        self.predict_quantized(&q)
    }

    fn online(
        &mut self,
        input: &[i64],
        mask: &[u64],
        relus: Vec<(ClientReluPrepared, Vec<u64>)>,
        squares: Vec<(TripleShares, Vec<u64>, Vec<u64>)>,
    ) -> Result<Vec<u64>, TwoPcError> {
        let field = self.spec.field;
        let masked: Vec<u64> = input
            .iter()
            .zip(mask)
            .map(|(&x, &r)| field.sub(field.from_signed(x), r))
            .collect();
        self.ch
            .send(MessageType::DRIVER_INPUT, &encode_elements(&masked))?;
        let mut relus = relus.into_iter();
        let mut squares = squares.into_iter();
        let missing = || TwoPcError::Config("preprocessing does not match the network".into());
        let ops = self.spec.public.ops.clone();
        for (oi, (op, &len)) in ops.iter().zip(&self.spec.lens).enumerate() {
            let started = Instant::now();
            match op {
                PublicOp::Relu { frac_bits } => {
                    let (prep, next) = relus.next().ok_or_else(missing)?;
                    let i = self.spec.relu_index(*frac_bits)?;
                    let y = self.relus[i].online(&mut self.ch, prep)?;
                    let remask: Vec<u64> = y
                        .iter()
                        .zip(&next)
                        .map(|(&a, &b)| field.sub(a, b))
                        .collect();
                    self.ch
                        .send(MessageType::DRIVER_RELU_REMASK, &encode_elements(&remask))?;
                }
                PublicOp::Square => {
                    let (t, x_c, next) = squares.next().ok_or_else(missing)?;
                    let e_s = recv_elements(
                        &mut self.ch,
                        MessageType::DRIVER_SQUARE_OPEN_SERVER,
                        &field,
                        len,
                    )?;
                    let e_c = square_open(&field, &x_c, &t)?;
                    let z = square_finish(&field, Party::Client, &e_c, &e_s, &t)?;
                    let mut payload = encode_elements(&e_c);
                    let remask: Vec<u64> = z
                        .iter()
                        .zip(&next)
                        .map(|(&a, &b)| field.sub(a, b))
                        .collect();
                    payload.extend(encode_elements(&remask));
                    self.ch
                        .send(MessageType::DRIVER_SQUARE_OPEN_CLIENT, &payload)?;
                }
                _ => {}
            }
            if let Some(t) = self.op_times.get_mut(oi) {
                t.online_s += started.elapsed().as_secs_f64();
            }
        }
        let out_len = self
            .spec
            .lens
            .last()
            .copied()
            .unwrap_or(self.spec.public.input_len());
        recv_elements(&mut self.ch, MessageType::DRIVER_OUTPUT, &field, out_len)
    }

    /// The channel, abandoning the session (for tests of malformed client messages).
    pub fn into_channel(self) -> Channel<S> {
        self.ch
    }

    /// Ends the session (the server returns from [`super::Server::run`]).
    pub fn close(mut self) -> Result<(), TwoPcError> {
        let mut cmd = vec![CMD_BYE];
        cmd.extend_from_slice(&0u32.to_le_bytes());
        self.ch.send(MessageType::DRIVER_CONTROL, &cmd)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
