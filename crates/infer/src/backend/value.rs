//! The numbers that live in slots.
//!
//! A backend's slots hold one of two kinds of value (design choice, documented here once):
//!
//! * `i64` — **BFV-like exact arithmetic.** BFV batching makes every slot an element of
//!   `Z_t`; HE backends represent it centred in `(-t/2, t/2]` as an `i64`. The clear backend
//!   computes over the integers *without* a modulus and fails on `i64` overflow, so the largest
//!   magnitude it reports is what sizes the plaintext modulus `t` (or the CRT product of several
//!   plaintext primes, LoLa section 4.4) later: results are exact as long as `2·max|v| < t`.
//! * `i128` — the same, wider, for measuring ranges beyond 63 bits in the clear backend.
//! * `f64` — **CKKS-like approximate arithmetic.** CKKS slots hold (real parts of) complex
//!   numbers; the largest magnitude seen sizes the scale and the first modulus.
//!
//! Kernels are generic over [`SlotValue`], so the same code drives both.

use std::fmt::Debug;

/// A slot value: exact (`i64`, BFV) or approximate (`f64`, CKKS). See the module docs.
pub trait SlotValue: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity (masks are made of `ZERO` and `ONE`).
    const ONE: Self;
    /// `self + other`, `None` on overflow (never `None` for `f64`).
    fn checked_add(self, other: Self) -> Option<Self>;
    /// `self - other`, `None` on overflow.
    fn checked_sub(self, other: Self) -> Option<Self>;
    /// `self * other`, `None` on overflow.
    fn checked_mul(self, other: Self) -> Option<Self>;
    /// `|self|` as `f64`, for value-range tracking.
    fn magnitude(self) -> f64;
    /// The value of a small integer (weights and masks built from integers).
    fn from_i64(v: i64) -> Self;
    /// The value's bits (for digests of prepared plaintexts; `f64` by its IEEE bits).
    fn bits(self) -> u128;
}

impl SlotValue for i64 {
    fn bits(self) -> u128 {
        self as u64 as u128
    }
    const ZERO: Self = 0;
    const ONE: Self = 1;
    fn checked_add(self, other: Self) -> Option<Self> {
        i64::checked_add(self, other)
    }
    fn checked_sub(self, other: Self) -> Option<Self> {
        i64::checked_sub(self, other)
    }
    fn checked_mul(self, other: Self) -> Option<Self> {
        i64::checked_mul(self, other)
    }
    fn magnitude(self) -> f64 {
        self.unsigned_abs() as f64
    }
    fn from_i64(v: i64) -> Self {
        v
    }
}

impl SlotValue for f64 {
    fn bits(self) -> u128 {
        u128::from(self.to_bits())
    }
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn checked_add(self, other: Self) -> Option<Self> {
        Some(self + other)
    }
    fn checked_sub(self, other: Self) -> Option<Self> {
        Some(self - other)
    }
    fn checked_mul(self, other: Self) -> Option<Self> {
        Some(self * other)
    }
    fn magnitude(self) -> f64 {
        self.abs()
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
}

/// Wide exact arithmetic for the clear backend: measures value ranges of networks whose
/// intermediate values exceed 63 bits (LoLa's MNIST plaintext modulus is a CRT product of four
/// 20-bit primes, section 4.3).
impl SlotValue for i128 {
    fn bits(self) -> u128 {
        self as u128
    }
    const ZERO: Self = 0;
    const ONE: Self = 1;
    fn checked_add(self, other: Self) -> Option<Self> {
        i128::checked_add(self, other)
    }
    fn checked_sub(self, other: Self) -> Option<Self> {
        i128::checked_sub(self, other)
    }
    fn checked_mul(self, other: Self) -> Option<Self> {
        i128::checked_mul(self, other)
    }
    fn magnitude(self) -> f64 {
        self.unsigned_abs() as f64
    }
    fn from_i64(v: i64) -> Self {
        v as i128
    }
}
