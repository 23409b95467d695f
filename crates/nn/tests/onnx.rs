//! ONNX import against reference outputs of `onnx.reference.ReferenceEvaluator` (fixtures made
//! by scripts/make_onnx_fixtures.py), and rejection of unsupported or malformed files.

use std::path::PathBuf;

use henn_nn::model::Model;
use henn_nn::onnx::proto::ModelProto;
use henn_nn::onnx::{import_bytes, import_file, OnnxError};
use prost::Message;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

fn kinds(m: &Model) -> Vec<&'static str> {
    m.layers.iter().map(|l| l.kind()).collect()
}

/// Imports NAME.onnx and checks every reference case of NAME.json.
fn check_reference(name: &str) -> Model {
    let model = import_file(&fixture(&format!("{name}.onnx"))).unwrap();
    let text = std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shape: Vec<usize> = serde_json::from_value(v["input_shape"].clone()).unwrap();
    assert_eq!(model.input_shape, shape);
    let cases = v["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let x: Vec<f32> = serde_json::from_value(case["input"].clone()).unwrap();
        let want: Vec<f32> = serde_json::from_value(case["output"].clone()).unwrap();
        let got = model.forward(&x).unwrap();
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * scale, "{name}: {got:?} vs {want:?}");
        }
    }
    model
}

#[test]
fn conv_square_dense_matches_reference() {
    let m = check_reference("conv_square_dense");
    // Pad merged into the conv; x*x and Pow(x, 2) are squares; MatMul + Add one dense layer.
    assert_eq!(
        kinds(&m),
        ["conv2d", "square", "flatten", "dense", "square", "dense"]
    );
    let henn_nn::model::Layer::Conv2d {
        padding, stride, ..
    } = &m.layers[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (padding.top, padding.left, padding.bottom, padding.right),
        (1, 1, 0, 0)
    );
    assert_eq!(*stride, (2, 2));
    // The imported model survives the model file format.
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    assert_eq!(Model::load(dir.path()).unwrap(), m);
}

#[test]
fn bn_relu_pool_matches_reference() {
    let m = check_reference("bn_relu_pool");
    assert_eq!(
        kinds(&m),
        [
            "conv2d",
            "batch_norm",
            "relu",
            "avg_pool",
            "flatten",
            "dense"
        ]
    );
}

#[test]
fn unsupported_ops_are_named() {
    match import_file(&fixture("maxpool.onnx")) {
        Err(OnnxError::UnsupportedOp { op_type, node }) => {
            assert_eq!((op_type.as_str(), node.as_str()), ("MaxPool", "pool1"))
        }
        other => panic!("{other:?}"),
    }
    let err = import_file(&fixture("sigmoid.onnx")).unwrap_err();
    assert!(
        matches!(&err, OnnxError::UnsupportedOp { op_type, node } if op_type == "Sigmoid" && node == "act")
    );
    assert!(err.to_string().contains("Sigmoid") && err.to_string().contains("act"));
}

#[test]
fn branching_graph_is_rejected() {
    let err = import_file(&fixture("branch.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::Graph(_)), "{err:?}");
    assert!(err.to_string().contains("residual"), "{err}");
}

#[test]
fn malformed_bytes_are_rejected() {
    let bytes = std::fs::read(fixture("conv_square_dense.onnx")).unwrap();
    for cut in [1, 7, bytes.len() / 2] {
        assert!(
            import_bytes(&bytes[..bytes.len() - cut], "x").is_err(),
            "cut {cut}"
        );
    }
    assert!(matches!(
        import_bytes(&[0xff; 64], "x"),
        Err(OnnxError::Decode(_))
    ));
    assert!(matches!(import_bytes(&[], "x"), Err(OnnxError::Graph(_))));
    assert!(import_file(&fixture("does-not-exist.onnx")).is_err());
}

fn edited(edit: impl FnOnce(&mut ModelProto)) -> Result<Model, OnnxError> {
    let bytes = std::fs::read(fixture("conv_square_dense.onnx")).unwrap();
    let mut m = ModelProto::decode(bytes.as_slice()).unwrap();
    edit(&mut m);
    import_bytes(&m.encode_to_vec(), "edited")
}

#[test]
fn tensor_sizes_and_constants_are_validated() {
    // raw_data one value short.
    let err = edited(|m| {
        let g = m.graph.as_mut().unwrap();
        let t = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "conv_w")
            .unwrap();
        t.raw_data.truncate(t.raw_data.len() - 4);
    })
    .unwrap_err();
    assert!(
        matches!(&err, OnnxError::Tensor { name, .. } if name == "conv_w"),
        "{err:?}"
    );
    // float_data one value short.
    let err = edited(|m| {
        let g = m.graph.as_mut().unwrap();
        g.initializer
            .iter_mut()
            .find(|t| t.name == "conv_b")
            .unwrap()
            .float_data
            .pop();
    })
    .unwrap_err();
    assert!(
        matches!(&err, OnnxError::Tensor { name, .. } if name == "conv_b"),
        "{err:?}"
    );
    // A missing initializer.
    let err = edited(|m| {
        m.graph
            .as_mut()
            .unwrap()
            .initializer
            .retain(|t| t.name != "fc1_w")
    })
    .unwrap_err();
    assert!(err.to_string().contains("fc1"), "{err}");
    // A NaN weight.
    let err = edited(|m| {
        let g = m.graph.as_mut().unwrap();
        let t = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "fc2_w")
            .unwrap();
        t.raw_data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    })
    .unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    // Weights inconsistent with the input shape.
    let err = edited(|m| {
        let g = m.graph.as_mut().unwrap();
        let dims = &mut g.input[0]
            .r#type
            .as_mut()
            .unwrap()
            .tensor_type
            .as_mut()
            .unwrap()
            .shape
            .as_mut()
            .unwrap()
            .dim;
        dims[2].dim_value = Some(10);
    })
    .unwrap_err();
    assert!(err.to_string().contains("fc1"), "{err}");
    // Grouped convolution.
    let err = edited(|m| {
        let g = m.graph.as_mut().unwrap();
        let conv = g.node.iter_mut().find(|n| n.op_type == "Conv").unwrap();
        conv.attribute.push(henn_nn::onnx::proto::AttributeProto {
            name: "group".into(),
            r#type: 2,
            i: 3,
            ..Default::default()
        });
    })
    .unwrap_err();
    assert!(
        matches!(&err, OnnxError::InvalidNode { node, .. } if node == "conv1"),
        "{err:?}"
    );
}
