//! Per-layer HE policy files and the encoding chooser.
//!
//! A policy names each linear layer's [`LayerHeParams`] (AutoPrivacy's per-layer knob; the
//! DELPHI-style uniform default gives every layer [`LayerHeParams::delphi_default`]). JSON
//! format:
//!
//! ```json
//! { "version": 1,
//!   "layers": [ { "name": "conv1",
//!                 "params": { "log_n": 13, "q_bits": [54, 54, 54], "p_bits": [55],
//!                             "plaintext_modulus": 2199021813761, "encoding": "coefficient",
//!                             "dnum": 3 } } ] }
//! ```
//!
//! [`HePolicy::validate`] builds every layer's [`LayerHeContext`]: 128-bit security per the
//! engine, plaintext modulus = share prime, packing fits, worst-case noise plus flooding within
//! the budget ([`super::params`]); the first failure is reported with the layer's name.
//! [`choose_encodings`] runs each candidate setting once on the layer (client and server in one
//! process) and keeps the cheapest by measured time plus bytes at a given bandwidth.

use super::layer::LinearLayer;
use super::params::{Encoding, LayerHeContext, LayerHeParams, PublicLayer};
use super::{LinearClient, LinearServer, OfflineRequest, OfflineResponse};
use crate::error::TwoPcError;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The policy file format version.
pub const POLICY_VERSION: u32 = 1;

/// One layer's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPolicy {
    /// The layer's name in the network.
    pub name: String,
    /// Its HE parameters.
    pub params: LayerHeParams,
}

/// HE parameters for every linear layer of a network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HePolicy {
    /// Format version ([`POLICY_VERSION`]).
    pub version: u32,
    /// One entry per linear layer, in network order.
    pub layers: Vec<LayerPolicy>,
}

/// Whether contexts are built with the engine's 128-bit check (always, except in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityCheck {
    /// Refuse anything below 128-bit security.
    Secure128,
    /// **Insecure**, for tests with small parameters only.
    InsecureTest,
}

fn context(
    layer: &PublicLayer,
    params: &LayerHeParams,
    check: SecurityCheck,
) -> Result<LayerHeContext, TwoPcError> {
    match check {
        SecurityCheck::Secure128 => LayerHeContext::new(layer, params),
        SecurityCheck::InsecureTest => LayerHeContext::new_insecure_test(layer, params),
    }
}

impl HePolicy {
    /// The DELPHI-style uniform default: every layer gets `params`.
    pub fn uniform(names: &[&str], params: &LayerHeParams) -> Self {
        Self {
            version: POLICY_VERSION,
            layers: names
                .iter()
                .map(|n| LayerPolicy {
                    name: n.to_string(),
                    params: params.clone(),
                })
                .collect(),
        }
    }

    /// Parses a policy (JSON); the version must be [`POLICY_VERSION`].
    pub fn from_json(text: &str) -> Result<Self, TwoPcError> {
        let p: Self = serde_json::from_str(text)
            .map_err(|e| TwoPcError::Config(format!("policy file: {e}")))?;
        if p.version != POLICY_VERSION {
            return Err(TwoPcError::Config(format!(
                "policy version {} (this build reads version {POLICY_VERSION})",
                p.version
            )));
        }
        Ok(p)
    }

    /// Writes the policy as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates the policy for the network's linear layers `(name, public layer)` in order and
    /// returns their contexts.
    pub fn validate(
        &self,
        layers: &[(&str, PublicLayer)],
        check: SecurityCheck,
    ) -> Result<Vec<LayerHeContext>, TwoPcError> {
        if layers.len() != self.layers.len() {
            return Err(TwoPcError::Config(format!(
                "policy names {} layers, the network has {} linear layers",
                self.layers.len(),
                layers.len()
            )));
        }
        layers
            .iter()
            .zip(&self.layers)
            .map(|((name, layer), entry)| {
                if *name != entry.name {
                    return Err(TwoPcError::Config(format!(
                        "policy entry `{}` where the network has layer `{name}`",
                        entry.name
                    )));
                }
                context(layer, &entry.params, check)
                    .map_err(|e| TwoPcError::Config(format!("layer `{name}`: {e}")))
            })
            .collect()
    }
}

/// The measured cost of one candidate setting on one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct MeasuredCost {
    /// The candidate.
    pub params: LayerHeParams,
    /// Client encryption + server evaluation + client decryption (seconds, one run).
    pub seconds: f64,
    /// Bytes client → server (`Enc(r)`).
    pub request_bytes: usize,
    /// Bytes server → client (`Enc(M·r − s)`).
    pub response_bytes: usize,
    /// One-time key bytes (public key, Galois keys).
    pub key_bytes: usize,
}

impl MeasuredCost {
    /// `seconds + (request + response bytes) / bandwidth` (bytes per second).
    pub fn cost(&self, bandwidth: f64) -> f64 {
        self.seconds + (self.request_bytes + self.response_bytes) as f64 / bandwidth
    }
}

/// Runs the offline phase of `layer` once with `params` and measures it (both parties in this
/// process; the result is checked against the plain reference).
pub fn measure(
    layer: &LinearLayer,
    params: &LayerHeParams,
    check: SecurityCheck,
) -> Result<MeasuredCost, TwoPcError> {
    let ctx = context(&PublicLayer::of(layer), params, check)?;
    let mut client = LinearClient::new(&ctx)?;
    let keys = client.evaluation_keys()?;
    let key_bytes = keys.to_bytes(&ctx).len();
    let server = LinearServer::new(layer, &ctx, keys)?;
    let r = client.sample_mask()?;
    let start = Instant::now();
    let req = client.request(&r)?.to_bytes(&ctx);
    let (resp, s) = server.respond(&OfflineRequest::from_bytes(&ctx, &req)?)?;
    let resp = resp.to_bytes(&ctx);
    let c = client.finish(&r, &OfflineResponse::from_bytes(&ctx, &resp)?)?;
    let seconds = start.elapsed().as_secs_f64();
    let field = crate::share::ShareField::new(ctx.params.plaintext_modulus())?;
    let expect = layer.apply_linear(&field, &r)?;
    if c.iter().zip(&s).map(|(&a, &b)| field.add(a, b)).ne(expect) {
        return Err(TwoPcError::Config(
            "measured run does not reconstruct M·r (decryption failure)".into(),
        ));
    }
    Ok(MeasuredCost {
        params: params.clone(),
        seconds,
        request_bytes: req.len(),
        response_bytes: resp.len(),
        key_bytes,
    })
}

/// Picks, for each layer, the cheapest valid candidate by measured cost (time plus bytes at
/// `bandwidth` bytes/s); candidates that fail validation are skipped. Returns the policy and
/// every measurement per layer.
pub fn choose_encodings(
    layers: &[(&str, &LinearLayer)],
    candidates: &[LayerHeParams],
    bandwidth: f64,
    check: SecurityCheck,
) -> Result<(HePolicy, Vec<Vec<MeasuredCost>>), TwoPcError> {
    let mut entries = Vec::new();
    let mut all = Vec::new();
    for (name, layer) in layers {
        let costs: Vec<MeasuredCost> = candidates
            .iter()
            .filter_map(|c| measure(layer, c, check).ok())
            .collect();
        let best = costs
            .iter()
            .min_by(|a, b| a.cost(bandwidth).total_cmp(&b.cost(bandwidth)))
            .ok_or_else(|| {
                TwoPcError::Config(format!(
                    "no candidate HE setting is valid for layer `{name}`"
                ))
            })?;
        entries.push(LayerPolicy {
            name: name.to_string(),
            params: best.params.clone(),
        });
        all.push(costs);
    }
    Ok((
        HePolicy {
            version: POLICY_VERSION,
            layers: entries,
        },
        all,
    ))
}

/// The two encodings of one parameter set, as chooser candidates.
pub fn both_encodings(params: &LayerHeParams) -> Vec<LayerHeParams> {
    [Encoding::Slot, Encoding::Coefficient]
        .iter()
        .map(|&encoding| LayerHeParams {
            encoding,
            ..params.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::LayerShape;
    use crate::share::DEFAULT_SHARE_PRIME;

    use crate::linear::examples::relu_cnn;

    fn public(net: &[(&'static str, LinearLayer)]) -> Vec<(&'static str, PublicLayer)> {
        net.iter().map(|(n, l)| (*n, PublicLayer::of(l))).collect()
    }

    #[test]
    fn relu_cnn_shapes() {
        let net = relu_cnn();
        assert_eq!(net[0].1.shape().output_len(), 845);
        assert!(matches!(
            net[1].1.shape(),
            LayerShape::Dense { inputs: 845, .. }
        ));
    }

    #[test]
    fn policy_round_trips_and_uniform_default_validates() {
        let net = relu_cnn();
        let names: Vec<&str> = net.iter().map(|(n, _)| *n).collect();
        let mut policy = HePolicy::uniform(&names, &LayerHeParams::delphi_default());
        policy.layers[0].params = LayerHeParams::logn13(Encoding::Coefficient);
        let text = policy.to_json();
        assert!(text.contains("\"coefficient\""));
        let back = HePolicy::from_json(&text).unwrap();
        assert_eq!(back, policy);
        let ctxs = back
            .validate(&public(&net), SecurityCheck::Secure128)
            .unwrap();
        assert_eq!(ctxs.len(), 3);
        for c in &ctxs {
            assert!(c.params.rlwe().is_secure());
            // the output level keeps room for decryption; below the top level when possible
            assert!(c.output_level < c.params.max_level());
        }
    }

    #[test]
    fn insecure_too_small_and_malformed_settings_are_rejected() {
        let net = relu_cnn();
        let pubs = public(&net);
        let names: Vec<&str> = net.iter().map(|(n, _)| *n).collect();
        let reject = |params: LayerHeParams, want: &str| {
            let err = HePolicy::uniform(&names, &params)
                .validate(&pubs, SecurityCheck::Secure128)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "expected `{want}` in: {err}");
            assert!(err.contains("layer `conv1`"), "{err}");
        };
        // log2(QP) = 275 > 218 for n = 2^13: insecure
        reject(
            LayerHeParams {
                q_bits: vec![55, 55, 55, 55],
                ..LayerHeParams::logn13(Encoding::Coefficient)
            },
            "128-bit",
        );
        // n = 2^12 with 72-bit Q: the flooded noise does not fit
        let small = henn_he::bfv::BFV_128BIT_LOGN12_LOGQP109;
        reject(
            LayerHeParams {
                log_n: small.log_n,
                q_bits: small.q_bits.to_vec(),
                p_bits: small.p_bits.to_vec(),
                dnum: Some(small.dnum),
                ..LayerHeParams::logn13(Encoding::Coefficient)
            },
            "noise budget exceeded",
        );
        // the padded 29×29 image in 5 channel blocks does not fit the 4096 slots of a row
        reject(LayerHeParams::logn13(Encoding::Slot), "slots");
        // slot-encoded dense products at n = 2^13 exceed the 162-bit Q once flooded
        let err = HePolicy::uniform(&["fc1"], &LayerHeParams::logn13(Encoding::Slot))
            .validate(&pubs[1..2], SecurityCheck::Secure128)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("layer `fc1`") && err.contains("noise budget exceeded"),
            "{err}"
        );
        // the plaintext modulus must be the share prime
        reject(
            LayerHeParams {
                plaintext_modulus: 65537,
                ..LayerHeParams::delphi_default()
            },
            "share prime",
        );
        // malformed files
        assert!(HePolicy::from_json("{").is_err());
        let mut text = HePolicy::uniform(&names, &LayerHeParams::delphi_default()).to_json();
        assert!(HePolicy::from_json(&text.replace("\"version\": 1", "\"version\": 7")).is_err());
        text = text.replacen("\"log_n\"", "\"bogus\": 1, \"log_n\"", 1);
        assert!(HePolicy::from_json(&text)
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        // names and counts must match the network
        let policy = HePolicy::uniform(&["conv1", "fc9", "fc2"], &LayerHeParams::delphi_default());
        assert!(policy.validate(&pubs, SecurityCheck::Secure128).is_err());
        assert!(
            HePolicy::uniform(&["conv1"], &LayerHeParams::delphi_default())
                .validate(&pubs, SecurityCheck::Secure128)
                .is_err()
        );
        assert_eq!(
            LayerHeParams::delphi_default().plaintext_modulus,
            DEFAULT_SHARE_PRIME
        );
    }

    #[test]
    fn chooser_measures_both_encodings_and_keeps_the_cheapest() {
        let layers = [
            ("fc", crate::linear::tests::dense(20, 6, 9)),
            (
                "pool",
                LinearLayer::Pool(crate::linear::Pool::average(2, 4, 4, 2, 2, 6)),
            ),
        ];
        let refs: Vec<(&str, &LinearLayer)> = layers.iter().map(|(n, l)| (*n, l)).collect();
        let candidates = both_encodings(&LayerHeParams::insecure_test(Encoding::Slot));
        let (policy, costs) =
            choose_encodings(&refs, &candidates, 1e8, SecurityCheck::InsecureTest).unwrap();
        assert_eq!(policy.layers.len(), 2);
        for (entry, c) in policy.layers.iter().zip(&costs) {
            assert_eq!(c.len(), 2);
            let best = c.iter().map(|m| m.cost(1e8)).fold(f64::INFINITY, f64::min);
            let chosen = c.iter().find(|m| m.params == entry.params).unwrap();
            assert_eq!(chosen.cost(1e8), best);
            assert!(c
                .iter()
                .all(|m| m.request_bytes > 0 && m.response_bytes > 0));
        }
        // coefficient encoding needs no Galois keys: fewer key bytes
        let fc = &costs[0];
        let key = |e| {
            fc.iter()
                .find(|m| m.params.encoding == e)
                .unwrap()
                .key_bytes
        };
        assert!(key(Encoding::Coefficient) < key(Encoding::Slot));
    }
}
