//! Subcommands of the `henn` binary, one file each.

pub mod bench;
