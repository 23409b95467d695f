//! Compiled models and client/server sessions end to end on the shipped `lola-small` model and
//! MNIST test images, for both schemes: BFV decryptions equal the quantized model's integer
//! logits exactly, CKKS predictions equal the float model's class; compiled files round-trip
//! and are refused when corrupted or for another model; uploads with the wrong keys are
//! refused.

use std::path::PathBuf;
use std::sync::Arc;

use henn_infer::session::{
    compile, Calibration, ClientSession, CompileOptions, CompiledModel, EncryptedInput,
    EvaluationKeys, SchemeChoice, ServerSession,
};
use henn_nn::data::{load_mnist, Split};
use henn_nn::model::{argmax, Model};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setup() -> (Model, Vec<f32>) {
    let model = Model::load(root().join("models/lola-small")).expect("model");
    let test = load_mnist(&root().join("data/mnist"), Split::Test).expect("mnist");
    (model, test.images[..784 * 40].to_vec())
}

fn compiled(scheme: SchemeChoice) -> (Model, Vec<f32>, Arc<CompiledModel>) {
    let (model, images) = setup();
    let calibration = Calibration::from_flat(&images[784 * 3..], 784, 30).expect("calibration");
    let options = CompileOptions {
        scheme,
        // CKKS has no room for circuit privacy (see henn_infer::session::compile)
        circuit_privacy: scheme != SchemeChoice::Ckks,
        ..CompileOptions::default()
    };
    let c = compile(&model, "lola-small", &calibration, &options).expect("compile");
    (model, images, Arc::new(c))
}

#[test]
fn bfv_session_is_exact_and_files_round_trip() {
    let (model, images, c) = compiled(SchemeChoice::Bfv);
    assert_eq!(c.public().parameters.name(), "bfv");
    let client = ClientSession::new(c.public().clone()).expect("client");
    let keys = client.evaluation_key_bytes().expect("keys");
    let server = ServerSession::from_key_bytes(c.clone(), &keys).expect("server");
    for i in 0..3 {
        let x = &images[i * 784..(i + 1) * 784];
        let up = client.encrypt_bytes(x).expect("encrypt");
        let down = server.run_bytes(&up).expect("run");
        let p = client.decrypt_bytes(&down).expect("decrypt");
        let want = c
            .reference_integer_logits(x)
            .expect("reference")
            .expect("bfv");
        assert_eq!(p.integer_logits.as_ref(), Some(&want), "image {i}");
    }
    // A compiled file round-trips ...
    let bytes = c.to_bytes();
    let back = CompiledModel::from_bytes(&bytes, &model).expect("reload");
    assert_eq!(back.public(), c.public());
    // ... is refused when a byte of its body changes ...
    let mut bad = bytes.clone();
    let last = bad.len() - 10;
    bad[last] ^= 1;
    assert!(CompiledModel::from_bytes(&bad, &model).is_err());
    // ... and for a model with other weights.
    let other = Model::load(root().join("models/lola-mnist")).expect("model");
    assert!(CompiledModel::from_bytes(&bytes, &other).is_err());
    // The secret-key file round-trips into the same key (it decrypts the same output).
    let sk = client.secret_key_bytes();
    let again = ClientSession::from_secret_key_bytes(c.public().clone(), &sk).expect("sk");
    let up = client.encrypt_bytes(&images[..784]).expect("encrypt");
    let down = server.run_bytes(&up).expect("run");
    assert_eq!(
        again.decrypt_bytes(&down).expect("decrypt"),
        client.decrypt_bytes(&down).expect("decrypt")
    );
}

#[test]
fn ckks_session_predicts_the_float_models_class() {
    let (model, images, c) = compiled(SchemeChoice::Ckks);
    assert_eq!(c.public().parameters.name(), "ckks");
    let client = ClientSession::new(c.public().clone()).expect("client");
    let server = ServerSession::new(c.clone(), client.evaluation_keys().expect("keys")).expect("s");
    for i in 0..5 {
        let x = &images[i * 784..(i + 1) * 784];
        let out = server
            .run(&client.encrypt(x).expect("encrypt"))
            .expect("run");
        let p = client.decrypt(&out).expect("decrypt");
        let float = model.forward(x).expect("float");
        assert_eq!(p.class, argmax(&float), "image {i}");
        let want = c.reference_logits(x).expect("reference");
        let largest = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in p.logits.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-2 * largest, "{a} vs {b}");
        }
    }
    let back = CompiledModel::from_bytes(&c.to_bytes(), &model).expect("reload");
    assert_eq!(back.public(), c.public());
}

#[test]
fn auto_picks_a_scheme_and_wrong_keys_or_inputs_are_refused() {
    let (_, images, c) = compiled(SchemeChoice::Auto);
    let client = ClientSession::new(c.public().clone()).expect("client");
    let ctx = c.context();
    let mut keys: EvaluationKeys = client.evaluation_keys().expect("keys");
    // A Galois key the plan never uses is refused.
    let g = keys.galois.elements();
    if let Some(&e) = g.first() {
        let mut extra = henn_he::rlwe::GaloisKeys::generate(
            &henn_he::rlwe::SecretKey::generate(
                match ctx {
                    henn_infer::session::SchemeContext::Bfv(p) => p[0].rlwe(),
                    henn_infer::session::SchemeContext::Ckks(p) => p.rlwe(),
                },
                &mut henn_ring::sampler::os_rng(),
            ),
            &[3, e],
            &mut henn_ring::sampler::os_rng(),
        )
        .expect("keys");
        std::mem::swap(&mut keys.galois, &mut extra);
        let bytes = keys.to_bytes(ctx, c.public());
        assert!(ServerSession::from_key_bytes(c.clone(), &bytes).is_err());
    }
    // A truncated upload and a truncated input are refused with errors, not panics.
    let good = client.evaluation_key_bytes().expect("keys");
    assert!(ServerSession::from_key_bytes(c.clone(), &good[..good.len() / 2]).is_err());
    let server = ServerSession::from_key_bytes(c.clone(), &good).expect("server");
    let up = client.encrypt_bytes(&images[..784]).expect("encrypt");
    assert!(server.run_bytes(&up[..up.len() - 1]).is_err());
    assert!(EncryptedInput::from_bytes(ctx, c.public(), &up[..20]).is_err());
    // An input of the wrong length is refused by the client.
    assert!(client.encrypt(&images[..100]).is_err());
}

/// Circuit privacy (on by default for BFV): two runs on the very same encrypted input return
/// different ciphertexts (re-randomized and flooded: without it the evaluation is a
/// deterministic function of the input and the weights) that decrypt to the same exact
/// logits; the upload carries the public key (its layout size included), an upload without it
/// is refused; with circuit privacy off the two answers are byte-identical.
#[test]
fn bfv_outputs_are_rerandomized_and_still_exact() {
    let (_, images, c) = compiled(SchemeChoice::Bfv);
    let privacy = c.public().output_privacy.expect("privacy on by default");
    assert_eq!(privacy.stat_bits, 40);
    assert!(privacy.flood_bits >= 40, "{privacy:?}");
    let client = ClientSession::new(c.public().clone()).expect("client");
    let keys = client.evaluation_keys().expect("keys");
    assert!(keys.public.is_some());
    let bytes = keys.to_bytes(c.context(), c.public());
    let layout =
        henn_infer::session::KeyUploadLayout::new(c.context(), c.public()).expect("layout");
    assert_eq!(layout.total_bytes(), bytes.len() as u64);
    layout
        .check_prefix(&bytes)
        .expect("a valid upload fits its layout");
    let mut without = keys.clone();
    without.public = None;
    assert!(ServerSession::new(c.clone(), without).is_err());
    let server = ServerSession::new(c.clone(), keys).expect("server");
    let x = &images[..784];
    let up = client.encrypt_bytes(x).expect("encrypt");
    let a = server.run_bytes(&up).expect("run");
    let b = server.run_bytes(&up).expect("run");
    assert_ne!(a, b, "two answers to one input must differ (re-randomized)");
    let want = c
        .reference_integer_logits(x)
        .expect("reference")
        .expect("bfv");
    for down in [&a, &b] {
        let p = client.decrypt_bytes(down).expect("decrypt");
        assert_eq!(p.integer_logits.as_ref(), Some(&want));
    }

    // off: deterministic answers, no public key in the upload
    let (model, images) = setup();
    let calibration = Calibration::from_flat(&images[784 * 3..], 784, 30).expect("calibration");
    let plain = Arc::new(
        compile(
            &model,
            "lola-small",
            &calibration,
            &CompileOptions {
                scheme: SchemeChoice::Bfv,
                circuit_privacy: false,
                ..CompileOptions::default()
            },
        )
        .expect("compile"),
    );
    assert!(plain.public().output_privacy.is_none());
    let client = ClientSession::new(plain.public().clone()).expect("client");
    let keys = client.evaluation_keys().expect("keys");
    assert!(keys.public.is_none());
    let server = ServerSession::new(plain.clone(), keys).expect("server");
    let up = client.encrypt_bytes(x).expect("encrypt");
    assert_eq!(
        server.run_bytes(&up).expect("run"),
        server.run_bytes(&up).expect("run")
    );
}

/// CKKS has no room for flooding at these chains: compiling CKKS with circuit privacy on is
/// refused with an explanation, and `Auto` then picks BFV.
#[test]
fn ckks_with_circuit_privacy_is_refused_and_auto_picks_bfv() {
    let (model, images) = setup();
    let calibration = Calibration::from_flat(&images[784 * 3..], 784, 30).expect("calibration");
    let err = compile(
        &model,
        "lola-small",
        &calibration,
        &CompileOptions {
            scheme: SchemeChoice::Ckks,
            ..CompileOptions::default()
        },
    )
    .expect_err("CKKS with circuit privacy");
    assert!(err.to_string().contains("circuit privacy"), "{err}");
    let auto = compile(
        &model,
        "lola-small",
        &calibration,
        &CompileOptions::default(),
    )
    .expect("auto");
    assert_eq!(auto.public().parameters.name(), "bfv");
    assert!(auto.public().output_privacy.is_some());
}
