//! Training smoke tests on a few hundred real MNIST test images: the loss decreases, training is
//! reproducible from the seed, and the exported [`Model`]'s f32 inference agrees with candle.

use std::path::Path;

use candle_core::{Device, Tensor};

use super::*;
use crate::data::{load_digits, load_mnist, Split};

fn mnist_test() -> Dataset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    load_mnist(&dir, Split::Test).unwrap()
}

fn smoke_config() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size: 32,
        warmup_steps: 0,
        ..TrainConfig::for_arch(Arch::LolaMnist)
    }
}

#[test]
fn arch_names_round_trip() {
    for arch in Arch::ALL {
        assert_eq!(arch.name().parse::<Arch>().unwrap(), arch);
    }
    assert!("lola".parse::<Arch>().is_err());
}

#[test]
fn learning_rate_warms_up_then_decays_to_zero() {
    let c = TrainConfig {
        learning_rate: 1.0,
        warmup_steps: 10,
        ..smoke_config()
    };
    assert!((c.learning_rate_at(0, 110) - 0.1).abs() < 1e-12);
    assert!((c.learning_rate_at(9, 110) - 1.0).abs() < 1e-12);
    assert!((c.learning_rate_at(10, 110) - 1.0).abs() < 1e-12);
    assert!((c.learning_rate_at(60, 110) - 0.5).abs() < 1e-12);
    assert!(c.learning_rate_at(109, 110) < 1e-3);
}

#[test]
fn shift_image_moves_pixels_and_zero_fills() {
    // 1 channel, 3x3: 1..=9.
    let src: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let mut dst = vec![0.0; 9];
    shift_image(&src, [1, 3, 3], 1, -1, &mut dst);
    assert_eq!(dst, vec![0., 0., 0., 2., 3., 0., 5., 6., 0.]);
    shift_image(&src, [1, 3, 3], 0, 0, &mut dst);
    assert_eq!(dst, src);
}

#[test]
fn every_arch_trains_and_exports_a_model_matching_candle() {
    let data = mnist_test();
    let train_set = data.take(640);
    let test_set = data.select(&(9000..9200).collect::<Vec<_>>()).unwrap();
    // Three passes over 640 images (60 steps): one pass of 20 steps is too short for the
    // square-activation networks to move the loss reliably.
    let config = TrainConfig {
        epochs: 3,
        ..smoke_config()
    };
    // MNIST-shaped architectures (lola-cifar10 is covered by its own test below).
    for arch in Arch::ALL
        .into_iter()
        .filter(|a| a.input_shape() == [1, 28, 28])
    {
        let mut losses = Vec::new();
        let outcome = train(arch, &train_set, &test_set, &config, |e| {
            if let Progress::Batch { loss } = e {
                losses.push(loss);
            }
        })
        .unwrap();
        assert_eq!(losses.len(), 60);
        let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
        let last: f32 = losses[55..].iter().sum::<f32>() / 5.0;
        assert!(last < 0.8 * first, "{arch}: loss {first} -> {last}");
        assert!(
            outcome.test_accuracy > 0.5,
            "{arch}: {}",
            outcome.test_accuracy
        );

        // The exported model's plaintext inference reproduces candle's logits.
        let model = &outcome.model;
        model.validate().unwrap();
        let indices = [0usize, 1, 2, 3, 4];
        let batch = test_set.select(&indices).unwrap();
        let x = Tensor::from_vec(batch.images.clone(), (5, 1, 28, 28), &Device::Cpu).unwrap();
        let logits = outcome.net.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        for (k, row) in logits.iter().enumerate() {
            let ours = model.forward(batch.image(k).unwrap()).unwrap();
            assert_eq!(ours.len(), 10);
            for (a, b) in ours.iter().zip(row) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{arch} image {k}: henn {a} vs candle {b}"
                );
            }
        }

        // And survives the model file format.
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        assert_eq!(&Model::load(dir.path()).unwrap(), model);
    }
}

#[test]
fn training_is_reproducible_from_the_seed() {
    let data = mnist_test();
    let train_set = data.take(256);
    let test_set = data.select(&[9000, 9001]).unwrap();
    let config = smoke_config();
    let run = |seed| {
        let c = TrainConfig {
            seed,
            ..config.clone()
        };
        train(Arch::LolaSmall, &train_set, &test_set, &c, |_| {})
            .unwrap()
            .model
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
}

#[test]
fn bad_configuration_and_data_are_rejected() {
    let data = mnist_test().take(64);
    let c = TrainConfig {
        epochs: 0,
        ..smoke_config()
    };
    assert!(matches!(
        train(Arch::LolaSmall, &data, &data, &c, |_| {}),
        Err(TrainError::Config(_))
    ));
    let digits =
        load_digits(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits/digits.csv.gz"))
            .unwrap();
    assert!(matches!(
        train(Arch::LolaSmall, &digits, &data, &smoke_config(), |_| {}),
        Err(TrainError::Dataset(_))
    ));
    assert!(matches!(
        train(
            Arch::LolaSmall,
            &data.take(0),
            &data,
            &smoke_config(),
            |_| {}
        ),
        Err(TrainError::Dataset(_))
    ));
}

#[test]
fn lola_cifar10_initial_model_has_the_paper_shapes() {
    use crate::train::initial_model;
    let model = initial_model(Arch::LolaCifar10, 3).unwrap();
    model.validate().unwrap();
    assert_eq!(model, initial_model(Arch::LolaCifar10, 3).unwrap());
    assert_eq!(model.input_shape, vec![3, 32, 32]);
    // 83·192 + 83, 163·2988 + 163, 10·4075 + 10 parameters (LoLa section 4.4).
    let params: usize = model
        .layers
        .iter()
        .map(|l| match l {
            crate::model::Layer::Conv2d { weight, bias, .. }
            | crate::model::Layer::Dense { weight, bias } => {
                weight.data.len() + bias.as_ref().map_or(0, |b| b.data.len())
            }
            _ => 0,
        })
        .sum();
    assert_eq!(params, 83 * 192 + 83 + 163 * 2988 + 163 + 10 * 4075 + 10);
    let x: Vec<f32> = (0..3072).map(|i| (i % 255) as f32 / 255.0).collect();
    assert_eq!(model.forward(&x).unwrap().len(), 10);
    assert!(train(
        Arch::LolaCifar10,
        &mnist_test().take(10),
        &mnist_test().take(10),
        &smoke_config(),
        |_| {}
    )
    .is_err());
}
