//! Matrix-vector kernels between representations (LoLa section 4.2.2), conversions between
//! representations, the CryptoNets SIMD kernel, the diagonal / baby-step giant-step product,
//! and element-wise layers. Every kernel uses only [`SlotEvaluator`] operations, so the same code
//! runs on the clear backend and on HE backends.

pub mod bsgs;
pub mod combine;
pub mod convolution;
pub mod elementwise;
pub mod relayout;
pub mod row_major;
pub mod simd;
pub mod sparse;
pub mod stacked;

use crate::backend::{SlotEvaluator, SlotValue};
use crate::error::{InferError, InferResult};
use crate::representation::SlotGeometry;

/// Encodes a plaintext that is zero except at the given `(slot, value)` entries.
pub(crate) fn plain_at<B: SlotEvaluator>(
    b: &B,
    entries: impl IntoIterator<Item = (usize, B::Value)>,
    level: usize,
) -> InferResult<B::Plaintext> {
    let mut v = vec![B::Value::ZERO; b.slots()];
    for (s, x) in entries {
        let slot = v
            .get_mut(s)
            .ok_or_else(|| InferError::DoesNotFit(format!("slot {s} of {}", b.slots())))?;
        *slot = x;
    }
    Ok(b.encode(&v, level)?)
}

/// `acc += ct ⊙ p` for the plaintext `p` that holds `entries` (zero elsewhere), with `acc`
/// starting empty (the first product initialises it). Nothing is encoded or multiplied when
/// `entries` is empty (an all-zero diagonal or filter).
pub(crate) fn mul_plain_accumulate<B: SlotEvaluator>(
    b: &B,
    acc: &mut Option<B::Ciphertext>,
    ct: &B::Ciphertext,
    entries: Vec<(usize, B::Value)>,
    level: usize,
) -> InferResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let pt = plain_at(b, entries, level)?;
    match acc.as_mut() {
        None => *acc = Some(b.mul_plain(ct, &pt)?),
        Some(a) => b.mul_plain_add_assign(a, ct, &pt)?,
    }
    Ok(())
}

/// `acc += term`, with `acc` starting empty.
pub(crate) fn add_accumulate<B: SlotEvaluator>(
    b: &B,
    acc: &mut Option<B::Ciphertext>,
    term: B::Ciphertext,
) -> InferResult<()> {
    match acc.as_mut() {
        None => *acc = Some(term),
        Some(a) => b.add_assign(a, &term)?,
    }
    Ok(())
}

/// Rotate-and-sum over whole rows and then across rows: afterwards every slot holds the sum
/// of all slots (LoLa section 4.1: `log n` rotations and additions, plus one row swap on BFV).
pub fn sum_all_slots<B: SlotEvaluator>(b: &B, ct: &B::Ciphertext) -> InferResult<B::Ciphertext> {
    let mut acc = sum_blocks(b, ct, b.row_len())?;
    if b.rows() == 2 {
        let swapped = b.swap_rows(&acc)?;
        b.add_assign(&mut acc, &swapped)?;
    }
    Ok(acc)
}

/// Rotate-and-sum with steps `1, 2, …, block/2` (section 4.2.2, stacked vector – row major):
/// afterwards slot `s` holds the sum of slots `s .. s + block` of its row (cyclically).
pub fn sum_blocks<B: SlotEvaluator>(
    b: &B,
    ct: &B::Ciphertext,
    block: usize,
) -> InferResult<B::Ciphertext> {
    if !block.is_power_of_two() || block > b.row_len() {
        return Err(InferError::DoesNotFit(format!(
            "block {block} must be a power of two <= row length {}",
            b.row_len()
        )));
    }
    let mut acc = ct.clone();
    fold_assign(b, &mut acc, 1, block)?;
    Ok(acc)
}

/// Rotate-and-add in place with steps `first, 2·first, 4·first, …` below `end`: afterwards
/// slot `s` holds the sum of the slots `s + k·first`, `k < end / first` (cyclically in its
/// row). With `first = 1` this sums blocks ([`sum_blocks`]); with `first` a block length it
/// folds the copies of a stacked layout onto each other (BSGS partial sums, stacked
/// convolution offsets).
pub(crate) fn fold_assign<B: SlotEvaluator>(
    b: &B,
    acc: &mut B::Ciphertext,
    first: usize,
    end: usize,
) -> InferResult<()> {
    let mut step = first.max(1);
    while step < end {
        let r = b.rotate(acc, step as isize)?;
        b.add_assign(acc, &r)?;
        step *= 2;
    }
    Ok(())
}

/// Checks an input vector against the backend before a kernel indexes into it: the layout
/// fits the geometry and there is one ciphertext per message.
pub(crate) fn check_input<B: SlotEvaluator>(
    b: &B,
    x: &crate::encrypted::EncryptedVector<B::Ciphertext>,
) -> InferResult<()> {
    x.repr.validate(&geometry(b))?;
    if x.cts.len() != x.repr.messages() || x.cts.is_empty() {
        return Err(InferError::ShapeMismatch(format!(
            "{} ciphertexts for a {} layout of {} messages",
            x.cts.len(),
            x.repr.name(),
            x.repr.messages()
        )));
    }
    Ok(())
}

/// The slot geometry of a backend.
pub(crate) fn geometry<B: SlotEvaluator>(b: &B) -> SlotGeometry {
    SlotGeometry::of(b)
}
