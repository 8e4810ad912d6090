//! `sluice`: parse the command line, set up logging, run the chosen subcommand.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches};
use sluice_engine::Threads;
use sluice_server::cli::{Cli, Command, DenoiseArgs, HealthcheckArgs, ServeArgs};
use sluice_server::config::{self, ServerConfig};
use sluice_server::healthcheck::{self, ProbeUrl};
use sluice_server::{AppState, logging, run, shutdown_signal};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Parsed through `ArgMatches` so the config file can tell defaults from given values.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = logging::init(cli.log_format) {
        eprintln!("sluice: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve(args) => match matches.subcommand_matches("serve") {
            Some(m) => config::resolve(args, m).map_err(anyhow::Error::from).and_then(serve),
            None => Err(anyhow::anyhow!("internal: no matches for `serve`")),
        },
        Command::Healthcheck(args) => healthcheck(args),
        Command::Denoise(args) => denoise(args),
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
    let config = ServerConfig::from_args(&args)?;
    if args.print_config {
        print!("{}", config::to_toml(&args));
        return Ok(ExitCode::SUCCESS);
    }
    let model = sluice_server::denoise::load_model()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sluice-io")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let n = args.engine_threads();
        let threads = Threads::new(n).with_context(|| format!("cannot start {n} engine threads"))?;
        let state = AppState::configured(threads, config, Some(model));
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
            models = ?state.models(),
            api_keys = !state.config().api_keys.is_empty(),
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
