//! The `sluice` service: command line, HTTP routes and the serve loop.
//!
//! Kept as a library so tests drive the real router with `oneshot` ([`app`]) and the real
//! accept loop on port 0 ([`run`]); `main.rs` only parses flags and wires these together.
//!
//! | concern | module |
//! |---|---|
//! | flags, env vars, subcommands | [`cli`] |
//! | config file, resolved settings and limits | [`config`] |
//! | shared service state (engine, readiness, model, job slots) | [`state`] |
//! | routes and handlers, OpenAPI document | [`http`] |
//! | API keys | [`auth`] |
//! | the Prometheus recorder | [`prometheus`] |
//! | a WAV encoded while streamed | [`wav_stream`] |
//! | accept loop, graceful drain, signals | [`serve`] |
//! | container health probe client | [`healthcheck`] |
//! | `sluice denoise`: audio file → DFN3 → WAV | [`denoise`] |
//! | live audio WebSocket: sessions, batching workers, limits | [`stream`] |
//! | live video WebSocket: upscale or declutter frames, latest frame wins | [`video_stream`] |
//! | `sluice loadtest`: real-time streams against a server | [`loadtest`] |
//! | `sluice live`: microphone → DFN3 → speakers or WAV | [`live`] |
//! | `sluice simulate-echo`: simulated echo clips → PNG / raw | [`simulate`] |
//! | `sluice upscale`: image/video → super-resolution → file | [`upscale`] |
//! | `sluice declutter`: echo clip → clutter filter → video or PNG folder | [`declutter`] |
//! | `sluice bench`: the bundled models timed against the design's budgets | [`bench`] |
//! | log subscriber set-up | [`logging`] |

#![forbid(unsafe_code)]

pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod declutter;
pub mod denoise;
pub mod gating;
pub mod healthcheck;
pub mod http;
pub mod live;
pub mod loadtest;
pub mod logging;
pub mod prometheus;
pub mod serve;
pub mod simulate;
pub mod state;
pub mod stream;
pub mod upscale;
pub mod video_stream;
pub mod wav_stream;

pub use http::app;
pub use serve::{ShutdownPolicy, run, shutdown_signal};
pub use state::{AppState, Phase};
