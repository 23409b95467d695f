//! `henn predict` reports a bad input file by name, before reading keys or contacting the
//! server.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{assert_error, henn_in};

/// A valid 28x28 8-bit grayscale PNG.
fn png_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let pixels: Vec<u8> = (0..28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        w.write_image_data(&pixels).unwrap();
    }
    out
}

fn predict(image: &Path, keys: &Path) -> common::Run {
    henn_in(
        None,
        &[
            "predict",
            "--server",
            "http://127.0.0.1:9",
            "--keys",
            keys.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    )
}

#[test]
fn a_truncated_png_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("no-keys-here");
    let full = png_bytes();
    // Cut in the pixel data, and cut in the header.
    for (name, len) in [("truncated.png", full.len() - 20), ("header.png", 20)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &full[..len]).unwrap();
        let run = predict(&path, &keys);
        assert_error(&run, &[path.to_str().unwrap(), "PNG"]);
        // The image is checked before the keys (which do not exist) and the server.
        assert!(!run.stderr.contains("no-keys-here"), "{}", run.stderr);
        assert!(!run.stderr.contains("127.0.0.1"), "{}", run.stderr);
    }
    // Not a PNG at all, and no file at all.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, b"hello").unwrap();
    assert_error(&predict(&text, &keys), &[text.to_str().unwrap()]);
    let absent = dir.path().join("absent.png");
    assert_error(
        &predict(&absent, &keys),
        &[absent.to_str().unwrap(), "opening"],
    );

    // The complete image gets past decoding: the next error is about the missing keys.
    let good = dir.path().join("good.png");
    std::fs::write(&good, &full).unwrap();
    let run = predict(&good, &keys);
    assert_error(&run, &["loading keys", "no-keys-here"]);
    assert!(!run.stderr.contains("good.png"), "{}", run.stderr);
}

#[test]
fn predict_without_inputs_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let run = henn_in(
        None,
        &["predict", "--keys", dir.path().to_str().unwrap()],
        &[],
        Duration::from_secs(60),
    );
    assert_error(&run, &["--image", "--mnist-test"]);
}

#[test]
fn an_mnist_index_out_of_range_names_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("idx");
    std::fs::create_dir(&data).unwrap();
    let mut images = vec![0, 0, 8, 3];
    for d in [2u32, 28, 28] {
        images.extend(d.to_be_bytes());
    }
    images.extend(std::iter::repeat_n(7u8, 2 * 28 * 28));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(2u32.to_be_bytes());
    labels.extend([3u8, 4]);
    std::fs::write(data.join("t10k-images-idx3-ubyte"), images).unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), labels).unwrap();
    let run = henn_in(
        None,
        &[
            "predict",
            "--keys",
            dir.path().join("no-keys-here").to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--mnist-test",
            "1",
            "2",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_error(
        &run,
        &["index 2 out of range (0..2)", data.to_str().unwrap()],
    );
    assert!(!run.stderr.contains("no-keys-here"), "{}", run.stderr);
}
