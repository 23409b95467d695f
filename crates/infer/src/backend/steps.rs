//! The executor's view of an evaluator during one plan step: every encoding a kernel asks for
//! becomes [`SlotEvaluator::encode_prepared`] with the key (step, ordinal), so prepared
//! plaintexts are found by their place in the plan (LoLa section 4.3: weights are fixed, only
//! the input changes), not by their values.

use std::cell::Cell;

use super::{BackendResult, PlaintextKey, SlotEncoding, SlotEvaluator};

/// An evaluator seen from step `step` of a plan (see the module docs). Kernels run on it
/// unchanged: it forwards every operation.
pub struct StepEvaluator<'a, B: ?Sized> {
    inner: &'a B,
    step: usize,
    next: Cell<usize>,
}

impl<'a, B: SlotEvaluator + ?Sized> StepEvaluator<'a, B> {
    /// The view of `inner` from plan step `step`; ordinals start at 0.
    pub fn new(inner: &'a B, step: usize) -> Self {
        Self {
            inner,
            step,
            next: Cell::new(0),
        }
    }

    /// Encodings made so far in this step.
    pub fn encodings(&self) -> usize {
        self.next.get()
    }
}

impl<B: SlotEvaluator + ?Sized> SlotEncoding for StepEvaluator<'_, B> {
    type Value = B::Value;
    type Ciphertext = B::Ciphertext;
    type Plaintext = B::Plaintext;
    fn rows(&self) -> usize {
        self.inner.rows()
    }
    fn row_len(&self) -> usize {
        self.inner.row_len()
    }
    fn max_level(&self) -> usize {
        self.inner.max_level()
    }
    fn encode(&self, values: &[B::Value], level: usize) -> BackendResult<B::Plaintext> {
        let ordinal = self.next.get();
        self.next.set(ordinal + 1);
        let key = PlaintextKey {
            step: self.step,
            ordinal,
        };
        self.inner.encode_prepared(key, values, level)
    }
    fn level(&self, ct: &B::Ciphertext) -> usize {
        self.inner.level(ct)
    }
}

impl<B: SlotEvaluator + ?Sized> SlotEvaluator for StepEvaluator<'_, B> {
    fn encode_prepared(
        &self,
        key: PlaintextKey,
        values: &[B::Value],
        level: usize,
    ) -> BackendResult<B::Plaintext> {
        self.inner.encode_prepared(key, values, level)
    }
    fn add(&self, a: &B::Ciphertext, b: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.add(a, b)
    }
    fn add_assign(&self, acc: &mut B::Ciphertext, b: &B::Ciphertext) -> BackendResult<()> {
        self.inner.add_assign(acc, b)
    }
    fn sub(&self, a: &B::Ciphertext, b: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.sub(a, b)
    }
    fn add_plain(&self, a: &B::Ciphertext, p: &B::Plaintext) -> BackendResult<B::Ciphertext> {
        self.inner.add_plain(a, p)
    }
    fn mul_plain(&self, a: &B::Ciphertext, p: &B::Plaintext) -> BackendResult<B::Ciphertext> {
        self.inner.mul_plain(a, p)
    }
    fn mul_plain_add_assign(
        &self,
        acc: &mut B::Ciphertext,
        a: &B::Ciphertext,
        p: &B::Plaintext,
    ) -> BackendResult<()> {
        self.inner.mul_plain_add_assign(acc, a, p)
    }
    fn mul_scalar(&self, a: &B::Ciphertext, s: B::Value) -> BackendResult<B::Ciphertext> {
        self.inner.mul_scalar(a, s)
    }
    fn mul_scalar_add_assign(
        &self,
        acc: &mut B::Ciphertext,
        a: &B::Ciphertext,
        s: B::Value,
    ) -> BackendResult<()> {
        self.inner.mul_scalar_add_assign(acc, a, s)
    }
    fn mul(&self, a: &B::Ciphertext, b: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.mul(a, b)
    }
    fn square(&self, a: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.square(a)
    }
    fn rotate(&self, a: &B::Ciphertext, steps: isize) -> BackendResult<B::Ciphertext> {
        self.inner.rotate(a, steps)
    }
    fn rotate_hoisted(
        &self,
        a: &B::Ciphertext,
        steps: &[isize],
    ) -> BackendResult<Vec<B::Ciphertext>> {
        self.inner.rotate_hoisted(a, steps)
    }
    fn swap_rows(&self, a: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.swap_rows(a)
    }
    fn rescale(&self, a: &B::Ciphertext) -> BackendResult<B::Ciphertext> {
        self.inner.rescale(a)
    }
    fn drop_level(&self, a: &B::Ciphertext, levels: usize) -> BackendResult<B::Ciphertext> {
        self.inner.drop_level(a, levels)
    }
}
