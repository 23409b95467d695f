//! Latency estimates from operation counts, and choosing a plan by estimated cost — the
//! automation LoLa leaves as future work (section 4.2: "Automating the process of finding
//! efficient representations … is beyond the scope of the current work").
//!
//! A plan is profiled on the clear backend ([`crate::plan::profile`]); its [`OpCounts`] times
//! per-operation latencies give an estimate. Latencies come from measurements of the engine
//! that will run the plan (`henn bench`); the presets below hold only numbers measured on this
//! project's machine for peer libraries (`shared/peers/he-ops/README.md`), and operations those
//! measurements do not cover are 0, so the presets give lower bounds.

use crate::backend::clear::{ClearBackend, OpCounts, OpKind};
use crate::backend::{SlotEncryptor, SlotEvaluator, SlotValue};
use crate::error::{InferError, InferResult};
use crate::network::IntNetwork;
use crate::plan::{plan, profile, Plan, Strategy};
use crate::representation::SlotGeometry;

/// Milliseconds per operation, by kind (level-independent for now).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OpCosts {
    /// Cost of each kind; kinds not listed cost 0.
    pub ms: Vec<(OpKind, f64)>,
}

impl OpCosts {
    /// SEAL 4.x BFV, n = 8192, 5 primes, single thread, medians measured on the project's
    /// 2-core machine (November 2026): ct×pt 0.44 ms, ct×ct+relin 31.5 ms, rotation 7.8 ms (a
    /// row swap is a key switch of the same cost). SEAL has no hoisting API: hoisted rotations
    /// cost as much as single ones. Additions, encodings and ct×scalar were not measured (0).
    pub fn seal_bfv_8192() -> Self {
        Self {
            ms: vec![
                (OpKind::MulPlain, 0.44),
                (OpKind::MulRelin, 31.5),
                (OpKind::Rotate, 7.8),
                (OpKind::SwapRows, 7.8),
                (OpKind::HoistedRotate, 7.8),
            ],
        }
    }

    /// OpenFHE 1.6.1 BFVrns, n = 8192, 3 × 60-bit primes, single thread, same machine:
    /// ct×pt 0.21 ms, ct×ct+relin 21.2 ms, rotation 4.1 ms, 8 hoisted rotations 11.0 ms
    /// (1.375 ms each). Other operations not measured (0).
    pub fn openfhe_bfv_8192() -> Self {
        Self {
            ms: vec![
                (OpKind::MulPlain, 0.21),
                (OpKind::MulRelin, 21.2),
                (OpKind::Rotate, 4.1),
                (OpKind::SwapRows, 4.1),
                (OpKind::HoistedRotate, 11.0 / 8.0),
            ],
        }
    }

    /// Latencies of the evaluator `b`'s own operations (`client` encrypts the operand),
    /// measured now on the calling thread pool: medians of
    /// `reps` runs of each operation on a fresh encryption at the top level (so an upper bound
    /// for lower levels, where ciphertexts have fewer primes). Hoisted rotations are split into
    /// the decomposition ([`OpKind::HoistedBatch`]) and the per-rotation part
    /// ([`OpKind::HoistedRotate`]) from batches of one and eight steps. `b` needs Galois keys
    /// for the steps `1..=8` and a relinearization key.
    pub fn measure<B, C>(client: &C, b: &B, reps: usize) -> InferResult<Self>
    where
        B: SlotEvaluator,
        C: SlotEncryptor<Value = B::Value, Ciphertext = B::Ciphertext, Plaintext = B::Plaintext>,
    {
        let reps = reps.max(1);
        let level = b.max_level();
        let values: Vec<B::Value> = (0..b.slots())
            .map(|i| B::Value::from_i64((i % 7) as i64 - 3))
            .collect();
        let pt = b.encode(&values, level)?;
        let ct = client.encrypt(&client.encode(&values, level)?)?;
        let time = |f: &mut dyn FnMut() -> InferResult<()>| -> InferResult<f64> {
            let mut t = Vec::with_capacity(reps);
            for _ in 0..reps {
                let start = std::time::Instant::now();
                f()?;
                t.push(start.elapsed().as_secs_f64() * 1e3);
            }
            t.sort_by(f64::total_cmp);
            Ok(t[t.len() / 2])
        };
        let encode = time(&mut || b.encode(&values, level).map(drop).map_err(Into::into))?;
        let add = time(&mut || b.add(&ct, &ct).map(drop).map_err(Into::into))?;
        let add_plain = time(&mut || b.add_plain(&ct, &pt).map(drop).map_err(Into::into))?;
        let mul_plain = time(&mut || b.mul_plain(&ct, &pt).map(drop).map_err(Into::into))?;
        let mul_scalar = time(&mut || {
            b.mul_scalar(&ct, B::Value::from_i64(3))
                .map(drop)
                .map_err(Into::into)
        })?;
        let mul = time(&mut || b.mul(&ct, &ct).map(drop).map_err(Into::into))?;
        let rotate = time(&mut || b.rotate(&ct, 1).map(drop).map_err(Into::into))?;
        let one = time(&mut || b.rotate_hoisted(&ct, &[1]).map(drop).map_err(Into::into))?;
        let steps: Vec<isize> = (1..=8).collect();
        let eight = time(&mut || b.rotate_hoisted(&ct, &steps).map(drop).map_err(Into::into))?;
        let per_rotation = ((eight - one) / 7.0).max(0.0);
        let rescale = if level > 0 {
            let prod = b.mul_plain(&ct, &pt)?;
            time(&mut || b.rescale(&prod).map(drop).map_err(Into::into))?
        } else {
            0.0
        };
        let swap = if b.rows() == 2 {
            time(&mut || b.swap_rows(&ct).map(drop).map_err(Into::into))?
        } else {
            0.0
        };
        Ok(Self {
            ms: vec![
                (OpKind::Encode, encode),
                (OpKind::Add, add),
                (OpKind::AddPlain, add_plain),
                (OpKind::MulPlain, mul_plain),
                (OpKind::MulScalar, mul_scalar),
                (OpKind::MulRelin, mul),
                (OpKind::Rotate, rotate),
                (OpKind::HoistedBatch, (one - per_rotation).max(0.0)),
                (OpKind::HoistedRotate, per_rotation),
                (OpKind::SwapRows, swap),
                (OpKind::Rescale, rescale),
            ],
        })
    }

    /// Cost of one operation of `kind`.
    pub fn of(&self, kind: OpKind) -> f64 {
        self.ms
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, c)| *c)
            .sum()
    }

    /// Estimated single-threaded milliseconds for the counted operations.
    pub fn estimate_ms(&self, counts: &OpCounts) -> f64 {
        OpKind::ALL
            .iter()
            .map(|&k| counts.total(k) as f64 * self.of(k))
            .sum()
    }
}

/// A plan chosen by cost, with its estimate and its profile.
#[derive(Clone, Debug)]
pub struct CostedPlan {
    /// The plan.
    pub plan: Plan,
    /// Estimated milliseconds.
    pub estimate_ms: f64,
    /// Operation counts of the plan (one input; for SIMD plans, one batch).
    pub counts: OpCounts,
}

/// Plans `net` with every candidate strategy, profiles each on a clear backend with the given
/// geometry and `levels`, and returns all plans that worked, cheapest first. Plans that do
/// not fit (e.g. not enough levels) are skipped; an error is returned only if none works.
pub fn rank_strategies<V: SlotValue>(
    net: &IntNetwork<V>,
    geometry: SlotGeometry,
    levels: usize,
    costs: &OpCosts,
    candidates: &[Strategy],
) -> InferResult<Vec<CostedPlan>> {
    let input = vec![V::ZERO; net.input_len];
    let mut out = Vec::new();
    let mut last_err = None;
    for &s in candidates {
        let result = (|| {
            let b = ClearBackend::<V>::new(geometry.rows, geometry.row_len, levels)?;
            let p = plan(net, geometry, s)?;
            let (_, report) = profile(&b, net, &p, &input)?;
            Ok::<_, InferError>(CostedPlan {
                estimate_ms: costs.estimate_ms(&report.total),
                counts: report.total,
                plan: p,
            })
        })();
        match result {
            Ok(c) => out.push(c),
            Err(e) => last_err = Some(e),
        }
    }
    if out.is_empty() {
        return Err(
            last_err.unwrap_or_else(|| InferError::InvalidModel("no candidate strategies".into()))
        );
    }
    out.sort_by(|a, b| a.estimate_ms.total_cmp(&b.estimate_ms));
    Ok(out)
}
