//! The IDX format of MNIST and Fashion-MNIST (LeCun et al., "THE MNIST DATABASE of handwritten
//! digits"): a big-endian magic `00 00 type ndims`, `ndims` big-endian `u32` dimensions, then the
//! data. henn reads unsigned-byte data (type `0x08`): labels as `idx1` (`[count]`) and images as
//! `idx3` (`[count, rows, columns]`).

use std::path::Path;

use super::file::{find_file, read_bytes, MAX_FILE_BYTES};
use super::{DataError, Dataset, Split};

/// Magic number of an unsigned-byte IDX file with one dimension (labels).
pub const IDX1_UBYTE_MAGIC: u32 = 0x0000_0801;
/// Magic number of an unsigned-byte IDX file with three dimensions (images).
pub const IDX3_UBYTE_MAGIC: u32 = 0x0000_0803;

/// Number of MNIST (and Fashion-MNIST) classes.
pub const MNIST_CLASSES: usize = 10;

/// Splits an IDX file into its dimensions and data, checking the magic, that the dimension
/// product does not overflow and that exactly that many bytes follow the header.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            record: 0,
            expected: 4,
            found: bytes.len() as u64,
        });
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            record: 0,
            expected: header_len as u64,
            found: bytes.len() as u64,
        });
    }
    let dims: Vec<u64> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    // Product of the per-record dimensions, then of all; bounded by the file-size limit, so a
    // header claiming 2^40 records fails here instead of allocating.
    let too_large = || DataError::DimensionMismatch {
        path: path.to_path_buf(),
        what: format!("dimensions {dims:?} exceed the limit of {MAX_FILE_BYTES} bytes"),
    };
    let record_len = dims[1..]
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_FILE_BYTES)
        .ok_or_else(too_large)?;
    let total = record_len
        .checked_mul(dims[0])
        .filter(|&n| n <= MAX_FILE_BYTES)
        .ok_or_else(too_large)?;
    let data = &bytes[header_len..];
    let have = data.len() as u64;
    if have < total {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            record: have.checked_div(record_len).unwrap_or(0) as usize,
            expected: total,
            found: have,
        });
    }
    if have > total {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            extra: have - total,
        });
    }
    // Every dimension is at most MAX_FILE_BYTES, which fits usize on 64- and 32-bit targets.
    let dims = dims.iter().map(|&d| d as usize).collect();
    Ok((dims, data))
}

/// Reads an `idx1-ubyte` label file (gzip or raw), checking every label is below `classes`.
pub fn read_idx_labels(path: &Path, classes: usize) -> Result<Vec<u8>, DataError> {
    let bytes = read_bytes(path, MAX_FILE_BYTES)?;
    let (_, data) = parse_idx(path, &bytes, IDX1_UBYTE_MAGIC)?;
    if let Some(record) = data.iter().position(|&l| usize::from(l) >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            record,
            label: u64::from(data[record]),
            classes,
        });
    }
    Ok(data.to_vec())
}

/// Images read from an `idx3-ubyte` file: `count` images of `rows x columns` pixels scaled from
/// `0..=255` to `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub columns: usize,
    /// `count * rows * columns` pixels, image after image, row-major.
    pub pixels: Vec<f32>,
}

/// Reads an `idx3-ubyte` image file (gzip or raw), scaling pixels to `[0, 1]`.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_bytes(path, MAX_FILE_BYTES)?;
    let (dims, data) = parse_idx(path, &bytes, IDX3_UBYTE_MAGIC)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        columns: dims[2],
        pixels: data.iter().map(|&p| f32::from(p) / 255.0).collect(),
    })
}

/// Reads a pair of IDX files into a [`Dataset`] of `[1, rows, columns]` images, checking both
/// files hold the same number of examples.
pub fn load_idx_pair(
    images_path: &Path,
    labels_path: &Path,
    classes: usize,
) -> Result<Dataset, DataError> {
    let labels = read_idx_labels(labels_path, classes)?;
    let images = read_idx_images(images_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    Ok(Dataset {
        shape: [1, images.rows, images.columns],
        images: images.pixels,
        labels,
        classes,
    })
}

/// Loads MNIST (or Fashion-MNIST, which uses the same file names and format) from `dir`:
/// `train-images-idx3-ubyte` / `train-labels-idx1-ubyte` or `t10k-images-idx3-ubyte` /
/// `t10k-labels-idx1-ubyte`, each raw or with a `.gz` suffix. Also accepts the
/// `train-images.idx3-ubyte` spelling some mirrors use.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = find_file(
        dir,
        &[
            &format!("{prefix}-images-idx3-ubyte"),
            &format!("{prefix}-images.idx3-ubyte"),
        ],
    )?;
    let labels = find_file(
        dir,
        &[
            &format!("{prefix}-labels-idx1-ubyte"),
            &format!("{prefix}-labels.idx1-ubyte"),
        ],
    )?;
    let data = load_idx_pair(&images, &labels, MNIST_CLASSES)?;
    Ok(data)
}
