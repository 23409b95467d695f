//! Element-wise layers on any representation: square activation (CryptoNets / LoLa: one ct×ct
//! per message), bias addition (one ct+pt per message) and rescaling.

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::Representation;

use super::{geometry, plain_at};

/// Squares every slot of every message. Zeros stay zero, so a clean vector stays clean.
pub fn square<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let cts = x
        .cts
        .iter()
        .map(|c| Ok(b.square(c)?))
        .collect::<InferResult<Vec<_>>>()?;
    EncryptedVector::new(x.repr.clone(), cts, x.clean)
}

/// Adds `bias[i]` to element `i` wherever it is placed (for SIMD: to every record).
pub fn add_bias<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    bias: &[B::Value],
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    if bias.len() != x.repr.len() {
        return Err(InferError::ShapeMismatch(format!(
            "bias of {} for a vector of {}",
            bias.len(),
            x.repr.len()
        )));
    }
    let g = geometry(b);
    let placements: Vec<Vec<(usize, usize)>> = match &x.repr {
        Representation::Convolution(_) | Representation::StackedConvolution(_) => {
            return Err(InferError::WrongRepresentation {
                kernel: "add bias",
                expected: "any but convolution",
                got: x.repr.name(),
            })
        }
        Representation::Simd(_) => (0..bias.len())
            .map(|j| (0..g.slots()).map(|s| (s, j)).collect())
            .collect(),
        other => other.placements(&g),
    };
    let cts = placements
        .iter()
        .zip(&x.cts)
        .map(|(slots, ct)| {
            let pt = plain_at(b, slots.iter().map(|&(s, i)| (s, bias[i])), b.level(ct))?;
            Ok(b.add_plain(ct, &pt)?)
        })
        .collect::<InferResult<Vec<_>>>()?;
    // Adding a bias in a SIMD batch also touches unused record slots; they are not data.
    let clean = x.clean
        && (bias.iter().all(|&v| v == B::Value::ZERO)
            || !matches!(x.repr, Representation::Simd(_)));
    EncryptedVector::new(x.repr.clone(), cts, clean)
}

/// Rescales (CKKS) / modulus-switches (BFV) every message: one level down.
pub fn rescale<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    let cts = x
        .cts
        .iter()
        .map(|c| Ok(b.rescale(c)?))
        .collect::<InferResult<Vec<_>>>()?;
    EncryptedVector::new(x.repr.clone(), cts, x.clean)
}
