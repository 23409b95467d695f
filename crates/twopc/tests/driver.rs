//! Whole-network two-party predictions over loopback TCP against the exact plaintext
//! reference, malformed peers, and what each party receives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use henn_twopc::channel::{loopback_pair, Channel, ChannelConfig, MessageType};
use henn_twopc::driver::{Client, ModelOptions, PolicyChoice, ReluProtocol, Server, ServerModel};
use henn_twopc::error::TwoPcError;
use henn_twopc::linear::policy::{HePolicy, SecurityCheck};
use henn_twopc::linear::{Encoding, LayerHeParams};
use henn_twopc::network::quantize::{quantize, QuantConfig};
use henn_twopc::network::zoo::{synthetic_input, tiny, tiny_relu};
use henn_twopc::network::Network;
use henn_twopc::share::{ShareField, DEFAULT_SHARE_PRIME};

const DEADLINE: Duration = Duration::from_secs(60);

fn chan() -> ChannelConfig {
    ChannelConfig {
        max_message_len: 256 << 20,
        deadline: Some(Duration::from_secs(30)),
    }
}

fn field() -> ShareField {
    ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
}

/// Runs `f` on a thread and waits at most [`DEADLINE`] for it.
fn with_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{what}: no result within {DEADLINE:?}"))
}

/// A server on one end of a loopback pair (thread), the client on the other; runs `client`
/// and returns its result with the server's outcome.
fn session<T: Send + 'static>(
    model: ServerModel,
    client: impl FnOnce(Channel<TcpStream>) -> T + Send + 'static,
) -> (T, Result<henn_twopc::driver::SessionSummary, TwoPcError>) {
    let (cs, cc) = loopback_pair(chan()).unwrap();
    let model = Arc::new(model);
    with_deadline("session", move || {
        let server = std::thread::spawn(move || Server::accept(cs, model).and_then(Server::run));
        let out = client(cc);
        let s = server.join().expect("server thread panicked");
        (out, s)
    })
}

fn check_predictions(net: Network, options: ModelOptions, check: SecurityCheck, seeds: &[u64]) {
    let f = field();
    let inputs: Vec<Vec<i64>> = seeds.iter().map(|&s| synthetic_input(&net, s)).collect();
    let want: Vec<Vec<i64>> = inputs
        .iter()
        .map(|x| net.reference(&f, x).unwrap())
        .collect();
    let model = ServerModel::new(net, &options).unwrap();
    let ins = inputs.clone();
    let (got, summary) = session(model, move |ch| {
        let mut c = Client::connect(ch, None, check).unwrap();
        // one preprocessing ahead, the others on demand
        c.preprocess(1).unwrap();
        let preds: Vec<_> = ins
            .iter()
            .map(|x| c.predict_quantized(x).unwrap())
            .collect();
        c.close().unwrap();
        preds
    });
    let summary = summary.unwrap();
    assert_eq!(summary.predictions, seeds.len());
    for (i, (p, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(&p.logits, w, "prediction {i}");
        assert_eq!(p.class, henn_twopc::network::argmax(w));
        assert!(p.online.bytes() > 0 && p.offline.bytes() > p.online.bytes());
    }
}

#[test]
fn tiny_network_with_every_op_equals_the_reference() {
    check_predictions(
        tiny(7),
        ModelOptions::insecure_test(),
        SecurityCheck::InsecureTest,
        &[1, 2, 3],
    );
}

#[test]
fn relu_only_network_with_slot_and_coefficient_layers() {
    // conv1 in coefficients (its padded image does not fit a slot row at n = 2^7), the
    // dense layers in slots
    let mut o = ModelOptions::insecure_test();
    let mut policy = HePolicy::uniform(
        &["conv1", "fc1", "fc2"],
        &LayerHeParams::insecure_test(Encoding::Slot),
    );
    policy.layers[0].params = LayerHeParams::insecure_test(Encoding::Coefficient);
    o.policy = PolicyChoice::Given(policy);
    check_predictions(tiny_relu(5), o, SecurityCheck::InsecureTest, &[4, 5]);
}

fn relu_cnn() -> Network {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/relu-cnn");
    let model = henn_nn::model::Model::load(&dir).unwrap();
    quantize(&model, &QuantConfig::default()).unwrap()
}

#[test]
fn relu_cnn_quantization_cannot_wrap_and_tracks_the_float_model() {
    let net = relu_cnn();
    let bits = net.worst_case_bits(255).unwrap();
    let max = bits.iter().cloned().fold(0.0, f64::max);
    assert!(max < 40.0, "worst case 2^{max}");
    // the quantized logits follow the float ones on synthetic inputs
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/relu-cnn");
    let model = henn_nn::model::Model::load(&dir).unwrap();
    for s in 0..4 {
        let q = synthetic_input(&net, s);
        let x: Vec<f32> = q.iter().map(|&v| v as f32 / 256.0).collect();
        let fl = model.forward(&x).unwrap();
        let ql = net.reference(&field(), &q).unwrap();
        let scale = (net.output_frac_bits as f64).exp2();
        for (a, b) in fl.iter().zip(&ql) {
            assert!((*a as f64 - *b as f64 / scale).abs() < 0.05 + 0.01 * a.abs() as f64);
        }
    }
}

/// The shipped relu-cnn with 128-bit HE parameters (coefficient encoding at n = 2^13), with
/// each ReLU protocol.
#[test]
fn relu_cnn_two_party_prediction_equals_the_quantized_model() {
    for relu in [ReluProtocol::Millionaire, ReluProtocol::GarbledCircuit] {
        let o = ModelOptions {
            policy: PolicyChoice::Uniform(LayerHeParams::logn13(Encoding::Coefficient)),
            relu,
            ..ModelOptions::default()
        };
        check_predictions(relu_cnn(), o, SecurityCheck::Secure128, &[11, 12]);
    }
}

#[test]
fn every_op_network_with_both_relu_protocols_equals_the_reference() {
    for relu in [ReluProtocol::Millionaire, ReluProtocol::GarbledCircuit] {
        let o = ModelOptions {
            relu,
            ..ModelOptions::insecure_test()
        };
        check_predictions(tiny(8), o, SecurityCheck::InsecureTest, &[6, 7]);
    }
}

/// A stream that records everything read through it.
struct Recording<S> {
    inner: S,
    log: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl<S: Read> Read for Recording<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.log.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for Recording<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn server_receives_only_masked_values_and_the_client_gets_the_logits() {
    let net = tiny_relu(9);
    let f = field();
    let x = synthetic_input(&net, 3);
    let want = net.reference(&f, &x).unwrap();
    let model = Arc::new(ServerModel::new(net, &ModelOptions::insecure_test()).unwrap());
    let (cs, cc) = loopback_pair(chan()).unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slog = Arc::clone(&log);
    let x2 = x.clone();
    let (got, server) = with_deadline("recorded session", move || {
        let server = std::thread::spawn(move || {
            let inner = cs.into_inner();
            let ch = Channel::new(Recording { inner, log: slog }, chan());
            Server::accept(ch, model).and_then(Server::run)
        });
        let mut c = Client::connect(cc, None, SecurityCheck::InsecureTest).unwrap();
        let a = c.predict_quantized(&x2).unwrap();
        let b = c.predict_quantized(&x2).unwrap();
        c.close().unwrap();
        ((a, b), server.join().unwrap())
    });
    server.unwrap();
    assert_eq!(got.0.logits, want);
    assert_eq!(got.1.logits, want);
    let log = log.lock().unwrap();
    // The plain input, as the field elements the client would send unmasked, never reaches
    // the server; nor do the logits (as field elements).
    let enc = |v: &[i64]| -> Vec<u8> {
        v.iter()
            .flat_map(|&s| f.from_signed(s).to_le_bytes())
            .collect()
    };
    assert!(!contains(&log, &enc(&x)));
    assert!(!contains(&log, &enc(&want)));
    // The two masked inputs of the same image differ (fresh masks per prediction).
    let ty = MessageType::DRIVER_INPUT.0.to_le_bytes();
    let mut masked = Vec::new();
    let mut at = 0;
    while at + 8 <= log.len() {
        let t = [log[at + 2], log[at + 3]];
        let len = u32::from_le_bytes([log[at + 4], log[at + 5], log[at + 6], log[at + 7]]) as usize;
        if t == ty {
            masked.push(log[at + 8..at + 8 + len].to_vec());
        }
        at += 8 + len;
    }
    assert_eq!(masked.len(), 2);
    assert_ne!(masked[0], masked[1]);
}

#[test]
fn malformed_messages_are_rejected_by_both_sides() {
    let model = || ServerModel::new(tiny_relu(1), &ModelOptions::insecure_test()).unwrap();
    // 1. A client with a bad hello: the server refuses it.
    let (_, s) = session(model(), |mut ch| {
        ch.send(
            MessageType::DRIVER_HELLO,
            b"NOT-HENN-AT-ALL-0000000000000000000000000000",
        )
        .unwrap();
    });
    assert!(matches!(s, Err(TwoPcError::Protocol(_))), "{s:?}");
    // 2. A client expecting another network: both sides refuse. (Other weights of the same
    // architecture have the same public description and fingerprint.)
    let same = ServerModel::new(tiny_relu(2), &ModelOptions::insecure_test()).unwrap();
    assert_eq!(same.spec.fingerprint, model().spec.fingerprint);
    let other = ServerModel::new(tiny(1), &ModelOptions::insecure_test()).unwrap();
    let fp = other.spec.fingerprint;
    let (c, s) = session(model(), move |ch| {
        Client::connect(ch, Some(fp), SecurityCheck::InsecureTest).map(|_| ())
    });
    assert!(
        matches!(c, Err(TwoPcError::Protocol(ref m)) if m.contains("another network")),
        "{c:?}"
    );
    assert!(matches!(s, Err(TwoPcError::Protocol(_))), "{s:?}");
    // 3. A client sending a masked input with a non-field element and a wrong length.
    for bad in [vec![0xffu8; 8 * 25], vec![0u8; 8 * 24], vec![0u8; 3]] {
        let (_, s) = session(model(), move |ch| {
            let mut c = Client::connect(ch, None, SecurityCheck::InsecureTest).unwrap();
            c.preprocess(1).unwrap();
            let mut ch = client_channel(c);
            ch.send(MessageType::DRIVER_CONTROL, &[2, 0, 0, 0, 0])
                .unwrap();
            ch.send(MessageType::DRIVER_INPUT, &bad).unwrap();
        });
        assert!(matches!(s, Err(TwoPcError::Protocol(_))), "{s:?}");
    }
    // 4. Online without preprocessing, unknown commands, truncated stream.
    for cmd in [
        vec![2u8, 0, 0, 0, 0],
        vec![9, 0, 0, 0, 0],
        vec![1, 0, 0, 0],
        vec![1, 0xff, 0xff, 0, 0],
    ] {
        let (_, s) = session(model(), move |ch| {
            let c = Client::connect(ch, None, SecurityCheck::InsecureTest).unwrap();
            let mut ch = client_channel(c);
            ch.send(MessageType::DRIVER_CONTROL, &cmd).unwrap();
        });
        assert!(matches!(s, Err(TwoPcError::Protocol(_))), "{s:?}");
    }
    // 5. A server answering the hello with garbage: the client refuses it.
    for reply in [vec![0u8; 10], {
        let mut r = vec![0u8; 33];
        r.extend_from_slice(b"{\"name\": 5}");
        r
    }] {
        let (cs, cc) = loopback_pair(chan()).unwrap();
        let c = with_deadline("bad server", move || {
            let t = std::thread::spawn(move || {
                let mut cs = cs;
                let _ = cs.recv(MessageType::DRIVER_HELLO);
                let _ = cs.send(MessageType::DRIVER_HELLO_REPLY, &reply);
            });
            let r = Client::connect(cc, None, SecurityCheck::InsecureTest).map(|_| ());
            t.join().unwrap();
            r
        });
        assert!(matches!(c, Err(TwoPcError::Protocol(_))), "{c:?}");
    }
    // 6. A server whose description is fine but whose HE response is garbage.
    let m = Arc::new(model());
    let (cs, cc) = loopback_pair(chan()).unwrap();
    let c = with_deadline("bad linear response", move || {
        let t = std::thread::spawn(move || {
            // honest hello and setup, then a wrong response to the first linear request
            let mut ch = Server::accept(cs, m).unwrap().into_channel();
            ch.recv(MessageType::DRIVER_CONTROL).unwrap();
            ch.recv(MessageType::DRIVER_LINEAR_REQUEST).unwrap();
            ch.send(
                MessageType::DRIVER_LINEAR_RESPONSE,
                &[1, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4],
            )
            .unwrap();
        });
        let mut client = Client::connect(cc, None, SecurityCheck::InsecureTest).unwrap();
        let r = client.preprocess(1).map(|_| ());
        t.join().unwrap();
        r
    });
    assert!(matches!(c, Err(TwoPcError::Protocol(_))), "{c:?}");
}

/// The channel of a connected client (tests of malformed client messages).
fn client_channel(c: Client<TcpStream>) -> Channel<TcpStream> {
    c.into_channel()
}
