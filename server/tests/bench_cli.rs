//! `sluice bench` end to end: the real binary with `--quick --json` reports every workload with
//! sane figures, units and the design's budgets; `--only` narrows the run; an unknown workload
//! is one clear error line and exit status 1. No assert on speed beyond positivity.

use serde_json::Value;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap_or_else(|e| panic!("running sluice: {e}"))
}

/// `sluice bench --quick --json ARGS…`, requiring success; returns the parsed report.
fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench", "--quick", "--json"];
    all.extend_from_slice(args);
    let out = sluice(&all);
    assert!(out.status.success(), "sluice {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{all:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Checks one row's figures and returns its name.
fn check_row(row: &Value) -> &str {
    let name = row["name"].as_str().unwrap_or_else(|| panic!("row without a name: {row}"));
    let (best, median) = (row["best"].as_f64(), row["median"].as_f64());
    let (Some(best), Some(median)) = (best, median) else { panic!("{name}: best/median missing: {row}") };
    assert!(best.is_finite() && best > 0.0 && best <= median && median.is_finite(), "{name}: {row}");
    assert!(row["samples"].as_u64().is_some_and(|n| n >= 1), "{name}: {row}");
    assert!(row["threads"].as_u64().is_some_and(|n| n >= 1), "{name}: {row}");
    assert!(row["derived"]["value"].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{name}: {row}");
    if let Some(budget) = row["budget"].as_f64() {
        assert_eq!(row["within_budget"].as_bool(), Some(best <= budget), "{name}: verdict on the best: {row}");
    } else {
        assert!(row["within_budget"].is_null(), "{name}: a verdict without a budget: {row}");
    }
    name
}

#[test]
fn quick_json_reports_every_workload_against_its_budget() {
    let report = bench_json(&["--threads", "2"]);
    assert_eq!(report["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert!(report["isa"].as_str().is_some_and(|s| !s.is_empty()), "{report}");
    assert_eq!((report["threads"].as_u64(), report["quick"].as_bool()), (Some(2), Some(true)));
    assert!(report["peers"].as_str().is_some_and(|p| p.contains("--ort") && p.contains("torch_bench.py")));
    let rows = report["workloads"].as_array().unwrap_or_else(|| panic!("no workloads: {report}"));
    let got: Vec<(&str, u64, &str, Option<f64>)> = rows
        .iter()
        .map(|r| {
            let name = check_row(r);
            (name, r["threads"].as_u64().unwrap_or(0), r["unit"].as_str().unwrap_or(""), r["budget"].as_f64())
        })
        .collect();
    let want = [
        ("dfn3-hop", 1, "us", Some(150.0)),
        ("dfn3-batch", 1, "us", None),
        ("espcn-x3", 1, "ms", Some(100.0)),
        ("espcn-x3", 2, "ms", None),
        ("conv3d", 1, "ms", Some(33.0)),
        ("clutter", 2, "ms", Some(40.0)),
    ];
    assert_eq!(got, want, "{report}");
    // The derived figures follow from the best: RTF = t / 10 ms, stream-hops per 10 ms, fps.
    let derived = |i: usize| rows[i]["derived"]["value"].as_f64().unwrap_or(f64::NAN);
    let best = |i: usize| rows[i]["best"].as_f64().unwrap_or(f64::NAN);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    assert!(close(derived(0), best(0) / 10_000.0), "{report}");
    assert!(close(derived(1), 10_000.0 / best(1)), "{report}");
    assert!(close(derived(5), 1_000.0 / best(5)), "{report}");
}

#[test]
fn only_runs_one_workload_and_unknown_names_fail() {
    let report = bench_json(&["--only", "clutter", "--threads", "1"]);
    let rows = report["workloads"].as_array().unwrap_or_else(|| panic!("no workloads: {report}"));
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!((check_row(&rows[0]), rows[0]["threads"].as_u64()), ("clutter", Some(1)));

    let out = sluice(&["bench", "--quick", "--only", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no report on an error: {}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sluice bench: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    assert!(lines[0].contains("unknown workload `nope`") && lines[0].contains("espcn-x3"), "{}", lines[0]);
}

#[test]
fn table_lists_the_workloads_with_verdicts_and_the_peers() {
    let out = sluice(&["bench", "--quick", "--only", "dfn3-hop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("dfn3-hop")).unwrap_or_else(|| panic!("no dfn3-hop row: {text}"));
    assert!(row.contains("µs") && row.contains("≤ 150 µs"), "{row}");
    assert!(row.contains(" ok ") || row.contains(" over "), "a verdict: {row}");
    assert!(text.contains("real-time factor") && text.contains("torch_bench.py"), "{text}");
}
