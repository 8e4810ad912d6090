//! `sluice`: parse the command line, set up logging, run the chosen subcommand.

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches};
use sluice_engine::Threads;
use sluice_server::cli::{
    BenchArgs, Cli, Command, DeclutterArgs, DenoiseArgs, HealthcheckArgs, LiveArgs, LoadtestArgs, ServeArgs,
    SimulateEchoArgs, UpscaleArgs,
};
use sluice_server::config::{self, ServerConfig};
use sluice_server::healthcheck::{self, ProbeUrl};
use sluice_server::stream::StreamService;
use sluice_server::{AppState, logging, run, shutdown_signal};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

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
            Some(m) => config::resolve(*args, m).map_err(anyhow::Error::from).and_then(serve),
            None => Err(anyhow::anyhow!("internal: no matches for `serve`")),
        },
        Command::Healthcheck(args) => healthcheck(args),
        Command::Denoise(args) => denoise(args),
        Command::Loadtest(args) => loadtest(args),
        Command::Live(args) => live(args),
        Command::SimulateEcho(args) => simulate_echo(args),
        Command::Upscale(args) => upscale(args),
        Command::Declutter(args) => declutter(args),
        Command::Bench(args) => bench(&args),
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
    let streams = StreamService::start(model, args.stream.limits(), config.api_keys.clone())
        .context("cannot start the live-audio service")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sluice-io")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let n = args.engine_threads();
        let threads = Threads::new(n).with_context(|| format!("cannot start {n} engine threads"))?;
        let state = AppState::configured_with_streams(threads, config, streams);
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
            max_streams = state.streams().map_or(0, |s| s.max_streams()),
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

/// Runs `sluice loadtest`: prints the report; fails if a stream did not complete.
fn loadtest(args: LoadtestArgs) -> Result<ExitCode> {
    let mut reader = sluice_pipeline::audio::AudioReader::open(&args.speech)?;
    let info = reader.info();
    if info.sample_rate != 48_000 {
        anyhow::bail!("{}: the speech must be 48 kHz, not {} Hz", args.speech.display(), info.sample_rate);
    }
    let mut speech = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        speech.extend(chunk.iter().step_by(info.channels));
    }
    let config = sluice_server::loadtest::LoadtestConfig {
        url: args.url,
        streams: args.streams,
        duration: args.duration,
        token: args.token,
        speech,
        max_lag: args.max_lag,
        gating: args.gating,
    };
    // One thread: the generator shares the machine with the server it measures, and a
    // work-stealing pool spent its time parking and waking threads (about 15 % more CPU).
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let r = runtime.block_on(sluice_server::loadtest::run(config))?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "streams {} completed {} kept real time {} | hops {} | round trip p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        r.streams,
        r.completed,
        r.kept_real_time,
        r.hops,
        ms(r.p50),
        ms(r.p99),
        ms(r.max)
    );
    for e in &r.errors {
        eprintln!("sluice loadtest: {e}");
    }
    Ok(if r.completed == r.streams { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs `sluice live`; errors go to stderr as one plain line (this is an interactive tool).
fn live(args: LiveArgs) -> Result<ExitCode> {
    if args.list_devices {
        return match sluice_server::live::list_devices(&args) {
            Ok(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("sluice live: {e:#}");
                Ok(ExitCode::FAILURE)
            }
        };
    }
    // The first SIGINT/SIGTERM asks the worker to stop (the WAV is finalised); a second one,
    // if stopping hangs, exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("cannot install signal handlers")?;
        signal_hook::flag::register(signal, stop.clone()).context("cannot install signal handlers")?;
    }
    match sluice_server::live::run(&args, &stop) {
        Ok(s) => {
            let secs = s.captured_frames as f64 / f64::from(s.sample_rate);
            let target =
                args.output.as_ref().map_or_else(|| "played".to_owned(), |p| format!("written to {}", p.display()));
            println!(
                "sluice live: {secs:.2} s of audio ({} Hz, {} ch) {target}; xruns: {} (input overruns {}, \
                 output underruns {}, output overflows {}, device {})",
                s.sample_rate,
                s.channels,
                s.xruns.total(),
                s.xruns.capture_overruns,
                s.xruns.playback_underruns,
                s.xruns.playback_overflows,
                s.xruns.device_xruns
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sluice live: {e:#}");
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

/// Runs `sluice declutter`; errors go to stderr as one plain line.
fn declutter(args: DeclutterArgs) -> Result<ExitCode> {
    match sluice_server::declutter::declutter_file(&args) {
        Ok(s) => {
            println!(
                "{}: {} frame(s) {}×{} → {}×{} decluttered in {:.2} s, {:.1} fps",
                args.output.display(),
                s.frames,
                s.input_size.0,
                s.input_size.1,
                s.output_size.0,
                s.output_size.1,
                s.elapsed.as_secs_f64(),
                s.fps()
            );
            if s.skipped > 0 {
                eprintln!("sluice declutter: {} damaged video packet(s) skipped", s.skipped);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sluice declutter: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs `sluice bench`: the table (or JSON) on stdout, exit 0 even when a budget is missed (it
/// is a report); errors go to stderr as one plain line.
fn bench(args: &BenchArgs) -> Result<ExitCode> {
    use sluice_server::bench::{self, BenchConfig, Workload};
    let workloads = match &args.only {
        Some(name) => Workload::from_name(name).map(|w| vec![w]),
        None => Ok(Workload::ALL.to_vec()),
    };
    let result = workloads
        .and_then(|workloads| bench::run(&BenchConfig { quick: args.quick, threads: args.threads(), workloads }));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluice bench: {e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", bench::table(&report));
    }
    Ok(ExitCode::SUCCESS)
}
