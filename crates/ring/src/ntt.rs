//! Negacyclic number-theoretic transform over one word-size prime, delegating the butterflies
//! to `tfhe-ntt` (Harvey-style lazy butterflies, AVX-512 when available), plus the table
//! mapping each NTT output position to the odd power of the root it evaluates at. That table
//! is what lets Galois automorphisms act on NTT-form polynomials as index permutations.

use crate::modulus::Modulus;
use crate::RingError;
use tfhe_ntt::prime64::Plan;

/// A negacyclic NTT of size `n` modulo a prime `q ≡ 1 (mod 2n)`.
///
/// Forward: coefficients in standard order → evaluations `a(ψ^{e_j})` at position `j`, where
/// `e_j` is odd. tfhe-ntt emits the evaluations in bit-reversed order; rather than assuming
/// its convention, [`NttOperator::new`] measures `e_j` by transforming the monomial `X`
/// (whose transform at position `j` is `ψ^{e_j}` itself), relative to `ψ := NTT(X)[0]`.
#[derive(Clone)]
pub struct NttOperator {
    plan: Plan,
    modulus: Modulus,
    /// `exponent_of_position[j] = e_j`, odd, in `[1, 2n)`.
    exponent_of_position: Vec<u32>,
}

impl std::fmt::Debug for NttOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NttOperator")
            .field("n", &self.exponent_of_position.len())
            .field("q", &self.modulus.value())
            .finish()
    }
}

impl NttOperator {
    /// Builds the transform for degree `n` (a power of two ≥ 16) and prime `q ≡ 1 mod 2n`.
    pub fn new(n: usize, q: u64) -> Result<Self, RingError> {
        let modulus = Modulus::new(q).ok_or(RingError::InvalidModulus(q))?;
        let plan = Plan::try_new(n, q).ok_or(RingError::NotNttFriendly { q, n })?;
        let mut x = vec![0u64; n];
        x[1] = 1;
        plan.fwd(&mut x);
        let psi = x[0];
        // discrete logarithms of the 2n-th roots of unity in base psi
        let two_n = 2 * n;
        let mut log = std::collections::HashMap::with_capacity(two_n);
        let mut power = 1u64;
        for e in 0..two_n {
            log.insert(power, e as u32);
            power = modulus.mul(power, psi);
        }
        if power != 1 || log.len() != two_n {
            return Err(RingError::NotNttFriendly { q, n });
        }
        let mut exponent_of_position = Vec::with_capacity(n);
        for v in &x {
            match log.get(v) {
                Some(&e) if e % 2 == 1 => exponent_of_position.push(e),
                _ => return Err(RingError::NotNttFriendly { q, n }),
            }
        }
        Ok(Self {
            plan,
            modulus,
            exponent_of_position,
        })
    }

    /// The ring degree `n`.
    pub fn degree(&self) -> usize {
        self.exponent_of_position.len()
    }

    /// The modulus.
    pub fn modulus(&self) -> &Modulus {
        &self.modulus
    }

    /// For each NTT position `j`, the odd exponent `e_j` such that position `j` holds `a(ψ^{e_j})`.
    pub fn exponent_of_position(&self) -> &[u32] {
        &self.exponent_of_position
    }

    /// Forward negacyclic NTT in place (input coefficients must be `< q`).
    pub fn forward(&self, a: &mut [u64]) {
        self.plan.fwd(a);
    }

    /// Inverse negacyclic NTT in place, including the `n^{-1}` normalization.
    pub fn backward(&self, a: &mut [u64]) {
        self.plan.inv(a);
        self.plan.normalize(a);
    }

    /// Pointwise `acc += a * b mod q` (SIMD Barrett from tfhe-ntt).
    pub fn mul_accumulate(&self, acc: &mut [u64], a: &[u64], b: &[u64]) {
        self.plan.mul_accumulate(acc, a, b);
    }

    /// Pointwise `out = a * b mod q`.
    pub fn mul_into(&self, out: &mut [u64], a: &[u64], b: &[u64]) {
        out.fill(0);
        self.plan.mul_accumulate(out, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prime::generate_ntt_primes;

    fn schoolbook_negacyclic(a: &[u64], b: &[u64], m: &Modulus) -> Vec<u64> {
        let n = a.len();
        let mut c = vec![0u64; n];
        for i in 0..n {
            for j in 0..n {
                let p = m.mul(a[i], b[j]);
                if i + j < n {
                    c[i + j] = m.add(c[i + j], p);
                } else {
                    c[i + j - n] = m.sub(c[i + j - n], p);
                }
            }
        }
        c
    }

    #[test]
    fn round_trip_and_convolution() {
        let n = 64;
        for q in generate_ntt_primes(50, n, 2, &[]).unwrap() {
            let op = NttOperator::new(n, q).unwrap();
            let m = *op.modulus();
            let a: Vec<u64> = (0..n as u64).map(|i| (i * 7919 + 3) % q).collect();
            let b: Vec<u64> = (0..n as u64).map(|i| (i * i * 104729 + 11) % q).collect();
            let mut fa = a.clone();
            op.forward(&mut fa);
            let mut back = fa.clone();
            op.backward(&mut back);
            assert_eq!(back, a);
            let mut fb = b.clone();
            op.forward(&mut fb);
            let mut fc = vec![0; n];
            op.mul_into(&mut fc, &fa, &fb);
            op.backward(&mut fc);
            assert_eq!(fc, schoolbook_negacyclic(&a, &b, &m));
        }
    }

    #[test]
    fn exponents_are_a_permutation_of_odd_residues() {
        let n = 1024;
        let q = generate_ntt_primes(55, n, 1, &[]).unwrap()[0];
        let op = NttOperator::new(n, q).unwrap();
        let mut seen = vec![false; 2 * n];
        for &e in op.exponent_of_position() {
            assert_eq!(e % 2, 1);
            assert!(!seen[e as usize]);
            seen[e as usize] = true;
        }
    }
}
