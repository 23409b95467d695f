//! Versioned compact binary format for parameters, ciphertexts, plaintexts and keys.
//!
//! Layout: `b"HENN"`, version `u16`, kind `u8`, reserved `u8`, the parameter fingerprint `u64`
//! (little endian; of the RLWE parameters alone for keys, which do not depend on `t`, and of
//! the BFV parameters for ciphertexts and plaintexts), then the payload. Residues are bit-packed at the bit size of their prime;
//! uniform `a` parts of keys and secret-key ciphertexts are replaced by their 32-byte seed
//! (half size, as SEAL's seeded serialization). Loading checks the fingerprint, bounds every
//! count by the parameters before allocating, checks the remaining length before reading, and
//! checks every residue is below its modulus: malformed bytes give an error, never a panic.
//!
//! One trait, [`HeSerialize<P>`], parameterised by the parameter set `P` an object is written
//! against ([`ParameterSet`]: [`BfvParameters`] or [`crate::ckks::CkksParameters`]), with the
//! same methods for both schemes: `to_bytes(&params)` and `T::from_bytes(&params, bytes)`.
//! BFV ciphertexts and plaintexts implement `HeSerialize<BfvParameters>`, CKKS ones
//! `HeSerialize<CkksParameters>`; the scheme-independent keys implement it for every parameter
//! set, with identical bytes (they are bound to the RLWE fingerprint alone, see
//! [`FingerprintScope`]). Kind tags differ between BFV and CKKS objects and the fingerprint
//! covers the scheme's own parameters (`t`, or the default scale and slot count), so an object
//! of one scheme never loads as one of the other, even over the same ring and primes.

use crate::bfv::{BfvParameters, Plaintext, PlaintextOperand, SeededCiphertext};
use crate::ckks::CkksParameters;
use crate::rlwe::keys::KeySwitchingKey;
use crate::rlwe::{Ciphertext, GaloisKeys, PublicKey, RelinearizationKey, RlweParameters};
use crate::HeError;
use henn_ring::{Form, GaloisElement, RnsBasis, RnsPoly};
use std::collections::BTreeMap;
use std::sync::Arc;

mod ckks;

/// Format magic.
pub const MAGIC: &[u8; 4] = b"HENN";
/// Format version.
pub const VERSION: u16 = 1;

/// Kind tags of serialized objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// [`BfvParameters`].
    Parameters = 1,
    /// [`Ciphertext`].
    Ciphertext = 2,
    /// [`SeededCiphertext`].
    SeededCiphertext = 3,
    /// [`PlaintextOperand`].
    PlaintextOperand = 4,
    /// [`Plaintext`].
    Plaintext = 5,
    /// [`PublicKey`].
    PublicKey = 6,
    /// [`RelinearizationKey`].
    RelinearizationKey = 7,
    /// [`GaloisKeys`].
    GaloisKeys = 8,
    /// [`crate::ckks::CkksParameters`].
    CkksParameters = 9,
    /// [`crate::ckks::Ciphertext`].
    CkksCiphertext = 10,
    /// [`crate::ckks::Plaintext`].
    CkksPlaintext = 11,
    /// [`crate::ckks::SeededCiphertext`].
    CkksSeededCiphertext = 12,
}

fn err(msg: impl Into<String>) -> HeError {
    HeError::Deserialize(msg.into())
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn header(kind: Kind, fingerprint: u64) -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.push(0);
        buf.extend_from_slice(&fingerprint.to_le_bytes());
        Self { buf }
    }
    fn u8(&mut self, x: u8) {
        self.buf.push(x);
    }
    fn u32(&mut self, x: u32) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }
    fn u64(&mut self, x: u64) {
        self.buf.extend_from_slice(&x.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn packed(&mut self, values: &[u64], bits: u32) {
        let mut acc: u128 = 0;
        let mut nbits = 0u32;
        for &v in values {
            acc |= (v as u128) << nbits;
            nbits += bits;
            while nbits >= 8 {
                self.buf.push(acc as u8);
                acc >>= 8;
                nbits -= 8;
            }
        }
        if nbits > 0 {
            self.buf.push(acc as u8);
        }
    }
    fn poly(&mut self, p: &RnsPoly, basis: &RnsBasis) {
        for i in 0..p.num_limbs() {
            self.packed(p.limb(i), basis.modulus(i).bits());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

fn packed_len(count: usize, bits: u32) -> usize {
    (count * bits as usize).div_ceil(8)
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], HeError> {
        if self.buf.len() < len {
            return Err(err("truncated input"));
        }
        let (a, b) = self.buf.split_at(len);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, HeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, HeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, HeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn seed(&mut self) -> Result<[u8; 32], HeError> {
        let b = self.take(32)?;
        let mut s = [0u8; 32];
        s.copy_from_slice(b);
        Ok(s)
    }
    fn packed(&mut self, count: usize, bits: u32, bound: u64) -> Result<Vec<u64>, HeError> {
        let bytes = self.take(packed_len(count, bits))?;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut out = Vec::with_capacity(count);
        let mut acc: u128 = 0;
        let mut nbits = 0u32;
        let mut it = bytes.iter();
        for _ in 0..count {
            while nbits < bits {
                let b = *it.next().ok_or_else(|| err("truncated packed data"))?;
                acc |= (b as u128) << nbits;
                nbits += 8;
            }
            let v = (acc as u64) & mask;
            acc >>= bits;
            nbits -= bits;
            if v >= bound {
                return Err(err("residue not reduced modulo its prime"));
            }
            out.push(v);
        }
        if acc != 0 {
            return Err(err("nonzero padding bits"));
        }
        Ok(out)
    }
    fn poly(&mut self, basis: &RnsBasis, limbs: usize) -> Result<RnsPoly, HeError> {
        let n = basis.degree();
        let total: usize = (0..limbs)
            .map(|i| packed_len(n, basis.modulus(i).bits()))
            .sum();
        if self.buf.len() < total {
            return Err(err("truncated polynomial"));
        }
        let mut data = Vec::with_capacity(limbs * n);
        for i in 0..limbs {
            let m = basis.modulus(i);
            data.extend(self.packed(n, m.bits(), m.value())?);
        }
        Ok(RnsPoly::from_raw(basis, limbs, Form::Ntt, data)?)
    }
    fn finish(&self) -> Result<(), HeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(err("trailing bytes"))
        }
    }
}

fn open<'a>(bytes: &'a [u8], kind: Kind, fingerprint: Option<u64>) -> Result<Reader<'a>, HeError> {
    let mut r = Reader { buf: bytes };
    if r.take(4)? != MAGIC {
        return Err(err("bad magic"));
    }
    let v = r.u16()?;
    if v != VERSION {
        return Err(err(format!("unsupported version {v}")));
    }
    let k = r.u8()?;
    if k != kind as u8 {
        return Err(err(format!("expected kind {}, found {k}", kind as u8)));
    }
    if r.u8()? != 0 {
        return Err(err("nonzero reserved header byte"));
    }
    let f = r.u64()?;
    if let Some(expected) = fingerprint {
        if f != expected {
            return Err(err("parameter fingerprint mismatch"));
        }
    }
    Ok(r)
}

/// A parameter set objects are serialized against: the scheme's parameters, which fix the
/// ring, the primes (hence the bit width of every packed residue and the counts the reader
/// bounds) and the fingerprint written to the header.
pub trait ParameterSet {
    /// Fingerprint of the whole parameter set, scheme-specific parameters included (`t` for
    /// BFV, default scale and slot count for CKKS).
    fn fingerprint(&self) -> u64;
    /// The underlying RLWE parameters (ring, `Q·P`, digits).
    fn rlwe(&self) -> &Arc<RlweParameters>;
}

impl ParameterSet for BfvParameters {
    fn fingerprint(&self) -> u64 {
        BfvParameters::fingerprint(self)
    }
    fn rlwe(&self) -> &Arc<RlweParameters> {
        BfvParameters::rlwe(self)
    }
}

impl ParameterSet for CkksParameters {
    fn fingerprint(&self) -> u64 {
        CkksParameters::fingerprint(self)
    }
    fn rlwe(&self) -> &Arc<RlweParameters> {
        CkksParameters::rlwe(self)
    }
}

/// Parameters behind an `Arc` serialize as the parameters themselves (so that
/// `key.to_bytes(&arc_params)` works for the keys, which implement [`HeSerialize`] for every
/// parameter set).
impl<T: ParameterSet + ?Sized> ParameterSet for Arc<T> {
    fn fingerprint(&self) -> u64 {
        (**self).fingerprint()
    }
    fn rlwe(&self) -> &Arc<RlweParameters> {
        (**self).rlwe()
    }
}

/// What the header fingerprint of an object binds it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintScope {
    /// The whole parameter set ([`ParameterSet::fingerprint`]): ciphertexts and plaintexts,
    /// whose meaning depends on `t` or the scale.
    Scheme,
    /// The RLWE parameters alone: keys, which depend only on the ring and the primes and so
    /// are the same bytes under BFV and CKKS parameters of the same ring.
    Ring,
}

/// Objects that serialize against a parameter set `P` (see the module docs for the layout).
pub trait HeSerialize<P: ParameterSet>: Sized {
    /// The kind tag.
    const KIND: Kind;
    /// What the header fingerprint covers.
    const SCOPE: FingerprintScope = FingerprintScope::Scheme;
    /// Writes the payload.
    #[doc(hidden)]
    fn write_payload(&self, params: &P, w: &mut WriterHandle);
    /// Reads and validates the payload.
    #[doc(hidden)]
    fn read_payload(params: &Arc<P>, r: &mut ReaderHandle) -> Result<Self, HeError>;

    /// The fingerprint written to and checked in the header, per [`Self::SCOPE`].
    fn params_fingerprint(params: &P) -> u64 {
        match Self::SCOPE {
            FingerprintScope::Scheme => params.fingerprint(),
            FingerprintScope::Ring => params.rlwe().fingerprint(),
        }
    }

    /// Serializes `self` for `params`.
    fn to_bytes(&self, params: &P) -> Vec<u8> {
        let mut w = WriterHandle(Writer::header(Self::KIND, Self::params_fingerprint(params)));
        self.write_payload(params, &mut w);
        w.0.buf
    }

    /// Deserializes and validates against `params`: magic, version, kind, fingerprint, every
    /// count bounded by the parameters before allocation, every residue below its prime, no
    /// trailing bytes.
    fn from_bytes(params: &Arc<P>, bytes: &[u8]) -> Result<Self, HeError> {
        let mut r = ReaderHandle(open(
            bytes,
            Self::KIND,
            Some(Self::params_fingerprint(params)),
        )?);
        let v = Self::read_payload(params, &mut r)?;
        r.0.finish()?;
        Ok(v)
    }
}

/// Opaque writer used by [`HeSerialize`].
pub struct WriterHandle(Writer);
/// Opaque reader used by [`HeSerialize`].
pub struct ReaderHandle<'a>(Reader<'a>);

fn top_q(params: &BfvParameters) -> &RnsBasis {
    params.rlwe().q_basis()
}

impl HeSerialize<BfvParameters> for Ciphertext {
    const KIND: Kind = Kind::Ciphertext;
    fn write_payload(&self, params: &BfvParameters, w: &mut WriterHandle) {
        w.0.u8(self.level() as u8);
        w.0.u8(self.len() as u8);
        for p in self.polys() {
            w.0.poly(p, top_q(params));
        }
    }
    fn read_payload(params: &Arc<BfvParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let level = r.0.u8()? as usize;
        let count = r.0.u8()? as usize;
        if level > params.max_level() || !(2..=3).contains(&count) {
            return Err(err("ciphertext level or size out of range"));
        }
        let polys = (0..count)
            .map(|_| r.0.poly(top_q(params), level + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ciphertext::from_polys(params.rlwe(), polys, level)
    }
}

impl HeSerialize<BfvParameters> for SeededCiphertext {
    const KIND: Kind = Kind::SeededCiphertext;
    fn write_payload(&self, params: &BfvParameters, w: &mut WriterHandle) {
        w.0.bytes(&self.seed);
        w.0.poly(&self.c0, top_q(params));
    }
    fn read_payload(params: &Arc<BfvParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let seed = r.0.seed()?;
        let c0 = r.0.poly(top_q(params), params.max_level() + 1)?;
        Ok(SeededCiphertext { c0, seed })
    }
}

impl HeSerialize<BfvParameters> for PlaintextOperand {
    const KIND: Kind = Kind::PlaintextOperand;
    fn write_payload(&self, params: &BfvParameters, w: &mut WriterHandle) {
        w.0.u8(self.level() as u8);
        w.0.poly(self.poly(), top_q(params));
    }
    fn read_payload(params: &Arc<BfvParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let level = r.0.u8()? as usize;
        if level > params.max_level() {
            return Err(err("operand level out of range"));
        }
        let poly = r.0.poly(top_q(params), level + 1)?;
        Ok(PlaintextOperand::from_poly(poly, level))
    }
}

impl HeSerialize<BfvParameters> for Plaintext {
    const KIND: Kind = Kind::Plaintext;
    fn write_payload(&self, params: &BfvParameters, w: &mut WriterHandle) {
        let t = params.plaintext_modulus();
        w.0.packed(self.coefficients(), 64 - t.leading_zeros());
    }
    fn read_payload(params: &Arc<BfvParameters>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let t = params.plaintext_modulus();
        let coeffs = r.0.packed(params.degree(), 64 - t.leading_zeros(), t)?;
        Plaintext::from_coefficients(params, &coeffs)
    }
}

impl<P: ParameterSet> HeSerialize<P> for PublicKey {
    const KIND: Kind = Kind::PublicKey;
    const SCOPE: FingerprintScope = FingerprintScope::Ring;
    fn write_payload(&self, params: &P, w: &mut WriterHandle) {
        w.0.bytes(&self.seed);
        w.0.poly(&self.b, params.rlwe().q_basis());
    }
    fn read_payload(params: &Arc<P>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        let rl = params.rlwe();
        let seed = r.0.seed()?;
        let b = r.0.poly(rl.q_basis(), rl.max_level() + 1)?;
        Ok(PublicKey::from_seed(rl, b, seed))
    }
}

fn write_ksk(k: &KeySwitchingKey, rl: &RlweParameters, w: &mut WriterHandle) {
    w.0.bytes(&k.seed);
    for b in &k.b {
        w.0.poly(b, rl.qp_basis());
    }
}

fn read_ksk(rl: &RlweParameters, r: &mut ReaderHandle) -> Result<KeySwitchingKey, HeError> {
    let seed = r.0.seed()?;
    let digits = rl.level(rl.max_level()).digits.len();
    let qp = rl.qp_basis();
    let b = (0..digits)
        .map(|_| r.0.poly(qp, qp.len()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeySwitchingKey::from_seed(rl, b, seed))
}

impl<P: ParameterSet> HeSerialize<P> for RelinearizationKey {
    const KIND: Kind = Kind::RelinearizationKey;
    const SCOPE: FingerprintScope = FingerprintScope::Ring;
    fn write_payload(&self, params: &P, w: &mut WriterHandle) {
        write_ksk(&self.0, params.rlwe(), w);
    }
    fn read_payload(params: &Arc<P>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        Ok(RelinearizationKey(read_ksk(params.rlwe(), r)?))
    }
}

impl<P: ParameterSet> HeSerialize<P> for GaloisKeys {
    const KIND: Kind = Kind::GaloisKeys;
    const SCOPE: FingerprintScope = FingerprintScope::Ring;
    fn write_payload(&self, params: &P, w: &mut WriterHandle) {
        write_galois_keys(self, params.rlwe(), w);
    }
    fn read_payload(params: &Arc<P>, r: &mut ReaderHandle) -> Result<Self, HeError> {
        read_galois_keys(params.rlwe(), r)
    }
}

fn write_galois_keys(keys: &GaloisKeys, rl: &RlweParameters, w: &mut WriterHandle) {
    w.0.u32(keys.keys.len() as u32);
    for (&k, (g, key)) in &keys.keys {
        w.0.u64(k as u64);
        // stored permuted by σ_k^{-1} (see `GaloisKeys`); the wire format is unpermuted
        write_ksk(&key.permuted(g, false), rl, w);
    }
}

fn read_galois_keys(rl: &RlweParameters, r: &mut ReaderHandle) -> Result<GaloisKeys, HeError> {
    let count = r.0.u32()? as usize;
    if count > rl.degree() {
        return Err(err("too many Galois keys"));
    }
    let mut keys = BTreeMap::new();
    for _ in 0..count {
        let k = r.0.u64()?;
        if k >= 2 * rl.degree() as u64 || k % 2 == 0 || keys.contains_key(&(k as usize)) {
            return Err(err("invalid or repeated Galois element"));
        }
        let k = k as usize;
        let g = GaloisElement::new(k, rl.qp_basis().exponent_of_position())?;
        let key = read_ksk(rl, r)?.permuted(&g, true);
        keys.insert(k, (g, key));
    }
    Ok(GaloisKeys { keys })
}

/// Writes `log n`, `dnum`, the prime counts and the primes of `Q·P`.
fn write_rlwe_shape(rl: &RlweParameters, w: &mut Writer) {
    w.u8(rl.log_n() as u8);
    w.u8(rl.dnum() as u8);
    w.u8(rl.q_basis().len() as u8);
    w.u8(rl.p_basis().len() as u8);
    for m in rl.qp_basis().moduli() {
        w.u64(m);
    }
}

/// Reads what [`write_rlwe_shape`] wrote, bounding the prime count before allocating and
/// checking every modulus is prime (the parameter constructor checks the rest).
fn read_rlwe_shape(r: &mut Reader) -> Result<(u32, Vec<u64>, Vec<u64>, usize), HeError> {
    let log_n = r.u8()? as u32;
    let dnum = r.u8()? as usize;
    let q_len = r.u8()? as usize;
    let p_len = r.u8()? as usize;
    if q_len + p_len > 60 {
        return Err(err("too many primes"));
    }
    let q = (0..q_len).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
    let p = (0..p_len).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
    for &m in q.iter().chain(&p) {
        if !henn_ring::is_prime(m) {
            return Err(err("modulus is not prime"));
        }
    }
    Ok((log_n, q, p, dnum))
}

impl BfvParameters {
    /// Serializes the parameters (primes, `dnum`, `t`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::header(Kind::Parameters, self.fingerprint());
        write_rlwe_shape(self.rlwe(), &mut w);
        w.u64(self.plaintext_modulus());
        w.buf
    }

    /// Loads parameters, re-running every check (128-bit security included) and verifying
    /// the fingerprint.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Self>, HeError> {
        let mut r = open(bytes, Kind::Parameters, None)?;
        let fingerprint = header_fingerprint(bytes)?;
        let (log_n, q, p, dnum) = read_rlwe_shape(&mut r)?;
        let t = r.u64()?;
        r.finish()?;
        let params = BfvParameters::new(Arc::new(RlweParameters::new(log_n, &q, &p, dnum)?), t)?;
        if params.fingerprint() != fingerprint {
            return Err(err("parameter fingerprint mismatch"));
        }
        Ok(params)
    }
}

/// The fingerprint field of a header [`open`] has accepted (parameter sets check it against
/// the fingerprint of the parameters they rebuild).
fn header_fingerprint(bytes: &[u8]) -> Result<u64, HeError> {
    let mut h = Reader { buf: bytes };
    h.take(8)?;
    h.u64()
}
