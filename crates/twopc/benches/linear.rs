//! DELPHI offline phase of relu-cnn-sized layers in both encodings, 128-bit parameters:
//! the 5×5 stride-2 convolution with 5 maps on a 28×28 input (padding top/left 1, as LoLa's
//! MNIST network) and the dense 845 → 100 layer. Times the server's answer and the client's
//! encryption + decryption; prints the bytes of each message, the noise bound, the flooding
//! width and the output level once per setting.
//!
//! Measured 2026-12-03 on the shared 2-core machine (load average 2.4–7, so absolute times
//! are noisy; compare within a run). Server answer time, request + response bytes, key bytes:
//!
//! | layer | setting | server | request + response | keys |
//! |---|---|---|---|---|
//! | conv 5×5 s2, 5 maps, 28×28 | slot, n=2^14 | 400 ms | 0.66 + 0.44 MB | 76 MB |
//! | | coefficient, n=2^14 | 13.7 ms | 0.66 + 0.44 MB | 0.66 MB |
//! | | coefficient, n=2^13 | 2.8 ms | 0.17 + 0.22 MB | 0.17 MB |
//! | dense 845→100 | slot, n=2^14 | 392 ms | 0.66 + 0.44 MB | 68 MB |
//! | | coefficient, n=2^14 | 96 ms | 1.33 + 1.33 MB | 0.66 MB |
//! | | coefficient, n=2^13 | 32 ms | 0.66 + 0.66 MB | 0.17 MB |
//!
//! (conv rows after e5c057a, dense rows at 90045ab; the dense code is unchanged between them.)
//! Slot encoding at n=2^13 is rejected: the conv's 5 padded 29×29 channels exceed the 4096 slots
//! of a row, and the dense layer's flooded noise exceeds `Q`. The coefficient encoding wins
//! on time and keys for both layers; slot encoding sends fewer bytes only for the dense layer.

use criterion::{criterion_group, criterion_main, Criterion};
use henn_twopc::linear::examples::relu_cnn;
use henn_twopc::linear::{
    Encoding, LayerHeContext, LayerHeParams, LinearClient, LinearLayer, LinearServer, PublicLayer,
};

fn layers() -> Vec<(&'static str, LinearLayer)> {
    // conv1 (5×5 stride 2, 5 maps, 28×28) and fc1 (845 → 100)
    relu_cnn().into_iter().take(2).collect()
}

fn settings() -> Vec<(&'static str, LayerHeParams)> {
    let mut coeff14 = LayerHeParams::delphi_default();
    coeff14.encoding = Encoding::Coefficient;
    vec![
        ("slot_logn14", LayerHeParams::delphi_default()),
        ("coeff_logn14", coeff14),
        ("coeff_logn13", LayerHeParams::logn13(Encoding::Coefficient)),
    ]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("delphi_offline");
    group.sample_size(10);
    for (lname, layer) in layers() {
        let lname = if lname == "conv1" {
            "conv5x5s2_28x28_5maps"
        } else {
            "dense_845x100"
        };
        for (sname, setting) in settings() {
            let ctx = match LayerHeContext::new(&PublicLayer::of(&layer), &setting) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{lname}/{sname}: rejected: {e}");
                    continue;
                }
            };
            let mut client = LinearClient::new(&ctx).expect("client");
            let keys = client.evaluation_keys().expect("keys");
            let key_bytes = keys.to_bytes(&ctx).len();
            let server = LinearServer::new(&layer, &ctx, keys).expect("server");
            let r = client.sample_mask().expect("mask");
            let req = client.request(&r).expect("request");
            let (resp, _) = server.respond(&req).expect("respond");
            eprintln!(
                "{lname}/{sname}: request {} B ({} cts), response {} B ({} cts at level {}), keys {} B, noise ≤ 2^{:.1}, flood 2^{}",
                req.to_bytes(&ctx).len(),
                ctx.packing.inputs.len(),
                resp.to_bytes(&ctx).len(),
                ctx.packing.output_cts,
                ctx.output_level,
                key_bytes,
                ctx.noise_bits,
                ctx.flood_bits
            );
            group.bench_function(format!("{lname}/{sname}/server_respond"), |b| {
                b.iter(|| server.respond(&req).expect("respond"))
            });
            group.bench_function(format!("{lname}/{sname}/client_request_finish"), |b| {
                b.iter(|| {
                    let q = client.request(&r).expect("request");
                    let s = client.finish(&r, &resp).expect("finish");
                    (q, s)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
