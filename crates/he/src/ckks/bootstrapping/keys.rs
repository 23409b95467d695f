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
use crate::ckks::{galois_elements, CkksError};
use crate::rlwe::{GaloisKeys, KeySwitchingKey, RelinearizationKey, SecretKey};
use henn_ring::sampler;

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
    /// [`CkksError::InvalidParameters`] if `sk` belongs to other parameters; Galois-element
    /// errors.
    pub fn generate(params: &BootstrappingParameters, sk: &SecretKey) -> Result<Self, CkksError> {
        let main = params.ckks().rlwe();
        if sk.params().fingerprint() != main.fingerprint() {
            return Err(CkksError::InvalidParameters(
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
