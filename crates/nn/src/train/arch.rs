//! The architectures `henn train` knows, by name: the LoLa MNIST networks of section 4.3 of
//! Brutzkus et al. (ICML 2019) and a small ReLU CNN for the hybrid (garbled-circuit ReLU)
//! protocol of AutoPrivacy / DELPHI.

use std::fmt;
use std::str::FromStr;

use crate::model::Padding;

/// A trainable network architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// LoLa / CryptoNets MNIST network (LoLa section 4.3): conv 5x5 stride 2 with 5 maps and
    /// top/left padding 1 (28 → 29, so 13x13x5 = 845 outputs), square, dense 845 → 100, square,
    /// dense 100 → 10. The paper reports 98.95%.
    LolaMnist,
    /// LoLa-Small (section 4.3): the same convolution, square, dense 845 → 10. The paper reports
    /// 96.92%.
    LolaSmall,
    /// A small ReLU CNN for the hybrid protocol: the LoLa convolution, ReLU, dense 845 → 100,
    /// ReLU, dense 100 → 10.
    ReluCnn,
    /// LoLa's CIFAR-10 network after collapsing linear layers (section 4.4): 3×32×32 → conv
    /// 8×8 stride 2 with 83 maps (padding 1 on every side: 14×14, 16268 values) → square →
    /// conv 6×6 stride 2 with 163 maps (5×5, 4075 values) → square → dense 10. The paper gives
    /// no padding; 1 on every side is what makes 32 → 14. The paper reports 74.1%.
    LolaCifar10,
}

impl Arch {
    /// Every architecture, in the order `henn train --help` lists them.
    pub const ALL: [Arch; 4] = [
        Arch::LolaMnist,
        Arch::LolaSmall,
        Arch::ReluCnn,
        Arch::LolaCifar10,
    ];

    /// The name used on the command line and in the model file.
    pub fn name(self) -> &'static str {
        match self {
            Arch::LolaMnist => "lola-mnist",
            Arch::LolaSmall => "lola-small",
            Arch::ReluCnn => "relu-cnn",
            Arch::LolaCifar10 => "lola-cifar10",
        }
    }

    /// The input shape, `[channels, height, width]`.
    pub fn input_shape(self) -> [usize; 3] {
        match self {
            Arch::LolaCifar10 => [3, 32, 32],
            _ => [1, 28, 28],
        }
    }

    /// The layers, as a trainable specification.
    pub fn spec(self) -> Vec<LayerSpec> {
        let conv = LayerSpec::Conv {
            out_channels: 5,
            kernel: 5,
            stride: 2,
            padding: LOLA_CONV_PADDING,
        };
        match self {
            Arch::LolaMnist => vec![
                conv,
                LayerSpec::Square,
                LayerSpec::Flatten,
                LayerSpec::Dense { out_features: 100 },
                LayerSpec::Square,
                LayerSpec::Dense { out_features: 10 },
            ],
            Arch::LolaSmall => vec![
                conv,
                LayerSpec::Square,
                LayerSpec::Flatten,
                LayerSpec::Dense { out_features: 10 },
            ],
            Arch::LolaCifar10 => vec![
                LayerSpec::Conv {
                    out_channels: 83,
                    kernel: 8,
                    stride: 2,
                    padding: Padding {
                        top: 1,
                        left: 1,
                        bottom: 1,
                        right: 1,
                    },
                },
                LayerSpec::Square,
                LayerSpec::Conv {
                    out_channels: 163,
                    kernel: 6,
                    stride: 2,
                    padding: Padding::default(),
                },
                LayerSpec::Square,
                LayerSpec::Flatten,
                LayerSpec::Dense { out_features: 10 },
            ],
            Arch::ReluCnn => vec![
                conv,
                LayerSpec::Relu,
                LayerSpec::Flatten,
                LayerSpec::Dense { out_features: 100 },
                LayerSpec::Relu,
                LayerSpec::Dense { out_features: 10 },
            ],
        }
    }
}

/// LoLa's MNIST padding: one row on top, one column on the left (28x28 → 29x29, so a 5x5
/// stride-2 window gives 13x13). Also used by LoLa-Small and the ReLU CNN so that all three
/// share the 845-value hidden layer the paper's representations are built around.
pub const LOLA_CONV_PADDING: Padding = Padding {
    top: 1,
    left: 1,
    bottom: 0,
    right: 0,
};

/// One layer of an architecture, before it has weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// Square convolution with bias.
    Conv {
        /// Output maps.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding of the input.
        padding: Padding,
    },
    /// Fully connected layer with bias.
    Dense {
        /// Output features.
        out_features: usize,
    },
    /// Element-wise square.
    Square,
    /// Element-wise ReLU.
    Relu,
    /// CHW → flat vector.
    Flatten,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Arch::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown architecture {0:?}; known: lola-mnist, lola-small, relu-cnn, lola-cifar10")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownArch(s.to_string()))
    }
}
