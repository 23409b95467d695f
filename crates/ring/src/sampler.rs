//! Samplers for RLWE: uniform residues expanded from a 32-byte seed with ChaCha20 (so the
//! uniform half of keys and ciphertexts can be sent as the seed, as in SEAL/Lattigo), uniform
//! ternary secrets, and a bounded discrete Gaussian (σ = 3.2, support |x| ≤ 19 ≈ 6σ, as the HE
//! standard and SEAL) drawn by a cumulative distribution table scanned in full (no early exit,
//! so the time does not depend on the value).

use crate::poly::{Form, RnsPoly};
use crate::rns::RnsBasis;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;

/// A 32-byte seed for [`ChaCha20Rng`].
pub type Seed = [u8; 32];

/// The CSPRNG used everywhere: ChaCha20.
pub type Csprng = ChaCha20Rng;

/// Standard deviation of the error distribution (HE standard).
pub const GAUSSIAN_SIGMA: f64 = 3.2;

/// Tail cut of the error distribution: `|e| <= 19`.
pub const GAUSSIAN_BOUND: i64 = 19;

/// A CSPRNG seeded from the operating system.
pub fn os_rng() -> Csprng {
    ChaCha20Rng::from_os_rng()
}

/// A CSPRNG shared by threads: each use takes a child generator seeded from it under a lock
/// held only for the 32 bytes of the seed, so no lock is held while the caller computes
/// (holding one across a rayon call can deadlock: a worker blocked on the lock cannot run the
/// jobs its holder waits for).
#[derive(Debug)]
pub struct SharedCsprng(std::sync::Mutex<Csprng>);

impl SharedCsprng {
    /// A shared generator seeded from the operating system.
    pub fn from_os() -> Self {
        Self(std::sync::Mutex::new(os_rng()))
    }

    /// A child generator with a fresh seed from this one.
    pub fn child(&self) -> Csprng {
        let mut parent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ChaCha20Rng::from_seed(fresh_seed_from(&mut parent))
    }
}

/// A fresh random seed from the operating system's CSPRNG.
pub fn fresh_seed() -> Seed {
    let mut seed = [0u8; 32];
    os_rng().fill_bytes(&mut seed);
    seed
}

/// A fresh seed drawn from an existing CSPRNG.
pub fn fresh_seed_from(rng: &mut Csprng) -> Seed {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}

/// The deterministic ChaCha20 stream of a seed.
pub fn rng_from_seed(seed: &Seed) -> Csprng {
    ChaCha20Rng::from_seed(*seed)
}

/// Uniform residues modulo each of the first `limbs` primes of `basis`, by rejection sampling
/// on masked 64-bit words. The result is declared to be in `form` (uniform either way).
pub fn uniform_poly(rng: &mut Csprng, basis: &RnsBasis, limbs: usize, form: Form) -> RnsPoly {
    let n = basis.degree();
    let mut p = RnsPoly::zero(n, limbs, form);
    for i in 0..limbs {
        let q = basis.modulus(i).value();
        let mask = u64::MAX >> q.leading_zeros();
        for x in p.limb_mut(i) {
            loop {
                let r = rng.next_u64() & mask;
                if r < q {
                    *x = r;
                    break;
                }
            }
        }
    }
    p
}

/// `n` coefficients uniform in `{-1, 0, 1}`.
pub fn ternary(rng: &mut Csprng, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let mut word = 0u64;
    let mut bits = 0;
    while out.len() < n {
        if bits < 2 {
            word = rng.next_u64();
            bits = 64;
        }
        let v = word & 3;
        word >>= 2;
        bits -= 2;
        if v < 3 {
            out.push(v as i64 - 1);
        }
    }
    out
}

fn gaussian_cdt() -> &'static [u64] {
    static CDT: OnceLock<Vec<u64>> = OnceLock::new();
    CDT.get_or_init(|| {
        let weights: Vec<f64> = (-GAUSSIAN_BOUND..=GAUSSIAN_BOUND)
            .map(|x| (-((x * x) as f64) / (2.0 * GAUSSIAN_SIGMA * GAUSSIAN_SIGMA)).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        // thresholds t_0..t_{2B-1}: value = -B + #{i : r >= t_i}
        weights[..weights.len() - 1]
            .iter()
            .map(|w| {
                acc += w / total;
                (acc * 18446744073709551616.0).min(u64::MAX as f64) as u64
            })
            .collect()
    })
}

/// `n` samples of the discrete Gaussian with σ = 3.2 bounded by 19, by a full-table CDT scan.
pub fn gaussian(rng: &mut Csprng, n: usize) -> Vec<i64> {
    let cdt = gaussian_cdt();
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            let count: i64 = cdt.iter().map(|&t| i64::from(r >= t)).sum();
            count - GAUSSIAN_BOUND
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prime::generate_ntt_primes;

    #[test]
    fn seeded_uniform_is_deterministic_and_in_range() {
        let n = 64;
        let basis = RnsBasis::new(n, &generate_ntt_primes(40, n, 2, &[]).unwrap()).unwrap();
        let seed = [7u8; 32];
        let a = uniform_poly(&mut rng_from_seed(&seed), &basis, 2, Form::Ntt);
        let b = uniform_poly(&mut rng_from_seed(&seed), &basis, 2, Form::Ntt);
        assert_eq!(a, b);
        for i in 0..2 {
            assert!(a.limb(i).iter().all(|&x| x < basis.modulus(i).value()));
        }
        assert_ne!(fresh_seed(), fresh_seed());
    }

    #[test]
    fn gaussian_statistics() {
        let mut rng = rng_from_seed(&[1u8; 32]);
        let e = gaussian(&mut rng, 200_000);
        let mean = e.iter().sum::<i64>() as f64 / e.len() as f64;
        let var = e.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / e.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!(
            (var.sqrt() - GAUSSIAN_SIGMA).abs() < 0.05,
            "sd {}",
            var.sqrt()
        );
        assert!(e.iter().all(|x| x.abs() <= GAUSSIAN_BOUND));
    }

    #[test]
    fn ternary_is_balanced() {
        let mut rng = rng_from_seed(&[2u8; 32]);
        let s = ternary(&mut rng, 30_000);
        for v in -1..=1 {
            let c = s.iter().filter(|&&x| x == v).count();
            assert!((9_000..11_000).contains(&c), "{v}: {c}");
        }
    }
}
