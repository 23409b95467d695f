//! Residue number system (RNS) bases and fast base conversion.
//!
//! A basis is an ordered list of word-size NTT primes `q_0, ..., q_{L}`; an integer modulo
//! `Q = ∏ q_i` is stored as its residues. Fast base conversion (Bajard, Eynard, Hasan,
//! Zucca, "A full RNS variant of FV like somewhat homomorphic encryption schemes", SAC 2016,
//! §2.2 — "BEHZ16") maps residues modulo `A` to residues modulo `B` of
//! `Σ_i [x_i·(A/a_i)^{-1}]_{a_i}·(A/a_i) = x + u·A` with `0 <= u < |A|`; the exact variant of
//! Halevi, Polyakov, Shoup, "An improved RNS variant of the BFV homomorphic encryption
//! scheme", CT-RSA 2019 ("HPS19", §2.3) removes `u·A` with a floating-point estimate of `u`
//! and returns the centered representative.

use crate::modulus::Modulus;
use crate::ntt::NttOperator;
use crate::RingError;
use rayon::prelude::*;
use std::sync::Arc;

/// An ordered RNS basis of NTT-friendly primes for ring degree `n`, with an NTT operator per
/// prime. Cheap to clone (operators are shared).
#[derive(Clone, Debug)]
pub struct RnsBasis {
    n: usize,
    ntt: Vec<Arc<NttOperator>>,
}

impl RnsBasis {
    /// Builds a basis of distinct primes `q_i ≡ 1 (mod 2n)`.
    pub fn new(n: usize, moduli: &[u64]) -> Result<Self, RingError> {
        let ntt = moduli
            .iter()
            .map(|&q| NttOperator::new(n, q).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_operators(n, ntt)
    }

    /// Builds a basis from existing operators (no recomputation of twiddles).
    pub fn from_operators(n: usize, ntt: Vec<Arc<NttOperator>>) -> Result<Self, RingError> {
        if ntt.is_empty() {
            return Err(RingError::EmptyBasis);
        }
        for (i, op) in ntt.iter().enumerate() {
            if op.degree() != n {
                return Err(RingError::InvalidDegree(op.degree()));
            }
            if ntt[..i].iter().any(|o| o.modulus() == op.modulus()) {
                return Err(RingError::DuplicateModulus(op.modulus().value()));
            }
            // Galois permutations are computed once per basis: all primes must agree on the
            // position→exponent order (true for tfhe-ntt, checked here).
            if op.exponent_of_position() != ntt[0].exponent_of_position() {
                return Err(RingError::InconsistentNttOrder);
            }
        }
        Ok(Self { n, ntt })
    }

    /// Ring degree `n`.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// Number of primes.
    pub fn len(&self) -> usize {
        self.ntt.len()
    }

    /// Whether the basis has no primes (never true for a constructed basis).
    pub fn is_empty(&self) -> bool {
        self.ntt.is_empty()
    }

    /// The `i`-th modulus.
    pub fn modulus(&self, i: usize) -> &Modulus {
        self.ntt[i].modulus()
    }

    /// All moduli values.
    pub fn moduli(&self) -> Vec<u64> {
        self.ntt.iter().map(|o| o.modulus().value()).collect()
    }

    /// The NTT operator of the `i`-th prime.
    pub fn ntt(&self, i: usize) -> &NttOperator {
        &self.ntt[i]
    }

    /// Shared NTT operators, for building other bases without recomputation.
    pub fn operators(&self) -> &[Arc<NttOperator>] {
        &self.ntt
    }

    /// The sub-basis of the first `k` primes.
    pub fn prefix(&self, k: usize) -> Self {
        Self {
            n: self.n,
            ntt: self.ntt[..k].to_vec(),
        }
    }

    /// The sub-basis of primes `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            n: self.n,
            ntt: self.ntt[range].to_vec(),
        }
    }

    /// The concatenation `self ∪ other` (primes must be distinct).
    pub fn concat(&self, other: &Self) -> Result<Self, RingError> {
        let mut ntt = self.ntt.clone();
        ntt.extend(other.ntt.iter().cloned());
        Self::from_operators(self.n, ntt)
    }

    /// Total bit size `log2(∏ q_i)`.
    pub fn log2_product(&self) -> f64 {
        self.ntt
            .iter()
            .map(|o| (o.modulus().value() as f64).log2())
            .sum()
    }

    /// `∏ q_i mod m`.
    pub fn product_mod(&self, m: &Modulus) -> u64 {
        self.ntt.iter().fold(1 % m.value(), |acc, o| {
            m.mul(acc, m.reduce(o.modulus().value()))
        })
    }

    /// Odd exponent evaluated at each NTT position (shared by all primes of the basis).
    pub fn exponent_of_position(&self) -> &[u32] {
        self.ntt[0].exponent_of_position()
    }
}

/// Precomputed fast base conversion from basis `A` to basis `B` (BEHZ16 §2.2; exact centered
/// variant of HPS19 §2.3 via [`BaseConverter::convert_exact`]).
#[derive(Clone, Debug)]
pub struct BaseConverter {
    from: RnsBasis,
    to: RnsBasis,
    /// `[(A/a_i)^{-1}]_{a_i}` and its Shoup form.
    inv_punctured: Vec<(u64, u64)>,
    /// `[A/a_i]_{b_j}`, indexed `[j][i]`.
    punctured_mod_to: Vec<Vec<u64>>,
    /// `[A]_{b_j}`.
    product_mod_to: Vec<u64>,
    /// `[A/a_i]_{b_j}` with Shoup companions, indexed `[j][i]`.
    punctured_mod_to_shoup: Vec<Vec<(u64, u64)>>,
    /// `[A]_{b_j}` with its Shoup companion.
    product_mod_to_shoup: Vec<(u64, u64)>,
    /// `1 / a_i` as floating point.
    inv_from_f64: Vec<f64>,
}

impl BaseConverter {
    /// Precomputes the constants for converting from `from` to `to`.
    pub fn new(from: &RnsBasis, to: &RnsBasis) -> Result<Self, RingError> {
        if from.len() > 60 {
            return Err(RingError::BasisTooLarge(from.len()));
        }
        let mut inv_punctured = Vec::with_capacity(from.len());
        for i in 0..from.len() {
            let ai = from.modulus(i);
            let punct = (0..from.len()).filter(|&k| k != i).fold(1u64, |acc, k| {
                ai.mul(acc, ai.reduce(from.modulus(k).value()))
            });
            let inv = ai
                .inv(punct)
                .ok_or(RingError::DuplicateModulus(ai.value()))?;
            inv_punctured.push((inv, ai.shoup(inv)));
        }
        let punctured_mod_to: Vec<Vec<u64>> = (0..to.len())
            .map(|j| {
                let bj = to.modulus(j);
                (0..from.len())
                    .map(|i| {
                        (0..from.len()).filter(|&k| k != i).fold(1u64, |acc, k| {
                            bj.mul(acc, bj.reduce(from.modulus(k).value()))
                        })
                    })
                    .collect()
            })
            .collect();
        let product_mod_to: Vec<u64> = (0..to.len())
            .map(|j| from.product_mod(to.modulus(j)))
            .collect();
        let inv_from_f64 = (0..from.len())
            .map(|i| 1.0 / from.modulus(i).value() as f64)
            .collect();
        let punctured_mod_to_shoup = punctured_mod_to
            .iter()
            .enumerate()
            .map(|(j, row)| {
                let bj = to.modulus(j);
                row.iter().map(|&w| (w, bj.shoup(w))).collect()
            })
            .collect();
        let product_mod_to_shoup = product_mod_to
            .iter()
            .enumerate()
            .map(|(j, &w)| (w, to.modulus(j).shoup(w)))
            .collect();
        Ok(Self {
            from: from.clone(),
            to: to.clone(),
            inv_punctured,
            punctured_mod_to,
            product_mod_to,
            punctured_mod_to_shoup,
            product_mod_to_shoup,
            inv_from_f64,
        })
    }

    /// The source basis.
    pub fn from_basis(&self) -> &RnsBasis {
        &self.from
    }

    /// The target basis.
    pub fn to_basis(&self) -> &RnsBasis {
        &self.to
    }

    fn scaled_residues(&self, input: &[u64]) -> Vec<u64> {
        let n = self.from.degree();
        // every word is written below: no zero fill
        let mut y = crate::buffer_pool::take_for_overwrite(input.len());
        y.par_chunks_mut(n)
            .zip(input.par_chunks(n))
            .enumerate()
            .for_each(|(i, (yi, xi))| {
                let m = self.from.modulus(i);
                let (w, ws) = self.inv_punctured[i];
                for (o, &x) in yi.iter_mut().zip(xi) {
                    *o = m.mul_shoup(x, w, ws);
                }
            });
        y
    }

    /// Fast (approximate) base conversion of coefficient-form residues `input`
    /// (`|A|·n` words, limb-major) into `output` (`|B|·n` words): the result is `x + u·A` for
    /// some `0 <= u < |A|`.
    pub fn convert_approx(&self, input: &[u64], output: &mut [u64]) {
        let n = self.from.degree();
        debug_assert_eq!(input.len(), self.from.len() * n);
        debug_assert_eq!(output.len(), self.to.len() * n);
        let y = self.scaled_residues(input);
        let k = self.from.len();
        output.par_chunks_mut(n).enumerate().for_each(|(j, out)| {
            let bj = self.to.modulus(j);
            let w = &self.punctured_mod_to[j];
            for (c, o) in out.iter_mut().enumerate() {
                let mut acc: u128 = 0;
                for i in 0..k {
                    acc += y[i * n + c] as u128 * w[i] as u128;
                }
                *o = bj.reduce_u128(acc);
            }
        });
        crate::buffer_pool::give(y);
    }

    /// Exact base conversion of the centered representative of `x mod A` (HPS19 §2.3): the
    /// overflow `u = round(Σ y_i / a_i)` is estimated in floating point and subtracted.
    /// Correct whenever `x/A` is not within ~`2^-50` of `±1/2`. The per-coefficient work is
    /// lazy Shoup arithmetic with precomputed constants ([`crate::simd`], AVX-512 when
    /// available).
    pub fn convert_exact(&self, input: &[u64], output: &mut [u64]) {
        self.convert_exact_split(input, output, &mut []);
    }

    /// [`convert_exact`](Self::convert_exact) with the output limbs in two pieces: the first
    /// `lo.len()/n` target limbs into `lo`, the rest into `hi` (so a caller can write the
    /// conversion around limbs it already holds, e.g. the ModUp digit's own limbs, without
    /// moving them afterwards).
    pub fn convert_exact_split(&self, input: &[u64], lo: &mut [u64], hi: &mut [u64]) {
        let n = self.from.degree();
        debug_assert_eq!(input.len(), self.from.len() * n);
        debug_assert_eq!(lo.len() + hi.len(), self.to.len() * n);
        if self.from.len() == 1 {
            self.convert_exact_single(input, lo, hi);
            return;
        }
        let k = self.from.len();
        // every word of `y` is written by `scale_and_estimate`: no zero fill
        let mut y = crate::buffer_pool::take_for_overwrite(k * n);
        // the estimate buffer is reused per thread (taken out of the thread-local, so a
        // nested call on a work-stealing thread simply allocates its own)
        let mut s = ESTIMATES
            .try_with(|e| std::mem::take(&mut *e.borrow_mut()))
            .unwrap_or_default();
        s.clear();
        s.resize(n, 0.0);
        for (i, (yi, xi)) in y.chunks_mut(n).zip(input.chunks(n)).enumerate() {
            crate::simd::scale_and_estimate(
                self.from.modulus(i),
                xi,
                self.inv_punctured[i],
                self.inv_from_f64[i],
                yi,
                &mut s,
            );
        }
        // `s >= 0`: truncation of `s + 1/2` rounds without a libm call.
        let mut v = crate::buffer_pool::take_for_overwrite(n);
        crate::simd::round_estimates(&s, &mut v);
        let _ = ESTIMATES.try_with(|e| *e.borrow_mut() = s);
        lo.par_chunks_mut(n)
            .chain(hi.par_chunks_mut(n))
            .enumerate()
            .for_each(|(j, out)| {
                // `v ∈ [0, k]`: subtract `[v·A]_{b_j}`.
                crate::simd::dot_constants_sub(
                    self.to.modulus(j),
                    &y,
                    &self.punctured_mod_to_shoup[j],
                    &v,
                    k as u64,
                    self.product_mod_to_shoup[j],
                    out,
                );
            });
        crate::buffer_pool::give(y);
        crate::buffer_pool::give(v);
    }
}

thread_local! {
    /// Per-thread scratch for the overflow estimates of [`BaseConverter::convert_exact`].
    static ESTIMATES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl BaseConverter {
    /// [`BaseConverter::convert_exact`] from a single prime `a`: the centred representative is
    /// `x` if `x <= a/2`, else `x - a`; one reduction per output, no scaling and no floating
    /// point.
    fn convert_exact_single(&self, input: &[u64], lo: &mut [u64], hi: &mut [u64]) {
        let n = self.from.degree();
        let half = self.from.modulus(0).value() / 2;
        lo.par_chunks_mut(n)
            .chain(hi.par_chunks_mut(n))
            .enumerate()
            .for_each(|(j, out)| {
                crate::simd::centred_lift(
                    self.to.modulus(j),
                    input,
                    half,
                    self.product_mod_to[j],
                    out,
                );
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prime::generate_ntt_primes;

    fn crt(values: &[u64], moduli: &[u64]) -> i128 {
        // small moduli only (product < 2^126)
        let q: i128 = moduli.iter().map(|&m| m as i128).product();
        let mut x: i128 = 0;
        for (&v, &m) in values.iter().zip(moduli) {
            let qi = q / m as i128;
            let mm = Modulus::new(m).unwrap();
            let inv = mm.inv((qi % m as i128) as u64).unwrap() as i128;
            x = (x + (v as i128 * inv % m as i128) * qi) % q;
        }
        if x > q / 2 {
            x - q
        } else {
            x
        }
    }

    #[test]
    fn exact_conversion_from_one_prime_is_centred() {
        let n = 16;
        let a = generate_ntt_primes(50, n, 1, &[]).unwrap();
        // targets both smaller and larger than a
        let mut b = generate_ntt_primes(30, n, 1, &a).unwrap();
        b.extend(generate_ntt_primes(60, n, 1, &a).unwrap());
        let from = RnsBasis::new(n, &a).unwrap();
        let to = RnsBasis::new(n, &b).unwrap();
        let conv = BaseConverter::new(&from, &to).unwrap();
        let q = a[0] as i128;
        let input: Vec<u64> = (0..n as u64)
            .map(|c| match c {
                0 => 0,
                1 => a[0] / 2,
                2 => a[0] / 2 + 1,
                3 => a[0] - 1,
                _ => c.wrapping_mul(0x9e37_79b9_7f4a_7c15) % a[0],
            })
            .collect();
        let mut out = vec![0u64; 2 * n];
        conv.convert_exact(&input, &mut out);
        for (j, &m) in b.iter().enumerate() {
            for c in 0..n {
                let x = input[c] as i128;
                let centred = if x > q / 2 { x - q } else { x };
                assert_eq!(out[j * n + c] as i128, centred.rem_euclid(m as i128));
            }
        }
    }

    #[test]
    fn exact_conversion_recovers_centered_value() {
        let n = 16;
        let a = generate_ntt_primes(30, n, 3, &[]).unwrap();
        let b = generate_ntt_primes(40, n, 3, &[]).unwrap();
        let from = RnsBasis::new(n, &a).unwrap();
        let to = RnsBasis::new(n, &b).unwrap();
        let conv = BaseConverter::new(&from, &to).unwrap();
        let big_a: i128 = a.iter().map(|&m| m as i128).product();
        let values: Vec<i128> = (0..n as i128)
            .map(|i| (i * 0x1234_5678_9abc_def1 * (if i % 2 == 0 { 1 } else { -1 })) % (big_a / 2))
            .collect();
        let mut input = vec![0u64; 3 * n];
        for (i, &m) in a.iter().enumerate() {
            for c in 0..n {
                input[i * n + c] = values[c].rem_euclid(m as i128) as u64;
            }
        }
        let mut out = vec![0u64; 3 * n];
        conv.convert_exact(&input, &mut out);
        for (j, &m) in b.iter().enumerate() {
            for c in 0..n {
                assert_eq!(out[j * n + c] as i128, values[c].rem_euclid(m as i128));
            }
        }
        // approximate conversion is off by a small multiple of A
        conv.convert_approx(&input, &mut out);
        for c in 0..n {
            let got = crt(&[out[c], out[n + c], out[2 * n + c]], &b);
            let diff = got - values[c];
            assert_eq!(diff.rem_euclid(big_a), 0);
            assert!((diff / big_a).abs() <= 3);
        }
    }
}
