//! The correction gate: scales the network's correction `c = output − input` per pixel by
//! `w = min(1, s / level)`, where `s` is the in-frame box mean of `|c|` (grey levels 0–255)
//! averaged causally over time, `s_t = α·box(|c_t|) + (1 − α)·s_{t−1}` (`s` starts at the
//! first frame's box mean).
//!
//! Why: clutter is spatially contiguous and nearly static, so inside it the correction is
//! large over whole neighbourhoods and frame after frame, while the network's stray small
//! corrections on clean tissue are scattered and come and go with the motion. Those alter
//! clean regions (leakage) and, changing from frame to frame, make the error flicker (the
//! temporal coherency score). The gate keeps the first and fades the second; it is causal, so
//! it adds no latency and a stream still equals whole-clip inference. Its settings live in the
//! weights' metadata (`gate_alpha`, `gate_box`, `gate_level`), chosen on validation clips
//! (`models/weights/PROVENANCE.md`); `models/train/clutter/model.py`'s `gate_correction` is the
//! reference this module is tested against.

use sluice_engine::{EngineError, Result};

/// The gate's settings (weights metadata).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateParams {
    /// Weight of the newest frame in the running mean, in (0, 1].
    pub alpha: f32,
    /// Side of the square box, pixels (odd).
    pub box_px: usize,
    /// Activity (mean |correction|, grey levels) at and above which the correction passes
    /// whole; below it the correction is scaled by activity / level.
    pub level: f32,
}

impl GateParams {
    /// Checks the ranges `ClutterWeights` accepts: α in (0, 1], an odd box of 1–255 pixels,
    /// a finite level in (0, 255]. The error names the metadata key at fault and why.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(("gate_alpha", format!("{} is not in (0, 1]", self.alpha)));
        }
        if self.box_px == 0 || self.box_px > 255 || self.box_px.is_multiple_of(2) {
            return Err(("gate_box", format!("{} is not an odd size in 1..=255", self.box_px)));
        }
        if !(self.level > 0.0 && self.level <= 255.0) {
            return Err(("gate_level", format!("{} is not in (0, 255]", self.level)));
        }
        Ok(())
    }
}

/// One stream's gate state: the running activity per pixel and the box filter's buffers.
#[derive(Debug, Clone)]
pub struct GateState {
    height: usize,
    width: usize,
    /// Running activity `s` per pixel (valid once `started`).
    activity: Vec<f32>,
    /// This frame's |correction| in grey levels, then its row sums.
    rows: Vec<f32>,
    /// Prefix sums of one row or column.
    prefix: Vec<f32>,
    started: bool,
    /// Frames still to pass through untouched (priming).
    skip: usize,
}

impl GateState {
    /// A fresh state for `height × width` frames.
    pub fn new(height: usize, width: usize) -> Self {
        let n = height * width;
        Self {
            height,
            width,
            activity: vec![0.0; n],
            rows: vec![0.0; n],
            prefix: vec![0.0; height.max(width) + 1],
            started: false,
            skip: 0,
        }
    }

    /// Back to a fresh stream: the next frame starts the running mean.
    pub fn reset(&mut self) {
        self.started = false;
        self.skip = 0;
    }

    /// The next `frames` frames are priming (outputs dropped by the caller): they pass through
    /// untouched and do not feed the running mean, whose start is then the clip's first frame.
    /// Why: the first priming frames carry the start-up cut priming exists to hide, and their
    /// large corrections would open the gate over clean tissue for the first real frames.
    pub fn skip(&mut self, frames: usize) {
        self.skip = frames;
    }

    /// Gates one frame in place: `output` (input + correction) becomes input + w·correction.
    /// Allocates nothing.
    pub fn apply(&mut self, params: &GateParams, input: &[f32], output: &mut [f32]) -> Result<()> {
        let n = self.height * self.width;
        for (buffer, got) in [("gate input", input.len()), ("gate output", output.len())] {
            if got != n {
                return Err(EngineError::BufferLength { op: "clutter gate", buffer, expected: n, got });
            }
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        let (h, w) = (self.height, self.width);
        let r = params.box_px / 2;
        for ((a, x), y) in self.rows.iter_mut().zip(input).zip(output.iter()) {
            *a = (y - x).abs() * 255.0;
        }
        // Row sums over [j − r, j + r] ∩ [0, w), in place, from prefix sums.
        for row in self.rows.chunks_exact_mut(w) {
            self.prefix[0] = 0.0;
            for (j, v) in row.iter().enumerate() {
                self.prefix[j + 1] = self.prefix[j] + v;
            }
            for (j, v) in row.iter_mut().enumerate() {
                *v = self.prefix[(j + r + 1).min(w)] - self.prefix[j.saturating_sub(r)];
            }
        }
        // Column sums of those, divided by the window's in-frame pixel count, into the running
        // activity.
        let (alpha, started) = (params.alpha, self.started);
        for j in 0..w {
            self.prefix[0] = 0.0;
            for i in 0..h {
                self.prefix[i + 1] = self.prefix[i] + self.rows[i * w + j];
            }
            let cols = ((j + r + 1).min(w) - j.saturating_sub(r)) as f32;
            for i in 0..h {
                let (lo, hi) = (i.saturating_sub(r), (i + r + 1).min(h));
                let mean = (self.prefix[hi] - self.prefix[lo]) / (cols * (hi - lo) as f32);
                let s = &mut self.activity[i * w + j];
                *s = if started { alpha * mean + (1.0 - alpha) * *s } else { mean };
            }
        }
        self.started = true;
        let inv = 1.0 / params.level;
        for ((y, x), s) in output.iter_mut().zip(input).zip(&self.activity) {
            *y = x + (s * inv).min(1.0) * (*y - x);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate by its definition: direct window sums, no prefix sums, f64.
    fn reference(params: &GateParams, input: &[f32], output: &[f32], frames: usize, h: usize, w: usize) -> Vec<f32> {
        let n = h * w;
        let r = params.box_px / 2;
        let mut s = vec![0.0f64; n];
        let mut out = output.to_vec();
        for t in 0..frames {
            let (x, y) = (&input[t * n..(t + 1) * n], &output[t * n..(t + 1) * n]);
            for i in 0..h {
                for j in 0..w {
                    let (mut sum, mut count) = (0.0f64, 0.0f64);
                    for ii in i.saturating_sub(r)..(i + r + 1).min(h) {
                        for jj in j.saturating_sub(r)..(j + r + 1).min(w) {
                            sum += f64::from((y[ii * w + jj] - x[ii * w + jj]).abs()) * 255.0;
                            count += 1.0;
                        }
                    }
                    let mean = sum / count;
                    let k = i * w + j;
                    s[k] = if t == 0 {
                        mean
                    } else {
                        f64::from(params.alpha) * mean + (1.0 - f64::from(params.alpha)) * s[k]
                    };
                    let g = (s[k] / f64::from(params.level)).min(1.0);
                    out[t * n + k] = (f64::from(x[k]) + g * f64::from(y[k] - x[k])) as f32;
                }
            }
        }
        out
    }

    /// A deterministic pseudo-random sequence in [0, 1).
    fn noise(seed: u64, len: usize) -> Vec<f32> {
        let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                (z >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    #[test]
    fn matches_the_definition_on_random_shapes_and_edge_sizes() {
        let cases =
            [(1, 1, 1, 1), (3, 1, 7, 3), (2, 5, 1, 5), (4, 4, 4, 11), (3, 9, 13, 5), (5, 16, 24, 11), (2, 7, 3, 31)];
        for (seed, &(frames, h, w, box_px)) in cases.iter().enumerate() {
            let params = GateParams { alpha: 0.3, box_px, level: 4.0 };
            let input = noise(seed as u64, frames * h * w);
            // Corrections from −0.04 to +0.04 (±10 grey levels), so some pass whole and some
            // are scaled.
            let output: Vec<f32> =
                input.iter().zip(noise(100 + seed as u64, input.len())).map(|(x, u)| x + 0.08 * (u - 0.5)).collect();
            let want = reference(&params, &input, &output, frames, h, w);
            let mut state = GateState::new(h, w);
            let mut got = output.clone();
            for (x, y) in input.chunks_exact(h * w).zip(got.chunks_exact_mut(h * w)) {
                state.apply(&params, x, y).unwrap_or_else(|e| panic!("{e}"));
            }
            for (k, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!((g - r).abs() < 1e-6, "{frames}x{h}x{w} box {box_px}: [{k}] {g} vs {r}");
            }
            // A reset starts over: the same frames again give the same output.
            state.reset();
            let mut again = output.clone();
            for (x, y) in input.chunks_exact(h * w).zip(again.chunks_exact_mut(h * w)) {
                state.apply(&params, x, y).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(again, got);
            // Skipped frames pass untouched and leave the running mean as it was.
            state.reset();
            state.skip(2);
            let mut skipped = output[..h * w].to_vec();
            for _ in 0..2 {
                state.apply(&params, &input[..h * w], &mut skipped).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(skipped, output[..h * w]);
            }
            let mut after = output.clone();
            for (x, y) in input.chunks_exact(h * w).zip(after.chunks_exact_mut(h * w)) {
                state.apply(&params, x, y).unwrap_or_else(|e| panic!("{e}"));
            }
            assert_eq!(after, got);
        }
    }

    #[test]
    fn strong_corrections_pass_whole_and_weak_ones_fade() {
        let params = GateParams { alpha: 1.0, box_px: 3, level: 4.0 };
        let (h, w) = (8, 8);
        let input = vec![0.5f32; h * w];
        // Left half: 20 grey levels everywhere (clutter); right half: one pixel of 2 levels.
        let mut output = input.clone();
        for i in 0..h {
            for j in 0..4 {
                output[i * w + j] += 20.0 / 255.0;
            }
        }
        output[4 * w + 6] += 2.0 / 255.0;
        let mut got = output.clone();
        GateState::new(h, w).apply(&params, &input, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert!((got[w] - output[w]).abs() < 1e-7, "clutter corrected whole");
        // The lone pixel's 3x3 mean is 2/9 level: scaled by 1/18.
        let kept = (got[4 * w + 6] - 0.5) * 255.0;
        assert!((kept - 2.0 / 18.0).abs() < 1e-4, "{kept}");
        let bad = GateState::new(h, w).apply(&params, &input[1..], &mut got);
        assert!(matches!(bad, Err(EngineError::BufferLength { .. })), "{bad:?}");
    }

    #[test]
    fn settings_are_checked() {
        let ok = GateParams { alpha: 0.05, box_px: 11, level: 4.0 };
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            GateParams { alpha: 0.0, ..ok },
            GateParams { alpha: 1.5, ..ok },
            GateParams { alpha: f32::NAN, ..ok },
            GateParams { box_px: 10, ..ok },
            GateParams { box_px: 0, ..ok },
            GateParams { box_px: 257, ..ok },
            GateParams { level: 0.0, ..ok },
            GateParams { level: f32::INFINITY, ..ok },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
