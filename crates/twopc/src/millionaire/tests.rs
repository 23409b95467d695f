//! Tests of the two-party millionaire ReLU against the plain function, the parties' views and
//! malformed peer messages. Every channel has a 20 s deadline, so a hang fails fast.

use super::*;
use crate::block::os_rng;
use crate::channel::{loopback_pair, ByteCounters, ChannelConfig, Phase};
use crate::gc::relu::relu_reference;
use crate::share::DEFAULT_SHARE_PRIME;
use proptest::prelude::*;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn field() -> ShareField {
    ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
}

fn cfg(frac: u32, chunk: usize) -> ReluConfig {
    ReluConfig::new(field(), frac, chunk).unwrap()
}

fn chan_cfg() -> ChannelConfig {
    ChannelConfig {
        max_message_len: 64 << 20,
        deadline: Some(Duration::from_secs(20)),
    }
}

/// Pre-activations at the sign and truncation boundaries, then random ones.
fn boundary_xs(p: u64, f: u32, n: usize, rng: &mut Csprng) -> Vec<u64> {
    let h = p / 2;
    let mut xs = vec![
        0,
        1,
        2,
        p - 1,
        p - 2,
        h - 1,
        h,
        h + 1,
        h + 2,
        1 << 39,
        p - (1 << 39),
    ];
    for m in [1u64 << f, 2 << f, 3 << f, (h >> f) << f] {
        if m == 0 || m + 1 >= p {
            continue;
        }
        xs.extend([m - 1, m, m + 1, p - m, p - m - 1]);
    }
    while xs.len() < n {
        xs.push(uniform_mod(rng, p));
    }
    xs.truncate(n);
    xs
}

/// Shares `(a, b)` of `xs`, with `b` uniform except for a few boundary values.
fn shares_of(field: &ShareField, xs: &[u64], rng: &mut Csprng) -> (Vec<u64>, Vec<u64>) {
    let p = field.modulus();
    let specials = [0, 1, p - 1, p / 2, p / 2 + 1];
    let b: Vec<u64> = (0..xs.len())
        .map(|i| {
            if i % 7 == 3 {
                specials[(i / 7) % specials.len()]
            } else {
                uniform_mod(rng, p)
            }
        })
        .collect();
    let a = xs.iter().zip(&b).map(|(&x, &b)| field.sub(x, b)).collect();
    (a, b)
}

/// Offline then online over loopback TCP; returns the reconstructed outputs and both parties'
/// byte counters after setup.
fn run(c: ReluConfig, a: Vec<u64>, b: Vec<u64>) -> (Vec<u64>, ByteCounters, ByteCounters) {
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let n = a.len();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let base = cs.counters();
        let r = s.fresh_masks(n);
        let prep = s.offline(&mut cs, &r)?;
        assert_eq!(prep.len(), n);
        cs.set_phase(Phase::Online);
        s.online(&mut cs, prep, &b)?;
        Ok::<_, TwoPcError>((r, base, cs.counters()))
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    let prep = client.offline(&mut cc, &a).unwrap();
    cc.set_phase(Phase::Online);
    let y_minus_r = client.online(&mut cc, prep).unwrap();
    let (r, base, sc) = server.join().unwrap().unwrap();
    let f = c.field;
    let y = y_minus_r
        .iter()
        .zip(&r)
        .map(|(&u, &r)| f.add(u, r))
        .collect();
    (y, base, sc)
}

fn expected(c: &ReluConfig, a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| relu_reference(&c.field, a, b, 0, c.frac_bits))
        .collect()
}

#[test]
fn offline_online_relu_gives_shares_of_relu_and_the_predicted_bytes() {
    let mut rng = os_rng();
    let c = cfg(8, 128);
    let n = 300;
    let xs = boundary_xs(c.field.modulus(), 8, n, &mut rng);
    let (a, b) = shares_of(&c.field, &xs, &mut rng);
    let (y, base, sc) = run(c, a.clone(), b.clone());
    assert_eq!(y, expected(&c, &a, &b));
    let want = bytes(c, n).unwrap();
    assert_eq!(
        sc.sent(Phase::Offline) - base.sent(Phase::Offline),
        want.offline_server_to_client
    );
    assert_eq!(
        sc.received(Phase::Offline) - base.received(Phase::Offline),
        want.offline_client_to_server
    );
    assert_eq!(sc.sent(Phase::Online), want.online_server_to_client);
    assert_eq!(sc.received(Phase::Online), want.online_client_to_server);
    let k = costs(c).unwrap();
    assert_eq!(k.ots_per_relu, 41 + 2 * k.and_gates_per_relu + 4);
    assert_eq!(k.and_levels, 5);
    assert_eq!(k.online_flights, 13);
}

#[test]
fn streamed_relu_without_truncation() {
    let mut rng = os_rng();
    let c = cfg(0, 64);
    let n = 150;
    let xs = boundary_xs(c.field.modulus(), 0, n, &mut rng);
    let (a, b) = shares_of(&c.field, &xs, &mut rng);
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let b2 = b.clone();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let r = s.fresh_masks(n);
        s.streamed(&mut cs, &b2, &r)?;
        Ok::<_, TwoPcError>(r)
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    let y_minus_r = client.streamed(&mut cc, &a).unwrap();
    let r = server.join().unwrap().unwrap();
    let y: Vec<u64> = y_minus_r
        .iter()
        .zip(&r)
        .map(|(&u, &r)| c.field.add(u, r))
        .collect();
    assert_eq!(y, expected(&c, &a, &b));
}

#[test]
fn small_prime_exhaustive_over_all_share_pairs() {
    // p = 97 (7 bits, one partial top digit): every (a, b), with and without truncation.
    let f = ShareField::new(97).unwrap();
    for frac in [0, 1, 3, 6] {
        let c = ReluConfig::new(f, frac, 4096).unwrap();
        let (a, b): (Vec<u64>, Vec<u64>) = (0..97u64)
            .flat_map(|a| (0..97u64).map(move |b| (a, b)))
            .unzip();
        let (y, _, _) = run(c, a.clone(), b.clone());
        assert_eq!(y, expected(&c, &a, &b), "f {frac}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn random_shares_and_truncations_match_the_plain_relu(
        frac in 0u32..41,
        chunk in 1usize..200,
        seed in any::<u64>(),
    ) {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = Csprng::seed_from_u64(seed);
        let c = cfg(frac, chunk);
        let n = 160;
        let xs = boundary_xs(c.field.modulus(), frac, n, &mut rng);
        let (a, b) = shares_of(&c.field, &xs, &mut rng);
        let (y, _, _) = run(c, a.clone(), b.clone());
        prop_assert_eq!(y, expected(&c, &a, &b));
    }
}

/// A TCP stream that logs every byte it reads (the party's view).
struct Recording {
    inner: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut log) = self.log.lock() {
            log.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Log = Arc<Mutex<Vec<u8>>>;

fn recorded_pair() -> (Channel<Recording>, Log, Channel<Recording>, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    let wrap = |s: TcpStream| {
        s.set_read_timeout(chan_cfg().deadline).unwrap();
        s.set_write_timeout(chan_cfg().deadline).unwrap();
        s.set_nodelay(true).unwrap();
        let log: Log = Arc::default();
        (
            Channel::new(
                Recording {
                    inner: s,
                    log: log.clone(),
                },
                chan_cfg(),
            ),
            log,
        )
    };
    let (ca, la) = wrap(b);
    let (cb, lb) = wrap(a);
    (ca, la, cb, lb)
}

/// The online bytes each party receives, for given inputs.
fn online_views(a: Vec<u64>, b: Vec<u64>) -> (Vec<u8>, Vec<u8>) {
    let c = cfg(8, 4096);
    let n = a.len();
    let (mut cs, slog, mut cc, clog) = recorded_pair();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let r = s.fresh_masks(n);
        let prep = s.offline(&mut cs, &r)?;
        s.online(&mut cs, prep, &b)?;
        Ok::<_, TwoPcError>(())
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    let prep = client.offline(&mut cc, &a).unwrap();
    // The server's last offline message precedes the client's first online one, so the logs
    // split here.
    let client_offline = clog.lock().unwrap().len();
    let server_offline = slog.lock().unwrap().len();
    client.online(&mut cc, prep).unwrap();
    server.join().unwrap().unwrap();
    let cv = clog.lock().unwrap()[client_offline..].to_vec();
    let sv = slog.lock().unwrap()[server_offline..].to_vec();
    (cv, sv)
}

fn ones_fraction(bytes: &[u8]) -> f64 {
    let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
    ones as f64 / (8 * bytes.len()) as f64
}

/// Strip frame headers (8 bytes each) from a view, keeping payloads.
fn payloads(view: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = view;
    while rest.len() >= 8 {
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        out.extend_from_slice(&rest[8..8 + len]);
        rest = &rest[8 + len..];
    }
    assert!(rest.is_empty());
    out
}

#[test]
fn both_views_look_uniform_whatever_the_inputs() {
    // Degenerate inputs (all-zero shares, all-positive, all-negative values): each party's
    // online view has balanced bits, and two runs on the same inputs differ.
    let p = DEFAULT_SHARE_PRIME;
    let n = 2048;
    let cases = [
        (vec![0u64; n], vec![0u64; n]),
        (vec![5u64; n], vec![1 << 30; n]),
        (vec![p - 1; n], vec![p / 2; n]),
        (vec![0u64; n], vec![0u64; n]),
    ];
    let mut views = Vec::new();
    for (a, b) in cases {
        let (cv, sv) = online_views(a, b);
        let (cp, sp) = (payloads(&cv), payloads(&sv));
        let (fc, fs) = (ones_fraction(&cp), ones_fraction(&sp));
        assert!((0.49..0.51).contains(&fc), "client view ones fraction {fc}");
        assert!((0.49..0.51).contains(&fs), "server view ones fraction {fs}");
        views.push((cp, sp));
    }
    assert_ne!(views[0].0, views[3].0);
    assert_ne!(views[0].1, views[3].1);
}

/// An honest offline phase, then `online` run by the given faulty server; returns the
/// client's error.
fn client_error_with_faulty_server(
    fault: impl FnOnce(&mut ReluServer, &mut Channel<TcpStream>, ServerChunk) -> Result<(), TwoPcError>
        + Send
        + 'static,
) -> TwoPcError {
    let c = cfg(8, 64);
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let r = s.fresh_masks(10);
        let mut prep = s.offline(&mut cs, &r)?;
        let chunk = prep.chunks.remove(0);
        fault(&mut s, &mut cs, chunk)
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    let prep = client.offline(&mut cc, &[3; 10]).unwrap();
    let e = client.online(&mut cc, prep).unwrap_err();
    let _ = server.join().unwrap();
    e
}

#[test]
fn malformed_or_truncated_server_messages_end_the_session() {
    // Leaf tables one byte short.
    let e = client_error_with_faulty_server(|s, ch, _| {
        let bits = 10 * s.params.layout.leaf_bits;
        ch.send(
            MessageType::MILL_LEAF_TABLES,
            &vec![0; bits.div_ceil(8) - 1],
        )
    });
    assert!(matches!(e, TwoPcError::Protocol(_)), "{e}");
    // Openings of the wrong message type.
    let e = client_error_with_faulty_server(|s, ch, _| {
        let bits = 10 * s.params.layout.leaf_bits;
        ch.send(MessageType::MILL_LEAF_TABLES, &vec![0; bits.div_ceil(8)])?;
        ch.recv(MessageType::MILL_AND_OPENINGS)?;
        ch.send(MessageType::MILL_MUX_SLOTS, &[0; 4])
    });
    assert!(
        matches!(&e, TwoPcError::Protocol(m) if m.contains("unexpected")),
        "{e}"
    );
    // The server hangs up after the tables: a truncated stream, not a hang.
    let e = client_error_with_faulty_server(|s, ch, _| {
        let bits = 10 * s.params.layout.leaf_bits;
        ch.send(MessageType::MILL_LEAF_TABLES, &vec![0; bits.div_ceil(8)])?;
        ch.recv(MessageType::MILL_AND_OPENINGS)?;
        Ok(())
    });
    assert!(matches!(e, TwoPcError::Protocol(_)), "{e}");
    // A multiplexer message of the wrong size after an honest protocol up to there.
    let e = client_error_with_faulty_server(|s, ch, c| {
        let bits = 10 * s.params.layout.leaf_bits;
        ch.send(MessageType::MILL_LEAF_TABLES, &vec![0; bits.div_ceil(8)])?;
        let levels = s.params.layout.and_levels.clone();
        let mut next = 0;
        for g in levels {
            let pairs_storage = vec![vec![0u64; 1]; 2 * g];
            let pairs: Vec<(&[u64], &[u64])> = pairs_storage
                .chunks(2)
                .map(|p| (&p[0][..], &p[1][..]))
                .collect();
            and_level(ch, Role::Server, &pairs, &c.triples, &mut next, 10)?;
        }
        ch.send(MessageType::MILL_REVERSE_CHOICES, &[0; 2])?;
        ch.recv(MessageType::MILL_CLIENT_FINAL)?;
        ch.send(
            MessageType::MILL_MUX_SLOTS,
            &vec![0xff; 16 * 41 * 10 / 8 + 1],
        )
    });
    assert!(matches!(e, TwoPcError::Protocol(_)), "{e}");
}

#[test]
fn malformed_client_openings_and_mismatched_headers_are_rejected() {
    let c = cfg(8, 64);
    // The client's first AND-level openings are too short.
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let r = s.fresh_masks(10);
        let prep = s.offline(&mut cs, &r)?;
        s.online(&mut cs, prep, &[7; 10])
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    let _prep = client.offline(&mut cc, &[3; 10]).unwrap();
    cc.recv(MessageType::MILL_LEAF_TABLES).unwrap();
    cc.send(MessageType::MILL_AND_OPENINGS, &[0; 3]).unwrap();
    let e = server.join().unwrap().unwrap_err();
    assert!(matches!(e, TwoPcError::Protocol(_)), "{e}");

    // Different truncation on the two sides: the chunk header catches it.
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, cfg(8, 16), os_rng())?;
        let r = s.fresh_masks(4);
        s.offline(&mut cs, &r).map(|_| ())
    });
    let mut client = ReluClient::setup(&mut cc, cfg(7, 16), os_rng()).unwrap();
    let e = client.offline(&mut cc, &[1, 2, 3, 4]).unwrap_err();
    assert!(
        matches!(&e, TwoPcError::Protocol(m) if m.contains("header")),
        "{e}"
    );
    drop(cc);
    assert!(server.join().unwrap().is_err());

    // Unreduced shares and mismatched lengths are configuration errors.
    let (mut cs, mut cc) = loopback_pair(chan_cfg()).unwrap();
    let server = std::thread::spawn(move || {
        let mut s = ReluServer::setup(&mut cs, c, os_rng())?;
        let unreduced = s.offline(&mut cs, &[DEFAULT_SHARE_PRIME]).unwrap_err();
        let prep = s.offline(&mut cs, &[1, 2])?;
        let short = s.online(&mut cs, prep, &[1]).unwrap_err();
        Ok::<_, TwoPcError>((unreduced, short))
    });
    let mut client = ReluClient::setup(&mut cc, c, os_rng()).unwrap();
    assert!(matches!(
        client.offline(&mut cc, &[u64::MAX]),
        Err(TwoPcError::Config(_))
    ));
    client.offline(&mut cc, &[5, 6]).unwrap();
    let (unreduced, short) = server.join().unwrap().unwrap();
    assert!(matches!(unreduced, TwoPcError::Config(_)));
    assert!(matches!(short, TwoPcError::Config(_)));
}
