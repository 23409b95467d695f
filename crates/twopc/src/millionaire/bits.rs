//! Bit-sliced vectors (bit `i` of a vector is ReLU `i` of a chunk) and packed bit streams for
//! the millionaire protocol's messages.

use crate::error::TwoPcError;

/// A bit vector over the ReLUs of a chunk, 64 per word; bits past the length are zero.
pub(crate) type Bits = Vec<u64>;

/// Words for `k` bits.
pub(crate) fn words(k: usize) -> usize {
    k.div_ceil(64)
}

/// `a ⊕ b`.
pub(crate) fn xor(a: &[u64], b: &[u64]) -> Bits {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// `a ∧ b`.
pub(crate) fn and(a: &[u64], b: &[u64]) -> Bits {
    a.iter().zip(b).map(|(x, y)| x & y).collect()
}

/// `a ⊕= b`.
pub(crate) fn xor_in(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Bit `i`.
pub(crate) fn get(v: &[u64], i: usize) -> bool {
    (v[i / 64] >> (i % 64)) & 1 == 1
}

/// Set bit `i` to `bit` (it must be zero before).
pub(crate) fn put(v: &mut [u64], i: usize, bit: bool) {
    v[i / 64] |= (bit as u64) << (i % 64);
}

/// Zero the bits from `k` on.
pub(crate) fn mask_tail(v: &mut [u64], k: usize) {
    let full = k / 64;
    if full < v.len() {
        if !k.is_multiple_of(64) {
            v[full] &= (1u64 << (k % 64)) - 1;
            v[full + 1..].iter_mut().for_each(|w| *w = 0);
        } else {
            v[full..].iter_mut().for_each(|w| *w = 0);
        }
    }
}

/// Append the first `k` bits of `v` as `⌈k/8⌉` little-endian bytes.
pub(crate) fn push_bytes(v: &[u64], k: usize, out: &mut Vec<u8>) {
    let n = k.div_ceil(8);
    let start = out.len();
    for w in v {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.truncate(start + n);
    out.resize(start + n, 0);
}

/// `k` bits from `⌈k/8⌉` bytes; bits past `k` are cleared (a peer cannot smuggle state there).
pub(crate) fn from_bytes(bytes: &[u8], k: usize) -> Result<Bits, TwoPcError> {
    if bytes.len() != k.div_ceil(8) {
        return Err(TwoPcError::Protocol(format!(
            "bit vector of {k} bits in {} bytes",
            bytes.len()
        )));
    }
    let mut v = vec![0u64; words(k)];
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        v[i] = u64::from_le_bytes(w);
    }
    mask_tail(&mut v, k);
    Ok(v)
}

/// An append-only stream of bit fields (LSB first), the payload of the packed messages.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    words: Vec<u64>,
    len: usize,
}

impl BitWriter {
    /// A writer with room for `bits` bits.
    pub(crate) fn with_capacity(bits: usize) -> Self {
        Self {
            words: Vec::with_capacity(words(bits)),
            len: 0,
        }
    }

    /// Append the low `n ≤ 64` bits of `value` (higher bits must be zero).
    pub(crate) fn push(&mut self, value: u64, n: usize) {
        debug_assert!(n == 64 || value >> n == 0);
        if n == 0 {
            return;
        }
        let sh = self.len % 64;
        if sh == 0 {
            self.words.push(value);
        } else {
            if let Some(last) = self.words.last_mut() {
                *last |= value << sh;
            }
            if sh + n > 64 {
                self.words.push(value >> (64 - sh));
            }
        }
        self.len += n;
    }

    /// Bits written.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The `⌈len/8⌉` bytes of the stream.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len.div_ceil(8));
        push_bytes(&self.words, self.len, &mut out);
        out
    }
}

/// Random-access reads of bit fields from a received stream.
#[derive(Debug)]
pub(crate) struct BitReader {
    words: Bits,
}

impl BitReader {
    /// The stream of `bits` bits in `bytes`, whose length must be exactly `⌈bits/8⌉`.
    pub(crate) fn new(bytes: &[u8], bits: usize) -> Result<Self, TwoPcError> {
        let mut words = from_bytes(bytes, bits)?;
        words.push(0); // reads straddling the last word stay in bounds
        Ok(Self { words })
    }

    /// The `n ≤ 64` bits at `pos` (the caller keeps `pos + n` within the stream).
    pub(crate) fn get(&self, pos: usize, n: usize) -> u64 {
        let (i, sh) = (pos / 64, pos % 64);
        let mut v = self.words[i] >> sh;
        if sh != 0 && sh + n > 64 {
            v |= self.words[i + 1] << (64 - sh);
        }
        if n < 64 {
            v &= (1u64 << n) - 1;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_round_trip_fields_of_every_width() {
        let mut w = BitWriter::with_capacity(0);
        let mut fields = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for n in (0..=64).chain([41, 3, 64, 1, 63]) {
            x = x.rotate_left(17) ^ 0x1234_5678;
            let v = if n == 64 { x } else { x & ((1u64 << n) - 1) };
            fields.push((w.len(), v, n));
            w.push(v, n);
        }
        let bits = w.len();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), bits.div_ceil(8));
        let r = BitReader::new(&bytes, bits).unwrap();
        for (pos, v, n) in fields {
            assert_eq!(r.get(pos, n), v, "field at {pos} of {n} bits");
        }
        assert!(BitReader::new(&bytes[1..], bits).is_err());
    }

    #[test]
    fn bit_vectors_serialize_and_clear_their_tail() {
        let k = 70;
        let mut v = vec![u64::MAX, u64::MAX];
        mask_tail(&mut v, k);
        assert_eq!(v[1], (1 << 6) - 1);
        let mut bytes = Vec::new();
        push_bytes(&v, k, &mut bytes);
        assert_eq!(bytes.len(), 9);
        // A peer setting bits past k: they are cleared on parsing.
        bytes[8] = 0xff;
        let back = from_bytes(&bytes, k).unwrap();
        assert_eq!(back, v);
        assert!(from_bytes(&bytes[..8], k).is_err());
        assert!(get(&back, 69));
        assert!(!get(&back, 70));
    }
}
