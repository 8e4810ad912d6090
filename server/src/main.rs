//! `sluice`: parse the command line, set up logging, run the chosen subcommand.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::Parser;
use sluice_engine::Threads;
use sluice_server::cli::{Cli, Command, DenoiseArgs, HealthcheckArgs, ServeArgs, SimulateEchoArgs};
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
        Command::SimulateEcho(args) => simulate_echo(args),
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

/// Runs `sluice simulate-echo`, one line per clip on stdout; errors go to stderr as one line.
fn simulate_echo(args: SimulateEchoArgs) -> Result<ExitCode> {
    let result = sluice_server::simulate::simulate_echo(&args, |c| {
        println!(
            "{}: {} clutter, {} motion, simulated in {:.2} s",
            c.name,
            c.clutter.name(),
            c.motion.name(),
            c.seconds
        );
    });
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("sluice simulate-echo: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
