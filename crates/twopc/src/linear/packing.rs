//! Where each input and output value sits in the ciphertexts of one layer: a public function
//! of the layer's shape, the encoding and the ring degree, so client and server derive it alike.

/// The packing of one layer: slot positions (slot encoding, row 0 of the `2 × n/2` matrix) or
/// coefficient indices (coefficient encoding) of every value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packing {
    /// Ring degree.
    pub n: usize,
    /// For each input ciphertext, the `(position, input index)` pairs it holds (slot encoding
    /// may hold one input at several positions: replication for cyclic rotations).
    pub inputs: Vec<Vec<(usize, usize)>>,
    /// For each output index, `(output ciphertext, position)`.
    pub outputs: Vec<(usize, usize)>,
    /// Number of output ciphertexts.
    pub output_cts: usize,
    /// Column-rotation steps the server needs Galois keys for (empty for coefficient encoding).
    pub rotation_steps: Vec<i64>,
}

impl Packing {
    /// Places `values` (indexed by input index) into one position vector per input ciphertext.
    pub fn scatter_inputs(&self, values: &[u64]) -> Vec<Vec<u64>> {
        self.inputs
            .iter()
            .map(|ct| {
                let mut v = vec![0u64; self.n];
                for &(pos, idx) in ct {
                    v[pos] = values[idx];
                }
                v
            })
            .collect()
    }

    /// Reads the outputs (indexed by output index) from one position vector per output
    /// ciphertext.
    pub fn gather_outputs(&self, cts: &[Vec<u64>]) -> Vec<u64> {
        self.outputs.iter().map(|&(c, pos)| cts[c][pos]).collect()
    }
}
