//! A small per-thread pool of polynomial buffers, so that the many temporaries of key
//! switching and multiplication (ModUp digits, inner products, tensor products) reuse warm
//! memory instead of going back to the allocator, which on glibc returns large blocks to the
//! kernel and page-faults them in again on the next operation (SEAL keeps a memory pool for
//! the same reason). [`crate::RnsPoly`] takes its storage from here and gives it back on drop.
//! Bounded: at most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] bytes per thread and
//! [`MAX_TOTAL_BYTES`] over all threads (so more threads do not multiply the memory kept);
//! buffers smaller than [`MIN_WORDS`] words go straight to the allocator.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Buffers below this many `u64` words are not pooled (the allocator handles them well).
pub const MIN_WORDS: usize = 1 << 13;
/// Most buffers kept per thread.
pub const MAX_BUFFERS: usize = 64;
/// Most bytes kept per thread: the ModUp digits and Shoup companions of one key switch at the
/// top of the `n = 2^16` bootstrapping chain (four of each, 32 limbs, 16 MiB apiece), which
/// the former 48 MiB sent back to the allocator and the kernel on every rotation (page
/// faults, zeroed pages and `munmap` were about a tenth of a bootstrap's profile). 256 MiB
/// measured about 5 % less CPU per bootstrap than 128 MiB on one thread (one pair, load 8)
/// but a two-thread peak of 9648 MiB, over the 10 GB budget; 128 MiB gives 9417 MiB.
pub const MAX_BYTES: usize = 128 << 20;
/// Most bytes kept by all threads' pools together (two threads do not keep twice as much).
pub const MAX_TOTAL_BYTES: usize = 128 << 20;

/// Bytes currently kept by all pools.
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// One thread's free list and its byte count; its bytes leave [`TOTAL`] when the thread
/// exits.
struct Pool(Vec<Vec<u64>>, usize);

impl Drop for Pool {
    fn drop(&mut self) {
        TOTAL.fetch_sub(self.1, Ordering::Relaxed);
    }
}

thread_local! {
    static FREE: RefCell<Pool> = const { RefCell::new(Pool(Vec::new(), 0)) };
}

/// A pooled buffer of capacity at least `len` (at most a few times larger), if any.
fn take_pooled(len: usize) -> Option<Vec<u64>> {
    if len < MIN_WORDS {
        return None;
    }
    FREE.try_with(|f| {
        let mut f = f.borrow_mut();
        let Pool(list, bytes) = &mut *f;
        // the smallest buffer that fits (it is at most a few times larger), preferring one
        // whose initialised length already covers `len` (no zero fill of a tail on reuse)
        let pos = list
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 4 * len)
            .min_by_key(|(_, v)| (v.len() < len, v.capacity()))
            .map(|(i, _)| i)?;
        let v = list.swap_remove(pos);
        *bytes -= v.capacity() * 8;
        TOTAL.fetch_sub(v.capacity() * 8, Ordering::Relaxed);
        Some(v)
    })
    .ok()
    .flatten()
}

/// A zeroed buffer of `len` words, reusing a pooled one of sufficient capacity if any.
pub fn take_zeroed(len: usize) -> Vec<u64> {
    match take_pooled(len) {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// A buffer of `len` words whose contents are unspecified (old data of a pooled buffer, or
/// zeros), for callers that overwrite every word: saves the zero fill of [`take_zeroed`].
pub fn take_for_overwrite(len: usize) -> Vec<u64> {
    match take_pooled(len) {
        Some(mut v) => {
            v.truncate(len);
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// Returns a buffer to the pool (or frees it if the pool is full or it is small).
pub fn give(v: Vec<u64>) {
    let cap = v.capacity();
    if cap < MIN_WORDS {
        return;
    }
    let _ = FREE.try_with(|f| {
        let mut f = f.borrow_mut();
        let Pool(list, bytes) = &mut *f;
        let size = cap * 8;
        if list.len() < MAX_BUFFERS && *bytes + size <= MAX_BYTES {
            // reserve the bytes in the global budget, or free the buffer
            let before = TOTAL.fetch_add(size, Ordering::Relaxed);
            if before + size <= MAX_TOTAL_BYTES {
                *bytes += size;
                list.push(v);
            } else {
                TOTAL.fetch_sub(size, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_buffers_come_back_zeroed_and_sized() {
        let mut v = take_zeroed(MIN_WORDS * 2);
        v.iter_mut().for_each(|x| *x = 7);
        give(v);
        let w = take_zeroed(MIN_WORDS * 2 - 5);
        assert_eq!(w.len(), MIN_WORDS * 2 - 5);
        assert!(w.iter().all(|&x| x == 0));
        let small = take_zeroed(10);
        assert_eq!(small, vec![0; 10]);
    }
}
