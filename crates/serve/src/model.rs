//! A model as the server holds it: its name and its [`CompiledModel`] (scheme, parameters,
//! plan, prepared plaintexts), loaded from a compiled-model file beside the model
//! (`<dir>/compiled.henn`, made by `henn compile`) or compiled at start
//! ([`henn_infer::session::compile`]: calibration, sizing, planner over both schemes).

use std::path::Path;
use std::sync::Arc;

use henn_infer::session::{
    compile, Calibration, CompileOptions, CompiledModel, KeyUploadLayout, PublicModel,
    ServerSession,
};
use henn_nn::model::Model;

use crate::error::{ServeError, ServeResult};

/// File name of a compiled model inside a model directory.
pub const COMPILED_FILE: &str = "compiled.henn";

/// A served model (see the module docs).
pub struct ServedModel {
    /// Name (the model directory's name).
    pub name: String,
    /// The compiled model.
    pub compiled: Arc<CompiledModel>,
    /// The exact shape of a valid key upload (checked as the upload arrives).
    pub upload_layout: KeyUploadLayout,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("compiled", &self.compiled)
            .finish()
    }
}

impl ServedModel {
    /// Loads the model directory `dir`: from its compiled file when present (refused with an
    /// error when it does not match the model or this build), otherwise compiled now with
    /// `calibration` (`None`: a compiled file is required).
    pub fn load(
        dir: &Path,
        name: &str,
        calibration: Option<&Calibration>,
        options: &CompileOptions,
    ) -> ServeResult<Self> {
        let err = |d: String| ServeError::Model {
            model: name.to_string(),
            detail: d,
        };
        let model = Model::load(dir).map_err(|e| err(format!("loading {}: {e}", dir.display())))?;
        let file = dir.join(COMPILED_FILE);
        let compiled = if file.is_file() {
            let bytes = std::fs::read(&file).map_err(|e| ServeError::Io {
                path: file.display().to_string(),
                source: e,
            })?;
            let c = CompiledModel::from_bytes(&bytes, &model).map_err(|e| {
                err(format!(
                    "{}: {e} (compile it again with `henn compile`)",
                    file.display()
                ))
            })?;
            if c.public().model != name {
                return Err(err(format!(
                    "{} was compiled for model {:?}",
                    file.display(),
                    c.public().model
                )));
            }
            c
        } else {
            let calibration = calibration
                .ok_or_else(|| err(format!("no {} and no calibration data", file.display())))?;
            compile(&model, name, calibration, options)
                .map_err(|e| err(format!("compiling: {e}")))?
        };
        let p = compiled.public();
        tracing::info!(
            model = name,
            scheme = p.parameters.name(),
            log_n = p.parameters.log_n(),
            strategy = %p.strategy,
            rotation_keys = p.keys.rotation_steps.len(),
            estimated_ms = p.estimated_ms,
            "model ready"
        );
        let upload_layout = KeyUploadLayout::new(compiled.context(), compiled.public())
            .map_err(|e| err(format!("key requirements: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            compiled: Arc::new(compiled),
            upload_layout,
        })
    }

    /// The public model clients receive.
    pub fn public(&self) -> &PublicModel {
        self.compiled.public()
    }

    /// A server session for an uploaded (and validated) key message.
    pub fn session(&self, key_bytes: &[u8]) -> ServeResult<ServerSession> {
        ServerSession::from_key_bytes(self.compiled.clone(), key_bytes).map_err(ServeError::from)
    }

    /// Upper bound on the bytes of an encrypted input (the predict body limit): per message and
    /// part a length prefix, the engine header, level, scale, seed and one bit-packed
    /// polynomial modulo `Q`.
    pub fn max_input_bytes(&self) -> usize {
        let p = self.public();
        let ctx = self.compiled.context();
        let n = ctx.degree();
        let (q, parts): (Vec<u64>, usize) = match &p.parameters {
            henn_infer::session::SchemeParameters::Bfv {
                q,
                plaintext_primes,
                ..
            } => (q.clone(), plaintext_primes.len()),
            henn_infer::session::SchemeParameters::Ckks { q, .. } => (q.clone(), 1),
        };
        let poly: usize = q
            .iter()
            .map(|m| (n * (64 - m.leading_zeros()) as usize).div_ceil(8))
            .sum();
        16 + p.input.placements.len() * parts * (4 + 16 + 1 + 8 + 32 + poly)
    }
}
