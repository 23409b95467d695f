//! Prints the rotation count and estimated key memory of a bootstrapping preset without
//! generating keys: `cargo run --release -p henn-he --example bootstrap_rotations -- [preset]`.

use henn_he::ckks::bootstrapping::{
    required_rotations, BootstrappingParameters, BOOTSTRAP_PRESETS,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map_or("BOOTSTRAP_128BIT_LOGN16", String::as_str);
    let Some(preset) = BOOTSTRAP_PRESETS.iter().find(|p| p.name == name) else {
        eprintln!("unknown preset {name}");
        std::process::exit(2);
    };
    let params = match BootstrappingParameters::new(*preset) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let rot = required_rotations(&params).unwrap_or_default();
    let rlwe = params.ckks().rlwe();
    let limbs = rlwe.qp_basis().len();
    let digits = rlwe.dnum();
    let per_key = digits * limbs * rlwe.degree() * 8;
    println!(
        "{name}: {} rotations (+conjugation), log2(QP) = {}, {} limbs, dnum {}, {:.1} MB seeded per key, {:.2} GB seeded Galois keys, {:.2} GB in memory",
        rot.len(),
        rlwe.log_qp_bits(),
        limbs,
        digits,
        per_key as f64 / 1e6,
        (rot.len() + 1) as f64 * per_key as f64 / 1e9,
        2.0 * (rot.len() + 1) as f64 * per_key as f64 / 1e9
    );
}
