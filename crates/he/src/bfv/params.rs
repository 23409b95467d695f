//! BFV parameters: RLWE parameters plus the plaintext modulus `t`, with per-level constants for
//! encoding (`Δ = ⌊Q_ℓ/t⌋`), decryption (scale-and-round by `t/Q_ℓ`) and HPS19 multiplication
//! (auxiliary basis `R`, exact base conversions, scale-and-round `t/Q_ℓ` from `Q_ℓ·R` to `R`).

use crate::rlwe::{RlweParameters, RlweParametersBuilder};
use crate::HeError;
use henn_ring::{generate_ntt_primes, BaseConverter, Modulus, NttOperator, RnsBasis};
use std::sync::Arc;

/// A named 128-bit parameter set (HE-standard bound on `log2(QP)`), Lattigo-style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// Name, e.g. `BFV_128BIT_LOGN13_LOGQP218`.
    pub name: &'static str,
    /// `log2(n)`.
    pub log_n: u32,
    /// Bit sizes of the ciphertext primes `q_i`.
    pub q_bits: &'static [u32],
    /// Bit sizes of the special primes `p_j`.
    pub p_bits: &'static [u32],
    /// Decomposition number.
    pub dnum: usize,
}

/// n = 4096, log2(QP) = 109: two 36-bit `q` primes and one 37-bit special prime.
pub const BFV_128BIT_LOGN12_LOGQP109: Preset = Preset {
    name: "BFV_128BIT_LOGN12_LOGQP109",
    log_n: 12,
    q_bits: &[36, 36],
    p_bits: &[37],
    dnum: 2,
};

/// n = 8192, log2(QP) = 217: three 54-bit `q` primes (162-bit `Q`, enough for LoLa's
/// depth-2 networks with `t ≈ 2^20`) and one 55-bit special prime; `dnum = 3` so each digit is
/// one prime and ModUp needs no multi-prime conversions (same shape as Lattigo's PN13QP218).
pub const BFV_128BIT_LOGN13_LOGQP218: Preset = Preset {
    name: "BFV_128BIT_LOGN13_LOGQP218",
    log_n: 13,
    q_bits: &[54, 54, 54],
    p_bits: &[55],
    dnum: 3,
};

/// n = 16384, log2(QP) = 438: six 54-bit `q` primes (324-bit `Q`) and two 57-bit special
/// primes; `dnum = 3` digits of two primes each keeps ModUp/ModDown to few transforms.
pub const BFV_128BIT_LOGN14_LOGQP438: Preset = Preset {
    name: "BFV_128BIT_LOGN14_LOGQP438",
    log_n: 14,
    q_bits: &[54, 54, 54, 54, 54, 54],
    p_bits: &[57, 57],
    dnum: 3,
};

/// n = 32768, log2(QP) = 880: fourteen 55-bit `q` primes and two 55-bit special primes
/// (`dnum = 7`, digits of two primes).
pub const BFV_128BIT_LOGN15_LOGQP881: Preset = Preset {
    name: "BFV_128BIT_LOGN15_LOGQP881",
    log_n: 15,
    q_bits: &[55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55],
    p_bits: &[55, 55],
    dnum: 7,
};

/// All presets.
pub const PRESETS: [Preset; 4] = [
    BFV_128BIT_LOGN12_LOGQP109,
    BFV_128BIT_LOGN13_LOGQP218,
    BFV_128BIT_LOGN14_LOGQP438,
    BFV_128BIT_LOGN15_LOGQP881,
];

/// Decryption constants at one level: for `c_i = [(Q_ℓ/q_i)^{-1}]_{q_i}`,
/// `t·c_i = int_i·q_i + frac_i`.
#[derive(Clone, Debug)]
pub(crate) struct DecryptConstants {
    pub int_mod_t: Vec<u64>,
    pub frac: Vec<(u64, u64)>,
    pub inv_q: Vec<f64>,
}

/// HPS19 multiplication constants at one level.
#[derive(Clone, Debug)]
pub(crate) struct MultConstants {
    /// `Q_ℓ ∪ R`.
    pub qr: RnsBasis,
    /// `R`.
    pub r: RnsBasis,
    pub q_to_r: BaseConverter,
    pub r_to_q: BaseConverter,
    /// `[ω_i]_{r_j}` indexed `[j][i]`, with `t·R·[(Q_ℓR/q_i)^{-1}]_{q_i} = ω_i·q_i + u_i`.
    pub omega: Vec<Vec<u64>>,
    /// `u_i` with Shoup constant modulo `q_i`.
    pub frac: Vec<(u64, u64)>,
    pub inv_q: Vec<f64>,
    /// `[t·Q_ℓ^{-1}]_{r_j}`.
    pub t_q_inv: Vec<u64>,
}

/// BFV constants at one level.
#[derive(Clone, Debug)]
pub(crate) struct BfvLevel {
    /// `[⌊Q_ℓ/t⌋]_{q_i}`.
    pub delta: Vec<u64>,
    /// `Q_ℓ mod t`.
    pub q_mod_t: u64,
    pub decrypt: DecryptConstants,
    pub mult: MultConstants,
}

/// BFV parameters (`Arc`-shared): RLWE parameters and the plaintext modulus `t`.
#[derive(Debug)]
pub struct BfvParameters {
    rlwe: Arc<RlweParameters>,
    t: Modulus,
    plain_ntt: Option<NttOperator>,
    levels: Vec<BfvLevel>,
}

/// Builder for [`BfvParameters`]: the shared [`RlweParametersBuilder`] plus `t`.
#[derive(Clone, Debug, Default)]
pub struct BfvParametersBuilder {
    rlwe: RlweParametersBuilder,
    t: Option<u64>,
}

impl BfvParametersBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from a named preset (the plaintext modulus must still be set).
    pub fn preset(preset: Preset) -> Self {
        Self::new()
            .log_n(preset.log_n)
            .q_bits(preset.q_bits)
            .p_bits(preset.p_bits)
            .dnum(preset.dnum)
    }

    /// `log2(n)`.
    pub fn log_n(mut self, log_n: u32) -> Self {
        self.rlwe = self.rlwe.log_n(log_n);
        self
    }

    /// Bit sizes of the ciphertext primes (generated deterministically).
    pub fn q_bits(mut self, bits: &[u32]) -> Self {
        self.rlwe = self.rlwe.q_bits(bits);
        self
    }

    /// Bit sizes of the special primes.
    pub fn p_bits(mut self, bits: &[u32]) -> Self {
        self.rlwe = self.rlwe.p_bits(bits);
        self
    }

    /// Explicit ciphertext and special primes (instead of bit sizes).
    pub fn primes(mut self, q: &[u64], p: &[u64]) -> Self {
        self.rlwe = self.rlwe.primes(q, p);
        self
    }

    /// Decomposition number (default: number of ciphertext primes).
    pub fn dnum(mut self, dnum: usize) -> Self {
        self.rlwe = self.rlwe.dnum(dnum);
        self
    }

    /// Plaintext modulus `t` (a prime `≡ 1 mod 2n` enables batching).
    pub fn plaintext_modulus(mut self, t: u64) -> Self {
        self.t = Some(t);
        self
    }

    fn t(&self) -> Result<u64, HeError> {
        self.t
            .ok_or_else(|| HeError::InvalidParameters("plaintext modulus not set".into()))
    }

    /// Builds parameters, refusing anything below 128-bit security.
    pub fn build(&self) -> Result<Arc<BfvParameters>, HeError> {
        let t = self.t()?;
        BfvParameters::new(self.rlwe.build()?, t)
    }

    /// Builds parameters **without** the security check. Only for tests.
    pub fn insecure_build(&self) -> Result<Arc<BfvParameters>, HeError> {
        let t = self.t()?;
        BfvParameters::new(self.rlwe.insecure_build()?, t)
    }
}

impl BfvParameters {
    /// Wraps RLWE parameters with plaintext modulus `t` (`2 <= t < 2^60`, coprime to all primes).
    pub fn new(rlwe: Arc<RlweParameters>, t: u64) -> Result<Arc<Self>, HeError> {
        if !(2..1 << 60).contains(&t) {
            return Err(HeError::InvalidParameters(format!(
                "plaintext modulus {t} outside [2, 2^60)"
            )));
        }
        let tm = Modulus::new(t).ok_or_else(|| HeError::InvalidParameters("bad t".into()))?;
        let n = rlwe.degree();
        let plain_ntt = if henn_ring::is_prime(t) && t % (2 * n as u64) == 1 && n >= 16 {
            NttOperator::new(n, t).ok()
        } else {
            None
        };
        let q = rlwe.q_basis();
        for i in 0..q.len() {
            if q.modulus(i).reduce(t) == 0 {
                return Err(HeError::InvalidParameters(
                    "plaintext modulus shares a factor with Q".into(),
                ));
            }
        }
        // auxiliary primes R for HPS multiplication, 61 bits, distinct from Q·P
        let t_bits = 64 - t.leading_zeros();
        let q_bits_total: u32 = q.moduli().iter().map(|&x| 64 - x.leading_zeros()).sum();
        let r_count = (q_bits_total + t_bits + rlwe.log_n() + 8).div_ceil(60) as usize;
        let aux = generate_ntt_primes(61, n, r_count, &rlwe.qp_basis().moduli())?;
        let aux_ops: Vec<Arc<NttOperator>> = aux
            .iter()
            .map(|&m| NttOperator::new(n, m).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let aux_basis = RnsBasis::from_operators(n, aux_ops)?;
        let mut levels = Vec::with_capacity(q.len());
        for level in 0..q.len() {
            let ql = q.prefix(level + 1);
            let q_mod_t = ql.product_mod(&tm);
            let delta = (0..=level)
                .map(|i| {
                    let m = ql.modulus(i);
                    let t_inv = m.inv(m.reduce(t)).unwrap_or(0);
                    m.mul(m.neg(m.reduce(q_mod_t)), t_inv)
                })
                .collect();
            // decryption
            let mut dec_int = Vec::new();
            let mut dec_frac = Vec::new();
            let mut inv_q = Vec::new();
            for i in 0..=level {
                let m = ql.modulus(i);
                let punct = (0..=level)
                    .filter(|&k| k != i)
                    .fold(1u64, |a, k| m.mul(a, m.reduce(ql.modulus(k).value())));
                let c = m.inv(punct).unwrap_or(0);
                let prod = t as u128 * c as u128;
                let qi = m.value() as u128;
                dec_int.push(tm.reduce_u128(prod / qi));
                let u = (prod % qi) as u64;
                dec_frac.push((u, m.shoup(u)));
                inv_q.push(1.0 / m.value() as f64);
            }
            // multiplication (HPS19)
            let q_bits_l: u32 = ql.moduli().iter().map(|&x| 64 - x.leading_zeros()).sum();
            let r_len =
                ((q_bits_l + t_bits + rlwe.log_n() + 8).div_ceil(60) as usize).min(aux.len());
            let r = aux_basis.prefix(r_len);
            let qr = ql.concat(&r)?;
            let mut omega = vec![vec![0u64; level + 1]; r_len];
            let mut frac = Vec::new();
            for i in 0..=level {
                let m = ql.modulus(i);
                // c_i = [(Q_ℓ R / q_i)^{-1}]_{q_i}
                let punct_q = (0..=level)
                    .filter(|&k| k != i)
                    .fold(1u64, |a, k| m.mul(a, m.reduce(ql.modulus(k).value())));
                let punct = m.mul(punct_q, r.product_mod(m));
                let c = m.inv(punct).unwrap_or(0);
                // u_i = t·R·c_i mod q_i
                let u = m.mul(m.mul(m.reduce(t), r.product_mod(m)), c);
                frac.push((u, m.shoup(u)));
                for (j, row) in omega.iter_mut().enumerate() {
                    let rj = r.modulus(j);
                    let qi_inv = rj.inv(rj.reduce(m.value())).unwrap_or(0);
                    row[i] = rj.mul(rj.neg(rj.reduce(u)), qi_inv);
                }
            }
            let t_q_inv = (0..r_len)
                .map(|j| {
                    let rj = r.modulus(j);
                    rj.mul(rj.reduce(t), rj.inv(ql.product_mod(rj)).unwrap_or(0))
                })
                .collect();
            levels.push(BfvLevel {
                delta,
                q_mod_t,
                decrypt: DecryptConstants {
                    int_mod_t: dec_int,
                    frac: dec_frac,
                    inv_q: inv_q.clone(),
                },
                mult: MultConstants {
                    q_to_r: BaseConverter::new(&ql, &r)?,
                    r_to_q: BaseConverter::new(&r, &ql)?,
                    qr,
                    r,
                    omega,
                    frac,
                    inv_q,
                    t_q_inv,
                },
            });
        }
        Ok(Arc::new(Self {
            rlwe,
            t: tm,
            plain_ntt,
            levels,
        }))
    }

    /// The shared RLWE parameters.
    pub fn rlwe(&self) -> &Arc<RlweParameters> {
        &self.rlwe
    }

    /// Plaintext modulus `t`.
    pub fn plaintext_modulus(&self) -> u64 {
        self.t.value()
    }

    pub(crate) fn t(&self) -> &Modulus {
        &self.t
    }

    /// Ring degree `n` (number of slots).
    pub fn degree(&self) -> usize {
        self.rlwe.degree()
    }

    /// Highest level.
    pub fn max_level(&self) -> usize {
        self.rlwe.max_level()
    }

    /// Whether `t` supports batching (prime, `≡ 1 mod 2n`).
    pub fn supports_batching(&self) -> bool {
        self.plain_ntt.is_some()
    }

    pub(crate) fn plain_ntt(&self) -> Option<&NttOperator> {
        self.plain_ntt.as_ref()
    }

    pub(crate) fn level(&self, level: usize) -> &BfvLevel {
        &self.levels[level]
    }

    /// Fingerprint of the RLWE parameters and `t` (FNV-1a).
    pub fn fingerprint(&self) -> u64 {
        let mut h = crate::rlwe::params::Fnv::new();
        h.write(&self.rlwe.fingerprint().to_le_bytes());
        h.write(&self.t.value().to_le_bytes());
        h.finish()
    }
}
