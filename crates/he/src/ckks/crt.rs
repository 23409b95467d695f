//! Exact conversions between signed numbers and RNS residues for CKKS encoding and decoding.
//!
//! * [`CrtLift`] turns the residues of one coefficient modulo `q_0, ..., q_{k-1}` into the
//!   *centered* representative in `(-Q/2, Q/2]`, `Q = q_0 ... q_{k-1}`, as an `f64`. It uses
//!   Garner's mixed-radix conversion (Knuth TAOCP vol. 2, 4.3.2; the same role as Lattigo's
//!   `ToBigint` followed by a conversion to float, or SEAL's `decompose`/`compose` in
//!   `RNSBase`) so that no big integer is ever built: the mixed-radix digits decide the sign
//!   exactly, and the `f64` is evaluated by Horner's rule from the most significant digit,
//!   giving a relative error of at most about `k * 2^-53` whatever the size of `Q`.
//!   This is what CKKS decoding needs: the decrypted coefficient `Δ·m + e` is small compared
//!   with `Q` but may exceed 64 bits, and its sign matters.
//! * [`reduce_f64`] reduces an integral `f64` (the rounded, scaled coefficient of the CKKS
//!   encoder, possibly far above 2^64) modulo a word-size prime exactly, by splitting it into
//!   its 53-bit mantissa and power of two.

use crate::HeError;

/// Largest RNS modulus accepted: moduli are below 2^62, like every NTT prime of the engine.
pub const MAX_MODULUS_BITS: u32 = 62;

/// `a * w mod q` with Shoup's precomputation `w_shoup = floor(w * 2^64 / q)` (Shoup, NTL;
/// Harvey, "Faster arithmetic for number-theoretic transforms", 2014, Alg. 2).
/// Requires `w < q < 2^63`; `a` may be any `u64`. The result is fully reduced.
#[inline]
fn mul_shoup(a: u64, w: u64, w_shoup: u64, q: u64) -> u64 {
    let quotient = ((a as u128 * w_shoup as u128) >> 64) as u64;
    let r = a.wrapping_mul(w).wrapping_sub(quotient.wrapping_mul(q));
    if r >= q {
        r - q
    } else {
        r
    }
}

#[inline]
fn shoup(w: u64, q: u64) -> u64 {
    (((w as u128) << 64) / q as u128) as u64
}

fn mul_mod(a: u64, b: u64, q: u64) -> u64 {
    (a as u128 * b as u128 % q as u128) as u64
}

fn pow_mod(mut base: u64, mut exp: u64, q: u64) -> u64 {
    let mut acc = 1 % q;
    base %= q;
    while exp > 0 {
        if exp & 1 == 1 {
            acc = mul_mod(acc, base, q);
        }
        base = mul_mod(base, base, q);
        exp >>= 1;
    }
    acc
}

/// Inverse of `a` modulo `q` by the extended Euclidean algorithm, `None` if not invertible.
fn inv_mod(a: u64, q: u64) -> Option<u64> {
    let (mut old_r, mut r) = (a as i128 % q as i128, q as i128);
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let quotient = old_r / r;
        (old_r, r) = (r, old_r - quotient * r);
        (old_s, s) = (s, old_s - quotient * s);
    }
    (old_r == 1).then(|| old_s.rem_euclid(q as i128) as u64)
}

/// Reduces an integral `f64` modulo `q` exactly (`q < 2^62`).
///
/// The CKKS encoder rounds `Δ·u` to an integer in `f64`; for large scales this integer can be
/// far above 2^64 (it is then a 53-bit mantissa times a power of two), and this function
/// reduces it without any precision loss. Non-integral inputs are truncated toward zero;
/// non-finite inputs are the caller's error (the encoder rejects them before).
pub fn reduce_f64(value: f64, q: u64) -> u64 {
    const TWO_POW_63: f64 = (1u64 << 63) as f64;
    debug_assert!(value.is_finite());
    let magnitude = value.abs();
    let residue = if magnitude < TWO_POW_63 {
        // |value| < 2^63: exact conversion to u64.
        (magnitude as u64) % q
    } else {
        let bits = magnitude.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) - 1075;
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        mul_mod(mantissa % q, pow_mod(2, exponent, q), q)
    };
    if value < 0.0 && residue != 0 {
        q - residue
    } else {
        residue
    }
}

/// Centered CRT reconstruction of RNS coefficients as `f64` (Garner's algorithm).
///
/// Built once for an RNS basis `q_0, ..., q_L` (the ciphertext modulus chain of CKKS, in the
/// order limbs are dropped from the end by rescaling); it then lifts coefficients given
/// modulo any prefix `q_0, ..., q_{k-1}`, `1 <= k <= L+1`, i.e. at any level.
///
/// Cost: `k(k-1)/2` Shoup multiplications per coefficient (twice that for negative values).
#[derive(Debug, Clone)]
pub struct CrtLift {
    moduli: Vec<u64>,
    /// `inv[i] = (q_0 ... q_{i-1})^{-1} mod q_i` and its Shoup companion.
    inv: Vec<(u64, u64)>,
    /// `prefix[i][j] = (q_0 ... q_{j-1}) mod q_i` for `j < i`, with Shoup companions.
    prefix: Vec<Vec<(u64, u64)>>,
    /// `half_digits[k-1]`: mixed-radix digits of `(Q_k - 1) / 2`, `Q_k = q_0 ... q_{k-1}`.
    half_digits: Vec<Vec<u64>>,
}

impl CrtLift {
    /// Precomputes the Garner constants of the basis `moduli`.
    ///
    /// # Errors
    /// [`HeError::InvalidModulus`] if a modulus is even, below 3, at least 2^62, or not
    /// coprime to an earlier one; [`HeError::LengthMismatch`] if the basis is empty.
    pub fn new(moduli: &[u64]) -> Result<Self, HeError> {
        if moduli.is_empty() {
            return Err(HeError::LengthMismatch {
                what: "RNS basis",
                expected: 1,
                got: 0,
            });
        }
        let mut inv = Vec::with_capacity(moduli.len());
        let mut prefix = Vec::with_capacity(moduli.len());
        for (i, &q) in moduli.iter().enumerate() {
            let invalid = |reason| HeError::InvalidModulus {
                index: i,
                modulus: q,
                reason,
            };
            if q < 3 || q % 2 == 0 {
                return Err(invalid("must be odd and at least 3"));
            }
            if q >= 1u64 << MAX_MODULUS_BITS {
                return Err(invalid("must be below 2^62"));
            }
            let mut row = Vec::with_capacity(i);
            let mut product = 1u64;
            for &earlier in &moduli[..i] {
                row.push((product, shoup(product, q)));
                product = mul_mod(product, earlier % q, q);
            }
            let product_inv =
                inv_mod(product, q).ok_or(invalid("not coprime to an earlier modulus"))?;
            inv.push((product_inv, shoup(product_inv, q)));
            prefix.push(row);
        }
        let mut lift = Self {
            moduli: moduli.to_vec(),
            inv,
            prefix,
            half_digits: Vec::new(),
        };
        // (Q_k - 1)/2 = -1/2 mod Q_k has residue (q_i - 1)/2 modulo every odd q_i.
        let half_residues: Vec<u64> = moduli.iter().map(|&q| (q - 1) / 2).collect();
        let mut digits = vec![0u64; moduli.len()];
        let half_digits = (1..=moduli.len())
            .map(|k| {
                lift.mixed_radix(&half_residues[..k], &mut digits[..k]);
                digits[..k].to_vec()
            })
            .collect();
        lift.half_digits = half_digits;
        Ok(lift)
    }

    /// The RNS basis this lift was built for.
    pub fn moduli(&self) -> &[u64] {
        &self.moduli
    }

    /// Garner: mixed-radix digits `v` with `x = v_0 + v_1 q_0 + v_2 q_0 q_1 + ...`.
    fn mixed_radix(&self, residues: &[u64], digits: &mut [u64]) {
        for i in 0..residues.len() {
            let q = self.moduli[i];
            let mut sum = 0u64;
            for (&v, &(p, p_shoup)) in digits[..i].iter().zip(&self.prefix[i]) {
                sum += mul_shoup(v, p, p_shoup, q);
                if sum >= q {
                    sum -= q;
                }
            }
            let t = if residues[i] >= sum {
                residues[i] - sum
            } else {
                residues[i] + q - sum
            };
            let (w, w_shoup) = self.inv[i];
            digits[i] = mul_shoup(t, w, w_shoup, q);
        }
    }

    fn horner(&self, digits: &[u64]) -> f64 {
        let mut acc = 0.0f64;
        for (i, &v) in digits.iter().enumerate().rev() {
            acc = acc * self.moduli[i] as f64 + v as f64;
        }
        acc
    }

    /// Centered representative of one coefficient given by its residues modulo the first
    /// `residues.len()` moduli. `digits` is scratch space of the same length.
    fn lift_one(&self, residues: &[u64], digits: &mut [u64]) -> f64 {
        let k = residues.len();
        self.mixed_radix(residues, digits);
        let half = &self.half_digits[k - 1];
        // x > (Q-1)/2  <=>  the most significant differing mixed-radix digit is larger.
        let negative = digits
            .iter()
            .rev()
            .zip(half.iter().rev())
            .find(|(d, h)| d != h)
            .is_some_and(|(d, h)| d > h);
        if negative {
            // Q - x in mixed radix, without a second Garner pass: Q - 1 has the digits
            // (q_0 - 1, ..., q_{k-1} - 1), so Q - 1 - x has the digits q_i - 1 - v_i (no
            // borrow), and adding 1 propagates a carry.
            let mut carry = true;
            for (d, &q) in digits.iter_mut().zip(&self.moduli) {
                *d = q - 1 - *d;
                if carry {
                    if *d + 1 == q {
                        *d = 0;
                    } else {
                        *d += 1;
                        carry = false;
                    }
                }
            }
            -self.horner(digits)
        } else {
            self.horner(digits)
        }
    }

    /// Lifts `n` coefficients given as RNS limbs (`limbs[i][j]` = coefficient `j` modulo
    /// `q_i`, for the first `limbs.len()` moduli of the basis) to their centered values.
    ///
    /// # Errors
    /// [`HeError::LengthMismatch`] if there are no limbs, more limbs than moduli, or limbs of
    /// different lengths; [`HeError::UnreducedResidue`] if a residue is not below its modulus.
    pub fn lift_centered<L: AsRef<[u64]>>(&self, limbs: &[L]) -> Result<Vec<f64>, HeError> {
        let k = limbs.len();
        if k == 0 || k > self.moduli.len() {
            return Err(HeError::LengthMismatch {
                what: "number of RNS limbs",
                expected: self.moduli.len(),
                got: k,
            });
        }
        let n = limbs[0].as_ref().len();
        for (limb, &q) in limbs.iter().zip(&self.moduli) {
            let limb = limb.as_ref();
            if limb.len() != n {
                return Err(HeError::LengthMismatch {
                    what: "RNS limb",
                    expected: n,
                    got: limb.len(),
                });
            }
            if let Some((index, &value)) = limb.iter().enumerate().find(|(_, &r)| r >= q) {
                return Err(HeError::UnreducedResidue {
                    index,
                    value,
                    modulus: q,
                });
            }
        }
        if k == 1 {
            let q = self.moduli[0];
            let half = (q - 1) / 2;
            return Ok(limbs[0]
                .as_ref()
                .iter()
                .map(|&r| {
                    if r > half {
                        -((q - r) as f64)
                    } else {
                        r as f64
                    }
                })
                .collect());
        }
        let mut residues = vec![0u64; k];
        let mut digits = vec![0u64; k];
        Ok((0..n)
            .map(|j| {
                for (r, limb) in residues.iter_mut().zip(limbs) {
                    *r = limb.as_ref()[j];
                }
                self.lift_one(&residues, &mut digits)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 60-bit and two 30-bit NTT primes: `Q` ~ 2^120 still fits the `i128` reference.
    fn basis() -> Vec<u64> {
        vec![1_152_921_504_606_584_833, 1_073_738_753, 1_073_736_449]
    }

    fn residues_of(x: i128, moduli: &[u64]) -> Vec<u64> {
        moduli
            .iter()
            .map(|&q| x.rem_euclid(q as i128) as u64)
            .collect()
    }

    #[test]
    fn reduce_f64_matches_integer_reduction() {
        let q = 1_152_921_504_606_584_833u64;
        for &x in &[
            0.0f64,
            1.0,
            -1.0,
            12345.0,
            -(q as f64),
            2f64.powi(80) + 2f64.powi(30),
            -(2f64.powi(100) * 3.0),
            2f64.powi(63),
            -(2f64.powi(63)),
            9.0e18,
        ] {
            let expected = (x as i128).rem_euclid(q as i128) as u64;
            assert_eq!(reduce_f64(x, q), expected, "x = {x:e}");
        }
        // Beyond i128: compare against reduction of mantissa * 2^e computed independently.
        let x = -(2f64.powi(200) * 5.0);
        let expected = (q - mul_mod(5, pow_mod(2, 200, q), q)) % q;
        assert_eq!(reduce_f64(x, q), expected);
    }

    #[test]
    fn lift_recovers_signed_values_at_every_level() {
        let moduli = basis();
        let lift = CrtLift::new(&moduli).unwrap();
        let values: [i128; 8] = [
            0,
            1,
            -1,
            123_456_789,
            -987_654_321_012,
            (1i128 << 90) + 17,
            -(1i128 << 99) - 5,
            (1i128 << 100) / 3,
        ];
        for k in 1..=moduli.len() {
            let q_k: i128 = moduli[..k].iter().map(|&q| q as i128).product();
            let limbs: Vec<Vec<u64>> = (0..k)
                .map(|i| {
                    values
                        .iter()
                        .map(|&v| residues_of(v, &moduli[..k])[i])
                        .collect()
                })
                .collect();
            let lifted = lift.lift_centered(&limbs).unwrap();
            for (&v, &got) in values.iter().zip(&lifted) {
                // Expected: the centered representative of v mod Q_k.
                let mut c = v.rem_euclid(q_k);
                if c > (q_k - 1) / 2 {
                    c -= q_k;
                }
                let expected = c as f64;
                let tolerance = expected.abs() * 1e-15;
                assert!(
                    (got - expected).abs() <= tolerance,
                    "k={k} v={v}: got {got:e}, expected {expected:e}"
                );
            }
        }
    }

    #[test]
    fn lift_is_exact_for_values_below_2_53() {
        let moduli = basis();
        let lift = CrtLift::new(&moduli).unwrap();
        let values: Vec<i128> = (-500..500).map(|i| i * 9_007_199_254_740 + i).collect();
        let limbs: Vec<Vec<u64>> = (0..3)
            .map(|i| values.iter().map(|&v| residues_of(v, &moduli)[i]).collect())
            .collect();
        let lifted = lift.lift_centered(&limbs).unwrap();
        for (&v, &got) in values.iter().zip(&lifted) {
            assert_eq!(got, v as f64);
        }
    }

    #[test]
    fn rejects_bad_bases_and_residues() {
        assert!(matches!(
            CrtLift::new(&[]),
            Err(HeError::LengthMismatch { .. })
        ));
        assert!(matches!(
            CrtLift::new(&[17, 16]),
            Err(HeError::InvalidModulus { index: 1, .. })
        ));
        assert!(matches!(
            CrtLift::new(&[17, 17]),
            Err(HeError::InvalidModulus { index: 1, .. })
        ));
        assert!(matches!(
            CrtLift::new(&[1u64 << 62 | 1]),
            Err(HeError::InvalidModulus { index: 0, .. })
        ));
        let lift = CrtLift::new(&[17, 97]).unwrap();
        assert!(matches!(
            lift.lift_centered(&[vec![1u64, 2], vec![3]]),
            Err(HeError::LengthMismatch { .. })
        ));
        assert!(matches!(
            lift.lift_centered(&[vec![1u64, 17]]),
            Err(HeError::UnreducedResidue { index: 1, .. })
        ));
        assert!(matches!(
            lift.lift_centered(&[vec![1u64], vec![1], vec![1]]),
            Err(HeError::LengthMismatch { .. })
        ));
    }
}
