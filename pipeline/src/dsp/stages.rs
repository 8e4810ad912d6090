//! Which parts of the network and back end run on a frame: the lsnr stage decision and the RMS
//! silence gate of libDF (spec §1.7).

use sluice_models::dfn3::Decoders;

/// What to do with frame t−lookahead, decided from the newest frame's local SNR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// lsnr below `min_db` (noise only): apply an all-zero mask; run neither decoder.
    ZeroMask,
    /// lsnr above `max_erb_db` (clean speech): emit the noisy frame unchanged; run neither decoder.
    Passthrough,
    /// lsnr above `max_df_db`: run the ERB decoder and apply its mask; skip deep filtering.
    ErbOnly,
    /// Otherwise: run both decoders, apply the ERB mask then deep filtering.
    ErbAndDf,
}

impl Stage {
    /// Whether the ERB decoder runs (and so its GRU state advances) on this frame.
    pub fn runs_erb_decoder(self) -> bool {
        self.decoders().erb()
    }

    /// Whether the DF decoder runs (and so its GRU and conv state advance) on this frame.
    pub fn runs_df_decoder(self) -> bool {
        self.decoders().df()
    }

    /// Whether a gain (a mask, including the zero mask) is applied: this resets the RMS gate.
    pub fn applies_gain(self) -> bool {
        self != Stage::Passthrough
    }

    /// The network decoders this stage reads (the others need not run, as in libDF).
    pub fn decoders(self) -> Decoders {
        match self {
            Stage::ZeroMask | Stage::Passthrough => Decoders::None,
            Stage::ErbOnly => Decoders::Erb,
            Stage::ErbAndDf => Decoders::ErbAndDf,
        }
    }
}

/// lsnr thresholds in dB that pick the [`Stage`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageThresholds {
    /// Below this, the frame is treated as noise only ([`Stage::ZeroMask`]).
    pub min_db: f32,
    /// Above this, the frame is left unprocessed ([`Stage::Passthrough`]).
    pub max_erb_db: f32,
    /// Above this (and not above `max_erb_db`), deep filtering is skipped ([`Stage::ErbOnly`]).
    pub max_df_db: f32,
}

impl StageThresholds {
    /// libDF's C API, CLI and LADSPA plugin: −15 / 35 / 35 dB. The network's lsnr lies in
    /// [−15, 35], so every frame runs both stages (constant cost).
    pub const C_API: StageThresholds = StageThresholds { min_db: -15.0, max_erb_db: 35.0, max_df_db: 35.0 };
    /// libDF's `RuntimeParams::default()`: −10 / 30 / 20 dB (gates noise-only frames to silence).
    pub const LIBRARY_DEFAULT: StageThresholds = StageThresholds { min_db: -10.0, max_erb_db: 30.0, max_df_db: 20.0 };

    /// The stage for a frame with local SNR `lsnr_db` (checked in libDF's order; NaN runs both).
    pub fn decide(&self, lsnr_db: f32) -> Stage {
        if lsnr_db < self.min_db {
            Stage::ZeroMask
        } else if lsnr_db > self.max_erb_db {
            Stage::Passthrough
        } else if lsnr_db > self.max_df_db {
            Stage::ErbOnly
        } else {
            Stage::ErbAndDf
        }
    }

    /// Whether some lsnr in `[lo, hi]` (the network's range) picks a stage other than
    /// [`Stage::ErbAndDf`], so that a gated network step can skip a decoder.
    pub fn may_skip(&self, (lo, hi): (f32, f32)) -> bool {
        !(lo >= self.min_db && hi <= self.max_erb_db && hi <= self.max_df_db)
    }
}

impl Default for StageThresholds {
    fn default() -> Self {
        Self::C_API
    }
}

/// libDF's digital-silence gate. A hop whose mean square is below 1e-7 counts as quiet; after
/// more than 5 consecutive quiet-or-ungained frames the hop is skipped entirely (zeros out,
/// lsnr −15 dB, nothing analysed). A loud hop or a frame where a gain is applied resets it;
/// a frame processed without a gain ([`Stage::Passthrough`]) counts like a quiet one.
#[derive(Debug, Clone, Default)]
pub struct RmsGate {
    count: u32,
}

impl RmsGate {
    /// Mean-square level below which a hop counts as quiet.
    pub const QUIET_MEAN_SQUARE: f32 = 1e-7;
    /// The hop is skipped once the counter exceeds this.
    pub const MAX_COUNT: u32 = 5;
    /// lsnr reported for a skipped hop, in dB.
    pub const SKIPPED_LSNR_DB: f32 = -15.0;

    /// A gate with its counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Observes one input hop; returns `true` when the hop must be skipped (output zeros, report
    /// [`Self::SKIPPED_LSNR_DB`], run no analysis, features, network or synthesis).
    pub fn observe(&mut self, hop: &[f32]) -> bool {
        let energy = hop.iter().fold(0.0f32, |acc, &x| acc + x * x);
        let mean_square = energy / hop.len().max(1) as f32;
        if mean_square < Self::QUIET_MEAN_SQUARE {
            self.count = self.count.saturating_add(1);
        } else {
            self.count = 0;
        }
        self.count > Self::MAX_COUNT
    }

    /// Records the stage a processed frame took: a gain resets the counter, none increments it.
    pub fn record(&mut self, stage: Stage) {
        if stage.applies_gain() {
            self.count = 0;
        } else {
            self.count = self.count.saturating_add(1);
        }
    }

    /// The current counter.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Sets the counter back to zero.
    pub fn reset(&mut self) {
        self.count = 0;
    }
}
