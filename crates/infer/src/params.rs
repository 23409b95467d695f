//! BFV parameter choice by the planner: ring degree `n`, ciphertext modulus (a 128-bit preset)
//! and plaintext primes for a network and a kernel strategy.
//!
//! LoLa chose its parameters by hand (section 4.3: `n = 8192`, four ~20-bit plaintext primes);
//! here they follow from two checks made before anything is encrypted:
//!
//! * **plaintext**: BFV computes in `Z_T`, `T = ∏ t_j`, and every operation of a plan is a ring
//!   homomorphism, so only the decoded outputs must fit `(−T/2, T/2]`. The caller gives the
//!   output range in bits (measured with the clear backend / the integer network on calibration
//!   inputs, plus a margin); [`plaintext_primes`] gives the fewest primes `≡ 1 mod 2n` of a
//!   given size reaching it;
//! * **noise**: the plan runs on the [`NoiseBackend`]; its final budget estimate must be at
//!   least `safety_bits`.
//!
//! Among the feasible `(preset, strategy, primes)` the cheapest by estimated latency
//! (operation costs measured on the engine by the caller's `costs`, times the number of CRT
//! instances) wins. Presets are tried from the smallest ring up and the search stops at the
//! first preset with a feasible choice: every operation's cost grows with `n` and `log Q`, and
//! the prime candidates do not get fewer with a larger ring (at most 40 bits each), so a larger
//! preset cannot be cheaper. Only the
//! 128-bit presets of `henn_he` are candidates, so an insecure choice is impossible, and a
//! choice whose estimate is negative is never returned.

use henn_he::bfv::{Preset, PRESETS};

use crate::backend::bfv::plaintext_primes;
use crate::backend::clear::{ClearBackend, OpCounts};
use crate::backend::noise::{NoiseBackend, NoiseParameters};
use crate::backend::SlotValue;
use crate::cost::OpCosts;
use crate::encrypted::encrypt_vector;
use crate::error::{InferError, InferResult};
use crate::network::IntNetwork;
use crate::plan::{execute, plan, profile, Plan, Step, Strategy};
use crate::representation::SlotGeometry;

/// A BFV parameter choice with the plan it was made for.
#[derive(Clone, Debug)]
pub struct BfvChoice {
    /// The 128-bit parameter preset (ring degree and ciphertext modulus).
    pub preset: Preset,
    /// Plaintext primes (one BFV instance each).
    pub primes: Vec<u64>,
    /// The plan (BFV: no modulus switching inside).
    pub plan: Plan,
    /// Estimated noise budget left at the end (bits).
    pub estimated_budget: f64,
    /// Estimated budget after every step.
    pub step_budgets: Vec<(Step, f64)>,
    /// Estimated server latency in ms (single thread).
    pub estimated_ms: f64,
    /// Operation counts of the plan for one input (one CRT instance).
    pub counts: OpCounts,
    /// The per-operation costs the estimate used (one CRT instance).
    pub costs: OpCosts,
}

impl BfvChoice {
    /// `log2(T)`.
    pub fn plaintext_bits(&self) -> f64 {
        self.primes.iter().map(|&t| (t as f64).log2()).sum()
    }
}

/// The noise-model view of a preset with plaintext primes `primes` (nominal prime sizes).
pub fn noise_parameters(preset: &Preset, primes: &[u64]) -> NoiseParameters {
    NoiseParameters {
        log_n: preset.log_n,
        q_bits: preset.q_bits.iter().map(|&b| f64::from(b)).collect(),
        p_bits: preset.p_bits.iter().map(|&b| f64::from(b)).sum(),
        dnum: preset.dnum,
        t_bits: primes
            .iter()
            .map(|&t| (t as f64).log2())
            .fold(0.0, f64::max),
    }
}

/// Runs `plan` on the noise estimator: the final budget (smallest over the output messages)
/// and the smallest budget after every step. No modulus switching when `plan.rescale` is off.
pub fn estimate_budget<V: SlotValue>(
    net: &IntNetwork<V>,
    plan: &Plan,
    params: NoiseParameters,
) -> InferResult<(f64, Vec<(Step, f64)>)> {
    let b = NoiseBackend::<V>::new(params)?;
    let x = encrypt_vector(&b, plan.input.clone(), &vec![V::ZERO; net.input_len])?;
    let mut steps = Vec::with_capacity(plan.steps.len());
    let y = execute(&b, net, plan, x, |_, step, _, out| {
        let min = out
            .cts
            .iter()
            .map(|c| c.budget())
            .fold(f64::INFINITY, f64::min);
        steps.push((step.clone(), min));
    })?;
    let last = y
        .cts
        .iter()
        .map(|c| c.budget())
        .fold(f64::INFINITY, f64::min);
    Ok((last, steps))
}

/// Candidate prime sets for `output_bits` at ring degree `n`: for every number of primes, the
/// smallest primes reaching the range (smaller primes grow noise more slowly).
fn prime_candidates(output_bits: u32, n: usize) -> Vec<Vec<u64>> {
    let mut out: Vec<Vec<u64>> = Vec::new();
    for max_bits in 1..=40 {
        if let Ok(p) = plaintext_primes(output_bits, n, max_bits) {
            if !out.iter().any(|q| q.len() == p.len()) {
                out.push(p);
            }
        }
    }
    out
}

/// Chooses preset, strategy and plaintext primes (see the module docs) for outputs of
/// `output_bits` bits (`2·max|y| < 2^output_bits`), requiring an estimated final noise budget
/// of at least `safety_bits`; `costs` gives the measured operation costs of a preset (called
/// only for presets with a feasible choice). Errors when no 128-bit preset works.
pub fn choose_bfv<V: SlotValue>(
    net: &IntNetwork<V>,
    output_bits: u32,
    strategies: &[Strategy],
    presets: Option<&[Preset]>,
    safety_bits: f64,
    costs: impl FnMut(&Preset) -> InferResult<OpCosts>,
) -> InferResult<BfvChoice> {
    choose_bfv_with_room(
        net,
        output_bits,
        strategies,
        presets,
        safety_bits,
        |_, _| 0.0,
        costs,
    )
}

/// [`choose_bfv`] requiring `room(log_n, primes)` bits of estimated budget beyond
/// `safety_bits` (the compile step's room for flooding the outputs, see
/// [`crate::session::compile`]).
pub fn choose_bfv_with_room<V: SlotValue>(
    net: &IntNetwork<V>,
    output_bits: u32,
    strategies: &[Strategy],
    presets: Option<&[Preset]>,
    safety_bits: f64,
    room: impl Fn(u32, usize) -> f64,
    mut costs: impl FnMut(&Preset) -> InferResult<OpCosts>,
) -> InferResult<BfvChoice> {
    let mut presets = presets.unwrap_or(&PRESETS).to_vec();
    presets.sort_by_key(|p| p.log_n);
    let mut best: Option<BfvChoice> = None;
    let mut last_err = None;
    for preset in &presets {
        if best.is_some() {
            break;
        }
        let n = 1usize << preset.log_n;
        let geometry = SlotGeometry {
            rows: 2,
            row_len: n / 2,
        };
        let mut preset_costs: Option<OpCosts> = None;
        for &strategy in strategies {
            let mut p = match plan(net, geometry, strategy) {
                Ok(p) => p,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            p.rescale = false;
            let counts = match ClearBackend::<V>::new(2, n / 2, 0)
                .map_err(InferError::from)
                .and_then(|b| profile(&b, net, &p, &vec![V::ZERO; net.input_len]))
            {
                Ok((_, report)) => report.total,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            for primes in prime_candidates(output_bits, n) {
                let (budget, steps) = estimate_budget(net, &p, noise_parameters(preset, &primes))?;
                if budget < safety_bits + room(preset.log_n, primes.len()) {
                    continue;
                }
                if preset_costs.is_none() {
                    preset_costs = Some(costs(preset)?);
                }
                let per_instance = preset_costs
                    .as_ref()
                    .map_or(0.0, |c| c.estimate_ms(&counts));
                let estimated_ms = per_instance * primes.len() as f64;
                if best.as_ref().is_none_or(|b| estimated_ms < b.estimated_ms) {
                    best = Some(BfvChoice {
                        preset: *preset,
                        primes,
                        plan: p.clone(),
                        estimated_budget: budget,
                        step_budgets: steps,
                        estimated_ms,
                        counts: counts.clone(),
                        costs: preset_costs.clone().unwrap_or_default(),
                    });
                }
            }
        }
    }
    best.ok_or_else(|| {
        InferError::DoesNotFit(match last_err {
            Some(e) => format!("no 128-bit BFV parameters for {output_bits}-bit outputs: {e}"),
            None => format!(
                "no 128-bit BFV preset leaves {safety_bits} bits of noise budget for \
                 {output_bits}-bit outputs"
            ),
        })
    })
}

/// The plan's multiplicative depth: the levels it consumes, measured on the clear backend
/// (the one depth probe of the planner).
pub fn plan_depth(net: &IntNetwork<f64>, p: &Plan) -> InferResult<usize> {
    const PROBE_LEVELS: usize = 64;
    let b = ClearBackend::<f64>::new(p.geometry.rows, p.geometry.row_len, PROBE_LEVELS)?;
    let (_, report) = profile(&b, net, p, &vec![0.0; net.input_len])?;
    Ok(PROBE_LEVELS - report.steps.last().map_or(PROBE_LEVELS, |s| s.level))
}

/// A CKKS parameter choice with the plan it was made for (see [`choose_ckks`]).
#[derive(Clone, Debug)]
pub struct CkksChoice {
    /// `log2(n)`.
    pub log_n: u32,
    /// The modulus chain, scale and key-switching digits.
    pub chain: crate::backend::ckks::CkksChain,
    /// Rescalings the plan performs.
    pub depth: usize,
    /// The plan (rescaling after every multiplying step).
    pub plan: Plan,
    /// Estimated single-threaded milliseconds with the costs given to [`choose_ckks`].
    pub estimated_ms: f64,
    /// Operation counts of the plan.
    pub counts: OpCounts,
}

/// Chooses ring degree, modulus chain and strategy for a real-valued network on CKKS: for
/// every `log_n` and strategy the plan's depth is measured on the clear backend, the chain
/// comes from [`crate::backend::ckks::chain_for_depth`] (128-bit bound of the HE standard,
/// `headroom_bits` of integer part for values normalised to `|x| <= 1`), and the cheapest
/// feasible plan by `costs(log_n, chain)` wins (ties: the smaller ring). Errors when no
/// degree fits.
pub fn choose_ckks(
    net: &IntNetwork<f64>,
    strategies: &[Strategy],
    log_ns: &[u32],
    headroom_bits: u32,
    mut costs: impl FnMut(u32, &crate::backend::ckks::CkksChain) -> InferResult<OpCosts>,
) -> InferResult<CkksChoice> {
    // Levels given to the clear backend while measuring depth (more than any chain holds).
    let mut best: Option<CkksChoice> = None;
    let mut last_err = None;
    for &log_n in log_ns {
        let n = 1usize << log_n;
        let geometry = SlotGeometry {
            rows: 1,
            row_len: n / 2,
        };
        for &strategy in strategies {
            let attempt = (|| {
                let p = plan(net, geometry, strategy)?;
                let depth = plan_depth(net, &p)?;
                let b = ClearBackend::<f64>::new(1, n / 2, depth)?;
                let (_, report) = profile(&b, net, &p, &vec![0.0; net.input_len])?;
                let chain = crate::backend::ckks::chain_for_depth(log_n, depth, headroom_bits)?;
                let estimated_ms = costs(log_n, &chain)?.estimate_ms(&report.total);
                Ok::<_, InferError>(CkksChoice {
                    log_n,
                    chain,
                    depth,
                    plan: p,
                    estimated_ms,
                    counts: report.total,
                })
            })();
            match attempt {
                Ok(c) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| c.estimated_ms < b.estimated_ms)
                    {
                        best = Some(c);
                    }
                }
                Err(e) => last_err = Some(e),
            }
        }
    }
    best.ok_or_else(|| {
        InferError::DoesNotFit(match last_err {
            Some(e) => format!("no 128-bit CKKS parameters for the network: {e}"),
            None => "no CKKS ring degree or strategy was given".into(),
        })
    })
}
