//! Quick timing of the ring primitives at n = 8192 (profiling aid).
use henn_ring::{generate_ntt_primes, NttOperator};
use std::time::Instant;

fn main() {
    let n = 8192;
    let q = generate_ntt_primes(54, n, 1, &[]).unwrap()[0];
    let op = NttOperator::new(n, q).unwrap();
    let m = *op.modulus();
    let mut a: Vec<u64> = (0..n as u64).map(|i| (i * 7919 + 3) % q).collect();
    let b = a.clone();
    let mut acc = vec![0u64; n];
    let reps = 2000;
    let t = Instant::now();
    for _ in 0..reps {
        op.forward(&mut a);
    }
    println!(
        "fwd  {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    let t = Instant::now();
    for _ in 0..reps {
        op.backward(&mut a);
    }
    println!(
        "bwd  {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    let t = Instant::now();
    for _ in 0..reps {
        op.mul_accumulate(&mut acc, &a, &b);
    }
    println!(
        "mac  {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    let t = Instant::now();
    for _ in 0..reps {
        for (x, &y) in acc.iter_mut().zip(&b) {
            *x = m.mul(*x, y);
        }
    }
    println!(
        "barrett mul loop {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    let w = 12345u64;
    let ws = m.shoup(w);
    let t = Instant::now();
    for _ in 0..reps {
        for x in acc.iter_mut() {
            *x = m.mul_shoup(*x, w, ws);
        }
    }
    println!(
        "shoup mul loop {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    let t = Instant::now();
    for _ in 0..reps {
        let v = vec![0u64; 4 * n];
        std::hint::black_box(&v);
    }
    println!(
        "alloc 4n {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    std::hint::black_box(&acc);
}
