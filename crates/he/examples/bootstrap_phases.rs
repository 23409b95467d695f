//! Per-phase timing of one bootstrap at a preset:
//! `cargo run --release -p henn-he --example bootstrap_phases -- [preset] [threads]`.

use henn_he::ckks::bootstrapping::{
    Bootstrapper, BootstrappingKeys, BootstrappingParameters, BOOTSTRAP_PRESETS,
};
use henn_he::ckks::{Complex64, Encoder, Encryptor};
use henn_he::rlwe::KeyGenerator;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map_or("BOOTSTRAP_128BIT_LOGN16", String::as_str);
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(preset) = BOOTSTRAP_PRESETS.iter().find(|p| p.name == name) else {
        eprintln!("unknown preset {name}");
        std::process::exit(2);
    };
    let result = henn_he::with_threads(threads, || -> Result<(), henn_he::ckks::CkksError> {
        let params = BootstrappingParameters::new(*preset)?;
        let ckks = params.ckks();
        let keygen = KeyGenerator::new(ckks.rlwe());
        let sk = keygen.secret_key().clone();
        let keys = Arc::new(BootstrappingKeys::generate(&params, &sk)?);
        let b = Bootstrapper::new(&params, keys)?;
        let x: Vec<Complex64> = (0..ckks.slots())
            .map(|i| Complex64::new((i % 7) as f64 / 7.0, (i % 5) as f64 / 5.0))
            .collect();
        let ct = Encryptor::with_secret_key(ckks, &sk).encrypt(&Encoder::new(ckks).encode(
            &x,
            0,
            ckks.default_scale(),
        )?)?;
        for round in 0..2 {
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
        }
        Ok(())
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("{e}"),
        Err(e) => eprintln!("{e}"),
    }
}
