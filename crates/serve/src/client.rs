//! The client: HTTP calls to the service (blocking, `ureq`), and the client's key material —
//! secret key (never sent), uploaded key id and the model's public plan — kept in a directory.
//!
//! Key directory layout: `secret.key` (wire kind 4: the 32-byte seed the secret key is derived
//! from; created with mode 0600) and `session.json` (server URL, model, key id, public plan).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use henn_he::bfv::BfvParameters;
use henn_he::rlwe::SecretKey;
use henn_infer::backend::bfv::split::secret_key_from_seed;
use henn_infer::backend::bfv::{BfvCiphertext, BfvCrtBackend};
use henn_infer::backend::SlotBackend;
use henn_ring::Zeroize;
use serde::{Deserialize, Serialize};

use crate::error::{ServeError, ServeResult};
use crate::plan::PublicPlan;
use crate::server::{KeyReceipt, KEY_HEADER};
use crate::wire;

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

    /// `GET /v1/models/{name}`: the public plan, validated.
    pub fn plan(&self, model: &str) -> ServeResult<PublicPlan> {
        if !wire::valid_model_name(model) {
            return Err(ServeError::BadRequest(format!(
                "invalid model name {model:?}"
            )));
        }
        let plan: PublicPlan = self.get_json(&format!("/v1/models/{model}"))?;
        plan.validate()?;
        if plan.model != model {
            return Err(ServeError::malformed(
                "public plan",
                "plan of another model",
            ));
        }
        Ok(plan)
    }

    /// `POST /v1/keys`.
    pub fn upload_keys(&self, upload: &[u8]) -> ServeResult<KeyReceipt> {
        let (status, body) = self.raw("POST", "/v1/keys", &[], Some(upload))?;
        Self::check(status, &body)?;
        serde_json::from_slice(&body).map_err(|e| ServeError::malformed("server answer", e))
    }

    /// `DELETE /v1/keys/{id}`.
    pub fn delete_key(&self, key_id: &str) -> ServeResult<()> {
        let (status, body) = self.raw("DELETE", &format!("/v1/keys/{key_id}"), &[], None)?;
        Self::check(status, &body)
    }

    /// `POST /v1/models/{name}/predict` with an encoded input; returns the encoded output and
    /// the server's timings.
    pub fn predict_bytes(
        &self,
        model: &str,
        key_id: &str,
        input: &[u8],
    ) -> ServeResult<(Vec<u8>, ServerTimings)> {
        let url = format!("{}/v1/models/{model}/predict", self.base);
        let resp = self
            .agent
            .post(&url)
            .header(KEY_HEADER, key_id)
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

/// The 32-byte seed of the secret key, zeroized on drop.
struct SecretSeed([u8; 32]);

impl Drop for SecretSeed {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What `session.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// Server base URL.
    pub server: String,
    /// Model name.
    pub model: String,
    /// Key id of the uploaded evaluation keys.
    pub key_id: String,
    /// The model's public plan when the keys were made.
    pub plan: PublicPlan,
}

/// The client's keys for one model (see the module docs).
pub struct ClientKeys {
    /// Server, model, key id and plan.
    pub session: Session,
    params: Vec<Arc<BfvParameters>>,
    seed: SecretSeed,
    backend: BfvCrtBackend,
    sk: SecretKey,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("model", &self.session.model)
            .field("key_id", &self.session.key_id)
            .finish_non_exhaustive()
    }
}

/// One prediction, with what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// Decrypted integer logits (exact: equal to the quantized model's).
    pub logits: Vec<i128>,
    /// Predicted class (largest logit).
    pub class: usize,
    /// Logits in real units (integer × output scale).
    pub scores: Vec<f64>,
    /// Client: quantize, encode, encrypt, serialize; seconds.
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
    /// Smallest remaining noise budget of the output ciphertexts, bits.
    pub noise_budget_bits: u32,
}

/// The largest value's index (first on ties).
pub fn argmax(v: &[i128]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, i128::MIN),
            |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) },
        )
        .0
}

impl ClientKeys {
    /// Makes a fresh secret key for `plan` and the evaluation keys it needs; returns the keys
    /// (key id still empty) and the upload message for `POST /v1/keys`.
    pub fn generate(server: &str, plan: PublicPlan) -> ServeResult<(Self, Vec<u8>)> {
        let params = plan.validate()?;
        let seed = SecretSeed(henn_ring::sampler::fresh_seed());
        let keys = Self::assemble(
            Session {
                server: server.to_string(),
                model: plan.model.clone(),
                key_id: String::new(),
                plan,
            },
            params,
            seed,
        )?;
        let spec = keys.session.plan.keys.to_key_spec();
        let eval = keys
            .backend
            .make_evaluation_keys(&keys.sk, &spec, &mut henn_ring::sampler::os_rng())
            .map_err(|e| ServeError::Evaluation(e.to_string()))?;
        let upload = wire::encode_evaluation_keys(&keys.session.model, &keys.params[0], &eval)?;
        Ok((keys, upload))
    }

    fn assemble(
        session: Session,
        params: Vec<Arc<BfvParameters>>,
        seed: SecretSeed,
    ) -> ServeResult<Self> {
        let rlwe = params[0].rlwe().clone();
        let sk = secret_key_from_seed(&rlwe, &seed.0);
        let backend = BfvCrtBackend::client(&rlwe, &session.plan.parameters.plaintext_primes, &sk)
            .map_err(|e| ServeError::Evaluation(e.to_string()))?;
        Ok(Self {
            session,
            params,
            seed,
            backend,
            sk,
        })
    }

    /// The BFV parameters (one per plaintext prime).
    pub fn params(&self) -> &[Arc<BfvParameters>] {
        &self.params
    }

    /// Saves `secret.key` (mode 0600) and `session.json` in `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> ServeResult<()> {
        let io = |path: &Path, source| ServeError::Io {
            path: path.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let sk_path = dir.join("secret.key");
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&sk_path).map_err(|e| io(&sk_path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| io(&sk_path, e))?;
        }
        let mut bytes = wire::encode_secret_key(self.params[0].rlwe().fingerprint(), &self.seed.0);
        let written = f.write_all(&bytes).and_then(|()| f.sync_all());
        bytes.zeroize();
        written.map_err(|e| io(&sk_path, e))?;
        let s_path = dir.join("session.json");
        let json = serde_json::to_vec_pretty(&self.session)
            .map_err(|e| ServeError::Client(format!("session: {e}")))?;
        fs::write(&s_path, json).map_err(|e| io(&s_path, e))?;
        Ok(())
    }

    /// Loads keys saved by [`ClientKeys::save`], validating the plan and the key file.
    pub fn load(dir: &Path) -> ServeResult<Self> {
        let io = |path: &Path, source| ServeError::Io {
            path: path.display().to_string(),
            source,
        };
        let s_path = dir.join("session.json");
        let text = fs::read(&s_path).map_err(|e| io(&s_path, e))?;
        if text.len() > 64 << 20 {
            return Err(ServeError::malformed("session.json", "larger than 64 MiB"));
        }
        let session: Session =
            serde_json::from_slice(&text).map_err(|e| ServeError::malformed("session.json", e))?;
        if !crate::store::valid_key_id(&session.key_id) || session.plan.model != session.model {
            return Err(ServeError::malformed(
                "session.json",
                "key id or model invalid",
            ));
        }
        let params = session.plan.validate()?;
        let sk_path = dir.join("secret.key");
        let mut bytes = fs::read(&sk_path).map_err(|e| io(&sk_path, e))?;
        let seed = wire::decode_secret_key(params[0].rlwe().fingerprint(), &bytes);
        bytes.zeroize();
        Self::assemble(session, params, SecretSeed(seed?))
    }

    /// Encrypts a quantized input (`plan.quantize_input`) into a predict body.
    pub fn encrypt(&self, x: &[i128]) -> ServeResult<Vec<u8>> {
        let plan = &self.session.plan;
        let len: usize = plan.input.shape.iter().product();
        if x.len() != len {
            return Err(ServeError::BadRequest(format!(
                "input of {} values, the model expects {len}",
                x.len()
            )));
        }
        let b = &self.backend;
        let ev = |e: &dyn std::fmt::Display| ServeError::Evaluation(e.to_string());
        let cts = plan
            .input
            .placements
            .iter()
            .map(|slots| {
                let mut m = vec![0i128; b.slots()];
                for &(s, i) in slots {
                    m[s] = x[i];
                }
                let pt = b.encode(&m, b.max_level()).map_err(|e| ev(&e))?;
                b.encrypt_seeded(&pt).map_err(|e| ev(&e))
            })
            .collect::<ServeResult<Vec<_>>>()?;
        wire::encode_input(&self.params, &cts)
    }

    /// Decrypts a predict answer into the integer logits; also returns the smallest noise
    /// budget left.
    pub fn decrypt(&self, bytes: &[u8]) -> ServeResult<(Vec<i128>, u32)> {
        let plan = &self.session.plan;
        let b = &self.backend;
        let ev = |e: &dyn std::fmt::Display| ServeError::Evaluation(e.to_string());
        let out = wire::decode_output(&self.params, plan.output.messages, bytes)?;
        let mut budget = u32::MAX;
        let msgs = out
            .into_iter()
            .map(|parts| {
                let ct = BfvCiphertext { parts };
                budget = budget.min(b.noise_budget(&ct));
                b.decode(&b.decrypt(&ct).map_err(|e| ev(&e))?)
                    .map_err(|e| ev(&e))
            })
            .collect::<ServeResult<Vec<_>>>()?;
        let logits =
            plan.output
                .slots
                .iter()
                .map(|&(m, s)| {
                    msgs.get(m).and_then(|v| v.get(s)).copied().ok_or_else(|| {
                        ServeError::malformed("encrypted output", "slot out of range")
                    })
                })
                .collect::<ServeResult<Vec<_>>>()?;
        Ok((logits, budget))
    }

    /// Quantizes, encrypts, asks the server, decrypts.
    pub fn predict(&self, client: &Client, x: &[f32]) -> ServeResult<Prediction> {
        let t0 = Instant::now();
        let xq = self.session.plan.quantize_input(x)?;
        let body = self.encrypt(&xq)?;
        let encrypt_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let (answer, server) =
            client.predict_bytes(&self.session.model, &self.session.key_id, &body)?;
        let round_trip_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let (logits, noise_budget_bits) = self.decrypt(&answer)?;
        let decrypt_s = t0.elapsed().as_secs_f64();
        let scale = self.session.plan.output.scale;
        Ok(Prediction {
            class: argmax(&logits),
            scores: logits.iter().map(|&v| v as f64 * scale).collect(),
            logits,
            encrypt_s,
            round_trip_s,
            server,
            decrypt_s,
            bytes_up: body.len(),
            bytes_down: answer.len(),
            noise_budget_bits,
        })
    }
}
