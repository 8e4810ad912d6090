//! [`DeclutterStage`]: grey frames of any size through the clutter filter, one per call.
//!
//! The network needs frame sides that are multiples of 8 (`ClutterPlan::padded_size`): a frame
//! is copied into the top-left of a zeroed buffer of the padded size — zero-padding at the
//! bottom and right, which is what the echo sector has outside the fan — filtered, and the
//! top-left `width × height` of the result is cropped back. The padding is written once, in
//! [`DeclutterStage::new`], and never again. Output grey levels are clamped to [0, 1] (the
//! network adds a correction to its input and may overshoot).
//!
//! Every buffer is allocated in `new`; the `process_*` calls allocate nothing. The output lags
//! the input by 0 frames ([`DeclutterStage::latency`]); each frame's output depends on the
//! frames before it in the clip, so [`DeclutterStage::reset`] starts a new clip.

use std::sync::Arc;

use sluice_engine::Threads;
use sluice_models::clutter::{Clutter, ClutterPlan, ClutterStream};

use super::MAX_PIXELS;
use super::error::DeclutterError;
use super::grey::YcbcrToGrey;
use crate::video::{Colour, Plane, PlaneMut, Range};

/// The clutter filter for one stream of `width × height` grey frames.
#[derive(Debug)]
pub struct DeclutterStage {
    stream: ClutterStream,
    size: (usize, usize),
    padded: (usize, usize),
    /// The padded input frame; only its top-left `size` is ever written.
    input: Vec<f32>,
    /// The padded output frame.
    output: Vec<f32>,
}

impl DeclutterStage {
    /// A stage for `width × height` frames on `threads` (each frame's layers are split into row
    /// bands across them). Errors for an empty frame, one beyond [`MAX_PIXELS`], or a network
    /// that cannot be planned.
    pub fn new(model: &Clutter, width: usize, height: usize, threads: Arc<Threads>) -> Result<Self, DeclutterError> {
        let err = |reason: String| DeclutterError::BadDimensions { width, height, reason };
        if width == 0 || height == 0 {
            return Err(err("the frame is empty".into()));
        }
        if width.checked_mul(height).is_none_or(|n| n > MAX_PIXELS) {
            return Err(err(format!(
                "more than the clutter filter's {MAX_PIXELS} pixels (640×480); scale the clip down (the \
                 network was trained on 128×128 frames of a whole sector, about 1 mm per pixel)"
            )));
        }
        let (ph, pw) = ClutterPlan::padded_size(model.weights(), height, width);
        let stream = model.stream(ph, pw, threads)?;
        Ok(Self {
            stream,
            size: (width, height),
            padded: (pw, ph),
            input: vec![0.0; pw * ph],
            output: vec![0.0; pw * ph],
        })
    }

    /// The frame (width, height).
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// The size the network runs at: (width, height) rounded up to the multiple the net needs (8).
    pub fn padded_size(&self) -> (usize, usize) {
        self.padded
    }

    /// Frames the output lags the input: 0.
    pub fn latency(&self) -> usize {
        self.stream.latency()
    }

    /// Starts a new clip (the network's temporal histories back to zero).
    pub fn reset(&mut self) {
        self.stream.reset();
    }

    /// Filters one packed `width × height` frame of grey levels in [0, 1] (values outside are
    /// clamped, NaN reads as 0) into `dst` (same size), clamped to [0, 1].
    pub fn process_f32(&mut self, src: &[f32], dst: &mut [f32]) -> Result<(), DeclutterError> {
        let (w, h) = self.size;
        for (what, len) in [("input frame", src.len()), ("output frame", dst.len())] {
            if len != w * h {
                return Err(DeclutterError::BufferSize {
                    what,
                    reason: format!("{len} values for a {w}×{h} frame ({} expected)", w * h),
                });
            }
        }
        // A NaN becomes 0 rather than poisoning the clip's history.
        let sane = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        pad(src.chunks_exact(w), &mut self.input, self.padded.0, sane);
        self.run()?;
        crop(&self.output, self.padded.0, dst.chunks_exact_mut(w), |v| v);
        Ok(())
    }

    /// Filters one 8-bit grey frame (0–255) into `dst`, both with strides. `dst` may be
    /// smaller than the frame (the excess is cropped, e.g. to the even size 4:2:0 needs).
    pub fn process_u8(&mut self, src: Plane<'_>, dst: &mut PlaneMut<'_>) -> Result<(), DeclutterError> {
        self.check_src("input", &src)?;
        pad(rows(&src), &mut self.input, self.padded.0, |v: u8| f32::from(v) * (1.0 / 255.0));
        self.run()?;
        self.store(dst, Range::Full)
    }

    /// Filters one planar Y'CbCr frame of `colour` (the decoder's output: chroma full size or
    /// subsampled by 2 across and/or down), reduced to BT.601 grey ([`super::grey`]), writing
    /// the grey result into `dst` as luma code values of `out_range` (limited: 16–235).
    pub fn process_ycbcr(
        &mut self,
        src: [Plane<'_>; 3],
        colour: Colour,
        dst: &mut PlaneMut<'_>,
        out_range: Range,
    ) -> Result<(), DeclutterError> {
        let [y, cb, cr] = src;
        self.check_src("input Y", &y)?;
        let mix = YcbcrToGrey::new(colour);
        let pw = self.padded.0;
        if mix.uses_chroma() {
            let (w, h) = self.size;
            let shift =
                |full: usize, sub: usize| if sub == full { Some(0) } else { (sub == full.div_ceil(2)).then_some(1) };
            let (sx, sy) = match (shift(w, cb.width), shift(h, cb.height)) {
                (Some(sx), Some(sy)) if (cr.width, cr.height) == (cb.width, cb.height) => (sx, sy),
                _ => {
                    return Err(DeclutterError::BufferSize {
                        what: "input chroma",
                        reason: format!("{}×{} chroma for {w}×{h} luma", cb.width, cb.height),
                    });
                }
            };
            check_plane("input Cb", &cb, (cb.width, cb.height))?;
            check_plane("input Cr", &cr, (cr.width, cr.height))?;
            for (r, out) in self.input.chunks_exact_mut(pw).take(h).enumerate() {
                let yl = &y.data[r * y.stride..r * y.stride + w];
                let c = (r >> sy) * cb.stride;
                let (cbl, crl) = (&cb.data[c..c + cb.width], &cr.data[(r >> sy) * cr.stride..][..cr.width]);
                for (x, (o, v)) in out[..w].iter_mut().zip(yl).enumerate() {
                    *o = mix.grey(*v, cbl[x >> sx], crl[x >> sx]);
                }
            }
        } else {
            pad(rows(&y), &mut self.input, pw, |v: u8| mix.grey_of_luma(v));
        }
        self.run()?;
        self.store(dst, out_range)
    }

    fn check_src(&self, what: &'static str, p: &Plane<'_>) -> Result<(), DeclutterError> {
        check_plane(what, p, self.size)
    }

    fn run(&mut self) -> Result<(), DeclutterError> {
        self.stream.process(&self.input, &mut self.output)?;
        for v in &mut self.output {
            *v = v.clamp(0.0, 1.0);
        }
        Ok(())
    }

    /// Writes the cropped output into `dst` as code values of `range`.
    fn store(&self, dst: &mut PlaneMut<'_>, range: Range) -> Result<(), DeclutterError> {
        let (w, h) = self.size;
        let fits = dst.width <= w && dst.height <= h && dst.stride >= dst.width;
        let len = if dst.height == 0 { 0 } else { dst.stride * (dst.height - 1) + dst.width };
        if !fits || dst.data.len() < len {
            return Err(DeclutterError::BufferSize {
                what: "output plane",
                reason: format!(
                    "{}×{} (stride {}, {} bytes) for a {w}×{h} frame",
                    dst.width,
                    dst.height,
                    dst.stride,
                    dst.data.len()
                ),
            });
        }
        let (offset, scale) = match range {
            Range::Full => (0.0, 255.0),
            Range::Limited => (16.0, 219.0),
        };
        let (dw, dh) = (dst.width, dst.height);
        let lines = dst.data.chunks_mut(dst.stride.max(1)).take(dh).map(|l| &mut l[..dw]);
        // In [0, 1] after `run`'s clamp, so the cast cannot overflow.
        crop(&self.output, self.padded.0, lines, |v| (offset + v * scale + 0.5) as u8);
        Ok(())
    }
}

/// The `width`-long rows of a plane.
fn rows<'a>(p: &'a Plane<'a>) -> impl Iterator<Item = &'a [u8]> {
    (0..p.height).map(move |r| &p.data[r * p.stride..r * p.stride + p.width])
}

/// Checks `p` is `size` and its buffer holds it.
fn check_plane(what: &'static str, p: &Plane<'_>, size: (usize, usize)) -> Result<(), DeclutterError> {
    let len = if p.height == 0 { 0 } else { p.stride * (p.height - 1) + p.width };
    if (p.width, p.height) != size || p.stride < p.width || p.data.len() < len {
        return Err(DeclutterError::BufferSize {
            what,
            reason: format!(
                "{}×{} (stride {}, {} bytes), expected {}×{}",
                p.width,
                p.height,
                p.stride,
                p.data.len(),
                size.0,
                size.1
            ),
        });
    }
    Ok(())
}

/// Copies the frame given row by row into the top-left of `dst` (`pw` values per row), mapping
/// each value with `f`; the rest of `dst` (the padding) is left as it is.
pub(crate) fn pad<'a, T: Copy + 'a>(
    rows: impl Iterator<Item = &'a [T]>,
    dst: &mut [f32],
    pw: usize,
    f: impl Fn(T) -> f32,
) {
    for (row, out) in rows.zip(dst.chunks_exact_mut(pw)) {
        for (o, v) in out.iter_mut().zip(row) {
            *o = f(*v);
        }
    }
}

/// Copies the top-left of `src` (`pw` values per row) into `rows`, as many rows and columns as
/// they hold, mapping each value with `f`.
pub(crate) fn crop<'a, T: 'a>(src: &[f32], pw: usize, rows: impl Iterator<Item = &'a mut [T]>, f: impl Fn(f32) -> T) {
    for (row, line) in rows.zip(src.chunks_exact(pw)) {
        for (o, v) in row.iter_mut().zip(line) {
            *o = f(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::Matrix;
    use sluice_models::timing::echo_clip;

    fn model() -> Clutter {
        Clutter::bundled().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn padding_and_cropping_round_trip_and_leave_the_border_zero() {
        for (w, h) in [(1usize, 1usize), (5, 3), (8, 4), (13, 9)] {
            let (pw, ph) = (w.div_ceil(4) * 4, h.div_ceil(4) * 4);
            let frame: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251 + 1) as u8).collect();
            let mut padded = vec![0.0; pw * ph];
            pad(frame.chunks_exact(w), &mut padded, pw, f32::from);
            for (i, v) in padded.iter().enumerate() {
                let (x, y) = (i % pw, i / pw);
                if x >= w || y >= h {
                    assert_eq!(*v, 0.0, "{w}×{h}: padding at ({x}, {y})");
                } else {
                    assert_eq!(*v, f32::from(frame[y * w + x]));
                }
            }
            let mut back = vec![0u8; w * h];
            crop(&padded, pw, back.chunks_exact_mut(w), |v| v as u8);
            assert_eq!(back, frame, "{w}×{h}");
        }
    }

    #[test]
    fn stage_equals_the_stream_on_zero_padded_frames_cropped() {
        let model = model();
        // 33×30 pads to 40×32: the network must see exactly the zero-padded frames.
        let (w, h, frames) = (33, 30, 5);
        let x = echo_clip(frames, h, w);
        let single = Arc::new(Threads::single());
        let mut stage = DeclutterStage::new(&model, w, h, single.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((stage.size(), stage.padded_size(), stage.latency()), ((33, 30), (40, 32), 0));
        let mut stream = model.stream(32, 40, single).unwrap_or_else(|e| panic!("{e}"));
        let mut padded = vec![0.0; 40 * 32];
        let mut full = vec![0.0; 40 * 32];
        let mut got = vec![f32::NAN; w * h];
        let mut changed = 0.0f32;
        for f in x.chunks_exact(w * h) {
            stage.process_f32(f, &mut got).unwrap_or_else(|e| panic!("{e}"));
            for (r, row) in f.chunks_exact(w).enumerate() {
                padded[r * 40..r * 40 + w].copy_from_slice(row);
            }
            stream.process(&padded, &mut full).unwrap_or_else(|e| panic!("{e}"));
            for (r, row) in got.chunks_exact(w).enumerate() {
                for (c, v) in row.iter().enumerate() {
                    assert_eq!(*v, full[r * 40 + c].clamp(0.0, 1.0), "pixel ({c}, {r})");
                    changed = changed.max((v - f[r * w + c]).abs());
                }
            }
        }
        assert!(changed > 1e-3, "the filter should change a cluttered clip (max change {changed})");
        // A new clip after reset starts like a fresh stage.
        let mut fresh =
            DeclutterStage::new(&model, w, h, Arc::new(Threads::single())).unwrap_or_else(|e| panic!("{e}"));
        let (mut a, mut b) = (vec![0.0; w * h], vec![0.0; w * h]);
        stage.reset();
        stage.process_f32(&x[..w * h], &mut a).unwrap_or_else(|e| panic!("{e}"));
        fresh.process_f32(&x[..w * h], &mut b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
    }

    #[test]
    fn u8_and_ycbcr_frames_match_the_f32_path() {
        let model = model();
        let (w, h) = (18, 10);
        let x = echo_clip(3, h, w);
        let threads = Arc::new(Threads::single());
        let mut f32_stage = DeclutterStage::new(&model, w, h, threads.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut u8_stage = DeclutterStage::new(&model, w, h, threads.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut yuv_stage = DeclutterStage::new(&model, w, h, threads).unwrap_or_else(|e| panic!("{e}"));
        let limited = Colour { matrix: Matrix::Bt709, range: Range::Limited };
        for f in x.chunks_exact(w * h) {
            // Quantised to 8 bits first, so all three paths see the same grey levels.
            let bytes: Vec<u8> = f.iter().map(|v| (v * 255.0).round() as u8).collect();
            let grey: Vec<f32> = bytes.iter().map(|b| f32::from(*b) / 255.0).collect();
            let mut want = vec![0.0; w * h];
            f32_stage.process_f32(&grey, &mut want).unwrap_or_else(|e| panic!("{e}"));

            // Grey u8 with a stride, into a plane one row and column short (cropped).
            let stride = w + 3;
            let mut strided = vec![99u8; stride * h];
            for (r, row) in bytes.chunks_exact(w).enumerate() {
                strided[r * stride..r * stride + w].copy_from_slice(row);
            }
            let mut out = vec![0u8; (w - 1) * (h - 1)];
            let src = Plane { data: &strided, stride, width: w, height: h };
            let mut dst = PlaneMut { data: &mut out, stride: w - 1, width: w - 1, height: h - 1 };
            u8_stage.process_u8(src, &mut dst).unwrap_or_else(|e| panic!("{e}"));
            for r in 0..h - 1 {
                for c in 0..w - 1 {
                    assert_eq!(out[r * (w - 1) + c], (want[r * w + c] * 255.0 + 0.5) as u8, "u8 ({c}, {r})");
                }
            }

            // Limited-range BT.709 4:2:0 with neutral chroma, out as limited-range luma.
            let y: Vec<u8> = grey.iter().map(|v| (16.0 + v * 219.0).round() as u8).collect();
            let c = vec![128u8; w.div_ceil(2) * h.div_ceil(2)];
            let cp = Plane { data: &c, stride: w.div_ceil(2), width: w.div_ceil(2), height: h.div_ceil(2) };
            let mut out = vec![0u8; w * h];
            let mut dst = PlaneMut { data: &mut out, stride: w, width: w, height: h };
            let src = [Plane { data: &y, stride: w, width: w, height: h }, cp, cp];
            yuv_stage.process_ycbcr(src, limited, &mut dst, Range::Limited).unwrap_or_else(|e| panic!("{e}"));
            for (i, o) in out.iter().enumerate() {
                // Y' = 16 + 219·v, so the round trip through limited range is within a code value.
                let want = 16.0 + want[i] * 219.0;
                assert!((f32::from(*o) - want).abs() <= 1.5, "ycbcr {i}: {o} vs {want}");
            }
        }
    }

    #[test]
    fn bad_sizes_are_typed_errors() {
        let model = model();
        let threads = Arc::new(Threads::single());
        for (w, h) in [(0, 8), (8, 0), (641, 480), (480, 641), (usize::MAX, 2)] {
            let err = DeclutterStage::new(&model, w, h, threads.clone()).err();
            assert!(matches!(err, Some(DeclutterError::BadDimensions { .. })), "{w}×{h}: {err:?}");
        }
        let mut stage = DeclutterStage::new(&model, 6, 5, threads).unwrap_or_else(|e| panic!("{e}"));
        let x = vec![0.5; 30];
        let mut y = vec![0.0; 30];
        assert!(matches!(stage.process_f32(&x[1..], &mut y), Err(DeclutterError::BufferSize { .. })));
        assert!(matches!(stage.process_f32(&x, &mut y[..29]), Err(DeclutterError::BufferSize { .. })));
        let bytes = vec![0u8; 30];
        let mut out = vec![0u8; 42];
        let src = Plane { data: &bytes, stride: 6, width: 6, height: 5 };
        let mut big = PlaneMut { data: &mut out, stride: 7, width: 7, height: 6 };
        assert!(matches!(stage.process_u8(src, &mut big), Err(DeclutterError::BufferSize { .. })));
        let short = Plane { data: &bytes[..20], stride: 6, width: 6, height: 5 };
        let mut out = vec![0u8; 30];
        let mut ok = PlaneMut { data: &mut out, stride: 6, width: 6, height: 5 };
        assert!(matches!(stage.process_u8(short, &mut ok), Err(DeclutterError::BufferSize { .. })));
        // NaN and out-of-range input are clamped, not propagated.
        let mut odd = x.clone();
        odd[3] = f32::NAN;
        odd[4] = 7.0;
        stage.process_f32(&odd, &mut y).unwrap_or_else(|e| panic!("{e}"));
        assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{y:?}");
    }
}
