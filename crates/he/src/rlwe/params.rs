//! Scheme-independent RLWE parameters: the ring degree, the ciphertext primes `Q = q_0…q_L`,
//! the special primes `P = p_0…p_{k-1}` of hybrid key switching, the decomposition number
//! `dnum`, and per-level precomputations for key switching. BFV and CKKS parameters wrap an
//! `Arc<RlweParameters>`.
//!
//! Hybrid key switching (Han & Ki, "Better bootstrapping for approximate homomorphic
//! encryption", CT-RSA 2020, §3; Kim, Polyakov, Zucca, "Revisiting homomorphic encryption
//! schemes for finite fields", ASIACRYPT 2021, §3.3): the ciphertext primes are grouped into
//! `dnum` digits of `α = ⌈(L+1)/dnum⌉` consecutive primes; each digit is raised (ModUp) to
//! `Q_ℓ·P`, multiplied by the key and the sum is divided by `P` (ModDown).

use crate::HeError;
use henn_ring::{generate_ntt_primes, BaseConverter, NttOperator, RnsBasis};
use std::ops::Range;
use std::sync::Arc;

/// Maximum `log2(QP)` for 128-bit classical security with a ternary secret and σ = 3.2
/// (HomomorphicEncryption.org standard, Albrecht et al. 2018, Table 1), by `log2(n)`. The
/// standard stops at `n = 2^15`; the `n = 2^16` row (1772 bits) is the lattice-estimator
/// value of the same model used by OpenFHE's default table (`HEStd_128_classic`, ternary) and
/// by Lattigo's dense-secret bootstrapping sets (e.g. `N16QP1767H32768H32`, 1767 bits).
///
/// Source of the `n = 2^16` row: OpenFHE, `src/core/lib/lattice/stdlatticeparms.cpp`
/// (openfhe-development, e.g. commit `0d4c01ef`), entry
/// `StdLatticeParm(HEStd_ternary, 65536, HEStd_128_classic, 1772)`; the same file's ternary
/// rows for `n = 2^10..2^15` (27, 54, 109, 218, 438, 881) are exactly the standard's Table 1
/// rows used here, so the `2^16` row extends the same table with the same secret and error
/// model. The engine does not re-run the estimator itself.
pub const MAX_LOG_QP_128: [(u32, u32); 7] = [
    (10, 27),
    (11, 54),
    (12, 109),
    (13, 218),
    (14, 438),
    (15, 881),
    (16, 1772),
];

/// The 128-bit bound on `log2(QP)` for degree `2^log_n`, if tabulated.
pub fn max_log_qp_128(log_n: u32) -> Option<u32> {
    MAX_LOG_QP_128
        .iter()
        .find(|(l, _)| *l == log_n)
        .map(|(_, b)| *b)
}

/// ModUp precomputation for one digit at one level.
#[derive(Clone, Debug)]
pub(crate) struct DigitContext {
    /// The digit's primes: limbs `range` of `Q_ℓ`.
    pub range: Range<usize>,
    /// Conversion from the digit's primes to all other primes of `Q_ℓ·P`, in limb order
    /// (the limbs below the digit, then those above it).
    pub conv: BaseConverter,
}

/// Key-switching precomputation at level `ℓ` (ciphertexts with `ℓ + 1` primes).
#[derive(Clone, Debug)]
pub(crate) struct LevelContext {
    /// `Q_ℓ = q_0…q_ℓ`.
    pub q: RnsBasis,
    /// `Q_ℓ·P` (the `q` primes then the special primes).
    pub qp: RnsBasis,
    /// Digits of the gadget decomposition at this level.
    pub digits: Vec<DigitContext>,
    /// Conversion `P → Q_ℓ` of ModDown.
    pub mod_down: BaseConverter,
    /// `[P^{-1}]_{q_i}`.
    pub p_inv_mod_q: Vec<u64>,
    /// `[q_ℓ^{-1}]_{q_i}` for `i < ℓ` (modulus switching), empty at level 0.
    pub q_last_inv: Vec<u64>,
}

/// RLWE parameters shared by all schemes. Build through a scheme's builder (e.g.
/// [`crate::bfv::BfvParametersBuilder`]); shared as `Arc<RlweParameters>`.
#[derive(Debug)]
pub struct RlweParameters {
    log_n: u32,
    q: RnsBasis,
    p: RnsBasis,
    qp: RnsBasis,
    dnum: usize,
    levels: Vec<LevelContext>,
    secure: bool,
}

impl RlweParameters {
    /// Parameters from explicit primes, refusing anything weaker than 128-bit security.
    pub fn new(log_n: u32, q: &[u64], p: &[u64], dnum: usize) -> Result<Self, HeError> {
        Self::build(log_n, q, p, dnum, true)
    }

    /// Parameters **without** the security check. For tests only: the name says it.
    pub fn insecure_new(log_n: u32, q: &[u64], p: &[u64], dnum: usize) -> Result<Self, HeError> {
        Self::build(log_n, q, p, dnum, false)
    }

    /// Generates `q` primes of the given bit sizes and `p` special primes, all distinct and
    /// `≡ 1 mod 2n`, largest first within each size.
    pub fn generate_primes(
        log_n: u32,
        q_bits: &[u32],
        p_bits: &[u32],
    ) -> Result<(Vec<u64>, Vec<u64>), HeError> {
        if !(4..=17).contains(&log_n) {
            return Err(HeError::InvalidParameters(format!(
                "log n = {log_n} outside 4..=17"
            )));
        }
        let n = 1usize << log_n;
        let mut used: Vec<u64> = Vec::new();
        let mut pick = |bits: u32| -> Result<u64, HeError> {
            let p = generate_ntt_primes(bits, n, 1, &used)?[0];
            used.push(p);
            Ok(p)
        };
        let q = q_bits
            .iter()
            .map(|&b| pick(b))
            .collect::<Result<Vec<_>, _>>()?;
        let p = p_bits
            .iter()
            .map(|&b| pick(b))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((q, p))
    }

    fn build(log_n: u32, q: &[u64], p: &[u64], dnum: usize, secure: bool) -> Result<Self, HeError> {
        if !(4..=17).contains(&log_n) {
            return Err(HeError::InvalidParameters(format!(
                "log n = {log_n} outside 4..=17"
            )));
        }
        if q.is_empty() || p.is_empty() {
            return Err(HeError::InvalidParameters(
                "need at least one ciphertext prime and one special prime".into(),
            ));
        }
        if q.len() + p.len() > 60 {
            return Err(HeError::InvalidParameters("too many primes".into()));
        }
        if dnum == 0 || dnum > q.len() {
            return Err(HeError::InvalidParameters(format!(
                "dnum = {dnum} must be in 1..={}",
                q.len()
            )));
        }
        if q.iter().chain(p).any(|&x| x >= 1 << 61) {
            return Err(HeError::InvalidParameters(
                "primes must be below 2^61".into(),
            ));
        }
        let n = 1usize << log_n;
        let total_bits: u32 = q.iter().chain(p).map(|&x| 64 - x.leading_zeros()).sum();
        if secure {
            let bound = max_log_qp_128(log_n).ok_or_else(|| {
                HeError::Insecure(format!("no 128-bit bound tabulated for n = 2^{log_n}"))
            })?;
            if total_bits > bound {
                return Err(HeError::Insecure(format!(
                    "log2(QP) = {total_bits} bits exceeds the 128-bit bound {bound} for n = {n}"
                )));
            }
        }
        let alpha = q.len().div_ceil(dnum);
        let p_max_bits: u32 = p.iter().map(|&x| 64 - x.leading_zeros()).sum();
        let q_digit_max: u32 = q
            .chunks(alpha)
            .map(|c| c.iter().map(|&x| 64 - x.leading_zeros()).sum::<u32>())
            .max()
            .unwrap_or(0);
        if p_max_bits + 1 < q_digit_max {
            return Err(HeError::InvalidParameters(format!(
                "special modulus P ({p_max_bits} bits) must be at least as large as a digit ({q_digit_max} bits)"
            )));
        }
        let ops: Vec<Arc<NttOperator>> = q
            .iter()
            .chain(p)
            .map(|&m| NttOperator::new(n, m).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let qp = RnsBasis::from_operators(n, ops)?;
        let q_basis = qp.prefix(q.len());
        let p_basis = qp.slice(q.len()..q.len() + p.len());
        let mut levels = Vec::with_capacity(q.len());
        for level in 0..q.len() {
            let ql = q_basis.prefix(level + 1);
            let qpl = ql.concat(&p_basis)?;
            let mut digits = Vec::new();
            let mut start = 0;
            while start <= level {
                let end = (start + alpha).min(level + 1);
                let digit_basis = ql.slice(start..end);
                let targets: Vec<usize> = (0..qpl.len())
                    .filter(|i| !(start..end).contains(i))
                    .collect();
                let ops: Vec<Arc<NttOperator>> = targets
                    .iter()
                    .map(|&i| qpl.operators()[i].clone())
                    .collect();
                let to = RnsBasis::from_operators(n, ops)?;
                digits.push(DigitContext {
                    range: start..end,
                    conv: BaseConverter::new(&digit_basis, &to)?,
                });
                start = end;
            }
            let mod_down = BaseConverter::new(&p_basis, &ql)?;
            let p_inv_mod_q = (0..=level)
                .map(|i| {
                    let m = ql.modulus(i);
                    m.inv(p_basis.product_mod(m))
                        .ok_or_else(|| HeError::InvalidParameters("P not invertible".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let q_last_inv = if level == 0 {
                Vec::new()
            } else {
                (0..level)
                    .map(|i| {
                        let m = ql.modulus(i);
                        m.inv(m.reduce(ql.modulus(level).value())).ok_or_else(|| {
                            HeError::InvalidParameters("duplicate ciphertext prime".into())
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            levels.push(LevelContext {
                q: ql,
                qp: qpl,
                digits,
                mod_down,
                p_inv_mod_q,
                q_last_inv,
            });
        }
        Ok(Self {
            log_n,
            q: q_basis,
            p: p_basis,
            qp,
            dnum,
            levels,
            secure,
        })
    }

    /// `log2(n)`.
    pub fn log_n(&self) -> u32 {
        self.log_n
    }

    /// Ring degree `n`.
    pub fn degree(&self) -> usize {
        1 << self.log_n
    }

    /// Ciphertext basis `Q` (all levels).
    pub fn q_basis(&self) -> &RnsBasis {
        &self.q
    }

    /// Special primes `P`.
    pub fn p_basis(&self) -> &RnsBasis {
        &self.p
    }

    /// `Q·P`: the key basis.
    pub fn qp_basis(&self) -> &RnsBasis {
        &self.qp
    }

    /// The decomposition number `dnum`.
    pub fn dnum(&self) -> usize {
        self.dnum
    }

    /// The highest level `L` (fresh ciphertexts have `L + 1` primes).
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }

    /// Total `log2(QP)` in bits (sum of prime bit sizes).
    pub fn log_qp_bits(&self) -> u32 {
        self.qp
            .moduli()
            .iter()
            .map(|&x| 64 - x.leading_zeros())
            .sum()
    }

    /// Whether the parameters passed the 128-bit check.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    pub(crate) fn level(&self, level: usize) -> &LevelContext {
        &self.levels[level]
    }

    /// Index in the full key basis `Q·P` of limb `i` of the level-`ℓ` basis `Q_ℓ·P`.
    pub(crate) fn key_limb(&self, level: usize, i: usize) -> usize {
        if i <= level {
            i
        } else {
            self.q.len() + (i - level - 1)
        }
    }

    /// A 64-bit FNV-1a fingerprint of the ring, primes and `dnum` (not cryptographic: it lets
    /// deserialization reject objects made for other parameters).
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(&self.log_n.to_le_bytes());
        h.write(&(self.dnum as u64).to_le_bytes());
        h.write(&(self.q.len() as u64).to_le_bytes());
        for m in self.qp.moduli() {
            h.write(&m.to_le_bytes());
        }
        h.finish()
    }
}

/// The scheme-independent part of the BFV and CKKS parameter builders (fhe.rs / Lattigo
/// style): ring degree, ciphertext and special primes (given explicitly or as bit sizes, then
/// generated deterministically) and the decomposition number. Scheme builders wrap it and add
/// their own fields (plaintext modulus, scale, slots).
#[derive(Clone, Debug, Default)]
pub struct RlweParametersBuilder {
    log_n: Option<u32>,
    q_bits: Vec<u32>,
    p_bits: Vec<u32>,
    q_primes: Vec<u64>,
    p_primes: Vec<u64>,
    dnum: Option<usize>,
}

impl RlweParametersBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// `log2(n)`.
    pub fn log_n(mut self, log_n: u32) -> Self {
        self.log_n = Some(log_n);
        self
    }

    /// Bit sizes of the ciphertext primes `q_0..q_L` (generated deterministically, largest
    /// first within each size).
    pub fn q_bits(mut self, bits: &[u32]) -> Self {
        self.q_bits = bits.to_vec();
        self
    }

    /// Bit sizes of the special primes.
    pub fn p_bits(mut self, bits: &[u32]) -> Self {
        self.p_bits = bits.to_vec();
        self
    }

    /// Explicit ciphertext and special primes (instead of bit sizes).
    pub fn primes(mut self, q: &[u64], p: &[u64]) -> Self {
        self.q_primes = q.to_vec();
        self.p_primes = p.to_vec();
        self
    }

    /// Decomposition number (default: one digit per ciphertext prime).
    pub fn dnum(mut self, dnum: usize) -> Self {
        self.dnum = Some(dnum);
        self
    }

    /// Whether the ring degree has been set.
    pub(crate) fn has_log_n(&self) -> bool {
        self.log_n.is_some()
    }

    /// `(log n, q primes, p primes, dnum)`, generating the primes from their bit sizes unless
    /// given explicitly.
    pub fn resolve(&self) -> Result<(u32, Vec<u64>, Vec<u64>, usize), HeError> {
        let log_n = self
            .log_n
            .ok_or_else(|| HeError::InvalidParameters("log_n not set".into()))?;
        let (q, p) = if !self.q_primes.is_empty() {
            (self.q_primes.clone(), self.p_primes.clone())
        } else {
            RlweParameters::generate_primes(log_n, &self.q_bits, &self.p_bits)?
        };
        let dnum = self.dnum.unwrap_or(q.len());
        Ok((log_n, q, p, dnum))
    }

    /// Builds RLWE parameters, refusing anything below 128-bit security.
    pub fn build(&self) -> Result<Arc<RlweParameters>, HeError> {
        let (log_n, q, p, dnum) = self.resolve()?;
        Ok(Arc::new(RlweParameters::new(log_n, &q, &p, dnum)?))
    }

    /// Builds RLWE parameters **without** the security check. Only for tests.
    pub fn insecure_build(&self) -> Result<Arc<RlweParameters>, HeError> {
        let (log_n, q, p, dnum) = self.resolve()?;
        Ok(Arc::new(RlweParameters::insecure_new(log_n, &q, &p, dnum)?))
    }
}

/// FNV-1a 64-bit hash.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf29ce484222325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}
