//! Weight packing: output columns in SIMD lanes, panels contiguous over the input dim.
//!
//! A `[k][n]` block is cut into panels of up to `nr` output columns. Panel `p` is stored as
//! `[k][width]` with `width` = its column count rounded up to the lane count (zero padded), so
//! one k step of a panel is `width / lanes` aligned-in-sequence vector loads. Grouped linears
//! store G identically shaped blocks one after another; the bias is padded the same way.

use crate::error::{Result, invalid};

/// One panel of output columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Panel {
    /// First output column (unpadded index).
    pub col: usize,
    /// Valid output columns in the panel.
    pub cols: usize,
    /// First column in the padded numbering (panel data starts at `pcol · k`).
    pub pcol: usize,
    /// Padded width (a multiple of the lane count).
    pub width: usize,
}

/// G packed `[k][n]` weight blocks with their padded biases.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    /// Number of blocks (groups).
    pub groups: usize,
    /// Inputs per group.
    pub k: usize,
    /// Outputs per group.
    pub n: usize,
    /// Lane count the panels are padded to.
    pub lanes: usize,
    /// Panels of one block (the same for every group).
    pub panels: Vec<Panel>,
    /// Padded output columns of one block.
    pub padded_n: usize,
    /// `groups · k · padded_n` packed weights, 64-byte aligned.
    pub w: Aligned,
    /// `groups · padded_n` biases (zeros where the layer has none), 64-byte aligned.
    pub bias: Aligned,
}

/// Floats starting on a 64-byte boundary, so full-panel vector loads never split cache lines
/// (a split 64-byte load costs two L1 accesses; the GEMV is load-bound).
#[derive(Debug, Clone)]
pub(crate) struct Aligned {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl Aligned {
    const ALIGN_FLOATS: usize = 16;

    /// `len` zeros, 64-byte aligned.
    fn zeros(len: usize) -> Self {
        let buf = vec![0.0f32; len + Self::ALIGN_FLOATS];
        let off = buf.as_ptr().align_offset(64).min(Self::ALIGN_FLOATS);
        Self { buf, off, len }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl std::ops::DerefMut for Aligned {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

impl Packed {
    /// Packs G blocks; `weight(g, i, o)` reads input `i`, output `o` of group `g`.
    pub fn new(
        op: &'static str,
        (groups, k, n): (usize, usize, usize),
        (nr, lanes): (usize, usize),
        weight: impl Fn(usize, usize, usize) -> f32,
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        if groups == 0 || k == 0 || n == 0 {
            return Err(invalid(op, format!("groups {groups}, inputs {k} and outputs {n} must all be at least 1")));
        }
        let mut panels = Vec::new();
        let (mut col, mut pcol) = (0, 0);
        while col < n {
            let cols = nr.min(n - col);
            let width = cols.div_ceil(lanes) * lanes;
            panels.push(Panel { col, cols, pcol, width });
            col += cols;
            pcol += width;
        }
        let padded_n = pcol;
        let mut w = Aligned::zeros(groups * k * padded_n);
        let mut b = Aligned::zeros(groups * padded_n);
        for g in 0..groups {
            let block = &mut w[g * k * padded_n..][..k * padded_n];
            for p in &panels {
                let panel = &mut block[p.pcol * k..][..k * p.width];
                for i in 0..k {
                    for j in 0..p.cols {
                        panel[i * p.width + j] = weight(g, i, p.col + j);
                    }
                }
                if let Some(bias) = bias {
                    b[g * padded_n + p.pcol..][..p.cols].copy_from_slice(&bias[g * n + p.col..][..p.cols]);
                }
            }
        }
        Ok(Self { groups, k, n, lanes, panels, padded_n, w, bias: b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_columns_and_pad_to_lanes() {
        let p = Packed::new("t", (2, 3, 37), (16, 8), |g, i, o| (g * 1000 + i * 100 + o) as f32, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let widths: Vec<_> = p.panels.iter().map(|p| (p.col, p.cols, p.width)).collect();
        assert_eq!(widths, vec![(0, 16, 16), (16, 16, 16), (32, 5, 8)]);
        assert_eq!(p.padded_n, 40);
        // group 1, panel 2, input 2, column 4 → output 36
        let idx = 3 * 40 + 32 * 3 + 2 * 8 + 4;
        assert_eq!(p.w[idx], 1236.0);
        // padding is zero
        assert_eq!(p.w[3 * 40 + 32 * 3 + 2 * 8 + 5], 0.0);
        assert_eq!(p.w.as_ptr() as usize % 64, 0);
        assert_eq!(p.bias.len(), 80);
    }
}
