//! Dense vector – row major and interleaved vector – row major (LoLa section 4.2.2).
//!
//! Each row `r^j` of `W` is placed next to the elements it multiplies (at their canonical
//! slots; for an interleaved vector this shuffles the columns by σ), multiplied point-wise and
//! summed over all slots: one ct×pt per message and `log(row_len)` rotations (+1 row swap) per
//! output. The result is the sparse representation of `W v`.

use crate::backend::SlotEvaluator;
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::representation::{Representation, Sparse};

use super::{geometry, plain_at, sum_all_slots};

/// `W v` for `v` in dense (one or several messages), interleaved or stacked representation
/// (stacked copies beyond the first are ignored); result sparse. Works on non-clean inputs:
/// slots that are not placements meet zero weights.
pub fn row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    match &x.repr {
        Representation::Dense(_) | Representation::Interleaved(_) | Representation::Stacked(_) => {}
        other => {
            return Err(InferError::WrongRepresentation {
                kernel: "row-major product",
                expected: "dense, interleaved or stacked",
                got: other.name(),
            })
        }
    }
    if w.cols() != x.repr.len() {
        return Err(InferError::ShapeMismatch(format!(
            "{}x{} matrix times vector of {}",
            w.rows(),
            w.cols(),
            x.repr.len()
        )));
    }
    let g = geometry(b);
    // Canonical slot of every element, grouped by message.
    let mut per_message: Vec<Vec<(usize, usize)>> = vec![Vec::new(); x.cts.len()];
    for i in 0..x.repr.len() {
        let (m, s) = x
            .repr
            .canonical(i, &g)
            .ok_or_else(|| InferError::InvalidRepresentation(format!("element {i} has no slot")))?;
        per_message[m].push((s, i));
    }
    let mut out = Vec::with_capacity(w.rows());
    for r in 0..w.rows() {
        let mut acc: Option<B::Ciphertext> = None;
        for (m, slots) in per_message.iter().enumerate() {
            if slots.is_empty() {
                continue;
            }
            let ct = &x.cts[m];
            let pt = plain_at(b, slots.iter().map(|&(s, i)| (s, w.get(r, i))), b.level(ct))?;
            match acc.as_mut() {
                None => acc = Some(b.mul_plain(ct, &pt)?),
                Some(a) => b.mul_plain_add_assign(a, ct, &pt)?,
            }
        }
        let acc = acc.ok_or_else(|| InferError::ShapeMismatch("empty input vector".into()))?;
        out.push(sum_all_slots(b, &acc)?);
    }
    EncryptedVector::new(Representation::Sparse(Sparse { len: w.rows() }), out, true)
}

/// Dense vector – row major (section 4.2.2): checks the input is dense.
pub fn dense_row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    if !matches!(x.repr, Representation::Dense(_)) {
        return Err(InferError::WrongRepresentation {
            kernel: "dense vector - row major",
            expected: "dense",
            got: x.repr.name(),
        });
    }
    row_major(b, x, w)
}

/// Interleaved vector – row major (section 4.2.2): checks the input is interleaved.
pub fn interleaved_row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    if !matches!(x.repr, Representation::Interleaved(_)) {
        return Err(InferError::WrongRepresentation {
            kernel: "interleaved vector - row major",
            expected: "interleaved",
            got: x.repr.name(),
        });
    }
    row_major(b, x, w)
}
