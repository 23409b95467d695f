//! Plaintext spaces larger than one prime: `Z_T` with `T = t_1·…·t_k` handled as `k`
//! independent BFV instances sharing `Q` (one ciphertext per `t_j`), combined by the Chinese
//! remainder theorem on decoding with a signed centered lift (LoLa, Brutzkus et al. 2019, §3:
//! four plaintext primes for MNIST). The instances themselves live with their user (the
//! inference backend keeps one evaluator per prime); this module holds the combination.

fn mul_mod_u128(a: u128, b: u128, m: u128) -> u128 {
    // double-and-add: operands < m < 2^126
    let mut r = 0u128;
    let mut a = a % m;
    let mut b = b;
    while b > 0 {
        if b & 1 == 1 {
            r = (r + a) % m;
        }
        a = (a << 1) % m;
        b >>= 1;
    }
    r
}

/// CRT: the unique `x ∈ (-T/2, T/2]` with `x ≡ r_j mod t_j`.
pub fn crt_combine(residues: &[u64], moduli: &[u64], product: u128) -> i128 {
    let mut x: u128 = 0;
    for (&r, &t) in residues.iter().zip(moduli) {
        let punct = product / t as u128;
        let m = henn_ring::Modulus::new(t).map(|m| {
            let p = (punct % t as u128) as u64;
            m.inv(p).unwrap_or(0)
        });
        let inv = m.unwrap_or(0) as u128;
        let coef = (r as u128 * inv) % t as u128;
        x = (x + mul_mod_u128(coef, punct, product)) % product;
    }
    if x > product / 2 {
        x as i128 - product as i128
    } else {
        x as i128
    }
}
