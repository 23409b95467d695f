//! The client: HTTP calls to the service (blocking, `ureq`), and the client's key material —
//! a [`ClientSession`] (secret key, never sent), the uploaded key id and the model's public
//! model — kept in a directory.
//!
//! Key directory layout: `secret.key` (the session's secret-key file: the 32-byte seed the
//! secret key is derived from) and `session.json` (server URL, model, key id, access token,
//! public model), both created with mode 0600 (and set to 0600 when they already exist).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use henn_infer::session::wire::valid_model_name;
use henn_infer::session::{ClientSession, PublicModel};
use serde::{Deserialize, Serialize};

use crate::error::{ServeError, ServeResult};
use crate::server::{KeyReceipt, KEY_HEADER};

/// Largest response body the client reads (an encrypted output or a plan).
pub const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// An HTTP client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

fn transport(e: impl std::fmt::Display) -> ServeError {
    ServeError::Client(e.to_string())
}

/// Timings the server reports with a prediction (response headers).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ServerTimings {
    /// Time waiting in the evaluation queue, seconds.
    pub queue_s: f64,
    /// Evaluation time, seconds.
    pub eval_s: f64,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`) with a time limit
    /// of `timeout` per request.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            agent: config.into(),
        }
    }

    /// As [`Client::new`]; for `https://` URLs the server's certificate must chain to one of
    /// the certificates in the PEM file `ca_cert` (a self-signed server certificate itself,
    /// or its CA) when given, else to the bundled web PKI roots (rustls, ring provider).
    pub fn with_ca_cert(
        base_url: &str,
        timeout: Duration,
        ca_cert: Option<&Path>,
    ) -> ServeResult<Self> {
        let Some(path) = ca_cert else {
            return Ok(Self::new(base_url, timeout));
        };
        let pem = fs::read(path).map_err(|e| ServeError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServeError::Client(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ServeError::Client(format!(
                "{}: no certificate in the file",
                path.display()
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .tls_config(tls)
            .build();
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            agent: config.into(),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn finish(
        &self,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> ServeResult<(u16, ureq::http::HeaderMap, Vec<u8>)> {
        let mut resp = resp.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(transport)?;
        Ok((status, headers, body))
    }

    fn check(status: u16, body: &[u8]) -> ServeResult<()> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        Err(ServeError::Remote { status, message })
    }

    /// A raw request (for tools and tests): method, path, extra headers, body; returns the
    /// status and body whatever the status.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> ServeResult<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            ("POST", b) => {
                let mut r = self.agent.post(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.content_type("application/octet-stream")
                    .send(b.unwrap_or(&[]))
            }
            (m, _) => return Err(ServeError::Client(format!("unsupported method {m}"))),
        };
        let (status, _, body) = self.finish(resp)?;
        Ok((status, body))
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> ServeResult<T> {
        let (status, body) = self.raw("GET", path, &[], None)?;
        Self::check(status, &body)?;
        serde_json::from_slice(&body).map_err(|e| ServeError::malformed("server answer", e))
    }

    /// `GET /health`.
    pub fn health(&self) -> ServeResult<serde_json::Value> {
        self.get_json("/health")
    }

    /// `GET /v1/models`: the model names.
    pub fn models(&self) -> ServeResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Models {
            models: Vec<String>,
        }
        Ok(self.get_json::<Models>("/v1/models")?.models)
    }

    /// `GET /v1/models/{name}`: the public model, validated (128-bit parameters included).
    pub fn public_model(&self, model: &str) -> ServeResult<PublicModel> {
        if !valid_model_name(model) {
            return Err(ServeError::BadRequest(format!(
                "invalid model name {model:?}"
            )));
        }
        let public: PublicModel = self.get_json(&format!("/v1/models/{model}"))?;
        public.validate()?;
        if public.model != model {
            return Err(ServeError::malformed(
                "public model",
                "public model of another model",
            ));
        }
        Ok(public)
    }

    /// `POST /v1/keys`.
    pub fn upload_keys(&self, upload: &[u8]) -> ServeResult<KeyReceipt> {
        let (status, body) = self.raw("POST", "/v1/keys", &[], Some(upload))?;
        Self::check(status, &body)?;
        serde_json::from_slice(&body).map_err(|e| ServeError::malformed("server answer", e))
    }

    /// `DELETE /v1/keys/{id}` with the key's access token.
    pub fn delete_key(&self, key_id: &str, token: &str) -> ServeResult<()> {
        let auth = format!("Bearer {token}");
        let (status, body) = self.raw(
            "DELETE",
            &format!("/v1/keys/{key_id}"),
            &[("authorization", &auth)],
            None,
        )?;
        Self::check(status, &body)
    }

    /// `POST /v1/models/{name}/predict` with an encoded input; returns the encoded output and
    /// the server's timings.
    pub fn predict_bytes(
        &self,
        model: &str,
        key_id: &str,
        token: &str,
        input: &[u8],
    ) -> ServeResult<(Vec<u8>, ServerTimings)> {
        let url = format!("{}/v1/models/{model}/predict", self.base);
        let resp = self
            .agent
            .post(&url)
            .header(KEY_HEADER, key_id)
            .header("authorization", &format!("Bearer {token}"))
            .content_type("application/octet-stream")
            .send(input);
        let (status, headers, body) = self.finish(resp)?;
        Self::check(status, &body)?;
        let ms = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |v| v / 1e3)
        };
        Ok((
            body,
            ServerTimings {
                queue_s: ms("x-henn-queue-ms"),
                eval_s: ms("x-henn-eval-ms"),
            },
        ))
    }
}

/// What `session.json` holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionFile {
    /// Server base URL.
    pub server: String,
    /// Model name.
    pub model: String,
    /// Key id of the uploaded evaluation keys.
    pub key_id: String,
    /// The secret access token of the key (sent with predictions and deletion).
    #[serde(default)]
    pub token: String,
    /// The model's public part when the keys were made.
    pub public: PublicModel,
}

impl std::fmt::Debug for SessionFile {
    /// Without the key id and token (credentials).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFile")
            .field("server", &self.server)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The client's keys for one model (see the module docs).
pub struct ClientKeys {
    /// Server, model, key id and public model.
    pub file: SessionFile,
    session: ClientSession,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("model", &self.file.model)
            .finish_non_exhaustive()
    }
}

/// One prediction, with what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// Predicted class (largest logit).
    pub class: usize,
    /// Logits in real units.
    pub scores: Vec<f64>,
    /// BFV: the exact integer logits (equal to the quantized model's).
    pub integer_logits: Option<Vec<i128>>,
    /// Client: encode, encrypt, serialize; seconds.
    pub encrypt_s: f64,
    /// Client: the HTTP round trip; seconds.
    pub round_trip_s: f64,
    /// Server-reported timings.
    pub server: ServerTimings,
    /// Client: deserialize, decrypt, decode; seconds.
    pub decrypt_s: f64,
    /// Bytes sent.
    pub bytes_up: usize,
    /// Bytes received.
    pub bytes_down: usize,
}

fn write_private(path: &Path, bytes: &[u8]) -> ServeResult<()> {
    let io = |source| ServeError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)
}

impl ClientKeys {
    /// Makes a fresh secret key for `public` and the evaluation keys it needs; returns the keys
    /// (key id still empty) and the upload message for `POST /v1/keys`.
    pub fn generate(server: &str, public: PublicModel) -> ServeResult<(Self, Vec<u8>)> {
        let session = ClientSession::new(public.clone())?;
        let upload = session.evaluation_key_bytes()?;
        Ok((
            Self {
                file: SessionFile {
                    server: server.to_string(),
                    model: public.model.clone(),
                    key_id: String::new(),
                    token: String::new(),
                    public,
                },
                session,
            },
            upload,
        ))
    }

    /// Records the server's receipt of the upload (key id and access token).
    pub fn set_receipt(&mut self, receipt: &KeyReceipt) {
        self.file.key_id = receipt.key_id.clone();
        self.file.token = receipt.token.clone();
    }

    /// The client session.
    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// Saves `secret.key` and `session.json` in `dir` (created if missing), both mode 0600.
    pub fn save(&self, dir: &Path) -> ServeResult<()> {
        fs::create_dir_all(dir).map_err(|e| ServeError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        write_private(&dir.join("secret.key"), &self.session.secret_key_bytes())?;
        let json = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| ServeError::Client(format!("session: {e}")))?;
        write_private(&dir.join("session.json"), &json)
    }

    /// Loads keys saved by [`ClientKeys::save`], validating the public model and the key file.
    pub fn load(dir: &Path) -> ServeResult<Self> {
        let io = |path: &Path, source| ServeError::Io {
            path: path.display().to_string(),
            source,
        };
        let s_path = dir.join("session.json");
        let len = fs::metadata(&s_path).map_err(|e| io(&s_path, e))?.len();
        if len > 64 << 20 {
            return Err(ServeError::malformed("session.json", "larger than 64 MiB"));
        }
        let text = fs::read(&s_path).map_err(|e| io(&s_path, e))?;
        let file: SessionFile =
            serde_json::from_slice(&text).map_err(|e| ServeError::malformed("session.json", e))?;
        if !crate::store::valid_key_id(&file.key_id)
            || !crate::store::valid_token(&file.token)
            || file.public.model != file.model
        {
            return Err(ServeError::malformed(
                "session.json",
                "key id, access token or model invalid (made by an older henn? run keygen again)",
            ));
        }
        let sk_path = dir.join("secret.key");
        let bytes = zeroize::Zeroizing::new(fs::read(&sk_path).map_err(|e| io(&sk_path, e))?);
        let session = ClientSession::from_secret_key_bytes(file.public.clone(), &bytes)
            .map_err(|e| ServeError::malformed("secret.key", e))?;
        Ok(Self { file, session })
    }

    /// Encrypts, asks the server, decrypts.
    pub fn predict(&self, client: &Client, x: &[f32]) -> ServeResult<Prediction> {
        let t0 = Instant::now();
        let body = self.session.encrypt_bytes(x)?;
        let encrypt_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let (answer, server) =
            client.predict_bytes(&self.file.model, &self.file.key_id, &self.file.token, &body)?;
        let round_trip_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let p = self.session.decrypt_bytes(&answer)?;
        let decrypt_s = t0.elapsed().as_secs_f64();
        Ok(Prediction {
            class: p.class,
            scores: p.logits,
            integer_logits: p.integer_logits,
            encrypt_s,
            round_trip_s,
            server,
            decrypt_s,
            bytes_up: body.len(),
            bytes_down: answer.len(),
        })
    }
}
