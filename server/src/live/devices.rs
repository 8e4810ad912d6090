//! Which audio system and which devices `sluice live` uses: PulseAudio's native protocol when
//! its server is reachable, ALSA otherwise; devices chosen by id or by part of their name.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{Device, Host, HostId};

use crate::cli::AudioHost;

/// Opens the audio system `choice` asks for.
pub fn open_host(choice: AudioHost) -> Result<Host> {
    match choice {
        AudioHost::Auto => {
            if let Some(id) = pulse_id()
                && cpal::available_hosts().contains(&id)
                && let Ok(host) = cpal::host_from_id(id)
            {
                return Ok(host);
            }
            fallback_host()
        }
        AudioHost::Pulseaudio => {
            let id = pulse_id().context("this build has no PulseAudio support")?;
            cpal::host_from_id(id).context(
                "cannot reach a PulseAudio server (is one running? it is found through $PULSE_SERVER or \
                 $XDG_RUNTIME_DIR/pulse/native)",
            )
        }
        AudioHost::Alsa => fallback_host(),
    }
}

#[cfg(target_os = "linux")]
fn pulse_id() -> Option<HostId> {
    Some(HostId::PulseAudio)
}

#[cfg(not(target_os = "linux"))]
fn pulse_id() -> Option<HostId> {
    None
}

/// ALSA on Linux, the platform's own audio system elsewhere.
#[cfg(target_os = "linux")]
fn fallback_host() -> Result<Host> {
    cpal::host_from_id(HostId::Alsa).context("cannot open ALSA")
}

#[cfg(not(target_os = "linux"))]
fn fallback_host() -> Result<Host> {
    Ok(cpal::default_host())
}

/// Capture or playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Microphones and monitors.
    Input,
    /// Speakers and sinks.
    Output,
}

impl Direction {
    fn noun(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Input => "--input",
            Self::Output => "--output-device",
        }
    }

    fn supports(self, d: &Device) -> bool {
        match self {
            Self::Input => d.supports_input(),
            Self::Output => d.supports_output(),
        }
    }
}

/// A device's id as `--input`/`--output-device` take it (e.g. `vsink.monitor`), and its
/// human name.
pub fn names(d: &Device) -> (String, String) {
    let id = d.id().map_or_else(|_| "?".to_owned(), |id| id.id().to_owned());
    let name = d.description().map_or_else(|_| id.clone(), |desc| desc.name().to_owned());
    (id, name)
}

/// `id (name)`, or just the id when they are the same.
pub fn label(d: &Device) -> String {
    let (id, name) = names(d);
    if id == name { id } else { format!("{id} ({name})") }
}

/// The device `wanted` names (see [`pick`]), or the system default.
pub fn find(host: &Host, dir: Direction, wanted: Option<&str>) -> Result<Device> {
    let Some(wanted) = wanted else {
        let default = match dir {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return default.with_context(|| {
            format!(
                "no default {} device on {} (no sound card? `sluice live --list-devices` shows what there is)",
                dir.noun(),
                host.id().name()
            )
        });
    };
    let devices: Vec<Device> = host
        .devices()
        .with_context(|| format!("cannot list the {} devices", host.id().name()))?
        .filter(|d| dir.supports(d))
        .collect();
    let named: Vec<(String, String)> = devices.iter().map(names).collect();
    match pick(&named, wanted) {
        Ok(i) => Ok(devices.into_iter().nth(i).context("device list changed")?),
        Err(Pick::None) => bail!(
            "no {} device matches `{wanted}` on {} (`sluice live --list-devices` lists them)",
            dir.noun(),
            host.id().name()
        ),
        Err(Pick::Ambiguous(hits)) => {
            let list = hits.iter().map(|&i| named[i].0.as_str()).collect::<Vec<_>>().join(", ");
            bail!("`{wanted}` matches several {} devices: {list}; pass one of these ids to {}", dir.noun(), dir.flag())
        }
    }
}

/// Why [`pick`] found no single device.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    /// Nothing matches.
    None,
    /// These indices match equally well.
    Ambiguous(Vec<usize>),
}

/// Whether an `(id, name)` pair matches, in one of [`pick`]'s tiers.
type Matcher<'a> = dyn Fn(&(String, String)) -> bool + 'a;

/// Chooses among `(id, name)` pairs: an exact id (also as `host:id`), else an exact name
/// (ignoring case), else the one id or name that contains `wanted` (ignoring case).
pub fn pick(devices: &[(String, String)], wanted: &str) -> Result<usize, Pick> {
    let bare = wanted.split_once(':').map_or(wanted, |(_, rest)| rest);
    let lower = wanted.to_lowercase();
    let tiers: [&Matcher<'_>; 3] =
        [&|(id, _)| id == wanted || id == bare, &|(_, name)| name.to_lowercase() == lower, &|(id, name)| {
            id.to_lowercase().contains(&lower) || name.to_lowercase().contains(&lower)
        }];
    for matches in tiers {
        let hits: Vec<usize> = devices.iter().enumerate().filter(|(_, d)| matches(d)).map(|(i, _)| i).collect();
        match hits.len() {
            0 => continue,
            1 => return Ok(hits[0]),
            _ => return Err(Pick::Ambiguous(hits)),
        }
    }
    Err(Pick::None)
}

/// The `--list-devices` text: every input and output of `host`, defaults starred, with the
/// format each would be opened with.
pub fn listing(host: &Host) -> Result<String> {
    let mut out = String::new();
    let default_in = host.default_input_device().map(|d| names(&d).0);
    let default_out = host.default_output_device().map(|d| names(&d).0);
    let devices: Vec<Device> =
        host.devices().with_context(|| format!("cannot list the {} devices", host.id().name()))?.collect();
    let _ = writeln!(out, "audio system: {}", host.id().name());
    for (dir, default) in [(Direction::Input, &default_in), (Direction::Output, &default_out)] {
        let _ = writeln!(out, "{} devices ({}):", dir.noun(), dir.flag());
        let mut any = false;
        for d in devices.iter().filter(|d| dir.supports(d)) {
            any = true;
            let (id, name) = names(d);
            let star = if default.as_deref() == Some(id.as_str()) { '*' } else { ' ' };
            let config = match dir {
                Direction::Input => d.default_input_config(),
                Direction::Output => d.default_output_config(),
            };
            let format = config.map_or_else(
                |e| format!("unusable: {e}"),
                |c| format!("{} Hz, {} ch, {}", c.sample_rate(), c.channels(), c.sample_format()),
            );
            let _ = writeln!(out, "  {star} {id:<40} {name} [{format}]");
        }
        if !any {
            let _ = writeln!(out, "    (none)");
        }
    }
    let _ = writeln!(out, "* = default. Pass an id, a name or part of one to --input / --output-device.");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> Vec<(String, String)> {
        [
            ("vsink.monitor", "Monitor of Null Output"),
            ("alsa_input.usb-Blue_Yeti-00.analog-stereo", "Yeti Stereo Microphone Analog Stereo"),
            ("alsa_input.pci-0000_00_1f.3.analog-stereo", "Built-in Audio Analog Stereo"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
    }

    #[test]
    fn exact_id_then_name_then_unique_part() {
        let d = devices();
        assert_eq!(pick(&d, "vsink.monitor"), Ok(0));
        assert_eq!(pick(&d, "pulseaudio:vsink.monitor"), Ok(0), "the host prefix --list-devices may show");
        assert_eq!(pick(&d, "built-in audio analog stereo"), Ok(2));
        assert_eq!(pick(&d, "yeti"), Ok(1));
        assert_eq!(pick(&d, "MONITOR"), Ok(0));
    }

    #[test]
    fn no_match_and_ambiguous_are_told_apart() {
        let d = devices();
        assert_eq!(pick(&d, "webcam"), Err(Pick::None));
        assert_eq!(pick(&d, "analog-stereo"), Err(Pick::Ambiguous(vec![1, 2])));
        assert_eq!(pick(&[], "x"), Err(Pick::None));
    }
}
