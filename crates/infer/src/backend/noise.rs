//! A BFV noise estimator that runs plans like a backend: every "ciphertext" is its remaining
//! noise budget in bits (SEAL's invariant noise budget, `−log2(2‖v‖)`; decryption is correct
//! while it is positive), every operation lowers it the way the engine's does.
//!
//! LoLa's plans were checked before encryption on plain numbers (section 4); this backend adds
//! the other half of that check for BFV: whether the ciphertext modulus `Q` suffices for the
//! plaintext primes `t_j` and the plan's multiplications. [`crate::params`] uses it to pick `n`,
//! `Q` and the primes, and to refuse plans whose estimate is negative.
//!
//! The model (heuristic, invariant noise `v` of Fan–Vercauteren / SEAL, with worst-case sums):
//!
//! * fresh encryption: budget `log2 Q − log2 t − 3`;
//! * `a + b`: the invariant noises add (`v = v_a + v_b`, worst case);
//! * `s · a` for a scalar: `v·|s|`; sums of scalars are accumulated exactly (`Σ |s_i|·v_i`);
//! * `a ⊙ p` for a plaintext: `v·|c|` when `p` holds the same value `c` in every slot (a
//!   constant polynomial), otherwise `v·(t/2)·√n·2` (coefficients of batched plaintexts are
//!   uniform modulo `t`; the factor 2 is margin);
//! * `a ⊙ b` with relinearization: `(v_a + v_b)·t·n` (HPS multiplication) plus key switching;
//! * rotations, row swaps, relinearization add key-switching noise
//!   `t·dnum·n·σ·2^max(0, digit − log2 P)/Q`;
//! * modulus switching to `Q_ℓ` (BFV [`SlotEvaluator::rescale`](super::SlotEvaluator::rescale) / `drop_level`) adds the rounding
//!   noise `t·√n·2^3/Q_ℓ` and keeps the invariant noise.
//!
//! The constants were checked against `noise_budget` measured on LoLa MNIST at `n = 8192` (three
//! 54-bit primes): squares cost `log2 t + 13` bits measured vs `log2 t + 13` estimated, a
//! 128-term diagonal product 27 bits measured vs 32 estimated (sums are worst case here), so the
//! estimate is a lower bound of the measured budget in those runs.

use std::sync::Mutex;

use super::{
    normalize_step, BackendError, BackendResult, SlotEncoding, SlotEncryptor, SlotEvaluator,
    SlotValue,
};

/// What the noise estimate needs to know about BFV parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseParameters {
    /// `log2(n)`.
    pub log_n: u32,
    /// Bit sizes (`log2`) of the ciphertext primes `q_0, q_1, …` (level `ℓ` uses the first `ℓ+1`).
    pub q_bits: Vec<f64>,
    /// `log2(P)`, the special primes of hybrid key switching.
    pub p_bits: f64,
    /// Number of key-switching digits.
    pub dnum: usize,
    /// `log2` of the largest plaintext prime (the noisiest CRT instance).
    pub t_bits: f64,
}

impl NoiseParameters {
    fn log_q(&self, level: usize) -> f64 {
        self.q_bits.iter().take(level + 1).sum()
    }

    /// Budget of a fresh encryption at the top level.
    pub fn fresh_budget(&self) -> f64 {
        self.log_q(self.q_bits.len().saturating_sub(1)) - self.t_bits - 3.0
    }

    /// `log2` of the invariant noise added by one key switch at `level`.
    fn key_switch_noise(&self, level: usize) -> f64 {
        let digits = self.dnum.max(1);
        let digit_bits = self.q_bits.iter().sum::<f64>() / digits as f64;
        self.t_bits
            + (digits as f64).log2()
            + f64::from(self.log_n)
            + 3.2f64.log2()
            + (digit_bits - self.p_bits).max(0.0)
            + 1.0
            - self.log_q(level)
    }

    /// `log2` of the rounding noise of a modulus switch to `level`.
    fn switch_noise(&self, level: usize) -> f64 {
        self.t_bits + f64::from(self.log_n) / 2.0 + 3.0 - self.log_q(level)
    }
}

/// A ciphertext of the estimator: level and `log2` of the invariant noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseCiphertext {
    /// Level.
    pub level: usize,
    /// `log2 ‖v‖`; the budget is `−log2_v − 1`.
    pub log2_v: f64,
}

impl NoiseCiphertext {
    /// Remaining noise budget in bits (negative: decryption would fail).
    pub fn budget(&self) -> f64 {
        -self.log2_v - 1.0
    }
}

/// A plaintext of the estimator: its level and, for constant slot vectors, the constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisePlaintext {
    level: usize,
    constant: Option<f64>,
}

/// `log2(2^a + 2^b)`.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (1.0 + (lo - hi).exp2()).log2()
}

/// The noise-estimating backend (see the module docs). It tracks the smallest budget any
/// ciphertext reached ([`NoiseBackend::min_budget`]).
#[derive(Debug)]
pub struct NoiseBackend<V> {
    params: NoiseParameters,
    row_len: usize,
    min_budget: Mutex<f64>,
    _value: std::marker::PhantomData<V>,
}

impl<V: SlotValue> NoiseBackend<V> {
    /// An estimator for BFV with these parameters (2 rows of `n/2` slots).
    pub fn new(params: NoiseParameters) -> BackendResult<Self> {
        if params.q_bits.is_empty() || !(1..=17).contains(&params.log_n) {
            return Err(BackendError::InvalidParameters(
                "noise estimate needs at least one q prime and 1 <= log n <= 17".into(),
            ));
        }
        Ok(Self {
            row_len: 1 << (params.log_n - 1),
            params,
            min_budget: Mutex::new(f64::INFINITY),
            _value: std::marker::PhantomData,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &NoiseParameters {
        &self.params
    }

    /// Smallest budget of any ciphertext produced so far.
    pub fn min_budget(&self) -> f64 {
        *self.min_budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn out(&self, level: usize, log2_v: f64) -> NoiseCiphertext {
        let c = NoiseCiphertext { level, log2_v };
        let mut m = self.min_budget.lock().unwrap_or_else(|e| e.into_inner());
        *m = m.min(c.budget());
        c
    }

    fn same_level(a: &NoiseCiphertext, b: usize) -> BackendResult<()> {
        if a.level != b {
            return Err(BackendError::LevelMismatch {
                left: a.level,
                right: b,
            });
        }
        Ok(())
    }

    fn key_switched(&self, a: &NoiseCiphertext) -> NoiseCiphertext {
        self.out(
            a.level,
            log_add(a.log2_v, self.params.key_switch_noise(a.level)),
        )
    }
}

impl<V: SlotValue> SlotEncoding for NoiseBackend<V> {
    type Value = V;
    type Ciphertext = NoiseCiphertext;
    type Plaintext = NoisePlaintext;
    fn rows(&self) -> usize {
        2
    }
    fn row_len(&self) -> usize {
        self.row_len
    }
    fn max_level(&self) -> usize {
        self.params.q_bits.len() - 1
    }
    fn encode(&self, values: &[V], level: usize) -> BackendResult<NoisePlaintext> {
        if values.len() > self.slots() {
            return Err(BackendError::TooManyValues {
                got: values.len(),
                slots: self.slots(),
            });
        }
        let first = values.first().copied().unwrap_or(V::ZERO);
        let uniform = values.len() == self.slots() && values.iter().all(|&v| v == first)
            || values.iter().all(|&v| v == V::ZERO);
        Ok(NoisePlaintext {
            level,
            constant: uniform.then(|| first.magnitude()),
        })
    }
    fn level(&self, ct: &NoiseCiphertext) -> usize {
        ct.level
    }
}

impl<V: SlotValue> SlotEncryptor for NoiseBackend<V> {
    fn decode(&self, _pt: &NoisePlaintext) -> BackendResult<Vec<V>> {
        Ok(vec![V::ZERO; self.slots()])
    }
    fn encrypt(&self, pt: &NoisePlaintext) -> BackendResult<NoiseCiphertext> {
        let budget = self.params.log_q(pt.level) - self.params.t_bits - 3.0;
        Ok(self.out(pt.level, -budget - 1.0))
    }
    fn decrypt(&self, ct: &NoiseCiphertext) -> BackendResult<NoisePlaintext> {
        Ok(NoisePlaintext {
            level: ct.level,
            constant: None,
        })
    }
}

impl<V: SlotValue> SlotEvaluator for NoiseBackend<V> {
    fn add(&self, a: &NoiseCiphertext, b: &NoiseCiphertext) -> BackendResult<NoiseCiphertext> {
        Self::same_level(a, b.level)?;
        Ok(self.out(a.level, log_add(a.log2_v, b.log2_v)))
    }
    fn sub(&self, a: &NoiseCiphertext, b: &NoiseCiphertext) -> BackendResult<NoiseCiphertext> {
        self.add(a, b)
    }
    fn add_plain(&self, a: &NoiseCiphertext, p: &NoisePlaintext) -> BackendResult<NoiseCiphertext> {
        Self::same_level(a, p.level)?;
        Ok(*a)
    }
    fn mul_plain(&self, a: &NoiseCiphertext, p: &NoisePlaintext) -> BackendResult<NoiseCiphertext> {
        Self::same_level(a, p.level)?;
        let growth = match p.constant {
            Some(0.0) => return Ok(self.out(a.level, f64::NEG_INFINITY)),
            Some(c) => c.log2(),
            None => self.params.t_bits - 1.0 + f64::from(self.params.log_n) / 2.0 + 1.0,
        };
        Ok(self.out(a.level, a.log2_v + growth))
    }
    fn mul_scalar(&self, a: &NoiseCiphertext, s: V) -> BackendResult<NoiseCiphertext> {
        let m = s.magnitude();
        if m == 0.0 {
            return Ok(self.out(a.level, f64::NEG_INFINITY));
        }
        Ok(self.out(a.level, a.log2_v + m.log2()))
    }
    fn mul(&self, a: &NoiseCiphertext, b: &NoiseCiphertext) -> BackendResult<NoiseCiphertext> {
        Self::same_level(a, b.level)?;
        let v = log_add(a.log2_v, b.log2_v) + self.params.t_bits + f64::from(self.params.log_n);
        Ok(self.key_switched(&NoiseCiphertext {
            level: a.level,
            log2_v: v,
        }))
    }
    fn rotate(&self, a: &NoiseCiphertext, steps: isize) -> BackendResult<NoiseCiphertext> {
        if normalize_step(steps, self.row_len) == 0 {
            return Ok(*a);
        }
        Ok(self.key_switched(a))
    }
    fn swap_rows(&self, a: &NoiseCiphertext) -> BackendResult<NoiseCiphertext> {
        Ok(self.key_switched(a))
    }
    fn rescale(&self, a: &NoiseCiphertext) -> BackendResult<NoiseCiphertext> {
        self.drop_level(a, 1)
    }
    fn drop_level(&self, a: &NoiseCiphertext, levels: usize) -> BackendResult<NoiseCiphertext> {
        if levels > a.level {
            return Err(BackendError::LevelsExhausted {
                level: a.level,
                wanted: levels,
            });
        }
        let level = a.level - levels;
        if levels == 0 {
            return Ok(*a);
        }
        Ok(self.out(level, log_add(a.log2_v, self.params.switch_noise(level))))
    }
}
