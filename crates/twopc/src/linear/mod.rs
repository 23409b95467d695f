//! HE linear layers of the DELPHI offline phase (to be documented).

pub mod layer;

pub use layer::{fold_batch_norm, BatchNorm, Conv2d, Dense, Kernel, LayerShape, LinearLayer, Pool};
