//! Slot (batched) encoding as in Gazelle (Juvekar et al., USENIX Security 2018, §5) and DELPHI:
//! values live in row 0 of the `2 × n/2` slot matrix and the layer is a sum of slot-wise
//! products of rotated inputs with plaintext weight vectors, evaluated baby-step giant-step
//! ([`SlotPlan`]): the baby rotations of the input are hoisted (one decomposition, one inner
//! product per step), each giant step is one more key switch, so the Galois keys number about
//! `2·sqrt(terms)` instead of one per term.
//!
//! * **Dense** (Gazelle's hybrid diagonal method): with `m_i = 2^⌈log n_in⌉`,
//!   `m_o = 2^⌈log n_out⌉` and the input replicated cyclically (period `m_i`), if `m_o ≤ m_i`
//!   `z = Σ_{d<m_o} rot(x, d) ⊙ diag_d` with `diag_d[j] = W[j mod m_o][(j+d) mod m_i]`
//!   (`j < m_i`), then `log(m_i/m_o)` rotate-and-add steps fold `z` onto the first `m_o`
//!   slots; if `m_o > m_i`, `z = Σ_{d<m_i} rot(x, d) ⊙ diag_d` with
//!   `diag_d[j] = W[j][(j+d) mod m_i]` (`j < m_o`) and no fold.
//! * **Convolution** (per-channel rotations): input channel `c` occupies the block
//!   `[c·B, (c+1)·B)` with `B = H_p·W_p` (the zero-padded image, row-major); output `(o, y, x)`
//!   sits at `o·B + (y·s)·W_p + x·s`. Rotating the input by `δ + (c−o)·B` with
//!   `δ = k_y·W_p + k_x` brings input pixel `(c, y·s+k_y, x·s+k_x)` to that slot, so
//!   `out = Σ_{k=c−o} Σ_δ rot(x, δ + k·B) ⊙ P_{k,δ}` where `P_{k,δ}` holds `w[o][o+k][k_y][k_x]`
//!   at the output slots of channel `o`. Pooling is the case of diagonal channel mixing (only
//!   `k = 0`).
//!
//! Layers must fit one ciphertext (`2·m_i ≤ n/2`, resp. `max(C_in, C_out)·B ≤ n/2`);
//! larger layers are refused with a clear error (multi-ciphertext packing is future work).

use super::layer::{Conv2d, Dense, Kernel, LayerShape, LinearLayer};
use super::packing::Packing;
use crate::error::TwoPcError;
use crate::share::ShareField;
use henn_he::bfv::{BatchEncoder, Evaluator, PlaintextOperand};
use henn_he::rlwe::{Ciphertext, GaloisKeys};

/// The dense geometry `(m_i, m_o, copies, diagonals, fold steps)`.
fn dense_geometry(inputs: usize, outputs: usize) -> (usize, usize, usize, usize, Vec<i64>) {
    let mi = inputs.next_power_of_two();
    let mo = outputs.next_power_of_two();
    if mo <= mi {
        let mut folds = Vec::new();
        let mut s = mo;
        while s < mi {
            folds.push(s as i64);
            s *= 2;
        }
        (mi, mo, 2, mo, folds)
    } else {
        (mi, mo, mo / mi + 1, mi, Vec::new())
    }
}

/// The slot packing of a layer at ring degree `n`.
pub fn packing(shape: &LayerShape, n: usize) -> Result<Packing, TwoPcError> {
    let row = n / 2;
    match *shape {
        LayerShape::Dense { inputs, outputs } => {
            let (mi, _mo, copies, diags, folds) = dense_geometry(inputs, outputs);
            if copies * mi > row || outputs > row {
                return Err(TwoPcError::Config(format!(
                    "dense {inputs}→{outputs} needs {} slots in a row of {row} (slot encoding packs one ciphertext)",
                    copies * mi
                )));
            }
            let input: Vec<(usize, usize)> = (0..copies * mi)
                .filter(|p| p % mi < inputs)
                .map(|p| (p, p % mi))
                .collect();
            let bs = dense_baby_steps(diags);
            let mut steps: Vec<i64> = (1..bs.min(diags) as i64).collect();
            steps.extend((bs..diags).step_by(bs).map(|g| g as i64));
            steps.extend(folds);
            Ok(Packing {
                n,
                inputs: vec![input],
                outputs: (0..outputs).map(|i| (0, i)).collect(),
                output_cts: 1,
                rotation_steps: steps,
            })
        }
        LayerShape::Conv {
            in_channels,
            out_channels,
            kernel_h,
            kernel_w,
            ..
        } => {
            let (hp, wp) = shape.padded_hw();
            let b = hp * wp;
            if in_channels.max(out_channels) * b > row {
                return Err(TwoPcError::Config(format!(
                    "convolution needs {} slots in a row of {row} (slot encoding packs one ciphertext)",
                    in_channels.max(out_channels) * b
                )));
            }
            let input = shape
                .conv_input_pixels()
                .into_iter()
                .map(|(c, off, idx)| (c * b + off, idx))
                .collect();
            let outputs = shape
                .conv_output_anchors()
                .into_iter()
                .map(|(o, a)| (0, o * b + a))
                .collect();
            let mut steps: Vec<i64> = (1..kernel_w as i64).collect();
            for k in -(out_channels as i64 - 1)..in_channels as i64 {
                for ky in 0..kernel_h {
                    steps.push((ky * wp) as i64 + k * b as i64);
                }
            }
            steps.retain(|&s| s != 0);
            Ok(Packing {
                n,
                inputs: vec![input],
                outputs,
                output_cts: 1,
                rotation_steps: steps,
            })
        }
    }
}

/// Baby-step count of the dense diagonals: the power of two nearest `sqrt(diagonals)`.
fn dense_baby_steps(diags: usize) -> usize {
    ((diags as f64).sqrt().ceil() as usize)
        .next_power_of_two()
        .min(diags.max(1))
}

/// The server's pre-encoded weights in baby-step giant-step form (Halevi–Shoup 2014, as in
/// Gazelle): `Σ_{g,b} P_{g,b} ⊙ rot_{g+b}(x) = Σ_g rot_g(Σ_b rot_{−g}(P_{g,b}) ⊙ rot_b(x))`,
/// with the baby rotations of the input hoisted. Dense: `d = g + b`, `b < bs ≈ sqrt(m_o)`;
/// convolution: `b = k_x`, `g = k_y·W_p + k·B`. Then the fold steps of the dense method.
#[derive(Debug)]
pub struct SlotPlan {
    babies: Vec<i64>,
    groups: Vec<(i64, Vec<(usize, PlaintextOperand)>)>,
    folds: Vec<i64>,
}

/// Upper bounds on the ct × pt products and the giant-step rotations of a slot plan:
/// `(products, giant rotations)`.
pub fn slot_cost(shape: &LayerShape) -> (usize, usize) {
    match *shape {
        LayerShape::Dense { inputs, outputs } => {
            let (_, _, _, diags, _) = dense_geometry(inputs, outputs);
            (diags, diags.div_ceil(dense_baby_steps(diags)))
        }
        LayerShape::Conv {
            in_channels,
            out_channels,
            kernel_h,
            kernel_w,
            ..
        } => {
            let t = (in_channels + out_channels - 1) * kernel_h;
            (t * kernel_w, t)
        }
    }
}

fn centered(field: &ShareField, w: i64) -> i64 {
    field.to_signed(field.from_signed(w))
}

fn dense_terms(field: &ShareField, d: &Dense, row: usize) -> Vec<(i64, i64, Vec<i64>)> {
    let (mi, mo, _, diags, _) = dense_geometry(d.inputs, d.outputs);
    let rows = if mo <= mi { mi } else { mo };
    (0..diags)
        .map(|dg| {
            let mut v = vec![0i64; row];
            for (j, slot) in v.iter_mut().enumerate().take(rows) {
                let (o, i) = if mo <= mi {
                    (j % mo, (j + dg) % mi)
                } else {
                    (j, (j + dg) % mi)
                };
                if o < d.outputs && i < d.inputs {
                    *slot = centered(field, d.weights[o * d.inputs + i]);
                }
            }
            let bs = dense_baby_steps(diags);
            ((dg - dg % bs) as i64, (dg % bs) as i64, v)
        })
        .collect()
}

fn conv_terms(field: &ShareField, c: &Conv2d, row: usize) -> Vec<(i64, i64, Vec<i64>)> {
    let (hp, wp) = (c.height + c.pad.0 + c.pad.1, c.width + c.pad.2 + c.pad.3);
    let b = hp * wp;
    let (oh, ow) = c.output_hw();
    let mut terms = Vec::new();
    for k in -(c.out_channels as i64 - 1)..c.in_channels as i64 {
        for ky in 0..c.kernel_h {
            for kx in 0..c.kernel_w {
                let mut v = vec![0i64; row];
                let mut nonzero = false;
                for o in 0..c.out_channels {
                    let ci = o as i64 + k;
                    if ci < 0 || ci >= c.in_channels as i64 {
                        continue;
                    }
                    let w = centered(field, c.weight(o, ci as usize, ky, kx));
                    if w == 0 {
                        continue;
                    }
                    nonzero = true;
                    for y in 0..oh {
                        for x in 0..ow {
                            v[o * b + y * c.stride * wp + x * c.stride] = w;
                        }
                    }
                }
                if nonzero {
                    terms.push(((ky * wp) as i64 + k * b as i64, kx as i64, v));
                }
            }
        }
    }
    terms
}

impl SlotPlan {
    /// Encodes the layer's weights as plaintext operands at `level`.
    pub fn new(
        layer: &LinearLayer,
        field: &ShareField,
        encoder: &BatchEncoder,
        level: usize,
    ) -> Result<Self, TwoPcError> {
        let row = encoder.slot_count() / 2;
        let (terms, folds) = match layer.kernel() {
            Kernel::Dense(d) => (
                dense_terms(field, d, row),
                dense_geometry(d.inputs, d.outputs).4,
            ),
            Kernel::Conv(c) => (conv_terms(field, &c, row), Vec::new()),
        };
        let mut babies: Vec<i64> = vec![0];
        let mut groups: Vec<(i64, Vec<(usize, PlaintextOperand)>)> = Vec::new();
        for (g, b, v) in terms {
            if v.iter().all(|&x| x == 0) {
                continue;
            }
            // rot_{-g}(P) on row 0: P'[i] = P[(i - g) mod row]
            let shift = g.rem_euclid(row as i64) as usize;
            let mut rotated = vec![0i64; row];
            for (i, slot) in rotated.iter_mut().enumerate() {
                *slot = v[(i + row - shift) % row];
            }
            let op = encoder.encode_operand(&rotated, level).map_err(he)?;
            let bi = match babies.iter().position(|&x| x == b) {
                Some(i) => i,
                None => {
                    babies.push(b);
                    babies.len() - 1
                }
            };
            match groups.iter_mut().find(|(x, _)| *x == g) {
                Some((_, list)) => list.push((bi, op)),
                None => groups.push((g, vec![(bi, op)])),
            }
        }
        Ok(Self {
            babies,
            groups,
            folds,
        })
    }

    /// Evaluates `Enc(M·x)` from `Enc(x)` (one hoisted decomposition for the baby steps, one
    /// key switch per giant step and per fold).
    pub fn evaluate(
        &self,
        eval: &Evaluator,
        input: &Ciphertext,
        keys: &GaloisKeys,
    ) -> Result<Ciphertext, TwoPcError> {
        let rotated = eval.rotate_hoisted(input, &self.babies, keys).map_err(he)?;
        let mut acc: Option<Ciphertext> = None;
        for (g, list) in &self.groups {
            let mut inner: Option<Ciphertext> = None;
            for (bi, op) in list {
                let prod = eval.mul_plain(&rotated[*bi], op).map_err(he)?;
                match inner.as_mut() {
                    Some(a) => eval.add_assign(a, &prod).map_err(he)?,
                    None => inner = Some(prod),
                }
            }
            let Some(inner) = inner else { continue };
            let inner = if *g == 0 {
                inner
            } else {
                eval.rotate(&inner, *g, keys).map_err(he)?
            };
            match acc.as_mut() {
                Some(a) => eval.add_assign(a, &inner).map_err(he)?,
                None => acc = Some(inner),
            }
        }
        let mut acc = match acc {
            Some(a) => a,
            None => eval.mul_integer(input, 0).map_err(he)?,
        };
        for &s in &self.folds {
            let r = eval.rotate(&acc, s, keys).map_err(he)?;
            eval.add_assign(&mut acc, &r).map_err(he)?;
        }
        Ok(acc)
    }
}

pub(crate) fn he(e: henn_he::HeError) -> TwoPcError {
    TwoPcError::Config(format!("HE engine: {e}"))
}
