//! Combining several messages into one by rotations and additions (LoLa section 4.3 and
//! Table 1: "combine to one vector using 4 rotations and additions", "… 12 rotations …").
//!
//! Message `m` is rotated right by a shift `s_m` (and, with two BFV rows, possibly moved to the
//! other row by a row swap) chosen so that its elements land on slots no earlier message uses;
//! the moved messages are added. The row swap is what lets CIFAR's 83 × 196 = 16268 outputs
//! share one message of `n = 16384` slots (section 4.4). This is only correct when slots
//! outside the placements are zero, so a vector that is not clean (e.g. the partial sums left
//! by stacked vector – row major) is first masked: one ct×pt per message with a 0/1 plaintext.
//! (LoLa's Table 1 lists no masks; without them the partial sums would collide, so we pay one
//! plaintext multiplication per message and one level.)

use std::collections::HashSet;

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::{Dense, Interleaved, Representation, SlotGeometry};

use super::relayout::relayout;
use super::{geometry, plain_at};

/// How one message is moved before the addition: rotated right by `shift` inside its rows, then
/// (BFV) its rows swapped when `swap` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// Right rotation.
    pub shift: usize,
    /// Row swap after the rotation.
    pub swap: bool,
}

fn moved_slot(g: &SlotGeometry, slot: usize, m: Move) -> usize {
    let t = g.rotated_slot(slot, -(m.shift as isize));
    if m.swap {
        (t + g.row_len) % g.slots()
    } else {
        t
    }
}

/// Chooses moves greedily: message `m` gets the smallest right shift that puts its slots onto
/// free ones, trying its own rows first and (with two rows) the swapped rows next. Message 0
/// stays in place. Returns the moves and the new slot of every element.
pub fn choose_moves(
    repr: &Representation,
    g: &SlotGeometry,
) -> InferResult<(Vec<Move>, Vec<usize>)> {
    let placements = repr.placements(g);
    let mut occupied: HashSet<usize> = HashSet::new();
    let mut moves = Vec::with_capacity(placements.len());
    let mut new_slot = vec![usize::MAX; repr.len()];
    let swaps: &[bool] = if g.rows == 2 {
        &[false, true]
    } else {
        &[false]
    };
    for msg in &placements {
        let mv = swaps
            .iter()
            .flat_map(|&swap| (0..g.row_len).map(move |shift| Move { shift, swap }))
            .find(|&m| {
                let mut seen = HashSet::with_capacity(msg.len());
                msg.iter().all(|&(slot, _)| {
                    let t = moved_slot(g, slot, m);
                    !occupied.contains(&t) && seen.insert(t)
                })
            })
            .ok_or_else(|| {
                InferError::DoesNotFit("messages do not fit into one after rotation".into())
            })?;
        for &(slot, i) in msg {
            let t = moved_slot(g, slot, mv);
            occupied.insert(t);
            new_slot[i] = t;
        }
        moves.push(mv);
    }
    Ok((moves, new_slot))
}

/// Combines a multi-message dense or interleaved vector into one message: `messages − 1`
/// rotations and additions (after masking when the input is not clean). When whole messages
/// cannot be placed side by side (e.g. CIFAR's 83 maps of 196 values: 41 fit in a row of 8192,
/// the 83rd would have to straddle both rows), it falls back to [`relayout`] into slots
/// `0..len`, which splits messages with masks (one level). The result is dense when the
/// elements end up at slots `0..len` of row 0, interleaved otherwise; always clean.
pub fn combine<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    check_input(&x.repr)?;
    let g = geometry(b);
    let (moves, new_slot) = match choose_moves(&x.repr, &g) {
        Ok(m) => m,
        Err(_) => return relayout(b, x, packed(x.repr.len(), &g)?),
    };
    let masked;
    let x = if x.clean {
        x
    } else {
        masked = mask(b, x)?;
        &masked
    };
    let mut acc = x.cts[0].clone();
    for (ct, m) in x.cts.iter().zip(&moves).skip(1) {
        let mut r = b.rotate(ct, -(m.shift as isize))?;
        if m.swap {
            r = b.swap_rows(&r)?;
        }
        b.add_assign(&mut acc, &r)?;
    }
    let len = new_slot.len();
    let repr = if new_slot.iter().enumerate().all(|(i, &s)| s == i) && len <= g.row_len {
        Representation::Dense(Dense {
            len,
            chunk: len.max(1),
        })
    } else {
        Representation::Interleaved(Interleaved {
            messages: 1,
            positions: new_slot.into_iter().map(|s| (0, s)).collect(),
        })
    };
    EncryptedVector::new(repr, vec![acc], true)
}

/// Whether [`combine`] will multiply (mask or split) for this input, i.e. consume a level.
pub fn combine_multiplies<C>(x: &EncryptedVector<C>, g: &SlotGeometry) -> bool {
    !x.clean || choose_moves(&x.repr, g).is_err()
}

fn check_input(repr: &Representation) -> InferResult<()> {
    match repr {
        Representation::Dense(_) | Representation::Interleaved(_) => Ok(()),
        other => Err(InferError::WrongRepresentation {
            kernel: "combine",
            expected: "dense or interleaved",
            got: other.name(),
        }),
    }
}

/// Element `i` at slot `i` of one message (row 0 first, then row 1).
fn packed(len: usize, g: &SlotGeometry) -> InferResult<Representation> {
    if len > g.slots() {
        return Err(InferError::DoesNotFit(format!(
            "{len} values in one message of {} slots",
            g.slots()
        )));
    }
    Ok(if len <= g.row_len {
        Representation::Dense(Dense {
            len,
            chunk: len.max(1),
        })
    } else {
        Representation::Interleaved(Interleaved {
            messages: 1,
            positions: (0..len).map(|i| (0, i)).collect(),
        })
    })
}

/// Zeroes every slot that is not a placement (one ct×pt with a 0/1 mask per message).
pub fn mask<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let g = geometry(b);
    let cts = x
        .repr
        .placements(&g)
        .iter()
        .zip(&x.cts)
        .map(|(slots, ct)| {
            let pt = plain_at(
                b,
                slots.iter().map(|&(s, _)| (s, B::Value::ONE)),
                b.level(ct),
            )?;
            Ok(b.mul_plain(ct, &pt)?)
        })
        .collect::<InferResult<Vec<_>>>()?;
    EncryptedVector::new(x.repr.clone(), cts, true)
}
