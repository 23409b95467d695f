//! One module per `henn` subcommand.

pub mod bench;
pub mod eval;
