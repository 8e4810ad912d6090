//! Everything one DFN3 stream carries between frames (spec `dfn3.md` §3), plus the scratch
//! its step writes, all allocated up front so [`Dfn3Model::step`] allocates nothing.

use sluice_engine::ConvHistory;

use super::model::{Decoders, Dfn3Model};
use super::pathway::PathwayHistory;

/// Per-stream network state: causal conv histories (2 frames of `feat_erb` and of `feat_spec`;
/// the DF pathway's partial sums of its next 5 output frames), GRU hidden vectors (encoder 1×H,
/// ERB decoder 2×H, DF decoder 2×H), the encoder maps the decoder reads, and preallocated
/// scratch for stepping alone. Made by [`Dfn3Model::new_state`]; use it only with that model.
#[derive(Debug, Clone)]
pub struct Dfn3State {
    pub(crate) erb_conv0: ConvHistory,
    pub(crate) df_conv0: ConvHistory,
    pub(crate) df_convp: PathwayHistory,
    /// Encoder maps the decoders read after the dense middle.
    pub(crate) skips: Skips,
    /// Temporaries of [`Dfn3Model::step`] (a batch brings its own shared set).
    pub(crate) buf: Scratch,
    /// This stream's row of the dense middle, holding its GRU states.
    pub(crate) mid: Rows,
}

/// What a stream's encoder convs leave for its decoder convs, channels-last `[F][C]`: the ERB
/// encoder's maps (the decoder's skips) and the DF pathway's output. Kept apart from the
/// temporaries so that a batch touches only these 15 KB per stream between front and tail.
#[derive(Debug, Clone)]
pub(crate) struct Skips {
    pub e0: Vec<f32>,
    pub e1: Vec<f32>,
    pub e2: Vec<f32>,
    pub convp: Vec<f32>,
}

/// Intermediate maps of the conv parts that live only within one stream's front or tail,
/// channels-last `[F][C]`: one set serves every stream of a batch, so it stays in cache.
#[derive(Debug, Clone)]
pub(crate) struct Scratch {
    pub spec_cl: Vec<f32>,
    pub c0: Vec<f32>,
    pub tmp: Vec<f32>,
    pub tmp_df: Vec<f32>,
    pub x8: Vec<f32>,
    pub t8: Vec<f32>,
    pub y16: Vec<f32>,
    pub x16: Vec<f32>,
    pub y32: Vec<f32>,
    pub x32: Vec<f32>,
    /// The DF pathway's products of the newest frame, `[F][kT·2·order]`.
    pub products: Vec<f32>,
    pub conv: Vec<f32>,
}

impl Scratch {
    pub(crate) fn new(m: &Dfn3Model) -> Self {
        let d = m.dims;
        let (c, e, f) = (d.ch, d.nb_erb, d.nb_df);
        Self {
            spec_cl: z(2 * f),
            c0: z(f * c),
            tmp: z(e * c),
            tmp_df: z(f * c),
            x8: z(e / 4 * c),
            t8: z(e / 4 * c),
            y16: z(e / 2 * c),
            x16: z(e / 2 * c),
            y32: z(e * c),
            x32: z(e * c),
            products: z(m.df_convp.products_len()),
            conv: z(m.conv_scratch_len()),
        }
    }
}

/// The dense middle of the network (grouped linears, GRUs) for `rows` streams, row-major
/// `[row][features]`, so that B streams share one GEMM per layer. GRU states are
/// `[layer][row][H]`.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub rows: usize,
    pub c1: Vec<f32>,
    pub e3: Vec<f32>,
    pub emb_in: Vec<f32>,
    pub emb: Vec<f32>,
    pub hid: Vec<f32>,
    pub skip: Vec<f32>,
    pub erb_up: Vec<f32>,
    pub coefs: Vec<f32>,
    pub lsnr: Vec<f32>,
    pub h_enc: Vec<f32>,
    pub h_erb: Vec<f32>,
    pub h_df: Vec<f32>,
    pub gru: Vec<f32>,
}

fn z(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

impl Rows {
    pub(crate) fn new(m: &Dfn3Model, rows: usize) -> Self {
        let d = m.dims;
        let (c, e, f, b) = (d.ch, d.nb_erb, d.nb_df, rows.max(1));
        Self {
            rows: b,
            c1: z(b * f / 2 * c),
            e3: z(b * e / 4 * c),
            emb_in: z(b * d.emb),
            emb: z(b * d.emb),
            hid: z(b * d.hidden),
            skip: z(b * d.hidden),
            erb_up: z(b * d.emb),
            coefs: z(b * f * 2 * d.df_order),
            lsnr: z(b),
            h_enc: z(b * d.hidden),
            h_erb: z(b * d.hidden * m.erb_gru.len()),
            h_df: z(b * d.hidden * m.df_gru.len()),
            gru: z(m.gru_scratch_len(b)),
        }
    }
}

impl Dfn3State {
    pub(crate) fn new(m: &Dfn3Model) -> Self {
        let d = m.dims;
        let (c, e, f) = (d.ch, d.nb_erb, d.nb_df);
        let skips = Skips { e0: z(e * c), e1: z(e / 2 * c), e2: z(e / 4 * c), convp: z(f * 2 * d.df_order) };
        Self {
            erb_conv0: m.erb_conv0.new_state(1),
            df_conv0: m.df_conv0.new_state(1),
            df_convp: m.df_convp.new_history(),
            skips,
            buf: Scratch::new(m),
            mid: Rows::new(m, 1),
        }
    }

    /// Returns the stream to silence, as a fresh state: zero conv histories and GRU states.
    pub fn reset(&mut self) {
        self.erb_conv0.reset();
        self.df_conv0.reset();
        self.df_convp.reset();
        self.mid.h_enc.fill(0.0);
        self.mid.h_erb.fill(0.0);
        self.mid.h_df.fill(0.0);
    }
}

/// Scratch for [`Dfn3Model::step_many`]: the dense middle for up to `capacity` streams.
/// Made by [`Dfn3Model::new_batch`]; reusable across calls, so stepping allocates nothing.
#[derive(Debug, Clone)]
pub struct Dfn3Batch {
    pub(crate) rows: Rows,
    /// The conv temporaries, shared by the batch's streams one after another.
    pub(crate) buf: Scratch,
    /// Each stream's c0 `[F][C]`, kept from its front until its lsnr says whether the DF
    /// decoder (whose pathway reads it) runs; used only by gated steps.
    pub(crate) c0: Vec<f32>,
    /// Each stream's decoders and its row in the decoders' dense layers.
    pub(crate) dec: Vec<Decoders>,
    pub(crate) pos: Vec<usize>,
}

impl Dfn3Batch {
    pub(crate) fn new(m: &Dfn3Model, capacity: usize) -> Self {
        let rows = Rows::new(m, capacity);
        let (d, n) = (m.dims, rows.rows);
        Self {
            c0: z(n * d.nb_df * d.ch),
            dec: vec![Decoders::ErbAndDf; n],
            pos: vec![0; n],
            rows,
            buf: Scratch::new(m),
        }
    }

    /// The most streams one [`Dfn3Model::step_many`] call can take with this scratch.
    pub fn capacity(&self) -> usize {
        self.rows.rows
    }
}
