//! CKKS objects in the same versioned binary format as the BFV ones (see the parent module),
//! implementing [`HeSerialize<CkksParameters>`]: ciphertexts and plaintexts carry their level
//! and scale, parameters carry the primes, `dnum`, the default scale and the slot count. Keys
//! are scheme-independent RLWE objects implemented in the parent module for every
//! [`ParameterSet`](super::ParameterSet): their bytes (kinds 6–8, fingerprint of the RLWE
//! parameters alone) are identical whichever scheme wrote them.

use super::{err, header_fingerprint, open, HeSerialize, Kind, ReaderHandle, Writer, WriterHandle};
use crate::ckks::{Ciphertext, CkksParameters, Plaintext, SeededCiphertext};
use crate::rlwe::{self, RlweParameters};
use crate::HeError;
use henn_ring::RnsBasis;
use std::sync::Arc;

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

impl HeSerialize<CkksParameters> for Ciphertext {
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

impl HeSerialize<CkksParameters> for Plaintext {
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

impl HeSerialize<CkksParameters> for SeededCiphertext {
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
