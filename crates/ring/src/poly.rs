//! Polynomials of `Z_Q[X]/(X^n + 1)` in RNS form: one limb of `n` residues per prime, stored
//! limb-major in one buffer, either as coefficients or as NTT evaluations. Operations take the
//! [`RnsBasis`] whose first `num_limbs()` primes the polynomial lives modulo, so a polynomial at
//! a lower level simply has fewer limbs (Lattigo's `ring.Poly` with `Level`).

use crate::galois::GaloisElement;
use crate::rns::RnsBasis;
use crate::RingError;
use rayon::prelude::*;
use zeroize::Zeroize;

/// Representation of a polynomial's limbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Coefficients `a_0..a_{n-1}` in standard order.
    Coefficient,
    /// Negacyclic NTT evaluations in the order of [`RnsBasis::exponent_of_position`].
    Ntt,
}

/// An RNS polynomial with `num_limbs` limbs of degree `n`. Its storage comes from and returns
/// to the per-thread [`crate::buffer_pool`].
#[derive(Debug, PartialEq, Eq)]
pub struct RnsPoly {
    n: usize,
    limbs: usize,
    form: Form,
    data: Vec<u64>,
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        // every word is overwritten by the copy: no zero fill
        let mut data = crate::buffer_pool::take_for_overwrite(self.data.len());
        data.copy_from_slice(&self.data);
        Self {
            n: self.n,
            limbs: self.limbs,
            form: self.form,
            data,
        }
    }
}

impl Drop for RnsPoly {
    fn drop(&mut self) {
        crate::buffer_pool::give(std::mem::take(&mut self.data));
    }
}

impl Zeroize for RnsPoly {
    fn zeroize(&mut self) {
        self.data.zeroize();
    }
}

impl RnsPoly {
    /// The zero polynomial.
    pub fn zero(n: usize, limbs: usize, form: Form) -> Self {
        Self {
            n,
            limbs,
            form,
            data: crate::buffer_pool::take_zeroed(n * limbs),
        }
    }

    /// Wraps raw limb-major residues, checking the length and that every residue is below its
    /// modulus in `basis` (used when loading untrusted data).
    pub fn from_raw(
        basis: &RnsBasis,
        limbs: usize,
        form: Form,
        data: Vec<u64>,
    ) -> Result<Self, RingError> {
        let n = basis.degree();
        if limbs == 0 || limbs > basis.len() || data.len() != n * limbs {
            return Err(RingError::ShapeMismatch);
        }
        for (i, limb) in data.chunks(n).enumerate() {
            let q = basis.modulus(i).value();
            if limb.iter().any(|&c| c >= q) {
                return Err(RingError::CoefficientOutOfRange { limb: i });
            }
        }
        Ok(Self {
            n,
            limbs,
            form,
            data,
        })
    }

    /// Wraps limb-major residues the caller has already reduced (as with
    /// [`RnsPoly::data_mut`]); only the length is checked. For internal buffers, never for
    /// untrusted data (use [`RnsPoly::from_raw`]).
    pub fn from_reduced(
        n: usize,
        limbs: usize,
        form: Form,
        data: Vec<u64>,
    ) -> Result<Self, RingError> {
        if data.len() != n * limbs {
            return Err(RingError::ShapeMismatch);
        }
        Ok(Self {
            n,
            limbs,
            form,
            data,
        })
    }

    /// Lifts small signed coefficients into the first `limbs` primes of `basis`, coefficient form.
    pub fn from_signed(basis: &RnsBasis, limbs: usize, coeffs: &[i64]) -> Self {
        let n = basis.degree();
        let mut p = Self::zero(n, limbs, Form::Coefficient);
        p.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
            let m = basis.modulus(i);
            for (o, &c) in limb.iter_mut().zip(coeffs) {
                *o = m.reduce_i64(c);
            }
        });
        p
    }

    /// Ring degree `n`.
    #[inline]
    pub fn degree(&self) -> usize {
        self.n
    }

    /// Number of limbs (primes) the polynomial is stored modulo.
    #[inline]
    pub fn num_limbs(&self) -> usize {
        self.limbs
    }

    /// Current representation.
    #[inline]
    pub fn form(&self) -> Form {
        self.form
    }

    /// All residues, limb-major.
    #[inline]
    pub fn data(&self) -> &[u64] {
        &self.data
    }

    /// All residues, limb-major, mutable. The caller keeps them reduced.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u64] {
        &mut self.data
    }

    /// Residues of limb `i`.
    #[inline]
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// Residues of limb `i`, mutable.
    #[inline]
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    /// Declares the representation without transforming (for buffers filled by the caller).
    pub fn set_form(&mut self, form: Form) {
        self.form = form;
    }

    /// Drops the last limbs, keeping `limbs` (modulus dropping without rescaling).
    pub fn truncate_limbs(&mut self, limbs: usize) {
        if limbs < self.limbs {
            self.limbs = limbs;
            self.data.truncate(limbs * self.n);
        }
    }

    /// Appends `extra` limbs (residues limb-major) to the polynomial.
    pub fn extend_limbs(&mut self, extra: &[u64]) {
        debug_assert_eq!(extra.len() % self.n, 0);
        self.data.extend_from_slice(extra);
        self.limbs += extra.len() / self.n;
    }

    /// Forward NTT of every limb (no-op if already in NTT form).
    pub fn ntt_forward(&mut self, basis: &RnsBasis) {
        if self.form == Form::Ntt {
            return;
        }
        self.data
            .par_chunks_mut(self.n)
            .enumerate()
            .for_each(|(i, limb)| basis.ntt(i).forward(limb));
        self.form = Form::Ntt;
    }

    /// Inverse NTT of every limb (no-op if already in coefficient form).
    pub fn ntt_backward(&mut self, basis: &RnsBasis) {
        if self.form == Form::Coefficient {
            return;
        }
        self.data
            .par_chunks_mut(self.n)
            .enumerate()
            .for_each(|(i, limb)| basis.ntt(i).backward(limb));
        self.form = Form::Coefficient;
    }

    fn check_same_shape(&self, other: &Self) {
        assert_eq!(self.n, other.n, "polynomial degrees differ");
        assert!(other.limbs >= self.limbs, "operand has fewer limbs");
        assert_eq!(self.form, other.form, "operands in different forms");
    }

    /// `self += other` limb-wise (other may have more limbs; extra ones are ignored).
    pub fn add_assign(&mut self, other: &Self, basis: &RnsBasis) {
        self.check_same_shape(other);
        let n = self.n;
        self.data
            .par_chunks_mut(n)
            .zip(other.data.par_chunks(n))
            .enumerate()
            .for_each(|(i, (a, b))| {
                let m = basis.modulus(i);
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = m.add(*x, y);
                }
            });
    }

    /// `self -= other` limb-wise.
    pub fn sub_assign(&mut self, other: &Self, basis: &RnsBasis) {
        self.check_same_shape(other);
        let n = self.n;
        self.data
            .par_chunks_mut(n)
            .zip(other.data.par_chunks(n))
            .enumerate()
            .for_each(|(i, (a, b))| {
                let m = basis.modulus(i);
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = m.sub(*x, y);
                }
            });
    }

    /// `self = -self`.
    pub fn neg_assign(&mut self, basis: &RnsBasis) {
        let n = self.n;
        self.data.par_chunks_mut(n).enumerate().for_each(|(i, a)| {
            let m = basis.modulus(i);
            for x in a.iter_mut() {
                *x = m.neg(*x);
            }
        });
    }

    /// Pointwise product `self * other` (both in NTT form: the negacyclic product), into a new
    /// polynomial with `self`'s limb count.
    pub fn mul(&self, other: &Self, basis: &RnsBasis) -> Self {
        self.check_same_shape(other);
        debug_assert_eq!(self.form, Form::Ntt);
        let n = self.n;
        // Every word is written: no zero fill of the whole buffer up front (each limb is
        // cleared just before its products, while it is in cache).
        let mut out = Self {
            n,
            limbs: self.limbs,
            form: self.form,
            data: crate::buffer_pool::take_for_overwrite(n * self.limbs),
        };
        out.data
            .par_chunks_mut(n)
            .zip(self.data.par_chunks(n).zip(other.data.par_chunks(n)))
            .enumerate()
            .for_each(|(i, (o, (a, b)))| basis.ntt(i).mul_into(o, a, b));
        out
    }

    /// Pointwise `self *= other` (both in NTT form: the negacyclic product).
    pub fn mul_assign(&mut self, other: &Self, basis: &RnsBasis) {
        *self = self.mul(other, basis);
    }

    /// Pointwise `self += a * b` (NTT form).
    pub fn mul_accumulate(&mut self, a: &Self, b: &Self, basis: &RnsBasis) {
        self.check_same_shape(a);
        self.check_same_shape(b);
        let n = self.n;
        self.data
            .par_chunks_mut(n)
            .zip(a.data.par_chunks(n).zip(b.data.par_chunks(n)))
            .enumerate()
            .for_each(|(i, (acc, (x, y)))| basis.ntt(i).mul_accumulate(acc, x, y));
    }

    /// `self *= c` for a signed integer constant `c` (any form).
    pub fn mul_scalar_assign(&mut self, c: i64, basis: &RnsBasis) {
        let n = self.n;
        self.data.par_chunks_mut(n).enumerate().for_each(|(i, a)| {
            let m = basis.modulus(i);
            let w = m.reduce_i64(c);
            let ws = m.shoup(w);
            for x in a.iter_mut() {
                *x = m.mul_shoup(*x, w, ws);
            }
        });
    }

    /// `self *= c_i` with a per-limb constant `c_i < q_i` (any form).
    pub fn mul_limb_constants_assign(&mut self, constants: &[u64], basis: &RnsBasis) {
        let n = self.n;
        self.data.par_chunks_mut(n).enumerate().for_each(|(i, a)| {
            let m = basis.modulus(i);
            let w = constants[i];
            let ws = m.shoup(w);
            for x in a.iter_mut() {
                *x = m.mul_shoup(*x, w, ws);
            }
        });
    }

    /// The Galois automorphism `a(X) ↦ a(X^k)` (see [`GaloisElement`]). In NTT form it is the
    /// precomputed index permutation; in coefficient form `X^i ↦ ±X^{ik mod n}`.
    pub fn automorphism(&self, g: &GaloisElement, basis: &RnsBasis) -> Self {
        match self.form {
            Form::Ntt => {
                // every word is written by the gather: no zero fill needed
                let mut out = Self {
                    n: self.n,
                    limbs: self.limbs,
                    form: Form::Ntt,
                    data: crate::buffer_pool::take_for_overwrite(self.n * self.limbs),
                };
                self.automorphism_ntt_into(g, &mut out);
                out
            }
            Form::Coefficient => self.automorphism_coeff(g.element(), basis),
        }
    }

    /// NTT-form automorphism into a preallocated output: `out[j] = self[perm[j]]` per limb.
    pub fn automorphism_ntt_into(&self, g: &GaloisElement, out: &mut Self) {
        assert_eq!(g.degree(), self.n);
        assert_eq!(self.form, Form::Ntt);
        out.form = Form::Ntt;
        out.limbs = self.limbs;
        out.data.truncate(self.data.len());
        out.data.resize(self.data.len(), 0);
        let n = self.n;
        let perm = g.ntt_permutation();
        out.data
            .par_chunks_mut(n)
            .zip(self.data.par_chunks(n))
            .for_each(|(o, a)| {
                for (oj, &pj) in o.iter_mut().zip(perm) {
                    *oj = a[pj as usize];
                }
            });
    }

    /// The inverse NTT-form automorphism `σ^{-1}`: `out[perm[j]] = self[j]` per limb (a
    /// scatter through the same permutation, so no second [`GaloisElement`] is needed).
    pub fn automorphism_ntt_inverse(&self, g: &GaloisElement) -> Self {
        assert_eq!(g.degree(), self.n);
        assert_eq!(self.form, Form::Ntt);
        let n = self.n;
        let perm = g.ntt_permutation();
        let mut out = Self::zero(n, self.limbs, Form::Ntt);
        out.data
            .par_chunks_mut(n)
            .zip(self.data.par_chunks(n))
            .for_each(|(o, a)| {
                for (&x, &pj) in a.iter().zip(perm) {
                    o[pj as usize] = x;
                }
            });
        out
    }

    /// Coefficient-form automorphism `X^i ↦ X^{ik mod 2n}` with the negacyclic sign.
    pub fn automorphism_coeff(&self, k: usize, basis: &RnsBasis) -> Self {
        assert_eq!(self.form, Form::Coefficient);
        let n = self.n;
        let two_n = 2 * n;
        let mut out = Self::zero(n, self.limbs, Form::Coefficient);
        out.data
            .par_chunks_mut(n)
            .zip(self.data.par_chunks(n))
            .enumerate()
            .for_each(|(l, (o, a))| {
                let m = basis.modulus(l);
                for (i, &x) in a.iter().enumerate() {
                    let e = (i * k) % two_n;
                    if e < n {
                        o[e] = x;
                    } else {
                        o[e - n] = m.neg(x);
                    }
                }
            });
        out
    }
}
