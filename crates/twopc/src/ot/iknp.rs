//! The IKNP OT extension (Ishai, Kilian, Nissim, Petrank, CRYPTO 2003) with the
//! correlation-robust hash of [`crate::block::tccr_many`] (tweaked by the OT index,
//! [`crate::block::tccr_indexed`]), semi-honest.
//!
//! Roles are reversed in the base OTs: the extension *receiver* is the base-OT sender with
//! seed pairs `(k_{j,0}, k_{j,1})`, `j < 128`; the extension *sender* picks `s ∈ {0,1}^128` and
//! learns `k_{j,s_j}`. To extend to `m` OTs (`m` padded to a multiple of 128) with choices `r`:
//!
//! 1. receiver: `t_j = G(k_{j,0})`, `u_j = t_j ⊕ G(k_{j,1}) ⊕ r` for every column `j` (`G` the
//!    AES-CTR [`Prg`], continuing its stream across batches), sends `u_0..u_127`
//!    ([`MessageType::OT_EXT_COLUMNS`]: `u64` padded count `m`, then the 128 columns of `m/8`
//!    bytes);
//! 2. sender: `q_j = G(k_{j,s_j}) ⊕ s_j·u_j`; transposed, row `i` is `q_i = t_i ⊕ r_i·s`;
//! 3. with `H(x) = tccr(x, index)` (a global OT index as tweak):
//!    * random OT: the sender outputs `(H(q_i), H(q_i ⊕ s))`, the receiver `H(t_i)`;
//!    * chosen-message OT of `(m_{i,0}, m_{i,1})`: the sender sends
//!      `m_{i,0} ⊕ H(q_i), m_{i,1} ⊕ H(q_i ⊕ s)` ([`MessageType::OT_CHOSEN_CIPHERTEXTS`],
//!      32 bytes per OT), the receiver unmasks the one it chose with `H(t_i)`;
//!    * correlated OT with the sender's `Δ` (free-XOR garbled-circuit input labels): the sender
//!      outputs `x_i = H(q_i)` and sends `d_i = H(q_i) ⊕ H(q_i ⊕ s) ⊕ Δ`
//!      ([`MessageType::OT_CORRELATION`], 16 bytes per OT); the receiver outputs
//!      `H(t_i) ⊕ r_i·d_i = x_i ⊕ r_i·Δ`.
//!
//! The receiver only ever sends the `u_j`, which are one-time-padded by the pseudorandom
//! `G(k_{j,1})` unknown to the sender: the choice bits never travel in the clear. The sender's
//! other message is masked by `H(t_i ⊕ s)`, and `s` is unknown to the receiver.

use std::io::{Read, Write};

use zeroize::Zeroize;

use super::base::{base_ot_receive, base_ot_send};
use super::transpose::columns_to_rows;
use crate::block::{blocks_from_bytes, blocks_to_bytes, tccr_indexed, Block, Csprng, Prg};
use crate::channel::{Channel, MessageType, PayloadReader};
use crate::error::TwoPcError;

/// Base OTs per session (the computational security parameter κ).
pub const BASE_OTS: usize = 128;

/// OTs extended per message: 1 MiB of columns, so a party's matrix stays in cache, and a
/// receiver of random OTs generates the next message while the sender processes this one (the
/// two parties work in parallel instead of in turn).
pub const EXTENSION_CHUNK: usize = 1 << 16;

fn padded(m: usize) -> usize {
    m.div_ceil(128) * 128
}

/// The extension sender (in DELPHI's ReLU protocol: the garbler, handing out input labels).
pub struct OtSender {
    s: Block,
    prgs: Vec<Prg>,
    index: u64,
}

impl std::fmt::Debug for OtSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtSender")
            .field("index", &self.index)
            .finish()
    }
}

impl Drop for OtSender {
    fn drop(&mut self) {
        self.s.zeroize();
    }
}

/// The extension receiver (in DELPHI's ReLU protocol: the evaluator, choosing by its input).
pub struct OtReceiver {
    prgs: Vec<(Prg, Prg)>,
    index: u64,
}

impl std::fmt::Debug for OtReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtReceiver")
            .field("index", &self.index)
            .finish()
    }
}

impl OtSender {
    /// Run the 128 base OTs (as base-OT receiver with random choices `s`).
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        rng: &mut Csprng,
    ) -> Result<Self, TwoPcError> {
        let s = Block::random(rng);
        let choices: Vec<bool> = (0..BASE_OTS).map(|j| (s.0 >> j) & 1 == 1).collect();
        let mut keys = base_ot_receive(ch, &choices, rng)?;
        let prgs = keys.iter().map(|&k| Prg::new(k)).collect();
        keys.zeroize();
        Ok(Self { s, prgs, index: 0 })
    }

    /// OTs extended so far.
    pub fn ots_done(&self) -> u64 {
        self.index
    }

    /// Rows `q_i` of one extension of `m ≤ EXTENSION_CHUNK` OTs, and the index of the first.
    fn extend<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        m: usize,
    ) -> Result<(Vec<Block>, u64), TwoPcError> {
        let mp = padded(m);
        let nb = mp / 128;
        let payload = ch.recv_exact(MessageType::OT_EXT_COLUMNS, 8 + BASE_OTS * 16 * nb)?;
        let mut r = PayloadReader::new(&payload);
        let announced = r.u64()?;
        if announced != mp as u64 {
            return Err(TwoPcError::Protocol(format!(
                "OT extension: peer extends {announced} OTs, expected {mp}"
            )));
        }
        // Column j (one PRG stream per base OT) at q[j·nb..(j+1)·nb].
        let mut q = vec![Block::ZERO; BASE_OTS * nb];
        for (j, (prg, qj)) in self.prgs.iter_mut().zip(q.chunks_exact_mut(nb)).enumerate() {
            prg.fill_blocks(qj);
            let u = r.take(16 * nb)?;
            if (self.s.0 >> j) & 1 == 1 {
                for (a, c) in qj.iter_mut().zip(u.chunks_exact(16)) {
                    *a ^= Block::from_slice(c);
                }
            }
        }
        r.finish()?;
        let mut rows = columns_to_rows(&q, nb);
        q.zeroize();
        rows.truncate(m);
        let first = self.index;
        self.index += mp as u64;
        Ok((rows, first))
    }

    /// One extension of `n ≤ EXTENSION_CHUNK` OTs hashed into the random pairs
    /// `(H(q_i), H(q_i ⊕ s))`.
    fn hashed_pairs<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        n: usize,
    ) -> Result<(Vec<Block>, Vec<Block>), TwoPcError> {
        let (mut x0, first) = self.extend(ch, n)?;
        let mut x1: Vec<Block> = x0.iter().map(|&q| q ^ self.s).collect();
        tccr_indexed(&mut x0, first as u128);
        tccr_indexed(&mut x1, first as u128);
        Ok((x0, x1))
    }

    /// `m` random OTs: the message pairs `(x_{i,0}, x_{i,1})`.
    pub fn send_random<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        m: usize,
    ) -> Result<Vec<(Block, Block)>, TwoPcError> {
        let mut out = Vec::with_capacity(m);
        let mut left = m;
        while left > 0 {
            let n = left.min(EXTENSION_CHUNK);
            let (x0, x1) = self.hashed_pairs(ch, n)?;
            out.extend(x0.into_iter().zip(x1));
            left -= n;
        }
        Ok(out)
    }

    /// Chosen-message OT: the receiver learns `messages[i].c_i` and nothing of the other.
    pub fn send_chosen<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        messages: &[(Block, Block)],
    ) -> Result<(), TwoPcError> {
        for chunk in messages.chunks(EXTENSION_CHUNK) {
            let (x0, x1) = self.hashed_pairs(ch, chunk.len())?;
            let mut payload = Vec::with_capacity(32 * chunk.len());
            for ((&(m0, m1), &h0), &h1) in chunk.iter().zip(&x0).zip(&x1) {
                payload.extend_from_slice(&(m0 ^ h0).to_bytes());
                payload.extend_from_slice(&(m1 ^ h1).to_bytes());
            }
            ch.send(MessageType::OT_CHOSEN_CIPHERTEXTS, &payload)?;
        }
        Ok(())
    }

    /// `m` correlated OTs with offset `delta`: returns `x_i`; the receiver gets `x_i ⊕ c_i·Δ`.
    pub fn send_correlated<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        delta: Block,
        m: usize,
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = Vec::with_capacity(m);
        let mut left = m;
        while left > 0 {
            let n = left.min(EXTENSION_CHUNK);
            let (x0, x1) = self.hashed_pairs(ch, n)?;
            let d: Vec<Block> = x0.iter().zip(&x1).map(|(&a, &b)| a ^ b ^ delta).collect();
            let mut payload = Vec::with_capacity(16 * n);
            blocks_to_bytes(&d, &mut payload);
            ch.send(MessageType::OT_CORRELATION, &payload)?;
            out.extend(x0);
            left -= n;
        }
        Ok(out)
    }
}

impl OtReceiver {
    /// Run the 128 base OTs (as base-OT sender).
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        rng: &mut Csprng,
    ) -> Result<Self, TwoPcError> {
        let mut keys = base_ot_send(ch, BASE_OTS, rng)?;
        let prgs = keys
            .iter()
            .map(|&(k0, k1)| (Prg::new(k0), Prg::new(k1)))
            .collect();
        keys.zeroize();
        Ok(Self { prgs, index: 0 })
    }

    /// OTs extended so far.
    pub fn ots_done(&self) -> u64 {
        self.index
    }

    /// Rows `t_i` of one extension with these choices, and the index of the first.
    fn extend<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        choices: &[bool],
    ) -> Result<(Vec<Block>, u64), TwoPcError> {
        let m = choices.len();
        let mp = padded(m);
        let nb = mp / 128;
        // The choice column, bit i of the column at bit i % 128 of block i / 128.
        let mut r = vec![Block::ZERO; nb];
        for (rb, cs) in r.iter_mut().zip(choices.chunks(128)) {
            for (i, &c) in cs.iter().enumerate() {
                rb.0 |= (c as u128) << i;
            }
        }
        let mut payload = Vec::with_capacity(8 + BASE_OTS * 16 * nb);
        payload.extend_from_slice(&(mp as u64).to_le_bytes());
        // Column j at t[j·nb..(j+1)·nb]; u_j = t_j ⊕ G(k_{j,1}) ⊕ r on the wire.
        let mut t = vec![Block::ZERO; BASE_OTS * nb];
        let mut g = vec![Block::ZERO; nb];
        for ((p0, p1), tj) in self.prgs.iter_mut().zip(t.chunks_exact_mut(nb)) {
            p0.fill_blocks(tj);
            p1.fill_blocks(&mut g);
            for ((&a, &b), &c) in tj.iter().zip(&g).zip(&r) {
                payload.extend_from_slice(&(a ^ b ^ c).to_bytes());
            }
        }
        ch.send(MessageType::OT_EXT_COLUMNS, &payload)?;
        let mut rows = columns_to_rows(&t, nb);
        t.zeroize();
        r.zeroize();
        g.zeroize();
        rows.truncate(m);
        let first = self.index;
        self.index += mp as u64;
        Ok((rows, first))
    }

    /// Random OTs with these choices: returns `x_{i,c_i}`.
    pub fn receive_random<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        choices: &[bool],
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = Vec::with_capacity(choices.len());
        for chunk in choices.chunks(EXTENSION_CHUNK) {
            let (mut t, first) = self.extend(ch, chunk)?;
            tccr_indexed(&mut t, first as u128);
            out.extend(t);
        }
        Ok(out)
    }

    /// Chosen-message OT: returns `m_{i,c_i}`.
    pub fn receive_chosen<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        choices: &[bool],
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = Vec::with_capacity(choices.len());
        for chunk in choices.chunks(EXTENSION_CHUNK) {
            let (mut t, first) = self.extend(ch, chunk)?;
            tccr_indexed(&mut t, first as u128);
            let payload = ch.recv_exact(MessageType::OT_CHOSEN_CIPHERTEXTS, 32 * chunk.len())?;
            let y = blocks_from_bytes(&payload)?;
            for (i, (&c, h)) in chunk.iter().zip(t).enumerate() {
                out.push(y[2 * i + c as usize] ^ h);
            }
        }
        Ok(out)
    }

    /// Correlated OT: returns `x_i ⊕ c_i·Δ` for the sender's `x_i` and `Δ`.
    pub fn receive_correlated<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        choices: &[bool],
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = Vec::with_capacity(choices.len());
        for chunk in choices.chunks(EXTENSION_CHUNK) {
            let (mut t, first) = self.extend(ch, chunk)?;
            tccr_indexed(&mut t, first as u128);
            let payload = ch.recv_exact(MessageType::OT_CORRELATION, 16 * chunk.len())?;
            let d = blocks_from_bytes(&payload)?;
            out.extend(
                chunk
                    .iter()
                    .zip(t)
                    .zip(d)
                    .map(|((&c, h), d)| h ^ d.and_bit(c)),
            );
        }
        Ok(out)
    }
}
