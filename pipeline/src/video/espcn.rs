//! The `espcn` luma model: the ESPCN network of `sluice_models::espcn` behind [`LumaUpscaler`].
//!
//! The network is planned per frame size, so the runner (plan plus scratch) is built on the
//! first frame and kept; only a size change mid-stream plans again. Frames run on the engine
//! pool handed in, which the caller may share with other work.

use std::sync::Arc;

use sluice_engine::Threads;
use sluice_models::espcn::{Espcn, EspcnRunner};

use super::VideoError;
use super::upscaler::LumaUpscaler;

/// ESPCN super-resolution of the luma plane.
pub struct EspcnUpscaler {
    model: Espcn,
    threads: Arc<Threads>,
    runner: Option<(usize, usize, EspcnRunner)>,
}

impl std::fmt::Debug for EspcnUpscaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspcnUpscaler").field("scale", &self.model.scale()).finish_non_exhaustive()
    }
}

impl EspcnUpscaler {
    /// Wraps a loaded network; frames run on `threads`.
    pub fn new(model: Espcn, threads: Arc<Threads>) -> Self {
        Self { model, threads, runner: None }
    }

    /// The network trained by this project for `scale` (2, 3 or 4), from `models/weights/`.
    pub fn bundled(scale: usize, threads: Arc<Threads>) -> Result<Self, VideoError> {
        let model = Espcn::bundled(scale)
            .map_err(|e| VideoError::Upscaler(format!("cannot load the ESPCN x{scale} weights: {e}")))?;
        Ok(Self::new(model, threads))
    }
}

impl LumaUpscaler for EspcnUpscaler {
    fn scale(&self) -> usize {
        self.model.scale()
    }

    fn name(&self) -> &'static str {
        "espcn"
    }

    fn upscale(&mut self, src: &[f32], width: usize, height: usize, dst: &mut [f32]) -> Result<(), VideoError> {
        let runner = match &mut self.runner {
            Some((w, h, r)) if (*w, *h) == (width, height) => r,
            slot => {
                let r = EspcnRunner::new(&self.model, width, height, &self.threads)
                    .map_err(|e| VideoError::Upscaler(format!("planning ESPCN for {width}×{height}: {e}")))?;
                &mut slot.insert((width, height, r)).2
            }
        };
        runner.upscale(src, dst, &self.threads).map_err(|e| VideoError::Upscaler(format!("ESPCN: {e}")))?;
        // The network's last layer is linear: keep the contract's [0, 1].
        for v in dst.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::BicubicUpscaler;

    /// A smooth test picture with an edge, in [0, 1].
    fn picture(w: usize, h: usize) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let edge = if x + 0.5 * y > w as f32 * 0.6 { 0.7 } else { 0.2 };
                (edge + 0.1 * (x * 0.3).sin() * (y * 0.2).cos()).clamp(0.0, 1.0)
            })
            .collect()
    }

    #[test]
    fn upscales_close_to_bicubic_within_range_and_replans_on_size_change() {
        let threads = Arc::new(Threads::single());
        for scale in [2, 3, 4] {
            let mut espcn = EspcnUpscaler::bundled(scale, threads.clone()).unwrap_or_else(|e| panic!("{e}"));
            let mut bicubic = BicubicUpscaler::new(scale).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((espcn.scale(), espcn.name()), (scale, "espcn"));
            for (w, h) in [(33, 20), (17, 9)] {
                let src = picture(w, h);
                let mut a = vec![f32::NAN; w * h * scale * scale];
                let mut b = vec![0.0; a.len()];
                espcn.upscale(&src, w, h, &mut a).unwrap_or_else(|e| panic!("{e}"));
                bicubic.upscale(&src, w, h, &mut b).unwrap_or_else(|e| panic!("{e}"));
                assert!(a.iter().all(|v| (0.0..=1.0).contains(v)), "x{scale} {w}×{h}: out of range");
                // A trained network refines bicubic; it does not invent a different picture.
                let mad = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
                assert!(mad < 0.03, "x{scale} {w}×{h}: mean |espcn − bicubic| = {mad}");
            }
        }
    }

    #[test]
    fn wrong_buffer_sizes_are_errors() {
        let mut espcn = EspcnUpscaler::bundled(2, Arc::new(Threads::single())).unwrap_or_else(|e| panic!("{e}"));
        let src = picture(8, 8);
        let mut dst = vec![0.0; 10];
        assert!(matches!(espcn.upscale(&src, 8, 8, &mut dst), Err(VideoError::Upscaler(_))));
    }
}
