//! `sluice bench`: what the engine does with the bundled models on this machine, against the
//! budgets of the design (DESIGN §7), so an operator can check a host before serving from it.
//!
//! Each workload runs on the bundled weights and the fixed inputs of [`sluice_models::timing`]
//! (the same ones the `sluice-models` examples time), reporting the best and the median of
//! several runs. The verdict and the derived rates use the best, the cost of the work without
//! interference; the median shows how much a shared machine adds. Peers (libDF, ONNX Runtime,
//! PyTorch) are not part of the product: [`PEERS`] says where they are measured.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sluice_engine::{Conv, ConvSpec, Isa, Threads};
use sluice_models::clutter::Clutter;
use sluice_models::dfn3::{Dfn3Model, Dfn3Weights};
use sluice_models::espcn::Espcn;
use sluice_models::timing::{self, Reps, Timing, Xorshift};

/// Where the peer comparisons are run (printed under the table and in the JSON).
pub const PEERS: &str = "peers are not part of sluice: ESPCN and Conv3d against ONNX Runtime with \
`cargo bench -p sluice-engine --bench engine -- --ort --python <venv>`, the clutter filter against \
PyTorch with `models/train/clutter/torch_bench.py`, live streams with `sluice loadtest`";

/// One DFN3 hop of audio (480 samples at 48 kHz): the real-time deadline of a hop.
const HOP: Duration = Duration::from_millis(10);

/// Streams per `step_many` call in the batch workload.
const BATCH: usize = 32;

/// The ESPCN frame: 360×640 luma, upscaled ×3 to 1080×1920.
const ESPCN_W: usize = 640;
const ESPCN_H: usize = 360;

/// Side of the clutter filter's frames.
const ECHO_SIDE: usize = 128;

/// The workloads, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// DeepFilterNet3, one hop of one stream, 1 thread.
    Dfn3Hop,
    /// DeepFilterNet3 `step_many` on 32 streams, 1 thread, per stream-hop.
    Dfn3Batch,
    /// ESPCN ×3 on one 360×640 luma frame, 1 and N threads.
    EspcnX3,
    /// The engine's Conv3d 16→16 3×3×3 on 16×128×128, 1 thread.
    Conv3d,
    /// The clutter filter streaming 128×128 frames, N threads.
    Clutter,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 5] =
        [Workload::Dfn3Hop, Workload::Dfn3Batch, Workload::EspcnX3, Workload::Conv3d, Workload::Clutter];

    /// The name `--only` takes and the report shows.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Dfn3Hop => "dfn3-hop",
            Workload::Dfn3Batch => "dfn3-batch",
            Workload::EspcnX3 => "espcn-x3",
            Workload::Conv3d => "conv3d",
            Workload::Clutter => "clutter",
        }
    }

    /// The workload called `name`, or an error listing the names.
    pub fn from_name(name: &str) -> Result<Self> {
        match Self::ALL.into_iter().find(|w| w.name() == name) {
            Some(w) => Ok(w),
            None => {
                let names: Vec<_> = Self::ALL.iter().map(|w| w.name()).collect();
                bail!("unknown workload `{name}` (one of {})", names.join(", "))
            }
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Few repetitions.
    pub quick: bool,
    /// Threads of the multi-threaded rows.
    pub threads: usize,
    /// The workloads to run, in order.
    pub workloads: Vec<Workload>,
}

/// Unit of a row's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
}

impl Unit {
    fn of(self, d: Duration) -> f64 {
        match self {
            Unit::Us => d.as_secs_f64() * 1e6,
            Unit::Ms => d.as_secs_f64() * 1e3,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Unit::Us => "µs",
            Unit::Ms => "ms",
        }
    }
}

/// A figure computed from a row's best time (a rate, or a real-time factor).
#[derive(Debug, Clone, Serialize)]
pub struct Derived {
    /// What it is, e.g. `fps`.
    pub what: &'static str,
    /// Its value.
    pub value: f64,
}

/// One timed row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The workload's name.
    pub name: &'static str,
    /// What was timed.
    pub what: String,
    /// Threads it ran on.
    pub threads: usize,
    /// Unit of `best`, `median` and `budget`.
    pub unit: Unit,
    /// Fastest run.
    pub best: f64,
    /// Median run.
    pub median: f64,
    /// Runs timed.
    pub samples: usize,
    /// The most `best` may be (DESIGN §7), if the design sets one for this row.
    pub budget: Option<f64>,
    /// The budget as the design states it.
    pub budget_text: Option<&'static str>,
    /// Whether `best` is within `budget`.
    pub within_budget: Option<bool>,
    /// A figure derived from `best`.
    pub derived: Option<Derived>,
}

impl Row {
    fn new(name: &'static str, what: String, threads: usize, unit: Unit, t: Timing) -> Self {
        Row {
            name,
            what,
            threads,
            unit,
            best: unit.of(t.best),
            median: unit.of(t.median),
            samples: t.samples,
            budget: None,
            budget_text: None,
            within_budget: None,
            derived: None,
        }
    }

    fn budget(self, max: f64, text: &'static str) -> Self {
        let within = self.best <= max;
        Row { budget: Some(max), budget_text: Some(text), within_budget: Some(within), ..self }
    }

    fn derived(self, what: &'static str, value: f64) -> Self {
        Row { derived: Some(Derived { what, value }), ..self }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of sluice.
    pub version: &'static str,
    /// The engine's ISA tier.
    pub isa: &'static str,
    /// Threads of the multi-threaded rows.
    pub threads: usize,
    /// Whether `--quick` was given.
    pub quick: bool,
    /// The rows, in order.
    pub workloads: Vec<Row>,
    /// Where the peer comparisons are run.
    pub peers: &'static str,
}

/// Runs the configured workloads.
pub fn run(config: &BenchConfig) -> Result<Report> {
    let mut rows = Vec::new();
    // Both DFN3 workloads time the same model: load and plan it once.
    let mut dfn3 = None;
    for &w in &config.workloads {
        let done = match w {
            Workload::Dfn3Hop => dfn3_model(&mut dfn3).and_then(|m| dfn3_hop(m, config.quick)).map(|r| vec![r]),
            Workload::Dfn3Batch => dfn3_model(&mut dfn3).and_then(|m| dfn3_batch(m, config.quick)).map(|r| vec![r]),
            Workload::EspcnX3 => espcn_x3(config.quick, config.threads),
            Workload::Conv3d => conv3d(config.quick).map(|r| vec![r]),
            Workload::Clutter => clutter(config.quick, config.threads).map(|r| vec![r]),
        };
        rows.extend(done.with_context(|| format!("workload {}", w.name()))?);
    }
    Ok(Report {
        version: env!("CARGO_PKG_VERSION"),
        isa: Isa::active().name(),
        threads: config.threads,
        quick: config.quick,
        workloads: rows,
        peers: PEERS,
    })
}

/// `samples` timed runs, or a few with `--quick`.
fn reps(quick: bool, samples: usize) -> Reps {
    Reps::new(if quick { 3 } else { samples })
}

/// The bundled DFN3 model, loaded into `slot` the first time.
fn dfn3_model(slot: &mut Option<Dfn3Model>) -> Result<&Dfn3Model> {
    if slot.is_none() {
        let weights = Dfn3Weights::bundled()
            .with_context(|| format!("cannot load the DFN3 weights from {}", Dfn3Weights::bundled_path().display()))?;
        *slot = Some(Dfn3Model::new(&weights).context("cannot build the DFN3 model")?);
    }
    slot.as_ref().context("internal: DFN3 model slot empty after loading")
}

fn dfn3_hop(model: &Dfn3Model, quick: bool) -> Result<Row> {
    const BLOCK: usize = 100;
    let (mut state, mut out) = (model.new_state(), model.new_output());
    let (erb, spec) = timing::dfn3_features(BLOCK, model.nb_erb(), model.nb_df());
    let t = timing::measure(reps(quick, 30), || {
        erb.iter().zip(&spec).try_for_each(|(e, s)| model.step(&mut state, e, s, &mut out))
    })?
    .per(BLOCK);
    let what = "DeepFilterNet3 one hop, one stream".to_owned();
    let rtf = t.best.as_secs_f64() / HOP.as_secs_f64();
    Ok(Row::new("dfn3-hop", what, 1, Unit::Us, t).budget(150.0, "≤ 150 µs").derived("real-time factor", rtf))
}

fn dfn3_batch(model: &Dfn3Model, quick: bool) -> Result<Row> {
    let (erb, spec) = timing::dfn3_features(BATCH, model.nb_erb(), model.nb_df());
    let (erb, spec) = (erb.concat(), spec.concat());
    let mut states: Vec<_> = (0..BATCH).map(|_| model.new_state()).collect();
    let mut outs: Vec<_> = (0..BATCH).map(|_| model.new_output()).collect();
    let mut batch = model.new_batch(BATCH);
    let calls = if quick { 2 } else { 20 };
    let t = timing::measure(reps(quick, 10).with_inner(calls), || {
        model.step_many(&mut states, &mut batch, &erb, &spec, &mut outs)
    })?
    .per(BATCH);
    let what = format!("DeepFilterNet3 step_many, {BATCH} streams, per stream-hop");
    let per_core = HOP.as_secs_f64() / t.best.as_secs_f64();
    Ok(Row::new("dfn3-batch", what, 1, Unit::Us, t).derived("stream-hops per core per 10 ms", per_core))
}

fn espcn_x3(quick: bool, threads: usize) -> Result<Vec<Row>> {
    let model = Espcn::bundled(3).context("cannot load the ESPCN x3 weights")?;
    let plan = model.plan(ESPCN_W, ESPCN_H)?;
    let y = timing::luma_frame(ESPCN_W, ESPCN_H);
    let mut out = vec![0.0; plan.output_len()];
    let counts = if threads == 1 { vec![1] } else { vec![1, threads] };
    let mut rows = Vec::new();
    for n in counts {
        let pool = Threads::new(n).with_context(|| format!("cannot start {n} engine threads"))?;
        let mut scratch = vec![0.0; plan.scratch_len(&pool)];
        let t = timing::measure(reps(quick, 10), || plan.run(&y, &mut out, &mut scratch, &pool))?;
        let what = format!("ESPCN x3 {ESPCN_H}x{ESPCN_W} -> {}x{} luma frame", ESPCN_H * 3, ESPCN_W * 3);
        let fps = 1.0 / t.best.as_secs_f64();
        let row = Row::new("espcn-x3", what, n, Unit::Ms, t).derived("fps", fps);
        rows.push(if n == 1 { row.budget(100.0, "≤ 100 ms on 1 core") } else { row });
    }
    Ok(rows)
}

fn conv3d(quick: bool) -> Result<Row> {
    let (channels, dims) = (16, [16, 128, 128]);
    let spec = ConvSpec::new(channels, channels, &[3, 3, 3]).same_padding();
    // PyTorch-style init (uniform ±1/√fan_in), as the engine bench's `conv3d` row.
    let bound = 1.0 / ((channels * 27) as f32).sqrt();
    let mut rng = Xorshift::new(21);
    let (weights, bias) = (rng.uniform(spec.weight_len(), bound), rng.uniform(channels, bound));
    let conv = Conv::new(&spec, &dims, &weights, Some(&bias))?;
    let input = rng.uniform(conv.input_len(), 1.0);
    let mut out = vec![0.0; conv.output_len()];
    let pool = Threads::new(1)?;
    let mut scratch = vec![0.0; conv.scratch_len(&pool)];
    let t = timing::measure(reps(quick, 10), || conv.run(&input, &mut out, &mut scratch, &pool))?;
    let what = "engine Conv3d 16->16 3x3x3 on 16x128x128".to_owned();
    let gflops = conv.flops() as f64 / t.best.as_secs_f64() / 1e9;
    Ok(Row::new("conv3d", what, 1, Unit::Ms, t).budget(33.0, "≤ 33 ms on 1 core").derived("GFLOP/s", gflops))
}

fn clutter(quick: bool, threads: usize) -> Result<Row> {
    let model = Clutter::bundled().context("cannot load the clutter filter's weights")?;
    let pool = Arc::new(Threads::new(threads).with_context(|| format!("cannot start {threads} engine threads"))?);
    let mut stream = model.stream(ECHO_SIDE, ECHO_SIDE, pool)?;
    let clip = timing::echo_clip(16, ECHO_SIDE, ECHO_SIDE);
    let mut frames = clip.chunks_exact(ECHO_SIDE * ECHO_SIDE).cycle();
    let mut out = vec![0.0; ECHO_SIDE * ECHO_SIDE];
    let samples = if quick { 5 } else { 40 };
    let t = timing::measure(Reps::new(samples).with_warmup(2), || match frames.next() {
        Some(frame) => stream.process(frame, &mut out),
        None => Ok(()),
    })?;
    let what = format!("clutter filter streaming {ECHO_SIDE}x{ECHO_SIDE} frames, per frame");
    let fps = 1.0 / t.best.as_secs_f64();
    Ok(Row::new("clutter", what, threads, Unit::Ms, t).budget(40.0, "≥ 25 fps on 2 cores").derived("fps", fps))
}

/// The report as an aligned table with a footer, for a terminal.
pub fn table(report: &Report) -> String {
    let mut lines = vec![format!(
        "sluice {} bench, ISA tier {}, {} thread(s){}",
        report.version,
        report.isa,
        report.threads,
        if report.quick { ", quick (few runs)" } else { "" }
    )];
    let header = ["workload", "threads", "best", "median", "budget", "", "derived (from best)"];
    let mut cells: Vec<[String; 7]> = vec![header.map(str::to_owned)];
    for r in &report.workloads {
        let u = r.unit.symbol();
        cells.push([
            r.name.to_owned(),
            r.threads.to_string(),
            format!("{} {u}", figure(r.best)),
            format!("{} {u}", figure(r.median)),
            r.budget_text.unwrap_or("-").to_owned(),
            match r.within_budget {
                Some(true) => "ok".to_owned(),
                Some(false) => "over".to_owned(),
                None => String::new(),
            },
            r.derived.as_ref().map_or_else(String::new, |d| format!("{} {}", figure(d.value), d.what)),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &cells {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            // Numbers right-aligned, words left-aligned.
            if (1..=3).contains(&i) {
                line.push_str(&format!("{pad}{c}  "));
            } else {
                line.push_str(&format!("{c}{pad}  "));
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines.push("verdicts and derived figures use the best run; the median shows what a busy machine adds".to_owned());
    lines.push(report.peers.to_owned());
    lines.join("\n") + "\n"
}

/// Three significant figures or so, without exponents.
fn figure(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.4}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()).ok(), Some(w));
        }
        let e = Workload::from_name("nope").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("`nope`") && e.contains("dfn3-hop") && e.contains("clutter"), "{e}");
    }

    #[test]
    fn table_aligns_rows_and_states_verdicts() {
        let t = Timing { best: Duration::from_micros(90), median: Duration::from_micros(120), samples: 3 };
        let fast = Row::new("dfn3-hop", String::new(), 1, Unit::Us, t).budget(150.0, "≤ 150 µs");
        let slow = Row::new("conv3d", String::new(), 1, Unit::Us, t).budget(50.0, "≤ 50 µs");
        assert_eq!((fast.within_budget, slow.within_budget), (Some(true), Some(false)));
        let report =
            Report { version: "0", isa: "x", threads: 2, quick: true, workloads: vec![fast, slow], peers: PEERS };
        let text = table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with("dfn3-hop") && lines[2].contains("90.0 µs") && lines[2].ends_with("ok"));
        assert!(lines[3].starts_with("conv3d") && lines[3].contains("120 µs") && lines[3].ends_with("over"));
        let col = |l: &str| l.find("µs").unwrap_or(0);
        assert_eq!(col(lines[2]), col(lines[3]), "{text}");
        assert!(text.contains("--ort") && text.contains("torch_bench.py"));
    }
}
