//! One pipeline from a model to an encrypted prediction (design: "one pipeline, typed
//! sessions"): [`compile`] → [`CompiledModel`] (scheme, 128-bit parameters, plan, key
//! requirements, layouts; its [`PublicModel`] has no weights), then a [`ClientSession`]
//! (secret key: evaluation keys, encrypt, decrypt) and a [`ServerSession`] (compiled model + a
//! client's evaluation keys: prepared weights, run). The service, the benchmarks and the tests
//! are thin layers over these.
//!
//! ```
//! use std::sync::Arc;
//! use henn_infer::session::{compile, Calibration, ClientSession, CompileOptions, ServerSession};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))?; // repo root
//! let model = henn_nn::model::Model::load("models/lola-small")?;
//! let images = henn_nn::data::load_mnist(std::path::Path::new("data/mnist"), henn_nn::data::Split::Test)?;
//! let calibration = Calibration::from_flat(&images.images, 784, 100)?;
//! let compiled = Arc::new(compile(&model, "lola-small", &calibration, &CompileOptions::default())?);
//!
//! let client = ClientSession::new(compiled.public().clone())?;          // secret key
//! let server = ServerSession::new(compiled.clone(), client.evaluation_keys()?);
//! let input = client.encrypt(&images.images[..784])?;                    // Enc(x)
//! let output = server?.run(&input)?;                                    // model on Enc(x)
//! let prediction = client.decrypt(&output)?;                             // Dec
//! assert_eq!(prediction.class, henn_nn::model::argmax(&compiled.reference_logits(&images.images[..784])?));
//! # Ok(()) }
//! ```

pub mod ciphertexts;
pub mod client;
pub mod compile;
pub mod compiled;
pub mod costs;
pub mod keys;
pub mod public;
pub mod server;
pub mod wire;

pub use ciphertexts::{EncryptedInput, EncryptedOutput};
pub use client::{argmax, ClientSession, Prediction};
pub use compile::{compile, output_bits, Calibration, CompileOptions, SchemeChoice};
pub use compiled::{parse_strategy, strategy_name, CompiledModel, CompiledNetwork};
pub use keys::{EvaluationKeys, KeyUploadLayout};
pub use public::{PublicModel, SchemeContext, SchemeParameters};
pub use server::ServerSession;
