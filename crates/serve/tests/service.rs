//! The service end to end on loopback with the shipped `lola-small` model: one server (and one
//! restart on the same store), real keys, real encrypted predictions compared with the
//! plaintext integer model, and every error path the issue lists.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use henn_infer::session::{SchemeChoice, SchemeParameters};
use henn_nn::data::{load_mnist, Split};
use henn_serve::server::{load_models, start_with_models, KEY_HEADER};
use henn_serve::{Client, ClientKeys, ServerConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn argmax(v: &[i128]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

fn error_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("error bodies are JSON");
    v["error"].as_str().expect("an error message").to_string()
}

#[test]
fn service_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(repo().join("models"), dir.path().join("keys.redb"));
    config.models = vec!["lola-small".into()];
    config.calibration_data = repo().join("data/mnist");
    config.calibration_images = 200;
    config.workers = 1;
    config.queue_capacity = 1;
    // BFV: every answer is compared exactly with the quantized model.
    config.compile_options.scheme = SchemeChoice::Bfv;
    let models = load_models(&config).unwrap();
    let model = models["lola-small"].clone();
    let server = start_with_models(config.clone(), models.clone()).unwrap();
    let client = Client::new(&server.url(), Duration::from_secs(300));

    // Discovery.
    assert_eq!(client.health().unwrap()["status"], "ok");
    assert_eq!(client.models().unwrap(), vec!["lola-small".to_string()]);
    let plan = client.public_model("lola-small").unwrap();
    assert_eq!(plan.parameters.name(), "bfv");
    assert_eq!(&plan, model.public());
    let (status, body) = client.raw("GET", "/v1/models/nope", &[], None).unwrap();
    assert_eq!(status, 404);
    assert!(error_of(&body).contains("unknown model"));

    // Keys: made locally, evaluation keys uploaded.
    let (mut keys, upload) = ClientKeys::generate(&server.url(), plan.clone()).unwrap();
    let receipt = client.upload_keys(&upload).unwrap();
    keys.set_receipt(&receipt);
    let keys_dir = dir.path().join("client");
    keys.save(&keys_dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys_dir.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(keys_dir.join("session.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let keys = ClientKeys::load(&keys_dir).unwrap();
    // A truncated or garbled key upload is refused.
    let (status, body) = client
        .raw("POST", "/v1/keys", &[], Some(&upload[..upload.len() / 2]))
        .unwrap();
    assert_eq!(status, 400, "{}", error_of(&body));
    let (status, _) = client
        .raw("POST", "/v1/keys", &[], Some(b"HNSV garbage"))
        .unwrap();
    assert_eq!(status, 400);

    // Predictions equal the plaintext integer model's, exactly.
    let test = load_mnist(&repo().join("data/mnist"), Split::Test).unwrap();
    let len = 784;
    let image = |i: usize| &test.images[i * len..(i + 1) * len];
    let expected = |i: usize| {
        model
            .compiled
            .reference_integer_logits(image(i))
            .unwrap()
            .unwrap()
    };
    for i in 0..2 {
        let p = keys.predict(&client, image(i)).unwrap();
        assert_eq!(p.integer_logits, Some(expected(i)), "image {i}");
        assert_eq!(p.class, argmax(&expected(i)));
        assert!(p.bytes_up <= model.max_input_bytes());
    }

    // Error paths; the server keeps serving afterwards.
    let body = keys.session().encrypt_bytes(image(0)).unwrap();
    let predict_path = "/v1/models/lola-small/predict";
    let id_owned = keys.file.key_id.clone();
    let id = id_owned.as_str();
    let auth_owned = format!("Bearer {}", keys.file.token);
    let auth = auth_owned.as_str();
    let post = |headers: &[(&str, &str)], b: &[u8]| {
        let mut h = headers.to_vec();
        h.push(("authorization", auth));
        client.raw("POST", predict_path, &h, Some(b)).unwrap()
    };
    let (status, body404) = post(&[(KEY_HEADER, "0123456789abcdef0123456789abcdef")], &body);
    assert_eq!(status, 404);
    assert!(
        error_of(&body404).contains("unknown"),
        "{}",
        error_of(&body404)
    );
    let (status, _) = post(&[], &body);
    assert_eq!(status, 400, "missing key header");
    let (status, b) = post(&[(KEY_HEADER, id)], b"not a ciphertext");
    assert_eq!(status, 400, "{}", error_of(&b));
    let (status, b) = post(&[(KEY_HEADER, id)], &body[..body.len() - 1000]);
    assert_eq!(status, 400, "{}", error_of(&b));
    assert!(error_of(&b).contains("truncated"), "{}", error_of(&b));
    let mut corrupt = body.clone();
    // The first ciphertext's own header (after the 16-byte message header and its length).
    corrupt[20] ^= 0xff;
    let (status, b) = post(&[(KEY_HEADER, id)], &corrupt);
    assert_eq!(status, 400, "{}", error_of(&b));
    assert!(error_of(&b).contains("magic"), "{}", error_of(&b));
    let mut wrong_version = body.clone();
    wrong_version[4] = 9;
    let (status, b) = post(&[(KEY_HEADER, id)], &wrong_version);
    assert_eq!(status, 400);
    assert!(error_of(&b).contains("version"), "{}", error_of(&b));
    let mut oversized = body.clone();
    oversized.extend_from_slice(&[0u8; 4096]);
    let (status, b) = post(&[(KEY_HEADER, id)], &oversized);
    assert_eq!(status, 413, "{}", error_of(&b));
    // A ciphertext made for other parameters (another plaintext prime).
    let mut other = plan.clone();
    let SchemeParameters::Bfv {
        log_n,
        plaintext_primes,
        ..
    } = &mut other.parameters
    else {
        panic!("BFV model");
    };
    let n = 1u64 << *log_n;
    let t0 = plaintext_primes[0];
    let mut k = t0 / (2 * n) - 1;
    while !(henn_ring::is_prime(k * 2 * n + 1)) || plaintext_primes.contains(&(k * 2 * n + 1)) {
        k -= 1;
    }
    plaintext_primes[0] = k * 2 * n + 1;
    let (mut other_keys, _) = ClientKeys::generate(&server.url(), other.clone()).unwrap();
    other_keys.file.key_id = id.to_string();
    other_keys.file.token = keys.file.token.clone();
    let foreign = other_keys.session().encrypt_bytes(image(0)).unwrap();
    assert_eq!(foreign.len(), body.len());
    let (status, b) = post(&[(KEY_HEADER, id)], &foreign);
    assert_eq!(status, 400);
    assert!(error_of(&b).contains("fingerprint"), "{}", error_of(&b));
    let p = keys.predict(&client, image(2)).unwrap();
    assert_eq!(
        p.integer_logits,
        Some(expected(2)),
        "still serving after bad requests"
    );

    // A full queue answers 503 (one running, one waiting, the rest rejected), never crashes.
    let keys = Arc::new(keys);
    let handles: Vec<_> = (0..5)
        .map(|j| {
            let (keys, client) = (keys.clone(), client.clone());
            let x = image(3 + j).to_vec();
            std::thread::spawn(move || keys.predict(&client, &x).map(|p| p.integer_logits))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut served = 0;
    let mut rejected = 0;
    for (j, r) in results.into_iter().enumerate() {
        match r {
            Ok(logits) => {
                assert_eq!(logits, Some(expected(3 + j)));
                served += 1;
            }
            Err(e) => {
                assert_eq!(e.status(), 503, "{e}");
                rejected += 1;
            }
        }
    }
    assert!(
        served >= 1 && rejected >= 1,
        "served {served}, rejected {rejected}"
    );
    let (status, metrics) = client.raw("GET", "/metrics", &[], None).unwrap();
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains(&format!(
        "henn_requests_total{{route=\"/v1/models/{{name}}/predict\",outcome=\"rejected\"}} {rejected}"
    )), "{metrics}");
    assert!(metrics.contains("henn_queue_depth 0"), "{metrics}");
    assert!(metrics.contains("henn_keys_stored 1"), "{metrics}");

    // Keys survive a restart on the same store.
    server.shutdown().unwrap();
    let server = start_with_models(config, models).unwrap();
    let client = Client::new(&server.url(), Duration::from_secs(300));
    let p = keys.predict(&client, image(9)).unwrap();
    assert_eq!(p.integer_logits, Some(expected(9)), "after restart");

    // Deleting a key.
    client.delete_key(id, &keys.file.token).unwrap();
    let err = keys.predict(&client, image(0)).unwrap_err();
    assert_eq!(err.status(), 404, "{err}");
    assert_eq!(
        client
            .delete_key(id, &keys.file.token)
            .unwrap_err()
            .status(),
        404
    );
    server.shutdown().unwrap();
}
