//! Garbled circuits: a boolean [`circuit`] builder, half-gates garbling with free-XOR and
//! point-and-permute ([`halfgates`]), streamed tables ([`stream`]) and the ReLU circuit on
//! additive shares over `Z_p` ([`relu`]).
//!
//! # Threat model
//!
//! Yao's protocol with half-gates is secure against a semi-honest evaluator (it learns only
//! the decoded outputs it is given decoding bits for) and a semi-honest garbler (it sees only
//! OT messages, which hide the evaluator's input). Malicious garbling (a wrong circuit) is not
//! detected, as in DELPHI.
//!
//! # Messages
//!
//! | direction | type | payload |
//! |---|---|---|
//! | garbler → evaluator | `GC_TABLES` | a chunk of table blocks `T_G, T_E` per AND, 16 bytes each |
//! | garbler → evaluator | `GC_GARBLER_LABELS` | active labels of the garbler's input bits |
//! | garbler → evaluator | `GC_OUTPUT_DECODING` | one decoding bit per output, one byte each |
//!
//! The evaluator's input labels come from correlated OT ([`crate::ot`]) with the garbler's
//! `Δ`, so they never travel in the clear.

pub mod circuit;
pub mod halfgates;
pub mod protocol;
pub mod relu;
pub mod stream;

pub use circuit::{Bit, Circuit, CircuitBuilder, Gate, Word};
pub use halfgates::{decode, Evaluator, GarbledOutputs, Garbler};

#[cfg(test)]
mod tests {
    use super::circuit::{from_bits, to_bits};
    use super::relu::{relu_circuit, relu_reference};
    use super::*;
    use crate::block::{os_rng, Block};
    use crate::share::{ShareField, DEFAULT_SHARE_PRIME};
    use proptest::prelude::*;

    /// Garble and evaluate `c` on plaintext inputs, checking the garbled result against the
    /// plain evaluation; returns the outputs.
    fn garbled_eval(c: &Circuit, g_in: &[bool], e_in: &[bool]) -> Vec<bool> {
        let mut garbler = Garbler::new(os_rng());
        let mut evaluator = Evaluator::new();
        let gz = garbler.fresh_labels(g_in.len());
        let ez = garbler.fresh_labels(e_in.len());
        let mut tables = Vec::new();
        let out = garbler.garble(c, &gz, &ez, &mut tables).unwrap();
        assert_eq!(tables.len(), 2 * c.and_gates());
        let ga: Vec<Block> = gz
            .iter()
            .zip(g_in)
            .map(|(&z, &b)| garbler.encode(z, b))
            .collect();
        let ea: Vec<Block> = ez
            .iter()
            .zip(e_in)
            .map(|(&z, &b)| garbler.encode(z, b))
            .collect();
        let labels = evaluator.evaluate(c, &ga, &ea, &tables).unwrap();
        // Every active output label is one of the two labels of its wire.
        for ((&l, &z), &bit) in labels
            .iter()
            .zip(&out.zero_labels)
            .zip(&decode(&labels, &out.decoding))
        {
            if z != Block::ZERO {
                assert_eq!(l, garbler.encode(z, bit));
            }
        }
        let garbled = decode(&labels, &out.decoding);
        assert_eq!(Some(garbled.clone()), c.eval_plain(g_in, e_in));
        garbled
    }

    #[test]
    fn lockstep_batch_matches_plain_and_single_garbling() {
        let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let c = relu_circuit(&f, 3).unwrap();
        let l = f.bits() as usize;
        let mut rng = os_rng();
        let k = 5;
        let vals: Vec<(u64, u64, u64)> = (0..k)
            .map(|_| {
                let mut v = || Block::random(&mut rng).0 as u64 % f.modulus();
                (v(), v(), v())
            })
            .collect();
        let mut garbler = Garbler::new(os_rng());
        let gz = garbler.fresh_labels(k * 2 * l);
        let ez = garbler.fresh_labels(k * l);
        let mut tables = Vec::new();
        let outs = garbler.garble_batch(&c, k, &gz, &ez, &mut tables).unwrap();
        assert_eq!(tables.len(), 2 * c.and_gates() * k);
        let mut ga = Vec::new();
        let mut ea = Vec::new();
        for (i, &(a, b, r)) in vals.iter().enumerate() {
            let mut bits = to_bits(b, l);
            bits.extend(to_bits(r, l));
            ga.extend(
                bits.iter()
                    .enumerate()
                    .map(|(j, &x)| garbler.encode(gz[i * 2 * l + j], x)),
            );
            ea.extend(
                to_bits(a, l)
                    .iter()
                    .enumerate()
                    .map(|(j, &x)| garbler.encode(ez[i * l + j], x)),
            );
        }
        let mut ev = Evaluator::new();
        let labels = ev.evaluate_batch(&c, k, &ga, &ea, &tables).unwrap();
        for (i, &(a, b, r)) in vals.iter().enumerate() {
            let got = from_bits(&decode(&labels[i], &outs[i].decoding));
            assert_eq!(got, relu_reference(&f, a, b, r, 3), "instance {i}");
        }
        // A batch of the wrong size is rejected.
        let mut ev2 = Evaluator::new();
        assert!(ev2
            .evaluate_batch(
                &c,
                k - 1,
                &ga[..(k - 1) * 2 * l],
                &ea[..(k - 1) * l],
                &tables
            )
            .is_err());
        assert_eq!(ev.and_gates_done(), garbler.and_gates_done());
    }

    #[test]
    fn every_gate_on_every_input() {
        for op in 0..5 {
            let mut cb = CircuitBuilder::new();
            let x = cb.garbler_input(1)[0];
            let y = cb.evaluator_input(1)[0];
            let o = match op {
                0 => cb.and(x, y),
                1 => cb.xor(x, y),
                2 => cb.not(x),
                3 => cb.or(x, y),
                _ => {
                    let n = cb.not(y);
                    cb.and(x, n)
                }
            };
            let c = cb.finish(vec![o]);
            for (a, b) in [(false, false), (false, true), (true, false), (true, true)] {
                let want = match op {
                    0 => a & b,
                    1 => a ^ b,
                    2 => !a,
                    3 => a | b,
                    _ => a & !b,
                };
                assert_eq!(
                    garbled_eval(&c, &[a], &[b]),
                    vec![want],
                    "op {op} on ({a},{b})"
                );
            }
        }
    }

    #[test]
    fn constants_fold_and_constant_outputs_decode() {
        let mut cb = CircuitBuilder::new();
        let x = cb.garbler_input(1)[0];
        let z = cb.xor(x, x);
        let one = cb.not(z);
        let a = cb.and(x, one);
        let b = cb.and(x, z);
        assert_eq!(cb.and_gates(), 0);
        let c = cb.finish(vec![a, b, one]);
        assert_eq!(garbled_eval(&c, &[true], &[]), vec![true, false, true]);
        assert_eq!(garbled_eval(&c, &[false], &[]), vec![false, false, true]);
    }

    #[test]
    fn tables_from_a_wrong_count_are_rejected() {
        let mut cb = CircuitBuilder::new();
        let x = cb.garbler_input(1)[0];
        let y = cb.evaluator_input(1)[0];
        let o = cb.and(x, y);
        let c = cb.finish(vec![o]);
        let mut ev = Evaluator::new();
        assert!(ev
            .evaluate(&c, &[Block(1)], &[Block(2)], &[Block(3)])
            .is_err());
        assert!(ev
            .evaluate(&c, &[], &[Block(2)], &[Block(3), Block(4)])
            .is_err());
    }

    /// One word operation on `n`-bit words, with its plain reference.
    fn word_op(op: usize, n: usize) -> Circuit {
        let mut cb = CircuitBuilder::new();
        let a = cb.garbler_input(n);
        let b = cb.evaluator_input(n);
        let out = match op {
            0 => {
                let (mut s, c) = cb.add(&a, &b);
                s.push(c);
                s
            }
            1 => cb.add_mod(&a, &b),
            2 => {
                let (mut d, br) = cb.sub(&a, &b);
                d.push(br);
                d
            }
            3 => cb.sub_mod(&a, &b),
            4 => vec![cb.ge(&a, &b)],
            5 => vec![cb.lt(&a, &b)],
            6 => vec![cb.gt(&a, &b)],
            7 => vec![cb.le(&a, &b)],
            8 => vec![cb.eq(&a, &b)],
            9 => vec![cb.lt_signed(&a, &b)],
            _ => {
                let s = a[0];
                cb.mux_word(s, &a, &b)
            }
        };
        cb.finish(out)
    }

    fn word_reference(op: usize, n: usize, a: u64, b: u64) -> u64 {
        let m = if n == 64 { u64::MAX } else { (1 << n) - 1 };
        let sign = |v: u64| ((v << (64 - n)) as i64) >> (64 - n);
        match op {
            0 => a + b,
            1 => (a + b) & m,
            2 => ((a.wrapping_sub(b)) & m) | (((a < b) as u64) << n),
            3 => a.wrapping_sub(b) & m,
            4 => (a >= b) as u64,
            5 => (a < b) as u64,
            6 => (a > b) as u64,
            7 => (a <= b) as u64,
            8 => (a == b) as u64,
            9 => (sign(a) < sign(b)) as u64,
            _ => {
                if a & 1 == 1 {
                    a
                } else {
                    b
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn word_operations_match_plain_arithmetic(op in 0usize..11, n in 1usize..42, a: u64, b: u64) {
            let m = (1u64 << n) - 1;
            // Bias towards boundary values: equal words, zero, all ones, sign bit.
            let (a, b) = match a % 5 {
                0 => (a & m, a & m),
                1 => (0, b & m),
                2 => (m, b & m),
                3 => (1 << (n - 1), b & m),
                _ => (a & m, b & m),
            };
            let c = word_op(op, n);
            let out = garbled_eval(&c, &to_bits(a, n), &to_bits(b, n));
            prop_assert_eq!(from_bits(&out), word_reference(op, n, a, b), "op {} n {} a {} b {}", op, n, a, b);
        }
    }

    fn relu_garbled(c: &Circuit, f: &ShareField, a: u64, b: u64, r: u64) -> u64 {
        let l = f.bits() as usize;
        let mut g_in = to_bits(b, l);
        g_in.extend(to_bits(r, l));
        from_bits(&garbled_eval(c, &g_in, &to_bits(a, l)))
    }

    #[test]
    fn relu_circuit_and_count_is_lean() {
        let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let c0 = relu_circuit(&f, 0).unwrap();
        let c12 = relu_circuit(&f, 12).unwrap();
        eprintln!(
            "relu ANDs: f=0 {}, f=12 {}",
            c0.and_gates(),
            c12.and_gates()
        );
        // Documented in relu.rs: 284 ANDs for f = 0; truncation removes f of them.
        assert_eq!(c0.and_gates(), 284);
        assert_eq!(c12.and_gates(), 284 - 12);
        assert!(relu_circuit(&f, 41).is_err());
    }

    #[test]
    fn relu_boundaries() {
        let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
        let p = f.modulus();
        let h = p / 2;
        let l = f.bits();
        let mut rng = os_rng();
        for frac in [0u32, 1, 12] {
            let c = relu_circuit(&f, frac).unwrap();
            let xs = [
                0,
                1,
                2,
                h - 1,
                h,
                h + 1,
                h + 2,
                p - 2,
                p - 1,
                (1 << (l - 2)) - 1,
                1 << (l - 2),
                p - (1 << (l - 2)),
            ];
            for &x in &xs {
                for &r in &[0, 1, p - 1, h] {
                    // Split x at random and at the extremes.
                    let rand_b = Block::random(&mut rng).0 as u64 % p;
                    for b in [0, p - 1, rand_b] {
                        let a = f.sub(x, b);
                        let want = relu_reference(&f, a, b, r, frac);
                        assert_eq!(
                            relu_garbled(&c, &f, a, b, r),
                            want,
                            "x {x} b {b} r {r} f {frac}"
                        );
                        // And the reference itself against signed arithmetic.
                        let xs = f.to_signed(x);
                        let y = if xs > 0 { (xs as u64) >> frac } else { 0 };
                        assert_eq!(f.add(want, r), y, "x {x}");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn relu_matches_plain_on_random_shares(a: u64, b: u64, r: u64, frac in 0u32..16) {
            let f = ShareField::new(DEFAULT_SHARE_PRIME).unwrap();
            let p = f.modulus();
            let (a, b, r) = (a % p, b % p, r % p);
            let c = relu_circuit(&f, frac).unwrap();
            prop_assert_eq!(relu_garbled(&c, &f, a, b, r), relu_reference(&f, a, b, r, frac));
        }
    }
}
