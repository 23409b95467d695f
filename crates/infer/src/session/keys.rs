//! The evaluation keys a client uploads for a compiled model: the relinearization key when the
//! plan multiplies ciphertexts, and exactly the Galois keys of the plan's rotations. Keys are
//! scheme-independent RLWE objects; the server refuses a key set that differs from the plan's
//! requirements (a missing key, or one the plan never uses).

use henn_he::rlwe::{GaloisKeys, RelinearizationKey};
use henn_he::serialization::{CkksSerialize, HeSerialize};

use super::public::{PublicModel, SchemeContext};
use super::wire::{Reader, WireKind, WireScheme, Writer};
use crate::backend::bfv::split::required_galois_elements;
use crate::backend::ckks::CkksBackend;
use crate::error::{InferError, InferResult};

/// A client's evaluation keys (no secret material: Lattigo's `EvaluationKeySet`).
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Relinearization key, when the plan multiplies ciphertexts.
    pub relinearization: Option<RelinearizationKey>,
    /// Galois keys of the plan's rotations (and the BFV row swap).
    pub galois: GaloisKeys,
}

/// The Galois elements `public`'s plan needs, sorted.
pub(crate) fn required_elements(
    ctx: &SchemeContext,
    public: &PublicModel,
) -> InferResult<Vec<usize>> {
    let spec = public.keys.to_key_spec();
    let mut e = match ctx {
        SchemeContext::Bfv(p) => required_galois_elements(&p[0], &spec),
        SchemeContext::Ckks(p) => CkksBackend::required_galois_elements(p, &spec)?,
    };
    e.sort_unstable();
    e.dedup();
    Ok(e)
}

impl EvaluationKeys {
    /// The upload message for `public`'s model (see [`super::wire`]).
    pub fn to_bytes(&self, ctx: &SchemeContext, public: &PublicModel) -> Vec<u8> {
        let (scheme, fingerprint) = match ctx {
            SchemeContext::Bfv(p) => (WireScheme::Bfv, p[0].rlwe().fingerprint()),
            SchemeContext::Ckks(p) => (WireScheme::Ckks, p.rlwe().fingerprint()),
        };
        let mut w = Writer::new(WireKind::EvaluationKeys, scheme);
        w.name(&public.model);
        w.u64(fingerprint);
        w.u8(u8::from(self.relinearization.is_some()));
        let (rlk, gk) = match ctx {
            SchemeContext::Bfv(p) => (
                self.relinearization.as_ref().map(|r| r.to_bytes(&p[0])),
                self.galois.to_bytes(&p[0]),
            ),
            SchemeContext::Ckks(p) => (
                self.relinearization.as_ref().map(|r| r.to_ckks_bytes(p)),
                self.galois.to_ckks_bytes(p),
            ),
        };
        if let Some(r) = rlk {
            w.blob_u64(&r);
        }
        w.blob_u64(&gk);
        w.buf
    }

    /// Decodes and validates an upload for `public`: the scheme, model name and RLWE
    /// fingerprint must match, every key must deserialize (the engine checks counts, Galois
    /// elements and residues), and the key set must be exactly the plan's: the relinearization
    /// key iff the plan multiplies ciphertexts, and the Galois keys of its rotations, no more,
    /// no fewer. The Galois-key count is checked from the engine header's count field
    /// before the keys themselves are decoded.
    pub fn from_bytes(
        ctx: &SchemeContext,
        public: &PublicModel,
        bytes: &[u8],
    ) -> InferResult<Self> {
        let (mut r, scheme) = Reader::open(bytes, WireKind::EvaluationKeys)?;
        let (want_scheme, fingerprint) = match ctx {
            SchemeContext::Bfv(p) => (WireScheme::Bfv, p[0].rlwe().fingerprint()),
            SchemeContext::Ckks(p) => (WireScheme::Ckks, p.rlwe().fingerprint()),
        };
        if scheme != want_scheme {
            return Err(r.err(format!(
                "keys for {scheme:?}, model {} uses {}",
                public.model,
                public.parameters.name()
            )));
        }
        let name = r.name()?;
        if name != public.model {
            return Err(r.err(format!("keys for model {name}, not {}", public.model)));
        }
        let f = r.u64()?;
        if f != fingerprint {
            return Err(r.err(format!(
                "keys made for other parameters (fingerprint {f:#018x}, model {name} uses {fingerprint:#018x})"
            )));
        }
        let flags = r.u8()?;
        if flags > 1 {
            return Err(r.err(format!("unknown flags {flags:#04x}")));
        }
        if (flags & 1 == 1) != public.keys.relinearization {
            return Err(r.err(if public.keys.relinearization {
                "the plan needs a relinearization key"
            } else {
                "the plan needs no relinearization key"
            }));
        }
        let relinearization = if flags & 1 == 1 {
            let b = r.blob_u64()?;
            Some(
                match ctx {
                    SchemeContext::Bfv(p) => RelinearizationKey::from_bytes(&p[0], b),
                    SchemeContext::Ckks(p) => RelinearizationKey::from_ckks_bytes(p, b),
                }
                .map_err(|e| r.err(format!("relinearization key: {e}")))?,
            )
        } else {
            None
        };
        let b = r.blob_u64()?;
        r.finish()?;
        let required = required_elements(ctx, public)?;
        // The engine's Galois-key payload starts after its 16-byte header with a u32 count:
        // refuse a set of the wrong size before decoding (and allocating) any key.
        if let Some(count) = b.get(16..20) {
            let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as usize;
            if count != required.len() {
                return Err(r.err(format!(
                    "{count} Galois keys, the plan needs exactly {}",
                    required.len()
                )));
            }
        }
        let galois = match ctx {
            SchemeContext::Bfv(p) => GaloisKeys::from_bytes(&p[0], b),
            SchemeContext::Ckks(p) => GaloisKeys::from_ckks_bytes(p, b),
        }
        .map_err(|e| r.err(format!("Galois keys: {e}")))?;
        let mut have = galois.elements();
        have.sort_unstable();
        if have != required {
            return Err(InferError::Malformed {
                what: "evaluation keys",
                detail: format!(
                    "Galois keys for elements {have:?}, the plan needs exactly {required:?}"
                ),
            });
        }
        Ok(Self {
            relinearization,
            galois,
        })
    }
}
