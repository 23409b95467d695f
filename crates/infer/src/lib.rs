//! Encrypted inference the LoLa way (Brutzkus, Elisha, Gilad-Bachrach, ICML 2019): a slot-vector
//! backend trait, message representations (section 4.2.1) and the matrix-vector kernels between
//! them (section 4.2.2), a planner and executor for whole networks (sections 4.3, 4.4), and a
//! clear backend that runs the same operations on plain numbers to check plans, count
//! operations, list Galois keys and size plaintext moduli / scales.
//!
//! | module | what |
//! |---|---|
//! | [`backend`] | [`backend::SlotEvaluator`] (server) / [`backend::SlotEncryptor`] (client) over [`backend::SlotEncoding`] (BFV `2 × n/2` / CKKS `1 × n/2` slot geometry, hoisted rotations, levels) and the counting [`backend::clear::ClearBackend`] |
//! | [`backend::ckks`] | CKKS backend (real slots, lazy per-scale encodings, seeded encryption) and 128-bit chains sized by depth |
//! | [`calibrate`] | range normalisation of real networks for CKKS (argmax-preserving) |
//! | [`representation`] | dense, sparse, stacked, interleaved, convolution, SIMD layouts; client encode/decode |
//! | [`encrypted`] | ciphertexts + layout; client-side encrypt/decrypt of vectors and SIMD batches |
//! | [`kernels`] | dense/interleaved row major, sparse column major, stacked row major, convolution row major, combine, sparse → dense, relayout, diagonal BSGS, SIMD, square, bias |
//! | [`conv`], [`matrix`] | convolution geometry (asymmetric padding) and weight matrices, with plain references |
//! | [`network`] | [`network::IntNetwork`]: the integer (BFV) or real (CKKS) network description the planner compiles |
//! | [`plan`] | rule-based planner (LoLa, LoLa+BSGS, LoLa-Dense, CryptoNets), executor, clear-backend profiler (Table 1) |
//! | [`cost`] | latency estimates from op counts, strategy ranking by cost |
//! | [`backend::noise`], [`params`] | BFV noise estimate; choice of `n`, `Q` preset and plaintext primes |
//! | [`summary`] | a plan as LoLa's Table 1, with estimated latency, noise and key sizes |
//! | [`zoo`] | LoLa's MNIST, MNIST-small and CIFAR networks with synthetic weights |
//! | [`from_nn`] | `henn_nn` models to quantized (BFV) or float (CKKS) networks |
//! | [`session`] | `compile` → `CompiledModel` (public part: `PublicModel`), `ClientSession`, `ServerSession`, their wire formats |
//! | [`bench`] | end-to-end benchmarks on real data (`henn bench lola`): sessions, the CryptoNets batch baseline, CIFAR-10 on CKKS |
//! | [`error`] | [`error::InferError`] |
//!
//! Example: `cargo run --release -p henn-infer --example lola_plans` prints the profile of
//! every MNIST plan.

#![deny(missing_docs)]

pub mod backend;
pub mod bench;
pub mod calibrate;
pub mod conv;
pub mod cost;
pub mod encrypted;
pub mod error;
pub mod from_nn;
pub mod kernels;
pub mod matrix;
pub mod network;
pub mod params;
pub mod plan;
pub mod representation;
pub mod session;
pub mod summary;
pub mod zoo;

/// The repository README, compiled and run as doctests (`cargo test -p henn-infer --doc`):
/// its library example is executed, its shell blocks are marked `sh`.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
