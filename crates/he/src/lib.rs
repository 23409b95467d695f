//! The homomorphic encryption engine: RLWE keys, encryption, hybrid key switching, hoisted
//! rotations, and the BFV and CKKS schemes, with parameters checked against the HE standard.

pub mod ckks;
