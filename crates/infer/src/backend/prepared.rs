//! Prepared weight plaintexts, keyed by plan step (LoLa section 4.3: the weights and masks a
//! plan multiplies by do not depend on the input, so a server encodes them once).
//!
//! Design choices (documented here once):
//!
//! * **Keys.** A plaintext is identified by its [`PlaintextKey`] (plan step, ordinal of the
//!   encoding inside the step), which the executor supplies ([`super::steps`]); never by a hash
//!   of its values.
//! * **Consistency.** Every entry records its level and a 64-bit digest of its slot values;
//!   a lookup checks both against what the kernel asked for, so a plan or weights that differ
//!   from the prepared ones are reported ([`BackendError::InvalidParameters`]) instead of
//!   silently computing with other weights. A frozen set is shared between evaluators only
//!   when their parameters' fingerprints are equal ([`PlaintextStore::share`]).
//! * **Modes** ([`PlaintextCache`]): off (encode every time), record (a first run on any input
//!   stores every encoding), frozen (look up only; a request never adds to the set).
//! * No lock is held while encoding: encoders may run rayon jobs, and a rayon worker blocked on
//!   the lock could not run the jobs its holder waits for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BackendError, BackendResult, PlaintextKey, SlotValue};

/// Memoisation mode of a server's weight encodings (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaintextCache {
    /// No memoisation.
    Off,
    /// Look up, and store every new encoding (server preparation).
    Record,
    /// Look up only (serving).
    Frozen,
}

/// A 64-bit digest of slot values (FNV-1a over the values' bits): a consistency check of a
/// prepared plaintext against the kernel's request, not a key.
pub fn digest<V: SlotValue>(values: &[V]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ values.len() as u64;
    for v in values {
        let b = v.bits();
        h = (h ^ b as u64).wrapping_mul(PRIME);
        h = (h ^ (b >> 64) as u64).wrapping_mul(PRIME);
    }
    h
}

#[derive(Debug)]
struct Entry<P> {
    level: usize,
    digest: u64,
    plaintext: P,
}

/// A frozen set of prepared plaintexts, shareable between the evaluators of one model (one
/// per client key set).
#[derive(Debug)]
pub struct PreparedPlaintexts<P> {
    origin: u64,
    entries: HashMap<PlaintextKey, Entry<P>>,
}

impl<P> PreparedPlaintexts<P> {
    /// Number of plaintexts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was prepared.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Fingerprint of the parameters the plaintexts were encoded for.
    pub fn origin(&self) -> u64 {
        self.origin
    }
}

enum Mode<P> {
    Off,
    Record(HashMap<PlaintextKey, Entry<P>>),
    Frozen(Arc<PreparedPlaintexts<P>>),
}

/// An evaluator's prepared plaintexts (see the module docs).
pub struct PlaintextStore<P> {
    origin: u64,
    mode: Mutex<Mode<P>>,
}

impl<P: Clone> std::fmt::Debug for PlaintextStore<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaintextStore")
            .field("origin", &self.origin)
            .field("len", &self.len())
            .finish()
    }
}

fn mismatch(key: PlaintextKey, what: &str) -> BackendError {
    BackendError::InvalidParameters(format!(
        "prepared plaintext {} of step {}: {what} (the plan or the weights differ from the \
         prepared ones)",
        key.ordinal, key.step
    ))
}

impl<P: Clone> PlaintextStore<P> {
    /// An empty store, off, for parameters of fingerprint `origin`.
    pub fn new(origin: u64) -> Self {
        Self {
            origin,
            mode: Mutex::new(Mode::Off),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mode<P>> {
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the mode: `Off` empties the store, `Record` starts an empty recording, `Frozen`
    /// freezes what was recorded (a frozen or empty store stays as it is).
    pub fn set_mode(&self, mode: PlaintextCache) {
        let mut m = self.lock();
        *m = match (std::mem::replace(&mut *m, Mode::Off), mode) {
            (_, PlaintextCache::Off) => Mode::Off,
            (_, PlaintextCache::Record) => Mode::Record(HashMap::new()),
            (Mode::Record(entries), PlaintextCache::Frozen) => {
                Mode::Frozen(Arc::new(PreparedPlaintexts {
                    origin: self.origin,
                    entries,
                }))
            }
            (Mode::Frozen(p), PlaintextCache::Frozen) => Mode::Frozen(p),
            (Mode::Off, PlaintextCache::Frozen) => Mode::Frozen(Arc::new(PreparedPlaintexts {
                origin: self.origin,
                entries: HashMap::new(),
            })),
        };
    }

    /// The frozen set (after [`PlaintextCache::Frozen`]), to share with other evaluators.
    pub fn prepared(&self) -> Option<Arc<PreparedPlaintexts<P>>> {
        match &*self.lock() {
            Mode::Frozen(p) => Some(p.clone()),
            _ => None,
        }
    }

    /// Uses `prepared` (frozen) from now on: the consistency check of sharing, the parameters'
    /// fingerprints must be equal.
    pub fn share(&self, prepared: Arc<PreparedPlaintexts<P>>) -> BackendResult<()> {
        if prepared.origin != self.origin {
            return Err(BackendError::InvalidParameters(
                "prepared plaintexts come from an evaluator with other parameters".into(),
            ));
        }
        *self.lock() = Mode::Frozen(prepared);
        Ok(())
    }

    /// Number of stored plaintexts.
    pub fn len(&self) -> usize {
        match &*self.lock() {
            Mode::Off => 0,
            Mode::Record(e) => e.len(),
            Mode::Frozen(p) => p.len(),
        }
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The plaintext `key` of `values` at `level`: looked up and checked, or made by
    /// `encode` (and stored when recording). See the module docs.
    pub fn get_or_encode<V: SlotValue>(
        &self,
        key: PlaintextKey,
        values: &[V],
        level: usize,
        encode: impl FnOnce() -> BackendResult<P>,
    ) -> BackendResult<P> {
        let check = |e: &Entry<P>, d: u64| -> BackendResult<P> {
            if e.level != level {
                return Err(mismatch(
                    key,
                    &format!("level {} asked for {level}", e.level),
                ));
            }
            if e.digest != d {
                return Err(mismatch(key, "other values"));
            }
            Ok(e.plaintext.clone())
        };
        let d = {
            let m = self.lock();
            match &*m {
                Mode::Off => {
                    drop(m);
                    return encode();
                }
                Mode::Frozen(p) => {
                    let d = digest(values);
                    return match p.entries.get(&key) {
                        Some(e) => check(e, d),
                        None => Err(mismatch(key, "not prepared")),
                    };
                }
                Mode::Record(entries) => {
                    let d = digest(values);
                    if let Some(e) = entries.get(&key) {
                        return check(e, d);
                    }
                    d
                }
            }
        };
        let plaintext = encode()?;
        let mut m = self.lock();
        if let Mode::Record(entries) = &mut *m {
            if let Some(e) = entries.get(&key) {
                return check(e, d);
            }
            entries.insert(
                key,
                Entry {
                    level,
                    digest: d,
                    plaintext: plaintext.clone(),
                },
            );
        }
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: usize, ordinal: usize) -> PlaintextKey {
        PlaintextKey { step, ordinal }
    }

    #[test]
    fn records_freezes_and_checks_level_and_values() {
        let store = PlaintextStore::<Arc<Vec<i64>>>::new(7);
        store.set_mode(PlaintextCache::Record);
        let made = std::cell::Cell::new(0);
        let enc = |v: &[i64]| {
            made.set(made.get() + 1);
            Ok(Arc::new(v.to_vec()))
        };
        let a = store
            .get_or_encode(key(0, 0), &[1i64, 2], 3, || enc(&[1, 2]))
            .unwrap();
        store
            .get_or_encode(key(0, 1), &[1i64, 2], 3, || enc(&[1, 2]))
            .unwrap();
        assert_eq!(made.get(), 2, "equal values at two keys are two entries");
        store.set_mode(PlaintextCache::Frozen);
        assert_eq!(store.len(), 2);
        let b = store
            .get_or_encode(key(0, 0), &[1i64, 2], 3, || enc(&[9]))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(made.get(), 2, "frozen lookups never encode");
        assert!(store
            .get_or_encode(key(0, 0), &[1i64, 3], 3, || enc(&[1, 3]))
            .is_err());
        assert!(store
            .get_or_encode(key(0, 0), &[1i64, 2], 2, || enc(&[1, 2]))
            .is_err());
        assert!(store
            .get_or_encode(key(1, 0), &[1i64, 2], 3, || enc(&[1, 2]))
            .is_err());
        assert_eq!(store.len(), 2);

        let other = PlaintextStore::<Arc<Vec<i64>>>::new(7);
        other.share(store.prepared().unwrap()).unwrap();
        assert_eq!(other.len(), 2);
        let foreign = PlaintextStore::<Arc<Vec<i64>>>::new(8);
        assert!(foreign.share(store.prepared().unwrap()).is_err());
        store.set_mode(PlaintextCache::Off);
        assert_eq!(store.len(), 0);
        assert_eq!(other.len(), 2, "a shared set outlives its recorder's reset");
    }
}
