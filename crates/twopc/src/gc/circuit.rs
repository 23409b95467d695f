//! Boolean circuits and a builder with constant folding and word operations (adders,
//! subtractors, comparators, multiplexers over ℓ-bit words, least significant bit first).
//!
//! A [`Circuit`] is a list of gates in topological order; gate `k` drives wire `k`. Inputs are
//! gates too ([`Gate::GarblerInput`], [`Gate::EvaluatorInput`]), numbered per party in the
//! order they were created. XOR and NOT are free under free-XOR; only AND gates cost (two
//! ciphertexts each with half-gates), so the builder folds constants (`x ∧ 0 = 0`,
//! `x ∧ 1 = x`, `x ⊕ x = 0`, ...) and every word operation documents its AND count.

/// A bit in a circuit under construction: a public constant or a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bit {
    /// The public constant 0 or 1 (folded away, never a wire).
    Const(bool),
    /// The wire driven by gate number `.0`.
    Wire(u32),
}

/// One gate; its output is the wire with the gate's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The next input bit of the garbler.
    GarblerInput,
    /// The next input bit of the evaluator.
    EvaluatorInput,
    /// `a ⊕ b` (free).
    Xor(u32, u32),
    /// `a ∧ b` (one half-gates table of two blocks).
    And(u32, u32),
    /// `¬a` (free).
    Not(u32),
}

/// A boolean circuit: gates in topological order and the output bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    gates: Vec<Gate>,
    outputs: Vec<Bit>,
    garbler_inputs: usize,
    evaluator_inputs: usize,
    and_gates: usize,
}

impl Circuit {
    /// The gates in topological order.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }

    /// The output bits.
    pub fn outputs(&self) -> &[Bit] {
        &self.outputs
    }

    /// Number of garbler input bits.
    pub fn garbler_inputs(&self) -> usize {
        self.garbler_inputs
    }

    /// Number of evaluator input bits.
    pub fn evaluator_inputs(&self) -> usize {
        self.evaluator_inputs
    }

    /// Number of AND gates (the cost: 32 bytes of table and 4 + 2 hashes each).
    pub fn and_gates(&self) -> usize {
        self.and_gates
    }

    /// Evaluate in the clear (the reference that garbled evaluation is tested against).
    /// Returns `None` when an input vector has the wrong length.
    pub fn eval_plain(&self, garbler: &[bool], evaluator: &[bool]) -> Option<Vec<bool>> {
        if garbler.len() != self.garbler_inputs || evaluator.len() != self.evaluator_inputs {
            return None;
        }
        let (mut gi, mut ei) = (0, 0);
        let mut v: Vec<bool> = Vec::with_capacity(self.gates.len());
        for g in &self.gates {
            let bit = match *g {
                Gate::GarblerInput => {
                    gi += 1;
                    garbler[gi - 1]
                }
                Gate::EvaluatorInput => {
                    ei += 1;
                    evaluator[ei - 1]
                }
                Gate::Xor(a, b) => v[a as usize] ^ v[b as usize],
                Gate::And(a, b) => v[a as usize] & v[b as usize],
                Gate::Not(a) => !v[a as usize],
            };
            v.push(bit);
        }
        Some(
            self.outputs
                .iter()
                .map(|o| match *o {
                    Bit::Const(c) => c,
                    Bit::Wire(w) => v[w as usize],
                })
                .collect(),
        )
    }
}

/// A little-endian word of bits (bit 0 least significant).
pub type Word = Vec<Bit>;

/// Builds a [`Circuit`] gate by gate, folding constants.
#[derive(Debug, Default)]
pub struct CircuitBuilder {
    gates: Vec<Gate>,
    garbler_inputs: usize,
    evaluator_inputs: usize,
    and_gates: usize,
}

impl CircuitBuilder {
    /// An empty circuit.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, g: Gate) -> Bit {
        self.gates.push(g);
        Bit::Wire((self.gates.len() - 1) as u32)
    }

    /// AND gates so far.
    pub fn and_gates(&self) -> usize {
        self.and_gates
    }

    /// A fresh `bits`-bit input word of the garbler.
    pub fn garbler_input(&mut self, bits: usize) -> Word {
        self.garbler_inputs += bits;
        (0..bits).map(|_| self.push(Gate::GarblerInput)).collect()
    }

    /// A fresh `bits`-bit input word of the evaluator.
    pub fn evaluator_input(&mut self, bits: usize) -> Word {
        self.evaluator_inputs += bits;
        (0..bits).map(|_| self.push(Gate::EvaluatorInput)).collect()
    }

    /// `a ⊕ b` (free).
    pub fn xor(&mut self, a: Bit, b: Bit) -> Bit {
        match (a, b) {
            (Bit::Const(x), Bit::Const(y)) => Bit::Const(x ^ y),
            (Bit::Const(false), w) | (w, Bit::Const(false)) => w,
            (Bit::Const(true), w) | (w, Bit::Const(true)) => self.not(w),
            (Bit::Wire(x), Bit::Wire(y)) if x == y => Bit::Const(false),
            (Bit::Wire(x), Bit::Wire(y)) => self.push(Gate::Xor(x, y)),
        }
    }

    /// `¬a` (free).
    pub fn not(&mut self, a: Bit) -> Bit {
        match a {
            Bit::Const(x) => Bit::Const(!x),
            Bit::Wire(w) => match self.gates[w as usize] {
                Gate::Not(inner) => Bit::Wire(inner),
                _ => self.push(Gate::Not(w)),
            },
        }
    }

    /// `a ∧ b` (one AND gate unless folded).
    pub fn and(&mut self, a: Bit, b: Bit) -> Bit {
        match (a, b) {
            (Bit::Const(false), _) | (_, Bit::Const(false)) => Bit::Const(false),
            (Bit::Const(true), w) | (w, Bit::Const(true)) => w,
            (Bit::Wire(x), Bit::Wire(y)) if x == y => a,
            (Bit::Wire(x), Bit::Wire(y)) => {
                self.and_gates += 1;
                self.push(Gate::And(x, y))
            }
        }
    }

    /// `a ∨ b = a ⊕ b ⊕ (a ∧ b)` (one AND).
    pub fn or(&mut self, a: Bit, b: Bit) -> Bit {
        let x = self.xor(a, b);
        let n = self.and(a, b);
        self.xor(x, n)
    }

    /// `s ? t : f` = `f ⊕ s ∧ (t ⊕ f)` (one AND).
    pub fn mux(&mut self, s: Bit, t: Bit, f: Bit) -> Bit {
        let d = self.xor(t, f);
        let m = self.and(s, d);
        self.xor(f, m)
    }

    /// The public constant `value` as a `bits`-bit word.
    pub fn constant(&self, value: u64, bits: usize) -> Word {
        (0..bits)
            .map(|i| Bit::Const(i < 64 && (value >> i) & 1 == 1))
            .collect()
    }

    /// `(x ⊕ c) ∧ (y ⊕ c) ⊕ c`: the carry of a full adder with inputs `x, y` and carry `c`.
    fn carry(&mut self, x: Bit, y: Bit, c: Bit) -> Bit {
        let xc = self.xor(x, c);
        let yc = self.xor(y, c);
        let t = self.and(xc, yc);
        self.xor(t, c)
    }

    /// `a + b + carry_in` over `n = |a| = |b|` bits: the sum word and the carry out (one AND
    /// per bit, Boyar–Peralta / emp-toolkit full adder; `with_carry_out = false` saves the
    /// last one).
    fn add_with(
        &mut self,
        a: &[Bit],
        b: &[Bit],
        carry_in: Bit,
        with_carry_out: bool,
    ) -> (Word, Bit) {
        assert_eq!(a.len(), b.len(), "adder operands must have the same width");
        let mut c = carry_in;
        let mut sum = Vec::with_capacity(a.len());
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            let xy = self.xor(x, y);
            sum.push(self.xor(xy, c));
            if with_carry_out || i + 1 < a.len() {
                c = self.carry(x, y, c);
            }
        }
        (sum, c)
    }

    /// `a + b` with carry out (`n` ANDs for `n`-bit words; fewer with constant bits).
    pub fn add(&mut self, a: &[Bit], b: &[Bit]) -> (Word, Bit) {
        self.add_with(a, b, Bit::Const(false), true)
    }

    /// `a + b mod 2^n` (`n − 1` ANDs).
    pub fn add_mod(&mut self, a: &[Bit], b: &[Bit]) -> Word {
        self.add_with(a, b, Bit::Const(false), false).0
    }

    /// `a − b` with the borrow (`a < b`) (`n` ANDs): `a + ¬b + 1`.
    pub fn sub(&mut self, a: &[Bit], b: &[Bit]) -> (Word, Bit) {
        let nb: Word = b.iter().map(|&x| self.not(x)).collect();
        let (d, carry) = self.add_with(a, &nb, Bit::Const(true), true);
        let borrow = self.not(carry);
        (d, borrow)
    }

    /// `a − b mod 2^n` (`n − 1` ANDs).
    pub fn sub_mod(&mut self, a: &[Bit], b: &[Bit]) -> Word {
        let nb: Word = b.iter().map(|&x| self.not(x)).collect();
        self.add_with(a, &nb, Bit::Const(true), false).0
    }

    /// `a ≥ b` (unsigned; `n` ANDs): the carry out of `a + ¬b + 1`, without the sum.
    pub fn ge(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        assert_eq!(
            a.len(),
            b.len(),
            "comparator operands must have the same width"
        );
        let mut c = Bit::Const(true);
        for (&x, &y) in a.iter().zip(b) {
            let ny = self.not(y);
            c = self.carry(x, ny, c);
        }
        c
    }

    /// `a < b` (unsigned; `n` ANDs).
    pub fn lt(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        let g = self.ge(a, b);
        self.not(g)
    }

    /// `a > b` (unsigned; `n` ANDs).
    pub fn gt(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        self.lt(b, a)
    }

    /// `a ≤ b` (unsigned; `n` ANDs).
    pub fn le(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        self.ge(b, a)
    }

    /// `a = b` (`n − 1` ANDs).
    pub fn eq(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        assert_eq!(
            a.len(),
            b.len(),
            "comparator operands must have the same width"
        );
        let mut acc = Bit::Const(true);
        for (&x, &y) in a.iter().zip(b) {
            let d = self.xor(x, y);
            let same = self.not(d);
            acc = self.and(acc, same);
        }
        acc
    }

    /// Signed (two's complement) `a < b` (`n` ANDs): flip the sign bits and compare unsigned.
    pub fn lt_signed(&mut self, a: &[Bit], b: &[Bit]) -> Bit {
        let (mut a2, mut b2) = (a.to_vec(), b.to_vec());
        if let (Some(x), Some(y)) = (a2.last_mut(), b2.last_mut()) {
            *x = self.not(*x);
            *y = self.not(*y);
        }
        self.lt(&a2, &b2)
    }

    /// `s ? t : f` bitwise (`n` ANDs).
    pub fn mux_word(&mut self, s: Bit, t: &[Bit], f: &[Bit]) -> Word {
        assert_eq!(t.len(), f.len(), "mux operands must have the same width");
        t.iter().zip(f).map(|(&x, &y)| self.mux(s, x, y)).collect()
    }

    /// `s ∧ w` bitwise (`n` ANDs; free for constant bits of `w`).
    pub fn and_word(&mut self, s: Bit, w: &[Bit]) -> Word {
        w.iter().map(|&x| self.and(s, x)).collect()
    }

    /// `a ⊕ b` bitwise (free).
    pub fn xor_word(&mut self, a: &[Bit], b: &[Bit]) -> Word {
        assert_eq!(a.len(), b.len(), "xor operands must have the same width");
        a.iter().zip(b).map(|(&x, &y)| self.xor(x, y)).collect()
    }

    /// Finish with these output bits.
    pub fn finish(self, outputs: Word) -> Circuit {
        Circuit {
            gates: self.gates,
            outputs,
            garbler_inputs: self.garbler_inputs,
            evaluator_inputs: self.evaluator_inputs,
            and_gates: self.and_gates,
        }
    }
}

/// The low `bits` bits of `v`, least significant first.
pub fn to_bits(v: u64, bits: usize) -> Vec<bool> {
    (0..bits).map(|i| i < 64 && (v >> i) & 1 == 1).collect()
}

/// The integer of little-endian bits (at most 64).
pub fn from_bits(bits: &[bool]) -> u64 {
    bits.iter()
        .enumerate()
        .fold(0u64, |acc, (i, &b)| acc | ((b as u64) << i))
}
