//! `GET /v1/echo/sample`: a simulated cluttered echo clip as grey video, for clients (the web
//! page) that have no clip at hand. It is the clip `sluice simulate-echo --format mp4|webm`
//! writes for the same seed, size, frames and rate ([`crate::simulate`]), streamed through the
//! file-job machinery of [`super::pipe_job`] (a slot, the job table, the `Sluice-*` headers).

use super::pipe_job::{self, Failure, PipeJob};
use super::video::{VideoFormat, video_error};
use crate::cli::{ClutterArg, MotionArg};
use crate::http::error::{ApiError, ErrorBody};
use crate::simulate::{ClipSpec, write_video};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use sluice_pipeline::echo::simulate::Clip;
use sluice_pipeline::video::{Container, OutputTarget};
use std::ops::RangeInclusive;

/// Frames a sample may have, and the default.
pub const FRAMES: (RangeInclusive<usize>, usize) = (2..=96, 48);
/// Width and height a sample may have (pixels), and the default.
pub const SIZE: (RangeInclusive<usize>, usize) = (32..=256, 128);
/// Frame rates a sample may have, and the default.
pub const FPS: (RangeInclusive<u32>, u32) = (1..=120, 30);

/// Query of `GET /v1/echo/sample`.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// Simulation seed (default 0); a seed always gives the same pictures. The clutter class
    /// follows it as in `simulate-echo --clutter mixed`: near-field haze, reverberation, both.
    pub seed: Option<u64>,
    /// Frames, one cardiac cycle: 2–96, default 48.
    #[param(minimum = 2, maximum = 96)]
    pub frames: Option<usize>,
    /// Width and height in pixels: 32–256, default 128 (an odd size loses a row and a column).
    #[param(minimum = 32, maximum = 256)]
    pub size: Option<usize>,
    /// Frames per second: 1–120, default 30.
    #[param(minimum = 1, maximum = 120)]
    pub fps: Option<u32>,
    /// Output container: `webm` (VP9, default) or `mp4` (H.264, fragmented).
    #[param(inline)]
    pub format: Option<VideoFormat>,
    /// Constant rate factor (H.264 0–51, default 23; VP9 0–63, default 32).
    #[param(maximum = 63)]
    pub crf: Option<u8>,
}

/// A checked sample request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Simulation seed.
    pub seed: u64,
    /// What to simulate.
    pub spec: ClipSpec,
    /// Frames per second.
    pub fps: u32,
    /// Output container.
    pub format: VideoFormat,
    /// Constant rate factor, if asked.
    pub crf: Option<u8>,
}

impl SampleQuery {
    /// The sample asked for, or a 400 naming the parameter out of range.
    pub fn settings(self) -> Result<Sample, ApiError> {
        fn within<T: PartialOrd + std::fmt::Display + Copy>(
            name: &str,
            value: Option<T>,
            (range, default): (RangeInclusive<T>, T),
        ) -> Result<T, ApiError> {
            let v = value.unwrap_or(default);
            if range.contains(&v) {
                Ok(v)
            } else {
                let (lo, hi) = (range.start(), range.end());
                Err(ApiError::bad_request("bad_parameter", format!("`{name}` must be {lo}..={hi}, got {v}")))
            }
        }
        let format = self.format.unwrap_or_default();
        let spec = ClipSpec {
            size: within("size", self.size, SIZE)?,
            frames: within("frames", self.frames, FRAMES)?,
            clutter: ClutterArg::Mixed,
            motion: MotionArg::Normal,
        };
        Ok(Sample {
            seed: self.seed.unwrap_or(0),
            spec,
            fps: within("fps", self.fps, FPS)?,
            format,
            crf: format.check_crf(self.crf)?,
        })
    }
}

/// A simulated cluttered echo clip to try the clutter filter on.
///
/// Simulates an apical-view clip (a moving left ventricle with speckle, plus clutter: near-field
/// haze, reverberation bands or both, by seed) and streams it as grey WebM (VP9) or fragmented
/// MP4 (H.264), 4:2:0 with neutral chroma: the pictures `sluice simulate-echo --format webm|mp4`
/// writes for the same seed, size, frames and `--fps`. The clip is made on a file-job slot and
/// reported like a video job (`Sluice-Job`, `Sluice-Frames`, `Sluice-Output-Size`).
#[utoipa::path(
    get,
    path = "/v1/echo/sample",
    tag = "echo",
    params(SampleQuery),
    responses(
        (status = 200, description = "The simulated clip, streamed",
         content((Vec<u8> = "video/webm"), (Vec<u8> = "video/mp4")),
         headers(
             ("Sluice-Job" = String, description = "Job id for the progress route"),
             ("Sluice-Frames" = u64, description = "Frames in the clip"),
             ("Sluice-Output-Size" = String, description = "Clip `WIDTHxHEIGHT`"),
         )),
        (status = 400, description = "A parameter out of range", body = ErrorBody),
        (status = 401, description = "API key missing or wrong", body = ErrorBody),
        (status = 503, description = "All file-job slots busy (see `Retry-After`)", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    ),
    security((), ("api_key" = []))
)]
pub async fn sample(
    State(state): State<AppState>,
    query: Result<Query<SampleQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_parameter", e.body_text()))?;
    let sample = query.settings()?;
    let slot = pipe_job::slot(&state)?;
    pipe_job::stream_made(&state, slot, sample.format.content_type(), move || {
        let clip = sample.spec.simulate(sample.seed).map_err(ApiError::internal)?;
        Ok(SampleJob { clip, container: sample.format.container(), fps: sample.fps, crf: sample.crf })
    })
    .await
}

/// A simulated clip, ready to be encoded.
struct SampleJob {
    clip: Clip,
    container: Container,
    fps: u32,
    crf: Option<u8>,
}

impl PipeJob for SampleJob {
    fn sizes(&self) -> (Option<u64>, (usize, usize), (usize, usize)) {
        let (w, h) = (self.clip.width, self.clip.height);
        (Some(self.clip.frames as u64), (w, h), (w & !1, h & !1))
    }

    fn run(self, pipe: std::io::PipeWriter, on_frame: &mut dyn FnMut(u64)) -> Result<(u64, f64), Failure> {
        let start = std::time::Instant::now();
        match write_video(&self.clip, OutputTarget::Pipe(pipe), self.container, self.fps, self.crf, on_frame) {
            Ok(_) => {
                let frames = self.clip.frames as u64;
                Ok((frames, frames as f64 / start.elapsed().as_secs_f64().max(f64::MIN_POSITIVE)))
            }
            Err(e) => Err(Failure { message: e.to_string(), answer: video_error(e) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn the_document_states_the_bounds() {
        let doc = serde_json::to_value(crate::http::openapi()).unwrap_or_else(|e| panic!("{e}"));
        let params = doc["paths"]["/v1/echo/sample"]["get"]["parameters"].as_array().cloned().unwrap_or_default();
        let bounds = |name: &str| {
            let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no `{name}` in {params:?}"));
            (p["schema"]["minimum"].as_u64(), p["schema"]["maximum"].as_u64())
        };
        assert_eq!(bounds("frames"), (Some(*FRAMES.0.start() as u64), Some(*FRAMES.0.end() as u64)));
        assert_eq!(bounds("size"), (Some(*SIZE.0.start() as u64), Some(*SIZE.0.end() as u64)));
        assert_eq!(bounds("fps"), (Some(u64::from(*FPS.0.start())), Some(u64::from(*FPS.0.end()))));
    }

    #[test]
    fn query_defaults_and_bounds() {
        let s = SampleQuery::default().settings().unwrap_or_else(|e| panic!("{}", e.body.message));
        assert_eq!(
            (s.seed, s.spec.frames, s.spec.size, s.fps, s.format, s.crf),
            (0, 48, 128, 30, VideoFormat::Webm, None)
        );
        assert_eq!(s.spec.clutter, ClutterArg::Mixed);
        let q =
            SampleQuery { seed: Some(9), frames: Some(96), size: Some(32), fps: Some(120), ..SampleQuery::default() };
        let s = q.settings().unwrap_or_else(|e| panic!("{}", e.body.message));
        assert_eq!((s.seed, s.spec.frames, s.spec.size, s.fps), (9, 96, 32, 120));
        for bad in [
            SampleQuery { frames: Some(1), ..SampleQuery::default() },
            SampleQuery { frames: Some(97), ..SampleQuery::default() },
            SampleQuery { size: Some(31), ..SampleQuery::default() },
            SampleQuery { size: Some(257), ..SampleQuery::default() },
            SampleQuery { fps: Some(0), ..SampleQuery::default() },
            SampleQuery { format: Some(VideoFormat::Mp4), crf: Some(52), ..SampleQuery::default() },
        ] {
            let e = bad.settings().err().unwrap_or_else(|| panic!("{bad:?} should be refused"));
            assert_eq!((e.status, e.body.code.as_str()), (StatusCode::BAD_REQUEST, "bad_parameter"), "{bad:?}");
        }
    }
}
