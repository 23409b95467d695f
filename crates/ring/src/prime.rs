//! NTT-friendly primes: deterministic Miller–Rabin for 64-bit integers and generation of
//! primes `p ≡ 1 (mod 2n)` of a requested bit size (as SEAL's `CoeffModulus::Create` and
//! Lattigo's `ring.NewNTTFriendlyPrimesGenerator`).

use crate::RingError;

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

fn pow_mod(mut a: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    a %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, a, m);
        }
        a = mul_mod(a, a, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller–Rabin primality test for all `u64`: the first twelve primes as
/// witnesses are known to suffice below 3.3·10^24 (Sorenson & Webster 2015).
pub fn is_prime(n: u64) -> bool {
    const WITNESSES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for &p in &WITNESSES {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for &a in &WITNESSES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Generates `count` distinct primes of exactly `bits` bits with `p ≡ 1 (mod 2n)`, largest
/// first, skipping those in `exclude`. Deterministic: the search walks down from `2^bits`.
///
/// Errors if `bits` is outside `[log2(2n) + 2, 61]` or not enough primes exist.
pub fn generate_ntt_primes(
    bits: u32,
    n: usize,
    count: usize,
    exclude: &[u64],
) -> Result<Vec<u64>, RingError> {
    if !n.is_power_of_two() || n < 2 {
        return Err(RingError::InvalidDegree(n));
    }
    let two_n = 2 * n as u64;
    if bits > 61 || (bits as u64) < two_n.trailing_zeros() as u64 + 2 {
        return Err(RingError::InvalidPrimeSize { bits, n });
    }
    let upper = 1u64 << bits;
    let lower = 1u64 << (bits - 1);
    // largest candidate ≡ 1 mod 2n below 2^bits
    let mut candidate = upper - two_n + 1;
    let mut primes = Vec::with_capacity(count);
    while primes.len() < count {
        if candidate < lower {
            return Err(RingError::NotEnoughPrimes { bits, n, count });
        }
        if is_prime(candidate) && !exclude.contains(&candidate) {
            primes.push(candidate);
        }
        candidate -= two_n;
    }
    Ok(primes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_primes_match_trial_division() {
        for n in 0u64..5000 {
            let trial = n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            assert_eq!(is_prime(n), trial, "{n}");
        }
    }

    #[test]
    fn known_large_primes_and_composites() {
        assert!(is_prime(0x3fffffffef8001));
        assert!(is_prime(0x7ffffffffb4001));
        assert!(is_prime((1 << 61) - 1));
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2,3,5,7
        assert!(!is_prime(0x3fffffffef8001 * 3));
        assert!(!is_prime(4_294_967_297)); // 2^32 + 1
    }

    #[test]
    fn generated_primes_are_ntt_friendly() {
        let ps = generate_ntt_primes(54, 8192, 4, &[]).unwrap();
        assert_eq!(ps.len(), 4);
        for w in ps.windows(2) {
            assert!(w[0] > w[1]);
        }
        for &p in &ps {
            assert!(is_prime(p));
            assert_eq!(p % 16384, 1);
            assert_eq!(64 - p.leading_zeros(), 54);
        }
        let more = generate_ntt_primes(54, 8192, 2, &ps[..2]).unwrap();
        assert_eq!(more, ps[2..4].to_vec());
        assert!(generate_ntt_primes(62, 8192, 1, &[]).is_err());
        assert!(generate_ntt_primes(10, 8192, 1, &[]).is_err());
    }
}
