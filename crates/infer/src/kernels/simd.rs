//! The CryptoNets SIMD kernel (LoLa section 3.2): one message per feature, one record per
//! slot; a linear layer is, per output neuron, a weighted sum of input messages (ct×scalar and
//! additions, no rotation). Zero weights are skipped, which makes a convolution (a matrix with
//! mostly structural zeros) cost one product per window tap as in CryptoNets.

use crate::backend::{SlotEvaluator, SlotValue};
use crate::encrypted::EncryptedVector;
use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::representation::{Representation, Simd};

/// `W v` for every record of a SIMD batch; result SIMD with `W.rows()` messages.
pub fn simd_linear<B: SlotEvaluator>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    w: &Matrix<B::Value>,
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    super::check_input(b, x)?;
    if !matches!(x.repr, Representation::Simd(_)) {
        return Err(InferError::WrongRepresentation {
            kernel: "SIMD linear",
            expected: "simd",
            got: x.repr.name(),
        });
    }
    if w.cols() != x.cts.len() || w.cols() == 0 {
        return Err(InferError::ShapeMismatch(format!(
            "{}x{} matrix for {} SIMD features",
            w.rows(),
            w.cols(),
            x.cts.len()
        )));
    }
    let mut out = Vec::with_capacity(w.rows());
    for r in 0..w.rows() {
        let mut acc: Option<B::Ciphertext> = None;
        for (ct, &wi) in x.cts.iter().zip(w.row(r)) {
            if wi == B::Value::ZERO {
                continue;
            }
            match acc.as_mut() {
                None => acc = Some(b.mul_scalar(ct, wi)?),
                Some(a) => b.mul_scalar_add_assign(a, ct, wi)?,
            }
        }
        out.push(match acc {
            Some(a) => a,
            None => b.mul_scalar(&x.cts[0], B::Value::ZERO)?,
        });
    }
    EncryptedVector::new(Representation::Simd(Simd { len: w.rows() }), out, x.clean)
}
