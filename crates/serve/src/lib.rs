//! The private prediction service (LoLa's setting, Brutzkus et al. 2019, section 1: a client
//! sends encrypted data, the server applies its network homomorphically, only the client can
//! decrypt): a versioned wire format, an HTTP server (axum/tokio) with a persistent key store
//! (redb), and a blocking client.
//!
//! | module | what |
//! |---|---|
//! | [`wire`] | binary format of key uploads, encrypted inputs/outputs and the secret-key file |
//! | [`plan`] | the public plan of a model (parameters, keys, layouts — never weights) |
//! | [`model`] | a served model: quantized network, sized parameters, plan, prepared plaintexts |
//! | [`store`] | the persistent, size-limited, expiring key store |
//! | [`metrics`] | Prometheus text metrics |
//! | [`server`] | routes, limits, bounded evaluation queue, graceful shutdown |
//! | [`client`] | HTTP client and the client's keys (secret key stays local) |
//! | [`error`] | [`ServeError`] and its HTTP statuses |

#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod server;
pub mod store;
pub mod wire;

pub use client::{Client, ClientKeys, Prediction};
pub use error::{ServeError, ServeResult};
pub use model::{ModelOptions, ServedModel};
pub use plan::PublicPlan;
pub use server::{start, RunningServer, ServerConfig};
