//! Peak-memory children: the bench re-runs itself with `--child NET[.LAYER] --impl engine|im2col`
//! so each measurement starts from a fresh process whose high-water mark only this run raised.

use super::chain::{BaselineChain, EngineChain, touched};
use super::im2col::Par;
use super::workloads::{ConvNet, conv_nets};
use sluice_engine::Threads;
use std::process::Command;

/// A `/proc/self/status` field in KiB (`VmHWM` = peak resident set, `VmRSS` = current).
fn status_kib(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status"))
}

/// Which layers a child key (`espcn`, `espcn.l2`, `conv3d`) selects.
fn select<'a>(nets: &'a [ConvNet], key: &str) -> Option<(&'a ConvNet, Option<usize>)> {
    let (name, layer) = key.split_once('.').map_or((key, None), |(n, l)| (n, Some(l)));
    let net = nets.iter().find(|n| n.name == name)?;
    match layer {
        None => Some((net, None)),
        Some(l) => Some((net, Some(net.layers.iter().position(|x| x.name == l)?))),
    }
}

/// Child entry point: allocates and touches input, outputs and weights, then records how
/// far one run of `imp` raises the peak RSS above that. Prints `extra_kib=N`.
pub fn child(key: &str, imp: &str) -> Result<(), String> {
    let nets = conv_nets();
    let (net, only) = select(&nets, key).ok_or_else(|| format!("unknown workload {key}"))?;
    let threads = Threads::single();
    let range = only.map_or(0..net.layers.len(), |i| i..i + 1);
    let input = touched(net.layers[range.start].input_len());
    let mut outs: Vec<Vec<f32>> = net.layers[range.clone()].iter().map(|l| touched(l.output_len())).collect();
    // Reset the high-water mark to the current RSS (Linux ≥ 4.0); without it the mark is
    // still right here because nothing has been freed since the buffers above were touched.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS")?;
    match imp {
        "engine" => {
            let mut chain = EngineChain::new(net, &threads).map_err(|e| e.to_string())?;
            for (k, i) in range.clone().enumerate() {
                let (done, rest) = outs.split_at_mut(k);
                let src = if k == 0 { &input } else { &done[k - 1] };
                chain.run_layer(i, src, &mut rest[0], &threads);
            }
        }
        "im2col" => {
            let mut chain = BaselineChain::new(net, only);
            let par = Par { pool: None, n: 1 };
            chain.run_all(&input, &mut outs, &par);
        }
        other => return Err(format!("unknown --impl {other} (engine|im2col)")),
    }
    let after = status_kib("VmHWM")?;
    std::hint::black_box(&outs);
    println!("extra_kib={}", after.saturating_sub(before));
    Ok(())
}

/// Runs one child and returns its extra peak memory in MiB.
pub fn measure(key: &str, imp: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args(["--bench", "--child", key, "--impl", imp])
        .output()
        .map_err(|e| format!("cannot start memory child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("memory child {key}/{imp} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("extra_kib="))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("memory child {key}/{imp} printed no extra_kib: {text}"))?;
    Ok(kib as f64 / 1024.0)
}

/// The keys measured for `net`: each layer, plus the whole chain when it has several.
pub fn keys(net: &ConvNet) -> Vec<(String, String)> {
    let mut k: Vec<_> = net.layers.iter().map(|l| (l.name.to_string(), format!("{}.{}", net.name, l.name))).collect();
    if net.layers.len() > 1 {
        k.push(("total".to_string(), net.name.to_string()));
    }
    k
}
