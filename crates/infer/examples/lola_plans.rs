//! Prints the clear-backend profile of LoLa's MNIST networks under every strategy (LoLa
//! Table 1 and its variants): `cargo run --release -p henn-infer --example lola_plans [n]`.

use henn_infer::backend::clear::ClearBackend;
use henn_infer::plan::{plan, profile, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_infer::zoo::{lola_mnist, lola_small, SmallInts};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(8192);
    let mut rng = SmallInts::new(1);
    let x: Vec<i128> = (0..784).map(|_| rng.next_in(255).abs() as i128).collect();
    for net in [lola_mnist::<i128>(1, 15)?, lola_small::<i128>(1, 15)?] {
        for strategy in [
            Strategy::LoLa,
            Strategy::LoLaBsgs,
            Strategy::LoLaDense,
            Strategy::CryptoNets,
        ] {
            // SIMD needs one slot per record only: profile it on a tiny ring.
            let ring = if strategy == Strategy::CryptoNets {
                16
            } else {
                n
            };
            let b = ClearBackend::<i128>::bfv_like(ring, 16)?;
            let p = plan(&net, SlotGeometry::of(&b), strategy)?;
            let (y, report) = profile(&b, &net, &p, &x)?;
            assert_eq!(y, net.forward(&x)?);
            println!(
                "== {} / {strategy:?} / BFV n = {ring}\n{report}\n",
                net.name
            );
        }
    }
    Ok(())
}
