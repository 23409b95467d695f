//! Vectorised word-size modular kernels of key switching and base conversion, with AVX-512
//! (F + DQ) versions chosen at run time and portable versions giving identical results.
//!
//! All kernels use Shoup multiplication (Shoup, NTL; Harvey, "Faster arithmetic for
//! number-theoretic transforms", 2014, Alg. 2) in its lazy form: for a fixed operand `w < q`
//! with companion `w' = floor(w·2^64/q)` and any `a < 2^64`,
//! `a·w − floor(a·w'/2^64)·q` lies in `[0, 2q)` and is computed with wrapping 64-bit
//! arithmetic. AVX-512 has no 64×64→128 multiplication, so the high word is assembled from
//! four 32×32→64 products (`vpmuludq`), as in tfhe-ntt and HEXL.
//!
//! The key-switching inner product ([`inner_product_shoup`]) uses the *digits* as the fixed
//! operands: their companions are computed once per decomposition ([`shoup_companions`]) and
//! shared by the two key polynomials and, with hoisting, by every rotation; the keys need no
//! precomputation and no extra memory.

use crate::galois::GaloisElement;
use crate::modulus::Modulus;

/// Whether the AVX-512 kernels run on this CPU (AVX-512F and AVX-512DQ).
#[inline]
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether every index is below `n` (a branch-free maximum, which vectorises).
fn below(idx: &[u32], n: usize) -> bool {
    idx.is_empty() || (idx.iter().fold(0u32, |m, &i| m.max(i)) as usize) < n
}

/// Exact Shoup companion `floor(x·2^64/q)` of `x < q` by Barrett division with
/// `floor(2^128/q)`: the estimate `floor(x·ratio/2^64)` is at most one below, fixed by one
/// conditional step.
#[inline(always)]
fn companion_scalar(m: &Modulus, x: u64) -> u64 {
    let (hi, lo) = m.barrett_ratio();
    let est = x
        .wrapping_mul(hi)
        .wrapping_add(((x as u128 * lo as u128) >> 64) as u64);
    // remainder x·2^64 − est·q, in [0, 2q), computed modulo 2^64
    let r = 0u64.wrapping_sub(est.wrapping_mul(m.value()));
    if r >= m.value() {
        est + 1
    } else {
        est
    }
}

/// `out[i] = floor(x[i]·2^64 / q)` for residues `x[i] < q` (Shoup companions).
pub fn shoup_companions(m: &Modulus, x: &[u64], out: &mut [u64]) {
    assert_eq!(x.len(), out.len(), "shoup_companions: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if avx512_available() {
        // SAFETY: the CPU supports AVX-512F/DQ (checked above); lengths are equal.
        unsafe { x86::shoup_companions(m, x, out) };
        return;
    }
    shoup_companions_portable(m, x, out);
}

fn shoup_companions_portable(m: &Modulus, x: &[u64], out: &mut [u64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = companion_scalar(m, v);
    }
}

/// One digit of [`inner_product_shoup`]: the digit's residues `d` (`< q`) and Shoup
/// companions `d'`, and the key's two residue vectors `b`, `a` (`< q`), all of the limb's
/// length.
pub type ShoupDigit<'a> = (&'a [u64], &'a [u64], &'a [u64], &'a [u64]);

/// One limb of the hybrid key-switching inner product, overwriting `out0`, `out1`:
/// `out0[k] = Σ_j d_j[π(k)]·b_j[k]`, `out1[k] = Σ_j d_j[π(k)]·a_j[k]` modulo `q`, with `π` an
/// automorphism's NTT index permutation (read in place) or the identity. Each product is a
/// lazy Shoup product in `[0, 2q)`; sums are kept in `[0, 2q)` and reduced once at the end.
///
/// # Panics
/// If a slice is shorter than `out0`, or a permutation index is out of range.
pub fn inner_product_shoup(
    m: &Modulus,
    digits: &[ShoupDigit<'_>],
    perm: Option<&[u32]>,
    out0: &mut [u64],
    out1: &mut [u64],
) {
    let n = out0.len();
    assert_eq!(out1.len(), n, "inner_product_shoup: length mismatch");
    for &(d, dw, b, a) in digits {
        assert!(
            d.len() >= n && dw.len() >= n && b.len() >= n && a.len() >= n,
            "inner_product_shoup: short input"
        );
    }
    if let Some(p) = perm {
        assert!(
            p.len() >= n && below(&p[..n], n),
            "inner_product_shoup: invalid permutation"
        );
    }
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && n.is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; every slice holds at least n words and every index
        // read (k < n, or perm[k] < n, checked above) is in range.
        unsafe { x86::inner_product_shoup(m, digits, perm, out0, out1) };
        return;
    }
    inner_product_portable(m, digits, perm, out0, out1);
}

fn inner_product_portable(
    m: &Modulus,
    digits: &[ShoupDigit<'_>],
    perm: Option<&[u32]>,
    out0: &mut [u64],
    out1: &mut [u64],
) {
    let n = out0.len();
    let q = m.value();
    let two_q = 2 * q;
    for k in 0..n {
        let at = perm.map_or(k, |p| p[k] as usize);
        let (mut s0, mut s1) = (0u64, 0u64);
        for &(d, dw, b, a) in digits {
            let (x, xw) = (d[at], dw[at]);
            let t0 = shoup_lazy(b[k], x, xw, q);
            let t1 = shoup_lazy(a[k], x, xw, q);
            s0 += t0;
            s0 = s0.min(s0.wrapping_sub(two_q));
            s1 += t1;
            s1 = s1.min(s1.wrapping_sub(two_q));
        }
        out0[k] = s0.min(s0.wrapping_sub(q));
        out1[k] = s1.min(s1.wrapping_sub(q));
    }
}

/// Lazy Shoup product `a·w mod q` in `[0, 2q)` (`w < q`, `w_shoup = floor(w·2^64/q)`).
#[inline(always)]
fn shoup_lazy(a: u64, w: u64, w_shoup: u64, q: u64) -> u64 {
    let quot = ((a as u128 * w_shoup as u128) >> 64) as u64;
    a.wrapping_mul(w).wrapping_sub(quot.wrapping_mul(q))
}

/// The last step of ModDown, in place: `o[k] = (o[k] − c[k])·w mod q`, plus `add[π(k)]` (or
/// `add[k]`) if an addend is given; `w < q` with Shoup companion `w_shoup`.
///
/// # Panics
/// If a slice is shorter than `o`, or a permutation index is out of range.
pub fn sub_mul_add(
    m: &Modulus,
    o: &mut [u64],
    c: &[u64],
    (w, w_shoup): (u64, u64),
    addend: Option<(&[u64], Option<&[u32]>)>,
) {
    let n = o.len();
    assert!(c.len() >= n, "sub_mul_add: short input");
    if let Some((add, perm)) = addend {
        assert!(add.len() >= n, "sub_mul_add: short addend");
        if let Some(p) = perm {
            assert!(
                p.len() >= n && below(&p[..n], n),
                "sub_mul_add: invalid permutation"
            );
        }
    }
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && n.is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; all slices hold n words, indices checked above.
        unsafe { x86::sub_mul_add(m, o, c, (w, w_shoup), addend) };
        return;
    }
    sub_mul_add_portable(m, o, c, (w, w_shoup), addend);
}

fn sub_mul_add_portable(
    m: &Modulus,
    o: &mut [u64],
    c: &[u64],
    (w, w_shoup): (u64, u64),
    addend: Option<(&[u64], Option<&[u32]>)>,
) {
    match addend {
        None => {
            for (a, &b) in o.iter_mut().zip(c) {
                *a = m.mul_shoup(m.sub(*a, b), w, w_shoup);
            }
        }
        Some((add, None)) => {
            for ((a, &b), &e) in o.iter_mut().zip(c).zip(add) {
                *a = m.add(m.mul_shoup(m.sub(*a, b), w, w_shoup), e);
            }
        }
        Some((add, Some(p))) => {
            for ((a, &b), &i) in o.iter_mut().zip(c).zip(p) {
                *a = m.add(m.mul_shoup(m.sub(*a, b), w, w_shoup), add[i as usize]);
            }
        }
    }
}

/// [`sub_mul_add`] fused with an NTT-form automorphism of the result, into `out`:
/// `out[j] = (o[π(j)] − c[π(j)])·w [+ add[π(j)]] mod q` with `π` the automorphism's NTT
/// index permutation. Automorphisms map
/// aligned blocks of eight NTT positions onto aligned blocks (the positions of a block hold
/// one coset of exponents modulo `2n/8`, and multiplication by an odd `k` maps cosets onto
/// cosets), so the AVX-512 version loads the source block contiguously and permutes it in
/// registers (`vpermq`), with a gather only for blocks where that does not hold.
///
/// # Panics
/// If a slice is shorter than `out`, or a permutation index is out of range.
pub fn sub_mul_add_permuted(
    m: &Modulus,
    o: &[u64],
    c: &[u64],
    (w, w_shoup): (u64, u64),
    add: Option<&[u64]>,
    galois: &GaloisElement,
    out: &mut [u64],
) {
    let n = out.len();
    let perm = galois.ntt_permutation();
    // a GaloisElement's permutation has every entry below its degree (checked when built)
    assert!(
        o.len() == n
            && c.len() == n
            && add.is_none_or(|a| a.len() == n)
            && galois.degree() == n
            && perm.len() == n,
        "sub_mul_add_permuted: shape"
    );
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && n.is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; all slices hold n words, indices below n (checked),
        // and n is a multiple of 8, so an aligned source block of 8 is in range.
        unsafe { x86::sub_mul_add_permuted(m, o, c, (w, w_shoup), add, perm, out) };
        return;
    }
    sub_mul_add_permuted_portable(m, o, c, (w, w_shoup), add, perm, out);
}

fn sub_mul_add_permuted_portable(
    m: &Modulus,
    o: &[u64],
    c: &[u64],
    (w, w_shoup): (u64, u64),
    add: Option<&[u64]>,
    perm: &[u32],
    out: &mut [u64],
) {
    for (r, &p) in out.iter_mut().zip(perm) {
        let p = p as usize;
        let v = m.mul_shoup(m.sub(o[p], c[p]), w, w_shoup);
        *r = match add {
            Some(a) => m.add(v, a[p]),
            None => v,
        };
    }
}

/// Exact centred conversion from one prime `a` to `b` (`m`): `out[k] = [x̃]_b` with `x̃` the
/// representative of `x[k] < a` in `(−a/2, a/2]`; `a_mod_b = [a]_b`.
pub fn centred_lift(m: &Modulus, x: &[u64], half_a: u64, a_mod_b: u64, out: &mut [u64]) {
    assert_eq!(x.len(), out.len(), "centred_lift: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && x.len().is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; lengths equal.
        unsafe { x86::centred_lift(m, x, half_a, a_mod_b, out) };
        return;
    }
    centred_lift_portable(m, x, half_a, a_mod_b, out);
}

fn centred_lift_portable(m: &Modulus, x: &[u64], half_a: u64, a_mod_b: u64, out: &mut [u64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        let r = m.reduce(v);
        *o = if v > half_a { m.sub(r, a_mod_b) } else { r };
    }
}

/// `out[c] = Σ_i y_i[c]·w_i mod b` for the limbs `y_i = ys[i·n..(i+1)·n]` (any `u64` values)
/// and constants `w_i < b` with Shoup companions, minus `[min(v[c], vmax)·A]_b` (the
/// overflow correction of the exact conversion, with `a_mod = ([A]_b, companion)`).
pub fn dot_constants_sub(
    m: &Modulus,
    ys: &[u64],
    w: &[(u64, u64)],
    v: &[u64],
    vmax: u64,
    a_mod: (u64, u64),
    out: &mut [u64],
) {
    let n = out.len();
    assert!(
        ys.len() >= w.len() * n && v.len() >= n,
        "dot_constants_sub: short input"
    );
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && n.is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; lengths checked above.
        unsafe { x86::dot_constants_sub(m, ys, w, v, vmax, a_mod, out) };
        return;
    }
    dot_constants_sub_portable(m, ys, w, v, vmax, a_mod, out);
}

fn dot_constants_sub_portable(
    m: &Modulus,
    ys: &[u64],
    w: &[(u64, u64)],
    v: &[u64],
    vmax: u64,
    a_mod: (u64, u64),
    out: &mut [u64],
) {
    let n = out.len();
    let q = m.value();
    let two_q = 2 * q;
    for (c, o) in out.iter_mut().enumerate() {
        let mut s = 0u64;
        for (i, &(wi, wis)) in w.iter().enumerate() {
            s += shoup_lazy(ys[i * n + c], wi, wis, q);
            s = s.min(s.wrapping_sub(two_q));
        }
        let s = s.min(s.wrapping_sub(q));
        *o = m.sub(s, m.mul_shoup(v[c].min(vmax), a_mod.0, a_mod.1));
    }
}

/// `y[c] = x[c]·w mod q` (`w < q`, Shoup) and `s[c] += y[c]·inv` in `f64` (the overflow
/// estimate of the exact conversion; same operations and order as the portable loop).
pub fn scale_and_estimate(
    m: &Modulus,
    x: &[u64],
    (w, w_shoup): (u64, u64),
    inv: f64,
    y: &mut [u64],
    s: &mut [f64],
) {
    let n = x.len();
    assert!(y.len() == n && s.len() == n, "scale_and_estimate: shape");
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && n.is_multiple_of(8) {
        // SAFETY: AVX-512F/DQ present; lengths equal.
        unsafe { x86::scale_and_estimate(m, x, (w, w_shoup), inv, y, s) };
        return;
    }
    scale_and_estimate_portable(m, x, (w, w_shoup), inv, y, s);
}

fn scale_and_estimate_portable(
    m: &Modulus,
    x: &[u64],
    (w, w_shoup): (u64, u64),
    inv: f64,
    y: &mut [u64],
    s: &mut [f64],
) {
    for ((o, acc), &v) in y.iter_mut().zip(s.iter_mut()).zip(x) {
        *o = m.mul_shoup(v, w, w_shoup);
        *acc += *o as f64 * inv;
    }
}

/// `v[c] = (s[c] + 0.5) as u64` (rounding of the non-negative overflow estimate).
pub fn round_estimates(s: &[f64], v: &mut [u64]) {
    for (o, &x) in v.iter_mut().zip(s) {
        *o = (x + 0.5) as u64;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ShoupDigit;
    use crate::modulus::Modulus;
    use std::arch::x86_64::*;

    /// High 64 bits of the lane-wise 64×64-bit product, from four 32×32→64 products. The
    /// high halves are moved down by a 32-bit lane swap (`vpshufd`), not a shift: LLVM
    /// recognises the shift form as a 128-bit multiplication and scalarises it.
    #[inline(always)]
    unsafe fn mulhi(a: __m512i, b: __m512i) -> __m512i {
        let mask = _mm512_set1_epi64(0xffff_ffff);
        let a_hi = _mm512_shuffle_epi32::<0xB1>(a);
        let b_hi = _mm512_shuffle_epi32::<0xB1>(b);
        let ll = _mm512_mul_epu32(a, b);
        let lh = _mm512_mul_epu32(a, b_hi);
        let hl = _mm512_mul_epu32(a_hi, b);
        let hh = _mm512_mul_epu32(a_hi, b_hi);
        let t = _mm512_add_epi64(hl, _mm512_srli_epi64::<32>(ll));
        let u = _mm512_add_epi64(lh, _mm512_and_si512(t, mask));
        _mm512_add_epi64(
            _mm512_add_epi64(hh, _mm512_srli_epi64::<32>(t)),
            _mm512_srli_epi64::<32>(u),
        )
    }

    /// Lazy Shoup product in `[0, 2q)`.
    #[inline(always)]
    unsafe fn shoup_lazy(a: __m512i, w: __m512i, ws: __m512i, q: __m512i) -> __m512i {
        let quot = mulhi(a, ws);
        _mm512_sub_epi64(_mm512_mullo_epi64(a, w), _mm512_mullo_epi64(quot, q))
    }

    /// `min(x, x − q)`: reduces `[0, 2q)` to `[0, q)` (`q < 2^62`).
    #[inline(always)]
    unsafe fn reduce_once(x: __m512i, q: __m512i) -> __m512i {
        _mm512_min_epu64(x, _mm512_sub_epi64(x, q))
    }

    #[inline(always)]
    unsafe fn load(p: &[u64], k: usize) -> __m512i {
        _mm512_loadu_si512(p.as_ptr().add(k) as *const _)
    }

    #[inline(always)]
    unsafe fn store(p: &mut [u64], k: usize, v: __m512i) {
        _mm512_storeu_si512(p.as_mut_ptr().add(k) as *mut _, v)
    }

    #[inline(always)]
    unsafe fn gather(p: &[u64], idx: __m256i) -> __m512i {
        _mm512_i32gather_epi64::<8>(idx, p.as_ptr() as *const _)
    }

    #[inline(always)]
    unsafe fn load_idx(p: &[u32], k: usize) -> __m256i {
        _mm256_loadu_si256(p.as_ptr().add(k) as *const _)
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn shoup_companions(m: &Modulus, x: &[u64], out: &mut [u64]) {
        let n = x.len();
        let (hi, lo) = m.barrett_ratio();
        let q = _mm512_set1_epi64(m.value() as i64);
        let vhi = _mm512_set1_epi64(hi as i64);
        let vlo = _mm512_set1_epi64(lo as i64);
        let one = _mm512_set1_epi64(1);
        let zero = _mm512_setzero_si512();
        let mut k = 0;
        while k + 8 <= n {
            let v = load(x, k);
            let est = _mm512_add_epi64(_mm512_mullo_epi64(v, vhi), mulhi(v, vlo));
            let r = _mm512_sub_epi64(zero, _mm512_mullo_epi64(est, q));
            let ge = _mm512_cmpge_epu64_mask(r, q);
            store(out, k, _mm512_mask_add_epi64(est, ge, est, one));
            k += 8;
        }
        for i in k..n {
            out[i] = super::companion_scalar(m, x[i]);
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn inner_product_shoup(
        m: &Modulus,
        digits: &[ShoupDigit<'_>],
        perm: Option<&[u32]>,
        out0: &mut [u64],
        out1: &mut [u64],
    ) {
        let n = out0.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let two_q = _mm512_set1_epi64(2 * m.value() as i64);
        let mut k = 0;
        while k < n {
            let mut s0 = _mm512_setzero_si512();
            let mut s1 = _mm512_setzero_si512();
            let idx = perm.map(|p| load_idx(p, k));
            for &(d, dw, b, a) in digits {
                let (x, xw) = match idx {
                    Some(i) => (gather(d, i), gather(dw, i)),
                    None => (load(d, k), load(dw, k)),
                };
                let t0 = shoup_lazy(load(b, k), x, xw, q);
                let t1 = shoup_lazy(load(a, k), x, xw, q);
                s0 = reduce_once(_mm512_add_epi64(s0, t0), two_q);
                s1 = reduce_once(_mm512_add_epi64(s1, t1), two_q);
            }
            store(out0, k, reduce_once(s0, q));
            store(out1, k, reduce_once(s1, q));
            k += 8;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn sub_mul_add(
        m: &Modulus,
        o: &mut [u64],
        c: &[u64],
        (w, w_shoup): (u64, u64),
        addend: Option<(&[u64], Option<&[u32]>)>,
    ) {
        let n = o.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let vw = _mm512_set1_epi64(w as i64);
        let vws = _mm512_set1_epi64(w_shoup as i64);
        let mut k = 0;
        while k < n {
            let d = _mm512_sub_epi64(load(o, k), load(c, k));
            let d = _mm512_min_epu64(d, _mm512_add_epi64(d, q));
            let mut r = reduce_once(shoup_lazy(d, vw, vws, q), q);
            if let Some((add, perm)) = addend {
                let e = match perm {
                    Some(p) => gather(add, load_idx(p, k)),
                    None => load(add, k),
                };
                r = reduce_once(_mm512_add_epi64(r, e), q);
            }
            store(o, k, r);
            k += 8;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn sub_mul_add_permuted(
        m: &Modulus,
        o: &[u64],
        c: &[u64],
        (w, w_shoup): (u64, u64),
        add: Option<&[u64]>,
        perm: &[u32],
        out: &mut [u64],
    ) {
        let n = out.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let vw = _mm512_set1_epi64(w as i64);
        let vws = _mm512_set1_epi64(w_shoup as i64);
        let low3 = _mm512_set1_epi64(7);
        let high = _mm512_set1_epi64(!7);
        // source blocks are visited in permuted order, which the hardware prefetchers
        // cannot follow: fetch them a few blocks ahead
        const AHEAD: usize = 16 * 8;
        let mut k = 0;
        while k < n {
            if k + AHEAD < n {
                let f = (*perm.get_unchecked(k + AHEAD) & !7) as usize;
                _mm_prefetch::<_MM_HINT_T0>(o.as_ptr().add(f) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(c.as_ptr().add(f) as *const i8);
                if let Some(a) = add {
                    _mm_prefetch::<_MM_HINT_T0>(a.as_ptr().add(f) as *const i8);
                }
            }
            let pv = load_idx(perm, k);
            let p64 = _mm512_cvtepu32_epi64(pv);
            let base = (*perm.get_unchecked(k) & !7) as usize;
            let same_block = _mm512_cmpeq_epi64_mask(
                _mm512_and_si512(p64, high),
                _mm512_set1_epi64(base as i64),
            ) == 0xff;
            let r = if same_block {
                let idx = _mm512_and_si512(p64, low3);
                let d = _mm512_sub_epi64(load(o, base), load(c, base));
                let d = _mm512_min_epu64(d, _mm512_add_epi64(d, q));
                let mut r = reduce_once(shoup_lazy(d, vw, vws, q), q);
                if let Some(a) = add {
                    r = reduce_once(_mm512_add_epi64(r, load(a, base)), q);
                }
                _mm512_permutexvar_epi64(idx, r)
            } else {
                let d = _mm512_sub_epi64(gather(o, pv), gather(c, pv));
                let d = _mm512_min_epu64(d, _mm512_add_epi64(d, q));
                let mut r = reduce_once(shoup_lazy(d, vw, vws, q), q);
                if let Some(a) = add {
                    r = reduce_once(_mm512_add_epi64(r, gather(a, pv)), q);
                }
                r
            };
            store(out, k, r);
            k += 8;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn centred_lift(
        m: &Modulus,
        x: &[u64],
        half_a: u64,
        a_mod_b: u64,
        out: &mut [u64],
    ) {
        let n = x.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let ratio = _mm512_set1_epi64(m.barrett_ratio().0 as i64);
        let half = _mm512_set1_epi64(half_a as i64);
        let am = _mm512_set1_epi64(a_mod_b as i64);
        // `a = 2·half + 1` (odd); inputs `x < a <= 2b` need one conditional subtraction only
        let small = 2 * half_a < 2 * m.value();
        let mut k = 0;
        while k < n {
            let v = load(x, k);
            let r = if small {
                reduce_once(v, q)
            } else {
                // single-word Barrett, as `Modulus::reduce`
                let est = mulhi(v, ratio);
                reduce_once(_mm512_sub_epi64(v, _mm512_mullo_epi64(est, q)), q)
            };
            let neg = _mm512_cmpgt_epu64_mask(v, half);
            let d = _mm512_sub_epi64(r, am);
            let d = _mm512_min_epu64(d, _mm512_add_epi64(d, q));
            store(out, k, _mm512_mask_blend_epi64(neg, r, d));
            k += 8;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn dot_constants_sub(
        m: &Modulus,
        ys: &[u64],
        w: &[(u64, u64)],
        v: &[u64],
        vmax: u64,
        a_mod: (u64, u64),
        out: &mut [u64],
    ) {
        let n = out.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let two_q = _mm512_set1_epi64(2 * m.value() as i64);
        let vm = _mm512_set1_epi64(vmax as i64);
        let am = _mm512_set1_epi64(a_mod.0 as i64);
        let ams = _mm512_set1_epi64(a_mod.1 as i64);
        // `v <= vmax < 8`: the multiples `[v·A]_b` fit one register, looked up by `vpermq`
        let table = (vmax < 8).then(|| {
            let mut t = [0u64; 8];
            for (v, e) in t.iter_mut().enumerate() {
                *e = m.mul_shoup(v as u64, a_mod.0, a_mod.1);
            }
            _mm512_loadu_si512(t.as_ptr() as *const _)
        });
        let mut k = 0;
        while k < n {
            let mut s = _mm512_setzero_si512();
            for (i, &(wi, wis)) in w.iter().enumerate() {
                let t = shoup_lazy(
                    load(ys, i * n + k),
                    _mm512_set1_epi64(wi as i64),
                    _mm512_set1_epi64(wis as i64),
                    q,
                );
                s = reduce_once(_mm512_add_epi64(s, t), two_q);
            }
            let s = reduce_once(s, q);
            let vv = _mm512_min_epu64(load(v, k), vm);
            let corr = match table {
                Some(t) => _mm512_permutexvar_epi64(vv, t),
                None => reduce_once(shoup_lazy(vv, am, ams, q), q),
            };
            let d = _mm512_sub_epi64(s, corr);
            store(out, k, _mm512_min_epu64(d, _mm512_add_epi64(d, q)));
            k += 8;
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn scale_and_estimate(
        m: &Modulus,
        x: &[u64],
        (w, w_shoup): (u64, u64),
        inv: f64,
        y: &mut [u64],
        s: &mut [f64],
    ) {
        let n = x.len();
        let q = _mm512_set1_epi64(m.value() as i64);
        let vw = _mm512_set1_epi64(w as i64);
        let vws = _mm512_set1_epi64(w_shoup as i64);
        let vinv = _mm512_set1_pd(inv);
        let mut k = 0;
        while k < n {
            let r = reduce_once(shoup_lazy(load(x, k), vw, vws, q), q);
            store(y, k, r);
            let acc = _mm512_loadu_pd(s.as_ptr().add(k));
            let acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_cvtepu64_pd(r), vinv));
            _mm512_storeu_pd(s.as_mut_ptr().add(k), acc);
            k += 8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prime::generate_ntt_primes;

    fn rand_below(state: &mut u64, q: u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 1) % q
    }

    #[test]
    fn companions_are_exact() {
        for bits in [30, 54, 55, 57, 61] {
            let q = generate_ntt_primes(bits, 16, 1, &[]).unwrap()[0];
            let m = Modulus::new(q).unwrap();
            let mut st = bits as u64;
            let mut x: Vec<u64> = (0..67).map(|_| rand_below(&mut st, q)).collect();
            x[0] = 0;
            x[1] = q - 1;
            x[2] = 1;
            let mut out = vec![0; x.len()];
            shoup_companions(&m, &x, &mut out);
            let mut portable = vec![0; x.len()];
            shoup_companions_portable(&m, &x, &mut portable);
            assert_eq!(out, portable);
            for (&v, &c) in x.iter().zip(&out) {
                assert_eq!(c, m.shoup(v), "q={q} x={v}");
                assert_eq!(companion_scalar(&m, v), m.shoup(v));
            }
        }
    }

    #[test]
    fn inner_product_matches_reference() {
        let n = 64;
        let q = generate_ntt_primes(57, n, 1, &[]).unwrap()[0];
        let m = Modulus::new(q).unwrap();
        let mut st = 7;
        let mut gen = |len| -> Vec<u64> { (0..len).map(|_| rand_below(&mut st, q)).collect() };
        let ds: Vec<Vec<u64>> = (0..5).map(|_| gen(n)).collect();
        let bs: Vec<Vec<u64>> = (0..5).map(|_| gen(n)).collect();
        let as_: Vec<Vec<u64>> = (0..5).map(|_| gen(n)).collect();
        let dws: Vec<Vec<u64>> = ds
            .iter()
            .map(|d| d.iter().map(|&x| m.shoup(x)).collect())
            .collect();
        let perm: Vec<u32> = (0..n as u32).map(|k| (k * 37 + 5) % n as u32).collect();
        let digits: Vec<ShoupDigit<'_>> = (0..5)
            .map(|j| {
                (
                    ds[j].as_slice(),
                    dws[j].as_slice(),
                    bs[j].as_slice(),
                    as_[j].as_slice(),
                )
            })
            .collect();
        for p in [None, Some(perm.as_slice())] {
            let (mut o0, mut o1) = (vec![9; n], vec![9; n]);
            inner_product_shoup(&m, &digits, p, &mut o0, &mut o1);
            let (mut p0, mut p1) = (vec![9; n], vec![9; n]);
            inner_product_portable(&m, &digits, p, &mut p0, &mut p1);
            assert_eq!((&o0, &o1), (&p0, &p1));
            for k in 0..n {
                let at = p.map_or(k, |p| p[k] as usize);
                let mut e0 = 0u128;
                let mut e1 = 0u128;
                for j in 0..5 {
                    e0 += ds[j][at] as u128 * bs[j][k] as u128;
                    e1 += ds[j][at] as u128 * as_[j][k] as u128;
                }
                assert_eq!(o0[k] as u128, e0 % q as u128);
                assert_eq!(o1[k] as u128, e1 % q as u128);
            }
        }
    }

    #[test]
    fn sub_mul_add_and_lift_match_reference() {
        let n = 32;
        let q = generate_ntt_primes(54, n, 1, &[]).unwrap()[0];
        let a = generate_ntt_primes(57, n, 1, &[]).unwrap()[0];
        let m = Modulus::new(q).unwrap();
        let mut st = 3;
        let o: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let c: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let e: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let perm: Vec<u32> = (0..n as u32).rev().collect();
        let w = rand_below(&mut st, q);
        for add in [
            None,
            Some((e.as_slice(), None)),
            Some((e.as_slice(), Some(perm.as_slice()))),
        ] {
            let mut got = o.clone();
            sub_mul_add(&m, &mut got, &c, (w, m.shoup(w)), add);
            let mut portable = o.clone();
            sub_mul_add_portable(&m, &mut portable, &c, (w, m.shoup(w)), add);
            assert_eq!(got, portable);
            for k in 0..n {
                let mut want = m.mul(m.sub(o[k], c[k]), w);
                if let Some((e, p)) = add {
                    want = m.add(want, e[p.map_or(k, |p| p[k] as usize)]);
                }
                assert_eq!(got[k], want);
            }
        }
        let x: Vec<u64> = (0..n)
            .map(|i| match i {
                0 => 0,
                1 => a / 2,
                2 => a / 2 + 1,
                3 => a - 1,
                _ => rand_below(&mut st, a),
            })
            .collect();
        // a 55-bit source below 2q takes the single-subtraction path
        let a2 = generate_ntt_primes(55, n, 1, &[q]).unwrap()[0];
        let x2: Vec<u64> = (0..n).map(|_| rand_below(&mut st, a2)).collect();
        let mut out2 = vec![0; n];
        centred_lift(&m, &x2, a2 / 2, m.reduce(a2), &mut out2);
        for k in 0..n {
            let centred = if x2[k] > a2 / 2 {
                x2[k] as i128 - a2 as i128
            } else {
                x2[k] as i128
            };
            assert_eq!(out2[k] as i128, centred.rem_euclid(q as i128));
        }
        let mut out = vec![0; n];
        let a_mod = m.reduce(a);
        centred_lift(&m, &x, a / 2, a_mod, &mut out);
        let mut portable = vec![0; n];
        centred_lift_portable(&m, &x, a / 2, a_mod, &mut portable);
        assert_eq!(out, portable);
        for k in 0..n {
            let centred = if x[k] > a / 2 {
                x[k] as i128 - a as i128
            } else {
                x[k] as i128
            };
            assert_eq!(out[k] as i128, centred.rem_euclid(q as i128));
        }
    }

    #[test]
    fn permuted_finish_matches_reference() {
        use crate::rns::RnsBasis;
        let n = 64;
        let q = generate_ntt_primes(54, n, 1, &[]).unwrap()[0];
        let m = Modulus::new(q).unwrap();
        let basis = RnsBasis::new(n, &[q]).unwrap();
        let mut st = 5;
        let o: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let c: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let e: Vec<u64> = (0..n).map(|_| rand_below(&mut st, q)).collect();
        let w = rand_below(&mut st, q);
        for k in [3usize, 9, 2 * n - 1, 5, 1] {
            let g = GaloisElement::new(k, basis.exponent_of_position()).unwrap();
            let perm = g.ntt_permutation();
            // the block property the fast path relies on holds for automorphisms
            for block in perm.chunks(8) {
                assert!(block.iter().all(|&p| p & !7 == block[0] & !7));
            }
            for add in [None, Some(e.as_slice())] {
                let mut got = vec![0; n];
                sub_mul_add_permuted(&m, &o, &c, (w, m.shoup(w)), add, &g, &mut got);
                let mut portable = vec![0; n];
                sub_mul_add_permuted_portable(
                    &m,
                    &o,
                    &c,
                    (w, m.shoup(w)),
                    add,
                    perm,
                    &mut portable,
                );
                assert_eq!(got, portable);
                for j in 0..n {
                    let p = perm[j] as usize;
                    let mut want = m.mul(m.sub(o[p], c[p]), w);
                    if let Some(e) = add {
                        want = m.add(want, e[p]);
                    }
                    assert_eq!(got[j], want);
                }
            }
        }
        // an arbitrary permutation exercises the gather fallback
        #[cfg(target_arch = "x86_64")]
        if avx512_available() {
            let perm: Vec<u32> = (0..n as u32).map(|k| (k * 37 + 5) % n as u32).collect();
            let mut got = vec![0; n];
            // SAFETY: AVX-512 present, all indices below n, all slices of length n.
            unsafe {
                x86::sub_mul_add_permuted(&m, &o, &c, (w, m.shoup(w)), Some(&e), &perm, &mut got)
            };
            let mut portable = vec![0; n];
            sub_mul_add_permuted_portable(
                &m,
                &o,
                &c,
                (w, m.shoup(w)),
                Some(&e),
                &perm,
                &mut portable,
            );
            assert_eq!(got, portable);
        }
    }

    #[test]
    fn conversion_kernels_match_portable() {
        let n = 40;
        let b = generate_ntt_primes(54, 16, 1, &[]).unwrap()[0];
        let a = generate_ntt_primes(57, 16, 3, &[b]).unwrap();
        let m = Modulus::new(b).unwrap();
        let mut st = 11;
        let ys: Vec<u64> = (0..3 * n).map(|i| rand_below(&mut st, a[i / n])).collect();
        let w: Vec<(u64, u64)> = (0..3)
            .map(|_| {
                let x = rand_below(&mut st, b);
                (x, m.shoup(x))
            })
            .collect();
        let v: Vec<u64> = (0..n as u64).map(|c| c % 5).collect();
        let am = rand_below(&mut st, b);
        let mut out = vec![0; n];
        dot_constants_sub(&m, &ys, &w, &v, 3, (am, m.shoup(am)), &mut out);
        let mut portable = vec![0; n];
        dot_constants_sub_portable(&m, &ys, &w, &v, 3, (am, m.shoup(am)), &mut portable);
        assert_eq!(out, portable);
        for c in 0..n {
            let mut want = 0u128;
            for i in 0..3 {
                want += ys[i * n + c] as u128 * w[i].0 as u128;
            }
            let want = m.sub((want % b as u128) as u64, m.mul(v[c].min(3), am));
            assert_eq!(out[c], want);
        }
        let ma = Modulus::new(a[0]).unwrap();
        let wa = rand_below(&mut st, a[0]);
        let (mut y1, mut y2) = (vec![0; n], vec![0; n]);
        let (mut s1, mut s2) = (vec![0.25; n], vec![0.25; n]);
        let x = &ys[..n];
        scale_and_estimate(
            &ma,
            x,
            (wa, ma.shoup(wa)),
            1.0 / a[0] as f64,
            &mut y1,
            &mut s1,
        );
        scale_and_estimate_portable(
            &ma,
            x,
            (wa, ma.shoup(wa)),
            1.0 / a[0] as f64,
            &mut y2,
            &mut s2,
        );
        assert_eq!(y1, y2);
        assert_eq!(s1, s2);
    }
}
