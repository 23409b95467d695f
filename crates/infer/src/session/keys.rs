//! The evaluation keys a client uploads for a compiled model: the relinearization key when the
//! plan multiplies ciphertexts, and exactly the Galois keys of the plan's rotations. Keys are
//! scheme-independent RLWE objects; the server refuses a key set that differs from the plan's
//! requirements (a missing key, or one the plan never uses). When the compiled model has
//! [`super::public::OutputPrivacy`] the upload also carries the client's **public key**: the
//! server's only use of it is re-randomizing the outputs with fresh encryptions of zero
//! ([`henn_he::rlwe::flood`]).

use henn_he::rlwe::{GaloisKeys, PublicKey, RelinearizationKey};
use henn_he::serialization::HeSerialize;

use super::public::{PublicModel, SchemeContext};
use super::wire::{Reader, WireKind, WireScheme, Writer};
use crate::backend::bfv::required_galois_elements;
use crate::backend::ckks;
use crate::error::{InferError, InferResult};

/// A client's evaluation keys (no secret material: Lattigo's `EvaluationKeySet`).
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Relinearization key, when the plan multiplies ciphertexts.
    pub relinearization: Option<RelinearizationKey>,
    /// Galois keys of the plan's rotations (and the BFV row swap).
    pub galois: GaloisKeys,
    /// The public key, when the model's outputs are re-randomized (circuit privacy).
    pub public: Option<PublicKey>,
}

/// Flag bits of an upload: bit 0 relinearization key, bit 1 public key.
fn upload_flags(relinearization: bool, public_key: bool) -> u8 {
    u8::from(relinearization) | (u8::from(public_key) << 1)
}

/// The Galois elements `public`'s plan needs, sorted.
pub(crate) fn required_elements(
    ctx: &SchemeContext,
    public: &PublicModel,
) -> InferResult<Vec<usize>> {
    let spec = public.keys.to_key_spec();
    let mut e = match ctx {
        SchemeContext::Bfv(p) => required_galois_elements(&p[0], &spec),
        SchemeContext::Ckks(p) => ckks::required_galois_elements(p, &spec)?,
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
        w.u8(upload_flags(
            self.relinearization.is_some(),
            self.public.is_some(),
        ));
        let (rlk, gk, pk) = match ctx {
            SchemeContext::Bfv(p) => (
                self.relinearization.as_ref().map(|r| r.to_bytes(&p[0])),
                self.galois.to_bytes(&p[0]),
                self.public.as_ref().map(|k| k.to_bytes(&p[0])),
            ),
            SchemeContext::Ckks(p) => (
                self.relinearization.as_ref().map(|r| r.to_bytes(p)),
                self.galois.to_bytes(p),
                self.public.as_ref().map(|k| k.to_bytes(p)),
            ),
        };
        if let Some(r) = rlk {
            w.blob_u64(&r);
        }
        w.blob_u64(&gk);
        if let Some(k) = pk {
            w.blob_u64(&k);
        }
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
        if flags > 3 {
            return Err(r.err(format!("unknown flags {flags:#04x}")));
        }
        let privacy = public.output_privacy.is_some();
        if (flags & 2 == 2) != privacy {
            return Err(r.err(if privacy {
                "the model's outputs are re-randomized: the upload needs the public key"
            } else {
                "the model takes no public key"
            }));
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
                    SchemeContext::Ckks(p) => RelinearizationKey::from_bytes(p, b),
                }
                .map_err(|e| r.err(format!("relinearization key: {e}")))?,
            )
        } else {
            None
        };
        let b = r.blob_u64()?;
        let pk_bytes = if privacy { Some(r.blob_u64()?) } else { None };
        r.finish()?;
        let public_key = pk_bytes
            .map(|k| match ctx {
                SchemeContext::Bfv(p) => PublicKey::from_bytes(&p[0], k),
                SchemeContext::Ckks(p) => PublicKey::from_bytes(p, k),
            })
            .transpose()
            .map_err(|e| r.err(format!("public key: {e}")))?;
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
            SchemeContext::Ckks(p) => GaloisKeys::from_bytes(p, b),
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
            public: public_key,
        })
    }
}

/// Bytes of one serialized key-switching key (engine format, [`henn_he::serialization`]): its
/// 32-byte seed, then per gadget digit at the top level one polynomial modulo `Q·P`, every
/// residue bit-packed at its prime's bit size.
fn key_switching_key_bytes(rl: &henn_he::rlwe::RlweParameters) -> u64 {
    let n = rl.degree() as u64;
    let q = rl.q_basis().len() as u64;
    let alpha = q.div_ceil(rl.dnum() as u64);
    let digits = q.div_ceil(alpha);
    let poly: u64 = rl
        .qp_basis()
        .moduli()
        .into_iter()
        .map(|m| (n * u64::from(64 - m.leading_zeros())).div_ceil(8))
        .sum();
    32 + digits * poly
}

/// Length of the engine header of a serialized HE object (magic, version, kind, reserved,
/// fingerprint).
const ENGINE_HEADER: u64 = 16;
/// Engine kind tags of the two key objects of an upload.
const ENGINE_KIND_RELINEARIZATION: u8 = 7;
const ENGINE_KIND_GALOIS: u8 = 8;
const ENGINE_KIND_PUBLIC: u8 = 6;

/// Bytes of one serialized public key: engine header, the 32-byte seed of `a`, then `b` at
/// the top level, every residue bit-packed at its prime's bit size.
fn public_key_bytes(rl: &henn_he::rlwe::RlweParameters) -> u64 {
    let n = rl.degree() as u64;
    let poly: u64 = rl
        .q_basis()
        .moduli()
        .into_iter()
        .map(|m| (n * u64::from(64 - m.leading_zeros())).div_ceil(8))
        .sum();
    ENGINE_HEADER + 32 + poly
}

/// The exact shape of a valid evaluation-key upload for one compiled model, known before a
/// byte arrives: its total length and where every header field and Galois element sits. A
/// server checks a partly received upload against it ([`KeyUploadLayout::check_prefix`]) and
/// refuses a wrong header, an unneeded or repeated Galois element or a wrong length at the
/// first byte that shows it — before the rest is received, decoded or stored. (The full
/// decode, [`EvaluationKeys::from_bytes`], then checks every residue.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUploadLayout {
    /// The expected message header up to the first key length: magic, version, kind, scheme,
    /// model name, RLWE fingerprint and flags.
    header: Vec<u8>,
    /// RLWE fingerprint (in both engine headers).
    fingerprint: u64,
    /// Bytes of the relinearization-key object, when the plan needs one.
    relinearization: Option<u64>,
    /// Bytes of one key-switching key.
    ksk: u64,
    /// The Galois elements, ascending (the order the client writes them in).
    elements: Vec<u64>,
    /// Bytes of the public-key object, when the outputs are re-randomized.
    public_key: Option<u64>,
}

impl KeyUploadLayout {
    /// The layout of `public`'s uploads (exactly the plan's key requirements).
    pub fn new(ctx: &SchemeContext, public: &PublicModel) -> InferResult<Self> {
        let (scheme, rl) = match ctx {
            SchemeContext::Bfv(p) => (WireScheme::Bfv, p[0].rlwe()),
            SchemeContext::Ckks(p) => (WireScheme::Ckks, p.rlwe()),
        };
        let fingerprint = rl.fingerprint();
        let mut w = Writer::new(WireKind::EvaluationKeys, scheme);
        w.name(&public.model);
        w.u64(fingerprint);
        w.u8(upload_flags(
            public.keys.relinearization,
            public.output_privacy.is_some(),
        ));
        let ksk = key_switching_key_bytes(rl);
        Ok(Self {
            header: w.buf,
            fingerprint,
            relinearization: public.keys.relinearization.then_some(ENGINE_HEADER + ksk),
            ksk,
            elements: required_elements(ctx, public)?
                .into_iter()
                .map(|e| e as u64)
                .collect(),
            public_key: public.output_privacy.map(|_| public_key_bytes(rl)),
        })
    }

    /// Bytes of the Galois-key object.
    fn galois_bytes(&self) -> u64 {
        ENGINE_HEADER + 4 + self.elements.len() as u64 * (8 + self.ksk)
    }

    /// Offset of the Galois-key object's length field.
    fn galois_start(&self) -> u64 {
        self.header.len() as u64 + self.relinearization.map_or(0, |r| 8 + r)
    }

    /// Offset of the public-key object's length field (after the Galois keys).
    fn public_key_start(&self) -> u64 {
        self.galois_start() + 8 + self.galois_bytes()
    }

    /// The exact length of a valid upload.
    pub fn total_bytes(&self) -> u64 {
        self.public_key_start() + self.public_key.map_or(0, |k| 8 + k)
    }

    /// The Galois elements the upload must carry, ascending.
    pub fn galois_elements(&self) -> &[u64] {
        &self.elements
    }

    /// Offset in the upload of the `i`-th Galois key's element (`u64`), followed by its key.
    pub fn galois_element_offset(&self, i: usize) -> u64 {
        self.galois_start() + 8 + ENGINE_HEADER + 4 + i as u64 * (8 + self.ksk)
    }

    /// Offset of the Galois-key count (`u32`).
    pub fn galois_count_offset(&self) -> u64 {
        self.galois_start() + 8 + ENGINE_HEADER
    }

    /// Checks every field of the layout that lies inside `prefix` (the first bytes received
    /// of an upload): the message header, each object's length, engine header and
    /// fingerprint, the Galois-key count and each Galois element, and that the prefix is no
    /// longer than a valid upload. `Ok` means no received byte contradicts a valid upload.
    pub fn check_prefix(&self, prefix: &[u8]) -> InferResult<()> {
        let err = |detail: String| InferError::Malformed {
            what: "evaluation keys",
            detail,
        };
        let len = prefix.len() as u64;
        if len > self.total_bytes() {
            return Err(err(format!(
                "more than {} bytes (the plan's keys are exactly that long)",
                self.total_bytes()
            )));
        }
        // The message header, byte by byte (the first difference names the field).
        let h = &self.header;
        let n = prefix.len().min(h.len());
        if let Some(i) = (0..n).find(|&i| prefix[i] != h[i]) {
            let field = match i {
                0..=3 => "bad magic (not a henn message)",
                4..=5 => "unsupported wire version",
                6 => "not an evaluation-key message",
                7 => "keys for another scheme",
                _ if i + 9 < h.len() => "keys for another model",
                _ if i + 1 < h.len() => "keys made for other parameters (fingerprint)",
                _ => match (self.relinearization.is_some(), self.public_key.is_some()) {
                    (true, true) => "the plan needs a relinearization key and the public key",
                    (true, false) => "the plan needs a relinearization key and no public key",
                    (false, true) => "the plan needs no relinearization key but the public key",
                    (false, false) => "the plan needs no relinearization key and no public key",
                },
            };
            return Err(err(format!("{field} (byte {i})")));
        }
        let u64_at = |at: u64| -> Option<u64> {
            let at = usize::try_from(at).ok()?;
            let b = prefix.get(at..at + 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Some(u64::from_le_bytes(a))
        };
        // An object: its u64 length, then the engine header (kind, fingerprint).
        let object = |start: u64, bytes: u64, kind: u8, what: &str| -> InferResult<()> {
            if let Some(l) = u64_at(start) {
                if l != bytes {
                    return Err(err(format!(
                        "{what} of {l} bytes, the plan's are exactly {bytes}"
                    )));
                }
            }
            let eh = start + 8;
            let expected: Vec<u8> = henn_he::serialization::MAGIC
                .iter()
                .copied()
                .chain(henn_he::serialization::VERSION.to_le_bytes())
                .chain([kind, 0])
                .chain(self.fingerprint.to_le_bytes())
                .collect();
            for (i, &b) in expected.iter().enumerate() {
                if let Some(&got) = prefix.get((eh as usize) + i) {
                    if got != b {
                        return Err(err(format!(
                            "{what}: engine header byte {i} is {got:#04x}, expected {b:#04x}"
                        )));
                    }
                }
            }
            Ok(())
        };
        if let Some(r) = self.relinearization {
            object(
                h.len() as u64,
                r,
                ENGINE_KIND_RELINEARIZATION,
                "relinearization key",
            )?;
        }
        let gs = self.galois_start();
        object(gs, self.galois_bytes(), ENGINE_KIND_GALOIS, "Galois keys")?;
        if let Some(k) = self.public_key {
            object(self.public_key_start(), k, ENGINE_KIND_PUBLIC, "public key")?;
        }
        let count_at = gs + 8 + ENGINE_HEADER;
        if let Some(c) = prefix
            .get(count_at as usize..count_at as usize + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        {
            if c as usize != self.elements.len() {
                return Err(err(format!(
                    "{c} Galois keys, the plan needs exactly {}",
                    self.elements.len()
                )));
            }
        }
        for (i, &want) in self.elements.iter().enumerate() {
            let at = count_at + 4 + i as u64 * (8 + self.ksk);
            match u64_at(at) {
                Some(got) if got != want => {
                    return Err(err(format!(
                        "Galois key {i} is for element {got}, the plan needs exactly {:?} \
                         (ascending)",
                        self.elements
                    )));
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    }
}
