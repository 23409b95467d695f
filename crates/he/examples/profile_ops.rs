//! Runs one BFV operation in a loop on a single thread, for profilers (`perf record`).
//! Usage: `cargo run --release -p henn-he --example profile_ops -- OP [REPS] [LOGN]` with OP one of
//! `rotate`, `hoisted8`, `mul_relin`, `relin`.

use henn_he::bfv::{self, BatchEncoder, BfvParametersBuilder, Encryptor, Evaluator};
use henn_he::rlwe::KeyGenerator;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map(String::as_str).unwrap_or("rotate");
    let reps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let logn: u32 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(13);
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let preset = if logn == 14 {
        bfv::BFV_128BIT_LOGN14_LOGQP438
    } else {
        bfv::BFV_128BIT_LOGN13_LOGQP218
    };
    let params = BfvParametersBuilder::preset(preset)
        .plaintext_modulus(786433)
        .build()?;
    let n = params.degree();
    let mut kg = KeyGenerator::new(params.rlwe());
    let pk = kg.public_key();
    let rlk = kg.relinearization_key();
    let steps: Vec<i64> = (1..=8).collect();
    let gk = kg.galois_keys(&bfv::galois_elements(&params, &steps, true))?;
    let encoder = BatchEncoder::new(&params)?;
    let ev = Evaluator::new(&params);
    let enc = Encryptor::with_public_key(&params, &pk);
    let v: Vec<i64> = (0..n as i64).map(|i| (i * 7 + 3) % 786433).collect();
    let pt = encoder.encode(&v)?;
    let ct1 = enc.encrypt(&pt)?;
    let ct2 = enc.encrypt(&pt)?;
    // run on the pool's single worker so its CPU time is the thread's
    let (wall, cpu) = rayon::scope(|_| -> Result<(f64, f64), String> {
        let cpu0 = thread_cpu_ns();
        let t = Instant::now();
        for _ in 0..reps {
            let r = match op {
                "rotate" => ev.rotate(&ct1, 1, &gk).map(drop),
                "hoisted8" => ev.rotate_hoisted(&ct1, &steps, &gk).map(drop),
                "mul_relin" => ev.multiply(&ct1, &ct2, &rlk).map(drop),
                "square_relin" => ev.square(&ct1, &rlk).map(drop),
                other => return Err(format!("unknown op {other}")),
            };
            r.map_err(|e| e.to_string())?;
        }
        let wall = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e6 / reps as f64;
        Ok((wall, cpu))
    })?;
    println!("{op}: {wall:.3} ms/op wall, {cpu:.3} ms/op on-CPU");
    Ok(())
}

/// On-CPU time of the calling thread (Linux `/proc/thread-self/schedstat`), 0 elsewhere.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
