//! One module per `henn` subcommand.

pub mod bench;
pub mod bench_bootstrap;
pub mod bench_lola;
pub mod bench_serve;
pub mod demo;
pub mod eval;
pub mod import;
pub mod keygen;
pub mod plan;
pub mod predict;
pub mod serve;
pub mod train;
