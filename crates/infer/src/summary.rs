//! A plan summarised like LoLa's Table 1 (section 4.3): per step the layer, the input size and
//! representation, the operation, its rotations and multiplications, the level, and — beyond
//! the paper — the estimated latency and (BFV) noise budget; plus the chosen BFV or CKKS
//! parameters and the Galois keys the client must upload. `henn plan` prints it.

use std::fmt;

use crate::backend::clear::{ClearBackend, OpKind};
use crate::backend::SlotValue;
use crate::cost::OpCosts;
use crate::error::InferResult;
use crate::network::IntNetwork;
use crate::params::{BfvChoice, CkksChoice};
use crate::plan::{key_requirements, profile};

/// One row of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The step in the paper's words.
    pub operation: String,
    /// Input representation name.
    pub input_repr: &'static str,
    /// Input `(messages, dimension)`.
    pub input_shape: (usize, usize),
    /// Output representation name.
    pub output_repr: &'static str,
    /// Output `(messages, dimension)`.
    pub output_shape: (usize, usize),
    /// Rotations (single, hoisted and row swaps: each one key switch).
    pub rotations: u64,
    /// ct × pt and ct × scalar products.
    pub plain_multiplications: u64,
    /// ct × ct products (with relinearization).
    pub ct_multiplications: u64,
    /// Level after the step.
    pub level: usize,
    /// Estimated milliseconds (single thread, all CRT instances).
    pub estimated_ms: f64,
    /// Estimated noise budget after the step (bits; BFV only).
    pub estimated_budget: Option<f64>,
}

/// The whole summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSummary {
    /// Scheme and parameters: the BFV preset name, or the CKKS chain.
    pub preset: String,
    /// `log2(n)`.
    pub log_n: u32,
    /// Plaintext primes (BFV; empty for CKKS).
    pub primes: Vec<u64>,
    /// Strategy name.
    pub strategy: String,
    /// Rows, in order.
    pub rows: Vec<SummaryRow>,
    /// Galois keys (rotation steps plus the row swap).
    pub galois_keys: usize,
    /// Whether a relinearization key is needed.
    pub relinearization_key: bool,
    /// Estimated bytes of the seeded evaluation keys (`dnum · n · Σ bits(q_i, p_j) / 8` per key).
    pub evaluation_key_bytes: usize,
    /// Estimated total milliseconds.
    pub estimated_ms: f64,
    /// Estimated final noise budget (bits; BFV only).
    pub estimated_budget: Option<f64>,
}

/// Summarises a parameter choice for `net` (profiles the plan on a clear backend).
pub fn summarize<V: SlotValue>(
    net: &IntNetwork<V>,
    choice: &BfvChoice,
) -> InferResult<PlanSummary> {
    let p = &choice.plan;
    let b = ClearBackend::<V>::new(p.geometry.rows, p.geometry.row_len, 0)?;
    let (_, report) = profile(&b, net, p, &vec![V::ZERO; net.input_len])?;
    let costs = &choice.costs;
    let instances = choice.primes.len() as f64;
    let rows = report
        .steps
        .iter()
        .zip(&choice.step_budgets)
        .map(|(s, (_, budget))| SummaryRow {
            operation: s.step.describe(),
            input_repr: s.input_repr,
            input_shape: s.input_shape,
            output_repr: s.output_repr,
            output_shape: s.output_shape,
            rotations: s.ops.rotations() + s.ops.total(OpKind::SwapRows),
            plain_multiplications: s.ops.total(OpKind::MulPlain) + s.ops.total(OpKind::MulScalar),
            ct_multiplications: s.ops.total(OpKind::MulRelin),
            level: s.level,
            estimated_ms: costs.estimate_ms(&s.ops) * instances,
            estimated_budget: Some(*budget),
        })
        .collect();
    let keys = key_requirements(net, p, 0)?;
    let galois_keys = keys.rotation_steps.len() + usize::from(keys.row_swap);
    let n = 1usize << choice.preset.log_n;
    let bits: u32 = choice
        .preset
        .q_bits
        .iter()
        .chain(choice.preset.p_bits)
        .sum();
    let per_key = choice.preset.dnum * n * (bits as usize).div_ceil(8);
    Ok(PlanSummary {
        preset: choice.preset.name.to_string(),
        log_n: choice.preset.log_n,
        primes: choice.primes.clone(),
        strategy: format!("{:?}", p.strategy),
        rows,
        galois_keys,
        relinearization_key: keys.relinearization,
        evaluation_key_bytes: per_key * (galois_keys + usize::from(keys.relinearization)),
        estimated_ms: choice.estimated_ms,
        estimated_budget: Some(choice.estimated_budget),
    })
}

/// Summarises a CKKS choice for `net` with per-operation `costs` (e.g. measured with
/// [`OpCosts::measure`] on a backend built from the chain).
pub fn summarize_ckks(
    net: &IntNetwork<f64>,
    choice: &CkksChoice,
    costs: &OpCosts,
) -> InferResult<PlanSummary> {
    let p = &choice.plan;
    let levels = choice.chain.q_bits.len().saturating_sub(1);
    let b = ClearBackend::<f64>::new(p.geometry.rows, p.geometry.row_len, levels)?;
    let (_, report) = profile(&b, net, p, &vec![0.0; net.input_len])?;
    let rows = report
        .steps
        .iter()
        .map(|s| SummaryRow {
            operation: s.step.describe(),
            input_repr: s.input_repr,
            input_shape: s.input_shape,
            output_repr: s.output_repr,
            output_shape: s.output_shape,
            rotations: s.ops.rotations(),
            plain_multiplications: s.ops.total(OpKind::MulPlain) + s.ops.total(OpKind::MulScalar),
            ct_multiplications: s.ops.total(OpKind::MulRelin),
            level: s.level,
            estimated_ms: costs.estimate_ms(&s.ops),
            estimated_budget: None,
        })
        .collect();
    let keys = key_requirements(net, p, levels)?;
    let galois_keys = keys.rotation_steps.len();
    let c = &choice.chain;
    let bits: u32 = c.q_bits.iter().chain(&c.p_bits).sum();
    let per_key = c.dnum * (1usize << choice.log_n) * (bits as usize).div_ceil(8);
    Ok(PlanSummary {
        preset: format!(
            "CKKS n = {}, q bits {:?}, P bits {:?}, scale 2^{}, dnum {}",
            1u64 << choice.log_n,
            c.q_bits,
            c.p_bits,
            c.log_scale,
            c.dnum
        ),
        log_n: choice.log_n,
        primes: Vec::new(),
        strategy: format!("{:?}", p.strategy),
        rows,
        galois_keys,
        relinearization_key: keys.relinearization,
        evaluation_key_bytes: per_key * (galois_keys + usize::from(keys.relinearization)),
        estimated_ms: costs.estimate_ms(&report.total),
        estimated_budget: None,
    })
}

/// A budget column entry: bits, or `-` where the scheme has none.
fn budget(b: Option<f64>) -> String {
    b.map_or_else(|| "-".into(), |b| format!("{b:.1}"))
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.primes.is_empty() {
            writeln!(f, "{} ({:?})", self.preset, self.strategy)?;
        } else {
            writeln!(
                f,
                "{} ({:?}), plaintext primes {:?}",
                self.preset, self.strategy, self.primes
            )?;
        }
        writeln!(
            f,
            "{:<46} {:>18} {:>18} {:>5} {:>6} {:>6} {:>5} {:>9} {:>7}",
            "operation", "input", "output", "rot", "ct*pt", "ct*ct", "level", "est ms", "budget"
        )?;
        for r in &self.rows {
            let shape = |name: &str, (m, d): (usize, usize)| format!("{m}x{d} {name}");
            writeln!(
                f,
                "{:<46} {:>18} {:>18} {:>5} {:>6} {:>6} {:>5} {:>9.1} {:>7}",
                r.operation,
                shape(r.input_repr, r.input_shape),
                shape(r.output_repr, r.output_shape),
                r.rotations,
                r.plain_multiplications,
                r.ct_multiplications,
                r.level,
                r.estimated_ms,
                budget(r.estimated_budget)
            )?;
        }
        write!(
            f,
            "total: {:.1} ms estimated (single thread){}; {} Galois keys{}, {:.1} MB of \
             evaluation keys",
            self.estimated_ms,
            self.estimated_budget.map_or_else(String::new, |b| format!(
                ", final noise budget {b:.1} bits (estimate)"
            )),
            self.galois_keys,
            if self.relinearization_key {
                " + relinearization key"
            } else {
                ""
            },
            self.evaluation_key_bytes as f64 / 1e6
        )
    }
}
