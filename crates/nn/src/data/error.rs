//! Errors of the dataset readers: every one names the file and what is wrong with it.

use std::path::PathBuf;

/// A dataset file could not be read or is malformed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system could not open or read the file.
    #[error("{path}: {source}")]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// None of the accepted file names exists in the directory.
    #[error("{dir}: found none of {names:?}")]
    NotFound {
        /// Directory searched.
        dir: PathBuf,
        /// File names tried.
        names: Vec<String>,
    },
    /// The file (after gzip decompression) is larger than any dataset henn reads.
    #[error("{path}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// File being read.
        path: PathBuf,
        /// Maximum accepted size in bytes.
        limit: u64,
    },
    /// The file does not start with the expected magic number.
    #[error("{path}: bad magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// File being read.
        path: PathBuf,
        /// Magic number found.
        found: u32,
        /// Magic number expected.
        expected: u32,
    },
    /// The header's dimensions are not those of the expected data.
    #[error("{path}: dimension mismatch: {what}")]
    DimensionMismatch {
        /// File being read.
        path: PathBuf,
        /// What does not match.
        what: String,
    },
    /// The file ends in the middle of a record (or before the header is complete).
    #[error("{path}: truncated at record {record}: need {expected} bytes, file has {found}")]
    Truncated {
        /// File being read.
        path: PathBuf,
        /// Index of the first incomplete record (0 for a truncated header).
        record: usize,
        /// Bytes needed for the records the header (or format) announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file holds more bytes than its header announces.
    #[error("{path}: {extra} trailing bytes after the last record")]
    TrailingBytes {
        /// File being read.
        path: PathBuf,
        /// Unexpected bytes after the data.
        extra: u64,
    },
    /// A label is not a valid class index.
    #[error("{path}: label {label} out of range at record {record} (expected < {classes})")]
    LabelOutOfRange {
        /// File being read.
        path: PathBuf,
        /// Record holding the label.
        record: usize,
        /// Label found.
        label: u64,
        /// Number of classes.
        classes: usize,
    },
    /// A pixel value is outside the format's range.
    #[error("{path}: pixel value {value} out of range at record {record} (expected <= {max})")]
    PixelOutOfRange {
        /// File being read.
        path: PathBuf,
        /// Record holding the pixel.
        record: usize,
        /// Value found.
        value: u64,
        /// Largest valid value.
        max: u64,
    },
    /// The image and label files disagree on the number of examples.
    #[error("image/label count mismatch: {images_path} has {images} images, {labels_path} has {labels} labels")]
    CountMismatch {
        /// Image file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Label file.
        labels_path: PathBuf,
        /// Number of labels.
        labels: usize,
    },
    /// A text record could not be parsed.
    #[error("{path}: line {line}: {what}")]
    Parse {
        /// File being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
}
