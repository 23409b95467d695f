//! Convolution vector – row major (LoLa section 4.2.2).
//!
//! With the input in the convolution representation (message `j` holds, at slot `i`, the input
//! pixel that window offset `j` sees at output position `i`), map `o` of the convolution is
//! `Σ_j w_{o,j} m^j`: `r` ct×scalar products and additions per map, no rotation. The result is
//! dense per map ("5 × 169 dense" in Table 1).

use crate::backend::SlotBackend;
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::representation::{Dense, Representation};

/// Applies `maps` filters of `r` weights each (`weights[o·r + j]`, the `[out, in, kh, kw]`
/// order of [`crate::conv::Conv2dGeometry`]) to a convolution-represented input.
pub fn convolution_row_major<B: SlotBackend>(
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
