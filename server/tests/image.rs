//! The `sluice` binary run the way the container image runs it (no Docker engine here): the
//! final stage of `deploy/Dockerfile` is parsed for ENTRYPOINT, CMD, ENV, HEALTHCHECK, EXPOSE,
//! USER and STOPSIGNAL, and `deploy/k8s/deployment.yaml` for the drain timings; then the binary
//! is started with exactly that command and environment (paths that only exist in the image
//! mapped to this checkout), probed with the image's health check, and stopped with the image's
//! stop signal, which must end it with status 0 within the pod's termination grace period.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The instructions of the Dockerfile's last stage, continuation lines joined.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = joined.iter().rposition(|l| l.starts_with("FROM ")).unwrap_or_else(|| panic!("no FROM"));
    joined[last_from..]
        .iter()
        .map(|l| {
            let (op, rest) = l.split_once(char::is_whitespace).unwrap_or((l.as_str(), ""));
            (op.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

fn exec_form(value: &str, what: &str) -> Vec<String> {
    serde_json::from_str(value).unwrap_or_else(|e| panic!("{what} must be exec form (a JSON array): {value:?}: {e}"))
}

/// `KEY=VALUE KEY2=VALUE2` of an ENV instruction (values without spaces).
fn env_pairs(value: &str) -> Vec<(String, String)> {
    value
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("ENV must use KEY=VALUE: {kv}"));
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

/// What the image runs.
#[derive(Debug)]
struct Image {
    command: Vec<String>,
    env: HashMap<String, String>,
    healthcheck: Vec<String>,
    expose: u16,
    user: String,
    stop_signal: String,
    copies: Vec<String>,
}

fn image() -> Image {
    let text = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap_or_else(|e| panic!("{e}"));
    let stage = final_stage(&text);
    let one = |op: &str| {
        let found: Vec<&String> = stage.iter().filter(|(o, _)| o == op).map(|(_, v)| v).collect();
        assert_eq!(found.len(), 1, "the final stage needs exactly one {op}");
        found[0].clone()
    };
    let mut command = exec_form(&one("ENTRYPOINT"), "ENTRYPOINT");
    command.extend(exec_form(&one("CMD"), "CMD"));
    let health = one("HEALTHCHECK");
    let (_, health_cmd) = health.split_once("CMD ").unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {health}"));
    Image {
        command,
        env: stage.iter().filter(|(o, _)| o == "ENV").flat_map(|(_, v)| env_pairs(v)).collect(),
        healthcheck: exec_form(health_cmd, "HEALTHCHECK CMD"),
        expose: one("EXPOSE").parse().unwrap_or_else(|e| panic!("EXPOSE: {e}")),
        user: one("USER"),
        stop_signal: one("STOPSIGNAL"),
        copies: stage.iter().filter(|(o, _)| o == "COPY").map(|(_, v)| v.clone()).collect(),
    }
}

/// `NAME: value` of the first line in `yaml` whose key is `key` (trimmed, quotes removed).
fn yaml_value<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().trim_matches('"'))
        .unwrap_or_else(|| panic!("no `{key}:` in the deployment"))
}

/// The value of env var `name` in a Deployment's container spec.
fn yaml_env<'a>(yaml: &'a str, name: &str) -> &'a str {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != format!("- name: {name}"));
    lines.next().unwrap_or_else(|| panic!("no env {name} in the deployment"));
    lines
        .next()
        .and_then(|l| l.trim().strip_prefix("value:"))
        .map(|v| v.trim().trim_matches('"'))
        .unwrap_or_else(|| panic!("env {name} has no plain value"))
}

fn seconds(text: &str) -> Duration {
    sluice_server::cli::parse_duration(text).unwrap_or_else(|e| panic!("{e}"))
}

fn get(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap_or_else(|e| panic!("read: {e}"));
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status in {text:?}"))
}

/// Runs `argv` (argv[0] = `sluice`, the image's binary) with `env` only.
fn command(argv: &[String], env: &HashMap<String, String>) -> Command {
    assert_eq!(argv.first().map(String::as_str), Some("sluice"), "the image runs the sluice binary: {argv:?}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(&argv[1..]).env_clear().envs(env).stdin(Stdio::null());
    cmd
}

/// `sluice healthcheck`'s default `--url`, from the command definition (not the environment).
fn default_healthcheck_url() -> sluice_server::healthcheck::ProbeUrl {
    use clap::CommandFactory;
    let cli = sluice_server::cli::Cli::command();
    let sub = cli.find_subcommand("healthcheck").unwrap_or_else(|| panic!("no healthcheck subcommand"));
    let url = sub.get_arguments().find(|a| a.get_id() == "url").unwrap_or_else(|| panic!("no --url"));
    let default = url.get_default_values().first().unwrap_or_else(|| panic!("--url has no default"));
    default.to_string_lossy().parse().unwrap_or_else(|e| panic!("{e}"))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_image_command_serves_passes_its_healthcheck_and_drains_on_its_stop_signal() {
    let image = image();
    let deployment =
        std::fs::read_to_string(repo().join("deploy/k8s/deployment.yaml")).unwrap_or_else(|e| panic!("{e}"));

    // Static facts the image and the pod spec must agree on.
    assert_eq!(image.command, ["sluice", "serve"]);
    assert_eq!(image.stop_signal, "SIGTERM");
    let uid = image.user.split(':').next().unwrap_or_default();
    assert!(uid.parse::<u32>().is_ok_and(|u| u != 0), "USER must be a non-root numeric uid: {}", image.user);
    assert_eq!(yaml_value(&deployment, "runAsUser"), uid, "pod runAsUser vs image USER");
    let image_addr: SocketAddr = image
        .env
        .get("SLUICE_ADDR")
        .unwrap_or_else(|| panic!("no SLUICE_ADDR"))
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image_addr.port(), image.expose, "SLUICE_ADDR port vs EXPOSE");
    assert_eq!(yaml_value(&deployment, "containerPort"), image.expose.to_string());
    let default_probe = default_healthcheck_url();
    assert_eq!(default_probe.port, image.expose, "`sluice healthcheck`'s default URL must hit the exposed port");
    let models_dir = image.env.get("SLUICE_MODELS_DIR").unwrap_or_else(|| panic!("no SLUICE_MODELS_DIR"));
    assert!(
        image.copies.iter().any(|c| c.starts_with("models/weights/DeepFilterNet3_onnx.tar.gz ")
            && c.trim_end().trim_end_matches('/').ends_with(models_dir.as_str())),
        "the weights must be copied into SLUICE_MODELS_DIR ({models_dir}): {:?}",
        image.copies
    );
    // Every committed weight file the binary can load travels into the image.
    let weights = std::fs::read_dir(repo().join("models/weights")).unwrap_or_else(|e| panic!("{e}"));
    for entry in weights.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".safetensors") || name.ends_with(".tar.gz") {
            let source = format!("models/weights/{name}");
            assert!(
                image.copies.iter().any(|c| c.split_whitespace().any(|w| w == source)),
                "deploy/Dockerfile does not copy {source} into the image"
            );
        }
    }
    let termination = Duration::from_secs(
        yaml_value(&deployment, "terminationGracePeriodSeconds").parse().unwrap_or_else(|e| panic!("{e}")),
    );
    let pre_stop: Vec<String> =
        serde_json::from_str(yaml_value(&deployment, "command")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pre_stop[0], "sleep", "preStop is a pause");
    let pre_stop = Duration::from_secs(pre_stop[1].parse().unwrap_or_else(|e| panic!("{e}")));
    let drain_delay = seconds(yaml_env(&deployment, "SLUICE_DRAIN_DELAY"));
    let grace = seconds(yaml_env(&deployment, "SLUICE_SHUTDOWN_GRACE"));
    assert!(
        pre_stop + drain_delay + grace < termination,
        "preStop {pre_stop:?} + drain {drain_delay:?} + grace {grace:?} must fit terminationGracePeriodSeconds {termination:?}"
    );

    // Run it: the image's environment, with image-only paths mapped here, plus the pod's drain.
    let spool = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = image.env.clone();
    env.insert("SLUICE_MODELS_DIR".into(), repo().join("models/weights").display().to_string());
    env.insert("SLUICE_SPOOL_DIR".into(), spool.path().display().to_string());
    env.insert("SLUICE_ADDR".into(), "127.0.0.1:0".into());
    env.insert("SLUICE_DRAIN_DELAY".into(), yaml_env(&deployment, "SLUICE_DRAIN_DELAY").into());
    env.insert("SLUICE_SHUTDOWN_GRACE".into(), yaml_env(&deployment, "SLUICE_SHUTDOWN_GRACE").into());
    env.insert("SLUICE_THREADS".into(), "1".into());
    let child = command(&image.command, &env).stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
    let mut server = Running(child.unwrap_or_else(|e| panic!("spawn: {e}")));
    let stderr = server.0.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The image logs JSON (SLUICE_LOG_FORMAT=json): the listening line carries the address.
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|e| panic!("no `listening` line: {e}"));
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("log is not JSON ({e}): {line}"));
        if v["fields"]["message"] == "listening" {
            break v["fields"]["addr"].as_str().unwrap_or_default().parse().unwrap_or_else(|e| panic!("{e}"));
        }
    };
    assert_eq!(get(addr, "/readyz"), 200);

    // The HEALTHCHECK command, aimed at this port (the image's default URL is checked above).
    let mut health_env = env.clone();
    health_env.insert("SLUICE_HEALTHCHECK_URL".into(), format!("http://{addr}/healthz"));
    let healthy = command(&image.healthcheck, &health_env).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(healthy.status.success(), "HEALTHCHECK failed: {healthy:?}");

    // STOPSIGNAL: readiness turns 503 at once while liveness stays 200, then a clean exit.
    let signalled = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status();
    assert!(kill.is_ok_and(|s| s.success()), "kill -TERM failed");
    std::thread::sleep(drain_delay / 4);
    assert_eq!(get(addr, "/readyz"), 503, "readiness must fail during the drain");
    assert!(command(&image.healthcheck, &health_env).output().is_ok_and(|o| o.status.success()));
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap_or_else(|e| panic!("{e}")) {
            break status;
        }
        assert!(signalled.elapsed() < termination - pre_stop, "still running after the pod's grace period");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "SIGTERM must end sluice with status 0, got {status}");
    assert!(signalled.elapsed() >= drain_delay, "exited before the drain delay");
    assert!(Path::new(spool.path()).read_dir().is_ok_and(|mut d| d.next().is_none()), "spool not empty");
}

#[test]
fn dockerfile_parsing_handles_continuations_and_stages() {
    let text = "FROM a AS build\nRUN x \\\n  y\nCMD [\"no\"]\n# c\nFROM b\nENV A=1 \\\n    B=two\nCMD [\"serve\"]\n";
    let stage = final_stage(text);
    assert_eq!(stage[0], ("FROM".into(), "b".into()));
    assert_eq!(env_pairs(&stage[1].1), [("A".into(), "1".into()), ("B".into(), "two".into())]);
    assert_eq!(exec_form(&stage[2].1, "CMD"), ["serve"]);
}
