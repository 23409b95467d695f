//! Per-phase timing of one bootstrap at a preset:
//! `cargo run --release -p henn-he --example bootstrap_phases -- [preset] [threads]`.

use henn_he::ckks::bootstrapping::{dft, EncodedLinearTransform};
use henn_he::ckks::bootstrapping::{
    Bootstrapper, BootstrappingKeys, BootstrappingParameters, BootstrappingPreset,
    BOOTSTRAP_128BIT_LOGN16, BOOTSTRAP_PRESETS,
};
use henn_he::ckks::{Complex64, Decryptor, Encoder, Encryptor, Evaluator};
use henn_he::rlwe::KeyGenerator;
use std::sync::Arc;
use std::time::Instant;

/// Process CPU seconds (0 where the OS does not report them).
fn cpu_seconds() -> f64 {
    henn_he::ckks::bootstrapping::bench::process_cpu_seconds().unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map_or("BOOTSTRAP_128BIT_LOGN16", String::as_str);
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    // `PROXY_LOGN<k>`: the logN16 chain at a smaller ring (insecure), for profiling.
    let proxy = name
        .strip_prefix("PROXY_LOGN")
        .and_then(|k| k.parse::<u32>().ok())
        .map(|log_n| BootstrappingPreset {
            name: "PROXY",
            log_n,
            secure: false,
            ..BOOTSTRAP_128BIT_LOGN16
        });
    let Some(preset) = proxy
        .as_ref()
        .or_else(|| BOOTSTRAP_PRESETS.iter().find(|p| p.name == name))
    else {
        eprintln!("unknown preset {name}");
        std::process::exit(2);
    };
    let result = henn_he::with_threads(threads, || -> Result<(), henn_he::HeError> {
        let params = BootstrappingParameters::new(*preset)?;
        let ckks = params.ckks();
        let keygen = KeyGenerator::new(ckks.rlwe());
        let sk = keygen.secret_key().clone();
        let keys = Arc::new(BootstrappingKeys::generate(&params, &sk)?);
        let b = Bootstrapper::new(&params, keys)?;
        let preset = params.preset();
        let x: Vec<Complex64> = (0..ckks.slots())
            .map(|i| Complex64::new((i % 7) as f64 / 7.0, (i % 5) as f64 / 5.0))
            .collect();
        let ct = Encryptor::with_secret_key(ckks, &sk).encrypt(&Encoder::new(ckks).encode(
            &x,
            0,
            ckks.default_scale(),
        )?)?;
        for round in 0..2 {
            let c0 = cpu_seconds();
            let t = Instant::now();
            let raised = b.mod_raise(&ct)?;
            let t1 = t.elapsed().as_secs_f64();
            let (re, im) = b.coeffs_to_slots(&raised)?;
            let t2 = t.elapsed().as_secs_f64();
            let re = b.eval_mod(&re)?;
            let t3 = t.elapsed().as_secs_f64();
            let im = b.eval_mod(&im)?;
            let t4 = t.elapsed().as_secs_f64();
            let _out = b.slots_to_coeffs(&re, &im)?;
            let t5 = t.elapsed().as_secs_f64();
            println!(
                "round {round}: mod_raise {t1:.2} s, cts {:.2} s, eval_mod {:.2} + {:.2} s, stc {:.2} s, total {t5:.2} s",
                t2 - t1,
                t3 - t2,
                t4 - t3,
                t5 - t4
            );
            println!("round {round}: cpu {:.2} s", cpu_seconds() - c0);
        }
        // Same-run comparison of the two linear-transform evaluations on the first
        // CoeffsToSlots factor (process CPU time, robust to a loaded machine).
        let params_c = params.clone();
        let factor =
            &dft::coeffs_to_slots(ckks.degree(), ckks.slots(), preset.cts_q_bits.len(), 1.0)[0];
        let encoded = EncodedLinearTransform::new(ckks, factor, params_c.cts_start_level())?;
        let raised = b.mod_raise(&ct)?;
        let eval = Evaluator::new(ckks);
        let decryptor = Decryptor::new(ckks, &sk);
        let galois = &b.keys().galois;
        for _ in 0..2 {
            let c = cpu_seconds();
            let lazy = encoded.evaluate(&eval, &raised, galois)?;
            let c1 = cpu_seconds();
            let single = encoded.evaluate_single_hoisted(&eval, &raised, galois)?;
            let c2 = cpu_seconds();
            let (a, b2) = (
                decryptor.decrypt_values(&lazy)?,
                decryptor.decrypt_values(&single)?,
            );
            let diff = a
                .iter()
                .zip(&b2)
                .map(|(x, y)| (x - y).norm())
                .fold(0.0, f64::max);
            let mag = b2.iter().map(|y| y.norm()).fold(0.0, f64::max);
            println!(
                "cts factor 0: QP-accumulated giants {:.2} s cpu, single hoisting {:.2} s cpu, max |diff| {diff:.3e} (max |value| {mag:.3e})",
                c1 - c,
                c2 - c1
            );
        }
        Ok(())
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("{e}"),
        Err(e) => eprintln!("{e}"),
    }
}
