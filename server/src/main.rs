//! `sluice`: parse the command line, set up logging, run the chosen subcommand.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::Parser;
use sluice_engine::Threads;
use sluice_server::cli::{Cli, Command, DenoiseArgs, HealthcheckArgs, ServeArgs, UpscaleArgs};
use sluice_server::healthcheck::{self, ProbeUrl};
use sluice_server::{AppState, logging, run, shutdown_signal};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format) {
        eprintln!("sluice: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::Denoise(args) => denoise(args),
        Command::Upscale(args) => upscale(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "sluice failed");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sluice-io")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let n = args.engine_threads();
        let threads = Threads::new(n).with_context(|| format!("cannot start {n} engine threads"))?;
        let state = AppState::new(threads);
        let shutdown = shutdown_signal().context("cannot install signal handlers")?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr().context("cannot read the bound address")?;
        tracing::info!(
            addr = %local,
            version = env!("CARGO_PKG_VERSION"),
            isa = state.isa().name(),
            engine_threads = state.threads().count(),
            "listening"
        );
        run(listener, state, args.shutdown_policy(), shutdown).await.context("server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn healthcheck(args: HealthcheckArgs) -> Result<ExitCode> {
    let url: ProbeUrl = args.url.parse()?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    match runtime.block_on(healthcheck::probe(&url, args.timeout)) {
        Ok(200) => Ok(ExitCode::SUCCESS),
        Ok(code) => {
            eprintln!("sluice healthcheck: {} answered {code}", args.url);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("sluice healthcheck: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs `sluice denoise`; errors go to stderr as one plain line (this is an interactive tool).
fn denoise(args: DenoiseArgs) -> Result<ExitCode> {
    let result =
        sluice_server::denoise::load_model().and_then(|model| sluice_server::denoise::denoise_file(model, &args));
    match result {
        Ok(s) => {
            println!(
                "{}: {:.2} s of audio ({} Hz, {} ch) denoised in {:.2} s, real-time factor {:.4}",
                args.output.display(),
                s.duration().as_secs_f64(),
                s.sample_rate,
                s.channels,
                s.elapsed.as_secs_f64(),
                s.rtf()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sluice denoise: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs `sluice upscale`; errors go to stderr as one plain line.
fn upscale(args: UpscaleArgs) -> Result<ExitCode> {
    match sluice_server::upscale::upscale_file(&args) {
        Ok(s) => {
            println!(
                "{}: {} frame(s) {}×{} → {}×{} ({}, audio {:?}) in {:.2} s, {:.1} fps",
                args.output.display(),
                s.frames,
                s.input_size.0,
                s.input_size.1,
                s.output_size.0,
                s.output_size.1,
                s.model,
                s.audio,
                s.elapsed.as_secs_f64(),
                s.fps()
            );
            if s.skipped > 0 {
                eprintln!("sluice upscale: {} damaged video packet(s) skipped", s.skipped);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sluice upscale: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
