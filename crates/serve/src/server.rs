//! The HTTP server (axum routes on hyper HTTP/1 connections, tokio): routes, limits,
//! timeouts, back-pressure, key ownership, graceful shutdown, logs and metrics.
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | liveness and the served models |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//! | `GET /v1/models` | model names |
//! | `GET /v1/models/{name}` | the [`PublicModel`](henn_infer::session::PublicModel) (never weights) |
//! | `POST /v1/keys` | evaluation keys ([`henn_infer::session::wire`]) → [`KeyReceipt`] `{"key_id", "token", "model", "expires", "bytes"}` |
//! | `DELETE /v1/keys/{id}` | forget a key (`authorization: Bearer <token>`) |
//! | `POST /v1/models/{name}/predict` | headers `x-henn-key` and `authorization: Bearer <token>`, body an encrypted input → encrypted output |
//!
//! Every error is JSON `{"error": "..."}` (the framework's own 404/405 and extractor
//! rejections included, by a response-mapping layer): 400 malformed or mismatched input, 401
//! missing or malformed access token, 403 wrong token, 404 unknown model or key, 408 a body
//! not received within [`ServerConfig::body_timeout`], 413 body over its limit (a prediction
//! body may not exceed the model's input size, a key upload its exact layout), 429 a
//! per-client limit, 431 headers over [`ServerConfig::max_header_bytes`], 500 a stored key
//! that failed its integrity check (removed), 503 evaluation queue or upload slots full, 504
//! evaluation not done within [`ServerConfig::request_timeout`], 507 key store full. Only
//! what hyper refuses before a request exists (an unparseable request line, headers beyond
//! its 1 MiB buffer) gets hyper's bare status. Key ids and tokens are never logged (a short
//! hash, [`key_tag`], is) nor echoed.
//!
//! Connections: at most [`ServerConfig::max_connections`] (more are closed at once); a
//! connection must deliver a request's headers within [`ServerConfig::header_timeout`]
//! (half-open, slow-header and idle keep-alive connections are closed then); each client
//! address may have [`ServerConfig::max_requests_per_client`] API requests in flight. Key
//! uploads are checked against the model's exact layout
//! ([`henn_infer::session::KeyUploadLayout`]) as their bytes arrive and refused at the first
//! wrong byte; at most [`ServerConfig::max_concurrent_uploads`] are received at once.
//!
//! Evaluation never runs on the async executor: a fixed pool of worker threads takes jobs from
//! a bounded channel (`try_send`: a full queue is an immediate 503, back-pressure instead of
//! unbounded memory). A job whose caller has gone (disconnected, or timed out with 504) or
//! whose deadline has passed is dropped unevaluated. Each key's server backend (the uploaded
//! keys, deserialized, with the model's prepared plaintexts) is kept in an LRU cache sized by
//! [`ServerConfig::backend_cache`] or by available memory. Graceful shutdown stops accepting,
//! lets running requests finish for at most [`ServerConfig::shutdown_grace`], closes every
//! remaining connection, then stops the workers.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use henn_infer::session::wire::{evaluation_keys_model_prefix, valid_model_name};
use henn_infer::session::{Calibration, CompileOptions, ServerSession};
use henn_nn::data::{load_mnist, Split};
use http_body_util::BodyExt;
use serde::Serialize;
use tokio::sync::{oneshot, Semaphore};

use crate::error::{ServeError, ServeResult};
use crate::metrics::Metrics;
use crate::model::{ServedModel, COMPILED_FILE};
use crate::store::{client_tag, key_tag, valid_key_id, KeyStore, StoreLimits};

/// Header carrying the key id of a prediction.
pub const KEY_HEADER: &str = "x-henn-key";

/// Server configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory of model directories (each with `model.json`).
    pub models_dir: PathBuf,
    /// Models to serve (directory names); empty: every model directory that compiles.
    pub models: Vec<String>,
    /// Key store file.
    pub store_path: PathBuf,
    /// Address to listen on (port 0: an ephemeral port).
    pub addr: SocketAddr,
    /// MNIST-format IDX directory whose training images calibrate models compiled at start
    /// (not read when every model has a compiled file).
    pub calibration_data: PathBuf,
    /// Number of calibration images.
    pub calibration_images: usize,
    /// Compile options for models compiled at start.
    pub compile_options: CompileOptions,
    /// Key store limits.
    pub store_limits: StoreLimits,
    /// Largest evaluation-key upload (a model's uploads have one exact size; this bounds it).
    pub max_key_bytes: u64,
    /// Time limit of a prediction's queue wait and evaluation (504 past it).
    pub request_timeout: Duration,
    /// Time limit for receiving a request body (408 past it).
    pub body_timeout: Duration,
    /// Time limit for receiving a request's headers, from the connection's first read (or
    /// the previous response): half-open, slow and idle connections are closed past it.
    pub header_timeout: Duration,
    /// Most open connections; more are closed at once.
    pub max_connections: usize,
    /// Most API requests in flight per client address (429 beyond; `/health` and
    /// `/metrics` are not counted).
    pub max_requests_per_client: usize,
    /// Most key uploads received at once (503 beyond).
    pub max_concurrent_uploads: usize,
    /// Largest total size of a request's headers (431 beyond).
    pub max_header_bytes: usize,
    /// How long graceful shutdown waits for running requests before closing every
    /// connection.
    pub shutdown_grace: Duration,
    /// Evaluation worker threads.
    pub workers: usize,
    /// Evaluation jobs that may wait for a worker (beyond those running).
    pub queue_capacity: usize,
    /// Server sessions (deserialized keys) kept in memory; `None`: sized by available
    /// memory ([`default_backend_cache`]).
    pub backend_cache: Option<usize>,
    /// Stop on Ctrl-C / SIGTERM (the `henn serve` command); in-process servers stop by
    /// [`RunningServer::shutdown`].
    pub stop_on_signal: bool,
    /// Serve HTTPS with this certificate chain and key (PEM files); `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// The PEM files of [`ServerConfig::tls`]: the certificate chain (leaf first) and its private
/// key (PKCS#8, PKCS#1 or SEC1).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// A rustls server configuration (TLS 1.2 and 1.3, the ring provider's safe defaults, ALPN
/// `http/1.1`) from the PEM files.
fn tls_acceptor(files: &TlsFiles) -> ServeResult<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        ServeError::Config(format!("TLS {what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("certificate", &files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", &files.cert, &e))?;
    if certs.is_empty() {
        return Err(bad(
            "certificate",
            &files.cert,
            &"no certificate in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("key", &files.key, &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ServeError::Config(format!("TLS: {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad("certificate and key", &files.cert, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl ServerConfig {
    /// Defaults for a server of the models in `models_dir` with its store at `store_path`:
    /// loopback on an ephemeral port, 1000 calibration images from `data/mnist`, 128 MiB key
    /// uploads, 120 s evaluations, 60 s bodies, 10 s headers, 256 connections, 8 requests
    /// per client, 2 concurrent uploads, 16 KiB of headers, 3 s shutdown grace, one worker,
    /// a queue of 16, backends cached by available memory.
    pub fn new(models_dir: impl Into<PathBuf>, store_path: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            models: Vec::new(),
            store_path: store_path.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            calibration_data: PathBuf::from("data/mnist"),
            calibration_images: 1000,
            compile_options: CompileOptions::default(),
            store_limits: StoreLimits::default(),
            max_key_bytes: 128 << 20,
            request_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_requests_per_client: 8,
            max_concurrent_uploads: 2,
            max_header_bytes: 16 << 10,
            shutdown_grace: Duration::from_secs(3),
            workers: 1,
            queue_capacity: 16,
            backend_cache: None,
            stop_on_signal: false,
            tls: None,
        }
    }
}

/// Available memory in bytes (`MemAvailable` of `/proc/meminfo`), when known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The default backend cache size: a quarter of the available memory (4 GiB when unknown)
/// divided by the largest backend (twice the largest key upload: the keys' uniform parts
/// are expanded from their seeds in memory), between 1 and 64.
pub fn default_backend_cache(models: &BTreeMap<String, Arc<ServedModel>>) -> usize {
    let per = models
        .values()
        .map(|m| 2 * m.upload_layout.total_bytes())
        .max()
        .unwrap_or(1)
        .max(1);
    let budget = available_memory().unwrap_or(16 << 30) / 4;
    (budget / per).clamp(1, 64) as usize
}

struct Job {
    model: Arc<ServedModel>,
    key_id: String,
    body: Vec<u8>,
    enqueued: Instant,
    deadline: Instant,
    reply: oneshot::Sender<ServeResult<Evaluated>>,
}

struct Evaluated {
    bytes: Vec<u8>,
    queue: Duration,
    eval: Duration,
}

/// LRU cache of per-key server sessions.
struct BackendCache {
    capacity: usize,
    entries: Mutex<Vec<(String, Arc<ServerSession>)>>,
}

impl BackendCache {
    fn get(&self, id: &str) -> Option<Arc<ServerSession>> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let i = e.iter().position(|(k, _)| k == id)?;
        let entry = e.remove(i);
        let b = entry.1.clone();
        e.push(entry);
        Some(b)
    }
    fn insert(&self, id: &str, b: Arc<ServerSession>) {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.retain(|(k, _)| k != id);
        e.push((id.to_string(), b));
        while e.len() > self.capacity.max(1) {
            e.remove(0);
        }
    }
    fn remove(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(k, _)| k != id);
    }
}

struct AppState {
    models: BTreeMap<String, Arc<ServedModel>>,
    store: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    queue: SyncSender<Job>,
    backends: Arc<BackendCache>,
    max_key_bytes: u64,
    request_timeout: Duration,
    body_timeout: Duration,
    max_header_bytes: usize,
    max_requests_per_client: usize,
    uploads: Arc<Semaphore>,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error()
            && status != StatusCode::SERVICE_UNAVAILABLE
            && status != StatusCode::GATEWAY_TIMEOUT
            && status != StatusCode::INSUFFICIENT_STORAGE
        {
            tracing::error!(error = %self, "request failed");
        }
        json_error(status, &self.to_string())
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Loads the models to serve (see [`ServerConfig::models`]).
pub fn load_models(config: &ServerConfig) -> ServeResult<BTreeMap<String, Arc<ServedModel>>> {
    let io = |path: &std::path::Path, source| ServeError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut names: Vec<String> = if config.models.is_empty() {
        let mut v = Vec::new();
        for entry in std::fs::read_dir(&config.models_dir).map_err(|e| io(&config.models_dir, e))? {
            let entry = entry.map_err(|e| io(&config.models_dir, e))?;
            if entry.path().join("model.json").is_file() {
                if let Some(n) = entry.file_name().to_str() {
                    v.push(n.to_string());
                }
            }
        }
        v
    } else {
        config.models.clone()
    };
    names.sort();
    names.dedup();
    // Calibration data is read only when a model has no compiled file.
    let needs_calibration = names
        .iter()
        .any(|n| !config.models_dir.join(n).join(COMPILED_FILE).is_file());
    let calibration = if needs_calibration {
        if config.calibration_images == 0 {
            return Err(ServeError::BadRequest(
                "at least one calibration image is needed".into(),
            ));
        }
        let data = load_mnist(&config.calibration_data, Split::Train).map_err(|e| {
            ServeError::BadRequest(format!(
                "calibration data {}: {e}",
                config.calibration_data.display()
            ))
        })?;
        let len: usize = data.shape.iter().product();
        Some(
            Calibration::from_flat(&data.images, len, config.calibration_images)
                .map_err(ServeError::from)?,
        )
    } else {
        None
    };
    let mut models = BTreeMap::new();
    for name in names {
        if !valid_model_name(&name) {
            return Err(ServeError::BadRequest(format!(
                "invalid model name {name:?}"
            )));
        }
        let t0 = Instant::now();
        match ServedModel::load(
            &config.models_dir.join(&name),
            &name,
            calibration.as_ref(),
            &config.compile_options,
        ) {
            Ok(m) => {
                tracing::info!(model = %name, seconds = t0.elapsed().as_secs_f64(), "model loaded");
                models.insert(name, Arc::new(m));
            }
            Err(e) if config.models.is_empty() => {
                tracing::warn!(model = %name, error = %e, "model skipped");
            }
            Err(e) => return Err(e),
        }
    }
    if models.is_empty() {
        return Err(ServeError::BadRequest(format!(
            "no servable model in {}",
            config.models_dir.display()
        )));
    }
    Ok(models)
}

fn worker_loop(
    rx: Arc<Mutex<Receiver<Job>>>,
    store: Arc<KeyStore>,
    backends: Arc<BackendCache>,
    metrics: Arc<Metrics>,
) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        // Abandoned work: the caller disconnected or timed out (its receiver is dropped), or
        // the deadline passed while queued. Dropped before any evaluation.
        if job.reply.is_closed() || Instant::now() >= job.deadline {
            metrics.cancelled.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        metrics.evaluating.fetch_add(1, Ordering::Relaxed);
        let queue = job.enqueued.elapsed();
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            evaluate_job(&job, &store, &backends)
        }))
        .unwrap_or_else(|_| Err(ServeError::Evaluation("evaluation panicked".into())));
        metrics.evaluating.fetch_sub(1, Ordering::Relaxed);
        let _ = job.reply.send(result.map(|bytes| Evaluated {
            bytes,
            queue,
            eval: t0.elapsed(),
        }));
    }
}

fn evaluate_job(job: &Job, store: &KeyStore, backends: &BackendCache) -> ServeResult<Vec<u8>> {
    let model = &job.model;
    let session = match backends.get(&job.key_id) {
        Some(b) => b,
        None => {
            // The blob's SHA-256 is checked on load: a corrupt key is removed, never used.
            let (record, bytes) = store
                .get(&job.key_id)?
                .ok_or_else(|| ServeError::NotFound("unknown or expired key".into()))?;
            if record.model != model.name {
                return Err(key_for_other_model(&record.model, &model.name));
            }
            let b = Arc::new(model.session(&bytes)?);
            backends.insert(&job.key_id, b.clone());
            b
        }
    };
    Ok(session.run_bytes(&job.body)?)
}

fn key_for_other_model(key_model: &str, model: &str) -> ServeError {
    ServeError::BadRequest(format!(
        "the key was made for model {key_model}, not {model}"
    ))
}

fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads and discards at most `limit` more bytes of `body` for at most `time` (so that a
/// refused client still receives its answer instead of a reset connection).
async fn drain(body: &mut Body, limit: u64, time: Duration) {
    let _ = tokio::time::timeout(time, async {
        let mut total = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(d) = frame.into_data() {
                total += d.len() as u64;
                if total > limit {
                    break;
                }
            }
        }
    })
    .await;
}

/// Time given to a refused client to finish sending its body.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads a body of at most `limit` bytes within `time` (408 past it). A body over the limit
/// is answered 413; when it is at most twice the limit it is read and dropped first, so that
/// the client receives the answer instead of a reset connection (larger ones are refused at
/// once).
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    time: Duration,
    what: &'static str,
) -> ServeResult<Vec<u8>> {
    let announced = announced_length(headers);
    let drain_limit = limit.saturating_mul(2);
    if let Some(len) = announced {
        if len > drain_limit {
            return Err(ServeError::TooLarge {
                what,
                got: len,
                limit,
            });
        }
    }
    let read = async {
        let mut buf = Vec::with_capacity(announced.unwrap_or(0).min(limit) as usize);
        let mut total = 0u64;
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ServeError::BadRequest(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                if total > drain_limit {
                    break;
                }
                if total <= limit {
                    buf.extend_from_slice(&data);
                }
            }
        }
        if total > limit {
            return Err(ServeError::TooLarge {
                what,
                got: total,
                limit,
            });
        }
        Ok(buf)
    };
    tokio::time::timeout(time, read)
        .await
        .map_err(|_| ServeError::SlowClient(time.as_secs()))?
}

fn model_of(st: &AppState, name: &str) -> ServeResult<Arc<ServedModel>> {
    st.models.get(name).cloned().ok_or_else(|| {
        ServeError::NotFound(if valid_model_name(name) {
            format!("unknown model {name:?}")
        } else {
            "unknown model".into()
        })
    })
}

async fn health(State(st): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "models": st.models.keys().collect::<Vec<_>>(),
    }))
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let store = st.store.clone();
    let keys = tokio::task::spawn_blocking(move || store.usage().ok())
        .await
        .ok()
        .flatten();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(keys),
    )
        .into_response()
}

async fn list_models(State(st): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "models": st.models.keys().collect::<Vec<_>>() }))
}

async fn show_model(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ServeError> {
    Ok(Json(model_of(&st, &name)?.public().clone()).into_response())
}

/// Answer to a key upload.
#[derive(Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
pub struct KeyReceipt {
    /// The key id to send with predictions.
    pub key_id: String,
    /// The secret access token to send with predictions and deletion (only its hash is
    /// stored; it is shown once).
    pub token: String,
    /// Model the keys are for.
    pub model: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
    /// Bytes stored.
    pub bytes: u64,
}

impl std::fmt::Debug for KeyReceipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyReceipt")
            .field("key", &key_tag(&self.key_id))
            .field("model", &self.model)
            .field("expires", &self.expires)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// The peer address the connection loop attached to the request.
fn peer(req_ext: &axum::http::Extensions) -> IpAddr {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// Receives a key upload, checking every arriving byte against the model's exact layout;
/// refused at the first byte that contradicts it (then the rest is drained briefly, never
/// stored or decoded).
async fn receive_upload(
    st: &AppState,
    headers: &HeaderMap,
    body: &mut Body,
) -> ServeResult<(Arc<ServedModel>, Vec<u8>)> {
    let announced = announced_length(headers);
    if let Some(len) = announced {
        if len > st.max_key_bytes {
            return Err(ServeError::TooLarge {
                what: "evaluation-key upload",
                got: len,
                limit: st.max_key_bytes,
            });
        }
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut model: Option<Arc<ServedModel>> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ServeError::BadRequest(format!("reading the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() as u64 + data.len() as u64 > st.max_key_bytes {
            return Err(ServeError::TooLarge {
                what: "evaluation-key upload",
                got: buf.len() as u64 + data.len() as u64,
                limit: st.max_key_bytes,
            });
        }
        buf.extend_from_slice(&data);
        if model.is_none() {
            if let Some(name) = evaluation_keys_model_prefix(&buf)? {
                let m = model_of(st, &name)?;
                let want = m.upload_layout.total_bytes();
                if let Some(len) = announced {
                    if len != want {
                        return Err(ServeError::malformed(
                            "evaluation keys",
                            format!(
                                "an upload of {len} bytes; {name}'s keys are exactly {want} bytes"
                            ),
                        ));
                    }
                }
                buf.reserve_exact((want as usize).saturating_sub(buf.len()));
                model = Some(m);
            }
        }
        if let Some(m) = &model {
            m.upload_layout.check_prefix(&buf)?;
        }
    }
    let model = match model {
        Some(m) => m,
        None => {
            evaluation_keys_model_prefix(&buf)?;
            return Err(ServeError::malformed(
                "evaluation keys",
                "truncated before the model name",
            ));
        }
    };
    let want = model.upload_layout.total_bytes();
    if (buf.len() as u64) < want {
        return Err(ServeError::malformed(
            "evaluation keys",
            format!("truncated: {} of {want} bytes", buf.len()),
        ));
    }
    Ok((model, buf))
}

async fn upload_keys(
    State(st): State<Arc<AppState>>,
    req: Request,
) -> Result<Response, ServeError> {
    let owner = client_tag(&peer(req.extensions()));
    let (parts, mut body) = req.into_parts();
    let headers = parts.headers;
    let Ok(_permit) = st.uploads.clone().try_acquire_owned() else {
        drain(&mut body, st.max_key_bytes, DRAIN_TIME).await;
        return Err(ServeError::Busy(st.uploads.available_permits()));
    };
    let received = tokio::time::timeout(st.body_timeout, receive_upload(&st, &headers, &mut body))
        .await
        .map_err(|_| ServeError::SlowClient(st.body_timeout.as_secs()))?;
    let (model, bytes) = match received {
        Ok(x) => x,
        Err(e) => {
            if matches!(e, ServeError::Malformed { .. } | ServeError::NotFound(_)) {
                st.metrics
                    .uploads_refused_early
                    .fetch_add(1, Ordering::Relaxed);
            }
            drain(&mut body, st.max_key_bytes, DRAIN_TIME).await;
            return Err(e);
        }
    };
    let store = st.store.clone();
    let backends = st.backends.clone();
    let receipt = tokio::task::spawn_blocking(move || -> ServeResult<KeyReceipt> {
        // The full decode checks every residue; only then are the keys stored.
        let session = model.session(&bytes)?;
        let new = store.insert(&model.name, &owner, &bytes)?;
        backends.insert(&new.record.id, Arc::new(session));
        tracing::info!(key = %key_tag(&new.record.id), model = %model.name, bytes = new.record.bytes, "keys stored");
        Ok(KeyReceipt {
            key_id: new.record.id.clone(),
            token: new.token.to_string(),
            model: new.record.model,
            expires: new.record.expires,
            bytes: new.record.bytes,
        })
    })
    .await
    .map_err(|e| ServeError::Evaluation(format!("key validation task: {e}")))??;
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

/// The bearer token of `authorization`, if any (`None` also when not text or not a bearer).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::trim)
}

/// Checks the key id and token of a request (off the executor: a store read).
async fn authorize(
    st: &AppState,
    id: &str,
    headers: &HeaderMap,
) -> ServeResult<crate::store::KeyRecord> {
    if !valid_key_id(id) {
        return Err(ServeError::BadRequest(
            "malformed key id (32 hex digits expected)".into(),
        ));
    }
    let token = bearer(headers).map(str::to_string);
    if headers.contains_key(header::AUTHORIZATION) && token.is_none() {
        return Err(ServeError::Unauthorized(
            "authorization must be `Bearer <token>`".into(),
        ));
    }
    let store = st.store.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || store.authorize(&id, token.as_deref()))
        .await
        .map_err(|e| ServeError::Store(e.to_string()))?
}

async fn delete_key(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    authorize(&st, &id, &headers).await?;
    st.backends.remove(&id);
    let store = st.store.clone();
    let id2 = id.clone();
    let existed = tokio::task::spawn_blocking(move || store.delete(&id2))
        .await
        .map_err(|e| ServeError::Store(e.to_string()))??;
    if existed {
        tracing::info!(key = %key_tag(&id), "key deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ServeError::NotFound("unknown or expired key".into()))
    }
}

async fn predict(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    let mut body = body;
    let model = model_of(&st, &name);
    let checked = async {
        let model = model?;
        let key_id = headers
            .get(KEY_HEADER)
            .ok_or_else(|| ServeError::BadRequest(format!("missing header {KEY_HEADER}")))?
            .to_str()
            .map_err(|_| ServeError::BadRequest(format!("header {KEY_HEADER} is not text")))?
            .to_string();
        let record = authorize(&st, &key_id, &headers).await?;
        if record.model != model.name {
            return Err(key_for_other_model(&record.model, &model.name));
        }
        Ok((model, key_id))
    }
    .await;
    let (model, key_id) = match checked {
        Ok(x) => x,
        Err(e) => {
            let limit = st
                .models
                .values()
                .map(|m| m.max_input_bytes() as u64)
                .max()
                .unwrap_or(0);
            drain(&mut body, limit, DRAIN_TIME).await;
            return Err(e);
        }
    };
    let body = read_body(
        &headers,
        body,
        model.max_input_bytes() as u64,
        st.body_timeout,
        "encrypted input",
    )
    .await?;
    let timeout = st.request_timeout;
    let (tx, rx) = oneshot::channel();
    let now = Instant::now();
    let job = Job {
        model,
        key_id,
        body,
        enqueued: now,
        deadline: now + timeout,
        reply: tx,
    };
    st.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
    match st.queue.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            let depth = st.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed) - 1;
            return Err(ServeError::Busy(depth));
        }
        Err(TrySendError::Disconnected(_)) => {
            st.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(ServeError::Evaluation("the server is shutting down".into()));
        }
    }
    // Dropping `rx` (timeout here, or the client gone and this future dropped) tells the
    // worker to skip the job.
    let done = tokio::time::timeout(timeout, rx)
        .await
        .map_err(|_| ServeError::Timeout(timeout.as_secs()))?
        .map_err(|_| ServeError::Evaluation("evaluation worker stopped".into()))??;
    let mut resp = (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        done.bytes,
    )
        .into_response();
    let h = resp.headers_mut();
    for (k, v) in [
        ("x-henn-queue-ms", done.queue.as_secs_f64() * 1e3),
        ("x-henn-eval-ms", done.eval.as_secs_f64() * 1e3),
    ] {
        if let Ok(v) = HeaderValue::from_str(&format!("{v:.1}")) {
            h.insert(k, v);
        }
    }
    Ok(resp)
}

async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().clone();
    let t0 = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    st.metrics.record(&route, status, t0.elapsed());
    tracing::info!(%method, route, status, ms = t0.elapsed().as_secs_f64() * 1e3, "request");
    resp
}

/// Refuses oversized headers (431, without echoing them) and enforces the per-client limit
/// of API requests in flight (429); `/health` and `/metrics` are not counted.
async fn guard(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > st.max_header_bytes {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!(
                "request headers of {header_bytes} bytes exceed the limit of {} bytes",
                st.max_header_bytes
            ),
        );
    }
    let path = req.uri().path();
    if path == "/health" || path == "/metrics" {
        return next.run(req).await;
    }
    let ip = peer(req.extensions());
    {
        let mut m = st.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= st.max_requests_per_client {
            return ServeError::QuotaExceeded(format!(
                "{} requests of this client are in flight, the limit is {}",
                *n, st.max_requests_per_client
            ))
            .into_response();
        }
        *n += 1;
    }
    struct Release<'a>(&'a AppState, IpAddr);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            let mut m = self.0.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.1) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.1);
                }
            }
        }
    }
    let _release = Release(&st, ip);
    next.run(req).await
}

/// Gives every error response without a JSON body (the framework's 404/405, extractor
/// rejections) the JSON error format.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // The framework's texts are short; read at most 1 KiB of them.
    let text = http_body_util::Limited::new(body, 1024)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let message = if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text.chars().take(200).collect()
    };
    let mut out = json_error(status, &message);
    for (k, v) in parts.headers.iter() {
        if k == header::ALLOW {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

async fn not_found() -> ServeError {
    ServeError::NotFound("no such route".into())
}

fn router(st: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(show_model))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/v1/keys", post(upload_keys))
        .route("/v1/keys/{id}", delete(delete_key))
        .route_layer(middleware::from_fn_with_state(st.clone(), observe))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(st.clone(), guard))
        .layer(middleware::from_fn(json_errors))
        .with_state(st)
}

/// A server running on its own thread (and tokio runtime).
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// `"http"` or `"https"`.
    scheme: &'static str,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<ServeResult<()>>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RunningServer {
    /// The base URL, e.g. `http://127.0.0.1:40123` (`https://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Graceful shutdown: stop accepting, finish running requests (within the grace period),
    /// close every connection, stop the workers.
    pub fn shutdown(mut self) -> ServeResult<()> {
        self.stop()
    }

    /// Waits until the server stops by itself (on a signal when
    /// [`ServerConfig::stop_on_signal`]).
    pub fn wait(mut self) -> ServeResult<()> {
        // Keep the stop sender alive while waiting: dropping it would fire the stop signal.
        let _keep_running = self.shutdown.take();
        self.join()
    }

    fn stop(&mut self) -> ServeResult<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join()
    }

    fn join(&mut self) -> ServeResult<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(ServeError::Evaluation("server thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.shutdown.is_some() {
            let _ = self.stop();
        }
    }
}

async fn stop_signal(rx: oneshot::Receiver<()>, on_signal: bool) {
    if !on_signal {
        let _ = rx.await;
        return;
    }
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = rx => {}
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

/// Connection-level settings of [`serve_connections`].
#[derive(Clone)]
struct ConnectionLimits {
    header_timeout: Duration,
    max_connections: usize,
    grace: Duration,
    /// TLS: every accepted connection completes its handshake within `header_timeout`
    /// (or is closed) before hyper reads a request from it.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// hyper's read buffer per connection (bounds a request head; the service refuses headers
/// over [`ServerConfig::max_header_bytes`] itself, in JSON).
const MAX_BUF_BYTES: usize = 1 << 20;

/// The accept loop: each connection is served by hyper's HTTP/1 implementation with a
/// header-read timeout, under a connection limit; on `stop`, listening ends, connections are
/// asked to close after their current request, and after `grace` every one left is closed.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let mut app = app.clone();
                    async move {
                        let resp: Response = tower::Service::call(&mut app, req.map(Body::new))
                            .await
                            .unwrap_or_else(|e: Infallible| match e {});
                        Ok::<_, Infallible>(resp)
                    }
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .max_buf_size(MAX_BUF_BYTES);
                let watcher = graceful.watcher();
                let metrics = metrics.clone();
                metrics.connections.fetch_add(1, Ordering::Relaxed);
                let tls = limits.tls.clone();
                let handshake_limit = limits.header_timeout;
                tasks.spawn(async move {
                    match tls {
                        None => {
                            let conn = http.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn).await;
                        }
                        Some(acceptor) => {
                            match tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await {
                                Ok(Ok(tls_stream)) => {
                                    let conn = http.serve_connection(TokioIo::new(tls_stream), service);
                                    let _ = watcher.watch(conn).await;
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                    }
                    metrics.connections.fetch_sub(1, Ordering::Relaxed);
                    drop(slot);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.grace) => {
            tracing::warn!(open = tasks.len(), "closing the connections left after the grace period");
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Loads the models, opens the key store, starts the workers and the HTTP server on its own
/// thread; returns once it listens.
pub fn start(config: ServerConfig) -> ServeResult<RunningServer> {
    let models = load_models(&config)?;
    start_with_models(config, models)
}

/// As [`start`], with models already loaded (e.g. to restart on the same store quickly).
pub fn start_with_models(
    config: ServerConfig,
    models: BTreeMap<String, Arc<ServedModel>>,
) -> ServeResult<RunningServer> {
    let store = Arc::new(KeyStore::open(
        &config.store_path,
        config.store_limits.clone(),
    )?);
    let metrics = Arc::new(Metrics::new(config.workers.max(1), config.queue_capacity));
    let capacity = config
        .backend_cache
        .unwrap_or_else(|| default_backend_cache(&models));
    tracing::info!(backends = capacity, "backend cache");
    let backends = Arc::new(BackendCache {
        capacity,
        entries: Mutex::new(Vec::new()),
    });
    let (tx, rx) = sync_channel::<Job>(config.queue_capacity);
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..config.workers.max(1))
        .map(|i| {
            let (rx, store, backends, metrics) =
                (rx.clone(), store.clone(), backends.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("henn-eval-{i}"))
                .spawn(move || worker_loop(rx, store, backends, metrics))
                .map_err(|e| ServeError::Evaluation(format!("starting a worker: {e}")))
        })
        .collect::<ServeResult<_>>()?;
    let state = Arc::new(AppState {
        models,
        store,
        metrics: metrics.clone(),
        queue: tx,
        backends,
        max_key_bytes: config.max_key_bytes,
        request_timeout: config.request_timeout,
        body_timeout: config.body_timeout,
        max_header_bytes: config.max_header_bytes,
        max_requests_per_client: config.max_requests_per_client.max(1),
        uploads: Arc::new(Semaphore::new(config.max_concurrent_uploads.max(1))),
        in_flight: Mutex::new(HashMap::new()),
    });
    let io = |e: std::io::Error| ServeError::Io {
        path: config.addr.to_string(),
        source: e,
    };
    let listener = std::net::TcpListener::bind(config.addr).map_err(io)?;
    listener.set_nonblocking(true).map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let on_signal = config.stop_on_signal;
    let limits = ConnectionLimits {
        header_timeout: config.header_timeout,
        max_connections: config.max_connections,
        grace: config.shutdown_grace,
        tls: config.tls.as_ref().map(tls_acceptor).transpose()?,
    };
    let scheme = if limits.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let conn_metrics = metrics.clone();
    let thread = std::thread::Builder::new()
        .name("henn-http".into())
        .spawn(move || -> ServeResult<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| ServeError::Evaluation(format!("tokio runtime: {e}")))?;
            let served = rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                serve_connections(
                    listener,
                    router(state),
                    limits,
                    conn_metrics,
                    stop_signal(stop_rx, on_signal),
                )
                .await;
                Ok::<(), std::io::Error>(())
            });
            // Blocking tasks (a key decode) get one second; the router (and with it the
            // queue's sender) is gone: workers skip what is queued and exit.
            rt.shutdown_timeout(Duration::from_secs(1));
            for w in workers {
                let _ = w.join();
            }
            served.map_err(|e| ServeError::Io {
                path: addr.to_string(),
                source: e,
            })
        })
        .map_err(io)?;
    tracing::info!(%addr, scheme, "listening");
    Ok(RunningServer {
        addr,
        scheme,
        metrics,
        shutdown: Some(stop_tx),
        thread: Some(thread),
    })
}
