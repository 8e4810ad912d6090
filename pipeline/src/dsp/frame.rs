//! One channel's DFN3 DSP state, stepped once per hop in libDF's order (spec §1.14) around the
//! network, which the caller runs between [`Dfn3Dsp::front`] and [`Dfn3Dsp::back`].

use super::{
    Analysis, AttenLimit, Complex32, DspConfig, DspError, Enhancer, ErbFeatures, NoisyRing, RmsGate, SpecFeatures,
    Stage, StageOutput, StageThresholds, Synthesis, check_len,
};

/// What the caller must do after [`Dfn3Dsp::front`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// Digital silence gate: the output hop is already zeros; report lsnr −15 dB; run nothing
    /// else for this hop and do not call `back`.
    Silent,
    /// Attenuation limit < 0.01 dB: the output hop is already the input hop (no delay); report
    /// lsnr 35 dB; run nothing else for this hop and do not call `back`.
    Bypass,
    /// The features are written: run the encoder, pick the stage with [`Dfn3Dsp::stage`], run the
    /// decoders that stage needs, then call [`Dfn3Dsp::back`].
    Features,
}

/// lsnr reported for a bypassed hop, in dB.
pub const BYPASS_LSNR_DB: f32 = 35.0;

/// Per-channel DFN3 DSP: STFT, features, noisy ring, silence gate and back end.
///
/// Each hop: `front(hop)` → (network) → `back(outputs)`; the enhanced hop is the input delayed by
/// [`DspConfig::latency_samples`] (1440 samples) except in bypass. Nothing allocates after `new`.
pub struct Dfn3Dsp {
    cfg: DspConfig,
    analysis: Analysis,
    synthesis: Synthesis,
    erb: ErbFeatures,
    spec_feat: SpecFeatures,
    ring: NoisyRing,
    gate: RmsGate,
    enhancer: Enhancer,
    thresholds: StageThresholds,
    enhanced: Vec<Complex32>,
    /// `front` returned [`FrontEnd::Features`] and `back` has not consumed that frame yet.
    pending: bool,
}

impl Dfn3Dsp {
    /// Fresh state with libDF C-API settings: thresholds −15/35/35, post-filter off, no
    /// attenuation limit.
    pub fn new(cfg: &DspConfig) -> Result<Self, DspError> {
        cfg.validate()?;
        Ok(Self {
            cfg: *cfg,
            analysis: Analysis::new(cfg)?,
            synthesis: Synthesis::new(cfg)?,
            erb: ErbFeatures::new(cfg)?,
            spec_feat: SpecFeatures::new(cfg)?,
            ring: NoisyRing::new(cfg)?,
            gate: RmsGate::new(),
            enhancer: Enhancer::new(cfg)?,
            thresholds: StageThresholds::C_API,
            enhanced: vec![Complex32::new(0.0, 0.0); cfg.freq_bins()],
            pending: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DspConfig {
        &self.cfg
    }

    /// Input-to-output delay in samples (1440 for DFN3; 0 while bypassed).
    pub fn latency_samples(&self) -> usize {
        self.cfg.latency_samples()
    }

    /// Sets the stage thresholds (default [`StageThresholds::C_API`]).
    pub fn set_thresholds(&mut self, t: StageThresholds) {
        self.thresholds = t;
    }

    /// The stage thresholds.
    pub fn thresholds(&self) -> StageThresholds {
        self.thresholds
    }

    /// Sets the post-filter strength β (≤ 0 = off).
    pub fn set_post_filter_beta(&mut self, beta: f32) {
        self.enhancer.set_post_filter_beta(beta);
    }

    /// Sets the attenuation limit in dB (≥ 100 = none, < 0.01 = bypass). Switching bypass on or
    /// off shifts the output timing by the latency, as in libDF.
    pub fn set_atten_lim_db(&mut self, db: f32) {
        self.enhancer.set_atten_lim_db(db);
    }

    /// The stage for this step's lsnr.
    pub fn stage(&self, lsnr_db: f32) -> Stage {
        self.thresholds.decide(lsnr_db)
    }

    /// The noisy spectra t−(order−1)..t, for callers that need them.
    pub fn ring(&self) -> &NoisyRing {
        &self.ring
    }

    /// Steps 1–5 of a hop: silence gate, analysis into the ring, bypass, features.
    /// `hop` and `out` are `hop` samples; `feat_erb` is `nb_erb` values; `feat_spec` is `2·nb_df`
    /// values (real parts then imaginary parts). `out` is written only for [`FrontEnd::Silent`]
    /// and [`FrontEnd::Bypass`]; for [`FrontEnd::Features`] `back` writes it.
    pub fn front(
        &mut self,
        hop: &[f32],
        out: &mut [f32],
        feat_erb: &mut [f32],
        feat_spec: &mut [f32],
    ) -> Result<FrontEnd, DspError> {
        check_len("input hop", self.cfg.hop, hop.len())?;
        check_len("output hop", self.cfg.hop, out.len())?;
        check_len("feat_erb", self.cfg.nb_erb, feat_erb.len())?;
        check_len("feat_spec", 2 * self.cfg.nb_df, feat_spec.len())?;
        if self.pending {
            return Err(DspError::Sequence("back() must follow a front() that returned Features"));
        }
        if self.gate.observe(hop) {
            out.fill(0.0);
            return Ok(FrontEnd::Silent);
        }
        self.analysis.process(hop, self.ring.push_slot())?;
        if self.enhancer.atten_limit() == AttenLimit::Bypass {
            out.copy_from_slice(hop);
            return Ok(FrontEnd::Bypass);
        }
        let x = self.ring.frame(0);
        self.erb.process(x, feat_erb)?;
        self.spec_feat.process(x, feat_spec)?;
        self.pending = true;
        Ok(FrontEnd::Features)
    }

    /// Steps 7–11 of a hop, after `front` returned [`FrontEnd::Features`] and the network ran:
    /// mask, deep filtering, post-filter, attenuation limit, synthesis of frame t−lookahead into
    /// `out` (`hop` samples). Calling `back` twice, or `front` again before `back`, is a
    /// [`DspError::Sequence`] error. On a length error nothing advances; fix the buffer and retry.
    pub fn back(&mut self, net: StageOutput<'_>, out: &mut [f32]) -> Result<(), DspError> {
        check_len("output hop", self.cfg.hop, out.len())?;
        if !self.pending {
            return Err(DspError::Sequence("back() is only called after front() returned Features"));
        }
        self.enhancer.run(&self.ring, net, &mut self.enhanced)?;
        self.pending = false;
        self.gate.record(net.stage());
        self.synthesis.process(&self.enhanced, out)
    }

    /// Starts a new stream: clears the STFT memories, the noisy ring and the silence gate, and
    /// restores the initial normalisation states (libDF has no such reset; it re-creates the
    /// model, which is equivalent). Settings are kept.
    pub fn reset(&mut self) {
        self.analysis.reset();
        self.synthesis.reset();
        self.erb.reset();
        self.spec_feat.reset();
        self.ring.reset();
        self.gate.reset();
        self.enhanced.fill(Complex32::new(0.0, 0.0));
        self.pending = false;
    }
}
