//! A rule-based planner and an executor for whole networks (LoLa sections 4.3 and 4.4).
//!
//! The planner walks an [`IntNetwork`] and picks, per layer, a representation and a kernel the
//! way the paper did by hand, but derived from the backend geometry: e.g. how many copies of a
//! vector are stacked depends on the row length, so with BFV at `n = 8192` (rows of 4096) the
//! MNIST network gets 4 copies per row in both rows (8 copies, 13 rounds: Table 1), and with
//! CKKS-like single rows 4 copies (25 rounds). [`Strategy`] selects the paper's LoLa choices,
//! the same with baby-step giant-step diagonal products for dense layers, or CryptoNets' SIMD
//! baseline. A cost-driven planner can replace [`plan`] later: plans are plain data.
//!
//! The executor runs a plan with any [`SlotEvaluator`] (the server's side; every weight it
//! encodes is keyed by (step, ordinal), [`crate::backend::steps`]); [`profile`] runs it on the clear backend
//! and reports operation counts, levels, value ranges and the rotation steps (Galois keys)
//! step by step — the reproduction of the paper's Table 1.

use std::fmt;

use crate::backend::clear::{ClearBackend, OpCounts, OpKind};
use crate::backend::steps::StepEvaluator;
use crate::backend::{SlotEncoding, SlotEvaluator, SlotValue};
use crate::encrypted::{decrypt_vector, encrypt_vector, EncryptedVector};
use crate::error::{InferError, InferResult};
use crate::kernels::{
    bsgs, combine, convolution, elementwise, relayout, row_major, simd, sparse, stacked,
};
use crate::matrix::Matrix;
use crate::network::{IntLayer, IntNetwork};
use crate::representation::{
    Convolution, Dense, Representation, Simd, SlotGeometry, StackedConvolution,
};

/// Which family of kernels the planner uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// LoLa (section 4.3): convolution representation for a first convolution, stacked vector
    /// – row major for dense layers on dense vectors, interleaved / dense row major into sparse
    /// outputs, sparse column major after sparse vectors.
    LoLa,
    /// As [`Strategy::LoLa`], but dense layers on dense vectors use the diagonal baby-step
    /// giant-step product (dense → dense) whenever the matrix fits one row.
    LoLaBsgs,
    /// LoLa-Dense (section 4.3): the client sends a dense input; the server moves it into the
    /// convolution representation with hoisted rotations and masks, then continues as LoLa.
    LoLaDense,
    /// CryptoNets (section 3.2): SIMD representation, one record per slot, no rotations.
    CryptoNets,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Dense input → convolution representation of layer `layer`'s input (LoLa-Dense).
    ToConvolution {
        /// Layer index.
        layer: usize,
    },
    /// Convolution vector – row major for layer `layer` (→ dense per map).
    ConvRowMajor {
        /// Layer index.
        layer: usize,
    },
    /// Stacked convolution vector – row major for layer `layer` (→ clean stacked vector of
    /// all maps; see [`crate::representation::StackedConvolution`]).
    StackedConvRowMajor {
        /// Layer index.
        layer: usize,
    },
    /// Stack copies of a dense vector (→ stacked).
    Stack {
        /// Block (power of two).
        block: usize,
        /// Copies per row.
        copies_per_row: usize,
        /// Rows used.
        rows_used: usize,
    },
    /// Stacked vector – row major (→ interleaved, several messages).
    StackedRowMajor {
        /// Layer index.
        layer: usize,
    },
    /// Dense / interleaved vector – row major (→ sparse).
    RowMajor {
        /// Layer index.
        layer: usize,
    },
    /// Sparse vector – column major (→ dense).
    ColumnMajor {
        /// Layer index.
        layer: usize,
    },
    /// Diagonal baby-step giant-step product on a row-stacked vector (→ dense).
    Bsgs {
        /// Layer index.
        layer: usize,
    },
    /// Rectangular (non-wrapping) diagonal BSGS on a single-message dense vector that need not
    /// be clean (→ clean dense): no mask after a hybrid diagonal product.
    DenseBsgs {
        /// Layer index.
        layer: usize,
    },
    /// Diagonal BSGS on a vector spread over several messages (→ stacked, one message): LoLa
    /// section 4.4's CIFAR layer 2 when its 16268 inputs exceed one row (see
    /// [`bsgs::block_diagonal_bsgs`]).
    BlockBsgs {
        /// Layer index.
        layer: usize,
    },
    /// Moves a multi-message vector into dense chunks of `chunk` slots (row 0 of
    /// `⌈len / chunk⌉` messages) by hoisted rotations and masks, for [`Step::BlockBsgs`].
    Pack {
        /// Elements per message.
        chunk: usize,
    },
    /// CryptoNets weighted sums (SIMD → SIMD).
    SimdLinear {
        /// Layer index.
        layer: usize,
    },
    /// Combine messages into one (masking first when needed).
    Combine,
    /// Sparse → dense by unit masks.
    SparseToDense,
    /// Square activation.
    Square,
    /// Bias of layer `layer`.
    AddBias {
        /// Layer index.
        layer: usize,
    },
}

impl Step {
    /// Description in the words of the paper.
    pub fn describe(&self) -> String {
        match self {
            Step::ToConvolution { layer } => format!("L{layer} dense to convolution (hoisted)"),
            Step::ConvRowMajor { layer } => format!("L{layer} convolution vector - row major"),
            Step::StackedConvRowMajor { layer } => {
                format!("L{layer} stacked convolution vector - row major")
            }
            Step::Stack {
                block,
                copies_per_row,
                rows_used,
            } => format!("stack {copies_per_row}x{rows_used} copies (block {block})"),
            Step::StackedRowMajor { layer } => format!("L{layer} stacked vector - row major"),
            Step::RowMajor { layer } => format!("L{layer} dense/interleaved vector - row major"),
            Step::ColumnMajor { layer } => format!("L{layer} sparse vector - column major"),
            Step::Bsgs { layer } => format!("L{layer} diagonal BSGS (hoisted)"),
            Step::DenseBsgs { layer } => format!("L{layer} rectangular diagonal BSGS (hoisted)"),
            Step::SimdLinear { layer } => format!("L{layer} SIMD weighted sums"),
            Step::BlockBsgs { layer } => {
                format!("L{layer} multi-message diagonal BSGS (hoisted)")
            }
            Step::Pack { chunk } => format!("pack into messages of {chunk}"),
            Step::Combine => "combine to one vector".into(),
            Step::SparseToDense => "sparse to dense".into(),
            Step::Square => "square".into(),
            Step::AddBias { layer } => format!("L{layer} bias"),
        }
    }

    /// Whether the step multiplies (and is followed by a rescale when the plan rescales).
    /// `Combine` multiplies only when its input is not clean (it masks first).
    fn multiplies(&self) -> bool {
        !matches!(
            self,
            Step::Stack { .. } | Step::AddBias { .. } | Step::Combine
        )
    }
}

/// A plan: the client's input representation and the server's steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Strategy it was made with.
    pub strategy: Strategy,
    /// Slot geometry it was made for.
    pub geometry: SlotGeometry,
    /// How the client encodes its input.
    pub input: Representation,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Rescale (CKKS) / modulus-switch (BFV) after every multiplying step.
    pub rescale: bool,
}

#[derive(Clone, Copy, Debug)]
enum Sym {
    Conv,
    StackedConv,
    Dense {
        len: usize,
        messages: usize,
    },
    Sparse {
        len: usize,
    },
    Interleaved {
        len: usize,
        messages: usize,
    },
    /// Dense chunks of one row each (after [`Step::Pack`]), never combined into one message.
    Blocks,
    Simd,
}

/// The block of the stacked convolution representation for a network whose first layer is a
/// convolution followed (after element-wise layers) by a dense layer the BSGS kernel takes:
/// the block that dense layer's `Stack` step uses, `2^⌈log2 max(in, out)⌉`. `None` when the
/// layout does not fit one row or the convolution is not followed by such a layer.
fn stacked_conv_block<V: SlotValue>(net: &IntNetwork<V>, g: SlotGeometry) -> Option<usize> {
    let IntLayer::Conv2d { geometry, .. } = net.layers.first()? else {
        return None;
    };
    let conv_out = geometry.out_channels * geometry.positions();
    let next = net.layers[1..]
        .iter()
        .find(|l| !matches!(l, IntLayer::Square))?;
    if matches!(next, IntLayer::Conv2d { .. }) {
        return None;
    }
    let block = conv_out.max(next.output_len(0)).next_power_of_two();
    (block <= g.row_len && geometry.window() >= 1).then_some(block)
}

/// Plans `net` for a backend geometry with the given strategy (rescaling after multiplications).
pub fn plan<V: SlotValue>(
    net: &IntNetwork<V>,
    g: SlotGeometry,
    strategy: Strategy,
) -> InferResult<Plan> {
    net.validate()?;
    let mut steps = Vec::new();
    let (input, mut sym) = match (&net.layers.first(), strategy) {
        (_, Strategy::CryptoNets) => (Representation::Simd(Simd { len: net.input_len }), Sym::Simd),
        (Some(IntLayer::Conv2d { geometry, .. }), Strategy::LoLaDense)
            if geometry.positions() <= g.row_len && geometry.input_len() <= g.row_len =>
        {
            steps.push(Step::ToConvolution { layer: 0 });
            (Representation::dense(net.input_len), Sym::Conv)
        }
        (Some(IntLayer::Conv2d { geometry, .. }), Strategy::LoLaBsgs)
            if stacked_conv_block(net, g).is_some() =>
        {
            let block = stacked_conv_block(net, g).unwrap_or(g.row_len);
            (
                Representation::StackedConvolution(StackedConvolution::conv2d(
                    geometry, block, g.row_len,
                )?),
                Sym::StackedConv,
            )
        }
        (Some(IntLayer::Conv2d { geometry, .. }), _) if geometry.positions() <= g.row_len => (
            Representation::Convolution(Convolution::conv2d(geometry)?),
            Sym::Conv,
        ),
        _ => {
            let chunk = net.input_len.min(g.row_len);
            (
                Representation::Dense(Dense {
                    len: net.input_len,
                    chunk,
                }),
                Sym::Dense {
                    len: net.input_len,
                    messages: net.input_len.div_ceil(chunk),
                },
            )
        }
    };
    let fits_one = |len: usize| len <= g.slots();
    let combined = |len: usize| {
        if len <= g.row_len {
            Sym::Dense { len, messages: 1 }
        } else {
            Sym::Interleaved { len, messages: 1 }
        }
    };
    let last = net.layers.len().saturating_sub(1);
    for (i, layer) in net.layers.iter().enumerate() {
        let out_len = match layer {
            IntLayer::Square => {
                match sym {
                    Sym::Sparse { len } if len > 1 && len <= g.row_len => {
                        steps.push(Step::SparseToDense);
                        steps.push(Step::Square);
                        sym = Sym::Dense { len, messages: 1 };
                    }
                    Sym::Dense { len, messages } | Sym::Interleaved { len, messages }
                        if messages > 1 && fits_one(len) =>
                    {
                        steps.push(Step::Combine);
                        steps.push(Step::Square);
                        sym = combined(len);
                    }
                    _ => steps.push(Step::Square),
                }
                continue;
            }
            other => other.output_len(0),
        };
        let is_conv = matches!(layer, IntLayer::Conv2d { .. });
        if let (Sym::StackedConv, true) = (sym, is_conv) {
            // One clean stacked vector, which the next BSGS layer's `Stack` step takes as it is.
            steps.push(Step::StackedConvRowMajor { layer: i });
            sym = Sym::Dense {
                len: out_len,
                messages: 1,
            };
        } else if let Sym::Simd = sym {
            steps.push(Step::SimdLinear { layer: i });
        } else if let (Sym::Conv, true) = (sym, is_conv) {
            steps.push(Step::ConvRowMajor { layer: i });
            let maps = match layer {
                IntLayer::Conv2d { geometry, .. } => geometry.out_channels,
                _ => 1,
            };
            sym = Sym::Dense {
                len: out_len,
                messages: maps,
            };
            if strategy == Strategy::LoLaBsgs && i != last && out_len > g.row_len {
                // Longer than a row (CIFAR: 83 × 196): row-sized chunks for the diagonal
                // product of the next layer instead of one message over both BFV rows.
                steps.push(Step::Pack { chunk: g.row_len });
                sym = Sym::Blocks;
            } else if maps > 1 && i != last && fits_one(out_len) {
                steps.push(Step::Combine);
                sym = combined(out_len);
            }
        } else {
            if let Sym::Dense { len, messages } | Sym::Interleaved { len, messages } = sym {
                if messages > 1 && fits_one(len) {
                    steps.push(Step::Combine);
                    sym = combined(len);
                }
            }
            let block_bsgs =
                strategy == Strategy::LoLaBsgs && out_len.next_power_of_two() <= g.row_len;
            sym = match sym {
                Sym::Blocks if block_bsgs => {
                    steps.push(Step::BlockBsgs { layer: i });
                    Sym::Dense {
                        len: out_len,
                        messages: 1,
                    }
                }
                Sym::Dense { messages, .. } if block_bsgs && messages > 1 => {
                    steps.push(Step::BlockBsgs { layer: i });
                    Sym::Dense {
                        len: out_len,
                        messages: 1,
                    }
                }
                Sym::Sparse { .. } => {
                    steps.push(Step::ColumnMajor { layer: i });
                    Sym::Dense {
                        len: out_len,
                        messages: out_len.div_ceil(g.row_len),
                    }
                }
                Sym::Dense { len, messages: 1 } => {
                    let d = len.max(out_len).next_power_of_two();
                    let block = len.next_power_of_two();
                    let copies = (g.row_len / block) * g.rows;
                    if strategy == Strategy::LoLaBsgs && d <= g.row_len {
                        // The output is a clean stacked vector (periodic diagonals, see
                        // kernels::bsgs), so the next BSGS layer needs no mask.
                        steps.push(Step::Stack {
                            block: d,
                            copies_per_row: g.row_len / d,
                            rows_used: 1,
                        });
                        steps.push(Step::Bsgs { layer: i });
                        Sym::Dense {
                            len: out_len,
                            messages: 1,
                        }
                    } else if copies >= 2 {
                        steps.push(Step::Stack {
                            block,
                            copies_per_row: g.row_len / block,
                            rows_used: g.rows,
                        });
                        steps.push(Step::StackedRowMajor { layer: i });
                        let rounds = out_len.div_ceil(copies);
                        if rounds > 1 && i != last && fits_one(out_len) {
                            steps.push(Step::Combine);
                            Sym::Interleaved {
                                len: out_len,
                                messages: 1,
                            }
                        } else {
                            Sym::Interleaved {
                                len: out_len,
                                messages: rounds,
                            }
                        }
                    } else {
                        steps.push(Step::RowMajor { layer: i });
                        Sym::Sparse { len: out_len }
                    }
                }
                _ => {
                    steps.push(Step::RowMajor { layer: i });
                    Sym::Sparse { len: out_len }
                }
            };
        }
        if layer.expanded_bias().is_some() {
            steps.push(Step::AddBias { layer: i });
        }
    }
    Ok(Plan {
        strategy,
        geometry: g,
        input,
        steps,
        rescale: true,
    })
}

/// Runs a plan on encrypted input (server side). `observe(i, step, input_repr, output)` is
/// called after every step (the clear backend's profiler uses it).
pub fn execute<B: SlotEvaluator>(
    evaluator: &B,
    net: &IntNetwork<B::Value>,
    plan: &Plan,
    x: EncryptedVector<B::Ciphertext>,
    mut observe: impl FnMut(usize, &Step, &Representation, &EncryptedVector<B::Ciphertext>),
) -> InferResult<EncryptedVector<B::Ciphertext>> {
    net.validate()?;
    if plan.geometry != SlotGeometry::of(evaluator) {
        return Err(InferError::DoesNotFit(format!(
            "plan made for {:?}, backend is {:?}",
            plan.geometry,
            SlotGeometry::of(evaluator)
        )));
    }
    if x.repr != plan.input {
        return Err(InferError::InvalidRepresentation(
            "input is not in the plan's representation".into(),
        ));
    }
    let layer = |i: usize| {
        net.layers
            .get(i)
            .ok_or_else(|| InferError::InvalidModel(format!("plan refers to missing layer {i}")))
    };
    // Layer matrices are built once per run and borrowed (CIFAR's second layer unrolled is
    // 4075 × 16268).
    let mut matrices: Vec<Option<Matrix<B::Value>>> = vec![None; net.layers.len()];
    let mut x = x;
    for (idx, step) in plan.steps.iter().enumerate() {
        let b = &StepEvaluator::new(evaluator, idx);
        let input_repr = x.repr.clone();
        let mut multiplied = step.multiplies();
        let y = match step {
            Step::ToConvolution { layer: i } => match layer(*i)? {
                IntLayer::Conv2d { geometry, .. } => relayout::relayout(
                    b,
                    &x,
                    Representation::Convolution(Convolution::conv2d(geometry)?),
                )?,
                _ => {
                    return Err(InferError::InvalidModel(format!(
                        "layer {i} is no convolution"
                    )))
                }
            },
            Step::ConvRowMajor { layer: i } => match layer(*i)? {
                IntLayer::Conv2d {
                    geometry, weights, ..
                } => convolution::convolution_row_major(b, &x, weights, geometry.out_channels)?,
                _ => {
                    return Err(InferError::InvalidModel(format!(
                        "layer {i} is no convolution"
                    )))
                }
            },
            Step::StackedConvRowMajor { layer: i } => match layer(*i)? {
                IntLayer::Conv2d {
                    geometry, weights, ..
                } => convolution::stacked_convolution_row_major(
                    b,
                    &x,
                    weights,
                    geometry.out_channels,
                )?,
                _ => {
                    return Err(InferError::InvalidModel(format!(
                        "layer {i} is no convolution"
                    )))
                }
            },
            Step::Stack {
                block,
                copies_per_row,
                rows_used,
            } => {
                match &x.repr {
                    // Diagonal BSGS leaves its output stacked already: nothing to do.
                    Representation::Stacked(s)
                        if x.clean
                            && s.block == *block
                            && s.copies_per_row == *copies_per_row
                            && s.rows_used == *rows_used =>
                    {
                        multiplied = false;
                        x.clone()
                    }
                    _ => {
                        // A vector stacked differently keeps its first copy (mask); a vector
                        // left with partial sums is masked before stacking.
                        let x = match &x.repr {
                            Representation::Stacked(s) => EncryptedVector::new(
                                Representation::Dense(Dense {
                                    len: s.len,
                                    chunk: s.len.max(1),
                                }),
                                x.cts.clone(),
                                false,
                            )?,
                            _ => x.clone(),
                        };
                        multiplied = !x.clean;
                        let clean = if x.clean { x } else { combine::mask(b, &x)? };
                        stacked::stack(b, &clean, *block, *copies_per_row, *rows_used)?
                    }
                }
            }
            Step::StackedRowMajor { layer: i } => {
                stacked::stacked_row_major(b, &x, layer_matrix(&mut matrices, net, *i)?)?
            }
            Step::RowMajor { layer: i } => {
                row_major::row_major(b, &x, layer_matrix(&mut matrices, net, *i)?)?
            }
            Step::ColumnMajor { layer: i } => {
                sparse::sparse_column_major(b, &x, layer_matrix(&mut matrices, net, *i)?)?
            }
            Step::Bsgs { layer: i } => {
                bsgs::diagonal_bsgs(b, &x, layer_matrix(&mut matrices, net, *i)?, None)?
            }
            Step::DenseBsgs { layer: i } => {
                bsgs::dense_diagonal_bsgs(b, &x, layer_matrix(&mut matrices, net, *i)?, None)?
            }
            Step::BlockBsgs { layer: i } => {
                bsgs::block_diagonal_bsgs(b, &x, layer_matrix(&mut matrices, net, *i)?, None)?
            }
            Step::Pack { chunk } => relayout::relayout(
                b,
                &x,
                Representation::Dense(Dense {
                    len: x.repr.len(),
                    chunk: *chunk,
                }),
            )?,
            Step::SimdLinear { layer: i } => {
                simd::simd_linear(b, &x, layer_matrix(&mut matrices, net, *i)?)?
            }
            Step::Combine => {
                multiplied = combine::combine_multiplies(&x, &SlotGeometry::of(b));
                combine::combine(b, &x)?
            }
            Step::SparseToDense => sparse::sparse_to_dense(b, &x)?,
            Step::Square => elementwise::square(b, &x)?,
            Step::AddBias { layer: i } => {
                let bias = layer(*i)?
                    .expanded_bias()
                    .ok_or_else(|| InferError::InvalidModel(format!("layer {i} has no bias")))?;
                elementwise::add_bias(b, &x, &bias)?
            }
        };
        x = if plan.rescale && multiplied {
            elementwise::rescale(b, &y)?
        } else {
            y
        };
        observe(idx, step, &input_repr, &x);
    }
    Ok(x)
}

/// The matrix of layer `i`, built on first use and kept in `cache`.
fn layer_matrix<'a, V: crate::backend::SlotValue>(
    cache: &'a mut [Option<Matrix<V>>],
    net: &IntNetwork<V>,
    i: usize,
) -> InferResult<&'a Matrix<V>> {
    let missing = || InferError::InvalidModel(format!("plan refers to missing layer {i}"));
    let slot = cache.get_mut(i).ok_or_else(missing)?;
    if slot.is_none() {
        *slot = net.layers.get(i).ok_or_else(missing)?.matrix()?;
    }
    slot.as_ref()
        .ok_or_else(|| InferError::InvalidModel(format!("layer {i} is not linear")))
}

/// One row of a plan report.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// What ran.
    pub step: Step,
    /// Input representation name.
    pub input_repr: &'static str,
    /// Input `(messages, dimension)` as in Table 1.
    pub input_shape: (usize, usize),
    /// Output representation name.
    pub output_repr: &'static str,
    /// Output `(messages, dimension)`.
    pub output_shape: (usize, usize),
    /// Operations of this step.
    pub ops: OpCounts,
    /// Level of the output.
    pub level: usize,
}

/// Step-by-step report of a plan run on the clear backend.
#[derive(Clone, Debug)]
pub struct PlanReport {
    /// Rows.
    pub steps: Vec<StepReport>,
    /// All operations (without the client's encryption), rotation steps, ranges and depth.
    pub total: OpCounts,
}

/// Encrypts `input` on the clear backend, runs the plan, decrypts; reports every step.
pub fn profile<V: SlotValue>(
    b: &ClearBackend<V>,
    net: &IntNetwork<V>,
    plan: &Plan,
    input: &[V],
) -> InferResult<(Vec<V>, PlanReport)> {
    let g = SlotGeometry::of(b);
    let x = encrypt_vector(b, plan.input.clone(), input)?;
    let start = b.counts();
    let mut before = start.clone();
    let mut steps = Vec::with_capacity(plan.steps.len());
    let y = execute(b, net, plan, x, |_, step, input_repr, out| {
        let now = b.counts();
        steps.push(StepReport {
            step: step.clone(),
            input_repr: input_repr.name(),
            input_shape: input_repr.shape(&g),
            output_repr: out.repr.name(),
            output_shape: out.repr.shape(&g),
            ops: now.since(&before),
            level: out.cts.first().map_or(0, |c| b.level(c)),
        });
        before = now;
    })?;
    let total = b.counts().since(&start);
    let out = decrypt_vector(b, &y)?;
    Ok((out, PlanReport { steps, total }))
}

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<44} {:>18} {:>18} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5}",
            "step", "input", "output", "rot", "hoist", "ct*pt", "ct*s", "ct*ct", "add", "level"
        )?;
        for s in &self.steps {
            let shape = |r: &str, (m, d): (usize, usize)| format!("{m}x{d} {r}");
            writeln!(
                f,
                "{:<44} {:>18} {:>18} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5}",
                s.step.describe(),
                shape(s.input_repr, s.input_shape),
                shape(s.output_repr, s.output_shape),
                s.ops.total(OpKind::Rotate) + s.ops.total(OpKind::SwapRows),
                s.ops.total(OpKind::HoistedRotate),
                s.ops.total(OpKind::MulPlain),
                s.ops.total(OpKind::MulScalar),
                s.ops.total(OpKind::MulRelin),
                s.ops.total(OpKind::Add) + s.ops.total(OpKind::AddPlain),
                s.level
            )?;
        }
        writeln!(f, "total: {}", self.total)?;
        let steps: Vec<String> = self
            .total
            .rotation_steps
            .iter()
            .take(32)
            .map(usize::to_string)
            .collect();
        let more = self.total.rotation_steps.len().saturating_sub(32);
        writeln!(
            f,
            "rotation steps ({}): {}{}",
            self.total.rotation_steps.len(),
            steps.join(" "),
            if more > 0 {
                format!(" … (+{more})")
            } else {
                String::new()
            }
        )?;
        write!(
            f,
            "max |slot| = {}, depth {} (ct x ct {})",
            self.total.max_magnitude, self.total.max_depth, self.total.max_ct_depth
        )
    }
}

/// The evaluation keys a plan needs (what the client generates and uploads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequirements {
    /// Rotation steps in `0..row_len` (one Galois key each, column rotations).
    pub rotation_steps: std::collections::BTreeSet<usize>,
    /// Whether the BFV row swap key is needed.
    pub row_swap: bool,
    /// Whether a relinearization key is needed (any ct×ct).
    pub relinearization: bool,
}

/// Finds the keys a plan needs by a dry run on the clear backend with a zero input (the
/// rotations a plan performs do not depend on the input values).
pub fn key_requirements<V: SlotValue>(
    net: &IntNetwork<V>,
    plan: &Plan,
    levels: usize,
) -> InferResult<KeyRequirements> {
    let b = ClearBackend::<V>::new(plan.geometry.rows, plan.geometry.row_len, levels)?;
    let (_, report) = profile(&b, net, plan, &vec![V::ZERO; net.input_len])?;
    Ok(KeyRequirements {
        rotation_steps: report.total.rotation_steps.clone(),
        row_swap: report.total.total(OpKind::SwapRows) > 0,
        relinearization: report.total.total(OpKind::MulRelin) > 0,
    })
}
