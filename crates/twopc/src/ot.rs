//! See the crate documentation (to be written).
