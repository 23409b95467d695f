//! Polynomial-ring arithmetic for henn's HE engine: NTT-friendly primes, modular arithmetic,
//! number-theoretic transforms, RNS bases and base conversion, polynomials, Galois automorphisms
//! and samplers. Knows nothing of encryption schemes or networks.
