//! `sluice live` end to end through a real PulseAudio server: speech mixed with noise is played
//! into a null sink this test creates, `sluice live` captures the sink's monitor into a WAV and
//! is stopped with SIGINT; the WAV must be valid and, once aligned, match `sluice denoise` of
//! the same input. Latency varies run to run, so everything asserted is about content.
//!
//! Needs a reachable PulseAudio server (`scripts/test.sh` starts one). Without one the tests
//! skip with a message — unless `SLUICE_REQUIRE_PULSE` is set, as CI sets it, then they fail.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use realfft::RealFftPlanner;

const RATE: u32 = 48_000;
const SPEECH: &str = "/usr/share/sounds/alsa/Front_Center.wav";

fn pactl(args: &[&str]) -> Option<String> {
    let out = Command::new("pactl").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether a PulseAudio server answers; panics when none does and `SLUICE_REQUIRE_PULSE` is set.
fn pulse_available(test: &str) -> bool {
    if pactl(&["info"]).is_some() {
        return true;
    }
    assert!(
        std::env::var_os("SLUICE_REQUIRE_PULSE").is_none(),
        "SLUICE_REQUIRE_PULSE is set but no PulseAudio server answers `pactl info` (is it started, with \
         XDG_RUNTIME_DIR or PULSE_SERVER pointing at it?)"
    );
    eprintln!(
        "skipping {test}: no PulseAudio server answers `pactl info` (set SLUICE_REQUIRE_PULSE to make this fail)"
    );
    false
}

/// A mono 48 kHz null sink of our own (not the default, so a developer's real devices are never
/// used), unloaded when dropped.
struct NullSink {
    name: String,
    module: String,
}

impl NullSink {
    fn new(tag: &str) -> Self {
        let name = format!("sluice_test_{tag}_{}", std::process::id());
        let module =
            pactl(&["load-module", "module-null-sink", &format!("sink_name={name}"), "rate=48000", "channels=1"])
                .unwrap_or_else(|| panic!("pactl load-module module-null-sink failed"));
        Self { name, module }
    }

    fn monitor(&self) -> String {
        format!("{}.monitor", self.name)
    }
}

impl Drop for NullSink {
    fn drop(&mut self) {
        let _ = pactl(&["unload-module", &self.module]);
    }
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let samples = r
        .samples::<i16>()
        .map(|s| s.map(|x| f32::from(x) / 32768.0))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (spec, samples)
}

fn write_wav(path: &Path, samples: &[f32]) {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for &x in samples {
        w.write_sample((x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).unwrap_or_else(|e| panic!("{e}"));
    }
    w.finalize().unwrap_or_else(|e| panic!("{e}"));
}

/// Real speech (the ALSA test voice) with 0.3 s of lead-in and tail, plus white noise at 5 dB SNR.
fn noisy_speech() -> Vec<f32> {
    let (spec, speech) = read_wav(Path::new(SPEECH));
    assert_eq!((spec.sample_rate, spec.channels), (RATE, 1), "{SPEECH} is 48 kHz mono");
    let pad = vec![0.0; RATE as usize * 3 / 10];
    let clean: Vec<f32> = pad.iter().chain(&speech).chain(&pad).copied().collect();
    let speech_power = speech.iter().map(|x| x * x).sum::<f32>() / speech.len() as f32;
    let noise_rms = (speech_power / 10f32.powf(0.5)).sqrt();
    let mut seed = 0x9e37_79b9_u32;
    clean
        .iter()
        .map(|x| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            // Uniform on [−√3, √3]·rms has the wanted power.
            x + (seed as f32 / u32::MAX as f32 * 2.0 - 1.0) * 3f32.sqrt() * noise_rms
        })
        .collect()
}

/// Where `needle` best lines up in `hay`: the lag (`hay[lag + i] ≈ needle[i]`, negative when
/// `hay` misses `needle`'s start) whose overlap — at least `min_overlap` of `needle` — has the
/// highest normalised correlation, and that correlation. FFT cross-correlation.
fn align(hay: &[f32], needle: &[f32], min_overlap: f32) -> (isize, f32) {
    let n = (hay.len() + needle.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |x: &[f32], reverse: bool| {
        let mut buf = vec![0.0; n];
        let src: Box<dyn Iterator<Item = &f32>> = if reverse { Box::new(x.iter().rev()) } else { Box::new(x.iter()) };
        buf.iter_mut().zip(src).for_each(|(b, &v)| *b = f64::from(v));
        let mut out = fwd.make_output_vec();
        fwd.process(&mut buf, &mut out).unwrap_or_else(|e| panic!("fft: {e}"));
        out
    };
    let (a, b) = (spectrum(hay, false), spectrum(needle, true));
    let mut prod: Vec<_> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let mut corr = vec![0.0; n];
    inv.process(&mut prod, &mut corr).unwrap_or_else(|e| panic!("ifft: {e}"));
    // corr[lag + needle.len() − 1] = n · Σ_i hay[lag + i]·needle[i].
    let prefix = |x: &[f32]| {
        std::iter::once(0.0)
            .chain(x.iter().scan(0.0, |acc, &v| {
                *acc += f64::from(v) * f64::from(v);
                Some(*acc)
            }))
            .collect::<Vec<f64>>()
    };
    let (eh, en) = (prefix(hay), prefix(needle));
    let (h, m) = (hay.len() as isize, needle.len() as isize);
    let mut best = (0, f32::MIN);
    for lag in -m + 1..h {
        let (i0, i1) = ((-lag).max(0), m.min(h - lag));
        if ((i1 - i0) as f32) < min_overlap * m as f32 {
            continue;
        }
        let dot = corr[(lag + m - 1) as usize] / n as f64;
        let e_needle = en[i1 as usize] - en[i0 as usize];
        let e_hay = eh[(lag + i1) as usize] - eh[(lag + i0) as usize];
        let c = (dot / (e_needle * e_hay).sqrt().max(1e-12)) as f32;
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

/// `hay` and `needle` where they overlap at `lag` (see [`align`]).
fn overlap<'a>(hay: &'a [f32], needle: &'a [f32], lag: isize) -> (&'a [f32], &'a [f32]) {
    let i0 = (-lag).max(0) as usize;
    let i1 = (needle.len() as isize).min(hay.len() as isize - lag) as usize;
    (&hay[(lag + i0 as isize) as usize..(lag + i1 as isize) as usize], &needle[i0..i1])
}

fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let ea: f64 = a.iter().map(|&x| f64::from(x * x)).sum();
    let eb: f64 = b.iter().map(|&x| f64::from(x * x)).sum();
    (dot / (ea * eb).sqrt().max(1e-12)) as f32
}

/// Starts `sluice live ARGS` and waits (up to a minute: the model loads first) for its
/// "Ctrl-C to stop" line, which it prints once capture is running. Returns the child and a
/// receiver for its further stderr lines.
fn start_live(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("live")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running sluice live: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("Ctrl-C to stop") => return (child, rx),
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("sluice live never started capturing; stderr:\n{}", seen.join("\n"));
            }
        }
    }
}

/// Waits for `child` to exit (up to 60 s), returning its stdout; panics with its stderr if it
/// failed.
fn finish(mut child: Child, stderr: &mpsc::Receiver<String>) -> String {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")) {
            let rest: Vec<String> = stderr.try_iter().collect();
            assert!(status.success(), "sluice live exited with {status}; stderr:\n{}", rest.join("\n"));
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                std::io::Read::read_to_string(&mut stdout, &mut out).unwrap_or_else(|e| panic!("{e}"));
            }
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("sluice live did not exit within 60 s");
}

#[test]
fn speech_played_into_a_null_sink_comes_out_denoised_and_sigint_finalises_the_wav() {
    if !pulse_available("the live loopback test") {
        return;
    }
    let sink = NullSink::new("loop");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (noisy_path, ref_path, out_path) =
        (dir.path().join("noisy.wav"), dir.path().join("ref.wav"), dir.path().join("out.wav"));
    let noisy = noisy_speech();
    write_wav(&noisy_path, &noisy);
    // An idle null sink turns the first ~0.6 s played into it into silence on its monitor
    // (measured here) while it wakes up: play a second of silence first.
    let played_path = dir.path().join("played.wav");
    let lead_in = vec![0.0; RATE as usize];
    write_wav(&played_path, &[lead_in.as_slice(), noisy.as_slice()].concat());
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("denoise")
        .args([&noisy_path, &ref_path])
        .output()
        .unwrap_or_else(|e| panic!("sluice denoise: {e}"));
    assert!(status.status.success(), "sluice denoise failed: {}", String::from_utf8_lossy(&status.stderr));
    let (_, reference) = read_wav(&ref_path);

    let out_arg = out_path.to_string_lossy().into_owned();
    let (child, stderr) = start_live(&["--host", "pulseaudio", "--input", &sink.monitor(), "--output", &out_arg]);
    let play = Command::new("paplay")
        .arg(format!("--device={}", sink.name))
        .arg(&played_path)
        .status()
        .unwrap_or_else(|e| panic!("paplay: {e}"));
    assert!(play.success(), "paplay failed: {play}");
    // paplay returns once the sink has played everything; give the monitor's capture path a
    // generous moment to deliver the end, then stop the way a user would.
    // (The server hands captured audio to cpal in chunks of up to a few hundred ms.)
    std::thread::sleep(Duration::from_millis(3000));
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(kill.is_ok_and(|s| s.success()), "kill -INT failed");
    let summary = finish(child, &stderr);
    assert!(summary.contains("written to"), "no summary line: {summary}");

    let (spec, out) = read_wav(&out_path);
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (RATE, 1, 16));
    assert!(
        out.len() > noisy.len(),
        "the WAV ({} frames) is shorter than what was played ({})",
        out.len(),
        noisy.len()
    );
    let (lag, corr) = align(&out, &reference, 0.95);
    let (out_part, noisy_part) = overlap(&out, &noisy, lag);
    let noisy_corr = correlation(out_part, noisy_part);
    eprintln!(
        "live output matches `sluice denoise` at lag {lag} ({:.0} ms into the capture) over {} of {} frames with \
         correlation {corr:.4}; with the noisy input {noisy_corr:.4}",
        lag as f64 * 1000.0 / f64::from(RATE),
        out_part.len(),
        noisy.len()
    );
    assert!(corr >= 0.9, "correlation with `sluice denoise` is {corr:.4} < 0.9");
    assert!(
        corr > noisy_corr + 0.02,
        "the output is not closer to the denoised ({corr:.4}) than to the noisy input ({noisy_corr:.4})"
    );
}

#[test]
fn duration_bounds_a_passthrough_run_to_the_exact_frame_count() {
    if !pulse_available("the --duration test") {
        return;
    }
    let sink = NullSink::new("dur");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out_path = dir.path().join("pass.wav");
    let out_arg = out_path.to_string_lossy().into_owned();
    let (child, stderr) =
        start_live(&["--input", &sink.monitor(), "--output", &out_arg, "--passthrough", "--duration", "700ms"]);
    finish(child, &stderr);
    let (spec, out) = read_wav(&out_path);
    assert_eq!(spec.sample_rate, RATE);
    assert_eq!(out.len(), RATE as usize * 7 / 10, "exactly 0.7 s captured");
    assert!(out.iter().all(|&x| x == 0.0), "an idle null sink's monitor is digital silence");
}

#[test]
fn unknown_device_is_a_clear_error() {
    if !pulse_available("the unknown-device test") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["live", "--host", "pulseaudio", "--passthrough", "--input", "no-such-microphone-xyz"])
        .output()
        .unwrap_or_else(|e| panic!("sluice live: {e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no input device matches `no-such-microphone-xyz`"), "{err}");
    assert!(err.contains("--list-devices"), "{err}");
}
