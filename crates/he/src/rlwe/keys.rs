//! RLWE keys in hybrid key-switching form: the ternary secret key, the public key, and
//! key-switching keys (relinearization and Galois keys are key-switching keys from `s²` and
//! from `σ_k(s)` to `s`). The uniform parts `a` of every key are expanded from a 32-byte seed, so
//! keys serialize at half size (SEAL's "seeded" keys, Lattigo's `sampling.PRNG`).

use super::params::RlweParameters;
use crate::HeError;
use henn_ring::sampler::{self, Csprng, Seed};
use henn_ring::{Form, GaloisElement, RnsPoly, Zeroize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The secret key `s`, uniform ternary, kept in NTT form modulo `Q·P`. Zeroized on drop
/// (every clone too).
#[derive(Clone)]
pub struct SecretKey {
    params: Arc<RlweParameters>,
    coeffs: Vec<i64>,
    ntt: RnsPoly,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.coeffs.zeroize();
        self.ntt.zeroize();
    }
}

impl SecretKey {
    /// Samples a uniform ternary secret with the given CSPRNG.
    pub fn generate(params: &Arc<RlweParameters>, rng: &mut Csprng) -> Self {
        let coeffs = sampler::ternary(rng, params.degree());
        Self::from_coefficients(params, coeffs)
    }

    /// Samples a sparse ternary secret with exactly `hamming_weight` non-zero coefficients,
    /// each ±1, at uniformly random positions (the ephemeral secret of sparse-secret
    /// encapsulation, Bossuat–Troncoso-Pastoriza–Hubaux, ePrint 2022/024 §4). Such a secret is
    /// only secure modulo a small modulus (see `ckks::bootstrapping`); never use it as a main
    /// key. `hamming_weight` is clamped to `n`.
    pub fn generate_sparse(
        params: &Arc<RlweParameters>,
        hamming_weight: usize,
        rng: &mut Csprng,
    ) -> Self {
        let n = params.degree();
        let h = hamming_weight.min(n);
        let mut coeffs = vec![0i64; n];
        let mut placed = 0;
        let mut words: Vec<u64> = Vec::new();
        while placed < h {
            if words.is_empty() {
                let bytes = sampler::fresh_seed_from(rng);
                words = bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
            }
            let word = words.pop().unwrap_or(0);
            // rejection sampling of a position below n (n is a power of two: exact mask)
            let pos = (word as usize) & (n - 1);
            if coeffs[pos] == 0 {
                coeffs[pos] = if (word >> 63) & 1 == 1 { 1 } else { -1 };
                placed += 1;
            }
        }
        words.zeroize();
        Self::from_coefficients(params, coeffs)
    }

    /// The secret with the same coefficients over other parameters of the same degree (the
    /// dense main secret seen modulo the small encapsulation modulus, or the ephemeral sparse
    /// secret seen modulo the main `Q·P`).
    pub(crate) fn with_params(&self, params: &Arc<RlweParameters>) -> Self {
        Self::from_coefficients(params, self.coeffs.clone())
    }

    fn from_coefficients(params: &Arc<RlweParameters>, coeffs: Vec<i64>) -> Self {
        let qp = params.qp_basis();
        let mut ntt = RnsPoly::from_signed(qp, qp.len(), &coeffs);
        ntt.ntt_forward(qp);
        Self {
            params: params.clone(),
            coeffs,
            ntt,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Arc<RlweParameters> {
        &self.params
    }

    /// `s` in NTT form modulo `Q·P` (limbs of `Q` first).
    pub(crate) fn ntt_qp(&self) -> &RnsPoly {
        &self.ntt
    }
}

/// The public key `(b, a) = (-a·s + e, a)` modulo `Q`, NTT form; `a` is expanded from `seed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: Seed,
}

impl PublicKey {
    /// Generates a public key for `sk`.
    pub fn generate(sk: &SecretKey, rng: &mut Csprng) -> Self {
        let params = sk.params();
        let q = params.q_basis();
        let seed = sampler::fresh_seed_from(rng);
        let a = sampler::uniform_poly(&mut sampler::rng_from_seed(&seed), q, q.len(), Form::Ntt);
        let mut b = RnsPoly::from_signed(q, q.len(), &sampler::gaussian(rng, params.degree()));
        b.ntt_forward(q);
        let mut as_ = a.clone();
        as_.mul_assign(sk.ntt_qp(), q);
        b.sub_assign(&as_, q);
        Self { b, a, seed }
    }

    /// Rebuilds a public key from `b` and the seed of `a` (deserialization).
    pub(crate) fn from_seed(params: &RlweParameters, b: RnsPoly, seed: Seed) -> Self {
        let q = params.q_basis();
        let a = sampler::uniform_poly(&mut sampler::rng_from_seed(&seed), q, q.len(), Form::Ntt);
        Self { b, a, seed }
    }
}

/// A hybrid key-switching key from a secret `s'` to `s`: for each digit `j`,
/// `(b_j, a_j) = (-a_j·s + e_j + P·Q̃_j·s', a_j)` modulo `Q·P` in NTT form, where
/// `Q̃_j ≡ 1 mod` the digit's primes and `≡ 0` mod the others (Han–Ki 2020, §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySwitchingKey {
    pub(crate) b: Vec<RnsPoly>,
    pub(crate) a: Vec<RnsPoly>,
    pub(crate) seed: Seed,
}

impl KeySwitchingKey {
    /// Generates the key switching from `s_from` (NTT form modulo `Q·P`) to `sk`.
    pub fn generate(sk: &SecretKey, s_from: &RnsPoly, rng: &mut Csprng) -> Self {
        let params = sk.params();
        let qp = params.qp_basis();
        let n = params.degree();
        let seed = sampler::fresh_seed_from(rng);
        let mut stream = sampler::rng_from_seed(&seed);
        let top = params.level(params.max_level());
        let p_mod_q: Vec<u64> = (0..params.q_basis().len())
            .map(|i| params.p_basis().product_mod(qp.modulus(i)))
            .collect();
        let mut bs = Vec::with_capacity(top.digits.len());
        let mut as_ = Vec::with_capacity(top.digits.len());
        for digit in &top.digits {
            let a = sampler::uniform_poly(&mut stream, qp, qp.len(), Form::Ntt);
            let mut b = RnsPoly::from_signed(qp, qp.len(), &sampler::gaussian(rng, n));
            b.ntt_forward(qp);
            let mut a_s = a.clone();
            a_s.mul_assign(sk.ntt_qp(), qp);
            b.sub_assign(&a_s, qp);
            for i in digit.range.clone() {
                let m = *qp.modulus(i);
                let w = p_mod_q[i];
                let ws = m.shoup(w);
                let mut src = s_from.limb(i).to_vec();
                for (x, &s) in b.limb_mut(i).iter_mut().zip(&src) {
                    *x = m.add(*x, m.mul_shoup(s, w, ws));
                }
                src.zeroize();
            }
            bs.push(b);
            as_.push(a);
        }
        Self {
            b: bs,
            a: as_,
            seed,
        }
    }

    /// Rebuilds a key from its `b` parts and the seed of the `a` parts (deserialization).
    pub(crate) fn from_seed(params: &RlweParameters, b: Vec<RnsPoly>, seed: Seed) -> Self {
        let qp = params.qp_basis();
        let mut stream = sampler::rng_from_seed(&seed);
        let a = (0..b.len())
            .map(|_| sampler::uniform_poly(&mut stream, qp, qp.len(), Form::Ntt))
            .collect();
        Self { b, a, seed }
    }

    /// The key with every polynomial mapped through the NTT-form automorphism `σ^{-1}`
    /// (`inverse`) or `σ` (the seed is kept: it names the unpermuted `a`).
    pub(crate) fn permuted(&self, g: &GaloisElement, inverse: bool) -> Self {
        let map = |p: &RnsPoly| {
            if inverse {
                p.automorphism_ntt_inverse(g)
            } else {
                let mut out = p.clone();
                p.automorphism_ntt_into(g, &mut out);
                out
            }
        };
        Self {
            b: self.b.iter().map(map).collect(),
            a: self.a.iter().map(map).collect(),
            seed: self.seed,
        }
    }

    /// Number of digits (`dnum`).
    pub fn digits(&self) -> usize {
        self.b.len()
    }
}

/// The relinearization key: switches `s²` to `s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelinearizationKey(pub(crate) KeySwitchingKey);

impl RelinearizationKey {
    /// Generates the relinearization key of `sk`.
    pub fn generate(sk: &SecretKey, rng: &mut Csprng) -> Self {
        let qp = sk.params().qp_basis();
        let mut s2 = sk.ntt_qp().clone();
        s2.mul_assign(sk.ntt_qp(), qp);
        let key = KeySwitchingKey::generate(sk, &s2, rng);
        s2.zeroize();
        Self(key)
    }
}

/// Galois keys: for each requested Galois element `k`, the key switching `σ_k(s)` to `s`.
///
/// In memory each key `(b_j, a_j)` is stored as `(σ_k^{-1}(b_j), σ_k^{-1}(a_j))` (NTT-form
/// index permutation), so that applying `σ_k` needs no permuted reads in the inner product:
/// `Σ_j σ_k(d_j)·b_j = σ_k(Σ_j d_j·σ_k^{-1}(b_j))`, and ModDown commutes with `σ_k` (the
/// exact centred `P → Q` conversion commutes with the signed coefficient permutation), so
/// `σ_k` is applied once to the two ModDown outputs (as Lattigo's `AutomorphismHoisted`
/// does; Bossuat et al., EUROCRYPT 2021, §4.2). Serialization writes the unpermuted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<usize, (GaloisElement, KeySwitchingKey)>,
}

impl GaloisKeys {
    /// Generates keys for the given Galois elements (odd, below `2n`).
    pub fn generate(sk: &SecretKey, elements: &[usize], rng: &mut Csprng) -> Result<Self, HeError> {
        let params = sk.params();
        let qp = params.qp_basis();
        let mut keys = BTreeMap::new();
        for &k in elements {
            if keys.contains_key(&k) {
                continue;
            }
            let g = GaloisElement::new(k, qp.exponent_of_position())?;
            let mut s_k = sk.ntt_qp().automorphism(&g, qp);
            let key = KeySwitchingKey::generate(sk, &s_k, rng).permuted(&g, true);
            s_k.zeroize();
            keys.insert(k, (g, key));
        }
        Ok(Self { keys })
    }

    /// The Galois elements with a key.
    pub fn elements(&self) -> Vec<usize> {
        self.keys.keys().copied().collect()
    }

    /// The key and precomputed automorphism of element `k`.
    pub fn get(&self, k: usize) -> Result<&(GaloisElement, KeySwitchingKey), HeError> {
        self.keys.get(&k).ok_or(HeError::MissingGaloisKey(k))
    }
}

/// Generates a secret key and the public and evaluation keys derived from it, with an
/// OS-seeded ChaCha20 CSPRNG.
pub struct KeyGenerator {
    sk: SecretKey,
    rng: Csprng,
}

impl KeyGenerator {
    /// Samples a fresh secret key.
    pub fn new(params: &Arc<RlweParameters>) -> Self {
        let mut rng = sampler::os_rng();
        let sk = SecretKey::generate(params, &mut rng);
        Self { sk, rng }
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.sk
    }

    /// A public key.
    pub fn public_key(&mut self) -> PublicKey {
        PublicKey::generate(&self.sk, &mut self.rng)
    }

    /// The relinearization key.
    pub fn relinearization_key(&mut self) -> RelinearizationKey {
        RelinearizationKey::generate(&self.sk, &mut self.rng)
    }

    /// Galois keys for the given elements only.
    pub fn galois_keys(&mut self, elements: &[usize]) -> Result<GaloisKeys, HeError> {
        GaloisKeys::generate(&self.sk, elements, &mut self.rng)
    }
}
