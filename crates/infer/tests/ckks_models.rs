//! The shipped float models on CKKS at 128-bit security (n = 8192): encrypted predictions agree
//! with the float model's on MNIST test images (LoLa section 4.3 networks, no quantization).

use std::path::PathBuf;

use henn_infer::backend::ckks::{parameters_for_depth, CkksBackend, KeySpec, PlaintextCache};
use henn_infer::backend::clear::ClearBackend;
use henn_infer::calibrate::normalize_ranges;
use henn_infer::encrypted::{decrypt_vector, encrypt_vector};
use henn_infer::from_nn::real_network;
use henn_infer::plan::{execute, key_requirements, plan, profile, Strategy};
use henn_infer::representation::SlotGeometry;
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Plans `name` for CKKS at n = 8192, encrypts `images` test images and checks the predicted
/// classes against the float model and the logits against the real forward pass.
fn agree_with_float_model(name: &str, strategy: Strategy, images: usize) {
    let model = Model::load(root().join("models").join(name)).expect("model");
    let net = real_network(&model).expect("network");
    let test = load_mnist(&root().join("data/mnist"), Split::Test).expect("mnist");
    let len = net.input_len;
    let image = |i: usize| test.images[i * len..(i + 1) * len].to_vec();
    let calib: Vec<Vec<f64>> = (100..164)
        .map(|i| image(i).iter().map(|&v| f64::from(v)).collect())
        .collect();
    let (net, factor) = normalize_ranges(&net, &calib, 1.0).expect("calibration");
    assert!(factor > 0.0);
    let geometry = SlotGeometry {
        rows: 1,
        row_len: 4096,
    };
    let p = plan(&net, geometry, strategy).expect("plan");
    let clear = ClearBackend::<f64>::new(1, 4096, 32).unwrap();
    let (_, report) = profile(&clear, &net, &p, &vec![0.0; len]).unwrap();
    let depth = 32 - report.steps.last().unwrap().level;
    let params = parameters_for_depth(13, depth, 6).expect("parameters fit n = 8192");
    assert!(params.rlwe().is_secure());
    let keys = key_requirements(&net, &p, depth).unwrap();
    let spec = KeySpec {
        rotation_steps: keys.rotation_steps.iter().copied().collect(),
        row_swap: false,
        relinearization: keys.relinearization,
    };
    let b = CkksBackend::generate(&params, &spec).unwrap();
    b.evaluator.set_plaintext_cache(PlaintextCache::Record);
    let zero = encrypt_vector(&b.encryptor, p.input.clone(), &vec![0.0; len]).unwrap();
    execute(&b.evaluator, &net, &p, zero, |_, _, _, _| {}).unwrap();
    b.evaluator.set_plaintext_cache(PlaintextCache::Frozen);
    for i in 0..images {
        let x32 = image(i);
        let x: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        let float_class = argmax(&model.forward(&x32).unwrap());
        let want = net.forward(&x).unwrap();
        assert_eq!(
            argmax(&want),
            float_class,
            "{name}: image {i}: f64 vs f32 forward"
        );
        let ct = encrypt_vector(&b.encryptor, p.input.clone(), &x).unwrap();
        let out = execute(&b.evaluator, &net, &p, ct, |_, _, _, _| {}).unwrap();
        let got = decrypt_vector(&b.encryptor, &out).unwrap();
        let largest = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-2 * largest,
                "{name}: image {i}: logits {got:?} vs {want:?}"
            );
        }
        assert_eq!(argmax(&got), float_class, "{name}: image {i}");
    }
}

#[test]
fn lola_small_on_ckks_agrees_with_the_float_model() {
    agree_with_float_model("lola-small", Strategy::LoLa, 4);
}

#[test]
fn lola_mnist_on_ckks_agrees_with_the_float_model() {
    agree_with_float_model("lola-mnist", Strategy::LoLaBsgs, 4);
}
