//! Rotation-free coefficient encoding as in Cheetah (Huang et al., USENIX Security 2022, §3):
//! inputs and weights are packed into polynomial coefficients so that one polynomial product
//! `x̂ · ŵ` in `Z_p[X]/(X^n + 1)` holds the wanted inner products at known coefficients. No
//! rotations, hence no Galois keys.
//!
//! * **Dense** (Cheetah §3.2, matrix-vector): the input is cut into blocks of `n_i'` values and
//!   the outputs into blocks of `n_o'` with `n_o'·n_i' ≤ n`; `x̂_b = Σ_j x[b·n_i'+j]·X^j` and
//!   `ŵ_{a,b} = Σ_{i,j} W[a·n_o'+i][b·n_i'+j]·X^{i·n_i' + n_i' − 1 − j}`; then coefficient
//!   `i·n_i' + n_i' − 1` of `Σ_b x̂_b·ŵ_{a,b}` is output `a·n_o' + i`. `n_o'·n_i' ≤ n` keeps the
//!   negacyclic wrap-around away from these coefficients. The split minimizes the ciphertext
//!   bytes sent (inputs at the top level, outputs at the output level).
//! * **Convolution** (Cheetah §3.1): with the zero-padded `H_p × W_p` image and `C'` channels
//!   per ciphertext (`C'·H_p·W_p ≤ n`), `x̂_g = Σ x[c][i][j]·X^{c'·H_pW_p + i·W_p + j}` (`c'` the
//!   channel's index in group `g`) and, with `O = H_pW_p(C'−1) + W_p(h−1) + w − 1`,
//!   `ŵ_{o,g} = Σ k[o][c][l][l']·X^{O − c'·H_pW_p − l·W_p − l'}`; coefficient
//!   `O + (y·s)·W_p + x·s` of `Σ_g x̂_g·ŵ_{o,g}` is output `(o, y, x)` (valid because
//!   `y·s ≤ H_p − h`, `x·s ≤ W_p − w`). Several output channels share an output ciphertext:
//!   with `span = C'·H_pW_p + O` (a bound on the degree of one channel's product) and
//!   `per = ⌊n/span⌋` channels per ciphertext, kernel `o` is multiplied by `X^{(o mod per)·span}`,
//!   so the channels' products occupy disjoint coefficient ranges below `n` (no wrap-around)
//!   and output `(o, y, x)` is coefficient `(o mod per)·span + O + (y·s)·W_p + x·s` of output
//!   ciphertext `⌊o/per⌋`. `C'` is chosen to minimize the bytes sent (fewer channels per input
//!   ciphertext leave room for more output channels per output ciphertext).

use super::layer::{Kernel, LayerShape, LinearLayer};
use super::packing::Packing;
use super::slot::he;
use crate::error::TwoPcError;
use crate::share::ShareField;
use henn_he::bfv::{BfvParameters, Evaluator, Plaintext, PlaintextOperand};
use henn_he::rlwe::Ciphertext;

/// The dense split `(n_i', n_o')` minimizing `in_cts·in_limbs + 2·out_cts·out_limbs`.
fn dense_split(
    inputs: usize,
    outputs: usize,
    n: usize,
    in_limbs: usize,
    out_limbs: usize,
) -> (usize, usize) {
    let mut best = (usize::MAX, (1, 1));
    for in_blocks in 1..=inputs.min(4096) {
        let ni = inputs.div_ceil(in_blocks);
        if ni > n {
            continue;
        }
        let no = (n / ni).min(outputs).max(1);
        let in_cts = inputs.div_ceil(ni);
        let out_cts = outputs.div_ceil(no);
        let cost = in_cts * in_limbs + 2 * out_cts * out_limbs;
        if cost < best.0 {
            best = (cost, (ni, no));
        }
        if ni == 1 {
            break;
        }
    }
    best.1
}

/// The convolution layout: `C'` channels per input ciphertext and `per` output channels per
/// output ciphertext, kernel `o` shifted by `(o mod per)·span`.
#[derive(Clone, Copy, Debug)]
struct ConvLayout {
    hp: usize,
    wp: usize,
    /// Input channels per input ciphertext.
    cg: usize,
    /// Output channels per output ciphertext.
    per: usize,
    /// `O = H_pW_p(C'−1) + W_p(h−1) + w − 1`.
    big_o: usize,
    /// Degree bound of one channel's product `x̂·ŵ_o`: `C'·H_pW_p + O`.
    span: usize,
}

impl ConvLayout {
    fn with_groups(shape: &LayerShape, n: usize, cg: usize) -> Self {
        let (hp, wp) = shape.padded_hw();
        let (kh, kw, cout) = match *shape {
            LayerShape::Conv {
                kernel_h,
                kernel_w,
                out_channels,
                ..
            } => (kernel_h, kernel_w, out_channels),
            LayerShape::Dense { .. } => (1, 1, 1),
        };
        let big_o = hp * wp * (cg - 1) + wp * (kh - 1) + kw - 1;
        let span = cg * hp * wp + big_o;
        Self {
            hp,
            wp,
            cg,
            per: (n / span).clamp(1, cout),
            big_o,
            span,
        }
    }

    /// The layout minimizing `in_cts·in_limbs + 2·out_cts·out_limbs` over `C'`.
    fn choose(
        shape: &LayerShape,
        n: usize,
        in_limbs: usize,
        out_limbs: usize,
    ) -> Result<Self, TwoPcError> {
        let LayerShape::Conv {
            in_channels,
            out_channels,
            ..
        } = *shape
        else {
            return Err(TwoPcError::Config("not a convolution".into()));
        };
        let (hp, wp) = shape.padded_hw();
        if hp * wp > n {
            return Err(TwoPcError::Config(format!(
                "a padded {hp}×{wp} channel exceeds the ring degree {n} (coefficient encoding does not split channels spatially)"
            )));
        }
        let cost = |l: &Self| {
            in_channels.div_ceil(l.cg) * in_limbs + 2 * out_channels.div_ceil(l.per) * out_limbs
        };
        (1..=(n / (hp * wp)).min(in_channels))
            .map(|cg| Self::with_groups(shape, n, cg))
            .min_by_key(cost)
            .ok_or_else(|| TwoPcError::Config("empty convolution".into()))
    }

    /// The layout a packing was built with (channels of the first input ciphertext).
    fn of(shape: &LayerShape, packing: &Packing) -> Self {
        let per_channel = shape.input_len() / shape_channels(shape).max(1);
        let cg = packing.inputs.first().map_or(1, |c| c.len()) / per_channel.max(1);
        Self::with_groups(shape, packing.n, cg.max(1))
    }
}

fn shape_channels(shape: &LayerShape) -> usize {
    match *shape {
        LayerShape::Conv { in_channels, .. } => in_channels,
        LayerShape::Dense { .. } => 1,
    }
}

/// The coefficient packing of a layer at ring degree `n`; `in_limbs`/`out_limbs` are the
/// ciphertext sizes (primes) of inputs and outputs, used to choose the dense split.
pub fn packing(
    shape: &LayerShape,
    n: usize,
    in_limbs: usize,
    out_limbs: usize,
) -> Result<Packing, TwoPcError> {
    match *shape {
        LayerShape::Dense { inputs, outputs } => {
            let (ni, no) = dense_split(inputs, outputs, n, in_limbs, out_limbs);
            let in_cts = inputs.div_ceil(ni);
            let ins = (0..in_cts)
                .map(|b| {
                    (0..ni)
                        .filter(|j| b * ni + j < inputs)
                        .map(|j| (j, b * ni + j))
                        .collect()
                })
                .collect();
            let outs = (0..outputs)
                .map(|o| (o / no, (o % no) * ni + ni - 1))
                .collect();
            Ok(Packing {
                n,
                inputs: ins,
                outputs: outs,
                output_cts: outputs.div_ceil(no),
                rotation_steps: Vec::new(),
            })
        }
        LayerShape::Conv {
            in_channels,
            out_channels,
            kernel_h,
            kernel_w,
            ..
        } => {
            let l = ConvLayout::choose(shape, n, in_limbs, out_limbs)?;
            let mut ins = vec![Vec::new(); in_channels.div_ceil(l.cg)];
            for (c, off, idx) in shape.conv_input_pixels() {
                ins[c / l.cg].push(((c % l.cg) * l.hp * l.wp + off, idx));
            }
            let outs = shape
                .conv_output_anchors()
                .into_iter()
                .map(|(o, a)| (o / l.per, (o % l.per) * l.span + l.big_o + a))
                .collect();
            let _ = (kernel_h, kernel_w);
            Ok(Packing {
                n,
                inputs: ins,
                outputs: outs,
                output_cts: out_channels.div_ceil(l.per),
                rotation_steps: Vec::new(),
            })
        }
    }
}

/// The dense block sizes `(n_i', n_o')` of a packing (the first blocks are full).
fn dense_blocks(packing: &Packing) -> (usize, usize) {
    let ni = packing.inputs.first().map_or(1, |b| b.len()).max(1);
    let no = packing
        .outputs
        .iter()
        .filter(|(c, _)| *c == 0)
        .count()
        .max(1);
    (ni, no)
}

/// Products per output ciphertext and the largest number of nonzero weight coefficients of
/// one kernel polynomial: `(products, terms per output, max weight coefficients)`.
pub fn coeff_cost(
    shape: &LayerShape,
    packing: &Packing,
) -> Result<(usize, usize, usize), TwoPcError> {
    let in_cts = packing.inputs.len();
    match *shape {
        LayerShape::Dense { inputs, outputs } => {
            let (ni, no) = dense_blocks(packing);
            let _ = (inputs, outputs);
            Ok((in_cts * packing.output_cts, in_cts, ni * no))
        }
        LayerShape::Conv {
            kernel_h, kernel_w, ..
        } => {
            let l = ConvLayout::of(shape, packing);
            Ok((
                in_cts * packing.output_cts,
                in_cts,
                l.per * l.cg * kernel_h * kernel_w,
            ))
        }
    }
}

/// The server's kernel polynomials: `ops[a][b]` multiplies input ciphertext `b` into output
/// ciphertext `a` (`None` when the block of weights is zero).
#[derive(Debug)]
pub struct CoeffPlan {
    ops: Vec<Vec<Option<PlaintextOperand>>>,
}

impl CoeffPlan {
    /// Packs the weights into kernel polynomials (NTT form at `level`).
    pub fn new(
        layer: &LinearLayer,
        field: &ShareField,
        params: &BfvParameters,
        packing: &Packing,
        level: usize,
    ) -> Result<Self, TwoPcError> {
        let n = packing.n;
        let shape = layer.shape();
        let in_cts = packing.inputs.len();
        let mut polys = vec![vec![vec![0u64; n]; in_cts]; packing.output_cts];
        match layer.kernel() {
            Kernel::Dense(d) => {
                let (ni, no) = dense_blocks(packing);
                for o in 0..d.outputs {
                    for i in 0..d.inputs {
                        let (a, r) = (o / no, o % no);
                        let (b, j) = (i / ni, i % ni);
                        polys[a][b][r * ni + ni - 1 - j] =
                            field.from_signed(d.weights[o * d.inputs + i]);
                    }
                }
            }
            Kernel::Conv(c) => {
                let l = ConvLayout::of(&shape, packing);
                let _ = n;
                for o in 0..c.out_channels {
                    let row = &mut polys[o / l.per];
                    let shift = (o % l.per) * l.span + l.big_o;
                    for ci in 0..c.in_channels {
                        for ky in 0..c.kernel_h {
                            for kx in 0..c.kernel_w {
                                let pos = shift - ((ci % l.cg) * l.hp * l.wp + ky * l.wp + kx);
                                row[ci / l.cg][pos] = field.from_signed(c.weight(o, ci, ky, kx));
                            }
                        }
                    }
                }
            }
        }
        let ops = polys
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|p| {
                        if p.iter().all(|&x| x == 0) {
                            return Ok(None);
                        }
                        let pt = Plaintext::from_coefficients(params, &p).map_err(he)?;
                        pt.to_operand(params, level).map(Some).map_err(he)
                    })
                    .collect::<Result<Vec<_>, TwoPcError>>()
            })
            .collect::<Result<Vec<_>, TwoPcError>>()?;
        Ok(Self { ops })
    }

    /// `Enc(M·x)` per output ciphertext: `Σ_b Enc(x̂_b)·ŵ_{a,b}`.
    pub fn evaluate(
        &self,
        eval: &Evaluator,
        inputs: &[Ciphertext],
    ) -> Result<Vec<Ciphertext>, TwoPcError> {
        self.ops
            .iter()
            .map(|row| {
                let mut acc: Option<Ciphertext> = None;
                for (ct, op) in inputs.iter().zip(row) {
                    let Some(op) = op else { continue };
                    let prod = eval.mul_plain(ct, op).map_err(he)?;
                    match acc.as_mut() {
                        Some(a) => eval.add_assign(a, &prod).map_err(he)?,
                        None => acc = Some(prod),
                    }
                }
                Ok(match acc {
                    Some(a) => a,
                    None => eval.mul_integer(&inputs[0], 0).map_err(he)?,
                })
            })
            .collect()
    }
}
