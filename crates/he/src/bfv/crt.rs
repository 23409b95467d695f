//! Plaintext spaces larger than one prime: `Z_T` with `T = t_1·…·t_k` handled as `k`
//! independent BFV instances sharing `Q` (one ciphertext per `t_j`), combined by the Chinese
//! remainder theorem on decoding with a signed centered lift (LoLa, Brutzkus et al. 2019, §3:
//! four plaintext primes for MNIST).

use super::encoder::{BatchEncoder, Plaintext};
use super::params::{BfvParameters, BfvParametersBuilder};
use crate::rlwe::Ciphertext;
use crate::HeError;
use std::sync::Arc;

/// One ciphertext per plaintext prime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrtCiphertext {
    /// `parts[j]` encrypts the value modulo `t_j`.
    pub parts: Vec<Ciphertext>,
}

/// The composite plaintext space: one [`BfvParameters`] (and encoder) per prime.
#[derive(Clone, Debug)]
pub struct CrtPlaintextSpace {
    params: Vec<Arc<BfvParameters>>,
    encoders: Vec<BatchEncoder>,
    product: u128,
}

impl CrtPlaintextSpace {
    /// Builds one parameter set per plaintext prime from a builder (whose `t` is replaced).
    /// The product of the primes must stay below `2^126`.
    pub fn new(
        builder: &BfvParametersBuilder,
        primes: &[u64],
        insecure: bool,
    ) -> Result<Self, HeError> {
        let mut product: u128 = 1;
        let mut params = Vec::new();
        let mut encoders = Vec::new();
        for &t in primes {
            product = product
                .checked_mul(t as u128)
                .filter(|&p| p < 1u128 << 126)
                .ok_or_else(|| HeError::InvalidParameters("CRT product too large".into()))?;
            let b = builder.clone().plaintext_modulus(t);
            let p = if insecure {
                b.insecure_build()?
            } else {
                b.build()?
            };
            encoders.push(BatchEncoder::new(&p)?);
            params.push(p);
        }
        if params.is_empty() {
            return Err(HeError::InvalidParameters("no plaintext primes".into()));
        }
        Ok(Self {
            params,
            encoders,
            product,
        })
    }

    /// Parameters per prime.
    pub fn params(&self) -> &[Arc<BfvParameters>] {
        &self.params
    }

    /// Encoders per prime.
    pub fn encoders(&self) -> &[BatchEncoder] {
        &self.encoders
    }

    /// `T = ∏ t_j`.
    pub fn modulus(&self) -> u128 {
        self.product
    }

    /// Encodes signed values (each reduced modulo every `t_j`) into one plaintext per prime.
    pub fn encode(&self, values: &[i128]) -> Result<Vec<Plaintext>, HeError> {
        self.encoders
            .iter()
            .zip(&self.params)
            .map(|(e, p)| {
                let t = p.plaintext_modulus() as i128;
                let v: Vec<u64> = values.iter().map(|&x| x.rem_euclid(t) as u64).collect();
                e.encode_u64(&v)
            })
            .collect()
    }

    /// Decodes one plaintext per prime and combines them by CRT into `(-T/2, T/2]`.
    pub fn decode(&self, pts: &[Plaintext]) -> Result<Vec<i128>, HeError> {
        if pts.len() != self.params.len() {
            return Err(HeError::InvalidPlaintext(
                "one plaintext per prime expected".into(),
            ));
        }
        let residues: Vec<Vec<u64>> = self
            .encoders
            .iter()
            .zip(pts)
            .map(|(e, p)| e.decode_u64(p))
            .collect();
        let moduli: Vec<u64> = self.params.iter().map(|p| p.plaintext_modulus()).collect();
        let n = residues[0].len();
        Ok((0..n)
            .map(|c| {
                let r: Vec<u64> = residues.iter().map(|v| v[c]).collect();
                crt_combine(&r, &moduli, self.product)
            })
            .collect())
    }
}

fn mul_mod_u128(a: u128, b: u128, m: u128) -> u128 {
    // double-and-add: operands < m < 2^126
    let mut r = 0u128;
    let mut a = a % m;
    let mut b = b;
    while b > 0 {
        if b & 1 == 1 {
            r = (r + a) % m;
        }
        a = (a << 1) % m;
        b >>= 1;
    }
    r
}

/// CRT: the unique `x ∈ (-T/2, T/2]` with `x ≡ r_j mod t_j`.
pub fn crt_combine(residues: &[u64], moduli: &[u64], product: u128) -> i128 {
    let mut x: u128 = 0;
    for (&r, &t) in residues.iter().zip(moduli) {
        let punct = product / t as u128;
        let m = henn_ring::Modulus::new(t).map(|m| {
            let p = (punct % t as u128) as u64;
            m.inv(p).unwrap_or(0)
        });
        let inv = m.unwrap_or(0) as u128;
        let coef = (r as u128 * inv) % t as u128;
        x = (x + mul_mod_u128(coef, punct, product)) % product;
    }
    if x > product / 2 {
        x as i128 - product as i128
    } else {
        x as i128
    }
}
