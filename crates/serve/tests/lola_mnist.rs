//! The served model, `lola-mnist` (two squares: the deepest shipped network), through
//! the real server on loopback with BFV and circuit privacy (the default: flooded outputs) and
//! with CKKS without circuit privacy (the fastest choice when the model owner turns it off):
//! BFV answers equal the quantized model exactly (a server sized without the planner's noise
//! check once answered every `lola-mnist` request with garbage); CKKS answers give the float
//! model's class, and a CKKS answer is a small download (outputs dropped to the last level).

use std::path::{Path, PathBuf};
use std::time::Duration;

use henn_infer::session::SchemeChoice;
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};
use henn_serve::server::{load_models, start_with_models};
use henn_serve::{Client, ClientKeys, ServerConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn serve(
    scheme: SchemeChoice,
    circuit_privacy: bool,
    images: &[f32],
) -> Vec<henn_serve::Prediction> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(repo().join("models"), dir.path().join("keys.redb"));
    config.models = vec!["lola-mnist".into()];
    config.calibration_data = repo().join("data/mnist");
    config.calibration_images = 200;
    config.workers = 1;
    config.compile_options.scheme = scheme;
    config.compile_options.circuit_privacy = circuit_privacy;
    let models = load_models(&config).unwrap();
    let model = models["lola-mnist"].clone();
    let server = start_with_models(config, models).unwrap();
    let client = Client::new(&server.url(), Duration::from_secs(300));
    let public = client.public_model("lola-mnist").unwrap();
    let (mut keys, upload) = ClientKeys::generate(&server.url(), public).unwrap();
    keys.set_receipt(&client.upload_keys(&upload).unwrap());
    let out: Vec<_> = images
        .chunks_exact(784)
        .map(|x| {
            let p = keys.predict(&client, x).unwrap();
            if scheme == SchemeChoice::Bfv {
                let want = model.compiled.reference_integer_logits(x).unwrap();
                assert_eq!(p.integer_logits, want);
            }
            p
        })
        .collect();
    server.shutdown().unwrap();
    out
}

#[test]
fn served_lola_mnist_bfv_is_exact() {
    let test = load_mnist(&repo().join("data/mnist"), Split::Test).unwrap();
    serve(SchemeChoice::Bfv, true, &test.images[..784]);
}

#[test]
fn served_lola_mnist_ckks_without_circuit_privacy_predicts_the_float_models_class() {
    let test = load_mnist(&repo().join("data/mnist"), Split::Test).unwrap();
    let model = Model::load(repo().join("models/lola-mnist")).unwrap();
    let images = &test.images[..784 * 3];
    for (p, x) in serve(SchemeChoice::Ckks, false, images)
        .iter()
        .zip(images.chunks_exact(784))
    {
        assert_eq!(p.class, argmax(&model.forward(x).unwrap()));
        assert!(p.integer_logits.is_none(), "a CKKS answer");
        assert!(p.bytes_down < 100_000, "{} bytes down", p.bytes_down);
    }
}
