//! General change of layout by hoisted rotations and masks: any representation whose elements
//! have canonical slots → any target layout (including replication, e.g. the convolution
//! representation). This is how LoLa-Dense turns a dense input into the convolution
//! representation with HE operations (section 4.3).
//!
//! Target message `t` is `Σ_{m, δ} rot(x_m, δ) ⊙ M_{t,m,δ}`: every target placement `(s_t, i)`
//! reads element `i` from its source slot `s` in message `m`, which a left rotation by
//! `δ = col(s) − col(s_t)` (and a row swap when the rows differ) brings into place; the 0/1
//! mask `M` keeps exactly the target slots served by that rotation. All rotations of one
//! source message are done in one hoisted batch (one decomposition), shared by every target
//! message. Costs: per source message, one hoisted batch of (distinct δ) rotations (+1 row swap
//! if needed); per target message, one ct×pt per distinct `(m, δ)` it uses. One level.

use std::collections::BTreeMap;

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::Representation;

use super::{geometry, plain_at};

/// Moves the vector `x` into the `target` layout (same logical length). The result is clean.
pub fn relayout<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    target: Representation,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    if matches!(
        x.repr,
        Representation::Convolution(_)
            | Representation::StackedConvolution(_)
            | Representation::Simd(_)
    ) {
        return Err(InferError::WrongRepresentation {
            kernel: "relayout",
            expected: "dense, sparse, stacked or interleaved",
            got: x.repr.name(),
        });
    }
    if matches!(target, Representation::Simd(_)) {
        return Err(InferError::WrongRepresentation {
            kernel: "relayout target",
            expected: "any but SIMD",
            got: "simd",
        });
    }
    if target.len() != x.repr.len() {
        return Err(InferError::ShapeMismatch(format!(
            "relayout of a vector of {} into a layout of {}",
            x.repr.len(),
            target.len()
        )));
    }
    let g = geometry(b);
    target.validate(&g)?;
    let source: Vec<(usize, usize)> = (0..x.repr.len())
        .map(|i| {
            x.repr.canonical(i, &g).ok_or_else(|| {
                InferError::InvalidRepresentation(format!("element {i} has no source slot"))
            })
        })
        .collect::<InferResult<_>>()?;
    let l = g.row_len;
    // (source message, swap rows, left rotation) → per target message: target slots.
    type Key = (usize, bool, usize);
    let placements = target.placements(&g);
    let mut groups: Vec<BTreeMap<Key, Vec<usize>>> = vec![BTreeMap::new(); placements.len()];
    for (t, slots) in placements.iter().enumerate() {
        for &(st, i) in slots {
            let (m, s) = source[i];
            let swap = s / l != st / l;
            let delta = ((s % l) + l - (st % l)) % l;
            groups[t].entry((m, swap, delta)).or_default().push(st);
        }
    }
    // All rotations each source message needs, hoisted per (message, swap).
    let mut needed: BTreeMap<(usize, bool), Vec<usize>> = BTreeMap::new();
    for g_t in &groups {
        for &(m, swap, delta) in g_t.keys() {
            needed.entry((m, swap)).or_default().push(delta);
        }
    }
    let mut rotated: BTreeMap<Key, B::Ciphertext> = BTreeMap::new();
    for ((m, swap), mut deltas) in needed {
        deltas.sort_unstable();
        deltas.dedup();
        let base = if swap {
            b.swap_rows(&x.cts[m])?
        } else {
            x.cts[m].clone()
        };
        let steps: Vec<isize> = deltas.iter().map(|&d| d as isize).collect();
        for (d, ct) in deltas.iter().zip(b.rotate_hoisted(&base, &steps)?) {
            rotated.insert((m, swap, *d), ct);
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for g_t in &groups {
        let mut acc: Option<B::Ciphertext> = None;
        for (key, slots) in g_t {
            let ct = rotated
                .get(key)
                .ok_or_else(|| InferError::InvalidRepresentation("missing rotation".into()))?;
            let pt = plain_at(b, slots.iter().map(|&s| (s, B::Value::ONE)), b.level(ct))?;
            match acc.as_mut() {
                None => acc = Some(b.mul_plain(ct, &pt)?),
                Some(a) => b.mul_plain_add_assign(a, ct, &pt)?,
            }
        }
        // A target message with no placement (all padding) is an encryption of zero.
        out.push(match acc {
            Some(a) => a,
            None => b.mul_scalar(&x.cts[0], B::Value::ZERO)?,
        });
    }
    EncryptedVector::new(target, out, true)
}
