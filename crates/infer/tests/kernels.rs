//! Every representation, conversion and kernel against plain `i64` arithmetic on the clear
//! backend (LoLa section 4.2), with random sizes, strides, paddings and slot counts.

use henn_infer::backend::clear::{ClearBackend, OpKind};
use henn_infer::backend::{SlotEncoding, SlotEncryptor};
use henn_infer::conv::{Conv2dGeometry, Padding};
use henn_infer::encrypted::{decrypt_batch, decrypt_vector, encrypt_batch, encrypt_vector};
use henn_infer::error::InferError;
use henn_infer::kernels::{
    bsgs, combine, convolution, elementwise, relayout, row_major, simd, sparse, stacked,
};
use henn_infer::matrix::Matrix;
use henn_infer::representation::{
    Convolution, Dense, Interleaved, Representation, SlotGeometry, Sparse, Stacked,
    StackedConvolution,
};
use proptest::prelude::*;

fn backend(rows: usize, log_row: u32) -> ClearBackend<i64> {
    ClearBackend::new(rows, 1 << log_row, 8).unwrap()
}

fn matrix(rows: usize, cols: usize, seed: u64) -> Matrix<i64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data = (0..rows * cols)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 17) as i64 - 8
        })
        .collect();
    Matrix::new(rows, cols, data).unwrap()
}

fn vector(len: usize, seed: u64) -> Vec<i64> {
    matrix(1, len, seed ^ 0x9e37).row(0).to_vec()
}

/// A pseudo-random permutation of `0..n` (Fisher–Yates with a LCG).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        p.swap(i, (s >> 33) as usize % (i + 1));
    }
    p
}

fn col_of(slot: usize, row_len: usize) -> usize {
    slot % row_len
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn representations_round_trip(rows in 1usize..=2, log_row in 3u32..=9, len_frac in 1usize..=100, seed: u64) {
        let b = backend(rows, log_row);
        let g = SlotGeometry::of(&b);
        let len = (len_frac * b.row_len()).div_ceil(100).max(1);
        let v = vector(len, seed);
        let block = len.next_power_of_two();
        let perm = permutation(g.slots(), seed);
        let reprs = vec![
            Representation::dense(len),
            Representation::Dense(Dense { len, chunk: len.div_ceil(3) }),
            Representation::Sparse(Sparse { len }),
            Representation::Stacked(Stacked { len, block, copies_per_row: b.row_len() / block, rows_used: rows }),
            Representation::Interleaved(Interleaved { messages: 1, positions: (0..len).map(|i| (0, perm[i])).collect() }),
            Representation::Interleaved(Interleaved { messages: 2, positions: (0..len).map(|i| (i % 2, perm[i])).collect() }),
        ];
        for repr in reprs {
            let x = encrypt_vector(&b, repr.clone(), &v).unwrap();
            prop_assert_eq!(x.cts.len(), repr.messages());
            prop_assert_eq!(&decrypt_vector(&b, &x).unwrap(), &v, "{:?}", repr.name());
        }
    }

    #[test]
    fn dense_row_major_is_w_v(rows in 1usize..=2, log_row in 3u32..=9, r in 1usize..12, k_frac in 1usize..=100, chunks in 1usize..=3, seed: u64) {
        let b = backend(rows, log_row);
        let k = (k_frac * b.row_len()).div_ceil(100).max(1);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let x = encrypt_vector(&b, Representation::Dense(Dense { len: k, chunk: k.div_ceil(chunks) }), &v).unwrap();
        let y = row_major::dense_row_major(&b, &x, &w).unwrap();
        prop_assert!(matches!(y.repr, Representation::Sparse(_)));
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), w.mul_vec(&v).unwrap());
        // Sparse means every slot holds the element.
        for (i, ct) in y.cts.iter().enumerate() {
            let yi = w.mul_vec(&v).unwrap()[i];
            prop_assert!(ct.values.iter().all(|&s| s == yi));
        }
        let c = b.counts();
        prop_assert_eq!(c.total(OpKind::Rotate), (r * log_row as usize) as u64);
        prop_assert_eq!(c.total(OpKind::SwapRows), if rows == 2 { r as u64 } else { 0 });
    }

    #[test]
    fn interleaved_row_major_is_w_v(rows in 1usize..=2, log_row in 3u32..=8, r in 1usize..10, k in 1usize..=8, seed: u64) {
        let b = backend(rows, log_row);
        let g = SlotGeometry::of(&b);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let perm = permutation(g.slots(), seed);
        let repr = Representation::Interleaved(Interleaved { messages: 1, positions: (0..k).map(|i| (0, perm[i])).collect() });
        let x = encrypt_vector(&b, repr, &v).unwrap();
        let y = row_major::interleaved_row_major(&b, &x, &w).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), w.mul_vec(&v).unwrap());
    }

    #[test]
    fn sparse_column_major_and_sparse_to_dense(rows in 1usize..=2, log_row in 3u32..=7, r in 1usize..300, k in 1usize..12, seed: u64) {
        let b = backend(rows, log_row);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let x = encrypt_vector(&b, Representation::Sparse(Sparse { len: k }), &v).unwrap();
        let y = sparse::sparse_column_major(&b, &x, &w).unwrap();
        prop_assert!(matches!(y.repr, Representation::Dense(_)) && y.clean);
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), w.mul_vec(&v).unwrap());
        prop_assert_eq!(b.counts().rotations(), 0);
        let d = sparse::sparse_to_dense(&b, &x).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &d).unwrap(), v.clone());
        // Clean: nothing outside the dense slots.
        let Representation::Dense(dd) = &d.repr else { unreachable!() };
        for ct in &d.cts {
            prop_assert!(ct.values[dd.chunk..].iter().all(|&s| s == 0));
        }
    }

    #[test]
    fn stacked_row_major_then_combine_is_w_v(rows in 1usize..=2, log_row in 4u32..=9, r in 1usize..40, k_frac in 1usize..=50, seed: u64) {
        let b = backend(rows, log_row);
        let k = (k_frac * b.row_len()).div_ceil(100).max(1);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let x = encrypt_vector(&b, Representation::dense(k), &v).unwrap();
        let (block, cpr, rows_used) = stacked::max_stacking(&b, k, None).unwrap();
        let st = stacked::stack(&b, &x, block, cpr, rows_used).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &st).unwrap(), v.clone());
        // Every copy is really there.
        let g = SlotGeometry::of(&b);
        let Representation::Stacked(s) = &st.repr else { unreachable!() };
        for c in 0..s.copies() {
            let start = s.copy_start(c, &g);
            prop_assert_eq!(&st.cts[0].values[start..start + k], &v[..]);
        }
        b.reset_counts();
        let y = stacked::stacked_row_major(&b, &st, &w).unwrap();
        let rounds = r.div_ceil(s.copies());
        prop_assert_eq!(y.cts.len(), rounds);
        prop_assert_eq!(b.counts().total(OpKind::MulPlain), rounds as u64);
        prop_assert_eq!(b.counts().total(OpKind::Rotate), (rounds * block.trailing_zeros() as usize) as u64);
        let expect = w.mul_vec(&v).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), expect.clone());
        if rounds <= block {
            let one = combine::combine(&b, &y).unwrap();
            prop_assert_eq!(one.cts.len(), 1);
            prop_assert!(one.clean);
            prop_assert_eq!(decrypt_vector(&b, &one).unwrap(), expect.clone());
            // Clean means zero outside the placements.
            let placed: std::collections::HashSet<usize> = one.repr.placements(&g)[0].iter().map(|p| p.0).collect();
            prop_assert!(one.cts[0].values.iter().enumerate().all(|(i, &x)| placed.contains(&i) || x == 0));
            // And it feeds interleaved vector - row major.
            let w2 = matrix(3, r, seed ^ 5);
            let z = row_major::row_major(&b, &one, &w2).unwrap();
            prop_assert_eq!(decrypt_vector(&b, &z).unwrap(), w2.mul_vec(&expect).unwrap());
        }
    }

    #[test]
    fn convolution_representation_and_kernel_equal_direct_conv(
        channels in 1usize..=3, h in 3usize..=10, wd in 3usize..=10, kh in 1usize..=4, kw in 1usize..=4,
        sy in 1usize..=3, sx in 1usize..=3, pads in (0usize..4, 0usize..4, 0usize..4, 0usize..4),
        maps in 1usize..=4, rows in 1usize..=2, seed: u64,
    ) {
        let (kh, kw) = (kh.min(h), kw.min(wd));
        let padding = Padding { top: pads.0 % kh, left: pads.1 % kw, bottom: pads.2 % kh, right: pads.3 % kw };
        let geo = Conv2dGeometry { in_channels: channels, in_h: h, in_w: wd, out_channels: maps, kernel_h: kh, kernel_w: kw, stride: (sy, sx), padding };
        geo.validate().unwrap();
        let weights = vector(maps * geo.window(), seed);
        let input = vector(geo.input_len(), seed ^ 77);
        let row_len = geo.output_len().next_power_of_two().max(8);
        let b = ClearBackend::<i64>::new(rows, row_len, 8).unwrap();
        let repr = Representation::Convolution(Convolution::conv2d(&geo).unwrap());
        prop_assert_eq!(repr.messages(), geo.window());
        let x = encrypt_vector(&b, repr, &input).unwrap();
        let y = convolution::convolution_row_major(&b, &x, &weights, maps).unwrap();
        prop_assert_eq!(y.cts.len(), maps);
        let direct = geo.apply(&weights, &input).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), direct.clone());
        let c = b.counts();
        prop_assert_eq!(c.total(OpKind::MulScalar), (maps * geo.window()) as u64);
        prop_assert_eq!(c.rotations(), 0);
        let one = combine::combine(&b, &y).unwrap();
        prop_assert!(matches!(one.repr, Representation::Dense(_)));
        prop_assert_eq!(decrypt_vector(&b, &one).unwrap(), direct);
        prop_assert_eq!(b.counts().total(OpKind::Rotate), (maps - 1) as u64);
    }

    #[test]
    fn stacked_convolution_equals_direct_conv_and_feeds_bsgs(
        channels in 1usize..=3, h in 3usize..=9, wd in 3usize..=9, kh in 1usize..=4, kw in 1usize..=4,
        sy in 1usize..=3, sx in 1usize..=3, pads in (0usize..4, 0usize..4, 0usize..4, 0usize..4),
        maps in 1usize..=4, rows in 1usize..=2, extra_log in 0u32..=3, out in 1usize..=12, seed: u64,
    ) {
        let (kh, kw) = (kh.min(h), kw.min(wd));
        let padding = Padding { top: pads.0 % kh, left: pads.1 % kw, bottom: pads.2 % kh, right: pads.3 % kw };
        let geo = Conv2dGeometry { in_channels: channels, in_h: h, in_w: wd, out_channels: maps, kernel_h: kh, kernel_w: kw, stride: (sy, sx), padding };
        geo.validate().unwrap();
        let weights = vector(maps * geo.window(), seed);
        let input = vector(geo.input_len(), seed ^ 77);
        let conv_out = geo.output_len();
        let block = conv_out.max(out).max(2).next_power_of_two();
        let row_len = block << extra_log;
        let b = ClearBackend::<i64>::new(rows, row_len, 8).unwrap();
        let sc = StackedConvolution::conv2d(&geo, block, row_len).unwrap();
        let repr = Representation::StackedConvolution(sc.clone());
        let copies = row_len / block;
        prop_assert_eq!(repr.messages(), geo.window().div_ceil(copies));
        // Every input element a window sees is read back from its canonical slot.
        let g = SlotGeometry::of(&b);
        let msgs = repr.encode(&input, &g).unwrap();
        for (i, &v) in input.iter().enumerate() {
            if let Some((m, slot)) = repr.canonical(i, &g) {
                prop_assert_eq!(msgs[m][slot], v);
            }
        }
        let x = encrypt_vector(&b, repr, &input).unwrap();
        let y = convolution::stacked_convolution_row_major(&b, &x, &weights, maps).unwrap();
        let direct = geo.apply(&weights, &input).unwrap();
        prop_assert!(y.clean);
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), direct.clone());
        // Every copy of the row holds the whole output and nothing else.
        let slots = b.decode(&b.decrypt(&y.cts[0]).unwrap()).unwrap();
        for (s, v) in slots.iter().enumerate() {
            let (row, col) = (s / row_len, col_of(s, row_len));
            let want = if row == 0 && col % block < conv_out { direct[col % block] } else { 0 };
            prop_assert_eq!(*v, want);
        }
        let c = b.counts();
        // One product per message (messages whose weights are all zero are skipped).
        prop_assert!(c.total(OpKind::MulPlain) <= x.cts.len() as u64);
        prop_assert_eq!(c.rotations(), u64::from(extra_log));
        // The output is the stacked input the diagonal BSGS product takes, without a mask.
        let w = matrix(out, conv_out, seed ^ 5);
        let z = bsgs::diagonal_bsgs(&b, &y, &w, None).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &z).unwrap(), w.mul_vec(&direct).unwrap());
    }

    #[test]
    fn combine_uses_both_rows_when_one_is_full(rows in 1usize..=2, log_row in 3u32..=7, chunk_frac in 1usize..=100, msgs in 1usize..=9, seed: u64) {
        let b = backend(rows, log_row);
        let g = SlotGeometry::of(&b);
        let chunk = (chunk_frac * b.row_len()).div_ceil(100).max(1);
        let per_row = b.row_len() / chunk;
        let msgs = msgs.min(per_row * rows).max(1);
        let len = chunk * msgs;
        let v = vector(len, seed);
        let x = encrypt_vector(&b, Representation::Dense(Dense { len, chunk }), &v).unwrap();
        let one = combine::combine(&b, &x).unwrap();
        prop_assert_eq!(one.cts.len(), 1);
        prop_assert_eq!(decrypt_vector(&b, &one).unwrap(), v);
        let used = one.repr.placements(&g)[0].len();
        prop_assert_eq!(used, len);
        let c = b.counts();
        prop_assert_eq!(c.total(OpKind::SwapRows), if msgs > per_row { (msgs - per_row) as u64 } else { 0 });
    }

    #[test]
    fn combine_splits_messages_that_do_not_tile_the_rows(rows in 1usize..=2, log_row in 3u32..=7, chunk_frac in 30usize..=90, seed: u64) {
        let b = backend(rows, log_row);
        let chunk = (chunk_frac * b.row_len()).div_ceil(100).max(2);
        // As many whole messages as the slots hold: more than fit without splitting.
        let msgs = b.slots() / chunk;
        let len = chunk * msgs;
        let v = vector(len, seed);
        let x = encrypt_vector(&b, Representation::Dense(Dense { len, chunk }), &v).unwrap();
        let g = SlotGeometry::of(&b);
        let splits = combine::combine_multiplies(&x, &g);
        let one = combine::combine(&b, &x).unwrap();
        prop_assert_eq!(one.cts.len(), 1);
        prop_assert!(one.clean);
        prop_assert_eq!(decrypt_vector(&b, &one).unwrap(), v);
        // Splitting costs masks; whole moves do not.
        prop_assert_eq!(splits, b.counts().total(OpKind::MulPlain) > 0);
    }

    #[test]
    fn bsgs_is_w_v(rows in 1usize..=2, log_row in 3u32..=9, log_d in 1u32..=9, r_frac in 1usize..=100, k_frac in 1usize..=100, log_n1 in 0u32..=9, seed: u64) {
        let b = backend(rows, log_row);
        let d = 1usize << log_d.min(log_row);
        let r = (r_frac * d).div_ceil(100).max(1);
        let k = (k_frac * d).div_ceil(100).max(1);
        let n1 = 1usize << log_n1.min(log_d.min(log_row));
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let x = encrypt_vector(&b, Representation::dense(k), &v).unwrap();
        let st = stacked::stack(&b, &x, d, b.row_len() / d, 1).unwrap();
        b.reset_counts();
        let rp = r.next_power_of_two();
        let n1 = n1.min(rp);
        let y = bsgs::diagonal_bsgs(&b, &st, &w, Some(n1)).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), w.mul_vec(&v).unwrap());
        // Clean and stacked with block rp over the whole row: slot j holds (W v)[j mod rp].
        prop_assert!(y.clean);
        let wv = w.mul_vec(&v).unwrap();
        for (j, &s) in y.cts[0].values[..b.row_len()].iter().enumerate() {
            prop_assert_eq!(s, if j % rp < r { wv[j % rp] } else { 0 });
        }
        prop_assert!(y.cts[0].values[b.row_len()..].iter().all(|&s| s == 0));
        let c = b.counts();
        prop_assert!(c.total(OpKind::HoistedBatch) <= 1);
        prop_assert!(c.total(OpKind::HoistedRotate) <= (n1 - 1) as u64);
        let folds = (d / rp).trailing_zeros() as u64;
        prop_assert!(c.total(OpKind::Rotate) <= (rp / n1 - 1) as u64 + folds);
        prop_assert!(c.total(OpKind::MulPlain) <= rp as u64);
    }

    #[test]
    fn rectangular_bsgs_ignores_garbage_and_is_clean(rows in 1usize..=2, log_row in 3u32..=9, r_frac in 1usize..=100, k_frac in 1usize..=100, log_n1 in 0u32..=10, seed: u64) {
        let b = backend(rows, log_row);
        let row_len = b.row_len();
        let r = (r_frac * row_len).div_ceil(100).max(1);
        let k = (k_frac * row_len).div_ceil(100).max(1);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        // Garbage in every slot that is not a placement (as after a hybrid diagonal product).
        let mut slots = vector(b.slots(), seed ^ 77);
        slots[..k].copy_from_slice(&v);
        let ct = b.encrypt(&b.encode(&slots, b.max_level()).unwrap()).unwrap();
        let x = henn_infer::encrypted::EncryptedVector::new(Representation::dense(k), vec![ct], false).unwrap();
        let m = bsgs::rectangular_diagonals(r, k);
        let n1 = (1usize << log_n1).min(m.next_power_of_two());
        b.reset_counts();
        let y = bsgs::dense_diagonal_bsgs(&b, &x, &w, Some(n1)).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), w.mul_vec(&v).unwrap());
        prop_assert!(y.clean);
        prop_assert!(y.cts[0].values[r..].iter().all(|&s| s == 0));
        let c = b.counts();
        prop_assert!(c.total(OpKind::HoistedBatch) <= 1);
        prop_assert!(c.total(OpKind::MulPlain) <= m as u64);
        prop_assert!(c.total(OpKind::Rotate) < m.div_ceil(n1) as u64);
    }

    #[test]
    fn block_bsgs_over_several_messages_is_w_v(rows in 1usize..=2, log_row in 3u32..=8, r_frac in 1usize..=100, chunk_frac in 10usize..=100, msgs in 1usize..=4, log_n1 in 0u32..=8, shuffle: bool, seed: u64) {
        let b = backend(rows, log_row);
        let row_len = b.row_len();
        let r = (r_frac * row_len).div_ceil(100).max(1);
        let chunk = (chunk_frac * row_len).div_ceil(100).max(1);
        let k = (chunk * msgs).saturating_sub(chunk / 2).max(1);
        let (w, v) = (matrix(r, k, seed), vector(k, seed));
        let g = SlotGeometry::of(&b);
        // A multi-message dense vector, or the same elements shuffled over row 0 of each message.
        let repr = if shuffle {
            let m = k.div_ceil(chunk);
            let perm = permutation(m * row_len, seed);
            Representation::Interleaved(Interleaved {
                messages: m,
                positions: (0..k).map(|i| (perm[i] / row_len, perm[i] % row_len)).collect(),
            })
        } else {
            Representation::Dense(Dense { len: k, chunk })
        };
        // Garbage in every slot that is not a placement: the kernel must not read it.
        let msgs_slots: Vec<Vec<i64>> = repr
            .encode(&v, &g)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(m, mut slots)| {
                let used: std::collections::HashSet<usize> =
                    repr.placements(&g)[m].iter().map(|&(s, _)| s).collect();
                let junk = vector(slots.len(), seed ^ m as u64);
                for (s, x) in slots.iter_mut().enumerate() {
                    if !used.contains(&s) {
                        *x = junk[s];
                    }
                }
                slots
            })
            .collect();
        let cts = msgs_slots
            .iter()
            .map(|m| b.encrypt(&b.encode(m, b.max_level()).unwrap()).unwrap())
            .collect();
        let x = henn_infer::encrypted::EncryptedVector::new(repr.clone(), cts, false).unwrap();
        let rp = r.next_power_of_two();
        let n1 = (1usize << log_n1).min(rp);
        b.reset_counts();
        let y = bsgs::block_diagonal_bsgs(&b, &x, &w, Some(n1)).unwrap();
        let wv = w.mul_vec(&v).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), wv.clone());
        // Clean and stacked with block rp over row 0.
        prop_assert!(y.clean);
        for (j, &s) in y.cts[0].values[..row_len].iter().enumerate() {
            prop_assert_eq!(s, if j % rp < r { wv[j % rp] } else { 0 });
        }
        prop_assert!(y.cts[0].values[row_len..].iter().all(|&s| s == 0));
        let c = b.counts();
        let m = x.cts.len() as u64;
        prop_assert!(c.total(OpKind::HoistedBatch) <= m);
        prop_assert!(c.total(OpKind::MulPlain) <= m * rp as u64);
        let folds = (row_len / rp).trailing_zeros() as u64;
        prop_assert!(c.total(OpKind::Rotate) <= (rp / n1 - 1) as u64 + folds);
        // Horner's rule: one giant-step key (n1), baby steps below n1, fold steps rp·2^k.
        prop_assert!(c.rotation_steps.iter().all(|&s| s <= n1 || (s >= rp && s.is_power_of_two())));
    }

    #[test]
    fn simd_linear_square_bias_per_record(k in 1usize..20, r in 1usize..20, batch in 1usize..16, seed: u64) {
        let b = backend(2, 3);
        let w = matrix(r, k, seed);
        let bias = vector(r, seed ^ 3);
        let records: Vec<Vec<i64>> = (0..batch).map(|i| vector(k, seed ^ i as u64)).collect();
        let x = encrypt_batch(&b, k, &records).unwrap();
        let y = simd::simd_linear(&b, &x, &w).unwrap();
        let y = elementwise::add_bias(&b, &y, &bias).unwrap();
        let y = elementwise::square(&b, &y).unwrap();
        let out = decrypt_batch(&b, &y, batch).unwrap();
        for (rec, got) in records.iter().zip(&out) {
            let expect: Vec<i64> = w.mul_vec(rec).unwrap().iter().zip(&bias).map(|(a, c)| (a + c) * (a + c)).collect();
            prop_assert_eq!(got, &expect);
        }
        prop_assert_eq!(b.counts().rotations(), 0);
    }

    #[test]
    fn square_and_bias_on_every_representation(rows in 1usize..=2, len in 1usize..30, seed: u64) {
        let b = backend(rows, 6);
        let g = SlotGeometry::of(&b);
        let v = vector(len, seed);
        let bias = vector(len, seed ^ 1);
        let perm = permutation(g.slots(), seed);
        for repr in [
            Representation::dense(len),
            Representation::Sparse(Sparse { len }),
            Representation::Stacked(Stacked { len, block: len.next_power_of_two(), copies_per_row: 1, rows_used: 1 }),
            Representation::Interleaved(Interleaved { messages: 1, positions: (0..len).map(|i| (0, perm[i])).collect() }),
        ] {
            let x = encrypt_vector(&b, repr, &v).unwrap();
            let y = elementwise::square(&b, &elementwise::add_bias(&b, &x, &bias).unwrap()).unwrap();
            let expect: Vec<i64> = v.iter().zip(&bias).map(|(a, c)| (a + c) * (a + c)).collect();
            prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), expect);
        }
    }
}

#[test]
fn kernels_reject_wrong_representations_and_shapes() {
    let b = backend(2, 5);
    let v = vector(10, 1);
    let dense = encrypt_vector(&b, Representation::dense(10), &v).unwrap();
    let sparse_x = encrypt_vector(&b, Representation::Sparse(Sparse { len: 10 }), &v).unwrap();
    let w = matrix(4, 10, 2);
    assert!(matches!(
        row_major::row_major(&b, &sparse_x, &w),
        Err(InferError::WrongRepresentation { .. })
    ));
    assert!(matches!(
        sparse::sparse_column_major(&b, &dense, &w),
        Err(InferError::WrongRepresentation { .. })
    ));
    assert!(matches!(
        row_major::row_major(&b, &dense, &matrix(4, 9, 2)),
        Err(InferError::ShapeMismatch(_))
    ));
    assert!(matches!(
        stacked::stacked_row_major(&b, &dense, &w),
        Err(InferError::WrongRepresentation { .. })
    ));
    // Stacking a vector whose padding slots are not zero would corrupt the copies.
    let y =
        stacked::stacked_row_major(&b, &stacked::stack(&b, &dense, 16, 2, 2).unwrap(), &w).unwrap();
    let mut dirty = combine::combine(&b, &y).unwrap();
    dirty.repr = Representation::dense(4);
    dirty.clean = false;
    assert!(stacked::stack(&b, &dirty, 4, 2, 1).is_err());
    // Copies must fit the row.
    assert!(matches!(
        stacked::stack(&b, &dense, 16, 4, 1),
        Err(InferError::DoesNotFit(_))
    ));
    // Wrong input length.
    assert!(matches!(
        encrypt_vector(&b, Representation::dense(11), &v),
        Err(InferError::ShapeMismatch(_))
    ));
    // Overlapping interleaved positions are rejected.
    let bad = Representation::Interleaved(Interleaved {
        messages: 1,
        positions: vec![(0, 3), (0, 3)],
    });
    assert!(matches!(
        encrypt_vector(&b, bad, &[1, 2]),
        Err(InferError::InvalidRepresentation(_))
    ));
    // Dense chunks longer than a row do not fit.
    assert!(matches!(
        encrypt_vector(&b, Representation::dense(40), &vector(40, 1)),
        Err(InferError::DoesNotFit(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn relayout_dense_to_convolution_then_conv_equals_direct(
        channels in 1usize..=2, h in 3usize..=8, wd in 3usize..=8, kh in 1usize..=3, kw in 1usize..=3,
        sy in 1usize..=2, sx in 1usize..=2, pads in (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        maps in 1usize..=3, rows in 1usize..=2, seed: u64,
    ) {
        let (kh, kw) = (kh.min(h), kw.min(wd));
        let padding = Padding { top: pads.0 % kh, left: pads.1 % kw, bottom: pads.2 % kh, right: pads.3 % kw };
        let geo = Conv2dGeometry { in_channels: channels, in_h: h, in_w: wd, out_channels: maps, kernel_h: kh, kernel_w: kw, stride: (sy, sx), padding };
        let weights = vector(maps * geo.window(), seed);
        let input = vector(geo.input_len(), seed ^ 77);
        let row_len = geo.input_len().max(geo.output_len()).next_power_of_two();
        let b = ClearBackend::<i64>::new(rows, row_len, 8).unwrap();
        // The input split over two messages and two rows exercises swaps and several sources.
        let chunk = geo.input_len().div_ceil(2);
        let x = encrypt_vector(&b, Representation::Dense(Dense { len: geo.input_len(), chunk }), &input).unwrap();
        let x = if rows == 2 { combine::combine(&b, &x).unwrap() } else { x };
        let conv_repr = Representation::Convolution(Convolution::conv2d(&geo).unwrap());
        let c = relayout::relayout(&b, &x, conv_repr.clone()).unwrap();
        // Same ciphertext contents as the client's own convolution encoding.
        let g = SlotGeometry::of(&b);
        let client = conv_repr.encode(&input, &g).unwrap();
        for (ct, m) in c.cts.iter().zip(&client) {
            prop_assert_eq!(&ct.values, m);
        }
        prop_assert!(b.counts().total(OpKind::Rotate) <= 1);
        let y = convolution::convolution_row_major(&b, &c, &weights, maps).unwrap();
        prop_assert_eq!(decrypt_vector(&b, &y).unwrap(), geo.apply(&weights, &input).unwrap());
    }

    #[test]
    fn relayout_between_any_layouts_preserves_the_vector(rows in 1usize..=2, log_row in 3u32..=6, len_frac in 1usize..=100, seed: u64) {
        let b = backend(rows, log_row);
        let g = SlotGeometry::of(&b);
        let len = (len_frac * b.row_len()).div_ceil(100).max(1);
        let v = vector(len, seed);
        let perm = permutation(g.slots(), seed);
        let block = len.next_power_of_two();
        let layouts = [
            Representation::dense(len),
            Representation::Sparse(Sparse { len }),
            Representation::Interleaved(Interleaved { messages: 1, positions: (0..len).map(|i| (0, perm[i])).collect() }),
            Representation::Stacked(Stacked { len, block, copies_per_row: b.row_len() / block, rows_used: rows }),
        ];
        for from in &layouts {
            let x = encrypt_vector(&b, from.clone(), &v).unwrap();
            for to in &layouts {
                let y = relayout::relayout(&b, &x, to.clone()).unwrap();
                // Exactly the client's encoding: right values, zeros elsewhere.
                let expect = to.encode(&v, &g).unwrap();
                for (ct, m) in y.cts.iter().zip(&expect) {
                    prop_assert_eq!(&ct.values, m, "{} -> {}", from.name(), to.name());
                }
            }
        }
    }
}

#[test]
fn combine_split_case_uses_masks_and_both_rows() {
    // Rows of 8, chunks of 3: two whole chunks per row, the fifth must straddle the rows.
    let b = backend(2, 3);
    let v: Vec<i64> = (1..=15).collect();
    let x = encrypt_vector(&b, Representation::Dense(Dense { len: 15, chunk: 3 }), &v).unwrap();
    assert!(combine::combine_multiplies(&x, &SlotGeometry::of(&b)));
    let one = combine::combine(&b, &x).unwrap();
    assert_eq!(decrypt_vector(&b, &one).unwrap(), v);
    let mut expect = v.clone();
    expect.push(0);
    assert_eq!(one.cts[0].values, expect);
    assert!(b.counts().total(OpKind::MulPlain) >= 5);
}

#[test]
fn malformed_hand_built_vectors_are_errors_not_panics() {
    let b = backend(1, 4);
    let good = encrypt_vector(&b, Representation::dense(4), &[1, 2, 3, 4]).unwrap();
    let w = matrix(2, 4, 1);
    // Interleaved positions naming a message that does not exist.
    let mut bad = good.clone();
    bad.repr = Representation::Interleaved(Interleaved {
        messages: 1,
        positions: vec![(0, 0), (3, 1), (0, 2), (0, 3)],
    });
    assert!(row_major::row_major(&b, &bad, &w).is_err());
    assert!(combine::combine(&b, &bad).is_err());
    assert!(relayout::relayout(&b, &bad, Representation::dense(4)).is_err());
    // A dense chunk of zero.
    let mut zero_chunk = good.clone();
    zero_chunk.repr = Representation::Dense(Dense { len: 4, chunk: 0 });
    assert!(row_major::row_major(&b, &zero_chunk, &w).is_err());
    assert!(elementwise::square(&b, &zero_chunk).is_err());
    // Slot index beyond the ring.
    let mut far = good.clone();
    far.repr = Representation::Interleaved(Interleaved {
        messages: 1,
        positions: vec![(0, 0), (0, 1), (0, 2), (0, 99)],
    });
    assert!(elementwise::add_bias(&b, &far, &[1, 1, 1, 1]).is_err());
    // Ciphertext count disagreeing with the layout.
    let mut missing = good;
    missing.cts.clear();
    assert!(row_major::row_major(&b, &missing, &w).is_err());
}
