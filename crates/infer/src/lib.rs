//! Encrypted inference the LoLa way (Brutzkus, Elisha, Gilad-Bachrach, ICML 2019): a slot-vector
//! backend trait, message representations (section 4.2.1) and the matrix-vector kernels between
//! them (section 4.2.2), and a clear backend that runs the same operations on plain numbers to
//! check plans, count operations and size parameters.

pub mod backend;
pub mod conv;
pub mod encrypted;
pub mod error;
pub mod kernels;
pub mod matrix;
pub mod network;
pub mod plan;
pub mod representation;
pub mod zoo;
