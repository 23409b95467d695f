//! Additive secret shares over the prime field `Z_p` shared by every part of the protocol.
//!
//! DELPHI (Mishra et al. 2020, section 4) keeps every activation as `x = x_c + x_s mod p` with a
//! prime `p`: the HE linear layers compute in BFV with plaintext modulus `p` (slot encoding needs
//! `p ≡ 1 mod 2n`; coefficient encoding works with any `p`), the garbled ReLU circuit
//! reconstructs modulo `p`, and Beaver triples live in the same field. Fixed-point values are
//! signed integers in `(-p/2, p/2)`.

/// The default share modulus: the largest 41-bit prime `p ≡ 1 mod 2^17`, so BFV batching works
/// for every ring degree up to `n = 2^16` with plaintext modulus `p` (DELPHI uses a 41-bit prime
/// as well).
pub const DEFAULT_SHARE_PRIME: u64 = 2_199_021_813_761;

/// Arithmetic modulo a share prime `p < 2^62`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareField {
    p: u64,
}

impl ShareField {
    /// The field `Z_p`; `p` must be an odd prime below `2^62` (the caller vouches for primality;
    /// only the range is checked here).
    pub fn new(p: u64) -> Result<Self, crate::error::TwoPcError> {
        if p < 3 || p.is_multiple_of(2) || p >= 1 << 62 {
            return Err(crate::error::TwoPcError::Config(format!(
                "share modulus {p} must be an odd prime below 2^62"
            )));
        }
        Ok(Self { p })
    }

    /// The modulus `p`.
    pub fn modulus(&self) -> u64 {
        self.p
    }

    /// Bits of `p` (the width `ℓ` of a share in a garbled circuit).
    pub fn bits(&self) -> u32 {
        64 - self.p.leading_zeros()
    }

    /// `a + b mod p` for reduced `a`, `b`.
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.p {
            s - self.p
        } else {
            s
        }
    }

    /// `a - b mod p` for reduced `a`, `b`.
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b {
            a - b
        } else {
            a + self.p - b
        }
    }

    /// `a · b mod p`.
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        ((a as u128 * b as u128) % self.p as u128) as u64
    }

    /// The field element of a signed integer.
    pub fn from_signed(&self, v: i64) -> u64 {
        v.rem_euclid(self.p as i64) as u64
    }

    /// The signed integer in `(-p/2, p/2]` of a field element.
    pub fn to_signed(&self, a: u64) -> i64 {
        if a > self.p / 2 {
            a as i64 - self.p as i64
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_round_trip_and_arithmetic() {
        let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        assert_eq!(f.bits(), 41);
        assert_eq!((DEFAULT_SHARE_PRIME - 1) % (1 << 17), 0);
        for v in [-5_i64, 0, 7, -(1 << 39), 1 << 39] {
            assert_eq!(f.to_signed(f.from_signed(v)), v);
        }
        let (a, b) = (f.from_signed(-3), f.from_signed(10));
        assert_eq!(f.to_signed(f.add(a, b)), 7);
        assert_eq!(f.to_signed(f.sub(a, b)), -13);
        assert_eq!(f.to_signed(f.mul(a, b)), -30);
        assert!(ShareField::new(4).is_err());
    }
}
