//! The ONNX Runtime peer: the bench writes its weights, inputs and engine outputs as raw
//! little-endian f32 files with a JSON manifest, then runs `engine/bench/ort_bench.py` on them.

use super::workloads::ConvNet;
use serde_json::{Value, json};
use sluice_engine::Activation;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `<target>/bench-weights`, found from this executable (`<target>/release/deps/engine-…`).
pub fn default_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.parent()?.join("bench-weights")))
        .unwrap_or_else(|| PathBuf::from("target/bench-weights"))
}

fn write_f32(dir: &Path, file: &str, data: &[f32]) -> Result<Value, String> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(file), bytes).map_err(|e| format!("writing {file}: {e}"))?;
    Ok(json!({ "file": file, "len": data.len() }))
}

fn act_name(a: Activation) -> &'static str {
    match a {
        Activation::Identity => "identity",
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        Activation::Sigmoid => "sigmoid",
        Activation::Prelu(_) => "leaky_relu",
    }
}

/// The PReLU slope ort_bench.py gives ONNX's LeakyRelu as `alpha`; null for the others.
fn act_slope(a: Activation) -> Value {
    match a {
        Activation::Prelu(s) => json!(s.get()),
        _ => Value::Null,
    }
}

/// What one network contributes to the manifest: weights, input, and the engine's output.
pub struct Export<'a> {
    pub net: &'a ConvNet,
    /// The network's input and the engine's output on it (absent when it was not run whole).
    pub io: Option<(&'a [f32], &'a [f32])>,
    pub output_dims: Vec<usize>,
    pub output_channels: usize,
}

/// Writes every network's files and the manifest into `dir`; returns the manifest JSON.
pub fn export(dir: &Path, nets: &[Export]) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for x in nets {
        let n = x.net;
        let mut layers = Vec::new();
        for l in &n.layers {
            let s = &l.spec;
            layers.push(json!({
                "name": l.name,
                "in_channels": s.in_channels,
                "out_channels": s.out_channels,
                "in_dims": l.in_dims,
                "kernel": s.kernel,
                "stride": s.stride,
                "dilation": s.dilation,
                "pad_begin": s.pad_begin,
                "pad_end": s.pad_end,
                "groups": s.groups,
                "activation": act_name(s.activation),
                "slope": act_slope(s.activation),
                "pixel_shuffle": s.pixel_shuffle,
                "flops": l.flops(),
                "weights": write_f32(dir, &format!("{}.{}.weights.f32", n.name, l.name), &l.weights)?,
                "bias": write_f32(dir, &format!("{}.{}.bias.f32", n.name, l.name), &l.bias)?,
            }));
        }
        let (input, engine_output) = match x.io {
            Some((i, o)) => (
                write_f32(dir, &format!("{}.input.f32", n.name), i)?,
                write_f32(dir, &format!("{}.engine_output.f32", n.name), o)?,
            ),
            None => (Value::Null, Value::Null),
        };
        out.push(json!({
            "name": n.name,
            "layout": "channels-last, no batch dim; weights [Cout][Cin/groups][k..]",
            "layers": layers,
            "input": input,
            "engine_output": engine_output,
            "output_dims": x.output_dims,
            "output_channels": x.output_channels,
        }));
    }
    let manifest = json!({ "format": "raw little-endian f32", "networks": out });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("manifest.json"), text).map_err(|e| format!("writing manifest: {e}"))?;
    Ok(manifest)
}

/// ORT's best time for one graph in seconds (thread CPU when 1 thread, wall otherwise).
#[derive(Debug, Clone, Copy)]
pub struct OrtTime {
    pub best: f64,
    /// Max |ORT − engine| over the network output (whole-network graphs only).
    pub max_abs_diff: Option<f64>,
}

/// Results keyed by (network, layer or "total", threads, "all" | "extended").
pub type OrtResults = HashMap<(String, String, usize, String), OrtTime>;

/// Runs the script and parses its JSON.
pub fn run(
    python: &str,
    dir: &Path,
    threads: &[usize],
    reps: usize,
    filter: Option<&str>,
) -> Result<OrtResults, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench").join("ort_bench.py");
    let threads_arg = threads.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg("--dir").arg(dir).args(["--threads", &threads_arg, "--reps", &reps.to_string()]);
    if let Some(f) = filter {
        cmd.args(["--filter", f]);
    }
    // Its progress lines (stderr) go straight to the terminal; stdout is the JSON.
    let out =
        cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("cannot run {python} {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed (see above; it needs `pip install -r engine/bench/requirements.txt`)",
            script.display()
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("ort_bench.py printed bad JSON: {e}"))?;
    if let Some(ver) = v.get("onnxruntime").and_then(Value::as_str) {
        eprintln!("onnxruntime {ver}");
    }
    let mut res = OrtResults::new();
    for r in v.get("results").and_then(Value::as_array).into_iter().flatten() {
        let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let f = |k: &str| r.get(k).and_then(Value::as_f64);
        let (Some(net), Some(layer), Some(opt), Some(t), Some(best)) =
            (s("network"), s("layer"), s("opt"), r.get("threads").and_then(Value::as_u64), f("best_ms"))
        else {
            return Err(format!("ort_bench.py result missing fields: {r}"));
        };
        let time = OrtTime { best: best * 1e-3, max_abs_diff: f("max_abs_diff_vs_engine") };
        res.insert((net, layer, t as usize, opt), time);
    }
    Ok(res)
}
