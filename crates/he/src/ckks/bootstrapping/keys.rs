//! Bootstrapping keys: evaluation keys made by the client's key generator from the main
//! secret `s`, handed to an evaluator that holds no secret.
//!
//! * the relinearization key (EvalMod's products);
//! * Galois keys for every rotation of CoeffsToSlots and SlotsToCoeffs and for conjugation;
//! * the encapsulation keys of ePrint 2022/024 §4: `s → s'` modulo `q_0·p_0` only, an RLWE
//!   sample under the ephemeral sparse secret `s'` (Hamming weight `h`, 32 by default), and
//!   `s' → s` modulo the whole `Q·P`, an RLWE sample under the dense main secret.

use super::bootstrapper::required_rotations;
use super::params::BootstrappingParameters;
use crate::ckks::{galois_elements, CkksParameters};
use crate::rlwe::{GaloisKeys, KeySwitchingKey, RelinearizationKey, SecretKey};
use crate::serialization::HeSerialize;
use crate::HeError;
use henn_ring::sampler;
use std::sync::Arc;

/// Magic of the serialized bootstrapping-key bundle.
const MAGIC: &[u8; 4] = b"HNBK";
/// Version of the bundle format.
const VERSION: u8 = 1;

/// Every evaluation key bootstrapping needs (see the module docs).
#[derive(Clone, Debug)]
pub struct BootstrappingKeys {
    /// Relinearization key of the main secret.
    pub relinearization: RelinearizationKey,
    /// Galois keys: the rotations of both linear transforms and conjugation.
    pub galois: GaloisKeys,
    /// Key switching from the main secret to the ephemeral sparse secret, modulo `q_0·p_0`
    /// (parameters [`BootstrappingParameters::encapsulation`]).
    pub dense_to_sparse: KeySwitchingKey,
    /// Key switching from the ephemeral sparse secret back to the main secret, modulo `Q·P`.
    pub sparse_to_dense: KeySwitchingKey,
}

impl BootstrappingKeys {
    /// Generates the keys for `sk` (the client's main secret, made for
    /// `params.ckks().rlwe()`), with an OS-seeded CSPRNG; the ephemeral secret is sampled
    /// here and dropped (zeroized) on return.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] if `sk` belongs to other parameters; Galois-element
    /// errors.
    pub fn generate(params: &BootstrappingParameters, sk: &SecretKey) -> Result<Self, HeError> {
        let main = params.ckks().rlwe();
        if sk.params().fingerprint() != main.fingerprint() {
            return Err(HeError::InvalidParameters(
                "secret key made for other parameters".into(),
            ));
        }
        let mut rng = sampler::os_rng();
        let relinearization = RelinearizationKey::generate(sk, &mut rng);
        let rotations = required_rotations(params)?;
        let elements = galois_elements(params.ckks(), &rotations, true)?;
        let galois = GaloisKeys::generate(sk, &elements, &mut rng)?;
        let enc = params.encapsulation();
        let sparse =
            SecretKey::generate_sparse(enc, params.preset().ephemeral_hamming_weight, &mut rng);
        let dense_small = sk.with_params(enc);
        let dense_to_sparse = KeySwitchingKey::generate(&sparse, dense_small.ntt_qp(), &mut rng);
        let sparse_main = sparse.with_params(main);
        let sparse_to_dense = KeySwitchingKey::generate(sk, sparse_main.ntt_qp(), &mut rng);
        Ok(Self {
            relinearization,
            galois,
            dense_to_sparse,
            sparse_to_dense,
        })
    }

    /// The encapsulation parameters `(q_0; p_0)` as CKKS parameters, so the engine's key
    /// serialization (fingerprinted against them) applies.
    fn encapsulation_ckks(
        params: &BootstrappingParameters,
    ) -> Result<Arc<CkksParameters>, HeError> {
        CkksParameters::new(
            params.encapsulation().clone(),
            Some(params.ckks().default_scale()),
            None,
        )
    }

    /// Serializes the bundle: `HNBK`, a version byte, then four length-prefixed (u64 LE)
    /// objects in the engine's seeded format (each with its own header and parameter
    /// fingerprint): relinearization key, Galois keys, `s' → s` key (main parameters),
    /// `s → s'` key (encapsulation parameters). The uniform halves travel as seeds.
    ///
    /// # Errors
    /// Never for keys made for `params`, except building the encapsulation parameters.
    pub fn to_bytes(&self, params: &BootstrappingParameters) -> Result<Vec<u8>, HeError> {
        let main = params.ckks();
        let enc = Self::encapsulation_ckks(params)?;
        let parts = [
            self.relinearization.to_bytes(main),
            self.galois.to_bytes(main),
            RelinearizationKey(self.sparse_to_dense.clone()).to_bytes(main),
            RelinearizationKey(self.dense_to_sparse.clone()).to_bytes(&enc),
        ];
        let mut out = Vec::with_capacity(5 + parts.iter().map(|p| p.len() + 8).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        for p in &parts {
            out.extend_from_slice(&(p.len() as u64).to_le_bytes());
            out.extend_from_slice(p);
        }
        Ok(out)
    }

    /// Loads a bundle written by [`to_bytes`](Self::to_bytes) for the same parameters:
    /// every section is bounded by the remaining input before use and validated by the
    /// engine's deserializers (fingerprints, counts, residues); trailing bytes are refused.
    ///
    /// # Errors
    /// [`HeError::Deserialize`] for malformed input.
    pub fn from_bytes(params: &BootstrappingParameters, bytes: &[u8]) -> Result<Self, HeError> {
        let bad = |m: &str| HeError::Deserialize(format!("bootstrapping keys: {m}"));
        if bytes.len() < 5 || &bytes[..4] != MAGIC {
            return Err(bad("bad magic"));
        }
        if bytes[4] != VERSION {
            return Err(bad("unsupported version"));
        }
        let mut rest = &bytes[5..];
        let mut sections = Vec::with_capacity(4);
        for _ in 0..4 {
            if rest.len() < 8 {
                return Err(bad("truncated section length"));
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&rest[..8]);
            let len = u64::from_le_bytes(len);
            rest = &rest[8..];
            if len > rest.len() as u64 {
                return Err(bad("section longer than the input"));
            }
            let (section, tail) = rest.split_at(len as usize);
            sections.push(section);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let main = params.ckks();
        let enc = Self::encapsulation_ckks(params)?;
        let relinearization = RelinearizationKey::from_bytes(main, sections[0])?;
        let galois = GaloisKeys::from_bytes(main, sections[1])?;
        let sparse_to_dense = RelinearizationKey::from_bytes(main, sections[2])?.0;
        let dense_to_sparse = RelinearizationKey::from_bytes(&enc, sections[3])?.0;
        Ok(Self {
            relinearization,
            galois,
            dense_to_sparse,
            sparse_to_dense,
        })
    }

    /// In-memory size of the keys in bytes, counting the uniform halves (`a`) as their
    /// 32-byte seeds, i.e. the seeded serialized size up to headers.
    pub fn seeded_byte_size(&self) -> usize {
        let ksk = |k: &KeySwitchingKey| k.b.iter().map(|p| p.data().len() * 8).sum::<usize>() + 32;
        ksk(&self.relinearization.0)
            + self
                .galois
                .keys
                .values()
                .map(|(_, k)| ksk(k))
                .sum::<usize>()
            + ksk(&self.dense_to_sparse)
            + ksk(&self.sparse_to_dense)
    }
}
