//! The 8x8 optical-recognition digits (UCI; Alpaydin and Kaynak) as shipped by scikit-learn: a CSV
//! (optionally gzipped) of rows of 64 pixel counts `0..=16` followed by the label `0..=9`.

use std::path::Path;

use super::file::{read_bytes, MAX_FILE_BYTES};
use super::{DataError, Dataset};

/// Side of a digits image.
pub const DIGITS_SIDE: usize = 8;
/// Largest pixel value of the digits data (a count of set pixels in a 4x4 block).
pub const DIGITS_MAX_PIXEL: u64 = 16;
/// Number of digit classes.
pub const DIGITS_CLASSES: usize = 10;

/// Loads the digits CSV into a [`Dataset`] of `[1, 8, 8]` images scaled to `[0, 1]`.
/// Blank lines are skipped; every other line must hold exactly 65 integers.
pub fn load_digits(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_bytes(path, MAX_FILE_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| DataError::Parse {
        path: path.to_path_buf(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        what: "not UTF-8 text".into(),
    })?;
    let pixels_per_image = DIGITS_SIDE * DIGITS_SIDE;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parse_err = |what: String| DataError::Parse {
            path: path.to_path_buf(),
            line: line_no,
            what,
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != pixels_per_image + 1 {
            return Err(parse_err(format!(
                "{} fields, expected {} (64 pixels and the label)",
                fields.len(),
                pixels_per_image + 1
            )));
        }
        let record = labels.len();
        for field in &fields[..pixels_per_image] {
            let value: u64 = field
                .trim()
                .parse()
                .map_err(|_| parse_err(format!("pixel {field:?} is not an integer")))?;
            if value > DIGITS_MAX_PIXEL {
                return Err(DataError::PixelOutOfRange {
                    path: path.to_path_buf(),
                    record,
                    value,
                    max: DIGITS_MAX_PIXEL,
                });
            }
            images.push(value as f32 / DIGITS_MAX_PIXEL as f32);
        }
        let field = fields[pixels_per_image].trim();
        let label: u64 = field
            .parse()
            .map_err(|_| parse_err(format!("label {field:?} is not an integer")))?;
        if label >= DIGITS_CLASSES as u64 {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                label,
                classes: DIGITS_CLASSES,
            });
        }
        labels.push(label as u8);
    }
    Ok(Dataset {
        shape: [1, DIGITS_SIDE, DIGITS_SIDE],
        images,
        labels,
        classes: DIGITS_CLASSES,
    })
}
