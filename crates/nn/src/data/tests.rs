//! Tests of the dataset readers on small synthetic files made here, corrupted copies of them, and
//! the real MNIST test set and digits file shipped in `data/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;

fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Three 2x3 images with pixels 0, 1, .., 17 and labels 3, 0, 9.
fn tiny_mnist() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..18).map(|i| i * 15).collect();
    (
        idx_bytes(IDX3_UBYTE_MAGIC, &[3, 2, 3], &pixels),
        idx_bytes(IDX1_UBYTE_MAGIC, &[3], &[3, 0, 9]),
    )
}

#[test]
fn mnist_raw_and_gzip_load_identically() {
    let (images, labels) = tiny_mnist();
    let raw = tempfile::tempdir().unwrap();
    write(raw.path(), "t10k-images-idx3-ubyte", &images);
    write(raw.path(), "t10k-labels-idx1-ubyte", &labels);
    let gz = tempfile::tempdir().unwrap();
    write(gz.path(), "train-images-idx3-ubyte.gz", &gzip(&images));
    write(gz.path(), "train-labels-idx1-ubyte.gz", &gzip(&labels));

    let a = load_mnist(raw.path(), Split::Test).unwrap();
    let b = load_mnist(gz.path(), Split::Train).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.shape, [1, 2, 3]);
    assert_eq!(a.labels, vec![3, 0, 9]);
    assert_eq!(a.len(), 3);
    assert_eq!(a.image(1).unwrap()[0], 6.0 * 15.0 / 255.0);
    assert_eq!(a.image(2).unwrap()[5], 1.0);
    assert!(a.image(3).is_none());
    // The other split is absent.
    assert!(matches!(
        load_mnist(raw.path(), Split::Train),
        Err(DataError::NotFound { .. })
    ));
}

#[test]
fn idx_bad_magic_is_rejected() {
    let (images, labels) = tiny_mnist();
    let dir = tempfile::tempdir().unwrap();
    // Swapped: the label reader gets an idx3 file.
    let p = write(dir.path(), "labels", &images);
    let err = read_idx_labels(&p, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: IDX3_UBYTE_MAGIC,
                expected: IDX1_UBYTE_MAGIC,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("labels"),
        "error names the file: {err}"
    );
    let p = write(dir.path(), "images", &labels);
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::BadMagic { .. })
    ));
    let p = write(dir.path(), "short", &[0, 0]);
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::Truncated { record: 0, .. })
    ));
}

#[test]
fn idx_truncated_reports_first_incomplete_record() {
    let (images, labels) = tiny_mnist();
    let dir = tempfile::tempdir().unwrap();
    // Cut in the middle of the third image (record 2): header 16 bytes + 2 images of 6 + 1 byte.
    let p = write(dir.path(), "images", &images[..16 + 13]);
    let err = read_idx_images(&p).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                record: 2,
                expected: 18,
                found: 13,
                ..
            }
        ),
        "{err}"
    );
    // Header cut short.
    let p = write(dir.path(), "images-header", &images[..10]);
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::Truncated { record: 0, .. })
    ));
    let p = write(dir.path(), "labels", &labels[..9]);
    assert!(matches!(
        read_idx_labels(&p, 10),
        Err(DataError::Truncated { record: 1, .. })
    ));
    // Truncated gzip stream is an I/O error, not a panic.
    let gz = gzip(&images);
    let p = write(dir.path(), "images.gz", &gz[..gz.len() / 2]);
    assert!(matches!(read_idx_images(&p), Err(DataError::Io { .. })));
    // Trailing garbage.
    let mut long = images.clone();
    long.push(0);
    let p = write(dir.path(), "images-long", &long);
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::TrailingBytes { extra: 1, .. })
    ));
}

#[test]
fn idx_huge_header_is_rejected_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // 2^32 - 1 images of (2^32 - 1)^2 pixels overflows u64; 2^30 of 28x28 exceeds the limit.
    for dims in [
        [u32::MAX, u32::MAX, u32::MAX],
        [1 << 30, 28, 28],
        [1, 1 << 20, 1 << 20],
    ] {
        let p = write(
            dir.path(),
            "images",
            &idx_bytes(IDX3_UBYTE_MAGIC, &dims, &[1, 2]),
        );
        let err = read_idx_images(&p).unwrap_err();
        assert!(matches!(err, DataError::DimensionMismatch { .. }), "{err}");
    }
    // 2^24 images of 4x4 (256 MiB) is within the limit but the file holds 2 bytes.
    let p = write(
        dir.path(),
        "images",
        &idx_bytes(IDX3_UBYTE_MAGIC, &[1 << 24, 4, 4], &[1, 2]),
    );
    assert!(matches!(
        read_idx_images(&p),
        Err(DataError::Truncated { record: 0, .. })
    ));
}

#[test]
fn idx_label_out_of_range_and_count_mismatch() {
    let (images, _) = tiny_mnist();
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "labels",
        &idx_bytes(IDX1_UBYTE_MAGIC, &[3], &[1, 10, 2]),
    );
    let err = read_idx_labels(&p, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                record: 1,
                label: 10,
                ..
            }
        ),
        "{err}"
    );
    let img = write(dir.path(), "images", &images);
    let lab = write(
        dir.path(),
        "labels2",
        &idx_bytes(IDX1_UBYTE_MAGIC, &[2], &[1, 2]),
    );
    let err = load_idx_pair(&img, &lab, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn read_bytes_bounds_decompressed_size() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 100_000];
    let p = write(dir.path(), "bomb.gz", &gzip(&zeros));
    assert!(matches!(
        read_bytes(&p, 99_999),
        Err(DataError::TooLarge { limit: 99_999, .. })
    ));
    assert_eq!(read_bytes(&p, 100_000).unwrap(), zeros);
    let p = write(dir.path(), "raw", &zeros);
    assert!(matches!(
        read_bytes(&p, 10),
        Err(DataError::TooLarge { .. })
    ));
    assert!(matches!(
        read_bytes(&dir.path().join("missing"), 10),
        Err(DataError::Io { .. })
    ));
}

fn digits_row(pixel: u32, label: u32) -> String {
    let mut fields: Vec<String> = (0..64).map(|i| ((i + pixel) % 17).to_string()).collect();
    fields.push(label.to_string());
    fields.join(",")
}

#[test]
fn digits_csv_parses_and_rejects_malformed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}\n{}\n\n", digits_row(0, 7), digits_row(3, 0));
    let p = write(dir.path(), "digits.csv.gz", &gzip(text.as_bytes()));
    let d = load_digits(&p).unwrap();
    assert_eq!(d.shape, [1, 8, 8]);
    assert_eq!(d.labels, vec![7, 0]);
    assert_eq!(d.image(0).unwrap()[16], 16.0 / 16.0);
    assert_eq!(d.image(1).unwrap()[1], 4.0 / 16.0);

    let cases = [
        (format!("{}\n1,2,3\n", digits_row(0, 1)), "fields"),
        (format!("{}\n", digits_row(0, 10)), "label 10 out of range"),
        (
            format!("{}\n", digits_row(0, 1).replacen("0", "17", 1)),
            "pixel value 17",
        ),
        (
            format!("{}\n", digits_row(0, 1).replacen("0", "x", 1)),
            "not an integer",
        ),
    ];
    for (text, what) in cases {
        let p = write(dir.path(), "bad.csv", text.as_bytes());
        let err = load_digits(&p).unwrap_err().to_string();
        assert!(err.contains(what) && err.contains("bad.csv"), "{err}");
    }
}

#[test]
fn cifar10_batches_parse_and_reject_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = Vec::new();
    for label in [6u8, 9] {
        batch.push(label);
        batch.extend((0..3072).map(|i| (i % 256) as u8));
    }
    write(dir.path(), "test_batch.bin", &batch);
    let d = load_cifar10(dir.path(), Split::Test).unwrap();
    assert_eq!(d.shape, [3, 32, 32]);
    assert_eq!(d.labels, vec![6, 9]);
    assert_eq!(d.image(1).unwrap()[255], 1.0);
    assert_eq!(d.image(1).unwrap()[256], 0.0);
    // Training batches are missing.
    assert!(matches!(
        load_cifar10(dir.path(), Split::Train),
        Err(DataError::NotFound { .. })
    ));

    let p = write(dir.path(), "cut.bin", &batch[..CIFAR10_RECORD_BYTES + 5]);
    assert!(matches!(
        read_cifar10_batch(&p),
        Err(DataError::Truncated { record: 1, .. })
    ));
    let mut bad = batch.clone();
    bad[CIFAR10_RECORD_BYTES] = 10;
    let p = write(dir.path(), "bad.bin", &bad);
    assert!(matches!(
        read_cifar10_batch(&p),
        Err(DataError::LabelOutOfRange {
            record: 1,
            label: 10,
            ..
        })
    ));
}

#[test]
fn dataset_select_and_take() {
    let (images, labels) = tiny_mnist();
    let dir = tempfile::tempdir().unwrap();
    let d = load_idx_pair(
        &write(dir.path(), "i", &images),
        &write(dir.path(), "l", &labels),
        10,
    )
    .unwrap();
    let s = d.select(&[2, 0]).unwrap();
    assert_eq!(s.labels, vec![9, 3]);
    assert_eq!(s.image(0), d.image(2));
    assert!(d.select(&[3]).is_none());
    assert_eq!(d.take(2).labels, vec![3, 0]);
    assert_eq!(d.take(10), d);
}

fn repo_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
}

#[test]
fn real_mnist_test_set_loads() {
    let d = load_mnist(&repo_data("mnist"), Split::Test).unwrap();
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.shape, [1, 28, 28]);
    assert_eq!(d.images.len(), 10_000 * 784);
    assert_eq!(&d.labels[..5], &[7, 2, 1, 0, 4]);
    assert!(d.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
}

#[test]
fn real_digits_loads() {
    let d = load_digits(&repo_data("digits/digits.csv.gz")).unwrap();
    assert_eq!(d.len(), 1797);
    assert_eq!(&d.labels[..3], &[0, 1, 2]);
}
