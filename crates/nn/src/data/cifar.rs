//! The CIFAR-10 binary format (Krizhevsky, "Learning Multiple Layers of Features from Tiny
//! Images", 2009): records of one label byte and 3072 pixel bytes (the red, green then blue
//! 32x32 planes, so already CHW), in files `data_batch_1.bin` .. `data_batch_5.bin` and
//! `test_batch.bin`.

use std::path::Path;

use super::file::{find_file, read_bytes, MAX_FILE_BYTES};
use super::{DataError, Dataset, Split};

/// Number of CIFAR-10 classes.
pub const CIFAR10_CLASSES: usize = 10;
/// Shape of one CIFAR-10 image.
pub const CIFAR10_SHAPE: [usize; 3] = [3, 32, 32];
/// Bytes per record: the label and 3 * 32 * 32 pixels.
pub const CIFAR10_RECORD_BYTES: usize = 1 + 3 * 32 * 32;
/// Number of training batch files.
pub const CIFAR10_TRAIN_BATCHES: usize = 5;

/// Reads one CIFAR-10 binary batch file (gzip or raw).
pub fn read_cifar10_batch(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_bytes(path, MAX_FILE_BYTES)?;
    let records = bytes.len() / CIFAR10_RECORD_BYTES;
    if bytes.len() % CIFAR10_RECORD_BYTES != 0 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            record: records,
            expected: ((records + 1) * CIFAR10_RECORD_BYTES) as u64,
            found: bytes.len() as u64,
        });
    }
    let pixels = CIFAR10_RECORD_BYTES - 1;
    let mut images = Vec::with_capacity(records * pixels);
    let mut labels = Vec::with_capacity(records);
    for (record, chunk) in bytes.chunks_exact(CIFAR10_RECORD_BYTES).enumerate() {
        let label = chunk[0];
        if usize::from(label) >= CIFAR10_CLASSES {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                label: u64::from(label),
                classes: CIFAR10_CLASSES,
            });
        }
        labels.push(label);
        images.extend(chunk[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok(Dataset {
        shape: CIFAR10_SHAPE,
        images,
        labels,
        classes: CIFAR10_CLASSES,
    })
}

/// Loads the CIFAR-10 training set (the five `data_batch_N.bin`, concatenated in order) or test
/// set (`test_batch.bin`) from `dir`; each file may be gzipped (`.bin.gz`).
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let names: Vec<String> = match split {
        Split::Train => (1..=CIFAR10_TRAIN_BATCHES)
            .map(|i| format!("data_batch_{i}.bin"))
            .collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    };
    let mut all = Dataset {
        shape: CIFAR10_SHAPE,
        images: Vec::new(),
        labels: Vec::new(),
        classes: CIFAR10_CLASSES,
    };
    for name in &names {
        let batch = read_cifar10_batch(&find_file(dir, &[name])?)?;
        all.images.extend_from_slice(&batch.images);
        all.labels.extend_from_slice(&batch.labels);
    }
    Ok(all)
}
