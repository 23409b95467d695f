//! Operation costs measured on this engine at compile time (single thread, top level), cached
//! per parameter set for the life of the process: the planner ranks strategies and schemes by
//! this machine's own latencies, never by stored tables.

use std::sync::{Arc, Mutex};

use henn_he::bfv::{BfvParametersBuilder, Preset};

use crate::backend::bfv::{plaintext_primes, BfvCrtBackend, KeySpec};
use crate::backend::ckks::{parameters_for_chain, CkksBackend, CkksChain};
use crate::backend::BackendError;
use crate::cost::OpCosts;
use crate::error::InferResult;

/// Repetitions per operation (medians).
const REPS: usize = 3;

static CACHE: Mutex<Vec<(String, Arc<OpCosts>)>> = Mutex::new(Vec::new());

fn cached(key: String, measure: impl FnOnce() -> InferResult<OpCosts>) -> InferResult<OpCosts> {
    if let Some((_, c)) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
    {
        return Ok((**c).clone());
    }
    let c = measure()?;
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, Arc::new(c.clone())));
    Ok(c)
}

fn spec() -> KeySpec {
    KeySpec {
        rotation_steps: (1..=8).collect(),
        row_swap: true,
        relinearization: true,
    }
}

fn single_thread(f: impl FnOnce() -> InferResult<OpCosts> + Send) -> InferResult<OpCosts> {
    henn_he::with_threads(1, f).map_err(|e| BackendError::Engine(Box::new(e)))?
}

/// Costs of one BFV CRT instance of `preset` (one plaintext prime of 20 bits).
pub fn bfv_costs(preset: &Preset) -> InferResult<OpCosts> {
    cached(format!("bfv {}", preset.name), || {
        let n = 1usize << preset.log_n;
        let t = plaintext_primes(20, n, 20.max((2 * n as u64 + 1).ilog2() + 1))?;
        let params = BfvParametersBuilder::preset(*preset)
            .plaintext_modulus(t[0])
            .build()
            .map_err(|e| BackendError::Engine(Box::new(e)))?;
        let b = BfvCrtBackend::generate(params.rlwe(), &t[..1], &spec())?;
        single_thread(|| OpCosts::measure(&b.encryptor, &b.evaluator, REPS))
    })
}

/// Costs of CKKS at `n = 2^log_n` with `chain`.
pub fn ckks_costs(log_n: u32, chain: &CkksChain) -> InferResult<OpCosts> {
    cached(format!("ckks {log_n} {chain:?}"), || {
        let params = parameters_for_chain(log_n, chain)?;
        let mut s = spec();
        s.row_swap = false;
        let b = CkksBackend::generate(&params, &s)?;
        single_thread(|| OpCosts::measure(&b.encryptor, &b.evaluator, REPS))
    })
}
