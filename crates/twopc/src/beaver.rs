//! Beaver triples from HE for square (and product) activations, as DELPHI generates them for
//! its quadratic approximations (Mishra et al. 2020, §4.2: "Beaver's multiplication triples
//! ... generated with HE in the preprocessing phase"), and the online protocols that consume
//! them (Beaver, CRYPTO 1991).
//!
//! # Triple generation (offline, batched: `n` triples per ciphertext, slot encoding)
//! The parties want additive shares over `Z_p` of `a = a_c + a_s`, `b = b_c + b_s` and
//! `c = a·b`. Expanding, `a·b = a_c·b_c + (a_c·b_s + a_s·b_c + a_s·b_s)`: the client can compute
//! `a_c·b_c` itself, and the bracket is linear in the client's values, so no ct × ct product
//! (and no relinearization key) is needed.
//! 1. *Client → server*: `Enc(a_c)`, `Enc(b_c)` (seeded secret-key ciphertexts, uniform
//!    `a_c, b_c ∈ Z_p^n`).
//! 2. *Server*: samples uniform `a_s, b_s, c_s ∈ Z_p^n` and computes
//!    `Enc(d) = Enc(a_c)·b_s + Enc(b_c)·a_s + (a_s·b_s − c_s)` (two ct × pt products and one
//!    plaintext addition), re-randomizes, floods and switches down
//!    ([`crate::linear::flood`]; noise bound `2·n·(p/2)·19.5`, the two slot-encoded products).
//! 3. *Server → client*: `Enc(d)`.
//! 4. *Client*: `c_c = a_c·b_c + d`. Now `c_c + c_s = a·b`.
//!
//! **Square pairs** (`b = a`): the client sends `Enc(a_c)` only and the server returns
//! `Enc(2·a_c·a_s + a_s² − c_s)`, so `c_c = a_c² + d` and `c_c + c_s = a²`.
//!
//! *Security (semi-honest)*: the server sees ciphertexts only. The client sees `d`, which is
//! uniform and independent of `a_s, b_s` because `c_s` is uniform and unknown to it, and a
//! flooded, re-randomized ciphertext (noise statistically independent of the server's values).
//!
//! # Online
//! * **Square** `x²` from a square pair `(a, a²)`, one opening: each party sends
//!   `e_i = x_i − a_i`; with `e = e_c + e_s = x − a`, `x² = e² + 2e·a + a²`, so party `i` holds
//!   `[x²]_i = [a²]_i + 2e·[a]_i` and the server adds `e²`.
//! * **Product** `x·y` from a triple: open `δ = x − a` and `ε = y − b` (one round), then
//!   `[xy]_i = [c]_i + δ·[b]_i + ε·[a]_i`, and the server adds `δ·ε`.

use crate::error::TwoPcError;
use crate::linear::flood::{flood, flooding_plan};
use crate::linear::params::LayerHeParams;
use crate::linear::slot::he;
use crate::linear::{frame, unframe, uniform_elements};
use crate::share::ShareField;
use henn_he::bfv::{
    BatchEncoder, BfvParameters, Decryptor, Encryptor, Evaluator, SeededCiphertext,
};
use henn_he::rlwe::{Ciphertext, KeyGenerator, PublicKey};
use henn_he::serialization::HeSerialize;
use henn_ring::sampler::os_rng;
use std::sync::Arc;

/// Which party holds a share (the server adds the public constant terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The client (holds the secret key).
    Client,
    /// The server.
    Server,
}

/// One party's shares of a batch of triples `(a, b, c = a·b)` (for square pairs `b = a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TripleShares {
    /// Shares of `a`.
    pub a: Vec<u64>,
    /// Shares of `b`.
    pub b: Vec<u64>,
    /// Shares of `c`.
    pub c: Vec<u64>,
}

/// Parameters of triple generation: BFV with batching, plaintext modulus `p`, the flooding
/// width and the output level.
#[derive(Clone, Debug)]
pub struct BeaverContext {
    /// BFV parameters.
    pub params: Arc<BfvParameters>,
    /// Flooding width `F`.
    pub flood_bits: u32,
    /// Output level.
    pub output_level: usize,
}

impl BeaverContext {
    /// A validated, 128-bit secure context (the encoding field of `setting` is ignored:
    /// triples use slots).
    pub fn new(setting: &LayerHeParams) -> Result<Self, TwoPcError> {
        Self::build(setting, false)
    }

    /// **Insecure** small parameters for tests only.
    pub fn new_insecure_test(setting: &LayerHeParams) -> Result<Self, TwoPcError> {
        Self::build(setting, true)
    }

    fn build(setting: &LayerHeParams, insecure: bool) -> Result<Self, TwoPcError> {
        if setting.plaintext_modulus != crate::share::DEFAULT_SHARE_PRIME {
            return Err(TwoPcError::Config(
                "triples need the share prime as plaintext modulus".into(),
            ));
        }
        let b = setting.builder();
        let params = if insecure {
            b.insecure_build()
        } else {
            b.build()
        }
        .map_err(|e| TwoPcError::Config(format!("triple HE parameters: {e}")))?;
        if !params.supports_batching() {
            return Err(TwoPcError::Config("triples need p ≡ 1 mod 2n".into()));
        }
        let n = params.degree() as f64;
        let noise =
            1.0 + n.log2() + (params.plaintext_modulus() as f64 / 2.0).log2() + 19.5f64.log2();
        let (flood_bits, output_level) = flooding_plan(&params, noise, 1)?;
        Ok(Self {
            params,
            flood_bits,
            output_level,
        })
    }

    /// Triples per request (the number of slots).
    pub fn batch(&self) -> usize {
        self.params.degree()
    }

    fn field(&self) -> Result<ShareField, TwoPcError> {
        ShareField::new(self.params.plaintext_modulus())
    }
}

/// `Enc(a_c)` and, for full triples, `Enc(b_c)`.
#[derive(Clone, Debug)]
pub struct TripleRequest {
    /// `Enc(a_c)`.
    pub a: SeededCiphertext,
    /// `Enc(b_c)`, `None` for square pairs.
    pub b: Option<SeededCiphertext>,
}

/// `Enc(d)`.
#[derive(Clone, Debug)]
pub struct TripleResponse {
    /// The masked cross terms at the output level.
    pub d: Ciphertext,
}

impl TripleRequest {
    /// Serializes (`u32` count 1 or 2, then length-prefixed ciphertexts).
    pub fn to_bytes(&self, ctx: &BeaverContext) -> Vec<u8> {
        frame(
            std::iter::once(&self.a)
                .chain(self.b.as_ref())
                .map(|c| c.to_bytes(&ctx.params)),
        )
    }

    /// Parses a request; `square` says whether a square-pair request (one ciphertext) is
    /// expected.
    pub fn from_bytes(ctx: &BeaverContext, bytes: &[u8], square: bool) -> Result<Self, TwoPcError> {
        let items = unframe(bytes, if square { 1 } else { 2 })?;
        let de = |b: &[u8]| {
            SeededCiphertext::from_bytes(&ctx.params, b)
                .map_err(|e| TwoPcError::Protocol(format!("bad ciphertext: {e}")))
        };
        Ok(Self {
            a: de(items[0])?,
            b: if square { None } else { Some(de(items[1])?) },
        })
    }
}

impl TripleResponse {
    /// Serializes.
    pub fn to_bytes(&self, ctx: &BeaverContext) -> Vec<u8> {
        frame(std::iter::once(self.d.to_bytes(&ctx.params)))
    }

    /// Parses and checks the level.
    pub fn from_bytes(ctx: &BeaverContext, bytes: &[u8]) -> Result<Self, TwoPcError> {
        let items = unframe(bytes, 1)?;
        let d = Ciphertext::from_bytes(&ctx.params, items[0])
            .map_err(|e| TwoPcError::Protocol(format!("bad ciphertext: {e}")))?;
        check_response(ctx, &d)?;
        Ok(Self { d })
    }
}

fn check_response(ctx: &BeaverContext, d: &Ciphertext) -> Result<(), TwoPcError> {
    if d.level() != ctx.output_level || d.len() != 2 {
        return Err(TwoPcError::Protocol(format!(
            "triple response at level {} with {} polynomials, expected level {} with 2",
            d.level(),
            d.len(),
            ctx.output_level
        )));
    }
    Ok(())
}

/// The client's values of a pending request.
#[derive(Clone, Debug)]
pub struct PendingTriples {
    a: Vec<u64>,
    b: Option<Vec<u64>>,
}

/// The client side: holds the secret key.
pub struct BeaverClient {
    ctx: BeaverContext,
    keygen: KeyGenerator,
    encryptor: Encryptor,
    decryptor: Decryptor,
    encoder: BatchEncoder,
}

impl BeaverClient {
    /// A client with a fresh secret key.
    pub fn new(ctx: &BeaverContext) -> Result<Self, TwoPcError> {
        let keygen = KeyGenerator::new(ctx.params.rlwe());
        Ok(Self {
            encryptor: Encryptor::with_secret_key(&ctx.params, keygen.secret_key()),
            decryptor: Decryptor::new(&ctx.params, keygen.secret_key()),
            encoder: BatchEncoder::new(&ctx.params).map_err(he)?,
            ctx: ctx.clone(),
            keygen,
        })
    }

    /// The public key the server re-randomizes with.
    pub fn public_key(&mut self) -> PublicKey {
        self.keygen.public_key()
    }

    /// Samples `a_c` (and `b_c` unless `square`) and encrypts them.
    pub fn request(&self, square: bool) -> Result<(TripleRequest, PendingTriples), TwoPcError> {
        let field = self.ctx.field()?;
        let mut rng = os_rng();
        let n = self.ctx.batch();
        let a = uniform_elements(&field, &mut rng, n);
        let b = (!square).then(|| uniform_elements(&field, &mut rng, n));
        let enc = |v: &[u64]| -> Result<SeededCiphertext, TwoPcError> {
            let pt = self.encoder.encode_u64(v).map_err(he)?;
            self.encryptor.encrypt_seeded(&pt).map_err(he)
        };
        let req = TripleRequest {
            a: enc(&a)?,
            b: b.as_deref().map(enc).transpose()?,
        };
        Ok((req, PendingTriples { a, b }))
    }

    /// `c_c = a_c·b_c + d`: the client's shares.
    pub fn finish(
        &self,
        pending: PendingTriples,
        resp: &TripleResponse,
    ) -> Result<TripleShares, TwoPcError> {
        check_response(&self.ctx, &resp.d)?;
        let field = self.ctx.field()?;
        let d = self
            .encoder
            .decode_u64(&self.decryptor.decrypt(&resp.d).map_err(he)?)
            .map_err(he)?;
        let b = pending.b.unwrap_or_else(|| pending.a.clone());
        let c = pending
            .a
            .iter()
            .zip(&b)
            .zip(&d)
            .map(|((&x, &y), &z)| field.add(field.mul(x, y), z))
            .collect();
        Ok(TripleShares { a: pending.a, b, c })
    }
}

/// The server side: holds only the client's public key.
pub struct BeaverServer {
    ctx: BeaverContext,
    eval: Evaluator,
    encoder: BatchEncoder,
    rerandomizer: Encryptor,
}

impl BeaverServer {
    /// A server for the client's public key.
    pub fn new(ctx: &BeaverContext, pk: &PublicKey) -> Result<Self, TwoPcError> {
        Ok(Self {
            eval: Evaluator::new(&ctx.params),
            encoder: BatchEncoder::new(&ctx.params).map_err(he)?,
            rerandomizer: Encryptor::with_public_key(&ctx.params, pk),
            ctx: ctx.clone(),
        })
    }

    /// Answers a request with `Enc(d)` and returns the server's shares.
    pub fn respond(
        &self,
        req: &TripleRequest,
    ) -> Result<(TripleResponse, TripleShares), TwoPcError> {
        let field = self.ctx.field()?;
        let mut rng = os_rng();
        let n = self.ctx.batch();
        let top = self.ctx.params.max_level();
        let a_s = uniform_elements(&field, &mut rng, n);
        let b_s = match req.b {
            Some(_) => uniform_elements(&field, &mut rng, n),
            None => a_s.clone(),
        };
        let c_s = uniform_elements(&field, &mut rng, n);
        let operand = |v: &[u64], scale: u64| {
            let signed: Vec<i64> = v
                .iter()
                .map(|&x| field.to_signed(field.mul(x, scale)))
                .collect();
            self.encoder.encode_operand(&signed, top).map_err(he)
        };
        let a_c = req.a.expand(&self.ctx.params).map_err(he)?;
        let mut d = match &req.b {
            Some(b) => {
                // Enc(a_c)·b_s + Enc(b_c)·a_s
                let b_c = b.expand(&self.ctx.params).map_err(he)?;
                let mut x = self.eval.mul_plain(&a_c, &operand(&b_s, 1)?).map_err(he)?;
                let y = self.eval.mul_plain(&b_c, &operand(&a_s, 1)?).map_err(he)?;
                self.eval.add_assign(&mut x, &y).map_err(he)?;
                x
            }
            // Enc(a_c)·2a_s
            None => self.eval.mul_plain(&a_c, &operand(&a_s, 2)?).map_err(he)?,
        };
        let constant: Vec<u64> = a_s
            .iter()
            .zip(&b_s)
            .zip(&c_s)
            .map(|((&x, &y), &z)| field.sub(field.mul(x, y), z))
            .collect();
        let pt = self.encoder.encode_u64(&constant).map_err(he)?;
        self.eval.add_plain_assign(&mut d, &pt).map_err(he)?;
        let mut d = flood(
            &self.ctx.params,
            &self.eval,
            &self.rerandomizer,
            d,
            self.ctx.flood_bits,
            &mut rng,
        )?;
        self.eval
            .drop_to_level_assign(&mut d, self.ctx.output_level)
            .map_err(he)?;
        Ok((
            TripleResponse { d },
            TripleShares {
                a: a_s,
                b: b_s,
                c: c_s,
            },
        ))
    }
}

fn check_lengths(lens: &[usize]) -> Result<(), TwoPcError> {
    if lens.windows(2).any(|w| w[0] != w[1]) {
        return Err(TwoPcError::Protocol(format!(
            "share vectors of different lengths {lens:?}"
        )));
    }
    Ok(())
}

/// Online square, step 1: this party's opening `e_i = x_i − a_i` (sent to the peer).
pub fn square_open(
    field: &ShareField,
    x: &[u64],
    pair: &TripleShares,
) -> Result<Vec<u64>, TwoPcError> {
    check_lengths(&[x.len(), pair.a.len()])?;
    Ok(x.iter()
        .zip(&pair.a)
        .map(|(&v, &a)| field.sub(v, a))
        .collect())
}

/// Online square, step 2: with `e = e_c + e_s` (both openings added), this party's share of
/// `x²`: `[a²]_i + 2e·[a]_i` (`+ e²` for the server).
pub fn square_finish(
    field: &ShareField,
    party: Party,
    mine: &[u64],
    theirs: &[u64],
    pair: &TripleShares,
) -> Result<Vec<u64>, TwoPcError> {
    check_lengths(&[mine.len(), theirs.len(), pair.a.len(), pair.c.len()])?;
    Ok((0..mine.len())
        .map(|i| {
            let e = field.add(mine[i], theirs[i]);
            let mut s = field.add(pair.c[i], field.mul(field.add(e, e), pair.a[i]));
            if party == Party::Server {
                s = field.add(s, field.mul(e, e));
            }
            s
        })
        .collect())
}

/// Online product, step 1: this party's openings `(x_i − a_i, y_i − b_i)`.
pub fn mul_open(
    field: &ShareField,
    x: &[u64],
    y: &[u64],
    t: &TripleShares,
) -> Result<(Vec<u64>, Vec<u64>), TwoPcError> {
    check_lengths(&[x.len(), y.len(), t.a.len(), t.b.len()])?;
    Ok((
        x.iter().zip(&t.a).map(|(&v, &a)| field.sub(v, a)).collect(),
        y.iter().zip(&t.b).map(|(&v, &b)| field.sub(v, b)).collect(),
    ))
}

/// Online product, step 2: with the opened `δ = x − a`, `ε = y − b` (sums of both parties'
/// openings), this party's share of `x·y`.
pub fn mul_finish(
    field: &ShareField,
    party: Party,
    delta: &[u64],
    epsilon: &[u64],
    t: &TripleShares,
) -> Result<Vec<u64>, TwoPcError> {
    check_lengths(&[delta.len(), epsilon.len(), t.a.len(), t.b.len(), t.c.len()])?;
    Ok((0..delta.len())
        .map(|i| {
            let (d, e) = (delta[i], epsilon[i]);
            let mut s = field.add(
                t.c[i],
                field.add(field.mul(d, t.b[i]), field.mul(e, t.a[i])),
            );
            if party == Party::Server {
                s = field.add(s, field.mul(d, e));
            }
            s
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::Encoding;
    use crate::share::DEFAULT_SHARE_PRIME;
    use proptest::prelude::*;

    fn field() -> ShareField {
        ShareField::new(DEFAULT_SHARE_PRIME).unwrap()
    }

    fn generate(square: bool) -> (TripleShares, TripleShares) {
        let ctx = BeaverContext::new_insecure_test(&LayerHeParams::insecure_test(Encoding::Slot))
            .unwrap();
        let mut client = BeaverClient::new(&ctx).unwrap();
        let server = BeaverServer::new(&ctx, &client.public_key()).unwrap();
        let (req, pending) = client.request(square).unwrap();
        let req = TripleRequest::from_bytes(&ctx, &req.to_bytes(&ctx), square).unwrap();
        let (resp, s) = server.respond(&req).unwrap();
        let resp = TripleResponse::from_bytes(&ctx, &resp.to_bytes(&ctx)).unwrap();
        let c = client.finish(pending, &resp).unwrap();
        (c, s)
    }

    #[test]
    fn triples_are_correct() {
        let f = field();
        let (c, s) = generate(false);
        assert_eq!(c.a.len(), 128);
        for i in 0..c.a.len() {
            let a = f.add(c.a[i], s.a[i]);
            let b = f.add(c.b[i], s.b[i]);
            assert_eq!(f.add(c.c[i], s.c[i]), f.mul(a, b), "triple {i}");
        }
        // the client's c share is not the product of its own values (masked by c_s)
        assert!((0..c.a.len()).any(|i| c.c[i] != f.mul(c.a[i], c.b[i])));
        // a and b are independent (not a square pair)
        assert_ne!(f.add(c.a[0], s.a[0]), f.add(c.b[0], s.b[0]));
    }

    #[test]
    fn square_pairs_are_correct() {
        let f = field();
        let (c, s) = generate(true);
        for i in 0..c.a.len() {
            let a = f.add(c.a[i], s.a[i]);
            assert_eq!(c.a, c.b);
            assert_eq!(f.add(c.c[i], s.c[i]), f.mul(a, a), "pair {i}");
        }
    }

    #[test]
    fn malformed_triple_messages_are_rejected() {
        let ctx = BeaverContext::new_insecure_test(&LayerHeParams::insecure_test(Encoding::Slot))
            .unwrap();
        let client = BeaverClient::new(&ctx).unwrap();
        let (req, _) = client.request(false).unwrap();
        let bytes = req.to_bytes(&ctx);
        assert!(TripleRequest::from_bytes(&ctx, &bytes, true).is_err());
        assert!(TripleRequest::from_bytes(&ctx, &bytes[..bytes.len() / 2], false).is_err());
        assert!(TripleResponse::from_bytes(&ctx, &bytes).is_err());
        assert!(BeaverContext::new(&LayerHeParams::insecure_test(Encoding::Slot)).is_err());
        // 128-bit n = 2^13 parameters fit the flooded triple noise; n = 2^12 does not
        let secure = BeaverContext::new(&LayerHeParams::logn13(Encoding::Slot)).unwrap();
        assert!(secure.params.rlwe().is_secure());
        assert!(secure.output_level < secure.params.max_level());
        let small = henn_he::bfv::BFV_128BIT_LOGN12_LOGQP109;
        let err = BeaverContext::new(&LayerHeParams {
            log_n: small.log_n,
            q_bits: small.q_bits.to_vec(),
            p_bits: small.p_bits.to_vec(),
            dnum: Some(small.dnum),
            ..LayerHeParams::logn13(Encoding::Slot)
        })
        .unwrap_err();
        assert!(err.to_string().contains("noise budget exceeded"), "{err}");
        assert!(square_open(
            &field(),
            &[1, 2],
            &TripleShares {
                a: vec![1],
                b: vec![1],
                c: vec![1]
            }
        )
        .is_err());
    }

    /// Splits `v` into random shares.
    fn share(f: &ShareField, v: &[u64], seed: u64) -> (Vec<u64>, Vec<u64>) {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let r = uniform_elements(f, &mut henn_ring::sampler::rng_from_seed(&bytes), v.len());
        let other = v.iter().zip(&r).map(|(&x, &y)| f.sub(x, y)).collect();
        (r, other)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn square_and_product_via_triples_match_plain(
            xs in proptest::collection::vec(-(1i64 << 20)..(1i64 << 20), 1..128),
            seed in any::<u64>(),
        ) {
            let f = field();
            let x: Vec<u64> = xs.iter().map(|&v| f.from_signed(v)).collect();
            let (xc, xs_) = share(&f, &x, seed);
            // square
            let (pc, ps) = generate(true);
            let cut = |t: &TripleShares| TripleShares {
                a: t.a[..x.len()].to_vec(),
                b: t.b[..x.len()].to_vec(),
                c: t.c[..x.len()].to_vec(),
            };
            let (pc, ps) = (cut(&pc), cut(&ps));
            let ec = square_open(&f, &xc, &pc).unwrap();
            let es = square_open(&f, &xs_, &ps).unwrap();
            let yc = square_finish(&f, Party::Client, &ec, &es, &pc).unwrap();
            let ys = square_finish(&f, Party::Server, &es, &ec, &ps).unwrap();
            for i in 0..x.len() {
                prop_assert_eq!(f.to_signed(f.add(yc[i], ys[i])), xs[i] * xs[i]);
            }
            // product x · (x + 3)
            let y: Vec<u64> = xs.iter().map(|&v| f.from_signed(v + 3)).collect();
            let (yc_, ys_) = share(&f, &y, seed ^ 0x55);
            let (tc, ts) = generate(false);
            let (tc, ts) = (cut(&tc), cut(&ts));
            let (dc, ec) = mul_open(&f, &xc, &yc_, &tc).unwrap();
            let (ds, es) = mul_open(&f, &xs_, &ys_, &ts).unwrap();
            let delta: Vec<u64> = dc.iter().zip(&ds).map(|(&a, &b)| f.add(a, b)).collect();
            let eps: Vec<u64> = ec.iter().zip(&es).map(|(&a, &b)| f.add(a, b)).collect();
            let zc = mul_finish(&f, Party::Client, &delta, &eps, &tc).unwrap();
            let zs = mul_finish(&f, Party::Server, &delta, &eps, &ts).unwrap();
            for i in 0..x.len() {
                prop_assert_eq!(f.to_signed(f.add(zc[i], zs[i])), xs[i] * (xs[i] + 3));
            }
        }
    }
}
