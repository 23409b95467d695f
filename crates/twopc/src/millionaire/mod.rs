//! The OT-based ReLU: the millionaire's protocol of Rathee et al. (CCS 2020, "CrypTFlow2",
//! §3) with DReLU over a prime field (§4) and exact truncation (§5), in the IKNP setting of
//! Huang et al. (USENIX Security 2022, "Cheetah", §5, without its silent OT) — the lean online
//! path of DELPHI-style inference beside the garbled ReLU ([`crate::gc`]).
//!
//! It computes exactly the function of [`crate::gc::relu`]: from the client's share `a` and
//! the server's share `b` of `x = (a + b) mod p`, new shares (`r` for the server, a mask it
//! chooses; `y − r` for the client) of `y = ⌊ReLU(x) / 2^f⌋` (floor, `x > p/2` negative).
//! The same [`crate::gc::protocol::ReluConfig`] configures it, and [`protocol::ReluServer`] /
//! [`protocol::ReluClient`] have the garbled protocol's methods (`setup`, `fresh_masks`,
//! `offline`, `online`, `streamed`) with the same inputs and outputs, so a driver can select
//! either.
//!
//! | module | what |
//! |---|---|
//! | [`formula`] | the decomposition of `⌊ReLU(x)/2^f⌋` into comparisons `[a ≥ T(b)]`, with its derivation |
//! | [`tree`] | digits, leaf tables and the AND tree of the comparisons |
//! | [`protocol`] | the two-party protocol: offline OTs and bit triples, online tables, AND levels and multiplexer; messages; security |
//!
//! # Costs (default 41-bit prime, `f = 8`; see [`protocol::costs`] and [`protocol::bytes`])
//!
//! Offline, per ReLU: `ℓ + 2G + 4` random OTs client-receiving (`G` AND gates), one
//! server-receiving; online: the leaf tables (`2^m` bits per digit and field), two bits per
//! AND gate each way, and a 1-out-of-16 multiplexer on `ℓ`-bit entries, in
//! `1 + 2·levels + 2` one-way flights per chunk. The garbled ReLU instead sends `284 − f` AND
//! tables (32 bytes each) offline and `16·ℓ` bytes of labels online.
//!
//! Measured (`cargo bench -p henn-twopc --bench millionaire`, 4096 ReLUs, `f = 8`, loopback
//! TCP, both parties in one process on the shared 2-core machine at load average ≈ 8,
//! 2026-12-03): 119 + 1 random OTs and 37 ANDs per ReLU; bytes per ReLU offline 1,904
//! client → server + 16 back (GC: 10,149 + 656), online 174 server → client + 20 back (GC: 656 and
//! 0); online 344 K ReLU/s against the GC's 38 K ReLU/s in the same run (≈ 9×), offline
//! 10.2 K ReLU/s against 10.0 K ReLU/s (≈ 1×, dominated by OT extension and allocation).

mod bits;
pub mod formula;
pub mod protocol;
pub mod tree;

pub use protocol::{
    bytes, costs, ClientPrepared, MillionaireCosts, PhaseBytes, ReluClient, ReluServer,
    ServerPrepared,
};
