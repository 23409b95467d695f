//! The ReLU circuit on additive shares over `Z_p` (DELPHI, Mishra et al. 2020, section 4.2),
//! with the fixed-point truncation folded in.
//!
//! Inputs (`ℓ = ⌈log₂ p⌉` bits each): the evaluator's (client's) share `a`, the garbler's
//! (server's) share `b` and the garbler's fresh mask `r`, all in `[0, p)`. The circuit computes
//!
//! 1. `s = a + b` (`ℓ + 1` bits) — ℓ ANDs;
//! 2. `x = s − p·[s ≥ p] = (a + b) mod p` — `[s ≥ p]` is a comparison with the constant `p`
//!    (≤ ℓ + 1 ANDs, fewer for trailing zero bits of `p`), the subtraction of `p·[s ≥ p]`
//!    (whose bits are that one wire or zero) `ℓ − 1` ANDs;
//! 3. `neg = [x ≥ ⌊p/2⌋ + 1]` (`x` represents a negative number) — ≤ ℓ ANDs;
//! 4. `y = ¬neg ∧ ⌊x / 2^f⌋` — dropping `f` low bits is free, then `ℓ − f` ANDs;
//! 5. `out = (y − r) mod p = y − r + p·[y < r]` — `ℓ` ANDs for the subtraction with borrow,
//!    `ℓ − 1` for adding `p·borrow`.
//!
//! The output goes to the evaluator, so the new shares are `r` (server) and `y − r` (client).
//! [`relu_circuit`] reports the exact AND count ([`Circuit::and_gates`]); for the default
//! 41-bit prime it is 284 ANDs for `f = 0` (about 6.9 ℓ) and `284 − f` with truncation, i.e.
//! 9,088 bytes of tables per ReLU.

use super::circuit::{Circuit, CircuitBuilder};
use crate::error::TwoPcError;
use crate::share::ShareField;

/// The ReLU-and-truncate circuit for shares modulo `field.modulus()`, truncating `frac_bits`
/// fractional bits (`0` for none). Evaluator input: `a` (ℓ bits); garbler inputs: `b` then
/// `r` (ℓ bits each); outputs: the ℓ bits of `(⌊ReLU(a + b mod p) / 2^f⌋ − r) mod p`.
pub fn relu_circuit(field: &ShareField, frac_bits: u32) -> Result<Circuit, TwoPcError> {
    let l = field.bits() as usize;
    if frac_bits as usize >= l {
        return Err(TwoPcError::Config(format!(
            "truncation by {frac_bits} bits leaves nothing of a {l}-bit share"
        )));
    }
    let p = field.modulus();
    let mut cb = CircuitBuilder::new();
    let a = cb.evaluator_input(l);
    let b = cb.garbler_input(l);
    let r = cb.garbler_input(l);
    // 1. s = a + b, ℓ + 1 bits.
    let (mut s, carry) = cb.add(&a, &b);
    s.push(carry);
    // 2. x = s mod p.
    let p_word = cb.constant(p, l + 1);
    let wrap = cb.ge(&s, &p_word);
    let p_masked: Vec<_> = cb
        .constant(p, l)
        .iter()
        .map(|&bit| cb.and(wrap, bit))
        .collect();
    let x = cb.sub_mod(&s[..l], &p_masked);
    // 3. The sign: x > p/2 is negative.
    let half = cb.constant(p / 2 + 1, l);
    let neg = cb.ge(&x, &half);
    let pos = cb.not(neg);
    // 4. y = ReLU(x) >> f.
    let mut y = cb.and_word(pos, &x[frac_bits as usize..]);
    y.extend(cb.constant(0, frac_bits as usize));
    // 5. out = y − r mod p.
    let (t, borrow) = cb.sub(&y, &r);
    let p_borrow: Vec<_> = cb
        .constant(p, l)
        .iter()
        .map(|&bit| cb.and(borrow, bit))
        .collect();
    let out = cb.add_mod(&t, &p_borrow);
    Ok(cb.finish(out))
}

/// The plaintext reference: `(⌊ReLU(a + b mod p) / 2^f⌋ − r) mod p`, with `x > p/2` negative.
pub fn relu_reference(field: &ShareField, a: u64, b: u64, r: u64, frac_bits: u32) -> u64 {
    let x = field.add(a, b);
    let y = if x > field.modulus() / 2 {
        0
    } else {
        x >> frac_bits
    };
    field.sub(y, r)
}
