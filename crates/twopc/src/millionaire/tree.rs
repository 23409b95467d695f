//! The digit layout of the comparisons and their AND tree (Rathee et al., CCS 2020,
//! "CrypTFlow2", §3.1 Algorithm 1).
//!
//! A comparison `[a ≥ T]` of the client's value `a` with the server's threshold `T` splits
//! both into digits of at most [`DIGIT_BITS`] bits. For each digit the client learns, by a
//! 1-out-of-`2^m` OT on its digit, shares of `gt_j = [a_j > t_j]` and `eq_j = [a_j = t_j]`
//! (for the lowest digit directly `ge_0 = [a_0 ≥ t_0]`). Adjacent nodes combine as
//!
//! * `(gt, eq) = (gt_hi ⊕ eq_hi ∧ gt_lo, eq_hi ∧ eq_lo)` — two ANDs;
//! * `ge = gt_hi ⊕ eq_hi ∧ ge_lo` when the low node is the lowest ("spine") — one AND;
//!
//! level by level (`⌈log₂ digits⌉` rounds), so the root's `ge` is `[a ≥ T]`. The top digit of
//! a tree takes the threshold's remaining high bits, which may equal `2^width` (`T = 2^bits`,
//! the carry comparison with `s_0 = 0`): then its `gt` and `eq` are zero for every `a`.
//!
//! The protocol runs five trees per ReLU ([`Layout`]): `w = [a ≥ p − b]` as a low tree over
//! the `f` fractional bits (whose root is `c_1`, [`super::formula`]) and a high tree over the
//! other `ℓ − f`, joined by one more spine combination; `w₂` likewise; and the `f`-bit carry
//! comparison `c_0`. With `f = 0` there are just the two `ℓ`-bit spine trees.

use super::bits::{xor, Bits};
use super::formula::ServerTerms;
use crate::error::TwoPcError;

/// Bits per digit (`m` of CrypTFlow2; SCI's `MILL_PARAM` is 4 as well): one leaf costs `m`
/// random OTs offline and `2^m` two-bit table entries online.
pub const DIGIT_BITS: u32 = 4;

/// A digit: `width` bits of `a` from bit `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Digit {
    pub(crate) offset: u32,
    pub(crate) width: u32,
}

/// One comparison tree over consecutive digits of `a`.
#[derive(Clone, Debug)]
pub(crate) struct Tree {
    /// Which 16-bit bank of the leaf-OT keys pads this tree's tables (trees reading the same
    /// bits of `a` use different banks).
    pub(crate) bank: u32,
    /// The bit of `a` where the tree's value starts.
    pub(crate) base: u32,
    /// Digits, lowest first.
    pub(crate) digits: Vec<Digit>,
    /// The lowest node carries `ge` only.
    pub(crate) spine: bool,
}

impl Tree {
    fn new(bank: u32, from: u32, to: u32, spine: bool) -> Self {
        let mut digits = Vec::new();
        let mut o = from;
        while o < to {
            let width = DIGIT_BITS.min(to - o);
            digits.push(Digit { offset: o, width });
            o += width;
        }
        Self {
            bank,
            base: from,
            digits,
            spine,
        }
    }

    /// Table fields of digit `d`: `ge` for the spine's lowest digit, else `gt` and `eq`.
    pub(crate) fn fields(&self, d: usize) -> usize {
        if self.spine && d == 0 {
            1
        } else {
            2
        }
    }

    /// Digit `d` of the tree's threshold `t`; the top digit keeps all remaining bits.
    pub(crate) fn digit_threshold(&self, t: u64, d: usize) -> u32 {
        let dg = self.digits[d];
        let v = t >> (dg.offset - self.base);
        if d + 1 < self.digits.len() {
            (v & ((1 << dg.width) - 1)) as u32
        } else {
            v.min(1 << dg.width) as u32
        }
    }
}

/// The truth table of field `field` of digit `d` for digit threshold `t`: bit `u` is the
/// field's value when the client's digit is `u`.
pub(crate) fn leaf_table(tree: &Tree, d: usize, field: usize, t: u32) -> u32 {
    let n = 1u32 << tree.digits[d].width;
    let full = ((1u64 << n) - 1) as u32;
    let above = |s: u32| if s >= n { 0 } else { full & (full << s) };
    match (tree.fields(d), field) {
        (1, _) => above(t),
        (_, 0) => above(t + 1),
        _ => {
            if t < n {
                1 << t
            } else {
                0
            }
        }
    }
}

/// One table field in a ReLU's leaf record: `entries = 2^width` bits from `offset`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafSlot {
    pub(crate) tree: usize,
    pub(crate) digit: usize,
    pub(crate) field: usize,
    pub(crate) offset: usize,
    pub(crate) entries: usize,
}

/// Trees, leaf record and AND schedule for `ℓ`-bit shares and `f` fractional bits.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) f: u32,
    pub(crate) trees: Vec<Tree>,
    pub(crate) slots: Vec<LeafSlot>,
    /// Bits of one ReLU's leaf record in the table message.
    pub(crate) leaf_bits: usize,
    /// AND gates per level (bit triples consumed).
    pub(crate) and_levels: Vec<usize>,
}

/// The index of `w`'s low tree when `f > 0` (then the trees are `w` low, `w` high, `w₂` low,
/// `w₂` high, `c_0`; with `f = 0` they are `w` and `w₂`).
const W_LOW: usize = 0;

/// A node of a comparison tree, one party's shares bit-sliced over a chunk: `gt` (or `ge` on
/// the spine) and `eq` (absent on the spine).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) gt: Bits,
    pub(crate) eq: Option<Bits>,
}

/// One party's shares of the comparison results.
#[derive(Debug)]
pub(crate) struct Comparisons {
    pub(crate) w: Bits,
    pub(crate) w2: Bits,
    pub(crate) c0: Bits,
    /// `[a_l ≥ (p − b) mod 2^f]`, i.e. `c_1` before the server's `s_1 = 0` correction.
    pub(crate) c1_raw: Bits,
}

impl Layout {
    /// The layout for `ℓ`-bit shares (`f < ℓ`).
    pub(crate) fn new(l: u32, f: u32) -> Self {
        let trees = if f > 0 {
            vec![
                Tree::new(0, 0, f, true),
                Tree::new(0, f, l, false),
                Tree::new(1, 0, f, true),
                Tree::new(1, f, l, false),
                Tree::new(2, 0, f, true),
            ]
        } else {
            vec![Tree::new(0, 0, l, true), Tree::new(1, 0, l, true)]
        };
        let mut slots = Vec::new();
        let mut offset = 0;
        for (t, tree) in trees.iter().enumerate() {
            for (d, dg) in tree.digits.iter().enumerate() {
                for field in 0..tree.fields(d) {
                    let entries = 1usize << dg.width;
                    slots.push(LeafSlot {
                        tree: t,
                        digit: d,
                        field,
                        offset,
                        entries,
                    });
                    offset += entries;
                }
            }
        }
        let mut layout = Self {
            f,
            trees,
            slots,
            leaf_bits: offset,
            and_levels: Vec::new(),
        };
        // Dry run of the schedule on empty vectors, counting gates per level.
        let mut levels = Vec::new();
        let leaves = layout.leaf_nodes(|_| Vec::new());
        let counted = layout.compare(leaves, &mut |pairs: &[(&[u64], &[u64])]| {
            levels.push(pairs.len());
            Ok(vec![Vec::new(); pairs.len()])
        });
        debug_assert!(counted.is_ok());
        layout.and_levels = levels;
        layout
    }

    /// AND gates (bit triples) per ReLU.
    pub(crate) fn and_gates(&self) -> usize {
        self.and_levels.iter().sum()
    }

    /// The leaf nodes of every tree from a function giving each slot's bit vector.
    pub(crate) fn leaf_nodes(&self, mut slot_bits: impl FnMut(usize) -> Bits) -> Vec<Vec<Node>> {
        let mut trees: Vec<Vec<Node>> = self.trees.iter().map(|_| Vec::new()).collect();
        let mut s = 0;
        for (t, tree) in self.trees.iter().enumerate() {
            for d in 0..tree.digits.len() {
                let gt = slot_bits(s);
                s += 1;
                let eq = if tree.fields(d) == 2 {
                    s += 1;
                    Some(slot_bits(s - 1))
                } else {
                    None
                };
                trees[t].push(Node { gt, eq });
            }
        }
        trees
    }

    /// The thresholds of each tree for the server's terms.
    pub(crate) fn thresholds(&self, t: &ServerTerms) -> Vec<u64> {
        let f = self.f;
        let low = |v: u64| v & ((1u64 << f) - 1);
        if f > 0 {
            vec![
                low(t.wrap_threshold),
                t.wrap_threshold >> f,
                low(t.shifted_threshold),
                t.shifted_threshold >> f,
                t.carry0_threshold,
            ]
        } else {
            vec![t.wrap_threshold, t.shifted_threshold]
        }
    }

    /// Evaluate all comparisons from the leaves, one call of `and_level` per AND level with
    /// every gate of the level (both parties run the same schedule).
    pub(crate) fn compare<F>(
        &self,
        leaves: Vec<Vec<Node>>,
        and_level: &mut F,
    ) -> Result<Comparisons, TwoPcError>
    where
        F: FnMut(&[(&[u64], &[u64])]) -> Result<Vec<Bits>, TwoPcError>,
    {
        let mut roots = reduce(leaves, and_level)?;
        if self.f > 0 {
            let c0 = roots.pop().map(|n| n.gt).unwrap_or_default();
            let c1_raw = roots[W_LOW].gt.clone();
            let mut it = roots.into_iter();
            let (wl, wh, w2l, w2h) = match (it.next(), it.next(), it.next(), it.next()) {
                (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
                _ => return Err(internal("five trees")),
            };
            let joined = reduce(vec![vec![wl, wh], vec![w2l, w2h]], and_level)?;
            let mut it = joined.into_iter();
            match (it.next(), it.next()) {
                (Some(w), Some(w2)) => Ok(Comparisons {
                    w: w.gt,
                    w2: w2.gt,
                    c0,
                    c1_raw,
                }),
                _ => Err(internal("two joins")),
            }
        } else {
            let mut it = roots.into_iter();
            match (it.next(), it.next()) {
                (Some(w), Some(w2)) => {
                    let zeros = vec![0; w.gt.len()];
                    Ok(Comparisons {
                        w: w.gt,
                        w2: w2.gt,
                        c0: zeros.clone(),
                        c1_raw: zeros,
                    })
                }
                _ => Err(internal("two trees")),
            }
        }
    }
}

fn internal(what: &str) -> TwoPcError {
    TwoPcError::Config(format!("millionaire layout: expected {what}"))
}

/// Reduce every group of nodes to its root, level by level.
fn reduce<F>(mut groups: Vec<Vec<Node>>, and_level: &mut F) -> Result<Vec<Node>, TwoPcError>
where
    F: FnMut(&[(&[u64], &[u64])]) -> Result<Vec<Bits>, TwoPcError>,
{
    while groups.iter().any(|g| g.len() > 1) {
        let products = {
            let mut pairs: Vec<(&[u64], &[u64])> = Vec::new();
            for g in &groups {
                for pair in g.chunks_exact(2) {
                    let (lo, hi) = (&pair[0], &pair[1]);
                    let hi_eq = hi
                        .eq
                        .as_deref()
                        .ok_or_else(|| internal("eq above the spine"))?;
                    pairs.push((hi_eq, &lo.gt));
                    if let Some(lo_eq) = &lo.eq {
                        pairs.push((hi_eq, lo_eq));
                    }
                }
            }
            let products = and_level(&pairs)?;
            if products.len() != pairs.len() {
                return Err(internal("one product per gate"));
            }
            products
        };
        let mut products = products.into_iter();
        let mut next = Vec::with_capacity(groups.len());
        for g in groups {
            let mut reduced = Vec::with_capacity(g.len().div_ceil(2));
            let mut it = g.into_iter();
            while let Some(lo) = it.next() {
                match it.next() {
                    Some(hi) => {
                        let r = products.next().ok_or_else(|| internal("products"))?;
                        let eq = match lo.eq {
                            Some(_) => Some(products.next().ok_or_else(|| internal("products"))?),
                            None => None,
                        };
                        reduced.push(Node {
                            gt: xor(&hi.gt, &r),
                            eq,
                        });
                    }
                    None => reduced.push(lo),
                }
            }
            next.push(reduced);
        }
        groups = next;
    }
    groups
        .into_iter()
        .map(|mut g| g.pop().ok_or_else(|| internal("a non-empty tree")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::bits::and;
    use super::*;
    use crate::share::{ShareField, DEFAULT_SHARE_PRIME};
    use proptest::prelude::*;

    /// Run the comparisons in the clear (one "party" holding the values, ANDs computed
    /// directly) on a single ReLU: checks the layout, leaf tables and tree algebra.
    fn plain(layout: &Layout, a: u64, terms: &ServerTerms) -> (bool, bool, bool, bool) {
        let th = layout.thresholds(terms);
        let leaves = layout.leaf_nodes(|s| {
            let slot = layout.slots[s];
            let tree = &layout.trees[slot.tree];
            let dg = tree.digits[slot.digit];
            let u = (a >> dg.offset) & ((1 << dg.width) - 1);
            let t = tree.digit_threshold(th[slot.tree], slot.digit);
            vec![((leaf_table(tree, slot.digit, slot.field, t) >> u) & 1) as u64]
        });
        let c = layout
            .compare(leaves, &mut |pairs: &[(&[u64], &[u64])]| {
                Ok(pairs.iter().map(|(x, y)| and(x, y)).collect())
            })
            .unwrap();
        (c.w[0] == 1, c.w2[0] == 1, c.c0[0] == 1, c.c1_raw[0] == 1)
    }

    #[test]
    fn layout_of_the_default_prime() {
        let l = Layout::new(41, 8);
        assert_eq!(l.trees.len(), 5);
        assert_eq!(l.trees[1].digits.len(), 9);
        // Depth: 4 levels for 9 high digits, then the join.
        assert_eq!(l.and_levels.len(), 5);
        let l0 = Layout::new(41, 0);
        assert_eq!(l0.trees.len(), 2);
        assert_eq!(l0.and_levels.len(), 4);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn tree_comparisons_match_the_plain_thresholds(
            a in 0..DEFAULT_SHARE_PRIME,
            b in 0..DEFAULT_SHARE_PRIME,
            frac in 0u32..41,
        ) {
            let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
            let layout = Layout::new(41, frac);
            let t = ServerTerms::new(&field, b, frac);
            let low = (1u64 << frac) - 1;
            let (w, w2, c0, c1) = plain(&layout, a, &t);
            prop_assert_eq!(w, a >= t.wrap_threshold);
            prop_assert_eq!(w2, a >= t.shifted_threshold);
            if frac > 0 {
                prop_assert_eq!(c0, (a & low) >= t.carry0_threshold);
                prop_assert_eq!(c1, (a & low) >= (t.wrap_threshold & low));
            }
        }
    }

    #[test]
    fn tree_comparisons_at_threshold_edges() {
        let field = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let p = field.modulus();
        for frac in [0u32, 1, 3, 4, 5, 8, 16, 40] {
            let layout = Layout::new(41, frac);
            let low = (1u64 << frac) - 1;
            for b in [0, 1, p - 1, p / 2, p / 2 + 1, 1 << frac, (1 << frac) - 1] {
                let t = ServerTerms::new(&field, b % p, frac);
                for a in [
                    0,
                    1,
                    p - 1,
                    t.wrap_threshold.min(p - 1),
                    t.wrap_threshold - 1,
                    t.shifted_threshold.min(p - 1),
                    t.shifted_threshold - 1,
                    low,
                    t.carry0_threshold.min(low),
                    t.carry0_threshold - 1,
                ] {
                    let (w, w2, c0, c1) = plain(&layout, a, &t);
                    assert_eq!(w, a >= t.wrap_threshold, "a {a} b {b} f {frac}");
                    assert_eq!(w2, a >= t.shifted_threshold, "a {a} b {b} f {frac}");
                    if frac > 0 {
                        assert_eq!(c0, (a & low) >= t.carry0_threshold, "a {a} b {b} f {frac}");
                        assert_eq!(c1, (a & low) >= (t.wrap_threshold & low));
                    }
                }
            }
        }
    }
}
