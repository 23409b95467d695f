//! The private prediction service (LoLa's setting, Brutzkus et al. 2019, section 1: a client
//! sends encrypted data, the server applies its network homomorphically, only the client can
//! decrypt): a versioned wire format, an HTTP server (axum/tokio) with a persistent key store
//! (redb), and a blocking client.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | a served model: its compiled model (from `compiled.henn` or compiled at start) |
//! | [`store`] | the persistent, size-limited, expiring key store |
//! | [`metrics`] | Prometheus text metrics |
//! | [`server`] | routes, limits, bounded evaluation queue, graceful shutdown |
//! | [`client`] | HTTP client and the client's keys (a client session; the secret key stays local) |
//!
//! The payloads (key uploads, encrypted inputs and outputs, the public model) are the
//! sessions' own formats ([`henn_infer::session`]); this crate is the HTTP layer over them.
//! | [`error`] | [`ServeError`] and its HTTP statuses |

#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod metrics;
pub mod model;
pub mod server;
pub mod store;

pub use client::{Client, ClientKeys, Prediction};
pub use error::{ServeError, ServeResult};
pub use model::ServedModel;
pub use server::{start, RunningServer, ServerConfig};
