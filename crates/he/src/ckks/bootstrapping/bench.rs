//! A self-contained bootstrapping benchmark (what `henn bench bootstrap` runs): key
//! generation, pre-encoding, repeated bootstraps of random full-slot complex vectors, and
//! the figures of the issue (latency median, levels left, precision, key bytes, peak memory).
//! The client's secret key lives only inside this function (to encrypt inputs and measure the
//! precision); the bootstrapper itself holds evaluation keys only.

use super::{
    Bootstrapper, BootstrappingKeys, BootstrappingParameters, BootstrappingPreset, StageTimes,
};
use crate::ckks::{Complex64, Decryptor, Encoder, Encryptor};
use crate::rlwe::KeyGenerator;
use crate::HeError;
use std::sync::Arc;
use std::time::Instant;

/// The figures of one benchmark run.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapBenchReport {
    /// Preset name.
    pub preset: String,
    /// `log2(n)`.
    pub log_n: u32,
    /// Slots bootstrapped (`n/2`).
    pub slots: usize,
    /// Worker threads.
    pub threads: usize,
    /// Bootstrapping-key generation (seconds).
    pub keygen_s: f64,
    /// Pre-encoding of the linear-transform diagonals (seconds).
    pub setup_s: f64,
    /// Every bootstrap latency (seconds).
    pub bootstrap_runs_s: Vec<f64>,
    /// Median bootstrap latency (seconds).
    pub bootstrap_s: f64,
    /// Median CPU seconds (user + system, all threads of the process) per bootstrap, if the
    /// OS reports it: on one thread, the latency a quiet machine would show.
    pub bootstrap_cpu_s: Option<f64>,
    /// Median wall-clock seconds of each stage over the runs.
    pub stages: StageTimes,
    /// Levels left after bootstrapping.
    pub levels_left: usize,
    /// Bits of the primes of those levels (`q_1..q_ℓ`).
    pub level_bits: Vec<u32>,
    /// Mean precision over all slots (real and imaginary parts) of all runs, in bits.
    pub precision_mean_bits: f64,
    /// Minimum precision over all slots of all runs, in bits.
    pub precision_min_bits: f64,
    /// Seeded size of the bootstrapping keys (bytes).
    pub key_bytes: usize,
    /// Number of Galois keys.
    pub galois_keys: usize,
    /// Bytes of the pre-encoded diagonals.
    pub diagonal_bytes: usize,
    /// Peak resident memory of the process (MiB; `VmHWM`), if the OS reports it.
    pub peak_memory_mib: Option<f64>,
}

impl BootstrapBenchReport {
    /// The report as one JSON object (keys as in issue 14).
    pub fn to_json(&self) -> String {
        let runs: Vec<String> = self
            .bootstrap_runs_s
            .iter()
            .map(|t| format!("{t:.4}"))
            .collect();
        let bits: Vec<String> = self.level_bits.iter().map(|b| b.to_string()).collect();
        let peak = self
            .peak_memory_mib
            .map_or("null".to_string(), |m| format!("{m:.1}"));
        format!(
            concat!(
                "{{\"preset\":\"{}\",\"log_n\":{},\"slots\":{},\"threads\":{},",
                "\"keygen_s\":{:.3},\"setup_s\":{:.3},\"bootstrap_s\":{:.4},",
                "\"bootstrap_runs_s\":[{}],\"levels_left\":{},\"level_bits\":[{}],",
                "\"precision_mean_bits\":{:.2},\"precision_min_bits\":{:.2},",
                "\"key_bytes\":{},\"galois_keys\":{},\"diagonal_bytes\":{},",
                "\"peak_memory_mib\":{},\"bootstrap_cpu_s\":{},\"stage_s\":{{\"mod_raise\":{:.4},",
                "\"coeffs_to_slots\":{:.4},\"eval_mod\":{:.4},\"slots_to_coeffs\":{:.4}}}}}"
            ),
            self.preset,
            self.log_n,
            self.slots,
            self.threads,
            self.keygen_s,
            self.setup_s,
            self.bootstrap_s,
            runs.join(","),
            self.levels_left,
            bits.join(","),
            self.precision_mean_bits,
            self.precision_min_bits,
            self.key_bytes,
            self.galois_keys,
            self.diagonal_bytes,
            peak,
            self.bootstrap_cpu_s
                .map_or("null".to_string(), |c| format!("{c:.2}")),
            self.stages.mod_raise_s,
            self.stages.coeffs_to_slots_s,
            self.stages.eval_mod_s,
            self.stages.slots_to_coeffs_s
        )
    }
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), `None` elsewhere.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) of this process in seconds (Linux `/proc/self/stat`, in clock
/// ticks of 10 ms), `None` elsewhere.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name; utime and stime are the 12th and 13th
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Deterministic inputs in the unit square (splitmix64).
fn inputs(seed: u64, count: usize) -> Vec<Complex64> {
    let mut x = seed;
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    };
    (0..count).map(|_| Complex64::new(next(), next())).collect()
}

/// Runs the benchmark: builds `preset`, generates keys, bootstraps `runs` random level-0
/// ciphertexts on `threads` threads.
///
/// # Errors
/// [`HeError::InvalidParameters`] for zero threads or runs; parameter and evaluation
/// errors.
pub fn run_bootstrap_bench(
    preset: BootstrappingPreset,
    threads: usize,
    runs: usize,
) -> Result<BootstrapBenchReport, HeError> {
    if runs == 0 {
        return Err(HeError::InvalidParameters("runs must be at least 1".into()));
    }
    crate::with_threads(threads, || run(preset, threads, runs))?
}

fn run(
    preset: BootstrappingPreset,
    threads: usize,
    runs: usize,
) -> Result<BootstrapBenchReport, HeError> {
    let params = BootstrappingParameters::new(preset)?;
    let ckks = params.ckks().clone();
    let keygen = KeyGenerator::new(ckks.rlwe());
    let sk = keygen.secret_key().clone();
    let t = Instant::now();
    let keys = Arc::new(BootstrappingKeys::generate(&params, &sk)?);
    let keygen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let bootstrapper = Bootstrapper::new(&params, keys.clone())?;
    let setup_s = t.elapsed().as_secs_f64();
    let encoder = Encoder::new(&ckks);
    let encryptor = Encryptor::with_secret_key(&ckks, &sk);
    let decryptor = Decryptor::new(&ckks, &sk);
    let mut times = Vec::with_capacity(runs);
    let mut stages: Vec<StageTimes> = Vec::with_capacity(runs);
    let mut cpu_times: Vec<f64> = Vec::with_capacity(runs);
    let (mut sum, mut count, mut min) = (0.0, 0usize, f64::INFINITY);
    for r in 0..runs {
        let x = inputs(r as u64 + 1, ckks.slots());
        let ct = encryptor.encrypt(&encoder.encode(&x, 0, ckks.default_scale())?)?;
        let cpu = process_cpu_seconds();
        let t = Instant::now();
        let (out, stage) = bootstrapper.bootstrap_timed(&ct)?;
        times.push(t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu, process_cpu_seconds()) {
            cpu_times.push(b - a);
        }
        stages.push(stage);
        let got = decryptor.decrypt_values(&out)?;
        for (g, w) in got.iter().zip(&x) {
            for e in [(g.re - w.re).abs(), (g.im - w.im).abs()] {
                let bits = -e.max(1e-300).log2();
                sum += bits;
                count += 1;
                min = f64::min(min, bits);
            }
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    cpu_times.sort_by(f64::total_cmp);
    let bootstrap_cpu_s = cpu_times.get(cpu_times.len() / 2).copied();
    let stage_median = |f: fn(&StageTimes) -> f64| {
        let mut v: Vec<f64> = stages.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let stages = StageTimes {
        mod_raise_s: stage_median(|s| s.mod_raise_s),
        coeffs_to_slots_s: stage_median(|s| s.coeffs_to_slots_s),
        eval_mod_s: stage_median(|s| s.eval_mod_s),
        slots_to_coeffs_s: stage_median(|s| s.slots_to_coeffs_s),
    };
    let levels_left = params.output_level();
    Ok(BootstrapBenchReport {
        preset: preset.name.to_string(),
        log_n: preset.log_n,
        slots: ckks.slots(),
        threads,
        keygen_s,
        setup_s,
        bootstrap_runs_s: times,
        bootstrap_s: median,
        bootstrap_cpu_s,
        stages,
        levels_left,
        level_bits: preset.residual_q_bits[1..].to_vec(),
        precision_mean_bits: sum / count.max(1) as f64,
        precision_min_bits: min,
        key_bytes: keys.seeded_byte_size(),
        galois_keys: keys.galois.elements().len(),
        diagonal_bytes: bootstrapper.diagonal_bytes(),
        peak_memory_mib: peak_memory_mib(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_runs_at_test_parameters_and_reports_json() {
        let r = run_bootstrap_bench(super::super::BOOTSTRAP_LOGN10_INSECURE_TEST, 1, 1).unwrap();
        assert_eq!(r.log_n, 10);
        assert_eq!(r.levels_left, 2);
        assert!(r.precision_min_bits > 20.0, "{}", r.precision_min_bits);
        assert!(r.key_bytes > 0 && r.galois_keys > 0);
        let json = r.to_json();
        for key in [
            "\"log_n\":10",
            "\"bootstrap_s\":",
            "\"levels_left\":2",
            "\"precision_mean_bits\":",
            "\"precision_min_bits\":",
            "\"key_bytes\":",
            "\"peak_memory_mib\":",
            "\"keygen_s\":",
            "\"stage_s\":{\"mod_raise\":",
            "\"eval_mod\":",
        ] {
            assert!(json.contains(key), "{key} missing in {json}");
        }
        assert!(run_bootstrap_bench(super::super::BOOTSTRAP_LOGN10_INSECURE_TEST, 1, 0).is_err());
    }
}
