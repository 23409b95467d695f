//! The exact decomposition of `⌊ReLU(x) / 2^f⌋` over `Z_p` into comparisons of the client's
//! share with thresholds the server computes from its own share — the plaintext statement of
//! what the millionaire protocol ([`super::protocol`]) evaluates on shares.
//!
//! Rathee et al. (CCS 2020, "CrypTFlow2") §4 reduce ReLU over `Z_n` to DReLU (a wrap bit and a
//! comparison, their Algorithm for odd `n`) and §5 reduce division by `2^f` over a field to the
//! wrap bit plus a carry of the low bits. Here both are written as comparisons `[a ≥ T]` where
//! `a` is the client's share (known to the client offline, as in DELPHI) and `T` depends only
//! on the server's share `b`.
//!
//! # Derivation
//!
//! Let `p` be odd, `h = (p − 1)/2`, `a, b ∈ [0, p)`, `x = (a + b) mod p`. A field element is
//! negative iff `x > h` (the convention of [`crate::gc::relu::relu_reference`]).
//!
//! *Wrap.* `w = [a + b ≥ p] = [a ≥ p − b]`, and `x = a + b − w·p`.
//!
//! *Sign (DReLU over a prime field).* Shift by `h`: `b₂ = (b + h) mod p = b + h − [b > h]·p`
//! and `w₂ = [a ≥ p − b₂]`, so `(x + h) mod p = a + b₂ − w₂·p`. Also
//! `(x + h) mod p = x + h − [x ≥ h + 1]·p = a + b + h − (w + [x > h])·p`. Equating,
//! `[x > h] = [b > h] + w₂ − w` as integers; the value is a bit, so modulo 2
//! `neg = [x > h] = w ⊕ w₂ ⊕ [b > h]` and `pos = 1 − neg = w ⊕ w₂ ⊕ [b ≤ h]`.
//!
//! *Exact truncation (floor).* Write `a = a_h·2^f + a_l` (`0 ≤ a_l < 2^f`) and, for each
//! value of `w`, `S_w = b − w·p = B_w·2^f + s_w` with `B_w = ⌊S_w / 2^f⌋` (for `w = 1` a
//! negative floor) and `s_w = S_w mod 2^f ∈ [0, 2^f)`. Then
//! `x = a_h·2^f + B_w·2^f + (a_l + s_w)` with `0 ≤ a_l + s_w < 2^(f+1)`, so
//! `⌊x / 2^f⌋ = a_h + B_w + c_w`, `c_w = [a_l + s_w ≥ 2^f] = [a_l ≥ 2^f − s_w]` (`0` when
//! `s_w = 0`).
//!
//! *Result.* `y = pos · (a_h + B_w + c_w)`, computed modulo `p`; the true value lies in
//! `[0, p)`, so the residue is the value.
//!
//! *Sharing the low-bit comparison.* `c_1`'s threshold is `2^f − s_1 = (p − b) mod 2^f` when
//! `s_1 ≠ 0`, i.e. exactly the low `f` bits of `w`'s threshold `p − b`: the protocol reads
//! `c_1` off the low subtree of `w`'s comparison (and flips it when `s_1 = 0`, where the
//! subtree says `[a_l ≥ 0] = 1` but `c_1 = 0`). Only `c_0` needs an extra `f`-bit comparison.

use crate::share::ShareField;

/// The server-side constants of one ReLU: thresholds and the public terms of the result, all
/// functions of the server's share `b` alone (CrypTFlow2 §4–5, see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerTerms {
    /// `p − b ∈ [1, p]`: `w = [a ≥ wrap_threshold]`.
    pub wrap_threshold: u64,
    /// `p − ((b + h) mod p) ∈ [1, p]`: `w₂ = [a ≥ shifted_threshold]`.
    pub shifted_threshold: u64,
    /// `[b ≤ h]`: `pos = w ⊕ w₂ ⊕ b_nonneg`.
    pub b_nonneg: bool,
    /// `2^f − (b mod 2^f) ∈ [1, 2^f]`: `c_0 = [a_l ≥ carry0_threshold]`.
    pub carry0_threshold: u64,
    /// `s_1 = (b − p) mod 2^f == 0`: then `c_1 = 0` although `[a_l ≥ (p − b) mod 2^f] = 1`.
    pub s1_zero: bool,
    /// `B_0 = ⌊b / 2^f⌋` and `B_1 = ⌊(b − p) / 2^f⌋ mod p`, as field elements.
    pub b_high: [u64; 2],
}

impl ServerTerms {
    /// The terms of the server's share `b ∈ [0, p)` with `f` fractional bits truncated.
    pub fn new(field: &ShareField, b: u64, frac_bits: u32) -> Self {
        let p = field.modulus();
        let h = p / 2;
        let f = frac_bits;
        let low = (1u64 << f) - 1;
        let b2 = field.add(b, h);
        let s_1 = (b as i128 - p as i128).rem_euclid(1i128 << f) as u64;
        let b_1 = (b as i128 - p as i128).div_euclid(1i128 << f) as i64;
        Self {
            wrap_threshold: p - b,
            shifted_threshold: p - b2,
            b_nonneg: b <= h,
            carry0_threshold: (1u64 << f) - (b & low),
            s1_zero: s_1 == 0,
            b_high: [b >> f, field.from_signed(b_1)],
        }
    }

    /// `g(pos, w, c_0, c_1) = pos·(B_w + c_w) mod p`: the server's part of the result, which
    /// the final 1-out-of-16 OT evaluates on the shared bits.
    pub fn server_part(&self, field: &ShareField, pos: bool, w: bool, c0: bool, c1: bool) -> u64 {
        if !pos {
            return 0;
        }
        let c = if w { c1 } else { c0 };
        field.add(self.b_high[w as usize], c as u64)
    }
}

/// `⌊ReLU((a + b) mod p) / 2^f⌋` evaluated through the decomposition above (comparisons of
/// `a` with the server's thresholds), for checking it against the direct definition.
pub fn relu_decomposed(field: &ShareField, a: u64, b: u64, frac_bits: u32) -> u64 {
    let t = ServerTerms::new(field, b, frac_bits);
    let f = frac_bits;
    let (a_h, a_l) = (a >> f, a & ((1u64 << f) - 1));
    let w = a >= t.wrap_threshold;
    let w2 = a >= t.shifted_threshold;
    let pos = w ^ w2 ^ t.b_nonneg;
    let c0 = a_l >= t.carry0_threshold;
    // The low subtree of w's comparison, corrected as in the module docs.
    let wrap_low = (t.wrap_threshold & ((1u64 << f) - 1)) as u128;
    let c1 = (a_l as u128 >= wrap_low) ^ t.s1_zero;
    let client_part = if pos { a_h % field.modulus() } else { 0 };
    field.add(client_part, t.server_part(field, pos, w, c0, c1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::relu::relu_reference;
    use crate::share::DEFAULT_SHARE_PRIME;
    use proptest::prelude::*;

    fn field() -> ShareField {
        ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
    }

    /// Values of `x` at the sign and truncation boundaries.
    fn boundary_xs(p: u64, f: u32) -> Vec<u64> {
        let h = p / 2;
        let mut xs = vec![0, 1, 2, p - 1, p - 2, h - 1, h, h + 1, h + 2];
        for k in [1u64, 2, 3, 1 << 20, h >> f] {
            let m = k << f;
            for d in [-1i64, 0, 1] {
                let v = m as i64 + d;
                if v >= 0 && (v as u64) < p {
                    xs.push(v as u64);
                    xs.push(p - 1 - v as u64);
                }
            }
        }
        xs
    }

    #[test]
    fn decomposition_matches_relu_at_boundaries_for_every_split() {
        let f = field();
        let p = f.modulus();
        for frac in [0u32, 1, 4, 8, 12, 13, 17, 20, 40] {
            for &x in &boundary_xs(p, frac) {
                for b in [
                    0,
                    1,
                    2,
                    p / 2,
                    p / 2 + 1,
                    p - 1,
                    p - 2,
                    x,
                    (x + 1) % p,
                    1 << frac,
                ] {
                    let b = b % p;
                    let a = f.sub(x, b);
                    assert_eq!(
                        relu_decomposed(&f, a, b, frac),
                        relu_reference(&f, a, b, 0, frac),
                        "x {x} b {b} f {frac}"
                    );
                }
            }
        }
    }

    #[test]
    fn decomposition_matches_relu_exhaustively_for_small_primes() {
        for p in [3u64, 5, 17, 31, 97, 257] {
            let f = ShareField::new(p).unwrap();
            for frac in 0..f.bits() {
                for a in 0..p {
                    for b in 0..p {
                        assert_eq!(
                            relu_decomposed(&f, a, b, frac),
                            relu_reference(&f, a, b, 0, frac),
                            "p {p} a {a} b {b} f {frac}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn decomposition_matches_relu_on_random_shares(
            a in 0..DEFAULT_SHARE_PRIME,
            b in 0..DEFAULT_SHARE_PRIME,
            frac in 0u32..41,
        ) {
            let f = field();
            prop_assert_eq!(relu_decomposed(&f, a, b, frac), relu_reference(&f, a, b, 0, frac));
        }
    }
}
