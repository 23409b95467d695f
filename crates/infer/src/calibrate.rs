//! Range calibration of real networks for CKKS (CKKS17 §3: a message must satisfy
//! `|m|·Δ < q_0/2` at the last level, and its absolute error is what rescaling and key
//! switching add, so values should be neither too large nor too small).
//!
//! Square activations make a network positively homogeneous layer by layer: scaling the output
//! of a linear layer by `c > 0` (weights and bias times `c`, divided by the factor its input
//! already carries) scales the following square by `c²`, which the next linear layer absorbs.
//! [`normalize_ranges`] picks, for every linear layer, the factor that makes its largest
//! absolute output over calibration inputs equal a target; the network's output is then the
//! original output times one positive factor, so the predicted class (argmax) is unchanged.

use crate::error::{InferError, InferResult};
use crate::matrix::Matrix;
use crate::network::{IntLayer, IntNetwork};

/// Largest absolute value after every layer (bias included) over `samples`.
pub fn layer_maxima(net: &IntNetwork<f64>, samples: &[Vec<f64>]) -> InferResult<Vec<f64>> {
    net.validate()?;
    let mut maxima = vec![0.0f64; net.layers.len()];
    for x in samples {
        if x.len() != net.input_len {
            return Err(InferError::ShapeMismatch(format!(
                "calibration input of {}, network expects {}",
                x.len(),
                net.input_len
            )));
        }
        let mut v = x.clone();
        for (i, layer) in net.layers.iter().enumerate() {
            let single = IntNetwork {
                name: String::new(),
                input_len: v.len(),
                layers: vec![layer.clone()],
            };
            v = single.forward(&v)?;
            maxima[i] = v.iter().fold(maxima[i], |m, a| m.max(a.abs()));
        }
    }
    Ok(maxima)
}

/// Rescales every linear layer so that its largest absolute output over `samples` is
/// `target` (see the module docs). Returns the new network and the factor `c > 0` with
/// `new.forward(x) = c · net.forward(x)`.
pub fn normalize_ranges(
    net: &IntNetwork<f64>,
    samples: &[Vec<f64>],
    target: f64,
) -> InferResult<(IntNetwork<f64>, f64)> {
    if !(target.is_finite() && target > 0.0) {
        return Err(InferError::InvalidModel(format!(
            "calibration target {target} must be positive"
        )));
    }
    let maxima = layer_maxima(net, samples)?;
    normalize_with_maxima(net, &maxima, target)
}

/// [`normalize_ranges`] with the per-layer maxima already measured ([`layer_maxima`]): what a
/// compiled model records, so that loading it rebuilds the identical network without the
/// calibration inputs.
pub fn normalize_with_maxima(
    net: &IntNetwork<f64>,
    maxima: &[f64],
    target: f64,
) -> InferResult<(IntNetwork<f64>, f64)> {
    if !(target.is_finite() && target > 0.0) {
        return Err(InferError::InvalidModel(format!(
            "calibration target {target} must be positive"
        )));
    }
    if maxima.len() != net.layers.len() {
        return Err(InferError::ShapeMismatch(format!(
            "{} layer maxima for {} layers",
            maxima.len(),
            net.layers.len()
        )));
    }
    // `carried`: the factor the current value carries relative to the original network.
    let mut carried = 1.0f64;
    let mut layers = Vec::with_capacity(net.layers.len());
    for (layer, &max) in net.layers.iter().zip(maxima) {
        let out_factor = if max > 0.0 && max.is_finite() {
            target / max
        } else {
            1.0
        };
        let new = match layer {
            IntLayer::Square => {
                carried *= carried;
                layers.push(IntLayer::Square);
                continue;
            }
            IntLayer::Conv2d {
                geometry,
                weights,
                bias,
            } => IntLayer::Conv2d {
                geometry: *geometry,
                weights: weights.iter().map(|w| w * out_factor / carried).collect(),
                bias: bias
                    .as_ref()
                    .map(|b| b.iter().map(|v| v * out_factor).collect()),
            },
            IntLayer::Dense { weights, bias } => {
                let data: Vec<f64> = (0..weights.rows())
                    .flat_map(|r| weights.row(r).to_vec())
                    .map(|w| w * out_factor / carried)
                    .collect();
                IntLayer::Dense {
                    weights: Matrix::new(weights.rows(), weights.cols(), data)?,
                    bias: bias
                        .as_ref()
                        .map(|b| b.iter().map(|v| v * out_factor).collect()),
                }
            }
        };
        carried = out_factor;
        layers.push(new);
    }
    let out = IntNetwork {
        name: net.name.clone(),
        input_len: net.input_len,
        layers,
    };
    out.validate()?;
    Ok((out, carried))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::lola_small;

    #[test]
    fn normalized_network_is_a_positive_multiple_with_the_target_range() {
        let net = lola_small::<f64>(3, 5).unwrap();
        let samples: Vec<Vec<f64>> = (0..4)
            .map(|s| {
                (0..net.input_len)
                    .map(|i| ((i * 7 + s * 13) % 17) as f64 / 17.0)
                    .collect()
            })
            .collect();
        let (scaled, c) = normalize_ranges(&net, &samples, 8.0).unwrap();
        assert!(c > 0.0);
        for x in &samples {
            let a = net.forward(x).unwrap();
            let b = scaled.forward(x).unwrap();
            for (u, v) in a.iter().zip(&b) {
                assert!(
                    (u * c - v).abs() <= 1e-9 * v.abs().max(1.0),
                    "{u}·{c} vs {v}"
                );
            }
        }
        let maxima = layer_maxima(&scaled, &samples).unwrap();
        for (layer, m) in scaled.layers.iter().zip(&maxima) {
            if !matches!(layer, IntLayer::Square) {
                assert!((m - 8.0).abs() < 1e-9, "{m}");
            }
        }
        assert!(normalize_ranges(&net, &samples, 0.0).is_err());
    }
}
