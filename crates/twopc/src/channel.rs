//! Framed, versioned, bounded messages between the two parties, with byte counters per phase
//! and direction.
//!
//! # Frame format
//!
//! Every message is one frame: an 8-byte header followed by the payload.
//!
//! | bytes | field | meaning |
//! |---|---|---|
//! | 0..2 | `version` (u16, little endian) | [`PROTOCOL_VERSION`]; any other value ends the session |
//! | 2..4 | `type` (u16, little endian) | a [`MessageType`]; the receiver states which type it expects |
//! | 4..8 | `length` (u32, little endian) | payload bytes, at most [`ChannelConfig::max_message_len`] |
//! | 8.. | payload | `length` bytes, laid out as the message type documents |
//!
//! The receiver checks version, type and the length bound *before* allocating the payload, so
//! a peer can neither make it allocate more than the configured bound nor make it misparse a
//! message of another type. A stream that ends inside a header or a payload is a truncated
//! message. All three are [`TwoPcError::Protocol`] errors; the session ends there (there is no
//! resynchronisation).
//!
//! # Deadlines
//!
//! [`Channel::tcp`] sets read and write timeouts on the socket ([`ChannelConfig::deadline`]), so
//! a silent or stalled peer ends the session with an error instead of hanging it.
//!
//! # Byte counters
//!
//! The channel counts header and payload bytes per [`Phase`] (DELPHI's input-independent
//! offline phase and the online phase) and direction; [`Channel::set_phase`] switches the
//! phase that subsequent traffic is charged to.
//!
//! # Threat model
//!
//! Semi-honest parties: the framing protects the *implementation* against malformed input
//! (no panic, hang or unbounded allocation), not the protocol against an active adversary.
//! There is no authentication or encryption of the transport; run it over TLS or a private
//! network if the link is not trusted.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::error::TwoPcError;

/// The wire-protocol version in every frame header.
pub const PROTOCOL_VERSION: u16 = 1;

/// Bytes of a frame header (version, type, length).
pub const HEADER_LEN: usize = 8;

/// The type of a message, the second header field. Each protocol module defines the types it
/// uses as associated constants here, so that a frame's type names exactly one payload layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType(pub u16);

impl MessageType {
    /// Base OT, sender to receiver: the sender's point `A = a·G` (32 bytes, compressed
    /// Ristretto).
    pub const BASE_OT_SENDER_POINT: Self = Self(0x0101);
    /// Base OT, receiver to sender: the receiver's points `B_i` (32 bytes each).
    pub const BASE_OT_RECEIVER_POINTS: Self = Self(0x0102);
    /// OT extension, receiver to sender: the 128 columns `u_j` (`m/8` bytes each).
    pub const OT_EXT_COLUMNS: Self = Self(0x0103);
    /// Chosen-message OT, sender to receiver: the masked message pairs (32 bytes per OT).
    pub const OT_CHOSEN_CIPHERTEXTS: Self = Self(0x0104);
    /// Correlated OT, sender to receiver: the correction blocks (16 bytes per OT).
    pub const OT_CORRELATION: Self = Self(0x0105);
    /// Garbled circuits, garbler to evaluator: a chunk of half-gate tables (32 bytes per AND).
    pub const GC_TABLES: Self = Self(0x0201);
    /// Garbled circuits, garbler to evaluator: the garbler's own input labels (16 bytes each).
    pub const GC_GARBLER_LABELS: Self = Self(0x0202);
    /// Garbled circuits, garbler to evaluator: output decoding bits (one byte per output).
    pub const GC_OUTPUT_DECODING: Self = Self(0x0203);
    /// Garbled circuits, garbler to evaluator: a batch header (little-endian u64 counts).
    pub const GC_BATCH_HEADER: Self = Self(0x0204);
    /// Millionaire ReLU, server to client: a chunk header (little-endian u64 count, share bits,
    /// fractional bits, digit bits; [`crate::millionaire`]).
    pub const MILL_HEADER: Self = Self(0x0601);
    /// Millionaire ReLU, server to client: the padded leaf tables (bit-packed).
    pub const MILL_LEAF_TABLES: Self = Self(0x0602);
    /// Millionaire ReLU, both directions: Beaver openings of one AND level (bit-packed).
    pub const MILL_AND_OPENINGS: Self = Self(0x0603);
    /// Millionaire ReLU, server to client: derandomized choices of the reverse OT (one bit each).
    pub const MILL_REVERSE_CHOICES: Self = Self(0x0604);
    /// Millionaire ReLU, client to server: multiplexer choices and the `pos·a_h` OT slots.
    pub const MILL_CLIENT_FINAL: Self = Self(0x0605);
    /// Millionaire ReLU, server to client: the 16 padded multiplexer slots per ReLU.
    pub const MILL_MUX_SLOTS: Self = Self(0x0606);
}

/// The protocol phase that traffic is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// DELPHI's input-independent preprocessing (HE linear layers, garbling, OT).
    Offline,
    /// The input-dependent phase.
    Online,
}

impl Phase {
    fn index(self) -> usize {
        match self {
            Phase::Offline => 0,
            Phase::Online => 1,
        }
    }
}

/// Bytes sent and received per phase, headers included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteCounters {
    sent: [u64; 2],
    received: [u64; 2],
}

impl ByteCounters {
    /// Bytes this party sent in `phase`.
    pub fn sent(&self, phase: Phase) -> u64 {
        self.sent[phase.index()]
    }

    /// Bytes this party received in `phase`.
    pub fn received(&self, phase: Phase) -> u64 {
        self.received[phase.index()]
    }

    /// All bytes in both directions and phases.
    pub fn total(&self) -> u64 {
        self.sent.iter().chain(self.received.iter()).sum()
    }
}

/// Limits of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Largest payload accepted (and sent); checked before allocating.
    pub max_message_len: u32,
    /// Read and write timeout of a TCP channel; `None` waits forever (not recommended).
    pub deadline: Option<Duration>,
}

impl Default for ChannelConfig {
    /// 256 MiB messages, 60 s deadline.
    fn default() -> Self {
        Self {
            max_message_len: 256 << 20,
            deadline: Some(Duration::from_secs(60)),
        }
    }
}

/// A framed, versioned, bounded, counted message channel over any byte stream.
#[derive(Debug)]
pub struct Channel<S> {
    stream: S,
    config: ChannelConfig,
    phase: Phase,
    counters: ByteCounters,
}

impl Channel<TcpStream> {
    /// A channel over a TCP stream: sets the read/write deadline of `config` and disables Nagle's
    /// algorithm (the protocols are request/response; delayed ACKs would cost 40 ms a round).
    pub fn tcp(stream: TcpStream, config: ChannelConfig) -> Result<Self, TwoPcError> {
        if config.deadline == Some(Duration::ZERO) {
            return Err(TwoPcError::Config(
                "channel deadline must be positive".into(),
            ));
        }
        stream.set_read_timeout(config.deadline)?;
        stream.set_write_timeout(config.deadline)?;
        stream.set_nodelay(true)?;
        Ok(Self::new(stream, config))
    }
}

impl<S: Read + Write> Channel<S> {
    /// A channel over an already configured stream (deadlines are the stream's business).
    pub fn new(stream: S, config: ChannelConfig) -> Self {
        Self {
            stream,
            config,
            phase: Phase::Offline,
            counters: ByteCounters::default(),
        }
    }

    /// Charge subsequent traffic to `phase`.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The phase traffic is currently charged to.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes sent and received so far.
    pub fn counters(&self) -> ByteCounters {
        self.counters
    }

    /// The channel's limits.
    pub fn config(&self) -> ChannelConfig {
        self.config
    }

    /// The underlying stream.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Send one message of type `ty` (the payload must respect the configured bound).
    pub fn send(&mut self, ty: MessageType, payload: &[u8]) -> Result<(), TwoPcError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= self.config.max_message_len)
            .ok_or_else(|| {
                TwoPcError::Protocol(format!(
                    "refusing to send a {}-byte message of type {:#06x}: bound is {} bytes",
                    payload.len(),
                    ty.0,
                    self.config.max_message_len
                ))
            })?;
        let mut header = [0u8; HEADER_LEN];
        header[0..2].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        header[2..4].copy_from_slice(&ty.0.to_le_bytes());
        header[4..8].copy_from_slice(&len.to_le_bytes());
        // Small messages go out in one write (one segment with TCP_NODELAY).
        if payload.len() <= 64 << 10 {
            let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
            frame.extend_from_slice(&header);
            frame.extend_from_slice(payload);
            self.stream.write_all(&frame).map_err(io_error)?;
        } else {
            self.stream.write_all(&header).map_err(io_error)?;
            self.stream.write_all(payload).map_err(io_error)?;
        }
        self.stream.flush().map_err(io_error)?;
        self.counters.sent[self.phase.index()] += (HEADER_LEN + payload.len()) as u64;
        Ok(())
    }

    /// Receive one message, which must be of type `expected`; returns its payload.
    pub fn recv(&mut self, expected: MessageType) -> Result<Vec<u8>, TwoPcError> {
        let mut header = [0u8; HEADER_LEN];
        read_exact(&mut self.stream, &mut header, "header")?;
        let version = u16::from_le_bytes([header[0], header[1]]);
        let ty = u16::from_le_bytes([header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if version != PROTOCOL_VERSION {
            return Err(TwoPcError::Protocol(format!(
                "peer speaks protocol version {version}, this party version {PROTOCOL_VERSION}"
            )));
        }
        if ty != expected.0 {
            return Err(TwoPcError::Protocol(format!(
                "unexpected message type {ty:#06x}, expected {:#06x}",
                expected.0
            )));
        }
        if len > self.config.max_message_len {
            return Err(TwoPcError::Protocol(format!(
                "message of type {ty:#06x} announces {len} bytes, bound is {}",
                self.config.max_message_len
            )));
        }
        let mut payload = vec![0u8; len as usize];
        read_exact(&mut self.stream, &mut payload, "payload")?;
        self.counters.received[self.phase.index()] += (HEADER_LEN + payload.len()) as u64;
        Ok(payload)
    }

    /// Receive one message of type `expected` whose payload must be exactly `len` bytes (the
    /// length is checked against the header before allocating).
    pub fn recv_exact(&mut self, expected: MessageType, len: usize) -> Result<Vec<u8>, TwoPcError> {
        let payload = self.recv(expected)?;
        if payload.len() != len {
            return Err(TwoPcError::Protocol(format!(
                "message of type {:#06x} has {} bytes, expected {len}",
                expected.0,
                payload.len()
            )));
        }
        Ok(payload)
    }
}

fn read_exact<S: Read>(stream: &mut S, buf: &mut [u8], what: &str) -> Result<(), TwoPcError> {
    stream.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => TwoPcError::Protocol(format!(
            "truncated message: the peer closed the stream inside a {what}"
        )),
        _ => io_error(e),
    })
}

fn io_error(e: std::io::Error) -> TwoPcError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            TwoPcError::Protocol(format!("peer missed the channel deadline ({e})"))
        }
        _ => TwoPcError::Io(e),
    }
}

/// A cursor over a received payload that fails with [`TwoPcError::Protocol`] instead of
/// panicking when the payload is shorter than its layout says.
#[derive(Debug)]
pub struct PayloadReader<'a> {
    bytes: &'a [u8],
}

impl<'a> PayloadReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], TwoPcError> {
        if n > self.bytes.len() {
            return Err(TwoPcError::Protocol(format!(
                "payload too short: needed {n} more bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, TwoPcError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Fail unless every byte was consumed.
    pub fn finish(self) -> Result<(), TwoPcError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(TwoPcError::Protocol(format!(
                "{} trailing bytes in payload",
                self.bytes.len()
            )))
        }
    }
}

/// A connected loopback TCP pair for tests and benches: `(listener side, connecting side)`.
pub fn loopback_pair(
    config: ChannelConfig,
) -> Result<(Channel<TcpStream>, Channel<TcpStream>), TwoPcError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let client = TcpStream::connect(addr)?;
    let (server, _) = listener.accept()?;
    Ok((Channel::tcp(server, config)?, Channel::tcp(client, config)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A duplex in-memory stream: reads from `input`, writes to `output`.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn channel_reading(bytes: Vec<u8>, max: u32) -> Channel<Duplex> {
        Channel::new(
            Duplex {
                input: Cursor::new(bytes),
                output: Vec::new(),
            },
            ChannelConfig {
                max_message_len: max,
                deadline: None,
            },
        )
    }

    fn frame(version: u16, ty: u16, len: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&version.to_le_bytes());
        f.extend_from_slice(&ty.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn round_trip_over_tcp_counts_bytes_per_phase_and_direction() {
        let (mut a, mut b) = loopback_pair(ChannelConfig {
            max_message_len: 1 << 20,
            deadline: Some(Duration::from_secs(10)),
        })
        .unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let big2 = big.clone();
        let t = std::thread::spawn(move || {
            b.send(MessageType::GC_TABLES, b"hello").unwrap();
            b.set_phase(Phase::Online);
            b.send(MessageType::GC_GARBLER_LABELS, &big2).unwrap();
            let echo = b.recv(MessageType::OT_EXT_COLUMNS).unwrap();
            (echo, b.counters())
        });
        assert_eq!(a.recv(MessageType::GC_TABLES).unwrap(), b"hello");
        a.set_phase(Phase::Online);
        assert_eq!(a.recv(MessageType::GC_GARBLER_LABELS).unwrap(), big);
        a.send(MessageType::OT_EXT_COLUMNS, &[]).unwrap();
        let (echo, bc) = t.join().unwrap();
        assert!(echo.is_empty());
        let ac = a.counters();
        assert_eq!(ac.received(Phase::Offline), 8 + 5);
        assert_eq!(ac.received(Phase::Online), 8 + 200_000);
        assert_eq!(ac.sent(Phase::Online), 8);
        assert_eq!(ac.sent(Phase::Offline), 0);
        assert_eq!(bc.sent(Phase::Offline), ac.received(Phase::Offline));
        assert_eq!(bc.sent(Phase::Online), ac.received(Phase::Online));
        assert_eq!(bc.received(Phase::Online), ac.sent(Phase::Online));
        assert_eq!(ac.total(), bc.total());
    }

    #[test]
    fn truncated_header_and_payload_are_protocol_errors() {
        let full = frame(PROTOCOL_VERSION, 0x0201, 10, &[1; 10]);
        for cut in [0, 3, 7, 8, 12, 17] {
            let mut ch = channel_reading(full[..cut].to_vec(), 100);
            let e = ch.recv(MessageType::GC_TABLES).unwrap_err();
            assert!(
                matches!(&e, TwoPcError::Protocol(m) if m.contains("truncated")),
                "cut {cut}: {e}"
            );
        }
        let mut ch = channel_reading(full, 100);
        assert_eq!(ch.recv(MessageType::GC_TABLES).unwrap(), vec![1; 10]);
    }

    #[test]
    fn oversized_length_is_rejected_before_allocating() {
        // Announces 4 GiB - 1 with no payload: must fail on the bound, not try to allocate.
        let mut ch = channel_reading(frame(PROTOCOL_VERSION, 0x0201, u32::MAX, &[]), 1 << 20);
        let e = ch.recv(MessageType::GC_TABLES).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("bound")),
            "{e}"
        );
        // Exactly at the bound is fine.
        let mut ch = channel_reading(frame(PROTOCOL_VERSION, 0x0201, 4, &[9; 4]), 4);
        assert_eq!(ch.recv(MessageType::GC_TABLES).unwrap(), vec![9; 4]);
        // And the sender refuses to exceed the bound too.
        let mut ch = channel_reading(Vec::new(), 4);
        assert!(ch.send(MessageType::GC_TABLES, &[0; 5]).is_err());
    }

    #[test]
    fn wrong_version_and_unexpected_type_are_rejected() {
        let mut ch = channel_reading(frame(PROTOCOL_VERSION + 1, 0x0201, 0, &[]), 100);
        let e = ch.recv(MessageType::GC_TABLES).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("version")),
            "{e}"
        );
        let mut ch = channel_reading(frame(PROTOCOL_VERSION, 0x0202, 0, &[]), 100);
        let e = ch.recv(MessageType::GC_TABLES).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("unexpected")),
            "{e}"
        );
        let mut ch = channel_reading(frame(PROTOCOL_VERSION, 0x0201, 3, &[0; 3]), 100);
        assert!(ch.recv_exact(MessageType::GC_TABLES, 4).is_err());
    }

    #[test]
    fn silent_peer_hits_the_deadline() {
        let (mut a, _b) = loopback_pair(ChannelConfig {
            max_message_len: 100,
            deadline: Some(Duration::from_millis(200)),
        })
        .unwrap();
        let start = std::time::Instant::now();
        let e = a.recv(MessageType::GC_TABLES).unwrap_err();
        assert!(
            matches!(&e, TwoPcError::Protocol(m) if m.contains("deadline")),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn payload_reader_rejects_short_and_trailing_bytes() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0, 7];
        let mut r = PayloadReader::new(&bytes);
        assert_eq!(r.u64().unwrap(), 1);
        assert!(r.take(2).is_err());
        let mut r = PayloadReader::new(&bytes);
        r.u64().unwrap();
        assert!(r.finish().is_err());
    }
}
