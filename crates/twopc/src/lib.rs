//! Hybrid two-party inference as in DELPHI (Mishra et al., USENIX Security 2020), the substrate
//! of AutoPrivacy (Lou et al., NeurIPS 2020, section 2): client and server hold additive shares
//! of every activation over a prime field `Z_p` (fixed point, [`share`]); linear layers are evaluated with HE in an
//! input-independent offline phase; ReLUs are garbled circuits; square activations use Beaver
//! triples. Semi-honest security.
//!
//! | module | what |
//! |---|---|
//! | [`ot`] | base OT and OT extension (correlated / random OT) |
//! | [`gc`] | half-gates garbling with free-XOR and point-and-permute, fixed-key AES; the ReLU circuit on shares |
//! | [`millionaire`] | the OT-based ReLU (CrypTFlow2 / Cheetah millionaire's protocol, exact field truncation), the fast online path |
//! | [`channel`] | framed, versioned, bounded messages over TCP with byte counters per phase and direction |
//! | [`linear`] | HE linear layers on henn's BFV (slot encoding as in DELPHI, coefficient encoding as in Cheetah), per-layer HE parameters |
//! | [`beaver`] | Beaver triples from HE for square activations |
//! | [`network`] | fixed-point networks over `Z_p`, their public description and exact plaintext reference; conversion of henn models; 7CNET and ResNet-32 |
//! | [`share`] | the share field `Z_p` (one prime for HE, garbled circuits and triples) |
//! | [`driver`] | the protocol driver: client and server state machines, offline pool and online phase over one channel; pluggable ReLU |
//! | [`error`] | [`error::TwoPcError`] |

#![deny(missing_docs)]

pub mod beaver;
pub mod block;
pub mod channel;
pub mod driver;
pub mod error;
pub mod gc;
pub mod linear;
pub mod millionaire;
pub mod network;
pub mod ot;
pub mod share;
