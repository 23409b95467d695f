//! Diagonal matrix-vector product with baby-step giant-step (Halevi–Shoup, CRYPTO 2014 and
//! 2018), with hoisted baby-step rotations. Not in LoLa; the modern dense → dense kernel.
//!
//! For a `D × D` block (`D` a power of two, `r, k <= D`) with generalized diagonals
//! `d_i[j] = W[j][(j + i) mod D]`, `W v = Σ_i d_i ⊙ rot(v, i)`. Splitting `i = g·n1 + β`:
//!
//! `W v = Σ_g rot( Σ_β rot(d_{g·n1+β}, −g·n1) ⊙ rot(v, β), g·n1 )`
//!
//! so only `n1 − 1` baby-step rotations of `v` (one hoisted batch) and `n2 − 1` giant-step
//! rotations are needed, plus one ct×pt per non-zero diagonal. The input must be periodic with
//! period `D` over the whole row (stacked with `copies_per_row·D = row_len`) so that rotations
//! act cyclically modulo `D`.
//!
//! Rectangular matrices with few rows (`r' = 2^⌈log r⌉ < D`) use the *hybrid* diagonals of
//! GAZELLE (Juvekar et al., USENIX Security 2018): only `r'` diagonals of length `D`,
//! `d_i[j] = W[j mod r'][(j + i) mod D]`, so `n1·n2 = r'`; afterwards `log(D/r')` rotations and
//! additions fold the `D/r'` partial sums. For LoLa's 100 × 845 layer this is 128 ct×pt and
//! about 25 rotations instead of 13 ct×pt and 145 rotations with stacking.
//!
//! The diagonals are written into *every* copy of the row, so the products, and after the
//! folding the result, are periodic over the whole row: slot `j` holds `(W v)[j mod r']`, and
//! zero where `j mod r' >= r`. The output is therefore already a clean stacked vector (block
//! `r'`, `row_len / r'` copies) that the next BSGS layer takes as it is: no mask (one level
//! and one ct×pt less per layer, which matters for CKKS depth) and no stacking rotations.

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::representation::{Dense, Representation, Stacked};

use super::{add_accumulate, mul_plain_accumulate};

/// The default baby-step count `n1 = 2^⌈log2(D)/2⌉`.
pub fn default_baby_steps(d: usize) -> usize {
    let log = d.max(1).trailing_zeros();
    1 << log.div_ceil(2)
}

/// `W v` by (hybrid) diagonals with baby-step giant-step; `baby_steps` (`n1`, a power of two
/// dividing the number of diagonals) defaults to [`default_baby_steps`]. `n1` = number of
/// diagonals is the plain diagonal method with all rotations hoisted. The output is dense,
/// clean only when no hybrid folding was needed.
pub fn diagonal_bsgs<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
    baby_steps: Option<usize>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let Representation::Stacked(s) = &x.repr else {
        return Err(InferError::WrongRepresentation {
            kernel: "diagonal BSGS",
            expected: "stacked over the whole row",
            got: x.repr.name(),
        });
    };
    let d = s.block;
    if s.copies_per_row * d != b.row_len() || !x.clean {
        return Err(InferError::InvalidRepresentation(
            "diagonal BSGS needs a clean input stacked over the whole row".into(),
        ));
    }
    if w.cols() != s.len || w.rows() > d || w.rows() == 0 {
        return Err(InferError::ShapeMismatch(format!(
            "{}x{} matrix for a stacked vector of {} with block {d}",
            w.rows(),
            w.cols(),
            s.len
        )));
    }
    // Number of diagonals: the row count rounded up to a power of two (hybrid when < d).
    let rp = w.rows().next_power_of_two().min(d);
    let n1 = baby_steps.unwrap_or_else(|| default_baby_steps(rp));
    if !n1.is_power_of_two() || n1 > rp {
        return Err(InferError::InvalidRepresentation(format!(
            "baby steps {n1} must be a power of two <= {rp}"
        )));
    }
    let n2 = rp / n1;
    let row_len = b.row_len();
    let ct = &x.cts[0];
    let level = b.level(ct);
    let steps: Vec<isize> = (0..n1 as isize).collect();
    let baby = b.rotate_hoisted(ct, &steps)?;
    let mut result: Option<B::Ciphertext> = None;
    for g in 0..n2 {
        let mut inner: Option<B::Ciphertext> = None;
        for (beta, rotated) in baby.iter().enumerate() {
            let i = g * n1 + beta;
            // Every copy of the row gets the diagonal, so the result is periodic too.
            let entries: Vec<(usize, B::Value)> = (0..row_len)
                .filter_map(|j| {
                    let (row, col) = (j % rp, (j + i) % d);
                    (row < w.rows() && col < w.cols() && w.get(row, col) != B::Value::ZERO)
                        .then(|| ((j + g * n1) % row_len, w.get(row, col)))
                })
                .collect();
            mul_plain_accumulate(b, &mut inner, rotated, entries, level)?;
        }
        if let Some(inner) = inner {
            add_accumulate(b, &mut result, b.rotate(&inner, (g * n1) as isize)?)?;
        }
    }
    // An all-zero matrix: multiply by zero to get an encryption of zeros at the right depth.
    let mut out = match result {
        Some(r) => r,
        None => b.mul_scalar(ct, B::Value::ZERO)?,
    };
    // Hybrid: fold the d / rp partial sums onto slots 0..rp.
    super::fold_assign(b, &mut out, rp, d)?;
    EncryptedVector::new(
        Representation::Stacked(Stacked {
            len: w.rows(),
            block: rp,
            copies_per_row: row_len / rp,
            rows_used: 1,
        }),
        vec![out],
        true,
    )
}

/// Number of non-wrapping diagonals of an `r × c` matrix: offsets `−(r−1) ..= c−1`.
pub fn rectangular_diagonals(rows: usize, cols: usize) -> usize {
    (rows + cols).saturating_sub(1)
}

/// `W v` for a single-message dense vector that need **not** be clean, by the non-wrapping
/// ("rectangular") diagonals of `W` with baby-step giant-step and hoisted baby steps.
///
/// With offsets `i ∈ −(r−1) ..= c−1` and `d_i[j] = W[j][j+i]` (zero where `j+i ∉ 0..c`),
/// `(W v)_j = Σ_i d_i[j] · v_{j+i} = Σ_i (d_i ⊙ rot(v, i))_j`: only slots `0..c` of `v` are
/// ever multiplied by a non-zero weight, so whatever the other slots hold (the partial sums a
/// hybrid diagonal product leaves behind) never reaches the result, and every output slot
/// outside `0..r` is multiplied by zero: **the output is clean**. This replaces "mask, stack,
/// diagonal product" (one extra ct×pt of noise, LoLa's combine/mask step) by one product;
/// it pays `r + c − 1` ct×pt instead of `2^⌈log r⌉`, so the planner uses it for layers with
/// few outputs (LoLa MNIST's last 10 × 100 layer: 109 diagonals). Halevi–Shoup BSGS with
/// `i = −(r−1) + g·n1 + β`: `Σ_g rot(Σ_β rot(d_i, −g·n1) ⊙ rot(v, β − (r−1)), g·n1)`.
pub fn dense_diagonal_bsgs<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
    baby_steps: Option<usize>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let len = match &x.repr {
        Representation::Dense(d) if x.cts.len() == 1 => d.len,
        // A stacked vector holds its first copy in slots `0..len`, which is all this reads.
        Representation::Stacked(s) if x.cts.len() == 1 => s.len,
        other => {
            return Err(InferError::WrongRepresentation {
                kernel: "rectangular diagonal BSGS",
                expected: "single-message dense or stacked",
                got: other.name(),
            })
        }
    };
    let row_len = b.row_len();
    let (r, c) = (w.rows(), w.cols());
    if c != len || r == 0 || r > row_len || c > row_len {
        return Err(InferError::ShapeMismatch(format!(
            "{r}x{c} matrix for a dense vector of {len} in rows of {row_len}"
        )));
    }
    let m = rectangular_diagonals(r, c);
    let n1 = baby_steps.unwrap_or_else(|| default_baby_steps(m.next_power_of_two()));
    if n1 == 0 || n1 > m.next_power_of_two() {
        return Err(InferError::InvalidRepresentation(format!(
            "baby steps {n1} must be in 1..={}",
            m.next_power_of_two()
        )));
    }
    let n2 = m.div_ceil(n1);
    let i0 = -(r as isize - 1);
    let ct = &x.cts[0];
    let level = b.level(ct);
    let steps: Vec<isize> = (0..n1 as isize).map(|beta| i0 + beta).collect();
    let baby = b.rotate_hoisted(ct, &steps)?;
    let mut result: Option<B::Ciphertext> = None;
    for g in 0..n2 {
        let mut inner: Option<B::Ciphertext> = None;
        for (beta, rotated) in baby.iter().enumerate() {
            let k = g * n1 + beta;
            if k >= m {
                break;
            }
            let i = i0 + k as isize;
            let entries: Vec<(usize, B::Value)> = (0..r)
                .filter_map(|j| {
                    let col = j as isize + i;
                    if col < 0 || col >= c as isize {
                        return None;
                    }
                    let v = w.get(j, col as usize);
                    (v != B::Value::ZERO).then(|| ((j + g * n1) % row_len, v))
                })
                .collect();
            mul_plain_accumulate(b, &mut inner, rotated, entries, level)?;
        }
        if let Some(inner) = inner {
            add_accumulate(b, &mut result, b.rotate(&inner, (g * n1) as isize)?)?;
        }
    }
    let out = match result {
        Some(r) => r,
        None => b.mul_scalar(ct, B::Value::ZERO)?,
    };
    EncryptedVector::new(
        Representation::Dense(Dense { len: r, chunk: r }),
        vec![out],
        true,
    )
}

/// `W v` for a vector spread over **several messages** (a vector longer than one row, e.g.
/// CIFAR's 83 × 196 = 16268 first-layer outputs in two CKKS messages of 8192 slots at
/// `n = 16384`, LoLa section 4.4), by hybrid diagonals with baby-step giant-step.
///
/// `W = [W_0 | W_1 | …]` splits by the message holding each column: `W v = Σ_m W_m v_m`. With
/// `D = row_len`, `r' = 2^⌈log r⌉ <= D` and the hybrid diagonals of message `m`,
/// `d^m_i[j] = W[j mod r'][col_m((j + i) mod D)]` (zero where `j mod r' >= r` or slot
/// `(j + i) mod D` of message `m` holds no element), every (row, column) pair is met exactly
/// once over `i ∈ 0..r'` and the `D / r'` slots `j ≡ row (mod r')`, so
///
/// `Σ_m Σ_i d^m_i ⊙ rot(v_m, i)`, folded by `log(D / r')` rotations, holds `(W v)[j mod r']`
/// in every slot `j` of row 0: a clean stacked vector (block `r'`) like [`diagonal_bsgs`].
///
/// Halevi–Shoup BSGS with `i = g·n1 + β`: the baby steps `rot(v_m, β)` are one hoisted batch
/// per message, and the giant steps are **shared by all messages** (the inner sums run over
/// `m` and `β`). Giant steps are applied by Horner's rule,
/// `((inner_{n2−1}·ρ + inner_{n2−2})·ρ + …)` with `ρ = rot(·, n1)`, so the client uploads one
/// giant-step key instead of `n2 − 1` (the same number of rotations). Keys: `1..n1` and the
/// fold steps. Cost: `messages · r'` ct×pt (all-zero diagonals skipped), `messages · (n1 − 1)`
/// hoisted and `n2 − 1 + log(D / r')` plain rotations, one level.
///
/// Only slots that hold elements (their canonical slots) meet non-zero weights, so the input
/// need not be clean; every element must sit in row 0 (dense chunks always do).
pub fn block_diagonal_bsgs<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
    baby_steps: Option<usize>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    if matches!(
        x.repr,
        Representation::Convolution(_) | Representation::Simd(_) | Representation::Sparse(_)
    ) {
        return Err(InferError::WrongRepresentation {
            kernel: "block diagonal BSGS",
            expected: "dense, stacked or interleaved",
            got: x.repr.name(),
        });
    }
    let g = super::geometry(b);
    let row_len = g.row_len;
    let (r, c) = (w.rows(), w.cols());
    if c != x.repr.len() || r == 0 {
        return Err(InferError::ShapeMismatch(format!(
            "{r}x{c} matrix times a vector of {}",
            x.repr.len()
        )));
    }
    let rp = r.next_power_of_two();
    if rp > row_len {
        return Err(InferError::DoesNotFit(format!(
            "{r} outputs do not fit one row of {row_len}"
        )));
    }
    // Element at each slot of row 0 of each message.
    let messages = x.cts.len();
    let mut col_at: Vec<Vec<Option<usize>>> = vec![vec![None; row_len]; messages];
    for i in 0..c {
        let (m, s) = x
            .repr
            .canonical(i, &g)
            .ok_or_else(|| InferError::InvalidRepresentation(format!("element {i} has no slot")))?;
        if s >= row_len {
            return Err(InferError::InvalidRepresentation(format!(
                "block diagonal BSGS needs every element in row 0; element {i} is in slot {s}"
            )));
        }
        col_at[m][s] = Some(i);
    }
    let n1 = baby_steps.unwrap_or_else(|| default_baby_steps(rp));
    if !n1.is_power_of_two() || n1 > rp {
        return Err(InferError::InvalidRepresentation(format!(
            "baby steps {n1} must be a power of two <= {rp}"
        )));
    }
    let n2 = rp / n1;
    let level = b.level(&x.cts[0]);
    let steps: Vec<isize> = (0..n1 as isize).collect();
    let baby: Vec<Vec<B::Ciphertext>> = x
        .cts
        .iter()
        .map(|ct| b.rotate_hoisted(ct, &steps))
        .collect::<Result<_, _>>()?;
    let mut acc: Option<B::Ciphertext> = None;
    for gs in (0..n2).rev() {
        if let Some(a) = acc.as_mut() {
            *a = b.rotate(a, n1 as isize)?;
        }
        let mut inner: Option<B::Ciphertext> = None;
        for (m, rotated) in baby.iter().enumerate() {
            for (beta, v) in rotated.iter().enumerate() {
                let i = gs * n1 + beta;
                let entries: Vec<(usize, B::Value)> = (0..row_len)
                    .filter_map(|j| {
                        let row = j % rp;
                        if row >= r {
                            return None;
                        }
                        let col = col_at[m][(j + i) % row_len]?;
                        let wv = w.get(row, col);
                        (wv != B::Value::ZERO).then(|| ((j + gs * n1) % row_len, wv))
                    })
                    .collect();
                mul_plain_accumulate(b, &mut inner, v, entries, level)?;
            }
        }
        if let Some(inner) = inner {
            add_accumulate(b, &mut acc, inner)?;
        }
    }
    let mut out = match acc {
        Some(a) => a,
        None => b.mul_scalar(&x.cts[0], B::Value::ZERO)?,
    };
    super::fold_assign(b, &mut out, rp, row_len)?;
    EncryptedVector::new(
        Representation::Stacked(Stacked {
            len: r,
            block: rp,
            copies_per_row: row_len / rp,
            rows_used: 1,
        }),
        vec![out],
        true,
    )
}
