//! Base OT: the "simplest OT" of Chou and Orlandi (LATINCRYPT 2015) over the Ristretto group
//! (`curve25519-dalek`), as random OT of 128-bit keys. It runs 128 times per session, to seed
//! the IKNP extension ([`super::iknp`]).
//!
//! Protocol (`G` the Ristretto base point, `H` SHA-256 truncated to 128 bits, domain separated
//! and bound to the index and the transcript):
//!
//! 1. sender: `a ← Z_ℓ`, sends `A = a·G` ([`MessageType::BASE_OT_SENDER_POINT`], 32 bytes);
//! 2. receiver, choice `c_i`: `b_i ← Z_ℓ`, sends `B_i = b_i·G + c_i·A`
//!    ([`MessageType::BASE_OT_RECEIVER_POINTS`], 32 bytes each), outputs
//!    `k_i = H(i, A, B_i, b_i·A)`;
//! 3. sender outputs `k_{i,0} = H(i, A, B_i, a·B_i)` and `k_{i,1} = H(i, A, B_i, a·(B_i − A))`.
//!
//! `B_i` is uniform whatever `c_i` is, so the sender learns nothing about the choices
//! (information-theoretically); the receiver cannot compute `k_{i,1−c_i}` without solving CDH.
//! Semi-honest security suffices here; points from the peer are decompressed (and the identity
//! refused), so a malformed message is an error, not a panic.

use std::io::{Read, Write};

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_chacha::rand_core::RngCore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable};
use zeroize::Zeroize;

use crate::block::{Block, Csprng};
use crate::channel::{Channel, MessageType};
use crate::error::TwoPcError;

fn random_scalar(rng: &mut Csprng) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let s = Scalar::from_bytes_mod_order_wide(&wide);
    wide.zeroize();
    s
}

fn decompress(bytes: &[u8]) -> Result<RistrettoPoint, TwoPcError> {
    let c = CompressedRistretto::from_slice(bytes)
        .map_err(|_| TwoPcError::Protocol("base OT: a point must be 32 bytes".into()))?;
    let p = c
        .decompress()
        .ok_or_else(|| TwoPcError::Protocol("base OT: invalid Ristretto point".into()))?;
    if p == RistrettoPoint::identity() {
        return Err(TwoPcError::Protocol("base OT: identity point".into()));
    }
    Ok(p)
}

fn key(i: usize, a: &[u8], b: &[u8], p: &RistrettoPoint) -> Block {
    let mut h = Sha256::new();
    h.update(b"henn-twopc simplest-OT v1");
    h.update((i as u64).to_le_bytes());
    h.update(a);
    h.update(b);
    h.update(p.compress().as_bytes());
    let d = h.finalize();
    Block::from_slice(&d[..16])
}

/// The sender's side of `n` random base OTs: returns the key pairs `(k_{i,0}, k_{i,1})`.
pub fn base_ot_send<S: Read + Write>(
    ch: &mut Channel<S>,
    n: usize,
    rng: &mut Csprng,
) -> Result<Vec<(Block, Block)>, TwoPcError> {
    let mut a = random_scalar(rng);
    let big_a = RistrettoPoint::mul_base(&a);
    let a_bytes = big_a.compress().to_bytes();
    ch.send(MessageType::BASE_OT_SENDER_POINT, &a_bytes)?;
    let points = ch.recv_exact(MessageType::BASE_OT_RECEIVER_POINTS, 32 * n)?;
    let mut keys = Vec::with_capacity(n);
    for (i, b_bytes) in points.chunks_exact(32).enumerate() {
        let big_b = decompress(b_bytes)?;
        let k0 = key(i, &a_bytes, b_bytes, &(a * big_b));
        let k1 = key(i, &a_bytes, b_bytes, &(a * (big_b - big_a)));
        keys.push((k0, k1));
    }
    a.zeroize();
    Ok(keys)
}

/// The receiver's side of random base OTs with the given choice bits: returns `k_{i,c_i}`.
pub fn base_ot_receive<S: Read + Write>(
    ch: &mut Channel<S>,
    choices: &[bool],
    rng: &mut Csprng,
) -> Result<Vec<Block>, TwoPcError> {
    let a_bytes = ch.recv_exact(MessageType::BASE_OT_SENDER_POINT, 32)?;
    let big_a = decompress(&a_bytes)?;
    let mut msg = Vec::with_capacity(32 * choices.len());
    let mut secrets = Vec::with_capacity(choices.len());
    for &c in choices {
        let b = random_scalar(rng);
        let b_g = RistrettoPoint::mul_base(&b);
        let big_b = RistrettoPoint::conditional_select(&b_g, &(b_g + big_a), Choice::from(c as u8));
        msg.extend_from_slice(big_b.compress().as_bytes());
        secrets.push(b);
    }
    ch.send(MessageType::BASE_OT_RECEIVER_POINTS, &msg)?;
    let keys = secrets
        .iter()
        .zip(msg.chunks_exact(32))
        .enumerate()
        .map(|(i, (b, b_bytes))| key(i, &a_bytes, b_bytes, &(b * big_a)))
        .collect();
    secrets.zeroize();
    Ok(keys)
}
