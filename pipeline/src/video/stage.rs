//! [`UpscaleStage`]: one planar Y'CbCr frame → the same frame ×N, luma through a
//! [`LumaUpscaler`], chroma through [`Bicubic`].
//!
//! Works on borrowed 8-bit planes with strides, so it reads FFmpeg frames (or raw I420 from a
//! socket) in place; every buffer is allocated in [`UpscaleStage::new`] and
//! [`UpscaleStage::process`] allocates nothing (a model may on a size change). The luma model
//! runs on its own thread, so a caller may overlap one frame's upscale with its other work.

use super::VideoError;
use super::bicubic::Bicubic;
use super::colour::Colour;
use super::model_thread::{LumaJob, ModelThread};
use super::upscaler::LumaUpscaler;

/// A read-only 8-bit plane: `height` rows of `width` samples, `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// Samples; at least `stride·(height−1) + width` long.
    pub data: &'a [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// A writable 8-bit plane, laid out as [`Plane`].
#[derive(Debug)]
pub struct PlaneMut<'a> {
    /// Samples.
    pub data: &'a mut [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// Where the stage writes its output planes, one at a time (so an FFmpeg frame, whose planes
/// cannot be borrowed mutably together, can be a sink).
pub trait PlaneSink {
    /// Plane `index`: 0 = Y, 1 = Cb, 2 = Cr. It may be smaller than the stage's output layout
    /// (the excess is cropped: encoders of 4:2:0 need even sizes), never larger.
    fn plane(&mut self, index: usize) -> PlaneMut<'_>;
}

impl PlaneSink for [PlaneMut<'_>; 3] {
    fn plane(&mut self, index: usize) -> PlaneMut<'_> {
        let p = &mut self[index];
        PlaneMut { data: &mut *p.data, stride: p.stride, width: p.width, height: p.height }
    }
}

impl Plane<'_> {
    fn rows(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.height).map(move |r| &self.data[r * self.stride..r * self.stride + self.width])
    }

    fn check(&self, what: &str, size: (usize, usize)) -> Result<(), VideoError> {
        check_plane(what, (self.width, self.height), self.stride, self.data.len(), size)
    }
}

impl PlaneMut<'_> {
    /// Checks the plane fits in `size` (cropping allowed) and its buffer holds it.
    fn check(&self, what: &str, size: (usize, usize)) -> Result<(), VideoError> {
        let fits = self.width <= size.0 && self.height <= size.1 && self.width > 0 && self.height > 0;
        let want = if fits { (self.width, self.height) } else { size };
        check_plane(what, (self.width, self.height), self.stride, self.data.len(), want)
    }
}

fn check_plane(
    what: &str,
    got: (usize, usize),
    stride: usize,
    len: usize,
    want: (usize, usize),
) -> Result<(), VideoError> {
    let fits = got.1 == 0 || (stride >= got.0 && len >= stride * (got.1 - 1) + got.0);
    if got != want || !fits {
        return Err(VideoError::InvalidConfig(format!(
            "{what} plane is {}×{} (stride {stride}, {len} bytes), expected {}×{}",
            got.0, got.1, want.0, want.1
        )));
    }
    Ok(())
}

/// Plane sizes of one side of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Luma (width, height).
    pub luma: (usize, usize),
    /// Each chroma plane's (width, height).
    pub chroma: (usize, usize),
}

impl FrameLayout {
    /// The layout of a `width × height` frame whose chroma is subsampled by 2^`log2_w` × 2^`log2_h`
    /// (4:2:0 is (1, 1), 4:4:4 is (0, 0)), rounding chroma sizes up as FFmpeg does.
    pub fn subsampled(width: usize, height: usize, log2_w: u32, log2_h: u32) -> Self {
        Self { luma: (width, height), chroma: (width.div_ceil(1 << log2_w), height.div_ceil(1 << log2_h)) }
    }

    /// Bytes of one packed frame of this layout: Y, then Cb, then Cr, rows without padding
    /// (raw I420 for 4:2:0).
    pub fn packed_len(&self) -> usize {
        self.luma.0 * self.luma.1 + 2 * self.chroma.0 * self.chroma.1
    }

    /// The planes of a packed frame (see [`FrameLayout::packed_len`]); `None` unless `buf` is
    /// exactly that long.
    pub fn packed<'a>(&self, buf: &'a [u8]) -> Option<[Plane<'a>; 3]> {
        if buf.len() != self.packed_len() {
            return None;
        }
        let (y, c) = buf.split_at(self.luma.0 * self.luma.1);
        let (cb, cr) = c.split_at(self.chroma.0 * self.chroma.1);
        let plane = |data, (width, height): (usize, usize)| Plane { data, stride: width, width, height };
        Some([plane(y, self.luma), plane(cb, self.chroma), plane(cr, self.chroma)])
    }

    /// The writable planes of a packed frame, as [`FrameLayout::packed`].
    pub fn packed_mut<'a>(&self, buf: &'a mut [u8]) -> Option<[PlaneMut<'a>; 3]> {
        if buf.len() != self.packed_len() {
            return None;
        }
        let (y, c) = buf.split_at_mut(self.luma.0 * self.luma.1);
        let (cb, cr) = c.split_at_mut(self.chroma.0 * self.chroma.1);
        let plane = |data, (width, height): (usize, usize)| PlaneMut { data, stride: width, width, height };
        Some([plane(y, self.luma), plane(cb, self.chroma), plane(cr, self.chroma)])
    }
}

/// A clockwise rotation by quarter turns, applied while storing the output (the display
/// rotation of phone videos, baked into the pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Unchanged.
    #[default]
    None,
    /// 90° clockwise: width and height swap.
    Cw90,
    /// 180°.
    Cw180,
    /// 270° clockwise (90° counter-clockwise): width and height swap.
    Cw270,
}

impl Rotation {
    /// The rotation for `degrees` clockwise; angles that are not a multiple of 90 give `None`.
    pub fn from_degrees(degrees: i32) -> Self {
        match degrees.rem_euclid(360) {
            90 => Self::Cw90,
            180 => Self::Cw180,
            270 => Self::Cw270,
            _ => Self::None,
        }
    }

    /// Whether width and height swap.
    pub fn swaps(self) -> bool {
        matches!(self, Self::Cw90 | Self::Cw270)
    }

    /// (width, height) after rotating.
    pub fn apply(self, (w, h): (usize, usize)) -> (usize, usize) {
        if self.swaps() { (h, w) } else { (w, h) }
    }
}

/// Stores the packed `w × h` plane `src` into `dst` rotated by `rot` (cropping to `dst`'s
/// size), converting each value with `f`.
fn store(src: &[f32], (w, h): (usize, usize), dst: &mut PlaneMut<'_>, rot: Rotation, f: impl Fn(f32) -> u8) {
    let (dw, dh) = (dst.width, dst.height);
    for y in 0..dh {
        let line = &mut dst.data[y * dst.stride..y * dst.stride + dw];
        match rot {
            Rotation::None => {
                for (o, v) in line.iter_mut().zip(&src[y * w..y * w + dw]) {
                    *o = f(*v);
                }
            }
            Rotation::Cw180 => {
                let row = &src[(h - 1 - y) * w..(h - y) * w];
                for (x, o) in line.iter_mut().enumerate() {
                    *o = f(row[w - 1 - x]);
                }
            }
            // Source (r, c) lands at (c, h−1−r).
            Rotation::Cw90 => {
                for (x, o) in line.iter_mut().enumerate() {
                    *o = f(src[(h - 1 - x) * w + y]);
                }
            }
            // Source (r, c) lands at (w−1−c, r).
            Rotation::Cw270 => {
                for (x, o) in line.iter_mut().enumerate() {
                    *o = f(src[x * w + (w - 1 - y)]);
                }
            }
        }
    }
}

/// Upscales planar Y'CbCr frames of one layout.
///
/// The luma model runs on a [`ModelThread`]: [`UpscaleStage::submit`] hands a frame over and
/// [`UpscaleStage::complete`] writes the oldest one out, so a caller that submits frame n+1
/// before completing frame n keeps both cores busy. [`UpscaleStage::process`] does both.
pub struct UpscaleStage {
    model: ModelThread,
    colour: Colour,
    input: FrameLayout,
    output: FrameLayout,
    chroma: Bicubic,
    /// Jobs not at the model (every job starts here).
    free: Vec<LumaJob>,
    /// Each slot's input Cb and Cr, kept until the frame completes; slot = frame number mod depth.
    chroma_in: [[Vec<f32>; 2]; ModelThread::DEPTH],
    /// Slot of the next frame submitted.
    next_slot: usize,
    chroma_out: Vec<f32>,
    rotation: Rotation,
}

impl UpscaleStage {
    /// Frames that may be pending at once.
    pub const DEPTH: usize = ModelThread::DEPTH;

    /// A stage from `input` to `output` planes (output luma must be the input's × the
    /// upscaler's factor; output chroma may be any size, e.g. full size for RGB output).
    /// Starts the model's thread.
    pub fn new(
        upscaler: Box<dyn LumaUpscaler>,
        colour: Colour,
        input: FrameLayout,
        output: FrameLayout,
    ) -> Result<Self, VideoError> {
        let s = upscaler.scale();
        if output.luma != (input.luma.0 * s, input.luma.1 * s) {
            return Err(VideoError::InvalidConfig(format!(
                "output luma {:?} is not input {:?} × {s}",
                output.luma, input.luma
            )));
        }
        let chroma = Bicubic::new(input.chroma, output.chroma)?;
        let (w, h) = input.luma;
        let free = (0..ModelThread::DEPTH)
            .map(|_| LumaJob {
                input: vec![0.0; w * h],
                output: vec![0.0; output.luma.0 * output.luma.1],
                width: w,
                height: h,
            })
            .collect();
        let plane = || vec![0.0; input.chroma.0 * input.chroma.1];
        Ok(Self {
            model: ModelThread::spawn(upscaler)?,
            colour,
            input,
            output,
            chroma,
            free,
            chroma_in: std::array::from_fn(|_| [plane(), plane()]),
            next_slot: 0,
            chroma_out: vec![0.0; output.chroma.0 * output.chroma.1],
            rotation: Rotation::None,
        })
    }

    /// Rotates every output frame by `rotation` (the sink's planes then have the rotated sizes).
    pub fn with_rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// The stream's colour convention.
    pub fn colour(&self) -> Colour {
        self.colour
    }

    /// Input plane sizes.
    pub fn input(&self) -> FrameLayout {
        self.input
    }

    /// Output plane sizes.
    pub fn output(&self) -> FrameLayout {
        self.output
    }

    /// The luma model's name.
    pub fn model_name(&self) -> &'static str {
        self.model.name()
    }

    /// Frames submitted and not yet completed (at most [`UpscaleStage::DEPTH`]).
    pub fn pending(&self) -> usize {
        self.model.in_flight()
    }

    /// Upscales one frame: `src` = [Y, Cb, Cr] → the sink's planes. Needs no frame pending.
    pub fn process(&mut self, src: [Plane<'_>; 3], dst: &mut dyn PlaneSink) -> Result<(), VideoError> {
        if self.pending() > 0 {
            return Err(VideoError::InvalidConfig("process() called with submitted frames pending".into()));
        }
        self.submit(src)?;
        self.complete(dst).map(|_| ())
    }

    /// Reads one frame (`src` = [Y, Cb, Cr]) and starts its luma upscale; the frame comes out
    /// of [`UpscaleStage::complete`], in submission order. Refused when
    /// [`UpscaleStage::DEPTH`] frames are pending.
    pub fn submit(&mut self, src: [Plane<'_>; 3]) -> Result<(), VideoError> {
        let [y, cb, cr] = src;
        y.check("input Y", self.input.luma)?;
        cb.check("input Cb", self.input.chroma)?;
        cr.check("input Cr", self.input.chroma)?;
        let Some(mut job) = self.free.pop() else {
            return Err(VideoError::InvalidConfig(format!(
                "{} frames already pending: complete one before submitting another",
                Self::DEPTH
            )));
        };
        let (offset, scale) = self.colour.luma_affine();
        for (row, out) in y.rows().zip(job.input.chunks_exact_mut(self.input.luma.0)) {
            for (o, v) in out.iter_mut().zip(row) {
                *o = ((f32::from(*v) - offset) * scale).clamp(0.0, 1.0);
            }
        }
        // On failure the job went down with the thread: nothing more can be upscaled anyway.
        self.model.send(job)?;
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % Self::DEPTH;
        for (plane, stash) in [cb, cr].into_iter().zip(&mut self.chroma_in[slot]) {
            for (row, o) in plane.rows().zip(stash.chunks_exact_mut(self.input.chroma.0)) {
                for (o, v) in o.iter_mut().zip(row) {
                    *o = f32::from(*v);
                }
            }
        }
        Ok(())
    }

    /// Waits for the oldest pending frame and writes it into `dst`; `Ok(false)` when none is
    /// pending. A model error on that frame is returned here (the frame is dropped).
    pub fn complete(&mut self, dst: &mut dyn PlaneSink) -> Result<bool, VideoError> {
        let pending = self.pending();
        let Some(done) = self.model.receive()? else { return Ok(false) };
        let slot = (self.next_slot + Self::DEPTH - pending) % Self::DEPTH;
        let job = done.job;
        let written = done.result.and_then(|()| self.write(&job.output, slot, dst));
        self.free.push(job);
        written.map(|()| true)
    }

    /// Stores the upscaled luma and upscales and stores slot `slot`'s chroma.
    fn write(&mut self, luma: &[f32], slot: usize, dst: &mut dyn PlaneSink) -> Result<(), VideoError> {
        let (offset, scale) = self.colour.luma_affine();
        let rot = self.rotation;
        let mut oy = dst.plane(0);
        oy.check("output Y", rot.apply(self.output.luma))?;
        let inv = 1.0 / scale;
        store(luma, self.output.luma, &mut oy, rot, |v| (v.clamp(0.0, 1.0) * inv + offset + 0.5) as u8);
        let (lo, hi) = self.colour.range.chroma_bounds();
        for k in [1, 2] {
            self.chroma.resize(&self.chroma_in[slot][k - 1], &mut self.chroma_out)?;
            let mut out = dst.plane(k);
            out.check(if k == 1 { "output Cb" } else { "output Cr" }, rot.apply(self.output.chroma))?;
            store(&self.chroma_out, self.output.chroma, &mut out, rot, |v| (v.clamp(lo, hi) + 0.5) as u8);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::bicubic::BicubicUpscaler;
    use super::super::colour::{Matrix, Range};
    use super::*;

    /// Records what the model saw, and writes a constant.
    struct Probe {
        seen: std::sync::Arc<std::sync::Mutex<Vec<f32>>>,
    }

    impl LumaUpscaler for Probe {
        fn scale(&self) -> usize {
            2
        }
        fn name(&self) -> &'static str {
            "probe"
        }
        fn upscale(&mut self, src: &[f32], _w: usize, _h: usize, dst: &mut [f32]) -> Result<(), VideoError> {
            if let Ok(mut seen) = self.seen.lock() {
                seen.clear();
                seen.extend_from_slice(src);
            }
            dst.fill(1.2);
            Ok(())
        }
    }

    #[test]
    fn limited_range_luma_is_expanded_for_the_model_and_compressed_after() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let colour = Colour { matrix: Matrix::Bt601, range: Range::Limited };
        let input = FrameLayout::subsampled(3, 1, 1, 1);
        let output = FrameLayout::subsampled(6, 2, 1, 1);
        let mut stage = UpscaleStage::new(Box::new(Probe { seen: seen.clone() }), colour, input, output)
            .unwrap_or_else(|e| panic!("{e}"));
        // Stride 4 with padding bytes that must be ignored.
        let y = [16u8, 126, 235, 99];
        let c = [128u8, 128];
        let (mut oy, mut ocb, mut ocr) = ([0u8; 12], [0u8; 3], [0u8; 3]);
        stage
            .process(
                [
                    Plane { data: &y, stride: 4, width: 3, height: 1 },
                    Plane { data: &c, stride: 2, width: 2, height: 1 },
                    Plane { data: &c, stride: 2, width: 2, height: 1 },
                ],
                &mut [
                    PlaneMut { data: &mut oy, stride: 6, width: 6, height: 2 },
                    PlaneMut { data: &mut ocb, stride: 3, width: 3, height: 1 },
                    PlaneMut { data: &mut ocr, stride: 3, width: 3, height: 1 },
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 3);
        for (got, want) in seen.iter().zip([0.0, 110.0 / 219.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{seen:?}");
        }
        // 1.2 from the model is clamped to white = 235 in limited range.
        assert!(oy.iter().all(|v| *v == 235), "{oy:?}");
        assert!(ocb.iter().chain(&ocr).all(|v| *v == 128));
    }

    /// Returns its input (a ×1 "model"), so rotations can be checked exactly.
    struct Identity;

    impl LumaUpscaler for Identity {
        fn scale(&self) -> usize {
            1
        }
        fn name(&self) -> &'static str {
            "identity"
        }
        fn upscale(&mut self, src: &[f32], _w: usize, _h: usize, dst: &mut [f32]) -> Result<(), VideoError> {
            dst.copy_from_slice(src);
            Ok(())
        }
    }

    #[test]
    fn rotations_move_pixels_clockwise_and_crop() {
        // 3×2 luma, values 0..6 in full range; 4:4:4 so chroma follows the same path.
        let y: Vec<u8> = (0..6).map(|v| v * 40).collect();
        let layout = FrameLayout::subsampled(3, 2, 0, 0);
        let colour = Colour { matrix: Matrix::Bt601, range: Range::Full };
        let cases: [(Rotation, (usize, usize), Vec<u8>); 4] = [
            (Rotation::None, (3, 2), vec![0, 40, 80, 120, 160, 200]),
            // Clockwise: the left column (0, 120) becomes the top row, bottom first.
            (Rotation::Cw90, (2, 3), vec![120, 0, 160, 40, 200, 80]),
            (Rotation::Cw180, (3, 2), vec![200, 160, 120, 80, 40, 0]),
            (Rotation::Cw270, (2, 3), vec![80, 200, 40, 160, 0, 120]),
        ];
        for (rot, (w, h), want) in cases {
            let mut stage = UpscaleStage::new(Box::new(Identity), colour, layout, layout)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_rotation(rot);
            let (mut oy, mut ocb, mut ocr) = (vec![0u8; 6], vec![0u8; 6], vec![0u8; 6]);
            let src = Plane { data: &y, stride: 3, width: 3, height: 2 };
            let mut sink = [
                PlaneMut { data: &mut oy, stride: w, width: w, height: h },
                PlaneMut { data: &mut ocb, stride: w, width: w, height: h },
                PlaneMut { data: &mut ocr, stride: w, width: w, height: h },
            ];
            stage.process([src, src, src], &mut sink).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((&oy, &ocb), (&want, &want), "{rot:?}");
            // The same rotation into a plane one row short crops the last row.
            let mut short = vec![0u8; w * (h - 1)];
            let mut sink = [
                PlaneMut { data: &mut short, stride: w, width: w, height: h - 1 },
                PlaneMut { data: &mut ocb, stride: w, width: w, height: h },
                PlaneMut { data: &mut ocr, stride: w, width: w, height: h },
            ];
            stage.process([src, src, src], &mut sink).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(short, want[..w * (h - 1)], "{rot:?} cropped");
        }
        assert_eq!(Rotation::from_degrees(-90), Rotation::Cw270);
        assert_eq!(Rotation::from_degrees(45), Rotation::None);
    }

    /// Submits a 4×2 4:2:0 frame of luma `v`, Cb `v + 1`, Cr `v + 2`.
    fn submit_flat(stage: &mut UpscaleStage, v: u8) -> Result<(), VideoError> {
        let (y, cb, cr) = ([v; 8], [v + 1; 2], [v + 2; 2]);
        stage.submit([
            Plane { data: &y, stride: 4, width: 4, height: 2 },
            Plane { data: &cb, stride: 2, width: 2, height: 1 },
            Plane { data: &cr, stride: 2, width: 2, height: 1 },
        ])
    }

    /// Completes the oldest 4×2 frame: (last Y, last Cb, last Cr), or `None` when none was pending.
    fn complete_flat(stage: &mut UpscaleStage) -> Option<(u8, u8, u8)> {
        let (mut oy, mut ocb, mut ocr) = ([0u8; 8], [0u8; 2], [0u8; 2]);
        let mut sink = [
            PlaneMut { data: &mut oy, stride: 4, width: 4, height: 2 },
            PlaneMut { data: &mut ocb, stride: 2, width: 2, height: 1 },
            PlaneMut { data: &mut ocr, stride: 2, width: 2, height: 1 },
        ];
        let done = stage.complete(&mut sink).unwrap_or_else(|e| panic!("{e}"));
        done.then(|| (oy[7], ocb[1], ocr[1]))
    }

    #[test]
    fn submitted_frames_complete_in_order_and_depth_is_enforced() {
        let layout = FrameLayout::subsampled(4, 2, 1, 1);
        let colour = Colour { matrix: Matrix::Bt601, range: Range::Full };
        let mut stage = UpscaleStage::new(Box::new(Identity), colour, layout, layout).unwrap_or_else(|e| panic!("{e}"));
        // Keep the stage full for a while: frames come out in submission order, chroma included.
        let mut seen = Vec::new();
        for v in (10..100).step_by(10) {
            submit_flat(&mut stage, v).unwrap_or_else(|e| panic!("{e}"));
            if stage.pending() == UpscaleStage::DEPTH {
                assert!(submit_flat(&mut stage, 1).is_err(), "a frame beyond the depth must be refused");
                seen.extend(complete_flat(&mut stage));
            }
        }
        let (y, c) = ([5u8; 8], [6u8; 2]);
        let planes = [
            Plane { data: &y, stride: 4, width: 4, height: 2 },
            Plane { data: &c, stride: 2, width: 2, height: 1 },
            Plane { data: &c, stride: 2, width: 2, height: 1 },
        ];
        let (mut oy, mut ocb, mut ocr) = ([0u8; 8], [0u8; 2], [0u8; 2]);
        let mut sink = [
            PlaneMut { data: &mut oy, stride: 4, width: 4, height: 2 },
            PlaneMut { data: &mut ocb, stride: 2, width: 2, height: 1 },
            PlaneMut { data: &mut ocr, stride: 2, width: 2, height: 1 },
        ];
        assert!(stage.process(planes, &mut sink).is_err(), "process with a frame pending");
        while let Some(f) = complete_flat(&mut stage) {
            seen.push(f);
        }
        let want: Vec<_> = (10..100).step_by(10).map(|v| (v, v + 1, v + 2)).collect();
        assert_eq!(seen, want);
        assert_eq!(stage.pending(), 0);
        stage.process(planes, &mut sink).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((oy[0], ocb[0], ocr[0]), (5, 6, 6));
    }

    #[test]
    fn packed_frames_split_into_their_planes() {
        let l = FrameLayout::subsampled(5, 3, 1, 1);
        assert_eq!(l.packed_len(), 15 + 2 * 3 * 2);
        let mut buf: Vec<u8> = (0..27).collect();
        let [y, cb, cr] = l.packed(&buf).unwrap_or_else(|| panic!("layout"));
        assert_eq!((y.width, y.height, y.stride, y.data[14]), (5, 3, 5, 14));
        assert_eq!((cb.width, cb.height, cb.data[0], cr.data[0], cr.data.len()), (3, 2, 15, 21, 6));
        let [_, _, cr] = l.packed_mut(&mut buf).unwrap_or_else(|| panic!("layout"));
        cr.data.fill(9);
        assert_eq!(buf[21..], [9; 6]);
        assert!(l.packed(&buf[1..]).is_none() && l.packed_mut(&mut [0u8; 28]).is_none());
    }

    #[test]
    fn full_range_bicubic_frame_keeps_flat_colour_and_rejects_bad_planes() {
        let colour = Colour { matrix: Matrix::Bt709, range: Range::Full };
        let input = FrameLayout::subsampled(5, 3, 1, 1);
        let output = FrameLayout::subsampled(15, 9, 0, 0);
        let up = BicubicUpscaler::new(3).unwrap_or_else(|e| panic!("{e}"));
        let mut stage = UpscaleStage::new(Box::new(up), colour, input, output).unwrap_or_else(|e| panic!("{e}"));
        let y = [77u8; 15];
        let (cb, cr) = ([40u8; 6], [200u8; 6]);
        let (mut oy, mut ocb, mut ocr) = ([0u8; 135], [0u8; 135], [0u8; 135]);
        let src = |cb_w| {
            [
                Plane { data: &y, stride: 5, width: 5, height: 3 },
                Plane { data: &cb, stride: 3, width: cb_w, height: 2 },
                Plane { data: &cr, stride: 3, width: 3, height: 2 },
            ]
        };
        stage
            .process(
                src(3),
                &mut [
                    PlaneMut { data: &mut oy, stride: 15, width: 15, height: 9 },
                    PlaneMut { data: &mut ocb, stride: 15, width: 15, height: 9 },
                    PlaneMut { data: &mut ocr, stride: 15, width: 15, height: 9 },
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(oy.iter().all(|v| *v == 77) && ocb.iter().all(|v| *v == 40) && ocr.iter().all(|v| *v == 200));
        let err = stage.process(
            src(2),
            &mut [
                PlaneMut { data: &mut oy, stride: 15, width: 15, height: 9 },
                PlaneMut { data: &mut ocb, stride: 15, width: 15, height: 9 },
                PlaneMut { data: &mut ocr, stride: 15, width: 15, height: 9 },
            ],
        );
        assert!(err.is_err());
        let bad = UpscaleStage::new(
            Box::new(BicubicUpscaler::new(2).unwrap_or_else(|e| panic!("{e}"))),
            colour,
            input,
            output,
        );
        assert!(bad.is_err(), "×2 model with ×3 output sizes must be refused");
    }
}
