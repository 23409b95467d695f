//! The two-party garbled ReLU protocol of DELPHI (Mishra et al. 2020, section 4.2), batched:
//! the server garbles, the client evaluates; shares `a` (client) and `b` (server) of each
//! pre-activation become shares `r` (server, a fresh mask) and `⌊ReLU(a + b)/2^f⌋ − r` (client).
//!
//! # Phases
//!
//! DELPHI's client knows its share `a` in the offline phase (it is the client's output of the
//! HE linear layer), the server learns its share `b` only online. So:
//!
//! * **offline** ([`ReluServer::offline`] / [`ReluClient::offline`]), per chunk of
//!   `chunk_relus` ReLUs: correlated OT of the client's input labels (`ℓ` per ReLU) with the
//!   garbler's `Δ`; the garbled tables, streamed in bounded messages; the decoding bits; the
//!   labels of the server's masks `r`. The client stores the tables (`284 − f` ANDs × 32 bytes
//!   per ReLU) until the online phase, as in DELPHI.
//! * **online** ([`ReluServer::online`] / [`ReluClient::online`]): the server sends the labels
//!   of its shares `b` (`ℓ` × 16 bytes per ReLU); the client evaluates and decodes.
//! * **streamed** ([`ReluServer::streamed`] / [`ReluClient::streamed`]): one phase, chunk by
//!   chunk (OT, garbler labels, tables, decoding bits), the client evaluating each chunk as it
//!   arrives, so it never holds more than one chunk of circuits — for when the client cannot
//!   store a whole network's circuits, at the price of moving garbling and tables online.
//!
//! # Messages (per chunk of `k` ReLUs, `ℓ`-bit shares)
//!
//! | direction | type | payload |
//! |---|---|---|
//! | server → client | `GC_BATCH_HEADER` | `u64` `k`, `u64` `ℓ`, `u64` `f` (checked by the client) |
//! | client ↔ server | OT messages | correlated OT of `k·ℓ` bits ([`crate::ot`]) |
//! | server → client | `GC_TABLES` | the chunk's tables, in messages of at most 1 MiB |
//! | server → client | `GC_OUTPUT_DECODING` | `k·ℓ` decoding bits, packed LSB first |
//! | server → client | `GC_GARBLER_LABELS` | `k·ℓ` labels of `r` (offline / streamed) |
//! | server → client | `GC_GARBLER_LABELS` | `k·ℓ` labels of `b` (online / streamed) |
//!
//! # Security
//!
//! Semi-honest, as DELPHI: the client sees OT outputs for its own bits, one label per wire and
//! decoding bits only for the outputs, whose values `y − r` are uniform given `r` uniform; the
//! server sees only the OT receiver's pseudorandom columns. A malformed message from either
//! side ends the session with [`TwoPcError::Protocol`]; decoded outputs outside `[0, p)` are
//! rejected.

use std::io::{Read, Write};

use super::circuit::{from_bits, to_bits, Circuit};
use super::halfgates::{Evaluator, Garbler};
use super::relu::relu_circuit;
use super::stream::{TableReceiver, TableSender, DEFAULT_CHUNK_BLOCKS};
use rand_chacha::rand_core::SeedableRng;

use crate::block::{blocks_from_bytes, blocks_to_bytes, Block, Csprng};
use crate::channel::{Channel, MessageType, PayloadReader};
use crate::error::TwoPcError;
use crate::ot::{OtReceiver, OtSender};
use crate::share::ShareField;

/// ReLUs garbled and evaluated in lockstep ([`Garbler::garble_batch`]): enough AES blocks per
/// AND gate to fill the AES-NI pipeline, few enough wire labels to stay in cache.
pub const LOCKSTEP: usize = 32;

/// Parameters both parties must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReluConfig {
    /// The share field `Z_p`.
    pub field: ShareField,
    /// Fractional bits truncated after the ReLU (`0` for none).
    pub frac_bits: u32,
    /// ReLUs per chunk (bounds memory and message sizes).
    pub chunk_relus: usize,
}

impl ReluConfig {
    /// The configuration, validated.
    pub fn new(field: ShareField, frac_bits: u32, chunk_relus: usize) -> Result<Self, TwoPcError> {
        if chunk_relus == 0 || chunk_relus > 1 << 16 {
            return Err(TwoPcError::Config(format!(
                "ReLU chunk of {chunk_relus} must be in 1..=65536"
            )));
        }
        relu_circuit(&field, frac_bits)?;
        Ok(Self {
            field,
            frac_bits,
            chunk_relus,
        })
    }

    fn bits(&self) -> usize {
        self.field.bits() as usize
    }
}

fn check_shares(field: &ShareField, v: &[u64], what: &str) -> Result<(), TwoPcError> {
    match v.iter().position(|&x| x >= field.modulus()) {
        Some(i) => Err(TwoPcError::Config(format!(
            "{what}[{i}] = {} is not reduced modulo {}",
            v[i],
            field.modulus()
        ))),
        None => Ok(()),
    }
}

fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 8] |= (b as u8) << (i % 8);
    }
    out
}

fn unpack_bits(bytes: &[u8], n: usize) -> Vec<bool> {
    (0..n).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect()
}

/// The server's (garbler's) state for one batch between the offline and online phase.
#[derive(Debug)]
pub struct ServerPrepared {
    /// Zero labels of the server's share bits, `ℓ` per ReLU.
    b_zero: Vec<Block>,
    /// The number of ReLUs.
    n: usize,
}

/// The client's (evaluator's) state for one batch between the offline and online phase.
#[derive(Debug)]
pub struct ClientPrepared {
    a_labels: Vec<Block>,
    r_labels: Vec<Block>,
    decoding: Vec<bool>,
    tables: Vec<Block>,
    n: usize,
}

impl ClientPrepared {
    /// Bytes of garbled tables the client stores for the online phase.
    pub fn table_bytes(&self) -> usize {
        16 * self.tables.len()
    }
}

/// The server: garbler and OT sender.
pub struct ReluServer {
    cfg: ReluConfig,
    circuit: Circuit,
    garbler: Garbler,
    ot: OtSender,
    rng: Csprng,
}

impl std::fmt::Debug for ReluServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReluServer")
            .field("cfg", &self.cfg)
            .field("garbler", &self.garbler)
            .finish()
    }
}

/// The client: evaluator and OT receiver.
#[derive(Debug)]
pub struct ReluClient {
    cfg: ReluConfig,
    circuit: Circuit,
    evaluator: Evaluator,
    ot: OtReceiver,
}

impl ReluServer {
    /// Session setup: the 128 base OTs (once per session).
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        cfg: ReluConfig,
        mut rng: Csprng,
    ) -> Result<Self, TwoPcError> {
        let ot = OtSender::setup(ch, &mut rng)?;
        let garbler = Garbler::new(Csprng::from_rng(&mut rng));
        Ok(Self {
            circuit: relu_circuit(&cfg.field, cfg.frac_bits)?,
            cfg,
            garbler,
            ot,
            rng,
        })
    }

    /// AND gates per ReLU.
    pub fn and_gates_per_relu(&self) -> usize {
        self.circuit.and_gates()
    }

    /// A fresh uniform mask `r ∈ Z_p` per ReLU (the server's next share).
    pub fn fresh_masks(&mut self, n: usize) -> Vec<u64> {
        use rand_chacha::rand_core::RngCore;
        let p = self.cfg.field.modulus();
        // Rejection sampling from 64 bits: bias-free.
        let zone = u64::MAX - u64::MAX % p;
        (0..n)
            .map(|_| loop {
                let v = self.rng.next_u64();
                if v < zone {
                    break v % p;
                }
            })
            .collect()
    }

    /// Garble one chunk: OT of the client's labels, tables, decoding bits, `r` labels, and
    /// with `b` given also `b`'s labels. Returns the zero labels of `b`.
    fn chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        r: &[u64],
        b: Option<&[u64]>,
    ) -> Result<Vec<Block>, TwoPcError> {
        let l = self.cfg.bits();
        let k = r.len();
        let mut header = Vec::with_capacity(24);
        for v in [k as u64, l as u64, self.cfg.frac_bits as u64] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        ch.send(MessageType::GC_BATCH_HEADER, &header)?;
        let delta = self.garbler.delta();
        let a_zero = self.ot.send_correlated(ch, delta, k * l)?;
        let b_zero = self.garbler.fresh_labels(k * l);
        let r_zero = self.garbler.fresh_labels(k * l);
        if let Some(b) = b {
            let mut payload = Vec::with_capacity(16 * k * l);
            for (z, &v) in b_zero.chunks_exact(l).zip(b) {
                let active: Vec<Block> = z
                    .iter()
                    .zip(to_bits(v, l))
                    .map(|(&z, bit)| self.garbler.encode(z, bit))
                    .collect();
                blocks_to_bytes(&active, &mut payload);
            }
            ch.send(MessageType::GC_GARBLER_LABELS, &payload)?;
        }
        let mut tables = TableSender::new(DEFAULT_CHUNK_BLOCKS);
        let mut decoding = Vec::with_capacity(k * l);
        let mut g_zero = Vec::with_capacity(2 * l * LOCKSTEP);
        for start in (0..k).step_by(LOCKSTEP) {
            let kb = LOCKSTEP.min(k - start);
            g_zero.clear();
            for i in start..start + kb {
                g_zero.extend_from_slice(&b_zero[i * l..(i + 1) * l]);
                g_zero.extend_from_slice(&r_zero[i * l..(i + 1) * l]);
            }
            let outs = self.garbler.garble_batch(
                &self.circuit,
                kb,
                &g_zero,
                &a_zero[start * l..(start + kb) * l],
                tables.buffer(),
            )?;
            for out in outs {
                decoding.extend(out.decoding);
            }
            tables.flush_full(ch)?;
        }
        tables.finish(ch)?;
        ch.send(MessageType::GC_OUTPUT_DECODING, &pack_bits(&decoding))?;
        let mut payload = Vec::with_capacity(16 * k * l);
        for (z, &v) in r_zero.chunks_exact(l).zip(r) {
            let active: Vec<Block> = z
                .iter()
                .zip(to_bits(v, l))
                .map(|(&z, bit)| self.garbler.encode(z, bit))
                .collect();
            blocks_to_bytes(&active, &mut payload);
        }
        ch.send(MessageType::GC_GARBLER_LABELS, &payload)?;
        Ok(b_zero)
    }

    /// Offline phase for ReLUs whose server-side output shares will be `r`.
    pub fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        r: &[u64],
    ) -> Result<ServerPrepared, TwoPcError> {
        check_shares(&self.cfg.field, r, "r")?;
        let mut b_zero = Vec::with_capacity(r.len() * self.cfg.bits());
        for chunk in r.chunks(self.cfg.chunk_relus) {
            b_zero.extend(self.chunk(ch, chunk, None)?);
        }
        Ok(ServerPrepared { b_zero, n: r.len() })
    }

    /// Online phase: send the labels of the server's shares `b`.
    pub fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ServerPrepared,
        b: &[u64],
    ) -> Result<(), TwoPcError> {
        check_shares(&self.cfg.field, b, "b")?;
        if b.len() != prepared.n {
            return Err(TwoPcError::Config(format!(
                "{} server shares for {} prepared ReLUs",
                b.len(),
                prepared.n
            )));
        }
        let l = self.cfg.bits();
        for (zeros, vals) in prepared
            .b_zero
            .chunks(self.cfg.chunk_relus * l)
            .zip(b.chunks(self.cfg.chunk_relus))
        {
            let mut payload = Vec::with_capacity(16 * zeros.len());
            for (z, &v) in zeros.chunks_exact(l).zip(vals) {
                for (&z, bit) in z.iter().zip(to_bits(v, l)) {
                    payload.extend_from_slice(&self.garbler.encode(z, bit).to_bytes());
                }
            }
            ch.send(MessageType::GC_GARBLER_LABELS, &payload)?;
        }
        Ok(())
    }

    /// Offline and online in one streamed pass (the client never stores all circuits).
    pub fn streamed<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        b: &[u64],
        r: &[u64],
    ) -> Result<(), TwoPcError> {
        check_shares(&self.cfg.field, b, "b")?;
        check_shares(&self.cfg.field, r, "r")?;
        if b.len() != r.len() {
            return Err(TwoPcError::Config("as many shares as masks".into()));
        }
        for (bc, rc) in b
            .chunks(self.cfg.chunk_relus)
            .zip(r.chunks(self.cfg.chunk_relus))
        {
            self.chunk(ch, rc, Some(bc))?;
        }
        Ok(())
    }
}

/// The active input labels and decoding bits of a lockstep batch, `ℓ` per ReLU each.
struct BatchInputs<'a> {
    a_labels: &'a [Block],
    b_labels: &'a [Block],
    r_labels: &'a [Block],
    decoding: &'a [bool],
}

/// What the client receives for one chunk before the server's share labels.
struct ClientChunk {
    a_labels: Vec<Block>,
    r_labels: Vec<Block>,
    decoding: Vec<bool>,
}

impl ReluClient {
    /// Session setup: the 128 base OTs (once per session).
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        cfg: ReluConfig,
        mut rng: Csprng,
    ) -> Result<Self, TwoPcError> {
        let ot = OtReceiver::setup(ch, &mut rng)?;
        Ok(Self {
            circuit: relu_circuit(&cfg.field, cfg.frac_bits)?,
            cfg,
            evaluator: Evaluator::new(),
            ot,
        })
    }

    fn header<S: Read + Write>(&mut self, ch: &mut Channel<S>, k: usize) -> Result<(), TwoPcError> {
        let h = ch.recv_exact(MessageType::GC_BATCH_HEADER, 24)?;
        let mut r = PayloadReader::new(&h);
        let (pk, pl, pf) = (r.u64()?, r.u64()?, r.u64()?);
        let want = (k as u64, self.cfg.bits() as u64, self.cfg.frac_bits as u64);
        if (pk, pl, pf) != want {
            return Err(TwoPcError::Protocol(format!(
                "ReLU chunk header (count, bits, frac) = {:?}, expected {want:?}",
                (pk, pl, pf)
            )));
        }
        Ok(())
    }

    fn labels<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        k: usize,
    ) -> Result<Vec<Block>, TwoPcError> {
        let l = self.cfg.bits();
        blocks_from_bytes(&ch.recv_exact(MessageType::GC_GARBLER_LABELS, 16 * k * l)?)
    }

    /// Receive a chunk's OT, tables (handed to `on_tables` per lockstep batch) and decoding
    /// bits and `r` labels; with `streamed`, the `b` labels come first.
    fn chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
        streamed: bool,
        mut on_tables: impl FnMut(Vec<Block>),
    ) -> Result<(ClientChunk, Option<Vec<Block>>), TwoPcError> {
        let l = self.cfg.bits();
        let k = a.len();
        self.header(ch, k)?;
        let choices: Vec<bool> = a.iter().flat_map(|&v| to_bits(v, l)).collect();
        let a_labels = self.ot.receive_correlated(ch, &choices)?;
        let b_labels = if streamed {
            Some(self.labels(ch, k)?)
        } else {
            None
        };
        let per = 2 * self.circuit.and_gates();
        let mut tables = TableReceiver::new();
        for start in (0..k).step_by(LOCKSTEP) {
            let kb = LOCKSTEP.min(k - start);
            on_tables(tables.take(ch, per * kb)?);
        }
        tables.finish()?;
        let dec = ch.recv_exact(MessageType::GC_OUTPUT_DECODING, (k * l).div_ceil(8))?;
        let decoding = unpack_bits(&dec, k * l);
        let r_labels = self.labels(ch, k)?;
        Ok((
            ClientChunk {
                a_labels,
                r_labels,
                decoding,
            },
            b_labels,
        ))
    }

    /// Evaluate a lockstep batch of `k` ReLUs and decode their outputs into `out`.
    fn evaluate_batch(
        &mut self,
        k: usize,
        inputs: BatchInputs<'_>,
        tables: &[Block],
        out: &mut Vec<u64>,
    ) -> Result<(), TwoPcError> {
        let BatchInputs {
            a_labels,
            b_labels,
            r_labels,
            decoding,
        } = inputs;
        let l = self.cfg.bits();
        let mut g = Vec::with_capacity(2 * k * l);
        for i in 0..k {
            g.extend_from_slice(&b_labels[i * l..(i + 1) * l]);
            g.extend_from_slice(&r_labels[i * l..(i + 1) * l]);
        }
        let labels = self
            .evaluator
            .evaluate_batch(&self.circuit, k, &g, a_labels, tables)?;
        for (i, lab) in labels.iter().enumerate() {
            let v = from_bits(&super::halfgates::decode(
                lab,
                &decoding[i * l..(i + 1) * l],
            ));
            if v >= self.cfg.field.modulus() {
                return Err(TwoPcError::Protocol(format!(
                    "garbled ReLU decoded to {v}, not below p"
                )));
            }
            out.push(v);
        }
        Ok(())
    }

    /// Offline phase with the client's shares `a` (known offline in DELPHI).
    pub fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<ClientPrepared, TwoPcError> {
        check_shares(&self.cfg.field, a, "a")?;
        let mut p = ClientPrepared {
            a_labels: Vec::new(),
            r_labels: Vec::new(),
            decoding: Vec::new(),
            tables: Vec::with_capacity(a.len() * 2 * self.circuit.and_gates()),
            n: a.len(),
        };
        for chunk in a.chunks(self.cfg.chunk_relus) {
            let mut tables = std::mem::take(&mut p.tables);
            let (c, _) = self.chunk(ch, chunk, false, |t| tables.extend(t))?;
            p.tables = tables;
            p.a_labels.extend(c.a_labels);
            p.r_labels.extend(c.r_labels);
            p.decoding.extend(c.decoding);
        }
        Ok(p)
    }

    /// Online phase: receive the server's share labels, evaluate, return `y − r mod p`.
    pub fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ClientPrepared,
    ) -> Result<Vec<u64>, TwoPcError> {
        let l = self.cfg.bits();
        let per = 2 * self.circuit.and_gates();
        let mut out = Vec::with_capacity(prepared.n);
        let mut start = 0;
        while start < prepared.n {
            let k = self.cfg.chunk_relus.min(prepared.n - start);
            let b_labels = self.labels(ch, k)?;
            for sub in (0..k).step_by(LOCKSTEP) {
                let kb = LOCKSTEP.min(k - sub);
                let j = start + sub;
                self.evaluate_batch(
                    kb,
                    BatchInputs {
                        a_labels: &prepared.a_labels[j * l..(j + kb) * l],
                        b_labels: &b_labels[sub * l..(sub + kb) * l],
                        r_labels: &prepared.r_labels[j * l..(j + kb) * l],
                        decoding: &prepared.decoding[j * l..(j + kb) * l],
                    },
                    &prepared.tables[j * per..(j + kb) * per],
                    &mut out,
                )?;
            }
            start += k;
        }
        Ok(out)
    }

    /// Offline and online in one streamed pass: each chunk's circuits are evaluated and
    /// dropped before the next chunk arrives.
    pub fn streamed<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<Vec<u64>, TwoPcError> {
        check_shares(&self.cfg.field, a, "a")?;
        let l = self.cfg.bits();
        let mut out = Vec::with_capacity(a.len());
        for chunk in a.chunks(self.cfg.chunk_relus) {
            let mut tables = Vec::new();
            let (c, b) = self.chunk(ch, chunk, true, |t| tables.push(t))?;
            let b = b.unwrap_or_default();
            for (s, t) in tables.iter().enumerate() {
                let sub = s * LOCKSTEP;
                let kb = LOCKSTEP.min(chunk.len() - sub);
                self.evaluate_batch(
                    kb,
                    BatchInputs {
                        a_labels: &c.a_labels[sub * l..(sub + kb) * l],
                        b_labels: &b[sub * l..(sub + kb) * l],
                        r_labels: &c.r_labels[sub * l..(sub + kb) * l],
                        decoding: &c.decoding[sub * l..(sub + kb) * l],
                    },
                    t,
                    &mut out,
                )?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::os_rng;
    use crate::channel::{loopback_pair, ChannelConfig, Phase};
    use crate::share::DEFAULT_SHARE_PRIME;
    use std::time::Duration;

    fn cfg(frac: u32, chunk: usize) -> ReluConfig {
        ReluConfig::new(ShareField::new(DEFAULT_SHARE_PRIME).unwrap(), frac, chunk).unwrap()
    }

    fn chan_cfg() -> ChannelConfig {
        ChannelConfig {
            max_message_len: 64 << 20,
            deadline: Some(Duration::from_secs(20)),
        }
    }

    /// Shares `(a, b)` of pre-activations: random ones plus the boundaries around 0 and p/2.
    fn shares(field: &ShareField, n: usize) -> (Vec<u64>, Vec<u64>) {
        let p = field.modulus();
        let h = p / 2;
        let mut rng = os_rng();
        let mut xs = vec![0, 1, p - 1, h - 1, h, h + 1, h + 2, 1 << 39, p - (1 << 39)];
        while xs.len() < n {
            xs.push(Block::random(&mut rng).0 as u64 % p);
        }
        let b: Vec<u64> = (0..n)
            .map(|_| Block::random(&mut rng).0 as u64 % p)
            .collect();
        let a = xs.iter().zip(&b).map(|(&x, &b)| field.sub(x, b)).collect();
        (a, b)
    }

    fn expect(field: &ShareField, a: &[u64], b: &[u64], frac: u32) -> Vec<u64> {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| {
                let x = field.to_signed(field.add(a, b));
                if x > 0 {
                    (x as u64) >> frac
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn offline_online_relu_gives_shares_of_relu() {
        let c = cfg(8, 128);
        let field = c.field;
        let n = 300;
        let (a, b) = shares(&field, n);
        let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
        let b2 = b.clone();
        let server = std::thread::spawn(move || {
            let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
            let r = s.fresh_masks(n);
            let prep = s.offline(&mut cs, &r)?;
            cs.set_phase(Phase::Online);
            s.online(&mut cs, prep, &b2)?;
            Ok::<_, TwoPcError>((r, cs.counters()))
        });
        let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
        let prep = client.offline(&mut cc, &a).unwrap();
        assert_eq!(prep.table_bytes(), n * 32 * (284 - 8));
        cc.set_phase(Phase::Online);
        let y_minus_r = client.online(&mut cc, prep).unwrap();
        let (r, sc) = server.join().unwrap().unwrap();
        let want = expect(&field, &a, &b, 8);
        for i in 0..n {
            assert_eq!(field.add(y_minus_r[i], r[i]), want[i], "ReLU {i}");
        }
        // Online, the server sends exactly its share labels (plus frame headers).
        let l = field.bits() as u64;
        assert_eq!(sc.sent(Phase::Online), 16 * l * n as u64 + 8 * 3);
        assert_eq!(sc.received(Phase::Online), 0);
    }

    #[test]
    fn streamed_relu_gives_shares_of_relu() {
        let c = cfg(0, 64);
        let field = c.field;
        let n = 200;
        let (a, b) = shares(&field, n);
        let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
        let b2 = b.clone();
        let server = std::thread::spawn(move || {
            let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
            let r = s.fresh_masks(n);
            s.streamed(&mut cs, &b2, &r)?;
            Ok::<_, TwoPcError>(r)
        });
        let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
        let y_minus_r = client.streamed(&mut cc, &a).unwrap();
        let r = server.join().unwrap().unwrap();
        let want = expect(&field, &a, &b, 0);
        for i in 0..n {
            assert_eq!(field.add(y_minus_r[i], r[i]), want[i], "ReLU {i}");
        }
    }

    #[test]
    fn malformed_or_truncated_tables_end_the_session() {
        for case in ["ragged", "truncated", "surplus"] {
            let c = cfg(0, 8);
            let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
            let server = std::thread::spawn(move || {
                let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
                // A faulty garbler: the right header and OT, then bad tables.
                let l = c.field.bits() as usize;
                let mut header = Vec::new();
                for v in [2u64, l as u64, 0] {
                    header.extend_from_slice(&v.to_le_bytes());
                }
                cs.send(MessageType::GC_BATCH_HEADER, &header)?;
                let delta = s.garbler.delta();
                s.ot.send_correlated(&mut cs, delta, 2 * l)?;
                let per = 2 * s.circuit.and_gates();
                match case {
                    "ragged" => cs.send(MessageType::GC_TABLES, &[0u8; 17])?,
                    "truncated" => cs.send(MessageType::GC_TABLES, &vec![0u8; 16 * per])?,
                    _ => cs.send(MessageType::GC_TABLES, &vec![0u8; 16 * (2 * per + 1)])?,
                }
                Ok::<_, TwoPcError>(())
            });
            let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
            let e = client.offline(&mut cc, &[5, 6]).unwrap_err();
            assert!(matches!(e, TwoPcError::Protocol(_)), "{case}: {e}");
            server.join().unwrap().unwrap();
        }
    }

    #[test]
    fn mismatched_parameters_and_unreduced_shares_are_rejected() {
        let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
        let server = std::thread::spawn(move || {
            let mut s = ReluServer::setup(&mut cs, cfg(0, 16), os_rng())?;
            let r = s.fresh_masks(4);
            s.offline(&mut cs, &r).map(|_| ())
        });
        let mut client = ReluClient::setup(&mut cc, cfg(3, 16), os_rng()).unwrap();
        let e = client.offline(&mut cc, &[1, 2, 3, 4]).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("header")),
            "{e}"
        );
        drop(cc);
        assert!(server.join().unwrap().is_err());
        let (_cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
        let c = cfg(0, 16);
        let mut fake = ReluClient {
            circuit: relu_circuit(&c.field, 0).unwrap(),
            cfg: c,
            evaluator: Evaluator::new(),
            ot: {
                // A receiver that never ran setup is fine: the share check comes first.
                let (mut a, mut b) = loopback_pair(chan_cfg()).unwrap();
                let t =
                    std::thread::spawn(move || OtSender::setup(&mut a, &mut os_rng()).map(|_| ()));
                let r = OtReceiver::setup(&mut b, &mut os_rng()).unwrap();
                t.join().unwrap().unwrap();
                r
            },
        };
        assert!(matches!(
            fake.offline(&mut cc, &[DEFAULT_SHARE_PRIME]),
            Err(TwoPcError::Config(_))
        ));
        assert!(ReluConfig::new(c.field, 0, 0).is_err());
    }
}
