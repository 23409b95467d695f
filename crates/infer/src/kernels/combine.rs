//! Combining several messages into one by rotations and additions (LoLa section 4.3 and
//! Table 1: "combine to one vector using 4 rotations and additions", "… 12 rotations …").
//!
//! Message `m` is rotated right by a shift `s_m` chosen so that its elements land on slots no
//! earlier message uses; the rotated messages are added. This is only correct when slots
//! outside the placements are zero, so a vector that is not clean (e.g. the partial sums left
//! by stacked vector – row major) is first masked: one ct×pt per message with a 0/1 plaintext.
//! (LoLa's Table 1 lists no masks; without them the partial sums would collide, so we pay one
//! plaintext multiplication per message and one level.)

use std::collections::HashSet;

use crate::backend::{SlotBackend, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::{Dense, Interleaved, Representation, SlotGeometry};

use super::{geometry, plain_at};

/// Chooses right-rotation shifts greedily: message `m` gets the smallest shift that moves its
/// slots onto free ones. Message 0 stays in place. Returns the shifts and the new slot of every
/// element.
pub fn choose_shifts(
    repr: &Representation,
    g: &SlotGeometry,
) -> InferResult<(Vec<usize>, Vec<usize>)> {
    let placements = repr.placements(g);
    let mut occupied: HashSet<usize> = HashSet::new();
    let mut shifts = Vec::with_capacity(placements.len());
    let mut new_slot = vec![usize::MAX; repr.len()];
    for msg in &placements {
        let shift = (0..g.row_len)
            .find(|&s| {
                let mut seen = HashSet::with_capacity(msg.len());
                msg.iter().all(|&(slot, _)| {
                    let t = g.rotated_slot(slot, -(s as isize));
                    !occupied.contains(&t) && seen.insert(t)
                })
            })
            .ok_or_else(|| {
                InferError::DoesNotFit("messages do not fit into one after rotation".into())
            })?;
        for &(slot, i) in msg {
            let t = g.rotated_slot(slot, -(shift as isize));
            occupied.insert(t);
            new_slot[i] = t;
        }
        shifts.push(shift);
    }
    Ok((shifts, new_slot))
}

/// Combines a multi-message dense or interleaved vector into one message (masking first when
/// the input is not clean). `messages - 1` rotations and additions. The result is dense when
/// the elements end up at slots `0..len`, interleaved otherwise; always clean.
pub fn combine<B: SlotBackend>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    match &x.repr {
        Representation::Dense(_) | Representation::Interleaved(_) => {}
        other => {
            return Err(InferError::WrongRepresentation {
                kernel: "combine",
                expected: "dense or interleaved",
                got: other.name(),
            })
        }
    }
    let g = geometry(b);
    let masked;
    let x = if x.clean {
        x
    } else {
        masked = mask(b, x)?;
        &masked
    };
    let (shifts, new_slot) = choose_shifts(&x.repr, &g)?;
    let mut acc = x.cts[0].clone();
    for (ct, &s) in x.cts.iter().zip(&shifts).skip(1) {
        let r = b.rotate(ct, -(s as isize))?;
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

/// Zeroes every slot that is not a placement (one ct×pt with a 0/1 mask per message).
pub fn mask<B: SlotBackend>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
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
