//! Model directory format: round trips and every rejection.

mod common;

use common::{every_kind, small_lola, Rng};
use henn_nn::model::{Model, ModelError, MODEL_JSON, WEIGHTS_FILE};

fn saved(model: &Model) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    dir
}

fn edit_json(dir: &std::path::Path, from: &str, to: &str) {
    let p = dir.join(MODEL_JSON);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn round_trip_small_lola() {
    let m = small_lola(&mut Rng(1));
    let dir = saved(&m);
    assert_eq!(Model::load(dir.path()).unwrap(), m);
}

#[test]
fn round_trip_every_kind() {
    let m = every_kind(&mut Rng(2));
    let dir = saved(&m);
    let back = Model::load(dir.path()).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.output_shapes().unwrap(), m.output_shapes().unwrap());
}

#[test]
fn output_shapes_follow_conv_arithmetic() {
    let m = every_kind(&mut Rng(3));
    let shapes = m.output_shapes().unwrap();
    // bn [2,6,6]; conv 2x2 pad 1 → 7x7; pool 2/2 → 3x3; sum pool 2 stride 1 pad left+bottom → 3x3
    assert_eq!(
        shapes,
        vec![
            vec![2, 6, 6],
            vec![3, 7, 7],
            vec![3, 7, 7],
            vec![3, 3, 3],
            vec![3, 3, 3],
            vec![3, 3, 3],
            vec![27],
            vec![5]
        ]
    );
    let lola = small_lola(&mut Rng(3));
    // 8x8 padded top/left to 9x9, 3x3 stride 2 → 4x4
    assert_eq!(lola.output_shapes().unwrap()[0], vec![3, 4, 4]);
}

#[test]
fn unknown_layer_kind_is_rejected() {
    let dir = saved(&small_lola(&mut Rng(4)));
    edit_json(dir.path(), "\"kind\": \"square\"", "\"kind\": \"sigmoid\"");
    match Model::load(dir.path()) {
        Err(ModelError::UnknownLayerKind { index: 1, kind }) => assert_eq!(kind, "sigmoid"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_version_and_format_are_rejected() {
    let dir = saved(&small_lola(&mut Rng(5)));
    edit_json(dir.path(), "\"version\": 1", "\"version\": 2");
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::UnsupportedVersion { found: 2, .. })
    ));
    let dir = saved(&small_lola(&mut Rng(5)));
    edit_json(dir.path(), "henn-model", "other-model");
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::UnknownFormat { .. })
    ));
}

#[test]
fn input_shape_inconsistent_with_layers_is_rejected() {
    let dir = saved(&small_lola(&mut Rng(6)));
    // 10x10 input gives a 5x5 conv output, 75 values, but the dense layer expects 48.
    edit_json(
        dir.path(),
        "\"input_shape\": [\n    1,\n    8,\n    8\n  ]",
        "\"input_shape\": [1, 10, 10]",
    );
    match Model::load(dir.path()) {
        Err(ModelError::InvalidLayer {
            index: 3,
            kind: "dense",
            reason,
        }) => {
            assert!(reason.contains("48"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let dir = saved(&small_lola(&mut Rng(6)));
    // 1x1 input: the 3x3 kernel does not fit the padded 2x2 input.
    edit_json(
        dir.path(),
        "\"input_shape\": [\n    1,\n    8,\n    8\n  ]",
        "\"input_shape\": [1, 1, 1]",
    );
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::InvalidLayer {
            index: 0,
            kind: "conv2d",
            ..
        })
    ));
}

#[test]
fn declared_shape_differing_from_weights_is_rejected() {
    let dir = saved(&small_lola(&mut Rng(7)));
    edit_json(
        dir.path(),
        "\"shape\": [\n          4,\n          6\n        ]",
        "\"shape\": [6, 4]",
    );
    match Model::load(dir.path()) {
        Err(ModelError::BadTensor { index: 5, name, .. }) => assert_eq!(name, "layers.5.weight"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nan_weight_is_rejected() {
    let m = small_lola(&mut Rng(8));
    let dir = saved(&m);
    let p = dir.path().join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&p, bytes).unwrap();
    match Model::load(dir.path()) {
        Err(ModelError::InvalidLayer { reason, .. }) => {
            assert!(reason.contains("not finite"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_weights_are_rejected() {
    let dir = saved(&small_lola(&mut Rng(9)));
    let p = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&p).unwrap();
    for cut in [1, 4, bytes.len() / 2, bytes.len() - 3] {
        std::fs::write(&p, &bytes[..bytes.len() - cut]).unwrap();
        assert!(
            matches!(Model::load(dir.path()), Err(ModelError::Safetensors(_))),
            "cut {cut}"
        );
    }
}

#[test]
fn huge_header_claim_is_rejected_without_allocating() {
    let dir = saved(&small_lola(&mut Rng(10)));
    let p = dir.path().join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&p, bytes).unwrap();
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::Safetensors(_))
    ));
}

#[test]
fn missing_files_are_reported() {
    let dir = saved(&small_lola(&mut Rng(11)));
    std::fs::remove_file(dir.path().join(WEIGHTS_FILE)).unwrap();
    match Model::load(dir.path()) {
        Err(ModelError::Io { path, .. }) => assert!(path.ends_with(WEIGHTS_FILE)),
        other => panic!("{other:?}"),
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Model::load(empty.path()),
        Err(ModelError::Io { .. })
    ));
}

#[test]
fn invalid_model_is_not_saved() {
    let mut m = small_lola(&mut Rng(12));
    m.input_shape = vec![1, 10, 10];
    let dir = tempfile::tempdir().unwrap();
    assert!(m.save(dir.path()).is_err());
}

#[test]
fn absurd_shapes_are_rejected() {
    use henn_nn::model::{Layer, MAX_VALUES};
    let huge = Model::new("x", vec![1, 1 << 20, 1 << 20], vec![Layer::Square]);
    assert!(matches!(
        huge.validate(),
        Err(ModelError::InvalidInputShape(..))
    ));
    let overflow = Model::new("x", vec![usize::MAX, 2], vec![]);
    assert!(overflow.validate().is_err());
    // A small input whose padding makes the output huge.
    let padded = Model::new(
        "x",
        vec![1, 1, 1],
        vec![Layer::SumPool {
            kernel: (1, 1),
            stride: (1, 1),
            padding: henn_nn::model::Padding::uniform(1 << 15),
        }],
    );
    match padded.validate() {
        Err(ModelError::InvalidLayer {
            index: 0, reason, ..
        }) => {
            assert!(reason.contains(&MAX_VALUES.to_string()), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(padded.save(dir.path()).is_err());
}
