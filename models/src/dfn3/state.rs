//! Everything one DFN3 stream carries between frames (spec `dfn3.md` §3), plus the scratch
//! its step writes, all allocated up front so [`Dfn3Model::step`] allocates nothing.

use sluice_engine::ConvHistory;

use super::model::Dfn3Model;

/// Per-stream network state: causal conv histories (2 frames of `feat_erb` and of `feat_spec`,
/// 4 frames of `c0`), GRU hidden vectors (encoder 1×H, ERB decoder 2×H, DF decoder 2×H) and
/// preallocated scratch. Made by [`Dfn3Model::new_state`]; use it only with that model.
#[derive(Debug, Clone)]
pub struct Dfn3State {
    pub(crate) erb_conv0: ConvHistory,
    pub(crate) df_conv0: ConvHistory,
    pub(crate) df_convp: ConvHistory,
    pub(crate) h_enc: Vec<f32>,
    pub(crate) h_erb: Vec<f32>,
    pub(crate) h_df: Vec<f32>,
    pub(crate) buf: Scratch,
}

/// Intermediate maps of one step, channels-last `[F][C]`.
#[derive(Debug, Clone)]
pub(crate) struct Scratch {
    pub e0: Vec<f32>,
    pub e1: Vec<f32>,
    pub e2: Vec<f32>,
    pub e3: Vec<f32>,
    pub spec_cl: Vec<f32>,
    pub c0: Vec<f32>,
    pub c1: Vec<f32>,
    pub tmp: Vec<f32>,
    pub tmp_df: Vec<f32>,
    pub emb_in: Vec<f32>,
    pub emb: Vec<f32>,
    pub hid: Vec<f32>,
    pub skip: Vec<f32>,
    pub x8: Vec<f32>,
    pub y16: Vec<f32>,
    pub x16: Vec<f32>,
    pub y32: Vec<f32>,
    pub x32: Vec<f32>,
    pub convp: Vec<f32>,
    pub convp_pw: Vec<f32>,
    pub conv: Vec<f32>,
    pub gru: Vec<f32>,
}

impl Dfn3State {
    pub(crate) fn new(m: &Dfn3Model) -> Self {
        let d = m.dims;
        let z = |n: usize| vec![0.0f32; n];
        let (c, e, f) = (d.ch, d.nb_erb, d.nb_df);
        let buf = Scratch {
            e0: z(e * c),
            e1: z(e / 2 * c),
            e2: z(e / 4 * c),
            e3: z(e / 4 * c),
            spec_cl: z(2 * f),
            c0: z(f * c),
            c1: z(f / 2 * c),
            tmp: z(e * c),
            tmp_df: z(f * c),
            emb_in: z(d.emb),
            emb: z(d.emb),
            hid: z(d.hidden),
            skip: z(d.df_hidden),
            x8: z(e / 4 * c),
            y16: z(e / 2 * c),
            x16: z(e / 2 * c),
            y32: z(e * c),
            x32: z(e * c),
            convp: z(f * 2 * d.df_order),
            convp_pw: z(f * 2 * d.df_order),
            conv: z(m.conv_scratch_len()),
            gru: z(m.gru_scratch_len()),
        };
        Self {
            erb_conv0: m.erb_conv0.new_state(1),
            df_conv0: m.df_conv0.new_state(1),
            df_convp: m.df_convp.new_state(1),
            h_enc: z(d.hidden),
            h_erb: z(d.hidden * m.erb_gru.len()),
            h_df: z(d.df_hidden * m.df_gru.len()),
            buf,
        }
    }

    /// Returns the stream to silence, as a fresh state: zero conv histories and GRU states.
    pub fn reset(&mut self) {
        self.erb_conv0.reset();
        self.df_conv0.reset();
        self.df_convp.reset();
        self.h_enc.fill(0.0);
        self.h_erb.fill(0.0);
        self.h_df.fill(0.0);
    }
}
