//! What both parties agree on: the public network description (no weights), the per-layer HE
//! parameters, the ReLU protocol and their fingerprint; and the server's model (weights
//! included).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::relu::ReluProtocol;
use super::DRIVER_VERSION;
use crate::beaver::BeaverContext;
use crate::error::TwoPcError;
use crate::linear::policy::{choose_encodings, HePolicy, SecurityCheck};
use crate::linear::{LayerHeContext, LayerHeParams, LinearLayer};
use crate::network::{check_ops, Network, PublicOp};
use crate::share::{ShareField, DEFAULT_SHARE_PRIME};

/// Largest serialized public description accepted from the server (bytes).
pub const MAX_DESCRIPTION_BYTES: usize = 4 << 20;

/// The public description of a network: everything but the weights (DELPHI's public model
/// architecture), plus the protocol parameters. Sent by the server in its hello reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicNetwork {
    /// Name.
    pub name: String,
    /// Input `(channels, height, width)`.
    pub input_shape: (usize, usize, usize),
    /// Fractional bits of the input.
    pub input_frac_bits: u32,
    /// Fractional bits of the outputs.
    pub output_frac_bits: u32,
    /// The share prime `p`.
    pub share_prime: u64,
    /// The operations (linear layers by shape and weight bound).
    pub ops: Vec<PublicOp>,
    /// HE parameters of each linear layer, in order.
    pub policy: HePolicy,
    /// HE parameters of the Beaver triples (networks with square layers).
    pub triples: Option<LayerHeParams>,
    /// The ReLU protocol.
    pub relu: ReluProtocol,
    /// ReLUs per protocol chunk (bounds memory and message sizes).
    pub relu_chunk: usize,
}

/// Public description plus everything both parties derive from it.
#[derive(Clone, Debug)]
pub struct ProtocolSpec {
    /// The description.
    pub public: PublicNetwork,
    /// The share field.
    pub field: ShareField,
    /// One HE context per linear layer, in order.
    pub contexts: Vec<LayerHeContext>,
    /// The triple context (if the network squares).
    pub beaver: Option<BeaverContext>,
    /// Distinct ReLU truncation widths, ascending (one ReLU protocol instance each).
    pub relu_fracs: Vec<u32>,
    /// Output length of every op.
    pub lens: Vec<usize>,
    /// SHA-256 of the canonical description.
    pub fingerprint: [u8; 32],
}

impl PublicNetwork {
    /// Canonical bytes (JSON of this struct, fields in declaration order).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The fingerprint both parties compare: SHA-256 over the driver version and the
    /// canonical description.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"henn-2pc-network");
        h.update(DRIVER_VERSION.to_le_bytes());
        h.update(self.to_bytes());
        h.finalize().into()
    }

    /// Input length.
    pub fn input_len(&self) -> usize {
        let (c, h, w) = self.input_shape;
        c.saturating_mul(h).saturating_mul(w)
    }
}

impl ProtocolSpec {
    /// Validates a description (shapes chain and are bounded, the policy names every linear
    /// layer with valid parameters — 128-bit secure unless `check` is the test setting —,
    /// the share prime is the one HE and the circuits use) and derives the contexts.
    pub fn new(public: PublicNetwork, check: SecurityCheck) -> Result<Self, TwoPcError> {
        if public.share_prime != DEFAULT_SHARE_PRIME {
            return Err(TwoPcError::Protocol(format!(
                "share prime {} is not this build's {DEFAULT_SHARE_PRIME}",
                public.share_prime
            )));
        }
        let field = ShareField::new(public.share_prime)?;
        let (c, h, w) = public.input_shape;
        let input_len = c
            .checked_mul(h)
            .and_then(|v| v.checked_mul(w))
            .ok_or_else(|| TwoPcError::Protocol("input shape overflows".into()))?;
        let lens = check_ops(input_len, &public.ops)?;
        if public.relu_chunk == 0 || public.relu_chunk > 1 << 16 {
            return Err(TwoPcError::Protocol(format!(
                "ReLU chunk {} out of 1..=65536",
                public.relu_chunk
            )));
        }
        let mut layers = Vec::new();
        for op in &public.ops {
            if let Some(l) = op.public_layer()? {
                layers.push(l);
            }
        }
        for p in &public.policy.layers {
            if !(10..=16).contains(&p.params.log_n) && check == SecurityCheck::Secure128 {
                return Err(TwoPcError::Protocol(format!(
                    "layer `{}`: ring degree 2^{} out of 2^10..=2^16",
                    p.name, p.params.log_n
                )));
            }
        }
        let refs: Vec<(&str, _)> = layers
            .iter()
            .map(|(n, l)| (n.as_str(), l.clone()))
            .collect();
        let contexts = public.policy.validate(&refs, check)?;
        let squares = public.ops.iter().any(|o| matches!(o, PublicOp::Square));
        let beaver = match (&public.triples, squares) {
            (Some(t), true) => Some(match check {
                SecurityCheck::Secure128 => BeaverContext::new(t)?,
                SecurityCheck::InsecureTest => BeaverContext::new_insecure_test(t)?,
            }),
            (None, true) => {
                return Err(TwoPcError::Protocol(
                    "square layers without triple parameters".into(),
                ))
            }
            _ => None,
        };
        let mut relu_fracs: Vec<u32> = public
            .ops
            .iter()
            .filter_map(|o| match o {
                PublicOp::Relu { frac_bits } => Some(*frac_bits),
                _ => None,
            })
            .collect();
        relu_fracs.sort_unstable();
        relu_fracs.dedup();
        if relu_fracs.iter().any(|&f| f >= field.bits()) {
            return Err(TwoPcError::Protocol(
                "ReLU truncation wider than a share".into(),
            ));
        }
        Ok(Self {
            fingerprint: public.fingerprint(),
            public,
            field,
            contexts,
            beaver,
            relu_fracs,
            lens,
        })
    }

    /// Parses and validates a description received from the server.
    pub fn from_bytes(bytes: &[u8], check: SecurityCheck) -> Result<Self, TwoPcError> {
        if bytes.len() > MAX_DESCRIPTION_BYTES {
            return Err(TwoPcError::Protocol("network description too large".into()));
        }
        let public: PublicNetwork = serde_json::from_slice(bytes)
            .map_err(|e| TwoPcError::Protocol(format!("network description: {e}")))?;
        Self::new(public, check)
    }

    /// Index of the ReLU protocol instance for truncation `frac_bits`.
    pub(crate) fn relu_index(&self, frac_bits: u32) -> Result<usize, TwoPcError> {
        self.relu_fracs
            .binary_search(&frac_bits)
            .map_err(|_| TwoPcError::Config(format!("no ReLU instance for {frac_bits} bits")))
    }
}

/// How the server picks each linear layer's HE parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyChoice {
    /// Every layer the same (DELPHI's uniform configuration).
    Uniform(LayerHeParams),
    /// A given policy (e.g. from a file; AutoPrivacy's per-layer choice).
    Given(HePolicy),
    /// Per layer, the cheapest valid candidate by measured time plus bytes at `bandwidth`
    /// bytes/s ([`choose_encodings`]); measured once when the model is loaded.
    Measured {
        /// Candidate settings.
        candidates: Vec<LayerHeParams>,
        /// Bandwidth for the byte cost (bytes per second).
        bandwidth: f64,
    },
}

impl PolicyChoice {
    /// The default for 128-bit security: measure coefficient and slot encoding at `n = 2^13`
    /// and coefficient encoding at `n = 2^14`, at 1 GB/s (loopback / LAN).
    pub fn measured_default() -> Self {
        PolicyChoice::Measured {
            candidates: vec![
                LayerHeParams::logn13(crate::linear::Encoding::Coefficient),
                LayerHeParams::logn13(crate::linear::Encoding::Slot),
                LayerHeParams {
                    encoding: crate::linear::Encoding::Coefficient,
                    ..LayerHeParams::delphi_default()
                },
                LayerHeParams::delphi_default(),
            ],
            bandwidth: 1e9,
        }
    }
}

/// Options of a server model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelOptions {
    /// HE parameter choice per linear layer.
    pub policy: PolicyChoice,
    /// Triple parameters (networks with square layers).
    pub triples: LayerHeParams,
    /// ReLU protocol.
    pub relu: ReluProtocol,
    /// ReLUs per chunk.
    pub relu_chunk: usize,
    /// Security check of the HE parameters.
    pub check: SecurityCheck,
}

impl Default for ModelOptions {
    /// Measured per-layer encodings ([`PolicyChoice::measured_default`]), triples at
    /// `n = 2^13`, millionaire (OT-comparison) ReLUs in chunks of 4096 (in one run: 9× the
    /// garbled circuit's online speed, 3.4× fewer online bytes), 128-bit security.
    fn default() -> Self {
        Self {
            policy: PolicyChoice::measured_default(),
            triples: LayerHeParams::logn13(crate::linear::Encoding::Slot),
            relu: ReluProtocol::Millionaire,
            relu_chunk: 4096,
            check: SecurityCheck::Secure128,
        }
    }
}

impl ModelOptions {
    /// Small **insecure** HE parameters (`n = 2^7`, coefficient encoding) for tests only.
    pub fn insecure_test() -> Self {
        Self {
            policy: PolicyChoice::Uniform(LayerHeParams::insecure_test(
                crate::linear::Encoding::Coefficient,
            )),
            triples: LayerHeParams::insecure_test(crate::linear::Encoding::Slot),
            relu: ReluProtocol::GarbledCircuit,
            relu_chunk: 256,
            check: SecurityCheck::InsecureTest,
        }
    }
}

/// The server's model: the network with its weights, its public description and contexts.
#[derive(Clone, Debug)]
pub struct ServerModel {
    /// The quantized network.
    pub network: Network,
    /// The agreed description and contexts.
    pub spec: ProtocolSpec,
}

impl ServerModel {
    /// Validates `network`, picks the HE parameters and derives the public description.
    pub fn new(network: Network, options: &ModelOptions) -> Result<Self, TwoPcError> {
        network.validate()?;
        let layers: Vec<(&str, &LinearLayer)> = network.linear_layers();
        let names: Vec<&str> = layers.iter().map(|(n, _)| *n).collect();
        let policy = match &options.policy {
            PolicyChoice::Uniform(p) => HePolicy::uniform(&names, p),
            PolicyChoice::Given(p) => p.clone(),
            PolicyChoice::Measured {
                candidates,
                bandwidth,
            } => choose_encodings(&layers, candidates, *bandwidth, options.check)?.0,
        };
        let squares = network
            .ops
            .iter()
            .any(|o| matches!(o, crate::network::Op::Square));
        let public = PublicNetwork {
            name: network.name.clone(),
            input_shape: network.input_shape,
            input_frac_bits: network.input_frac_bits,
            output_frac_bits: network.output_frac_bits,
            share_prime: DEFAULT_SHARE_PRIME,
            ops: network.ops.iter().map(|o| o.public()).collect(),
            policy,
            triples: squares.then(|| options.triples.clone()),
            relu: options.relu,
            relu_chunk: options.relu_chunk,
        };
        let spec = ProtocolSpec::new(public, options.check)
            .map_err(|e| TwoPcError::Config(e.to_string()))?;
        Ok(Self { network, spec })
    }
}
