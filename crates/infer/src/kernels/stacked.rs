//! Stacking and stacked vector – row major (LoLa section 4.2.2).
//!
//! A short dense vector of length `k` is copied into every block of `2^d >= k` slots of a row
//! by `log(copies)` rotations and additions (doubling), and into the second BFV row by one row
//! swap. Then `copies` rows of `W` are multiplied at once: one ct×pt and `d` rotations and
//! additions per *round* of `copies` rows; the results sit at the block starts (interleaved).
//!
//! The number of copies derives from the backend's row length: with BFV at `n = 8192` a row
//! has 4096 slots, so an 845-vector (block 1024) gets 4 copies per row and 8 with both rows —
//! LoLa's 8 copies and 13 rounds for 100 rows (Table 1).

use crate::backend::SlotEvaluator;
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::representation::{Interleaved, Representation, Stacked};

use super::{geometry, plain_at, sum_blocks};

/// The largest stacking of a vector of `len` with blocks of `block` (`None`: the smallest power
/// of two `>= len`): `(block, copies_per_row, rows_used)`.
pub fn max_stacking<B: SlotEvaluator>(
    b: &B,
    len: usize,
    block: Option<usize>,
) -> InferResult<(usize, usize, usize)> {
    let block = block.unwrap_or(len.max(1).next_power_of_two());
    if !block.is_power_of_two() || block < len || block > b.row_len() {
        return Err(InferError::DoesNotFit(format!(
            "stacking block {block} for a vector of {len} in rows of {}",
            b.row_len()
        )));
    }
    Ok((block, b.row_len() / block, b.rows()))
}

/// Stacks a clean single-message dense vector: `copies_per_row` copies (a power of two) every
/// `block` slots of row 0, then duplicated into row 1 when `rows_used == 2`.
/// Costs `log2(copies_per_row)` rotations and additions, plus one row swap and addition.
pub fn stack<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    block: usize,
    copies_per_row: usize,
    rows_used: usize,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let len = match &x.repr {
        Representation::Dense(d) if x.cts.len() == 1 => d.len,
        other => {
            return Err(InferError::WrongRepresentation {
                kernel: "stack",
                expected: "single-message dense",
                got: other.name(),
            })
        }
    };
    if !x.clean {
        return Err(InferError::InvalidRepresentation(
            "stacking needs a clean dense vector (zeros outside the data)".into(),
        ));
    }
    if !copies_per_row.is_power_of_two() {
        return Err(InferError::InvalidRepresentation(format!(
            "copies per row {copies_per_row} must be a power of two"
        )));
    }
    let repr = Representation::Stacked(Stacked {
        len,
        block,
        copies_per_row,
        rows_used,
    });
    repr.validate(&geometry(b))?;
    let mut acc = x.cts[0].clone();
    let mut copies = 1;
    while copies < copies_per_row {
        let r = b.rotate(&acc, -((copies * block) as isize))?;
        b.add_assign(&mut acc, &r)?;
        copies *= 2;
    }
    if rows_used == 2 {
        let s = b.swap_rows(&acc)?;
        b.add_assign(&mut acc, &s)?;
    }
    EncryptedVector::new(repr, vec![acc], true)
}

/// Stacked vector – row major: `W v` in `⌈rows / copies⌉` rounds; the result for row
/// `t·copies + c` is at the start of copy `c` in message `t` (interleaved, not clean).
pub fn stacked_row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let Representation::Stacked(s) = &x.repr else {
        return Err(InferError::WrongRepresentation {
            kernel: "stacked vector - row major",
            expected: "stacked",
            got: x.repr.name(),
        });
    };
    if w.cols() != s.len || w.rows() == 0 {
        return Err(InferError::ShapeMismatch(format!(
            "{}x{} matrix times stacked vector of {}",
            w.rows(),
            w.cols(),
            s.len
        )));
    }
    let g = geometry(b);
    let copies = s.copies();
    let ct = &x.cts[0];
    let mut out = Vec::new();
    let mut positions = Vec::with_capacity(w.rows());
    for (t, first) in (0..w.rows()).step_by(copies).enumerate() {
        let rows = first..(first + copies).min(w.rows());
        let mut entries = Vec::with_capacity(rows.len() * s.len);
        for (c, r) in rows.enumerate() {
            let start = s.copy_start(c, &g);
            entries.extend((0..s.len).map(|i| (start + i, w.get(r, i))));
            positions.push((t, start));
        }
        let pt = plain_at(b, entries, b.level(ct))?;
        let prod = b.mul_plain(ct, &pt)?;
        out.push(sum_blocks(b, &prod, s.block)?);
    }
    let messages = out.len();
    EncryptedVector::new(
        Representation::Interleaved(Interleaved {
            messages,
            positions,
        }),
        out,
        false,
    )
}
