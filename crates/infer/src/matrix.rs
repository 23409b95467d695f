//! Weight matrices (row-major), the `W` of LoLa section 4.2.2.

use crate::backend::SlotValue;
use crate::error::{InferError, InferResult};

/// A dense row-major matrix with `rows` rows (outputs) and `cols` columns (inputs).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<V> {
    rows: usize,
    cols: usize,
    data: Vec<V>,
}

impl<V: SlotValue> Matrix<V> {
    /// A matrix from row-major data; `data.len()` must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<V>) -> InferResult<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(InferError::ShapeMismatch(format!(
                "{} values for a {rows}x{cols} matrix",
                data.len()
            )));
        }
        Ok(Self { rows, cols, data })
    }

    /// The all-zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![V::ZERO; rows * cols],
        }
    }

    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Entry `(r, c)`; panics if out of range (indices come from the kernels, not from input).
    pub fn get(&self, r: usize, c: usize) -> V {
        self.data[r * self.cols + c]
    }

    /// Sets entry `(r, c)`.
    pub fn set(&mut self, r: usize, c: usize, v: V) {
        self.data[r * self.cols + c] = v;
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[V] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// `W v` with checked arithmetic (the plain reference every kernel is tested against).
    pub fn mul_vec(&self, v: &[V]) -> InferResult<Vec<V>> {
        if v.len() != self.cols {
            return Err(InferError::ShapeMismatch(format!(
                "vector of {} for a matrix with {} columns",
                v.len(),
                self.cols
            )));
        }
        (0..self.rows)
            .map(|r| {
                self.row(r)
                    .iter()
                    .zip(v)
                    .try_fold(V::ZERO, |acc, (&w, &x)| {
                        w.checked_mul(x)
                            .and_then(|p| acc.checked_add(p))
                            .ok_or_else(|| InferError::ShapeMismatch("overflow in W v".into()))
                    })
            })
            .collect()
    }
}
