//! Galois automorphisms `σ_k: a(X) ↦ a(X^k)` of `Z[X]/(X^n+1)` for odd `k`. On NTT form they are
//! index permutations: if position `j` holds `a(ψ^{e_j})` then `σ_k(a)` holds
//! `a(ψ^{e_j·k})` there, i.e. the value at the position whose exponent is `e_j·k mod 2n`
//! (Halevi–Shoup, "Algorithms in HElib", CRYPTO 2014, §4; SEAL's `GaloisTool`).

use crate::RingError;

/// An odd Galois element `k` modulo `2n` with its precomputed NTT-form permutation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaloisElement {
    k: usize,
    n: usize,
    perm: Vec<u32>,
}

impl GaloisElement {
    /// Precomputes `σ_k` for degree `n`, given the NTT position→exponent table of the basis
    /// ([`crate::RnsBasis::exponent_of_position`]).
    pub fn new(k: usize, exponent_of_position: &[u32]) -> Result<Self, RingError> {
        let n = exponent_of_position.len();
        let two_n = 2 * n;
        if k.is_multiple_of(2) || k >= two_n {
            return Err(RingError::InvalidGaloisElement(k));
        }
        let mut position_of_exponent = vec![u32::MAX; two_n];
        for (j, &e) in exponent_of_position.iter().enumerate() {
            position_of_exponent[e as usize] = j as u32;
        }
        let perm: Vec<u32> = exponent_of_position
            .iter()
            .map(|&e| position_of_exponent[(e as usize * k) % two_n])
            .collect();
        // every index in range (kernels reading through the permutation rely on it)
        if perm.iter().any(|&p| p as usize >= n) {
            return Err(RingError::InvalidGaloisElement(k));
        }
        Ok(Self { k, n, perm })
    }

    /// The element `k`.
    pub fn element(&self) -> usize {
        self.k
    }

    /// Ring degree `n`.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// `perm[j]`: the source position of NTT output position `j` (a permutation of `0..n`,
    /// every entry below `n`).
    pub fn ntt_permutation(&self) -> &[u32] {
        &self.perm
    }
}

/// The Galois element rotating the columns of the BFV `2 × n/2` slot matrix left by `step`
/// (negative: right): `3^step mod 2n` (SEAL's `GaloisTool::get_elt_from_step`).
pub fn column_rotation_element(step: i64, n: usize) -> usize {
    let two_n = 2 * n as u64;
    let half = (n / 2) as i64;
    let s = step.rem_euclid(half) as u64;
    let mut g = 1u64;
    for _ in 0..s {
        g = g * 3 % two_n;
    }
    g as usize
}

/// The Galois element swapping the two rows of the slot matrix: `2n − 1` (complex conjugation
/// for CKKS).
pub fn row_swap_element(n: usize) -> usize {
    2 * n - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poly::{Form, RnsPoly};
    use crate::prime::generate_ntt_primes;
    use crate::rns::RnsBasis;

    #[test]
    fn ntt_automorphism_equals_ntt_of_coefficient_automorphism() {
        let n = 256;
        let primes = generate_ntt_primes(50, n, 3, &[]).unwrap();
        let basis = RnsBasis::new(n, &primes).unwrap();
        let coeffs: Vec<i64> = (0..n as i64).map(|i| (i * 31337 % 1001) - 500).collect();
        let a = RnsPoly::from_signed(&basis, 3, &coeffs);
        for k in [
            3usize,
            5,
            9,
            2 * n - 1,
            column_rotation_element(7, n),
            column_rotation_element(-1, n),
        ] {
            let g = GaloisElement::new(k, basis.exponent_of_position()).unwrap();
            let mut via_coeff = a.automorphism(&g, &basis);
            via_coeff.ntt_forward(&basis);
            let mut a_ntt = a.clone();
            a_ntt.ntt_forward(&basis);
            let via_ntt = a_ntt.automorphism(&g, &basis);
            assert_eq!(via_ntt, via_coeff, "k = {k}");
            assert_eq!(via_ntt.form(), Form::Ntt);
        }
        assert!(GaloisElement::new(4, basis.exponent_of_position()).is_err());
    }

    #[test]
    fn rotation_elements() {
        let n = 16;
        assert_eq!(column_rotation_element(1, n), 3);
        assert_eq!(column_rotation_element(2, n), 9);
        assert_eq!(column_rotation_element(0, n), 1);
        // rotating right by one = left by n/2 - 1
        assert_eq!(
            column_rotation_element(-1, n),
            column_rotation_element(7, n)
        );
        assert_eq!(column_rotation_element(-1, n) * 3 % 32, 1);
    }
}
