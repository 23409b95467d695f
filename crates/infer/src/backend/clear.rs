//! The clear backend: [`SlotBackend`] on plain numbers.
//!
//! It performs every operation on unencrypted slot vectors and records
//!
//! * how many operations of each kind ran at each level ([`OpCounts`]) — the input of latency
//!   estimates and of the planner's cost model,
//! * which rotation steps were used (the Galois keys a client must generate),
//! * the largest absolute slot value produced by any operation (sizes BFV plaintext moduli and
//!   CKKS scales), and
//! * the multiplicative depth of every ciphertext.
//!
//! LoLa's own implementation checked its networks the same way before encrypting anything.
//! With `i64` values arithmetic is exact over the integers (no modulus) and overflow is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use super::{
    normalize_step, BackendError, BackendResult, SlotEncoding, SlotEncryptor, SlotEvaluator,
    SlotValue,
};

/// Kinds of backend operations counted by the clear backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// `encode` of a plaintext.
    Encode,
    /// `encrypt`.
    Encrypt,
    /// `decrypt`.
    Decrypt,
    /// ct + ct, ct − ct (also the additions inside `*_add_assign`).
    Add,
    /// ct + pt.
    AddPlain,
    /// ct × pt.
    MulPlain,
    /// ct × scalar.
    MulScalar,
    /// ct × ct with relinearization (squares included).
    MulRelin,
    /// A single (non-hoisted) rotation.
    Rotate,
    /// One call of `rotate_hoisted` (one key-switching decomposition).
    HoistedBatch,
    /// A rotation performed inside a hoisted batch.
    HoistedRotate,
    /// Row swap.
    SwapRows,
    /// Rescale / modulus switch.
    Rescale,
    /// Level drop.
    DropLevel,
}

impl OpKind {
    /// All kinds, in report order.
    pub const ALL: [OpKind; 14] = [
        OpKind::Encode,
        OpKind::Encrypt,
        OpKind::Decrypt,
        OpKind::Add,
        OpKind::AddPlain,
        OpKind::MulPlain,
        OpKind::MulScalar,
        OpKind::MulRelin,
        OpKind::Rotate,
        OpKind::HoistedBatch,
        OpKind::HoistedRotate,
        OpKind::SwapRows,
        OpKind::Rescale,
        OpKind::DropLevel,
    ];

    /// Short lowercase name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Encode => "encode",
            OpKind::Encrypt => "encrypt",
            OpKind::Decrypt => "decrypt",
            OpKind::Add => "add",
            OpKind::AddPlain => "add_plain",
            OpKind::MulPlain => "mul_plain",
            OpKind::MulScalar => "mul_scalar",
            OpKind::MulRelin => "mul_relin",
            OpKind::Rotate => "rotate",
            OpKind::HoistedBatch => "hoisted_batch",
            OpKind::HoistedRotate => "hoisted_rotate",
            OpKind::SwapRows => "swap_rows",
            OpKind::Rescale => "rescale",
            OpKind::DropLevel => "drop_level",
        }
    }
}

/// Operation counts by kind and by the level of the operand, plus value ranges and depth.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpCounts {
    /// Count of each operation kind at each operand level.
    pub by_kind_level: BTreeMap<(OpKind, usize), u64>,
    /// Distinct rotation steps used, normalised into `0..row_len` (Galois keys needed).
    pub rotation_steps: BTreeSet<usize>,
    /// Largest absolute value written to any ciphertext slot.
    pub max_magnitude: f64,
    /// Largest multiplicative depth (ct×ct, ct×pt and ct×scalar each count 1) of any result.
    pub max_depth: usize,
    /// Largest ct×ct depth of any result.
    pub max_ct_depth: usize,
}

impl OpCounts {
    /// Total count of one kind over all levels.
    pub fn total(&self, kind: OpKind) -> u64 {
        self.by_kind_level
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| *n)
            .sum()
    }

    /// All rotations, single and hoisted (each key switch counts once).
    pub fn rotations(&self) -> u64 {
        self.total(OpKind::Rotate) + self.total(OpKind::HoistedRotate)
    }

    /// `self - earlier`, kind by kind (for per-step reports); ranges and steps are kept from
    /// `self`.
    pub fn since(&self, earlier: &OpCounts) -> OpCounts {
        let mut out = self.clone();
        for (key, n) in &earlier.by_kind_level {
            if let Some(v) = out.by_kind_level.get_mut(key) {
                *v = v.saturating_sub(*n);
            }
        }
        out.by_kind_level.retain(|_, n| *n > 0);
        out
    }
}

impl fmt::Display for OpCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for kind in OpKind::ALL {
            let n = self.total(kind);
            if n > 0 {
                if !first {
                    write!(f, ", ")?;
                }
                write!(f, "{} {}", kind.name(), n)?;
                first = false;
            }
        }
        if first {
            write!(f, "none")?;
        }
        Ok(())
    }
}

/// A "ciphertext" of the clear backend: the slot values in the open, with level and depth.
#[derive(Clone, Debug, PartialEq)]
pub struct ClearCiphertext<V> {
    /// All `slots()` values.
    pub values: Vec<V>,
    /// Current level.
    pub level: usize,
    /// Multiplicative depth (every kind of multiplication counts).
    pub depth: usize,
    /// ct×ct depth.
    pub ct_depth: usize,
}

/// A plaintext of the clear backend.
#[derive(Clone, Debug, PartialEq)]
pub struct ClearPlaintext<V> {
    /// All `slots()` values.
    pub values: Vec<V>,
    /// Level it was encoded at.
    pub level: usize,
}

/// [`SlotBackend`] on plain numbers, with operation counting and range tracking.
#[derive(Debug)]
pub struct ClearBackend<V> {
    rows: usize,
    row_len: usize,
    max_level: usize,
    counts: Mutex<OpCounts>,
    _value: std::marker::PhantomData<V>,
}

impl<V: SlotValue> ClearBackend<V> {
    /// A backend with `rows` (1 or 2) rows of `row_len` slots (a power of two) and
    /// `max_level` levels.
    pub fn new(rows: usize, row_len: usize, max_level: usize) -> BackendResult<Self> {
        if rows != 1 && rows != 2 {
            return Err(BackendError::InvalidParameters(format!(
                "rows must be 1 or 2, got {rows}"
            )));
        }
        if row_len < 2 || !row_len.is_power_of_two() || row_len > (1 << 20) {
            return Err(BackendError::InvalidParameters(format!(
                "row length must be a power of two in 2..=2^20, got {row_len}"
            )));
        }
        Ok(Self {
            rows,
            row_len,
            max_level,
            counts: Mutex::new(OpCounts::default()),
            _value: std::marker::PhantomData,
        })
    }

    /// Geometry of BFV batching with ring degree `n`: 2 rows of `n/2` slots.
    pub fn bfv_like(n: usize, max_level: usize) -> BackendResult<Self> {
        Self::new(2, n / 2, max_level)
    }

    /// Geometry of CKKS with ring degree `n`: 1 row of `n/2` slots.
    pub fn ckks_like(n: usize, max_level: usize) -> BackendResult<Self> {
        Self::new(1, n / 2, max_level)
    }

    /// A snapshot of the counters.
    pub fn counts(&self) -> OpCounts {
        self.lock().clone()
    }

    /// Clears the counters.
    pub fn reset_counts(&self) {
        *self.lock() = OpCounts::default();
    }

    fn lock(&self) -> MutexGuard<'_, OpCounts> {
        // A poisoned lock only means a panic elsewhere while counting; the counts stay usable.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, kind: OpKind, level: usize, n: u64) {
        *self.lock().by_kind_level.entry((kind, level)).or_insert(0) += n;
    }

    fn record(&self, ct: &ClearCiphertext<V>) {
        let m = ct.values.iter().fold(0.0f64, |m, v| m.max(v.magnitude()));
        let mut c = self.lock();
        if m > c.max_magnitude {
            c.max_magnitude = m;
        }
        c.max_depth = c.max_depth.max(ct.depth);
        c.max_ct_depth = c.max_ct_depth.max(ct.ct_depth);
    }

    fn same_level(a: usize, b: usize) -> BackendResult<()> {
        if a == b {
            Ok(())
        } else {
            Err(BackendError::LevelMismatch { left: a, right: b })
        }
    }

    fn zip(
        a: &[V],
        b: &[V],
        f: impl Fn(V, V) -> Option<V>,
        op: &'static str,
    ) -> BackendResult<Vec<V>> {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f(x, y).ok_or(BackendError::Overflow { op }))
            .collect()
    }

    /// `acc[i] = f(acc[i], other[i])` in place; returns the largest magnitude written.
    fn in_place(
        acc: &mut [V],
        other: &[V],
        f: impl Fn(V, V) -> Option<V>,
        op: &'static str,
    ) -> BackendResult<f64> {
        let mut max = 0.0f64;
        for (a, &o) in acc.iter_mut().zip(other) {
            *a = f(*a, o).ok_or(BackendError::Overflow { op })?;
            max = max.max(a.magnitude());
        }
        Ok(max)
    }

    fn record_max(&self, max: f64, depth: usize, ct_depth: usize) {
        let mut c = self.lock();
        if max > c.max_magnitude {
            c.max_magnitude = max;
        }
        c.max_depth = c.max_depth.max(depth);
        c.max_ct_depth = c.max_ct_depth.max(ct_depth);
    }

    fn rotated(&self, values: &[V], steps: isize) -> Vec<V> {
        let l = self.row_len;
        let k = normalize_step(steps, l);
        let mut out = Vec::with_capacity(values.len());
        for r in 0..self.rows {
            let row = &values[r * l..(r + 1) * l];
            out.extend_from_slice(&row[k..]);
            out.extend_from_slice(&row[..k]);
        }
        out
    }

    fn finish(&self, ct: ClearCiphertext<V>) -> ClearCiphertext<V> {
        self.record(&ct);
        ct
    }
}

impl<V: SlotValue> SlotEncoding for ClearBackend<V> {
    type Value = V;
    type Ciphertext = ClearCiphertext<V>;
    type Plaintext = ClearPlaintext<V>;
    fn rows(&self) -> usize {
        self.rows
    }
    fn row_len(&self) -> usize {
        self.row_len
    }
    fn max_level(&self) -> usize {
        self.max_level
    }
    fn encode(&self, values: &[V], level: usize) -> BackendResult<ClearPlaintext<V>> {
        let slots = self.slots();
        if values.len() > slots {
            return Err(BackendError::TooManyValues {
                got: values.len(),
                slots,
            });
        }
        self.count(OpKind::Encode, level, 1);
        let mut v = values.to_vec();
        v.resize(slots, V::ZERO);
        Ok(ClearPlaintext { values: v, level })
    }
    fn level(&self, ct: &ClearCiphertext<V>) -> usize {
        ct.level
    }
}

impl<V: SlotValue> SlotEncryptor for ClearBackend<V> {
    fn decode(&self, pt: &ClearPlaintext<V>) -> BackendResult<Vec<V>> {
        Ok(pt.values.clone())
    }
    fn encrypt(&self, pt: &ClearPlaintext<V>) -> BackendResult<ClearCiphertext<V>> {
        self.count(OpKind::Encrypt, self.max_level, 1);
        Ok(self.finish(ClearCiphertext {
            values: pt.values.clone(),
            level: self.max_level,
            depth: 0,
            ct_depth: 0,
        }))
    }
    fn decrypt(&self, ct: &ClearCiphertext<V>) -> BackendResult<ClearPlaintext<V>> {
        self.count(OpKind::Decrypt, ct.level, 1);
        Ok(ClearPlaintext {
            values: ct.values.clone(),
            level: ct.level,
        })
    }
}

impl<V: SlotValue> SlotEvaluator for ClearBackend<V> {
    fn add(
        &self,
        a: &ClearCiphertext<V>,
        b: &ClearCiphertext<V>,
    ) -> BackendResult<Self::Ciphertext> {
        Self::same_level(a.level, b.level)?;
        self.count(OpKind::Add, a.level, 1);
        Ok(self.finish(ClearCiphertext {
            values: Self::zip(&a.values, &b.values, V::checked_add, "add")?,
            level: a.level,
            depth: a.depth.max(b.depth),
            ct_depth: a.ct_depth.max(b.ct_depth),
        }))
    }
    fn add_assign(
        &self,
        acc: &mut ClearCiphertext<V>,
        b: &ClearCiphertext<V>,
    ) -> BackendResult<()> {
        Self::same_level(acc.level, b.level)?;
        self.count(OpKind::Add, acc.level, 1);
        let max = Self::in_place(&mut acc.values, &b.values, V::checked_add, "add")?;
        acc.depth = acc.depth.max(b.depth);
        acc.ct_depth = acc.ct_depth.max(b.ct_depth);
        self.record_max(max, acc.depth, acc.ct_depth);
        Ok(())
    }
    fn mul_plain_add_assign(
        &self,
        acc: &mut ClearCiphertext<V>,
        a: &ClearCiphertext<V>,
        p: &ClearPlaintext<V>,
    ) -> BackendResult<()> {
        Self::same_level(acc.level, a.level)?;
        Self::same_level(a.level, p.level)?;
        self.count(OpKind::MulPlain, a.level, 1);
        self.count(OpKind::Add, a.level, 1);
        let mut max = 0.0f64;
        for ((x, &y), &w) in acc.values.iter_mut().zip(&a.values).zip(&p.values) {
            // The product is an intermediate value too: track it.
            let prod = y
                .checked_mul(w)
                .ok_or(BackendError::Overflow { op: "mul_plain" })?;
            *x = x
                .checked_add(prod)
                .ok_or(BackendError::Overflow { op: "add" })?;
            max = max.max(prod.magnitude()).max(x.magnitude());
        }
        acc.depth = acc.depth.max(a.depth + 1);
        acc.ct_depth = acc.ct_depth.max(a.ct_depth);
        self.record_max(max, acc.depth, acc.ct_depth);
        Ok(())
    }
    fn mul_scalar_add_assign(
        &self,
        acc: &mut ClearCiphertext<V>,
        a: &ClearCiphertext<V>,
        s: V,
    ) -> BackendResult<()> {
        Self::same_level(acc.level, a.level)?;
        self.count(OpKind::MulScalar, a.level, 1);
        self.count(OpKind::Add, a.level, 1);
        let mut max = 0.0f64;
        for (x, &y) in acc.values.iter_mut().zip(&a.values) {
            let prod = y
                .checked_mul(s)
                .ok_or(BackendError::Overflow { op: "mul_scalar" })?;
            *x = x
                .checked_add(prod)
                .ok_or(BackendError::Overflow { op: "add" })?;
            max = max.max(prod.magnitude()).max(x.magnitude());
        }
        acc.depth = acc.depth.max(a.depth + 1);
        acc.ct_depth = acc.ct_depth.max(a.ct_depth);
        self.record_max(max, acc.depth, acc.ct_depth);
        Ok(())
    }
    fn sub(
        &self,
        a: &ClearCiphertext<V>,
        b: &ClearCiphertext<V>,
    ) -> BackendResult<Self::Ciphertext> {
        Self::same_level(a.level, b.level)?;
        self.count(OpKind::Add, a.level, 1);
        Ok(self.finish(ClearCiphertext {
            values: Self::zip(&a.values, &b.values, V::checked_sub, "sub")?,
            level: a.level,
            depth: a.depth.max(b.depth),
            ct_depth: a.ct_depth.max(b.ct_depth),
        }))
    }
    fn add_plain(
        &self,
        a: &ClearCiphertext<V>,
        p: &ClearPlaintext<V>,
    ) -> BackendResult<Self::Ciphertext> {
        Self::same_level(a.level, p.level)?;
        self.count(OpKind::AddPlain, a.level, 1);
        Ok(self.finish(ClearCiphertext {
            values: Self::zip(&a.values, &p.values, V::checked_add, "add_plain")?,
            ..a.clone()
        }))
    }
    fn mul_plain(
        &self,
        a: &ClearCiphertext<V>,
        p: &ClearPlaintext<V>,
    ) -> BackendResult<Self::Ciphertext> {
        Self::same_level(a.level, p.level)?;
        self.count(OpKind::MulPlain, a.level, 1);
        Ok(self.finish(ClearCiphertext {
            values: Self::zip(&a.values, &p.values, V::checked_mul, "mul_plain")?,
            level: a.level,
            depth: a.depth + 1,
            ct_depth: a.ct_depth,
        }))
    }
    fn mul_scalar(&self, a: &ClearCiphertext<V>, s: V) -> BackendResult<Self::Ciphertext> {
        self.count(OpKind::MulScalar, a.level, 1);
        let values = a
            .values
            .iter()
            .map(|&x| {
                x.checked_mul(s)
                    .ok_or(BackendError::Overflow { op: "mul_scalar" })
            })
            .collect::<BackendResult<Vec<V>>>()?;
        Ok(self.finish(ClearCiphertext {
            values,
            level: a.level,
            depth: a.depth + 1,
            ct_depth: a.ct_depth,
        }))
    }
    fn mul(
        &self,
        a: &ClearCiphertext<V>,
        b: &ClearCiphertext<V>,
    ) -> BackendResult<Self::Ciphertext> {
        Self::same_level(a.level, b.level)?;
        self.count(OpKind::MulRelin, a.level, 1);
        Ok(self.finish(ClearCiphertext {
            values: Self::zip(&a.values, &b.values, V::checked_mul, "mul")?,
            level: a.level,
            depth: a.depth.max(b.depth) + 1,
            ct_depth: a.ct_depth.max(b.ct_depth) + 1,
        }))
    }
    fn rotate(&self, a: &ClearCiphertext<V>, steps: isize) -> BackendResult<Self::Ciphertext> {
        let k = normalize_step(steps, self.row_len);
        if k == 0 {
            return Ok(a.clone());
        }
        self.count(OpKind::Rotate, a.level, 1);
        self.lock().rotation_steps.insert(k);
        Ok(ClearCiphertext {
            values: self.rotated(&a.values, steps),
            ..a.clone()
        })
    }
    fn rotate_hoisted(
        &self,
        a: &ClearCiphertext<V>,
        steps: &[isize],
    ) -> BackendResult<Vec<Self::Ciphertext>> {
        let nonzero = steps
            .iter()
            .filter(|&&s| normalize_step(s, self.row_len) != 0)
            .count() as u64;
        if nonzero > 0 {
            self.count(OpKind::HoistedBatch, a.level, 1);
            self.count(OpKind::HoistedRotate, a.level, nonzero);
        }
        let mut out = Vec::with_capacity(steps.len());
        for &s in steps {
            let k = normalize_step(s, self.row_len);
            if k != 0 {
                self.lock().rotation_steps.insert(k);
            }
            out.push(ClearCiphertext {
                values: self.rotated(&a.values, s),
                ..a.clone()
            });
        }
        Ok(out)
    }
    fn swap_rows(&self, a: &ClearCiphertext<V>) -> BackendResult<Self::Ciphertext> {
        if self.rows == 1 {
            return Ok(a.clone());
        }
        self.count(OpKind::SwapRows, a.level, 1);
        let l = self.row_len;
        let mut values = a.values[l..].to_vec();
        values.extend_from_slice(&a.values[..l]);
        Ok(ClearCiphertext {
            values,
            ..a.clone()
        })
    }
    fn rescale(&self, a: &ClearCiphertext<V>) -> BackendResult<Self::Ciphertext> {
        if a.level == 0 {
            return Err(BackendError::LevelsExhausted {
                level: 0,
                wanted: 1,
            });
        }
        self.count(OpKind::Rescale, a.level, 1);
        Ok(ClearCiphertext {
            level: a.level - 1,
            ..a.clone()
        })
    }
    fn drop_level(&self, a: &ClearCiphertext<V>, levels: usize) -> BackendResult<Self::Ciphertext> {
        if levels > a.level {
            return Err(BackendError::LevelsExhausted {
                level: a.level,
                wanted: levels,
            });
        }
        if levels > 0 {
            self.count(OpKind::DropLevel, a.level, 1);
        }
        Ok(ClearCiphertext {
            level: a.level - levels,
            ..a.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(b: &ClearBackend<i64>, v: &[i64]) -> ClearCiphertext<i64> {
        let pt = b.encode(v, b.max_level()).unwrap();
        b.encrypt(&pt).unwrap()
    }

    #[test]
    fn rotation_is_cyclic_within_rows_and_swap_exchanges_rows() {
        let b = ClearBackend::<i64>::new(2, 4, 3).unwrap();
        let ct = enc(&b, &[0, 1, 2, 3, 10, 11, 12, 13]);
        assert_eq!(
            b.rotate(&ct, 1).unwrap().values,
            vec![1, 2, 3, 0, 11, 12, 13, 10]
        );
        assert_eq!(
            b.rotate(&ct, -1).unwrap().values,
            vec![3, 0, 1, 2, 13, 10, 11, 12]
        );
        assert_eq!(
            b.swap_rows(&ct).unwrap().values,
            vec![10, 11, 12, 13, 0, 1, 2, 3]
        );
        let h = b.rotate_hoisted(&ct, &[0, 1, 2]).unwrap();
        assert_eq!(h[2].values, vec![2, 3, 0, 1, 12, 13, 10, 11]);
        let c = b.counts();
        assert_eq!(c.total(OpKind::Rotate), 2);
        assert_eq!(c.total(OpKind::HoistedBatch), 1);
        assert_eq!(c.total(OpKind::HoistedRotate), 2);
        assert_eq!(
            c.rotation_steps.iter().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn tracks_depth_levels_magnitude_and_overflow() {
        let b = ClearBackend::<i64>::new(1, 4, 2).unwrap();
        let ct = enc(&b, &[3, -4, 0, 1]);
        let sq = b.square(&ct).unwrap();
        assert_eq!(sq.values, vec![9, 16, 0, 1]);
        assert_eq!((sq.depth, sq.ct_depth), (1, 1));
        let r = b.rescale(&sq).unwrap();
        assert_eq!(r.level, 1);
        assert!(matches!(
            b.add(&r, &sq),
            Err(BackendError::LevelMismatch { .. })
        ));
        let r0 = b.rescale(&r).unwrap();
        assert!(matches!(
            b.rescale(&r0),
            Err(BackendError::LevelsExhausted { .. })
        ));
        let big = enc(&b, &[i64::MAX, 0, 0, 0]);
        assert!(matches!(
            b.mul_scalar(&big, 2),
            Err(BackendError::Overflow { .. })
        ));
        let c = b.counts();
        assert_eq!(c.max_magnitude, i64::MAX as f64);
        assert_eq!(c.total(OpKind::MulRelin), 1);
        assert_eq!(c.max_ct_depth, 1);
    }

    #[test]
    fn rejects_bad_geometry_and_oversized_vectors() {
        assert!(ClearBackend::<i64>::new(3, 4, 1).is_err());
        assert!(ClearBackend::<i64>::new(1, 6, 1).is_err());
        let b = ClearBackend::<i64>::new(1, 4, 1).unwrap();
        assert!(matches!(
            b.encode(&[1, 2, 3, 4, 5], 1),
            Err(BackendError::TooManyValues { .. })
        ));
    }
}
