//! Word-size modular arithmetic: Barrett reduction of 128-bit products and Shoup
//! multiplication by a fixed operand (Shoup, "NTL: a library for doing number theory";
//! as used in SEAL's `util/uintarithsmallmod` and Harvey, "Faster arithmetic for
//! number-theoretic transforms", 2014).

/// A prime (or any odd) modulus `q < 2^62` with its precomputed Barrett constant.
///
/// Barrett reduction (Barrett 1986) of a 128-bit `x < q^2` uses
/// `ratio = floor(2^128 / q)`: the quotient estimate `floor(x * ratio / 2^128)` is off by at
/// most one, fixed by one conditional subtraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modulus {
    value: u64,
    ratio_hi: u64,
    ratio_lo: u64,
}

/// The largest modulus supported by [`Modulus`]: `2^62`. Sums of two residues and lazy
/// accumulators then never overflow a `u64`.
pub const MAX_MODULUS: u64 = 1 << 62;

impl Modulus {
    /// Precomputes the Barrett constant of `q`. Returns `None` unless `2 <= q < 2^62`.
    pub fn new(q: u64) -> Option<Self> {
        if !(2..MAX_MODULUS).contains(&q) {
            return None;
        }
        // floor(2^128 / q): equal to floor((2^128 - 1) / q) unless q divides 2^128.
        let ratio = if q.is_power_of_two() {
            u128::MAX / q as u128 + 1
        } else {
            u128::MAX / q as u128
        };
        Some(Self {
            value: q,
            ratio_hi: (ratio >> 64) as u64,
            ratio_lo: ratio as u64,
        })
    }

    /// The modulus value `q`.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The Barrett constant `floor(2^128 / q)` as `(high word, low word)`; the high word is
    /// `floor(2^64 / q)`, the single-word constant of [`Modulus::reduce`].
    #[inline(always)]
    pub fn barrett_ratio(&self) -> (u64, u64) {
        (self.ratio_hi, self.ratio_lo)
    }

    /// Number of bits of `q`.
    pub fn bits(&self) -> u32 {
        64 - self.value.leading_zeros()
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        // Branchless: `s - q` wraps above `s` exactly when `s < q` (q < 2^62), so the minimum
        // is the reduced sum; this also lets loops vectorise (AVX-512 `vpminuq`).
        let s = a + b;
        s.min(s.wrapping_sub(self.value))
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        // Branchless: `d + q` is below `d` (wrapped) exactly when `a >= b`.
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.value))
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 {
            0
        } else {
            self.value - a
        }
    }

    /// Barrett reduction of a 128-bit value `x < 2^128` (any value; two correction steps
    /// cover the full range because `q < 2^62`).
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let x_lo = x as u64;
        let x_hi = (x >> 64) as u64;
        // high 128 bits of the 256-bit product x * ratio, only its low word is needed.
        let lo_lo = ((x_lo as u128) * (self.ratio_lo as u128)) >> 64;
        let lo_hi = (x_lo as u128) * (self.ratio_hi as u128);
        let hi_lo = (x_hi as u128) * (self.ratio_lo as u128);
        let mid = lo_lo + (lo_hi as u64 as u128) + (hi_lo as u64 as u128);
        let carry = mid >> 64;
        let q_est =
            (x_hi as u128) * (self.ratio_hi as u128) + (lo_hi >> 64) + (hi_lo >> 64) + carry;
        let r = x.wrapping_sub(q_est.wrapping_mul(self.value as u128)) as u64;
        let r = if r >= self.value { r - self.value } else { r };
        if r >= self.value {
            r - self.value
        } else {
            r
        }
    }

    /// Reduces any `u64` modulo `q` by a single-word Barrett step: `ratio_hi = floor(2^64 / q)`
    /// gives a quotient estimate `floor(a·ratio_hi / 2^64)` at most one below `floor(a / q)`, so
    /// one conditional subtraction finishes (one high multiplication instead of the four of
    /// [`Modulus::reduce_u128`]).
    #[inline(always)]
    pub fn reduce(&self, a: u64) -> u64 {
        let q_est = ((a as u128 * self.ratio_hi as u128) >> 64) as u64;
        let r = a.wrapping_sub(q_est.wrapping_mul(self.value));
        r.min(r.wrapping_sub(self.value))
    }

    /// Reduces a signed integer modulo `q` into `[0, q)`.
    #[inline(always)]
    pub fn reduce_i64(&self, a: i64) -> u64 {
        if a >= 0 {
            self.reduce(a as u64)
        } else {
            self.neg(self.reduce(a.unsigned_abs()))
        }
    }

    /// `a * b mod q` by Barrett reduction of the 128-bit product.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// Shoup precomputation `floor(w * 2^64 / q)` for a fixed operand `w < q`.
    #[inline(always)]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.value as u128) as u64
    }

    /// Shoup multiplication `a * w mod q` with `w_shoup = self.shoup(w)`: two word
    /// multiplications and one conditional subtraction.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let quot = ((a as u128 * w_shoup as u128) >> 64) as u64;
        let r = a
            .wrapping_mul(w)
            .wrapping_sub(quot.wrapping_mul(self.value));
        r.min(r.wrapping_sub(self.value))
    }

    /// Shoup multiplication returning both `a * w mod q` and `floor(a * w / q)` (used by the
    /// exact scale-and-round of HPS19 to compute integer quotients without division).
    #[inline(always)]
    pub fn mul_shoup_with_quotient(&self, a: u64, w: u64, w_shoup: u64) -> (u64, u64) {
        let mut quot = ((a as u128 * w_shoup as u128) >> 64) as u64;
        let mut r = a
            .wrapping_mul(w)
            .wrapping_sub(quot.wrapping_mul(self.value));
        if r >= self.value {
            r -= self.value;
            quot += 1;
        }
        (r, quot)
    }

    /// `a^e mod q` by square and multiply.
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1 % self.value;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// Modular inverse by the extended Euclidean algorithm; `None` if `gcd(a, q) != 1`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let (mut r0, mut r1) = (self.value as i128, self.reduce(a) as i128);
        let (mut t0, mut t1) = (0i128, 1i128);
        while r1 != 0 {
            let qt = r0 / r1;
            (r0, r1) = (r1, r0 - qt * r1);
            (t0, t1) = (t1, t0 - qt * t1);
        }
        if r0 != 1 {
            return None;
        }
        Some(t0.rem_euclid(self.value as i128) as u64)
    }

    /// Centered representative of `a < q` in `(-q/2, q/2]`.
    #[inline(always)]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.value / 2 {
            a as i64 - self.value as i64
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Q: u64 = 0x3fffffffef8001; // 54-bit NTT prime

    proptest! {
        #[test]
        fn barrett_matches_u128_remainder(a in 0..Q, b in 0..Q) {
            let m = Modulus::new(Q).unwrap();
            prop_assert_eq!(m.mul(a, b), ((a as u128 * b as u128) % Q as u128) as u64);
        }

        #[test]
        fn reduce_u128_full_range(x in any::<u128>()) {
            let m = Modulus::new(Q).unwrap();
            prop_assert_eq!(m.reduce_u128(x) as u128, x % Q as u128);
        }

        #[test]
        fn reduce_u64_full_range(x in any::<u64>(), q in 2u64..MAX_MODULUS) {
            let m = Modulus::new(q).unwrap();
            prop_assert_eq!(m.reduce(x), x % q);
            let m = Modulus::new(Q).unwrap();
            prop_assert_eq!(m.reduce(x), x % Q);
        }

        #[test]
        fn shoup_matches(a in 0..Q, w in 0..Q) {
            let m = Modulus::new(Q).unwrap();
            let (r, quot) = m.mul_shoup_with_quotient(a, w, m.shoup(w));
            let prod = a as u128 * w as u128;
            prop_assert_eq!(r as u128, prod % Q as u128);
            prop_assert_eq!(quot as u128, prod / Q as u128);
        }

        #[test]
        fn inverse_is_inverse(a in 1..Q) {
            let m = Modulus::new(Q).unwrap();
            let ia = m.inv(a).unwrap();
            prop_assert_eq!(m.mul(a, ia), 1);
        }
    }

    #[test]
    fn small_and_power_of_two_moduli() {
        for q in [2u64, 3, 17, 1 << 20, (1 << 61) - 1] {
            let m = Modulus::new(q).unwrap();
            for x in [
                0u128,
                1,
                5,
                u64::MAX as u128,
                u128::MAX,
                (q as u128) * (q as u128) - 1,
            ] {
                assert_eq!(m.reduce_u128(x) as u128, x % q as u128, "q={q} x={x}");
            }
            for x in [0u64, 1, q - 1, q, u64::MAX, u64::MAX - 1, 1 << 63] {
                assert_eq!(m.reduce(x), x % q, "q={q} x={x}");
            }
        }
        assert!(Modulus::new(1 << 62).is_none());
        assert!(Modulus::new(1).is_none());
    }
}
