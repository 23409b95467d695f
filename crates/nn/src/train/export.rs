//! Export of a trained candle [`Net`] to henn's model description ([`Model`]), which the model
//! file format (`henn_nn::model`) saves and every evaluator reads.

use candle_core::Var;

use super::net::{Net, NetLayer};
use super::TrainError;
use crate::model::{Layer, Model, Tensor};

fn tensor(var: &Var) -> Result<Tensor, TrainError> {
    Ok(Tensor {
        shape: var.dims().to_vec(),
        data: var.as_tensor().flatten_all()?.to_vec1::<f32>()?,
    })
}

impl Net {
    /// The network as a [`Model`] named `name`: layer for layer, candle's `[out, in, kh, kw]`
    /// convolution and `[out, in]` dense weights as they are (both row-major like `Model`).
    pub fn to_model(&self, name: &str) -> Result<Model, TrainError> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                Ok(match l {
                    NetLayer::Conv {
                        weight,
                        bias,
                        stride,
                        padding,
                    } => Layer::Conv2d {
                        weight: tensor(weight)?,
                        bias: Some(tensor(bias)?),
                        stride: (*stride, *stride),
                        padding: *padding,
                    },
                    NetLayer::Dense { weight, bias } => Layer::Dense {
                        weight: tensor(weight)?,
                        bias: Some(tensor(bias)?),
                    },
                    NetLayer::Square => Layer::Square,
                    NetLayer::Relu => Layer::Relu,
                    NetLayer::Flatten => Layer::Flatten,
                })
            })
            .collect::<Result<Vec<_>, TrainError>>()?;
        Ok(Model {
            name: name.to_string(),
            input_shape: self.input_shape.to_vec(),
            layers,
        })
    }
}
