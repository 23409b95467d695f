//! Neural networks in the clear: datasets, model description and files, float and quantized
//! inference, training and ONNX import. Knows nothing of encryption.

pub mod data;
pub mod model;
pub mod onnx;
pub mod quant;
pub mod train;
