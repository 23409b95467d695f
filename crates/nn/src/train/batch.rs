//! Assembling training batches as candle tensors, with random-shift augmentation.

use candle_core::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::TrainError;
use crate::data::Dataset;

/// Shifts a `channels x height x width` image by `(dy, dx)` pixels (down and right when
/// positive), filling the uncovered border with zeros.
pub fn shift_image(src: &[f32], shape: [usize; 3], dy: isize, dx: isize, dst: &mut [f32]) {
    let [c, h, w] = shape;
    dst.fill(0.0);
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize - dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize - dx;
                if sx < 0 || sx >= w as isize {
                    continue;
                }
                dst[(ch * h + y) * w + x] = src[(ch * h + sy as usize) * w + sx as usize];
            }
        }
    }
}

/// Images `[n, c, h, w]` and labels `[n]` (u32) of the examples at `indices`, each shifted by a
/// random amount in `-max_shift..=max_shift` per axis.
pub(crate) fn assemble(
    data: &Dataset,
    indices: &[usize],
    max_shift: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<(Tensor, Tensor), TrainError> {
    let d = data.example_len();
    let mut images = vec![0.0f32; indices.len() * d];
    let mut labels = Vec::with_capacity(indices.len());
    for (k, &i) in indices.iter().enumerate() {
        let (Some(src), Some(&label)) = (data.image(i), data.labels.get(i)) else {
            return Err(TrainError::Dataset(format!("example {i} out of range")));
        };
        let dst = &mut images[k * d..(k + 1) * d];
        if max_shift == 0 {
            dst.copy_from_slice(src);
        } else {
            // i32: rand's uniform sampling of isize is not portable across word sizes.
            let s = i32::try_from(max_shift).unwrap_or(i32::MAX);
            let dy = rng.random_range(-s..=s) as isize;
            let dx = rng.random_range(-s..=s) as isize;
            shift_image(src, data.shape, dy, dx, dst);
        }
        labels.push(u32::from(label));
    }
    let [c, h, w] = data.shape;
    let x = Tensor::from_vec(images, (indices.len(), c, h, w), device)?;
    let y = Tensor::from_vec(labels, indices.len(), device)?;
    Ok((x, y))
}
