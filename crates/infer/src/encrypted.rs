//! An encrypted vector: ciphertexts plus the representation that says where each element is.

use crate::backend::SlotEncryptor;
use crate::error::{InferError, InferResult};
use crate::representation::{Representation, SlotGeometry};

/// Ciphertexts holding one vector in a given [`Representation`].
#[derive(Clone, Debug)]
pub struct EncryptedVector<C> {
    /// The layout.
    pub repr: Representation,
    /// One ciphertext per message of the layout.
    pub cts: Vec<C>,
    /// True when every slot that is not a placement of `repr` holds zero. Kernels that sum
    /// rotated messages need this (or mask first); rotate-and-sum kernels leave partial sums
    /// behind and clear it.
    pub clean: bool,
}

impl<C> EncryptedVector<C> {
    /// Checks that the number of ciphertexts matches the representation.
    pub fn new(repr: Representation, cts: Vec<C>, clean: bool) -> InferResult<Self> {
        if cts.len() != repr.messages() {
            return Err(InferError::ShapeMismatch(format!(
                "{} ciphertexts for a {} representation with {} messages",
                cts.len(),
                repr.name(),
                repr.messages()
            )));
        }
        Ok(Self { repr, cts, clean })
    }
}

/// Client side: encodes `v` in `repr` and encrypts every message.
pub fn encrypt_vector<B: SlotEncryptor>(
    b: &B,
    repr: Representation,
    v: &[B::Value],
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    let g = SlotGeometry::of(b);
    let cts = repr
        .encode(v, &g)?
        .iter()
        .map(|m| Ok(b.encrypt(&b.encode(m, b.max_level())?)?))
        .collect::<InferResult<Vec<_>>>()?;
    EncryptedVector::new(repr, cts, true)
}

/// Client side: decrypts every message and reads the vector out of its representation.
pub fn decrypt_vector<B: SlotEncryptor>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
) -> InferResult<Vec<B::Value>> {
    let g = SlotGeometry::of(b);
    let msgs = x
        .cts
        .iter()
        .map(|ct| Ok(b.decode(&b.decrypt(ct)?)?))
        .collect::<InferResult<Vec<_>>>()?;
    x.repr.decode(&msgs, &g)
}

/// Client side, SIMD: encrypts a batch of records (CryptoNets, one record per slot).
pub fn encrypt_batch<B: SlotEncryptor>(
    b: &B,
    features: usize,
    batch: &[Vec<B::Value>],
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    let g = SlotGeometry::of(b);
    let repr = Representation::Simd(crate::representation::Simd { len: features });
    let cts = repr
        .encode_batch(batch, &g)?
        .iter()
        .map(|m| Ok(b.encrypt(&b.encode(m, b.max_level())?)?))
        .collect::<InferResult<Vec<_>>>()?;
    EncryptedVector::new(repr, cts, true)
}

/// Client side, SIMD: decrypts the first `records` records.
pub fn decrypt_batch<B: SlotEncryptor>(
    b: &B,
    x: &EncryptedVector<B::Ciphertext>,
    records: usize,
) -> InferResult<Vec<Vec<B::Value>>> {
    let g = SlotGeometry::of(b);
    let msgs = x
        .cts
        .iter()
        .map(|ct| Ok(b.decode(&b.decrypt(ct)?)?))
        .collect::<InferResult<Vec<_>>>()?;
    x.repr.decode_batch(&msgs, records, &g)
}
