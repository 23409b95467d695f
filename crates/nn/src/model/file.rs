//! The model directory format: `model.json` (architecture) and `weights.safetensors` (f32
//! tensors).
//!
//! ```text
//! models/NAME/
//!   model.json          {"format": "henn-model", "version": 1, "name": ..., "input_shape": [1, 28, 28],
//!                        "layers": [{"kind": "conv2d", "stride": [2, 2],
//!                                    "padding": {"top": 1, "left": 1, "bottom": 0, "right": 0},
//!                                    "weight": {"name": "layers.0.weight", "shape": [5, 1, 5, 5]},
//!                                    "bias": {"name": "layers.0.bias", "shape": [5]}}, ...]}
//!   weights.safetensors every tensor named in model.json, dtype F32
//! ```
//!
//! Layer kinds: `conv2d` (stride, padding, weight, bias?), `dense` (weight, bias?), `square`,
//! `relu`, `avg_pool` / `sum_pool` (kernel, stride, padding), `flatten`, `batch_norm` (eps,
//! gamma, beta, mean, var). Loading checks the format name and version, the layer kinds, that
//! each tensor exists with dtype F32 and the declared shape, the shapes layer by layer
//! ([`Model::output_shapes`]) and that every value is finite. Files are size-limited before
//! they are read and the safetensors header is checked against the file length, so a hostile
//! file cannot trigger a large allocation.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Layer, Model, ModelError, Padding, Tensor};

/// The `format` field of `model.json`.
pub const FORMAT_NAME: &str = "henn-model";
/// The `version` field of `model.json` this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// File name of the architecture inside a model directory.
pub const MODEL_JSON: &str = "model.json";
/// File name of the weights inside a model directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// Largest `model.json` accepted (bytes).
const MAX_JSON_BYTES: u64 = 16 << 20;
/// Largest weights file accepted (bytes).
const MAX_WEIGHTS_BYTES: u64 = 4 << 30;

const KINDS: [&str; 8] = [
    "conv2d",
    "dense",
    "square",
    "relu",
    "avg_pool",
    "sum_pool",
    "flatten",
    "batch_norm",
];

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelJson {
    format: String,
    version: u64,
    name: String,
    input_shape: Vec<usize>,
    layers: Vec<Value>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TensorRef {
    name: String,
    shape: Vec<usize>,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct PaddingJson {
    top: usize,
    left: usize,
    bottom: usize,
    right: usize,
}

impl From<Padding> for PaddingJson {
    fn from(p: Padding) -> Self {
        Self {
            top: p.top,
            left: p.left,
            bottom: p.bottom,
            right: p.right,
        }
    }
}

impl From<PaddingJson> for Padding {
    fn from(p: PaddingJson) -> Self {
        Self {
            top: p.top,
            left: p.left,
            bottom: p.bottom,
            right: p.right,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum LayerJson {
    Conv2d {
        stride: [usize; 2],
        padding: PaddingJson,
        weight: TensorRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bias: Option<TensorRef>,
    },
    Dense {
        weight: TensorRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bias: Option<TensorRef>,
    },
    Square,
    Relu,
    AvgPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: PaddingJson,
    },
    SumPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: PaddingJson,
    },
    Flatten,
    BatchNorm {
        eps: f32,
        gamma: TensorRef,
        beta: TensorRef,
        mean: TensorRef,
        var: TensorRef,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a whole file after checking its size against `limit`.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ModelError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let size = file.metadata().map_err(io_err(path))?.len();
    if size > limit {
        return Err(ModelError::FileTooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > limit {
        return Err(ModelError::FileTooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

fn tensor_name(index: usize, role: &str) -> String {
    format!("layers.{index}.{role}")
}

impl Model {
    /// Writes the model to directory `dir` (created if missing) as `model.json` and
    /// `weights.safetensors`. The model is validated first ([`Model::validate`]).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), ModelError> {
        let dir = dir.as_ref();
        self.validate()?;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut add = |index: usize, role: &str, t: &Tensor| -> TensorRef {
            let name = tensor_name(index, role);
            let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.insert(name.clone(), (t.shape.clone(), bytes));
            TensorRef {
                name,
                shape: t.shape.clone(),
            }
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let lj = match layer {
                Layer::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                } => LayerJson::Conv2d {
                    stride: [stride.0, stride.1],
                    padding: (*padding).into(),
                    weight: add(i, "weight", weight),
                    bias: bias.as_ref().map(|b| add(i, "bias", b)),
                },
                Layer::Dense { weight, bias } => LayerJson::Dense {
                    weight: add(i, "weight", weight),
                    bias: bias.as_ref().map(|b| add(i, "bias", b)),
                },
                Layer::Square => LayerJson::Square,
                Layer::Relu => LayerJson::Relu,
                Layer::AvgPool {
                    kernel,
                    stride,
                    padding,
                } => LayerJson::AvgPool {
                    kernel: [kernel.0, kernel.1],
                    stride: [stride.0, stride.1],
                    padding: (*padding).into(),
                },
                Layer::SumPool {
                    kernel,
                    stride,
                    padding,
                } => LayerJson::SumPool {
                    kernel: [kernel.0, kernel.1],
                    stride: [stride.0, stride.1],
                    padding: (*padding).into(),
                },
                Layer::Flatten => LayerJson::Flatten,
                Layer::BatchNorm {
                    gamma,
                    beta,
                    mean,
                    var,
                    eps,
                } => LayerJson::BatchNorm {
                    eps: *eps,
                    gamma: add(i, "gamma", gamma),
                    beta: add(i, "beta", beta),
                    mean: add(i, "mean", mean),
                    var: add(i, "var", var),
                },
            };
            layers.push(serde_json::to_value(lj).map_err(|e| ModelError::Json(e.to_string()))?);
        }
        let json = ModelJson {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            name: self.name.clone(),
            input_shape: self.input_shape.clone(),
            layers,
        };
        let text =
            serde_json::to_string_pretty(&json).map_err(|e| ModelError::Json(e.to_string()))?;
        let json_path = dir.join(MODEL_JSON);
        std::fs::write(&json_path, text + "\n").map_err(io_err(&json_path))?;

        let mut views = Vec::with_capacity(tensors.len());
        for (name, (shape, bytes)) in &tensors {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| ModelError::Safetensors(e.to_string()))?;
            views.push((name.clone(), view));
        }
        let weights_path = dir.join(WEIGHTS_FILE);
        safetensors::serialize_to_file(views, None, &weights_path)
            .map_err(|e| ModelError::Safetensors(e.to_string()))?;
        Ok(())
    }

    /// Reads and validates a model directory written by [`Model::save`] (or by hand / by
    /// `henn train` / `henn import` in the same format).
    pub fn load(dir: impl AsRef<Path>) -> Result<Model, ModelError> {
        let dir = dir.as_ref();
        let json_path: PathBuf = dir.join(MODEL_JSON);
        let text = read_limited(&json_path, MAX_JSON_BYTES)?;
        let value: Value =
            serde_json::from_slice(&text).map_err(|e| ModelError::Json(e.to_string()))?;
        let format = value.get("format").and_then(Value::as_str).unwrap_or("");
        if format != FORMAT_NAME {
            return Err(ModelError::UnknownFormat {
                found: format.to_string(),
                expected: FORMAT_NAME,
            });
        }
        match value.get("version").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(ModelError::UnsupportedVersion {
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            None => {
                return Err(ModelError::Json(
                    "missing or non-integer \"version\"".into(),
                ))
            }
        }
        let mj: ModelJson =
            serde_json::from_value(value).map_err(|e| ModelError::Json(e.to_string()))?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = read_limited(&weights_path, MAX_WEIGHTS_BYTES)?;
        let st =
            SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;

        let mut layers = Vec::with_capacity(mj.layers.len());
        for (index, lv) in mj.layers.into_iter().enumerate() {
            let kind = lv.get("kind").and_then(Value::as_str).unwrap_or("");
            let Some(&kind) = KINDS.iter().find(|k| **k == kind) else {
                return Err(ModelError::UnknownLayerKind {
                    index,
                    kind: kind.to_string(),
                });
            };
            let lj: LayerJson = serde_json::from_value(lv)
                .map_err(|e| ModelError::layer(index, kind, e.to_string()))?;
            let get = |r: &TensorRef| -> Result<Tensor, ModelError> {
                let bad = |reason: String| ModelError::BadTensor {
                    index,
                    kind,
                    name: r.name.clone(),
                    reason,
                };
                let view = st
                    .tensor(&r.name)
                    .map_err(|_| bad("missing from weights.safetensors".into()))?;
                if view.dtype() != Dtype::F32 {
                    return Err(bad(format!("dtype {:?}, expected F32", view.dtype())));
                }
                if view.shape() != r.shape.as_slice() {
                    return Err(bad(format!(
                        "shape {:?} in weights.safetensors, {:?} in model.json",
                        view.shape(),
                        r.shape
                    )));
                }
                let data: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Tensor::new(r.shape.clone(), data).map_err(|e| bad(e.to_string()))
            };
            let layer = match lj {
                LayerJson::Conv2d {
                    stride,
                    padding,
                    weight,
                    bias,
                } => Layer::Conv2d {
                    weight: get(&weight)?,
                    bias: bias.as_ref().map(get).transpose()?,
                    stride: (stride[0], stride[1]),
                    padding: padding.into(),
                },
                LayerJson::Dense { weight, bias } => Layer::Dense {
                    weight: get(&weight)?,
                    bias: bias.as_ref().map(get).transpose()?,
                },
                LayerJson::Square => Layer::Square,
                LayerJson::Relu => Layer::Relu,
                LayerJson::AvgPool {
                    kernel,
                    stride,
                    padding,
                } => Layer::AvgPool {
                    kernel: (kernel[0], kernel[1]),
                    stride: (stride[0], stride[1]),
                    padding: padding.into(),
                },
                LayerJson::SumPool {
                    kernel,
                    stride,
                    padding,
                } => Layer::SumPool {
                    kernel: (kernel[0], kernel[1]),
                    stride: (stride[0], stride[1]),
                    padding: padding.into(),
                },
                LayerJson::Flatten => Layer::Flatten,
                LayerJson::BatchNorm {
                    eps,
                    gamma,
                    beta,
                    mean,
                    var,
                } => Layer::BatchNorm {
                    gamma: get(&gamma)?,
                    beta: get(&beta)?,
                    mean: get(&mean)?,
                    var: get(&var)?,
                    eps,
                },
            };
            layers.push(layer);
        }
        let model = Model {
            name: mj.name,
            input_shape: mj.input_shape,
            layers,
        };
        model.validate()?;
        Ok(model)
    }
}
