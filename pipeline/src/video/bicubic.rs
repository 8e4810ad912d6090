//! Separable bicubic resampling (Keys, a = −0.5), the chroma path and the `bicubic` luma model.
//!
//! Output pixel centres map to input coordinates by `(x + 0.5)·src/dst − 0.5` (centres
//! aligned, as FFmpeg's and OpenCV's resizers do); edges replicate. The four taps and weights
//! of every output column and row are computed once in [`Bicubic::new`], so [`Bicubic::resize`]
//! is two passes of four multiply-adds per pixel and allocates nothing. Meant for enlarging:
//! shrinking would alias (there is no prefilter).

use super::VideoError;
use super::upscaler::LumaUpscaler;

/// Keys' cubic convolution kernel with a = −0.5 (Catmull-Rom).
fn keys(t: f64) -> f64 {
    const A: f64 = -0.5;
    let t = t.abs();
    if t <= 1.0 {
        ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A
    } else {
        0.0
    }
}

/// Four source indices and their weights for one output coordinate.
#[derive(Debug, Clone, Copy)]
struct Taps {
    index: [usize; 4],
    weight: [f32; 4],
    /// `Some(first)` when the taps are `first..first + 4` with no edge clamping (one slice,
    /// one bounds check).
    run: Option<usize>,
}

fn taps(src: usize, dst: usize) -> Vec<Taps> {
    let ratio = src as f64 / dst as f64;
    let last = src as isize - 1;
    (0..dst)
        .map(|x| {
            let s = (x as f64 + 0.5) * ratio - 0.5;
            let base = s.floor();
            let t = s - base;
            let base = base as isize;
            let mut index = [0; 4];
            let mut weight = [0.0; 4];
            for k in 0..4 {
                index[k] = (base - 1 + k as isize).clamp(0, last) as usize;
                weight[k] = keys(t + 1.0 - k as f64) as f32;
            }
            let run = (base >= 1 && base + 2 <= last).then(|| (base - 1) as usize);
            Taps { index, weight, run }
        })
        .collect()
}

/// A bicubic resizer for one pair of plane sizes, with its scratch row buffer.
#[derive(Debug, Clone)]
pub struct Bicubic {
    src: (usize, usize),
    dst: (usize, usize),
    cols: Vec<Taps>,
    rows: Vec<Taps>,
    /// Horizontally resized source rows: src height × dst width.
    tmp: Vec<f32>,
}

impl Bicubic {
    /// A resizer from `src` (width, height) to `dst` (width, height); all must be non-zero.
    pub fn new(src: (usize, usize), dst: (usize, usize)) -> Result<Self, VideoError> {
        if src.0 == 0 || src.1 == 0 || dst.0 == 0 || dst.1 == 0 {
            return Err(VideoError::InvalidConfig(format!("bicubic resize {src:?} → {dst:?}: empty plane")));
        }
        Ok(Self { src, dst, cols: taps(src.0, dst.0), rows: taps(src.1, dst.1), tmp: vec![0.0; src.1 * dst.0] })
    }

    /// Source (width, height).
    pub fn src_size(&self) -> (usize, usize) {
        self.src
    }

    /// Destination (width, height).
    pub fn dst_size(&self) -> (usize, usize) {
        self.dst
    }

    /// Resizes a packed (stride = width) plane. Allocates nothing.
    pub fn resize(&mut self, src: &[f32], dst: &mut [f32]) -> Result<(), VideoError> {
        let ((sw, sh), (dw, dh)) = (self.src, self.dst);
        if src.len() != sw * sh || dst.len() != dw * dh {
            return Err(VideoError::InvalidConfig(format!(
                "bicubic resize {sw}×{sh} → {dw}×{dh} got buffers of {} and {}",
                src.len(),
                dst.len()
            )));
        }
        for (row, out) in src.chunks_exact(sw).zip(self.tmp.chunks_exact_mut(dw)) {
            for (o, t) in out.iter_mut().zip(&self.cols) {
                let [w0, w1, w2, w3] = t.weight;
                *o = match t.run {
                    Some(first) => {
                        let s = &row[first..first + 4];
                        w0 * s[0] + w1 * s[1] + w2 * s[2] + w3 * s[3]
                    }
                    None => w0 * row[t.index[0]] + w1 * row[t.index[1]] + w2 * row[t.index[2]] + w3 * row[t.index[3]],
                };
            }
        }
        for (out, t) in dst.chunks_exact_mut(dw).zip(&self.rows) {
            let r = |k: usize| &self.tmp[t.index[k] * dw..(t.index[k] + 1) * dw];
            let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
            let [w0, w1, w2, w3] = t.weight;
            for (x, o) in out.iter_mut().enumerate() {
                *o = w0 * r0[x] + w1 * r1[x] + w2 * r2[x] + w3 * r3[x];
            }
        }
        Ok(())
    }
}

/// Bicubic luma upscaling: the `--model bicubic` baseline.
#[derive(Debug)]
pub struct BicubicUpscaler {
    scale: usize,
    resizer: Option<Bicubic>,
}

impl BicubicUpscaler {
    /// An upscaler by `scale` (≥ 1).
    pub fn new(scale: usize) -> Result<Self, VideoError> {
        if scale == 0 {
            return Err(VideoError::InvalidConfig("scale factor 0".into()));
        }
        Ok(Self { scale, resizer: None })
    }
}

impl LumaUpscaler for BicubicUpscaler {
    fn scale(&self) -> usize {
        self.scale
    }

    fn name(&self) -> &'static str {
        "bicubic"
    }

    fn upscale(&mut self, src: &[f32], width: usize, height: usize, dst: &mut [f32]) -> Result<(), VideoError> {
        let out = (width * self.scale, height * self.scale);
        // Built on the first frame (and again only if the size changes mid-stream).
        let resizer = match &mut self.resizer {
            Some(r) if r.src_size() == (width, height) => r,
            slot => slot.insert(Bicubic::new((width, height), out)?),
        };
        resizer.resize(src, dst)?;
        // Bicubic overshoots at edges; the contract is [0, 1].
        for v in dst.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct 2-D definition in f64: sum over the 4×4 neighbourhood, edges replicated.
    fn naive(src: &[f32], (sw, sh): (usize, usize), (dw, dh): (usize, usize)) -> Vec<f64> {
        let coord = |x: usize, s: usize, d: usize| (x as f64 + 0.5) * s as f64 / d as f64 - 0.5;
        let mut out = vec![0.0; dw * dh];
        for y in 0..dh {
            let sy = coord(y, sh, dh);
            for x in 0..dw {
                let sx = coord(x, sw, dw);
                let mut acc = 0.0;
                for j in (sy.floor() as isize - 1)..=(sy.floor() as isize + 2) {
                    for i in (sx.floor() as isize - 1)..=(sx.floor() as isize + 2) {
                        let w = keys(sx - i as f64) * keys(sy - j as f64);
                        let (ci, cj) = (i.clamp(0, sw as isize - 1) as usize, j.clamp(0, sh as isize - 1) as usize);
                        acc += w * f64::from(src[cj * sw + ci]);
                    }
                }
                out[y * dw + x] = acc;
            }
        }
        out
    }

    fn pattern(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 1000) as f32 / 999.0
            })
            .collect()
    }

    #[test]
    fn matches_the_f64_definition_on_edge_and_odd_sizes() {
        let cases = [
            ((1, 1), (3, 3)),
            ((1, 1), (1, 1)),
            ((1, 5), (2, 10)),
            ((7, 1), (21, 3)),
            ((2, 2), (8, 8)),
            ((5, 3), (10, 6)),
            ((13, 11), (39, 33)),
            ((16, 9), (24, 14)),
            ((32, 24), (128, 96)),
        ];
        for (i, (src, dst)) in cases.into_iter().enumerate() {
            let input = pattern(src.0 * src.1, i as u32);
            let mut out = vec![f32::NAN; dst.0 * dst.1];
            let mut r = Bicubic::new(src, dst).unwrap_or_else(|e| panic!("{e}"));
            r.resize(&input, &mut out).unwrap_or_else(|e| panic!("{e}"));
            for (k, (got, want)) in out.iter().zip(naive(&input, src, dst)).enumerate() {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{src:?}→{dst:?} at {k}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn keeps_constants_and_linear_ramps_interior() {
        let mut r = Bicubic::new((6, 4), (18, 12)).unwrap_or_else(|e| panic!("{e}"));
        let mut out = vec![0.0; 18 * 12];
        r.resize(&[0.25; 24], &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-6));
        // Catmull-Rom reproduces linear functions away from the replicated edges.
        let ramp: Vec<f32> = (0..24).map(|i| (i % 6) as f32).collect();
        r.resize(&ramp, &mut out).unwrap_or_else(|e| panic!("{e}"));
        for x in 6..12 {
            let sx = (x as f32 + 0.5) / 3.0 - 0.5;
            assert!((out[5 * 18 + x] - sx).abs() < 1e-5, "x={x}: {}", out[5 * 18 + x]);
        }
    }

    #[test]
    fn upscaler_clamps_and_checks_sizes() {
        let mut up = BicubicUpscaler::new(3).unwrap_or_else(|e| panic!("{e}"));
        // A hard edge overshoots under bicubic; the contract clamps to [0, 1].
        let src = [0.0, 0.0, 1.0, 1.0];
        let mut dst = vec![0.0; 12 * 3];
        up.upscale(&src, 4, 1, &mut dst).unwrap_or_else(|e| panic!("{e}"));
        assert!(dst.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(dst[..4].iter().all(|v| *v == 0.0) && dst[8..12].iter().all(|v| (1.0 - v) < 1e-6), "{dst:?}");
        assert!(up.upscale(&src, 4, 1, &mut [0.0; 5]).is_err());
        assert!(Bicubic::new((0, 3), (3, 3)).is_err());
        assert!(BicubicUpscaler::new(0).is_err());
    }
}
