//! Oblivious transfer: base OT ([`base`], Chou–Orlandi "simplest OT" over Ristretto) and the
//! IKNP OT extension ([`iknp`]) giving random, chosen-message (128-bit labels, for
//! garbled-circuit input wires) and correlated OT (free-XOR label pairs `(x, x ⊕ Δ)`).
//!
//! # Why not `cryprot-ot`
//!
//! `cryprot-ot` (crates.io) implements the same protocols (and KOS, silent OT) but is built on
//! `cryprot-net`, an asynchronous QUIC transport (`s2n-quic` + `tokio`, hundreds of thousands
//! of lines of dependencies) with its own framing: it cannot run over this crate's blocking,
//! framed, counted [`crate::channel::Channel`], and labels itself research software. The two
//! protocols here are short, depend only on `curve25519-dalek` (base OT) and `aes` (fixed-key
//! and counter-mode AES with AES-NI), and speak through the channel, so their bytes are bounded,
//! validated and counted per phase.
//!
//! # Threat model
//!
//! Semi-honest (honest-but-curious) parties, as in DELPHI: both follow the protocol, each
//! tries to learn more from its view. IKNP with a correlation-robust hash is secure in this
//! model; against a malicious receiver one would need the KOS consistency check.
//!
//! # Messages
//!
//! In order, for a session (setup) and for each batch of `m` OTs (padded to `m'`, a multiple
//! of 128):
//!
//! | step | direction | type | payload |
//! |---|---|---|---|
//! | setup | ext. receiver → sender | `BASE_OT_SENDER_POINT` | `A`, 32 bytes |
//! | setup | sender → ext. receiver | `BASE_OT_RECEIVER_POINTS` | 128 points `B_j`, 32 bytes each |
//! | batch | receiver → sender | `OT_EXT_COLUMNS` | `u64` `m'`, 128 columns of `m'/8` bytes |
//! | chosen | sender → receiver | `OT_CHOSEN_CIPHERTEXTS` | `m` pairs of 16-byte ciphertexts |
//! | correlated | sender → receiver | `OT_CORRELATION` | `m` 16-byte corrections |

pub mod base;
pub mod iknp;
pub mod transpose;

pub use iknp::{OtReceiver, OtSender};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{os_rng, Block};
    use crate::channel::{Channel, ChannelConfig, MessageType};
    use crate::error::TwoPcError;
    use rand_chacha::rand_core::RngCore;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A TCP stream that logs every byte this party writes.
    struct Recording {
        inner: TcpStream,
        log: Arc<Mutex<Vec<u8>>>,
    }

    impl Read for Recording {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.inner.read(buf)
        }
    }

    impl Write for Recording {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.log.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    type Log = Arc<Mutex<Vec<u8>>>;

    /// Two recorded channels over loopback TCP with 10 s deadlines.
    fn pair() -> (Channel<Recording>, Log, Channel<Recording>, Log) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        let cfg = ChannelConfig {
            max_message_len: 64 << 20,
            deadline: Some(Duration::from_secs(10)),
        };
        let wrap = |s: TcpStream| {
            s.set_read_timeout(cfg.deadline).unwrap();
            s.set_write_timeout(cfg.deadline).unwrap();
            s.set_nodelay(true).unwrap();
            let log: Log = Arc::default();
            (
                Channel::new(
                    Recording {
                        inner: s,
                        log: log.clone(),
                    },
                    cfg,
                ),
                log,
            )
        };
        let (ca, la) = wrap(a);
        let (cb, lb) = wrap(b);
        (ca, la, cb, lb)
    }

    fn random_choices(m: usize) -> Vec<bool> {
        let mut rng = os_rng();
        (0..m).map(|_| rng.next_u32() & 1 == 1).collect()
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn ones_fraction(bytes: &[u8]) -> f64 {
        let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
        ones as f64 / (8 * bytes.len()) as f64
    }

    #[test]
    fn random_ot_gives_the_chosen_message_and_nothing_of_the_other() {
        let (mut cs, _, mut cr, rlog) = pair();
        let m = 1000; // not a multiple of 128: padding is exercised
        let choices = random_choices(m);
        let sender = std::thread::spawn(move || {
            let mut rng = os_rng();
            let mut s = OtSender::setup(&mut cs, &mut rng)?;
            let first = s.send_random(&mut cs, m)?;
            let second = s.send_random(&mut cs, 300)?;
            Ok::<_, TwoPcError>((first, second))
        });
        let mut rng = os_rng();
        let mut r = OtReceiver::setup(&mut cr, &mut rng).unwrap();
        let got = r.receive_random(&mut cr, &choices).unwrap();
        let choices2 = random_choices(300);
        let got2 = r.receive_random(&mut cr, &choices2).unwrap();
        let (pairs, pairs2) = sender.join().unwrap().unwrap();
        let mut distance = 0u32;
        for ((&c, &x), &(x0, x1)) in choices.iter().zip(&got).zip(&pairs) {
            let (mine, other) = if c { (x1, x0) } else { (x0, x1) };
            assert_eq!(x, mine);
            assert_ne!(x, other);
            distance += (x ^ other).0.count_ones();
        }
        // The receiver's output is unrelated to the other message: ~64 of 128 bits differ.
        let mean = distance as f64 / m as f64;
        assert!((60.0..68.0).contains(&mean), "mean Hamming distance {mean}");
        // A second batch continues the PRG streams consistently.
        for ((&c, &x), &(x0, x1)) in choices2.iter().zip(&got2).zip(&pairs2) {
            assert_eq!(x, if c { x1 } else { x0 });
        }
        // All messages are distinct (fresh tweaks per OT and per batch).
        let mut all: Vec<u128> = pairs
            .iter()
            .chain(&pairs2)
            .flat_map(|p| [p.0 .0, p.1 .0])
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 2 * (m + 300));
        // The receiver never sent its packed choice bits in the clear.
        let mut packed = vec![0u8; m.div_ceil(8)];
        for (i, &c) in choices.iter().enumerate() {
            packed[i / 8] |= (c as u8) << (i % 8);
        }
        assert!(!contains(&rlog.lock().unwrap(), &packed[..64]));
    }

    #[test]
    fn chosen_ot_delivers_labels_and_hides_both_in_transit() {
        let (mut cs, slog, mut cr, _) = pair();
        let m = 777;
        let choices = random_choices(m);
        let mut rng = os_rng();
        let msgs: Vec<(Block, Block)> = (0..m)
            .map(|_| (Block::random(&mut rng), Block::random(&mut rng)))
            .collect();
        let msgs2 = msgs.clone();
        let sender = std::thread::spawn(move || {
            let mut rng = os_rng();
            let mut s = OtSender::setup(&mut cs, &mut rng)?;
            s.send_chosen(&mut cs, &msgs2)
        });
        let mut r = OtReceiver::setup(&mut cr, &mut rng).unwrap();
        let got = r.receive_chosen(&mut cr, &choices).unwrap();
        sender.join().unwrap().unwrap();
        for ((&c, &x), &(m0, m1)) in choices.iter().zip(&got).zip(&msgs) {
            assert_eq!(x, if c { m1 } else { m0 });
            assert_ne!(x, if c { m0 } else { m1 });
        }
        let sent = slog.lock().unwrap();
        for &(m0, m1) in msgs.iter().take(50) {
            assert!(!contains(&sent, &m0.to_bytes()));
            assert!(!contains(&sent, &m1.to_bytes()));
        }
    }

    #[test]
    fn correlated_ot_gives_free_xor_label_pairs() {
        let (mut cs, _, mut cr, _) = pair();
        let m = 2048;
        let choices = random_choices(m);
        let mut rng = os_rng();
        let delta = Block::random(&mut rng);
        let sender = std::thread::spawn(move || {
            let mut rng = os_rng();
            let mut s = OtSender::setup(&mut cs, &mut rng)?;
            s.send_correlated(&mut cs, delta, m)
        });
        let mut r = OtReceiver::setup(&mut cr, &mut rng).unwrap();
        let got = r.receive_correlated(&mut cr, &choices).unwrap();
        let x0 = sender.join().unwrap().unwrap();
        for ((&c, &x), &x0) in choices.iter().zip(&got).zip(&x0) {
            assert_eq!(x, x0 ^ delta.and_bit(c));
        }
    }

    #[test]
    fn receiver_transcript_looks_uniform_whatever_the_choices() {
        // The sender's view (the receiver's messages) has balanced bits for all-zero and
        // all-one choices alike, and differs between two runs with identical choices.
        let mut views = Vec::new();
        for choice in [false, true, true] {
            let (mut cs, _, mut cr, rlog) = pair();
            let sender = std::thread::spawn(move || {
                let mut rng = os_rng();
                let mut s = OtSender::setup(&mut cs, &mut rng)?;
                s.send_random(&mut cs, 4096)
            });
            let mut rng = os_rng();
            let mut r = OtReceiver::setup(&mut cr, &mut rng).unwrap();
            r.receive_random(&mut cr, &vec![choice; 4096]).unwrap();
            sender.join().unwrap().unwrap();
            let view = rlog.lock().unwrap().clone();
            // Skip the base-OT points and the extension header; the columns follow.
            let columns = &view[view.len() - 128 * 512..];
            let f = ones_fraction(columns);
            assert!(
                (0.49..0.51).contains(&f),
                "choice {choice}: ones fraction {f}"
            );
            views.push(view);
        }
        assert_ne!(views[1], views[2]);
    }

    #[test]
    fn malformed_peer_messages_are_rejected() {
        // An invalid point in base OT.
        let (mut a, _, mut b, _) = pair();
        a.send(MessageType::BASE_OT_SENDER_POINT, &[0xff; 32])
            .unwrap();
        let e = base::base_ot_receive(&mut b, &[true; 4], &mut os_rng()).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("point")),
            "{e}"
        );
        // An extension announcing a different count than the sender expects.
        let (mut cs, _, mut cr, _) = pair();
        let sender = std::thread::spawn(move || {
            let mut rng = os_rng();
            let mut s = OtSender::setup(&mut cs, &mut rng)?;
            s.send_random(&mut cs, 256)
        });
        let mut r = OtReceiver::setup(&mut cr, &mut os_rng()).unwrap();
        // The receiver extends 128 instead of 256: the sender sees a wrong length.
        r.receive_random(&mut cr, &[false; 128]).unwrap();
        let e = sender.join().unwrap().unwrap_err();
        assert!(matches!(e, TwoPcError::Protocol(_)), "{e}");
    }
}
