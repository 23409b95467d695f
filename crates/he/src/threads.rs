//! Thread count of the engine. Every parallel loop of `henn-ring` and `henn-he` (across RNS
//! limbs, digits and independent ciphertexts) runs on rayon's current pool: by default the
//! global pool (one thread per core, or `RAYON_NUM_THREADS`); [`with_threads`] runs a closure
//! on a dedicated pool of a chosen size instead, e.g. one thread for single-thread benchmarks
//! beside SEAL and OpenFHE.

use crate::HeError;

/// Runs `f` with the engine limited to `threads` worker threads (a fresh rayon pool; `f`
/// itself runs on one of its workers, so nested parallel loops stay inside the pool).
///
/// # Errors
/// [`HeError::InvalidParameters`] if `threads` is zero or the pool cannot be created.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, HeError> {
    if threads == 0 {
        return Err(HeError::InvalidParameters(
            "thread count must be at least 1".into(),
        ));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| HeError::InvalidParameters(format!("thread pool: {e}")))?;
    Ok(pool.install(f))
}

/// The number of threads the engine uses when called from here (the current rayon pool's
/// size).
pub fn current_threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_the_requested_size_and_zero_is_refused() {
        assert_eq!(with_threads(1, current_threads).unwrap(), 1);
        assert_eq!(with_threads(3, current_threads).unwrap(), 3);
        assert!(with_threads(0, || ()).is_err());
    }
}
