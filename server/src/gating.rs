//! The `gating` setting of every denoising front end (CLI, file API, live stream, microphone):
//! whether hops skip parts of the network by their local SNR, as libDF's library does.

use serde::{Deserialize, Serialize};
use sluice_pipeline::dsp::StageThresholds;

/// Whether hops skip parts of the network by their local SNR (libDF's stage gating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gating {
    /// Every stage on every hop (libDF's C API, CLI and plugin: −15/35/35 dB): constant cost,
    /// the reference output.
    #[default]
    Off,
    /// libDF's library thresholds (−10/30/20 dB): hops below −10 dB lsnr are muted, hops above
    /// 20 dB skip deep filtering and above 30 dB pass unchanged; the decoders a hop does not
    /// use do not run, which saves their compute on noise-only and clean hops.
    Lsnr,
}

impl Gating {
    /// The thresholds this setting stands for.
    pub fn thresholds(self) -> StageThresholds {
        match self {
            Gating::Off => StageThresholds::C_API,
            Gating::Lsnr => StageThresholds::LIBRARY_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_map_to_libdf_thresholds() {
        for (g, name) in [(Gating::Off, "off"), (Gating::Lsnr, "lsnr")] {
            let json = serde_json::to_string(&g).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Gating>(&json).ok(), Some(g));
        }
        assert!(serde_json::from_str::<Gating>("\"fast\"").is_err());
        assert_eq!(Gating::default().thresholds(), StageThresholds::C_API);
        assert_eq!(Gating::Lsnr.thresholds(), StageThresholds::LIBRARY_DEFAULT);
    }
}
