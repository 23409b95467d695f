//! Reading a dataset file into memory, transparently decompressing gzip (detected by its magic
//! bytes `1f 8b`, not by the file name) and refusing anything larger than a set limit, so a
//! corrupt or hostile file (a gzip bomb) cannot exhaust memory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::DataError;

/// Largest (decompressed) dataset file henn reads: 512 MiB. MNIST's training images take 47 MB,
/// a CIFAR-10 batch 30 MB.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// The two bytes every gzip stream starts with (RFC 1952 section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path`, gunzipping it if it starts with the gzip magic, and fails with
/// [`DataError::TooLarge`] if the (decompressed) content exceeds `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    // Read up to two bytes (the file may be shorter than that).
    let mut head = Vec::with_capacity(2);
    (&mut file).take(2).read_to_end(&mut head).map_err(io)?;
    let mut out = Vec::new();
    if head == GZIP_MAGIC {
        let reader = MultiGzDecoder::new(head.as_slice().chain(file));
        reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(io)?;
    } else {
        out.extend_from_slice(&head);
        file.take(limit.saturating_add(1).saturating_sub(head.len() as u64))
            .read_to_end(&mut out)
            .map_err(io)?;
    }
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

/// The first of `names` that exists in `dir`, each tried as given and with `.gz` appended.
pub fn find_file(dir: &Path, names: &[&str]) -> Result<PathBuf, DataError> {
    let mut tried = Vec::new();
    for name in names {
        for candidate in [name.to_string(), format!("{name}.gz")] {
            let path = dir.join(&candidate);
            if path.is_file() {
                return Ok(path);
            }
            tried.push(candidate);
        }
    }
    Err(DataError::NotFound {
        dir: dir.to_path_buf(),
        names: tried,
    })
}
