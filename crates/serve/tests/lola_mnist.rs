//! The served model, `lola-mnist` (two squares: the deepest shipped network), through
//! the real server on loopback: the parameters the server plans must leave noise budget for an
//! exact answer. (A server sized without the planner's noise check once answered every
//! `lola-mnist` request with garbage.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use henn_nn::data::{load_mnist, Split};
use henn_serve::server::{load_models, start_with_models};
use henn_serve::{Client, ClientKeys, ServerConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn served_lola_mnist_predictions_equal_the_plaintext_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(repo().join("models"), dir.path().join("keys.redb"));
    config.models = vec!["lola-mnist".into()];
    config.calibration_data = repo().join("data/mnist");
    config.calibration_images = 200;
    config.workers = 1;
    let models = load_models(&config).unwrap();
    let model = models["lola-mnist"].clone();
    let server = start_with_models(config, models).unwrap();
    let client = Client::new(&server.url(), Duration::from_secs(300));
    let plan = client.plan("lola-mnist").unwrap();
    let (mut keys, upload) = ClientKeys::generate(&server.url(), plan.clone()).unwrap();
    keys.session.key_id = client.upload_keys(&upload).unwrap().key_id;

    let test = load_mnist(&repo().join("data/mnist"), Split::Test).unwrap();
    let image = &test.images[..784];
    let expected = model
        .net
        .forward(&plan.quantize_input(image).unwrap())
        .unwrap();
    let p = keys.predict(&client, image).unwrap();
    assert_eq!(p.logits, expected);
    assert!(p.noise_budget_bits > 0);
}
