//! The DeepFilterNet3 network (spec `dfn3.md` §2) compiled into engine plans, stepped one frame
//! at a time (§3).
//!
//! Every per-frame map is channels-last `[F][C]`, which is exactly the ONNX graphs'
//! frequency-major flattening `f·C + c`, so `flatten(e3)`, `c1` and the ERB decoder's reshaped
//! embedding need no transposes. Time is the outer axis of the three causal convs, whose past
//! frames live in the stream's [`Dfn3State`]; every other layer sees one frame.
//!
//! Cost (2-core Zen 4 dev box, one thread, `cargo run --release -p sluice-models --example
//! dfn3_step_cost`): ≈137 µs per hop on AVX-512. The five GRUs take ≈17 µs each: at one
//! stream their 1.5 MB of weights each stream from L3 (8.5 MB in all), so the step is bound by
//! weight bandwidth; [`Dfn3Model::step_many`] reads them once for B streams: ≈80 µs per
//! stream-hop at B = 8–32, ≈89 µs at B = 128 (each stream keeps only ≈34 KB between its front
//! and tail; the conv temporaries are the batch's, shared).

use sluice_engine::{
    Activation, Conv, ConvHistory, ConvSpec, ConvTranspose, ConvTransposeSpec, EngineError, GroupedLinear,
    GroupedLinearSpec, Gru, GruWeights, Linear, LinearBeforeReset, LinearSpec, Result, StreamingConv, Threads,
    WeightLayout,
};

use super::pathway::Pathway;

/// One stream's causal conv histories, as the front takes them.
struct Hist<'a> {
    erb: &'a mut ConvHistory,
    df: &'a mut ConvHistory,
}
use super::state::{Dfn3Batch, Dfn3State, Rows, Scratch, Skips};
use super::weights::{self, Dfn3Weights};

const OP: &str = "dfn3 model";

/// Which decoders run on one frame. libDF runs a decoder only on frames whose stage uses its
/// output (spec `dfn3.md` §1.7): a decoder that does not run leaves its GRU states (and, for
/// the DF decoder, its pathway's history) as they were, and costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decoders {
    /// Neither (a zero or no gain): the output's mask and coefs are left as they were.
    None,
    /// The ERB decoder (the mask); the coefs are left as they were.
    Erb,
    /// Both decoders, as on every frame with libDF's C-API thresholds.
    #[default]
    ErbAndDf,
}

impl Decoders {
    /// Whether the ERB decoder runs.
    pub fn erb(self) -> bool {
        self != Decoders::None
    }

    /// Whether the DF decoder runs.
    pub fn df(self) -> bool {
        self == Decoders::ErbAndDf
    }

    /// Batch order: rows running both decoders first, then ERB-only rows, then the rest, so
    /// that each decoder runs on a prefix of the rows.
    fn rank(self) -> usize {
        match self {
            Decoders::ErbAndDf => 0,
            Decoders::Erb => 1,
            Decoders::None => 2,
        }
    }
}

/// Picks the decoders of a frame from its lsnr (dB); `None` in place of a gate runs both on
/// every frame.
pub type Gate<'a> = &'a dyn Fn(f32) -> Decoders;

/// Picks the decoders of batch row `i` from its lsnr (dB).
pub type BatchGate<'a> = &'a dyn Fn(usize, f32) -> Decoders;

/// What one step of the network produces for its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Dfn3Output {
    /// Local SNR of the newest frame in dB, in `[lsnr_min, lsnr_max]` (−15..35).
    pub lsnr: f32,
    /// ERB gains, `nb_erb` values in (0, 1).
    pub mask: Vec<f32>,
    /// Deep-filter coefficients `[nb_df][df_order][re, im]`, as `dsp::StageOutput::ErbDf` takes them.
    pub coefs: Vec<f32>,
    /// The decoders that ran on this frame (what `mask` and `coefs` are fresh for).
    pub decoders: Decoders,
}

/// A depthwise (or grouped) spatial conv, then a pointwise conv with bias and ReLU.
#[derive(Debug, Clone)]
struct Separable {
    spatial: Conv,
    pointwise: Linear,
}

/// A depthwise ConvTranspose, then a pointwise conv with bias and ReLU.
#[derive(Debug, Clone)]
struct SeparableT {
    spatial: ConvTranspose,
    pointwise: Linear,
}

/// A depthwise 1×1 conv with bias (a per-channel affine map), then ReLU.
#[derive(Debug, Clone)]
struct Affine {
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl Affine {
    fn new(w: &weights::Conv, channels: usize) -> Result<Self> {
        expect_len("depthwise 1×1 weight", channels, w.weight.len())?;
        expect_len("depthwise 1×1 bias", channels, w.bias.len())?;
        Ok(Self { scale: w.weight.data().to_vec(), bias: w.bias.data().to_vec() })
    }

    /// `out[f][c] = relu(scale[c]·x[f][c] + bias[c]) + skip[f][c]`.
    fn run_add(&self, x: &[f32], skip: &[f32], out: &mut [f32]) {
        let c = self.scale.len();
        for ((o, x), s) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)).zip(skip.chunks_exact(c)) {
            for ch in 0..c {
                o[ch] = (self.scale[ch] * x[ch] + self.bias[ch]).max(0.0) + s[ch];
            }
        }
    }
}

/// The immutable DFN3 network: every layer planned once; share it across streams in an `Arc`.
#[derive(Debug)]
pub struct Dfn3Model {
    pub(crate) dims: Dims,
    threads: Threads,
    // Encoder.
    pub(crate) erb_conv0: StreamingConv,
    erb_conv1: Separable,
    erb_conv2: Separable,
    erb_conv3: Separable,
    pub(crate) df_conv0: StreamingConv,
    df_conv0_pw: Linear,
    df_conv1: Separable,
    df_fc_emb: GroupedLinear,
    enc_lin_in: GroupedLinear,
    pub(crate) enc_gru: Gru,
    enc_lin_out: GroupedLinear,
    lsnr_w: Vec<f32>,
    lsnr_b: f32,
    // ERB decoder.
    erb_lin_in: GroupedLinear,
    pub(crate) erb_gru: Vec<Gru>,
    erb_lin_out: GroupedLinear,
    conv3p: Affine,
    convt3: Separable,
    conv2p: Affine,
    convt2: SeparableT,
    conv1p: Affine,
    convt1: SeparableT,
    conv0p: Affine,
    conv0_out: Conv,
    // DF decoder.
    df_lin_in: GroupedLinear,
    pub(crate) df_gru: Vec<Gru>,
    df_skip: GroupedLinear,
    df_out: GroupedLinear,
    pub(crate) df_convp: Pathway,
}

/// Sizes the model and its state agree on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub ch: usize,
    pub nb_erb: usize,
    pub nb_df: usize,
    pub df_order: usize,
    pub emb: usize,
    pub hidden: usize,
    pub df_hidden: usize,
    pub lsnr_min: f32,
    pub lsnr_max: f32,
}

fn expect_len(tensor: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(EngineError::WeightShape { op: OP, tensor, expected, got }) }
}

/// Pointwise 1×1 conv as a linear over the `[F][Cin]` rows: weights `[Cout][Cin]`, bias, ReLU.
fn pointwise(cin: usize, cout: usize, w: &[f32], b: &[f32]) -> Result<Linear> {
    let spec = LinearSpec::new(cin, cout).layout(WeightLayout::OutIn).activation(Activation::Relu);
    Linear::new(&spec, w, Some(b))
}

/// Depthwise 1×3 conv over F (pad 1 both sides) at `stride`, then pointwise + ReLU.
fn separable(w: &weights::SeparableConv, ch: usize, f_in: usize, stride: usize) -> Result<Separable> {
    let spec = ConvSpec::new(ch, ch, &[3]).stride(&[stride]).padding(&[1], &[1]).groups(ch);
    Ok(Separable {
        spatial: Conv::new(&spec, &[f_in], w.spatial.data(), None)?,
        pointwise: pointwise(ch, ch, w.pointwise.data(), w.bias.data())?,
    })
}

/// Depthwise ConvTranspose 1×3, F-stride 2, pad 1, output pad 1 (F doubles), then pointwise + ReLU.
fn separable_t(w: &weights::SeparableConv, ch: usize, f_in: usize) -> Result<SeparableT> {
    let spec = ConvTransposeSpec::new(ch, ch, &[3]).stride(&[2]).padding(&[1], &[1]).output_padding(&[1]).groups(ch);
    Ok(SeparableT {
        spatial: ConvTranspose::new(&spec, &[f_in], w.spatial.data(), None)?,
        pointwise: pointwise(ch, ch, w.pointwise.data(), w.bias.data())?,
    })
}

fn grouped(w: &crate::Weight, act: Activation) -> Result<GroupedLinear> {
    let s = w.shape();
    if s.len() != 3 {
        return Err(EngineError::InvalidSpec { op: OP, reason: format!("grouped linear weight has shape {s:?}") });
    }
    GroupedLinear::new(&GroupedLinearSpec::new(s[0], s[1], s[2]).activation(act), w.data(), None)
}

fn gru(w: &weights::Gru, input: usize, hidden: usize) -> Result<Gru> {
    let gw = GruWeights::from_onnx(w.w.data(), w.r.data(), Some(w.b.data()));
    Gru::new(input, hidden, &gw, LinearBeforeReset::On)
}

impl Dfn3Model {
    /// Plans every layer from loaded weights. Slow-ish (packs ~8.5 MB); do it once, off the audio path.
    pub fn new(w: &Dfn3Weights) -> Result<Self> {
        let cfg = &w.config;
        let ch = cfg.conv_ch;
        let (nb_erb, nb_df) = (cfg.nb_erb, cfg.nb_df);
        let dims = Dims {
            ch,
            nb_erb,
            nb_df,
            df_order: cfg.df_order,
            emb: cfg.emb_dim(),
            hidden: cfg.emb_hidden_dim,
            df_hidden: cfg.df_hidden_dim,
            lsnr_min: cfg.lsnr_min,
            lsnr_max: cfg.lsnr_max,
        };
        if dims.hidden != dims.df_hidden {
            return Err(EngineError::InvalidSpec {
                op: OP,
                reason: format!("emb_hidden_dim {} ≠ df_hidden_dim {} is not supported", dims.hidden, dims.df_hidden),
            });
        }
        let (enc, erb, df) = (&w.enc, &w.erb_dec, &w.df_dec);
        let relu = Activation::Relu;

        let kt = cfg.conv_kernel_inp[0];
        let erb0_spec = ConvSpec::new(1, ch, &[kt, 3]).padding(&[kt - 1, 1], &[0, 1]).activation(relu);
        let erb_conv0 =
            StreamingConv::new(&erb0_spec, &[nb_erb], 1, enc.erb_conv0.weight.data(), Some(enc.erb_conv0.bias.data()))?;
        let df0_spec = ConvSpec::new(2, ch, &[kt, 3]).padding(&[kt - 1, 1], &[0, 1]).groups(2);
        let df_conv0 = StreamingConv::new(&df0_spec, &[nb_df], 1, enc.df_conv0.spatial.data(), None)?;
        let df_conv0_pw = pointwise(ch, ch, enc.df_conv0.pointwise.data(), enc.df_conv0.bias.data())?;

        expect_len("lsnr_fc weight", dims.emb, enc.lsnr_fc.weight.len())?;
        expect_len("lsnr_fc bias", 1, enc.lsnr_fc.bias.len())?;

        let kp = cfg.df_pathway_kernel_size_t;
        let order2 = 2 * cfg.df_order;
        let df_convp = Pathway::new(
            df.df_convp.spatial.data(),
            df.df_convp.pointwise.data(),
            df.df_convp.bias.data(),
            (ch, order2, kp, 2),
            nb_df,
        )?;

        let conv0_out_spec = ConvSpec::new(ch, 1, &[3]).padding(&[1], &[1]).activation(Activation::Sigmoid);
        let erb_grus = erb.emb_gru.iter().map(|g| gru(g, dims.hidden, dims.hidden)).collect::<Result<Vec<_>>>()?;
        let df_grus = df.df_gru.iter().map(|g| gru(g, dims.df_hidden, dims.df_hidden)).collect::<Result<Vec<_>>>()?;

        Ok(Self {
            dims,
            threads: Threads::single(),
            erb_conv0,
            erb_conv1: separable(&enc.erb_conv1, ch, nb_erb, 2)?,
            erb_conv2: separable(&enc.erb_conv2, ch, nb_erb / 2, 2)?,
            erb_conv3: separable(&enc.erb_conv3, ch, nb_erb / 4, 1)?,
            df_conv0,
            df_conv0_pw,
            df_conv1: separable(&enc.df_conv1, ch, nb_df, 2)?,
            df_fc_emb: grouped(&enc.df_fc_emb, relu)?,
            enc_lin_in: grouped(&enc.emb_gru_linear_in, relu)?,
            enc_gru: gru(&enc.emb_gru, dims.hidden, dims.hidden)?,
            enc_lin_out: grouped(&enc.emb_gru_linear_out, relu)?,
            lsnr_w: enc.lsnr_fc.weight.data().to_vec(),
            lsnr_b: enc.lsnr_fc.bias.data()[0],
            erb_lin_in: grouped(&erb.emb_gru_linear_in, relu)?,
            erb_gru: erb_grus,
            erb_lin_out: grouped(&erb.emb_gru_linear_out, relu)?,
            conv3p: Affine::new(&erb.conv3p, ch)?,
            convt3: separable(&erb.convt3, ch, nb_erb / 4, 1)?,
            conv2p: Affine::new(&erb.conv2p, ch)?,
            convt2: separable_t(&erb.convt2, ch, nb_erb / 4)?,
            conv1p: Affine::new(&erb.conv1p, ch)?,
            convt1: separable_t(&erb.convt1, ch, nb_erb / 2)?,
            conv0p: Affine::new(&erb.conv0p, ch)?,
            conv0_out: Conv::new(
                &conv0_out_spec,
                &[nb_erb],
                erb.conv0_out.weight.data(),
                Some(erb.conv0_out.bias.data()),
            )?,
            df_lin_in: grouped(&df.df_gru_linear_in, relu)?,
            df_gru: df_grus,
            df_skip: grouped(&df.df_skip, Activation::Identity)?,
            df_out: grouped(&df.df_out, Activation::Tanh)?,
            df_convp,
        })
    }

    /// ERB bands (length of `feat_erb` and of the mask).
    pub fn nb_erb(&self) -> usize {
        self.dims.nb_erb
    }

    /// Deep-filtered bins (`feat_spec` is `2·nb_df`: real parts, then imaginary parts).
    pub fn nb_df(&self) -> usize {
        self.dims.nb_df
    }

    /// Deep-filter taps per bin.
    pub fn df_order(&self) -> usize {
        self.dims.df_order
    }

    /// The range (dB) the lsnr output lies in: a gate whose every decision over it is
    /// [`Decoders::ErbAndDf`] never skips a decoder.
    pub fn lsnr_range(&self) -> (f32, f32) {
        (self.dims.lsnr_min, self.dims.lsnr_max)
    }

    /// A fresh (silent) per-stream state with every buffer this model's `step` needs.
    pub fn new_state(&self) -> Dfn3State {
        Dfn3State::new(self)
    }

    /// An output holder of the right sizes.
    pub fn new_output(&self) -> Dfn3Output {
        let d = &self.dims;
        Dfn3Output {
            lsnr: 0.0,
            mask: vec![0.0; d.nb_erb],
            coefs: vec![0.0; d.nb_df * d.df_order * 2],
            decoders: Decoders::ErbAndDf,
        }
    }

    /// Scratch floats the conv plans need (one thread).
    pub(crate) fn conv_scratch_len(&self) -> usize {
        let t = &self.threads;
        [
            self.erb_conv0.scratch_len(t),
            self.df_conv0.scratch_len(t),
            self.erb_conv1.spatial.scratch_len(t),
            self.erb_conv2.spatial.scratch_len(t),
            self.erb_conv3.spatial.scratch_len(t),
            self.df_conv1.spatial.scratch_len(t),
            self.convt3.spatial.scratch_len(t),
            self.convt2.spatial.scratch_len(t),
            self.convt1.spatial.scratch_len(t),
            self.conv0_out.scratch_len(t),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Scratch floats the GRU plans need for `rows` streams.
    pub(crate) fn gru_scratch_len(&self, rows: usize) -> usize {
        self.erb_gru.iter().chain(&self.df_gru).chain([&self.enc_gru]).map(|g| g.scratch_len(rows)).max().unwrap_or(0)
    }

    /// Runs the encoder and both decoders on the newest frame of one stream: `feat_erb` is
    /// `nb_erb` values, `feat_spec` is `2·nb_df` (real parts, then imaginary parts), as
    /// `Dfn3Dsp::front` writes them. Advances the stream's conv histories and GRU states.
    /// Allocates nothing.
    pub fn step(&self, st: &mut Dfn3State, feat_erb: &[f32], feat_spec: &[f32], out: &mut Dfn3Output) -> Result<()> {
        self.step_gated(st, feat_erb, feat_spec, out, None)
    }

    /// [`Dfn3Model::step`] running only the decoders `gate` picks from the frame's lsnr (all
    /// of them without a gate); see [`Decoders`].
    pub fn step_gated(
        &self,
        st: &mut Dfn3State,
        feat_erb: &[f32],
        feat_spec: &[f32],
        out: &mut Dfn3Output,
        gate: Option<Gate<'_>>,
    ) -> Result<()> {
        self.check_io(1, feat_erb, feat_spec)?;
        self.check_out(out)?;
        let Dfn3State { erb_conv0, df_conv0, df_convp, skips, buf, mid } = st;
        let hist = Hist { erb: erb_conv0, df: df_conv0 };
        self.front(hist, skips, buf, feat_erb, feat_spec, &mut mid.c1, &mut mid.e3)?;
        self.middle_encoder(mid, 1)?;
        let lsnr = mid.lsnr[0];
        let dec = gate.map_or(Decoders::ErbAndDf, |g| g(lsnr));
        self.middle_decoders(mid, usize::from(dec.erb()), usize::from(dec.df()))?;
        if dec.df() {
            // The front left this frame's c0 in the stream's own scratch.
            self.df_convp.step(df_convp, &buf.c0, &mut buf.products, &mut skips.convp)?;
            self.tail_df(skips, &mid.coefs, out);
        }
        if dec.erb() {
            self.tail_erb(skips, buf, &mid.e3, &mid.erb_up, out)?;
        }
        out.lsnr = lsnr;
        out.decoders = dec;
        Ok(())
    }

    /// Scratch for [`Dfn3Model::step_many`] with up to `capacity` streams per call.
    pub fn new_batch(&self, capacity: usize) -> Dfn3Batch {
        Dfn3Batch::new(self, capacity)
    }

    /// Steps B = `states.len()` independent streams at once: `feat_erb` is `[B][nb_erb]`,
    /// `feat_spec` is `[B][2·nb_df]`, `outs` has B entries. The convs run per stream; every
    /// grouped linear and GRU runs once on B rows, so its weights are read once for all
    /// streams. Each stream's result equals [`Dfn3Model::step`] on it alone. Allocates nothing.
    pub fn step_many(
        &self,
        states: &mut [Dfn3State],
        batch: &mut Dfn3Batch,
        feat_erb: &[f32],
        feat_spec: &[f32],
        outs: &mut [Dfn3Output],
    ) -> Result<()> {
        self.step_many_gated(states, batch, feat_erb, feat_spec, outs, None)
    }

    /// [`Dfn3Model::step_many`] running on each stream only the decoders `gate` picks from its
    /// row index and lsnr (all of them without a gate). Each decoder runs once on the rows that
    /// need it; each stream's result equals [`Dfn3Model::step_gated`] on it alone.
    pub fn step_many_gated(
        &self,
        states: &mut [Dfn3State],
        batch: &mut Dfn3Batch,
        feat_erb: &[f32],
        feat_spec: &[f32],
        outs: &mut [Dfn3Output],
        gate: Option<BatchGate<'_>>,
    ) -> Result<()> {
        let b = states.len();
        if b == 0 {
            return Ok(());
        }
        if b > batch.capacity() {
            return Err(EngineError::BufferLength {
                op: OP,
                buffer: "batch capacity",
                expected: b,
                got: batch.capacity(),
            });
        }
        self.check_io(b, feat_erb, feat_spec)?;
        if outs.len() != b {
            return Err(EngineError::BufferLength { op: OP, buffer: "outputs", expected: b, got: outs.len() });
        }
        for o in outs.iter() {
            self.check_out(o)?;
        }
        let d = self.dims;
        let Dfn3Batch { rows: r, buf, c0: c0_rows, dec, pos } = batch;
        let (cap, h) = (r.rows, d.hidden);
        let (n_c0, n_c1, n_e3) = (d.nb_df * d.ch, d.nb_df / 2 * d.ch, d.emb);
        let erb_in = feat_erb.chunks_exact(d.nb_erb);
        let spec_in = feat_spec.chunks_exact(2 * d.nb_df);
        for (i, ((st, fe), fs)) in states.iter_mut().zip(erb_in).zip(spec_in).enumerate() {
            let Dfn3State { erb_conv0, df_conv0, df_convp, skips, mid, .. } = st;
            let c1 = &mut r.c1[i * n_c1..(i + 1) * n_c1];
            let e3 = &mut r.e3[i * n_e3..(i + 1) * n_e3];
            self.front(Hist { erb: erb_conv0, df: df_conv0 }, skips, buf, fe, fs, c1, e3)?;
            if gate.is_none() {
                // Every stream runs the DF decoder: its pathway now, while c0 is in cache.
                self.df_convp.step(df_convp, &buf.c0, &mut buf.products, &mut skips.convp)?;
            } else {
                // Whether it runs is known after the encoder; keep c0 until then.
                c0_rows[i * n_c0..(i + 1) * n_c0].copy_from_slice(&buf.c0);
            }
            gather_hidden(&mid.h_enc, &mut r.h_enc, cap, i, h);
        }
        self.middle_encoder(r, b)?;

        // Each decoder runs on a prefix of the rows: both-decoder rows first, then ERB-only.
        for (i, di) in dec[..b].iter_mut().enumerate() {
            *di = gate.map_or(Decoders::ErbAndDf, |g| g(i, r.lsnr[i]));
        }
        let n_df = dec[..b].iter().filter(|x| x.df()).count();
        let n_erb = dec[..b].iter().filter(|x| x.erb()).count();
        let mut next = [0, n_df, n_erb];
        for (p, di) in pos[..b].iter_mut().zip(&dec[..b]) {
            *p = next[di.rank()];
            next[di.rank()] += 1;
        }
        if pos[..b].iter().enumerate().any(|(i, &p)| p != i) {
            for (i, &p) in pos[..b].iter().enumerate() {
                r.emb_in[p * n_e3..(p + 1) * n_e3].copy_from_slice(&r.emb[i * n_e3..(i + 1) * n_e3]);
            }
            std::mem::swap(&mut r.emb, &mut r.emb_in);
        }
        for ((st, di), &p) in states.iter().zip(&dec[..b]).zip(&pos[..b]) {
            if di.erb() {
                gather_hidden(&st.mid.h_erb, &mut r.h_erb, cap, p, h);
            }
            if di.df() {
                gather_hidden(&st.mid.h_df, &mut r.h_df, cap, p, h);
            }
        }
        self.middle_decoders(r, n_erb, n_df)?;

        let nc = d.nb_df * d.df_order * 2;
        for (i, (st, out)) in states.iter_mut().zip(outs.iter_mut()).enumerate() {
            let Dfn3State { df_convp, skips, mid, .. } = st;
            let (di, p) = (dec[i], pos[i]);
            gather_hidden_back(&mut mid.h_enc, &r.h_enc, cap, i, h);
            if di.df() {
                gather_hidden_back(&mut mid.h_df, &r.h_df, cap, p, h);
                if gate.is_some() {
                    let c0 = &c0_rows[i * n_c0..(i + 1) * n_c0];
                    self.df_convp.step(df_convp, c0, &mut buf.products, &mut skips.convp)?;
                }
                self.tail_df(skips, &r.coefs[p * nc..(p + 1) * nc], out);
            }
            if di.erb() {
                gather_hidden_back(&mut mid.h_erb, &r.h_erb, cap, p, h);
                let e3 = &r.e3[i * n_e3..(i + 1) * n_e3];
                let up = &r.erb_up[p * d.emb..(p + 1) * d.emb];
                self.tail_erb(skips, buf, e3, up, out)?;
            }
            out.lsnr = r.lsnr[i];
            out.decoders = di;
        }
        Ok(())
    }

    fn check_io(&self, b: usize, feat_erb: &[f32], feat_spec: &[f32]) -> Result<()> {
        expect_len("feat_erb", b * self.dims.nb_erb, feat_erb.len())?;
        expect_len("feat_spec", b * 2 * self.dims.nb_df, feat_spec.len())
    }

    fn check_out(&self, out: &Dfn3Output) -> Result<()> {
        let d = self.dims;
        expect_len("output mask", d.nb_erb, out.mask.len())?;
        expect_len("output coefs", d.nb_df * d.df_order * 2, out.coefs.len())
    }

    /// The per-stream encoder convs: e0..e2 into `k`, e3 (flattened) and c1 into the stream's
    /// rows of the dense middle, c0 (the DF pathway's input) into `s.c0`; `s` is scratch.
    #[allow(clippy::too_many_arguments)]
    fn front(
        &self,
        hist: Hist<'_>,
        k: &mut Skips,
        s: &mut Scratch,
        feat_erb: &[f32],
        feat_spec: &[f32],
        c1: &mut [f32],
        e3: &mut [f32],
    ) -> Result<()> {
        let th = &self.threads;
        // ERB branch: e0 [32][C], e1 [16][C], e2 [8][C], e3 [8][C].
        self.erb_conv0.step(hist.erb, feat_erb, &mut k.e0, &mut s.conv, th)?;
        run_sep(&self.erb_conv1, &k.e0, &mut s.tmp, &mut k.e1, &mut s.conv, th)?;
        run_sep(&self.erb_conv2, &k.e1, &mut s.tmp, &mut k.e2, &mut s.conv, th)?;
        run_sep(&self.erb_conv3, &k.e2, &mut s.tmp, e3, &mut s.conv, th)?;
        // DF branch: planar [2][F] → channels-last [F][2]; c0 [96][C], c1 [48][C].
        let (re, im) = feat_spec.split_at(self.dims.nb_df);
        for ((pair, &r), &i) in s.spec_cl.chunks_exact_mut(2).zip(re).zip(im) {
            pair[0] = r;
            pair[1] = i;
        }
        self.df_conv0.step(hist.df, &s.spec_cl, &mut s.tmp_df, &mut s.conv, th)?;
        self.df_conv0_pw.run(&s.tmp_df, &mut s.c0)?;
        run_sep(&self.df_conv1, &s.c0, &mut s.tmp_df, c1, &mut s.conv, th)
    }

    /// The encoder's dense part on the first `b` rows of `r`: embedding, its GRU and lsnr.
    fn middle_encoder(&self, r: &mut Rows, b: usize) -> Result<()> {
        let d = self.dims;
        let (h, e) = (d.hidden, d.emb);
        let c1 = &r.c1[..b * d.nb_df / 2 * d.ch];
        let emb_in = &mut r.emb_in[..b * e];
        let emb = &mut r.emb[..b * e];
        let hid = &mut r.hid[..b * h];
        self.df_fc_emb.run(c1, emb_in)?;
        for (a, &x) in emb_in.iter_mut().zip(&r.e3[..b * e]) {
            *a += x;
        }
        self.enc_lin_in.run(emb_in, hid)?;
        let h_enc = &mut r.h_enc[..b * h];
        self.enc_gru.step(hid, h_enc, &mut r.gru)?;
        self.enc_lin_out.run(h_enc, emb)?;
        for (l, row) in r.lsnr[..b].iter_mut().zip(emb.chunks_exact(e)) {
            let z = row.iter().zip(&self.lsnr_w).fold(self.lsnr_b, |acc, (&x, &w)| acc + x * w);
            *l = sigmoid(z) * (d.lsnr_max - d.lsnr_min) + d.lsnr_min;
        }
        Ok(())
    }

    /// The decoders' dense parts: the ERB decoder's GRU path (→ `erb_up`) on the first `n_erb`
    /// rows, the DF decoder's GRU path, skip and `df_out` (→ `coefs`) on the first `n_df`.
    fn middle_decoders(&self, r: &mut Rows, n_erb: usize, n_df: usize) -> Result<()> {
        let d = self.dims;
        let (cap, h, e) = (r.rows, d.hidden, d.emb);
        if n_erb > 0 {
            let hid = &mut r.hid[..n_erb * h];
            self.erb_lin_in.run(&r.emb[..n_erb * e], hid)?;
            for (layer, g) in self.erb_gru.iter().enumerate() {
                let hl = &mut r.h_erb[layer * cap * h..][..n_erb * h];
                g.step(hid, hl, &mut r.gru)?;
                hid.copy_from_slice(hl);
            }
            self.erb_lin_out.run(hid, &mut r.erb_up[..n_erb * e])?;
        }
        if n_df > 0 {
            let emb = &r.emb[..n_df * e];
            let hid = &mut r.hid[..n_df * h];
            self.df_lin_in.run(emb, hid)?;
            for (layer, g) in self.df_gru.iter().enumerate() {
                let hl = &mut r.h_df[layer * cap * h..][..n_df * h];
                g.step(hid, hl, &mut r.gru)?;
                hid.copy_from_slice(hl);
            }
            let skip = &mut r.skip[..n_df * h];
            self.df_skip.run(emb, skip)?;
            for (a, &x) in hid.iter_mut().zip(skip.iter()) {
                *a += x;
            }
            let nc = d.nb_df * d.df_order * 2;
            self.df_out.run(hid, &mut r.coefs[..n_df * nc])?;
        }
        Ok(())
    }

    /// The ERB decoder's convs: its upsampling path with the encoder's skips (→ mask); `s` is
    /// scratch.
    fn tail_erb(&self, k: &Skips, s: &mut Scratch, e3: &[f32], erb_up: &[f32], out: &mut Dfn3Output) -> Result<()> {
        let th = &self.threads;
        self.conv3p.run_add(e3, erb_up, &mut s.x8);
        run_sep(&self.convt3, &s.x8, &mut s.tmp, &mut s.t8, &mut s.conv, th)?;
        self.conv2p.run_add(&k.e2, &s.t8, &mut s.x8);
        run_sep_t(&self.convt2, &s.x8, &mut s.tmp, &mut s.y16, &mut s.conv, th)?;
        self.conv1p.run_add(&k.e1, &s.y16, &mut s.x16);
        run_sep_t(&self.convt1, &s.x16, &mut s.tmp, &mut s.y32, &mut s.conv, th)?;
        self.conv0p.run_add(&k.e0, &s.y32, &mut s.x32);
        self.conv0_out.run(&s.x32, &mut out.mask, &mut s.conv, th)
    }

    /// The DF coefficients: the GRU path's plus the pathway's.
    fn tail_df(&self, k: &Skips, coefs: &[f32], out: &mut Dfn3Output) {
        for ((o, &a), &p) in out.coefs.iter_mut().zip(coefs).zip(&k.convp) {
            *o = a + p;
        }
    }
}

/// Copies stream `i`'s GRU states (`[layer][H]`) into row `i` of the batch's `[layer][cap][H]`.
fn gather_hidden(own: &[f32], all: &mut [f32], cap: usize, i: usize, h: usize) {
    for (layer, src) in own.chunks_exact(h).enumerate() {
        all[(layer * cap + i) * h..][..h].copy_from_slice(src);
    }
}

/// Copies row `i` of the batch's GRU states back into stream `i`'s own.
fn gather_hidden_back(own: &mut [f32], all: &[f32], cap: usize, i: usize, h: usize) {
    for (layer, dst) in own.chunks_exact_mut(h).enumerate() {
        dst.copy_from_slice(&all[(layer * cap + i) * h..][..h]);
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The first `n` floats of a scratch buffer (sized at state creation for the largest map).
fn prefix(tmp: &mut [f32], n: usize) -> Result<&mut [f32]> {
    let got = tmp.len();
    tmp.get_mut(..n).ok_or(EngineError::BufferLength { op: OP, buffer: "scratch map", expected: n, got })
}

fn run_sep(l: &Separable, x: &[f32], tmp: &mut [f32], y: &mut [f32], conv: &mut [f32], th: &Threads) -> Result<()> {
    let tmp = prefix(tmp, y.len())?;
    l.spatial.run(x, tmp, conv, th)?;
    l.pointwise.run(tmp, y)
}

fn run_sep_t(l: &SeparableT, x: &[f32], tmp: &mut [f32], y: &mut [f32], conv: &mut [f32], th: &Threads) -> Result<()> {
    let tmp = prefix(tmp, y.len())?;
    l.spatial.run(x, tmp, conv, th)?;
    l.pointwise.run(tmp, y)
}
