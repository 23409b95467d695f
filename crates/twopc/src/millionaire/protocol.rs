//! The two-party millionaire ReLU (Rathee et al., CCS 2020, "CrypTFlow2", §3–5; Huang et al.,
//! USENIX Security 2022, "Cheetah", §5), batched and split into DELPHI's offline and online
//! phases, with the same conventions as the garbled ReLU ([`crate::gc::protocol`]): client
//! share `a` (known offline), server share `b` (known online), server output share `r` (a
//! fresh mask given offline), client output share `⌊ReLU(a + b)/2^f⌋ − r mod p`.
//!
//! # Offline (per chunk of `k` ReLUs; input-independent: needs `a` and `r`, never `b`)
//!
//! 1. Server → client: `MILL_HEADER` (`k`, `ℓ`, `f`, digit bits), checked by the client.
//! 2. IKNP random OT, client receiving, `k·(ℓ + 2G + 4)` OTs ([`crate::ot`]):
//!    * `ℓ` per ReLU with the bits of `a` as choices: digit `j` of `a` (bits `o..o+m`) selects,
//!      for every table entry `u` of the digit, the pad bit
//!      `P(u) = ⊕_{i<m} key_{o+i, u_i}[16·bank + 8·field + idx_i(u)]` (`idx_i(u)` is `u` without
//!      bit `i`). This is 1-out-of-`2^m` OT from `m` 1-out-of-2 OTs (Naor–Pinkas): for every
//!      `u ≠ a_j` some key bit of `P(u)` is one the client did not choose, and every such bit
//!      occurs in no other pad, so the other entries' pads are jointly pseudorandom to it. The
//!      three comparisons that read the same bits (`w`, `w₂`, `c_0`) use disjoint banks.
//!    * `2` per AND gate (`G` per ReLU): a bit triple `(X, Y, Z = X ∧ Y)`, the cross terms
//!      `X_c·Y_s` and `X_s·Y_c` from one random OT each (CrypTFlow2 §3.1.1; the receiver's
//!      random choice is its share, the sender's bit is the low bit of `x₀ ⊕ x₁`);
//!    * `4` per ReLU with random choices `δ`: the final 1-out-of-16 multiplexer OT, pads
//!      expanded to `ℓ` bits with the correlation-robust hash ([`crate::block::tccr_many`]).
//! 3. IKNP random OT in the other direction (server receiving, random choice `d`), `k` OTs:
//!    the server's bit times the client's value `a_h` in the final step.
//!
//! # Online (per chunk)
//!
//! | flight | direction | type | payload |
//! |---|---|---|---|
//! | 1 | server → client | `MILL_LEAF_TABLES` | per ReLU, per tree, digit and field, `2^m` table bits `T(u) ⊕ σ ⊕ P(u)` |
//! | 2, 3, … | client ↔ server | `MILL_AND_OPENINGS` | per AND level, the client's then the server's Beaver openings `d, e` (2 bits per gate per ReLU) |
//! | last level | server → client | `MILL_REVERSE_CHOICES` | `pos_s ⊕ d`, one bit per ReLU |
//! | then | client → server | `MILL_CLIENT_FINAL` | per ReLU `u ⊕ δ` (4 bits) and two `ℓ`-bit slots `((pos_c ⊕ t)·a_h − ρ) ⊕ R_{t ⊕ e'}` |
//! | last | server → client | `MILL_MUX_SLOTS` | per ReLU 16 `ℓ`-bit slots `(g(j ⊕ e ⊕ s) − r′) ⊕ P(j)` |
//!
//! The leaf tables give the client shares of every digit comparison (`σ` is the server's
//! share); the AND levels ([`super::tree`]) give shares of `w`, `w₂`, `c_0` and `c_1`
//! ([`super::formula`]); then `pos = w ⊕ w₂ ⊕ [b ≤ h]` and
//! `y = pos·a_h + g(pos, w, c_0, c_1)` with `g = pos·(B_w + c_w)`: the first term by an OT
//! where the server chooses with its share of `pos` from the client's two messages (the
//! client keeps `ρ`, the server gets `pos·a_h − ρ = v`), the second by a 1-out-of-16 OT where
//! the client chooses with its four shared bits from the server's table, masked with
//! `r′ = r − v`. So the server's share is `v + r′ = r` and the client's `ρ + g − r′ = y − r`.
//! Both random OTs are derandomized (Beaver 1995): the receiver sends its real choice XOR the
//! random one, the sender rotates its messages accordingly.
//!
//! # Security (semi-honest, as DELPHI and CrypTFlow2)
//!
//! The client sees: table entries other than its own padded by unchosen OT keys, its own
//! entry masked by the server's uniform `σ`; Beaver openings masked by uniform triple shares;
//! `pos_s ⊕ d` with `d` a hidden uniform choice; the multiplexer entry `g − r′`, uniform
//! because `r` is; the other entries padded. The server sees: IKNP columns, Beaver openings,
//! `u ⊕ δ` (uniform), and `pos·a_h − ρ`, uniform because `ρ` is. Every received message has
//! its exact length checked before it is parsed, and decoded field elements must be below
//! `p`: a malformed or truncated message ends the session with [`TwoPcError::Protocol`].

use std::io::{Read, Write};

use rand_chacha::rand_core::RngCore;

use super::bits::{self, BitReader, BitWriter, Bits};
use super::formula::ServerTerms;
use super::tree::{leaf_table, Layout, DIGIT_BITS};
use crate::block::{tccr_many, Block, Csprng};
use crate::channel::{Channel, MessageType, PayloadReader, HEADER_LEN};
use crate::error::TwoPcError;
use crate::gc::protocol::ReluConfig;
use crate::ot::iknp::EXTENSION_CHUNK;
use crate::ot::{OtReceiver, OtSender};
use crate::share::ShareField;

/// Choice bits of the final multiplexer OT: the client's shares of `pos`, `w`, `c_0`, `c_1`.
const MUX_BITS: usize = 4;
/// Entries of the final multiplexer OT.
const MUX_ENTRIES: usize = 1 << MUX_BITS;
/// Domain separation of the multiplexer pad expansion in the hash tweak.
const MUX_TWEAK: u128 = 0x6d75_785f_7061_6473 << 64;

/// Per-ReLU costs of the protocol (CrypTFlow2 Table 2 counts the same quantities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MillionaireCosts {
    /// Random OTs with the client receiving (leaf digits, bit triples, multiplexer).
    pub ots_per_relu: usize,
    /// Random OTs with the server receiving (the `pos·a_h` term).
    pub reverse_ots_per_relu: usize,
    /// AND gates (bit triples) per ReLU.
    pub and_gates_per_relu: usize,
    /// Sequential AND levels (round trips) online.
    pub and_levels: usize,
    /// Sequential one-way message flights online per chunk (tables, two per AND level, the
    /// client's final message, the multiplexer slots).
    pub online_flights: usize,
}

/// Bytes of a batch per phase and direction, frame headers included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseBytes {
    /// Offline, server → client.
    pub offline_server_to_client: u64,
    /// Offline, client → server.
    pub offline_client_to_server: u64,
    /// Online, server → client.
    pub online_server_to_client: u64,
    /// Online, client → server.
    pub online_client_to_server: u64,
}

/// The protocol's parameters derived from a [`ReluConfig`].
#[derive(Clone, Debug)]
struct Params {
    cfg: ReluConfig,
    layout: Layout,
    l: usize,
    and_gates: usize,
    /// Hash blocks expanding one multiplexer key to 8 `ℓ`-bit segments.
    mux_blocks: usize,
}

impl Params {
    fn new(cfg: ReluConfig) -> Result<Self, TwoPcError> {
        let l = cfg.field.bits();
        if cfg.frac_bits >= l {
            return Err(TwoPcError::Config(format!(
                "truncation by {} bits leaves nothing of a {l}-bit share",
                cfg.frac_bits
            )));
        }
        let layout = Layout::new(l, cfg.frac_bits);
        let l = l as usize;
        Ok(Self {
            cfg,
            and_gates: layout.and_gates(),
            layout,
            l,
            mux_blocks: (8 * l).div_ceil(128),
        })
    }

    fn field(&self) -> &ShareField {
        &self.cfg.field
    }

    fn ots(&self, k: usize) -> usize {
        k * (self.l + 2 * self.and_gates + MUX_BITS)
    }

    fn triple_base(&self, k: usize) -> usize {
        k * self.l
    }

    fn mux_base(&self, k: usize) -> usize {
        k * (self.l + 2 * self.and_gates)
    }

    fn costs(&self) -> MillionaireCosts {
        MillionaireCosts {
            ots_per_relu: self.l + 2 * self.and_gates + MUX_BITS,
            reverse_ots_per_relu: 1,
            and_gates_per_relu: self.and_gates,
            and_levels: self.layout.and_levels.len(),
            online_flights: 1 + 2 * self.layout.and_levels.len() + 2,
        }
    }

    fn header(&self, k: usize) -> Vec<u8> {
        let mut h = Vec::with_capacity(32);
        for v in [
            k as u64,
            self.l as u64,
            self.cfg.frac_bits as u64,
            DIGIT_BITS as u64,
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    fn bytes_of_chunk(&self, k: usize) -> PhaseBytes {
        let frame = |payload: usize| (HEADER_LEN + payload) as u64;
        let iknp = |m: usize| {
            let mut total = 0;
            let mut left = m;
            while left > 0 {
                let n = left.min(EXTENSION_CHUNK);
                total += frame(8 + 128 * n.div_ceil(128) * 16);
                left -= n;
            }
            total
        };
        let kb = k.div_ceil(8);
        let openings: u64 = self
            .layout
            .and_levels
            .iter()
            .map(|&g| frame(2 * g * kb))
            .sum();
        PhaseBytes {
            offline_server_to_client: frame(32) + iknp(k),
            offline_client_to_server: iknp(self.ots(k)),
            online_server_to_client: frame((k * self.layout.leaf_bits).div_ceil(8))
                + openings
                + frame(kb)
                + frame((k * MUX_ENTRIES * self.l).div_ceil(8)),
            online_client_to_server: openings + frame((k * (MUX_BITS + 2 * self.l)).div_ceil(8)),
        }
    }

    fn bytes(&self, n: usize) -> PhaseBytes {
        let mut total = PhaseBytes::default();
        let mut left = n;
        while left > 0 {
            let k = left.min(self.cfg.chunk_relus);
            let c = self.bytes_of_chunk(k);
            total.offline_server_to_client += c.offline_server_to_client;
            total.offline_client_to_server += c.offline_client_to_server;
            total.online_server_to_client += c.online_server_to_client;
            total.online_client_to_server += c.online_client_to_server;
            left -= k;
        }
        total
    }
}

/// Per-ReLU costs of the millionaire ReLU for `cfg` (`Err` for an invalid configuration).
pub fn costs(cfg: ReluConfig) -> Result<MillionaireCosts, TwoPcError> {
    Ok(Params::new(cfg)?.costs())
}

/// Exact bytes (frames included) both parties exchange for `n` ReLUs, per phase and direction.
pub fn bytes(cfg: ReluConfig, n: usize) -> Result<PhaseBytes, TwoPcError> {
    Ok(Params::new(cfg)?.bytes(n))
}

fn check_shares(field: &ShareField, v: &[u64], what: &str) -> Result<(), TwoPcError> {
    match v.iter().position(|&x| x >= field.modulus()) {
        Some(i) => Err(TwoPcError::Config(format!(
            "{what}[{i}] = {} is not reduced modulo {}",
            v[i],
            field.modulus()
        ))),
        None => Ok(()),
    }
}

fn uniform_mod(rng: &mut Csprng, p: u64) -> u64 {
    let zone = u64::MAX - u64::MAX % p;
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % p;
        }
    }
}

fn random_bits(rng: &mut Csprng, k: usize) -> Bits {
    let mut v: Bits = (0..bits::words(k)).map(|_| rng.next_u64()).collect();
    bits::mask_tail(&mut v, k);
    v
}

/// The key bit padding entry `idx` (the entry without the key's own bit) of field `field` in
/// bank `bank`: 8 bits per field, 16 per bank.
fn pad_bit(bank: u32, field: usize, idx: usize) -> usize {
    16 * bank as usize + 8 * field + idx
}

/// `SCATTER[(j·2 + b)·256 + v]`: the entries `u` with bit `j` equal to `b`, as a 16-bit word
/// with bit `u` set to bit `drop_bit(u, j)` of `v` — the pads one key contributes to a digit's
/// table (computed once, `DIGIT_BITS = 4`).
fn scatter_table() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u16; DIGIT_BITS as usize * 2 * 256];
        for j in 0..DIGIT_BITS as usize {
            for b in 0..2 {
                for v in 0..256usize {
                    let mut w = 0u16;
                    for u in 0..1usize << DIGIT_BITS {
                        if (u >> j) & 1 == b && (v >> drop_bit(u, j)) & 1 == 1 {
                            w |= 1 << u;
                        }
                    }
                    t[(j * 2 + b) * 256 + v] = w;
                }
            }
        }
        t
    })
}

/// `u` with bit `i` removed (the index of `u` among the entries sharing bit `i`).
fn drop_bit(u: usize, i: usize) -> usize {
    (u & ((1 << i) - 1)) | ((u >> (i + 1)) << i)
}

fn lsb(b: Block) -> u64 {
    (b.0 & 1) as u64
}

fn low_bits(b: Block, n: usize) -> u64 {
    (b.0 as u64) & mask(n)
}

fn mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// `n` bits at `pos` of the concatenation of `blocks`.
fn block_bits(blocks: &[Block], pos: usize, n: usize) -> u64 {
    let (i, sh) = (pos / 128, pos % 128);
    let mut v = blocks[i].0 >> sh;
    if sh != 0 && sh + n > 128 {
        v |= blocks[i + 1].0 << (128 - sh);
    }
    (v as u64) & mask(n)
}

/// The expansion of multiplexer keys: `mux_blocks` hashes of each key.
fn expand_keys(keys: &[Block], blocks: usize) -> Vec<Block> {
    let mut xs: Vec<Block> = keys
        .iter()
        .flat_map(|&k| std::iter::repeat_n(k, blocks))
        .collect();
    let tweaks: Vec<Block> = (0..xs.len())
        .map(|i| Block(MUX_TWEAK | (i % blocks) as u128))
        .collect();
    tccr_many(&mut xs, &tweaks);
    xs
}

/// Bit triples, bit-sliced: `x[g] ∧ y[g] = z[g]` across the parties for gate `g`.
#[derive(Debug, Default)]
struct Triples {
    x: Vec<Bits>,
    y: Vec<Bits>,
    z: Vec<Bits>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// One AND level with Beaver bit triples (CrypTFlow2 §3.1): open `d = α ⊕ X`, `e = β ⊕ Y`,
/// then `α ∧ β = Z ⊕ d∧Y ⊕ e∧X ⊕ d∧e` (the last term added by the server). The client sends
/// first, so neither party blocks on a full socket buffer.
fn and_level<S: Read + Write>(
    ch: &mut Channel<S>,
    role: Role,
    pairs: &[(&[u64], &[u64])],
    triples: &Triples,
    next: &mut usize,
    k: usize,
) -> Result<Vec<Bits>, TwoPcError> {
    let n = pairs.len();
    let g0 = *next;
    if g0 + n > triples.x.len() {
        return Err(TwoPcError::Config("bit triples exhausted".into()));
    }
    *next += n;
    let kb = k.div_ceil(8);
    let mut mine = Vec::with_capacity(2 * n * kb);
    let mut own = Vec::with_capacity(2 * n);
    for (g, (alpha, beta)) in pairs.iter().enumerate() {
        let d = bits::xor(alpha, &triples.x[g0 + g]);
        let e = bits::xor(beta, &triples.y[g0 + g]);
        bits::push_bytes(&d, k, &mut mine);
        bits::push_bytes(&e, k, &mut mine);
        own.push((d, e));
    }
    let theirs = match role {
        Role::Client => {
            ch.send(MessageType::MILL_AND_OPENINGS, &mine)?;
            ch.recv_exact(MessageType::MILL_AND_OPENINGS, mine.len())?
        }
        Role::Server => {
            let t = ch.recv_exact(MessageType::MILL_AND_OPENINGS, mine.len())?;
            ch.send(MessageType::MILL_AND_OPENINGS, &mine)?;
            t
        }
    };
    let mut r = PayloadReader::new(&theirs);
    let mut out = Vec::with_capacity(n);
    for (g, (d_own, e_own)) in own.into_iter().enumerate() {
        let d = bits::xor(&d_own, &bits::from_bytes(r.take(kb)?, k)?);
        let e = bits::xor(&e_own, &bits::from_bytes(r.take(kb)?, k)?);
        let mut z = triples.z[g0 + g].clone();
        bits::xor_in(&mut z, &bits::and(&d, &triples.y[g0 + g]));
        bits::xor_in(&mut z, &bits::and(&e, &triples.x[g0 + g]));
        if role == Role::Server {
            bits::xor_in(&mut z, &bits::and(&d, &e));
        }
        out.push(z);
    }
    r.finish()?;
    Ok(out)
}

/// The server's offline state of one chunk.
#[derive(Debug)]
struct ServerChunk {
    k: usize,
    /// Pad words of every leaf slot, `slots` per ReLU.
    leaf_pads: Vec<u16>,
    /// The server's shares of the leaf bits, per slot.
    sigma: Vec<Bits>,
    triples: Triples,
    /// Pads of the 16 multiplexer entries per ReLU.
    mux_pads: Vec<u64>,
    /// Reverse-OT choices `d` and keys `R_d` (low `ℓ` bits).
    rev_choice: Bits,
    rev_key: Vec<u64>,
    /// The server's output shares.
    r: Vec<u64>,
}

/// The server's state between the offline and the online phase.
#[derive(Debug)]
pub struct ServerPrepared {
    chunks: Vec<ServerChunk>,
    n: usize,
}

/// The client's offline state of one chunk.
#[derive(Debug)]
struct ClientChunk {
    a: Vec<u64>,
    /// The client's pad bit of its own entry, per slot.
    leaf_pads: Vec<Bits>,
    triples: Triples,
    /// Random multiplexer choices `δ` and the pads of the chosen entries.
    mux_choice: Vec<u8>,
    mux_pad: Vec<u64>,
    /// Reverse-OT keys `(R_0, R_1)` (low `ℓ` bits).
    rev_keys: Vec<(u64, u64)>,
}

/// The client's state between the offline and the online phase.
#[derive(Debug)]
pub struct ClientPrepared {
    chunks: Vec<ClientChunk>,
    n: usize,
}

impl ClientPrepared {
    /// Bytes of correlated randomness the client stores until the online phase.
    pub fn stored_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| {
                let bits = |v: &[Bits]| 8 * v.iter().map(Vec::len).sum::<usize>();
                8 * c.a.len()
                    + bits(&c.leaf_pads)
                    + bits(&c.triples.x)
                    + bits(&c.triples.y)
                    + bits(&c.triples.z)
                    + c.mux_choice.len()
                    + 8 * c.mux_pad.len()
                    + 16 * c.rev_keys.len()
            })
            .sum()
    }

    /// ReLUs prepared.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no ReLU is prepared.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl ServerPrepared {
    /// ReLUs prepared.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no ReLU is prepared.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// The server of the millionaire ReLU: OT sender of the leaf tables and the multiplexer,
/// receiver of the `pos·a_h` OT.
pub struct ReluServer {
    params: Params,
    ot: OtSender,
    rev: OtReceiver,
    rng: Csprng,
}

impl std::fmt::Debug for ReluServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReluServer")
            .field("cfg", &self.params.cfg)
            .finish()
    }
}

/// The client of the millionaire ReLU.
pub struct ReluClient {
    params: Params,
    ot: OtReceiver,
    rev: OtSender,
    rng: Csprng,
}

impl std::fmt::Debug for ReluClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReluClient")
            .field("cfg", &self.params.cfg)
            .finish()
    }
}

impl ReluServer {
    /// Session setup: 128 base OTs for each OT direction.
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        cfg: ReluConfig,
        mut rng: Csprng,
    ) -> Result<Self, TwoPcError> {
        let params = Params::new(cfg)?;
        let ot = OtSender::setup(ch, &mut rng)?;
        let rev = OtReceiver::setup(ch, &mut rng)?;
        Ok(Self {
            params,
            ot,
            rev,
            rng,
        })
    }

    /// Per-ReLU costs.
    pub fn costs(&self) -> MillionaireCosts {
        self.params.costs()
    }

    /// A fresh uniform mask `r ∈ Z_p` per ReLU (the server's next share).
    pub fn fresh_masks(&mut self, n: usize) -> Vec<u64> {
        let p = self.params.field().modulus();
        (0..n).map(|_| uniform_mod(&mut self.rng, p)).collect()
    }

    /// Offline phase for ReLUs whose server-side output shares will be `r`.
    pub fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        r: &[u64],
    ) -> Result<ServerPrepared, TwoPcError> {
        check_shares(self.params.field(), r, "r")?;
        let mut chunks = Vec::new();
        for rc in r.chunks(self.params.cfg.chunk_relus) {
            chunks.push(self.offline_chunk(ch, rc)?);
        }
        Ok(ServerPrepared { chunks, n: r.len() })
    }

    fn offline_chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        r: &[u64],
    ) -> Result<ServerChunk, TwoPcError> {
        let pr = &self.params;
        let (k, l) = (r.len(), pr.l);
        ch.send(MessageType::MILL_HEADER, &pr.header(k))?;
        let pairs = self.ot.send_random(ch, pr.ots(k))?;
        let rev_choice = random_bits(&mut self.rng, k);
        let choices: Vec<bool> = (0..k).map(|i| bits::get(&rev_choice, i)).collect();
        let rev = self.rev.receive_random(ch, &choices)?;

        // Leaf pads: for every slot and entry u, the XOR of one bit of each digit key.
        let layout = &pr.layout;
        let mut leaf_pads = Vec::with_capacity(k * layout.slots.len());
        let scatter = scatter_table();
        for i in 0..k {
            for slot in &layout.slots {
                let tree = &layout.trees[slot.tree];
                let dg = tree.digits[slot.digit];
                let idx_mask = (1usize << (slot.entries / 2)) - 1;
                let mut word = 0u16;
                for j in 0..dg.width as usize {
                    let (k0, k1) = pairs[i * l + dg.offset as usize + j];
                    for (b, key) in [(0, k0), (1, k1)] {
                        let v = (key.0 >> pad_bit(tree.bank, slot.field, 0)) as usize & idx_mask;
                        word ^= scatter[(j * 2 + b) * 256 + v];
                    }
                }
                leaf_pads.push(word);
            }
        }
        let sigma = (0..layout.slots.len())
            .map(|_| random_bits(&mut self.rng, k))
            .collect();

        // Bit triples from two random OTs each.
        let tb = pr.triple_base(k);
        let mut triples = Triples::default();
        for g in 0..pr.and_gates {
            let (mut x, mut y, mut z) = (
                vec![0u64; bits::words(k)],
                vec![0u64; bits::words(k)],
                vec![0u64; bits::words(k)],
            );
            for i in 0..k {
                let (a0, a1) = pairs[tb + 2 * (g * k + i)];
                let (b0, b1) = pairs[tb + 2 * (g * k + i) + 1];
                let y_s = lsb(a0) ^ lsb(a1);
                let x_s = lsb(b0) ^ lsb(b1);
                let z_s = (x_s & y_s) ^ lsb(a0) ^ lsb(b0);
                bits::put(&mut x, i, x_s == 1);
                bits::put(&mut y, i, y_s == 1);
                bits::put(&mut z, i, z_s == 1);
            }
            triples.x.push(x);
            triples.y.push(y);
            triples.z.push(z);
        }

        // Multiplexer pads: P(j) = ⊕_q segment idx_q(j) of E(key_{q, j_q}).
        let mb = pr.mux_base(k);
        let keys: Vec<Block> = pairs[mb..mb + k * MUX_BITS]
            .iter()
            .flat_map(|&(k0, k1)| [k0, k1])
            .collect();
        let exp = expand_keys(&keys, pr.mux_blocks);
        let mut mux_pads = Vec::with_capacity(k * MUX_ENTRIES);
        for i in 0..k {
            for j in 0..MUX_ENTRIES {
                let mut pad = 0;
                for q in 0..MUX_BITS {
                    let key = 2 * (i * MUX_BITS + q) + ((j >> q) & 1);
                    let e = &exp[key * pr.mux_blocks..(key + 1) * pr.mux_blocks];
                    pad ^= block_bits(e, drop_bit(j, q) * l, l);
                }
                mux_pads.push(pad);
            }
        }
        let rev_key = rev.iter().map(|&b| low_bits(b, l)).collect();
        Ok(ServerChunk {
            k,
            leaf_pads,
            sigma,
            triples,
            mux_pads,
            rev_choice,
            rev_key,
            r: r.to_vec(),
        })
    }

    /// Online phase with the server's shares `b`; afterwards the server's output shares are
    /// the masks `r` given offline.
    pub fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ServerPrepared,
        b: &[u64],
    ) -> Result<(), TwoPcError> {
        check_shares(self.params.field(), b, "b")?;
        if b.len() != prepared.n {
            return Err(TwoPcError::Config(format!(
                "{} server shares for {} prepared ReLUs",
                b.len(),
                prepared.n
            )));
        }
        let mut start = 0;
        for c in prepared.chunks {
            let k = c.k;
            self.online_chunk(ch, c, &b[start..start + k])?;
            start += k;
        }
        Ok(())
    }

    /// Offline and online in one pass, chunk by chunk (bounded memory).
    pub fn streamed<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        b: &[u64],
        r: &[u64],
    ) -> Result<(), TwoPcError> {
        check_shares(self.params.field(), b, "b")?;
        check_shares(self.params.field(), r, "r")?;
        if b.len() != r.len() {
            return Err(TwoPcError::Config("as many shares as masks".into()));
        }
        let chunk = self.params.cfg.chunk_relus;
        for (bc, rc) in b.chunks(chunk).zip(r.chunks(chunk)) {
            let c = self.offline_chunk(ch, rc)?;
            self.online_chunk(ch, c, bc)?;
        }
        Ok(())
    }

    fn online_chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        c: ServerChunk,
        b: &[u64],
    ) -> Result<(), TwoPcError> {
        let pr = &self.params;
        let field = pr.field();
        let (k, l, layout) = (c.k, pr.l, &pr.layout);
        let terms: Vec<ServerTerms> = b
            .iter()
            .map(|&b| ServerTerms::new(field, b, pr.cfg.frac_bits))
            .collect();

        // 1. Leaf tables.
        let ns = layout.slots.len();
        let mut w = BitWriter::with_capacity(k * layout.leaf_bits);
        for (i, t) in terms.iter().enumerate() {
            let th = layout.thresholds(t);
            for (s, slot) in layout.slots.iter().enumerate() {
                let tree = &layout.trees[slot.tree];
                let dt = tree.digit_threshold(th[slot.tree], slot.digit);
                let full = ((1u64 << slot.entries) - 1) as u32;
                let sigma = if bits::get(&c.sigma[s], i) { full } else { 0 };
                let word = leaf_table(tree, slot.digit, slot.field, dt)
                    ^ sigma
                    ^ c.leaf_pads[i * ns + s] as u32;
                w.push(word as u64, slot.entries);
            }
        }
        ch.send(MessageType::MILL_LEAF_TABLES, &w.into_bytes())?;

        // 2. The comparison trees on the server's shares.
        let leaves = layout.leaf_nodes(|s| c.sigma[s].clone());
        let mut next = 0;
        let cmp = layout.compare(leaves, &mut |pairs: &[(&[u64], &[u64])]| {
            and_level(ch, Role::Server, pairs, &c.triples, &mut next, k)
        })?;

        // 3. pos_s, and the derandomized choice of the reverse OT.
        let mut pos = bits::xor(&cmp.w, &cmp.w2);
        let mut c1 = cmp.c1_raw.clone();
        for (i, t) in terms.iter().enumerate() {
            if t.b_nonneg {
                pos[i / 64] ^= 1 << (i % 64);
            }
            if t.s1_zero && layout.f > 0 {
                c1[i / 64] ^= 1 << (i % 64);
            }
        }
        let e_rev = bits::xor(&pos, &c.rev_choice);
        let mut msg = Vec::new();
        bits::push_bytes(&e_rev, k, &mut msg);
        ch.send(MessageType::MILL_REVERSE_CHOICES, &msg)?;

        // 4. The client's multiplexer choices and pos·a_h slots.
        let per = MUX_BITS + 2 * l;
        let fin = ch.recv_exact(MessageType::MILL_CLIENT_FINAL, (k * per).div_ceil(8))?;
        let fin = BitReader::new(&fin, k * per)?;
        let mut out = BitWriter::with_capacity(k * MUX_ENTRIES * l);
        for (i, t) in terms.iter().enumerate() {
            let e = fin.get(i * per, MUX_BITS) as usize;
            let d = bits::get(&c.rev_choice, i) as usize;
            let v = fin.get(i * per + MUX_BITS + d * l, l) ^ c.rev_key[i];
            if v >= field.modulus() {
                return Err(TwoPcError::Protocol(format!(
                    "millionaire ReLU {i}: the client's pos·a_h slot decodes to {v}, not below p"
                )));
            }
            let r_prime = field.sub(c.r[i], v);
            let s = (bits::get(&pos, i) as usize)
                | (bits::get(&cmp.w, i) as usize) << 1
                | (bits::get(&cmp.c0, i) as usize) << 2
                | (bits::get(&c1, i) as usize) << 3;
            for j in 0..MUX_ENTRIES {
                let u = j ^ e ^ s;
                let g = t.server_part(field, u & 1 == 1, u & 2 == 2, u & 4 == 4, u & 8 == 8);
                let m = field.sub(g, r_prime);
                out.push(m ^ c.mux_pads[i * MUX_ENTRIES + j], l);
            }
        }
        ch.send(MessageType::MILL_MUX_SLOTS, &out.into_bytes())?;
        Ok(())
    }
}

impl ReluClient {
    /// Session setup: 128 base OTs for each OT direction.
    pub fn setup<S: Read + Write>(
        ch: &mut Channel<S>,
        cfg: ReluConfig,
        mut rng: Csprng,
    ) -> Result<Self, TwoPcError> {
        let params = Params::new(cfg)?;
        let ot = OtReceiver::setup(ch, &mut rng)?;
        let rev = OtSender::setup(ch, &mut rng)?;
        Ok(Self {
            params,
            ot,
            rev,
            rng,
        })
    }

    /// Per-ReLU costs.
    pub fn costs(&self) -> MillionaireCosts {
        self.params.costs()
    }

    /// Offline phase with the client's shares `a` (known offline in DELPHI).
    pub fn offline<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<ClientPrepared, TwoPcError> {
        check_shares(self.params.field(), a, "a")?;
        let mut chunks = Vec::new();
        for ac in a.chunks(self.params.cfg.chunk_relus) {
            chunks.push(self.offline_chunk(ch, ac)?);
        }
        Ok(ClientPrepared { chunks, n: a.len() })
    }

    fn offline_chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<ClientChunk, TwoPcError> {
        let (k, l) = (a.len(), self.params.l);
        let h = ch.recv_exact(MessageType::MILL_HEADER, 32)?;
        if h != self.params.header(k) {
            let mut r = PayloadReader::new(&h);
            let got = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
            return Err(TwoPcError::Protocol(format!(
                "millionaire chunk header (count, bits, frac, digit bits) = {got:?}, expected {:?}",
                (k, l, self.params.cfg.frac_bits, DIGIT_BITS)
            )));
        }
        let pr = &self.params;
        let g = pr.and_gates;
        let tx: Vec<Bits> = (0..g).map(|_| random_bits(&mut self.rng, k)).collect();
        let ty: Vec<Bits> = (0..g).map(|_| random_bits(&mut self.rng, k)).collect();
        let mux_choice: Vec<u8> = (0..k)
            .map(|_| (self.rng.next_u32() as usize & (MUX_ENTRIES - 1)) as u8)
            .collect();
        let mut choices = Vec::with_capacity(pr.ots(k));
        for &ai in a {
            choices.extend((0..l).map(|j| (ai >> j) & 1 == 1));
        }
        for gi in 0..g {
            for i in 0..k {
                choices.push(bits::get(&tx[gi], i));
                choices.push(bits::get(&ty[gi], i));
            }
        }
        for &d in &mux_choice {
            choices.extend((0..MUX_BITS).map(|q| (d >> q) & 1 == 1));
        }
        let got = self.ot.receive_random(ch, &choices)?;
        let rev = self.rev.send_random(ch, k)?;

        let layout = &pr.layout;
        let mut leaf_pads: Vec<Bits> = layout
            .slots
            .iter()
            .map(|_| vec![0; bits::words(k)])
            .collect();
        for (i, &ai) in a.iter().enumerate() {
            for (s, slot) in layout.slots.iter().enumerate() {
                let tree = &layout.trees[slot.tree];
                let dg = tree.digits[slot.digit];
                let v = ((ai >> dg.offset) & ((1 << dg.width) - 1)) as usize;
                let mut bit = 0;
                for j in 0..dg.width as usize {
                    let key = got[i * l + dg.offset as usize + j];
                    let pos = pad_bit(tree.bank, slot.field, drop_bit(v, j));
                    bit ^= (key.0 >> pos) & 1;
                }
                bits::put(&mut leaf_pads[s], i, bit == 1);
            }
        }

        let tb = pr.triple_base(k);
        let mut triples = Triples::default();
        for gi in 0..g {
            let mut z = bits::and(&tx[gi], &ty[gi]);
            for i in 0..k {
                let bit = lsb(got[tb + 2 * (gi * k + i)]) ^ lsb(got[tb + 2 * (gi * k + i) + 1]);
                z[i / 64] ^= bit << (i % 64);
            }
            triples.z.push(z);
        }
        triples.x = tx;
        triples.y = ty;

        let mb = pr.mux_base(k);
        let exp = expand_keys(&got[mb..mb + k * MUX_BITS], pr.mux_blocks);
        let mux_pad = mux_choice
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                (0..MUX_BITS).fold(0, |pad, q| {
                    let key = i * MUX_BITS + q;
                    let e = &exp[key * pr.mux_blocks..(key + 1) * pr.mux_blocks];
                    pad ^ block_bits(e, drop_bit(d as usize, q) * l, l)
                })
            })
            .collect();
        let rev_keys = rev
            .iter()
            .map(|&(r0, r1)| (low_bits(r0, l), low_bits(r1, l)))
            .collect();
        Ok(ClientChunk {
            a: a.to_vec(),
            leaf_pads,
            triples,
            mux_choice,
            mux_pad,
            rev_keys,
        })
    }

    /// Online phase: returns the client's output shares `⌊ReLU(a + b)/2^f⌋ − r mod p`.
    pub fn online<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        prepared: ClientPrepared,
    ) -> Result<Vec<u64>, TwoPcError> {
        let mut out = Vec::with_capacity(prepared.n);
        for c in prepared.chunks {
            out.extend(self.online_chunk(ch, c)?);
        }
        Ok(out)
    }

    /// Offline and online in one pass, chunk by chunk (bounded memory).
    pub fn streamed<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        a: &[u64],
    ) -> Result<Vec<u64>, TwoPcError> {
        check_shares(self.params.field(), a, "a")?;
        let mut out = Vec::with_capacity(a.len());
        for ac in a.chunks(self.params.cfg.chunk_relus) {
            let c = self.offline_chunk(ch, ac)?;
            out.extend(self.online_chunk(ch, c)?);
        }
        Ok(out)
    }

    fn online_chunk<S: Read + Write>(
        &mut self,
        ch: &mut Channel<S>,
        c: ClientChunk,
    ) -> Result<Vec<u64>, TwoPcError> {
        let pr = &self.params;
        let field = *pr.field();
        let (k, l, layout) = (c.a.len(), pr.l, &pr.layout);

        // 1. Leaf tables: read the own entry of every slot.
        let tb = k * layout.leaf_bits;
        let tables = ch.recv_exact(MessageType::MILL_LEAF_TABLES, tb.div_ceil(8))?;
        let tables = BitReader::new(&tables, tb)?;
        let mut leaf: Vec<Bits> = c.leaf_pads;
        for (i, &ai) in c.a.iter().enumerate() {
            let base = i * layout.leaf_bits;
            for (s, slot) in layout.slots.iter().enumerate() {
                let dg = layout.trees[slot.tree].digits[slot.digit];
                let v = ((ai >> dg.offset) & ((1 << dg.width) - 1)) as usize;
                let bit = tables.get(base + slot.offset + v, 1);
                leaf[s][i / 64] ^= bit << (i % 64);
            }
        }

        // 2. The comparison trees.
        let mut leaf = leaf.into_iter();
        let leaves = layout.leaf_nodes(|_| leaf.next().unwrap_or_default());
        let mut next = 0;
        let cmp = layout.compare(leaves, &mut |pairs: &[(&[u64], &[u64])]| {
            and_level(ch, Role::Client, pairs, &c.triples, &mut next, k)
        })?;
        let pos = bits::xor(&cmp.w, &cmp.w2);

        // 3. The reverse OT's choices; send multiplexer choices and pos·a_h slots.
        let e_rev = bits::from_bytes(
            &ch.recv_exact(MessageType::MILL_REVERSE_CHOICES, k.div_ceil(8))?,
            k,
        )?;
        let p = field.modulus();
        let mut rho = Vec::with_capacity(k);
        let mut w = BitWriter::with_capacity(k * (MUX_BITS + 2 * l));
        for (i, &ai) in c.a.iter().enumerate() {
            let u = (bits::get(&pos, i) as u64)
                | (bits::get(&cmp.w, i) as u64) << 1
                | (bits::get(&cmp.c0, i) as u64) << 2
                | (bits::get(&cmp.c1_raw, i) as u64) << 3;
            w.push(u ^ c.mux_choice[i] as u64, MUX_BITS);
            let a_h = ai >> pr.cfg.frac_bits;
            let r = uniform_mod(&mut self.rng, p);
            let (r0, r1) = c.rev_keys[i];
            let pos_c = bits::get(&pos, i);
            let er = bits::get(&e_rev, i);
            for (slot, key) in [(false, r0), (true, r1)] {
                let t = slot ^ er;
                let n_t = field.sub(if pos_c ^ t { a_h } else { 0 }, r);
                w.push(n_t ^ key, l);
            }
            rho.push(r);
        }
        ch.send(MessageType::MILL_CLIENT_FINAL, &w.into_bytes())?;

        // 4. The multiplexer entry.
        let mb = k * MUX_ENTRIES * l;
        let slots = ch.recv_exact(MessageType::MILL_MUX_SLOTS, mb.div_ceil(8))?;
        let slots = BitReader::new(&slots, mb)?;
        let mut out = Vec::with_capacity(k);
        for (i, &r) in rho.iter().enumerate() {
            let m = slots.get((i * MUX_ENTRIES + c.mux_choice[i] as usize) * l, l) ^ c.mux_pad[i];
            if m >= p {
                return Err(TwoPcError::Protocol(format!(
                    "millionaire ReLU {i}: the multiplexer entry decodes to {m}, not below p"
                )));
            }
            out.push(field.add(r, m));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
