//! CKKS objects in the same versioned binary format as the BFV ones (see the parent module):
//! ciphertexts and plaintexts carry their level and scale, parameters carry the primes, `dnum`,
//! the default scale and the slot count. Keys are scheme-independent RLWE objects: their bytes
//! (kinds 6–8, fingerprint of the RLWE parameters alone) are identical whichever scheme wrote
//! them, so a key serialized with [`HeSerialize`](super::HeSerialize) under BFV parameters
//! loads with [`CkksSerialize`] under CKKS parameters of the same ring and primes.
//!
//! A separate trait (rather than making [`HeSerialize`](super::HeSerialize) generic) keeps
//! every existing BFV call site unchanged; its methods have distinct names so that importing
//! both traits never makes a call ambiguous.

use super::{err, open, read_ksk, write_ksk, Kind, Reader, ReaderHandle, Writer, WriterHandle};
use crate::ckks::{Ciphertext, CkksParameters, Plaintext, SeededCiphertext};
use crate::rlwe::{self, GaloisKeys, PublicKey, RelinearizationKey, RlweParameters};
use crate::HeError;
use henn_ring::RnsBasis;
use std::sync::Arc;

/// Objects that serialize against CKKS parameters.
pub trait CkksSerialize: Sized {
    /// The kind tag.
    const KIND: Kind;
    /// Writes the payload.
    #[doc(hidden)]
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle);
    /// Reads and validates the payload.
    #[doc(hidden)]
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError>;

    /// The fingerprint written to and checked in the header: that of the CKKS parameters
    /// (RLWE parameters, default scale, slots); keys use the RLWE fingerprint alone.
    fn ckks_params_fingerprint(params: &CkksParameters) -> u64 {
        params.fingerprint()
    }

    /// Serializes `self` for `params`.
    fn to_ckks_bytes(&self, params: &CkksParameters) -> Vec<u8> {
        let mut w = WriterHandle(Writer::header(
            Self::KIND,
            Self::ckks_params_fingerprint(params),
        ));
        self.write_payload(params, &mut w);
        w.0.buf
    }

    /// Deserializes and validates against `params`: magic, version, kind, fingerprint, every
    /// count bounded by the parameters before allocation, every residue below its prime, the
    /// scale finite and positive, no trailing bytes.
    fn from_ckks_bytes(params: &Arc<CkksParameters>, bytes: &[u8]) -> Result<Self, HeError> {
        let mut r = ReaderHandle(open(
            bytes,
            Self::KIND,
            Some(Self::ckks_params_fingerprint(params)),
        )?);
        let v = Self::read_payload(params, &mut r)?;
        r.0.finish()?;
        Ok(v)
    }
}

fn top_q(params: &CkksParameters) -> &RnsBasis {
    params.rlwe().q_basis()
}

fn read_scale(r: &mut ReaderHandle) -> Result<f64, HeError> {
    let scale = f64::from_bits(r.0.u64()?);
    if !(scale.is_finite() && scale > 0.0) {
        return Err(err(format!(
            "scale {scale} is not a finite positive number"
        )));
    }
    Ok(scale)
}

impl CkksSerialize for Ciphertext {
    const KIND: Kind = Kind::CkksCiphertext;
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        w.0.u8(self.level() as u8);
        w.0.u8(self.len() as u8);
        w.0.u64(self.scale().to_bits());
        for p in self.rlwe().polys() {
            w.0.poly(p, top_q(params));
        }
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let level = r.0.u8()? as usize;
        let count = r.0.u8()? as usize;
        if level > params.max_level() || !(2..=3).contains(&count) {
            return Err(err("ciphertext level or size out of range"));
        }
        let scale = read_scale(r)?;
        let polys = (0..count)
            .map(|_| r.0.poly(top_q(params), level + 1))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = rlwe::Ciphertext::from_polys(params.rlwe(), polys, level)?;
        Ciphertext::from_rlwe(inner, scale).map_err(|e| err(e.to_string()))
    }
}

impl CkksSerialize for Plaintext {
    const KIND: Kind = Kind::CkksPlaintext;
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        w.0.u8(self.level() as u8);
        w.0.u64(self.scale().to_bits());
        w.0.poly(self.poly(), top_q(params));
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let level = r.0.u8()? as usize;
        if level > params.max_level() {
            return Err(err("plaintext level out of range"));
        }
        let scale = read_scale(r)?;
        let poly = r.0.poly(top_q(params), level + 1)?;
        Ok(Plaintext { poly, level, scale })
    }
}

impl CkksSerialize for SeededCiphertext {
    const KIND: Kind = Kind::CkksSeededCiphertext;
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        w.0.u8(self.level as u8);
        w.0.u64(self.scale.to_bits());
        w.0.bytes(&self.seed);
        w.0.poly(&self.c0, top_q(params));
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let level = r.0.u8()? as usize;
        if level > params.max_level() {
            return Err(err("seeded ciphertext level out of range"));
        }
        let scale = read_scale(r)?;
        let seed = r.0.seed()?;
        let c0 = r.0.poly(top_q(params), level + 1)?;
        Ok(SeededCiphertext {
            c0,
            seed,
            level,
            scale,
        })
    }
}

impl CkksSerialize for PublicKey {
    const KIND: Kind = Kind::PublicKey;
    fn ckks_params_fingerprint(params: &CkksParameters) -> u64 {
        params.rlwe().fingerprint()
    }
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        w.0.bytes(&self.seed);
        w.0.poly(&self.b, top_q(params));
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let seed = r.0.seed()?;
        let b = r.0.poly(top_q(params), params.max_level() + 1)?;
        Ok(PublicKey::from_seed(params.rlwe(), b, seed))
    }
}

impl CkksSerialize for RelinearizationKey {
    const KIND: Kind = Kind::RelinearizationKey;
    fn ckks_params_fingerprint(params: &CkksParameters) -> u64 {
        params.rlwe().fingerprint()
    }
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        write_ksk(&self.0, params.rlwe(), w);
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        Ok(RelinearizationKey(read_ksk(params.rlwe(), r)?))
    }
}

impl CkksSerialize for GaloisKeys {
    const KIND: Kind = Kind::GaloisKeys;
    fn ckks_params_fingerprint(params: &CkksParameters) -> u64 {
        params.rlwe().fingerprint()
    }
    fn write_payload(&self, params: &CkksParameters, w: &mut WriterHandle) {
        super::write_galois_keys(self, params.rlwe(), w);
    }
    fn read_payload(params: &Arc<CkksParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        super::read_galois_keys(params.rlwe(), r)
    }
}

impl CkksParameters {
    /// Serializes the parameters (primes, `dnum`, default scale, slot count).
    pub fn to_bytes(&self) -> Vec<u8> {
        let rl = self.rlwe();
        let mut w = Writer::header(Kind::CkksParameters, self.fingerprint());
        super::write_rlwe_shape(rl, &mut w);
        w.u64(self.default_scale().to_bits());
        w.u32(self.slots() as u32);
        w.buf
    }

    /// Loads parameters, re-running every check (primality, 128-bit security, scale, slots)
    /// and verifying the fingerprint.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Self>, HeError> {
        let mut r = open(bytes, Kind::CkksParameters, None)?;
        let fingerprint = header_fingerprint(bytes)?;
        let (log_n, q, p, dnum) = super::read_rlwe_shape(&mut r)?;
        let scale = f64::from_bits(r.u64()?);
        let slots = r.u32()? as usize;
        r.finish()?;
        let rlwe = Arc::new(RlweParameters::new(log_n, &q, &p, dnum)?);
        let params =
            CkksParameters::new(rlwe, Some(scale), Some(slots)).map_err(|e| err(e.to_string()))?;
        if params.fingerprint() != fingerprint {
            return Err(err("parameter fingerprint mismatch"));
        }
        Ok(params)
    }
}

fn header_fingerprint(bytes: &[u8]) -> Result<u64, HeError> {
    let mut h = Reader { buf: bytes };
    h.take(8)?;
    h.u64()
}
