//! One module per `henn` subcommand.

pub mod bench;
pub mod bench_lola;
pub mod eval;
pub mod import;
pub mod plan;
pub mod train;
