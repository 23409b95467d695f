//! One module per `henn` subcommand.

pub mod eval;
pub mod train;
