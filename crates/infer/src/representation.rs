//! Message representations of a vector (LoLa section 4.2.1).
//!
//! A representation says which logical element of a vector sits in which slot of which message
//! (ciphertext). The client uses it to encode its input and decode the result
//! ([`Representation::encode`], [`Representation::decode`]); the kernels use it to place weights
//! next to the elements they multiply. Slot numbering follows [`crate::backend`]: slot `s` is
//! column `s % row_len` of row `s / row_len`.
//!
//! Every element has one *canonical* slot (where it is read) and possibly more *placements*
//! (copies written by the client: the stacked representation repeats the vector, the sparse one
//! fills every slot). Slots that are not placements are either zero ("clean", tracked by
//! [`crate::encrypted::EncryptedVector::clean`]) or hold partial sums a kernel left behind.

use crate::backend::SlotValue;
use crate::conv::Conv2dGeometry;
use crate::error::{InferError, InferResult};

/// Slot geometry of a backend: `rows` rows of `row_len` cyclic slots (section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotGeometry {
    /// 1 (CKKS) or 2 (BFV).
    pub rows: usize,
    /// Slots per row, the rotation period.
    pub row_len: usize,
}

impl SlotGeometry {
    /// The geometry of a backend.
    pub fn of<B: crate::backend::SlotEncoding + ?Sized>(b: &B) -> Self {
        Self {
            rows: b.rows(),
            row_len: b.row_len(),
        }
    }

    /// Total slots.
    pub fn slots(&self) -> usize {
        self.rows * self.row_len
    }

    /// Slot index of `(row, column)`.
    pub fn slot(&self, row: usize, col: usize) -> usize {
        row * self.row_len + col
    }

    /// Where slot `s` goes when its row is rotated `steps` places to the left.
    pub fn rotated_slot(&self, s: usize, steps: isize) -> usize {
        let (row, col) = (s / self.row_len, s % self.row_len);
        let c = (col as isize - steps).rem_euclid(self.row_len as isize) as usize;
        self.slot(row, c)
    }
}

/// Dense representation: `v_i ↦ m_i`. Vectors longer than `chunk` are split over several
/// messages (`v_i` in message `i / chunk`, slot `i % chunk`); LoLa's convolution output
/// "5 × 169 dense" is a dense vector of 845 with chunk 169. Dense data lives in row 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Vector length.
    pub len: usize,
    /// Elements per message (`<= row_len`).
    pub chunk: usize,
}

/// Sparse representation: `len` messages, message `i` holds `v_i` in every slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sparse {
    /// Vector length (= number of messages).
    pub len: usize,
}

/// Stacked representation: copies of a short vector in one message, copy `c` of row `r` at
/// slots `r·row_len + c·block + i` (`block = 2^⌈log k⌉`, section 4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stacked {
    /// Vector length `k`.
    pub len: usize,
    /// Distance between copies, a power of two `>= len`.
    pub block: usize,
    /// Copies in each used row.
    pub copies_per_row: usize,
    /// Rows holding copies (1, or 2 when the row swap duplicates them).
    pub rows_used: usize,
}

impl Stacked {
    /// Total copies.
    pub fn copies(&self) -> usize {
        self.copies_per_row * self.rows_used
    }

    /// Slot where copy `c` starts.
    pub fn copy_start(&self, c: usize, g: &SlotGeometry) -> usize {
        g.slot(
            c / self.copies_per_row,
            (c % self.copies_per_row) * self.block,
        )
    }
}

/// Interleaved representation: `m_{σ(i)} = v_i` for a permutation σ (section 4.2.1),
/// generalised to several messages: element `i` sits at `positions[i] = (message, slot)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interleaved {
    /// Number of messages.
    pub messages: usize,
    /// `(message, slot)` of every element; all distinct.
    pub positions: Vec<(usize, usize)>,
}

/// Convolution representation (section 4.2.1): `r` messages with `m^j_i = v_{σ_i(j)}`, message
/// `j` for window offset `j`, slot `i` for output position `i`; `None` is padding (zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Convolution {
    /// Length of the represented input vector.
    pub input_len: usize,
    /// Output positions (slots used per message).
    pub positions: usize,
    /// `sources[j][i] = σ_i(j)`.
    pub sources: Vec<Vec<Option<usize>>>,
}

impl Convolution {
    /// The convolution representation of a conv layer's input (LoLa MNIST: 25 messages of 169).
    pub fn conv2d(g: &Conv2dGeometry) -> InferResult<Self> {
        g.validate()?;
        let sources = (0..g.window())
            .map(|j| (0..g.positions()).map(|p| g.source(j, p)).collect())
            .collect();
        Ok(Self {
            input_len: g.input_len(),
            positions: g.positions(),
            sources,
        })
    }
}

/// Stacked convolution representation: LoLa's convolution representation (section 4.2.1)
/// with the window offsets *stacked* into blocks of one message, each block repeating its
/// offset's pixels once per output map.
///
/// With `r` window offsets, `P` output positions and `M` maps, message `c`, block `b` holds
/// window offset `j = c·copies_per_row + b`: slot `b·block + o·P + i` is `v_{σ_i(j)}` for every
/// map `o` (zero for padding and for `j >= r`). A convolution is then one ct×pt per message
/// (the weight `w_{o,j}` at those slots) and `log2(copies_per_row)` rotations that fold the
/// blocks onto each other ([`crate::kernels::convolution::stacked_convolution_row_major`]):
/// `⌈r / copies_per_row⌉` products instead of LoLa's `r·M` scalar products and the combining
/// rotations, and the result is already a clean stacked vector of the `M·P` outputs (block
/// `block`, `copies_per_row` copies), the input the diagonal BSGS kernel takes. Not in LoLa;
/// the packing follows GAZELLE's (Juvekar et al. 2018) idea of replicating inputs per output
/// channel. Only row 0 is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackedConvolution {
    /// The underlying convolution representation (window offsets × output positions).
    pub conv: Convolution,
    /// Output maps `M`.
    pub maps: usize,
    /// Block length, a power of two `>= M·P`.
    pub block: usize,
    /// Blocks (window offsets) per message; `copies_per_row · block` is the row length.
    pub copies_per_row: usize,
}

impl StackedConvolution {
    /// The stacked convolution representation of a conv layer's input for `maps` output maps
    /// in rows of `row_len`, with blocks of `block` (a power of two `>= maps · positions`).
    pub fn conv2d(g: &Conv2dGeometry, block: usize, row_len: usize) -> InferResult<Self> {
        let conv = Convolution::conv2d(g)?;
        let maps = g.out_channels;
        if !block.is_power_of_two() || block < maps * conv.positions || block > row_len {
            return Err(InferError::DoesNotFit(format!(
                "stacked convolution of {maps} maps x {} positions in blocks of {block}, rows \
                 of {row_len}",
                conv.positions
            )));
        }
        Ok(Self {
            conv,
            maps,
            block,
            copies_per_row: row_len / block,
        })
    }

    /// Window offset held by block `b` of message `c`, if any.
    pub fn offset(&self, c: usize, b: usize) -> Option<usize> {
        let j = c * self.copies_per_row + b;
        (b < self.copies_per_row && j < self.conv.sources.len()).then_some(j)
    }

    /// Length of the convolution's output, `M·P`.
    pub fn output_len(&self) -> usize {
        self.maps * self.conv.positions
    }
}

/// SIMD representation (CryptoNets, section 3.2): one message per feature, one record per
/// slot: `m^j_b` is feature `j` of record `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simd {
    /// Features per record (= number of messages).
    pub len: usize,
}

/// Every source row has one entry per output position, each inside the input.
fn check_sources(c: &Convolution) -> InferResult<()> {
    for row in &c.sources {
        if row.len() != c.positions || row.iter().flatten().any(|&src| src >= c.input_len) {
            return Err(InferError::InvalidRepresentation(
                "convolution sources out of range".into(),
            ));
        }
    }
    Ok(())
}

/// A vector representation (LoLa section 4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Representation {
    /// See [`Dense`].
    Dense(Dense),
    /// See [`Sparse`].
    Sparse(Sparse),
    /// See [`Stacked`].
    Stacked(Stacked),
    /// See [`Interleaved`].
    Interleaved(Interleaved),
    /// See [`Convolution`].
    Convolution(Convolution),
    /// See [`StackedConvolution`].
    StackedConvolution(StackedConvolution),
    /// See [`Simd`].
    Simd(Simd),
}

impl Representation {
    /// A single-message dense vector of `len`.
    pub fn dense(len: usize) -> Self {
        Representation::Dense(Dense { len, chunk: len })
    }

    /// Name of the representation, as in the paper.
    pub fn name(&self) -> &'static str {
        match self {
            Representation::Dense(_) => "dense",
            Representation::Sparse(_) => "sparse",
            Representation::Stacked(_) => "stacked",
            Representation::Interleaved(_) => "interleaved",
            Representation::Convolution(_) => "convolution",
            Representation::StackedConvolution(_) => "stacked convolution",
            Representation::Simd(_) => "simd",
        }
    }

    /// Length of the represented vector (for a convolution: of its input).
    pub fn len(&self) -> usize {
        match self {
            Representation::Dense(d) => d.len,
            Representation::Sparse(s) => s.len,
            Representation::Stacked(s) => s.len,
            Representation::Interleaved(i) => i.positions.len(),
            Representation::Convolution(c) => c.input_len,
            Representation::StackedConvolution(c) => c.conv.input_len,
            Representation::Simd(s) => s.len,
        }
    }

    /// Whether the represented vector is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of messages (ciphertexts).
    pub fn messages(&self) -> usize {
        match self {
            Representation::Dense(d) => d.len.div_ceil(d.chunk.max(1)),
            Representation::Sparse(s) => s.len,
            Representation::Stacked(_) => 1,
            Representation::Interleaved(i) => i.messages,
            Representation::Convolution(c) => c.sources.len(),
            Representation::StackedConvolution(c) => {
                c.conv.sources.len().div_ceil(c.copies_per_row.max(1))
            }
            Representation::Simd(s) => s.len,
        }
    }

    /// Checks the layout against a slot geometry: everything fits, nothing collides.
    pub fn validate(&self, g: &SlotGeometry) -> InferResult<()> {
        let fit = |what: String| Err(InferError::DoesNotFit(what));
        match self {
            Representation::Dense(d) => {
                if d.chunk == 0 || d.chunk > g.row_len {
                    return fit(format!(
                        "dense chunk {} vs row length {}",
                        d.chunk, g.row_len
                    ));
                }
            }
            Representation::Sparse(_) | Representation::Simd(_) => {}
            Representation::Stacked(s) => {
                if !s.block.is_power_of_two() || s.block < s.len {
                    return Err(InferError::InvalidRepresentation(format!(
                        "stacking block {} must be a power of two >= {}",
                        s.block, s.len
                    )));
                }
                if s.copies_per_row == 0
                    || s.copies_per_row * s.block > g.row_len
                    || s.rows_used == 0
                    || s.rows_used > g.rows
                {
                    return fit(format!(
                        "{} copies of block {} in {} rows of {}",
                        s.copies_per_row, s.block, s.rows_used, g.row_len
                    ));
                }
            }
            Representation::Interleaved(i) => {
                let mut seen = std::collections::HashSet::with_capacity(i.positions.len());
                for &(m, s) in &i.positions {
                    if m >= i.messages || s >= g.slots() {
                        return fit(format!(
                            "position ({m}, {s}) outside {} messages",
                            i.messages
                        ));
                    }
                    if !seen.insert((m, s)) {
                        return Err(InferError::InvalidRepresentation(format!(
                            "two elements in slot {s} of message {m}"
                        )));
                    }
                }
            }
            Representation::Convolution(c) => {
                if c.positions > g.slots() {
                    return fit(format!("{} positions in {} slots", c.positions, g.slots()));
                }
                check_sources(c)?;
            }
            Representation::StackedConvolution(c) => {
                if !c.block.is_power_of_two() || c.block < c.output_len() || c.maps == 0 {
                    return Err(InferError::InvalidRepresentation(format!(
                        "stacked convolution block {} must be a power of two >= {} maps x {} \
                         positions",
                        c.block, c.maps, c.conv.positions
                    )));
                }
                if c.copies_per_row == 0 || c.copies_per_row * c.block != g.row_len {
                    return fit(format!(
                        "{} blocks of {} in a row of {}",
                        c.copies_per_row, c.block, g.row_len
                    ));
                }
                check_sources(&c.conv)?;
            }
        }
        Ok(())
    }

    /// Where element `i` is read: `(message, slot)`. For a convolution: the first window slot
    /// holding input `i`, if any; for SIMD: record 0.
    pub fn canonical(&self, i: usize, g: &SlotGeometry) -> Option<(usize, usize)> {
        if i >= self.len() {
            return None;
        }
        match self {
            Representation::Dense(d) => (d.chunk > 0).then(|| (i / d.chunk, i % d.chunk)),
            Representation::Sparse(_) | Representation::Simd(_) => Some((i, 0)),
            Representation::Stacked(_) => Some((0, i)),
            Representation::Interleaved(il) => Some(il.positions[i]),
            Representation::Convolution(c) => c
                .sources
                .iter()
                .enumerate()
                .find_map(|(j, row)| row.iter().position(|&s| s == Some(i)).map(|p| (j, p))),
            Representation::StackedConvolution(c) => {
                c.conv.sources.iter().enumerate().find_map(|(j, row)| {
                    row.iter().position(|&s| s == Some(i)).map(|p| {
                        let (m, b) = (j / c.copies_per_row.max(1), j % c.copies_per_row.max(1));
                        (m, b * c.block + p)
                    })
                })
            }
        }
        .filter(|&(_, s)| s < g.slots())
    }

    /// Every slot the client writes, per message: `(slot, element)`. Meaningful for layouts
    /// that pass [`Representation::validate`]; never panics on others.
    pub fn placements(&self, g: &SlotGeometry) -> Vec<Vec<(usize, usize)>> {
        let mut out = vec![Vec::new(); self.messages()];
        match self {
            Representation::Dense(d) => {
                for i in 0..d.len {
                    if let Some(m) = out.get_mut(i / d.chunk.max(1)) {
                        m.push((i % d.chunk.max(1), i));
                    }
                }
            }
            Representation::Sparse(_) => {
                for (i, m) in out.iter_mut().enumerate() {
                    m.extend((0..g.slots()).map(|s| (s, i)));
                }
            }
            Representation::Simd(_) => {
                for (i, m) in out.iter_mut().enumerate() {
                    m.push((0, i));
                }
            }
            Representation::Stacked(s) => {
                for c in 0..s.copies() {
                    let start = s.copy_start(c, g);
                    out[0].extend((0..s.len).map(|i| (start + i, i)));
                }
            }
            Representation::Interleaved(il) => {
                for (i, &(m, s)) in il.positions.iter().enumerate() {
                    if let Some(msg) = out.get_mut(m) {
                        msg.push((s, i));
                    }
                }
            }
            Representation::Convolution(c) => {
                for (j, row) in c.sources.iter().enumerate() {
                    out[j].extend(
                        row.iter()
                            .enumerate()
                            .filter_map(|(p, s)| s.map(|s| (p, s))),
                    );
                }
            }
            Representation::StackedConvolution(c) => {
                let per = c.copies_per_row.max(1);
                let positions = c.conv.positions;
                for (j, row) in c.conv.sources.iter().enumerate() {
                    if let Some(msg) = out.get_mut(j / per) {
                        let start = (j % per) * c.block;
                        for o in 0..c.maps {
                            msg.extend(
                                row.iter()
                                    .enumerate()
                                    .filter_map(|(p, s)| s.map(|s| (start + o * positions + p, s))),
                            );
                        }
                    }
                }
            }
        }
        out
    }

    /// Slots holding data, over all messages.
    pub fn slots_used(&self, g: &SlotGeometry) -> usize {
        self.placements(g).iter().map(Vec::len).sum()
    }

    /// `(messages, elements per message)`, LoLa Table 1's "input size": the largest number of
    /// placements in one message (a sparse message counts as one element).
    pub fn shape(&self, g: &SlotGeometry) -> (usize, usize) {
        if let Representation::Sparse(s) = self {
            return (s.len, 1);
        }
        let p = self.placements(g);
        (p.len(), p.iter().map(Vec::len).max().unwrap_or(0))
    }

    /// The client's encoding: one slot vector per message (unused slots zero).
    pub fn encode<V: SlotValue>(&self, v: &[V], g: &SlotGeometry) -> InferResult<Vec<Vec<V>>> {
        if v.len() != self.len() {
            return Err(InferError::ShapeMismatch(format!(
                "vector of {} for a {} representation of {}",
                v.len(),
                self.name(),
                self.len()
            )));
        }
        self.validate(g)?;
        Ok(self
            .placements(g)
            .into_iter()
            .map(|slots| {
                let mut m = vec![V::ZERO; g.slots()];
                for (s, i) in slots {
                    m[s] = v[i];
                }
                m
            })
            .collect())
    }

    /// The client's decoding: reads every element at its canonical slot.
    pub fn decode<V: SlotValue>(
        &self,
        messages: &[Vec<V>],
        g: &SlotGeometry,
    ) -> InferResult<Vec<V>> {
        if messages.len() != self.messages() {
            return Err(InferError::ShapeMismatch(format!(
                "{} messages for a {} representation with {}",
                messages.len(),
                self.name(),
                self.messages()
            )));
        }
        (0..self.len())
            .map(|i| {
                let (m, s) = self.canonical(i, g).ok_or_else(|| {
                    InferError::InvalidRepresentation(format!("element {i} is not represented"))
                })?;
                messages[m].get(s).copied().ok_or_else(|| {
                    InferError::ShapeMismatch(format!("message {m} has no slot {s}"))
                })
            })
            .collect()
    }

    /// SIMD encoding of a batch (CryptoNets): message `j` holds feature `j` of record `b` in
    /// slot `b`. Only for [`Representation::Simd`].
    pub fn encode_batch<V: SlotValue>(
        &self,
        batch: &[Vec<V>],
        g: &SlotGeometry,
    ) -> InferResult<Vec<Vec<V>>> {
        let Representation::Simd(s) = self else {
            return Err(InferError::WrongRepresentation {
                kernel: "encode_batch",
                expected: "simd",
                got: self.name(),
            });
        };
        if batch.len() > g.slots() {
            return Err(InferError::DoesNotFit(format!(
                "batch of {} records in {} slots",
                batch.len(),
                g.slots()
            )));
        }
        let mut out = vec![vec![V::ZERO; g.slots()]; s.len];
        for (b, record) in batch.iter().enumerate() {
            if record.len() != s.len {
                return Err(InferError::ShapeMismatch(format!(
                    "record {b} has {} features, expected {}",
                    record.len(),
                    s.len
                )));
            }
            for (j, &x) in record.iter().enumerate() {
                out[j][b] = x;
            }
        }
        Ok(out)
    }

    /// SIMD decoding of the first `records` records.
    pub fn decode_batch<V: SlotValue>(
        &self,
        messages: &[Vec<V>],
        records: usize,
        g: &SlotGeometry,
    ) -> InferResult<Vec<Vec<V>>> {
        let Representation::Simd(s) = self else {
            return Err(InferError::WrongRepresentation {
                kernel: "decode_batch",
                expected: "simd",
                got: self.name(),
            });
        };
        if messages.len() != s.len
            || records > g.slots()
            || messages.iter().any(|m| m.len() < records)
        {
            return Err(InferError::ShapeMismatch(
                "SIMD messages do not match".into(),
            ));
        }
        Ok((0..records)
            .map(|b| messages.iter().map(|m| m[b]).collect())
            .collect())
    }
}
