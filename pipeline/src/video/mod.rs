//! Video and image super-resolution: FFmpeg demux/decode → [`UpscaleStage`] (luma through a
//! [`LumaUpscaler`], chroma bicubic) → H.264/MP4, VP9/WebM, PNG or JPEG, with the audio track
//! copied, re-encoded or denoised.
//!
//! | concern | module |
//! |---|---|
//! | error type | [`VideoError`] |
//! | matrices, ranges, RGB ↔ Y'CbCr | [`colour`] |
//! | separable bicubic, the `bicubic` model | [`bicubic`] |
//! | the `espcn` model | [`espcn`] |
//! | the model seam | [`LumaUpscaler`] |
//! | the model on its own thread | [`model_thread`] |
//! | one frame ×N | [`stage`] |
//! | an opened input file, end-of-file checks | [`source`] |
//! | packets → planar frames | [`decode`] |
//! | containers, muxer, video encoder | [`encode`] |
//! | in-memory JPEG pictures (live frames) | [`jpeg`] |
//! | audio copy / re-encode / denoise | [`audio`] |
//! | the whole-file pass | [`transcode`] |
//!
//! All FFmpeg work is blocking: async callers run it on a blocking thread (swscale contexts
//! are not `Send`, so a job stays on the thread that opened it).

pub mod audio;
pub mod bicubic;
pub mod colour;
pub mod decode;
pub mod encode;
mod error;
pub mod espcn;
pub mod jpeg;
pub mod model_thread;
pub mod source;
pub mod stage;
pub mod transcode;
mod upscaler;

pub use audio::AudioMode;
pub use bicubic::{Bicubic, BicubicUpscaler};
pub use colour::{Colour, Matrix, Range};
pub use encode::{Container, OutputTarget};
pub use error::VideoError;
pub use espcn::EspcnUpscaler;
pub use jpeg::{JpegDecoder, JpegEncoder};
pub use stage::{FrameLayout, Plane, PlaneMut, PlaneSink, Rotation, UpscaleStage};
pub use transcode::{MAX_OUTPUT, MediaInfo, UpscaleJob, UpscaleOptions, UpscaleSummary};
pub use upscaler::LumaUpscaler;

/// Initialises FFmpeg once (idempotent) and silences its own log lines: every failure comes
/// back as a [`VideoError`] that says what to do.
pub fn init() -> Result<(), VideoError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(|e| VideoError::InvalidConfig(format!("FFmpeg failed to initialise: {e}")))
}
