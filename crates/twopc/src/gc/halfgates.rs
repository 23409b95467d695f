//! Half-gates garbling (Zahur, Rosulek, Evans, EUROCRYPT 2015, figure 2) with free-XOR
//! (Kolesnikov–Schneider 2008) and point-and-permute, hashing with the fixed-key AES TCCR hash
//! [`crate::block::tccr_array`] (GKWY20).
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
use crate::block::{tccr_array, Block, Csprng};
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
        if garbler_zero.len() != circuit.garbler_inputs()
            || evaluator_zero.len() != circuit.evaluator_inputs()
        {
            return Err(TwoPcError::Config(format!(
                "garble: {} + {} input labels for a circuit with {} + {} inputs",
                garbler_zero.len(),
                evaluator_zero.len(),
                circuit.garbler_inputs(),
                circuit.evaluator_inputs()
            )));
        }
        let delta = self.delta;
        let (mut gi, mut ei) = (garbler_zero.iter(), evaluator_zero.iter());
        let mut w: Vec<Block> = Vec::with_capacity(circuit.gates().len());
        tables.reserve(2 * circuit.and_gates());
        for g in circuit.gates() {
            let label = match *g {
                // The lengths were checked above, so the iterators cannot run dry.
                Gate::GarblerInput => gi.next().copied().unwrap_or_default(),
                Gate::EvaluatorInput => ei.next().copied().unwrap_or_default(),
                Gate::Xor(a, b) => w[a as usize] ^ w[b as usize],
                Gate::Not(a) => w[a as usize] ^ delta,
                Gate::And(a, b) => {
                    let (a0, b0) = (w[a as usize], w[b as usize]);
                    let (pa, pb) = (a0.lsb(), b0.lsb());
                    let j0 = Block((self.and_index as u128) << 1);
                    let j1 = Block(j0.0 | 1);
                    self.and_index += 1;
                    let [ha0, ha1, hb0, hb1] =
                        tccr_array([a0, a0 ^ delta, b0, b0 ^ delta], [j0, j0, j1, j1]);
                    let tg = ha0 ^ ha1 ^ delta.and_bit(pb);
                    let wg0 = ha0 ^ tg.and_bit(pa);
                    let te = hb0 ^ hb1 ^ a0;
                    let we0 = hb0 ^ (te ^ a0).and_bit(pb);
                    tables.push(tg);
                    tables.push(te);
                    wg0 ^ we0
                }
            };
            w.push(label);
        }
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
                Bit::Wire(i) => {
                    out.zero_labels.push(w[i as usize]);
                    out.decoding.push(w[i as usize].lsb());
                }
            }
        }
        w.zeroize();
        Ok(out)
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
        if garbler_labels.len() != circuit.garbler_inputs()
            || evaluator_labels.len() != circuit.evaluator_inputs()
        {
            return Err(TwoPcError::Protocol(format!(
                "evaluate: {} + {} input labels for a circuit with {} + {} inputs",
                garbler_labels.len(),
                evaluator_labels.len(),
                circuit.garbler_inputs(),
                circuit.evaluator_inputs()
            )));
        }
        if tables.len() != 2 * circuit.and_gates() {
            return Err(TwoPcError::Protocol(format!(
                "evaluate: {} table blocks for {} AND gates",
                tables.len(),
                circuit.and_gates()
            )));
        }
        let (mut gi, mut ei) = (garbler_labels.iter(), evaluator_labels.iter());
        let mut t = tables.chunks_exact(2);
        let mut w: Vec<Block> = Vec::with_capacity(circuit.gates().len());
        for g in circuit.gates() {
            let label = match *g {
                Gate::GarblerInput => gi.next().copied().unwrap_or_default(),
                Gate::EvaluatorInput => ei.next().copied().unwrap_or_default(),
                Gate::Xor(a, b) => w[a as usize] ^ w[b as usize],
                Gate::Not(a) => w[a as usize],
                Gate::And(a, b) => {
                    let (wa, wb) = (w[a as usize], w[b as usize]);
                    let (tg, te) = match t.next() {
                        Some(&[tg, te]) => (tg, te),
                        _ => return Err(TwoPcError::Protocol("evaluate: tables ran out".into())),
                    };
                    let j0 = Block((self.and_index as u128) << 1);
                    let j1 = Block(j0.0 | 1);
                    self.and_index += 1;
                    let [ha, hb] = tccr_array([wa, wb], [j0, j1]);
                    let wg = ha ^ tg.and_bit(wa.lsb());
                    let we = hb ^ (te ^ wa).and_bit(wb.lsb());
                    wg ^ we
                }
            };
            w.push(label);
        }
        Ok(circuit
            .outputs()
            .iter()
            .map(|o| match *o {
                Bit::Const(_) => Block::ZERO,
                Bit::Wire(i) => w[i as usize],
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
