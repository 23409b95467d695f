//! The slot-vector backend: what LoLa's kernels need from a homomorphic encryption scheme.
//!
//! LoLa (section 3.1) views a BFV plaintext as a `2 × n/2` matrix of slots: a *column rotation*
//! rotates both rows cyclically by the same amount, a *row swap* exchanges the two rows. CKKS
//! gives one cyclic row of `n/2` slots. [`SlotBackend`] models exactly that geometry
//! ([`SlotBackend::rows`] is 1 or 2, [`SlotBackend::row_len`] the cyclic length) so that
//! kernels can be written once and run on
//!
//! * the [`clear::ClearBackend`], which performs the same operations on plain numbers, counts
//!   them and tracks value ranges (how plans are checked and parameters sized), and
//! * BFV and CKKS backends over `henn_he` (to be implemented by the HE engine).
//!
//! Slot indexing: slot `s` is column `s % row_len` of row `s / row_len`.
//!
//! Rotation convention (SEAL `rotate_rows`, Lattigo `RotateColumns`): `rotate(ct, k)` moves
//! every slot `k` places to the *left* inside its row: `out[r][c] = in[r][(c + k) mod row_len]`.
//! Negative `k` rotates right. (The paper's section 3.1 describes right rotations; only the sign
//! differs.)
//!
//! Levels: a fresh ciphertext is at [`SlotBackend::max_level`]; [`SlotBackend::rescale`]
//! (CKKS rescaling, BFV modulus switching) and [`SlotBackend::drop_level`] lower it; at level 0
//! no further rescale is possible. Binary operations require equal levels (the planner keeps
//! them aligned; a mismatch is a plan bug and is reported, not repaired silently).

pub mod bfv;
pub mod ckks;
pub mod clear;
pub mod noise;
pub mod value;

pub use value::SlotValue;

use thiserror::Error;

/// Errors of slot-vector backends.
#[derive(Debug, Error)]
pub enum BackendError {
    /// A slot vector longer than the backend's slot count was given to `encode`.
    #[error("slot vector has {got} values but the backend has {slots} slots")]
    TooManyValues {
        /// Values given.
        got: usize,
        /// Slots available.
        slots: usize,
    },
    /// Two operands are at different levels.
    #[error("operands at different levels ({left} and {right})")]
    LevelMismatch {
        /// Level of the first operand.
        left: usize,
        /// Level of the second operand.
        right: usize,
    },
    /// A rescale or level drop was asked for below level 0.
    #[error("no level left: ciphertext at level {level}, {wanted} more levels wanted")]
    LevelsExhausted {
        /// Current level.
        level: usize,
        /// Levels that would have been consumed.
        wanted: usize,
    },
    /// An exact (BFV-like) computation left the range of `i64`.
    #[error("exact slot arithmetic overflowed i64 in {op}")]
    Overflow {
        /// The operation that overflowed.
        op: &'static str,
    },
    /// Invalid backend geometry or parameters.
    #[error("invalid backend parameters: {0}")]
    InvalidParameters(String),
    /// An error of the underlying HE engine.
    #[error("HE engine: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of backend operations.
pub type BackendResult<T> = Result<T, BackendError>;

/// Encrypted vectors of slots with the operations LoLa's kernels use (sections 3.1 and 4.2).
///
/// All operations take references and return new values; `*_assign` variants accumulate in
/// place (HE backends implement them without temporaries). Default methods are written in
/// terms of the allocating ones so an engine only has to provide the core operations.
pub trait SlotBackend {
    /// Slot values: `i64` for BFV (centred representatives of `Z_t`), `f64` for CKKS.
    type Value: SlotValue;
    /// An encrypted slot vector.
    type Ciphertext: Clone;
    /// An encoded (not encrypted) slot vector, the plaintext operand of `mul_plain`/`add_plain`.
    type Plaintext;

    /// Number of slot rows: 2 for BFV batching (`2 × n/2`), 1 for CKKS.
    fn rows(&self) -> usize;
    /// Length of one row, the period of [`SlotBackend::rotate`] (`n/2` for both schemes).
    fn row_len(&self) -> usize;
    /// Total number of slots, `rows() * row_len()`.
    fn slots(&self) -> usize {
        self.rows() * self.row_len()
    }
    /// Level of freshly encrypted ciphertexts.
    fn max_level(&self) -> usize;

    /// Encodes up to `slots()` values (the rest are zero) at `level`, ready to be combined
    /// with ciphertexts at that level.
    fn encode(&self, values: &[Self::Value], level: usize) -> BackendResult<Self::Plaintext>;
    /// Decodes all `slots()` values of a plaintext.
    fn decode(&self, pt: &Self::Plaintext) -> BackendResult<Vec<Self::Value>>;
    /// Encrypts a plaintext (client side).
    fn encrypt(&self, pt: &Self::Plaintext) -> BackendResult<Self::Ciphertext>;
    /// Decrypts a ciphertext (client side).
    fn decrypt(&self, ct: &Self::Ciphertext) -> BackendResult<Self::Plaintext>;
    /// Current level of a ciphertext.
    fn level(&self, ct: &Self::Ciphertext) -> usize;

    /// `a + b`.
    fn add(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `acc += b`.
    fn add_assign(&self, acc: &mut Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<()> {
        *acc = self.add(acc, b)?;
        Ok(())
    }
    /// `a - b`.
    fn sub(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `a + p` for an encoded plaintext (bias addition).
    fn add_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<Self::Ciphertext>;
    /// Slot-wise `a ⊙ p` (ct × pt).
    fn mul_plain(
        &self,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<Self::Ciphertext>;
    /// `acc += a ⊙ p`.
    fn mul_plain_add_assign(
        &self,
        acc: &mut Self::Ciphertext,
        a: &Self::Ciphertext,
        p: &Self::Plaintext,
    ) -> BackendResult<()> {
        let t = self.mul_plain(a, p)?;
        self.add_assign(acc, &t)
    }
    /// `s · a` for one scalar in every slot (cheap in BFV: no encoding, LoLa section 4.2.2).
    fn mul_scalar(&self, a: &Self::Ciphertext, s: Self::Value) -> BackendResult<Self::Ciphertext>;
    /// `acc += s · a`.
    fn mul_scalar_add_assign(
        &self,
        acc: &mut Self::Ciphertext,
        a: &Self::Ciphertext,
        s: Self::Value,
    ) -> BackendResult<()> {
        let t = self.mul_scalar(a, s)?;
        self.add_assign(acc, &t)
    }
    /// Slot-wise `a ⊙ b` of two ciphertexts, relinearized.
    fn mul(&self, a: &Self::Ciphertext, b: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// `a ⊙ a`, relinearized (the square activation of CryptoNets and LoLa).
    fn square(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext> {
        self.mul(a, a)
    }
    /// Rotates every row `steps` places to the left (negative: right). See the module docs.
    fn rotate(&self, a: &Self::Ciphertext, steps: isize) -> BackendResult<Self::Ciphertext>;
    /// Hoisted rotations: `[rotate(a, s) for s in steps]` with one key-switching
    /// decomposition of `a` shared by all of them (Halevi–Shoup 2018). Step 0 returns a copy.
    fn rotate_hoisted(
        &self,
        a: &Self::Ciphertext,
        steps: &[isize],
    ) -> BackendResult<Vec<Self::Ciphertext>> {
        steps.iter().map(|&s| self.rotate(a, s)).collect()
    }
    /// Exchanges the two rows (BFV); identity for a one-row backend.
    fn swap_rows(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// Consumes one level after a multiplication: CKKS rescaling, BFV modulus switching.
    fn rescale(&self, a: &Self::Ciphertext) -> BackendResult<Self::Ciphertext>;
    /// Lowers the level by `levels` without rescaling (to align operands).
    fn drop_level(&self, a: &Self::Ciphertext, levels: usize) -> BackendResult<Self::Ciphertext>;
}

/// Normalises a rotation step into `0..row_len` (the Galois element it needs).
pub fn normalize_step(steps: isize, row_len: usize) -> usize {
    let m = row_len as isize;
    steps.rem_euclid(m) as usize
}
