//! Half-gates garbling (Zahur, Rosulek, Evans, EUROCRYPT 2015, figure 2) with free-XOR
//! (Kolesnikov–Schneider 2008) and point-and-permute, hashing with the fixed-key AES TCCR hash
//! [`crate::block::tccr_with_scratch`] (GKWY20), batched across the instances of a lockstep
//! batch ([`Garbler::garble_batch`]) so AES-NI pipelines.
//!
//! The garbler holds a global offset `Δ` with `lsb(Δ) = 1`; wire `w` has labels `W⁰_w` (false)
//! and `W¹_w = W⁰_w ⊕ Δ` (true), and the permute bit `p_w = lsb(W⁰_w)`.
//!
//! * XOR: `W⁰_c = W⁰_a ⊕ W⁰_b`; NOT: `W⁰_c = W⁰_a ⊕ Δ`; the evaluator XORs / copies labels.
//! * AND number `j` (a counter over every circuit garbled in the session, so hash tweaks
//!   `2j`, `2j + 1` never repeat): the garbler sends `T_G = H(W⁰_a, 2j) ⊕ H(W¹_a, 2j) ⊕ p_b·Δ`
//!   and `T_E = H(W⁰_b, 2j+1) ⊕ H(W¹_b, 2j+1) ⊕ W⁰_a`, and sets
//!   `W⁰_c = H(W⁰_a, 2j) ⊕ p_a·T_G ⊕ H(W⁰_b, 2j+1) ⊕ p_b·(T_E ⊕ W⁰_a)`;
//!   the evaluator with labels `W_a, W_b` computes
//!   `W_c = H(W_a, 2j) ⊕ lsb(W_a)·T_G ⊕ H(W_b, 2j+1) ⊕ lsb(W_b)·(T_E ⊕ W_a)`.
//! * Outputs: the decoding bit of an output wire is `p_w`; the evaluator's bit is
//!   `lsb(W_w) ⊕ p_w`. A constant output has the public label zero and decoding bit = value.
//!
//! Each AND costs 32 bytes of table, 4 hashes (8 AES) for the garbler and 2 (4 AES) for the
//! evaluator.

use zeroize::Zeroize;

use super::circuit::{Bit, Circuit, Gate};
use crate::block::{tccr_with_scratch, Block, Csprng};
use crate::error::TwoPcError;

/// The garbler's session state: `Δ`, the AND counter and its label randomness.
pub struct Garbler {
    delta: Block,
    and_index: u64,
    rng: Csprng,
}

impl std::fmt::Debug for Garbler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garbler")
            .field("and_index", &self.and_index)
            .finish()
    }
}

impl Drop for Garbler {
    fn drop(&mut self) {
        self.delta.zeroize();
    }
}

/// What the garbler keeps of a garbled circuit: the zero labels of its outputs and their
/// decoding bits.
#[derive(Clone, Debug)]
pub struct GarbledOutputs {
    /// `W⁰` of every output (zero for constant outputs).
    pub zero_labels: Vec<Block>,
    /// Decoding bits `p_w` (the value, for constant outputs).
    pub decoding: Vec<bool>,
}

impl Garbler {
    /// A garbler with a fresh `Δ` (least significant bit set) from `rng`.
    pub fn new(mut rng: Csprng) -> Self {
        let delta = Block(Block::random(&mut rng).0 | 1);
        Self {
            delta,
            and_index: 0,
            rng,
        }
    }

    /// The global offset `Δ` (for correlated OT of the evaluator's input labels).
    pub fn delta(&self) -> Block {
        self.delta
    }

    /// AND gates garbled so far.
    pub fn and_gates_done(&self) -> u64 {
        self.and_index
    }

    /// Fresh random zero labels.
    pub fn fresh_labels(&mut self, n: usize) -> Vec<Block> {
        (0..n).map(|_| Block::random(&mut self.rng)).collect()
    }

    /// The label encoding `bit` on a wire with zero label `zero`.
    pub fn encode(&self, zero: Block, bit: bool) -> Block {
        zero ^ self.delta.and_bit(bit)
    }

    /// Garble `circuit` with the given zero labels of the garbler's and the evaluator's inputs
    /// (in input order); appends `2 · and_gates` table blocks to `tables`.
    pub fn garble(
        &mut self,
        circuit: &Circuit,
        garbler_zero: &[Block],
        evaluator_zero: &[Block],
        tables: &mut Vec<Block>,
    ) -> Result<GarbledOutputs, TwoPcError> {
        let mut out = self.garble_batch(circuit, 1, garbler_zero, evaluator_zero, tables)?;
        Ok(out.pop().unwrap_or(GarbledOutputs {
            zero_labels: Vec::new(),
            decoding: Vec::new(),
        }))
    }

    /// Garble `k` instances of `circuit` in lockstep, gate by gate across the instances, so
    /// the AES hashes of one AND gate in all `k` instances run as one pipelined batch.
    /// Input zero labels are instance-major (`k × inputs`); the `2 · and_gates · k` table
    /// blocks are appended gate-major (`T_G, T_E` of gate 0 in instances 0..k, then gate 1,
    /// ...); AND number `j` of instance `i` uses the counter value `base + j·k + i`.
    pub fn garble_batch(
        &mut self,
        circuit: &Circuit,
        k: usize,
        garbler_zero: &[Block],
        evaluator_zero: &[Block],
        tables: &mut Vec<Block>,
    ) -> Result<Vec<GarbledOutputs>, TwoPcError> {
        let (gn, en) = (circuit.garbler_inputs(), circuit.evaluator_inputs());
        if garbler_zero.len() != k * gn || evaluator_zero.len() != k * en {
            return Err(TwoPcError::Config(format!(
                "garble: {} + {} input labels for {k} circuits with {gn} + {en} inputs",
                garbler_zero.len(),
                evaluator_zero.len(),
            )));
        }
        let delta = self.delta;
        let (mut gi, mut ei) = (0usize, 0usize);
        let mut w: Vec<Block> = Vec::with_capacity(circuit.gates().len() * k);
        let mut h = Vec::with_capacity(4 * k);
        let mut tw = Vec::with_capacity(4 * k);
        let mut scratch = Vec::with_capacity(4 * k);
        tables.reserve(2 * circuit.and_gates() * k);
        for g in circuit.gates() {
            let base = w.len();
            match *g {
                Gate::GarblerInput => {
                    w.extend((0..k).map(|i| garbler_zero[i * gn + gi]));
                    gi += 1;
                }
                Gate::EvaluatorInput => {
                    w.extend((0..k).map(|i| evaluator_zero[i * en + ei]));
                    ei += 1;
                }
                Gate::Xor(a, b) => {
                    let (a, b) = (a as usize * k, b as usize * k);
                    for i in 0..k {
                        w.push(w[a + i] ^ w[b + i]);
                    }
                }
                Gate::Not(a) => {
                    let a = a as usize * k;
                    for i in 0..k {
                        w.push(w[a + i] ^ delta);
                    }
                }
                Gate::And(a, b) => {
                    let (a, b) = (a as usize * k, b as usize * k);
                    h.clear();
                    tw.clear();
                    for i in 0..k {
                        let (a0, b0) = (w[a + i], w[b + i]);
                        let j0 = Block(((self.and_index + i as u64) as u128) << 1);
                        let j1 = Block(j0.0 | 1);
                        h.extend([a0, a0 ^ delta, b0, b0 ^ delta]);
                        tw.extend([j0, j0, j1, j1]);
                    }
                    self.and_index += k as u64;
                    tccr_with_scratch(&mut h, &tw, &mut scratch);
                    for i in 0..k {
                        let (a0, b0) = (w[a + i], w[b + i]);
                        let (pa, pb) = (a0.lsb(), b0.lsb());
                        let (ha0, ha1, hb0, hb1) =
                            (h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]);
                        let tg = ha0 ^ ha1 ^ delta.and_bit(pb);
                        let wg0 = ha0 ^ tg.and_bit(pa);
                        let te = hb0 ^ hb1 ^ a0;
                        let we0 = hb0 ^ (te ^ a0).and_bit(pb);
                        tables.push(tg);
                        tables.push(te);
                        w.push(wg0 ^ we0);
                    }
                }
            }
            debug_assert_eq!(w.len(), base + k);
        }
        let outs = (0..k)
            .map(|i| {
                let mut out = GarbledOutputs {
                    zero_labels: Vec::with_capacity(circuit.outputs().len()),
                    decoding: Vec::with_capacity(circuit.outputs().len()),
                };
                for o in circuit.outputs() {
                    match *o {
                        Bit::Const(v) => {
                            out.zero_labels.push(Block::ZERO);
                            out.decoding.push(v);
                        }
                        Bit::Wire(x) => {
                            let z = w[x as usize * k + i];
                            out.zero_labels.push(z);
                            out.decoding.push(z.lsb());
                        }
                    }
                }
                out
            })
            .collect();
        w.zeroize();
        h.zeroize();
        Ok(outs)
    }
}

/// The evaluator's session state: the AND counter, in step with the garbler's.
#[derive(Debug, Default)]
pub struct Evaluator {
    and_index: u64,
}

impl Evaluator {
    /// A fresh evaluator.
    pub fn new() -> Self {
        Self::default()
    }

    /// AND gates evaluated so far.
    pub fn and_gates_done(&self) -> u64 {
        self.and_index
    }

    /// Evaluate `circuit` on the active input labels and its `2 · and_gates` table blocks;
    /// returns the active output labels (zero for constant outputs).
    pub fn evaluate(
        &mut self,
        circuit: &Circuit,
        garbler_labels: &[Block],
        evaluator_labels: &[Block],
        tables: &[Block],
    ) -> Result<Vec<Block>, TwoPcError> {
        let mut out = self.evaluate_batch(circuit, 1, garbler_labels, evaluator_labels, tables)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Evaluate `k` instances garbled by [`Garbler::garble_batch`] in lockstep (same layouts:
    /// instance-major labels, gate-major tables); returns each instance's output labels.
    pub fn evaluate_batch(
        &mut self,
        circuit: &Circuit,
        k: usize,
        garbler_labels: &[Block],
        evaluator_labels: &[Block],
        tables: &[Block],
    ) -> Result<Vec<Vec<Block>>, TwoPcError> {
        let (gn, en) = (circuit.garbler_inputs(), circuit.evaluator_inputs());
        if garbler_labels.len() != k * gn || evaluator_labels.len() != k * en {
            return Err(TwoPcError::Protocol(format!(
                "evaluate: {} + {} input labels for {k} circuits with {gn} + {en} inputs",
                garbler_labels.len(),
                evaluator_labels.len(),
            )));
        }
        if tables.len() != 2 * circuit.and_gates() * k {
            return Err(TwoPcError::Protocol(format!(
                "evaluate: {} table blocks for {k} circuits of {} AND gates",
                tables.len(),
                circuit.and_gates()
            )));
        }
        let (mut gi, mut ei, mut ti) = (0usize, 0usize, 0usize);
        let mut w: Vec<Block> = Vec::with_capacity(circuit.gates().len() * k);
        let mut h = Vec::with_capacity(2 * k);
        let mut tw = Vec::with_capacity(2 * k);
        let mut scratch = Vec::with_capacity(2 * k);
        for g in circuit.gates() {
            match *g {
                Gate::GarblerInput => {
                    w.extend((0..k).map(|i| garbler_labels[i * gn + gi]));
                    gi += 1;
                }
                Gate::EvaluatorInput => {
                    w.extend((0..k).map(|i| evaluator_labels[i * en + ei]));
                    ei += 1;
                }
                Gate::Xor(a, b) => {
                    let (a, b) = (a as usize * k, b as usize * k);
                    for i in 0..k {
                        w.push(w[a + i] ^ w[b + i]);
                    }
                }
                Gate::Not(a) => {
                    let a = a as usize * k;
                    for i in 0..k {
                        w.push(w[a + i]);
                    }
                }
                Gate::And(a, b) => {
                    let (a, b) = (a as usize * k, b as usize * k);
                    h.clear();
                    tw.clear();
                    for i in 0..k {
                        let j0 = Block(((self.and_index + i as u64) as u128) << 1);
                        h.extend([w[a + i], w[b + i]]);
                        tw.extend([j0, Block(j0.0 | 1)]);
                    }
                    self.and_index += k as u64;
                    tccr_with_scratch(&mut h, &tw, &mut scratch);
                    for i in 0..k {
                        let (wa, wb) = (w[a + i], w[b + i]);
                        let (tg, te) = (tables[ti], tables[ti + 1]);
                        ti += 2;
                        let wg = h[2 * i] ^ tg.and_bit(wa.lsb());
                        let we = h[2 * i + 1] ^ (te ^ wa).and_bit(wb.lsb());
                        w.push(wg ^ we);
                    }
                }
            }
        }
        Ok((0..k)
            .map(|i| {
                circuit
                    .outputs()
                    .iter()
                    .map(|o| match *o {
                        Bit::Const(_) => Block::ZERO,
                        Bit::Wire(x) => w[x as usize * k + i],
                    })
                    .collect()
            })
            .collect())
    }
}

/// Decode active output labels with the garbler's decoding bits: `lsb(W) ⊕ d`.
pub fn decode(labels: &[Block], decoding: &[bool]) -> Vec<bool> {
    labels
        .iter()
        .zip(decoding)
        .map(|(l, &d)| l.lsb() ^ d)
        .collect()
}
