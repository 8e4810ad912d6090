//! Engine benchmark: every workload of `specs/engine.md` §3 timed on the engine and on the
//! im2col + `gemm` baseline in the same run, with a correctness check between them, peak
//! memory per implementation, and optionally ONNX Runtime on the same weights.
//!
//! ```text
//! cargo bench -p sluice-engine --bench engine [-- --filter espcn --threads 1,2 --reps 10 --ort]
//! ```
//!
//! Flags: `--filter S` (workloads whose name contains S: espcn, conv3d, gru, glinear, maxpool; or
//! `NET.LAYER` such as `espcn.l2` for one layer alone),
//! `--threads 1,2`, `--reps N` (timed samples after one warm-up), `--budget SECS` (stop
//! sampling a cell after this long; default 30), `--ort` (run `engine/bench/ort_bench.py`,
//! `--python PATH` to choose the interpreter), `--no-mem` (skip the peak-memory children),
//! `--weights-dir DIR` (where weights/outputs for ORT go; default `<target>/bench-weights`).
//!
//! Times: best and median of N. At 1 thread they are the calling thread's CPU time (immune
//! to being descheduled on a shared machine); with more threads, wall time. `%peak`: against
//! the f32 FMA peak of one core at the active tier, measured at start-up (`peak.rs`), times the
//! threads.
//!
//! `cargo test` does not run this (without cargo bench's `--bench` flag it exits at once).

#[path = "engine/chain.rs"]
mod chain;
#[path = "engine/gemv.rs"]
mod gemv;
#[path = "engine/im2col.rs"]
mod im2col;
#[path = "engine/maxpool.rs"]
mod maxpool;
#[path = "engine/memory.rs"]
mod memory;
#[path = "engine/ort.rs"]
mod ort;
#[path = "engine/peak.rs"]
mod peak;
#[path = "engine/timing.rs"]
mod timing;
#[path = "engine/workloads.rs"]
mod workloads;

use chain::{BaselineChain, EngineChain, output_bufs, touched};
use im2col::Par;
use ort::{Export, OrtResults};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_engine::{
    GroupedLinear, GroupedLinearSpec, Gru, GruWeights, Isa, LinearBeforeReset, Pool, PoolSpec, Threads,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use timing::{Reps, Stats, measure};
use workloads::{ConvNet, conv_nets, uniform};

/// Largest |engine − baseline| accepted, relative to max(1, max |baseline|).
const REL_TOL: f64 = 1e-4;

struct Args {
    bench: bool,
    filter: Option<String>,
    threads: Vec<usize>,
    reps: Reps,
    ort: bool,
    mem: bool,
    python: String,
    weights_dir: PathBuf,
    child: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bench: false,
        filter: None,
        threads: vec![1, 2],
        reps: Reps { samples: 10, budget: Duration::from_secs(30) },
        ort: false,
        mem: true,
        python: std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string()),
        weights_dir: ort::default_dir(),
        child: None,
    };
    let mut child_key = None;
    let mut child_impl = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--filter" => a.filter = Some(value("--filter")?),
            "--threads" => {
                a.threads = value("--threads")?
                    .split(',')
                    .map(|t| t.trim().parse::<usize>().ok().filter(|&n| n > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("--threads wants a list like 1,2")?;
            }
            "--reps" => a.reps.samples = value("--reps")?.parse().map_err(|_| "--reps wants a number")?,
            "--budget" => {
                let s: f64 = value("--budget")?.parse().map_err(|_| "--budget wants seconds")?;
                a.reps.budget = Duration::from_secs_f64(s.max(0.0));
            }
            "--ort" => a.ort = true,
            "--no-mem" => a.mem = false,
            "--python" => a.python = value("--python")?,
            "--weights-dir" => a.weights_dir = PathBuf::from(value("--weights-dir")?),
            "--child" => child_key = Some(value("--child")?),
            "--impl" => child_impl = Some(value("--impl")?),
            s if !s.starts_with('-') => a.filter = Some(s.to_string()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if let Some(k) = child_key {
        a.child = Some((k, child_impl.ok_or("--child needs --impl engine|im2col")?));
    }
    Ok(a)
}

/// One timed row: a layer (or a whole network) at one thread count.
struct Row {
    layer: String,
    threads: usize,
    flops: u64,
    engine: Stats,
    base: Stats,
    max_diff: f64,
    scale: f64,
}

impl Row {
    fn ok(&self) -> bool {
        self.max_diff <= REL_TOL * self.scale.max(1.0)
    }
}

/// A network's timed rows plus what the ORT script needs.
struct NetResult {
    rows: Vec<Row>,
    kernels: Vec<&'static str>,
    /// The whole network's input and engine output (absent when only one layer of several ran).
    export: Option<(Vec<f32>, Vec<f32>)>,
    output_dims: Vec<usize>,
    output_channels: usize,
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> (f64, f64) {
    let d = a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max);
    let s = b.iter().map(|y| f64::from(y.abs())).fold(0.0, f64::max);
    if a.len() != b.len() { (f64::INFINITY, s) } else { (d, s) }
}

/// Engine thread pools and baseline rayon pools for each thread count.
struct Pools {
    engine: Vec<Threads>,
    rayon: Vec<Option<rayon::ThreadPool>>,
    counts: Vec<usize>,
}

impl Pools {
    fn new(counts: &[usize]) -> Result<Self, String> {
        let engine = counts.iter().map(|&n| Threads::new(n).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
        let rayon = counts
            .iter()
            .map(|&n| {
                (n > 1)
                    .then(|| rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| e.to_string()))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { engine, rayon, counts: counts.to_vec() })
    }

    fn par(&self, i: usize) -> Par<'_> {
        Par { pool: self.rayon[i].as_ref(), n: self.counts[i] }
    }

    fn widest(&self) -> &Threads {
        self.engine.iter().max_by_key(|t| t.count()).unwrap_or(&self.engine[0])
    }
}

fn progress(net: &str, r: &Row) {
    eprintln!(
        "  {net} {:<5} {}t: engine {:>9.3} ms (wall {:.3})  im2col+gemm {:>9.3} ms (wall {:.3})  max|diff| {:.2e}",
        r.layer,
        r.threads,
        r.engine.best * 1e3,
        r.engine.best_wall * 1e3,
        r.base.best * 1e3,
        r.base.best_wall * 1e3,
        r.max_diff
    );
}

fn bench_net(net: &ConvNet, only: Option<&str>, pools: &Pools, reps: Reps) -> Result<NetResult, String> {
    let mut engine = EngineChain::new(net, pools.widest()).map_err(|e| e.to_string())?;
    let mut base = BaselineChain::new(net, None);
    let kernels = engine.plans.iter().map(|p| p.kernel_name()).collect();
    let mut rows = Vec::new();
    let mut rng = StdRng::seed_from_u64(7);
    let mut last_single = None;
    for (i, layer) in net.layers.iter().enumerate() {
        if only.is_some_and(|o| o != layer.name) {
            continue;
        }
        let input = if i == 0 {
            uniform(&mut rng, layer.input_len(), 1.0).iter().map(|v| v.abs()).collect()
        } else {
            uniform(&mut rng, layer.input_len(), 1.0)
        };
        let mut e_out = touched(layer.output_len());
        let mut b_out = touched(layer.output_len());
        for (ti, &t) in pools.counts.iter().enumerate() {
            let threads = &pools.engine[ti];
            let par = pools.par(ti);
            let es = measure(reps, 1, t == 1, || engine.run_layer(i, &input, &mut e_out, threads));
            let bs = measure(reps, 1, t == 1, || base.run_layer(i, &input, &mut b_out, &par));
            let (max_diff, scale) = max_abs_diff(&e_out, &b_out);
            let row = Row {
                layer: layer.name.to_string(),
                threads: t,
                flops: layer.flops(),
                engine: es,
                base: bs,
                max_diff,
                scale,
            };
            progress(net.name, &row);
            rows.push(row);
        }
        last_single = Some((input, e_out));
    }
    let export = if only.is_some() && net.layers.len() > 1 {
        None
    } else if net.layers.len() > 1 {
        let input = net.layers[0].input_len();
        let input: Vec<f32> = uniform(&mut rng, input, 1.0).iter().map(|v| v.abs()).collect();
        let mut e_bufs = output_bufs(&engine.plans);
        let mut b_bufs = output_bufs(&engine.plans);
        for (ti, &t) in pools.counts.iter().enumerate() {
            let threads = &pools.engine[ti];
            let par = pools.par(ti);
            let es = measure(reps, 1, t == 1, || engine.run_all(&input, &mut e_bufs, threads));
            let bs = measure(reps, 1, t == 1, || base.run_all(&input, &mut b_bufs, &par));
            let (max_diff, scale) = max_abs_diff(e_bufs.last().map_or(&[], |v| v), b_bufs.last().map_or(&[], |v| v));
            let flops = net.layers.iter().map(|l| l.flops()).sum();
            let row = Row { layer: "total".to_string(), threads: t, flops, engine: es, base: bs, max_diff, scale };
            progress(net.name, &row);
            rows.push(row);
        }
        Some((input, e_bufs.pop().unwrap_or_default()))
    } else {
        last_single
    };
    let last = engine.plans.last().ok_or("network without layers")?;
    Ok(NetResult { rows, kernels, export, output_dims: last.output_dims(), output_channels: last.output_channels() })
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

fn print_net(net: &ConvNet, r: &NetResult, ort: Option<&OrtResults>, peak_per_core: f64) {
    let kernels: Vec<String> = net.layers.iter().zip(&r.kernels).map(|(l, k)| format!("{}={k}", l.name)).collect();
    println!("\n== {}: {} | isa {} | kernels {} ==", net.name, net.title, Isa::active(), kernels.join(" "));
    print!(
        "{:<6}{:>4}{:>8} | {:>10}{:>10}{:>9}{:>7} | {:>10}{:>10}{:>9} | {:>8}",
        "layer", "thr", "GFLOP", "engine ms", "median", "GFLOP/s", "%peak", "i2c+gemm", "median", "GFLOP/s", "eng/base"
    );
    if ort.is_some() {
        print!(" | {:>9}{:>8}{:>9}{:>8}{:>9}", "ORT all", "eng/ORT", "ORT ext", "eng/ORT", "ORT|d|");
    }
    println!(" | {:>9} check", "max|d|");
    for row in &r.rows {
        let gf = row.flops as f64 * 1e-9;
        let peak = peak_per_core * row.threads as f64;
        print!(
            "{:<6}{:>4}{:>8.2} | {:>10}{:>10}{:>9.1}{:>6.1}% | {:>10}{:>10}{:>9.1} | {:>8.3}",
            row.layer,
            row.threads,
            gf,
            ms(row.engine.best),
            ms(row.engine.median),
            gf / row.engine.best,
            100.0 * row.flops as f64 / row.engine.best / peak,
            ms(row.base.best),
            ms(row.base.median),
            gf / row.base.best,
            row.engine.best / row.base.best,
        );
        if let Some(res) = ort {
            let get = |opt: &str| res.get(&(net.name.to_string(), row.layer.clone(), row.threads, opt.to_string()));
            let cell = |t: Option<&ort::OrtTime>| {
                t.map_or_else(
                    || format!("{:>9}{:>8}", "-", "-"),
                    |t| format!("{:>9}{:>8.3}", ms(t.best), row.engine.best / t.best),
                )
            };
            let diff = get("all").and_then(|t| t.max_abs_diff).map_or("-".to_string(), |d| format!("{d:.2e}"));
            print!(" | {}{}{:>9}", cell(get("all")), cell(get("extended")), diff);
        }
        println!(" | {:>9.2e} {}", row.max_diff, if row.ok() { "ok" } else { "MISMATCH" });
    }
    let most = |f: fn(&Row) -> usize| r.rows.iter().map(f).max().unwrap_or(0);
    println!(
        "(best/median of up to {} engine and {} baseline samples after a warm-up; 1 thread = thread CPU time, more = wall;\n \
         eng/base and eng/ORT are time ratios, < 1 = engine faster; check = engine within {REL_TOL:e}·max(1, max|out|) of im2col+gemm)",
        most(|x| x.engine.samples),
        most(|x| x.base.samples)
    );
}

fn print_memory(nets: &[&ConvNet], only: Option<&str>) {
    println!("\n== peak RSS above input + outputs + weights (1 thread, a fresh process per cell) ==");
    println!(
        "{:<8}{:<7}{:>12}{:>17}{:>10}{:>19}",
        "net", "layer", "engine MiB", "im2col+gemm MiB", "ratio", "im2col matrix MiB"
    );
    for net in nets {
        for (layer, key) in memory::keys(net).into_iter().filter(|(l, _)| only.is_none_or(|o| o == l)) {
            let col = net.layers.iter().filter(|l| layer == "total" || l.name == layer).map(|l| l.col_bytes()).max();
            let col = col.unwrap_or(0) as f64 / (1 << 20) as f64;
            let e = memory::measure(&key, "engine");
            let b = memory::measure(&key, "im2col");
            let cell = |r: &Result<f64, String>| r.as_ref().map_or_else(|_| "error".to_string(), |m| format!("{m:.2}"));
            // RSS moves in 4 KiB pages: below one page the engine's extra is "none", not a ratio.
            let ratio = match (&e, &b) {
                (Ok(e), Ok(b)) if *e >= 4.0 / 1024.0 => format!("{:.0}x", b / e),
                (Ok(_), Ok(_)) => "inf".to_string(),
                _ => "-".to_string(),
            };
            println!("{:<8}{:<7}{:>12}{:>17}{:>10}{col:>19.1}", net.name, layer, cell(&e), cell(&b), ratio);
            for err in [e.err(), b.err()].into_iter().flatten() {
                eprintln!("  {err}");
            }
        }
    }
}

/// One small (audio-path) workload: the `gemm` baseline, and the engine plan when it is built.
struct SmallRow {
    name: &'static str,
    flops: u64,
    base: Stats,
    /// Engine time and max |engine − baseline| on the same inputs.
    engine: Option<(Stats, f64)>,
}

/// Audio-path shapes (batch 1, 1 thread) on the `gemm` crate, and max pooling against the
/// direct window loop.
fn small_rows(filter: Option<&str>, reps: Reps) -> Vec<SmallRow> {
    let want = |n: &str| filter.is_none_or(|f| n.contains(f));
    let mut rows = Vec::new();
    let mut rng = StdRng::seed_from_u64(51);
    if want("gru") {
        let mut gru = gemv::GruBaseline::new(256, 256);
        let x = uniform(&mut rng, 256, 1.0);
        let mut h = uniform(&mut rng, 256, 1.0);
        let base = measure(reps, 2000, true, || gru.step(&x, &mut h));
        let weights = GruWeights { w: &gru.w, r: &gru.r, wb: Some(&gru.wb), rb: Some(&gru.rb) };
        let plan = Gru::new(256, 256, &weights, LinearBeforeReset::On).unwrap_or_else(|e| panic!("gru plan: {e}"));
        let mut scratch = vec![0.0; plan.scratch_len(1)];
        let (mut he, mut hb) = (h.clone(), h.clone());
        plan.step(&x, &mut he, &mut scratch).unwrap_or_else(|e| panic!("gru: {e}"));
        gru.step(&x, &mut hb);
        let diff = max_abs_diff(&he, &hb).0;
        let eng =
            measure(reps, 2000, true, || plan.step(&x, &mut h, &mut scratch).unwrap_or_else(|e| panic!("gru: {e}")));
        rows.push(SmallRow {
            name: "gru H=256 step (2 GEMV 256x768)",
            flops: gru.flops(),
            base,
            engine: Some((eng, diff)),
        });
    }
    if want("glinear") {
        let gl = gemv::GroupedLinearBaseline::new(512, 256, 16);
        let x = uniform(&mut rng, 512, 1.0);
        let mut y = vec![0.0; 256];
        let base = measure(reps, 20000, true, || gl.run(&x, &mut y));
        let plan = GroupedLinear::new(&GroupedLinearSpec::new(16, 32, 16), &gl.w, Some(&gl.b))
            .unwrap_or_else(|e| panic!("grouped linear plan: {e}"));
        let mut ye = vec![0.0; 256];
        let eng =
            measure(reps, 20000, true, || plan.run(&x, &mut ye).unwrap_or_else(|e| panic!("grouped linear: {e}")));
        let diff = max_abs_diff(&ye, &y).0;
        rows.push(SmallRow { name: "glinear 512->256, 16 groups", flops: gl.flops(), base, engine: Some((eng, diff)) });
    }
    if want("maxpool") {
        let (h, w, c, k) = (360, 640, 64, 3);
        let x = uniform(&mut rng, h * w * c, 1.0);
        let mut y = touched(h * w * c);
        let base = measure(reps, 1, true, || maxpool::maxpool_same(&x, h, w, c, k, &mut y));
        let plan = Pool::new(&PoolSpec::max(c, &[k, k]).same_padding(), &[h, w])
            .unwrap_or_else(|e| panic!("max pool plan: {e}"));
        let one = Threads::single();
        let mut scratch = vec![0.0; plan.scratch_len(&one)];
        let mut ye = touched(h * w * c);
        let eng = measure(reps, 1, true, || {
            plan.run(&x, &mut ye, &mut scratch, &one).unwrap_or_else(|e| panic!("max pool: {e}"))
        });
        let diff = max_abs_diff(&ye, &y).0;
        // "FLOP" here = the k²−1 max operations per output the direct loop does.
        let flops = ((k * k - 1) * h * w * c) as u64;
        rows.push(SmallRow { name: "maxpool 3x3 s1 64x360x640 (direct)", flops, base, engine: Some((eng, diff)) });
    }
    rows
}

fn print_small(rows: &[SmallRow], peak_per_core: f64) -> bool {
    if rows.is_empty() {
        return true;
    }
    println!("\n== audio path and pooling, 1 thread, thread CPU time (baseline: gemm GEMV; direct max loop) ==");
    println!(
        "{:<34}{:>10}{:>9}{:>7} | {:>10}{:>10}{:>9} | {:>8} | {:>9}",
        "workload", "engine us", "GFLOP/s", "%peak", "base us", "median", "GFLOP/s", "eng/base", "max|d|"
    );
    let mut ok = true;
    for r in rows {
        let gf = r.flops as f64 * 1e-9;
        let (e_us, e_gf, e_pk, ratio, diff) = match r.engine {
            Some((e, d)) => {
                ok &= d <= REL_TOL;
                (
                    format!("{:.3}", e.best * 1e6),
                    format!("{:.1}", gf / e.best),
                    format!("{:.1}%", 100.0 * r.flops as f64 / e.best / peak_per_core),
                    format!("{:.3}", e.best / r.base.best),
                    format!("{d:.2e}"),
                )
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<34}{e_us:>10}{e_gf:>9}{e_pk:>7} | {:>10.3}{:>10.3}{:>9.1} | {ratio:>8} | {diff:>9}",
            r.name,
            r.base.best * 1e6,
            r.base.median * 1e6,
            gf / r.base.best
        );
    }
    ok
}

fn run(args: &Args) -> Result<bool, String> {
    let pools = Pools::new(&args.threads)?;
    let (filter, only) =
        match args.filter.as_deref().map(|f| f.split_once('.').map_or((f, None), |(n, l)| (n, Some(l)))) {
            Some((n, l)) => (Some(n), l),
            None => (None, None),
        };
    let nets: Vec<ConvNet> = conv_nets()
        .into_iter()
        .filter(|n| filter.is_none_or(|f| n.name.contains(f)))
        .filter(|n| only.is_none_or(|l| n.layers.iter().any(|x| x.name == l)))
        .collect();
    eprintln!("engine bench: isa {}, threads {:?}, up to {} samples", Isa::active(), args.threads, args.reps.samples);
    let peak_per_core = peak::fma_peak_per_core(Isa::active());
    println!(
        "f32 FMA peak of one core at isa {}: {:.1} GFLOP/s (measured; %peak is against it)",
        Isa::active(),
        peak_per_core * 1e-9
    );
    let mut results = Vec::new();
    for net in &nets {
        eprintln!("{} ...", net.title);
        results.push(bench_net(net, only, &pools, args.reps)?);
    }
    let ort = if args.ort && !nets.is_empty() {
        let exports: Vec<Export> = nets
            .iter()
            .zip(&results)
            .map(|(net, r)| Export {
                net,
                io: r.export.as_ref().map(|(i, o)| (i.as_slice(), o.as_slice())),
                output_dims: r.output_dims.clone(),
                output_channels: r.output_channels,
            })
            .collect();
        ort::export(&args.weights_dir, &exports)?;
        eprintln!("ONNX Runtime on {} ...", args.weights_dir.display());
        Some(ort::run(&args.python, &args.weights_dir, &args.threads, args.reps.samples, args.filter.as_deref())?)
    } else {
        None
    };
    let mut all_ok = true;
    for (net, r) in nets.iter().zip(&results) {
        print_net(net, r, ort.as_ref(), peak_per_core);
        all_ok &= r.rows.iter().all(Row::ok);
    }
    if only.is_none() {
        all_ok &= print_small(&small_rows(filter, args.reps), peak_per_core);
    }
    if args.mem && !nets.is_empty() {
        print_memory(&nets.iter().collect::<Vec<_>>(), only);
    }
    Ok(all_ok)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("engine bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((key, imp)) = &args.child {
        return match memory::child(key, imp) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if !args.bench {
        eprintln!("engine bench: run it with `cargo bench -p sluice-engine --bench engine` (skipped under cargo test)");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("engine bench: engine output differs from the im2col+gemm baseline (see MISMATCH rows)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("engine bench: {e}");
            ExitCode::FAILURE
        }
    }
}
