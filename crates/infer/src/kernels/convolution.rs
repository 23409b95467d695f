//! Convolution vector – row major (LoLa section 4.2.2).
//!
//! With the input in the convolution representation (message `j` holds, at slot `i`, the input
//! pixel that window offset `j` sees at output position `i`), map `o` of the convolution is
//! `Σ_j w_{o,j} m^j`: `r` ct×scalar products and additions per map, no rotation. The result is
//! dense per map ("5 × 169 dense" in Table 1).
//!
//! Convolution vector – row major on the *stacked* convolution representation
//! ([`StackedConvolution`]): one ct×pt per message and `log2(copies)` rotations to fold the
//! window-offset blocks, leaving a clean stacked vector ([`stacked_convolution_row_major`]).

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::{Dense, Representation, Stacked};

use super::mul_plain_accumulate;

/// Applies `maps` filters of `r` weights each (`weights[o·r + j]`, the `[out, in, kh, kw]`
/// order of [`crate::conv::Conv2dGeometry`]) to a convolution-represented input.
pub fn convolution_row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    weights: &[B::Value],
    maps: usize,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let Representation::Convolution(c) = &x.repr else {
        return Err(InferError::WrongRepresentation {
            kernel: "convolution vector - row major",
            expected: "convolution",
            got: x.repr.name(),
        });
    };
    let r = c.sources.len();
    if r == 0 || maps == 0 || weights.len() != maps * r {
        return Err(InferError::ShapeMismatch(format!(
            "{} weights for {maps} maps of window {r}",
            weights.len()
        )));
    }
    if c.positions > b.row_len() {
        return Err(InferError::DoesNotFit(format!(
            "{} output positions in rows of {}",
            c.positions,
            b.row_len()
        )));
    }
    let mut out = Vec::with_capacity(maps);
    for filter in weights.chunks(r) {
        let mut acc = b.mul_scalar(&x.cts[0], filter[0])?;
        for (ct, &w) in x.cts.iter().zip(filter).skip(1) {
            b.mul_scalar_add_assign(&mut acc, ct, w)?;
        }
        out.push(acc);
    }
    EncryptedVector::new(
        Representation::Dense(Dense {
            len: maps * c.positions,
            chunk: c.positions,
        }),
        out,
        x.clean,
    )
}

/// Applies `maps` filters of `r` weights each (`weights[o·r + j]`, as in
/// [`convolution_row_major`]) to an input in the stacked convolution representation: message
/// `c` is multiplied by the plaintext holding `w_{o,j}` at every slot of map `o` in the block
/// of window offset `j`, the products are summed, and rotations by `block, 2·block, …` fold
/// the blocks so that every block holds `Σ_j w_{o,j} v_{σ_i(j)}` at slot `o·P + i`. The
/// result is the clean stacked vector of the `M·P` outputs (block `block`, all copies of the
/// row).
pub fn stacked_convolution_row_major<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    weights: &[B::Value],
    maps: usize,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let Representation::StackedConvolution(c) = &x.repr else {
        return Err(InferError::WrongRepresentation {
            kernel: "stacked convolution vector - row major",
            expected: "stacked convolution",
            got: x.repr.name(),
        });
    };
    let r = c.conv.sources.len();
    if r == 0 || maps != c.maps || weights.len() != maps * r {
        return Err(InferError::ShapeMismatch(format!(
            "{} weights for {maps} maps of window {r} (representation made for {} maps)",
            weights.len(),
            c.maps
        )));
    }
    let positions = c.conv.positions;
    let mut acc: Option<B::Ciphertext> = None;
    for (m, ct) in x.cts.iter().enumerate() {
        let entries = (0..c.copies_per_row).filter_map(|blk| {
            c.offset(m, blk).map(|j| {
                (0..maps).flat_map(move |o| {
                    (0..positions).map(move |p| (blk * c.block + o * positions + p, o * r + j))
                })
            })
        });
        let entries: Vec<(usize, B::Value)> = entries
            .flatten()
            .filter_map(|(slot, w)| {
                let w = weights[w];
                (w != B::Value::ZERO).then_some((slot, w))
            })
            .collect();
        mul_plain_accumulate(b, &mut acc, ct, entries, b.level(ct))?;
    }
    // All weights zero: an encryption of zeros at the depth of a product.
    let mut out = match acc {
        Some(a) => a,
        None => b.mul_scalar(&x.cts[0], B::Value::ZERO)?,
    };
    super::fold_assign(b, &mut out, c.block, b.row_len())?;
    EncryptedVector::new(
        Representation::Stacked(Stacked {
            len: c.output_len(),
            block: c.block,
            copies_per_row: b.row_len() / c.block,
            rows_used: 1,
        }),
        vec![out],
        x.clean,
    )
}
