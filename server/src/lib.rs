//! The `sluice` service: command line, HTTP routes and the serve loop.
//!
//! Kept as a library so tests drive the real router with `oneshot` ([`app`]) and the real
//! accept loop on port 0 ([`run`]); `main.rs` only parses flags and wires these together.
//!
//! | concern | module |
//! |---|---|
//! | flags, env vars, subcommands | [`cli`] |
//! | shared service state (engine, readiness) | [`state`] |
//! | routes and handlers | [`http`] |
//! | accept loop, graceful drain, signals | [`serve`] |
//! | container health probe client | [`healthcheck`] |
//! | `sluice denoise`: audio file → DFN3 → WAV | [`denoise`] |
//! | `sluice upscale`: image/video → super-resolution → file | [`upscale`] |
//! | log subscriber set-up | [`logging`] |

#![forbid(unsafe_code)]

pub mod cli;
pub mod denoise;
pub mod healthcheck;
pub mod http;
pub mod logging;
pub mod serve;
pub mod state;
pub mod upscale;

pub use http::app;
pub use serve::{ShutdownPolicy, run, shutdown_signal};
pub use state::{AppState, Phase};
