//! Sparse vector – column major (LoLa section 4.2.2) and the sparse → dense conversion.
//!
//! `W v = Σ v_i c^i`: message `i` holds `v_i` everywhere, so one ct×pt with the column `c^i`
//! (as a dense plaintext) per input element and additions give a dense result, with no rotation.

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::representation::{Dense, Representation};

use super::plain_at;

fn check_sparse<C>(x: &EncryptedVector<C>, kernel: &'static str) -> InferResult<()> {
    match x.repr {
        Representation::Sparse(_) => Ok(()),
        ref other => Err(InferError::WrongRepresentation {
            kernel,
            expected: "sparse",
            got: other.name(),
        }),
    }
}

/// `W v` for a sparse `v`; result dense, split into messages of at most `row_len` elements,
/// clean.
pub fn sparse_column_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    check_sparse(x, "sparse vector - column major")?;
    if w.cols() != x.repr.len() || w.cols() == 0 {
        return Err(InferError::ShapeMismatch(format!(
            "{}x{} matrix times sparse vector of {}",
            w.rows(),
            w.cols(),
            x.repr.len()
        )));
    }
    let chunk = w.rows().min(b.row_len()).max(1);
    let mut out = Vec::new();
    for start in (0..w.rows()).step_by(chunk) {
        let end = (start + chunk).min(w.rows());
        let mut acc: Option<B::Ciphertext> = None;
        for (i, ct) in x.cts.iter().enumerate() {
            let pt = plain_at(
                b,
                (start..end).map(|r| (r - start, w.get(r, i))),
                b.level(ct),
            )?;
            match acc.as_mut() {
                None => acc = Some(b.mul_plain(ct, &pt)?),
                Some(a) => b.mul_plain_add_assign(a, ct, &pt)?,
            }
        }
        out.extend(acc);
    }
    EncryptedVector::new(
        Representation::Dense(Dense {
            len: w.rows(),
            chunk,
        }),
        out,
        true,
    )
}

/// Sparse → dense: `Σ v_i e_i` with unit masks (section 4.4, after CIFAR's second layer).
/// One ct×pt and one addition per element; result clean.
pub fn sparse_to_dense<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    check_sparse(x, "sparse to dense")?;
    let len = x.repr.len();
    if len == 0 {
        return Err(InferError::ShapeMismatch("empty sparse vector".into()));
    }
    let chunk = len.min(b.row_len());
    let mut out: Vec<B::Ciphertext> = Vec::new();
    for (i, ct) in x.cts.iter().enumerate() {
        let pt = plain_at(b, [(i % chunk, B::Value::ONE)], b.level(ct))?;
        if i % chunk == 0 {
            out.push(b.mul_plain(ct, &pt)?);
        } else if let Some(acc) = out.last_mut() {
            b.mul_plain_add_assign(acc, ct, &pt)?;
        }
    }
    EncryptedVector::new(Representation::Dense(Dense { len, chunk }), out, true)
}
