//! The HTTP server (axum on tokio): routes, body limits, timeouts, back-pressure, graceful
//! shutdown, logs and metrics.
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | liveness and the served models |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//! | `GET /v1/models` | model names |
//! | `GET /v1/models/{name}` | the [`PublicPlan`](crate::plan::PublicPlan) (never weights) |
//! | `POST /v1/keys` | evaluation keys ([`crate::wire`]) → `{"key_id", "model", "expires", "bytes"}` |
//! | `DELETE /v1/keys/{id}` | forget a key |
//! | `POST /v1/models/{name}/predict` | header `x-henn-key`, body an encrypted input → encrypted output |
//!
//! Errors are JSON `{"error": "..."}`: 400 malformed or mismatched input, 404 unknown model or
//! key, 413 body over its limit (a prediction body may not exceed the model's input size, a
//! key upload `max_key_bytes`), 503 evaluation queue full, 504 timeout, 507 key store full.
//!
//! Evaluation never runs on the async executor: a fixed pool of worker threads takes jobs from
//! a bounded channel (`try_send`: a full queue is an immediate 503, back-pressure instead of
//! unbounded memory). Each key's server backend (the uploaded keys, deserialized, with the
//! model's prepared plaintexts) is kept in a small LRU cache. Graceful shutdown stops
//! accepting connections, lets running requests finish, then stops the workers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use henn_infer::backend::bfv::split::required_galois_elements;
use henn_infer::backend::bfv::BfvCrtBackend;
use henn_nn::data::{load_mnist, Split};
use http_body_util::BodyExt;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::{ServeError, ServeResult};
use crate::metrics::Metrics;
use crate::model::{ModelOptions, ServedModel};
use crate::store::{valid_key_id, KeyStore, StoreLimits};
use crate::wire;

/// Header carrying the key id of a prediction.
pub const KEY_HEADER: &str = "x-henn-key";

/// Server configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory of model directories (each with `model.json`).
    pub models_dir: PathBuf,
    /// Models to serve (directory names); empty: every model that plans for BFV.
    pub models: Vec<String>,
    /// Key store file.
    pub store_path: PathBuf,
    /// Address to listen on (port 0: an ephemeral port).
    pub addr: SocketAddr,
    /// MNIST-format IDX directory whose training images size the plaintext modulus.
    pub calibration_data: PathBuf,
    /// Number of calibration images.
    pub calibration_images: usize,
    /// Sizing and planning options.
    pub model_options: ModelOptions,
    /// Key store limits.
    pub store_limits: StoreLimits,
    /// Largest evaluation-key upload.
    pub max_key_bytes: u64,
    /// Time limit of a request (body, queue and evaluation).
    pub request_timeout: Duration,
    /// Evaluation worker threads.
    pub workers: usize,
    /// Evaluation jobs that may wait for a worker (beyond those running).
    pub queue_capacity: usize,
    /// Server backends (deserialized keys) kept in memory.
    pub backend_cache: usize,
    /// Stop on Ctrl-C / SIGTERM (the `henn serve` command); in-process servers stop by
    /// [`RunningServer::shutdown`].
    pub stop_on_signal: bool,
}

impl ServerConfig {
    /// Defaults for a server of the models in `models_dir` with its store at `store_path`:
    /// loopback on an ephemeral port, 1000 calibration images from `data/mnist`, 128 MiB key
    /// uploads, 120 s requests, one worker, a queue of 16, 8 cached backends.
    pub fn new(models_dir: impl Into<PathBuf>, store_path: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            models: Vec::new(),
            store_path: store_path.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            calibration_data: PathBuf::from("data/mnist"),
            calibration_images: 1000,
            model_options: ModelOptions::default(),
            store_limits: StoreLimits::default(),
            max_key_bytes: 128 << 20,
            request_timeout: Duration::from_secs(120),
            workers: 1,
            queue_capacity: 16,
            backend_cache: 8,
            stop_on_signal: false,
        }
    }
}

struct Job {
    model: Arc<ServedModel>,
    key_id: String,
    body: Vec<u8>,
    enqueued: Instant,
    reply: oneshot::Sender<ServeResult<Evaluated>>,
}

struct Evaluated {
    bytes: Vec<u8>,
    queue: Duration,
    eval: Duration,
}

/// LRU cache of per-key server backends.
struct BackendCache {
    capacity: usize,
    entries: Mutex<Vec<(String, Arc<BfvCrtBackend>)>>,
}

impl BackendCache {
    fn get(&self, id: &str) -> Option<Arc<BfvCrtBackend>> {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let i = e.iter().position(|(k, _)| k == id)?;
        let entry = e.remove(i);
        let b = entry.1.clone();
        e.push(entry);
        Some(b)
    }
    fn insert(&self, id: &str, b: Arc<BfvCrtBackend>) {
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
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "request failed");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
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
    let count = config.calibration_images.min(data.labels.len());
    let images: Vec<&[f32]> = (0..count)
        .map(|i| &data.images[i * len..(i + 1) * len])
        .collect();
    let mut models = BTreeMap::new();
    for name in names {
        if !wire::valid_model_name(&name) {
            return Err(ServeError::BadRequest(format!(
                "invalid model name {name:?}"
            )));
        }
        let t0 = Instant::now();
        match ServedModel::load(
            &config.models_dir.join(&name),
            &name,
            &images,
            &config.model_options,
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
    let input = wire::decode_input(&model.params, model.plan.input.messages(), &job.body)?;
    let backend = match backends.get(&job.key_id) {
        Some(b) => b,
        None => {
            let (record, bytes) = store
                .get(&job.key_id)?
                .ok_or_else(|| ServeError::NotFound(format!("unknown key id {}", job.key_id)))?;
            if record.model != model.name {
                return Err(key_for_other_model(&job.key_id, &record.model, &model.name));
            }
            let (_, keys) = wire::decode_evaluation_keys(&model.params[0], &bytes)?;
            let b = model.backend(keys)?;
            backends.insert(&job.key_id, b.clone());
            b
        }
    };
    let out = model.evaluate(&backend, &input)?;
    wire::encode_output(&model.params, &out)
}

fn key_for_other_model(id: &str, key_model: &str, model: &str) -> ServeError {
    ServeError::BadRequest(format!(
        "key {id} was made for model {key_model}, not {model}"
    ))
}

/// Reads a body of at most `limit` bytes. A body over the limit is answered 413; when it is
/// at most twice the limit it is read and dropped first, so that the client receives the
/// answer instead of a reset connection (larger ones are refused at once).
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    what: &'static str,
) -> ServeResult<Vec<u8>> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
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
    let mut buf = Vec::with_capacity(announced.unwrap_or(0).min(limit) as usize);
    let mut total = 0u64;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ServeError::BadRequest(format!("reading the body: {e}")))?;
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
}

fn model_of(st: &AppState, name: &str) -> ServeResult<Arc<ServedModel>> {
    st.models
        .get(name)
        .cloned()
        .ok_or_else(|| ServeError::NotFound(format!("unknown model {name:?}")))
}

async fn health(State(st): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "models": st.models.keys().collect::<Vec<_>>(),
    }))
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let keys = st.store.usage().ok();
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
    Ok(Json(model_of(&st, &name)?.public.clone()).into_response())
}

/// Answer to a key upload.
#[derive(Debug, Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
pub struct KeyReceipt {
    /// The key id to send with predictions.
    pub key_id: String,
    /// Model the keys are for.
    pub model: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
    /// Bytes stored.
    pub bytes: u64,
}

async fn upload_keys(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    let bytes = tokio::time::timeout(
        st.request_timeout,
        read_body(&headers, body, st.max_key_bytes, "evaluation-key upload"),
    )
    .await
    .map_err(|_| ServeError::Timeout(st.request_timeout.as_secs()))??;
    let name = wire::evaluation_keys_model(&bytes)?;
    let model = model_of(&st, &name)?;
    let store = st.store.clone();
    let backends = st.backends.clone();
    let receipt = tokio::task::spawn_blocking(move || -> ServeResult<KeyReceipt> {
        let (_, keys) = wire::decode_evaluation_keys(&model.params[0], &bytes)?;
        let have = keys.galois.elements();
        let missing: Vec<usize> = required_galois_elements(&model.params[0], &model.keys)
            .into_iter()
            .filter(|g| !have.contains(g))
            .collect();
        if !missing.is_empty() {
            return Err(ServeError::BadRequest(format!(
                "Galois keys missing for elements {missing:?} needed by the plan of {}",
                model.name
            )));
        }
        if model.keys.relinearization && keys.relinearization.is_none() {
            return Err(ServeError::BadRequest(format!(
                "the plan of {} needs a relinearization key",
                model.name
            )));
        }
        let record = store.insert(&model.name, &bytes)?;
        let backend = model.backend(keys)?;
        backends.insert(&record.id, backend);
        tracing::info!(key = %record.id, model = %model.name, bytes = record.bytes, "keys stored");
        Ok(KeyReceipt {
            key_id: record.id,
            model: record.model,
            expires: record.expires,
            bytes: record.bytes,
        })
    })
    .await
    .map_err(|e| ServeError::Evaluation(format!("key validation task: {e}")))??;
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

async fn delete_key(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ServeError> {
    if !valid_key_id(&id) {
        return Err(ServeError::BadRequest(format!("malformed key id {id:?}")));
    }
    st.backends.remove(&id);
    let store = st.store.clone();
    let id2 = id.clone();
    let existed = tokio::task::spawn_blocking(move || store.delete(&id2))
        .await
        .map_err(|e| ServeError::Store(e.to_string()))??;
    if existed {
        tracing::info!(key = %id, "key deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ServeError::NotFound(format!("unknown key id {id}")))
    }
}

async fn predict(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    let timeout = st.request_timeout;
    tokio::time::timeout(timeout, predict_inner(st, name, headers, body))
        .await
        .map_err(|_| ServeError::Timeout(timeout.as_secs()))?
}

async fn predict_inner(
    st: Arc<AppState>,
    name: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServeError> {
    let model = model_of(&st, &name)?;
    // The body first (bounded): answers below then reach the client instead of a reset.
    let body = read_body(
        &headers,
        body,
        model.public.input_bytes as u64,
        "encrypted input",
    )
    .await?;
    let key_id = headers
        .get(KEY_HEADER)
        .ok_or_else(|| ServeError::BadRequest(format!("missing header {KEY_HEADER}")))?
        .to_str()
        .map_err(|_| ServeError::BadRequest(format!("header {KEY_HEADER} is not text")))?
        .to_string();
    if !valid_key_id(&key_id) {
        return Err(ServeError::BadRequest(format!(
            "malformed key id {key_id:?} (32 hex digits expected)"
        )));
    }
    let store = st.store.clone();
    let id = key_id.clone();
    let record = tokio::task::spawn_blocking(move || store.record(&id))
        .await
        .map_err(|e| ServeError::Store(e.to_string()))??
        .ok_or_else(|| ServeError::NotFound(format!("unknown or expired key id {key_id}")))?;
    if record.model != model.name {
        return Err(key_for_other_model(&key_id, &record.model, &model.name));
    }
    let (tx, rx) = oneshot::channel();
    let job = Job {
        model,
        key_id,
        body,
        enqueued: Instant::now(),
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
    let done = rx
        .await
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
        .with_state(st)
}

/// A server running on its own thread (and tokio runtime).
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
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
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown: stop accepting, finish running requests, stop the workers.
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
    let backends = Arc::new(BackendCache {
        capacity: config.backend_cache,
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
                axum::serve(listener, router(state))
                    .with_graceful_shutdown(stop_signal(stop_rx, on_signal))
                    .await
            });
            // The router (and with it the queue's sender) is gone: workers finish and exit.
            for w in workers {
                let _ = w.join();
            }
            served.map_err(|e| ServeError::Io {
                path: addr.to_string(),
                source: e,
            })
        })
        .map_err(io)?;
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        metrics,
        shutdown: Some(stop_tx),
        thread: Some(thread),
    })
}
